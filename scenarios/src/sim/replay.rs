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
//! Records are prepared on the reader's thread (`sim/replay_feed.rs`) and pulled one
//! at a time as simulated time reaches them, so a replay holds the cluster's live
//! state, never the whole trace. The map from trace tasks (by their slot) to simulated
//! ones holds only tasks whose end the trace may still tell: an entry goes when the
//! trace ends the task, when the simulated task ends on its own (its agent removed,
//! its framework gone), and all of them when the trace runs out.

use serde::{Deserialize, Serialize};
use sim_core::time::{SimDuration, SimTime};
use traces::{Amount, PriorityBand, TraceError};

use super::ids::TaskId;
use super::replay_feed::Fed;
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

/// Pulls prepared records as simulated time reaches them.
pub(crate) struct Feeder {
    records: Box<dyn Iterator<Item = Result<Fed, TraceError>>>,
    peeked: Option<Fed>,
    pub config: ReplayConfig,
    /// Trace task (by its slot, [`super::replay_feed`]) → the simulated task of its
    /// current submission, and when the trace scheduled it (ns), if it did. The
    /// reverse lives in the simulated task's record
    /// ([`super::world::TaskRt::trace_slot`]), so a task costs one entry, found by
    /// index.
    pub(super) tasks: TraceTasks,
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

/// The tracked trace tasks by slot.
#[derive(Default)]
pub(super) struct TraceTasks {
    by_slot: Vec<Option<Tracked>>,
    held: usize,
}

impl TraceTasks {
    /// The task tracked in `slot`, if any.
    pub fn get(&self, slot: u32) -> Option<&Tracked> {
        self.by_slot.get(slot as usize)?.as_ref()
    }

    /// The task tracked in `slot` to change, if any.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Tracked> {
        self.by_slot.get_mut(slot as usize)?.as_mut()
    }

    /// Stops tracking `slot`.
    pub fn remove(&mut self, slot: u32) -> Option<Tracked> {
        let t = self.by_slot.get_mut(slot as usize)?.take();
        self.held -= usize::from(t.is_some());
        t
    }

    fn insert(&mut self, slot: u32, t: Tracked) {
        let i = slot as usize;
        if self.by_slot.len() <= i {
            self.by_slot.resize(i + 1, None);
        }
        debug_assert!(self.by_slot[i].is_none(), "slot {slot} is free");
        self.by_slot[i] = Some(t);
        self.held += 1;
    }
}

impl Feeder {
    pub fn new(
        records: Box<dyn Iterator<Item = Result<Fed, TraceError>>>,
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
            tasks: TraceTasks::default(),
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
                self.last_time = self.last_time.max(SimTime::from_nanos(r.time));
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
            self.tasks = TraceTasks::default();
        }
    }

    /// The trace submitted the task of `slot` as simulated task `id` (a resubmission
    /// replaces the task it had before, which is returned: its record no longer maps
    /// back to the slot).
    #[must_use]
    pub fn track(&mut self, slot: u32, id: TaskId) -> Option<TaskId> {
        match self.tasks.get_mut(slot) {
            // The trace's SCHEDULE of the earlier submission, if any, still counts.
            Some(t) => Some(std::mem::replace(&mut t.id, id)),
            None => {
                self.tasks.insert(
                    slot,
                    Tracked {
                        id,
                        scheduled_at: None,
                    },
                );
                None
            }
        }
    }

    /// The trace scheduled the task of `slot` at `at_ns` (remembered only while it is
    /// tracked: otherwise its runtime could never be used).
    pub fn scheduled(&mut self, slot: u32, at_ns: u64) {
        if let Some(t) = self.tasks.get_mut(slot) {
            t.scheduled_at = Some(at_ns);
        }
    }

    /// The trace ended the task of `slot` at `at_ns`: the simulated task it had, if
    /// still tracked, and how long the trace ran it (if the trace scheduled it). The
    /// caller clears the task record's [`super::world::TaskRt::trace_slot`].
    pub fn ended(&mut self, slot: u32, at_ns: u64) -> Option<(TaskId, Option<SimDuration>)> {
        let t = self.tasks.remove(slot)?;
        let runtime = t
            .scheduled_at
            .map(|s| SimDuration::from_nanos(at_ns.saturating_sub(s)));
        Some((t.id, runtime))
    }

    /// Trace tasks mapped to a simulated task.
    pub fn tracked(&self) -> usize {
        self.tasks.held
    }

    /// The next record due at or before `now`. Records that come out of time order
    /// (formats ordered by file or row start) are applied at once.
    pub fn take_due(&mut self, now: SimTime) -> Option<Fed> {
        self.fill();
        if self
            .peeked
            .as_ref()
            .is_some_and(|r| r.time <= now.as_nanos())
        {
            self.peeked.take()
        } else {
            None
        }
    }

    /// When the next record is due, if any.
    pub fn next_time(&mut self) -> Option<SimTime> {
        self.fill();
        self.peeked.as_ref().map(|r| SimTime::from_nanos(r.time))
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
            if let Some(slot) = self.tasks.get_mut(id).and_then(|t| t.trace_slot.take()) {
                f.tasks.remove(slot);
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
            if let Some(slot) = self.tasks.get_mut(old).and_then(|t| t.trace_slot.take()) {
                if let Some(t) = f.tasks.get_mut(slot) {
                    t.id = new;
                    if let Some(t) = self.tasks.get_mut(new) {
                        t.trace_slot = Some(slot);
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
