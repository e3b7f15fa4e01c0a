//! `mesosim live run`: a master running the simulator's allocator in real time, agents on this host each owning a cgroup subtree, and a built-in batch framework whose tasks are real processes.
//!
//! Everything lives in one process. The master is a `sim_core::Engine` paced by
//! [`WallClock`]: an allocation cycle every `allocation_interval` (the allocator chosen
//! by name with [`models::allocator::by_name`], as `mesosim run` builds it), a poll of
//! the running tasks every [`POLL_INTERVAL`], and the timeout. The framework accepts
//! each offer, launching as many waiting tasks as fit, and declines the rest without a
//! filter. A launch creates `<agent cgroup>/task-<i>` with the task's CPU quota and
//! memory limit and starts the command in it (see [`crate::process`]); an exit becomes
//! `TASK_FINISHED` (status 0) or `TASK_FAILED`, the cgroup is removed and the resources
//! go back to the allocator.
//!
//! With oversubscription on ([`crate::oversubscription`]), the agents' estimators and
//! QoS controllers run on measured cgroup usage and the framework also runs revocable
//! tasks on revocable CPUs (`run/revocable.rs`).
//!
//! The cgroup tree is `<this process's cgroup>/<cgroup_name>/agent-<a>/task-<i>`; the
//! output directory is built as a hidden sibling and renamed into place once
//! `summary.json` is written, so an error leaves neither cgroups nor a partial
//! directory behind.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use models::allocator::{
    AgentId, AgentInfo, Allocator, AllocatorConfig, Candidates, FrameworkId, FrameworkInfo,
};
use models::fetcher::DEFAULT_FETCHER_CACHE_SIZE;
use models::resources::Resources;
use rand::RngCore;
use sim_core::{Context, Engine, Handler, NoObserver, RngStreams, SimDuration, SimTime};
use thiserror::Error;

use crate::batch::{check_resources, limits_for, scalar};
use crate::cgroup::{Cgroup, CgroupError, CgroupGuard, Limits};
use crate::clock::WallClock;
use crate::fetcher::{FetchError, Fetcher, FetcherSummary, TaskUri};
use crate::netns::{limit_egress, veth_pair, End, NetError, Netns, RateLimit};
use crate::outdir::{check_target, OutputDir};
use crate::oversubscription::OversubscriptionConfig;
use crate::process::{Exit, TaskEnv, TaskProcess};
use crate::signals::Interrupts;
use crate::summary::{AgentSummary, LiveSummary, TaskCounts, TaskRun};

mod revocable;

/// How often the master looks for ended tasks.
pub const POLL_INTERVAL: SimDuration = SimDuration::from_millis(20);

/// The role the built-in framework subscribes with.
pub const ROLE: &str = "live";

const FRAMEWORK: FrameworkId = FrameworkId(0);

/// What to run.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Agents to start (each with `agent_resources`).
    pub agents: u32,
    /// Each agent's resources (`cpus` and `mem` scalars, Mesos notation).
    pub agent_resources: Resources,
    /// Tasks the framework runs.
    pub tasks: u32,
    /// Each task's resources: `cpus` becomes its CFS quota, `mem` (MB) its memory limit.
    pub task_resources: Resources,
    /// The command line each task runs with `/bin/sh -c`.
    pub task_command: String,
    /// The allocation policy, by name.
    pub policy: String,
    /// Seeds the allocator's random streams.
    pub seed: u64,
    /// Time between allocation cycles.
    pub allocation_interval: SimDuration,
    /// Tasks still running this long after the start are killed (`TASK_KILLED`).
    pub timeout: SimDuration,
    /// The run's cgroup, created under this process's own cgroup.
    pub cgroup_name: String,
    /// The output directory.
    pub out: PathBuf,
    /// Per-agent network namespaces; `None` runs tasks in the host's network.
    pub network: Option<NetworkConfig>,
    /// Resource estimator, QoS controller and revocable tasks (default: none).
    pub oversubscription: OversubscriptionConfig,
    /// Cap each task's memory plus swap at its memory limit (Mesos's
    /// `--cgroups_limit_swap`; off by default, as there).
    pub limit_swap: bool,
    /// URIs each `--task-command` task fetches into its sandbox before it starts.
    pub fetch: FetchConfig,
}

/// What the agents' fetchers fetch, and their caches (mesos-semantics.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchConfig {
    /// The URIs, fetched one after another in this order (none: no fetcher).
    pub uris: Vec<TaskUri>,
    /// Each agent's cache size, bytes (`--fetcher_cache_size`).
    pub cache_size: u64,
    /// Where the agents' caches live (`<dir>/agent-<a>`, wiped at start and left
    /// after the run); by default a temporary directory removed after the run.
    pub cache_dir: Option<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            uris: Vec::new(),
            cache_size: DEFAULT_FETCHER_CACHE_SIZE,
            cache_dir: None,
        }
    }
}

/// Each agent in a network namespace of its own (`<cgroup_name>-agent-<a>`), joined to
/// a hub namespace (`<cgroup_name>-hub`, the master's side) by a veth pair: `eth0` at
/// `10.214.<a>.2/30` in the agent, `agent<a>` at `10.214.<a>.1/30` in the hub. Tasks
/// run inside their agent's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// A tbf limit on each agent's `eth0` egress, bytes per second.
    pub egress_bytes_per_sec: Option<u64>,
}

/// Agents a run with [`NetworkConfig`] may have (one /30 per agent in `10.214.<a>.0`).
pub const MAX_NETWORK_AGENTS: u32 = 250;

/// The longest `--cgroup-name` (the agents' namespace names add up to 11 bytes, and
/// a file name may have 255).
pub const MAX_CGROUP_NAME: usize = 200;

/// The highest `--agent-egress-rate` (8 Tbit/s: far beyond any veth, and its bit rate
/// fits tc's 64-bit field).
pub const MAX_EGRESS_BYTES_PER_SEC: u64 = 1_000_000_000_000;

/// Why a live run failed.
#[derive(Debug, Error)]
pub enum LiveError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The policy name is not an allocator.
    #[error(transparent)]
    UnknownPolicy(#[from] models::allocator::UnknownAllocator),
    /// A cgroup could not be found, created, limited or removed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// A task could not be started.
    #[error("cannot start {task}")]
    Spawn {
        /// The task id.
        task: String,
        /// The error.
        source: io::Error,
    },
    /// Waiting for a task failed.
    #[error("cannot wait for {task}")]
    Wait {
        /// The task id.
        task: String,
        /// The error.
        source: io::Error,
    },
    /// A network namespace, veth pair or rate limit could not be set up or removed.
    #[error(transparent)]
    Network(#[from] NetError),
    /// SIGINT or SIGTERM arrived: the tasks were killed and everything removed.
    #[error("interrupted by {0}: tasks killed, cgroups and namespaces removed, no output written")]
    Interrupted(String),
    /// Signal handling could not be set up.
    #[error("cannot set up signal handling: {0}")]
    Signals(io::Error),
    /// The output directory could not be written.
    #[error("{path}")]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A URI could not be fetched (the task fails; the run goes on).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The allocator offered more than an agent has (a broken invariant, reported
    /// rather than acted on).
    #[error("over-allocation on {agent}: {used} in use plus {task} exceeds {total}")]
    OverAllocation {
        /// The agent.
        agent: String,
        /// What its running tasks hold.
        used: String,
        /// The task about to launch.
        task: String,
        /// Its total.
        total: String,
    },
}

impl LiveConfig {
    /// Checks the settings before anything is created.
    pub fn validate(&self) -> Result<(), LiveError> {
        let bad = |m: String| Err(LiveError::Config(m));
        if !models::allocator::ALLOCATOR_NAMES.contains(&self.policy.as_str()) {
            return Err(models::allocator::UnknownAllocator(self.policy.clone()).into());
        }
        if self.agents == 0 {
            return bad("--agents must be at least 1".into());
        }
        if self.tasks == 0 {
            return bad("--tasks must be at least 1".into());
        }
        for (flag, r) in [
            ("--agent-resources", &self.agent_resources),
            ("--task-resources", &self.task_resources),
        ] {
            check_resources(flag, r).map_err(LiveError::Config)?;
        }
        if !self.agent_resources.contains(&self.task_resources) {
            return bad(format!(
                "a task's resources `{}` do not fit an agent's `{}`",
                self.task_resources, self.agent_resources
            ));
        }
        if self.task_command.trim().is_empty() {
            return bad("--task-command is empty".into());
        }
        if self.allocation_interval == SimDuration::ZERO {
            return bad("--allocation-interval must be positive".into());
        }
        let name_ok = !self.cgroup_name.is_empty()
            && self.cgroup_name != "."
            && self.cgroup_name != ".."
            && !self.cgroup_name.contains('/');
        if !name_ok {
            return bad(format!(
                "--cgroup-name `{}` must be one path component",
                self.cgroup_name
            ));
        }
        // It also names the network namespaces (`<name>-agent-<a>`, files in
        // /run/netns) and appears in /proc/self/cgroup lines: a short plain name.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !self.cgroup_name.chars().all(plain) || self.cgroup_name.len() > MAX_CGROUP_NAME {
            return bad(format!(
                "--cgroup-name `{}` must be at most {MAX_CGROUP_NAME} letters, digits, `-`, `_` or `.`",
                self.cgroup_name.escape_debug()
            ));
        }
        if let Some(net) = &self.network {
            if self.agents > MAX_NETWORK_AGENTS {
                return bad(format!(
                    "--agent-network allows at most {MAX_NETWORK_AGENTS} agents, got {}",
                    self.agents
                ));
            }
            if net.egress_bytes_per_sec == Some(0) {
                return bad("--agent-egress-rate must be positive".into());
            }
            if net.egress_bytes_per_sec > Some(MAX_EGRESS_BYTES_PER_SEC) {
                return bad(format!(
                    "--agent-egress-rate must be at most {MAX_EGRESS_BYTES_PER_SEC} bytes/s"
                ));
            }
        }
        if self.out.file_name().is_none() {
            return bad(format!(
                "--out `{}` must name a directory",
                self.out.display()
            ));
        }
        self.oversubscription
            .validate(scalar(&self.task_resources, "cpus"))
            .map_err(LiveError::Config)
    }

    fn task_limits(&self) -> Limits {
        limits_for(&self.task_resources)
    }
}

/// Runs `config` with the tasks' cgroups under `base` (this process's own cgroup, from
/// [`crate::cgroup::detect_host`]) and returns the summary it wrote.
pub fn run(config: &LiveConfig, base: &Cgroup) -> Result<LiveSummary, LiveError> {
    config.validate()?;
    // A `--out` that may not be replaced is refused before anything is created.
    check_target(&config.out)?;
    let allocator = models::allocator::by_name(
        &config.policy,
        AllocatorConfig {
            allocation_interval: config.allocation_interval,
            ..Default::default()
        },
        RngStreams::new(config.seed)
            .stream("master/allocator")
            .next_u64(),
    )?;
    // From here on Ctrl-C or SIGTERM ends the run through the cleanup below.
    let interrupts = Interrupts::install().map_err(LiveError::Signals)?;
    // Cgroups first: missing privileges are reported before anything else is touched.
    let run_cgroup = base.create_child(&config.cgroup_name)?;
    if config.limit_swap {
        // Said once, before any task, rather than by every task's launch.
        run_cgroup.cgroup().check_swap_accounting()?;
    }
    let hub = match config.network {
        Some(_) => Some(Netns::create(&format!("{}-hub", config.cgroup_name))?),
        None => None,
    };
    let fetch_root = FetchRoot::create(&config.fetch)?;
    let mut agents = Vec::new();
    for a in 0..config.agents {
        // Setting up many agent networks takes seconds: an interrupt stops it here
        // (the guards remove what exists) rather than after tasks were launched.
        interrupted(&interrupts)?;
        let name = format!("agent-{a}");
        let cgroup = run_cgroup.cgroup().create_child(&name)?;
        let network = match (&config.network, &hub) {
            (Some(net), Some(hub)) => Some(agent_network(config, net, hub, a)?),
            _ => None,
        };
        let fetcher = match &fetch_root {
            Some(root) => Some(
                Fetcher::new(root.join(&name), config.fetch.cache_size).map_err(|source| {
                    LiveError::Output {
                        path: root.join(&name),
                        source,
                    }
                })?,
            ),
            None => None,
        };
        agents.push(Agent {
            name,
            used: Resources::default(),
            cgroup,
            network,
            launched: 0,
            fetcher,
        });
    }
    interrupted(&interrupts)?;
    let oversub = revocable::Revocable::create(config, run_cgroup.cgroup())?;
    let out = OutputDir::create(&config.out)?;
    let mut master = Master {
        config,
        allocator,
        running: Vec::new(),
        agents,
        next_task: 0,
        runs: Vec::new(),
        counts: TaskCounts {
            submitted: u64::from(config.tasks),
            ..Default::default()
        },
        cycles: 0,
        offers: 0,
        start: Instant::now(),
        sandboxes: out.path().join("tasks"),
        interrupts: &interrupts,
        error: None,
        oversub,
    };
    // Task times count from the instant the clock's simulated zero is anchored to.
    let mut clock = WallClock::new();
    master.start = Instant::now();
    master.register(SimTime::ZERO);
    let mut engine: Engine<Event> = Engine::new();
    engine.schedule_at(SimTime::ZERO, Event::Allocate);
    engine.schedule_at(SimTime::ZERO + POLL_INTERVAL, Event::Poll);
    engine.schedule_at(SimTime::ZERO + config.timeout, Event::Timeout);
    revocable::schedule(config, &mut engine);
    engine.run_with(&mut master, &mut clock, &mut NoObserver, None);
    let wall_ns = master.start.elapsed().as_nanos() as u64;
    if let Some(e) = master.error.take() {
        return Err(e);
    }
    let mut agents = Vec::new();
    let mut fetcher: Option<FetcherSummary> = None;
    for agent in std::mem::take(&mut master.agents) {
        if let Some(f) = &agent.fetcher {
            fetcher
                .get_or_insert_with(Default::default)
                .add(&f.summary());
        }
        agents.push(AgentSummary {
            cgroup: dirs(agent.cgroup.cgroup()),
            name: agent.name,
            resources: config.agent_resources.to_string(),
            cpus_milli: scalar(&config.agent_resources, "cpus"),
            mem_mb: scalar(&config.agent_resources, "mem") / 1000,
            tasks_launched: agent.launched,
            netns: agent.network.as_ref().map(|n| n.netns.name().to_string()),
            address: agent.network.as_ref().map(|n| n.address.clone()),
        });
        agent.cgroup.remove_or_leave()?;
        if let Some(n) = agent.network {
            n.netns.delete()?;
        }
    }
    if let Some(hub) = hub {
        hub.delete()?;
    }
    let oversubscription = match master.oversub.take() {
        Some(o) => Some(o.finish()?),
        None => None,
    };
    let cgroup_version = run_cgroup.cgroup().version().to_string();
    run_cgroup.remove_or_leave()?;
    // An interrupt during teardown still means "stop, write nothing".
    interrupted(&interrupts)?;
    let summary = LiveSummary {
        mesosim_version: env!("CARGO_PKG_VERSION").to_string(),
        mode: "live".into(),
        policy: config.policy.clone(),
        seed: config.seed,
        cgroup_version,
        task_command: config.task_command.clone(),
        tasks: master.counts.clone(),
        agents,
        task_runs: master.runs.clone(),
        allocation_cycles: master.cycles,
        offers: master.offers,
        wall_ns,
        max_clock_lag_ns: clock.max_lag().as_nanos() as u64,
        egress_bytes_per_sec: config.network.as_ref().and_then(|n| n.egress_bytes_per_sec),
        oversubscription,
        fetcher,
    };
    drop(fetch_root);
    out.commit(&summary)?;
    Ok(summary)
}

/// The parent of the agents' cache directories: a temporary directory removed when
/// dropped, or the `--fetcher-cache-dir` given (left in place, as Mesos leaves its cache
/// until the next agent start wipes it).
enum FetchRoot {
    Temporary(tempfile::TempDir),
    Given(PathBuf),
}

impl FetchRoot {
    /// None when no task names a URI.
    fn create(fetch: &FetchConfig) -> Result<Option<FetchRoot>, LiveError> {
        if fetch.uris.is_empty() {
            return Ok(None);
        }
        let root = match &fetch.cache_dir {
            Some(dir) => fs::create_dir_all(dir)
                .map(|()| FetchRoot::Given(dir.clone()))
                .map_err(|source| LiveError::Output {
                    path: dir.clone(),
                    source,
                })?,
            None => tempfile::Builder::new()
                .prefix("mesosim-fetch-")
                .tempdir()
                .map(FetchRoot::Temporary)
                .map_err(|source| LiveError::Output {
                    path: std::env::temp_dir(),
                    source,
                })?,
        };
        Ok(Some(root))
    }

    fn join(&self, name: &str) -> PathBuf {
        match self {
            FetchRoot::Temporary(t) => t.path().join(name),
            FetchRoot::Given(d) => d.join(name),
        }
    }
}

fn interrupted(interrupts: &Interrupts) -> Result<(), LiveError> {
    match interrupts.received() {
        Some(signal) => Err(LiveError::Interrupted(signal.as_str().to_string())),
        None => Ok(()),
    }
}

/// Agent `a`'s namespace, its veth pair to the hub, and its egress limit.
fn agent_network(
    config: &LiveConfig,
    net: &NetworkConfig,
    hub: &Netns,
    a: u32,
) -> Result<AgentNetwork, LiveError> {
    let netns = Netns::create(&format!("{}-agent-{a}", config.cgroup_name))?;
    let address = format!("10.214.{a}.2");
    veth_pair(
        End {
            ns: &netns,
            dev: "eth0",
            cidr: &format!("{address}/30"),
        },
        End {
            ns: hub,
            dev: &format!("agent{a}"),
            cidr: &format!("10.214.{a}.1/30"),
        },
    )?;
    if let Some(rate) = net.egress_bytes_per_sec {
        // 10 ms at the rate, and at least 16 KiB: tbf needs a bucket that holds a
        // packet and what one timer tick releases.
        let burst_bytes = (rate / 100).max(16 * 1024);
        limit_egress(
            &netns,
            "eth0",
            RateLimit {
                bytes_per_sec: rate,
                burst_bytes,
            },
        )?;
    }
    Ok(AgentNetwork { netns, address })
}

fn dirs(cg: &Cgroup) -> Vec<String> {
    cg.dirs().iter().map(|d| d.display().to_string()).collect()
}

/// The master's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A periodic allocation cycle.
    Allocate,
    /// Look for ended tasks.
    Poll,
    /// `--timeout` passed: kill what runs and stop.
    Timeout,
    /// Ask every agent's resource estimator.
    Estimate,
    /// Ask every agent's QoS controller.
    Qos,
}

struct Agent {
    name: String,
    /// What running tasks hold (the master's books, checked against the total).
    used: Resources,
    cgroup: CgroupGuard,
    network: Option<AgentNetwork>,
    launched: u64,
    /// Its fetcher, when tasks name URIs.
    fetcher: Option<Fetcher>,
}

struct AgentNetwork {
    netns: Netns,
    /// Its `eth0` address.
    address: String,
}

/// Why the master ends a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Its process exited.
    Exited,
    /// `--timeout` passed or the run was interrupted (`TASK_KILLED`).
    Killed,
    /// A QoS correction (`TASK_LOST`).
    Preempted,
}

/// What [`Master::start_task`] starts.
struct TaskSpec<'s> {
    id: String,
    index: u32,
    resources: &'s Resources,
    command: &'s str,
    revocable: bool,
}

struct Running {
    /// Index into `runs`.
    run: usize,
    agent: usize,
    role: Arc<str>,
    // Field order is drop order: the process group dies before its cgroup is removed.
    process: TaskProcess,
    cgroup: CgroupGuard,
    /// What it holds (revocable CPUs for a revocable task).
    resources: Resources,
    revocable: bool,
    /// Its usage meters, with oversubscription on.
    meters: Option<revocable::Meters>,
}

struct Master<'a> {
    config: &'a LiveConfig,
    allocator: Box<dyn Allocator>,
    // Dropped before `agents`, so task cgroups go before agent cgroups.
    running: Vec<Running>,
    agents: Vec<Agent>,
    next_task: u32,
    runs: Vec<TaskRun>,
    counts: TaskCounts,
    cycles: u64,
    offers: u64,
    start: Instant,
    sandboxes: PathBuf,
    interrupts: &'a Interrupts,
    error: Option<LiveError>,
    /// Estimators, QoS controllers and revocable tasks, when enabled.
    oversub: Option<revocable::Revocable>,
}

impl Handler<Event> for Master<'_> {
    fn handle(&mut self, event: Event, ctx: &mut Context<'_, Event>) {
        let result = match event {
            Event::Allocate => self.allocate(ctx),
            Event::Poll => self.poll(ctx),
            Event::Timeout => {
                self.kill_all(ctx.now());
                ctx.stop();
                Ok(())
            }
            Event::Estimate => self.estimate(ctx),
            Event::Qos => self.qos(ctx),
        };
        if let Err(e) = result {
            self.error = Some(e);
            ctx.stop();
        }
    }
}

impl Master<'_> {
    fn register(&mut self, now: SimTime) {
        for (a, agent) in self.agents.iter().enumerate() {
            self.allocator.add_agent(
                now,
                AgentId(a as u32),
                AgentInfo {
                    name: agent.name.clone(),
                    total: self.config.agent_resources.clone(),
                    ..Default::default()
                },
                &[],
            );
        }
        self.allocator.add_framework(
            now,
            FRAMEWORK,
            FrameworkInfo {
                name: "live-batch".into(),
                roles: vec![ROLE.into()],
                capabilities: self.framework_capabilities(),
                ..Default::default()
            },
            true,
        );
    }

    fn allocate(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), LiveError> {
        let now = ctx.now();
        // Event-triggered requests fold into the periodic cycle over all agents.
        let _ = self.allocator.take_allocation_request();
        self.cycles += 1;
        let task = self.config.task_resources.clone();
        for offer in self.allocator.allocate(now, &Candidates::All) {
            self.offers += 1;
            let mut left = offer.resources.clone();
            while self.next_task < self.config.tasks && left.contains(&task) {
                if self.launch(offer.agent.0 as usize, offer.role.clone())? {
                    left.sub_assign(&task);
                }
            }
            self.launch_revocable(offer.agent.0 as usize, &offer.role, &mut left)?;
            if !left.is_empty() {
                // Declined without a filter (refuse_seconds = 0).
                self.allocator.recover_role_resources(
                    now,
                    FRAMEWORK,
                    &offer.role,
                    offer.agent,
                    &left,
                    None,
                );
            }
        }
        ctx.schedule_after(self.config.allocation_interval, Event::Allocate);
        Ok(())
    }

    /// Fetches the next task's URIs on agent `a` and starts it; false when a URI could
    /// not be fetched (the task is `TASK_FAILED` and its resources stay on offer).
    fn launch(&mut self, a: usize, role: Arc<str>) -> Result<bool, LiveError> {
        let config = self.config;
        let index = self.next_task;
        let id = format!("task-{index}");
        self.next_task += 1;
        match self.fetch(a, &id) {
            Ok(()) => {}
            Err(LiveError::Fetch(e)) => {
                eprintln!("mesosim live: {id} on {}: {e}", self.agents[a].name);
                self.fetch_failed(a, id, e.to_string());
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        self.start_task(
            a,
            role,
            TaskSpec {
                id,
                index,
                resources: &config.task_resources,
                command: &config.task_command,
                revocable: false,
            },
        )?;
        self.counts.launched += 1;
        Ok(true)
    }

    /// Fetches `--task-uri`s into task `id`'s sandbox on agent `a`.
    fn fetch(&mut self, a: usize, id: &str) -> Result<(), LiveError> {
        let Some(fetcher) = &mut self.agents[a].fetcher else {
            return Ok(());
        };
        let sandbox = self.sandboxes.join(id);
        fs::create_dir_all(&sandbox).map_err(|source| LiveError::Output {
            path: sandbox.clone(),
            source,
        })?;
        for uri in &self.config.fetch.uris {
            fetcher
                .fetch(None, uri, &sandbox)
                .map_err(LiveError::Fetch)?;
        }
        Ok(())
    }

    /// Records a task that never started: Mesos reports a failed fetch as
    /// `TASK_FAILED` with `REASON_CONTAINER_LAUNCH_FAILED`.
    fn fetch_failed(&mut self, a: usize, id: String, message: String) {
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let task = &self.config.task_resources;
        self.counts.failed += 1;
        self.runs.push(TaskRun {
            sandbox: format!("tasks/{id}"),
            id,
            agent: self.agents[a].name.clone(),
            cpus_milli: scalar(task, "cpus"),
            mem_mb: scalar(task, "mem") / 1000,
            cgroup: Vec::new(),
            state: "TASK_FAILED".into(),
            exit_code: None,
            signal: None,
            start_ns: now_ns,
            end_ns: now_ns,
            wall_ns: 0,
            revocable: false,
            reason: Some("REASON_CONTAINER_LAUNCH_FAILED".into()),
            message: Some(message),
        });
    }

    /// Starts a task on agent `a`: its sandbox, its cgroup with its limits, its process.
    fn start_task(
        &mut self,
        a: usize,
        role: Arc<str>,
        spec: TaskSpec<'_>,
    ) -> Result<(), LiveError> {
        let task = spec.resources;
        let total = self.agent_total(a);
        let meters = self.meters(a, &spec)?;
        let agent = &mut self.agents[a];
        let in_use = agent.used.plus(task);
        if !total.contains(&in_use) {
            return Err(LiveError::OverAllocation {
                agent: agent.name.clone(),
                used: agent.used.to_string(),
                task: task.to_string(),
                total: total.to_string(),
            });
        }
        let (index, id) = (spec.index, spec.id);
        let sandbox = self.sandboxes.join(&id);
        fs::create_dir_all(&sandbox).map_err(|source| LiveError::Output {
            path: sandbox.clone(),
            source,
        })?;
        let cgroup = agent.cgroup.cgroup().create_child(&id)?;
        let limits = self.config.task_limits();
        cgroup.cgroup().set_limits(limits)?;
        if self.config.limit_swap {
            cgroup.cgroup().limit_swap(limits.memory_bytes)?;
        }
        if spec.revocable {
            cgroup.cgroup().set_cpu_shares(revocable::shares(task))?;
        }
        let mut procs = cgroup.cgroup().procs_files();
        procs.extend(
            meters
                .as_ref()
                .map_or(Vec::new(), revocable::Meters::procs_files),
        );
        let mut env: TaskEnv = vec![
            ("MESOS_SANDBOX".into(), sandbox.display().to_string()),
            ("MESOSIM_TASK_ID".into(), id.clone()),
            ("MESOSIM_TASK_INDEX".into(), index.to_string()),
            ("MESOSIM_AGENT".into(), agent.name.clone()),
        ];
        if let Some(n) = &agent.network {
            env.push(("MESOSIM_AGENT_IP".into(), n.address.clone()));
            env.push(("MESOSIM_HUB_IP".into(), format!("10.214.{a}.1")));
        }
        if spec.revocable {
            env.push(("MESOSIM_REVOCABLE".into(), "1".into()));
        }
        let process = TaskProcess::spawn_in_netns(
            spec.command,
            &sandbox,
            &procs,
            &env,
            agent.network.as_ref().map(|n| n.netns.name()),
        )
        .map_err(|source| LiveError::Spawn {
            task: id.clone(),
            source,
        })?;
        let start_ns = self.start.elapsed().as_nanos() as u64;
        agent.used = in_use;
        agent.launched += 1;
        self.runs.push(TaskRun {
            id: id.clone(),
            agent: agent.name.clone(),
            cpus_milli: scalar(task, "cpus"),
            mem_mb: scalar(task, "mem") / 1000,
            // Its cgroups' directories (with a cpuacct mirror, that one too).
            cgroup: procs
                .iter()
                .filter_map(|p| p.parent())
                .map(|d| d.display().to_string())
                .collect(),
            sandbox: format!("tasks/{id}"),
            state: "TASK_RUNNING".into(),
            exit_code: None,
            signal: None,
            start_ns,
            end_ns: start_ns,
            wall_ns: 0,
            revocable: spec.revocable,
            reason: None,
            message: None,
        });
        self.running.push(Running {
            run: self.runs.len() - 1,
            agent: a,
            role,
            process,
            cgroup,
            resources: task.clone(),
            revocable: spec.revocable,
            meters: meters.map(|m| m.started(start_ns)),
        });
        Ok(())
    }

    fn poll(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), LiveError> {
        if let Some(signal) = self.interrupts.received() {
            self.kill_all(ctx.now());
            ctx.stop();
            return Err(LiveError::Interrupted(signal.as_str().to_string()));
        }
        let mut i = 0;
        while i < self.running.len() {
            let exit = self.running[i]
                .process
                .try_exit()
                .map_err(|source| LiveError::Wait {
                    task: self.runs[self.running[i].run].id.clone(),
                    source,
                })?;
            match exit {
                Some(exit) => {
                    let r = self.running.swap_remove(i);
                    self.end(ctx.now(), r, Some(exit), Ending::Exited)?;
                }
                None => i += 1,
            }
        }
        if self.next_task == self.config.tasks && self.running.is_empty() {
            ctx.stop();
        } else {
            ctx.schedule_after(POLL_INTERVAL, Event::Poll);
        }
        Ok(())
    }

    /// Records how a task ended, removes its cgroup and returns its resources.
    fn end(
        &mut self,
        now: SimTime,
        mut r: Running,
        exit: Option<Exit>,
        how: Ending,
    ) -> Result<(), LiveError> {
        let end_ns = self.start.elapsed().as_nanos() as u64;
        let run = &mut self.runs[r.run];
        run.end_ns = end_ns;
        run.wall_ns = end_ns - run.start_ns;
        match exit {
            Some(Exit::Code(c)) => run.exit_code = Some(c),
            Some(Exit::Signal(s)) => run.signal = Some(s),
            None => {}
        }
        let state = match how {
            Ending::Killed => "TASK_KILLED",
            Ending::Preempted => "TASK_LOST",
            Ending::Exited if exit.is_some_and(Exit::success) => "TASK_FINISHED",
            Ending::Exited => "TASK_FAILED",
        };
        run.state = state.into();
        if how == Ending::Preempted {
            run.reason = Some(crate::oversubscription::QOS_REASON.into());
        }
        match &mut self.oversub {
            Some(o) if r.revocable => o.state.ended(state),
            _ => match state {
                "TASK_KILLED" => self.counts.killed += 1,
                "TASK_FINISHED" => self.counts.finished += 1,
                _ => self.counts.failed += 1,
            },
        }
        r.process.kill();
        // Processes that do not go (stuck in the kernel) are reported and their cgroup
        // left behind: the run goes on.
        r.cgroup.remove_or_leave()?;
        if let Some(m) = r.meters.take() {
            m.remove()?;
        }
        let task = &r.resources;
        self.agents[r.agent].used.sub_assign(task);
        self.allocator.recover_role_resources(
            now,
            FRAMEWORK,
            &r.role,
            AgentId(r.agent as u32),
            task,
            None,
        );
        Ok(())
    }

    fn kill_all(&mut self, now: SimTime) {
        for mut r in std::mem::take(&mut self.running) {
            let exit = r.process.kill();
            if let Err(e) = self.end(now, r, exit, Ending::Killed) {
                self.error.get_or_insert(e);
            }
        }
    }
}
