//! Running one scenario: builds the world on the engine, runs it to the scenario's end
//! and returns the summary and metrics. No files are touched here; the caller decides
//! where outputs go.

pub mod control;
mod eventlog;
mod events;
pub mod fetcher;
mod id_window;
mod ids;
pub mod network;
mod offers;
mod pending;
pub mod replay;
mod replay_feed;
pub mod replay_usage;
mod res;
mod reservations;
mod stateful;
mod stats;
mod task;
pub mod task_group;
mod tasks;
pub mod tls;
mod usage;
mod world;

use std::io::Write;

use sim_core::engine::Engine;
use sim_core::rng::RngStreams;
use sim_core::time::SimTime;

pub use eventlog::LogRecord;
pub use task::{TaskReason, TaskState};
pub use usage::{BurstingSummary, OversubscriptionSummary};
pub use world::StepError;

use crate::scenario::Scenario;
use crate::summary::Summary;
use world::{component_seed, World};

/// Per-run choices that are not part of the scenario file.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's allocator.
    pub policy: Option<String>,
    /// Receives the event log as JSON lines.
    pub event_log: Option<&'a mut dyn Write>,
    /// Called now and then with the simulated time reached (for progress bars).
    pub progress: Option<&'a mut dyn FnMut(SimTime)>,
    /// Verify after every event that no agent is over-allocated (slow; for tests).
    pub check_invariants: bool,
    /// Keep finished tasks' records instead of releasing them (for checking that
    /// releasing them changes no output).
    pub keep_finished_tasks: bool,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// `summary.json`.
    pub summary: Summary,
    /// `metrics/<name>`: file name and CSV text.
    pub metrics: Vec<(String, String)>,
    /// Lines written to the event log.
    pub event_log_lines: u64,
    /// Task records the master still held at the end (finished tasks' records are
    /// released once their last status update arrived).
    pub task_records_held: u64,
    /// Tasks that had not ended at the end (pending, staging or running).
    pub tasks_unfinished: u64,
    /// Trace tasks a replay still mapped to a simulated task at the end (0 for a
    /// scenario): those whose end the trace may still tell.
    pub trace_tasks_held: u64,
}

/// A run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The policy name is unknown.
    #[error("unknown policy `{name}` (expected one of {expected})")]
    UnknownPolicy {
        /// What was asked for.
        name: String,
        /// The known names.
        expected: String,
    },
    /// A timeline step could not be carried out.
    #[error("timeline step {} at {}: {}", .0.step, .0.at, .0.message)]
    Step(StepError),
    /// Writing the event log failed.
    #[error("cannot write the event log")]
    EventLog(#[source] std::io::Error),
    /// The replayed trace has a bad row or could not be read.
    #[error("replay stopped")]
    Trace(#[source] traces::TraceError),
}

/// How much simulated time passes between progress callbacks.
const PROGRESS_SLICES: u64 = 200;

/// Runs `scenario` to its end.
pub fn run(scenario: &Scenario, options: RunOptions<'_>) -> Result<RunOutput, RunError> {
    drive(scenario, options, None, &[])
}

/// What `replay` needs besides the trace.
#[derive(Default)]
pub struct ReplayOptions<'a> {
    /// Name used in outputs.
    pub name: String,
    /// How records map onto the cluster.
    pub config: replay::ReplayConfig,
    /// Stop after this much simulated time; by default at the trace's last record.
    pub duration: Option<sim_core::time::SimDuration>,
    /// Seed, policy, event log and progress, as for `run` (`None` policy = hdrf).
    pub run: RunOptions<'a>,
}

/// Replays a trace: machines become agents, each priority band's tasks go to one
/// framework (`trace-prod`, `trace-batch`, …), each task runs as long as it ran in the
/// trace, and the allocation policy decides where and when.
///
/// The records are read and prepared for the world on a thread of their own
/// ([`traces::prefetch`]), while the simulation runs on the caller's.
pub fn replay(
    records: Box<dyn Iterator<Item = Result<traces::WorkloadRecord, traces::TraceError>> + Send>,
    options: ReplayOptions<'_>,
) -> Result<RunOutput, RunError> {
    use crate::scenario::{Behaviour, Capabilities, FrameworkDef, MasterConfig};
    use sim_core::time::SimDuration;
    // With `--usage trace` tasks keep their traced runtimes; their demand follows the
    // samples (`replay_usage`).
    let task_usage = options
        .config
        .usage
        .as_ref()
        .map(|_| crate::usage::TaskUsage {
            fixed_duration: true,
            ..Default::default()
        });
    let frameworks = replay::BAND_ROLES
        .iter()
        .map(|(_, role)| FrameworkDef {
            name: format!("trace-{role}"),
            roles: vec![role.to_string()],
            capabilities: Capabilities {
                multi_role: true,
                ..Capabilities::default()
            },
            // Each band subscribes at its first task (`subscribe_on_first_task`).
            start: None,
            offer_think_time: SimDuration::ZERO,
            task_think_time: SimDuration::ZERO,
            refuse: Some(options.config.refuse),
            max_tasks_per_offer: None,
            // Suppressing when idle and reviving on the next submission would clear
            // every filter each time (see `ReplayConfig::refuse`).
            suppress_when_idle: false,
            behaviour: Behaviour::Trace,
            usage: task_usage.clone(),
            transfers: Default::default(),
            uris: Vec::new(),
            task_group: None,
        })
        .collect();
    let scenario = Scenario {
        name: options.name.clone(),
        description: "trace replay".to_string(),
        seed: options.run.seed.unwrap_or(1),
        // Open-ended replays stop when the trace runs out (see `drive`).
        duration: options
            .duration
            .unwrap_or(SimDuration::from_nanos(u64::MAX / 4)),
        allocator: options
            .run
            .policy
            .clone()
            .unwrap_or_else(|| "hdrf".to_string()),
        metrics_interval: SimDuration::from_secs(60),
        master: MasterConfig {
            allocation_interval: SimDuration::from_secs(1),
            offer_timeout: None,
            min_allocatable_resources: models::allocator::AllocatorConfig::default()
                .min_allocatable_resources,
            filter_gpu_resources: true,
            fair_sharing_excluded_resource_names: Vec::new(),
            message_latency: SimDuration::from_millis(1),
        },
        agents: Vec::new(),
        roles: Vec::new(),
        frameworks,
        timeline: Vec::new(),
        sha256: String::new(),
        usage: options.config.usage.as_ref().map(|u| u.agents.clone()),
        network: None,
        fetcher: None,
        tls: None,
    };
    let prepared = replay_feed::prepare(records, options.config.clone());
    let feeder = replay::Feeder::new(
        Box::new(traces::prefetch::ahead(prepared)),
        options.config.clone(),
    );
    let open_ended = options.duration.is_none();
    let mut out = drive(
        &scenario,
        options.run,
        Some((feeder, open_ended)),
        &["cpus", "mem"],
    )?;
    out.summary.scenario_sha256.clear();
    Ok(out)
}

fn drive(
    scenario: &Scenario,
    options: RunOptions<'_>,
    feeder: Option<(replay::Feeder, bool)>,
    extra_names: &[&str],
) -> Result<RunOutput, RunError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let policy = options
        .policy
        .clone()
        .unwrap_or_else(|| scenario.allocator.clone());
    let streams = RngStreams::new(seed);
    let config = models::allocator::AllocatorConfig {
        allocation_interval: scenario.master.allocation_interval,
        min_allocatable_resources: scenario.master.min_allocatable_resources.clone(),
        filter_gpu_resources: scenario.master.filter_gpu_resources,
        fair_sharing_excluded_resource_names: scenario
            .master
            .fair_sharing_excluded_resource_names
            .iter()
            .map(|n| models::resources::ResourceName::new(n))
            .collect(),
        ..Default::default()
    };
    let allocator = models::allocator::by_name(
        &policy,
        config,
        component_seed(&streams, "master/allocator"),
    )
    .map_err(|_| RunError::UnknownPolicy {
        name: policy.clone(),
        expected: models::allocator::ALLOCATOR_NAMES.join(", "),
    })?;
    let mut engine: Engine<events::Event> = Engine::new();
    let mut world = World::new(
        scenario,
        allocator,
        &streams,
        eventlog::EventLog::new(options.event_log),
    );
    world.check_invariants = options.check_invariants;
    world.tasks.keep_released = options.keep_finished_tasks;
    let open_ended = feeder.as_ref().is_some_and(|(_, o)| *o);
    if !extra_names.is_empty() {
        world.stats = stats::Stats::new(scenario, extra_names);
    }
    world.feeder = feeder.map(|(f, _)| f);
    if world.feeder.as_ref().is_some_and(|f| f.usage.is_some()) {
        if let Some(u) = world.usage.as_mut() {
            u.report_all();
        }
    }
    world.start(&mut engine);
    let mut end = SimTime::ZERO + scenario.duration;
    let mut progress = options.progress;
    // Open-ended replays advance a simulated hour at a time until the trace runs out.
    let slice = if open_ended {
        3_600_000_000_000
    } else {
        (scenario.duration.as_nanos() / PROGRESS_SLICES).max(1)
    };
    let mut reached = SimTime::ZERO;
    while reached < end && world.error.is_none() {
        reached = SimTime::from_nanos(reached.as_nanos().saturating_add(slice)).min(end);
        if let Some(f) = world.feeder.as_ref() {
            if f.error.is_some() {
                break;
            }
            if open_ended && f.exhausted {
                end = reached.min(f.last_time.max(engine.now()));
                reached = end;
            }
        }
        engine.run_until(&mut world, reached);
        if let Some(p) = progress.as_mut() {
            p(reached);
        }
    }
    if let Some(e) = world.feeder.as_mut().and_then(|f| f.error.take()) {
        return Err(RunError::Trace(e));
    }
    if world.error.is_none() {
        if let Err(message) = world.close_expectation_window() {
            let step = scenario.timeline.len().saturating_sub(1);
            world.error = Some(StepError {
                step,
                at: engine.now(),
                message,
            });
        }
    }
    if let Some(e) = world.error.take() {
        return Err(RunError::Step(e));
    }
    let events = engine.dispatched();
    let mut summary = world
        .stats
        .summary(scenario, &policy, seed, engine.now(), events);
    summary.replay = world.feeder.as_ref().map(|f| f.summary.clone());
    summary.reservations = world
        .reservations
        .as_ref()
        .map(|r| r.summary(engine.now(), world.volumes_now()));
    let mut metrics = world.stats.metrics_files();
    metrics.extend(world.reservations.as_ref().map(|r| r.metrics_file()));
    if let Some(u) = world.usage.as_mut() {
        if world.feeder.as_ref().is_some_and(|f| f.usage.is_some()) {
            // A usage-driven replay measures what tasks used, not what they asked for.
            let (cpus, mem) = u.used_fractions(engine.now());
            for (name, used) in [("cpus", cpus), ("mem", mem)] {
                if let Some(x) = summary.utilization.get_mut(name) {
                    x.used = used;
                }
            }
        }
        (summary.oversubscription, summary.bursting) = u.summaries(engine.now());
        summary.tasks.revoked = u.revoked();
        metrics.extend(u.metrics_file());
    }
    summary.network = world
        .net
        .as_mut()
        .map(|n| n.summary(scenario, engine.now()));
    metrics.extend(world.net.as_ref().map(|n| n.metrics_file()));
    summary.fetcher = world.fetcher.as_ref().map(|f| f.summary());
    metrics.extend(world.fetcher.as_ref().map(|f| f.metrics_file()));
    summary.tls = world.tls.as_mut().map(|t| t.summary(engine.now()));
    if let (Some(g), Some(u)) = (world.groups.as_ref(), world.usage.as_mut()) {
        summary.task_groups = Some(g.summary(scenario, u.group_modes(engine.now())));
    }
    let task_records_held = world.tasks.live() as u64;
    let tasks_unfinished = world
        .tasks
        .iter()
        .filter(|(_, t)| !t.state.is_terminal())
        .count() as u64;
    let event_log_lines = world.log.finish().map_err(RunError::EventLog)?;
    Ok(RunOutput {
        summary,
        metrics,
        event_log_lines,
        task_records_held,
        tasks_unfinished,
        trace_tasks_held: world.feeder.as_ref().map_or(0, |f| f.tracked() as u64),
    })
}
