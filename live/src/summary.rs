//! `summary.json` of a live run: what ran where, how it ended, and how long it took in wall time.

use serde::{Deserialize, Serialize};

use crate::fetcher::FetcherSummary;
use crate::oversubscription::OversubscriptionSummary;

/// The file `mesosim live run` (and `live master`) writes last into its output directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveSummary {
    /// The mesosim version that ran.
    pub mesosim_version: String,
    /// `live` (`live run`) or `live-master`: tells this file from a simulation's summary.
    pub mode: String,
    /// The allocation policy (`hdrf`, `random`, `fifo`, `bestfit`).
    pub policy: String,
    /// The seed of the allocator's random streams.
    pub seed: u64,
    /// `v1` or `v2`: the cgroup hierarchy the tasks were limited by (for `live-master`,
    /// the agents' hierarchies, comma-separated).
    pub cgroup_version: String,
    /// The task command line, as given.
    pub task_command: String,
    /// Counts of tasks by how they ended.
    pub tasks: TaskCounts,
    /// One entry per agent, in id order.
    pub agents: Vec<AgentSummary>,
    /// One entry per launched task, in launch order.
    pub task_runs: Vec<TaskRun>,
    /// Allocation cycles the master ran.
    pub allocation_cycles: u64,
    /// Offers the master made (one per allocation the allocator returned).
    pub offers: u64,
    /// Wall time from the start of the master until the last task ended, ns.
    pub wall_ns: u64,
    /// The wall clock's largest lag dispatching a master event, ns.
    pub max_clock_lag_ns: u64,
    /// The tbf limit on each agent's egress, bytes/s (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_bytes_per_sec: Option<u64>,
    /// Estimates, revocable offers and tasks, QoS kills (absent without
    /// `--estimator`, `--qos` or `--revocable-tasks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversubscription: Option<OversubscriptionSummary>,
    /// What the agents' fetchers did, summed (absent without `--task-uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetcher: Option<FetcherSummary>,
}

/// Counts of the regular tasks (revocable ones are counted in `oversubscription`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Tasks asked for (`--tasks`).
    pub submitted: u64,
    /// Tasks started as processes.
    pub launched: u64,
    /// Ended with exit status 0 (`TASK_FINISHED`).
    pub finished: u64,
    /// Ended otherwise (`TASK_FAILED`): non-zero status, a signal, or (not counted as
    /// launched) a URI that could not be fetched.
    pub failed: u64,
    /// Killed by the master when `--timeout` passed (`TASK_KILLED`).
    pub killed: u64,
    /// Running on an agent the master lost (`TASK_LOST`; `live master` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

/// One agent of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// `agent-<i>`.
    pub name: String,
    /// Its resources, in Mesos text notation.
    pub resources: String,
    /// Its CPUs, in thousandths.
    pub cpus_milli: i64,
    /// Its memory in MB.
    pub mem_mb: i64,
    /// Its cgroup directories (removed when the run ended).
    pub cgroup: Vec<String>,
    /// Tasks launched on it.
    pub tasks_launched: u64,
    /// Its network namespace (absent without `--agent-network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Its `eth0` address there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// One task's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    /// `task-<i>`.
    pub id: String,
    /// The agent it ran on.
    pub agent: String,
    /// Its CPUs, in thousandths (the CFS quota is this share of a period).
    pub cpus_milli: i64,
    /// Its memory in MB (the cgroup memory limit).
    pub mem_mb: i64,
    /// Its cgroup directories (removed when it ended).
    pub cgroup: Vec<String>,
    /// Its sandbox, relative to the output directory (`tasks/task-<i>`); for `live
    /// master`, `<agent>:<task id>` (the directory is on the agent).
    pub sandbox: String,
    /// `TASK_FINISHED`, `TASK_FAILED`, `TASK_KILLED` or `TASK_LOST` (a revocable task
    /// a QoS correction killed; in `live master`, a task of a lost agent).
    pub state: String,
    /// The exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// When it was started, ns after the master started.
    pub start_ns: u64,
    /// When the master saw it end, ns after the master started.
    pub end_ns: u64,
    /// `end_ns - start_ns`.
    pub wall_ns: u64,
    /// A best-effort task on revocable CPUs (absent for regular tasks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revocable: bool,
    /// Why it was lost, when it was: `REASON_CONTAINER_PREEMPTED` (a QoS correction) or
    /// `REASON_AGENT_REMOVED` (`live master`: its agent was lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What went wrong when it never started (a URI that could not be fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
