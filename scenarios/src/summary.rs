//! `summary.json`: the deterministic result of one run (design.md §4). The same
//! scenario, seed and version give the same bytes, so nothing wall-clock lives here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// mesosim's version.
    pub mesosim_version: String,
    /// Scenario name.
    pub scenario: String,
    /// sha256 of the scenario text and overrides.
    pub scenario_sha256: String,
    /// Master seed.
    pub seed: u64,
    /// Allocator name.
    pub policy: String,
    /// Simulated end time.
    pub sim_end_ns: u64,
    /// Events processed by the engine.
    pub events: u64,
    /// The cluster.
    pub cluster: ClusterSummary,
    /// Task counters.
    pub tasks: TaskCounts,
    /// Mean fractions per scalar resource name.
    pub utilization: BTreeMap<String, Utilization>,
    /// Jain's index over the frameworks' mean dominant shares.
    pub fairness: f64,
    /// Time from submission to running.
    pub wait_ns: WaitSummary,
    /// From the first submission to the last task finishing.
    pub makespan_ns: u64,
    /// Allocator and offer counters.
    pub allocator: AllocatorSummary,
    /// One entry per framework, in scenario order.
    pub frameworks: Vec<FrameworkSummary>,
    /// One entry per role with frameworks, by name.
    pub roles: Vec<RoleSummary>,
    /// For trace replays: what the trace itself did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::sim::replay::ReplaySummary>,
    /// Dynamic reservations and persistent volumes, when the scenario uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<ReservationsSummary>,
    /// Revocable resources, estimator and QoS controller (when the usage model runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversubscription: Option<crate::sim::OversubscriptionSummary>,
    /// Requests vs limits: CPU above requests, throttling, memory kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursting: Option<crate::sim::BurstingSummary>,
    /// Network flows, links and per-container isolation, when the scenario models them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::sim::network::NetworkSummary>,
    /// The agents' fetcher caches, when tasks fetch URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetcher: Option<crate::sim::fetcher::FetcherSummary>,
    /// TLS, the master's CPU and executor transports, when the scenario models them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::sim::tls::TlsSummary>,
    /// Task groups under the default executor and their isolation, when a framework
    /// launches groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_groups: Option<crate::sim::task_group::TaskGroupsSummary>,
}

/// Reservation and volume operations over a run (present when the scenario has a
/// `stateful` framework or an operator reservation/volume call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationsSummary {
    /// Operations applied, by kind (`reserve`, `unreserve`, `update_reservation`,
    /// `create`, `destroy`), offer operations and operator calls together.
    pub applied: BTreeMap<String, u64>,
    /// Operations rejected, by kind, then by reason (`not_available`,
    /// `volume_in_use`, `role_not_allocated`, …).
    pub rejected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Persistent volumes created.
    pub volumes_created: u64,
    /// Persistent volumes destroyed by DESTROY.
    pub volumes_destroyed: u64,
    /// Persistent volumes on the agents at the end.
    pub volumes_at_end: u64,
    /// Stateful instances relaunched on the volume they ran on before (data kept).
    pub relaunches_same_volume: u64,
    /// Stateful instances that started on a volume they found (created by someone
    /// else, e.g. moved to their role by a reservation update).
    pub adopted_volume_launches: u64,
    /// Volumes whose data was lost (their agent was removed).
    pub volume_data_lost: u64,
    /// Time-weighted mean fraction of the cluster's resource that is reserved, per
    /// resource name (`cpus`, `mem`).
    pub reserved_fraction: BTreeMap<String, f64>,
    /// Time-weighted mean fraction of the cluster's resource that is reserved but not
    /// held by a running task (reserved-but-idle), per resource name.
    pub idle_reserved_fraction: BTreeMap<String, f64>,
}

/// Cluster size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Most agents registered at once.
    pub agents: u64,
    /// Total of each scalar resource at the end (Mesos units).
    pub totals: BTreeMap<String, f64>,
}

/// Task counters over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Submitted to frameworks.
    pub submitted: u64,
    /// Launched by the master.
    pub launched: u64,
    /// Finished.
    pub finished: u64,
    /// Failed.
    pub failed: u64,
    /// Killed.
    pub killed: u64,
    /// Lost or dropped.
    pub lost: u64,
    /// Revocable tasks preempted (oversubscription).
    pub revoked: u64,
}

/// Mean utilization of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// Held by running tasks, time-weighted.
    pub allocated: f64,
    /// Actually used by tasks (equal to `allocated` until a usage model applies).
    pub used: f64,
    /// Sitting in outstanding offers, mean over samples.
    pub offered: f64,
}

/// Wait percentiles (nearest rank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitSummary {
    /// Tasks that started.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// Allocator counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocatorSummary {
    /// Allocation cycles run (periodic and event-triggered).
    pub cycles: u64,
    /// Offers made.
    pub offers: u64,
    /// Declines (whole or partial returns with a decline).
    pub declines: u64,
    /// Offers rescinded.
    pub rescinds: u64,
    /// Offer filters installed.
    pub filters_installed: u64,
}

/// One framework.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkSummary {
    /// Name.
    pub name: String,
    /// Its (first) role.
    pub role: String,
    /// Tasks submitted.
    pub tasks_submitted: u64,
    /// Tasks launched.
    pub tasks_launched: u64,
    /// Tasks finished.
    pub tasks_finished: u64,
    /// Most tasks running at once.
    pub tasks_running_max: u64,
    /// Mean dominant share of its running tasks, sampled every metrics interval.
    pub dominant_share_mean: f64,
}

/// One role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSummary {
    /// Role name.
    pub name: String,
    /// Weight at the start.
    pub weight: f64,
    /// Frameworks in it.
    pub frameworks: u64,
    /// Tasks launched.
    pub tasks_launched: u64,
    /// Mean dominant share of its frameworks' tasks.
    pub dominant_share_mean: f64,
}
