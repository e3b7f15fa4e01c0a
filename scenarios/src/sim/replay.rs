//! Trace replay: records of a public cluster trace drive the same simulated master,
//! allocator and agents as a scenario. Machines become agents, task submissions go to
//! one framework per priority band, and each task runs for the time it ran in the
//! trace (from its SCHEDULE to its FINISH/FAIL/KILL/EVICT/LOST), measured from when the
//! simulated policy started it.
//!
//! Records are pulled one at a time as simulated time reaches them, so a replay holds
//! the cluster's live state, never the whole trace.

use std::collections::BTreeMap;

use models::resources::{Resource, ResourceName, Resources};
use serde::{Deserialize, Serialize};
use sim_core::time::{SimDuration, SimTime};
use traces::{Amount, PriorityBand, TraceError, WorkloadRecord};

/// How trace records map onto the simulated cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// CPUs of the reference machine that normalised capacities are fractions of
    /// (Google: 1.0 is the trace's largest machine), in milli-cpus.
    pub machine_cpus_milli: u64,
    /// Memory of the reference machine in MB.
    pub machine_mem_mb: u64,
    /// `refuse_seconds` of the trace frameworks' declines. The default, 1 h, follows
    /// the MESOS-3202 guidance for large clusters (decline with a long filter, do not
    /// suppress and revive): a freed agent is still re-offered at once because a filter
    /// only covers resources that were refused, while the 5 s default makes every
    /// agent's free resources travel to every framework every few seconds.
    pub refuse: SimDuration,
}

impl Default for ReplayConfig {
    /// A 32-core, 128 GiB reference machine, a common reading of Google 2011's 1.0.
    fn default() -> Self {
        ReplayConfig {
            machine_cpus_milli: 32_000,
            machine_mem_mb: 131_072,
            refuse: SimDuration::from_secs(3600),
        }
    }
}

/// The frameworks a replay registers: one per priority band, named after its role.
pub const BAND_ROLES: [(PriorityBand, &str); 5] = [
    (PriorityBand::Production, "prod"),
    (PriorityBand::Mid, "mid"),
    (PriorityBand::BestEffort, "batch"),
    (PriorityBand::Free, "free"),
    (PriorityBand::Monitoring, "monitoring"),
];

/// The role of a task with this priority band (`batch` when the trace gives none).
pub fn role_of(band: Option<PriorityBand>) -> &'static str {
    BAND_ROLES[framework_of(band)].1
}

/// The replay framework a task with this priority band goes to (`trace-batch` when
/// the trace gives none): `replay` registers one framework per entry of
/// [`BAND_ROLES`], in that order, so this is also the framework's index.
pub(crate) fn framework_of(band: Option<PriorityBand>) -> usize {
    let band = band.unwrap_or(PriorityBand::BestEffort);
    BAND_ROLES.iter().position(|(b, _)| *b == band).unwrap_or(2)
}

/// What a replay remembers of a trace task between its records.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TraceTask {
    /// The simulated task of its current submission (none if it was skipped).
    pub id: Option<super::ids::TaskId>,
    /// When the trace last scheduled it (ns).
    pub scheduled_at: Option<u64>,
}

/// What the trace itself did, next to what the simulated policy did (`summary.replay`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// Records read.
    pub records: u64,
    /// Machine additions that became agents.
    pub machines_added: u64,
    /// Machine removals applied.
    pub machines_removed: u64,
    /// Machine events skipped (no usable capacity).
    pub machines_skipped: u64,
    /// Task submissions replayed.
    pub task_submissions: u64,
    /// Task submissions skipped (no CPU or memory request).
    pub task_submissions_skipped: u64,
    /// Task ends in the trace, by kind.
    pub trace_finishes: u64,
    /// Evictions in the trace (Borg descheduled the task).
    pub trace_evictions: u64,
    /// Failures in the trace.
    pub trace_failures: u64,
    /// Kills in the trace.
    pub trace_kills: u64,
    /// Lost tasks in the trace.
    pub trace_lost: u64,
    /// Tasks the trace ended before the simulated policy ever started them.
    pub withdrawn_before_start: u64,
}

/// Pulls records from a trace as simulated time reaches them.
pub(crate) struct Feeder {
    records: Box<dyn Iterator<Item = Result<WorkloadRecord, TraceError>>>,
    peeked: Option<WorkloadRecord>,
    pub config: ReplayConfig,
    /// Trace task (job, index) → its current submission and when the trace scheduled
    /// it, until the trace ends it (one map: two cost a replay two lookups per record).
    pub tasks: BTreeMap<(u64, u64), TraceTask>,
    pub summary: ReplaySummary,
    pub error: Option<TraceError>,
    pub exhausted: bool,
    /// Time of the last record read.
    pub last_time: SimTime,
}

/// The time of a record.
fn record_time(r: &WorkloadRecord) -> SimTime {
    let ns = match r {
        WorkloadRecord::Machine(m) => m.time.0,
        WorkloadRecord::MachineAttribute(a) => a.time.0,
        WorkloadRecord::Job(j) => j.time.0,
        WorkloadRecord::Task(t) => t.time.0,
        WorkloadRecord::Usage(u) => u.start.0,
        WorkloadRecord::Constraint(c) => c.time.0,
    };
    SimTime::from_nanos(ns)
}

impl Feeder {
    pub fn new(
        records: Box<dyn Iterator<Item = Result<WorkloadRecord, TraceError>>>,
        config: ReplayConfig,
    ) -> Self {
        Feeder {
            records,
            peeked: None,
            config,
            tasks: BTreeMap::new(),
            summary: ReplaySummary::default(),
            error: None,
            exhausted: false,
            last_time: SimTime::ZERO,
        }
    }

    fn fill(&mut self) {
        if self.peeked.is_some() || self.exhausted {
            return;
        }
        match self.records.next() {
            Some(Ok(r)) => {
                self.summary.records += 1;
                self.last_time = self.last_time.max(record_time(&r));
                self.peeked = Some(r);
            }
            Some(Err(e)) => {
                self.error = Some(e);
                self.exhausted = true;
            }
            None => self.exhausted = true,
        }
    }

    /// The next record due at or before `now`. Records that come out of time order
    /// (formats ordered by file or row start) are applied at once.
    pub fn take_due(&mut self, now: SimTime) -> Option<WorkloadRecord> {
        self.fill();
        if self.peeked.as_ref().is_some_and(|r| record_time(r) <= now) {
            self.peeked.take()
        } else {
            None
        }
    }

    /// When the next record is due, if any.
    pub fn next_time(&mut self) -> Option<SimTime> {
        self.fill();
        self.peeked.as_ref().map(record_time)
    }

    /// Converts trace resources into Mesos resources on the reference machine; `None`
    /// when neither CPU nor memory is known.
    pub fn to_mesos(&self, r: &traces::Resources) -> Option<Resources> {
        let cpus = r
            .cpus
            .and_then(|a| self.milli(a, self.config.machine_cpus_milli, false));
        let mem = r
            .mem
            .and_then(|a| self.milli(a, self.config.machine_mem_mb * 1000, true));
        let mut r = Resources::new();
        if let Some(c) = cpus.filter(|c| *c > 0) {
            r.add_resource(Resource::scalar(ResourceName::Cpus, c));
        }
        if let Some(m) = mem.filter(|m| *m > 0) {
            r.add_resource(Resource::scalar(ResourceName::Mem, m));
        }
        (!r.is_empty()).then_some(r)
    }

    /// An amount in Mesos milli-units; `reference_milli` is 1.0 of a normalised amount.
    fn milli(&self, a: Amount, reference_milli: u64, is_mem: bool) -> Option<i64> {
        let v = match a {
            Amount::Normalized(f) => {
                (u128::from(f.0) * u128::from(reference_milli) / 1_000_000_000) as i64
            }
            Amount::MilliCpus(m) if !is_mem => m as i64,
            // KiB → MB in thousandths: 1 MB = 1024 KiB.
            Amount::Kib(k) if is_mem => (u128::from(k) * 1000 / 1024) as i64,
            _ => return None,
        };
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traces::NormalizedFraction;

    #[test]
    fn normalised_amounts_scale_to_the_reference_machine() {
        let f = Feeder::new(Box::new(std::iter::empty()), ReplayConfig::default());
        let half = Amount::Normalized(NormalizedFraction(500_000_000));
        let r = traces::Resources {
            cpus: Some(half),
            mem: Some(half),
            disk: None,
        };
        assert_eq!(
            f.to_mesos(&r),
            Some(Resources::parse("cpus:16;mem:65536").unwrap())
        );
        let none = traces::Resources::default();
        assert_eq!(f.to_mesos(&none), None);
        let abs = traces::Resources {
            cpus: Some(Amount::MilliCpus(1500)),
            mem: Some(Amount::Kib(2048)),
            disk: None,
        };
        assert_eq!(
            f.to_mesos(&abs),
            Some(Resources::parse("cpus:1.5;mem:2").unwrap())
        );
    }

    #[test]
    fn bands_map_to_roles() {
        assert_eq!(role_of(Some(PriorityBand::Production)), "prod");
        assert_eq!(role_of(Some(PriorityBand::Free)), "free");
        assert_eq!(role_of(None), "batch");
        for (i, (band, role)) in BAND_ROLES.iter().enumerate() {
            assert_eq!(framework_of(Some(*band)), i);
            assert_eq!(role_of(Some(*band)), *role);
        }
    }
}
