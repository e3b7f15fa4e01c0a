//! Trace-driven usage in a replay (`mesosim replay --usage trace`): the usage model of
//! `sim/usage.rs` runs on the replay's agents, and each replayed task's CPU demand
//! and memory follow the trace's own usage samples instead of a profile.
//!
//! The mapping, as documented in README.md (replay) and ARCHITECTURE.md:
//! - A sample's mean CPU (`UsageSample::cpu`: Google 2011 `CPU rate`, 2019
//!   `average_usage.cpus`, Alibaba `cpu_avg`) becomes the task's CPU demand and its
//!   mean memory (`UsageSample::mem`: 2011 `canonical memory usage`, 2019
//!   `average_usage.memory`, Alibaba `mem_avg`) its memory use, from the sample's
//!   start time (when the time-ordered stream delivers it) until the task's next
//!   sample or its end. A field the sample leaves empty keeps the previous value.
//!   Normalised amounts scale by the reference machine as requests do; absolute ones
//!   (milli-CPUs, KiB) convert exactly; a percentage of the subject's own capacity is
//!   taken of the task's request.
//! - A task without any sample yet uses its request (demand = request, memory =
//!   request) until its first sample arrives.
//! - Samples are applied in trace time, not shifted by how late the simulated policy
//!   started the task: a running task takes each sample at once; a queued (pending or
//!   staging) task keeps only its latest sample, which applies when it starts, so the
//!   state held is one pair of numbers per queued task; a sample for a task that is not
//!   live in the simulator (never submitted, no request, already ended there) or for a
//!   machine or container subject is skipped and counted. An entry is dropped when the
//!   task starts, or when the trace ends a task that is no longer queued.
//! - The runtime stays the traced one (tasks are `fixed_duration`): the trace's
//!   runtime already includes whatever throttling the real cluster imposed, and the
//!   work a task did is known only at its end, which a streaming replay cannot wait
//!   for. Throttling therefore shows as throttled task-seconds, not longer runs.
//! - Limits follow Mesos: the memory limit is the request (a task above it is killed,
//!   `REASON_CONTAINER_LIMITATION_MEMORY`) and the CPU quota is the request only with
//!   `usage.cgroups_enable_cfs`. `--set task.cpus_limit=R` / `task.mem_limit=R` set
//!   limits at `R` times each task's request (`"inf"`: unlimited, so only the host's
//!   OOM killer bounds memory).
//!
//! Every sample of one instant is applied before the affected agents are recomputed,
//! once each; all quantities are integer milli-units.

use std::collections::{BTreeMap, BTreeSet};

use models::resources::ResourceName;
use models::usage::{cpu, Limit};
use serde::{Deserialize, Serialize};
use sim_core::engine::Context;
use sim_core::time::SimDuration;
use toml::Spanned;

use super::events::Event;
use super::ids::TaskId;
use super::replay::amount_milli;
use super::task::TaskState;
use super::world::World;
use crate::error::{Location, ScenarioError};
use crate::usage::{UsageConfig, UsageSpec};

/// A limit of replayed tasks relative to their request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRatio {
    /// This many thousandths of the request (at least 1000).
    PerMille(u64),
    /// Unlimited.
    Infinite,
}

impl LimitRatio {
    fn of(self, request_milli: i64) -> Limit {
        match self {
            LimitRatio::PerMille(r) => {
                Limit::Finite((i128::from(request_milli.max(0)) * i128::from(r) / 1000) as i64)
            }
            LimitRatio::Infinite => Limit::Infinite,
        }
    }
}

/// How a replay runs the usage model (`--usage trace` with its `--set` overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayUsageConfig {
    /// The agents' `[usage]` flags, estimator and QoS controller.
    pub agents: UsageConfig,
    /// `task.cpus_limit`: every replayed task's CPU limit relative to its request.
    pub cpus_limit: Option<LimitRatio>,
    /// `task.mem_limit`: every replayed task's memory limit relative to its request.
    pub mem_limit: Option<LimitRatio>,
}

/// The re-evaluation interval of a replay's agents unless `usage.interval` is set:
/// demand changes when samples arrive (every 300 s in Google's traces), so ticks only
/// refresh the load average.
pub const REPLAY_USAGE_INTERVAL: SimDuration = SimDuration::from_secs(300);

/// The `--set` document of a replay: `[usage]` as in a scenario, plus `[task]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayUsageSpec {
    usage: Option<UsageSpec>,
    task: Option<TaskLimitsSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskLimitsSpec {
    cpus_limit: Option<Spanned<toml::Value>>,
    mem_limit: Option<Spanned<toml::Value>>,
}

impl ReplayUsageConfig {
    /// Validates `--set usage.FIELD=V` (any `[usage]` field of a scenario) and
    /// `--set task.cpus_limit=R` / `task.mem_limit=R` overrides; errors name the
    /// override and the field.
    pub fn from_overrides(overrides: &[String]) -> Result<ReplayUsageConfig, ScenarioError> {
        let joined = overrides.join(" ");
        let fail = |field: Option<&str>, message: String| ScenarioError {
            location: Location::Override(joined.clone()),
            field: field.map(str::to_string),
            message,
        };
        let mut doc = toml::Table::new();
        for o in overrides {
            crate::scenario::apply_override(&mut doc, o)?;
        }
        let text = toml::to_string(&doc).map_err(|e| fail(None, e.to_string()))?;
        let spec: ReplayUsageSpec =
            toml::from_str(&text).map_err(|e| fail(None, e.message().trim().to_string()))?;
        let err = |_span: std::ops::Range<usize>, field: &str, message: String| {
            fail(Some(field), message)
        };
        let usage = spec.usage.unwrap_or_default();
        let mut agents = crate::usage::build_config(&err, &usage)?;
        if usage.interval.is_none() {
            agents.interval = REPLAY_USAGE_INTERVAL;
        }
        let task = spec.task.unwrap_or_default();
        Ok(ReplayUsageConfig {
            agents,
            cpus_limit: ratio(&fail, &task.cpus_limit, "task.cpus_limit")?,
            mem_limit: ratio(&fail, &task.mem_limit, "task.mem_limit")?,
        })
    }
}

fn ratio(
    fail: &dyn Fn(Option<&str>, String) -> ScenarioError,
    v: &Option<Spanned<toml::Value>>,
    field: &str,
) -> Result<Option<LimitRatio>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    let parsed = match v.get_ref() {
        toml::Value::String(s) if s.eq_ignore_ascii_case("inf") => Some(LimitRatio::Infinite),
        toml::Value::Integer(i) if *i >= 1 => Some(LimitRatio::PerMille(*i as u64 * 1000)),
        toml::Value::Float(f) if f.is_finite() && *f >= 1.0 && *f <= 1e9 => {
            Some(LimitRatio::PerMille((f * 1000.0).round() as u64))
        }
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        fail(
            Some(field),
            format!(
                "expected a multiple of the request of at least 1, or \"inf\", found {}",
                v.get_ref()
            ),
        )
    })
}

/// `replay.usage` in `summary.json`: what became of the trace's usage samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayUsageSummary {
    /// Usage samples read.
    pub samples: u64,
    /// Applied at once to a task running in the simulator.
    pub applied: u64,
    /// Kept as the latest of a queued task (pending, staging, or dropped and about
    /// to be retried), for its start.
    pub remembered: u64,
    /// Skipped: the task is not live in the simulator (never submitted, submitted
    /// without a request, or already ended there).
    pub skipped_no_task: u64,
    /// Skipped: the sample measures a machine or a container, not a replayed task.
    pub skipped_not_task: u64,
    /// Most queued tasks' latest samples held at once.
    pub held_max: u64,
    /// Tasks that started with a remembered sample.
    pub tasks_started_with_sample: u64,
    /// Tasks that started at their request (no sample yet).
    pub tasks_started_at_request: u64,
}

/// What a sample says, in the simulator's units: milli-CPUs and milli-MB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Demand {
    cpu: Option<u64>,
    mem: Option<i64>,
}

impl Demand {
    /// `self` updated by a newer sample (its empty fields keep the old values).
    fn then(self, newer: Demand) -> Demand {
        Demand {
            cpu: newer.cpu.or(self.cpu),
            mem: newer.mem.or(self.mem),
        }
    }
}

/// A replayed task's usage as it starts.
pub(super) struct TracedStart {
    pub demand: u64,
    pub mem: i64,
    pub cap: Option<u64>,
    pub mem_limit: Option<Limit>,
}

/// The replay's usage state: queued tasks' latest samples and the agents to recompute.
pub(crate) struct TraceUsage {
    cfg: ReplayUsageConfig,
    /// Latest sample of each queued task (dropped when it starts or leaves).
    latest: BTreeMap<TaskId, Demand>,
    /// Agents whose tasks' usage changed at the current instant.
    dirty: BTreeSet<usize>,
}

impl TraceUsage {
    pub fn new(cfg: ReplayUsageConfig) -> TraceUsage {
        TraceUsage {
            cfg,
            latest: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Task `task` ended in the simulator: no start will take its sample.
    pub fn forget(&mut self, task: TaskId) {
        self.latest.remove(&task);
    }

    /// Task `old` was dropped and resubmitted as `new`: the sample waits for `new`.
    pub fn moved(&mut self, old: TaskId, new: TaskId) {
        if let Some(d) = self.latest.remove(&old) {
            self.latest.insert(new, d);
        }
    }
}

fn cpus_name() -> ResourceName {
    ResourceName::new("cpus")
}

fn mem_name() -> ResourceName {
    ResourceName::new("mem")
}

impl World<'_, '_> {
    /// A usage sample of the trace (ignored unless the replay runs `--usage trace`).
    /// `slot` is the slot of the sample's task, if it has one (see
    /// [`super::replay_feed`]).
    pub(super) fn replay_usage_sample(&mut self, sample: traces::UsageSample, slot: Option<u32>) {
        use traces::{Amount, UsageSubject};
        let Some(f) = self.feeder.as_mut() else {
            return;
        };
        let reference = (f.config.machine_cpus_milli, f.config.machine_mem_mb * 1000);
        let (Some(tu), Some(s)) = (f.usage.as_mut(), f.summary.usage.as_mut()) else {
            return;
        };
        s.samples += 1;
        let UsageSubject::Task { .. } = sample.subject else {
            s.skipped_not_task += 1;
            return;
        };
        let Some(t) = slot
            .and_then(|slot| f.tasks.get(slot))
            .and_then(|t| self.tasks.get(t.id).map(|r| (t.id, r)))
        else {
            s.skipped_no_task += 1;
            return;
        };
        let (id, t) = t;
        let (req_cpus, req_mem) = (
            t.request.scalar_milli(&cpus_name()),
            t.request.scalar_milli(&mem_name()),
        );
        let convert = |a: Amount, request: i64, is_mem: bool| match a {
            // A percentage of the subject's own capacity: of the task's request.
            Amount::OfCapacity(p) => {
                Some((i128::from(request.max(0)) * i128::from(p.0) / 1_000_000_000) as i64)
            }
            a => amount_milli(a, if is_mem { reference.1 } else { reference.0 }, is_mem),
        };
        let d = Demand {
            cpu: sample
                .cpu
                .and_then(|a| convert(a, req_cpus, false))
                .map(|c| c.max(0) as u64),
            mem: sample
                .mem
                .and_then(|a| convert(a, req_mem, true))
                .map(|m| m.max(0)),
        };
        // A DROPPED task still to learn it will run again as its retry (which takes
        // over the remembered sample), unless the trace withdrew it.
        let queued = match t.state {
            TaskState::Pending | TaskState::Staging => true,
            TaskState::Dropped => !t.withdrawn,
            _ => false,
        };
        match t.state {
            _ if queued => {
                let e = tu.latest.entry(id).or_default();
                *e = e.then(d);
                s.remembered += 1;
                s.held_max = s.held_max.max(tu.latest.len() as u64);
            }
            TaskState::Running => match self.usage_set_traced(id, d.cpu, d.mem) {
                Some(agent) => {
                    let f = self.feeder.as_mut().expect("checked above");
                    f.usage.as_mut().expect("checked above").dirty.insert(agent);
                    f.summary.usage.as_mut().expect("checked above").applied += 1;
                }
                None => {
                    let f = self.feeder.as_mut().expect("checked above");
                    f.summary
                        .usage
                        .as_mut()
                        .expect("checked above")
                        .skipped_no_task += 1;
                }
            },
            _ => s.skipped_no_task += 1,
        }
    }

    /// Recomputes, once each, the agents whose tasks took samples at this instant.
    pub(super) fn replay_usage_flush(&mut self, ctx: &mut Context<'_, Event>) {
        let Some(tu) = self.feeder.as_mut().and_then(|f| f.usage.as_mut()) else {
            return;
        };
        for agent in std::mem::take(&mut tu.dirty) {
            self.usage_refresh(ctx, agent);
        }
    }

    /// A replayed task starts on its agent: its demand, memory and limits, from its
    /// latest sample or its request. `None` unless the replay runs `--usage trace`.
    pub(super) fn replay_usage_start(
        &mut self,
        task: TaskId,
        cpus: i64,
        mem_request: i64,
        cgroups_enable_cfs: bool,
    ) -> Option<TracedStart> {
        let f = self.feeder.as_mut()?;
        let tu = f.usage.as_mut()?;
        let s = f.summary.usage.as_mut()?;
        let d = tu.latest.remove(&task);
        if d.is_some() {
            s.tasks_started_with_sample += 1;
        } else {
            s.tasks_started_at_request += 1;
        }
        let d = d.unwrap_or_default();
        let cfg = &tu.cfg;
        Some(TracedStart {
            demand: d.cpu.unwrap_or(cpus.max(0) as u64),
            mem: d.mem.unwrap_or(mem_request),
            cap: cpu::quota(cpus, cfg.cpus_limit.map(|r| r.of(cpus)), cgroups_enable_cfs),
            mem_limit: cfg.mem_limit.map(|r| r.of(mem_request)),
        })
    }

    /// The trace ended a task: its remembered sample goes unless it still waits to
    /// run in the simulator (then it applies when it starts).
    pub(super) fn replay_usage_forget(&mut self, task: TaskId) {
        let queued = self
            .tasks
            .get(task)
            .is_some_and(|t| matches!(t.state, TaskState::Pending | TaskState::Staging));
        if let Some(tu) = self.feeder.as_mut().and_then(|f| f.usage.as_mut()) {
            if !queued {
                tu.latest.remove(&task);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_build_the_agents_flags_and_task_limits() {
        let c = ReplayUsageConfig::from_overrides(&[
            "usage.cgroups_enable_cfs=true".into(),
            "task.mem_limit=\"inf\"".into(),
            "task.cpus_limit=1.5".into(),
        ])
        .unwrap();
        assert!(c.agents.cgroups_enable_cfs);
        assert_eq!(c.agents.interval, REPLAY_USAGE_INTERVAL);
        assert_eq!(c.mem_limit, Some(LimitRatio::Infinite));
        assert_eq!(c.cpus_limit, Some(LimitRatio::PerMille(1500)));
        assert_eq!(LimitRatio::PerMille(1500).of(2000), Limit::Finite(3000));
        let d = ReplayUsageConfig::from_overrides(&["usage.interval=\"30s\"".into()]).unwrap();
        assert_eq!(d.agents.interval, SimDuration::from_secs(30));
        assert_eq!((d.cpus_limit, d.mem_limit), (None, None));
    }

    #[test]
    fn bad_overrides_name_the_field() {
        let e = ReplayUsageConfig::from_overrides(&["task.mem_limit=0.5".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set task.mem_limit=0.5: field `task.mem_limit`: expected a multiple of the \
             request of at least 1, or \"inf\", found 0.5"
        );
        let e =
            ReplayUsageConfig::from_overrides(&["usage.estimator=\"magic\"".into()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("field `usage.estimator`: unknown `magic`"),
            "{e}"
        );
        let e = ReplayUsageConfig::from_overrides(&["usage.bogus=1".into()]).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn a_newer_sample_keeps_the_fields_it_leaves_empty() {
        let old = Demand {
            cpu: Some(500),
            mem: Some(64_000),
        };
        let new = Demand {
            cpu: Some(700),
            mem: None,
        };
        assert_eq!(
            old.then(new),
            Demand {
                cpu: Some(700),
                mem: Some(64_000)
            }
        );
    }
}
