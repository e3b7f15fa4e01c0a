//! Trace replay: records of a public cluster trace drive the same simulated master,
//! allocator and agents as a scenario. Machines become agents, task submissions go to
//! one framework per priority band (which subscribes when its first task arrives, so a
//! band the trace never uses draws no offers), and each task runs for the time it ran in the
//! trace (from its SCHEDULE to its FINISH/FAIL/KILL/EVICT/LOST), measured from when the
//! simulated policy started it. With `--usage trace` ([`ReplayConfig::usage`]) the
//! usage model runs too and each task's CPU and memory follow the trace's usage
//! samples ([`super::replay_usage`] documents the mapping); otherwise samples are read
//! and ignored.
//!
//! Records are pulled one at a time as simulated time reaches them, so a replay holds
//! the cluster's live state, never the whole trace. The map from trace tasks to
//! simulated ones holds only tasks whose end the trace may still tell: an entry goes
//! when the trace ends the task, when the simulated task ends on its own (its agent
//! removed, its framework gone), and all of them when the trace runs out.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use models::resources::{Resource, ResourceName, Resources};
use serde::{Deserialize, Serialize};
use sim_core::time::{SimDuration, SimTime};
use traces::{Amount, PriorityBand, TraceError, WorkloadRecord};

use super::ids::TaskId;
use super::world::World;

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
    /// `--usage trace`: run the usage model with each task's demand from the trace's
    /// usage samples ([`super::replay_usage`]); `None` ignores the samples.
    pub usage: Option<super::replay_usage::ReplayUsageConfig>,
}

impl Default for ReplayConfig {
    /// A 32-core, 128 GiB reference machine, a common reading of Google 2011's 1.0.
    fn default() -> Self {
        ReplayConfig {
            machine_cpus_milli: 32_000,
            machine_mem_mb: 131_072,
            refuse: SimDuration::from_secs(3600),
            usage: None,
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
    /// What became of the trace's usage samples, with `--usage trace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<super::replay_usage::ReplayUsageSummary>,
}

/// Pulls records from a trace as simulated time reaches them.
pub(crate) struct Feeder {
    records: Box<dyn Iterator<Item = Result<WorkloadRecord, TraceError>>>,
    peeked: Option<WorkloadRecord>,
    pub config: ReplayConfig,
    /// Trace task (job, index) → the simulated task of its current submission, and
    /// when the trace scheduled it (ns), if it did. The reverse lives in the simulated
    /// task's record ([`super::world::TaskRt::trace_key`]), so a task costs one map
    /// entry, found once per record of it.
    pub(super) tasks: BTreeMap<(u64, u64), Tracked>,
    pub summary: ReplaySummary,
    pub error: Option<TraceError>,
    pub exhausted: bool,
    /// Trace-driven usage, with `--usage trace`.
    pub usage: Option<super::replay_usage::TraceUsage>,
    /// Time of the last record read.
    pub last_time: SimTime,
}

/// A trace task's current simulated task.
#[derive(Clone, Copy)]
pub(super) struct Tracked {
    /// The simulated task.
    pub id: TaskId,
    /// When the trace scheduled it (ns), if it did.
    scheduled_at: Option<u64>,
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
        let usage = config
            .usage
            .clone()
            .map(super::replay_usage::TraceUsage::new);
        let summary = ReplaySummary {
            usage: usage.as_ref().map(|_| Default::default()),
            ..ReplaySummary::default()
        };
        Feeder {
            records,
            peeked: None,
            usage,
            config,
            tasks: BTreeMap::new(),
            summary,
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
        if self.exhausted {
            // No record will end a task any more: the tasks still mapped run on
            // as they are.
            self.tasks = BTreeMap::new();
        }
    }

    /// The trace submitted `key` as simulated task `id` (a resubmission replaces the
    /// task it had before, which is returned: its record no longer maps back to `key`).
    #[must_use]
    pub fn track(&mut self, key: (u64, u64), id: TaskId) -> Option<TaskId> {
        match self.tasks.entry(key) {
            // The trace's SCHEDULE of the earlier submission, if any, still counts.
            Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().id, id)),
            Entry::Vacant(e) => {
                e.insert(Tracked {
                    id,
                    scheduled_at: None,
                });
                None
            }
        }
    }

    /// The trace scheduled `key` at `at_ns` (remembered only while it is tracked:
    /// otherwise its runtime could never be used).
    pub fn scheduled(&mut self, key: (u64, u64), at_ns: u64) {
        if let Some(t) = self.tasks.get_mut(&key) {
            t.scheduled_at = Some(at_ns);
        }
    }

    /// The trace ended `key` at `at_ns`: the simulated task it had, if still tracked,
    /// and how long the trace ran it (if the trace scheduled it). The caller clears
    /// the task record's [`super::world::TaskRt::trace_key`].
    pub fn ended(&mut self, key: (u64, u64), at_ns: u64) -> Option<(TaskId, Option<SimDuration>)> {
        let t = self.tasks.remove(&key)?;
        let runtime = t
            .scheduled_at
            .map(|s| SimDuration::from_nanos(at_ns.saturating_sub(s)));
        Some((t.id, runtime))
    }

    /// Trace tasks mapped to a simulated task.
    pub fn tracked(&self) -> usize {
        self.tasks.len()
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
        let cpus = r.cpus.and_then(|a| self.milli(a, false));
        let mem = r.mem.and_then(|a| self.milli(a, true));
        let mut r = Resources::new();
        if let Some(c) = cpus.filter(|c| *c > 0) {
            r.add_resource(Resource::scalar(ResourceName::Cpus, c));
        }
        if let Some(m) = mem.filter(|m| *m > 0) {
            r.add_resource(Resource::scalar(ResourceName::Mem, m));
        }
        (!r.is_empty()).then_some(r)
    }

    /// A CPU (milli-CPUs) or memory (milli-MB) amount in Mesos milli-units, normalised
    /// ones scaled by the reference machine; `None` for a unit that does not fit.
    pub(super) fn milli(&self, a: Amount, is_mem: bool) -> Option<i64> {
        let reference_milli = if is_mem {
            self.config.machine_mem_mb * 1000
        } else {
            self.config.machine_cpus_milli
        };
        amount_milli(a, reference_milli, is_mem)
    }
}

/// An amount in Mesos milli-units; `reference_milli` is 1.0 of a normalised amount.
pub(super) fn amount_milli(a: Amount, reference_milli: u64, is_mem: bool) -> Option<i64> {
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

impl World<'_, '_> {
    /// The tasks of an ACCEPT that may still be launched. A task the trace withdrew
    /// while the ACCEPT was on its way was marked killed and counted then
    /// (`end_traced_task`): it is neither launched nor dropped and retried, and with
    /// no status update on its way nothing refers to its record any more.
    pub(super) fn replay_left_out_withdrawn(&mut self, mut launches: Vec<TaskId>) -> Vec<TaskId> {
        if self.feeder.is_none() {
            return launches;
        }
        launches.retain(|&id| {
            let Some(t) = self.tasks.get(id) else {
                return false;
            };
            if !t.state.is_terminal() {
                return true;
            }
            if t.status_in_flight == 0 {
                self.tasks.release(id);
            }
            false
        });
        launches
    }

    /// A simulated task ended on its own or as the trace said: the trace task no
    /// longer maps to it (no record of the trace can change it any more).
    pub(super) fn replay_task_ended(&mut self, id: TaskId) {
        if let Some(f) = self.feeder.as_mut() {
            if let Some(key) = self.tasks.get_mut(id).and_then(|t| t.trace_key.take()) {
                f.tasks.remove(&key);
            }
            if let Some(usage) = f.usage.as_mut() {
                usage.forget(id);
            }
        }
    }

    /// Dropped task `id` will not run again (the trace withdrew it): the usage sample
    /// kept for its retry goes.
    pub(super) fn replay_task_not_retried(&mut self, id: TaskId) {
        if let Some(usage) = self.feeder.as_mut().and_then(|f| f.usage.as_mut()) {
            usage.forget(id);
        }
    }

    /// A framework resubmitted dropped task `old` as `new`: the trace task, if it
    /// still maps to `old`, is now `new` (and ends when the trace says).
    pub(super) fn replay_task_resubmitted(&mut self, old: TaskId, new: TaskId) {
        if let Some(f) = self.feeder.as_mut() {
            if let Some(key) = self.tasks.get_mut(old).and_then(|t| t.trace_key.take()) {
                if let Some(t) = f.tasks.get_mut(&key) {
                    t.id = new;
                    if let Some(t) = self.tasks.get_mut(new) {
                        t.trace_key = Some(key);
                    }
                }
            }
            if let Some(usage) = f.usage.as_mut() {
                usage.moved(old, new);
            }
        }
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
