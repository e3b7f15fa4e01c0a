//! `mesosim live run`: the master, agents and a batch framework on this host, with tasks as real processes in cgroups.

use std::path::PathBuf;

use analysis::table::Table;
use clap::{Args, Subcommand};
use models::resources::Resources;
use scenarios::duration::parse_duration;

use crate::CmdResult;

/// `mesosim live`.
#[derive(Args)]
pub struct LiveArgs {
    #[command(subcommand)]
    command: LiveCommand,
}

#[derive(Subcommand)]
enum LiveCommand {
    /// Run a master, N agents and a batch framework on this host: tasks are real
    /// processes in per-task cgroups (needs root and the cpu and memory controllers).
    Run(Box<LiveRunArgs>),
    /// Run a master that agents on other hosts connect to over TCP with mutual TLS,
    /// with the same allocator and batch framework as `live run`.
    Master(crate::cmd_live_net::LiveMasterArgs),
    /// Run an agent: connect to a master, run the tasks it sends in per-task cgroups
    /// (needs root and the cpu and memory controllers).
    Agent(crate::cmd_live_net::LiveAgentArgs),
    /// Write a test CA and certificates for a master and its agents.
    Certs(crate::cmd_live_net::LiveCertsArgs),
}

/// `mesosim live run`.
#[derive(Args)]
pub struct LiveRunArgs {
    /// Agents to start on this host, each with its own cgroup subtree.
    #[arg(long, default_value_t = 2)]
    agents: u32,
    /// Each agent's resources (Mesos notation, unreserved cpus and mem in MB).
    #[arg(long, default_value = "cpus:1;mem:256")]
    agent_resources: String,
    /// Tasks to run.
    #[arg(long, default_value_t = 4)]
    tasks: u32,
    /// Each task's resources: cpus becomes its CFS quota, mem (MB) its memory limit.
    #[arg(long, default_value = "cpus:0.5;mem:64")]
    task_resources: String,
    /// The command each task runs with /bin/sh -c, in its sandbox; it sees
    /// MESOS_SANDBOX, MESOSIM_TASK_ID, MESOSIM_TASK_INDEX and MESOSIM_AGENT.
    #[arg(long, default_value = "sleep 1")]
    task_command: String,
    /// Allocation policy: hdrf, random, fifo, bestfit.
    #[arg(long, default_value = "hdrf")]
    policy: String,
    /// Seed of the allocator's random streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time between allocation cycles.
    #[arg(long, default_value = "1s")]
    allocation_interval: String,
    /// Tasks still running after this long are killed (TASK_KILLED).
    #[arg(long, default_value = "10m")]
    timeout: String,
    /// Name of the run's cgroup, created under mesosim's own cgroup (at most 200
    /// letters, digits, -, _ or .) [default: mesosim-<pid>].
    #[arg(long)]
    cgroup_name: Option<String>,
    /// Put each agent (and its tasks) in a network namespace of its own, joined to a hub
    /// namespace by a veth pair (agent a: 10.214.a.2, hub side 10.214.a.1).
    #[arg(long)]
    agent_network: bool,
    /// Limit each agent's egress to this many bytes per second (tc tbf on its veth).
    #[arg(long, value_name = "BYTES_PER_SEC", requires = "agent_network")]
    agent_egress_rate: Option<u64>,
    /// Output directory; an existing one is replaced only if an earlier live run
    /// wrote it (or it is empty) [default: out/live-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Each agent's resource estimator (mesos-semantics.md §3.1): noop (none), fixed
    /// (--fixed-cpus), usage (allocated minus measured usage, smoothed, less a margin).
    #[arg(long, default_value = "noop")]
    estimator: String,
    /// Time between estimates (Mesos's --oversubscribed_resources_interval).
    #[arg(long, default_value = "15s")]
    estimator_interval: String,
    /// `fixed`: the revocable CPUs each agent advertises.
    #[arg(long, value_name = "CPUS")]
    fixed_cpus: Option<f64>,
    /// `usage`: weight of the newest sample in the moving average, 0-1.
    #[arg(long, default_value_t = 0.5)]
    usage_smoothing: f64,
    /// `usage`: safety margin as a fraction of allocated CPUs, 0-1.
    #[arg(long, default_value_t = 0.1)]
    usage_margin: f64,
    /// Each agent's QoS controller (§3.3): noop, load (kills every revocable task when a
    /// load average passes its threshold), shortfall (kills the fewest revocable tasks
    /// that leave regular tasks the CPU they want).
    #[arg(long, default_value = "noop")]
    qos: String,
    /// Time between QoS corrections (Mesos's --qos_correction_interval_min).
    #[arg(long, default_value = "20s")]
    qos_interval: String,
    /// `load`: threshold of the agent's 5-minute load average (runnable tasks' CPUs).
    #[arg(long, value_name = "LOAD")]
    load_threshold_5min: Option<f64>,
    /// `load`: threshold of the agent's 15-minute load average.
    #[arg(long, value_name = "LOAD")]
    load_threshold_15min: Option<f64>,
    /// `shortfall`: CPUs revocable tasks may take from regular ones before a kill.
    #[arg(long, value_name = "CPUS", default_value_t = 0.1)]
    shortfall_tolerance: f64,
    /// Best-effort tasks (besides --tasks) that run only on revocable CPUs: each takes
    /// a task's cpus as revocable CPUs and its mem; QoS corrections may kill them.
    #[arg(long, default_value_t = 0)]
    revocable_tasks: u32,
    /// The command each revocable task runs (it also sees MESOSIM_REVOCABLE=1)
    /// [default: --task-command].
    #[arg(long)]
    revocable_task_command: Option<String>,
    /// Cap each task's memory plus swap at its memory limit, as Mesos's
    /// --cgroups_limit_swap (v2 memory.swap.max = 0, v1 memory.memsw.limit_in_bytes;
    /// needs swap accounting).
    #[arg(long)]
    limit_swap: bool,
    /// A URI each --task-command task fetches into its sandbox before it starts
    /// (repeatable, fetched in order): an absolute path, file:// or http://, with
    /// options `,cache` (through the agent's fetcher cache), `,executable` (chmod 755,
    /// not extracted), `,no-extract` (archives are extracted by default).
    #[arg(long = "task-uri", value_name = "URI[,OPTION...]")]
    task_uris: Vec<String>,
    /// Each agent's fetcher cache size, bytes (Mesos's --fetcher_cache_size).
    #[arg(long, default_value_t = models::fetcher::DEFAULT_FETCHER_CACHE_SIZE)]
    fetcher_cache_size: u64,
    /// Where the agents' fetcher caches live (<dir>/agent-<a>, wiped at start, kept
    /// after the run) [default: a temporary directory removed after the run].
    #[arg(long, value_name = "DIR")]
    fetcher_cache_dir: Option<PathBuf>,
}

/// The `--task-uri` values, parsed.
pub fn task_uris(specs: &[String]) -> Result<Vec<live::fetcher::TaskUri>, String> {
    specs
        .iter()
        .map(|u| live::fetcher::TaskUri::parse(u).map_err(|e| format!("--task-uri: {e}")))
        .collect()
}

/// Runs `mesosim live ...`.
pub fn run(args: LiveArgs) -> CmdResult {
    match args.command {
        LiveCommand::Run(a) => live_run(*a),
        LiveCommand::Master(a) => crate::cmd_live_net::live_master(a),
        LiveCommand::Agent(a) => crate::cmd_live_net::live_agent(a),
        LiveCommand::Certs(a) => crate::cmd_live_net::live_certs(a),
    }
}

fn live_run(args: LiveRunArgs) -> CmdResult {
    let resources = |flag: &str, text: &str| {
        Resources::parse(text).map_err(|e| format!("--{flag} `{text}`: {e}"))
    };
    let duration =
        |flag: &str, text: &str| parse_duration(text).map_err(|e| format!("--{flag}: {e}"));
    // A non-negative number up to `max`, in thousandths.
    let milli = |flag: &str, x: f64, max: f64| {
        if x.is_finite() && (0.0..=max).contains(&x) {
            Ok((x * 1000.0).round() as u64)
        } else {
            Err(format!("--{flag} must be between 0 and {max}, got {x}"))
        }
    };
    let task_command = args.task_command;
    let config = live::run::LiveConfig {
        agents: args.agents,
        agent_resources: resources("agent-resources", &args.agent_resources)?,
        tasks: args.tasks,
        task_resources: resources("task-resources", &args.task_resources)?,
        task_command: task_command.clone(),
        policy: args.policy,
        seed: args.seed,
        allocation_interval: duration("allocation-interval", &args.allocation_interval)?,
        timeout: duration("timeout", &args.timeout)?,
        cgroup_name: args
            .cgroup_name
            .unwrap_or_else(|| format!("mesosim-{}", std::process::id())),
        out: args
            .out
            .unwrap_or_else(|| PathBuf::from(format!("out/live-{}", args.seed))),
        network: args.agent_network.then_some(live::run::NetworkConfig {
            egress_bytes_per_sec: args.agent_egress_rate,
        }),
        oversubscription: live::oversubscription::OversubscriptionConfig {
            estimator: args.estimator,
            fixed_cpus: args
                .fixed_cpus
                .map(|c| milli("fixed-cpus", c, 1e6))
                .transpose()?,
            smoothing: milli("usage-smoothing", args.usage_smoothing, 1.0)?.max(1),
            margin: milli("usage-margin", args.usage_margin, 1.0)?,
            estimator_interval: duration("estimator-interval", &args.estimator_interval)?,
            qos: args.qos,
            qos_interval: duration("qos-interval", &args.qos_interval)?,
            load_threshold_5min: args
                .load_threshold_5min
                .map(|l| milli("load-threshold-5min", l, 1e6))
                .transpose()?,
            load_threshold_15min: args
                .load_threshold_15min
                .map(|l| milli("load-threshold-15min", l, 1e6))
                .transpose()?,
            shortfall_tolerance: milli("shortfall-tolerance", args.shortfall_tolerance, 1e6)?,
            revocable_tasks: args.revocable_tasks,
            revocable_task_command: args.revocable_task_command.unwrap_or(task_command),
        },
        limit_swap: args.limit_swap,
        fetch: live::run::FetchConfig {
            uris: task_uris(&args.task_uris)?,
            cache_size: args.fetcher_cache_size,
            cache_dir: args.fetcher_cache_dir,
        },
    };
    // Bad flags are reported before the host is looked at.
    config.validate()?;
    let base = live::cgroup::detect_host()?;
    let summary = live::run::run(&config, &base)?;
    if !args.quiet {
        let t = &summary.tasks;
        let mut table = Table::new(["figure", "value"]);
        table
            .row(["cgroups".to_string(), summary.cgroup_version.clone()])
            .row(["agents".to_string(), summary.agents.len().to_string()])
            .row(["tasks launched".to_string(), t.launched.to_string()])
            .row(["tasks finished".to_string(), t.finished.to_string()])
            .row(["tasks failed".to_string(), t.failed.to_string()])
            .row(["tasks killed".to_string(), t.killed.to_string()]);
        if let Some(o) = &summary.oversubscription {
            let r = &o.revocable_tasks;
            table
                .row(["estimates".to_string(), o.estimates_reported.to_string()])
                .row([
                    "revocable cpus offered".to_string(),
                    format!("{:.3}", o.revocable_cpus_offered_milli as f64 / 1000.0),
                ])
                .row(["revocable launched".to_string(), r.launched.to_string()])
                .row(["revocable finished".to_string(), r.finished.to_string()])
                .row(["revocable lost (QoS)".to_string(), r.lost.to_string()]);
        }
        if let Some(f) = &summary.fetcher {
            table
                .row(["fetches".to_string(), f.requests.to_string()])
                .row(["fetcher cache hits".to_string(), f.hits.to_string()])
                .row(["fetcher cache misses".to_string(), f.misses.to_string()])
                .row(["fetched bytes".to_string(), f.bytes_downloaded.to_string()]);
        }
        table.row([
            "wall time".to_string(),
            format!("{:.2} s", summary.wall_ns as f64 / 1e9),
        ]);
        print!("{}", table.render());
        println!("output: {}", config.out.display());
    }
    Ok(())
}
