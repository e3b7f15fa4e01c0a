//! The resource usage model on the simulated agents (mesos-semantics.md §3–§4): what
//! running tasks really use, how the agent's CFS shares its CPU between them, memory
//! limit and OOM kills, the resource estimator's revocable CPUs and the QoS
//! controller's kills. The models are `models::usage` and `models::oversubscription`;
//! this file wires them to the world's agents and tasks.
//!
//! Only agents whose tasks changed are recomputed: a launch, an end, or the agent's
//! own usage tick (every `[usage] interval`). A task with CPU work progresses at the
//! rate it gets, and its completion timer is moved whenever that rate changes.
//! Nothing here runs unless the scenario has a `[usage]` table or a framework has
//! `[frameworks.usage]`.

use std::collections::BTreeMap;

use models::oversubscription::estimator::{self, ReportLoop, ResourceEstimator};
use models::oversubscription::qos::{self, LoadAverage, QosContainer, QosController, QosInput};
use models::oversubscription::AgentUsage;
use models::resources::{Resource, ResourceName};
use models::usage::cpu::{self, CpuDemand};
use models::usage::memory::{self, MemContainer, MemKill};
use models::usage::nested;
use models::usage::profile::{scale, UsageProfile};
use models::usage::Limit;
use serde::{Deserialize, Serialize};
use sim_core::engine::Context;
use sim_core::rng::{RngStreams, SimRng};
use sim_core::time::{SimDuration, SimTime};

use super::eventlog::LogRecord;
use super::events::Event;
use super::ids::TaskId;
use super::stats::round6;
use super::task::{TaskReason, TaskState};
use super::task_group::{GroupLink, ModeUsage};
use super::world::World;
use crate::scenario::{Behaviour, Scenario};
use crate::usage::{TaskUsage, UsageConfig};

/// The usage model's own timers, one of each per agent.
#[derive(Debug)]
pub enum UsageEvent {
    /// Re-evaluate the usage of the agent's tasks.
    Tick(usize),
    /// Ask the agent's resource estimator (`--oversubscribed_resources_interval`).
    Estimate(usize),
    /// Ask the agent's QoS controller (`--qos_correction_interval_min`).
    Qos(usize),
}

/// `oversubscription` in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OversubscriptionSummary {
    /// Resource estimator.
    pub estimator: String,
    /// QoS controller.
    pub qos: String,
    /// Revocable CPUs the agents advertised, time-weighted mean over the run.
    pub revocable_cpus_mean: f64,
    /// Revocable CPUs in outstanding offers, mean over metrics samples.
    pub revocable_cpus_offered_mean: f64,
    /// Revocable CPUs summed over every offer made (offers are short-lived, so the
    /// sampled mean above is mostly zero; this shows how much was offered at all).
    pub revocable_cpus_offered_total: f64,
    /// Offers that carried revocable CPUs.
    pub revocable_offers: u64,
    /// Revocable CPUs held by running tasks, time-weighted mean.
    pub revocable_cpus_allocated_mean: f64,
    /// Revocable tasks launched on agents.
    pub revocable_tasks_launched: u64,
    /// Revocable tasks that finished their work.
    pub revocable_tasks_finished: u64,
    /// Revocable tasks killed by the QoS controller.
    pub revocable_tasks_killed_by_qos: u64,
    /// CPU-seconds of work done by revocable tasks.
    pub best_effort_cpu_seconds: f64,
    /// CPU-seconds latency-sensitive tasks wanted (within their quota) but did not get.
    pub latency_sensitive_shortfall_cpu_seconds: f64,
    /// The same as a time-weighted mean, in CPUs.
    pub latency_sensitive_shortfall_cpus_mean: f64,
    /// Non-revocable CPUs allocated to running tasks / agent CPUs, time-weighted.
    pub allocated_utilization: f64,
    /// CPUs used by all tasks (revocable included) / agent CPUs, time-weighted.
    pub used_utilization: f64,
}

/// `bursting` in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstingSummary {
    /// CPU-seconds used above the tasks' requests.
    pub cpu_seconds_above_request: f64,
    /// Task-seconds spent held at the CFS quota while wanting more.
    pub throttled_task_seconds: f64,
    /// Tasks killed for going over their container's memory limit (a task's own; with
    /// a task group's shared cgroups every task of the executor container).
    pub memory_limit_kills: u64,
    /// Containers killed by the host's OOM killer.
    pub oom_kills: u64,
    /// Tasks with CPU work that finished.
    pub work_tasks_finished: u64,
    /// Their mean running time, seconds.
    pub mean_runtime_s: f64,
    /// Their mean running time at exactly their request (no bursting, no throttling).
    pub mean_runtime_at_request_s: f64,
    /// `mean_runtime_s / mean_runtime_at_request_s − 1` (negative: bursting helped).
    pub completion_time_change: f64,
}

/// One running task as the model sees it.
struct TaskUse {
    agent: usize,
    framework_def: usize,
    cpus: i64,
    mem_request: i64,
    revocable: bool,
    latency_sensitive: bool,
    shares: u64,
    cap: Option<u64>,
    demand: u64,
    mem: i64,
    rate: u64,
    since: SimTime,
    /// CPU work left, milli-CPU × ns.
    work_left: Option<u128>,
    finish: Option<SimTime>,
    started: SimTime,
    nominal: Option<SimDuration>,
    /// Its task group and how the group is isolated, if it belongs to one.
    group: Option<GroupLink>,
    /// Its own memory limit (its group member's or framework's `mem_limit`, or a
    /// replayed task's limit from `--set task.mem_limit`).
    mem_limit: Option<Limit>,
    /// A replayed task whose demand follows the trace's usage samples
    /// ([`super::replay_usage`]): ticks leave its demand and memory alone.
    traced: bool,
}

/// How many sums [`Contribution`] has.
const FIELDS: usize = 15;

/// What one agent adds to the cluster-wide sums that are integrated over time.
#[derive(Default, Clone, Copy)]
struct Contribution {
    used: u64,
    allocated: u64,
    above_request: u64,
    throttled: u64,
    shortfall: u64,
    revocable_allocated: u64,
    revocable_used: u64,
    revocable_total: u64,
    capacity: u64,
    /// Task groups with shared cgroups (executor-level) and task-level isolation:
    /// throttled tasks and milli-CPUs above requests.
    throttled_shared: u64,
    throttled_nested: u64,
    above_shared: u64,
    above_nested: u64,
    /// Memory used by the surviving tasks and the agent's memory, milli-MB.
    mem_used: u64,
    mem_capacity: u64,
}

impl Contribution {
    fn fields(&self) -> [u64; FIELDS] {
        [
            self.used,
            self.allocated,
            self.above_request,
            self.throttled,
            self.shortfall,
            self.revocable_allocated,
            self.revocable_used,
            self.revocable_total,
            self.capacity,
            self.throttled_shared,
            self.throttled_nested,
            self.above_shared,
            self.above_nested,
            self.mem_used,
            self.mem_capacity,
        ]
    }
}

struct AgentUse {
    attributes: Vec<(String, String)>,
    capacity: u64,
    memory: i64,
    tasks: Vec<TaskId>,
    load: LoadAverage,
    load_at: SimTime,
    estimator: Box<dyn ResourceEstimator>,
    report: ReportLoop,
    qos: Box<dyn QosController>,
    contribution: Contribution,
}

/// The model's state for one run.
pub(crate) struct UsageModel {
    cfg: UsageConfig,
    agents: Vec<Option<AgentUse>>,
    /// The tasks running on tracked agents (an ended task's entry is removed, so a
    /// long run keeps only the running ones).
    tasks: BTreeMap<TaskId, TaskUse>,
    rng: SimRng,
    sums: [u64; FIELDS],
    integrals: [u128; FIELDS],
    last: SimTime,
    offered_samples: (u128, u64),
    offered_total: (u128, u64),
    series: Vec<(u64, u64, u64, u64)>,
    revocable_launched: u64,
    revocable_finished: u64,
    qos_kills: u64,
    limit_kills: u64,
    oom_kills: u64,
    runtimes: (u128, u128, u64),
    report_oversubscription: bool,
    report_bursting: bool,
    /// Per isolation mode of task groups (0: shared cgroups, 1: task-level): memory
    /// limit kills and finished work tasks' running time.
    group_kills: [u64; 2],
    group_runtimes: [(u128, u64); 2],
    /// Hard memory limit of each shared executor container (milli-MB): Mesos writes
    /// it the first time and afterwards only when it grows (mesos-semantics.md §4.3).
    shared_limits: std::collections::BTreeMap<u32, i64>,
}

const LOAD_FREQ: SimDuration = SimDuration::from_secs(qos::LOAD_FREQ_SECS);

fn cpus_name() -> ResourceName {
    ResourceName::new("cpus")
}

impl UsageModel {
    /// The model for `scenario`, or `None` when it uses none of it.
    pub fn new(scenario: &Scenario, streams: &RngStreams) -> Option<UsageModel> {
        let any_task = scenario
            .frameworks
            .iter()
            .any(|f| f.usage.is_some() || f.task_group.is_some());
        if scenario.usage.is_none() && !any_task {
            return None;
        }
        let cfg = scenario.usage.clone().unwrap_or_default();
        let report_oversubscription = cfg.estimator != "noop"
            || cfg.qos != "noop"
            || scenario
                .frameworks
                .iter()
                .any(|f| f.capabilities.revocable_resources);
        let report_bursting = scenario.frameworks.iter().any(|f| {
            f.task_group.is_some()
                || f.usage
                    .as_ref()
                    .is_some_and(|u| u.cpus_limit.is_some() || u.mem_limit.is_some())
        });
        Some(UsageModel {
            cfg,
            agents: Vec::new(),
            tasks: BTreeMap::new(),
            rng: streams.stream("agents/usage"),
            sums: [0; FIELDS],
            integrals: [0; FIELDS],
            last: SimTime::ZERO,
            offered_samples: (0, 0),
            offered_total: (0, 0),
            series: Vec::new(),
            revocable_launched: 0,
            revocable_finished: 0,
            qos_kills: 0,
            limit_kills: 0,
            oom_kills: 0,
            runtimes: (0, 0, 0),
            report_oversubscription,
            report_bursting,
            group_kills: [0; 2],
            group_runtimes: [(0, 0); 2],
            shared_limits: std::collections::BTreeMap::new(),
        })
    }

    /// Integrates the cluster-wide sums up to `now`.
    fn advance(&mut self, now: SimTime) {
        let dt = now.saturating_duration_since(self.last).as_nanos() as u128;
        if dt > 0 {
            for (i, s) in self.integrals.iter_mut().zip(self.sums) {
                *i += s as u128 * dt;
            }
        }
        self.last = now;
    }

    fn set_contribution(&mut self, agent: usize, c: Contribution) {
        let a = self.agents[agent].as_mut().expect("tracked agent");
        for ((s, old), new) in self
            .sums
            .iter_mut()
            .zip(a.contribution.fields())
            .zip(c.fields())
        {
            *s = *s - old + new;
        }
        a.contribution = c;
    }

    fn profile_level(&mut self, profile: &UsageProfile, now: SimTime, started: SimTime) -> u32 {
        // A diurnal cycle follows the cluster's clock; other shapes the task's own.
        let elapsed = match profile {
            UsageProfile::Diurnal { .. } => now.since_zero(),
            _ => now.saturating_duration_since(started),
        };
        profile.level(elapsed, &mut self.rng)
    }

    /// The summary sections, closed at `end`.
    pub fn summaries(
        &mut self,
        end: SimTime,
    ) -> (Option<OversubscriptionSummary>, Option<BurstingSummary>) {
        self.advance(end);
        let secs = |x: u128| round6(x as f64 / 1e12); // milli-CPU × ns → CPU-seconds
        let span = end.since_zero().as_nanos().max(1) as f64;
        let mean = |x: u128| round6(x as f64 / 1000.0 / span);
        let [used, allocated, above, throttled, shortfall, rev_alloc, rev_used, rev_total, capacity, ..] =
            self.integrals;
        let ratio = |a: u128, b: u128| {
            if b == 0 {
                0.0
            } else {
                round6(a as f64 / b as f64)
            }
        };
        let over = self
            .report_oversubscription
            .then(|| OversubscriptionSummary {
                estimator: self.cfg.estimator.clone(),
                qos: self.cfg.qos.clone(),
                revocable_cpus_mean: mean(rev_total),
                revocable_cpus_offered_mean: if self.offered_samples.1 == 0 {
                    0.0
                } else {
                    round6(self.offered_samples.0 as f64 / 1000.0 / self.offered_samples.1 as f64)
                },
                revocable_cpus_offered_total: round6(self.offered_total.0 as f64 / 1000.0),
                revocable_offers: self.offered_total.1,
                revocable_cpus_allocated_mean: mean(rev_alloc),
                revocable_tasks_launched: self.revocable_launched,
                revocable_tasks_finished: self.revocable_finished,
                revocable_tasks_killed_by_qos: self.qos_kills,
                best_effort_cpu_seconds: secs(rev_used),
                latency_sensitive_shortfall_cpu_seconds: secs(shortfall),
                latency_sensitive_shortfall_cpus_mean: mean(shortfall),
                allocated_utilization: ratio(allocated, capacity),
                used_utilization: ratio(used, capacity),
            });
        let (actual, nominal, n) = self.runtimes;
        let burst = self.report_bursting.then(|| BurstingSummary {
            cpu_seconds_above_request: secs(above),
            throttled_task_seconds: round6(throttled as f64 / 1e9),
            memory_limit_kills: self.limit_kills,
            oom_kills: self.oom_kills,
            work_tasks_finished: n,
            mean_runtime_s: if n == 0 {
                0.0
            } else {
                round6(actual as f64 / 1e9 / n as f64)
            },
            mean_runtime_at_request_s: if n == 0 {
                0.0
            } else {
                round6(nominal as f64 / 1e9 / n as f64)
            },
            completion_time_change: if nominal == 0 {
                0.0
            } else {
                round6(actual as f64 / nominal as f64 - 1.0)
            },
        });
        (over, burst)
    }

    /// Task groups' figures per isolation mode (0: shared cgroups, 1: task-level),
    /// integrated to `end`.
    pub fn group_modes(&mut self, end: SimTime) -> [ModeUsage; 2] {
        self.advance(end);
        let i = self.integrals;
        [0, 1].map(|k| ModeUsage {
            throttled: i[9 + k],
            above_request: i[11 + k],
            limit_kills: self.group_kills[k],
            runtime: self.group_runtimes[k],
        })
    }

    /// The revocable CPUs series as `metrics/oversubscription.csv`.
    pub fn metrics_file(&self) -> Option<(String, String)> {
        if !self.report_oversubscription {
            return None;
        }
        let mut csv = String::from("t_s,revocable_cpus,revocable_offered,revocable_allocated\n");
        for (t, total, offered, alloc) in &self.series {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                *t as f64 / 1e9,
                *total as f64 / 1000.0,
                *offered as f64 / 1000.0,
                *alloc as f64 / 1000.0
            ));
        }
        Some(("oversubscription.csv".to_string(), csv))
    }

    /// Reports the `oversubscription` and `bursting` sections whatever the scenario
    /// configures (a replay with `--usage trace` always measures both).
    pub fn report_all(&mut self) {
        self.report_oversubscription = true;
        self.report_bursting = true;
    }

    /// Time-weighted CPU and memory used by tasks as fractions of the tracked agents'
    /// capacity, up to `end` (`utilization.{cpus,mem}.used` of a usage-driven replay).
    pub fn used_fractions(&mut self, end: SimTime) -> (f64, f64) {
        self.advance(end);
        let i = &self.integrals;
        let ratio = |a: u128, b: u128| {
            if b == 0 {
                0.0
            } else {
                round6(a as f64 / b as f64)
            }
        };
        (ratio(i[0], i[8]), ratio(i[13], i[14]))
    }

    /// Revocable tasks QoS killed (`tasks.revoked`).
    pub fn revoked(&self) -> u64 {
        self.qos_kills
    }
}

/// Everything a recomputation decided that the world must carry out.
struct Outcome {
    kills: Vec<(TaskId, TaskState, TaskReason)>,
    /// Task groups whose executor container dies whole.
    destroyed: Vec<u32>,
}

/// The usage of a task: its group member's when it belongs to a task group, else
/// its framework's.
fn usage_of(scenario: &Scenario, def: usize, group: Option<GroupLink>) -> Option<&TaskUsage> {
    let f = &scenario.frameworks[def];
    match (group, &f.task_group) {
        (Some(g), Some(tg)) => Some(&tg.tasks[g.member].usage),
        _ => f.usage.as_ref(),
    }
}

/// An agent's memory containers, in task order: a task's own, or for a task group
/// its executor's container (shared cgroups: the whole group; task-level: the
/// executor process, whose death takes the group) followed by its tasks' own.
struct MemLayout {
    containers: Vec<MemContainer>,
    /// The tasks (indices into the agent's task list) each container holds; empty
    /// when no task is in a group (container `i` is task `i`), the common case kept
    /// free of per-task allocations.
    owners: Vec<Vec<usize>>,
    /// The group whose executor container it is, if any (empty like `owners`).
    executor: Vec<Option<u32>>,
}

fn mem_containers(m: &mut UsageModel, ids: &[TaskId]) -> MemLayout {
    let task = |id: &TaskId| m.tasks.get(id).expect("tracked task");
    if ids.iter().all(|id| task(id).group.is_none()) {
        let containers = ids
            .iter()
            .map(|id| {
                let t = task(id);
                MemContainer {
                    usage: t.mem,
                    request: t.mem_request,
                    limit: t.mem_limit,
                    revocable: t.revocable,
                }
            })
            .collect();
        return MemLayout {
            containers,
            owners: Vec::new(),
            executor: Vec::new(),
        };
    }
    let mut l = MemLayout {
        containers: Vec::with_capacity(ids.len()),
        owners: Vec::with_capacity(ids.len()),
        executor: Vec::with_capacity(ids.len()),
    };
    let mut slot: Vec<(u32, usize)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let t = m.tasks.get(id).expect("tracked task");
        let own = MemContainer {
            usage: t.mem,
            request: t.mem_request,
            limit: t.mem_limit,
            revocable: t.revocable,
        };
        let Some(g) = t.group else {
            l.containers.push(own);
            l.owners.push(vec![i]);
            l.executor.push(None);
            continue;
        };
        match slot.iter().find(|(gid, _)| *gid == g.id) {
            Some(&(_, c)) => {
                l.owners[c].push(i);
                if g.shared {
                    l.containers[c].usage += t.mem;
                    l.containers[c].request += t.mem_request;
                }
            }
            None => {
                slot.push((g.id, l.containers.len()));
                l.containers.push(if g.shared {
                    nested::shared_memory(g.executor_mem, &[(t.mem, t.mem_request)], t.revocable)
                } else {
                    nested::shared_memory(g.executor_mem, &[], false)
                });
                l.owners.push(vec![i]);
                l.executor.push(Some(g.id));
            }
        }
        if !g.shared {
            l.containers.push(own);
            l.owners.push(vec![i]);
            l.executor.push(None);
        }
    }
    // A shared container's hard limit is the sum of its requests, written first at
    // launch and afterwards only when it grows (a sibling that ends lowers only the
    // soft limit). Kept as the request: executors keep `oom_score_adj` 0.
    for &(gid, c) in &slot {
        let shared = ids[l.owners[c][0]];
        if m.tasks
            .get(&shared)
            .and_then(|t| t.group)
            .is_some_and(|g| g.shared)
        {
            let hw = m.shared_limits.entry(gid).or_insert(0);
            *hw = (*hw).max(l.containers[c].request);
            l.containers[c].request = *hw;
        }
    }
    l
}

/// CPU rates of an agent's tasks and whether each is held at a quota. Without task
/// groups this is the flat water-filling; with them, two levels
/// ([`models::usage::nested`]).
fn cpu_rates(
    m: &UsageModel,
    capacity: u64,
    ids: &[TaskId],
    demands: &[CpuDemand],
) -> (Vec<u64>, Vec<bool>) {
    let held = |d: &CpuDemand, r: u64| d.cap.is_some_and(|cap| d.demand > cap && r >= cap);
    let task = |id: &TaskId| m.tasks.get(id).expect("tracked task");
    if ids.iter().all(|id| task(id).group.is_none()) {
        let rates = cpu::allocate(capacity, demands);
        let throttled = demands
            .iter()
            .zip(&rates)
            .map(|(d, r)| held(d, *r))
            .collect();
        return (rates, throttled);
    }
    let mut containers: Vec<nested::Container> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    let mut slot: Vec<(GroupLink, usize)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match task(id).group {
            None => {
                containers.push(nested::Container::single(demands[i]));
                owners.push(vec![i]);
            }
            Some(g) => match slot.iter().find(|(s, _)| s.id == g.id) {
                Some(&(_, c)) => owners[c].push(i),
                None => {
                    slot.push((g, containers.len()));
                    containers.push(nested::Container::single(demands[i]));
                    owners.push(vec![i]);
                }
            },
        }
    }
    for &(g, c) in &slot {
        let members = &owners[c];
        containers[c] = if g.shared {
            let tasks: Vec<(i64, u64)> = members
                .iter()
                .map(|&i| (task(&ids[i]).cpus, demands[i].demand))
                .collect();
            nested::shared(g.executor_cpus, &tasks, m.cfg.cgroups_enable_cfs)
        } else {
            let tasks: Vec<(i64, CpuDemand)> = members
                .iter()
                .map(|&i| (task(&ids[i]).cpus, demands[i]))
                .collect();
            nested::nested(g.executor_cpus, &tasks)
        };
    }
    let split = nested::allocate(capacity, &containers);
    let mut rates = vec![0; ids.len()];
    let mut throttled = vec![false; ids.len()];
    for ((c, members), r) in containers.iter().zip(&owners).zip(&split) {
        let total: u64 = r.iter().sum();
        // Held at the container's quota (shared cgroups), or at a member's own.
        let shared = task(&ids[members[0]]).group.is_some_and(|g| g.shared);
        let container_held = shared
            && c.cap
                .is_some_and(|cap| c.demand().demand > cap && total >= cap);
        for (&i, &rate) in members.iter().zip(r) {
            rates[i] = rate;
            throttled[i] = held(&demands[i], rate) || (container_held && rate < demands[i].demand);
        }
    }
    (rates, throttled)
}

impl World<'_, '_> {
    fn task_usage(&self, framework_def: usize) -> Option<&TaskUsage> {
        self.scenario.frameworks[framework_def].usage.as_ref()
    }

    /// An agent registered: start its usage, estimator and QoS timers.
    pub(super) fn usage_agent_added(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        attributes: &[(String, String)],
    ) {
        let Some(m) = self.usage.as_mut() else {
            return;
        };
        let total = &self.agents[agent].total;
        let cfg = m.cfg.clone();
        let est = estimator::by_name(&cfg.estimator, cfg.fixed_cpus, cfg.smoothing, cfg.margin)
            .expect("estimator names are validated");
        let q = qos::by_name(
            &cfg.qos,
            cfg.load_threshold_5min,
            cfg.load_threshold_15min,
            cfg.shortfall_tolerance,
        )
        .expect("QoS names are validated");
        let capacity = total.non_revocable().scalar_milli(&cpus_name()).max(0) as u64;
        if m.agents.len() <= agent {
            m.agents.resize_with(agent + 1, || None);
        }
        m.advance(ctx.now());
        m.agents[agent] = Some(AgentUse {
            attributes: attributes.to_vec(),
            capacity,
            memory: total
                .non_revocable()
                .scalar_milli(&ResourceName::new("mem")),
            tasks: Vec::new(),
            load: LoadAverage::default(),
            load_at: ctx.now(),
            estimator: est,
            report: ReportLoop::default(),
            qos: q,
            contribution: Contribution::default(),
        });
        let mem_capacity = total
            .non_revocable()
            .scalar_milli(&ResourceName::new("mem"))
            .max(0) as u64;
        m.set_contribution(
            agent,
            Contribution {
                capacity,
                mem_capacity,
                ..Contribution::default()
            },
        );
        let (interval, est_interval, qos_interval) = (
            cfg.interval,
            cfg.oversubscribed_resources_interval,
            cfg.qos_correction_interval_min,
        );
        let (has_est, has_qos) = (cfg.estimator != "noop", cfg.qos != "noop");
        ctx.schedule_after(interval, Event::Usage(UsageEvent::Tick(agent)));
        if has_est {
            ctx.schedule_after(est_interval, Event::Usage(UsageEvent::Estimate(agent)));
        }
        if has_qos {
            ctx.schedule_after(qos_interval, Event::Usage(UsageEvent::Qos(agent)));
        }
    }

    /// A task started running on its agent. Returns true when the model owns its
    /// completion (a batch task doing CPU work), false when the world should arm the
    /// fixed-duration timer as usual.
    pub(super) fn usage_task_started(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
    ) -> bool {
        if self.usage.is_none() {
            return false;
        }
        let now = ctx.now();
        let t = &self.tasks[task.0 as usize];
        let Some(agent) = t.agent else { return false };
        let def = self.frameworks[t.framework].def;
        let group = self.group_link(task);
        let usage = usage_of(self.scenario, def, group)
            .cloned()
            .unwrap_or_default();
        let low = self
            .usage
            .as_ref()
            .map(|m| m.cfg.revocable_cpu_low_priority);
        let cfs = self
            .usage
            .as_ref()
            .is_some_and(|m| m.cfg.cgroups_enable_cfs);
        let cpus = t.resources.scalar_milli(&cpus_name());
        let mem_request = t.resources.scalar_milli(&ResourceName::new("mem"));
        let revocable = t.resources.has_revocable();
        let batch = matches!(
            self.scenario.frameworks[def].behaviour,
            Behaviour::Batch { .. } | Behaviour::Trace
        );
        let work = (batch && !usage.fixed_duration && cpus > 0)
            .then_some(t.duration)
            .flatten();
        if self
            .usage
            .as_ref()
            .is_some_and(|m| m.agents.get(agent).is_none_or(Option::is_none))
        {
            return false;
        }
        // Tasks sharing their executor's cgroups have no quota of their own.
        let mut cap = if group.is_some_and(|g| g.shared) {
            None
        } else {
            cpu::quota(cpus, usage.cpus_limit, cfs)
        };
        let mut mem_limit = usage.mem_limit;
        let traced = self.replay_usage_start(task, cpus, mem_request, cfs);
        let m = self.usage.as_mut().expect("checked above");
        let (demand, mem) = match &traced {
            Some(s) => {
                (cap, mem_limit) = (s.cap, s.mem_limit);
                (s.demand, s.mem)
            }
            None => (
                scale(cpus, m.profile_level(&usage.cpu, now, now)),
                scale(mem_request, m.profile_level(&usage.mem, now, now)) as i64,
            ),
        };
        m.tasks.insert(
            task,
            TaskUse {
                agent,
                framework_def: def,
                cpus,
                mem_request,
                revocable,
                latency_sensitive: usage.latency_sensitive,
                shares: cpu::shares(cpus, revocable, low.unwrap_or(true)),
                cap,
                demand,
                mem,
                rate: 0,
                since: now,
                work_left: work.map(|d| cpus as u128 * d.as_nanos() as u128),
                finish: None,
                started: now,
                nominal: work,
                group,
                mem_limit,
                traced: traced.is_some(),
            },
        );
        if revocable {
            m.revocable_launched += 1;
        }
        m.agents[agent]
            .as_mut()
            .expect("checked above")
            .tasks
            .push(task);
        self.usage_recompute(ctx, agent, false);
        work.is_some()
    }

    /// Trace replay: a running task's demand and memory follow a new usage sample (a
    /// `None` keeps that dimension). Returns its agent, to be recomputed once all of
    /// the instant's samples are in ([`World::usage_refresh`]); `None` when the model
    /// does not track the task.
    pub(super) fn usage_set_traced(
        &mut self,
        task: TaskId,
        demand: Option<u64>,
        mem: Option<i64>,
    ) -> Option<usize> {
        let t = self.usage.as_mut()?.tasks.get_mut(&task)?;
        if let Some(d) = demand {
            t.demand = d;
        }
        if let Some(m) = mem {
            t.mem = m;
        }
        Some(t.agent)
    }

    /// Recomputes an agent whose tasks' usage changed from outside the model.
    pub(super) fn usage_refresh(&mut self, ctx: &mut Context<'_, Event>, agent: usize) {
        let tracked = self
            .usage
            .as_ref()
            .is_some_and(|m| m.agents.get(agent).is_some_and(Option::is_some));
        if tracked && !self.agents[agent].removed {
            self.usage_recompute(ctx, agent, false);
        }
    }

    /// A task left its agent (any state): the others get its CPU.
    pub(super) fn usage_task_ended(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        let Some(m) = self.usage.as_mut() else {
            return;
        };
        let Some(agent) = m.tasks.get(&task).map(|t| t.agent) else {
            return;
        };
        let now = ctx.now();
        // Settle everyone's progress at the old rates before the task leaves.
        self.usage_settle(now, agent);
        let m = self.usage.as_mut().expect("checked above");
        let tu = m.tasks.remove(&task).expect("tracked task");
        if let Some(a) = m.agents[agent].as_mut() {
            a.tasks.retain(|t| *t != task);
        }
        if self.tasks[task.0 as usize].state == TaskState::Finished {
            if tu.revocable {
                m.revocable_finished += 1;
            }
            if let Some(nominal) = tu.nominal {
                m.runtimes.0 += now.saturating_duration_since(tu.started).as_nanos() as u128;
                m.runtimes.1 += nominal.as_nanos() as u128;
                m.runtimes.2 += 1;
                if let Some(g) = tu.group {
                    let r = &mut m.group_runtimes[usize::from(!g.shared)];
                    r.0 += now.saturating_duration_since(tu.started).as_nanos() as u128;
                    r.1 += 1;
                }
            }
        }
        if let Some(g) = tu.group.filter(|g| g.shared) {
            let others = m.agents[agent].as_ref().is_some_and(|a| {
                a.tasks.iter().any(|t| {
                    m.tasks
                        .get(t)
                        .and_then(|u| u.group)
                        .is_some_and(|u| u.id == g.id)
                })
            });
            if !others {
                m.shared_limits.remove(&g.id);
            }
        }
        if !self.agents[agent].removed {
            self.usage_recompute(ctx, agent, false);
        } else {
            let m = self.usage.as_mut().expect("checked above");
            if m.agents[agent].as_ref().is_some_and(|a| a.tasks.is_empty()) {
                m.set_contribution(agent, Contribution::default());
                m.agents[agent] = None;
            }
        }
    }

    /// Brings the work of every task on `agent` and the cluster integrals to `now`.
    fn usage_settle(&mut self, now: SimTime, agent: usize) {
        let m = self.usage.as_mut().expect("model present");
        m.advance(now);
        let Some(a) = m.agents[agent].as_ref() else {
            return;
        };
        for id in &a.tasks {
            let t = m.tasks.get_mut(id).expect("tracked task");
            // Only tasks doing CPU work have progress to settle.
            if let Some(w) = t.work_left.as_mut() {
                let dt = now.saturating_duration_since(t.since).as_nanos() as u128;
                *w = w.saturating_sub(t.rate as u128 * dt);
                t.since = now;
            }
        }
    }

    /// Recomputes `agent`: usage levels (on ticks), memory kills, CPU rates, completion
    /// timers and its share of the cluster sums.
    fn usage_recompute(&mut self, ctx: &mut Context<'_, Event>, agent: usize, tick: bool) {
        let now = ctx.now();
        self.usage_settle(now, agent);
        let scenario = self.scenario;
        let m = self.usage.as_mut().expect("model present");
        let Some(a) = m.agents[agent].as_mut() else {
            return;
        };
        let ids = a.tasks.clone();
        // Load average: the past interval ran at the old demand.
        let runnable: u64 = ids
            .iter()
            .map(|id| {
                let t = m.tasks.get(id).expect("tracked task");
                t.cap.map_or(t.demand, |c| c.min(t.demand))
            })
            .sum();
        let a = m.agents[agent].as_mut().expect("checked above");
        let samples = now.saturating_duration_since(a.load_at).as_nanos() / LOAD_FREQ.as_nanos();
        a.load.advance(runnable, samples);
        a.load_at += SimDuration::from_nanos(samples * LOAD_FREQ.as_nanos());
        let (capacity, memory) = (a.capacity, a.memory);
        if tick {
            for id in &ids {
                let (def, started, cpus, mem_request, group) = {
                    let t = m.tasks.get(id).expect("tracked task");
                    if t.traced {
                        continue; // follows the trace's samples instead
                    }
                    (t.framework_def, t.started, t.cpus, t.mem_request, t.group)
                };
                let usage = usage_of(scenario, def, group);
                let default = TaskUsage::default();
                let usage = usage.unwrap_or(&default);
                let cl = m.profile_level(&usage.cpu, now, started);
                let ml = m.profile_level(&usage.mem, now, started);
                let t = m.tasks.get_mut(id).expect("tracked task");
                t.demand = scale(cpus, cl);
                t.mem = scale(mem_request, ml) as i64;
            }
        }
        // Memory: limit kills and host OOM, per container (a task's own, or its
        // group's executor container).
        let mem = mem_containers(m, &ids);
        let mut out = Outcome {
            kills: Vec::new(),
            destroyed: Vec::new(),
        };
        let mut alive = vec![true; ids.len()];
        for (c, kind) in memory::kills(memory, &mem.containers) {
            let reason = match kind {
                MemKill::Limit => TaskReason::ContainerLimitationMemory,
                MemKill::Oom => TaskReason::ExecutorTerminated,
            };
            if let Some(&Some(gid)) = mem.executor.get(c) {
                out.destroyed.push(gid);
            }
            let single = [c];
            for &i in mem.owners.get(c).map_or(&single[..], Vec::as_slice) {
                alive[i] = false;
                out.kills.push((ids[i], TaskState::Failed, reason));
            }
        }
        // CPU: water-filling over the survivors.
        let demands: Vec<CpuDemand> = ids
            .iter()
            .zip(&alive)
            .map(|(id, &live)| {
                let t = m.tasks.get(id).expect("tracked task");
                CpuDemand {
                    shares: t.shares,
                    demand: if live { t.demand } else { 0 },
                    cap: t.cap,
                }
            })
            .collect();
        let (rates, throttled) = cpu_rates(m, capacity, &ids, &demands);
        let mut c = Contribution {
            capacity,
            mem_capacity: memory.max(0) as u64,
            mem_used: ids
                .iter()
                .zip(&alive)
                .filter(|(_, &live)| live)
                .map(|(id, _)| m.tasks.get(id).expect("tracked task").mem.max(0) as u64)
                .sum(),
            revocable_total: m.agents[agent]
                .as_ref()
                .expect("checked above")
                .contribution
                .revocable_total,
            ..Contribution::default()
        };
        let mut timers = Vec::new();
        for (((id, rate), d), &held) in ids.iter().zip(&rates).zip(&demands).zip(&throttled) {
            let t = m.tasks.get_mut(id).expect("tracked task");
            t.rate = *rate;
            c.used += rate;
            let req = t.cpus.max(0) as u64;
            if t.revocable {
                c.revocable_allocated += req;
                c.revocable_used += rate;
            } else {
                c.allocated += req;
            }
            let above = rate.saturating_sub(req);
            c.above_request += above;
            c.throttled += u64::from(held);
            match t.group {
                Some(g) if g.shared => {
                    c.throttled_shared += u64::from(held);
                    c.above_shared += above;
                }
                Some(_) => {
                    c.throttled_nested += u64::from(held);
                    c.above_nested += above;
                }
                None => {}
            }
            if t.latency_sensitive {
                c.shortfall += d.max_rate().saturating_sub(*rate);
            }
            if let Some(w) = t.work_left {
                let finish = (*rate > 0).then(|| {
                    now + SimDuration::from_nanos(
                        u64::try_from(w.div_ceil(*rate as u128)).unwrap_or(u64::MAX / 4),
                    )
                });
                if finish != t.finish {
                    t.finish = finish;
                    timers.push((*id, finish));
                }
            }
        }
        m.set_contribution(agent, c);
        for (id, finish) in timers {
            let rt = &mut self.tasks[id.0 as usize];
            if let Some(old) = rt.done_timer.take() {
                ctx.cancel(old);
            }
            rt.done_timer = finish.map(|f| ctx.schedule_at(f, Event::TaskWorkDone(id)));
        }
        for gid in out.destroyed {
            self.group_destroyed(gid);
        }
        for (id, state, reason) in out.kills {
            self.usage_kill(ctx, id, state, reason);
        }
    }

    fn usage_kill(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        state: TaskState,
        reason: TaskReason,
    ) {
        // A kill decided twice (a nested recomputation saw it too) happens once.
        if self
            .tasks
            .get(task)
            .is_none_or(|t| t.state != TaskState::Running)
        {
            return;
        }
        let m = self.usage.as_mut().expect("model present");
        match reason {
            TaskReason::ContainerLimitationMemory => {
                m.limit_kills += 1;
                if let Some(g) = m.tasks.get(&task).and_then(|t| t.group) {
                    m.group_kills[usize::from(!g.shared)] += 1;
                }
            }
            TaskReason::ExecutorTerminated => m.oom_kills += 1,
            TaskReason::ContainerPreempted => m.qos_kills += 1,
            _ => {}
        }
        self.end_task(ctx, task, state, Some(reason));
    }

    /// Handles the model's timers.
    pub(super) fn on_usage(&mut self, ctx: &mut Context<'_, Event>, event: UsageEvent) {
        let agent = match event {
            UsageEvent::Tick(a) | UsageEvent::Estimate(a) | UsageEvent::Qos(a) => a,
        };
        if self.agents[agent].removed {
            return;
        }
        let cfg = &self.usage.as_ref().expect("model present").cfg;
        match event {
            UsageEvent::Tick(_) => {
                ctx.schedule_after(cfg.interval, Event::Usage(UsageEvent::Tick(agent)));
                self.usage_recompute(ctx, agent, true);
            }
            UsageEvent::Estimate(_) => {
                ctx.schedule_after(
                    cfg.oversubscribed_resources_interval,
                    Event::Usage(UsageEvent::Estimate(agent)),
                );
                self.usage_estimate(ctx, agent);
            }
            UsageEvent::Qos(_) => {
                ctx.schedule_after(
                    cfg.qos_correction_interval_min,
                    Event::Usage(UsageEvent::Qos(agent)),
                );
                self.usage_recompute(ctx, agent, false);
                let victims = self.usage_qos(agent);
                for task in victims {
                    self.usage_kill(ctx, task, TaskState::Lost, TaskReason::ContainerPreempted);
                }
            }
        }
    }

    fn usage_qos(&mut self, agent: usize) -> Vec<TaskId> {
        let m = self.usage.as_mut().expect("model present");
        let Some(a) = m.agents[agent].as_mut() else {
            return Vec::new();
        };
        let containers: Vec<QosContainer> = a
            .tasks
            .iter()
            .map(|id| {
                let t = m.tasks.get(id).expect("tracked task");
                QosContainer {
                    revocable: t.revocable,
                    latency_sensitive: t.latency_sensitive,
                    cpu: CpuDemand {
                        shares: t.shares,
                        demand: t.demand,
                        cap: t.cap,
                    },
                }
            })
            .collect();
        let input = QosInput {
            capacity: a.capacity,
            containers: &containers,
            load5: a.load.load5(),
            load15: a.load.load15(),
        };
        a.qos
            .corrections(&input)
            .into_iter()
            .filter(|&i| containers[i].revocable)
            .map(|i| a.tasks[i])
            .collect()
    }

    fn usage_estimate(&mut self, ctx: &mut Context<'_, Event>, agent: usize) {
        let now = ctx.now();
        let m = self.usage.as_mut().expect("model present");
        let Some(a) = m.agents[agent].as_mut() else {
            return;
        };
        let mut usage = AgentUsage {
            capacity: a.capacity,
            ..AgentUsage::default()
        };
        for id in &a.tasks {
            let t = m.tasks.get(id).expect("tracked task");
            let req = t.cpus.max(0) as u64;
            if t.revocable {
                usage.revocable_allocated += req;
            } else {
                usage.allocated += req;
                usage.used += t.cap.map_or(t.demand, |c| c.min(t.demand));
            }
        }
        let Some(total) = a.report.poll(a.estimator.as_mut(), &usage) else {
            return;
        };
        let mut c = a.contribution;
        c.revocable_total = total;
        let attributes = a.attributes.clone();
        m.advance(now);
        m.set_contribution(agent, c);
        let old = self.agents[agent].total.clone();
        let mut new = old.non_revocable();
        if total > 0 {
            let mut r = Resource::scalar(cpus_name(), total as i64);
            r.revocable = true;
            new.add_resource(r);
        }
        self.stats.agent_removed(now, &old);
        self.stats.agent_added(now, &new);
        self.agents[agent].total = new.clone();
        let revocable = new.revocable();
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "oversubscribed",
            agent: Some(&self.agents[agent].name),
            resources: Some(&revocable),
            ..LogRecord::default()
        });
        self.allocator.update_agent(
            now,
            models::allocator::AgentId(agent as u32),
            new,
            attributes,
        );
        // The master rescinds every outstanding offer on the agent with revocable
        // resources; they return with no filter.
        for id in self.offer_ids(|o| o.agent == agent && o.resources.has_revocable()) {
            self.rescind(ctx, id, true);
        }
        self.trigger_allocation(ctx);
    }

    /// Samples revocable CPUs for `metrics/oversubscription.csv`.
    pub(super) fn usage_sample(&mut self, now: SimTime) {
        let Some(m) = self.usage.as_mut() else {
            return;
        };
        if !m.report_oversubscription {
            return;
        }
        let offered: i64 = self
            .offers
            .values()
            .map(|o| o.resources.revocable().scalar_milli(&cpus_name()))
            .sum();
        let offered = offered.max(0) as u64;
        m.offered_samples.0 += offered as u128;
        m.offered_samples.1 += 1;
        m.series
            .push((now.as_nanos(), m.sums[7], offered, m.sums[5]));
    }

    /// Counts the revocable CPUs of an offer the master makes.
    pub(super) fn usage_offer_made(&mut self, resources: &models::resources::Resources) {
        let Some(m) = self.usage.as_mut() else {
            return;
        };
        let cpus = resources.revocable().scalar_milli(&cpus_name());
        if cpus > 0 {
            m.offered_total.0 += cpus as u128;
            m.offered_total.1 += 1;
        }
    }

    /// Whether the framework resubmits tasks a QoS controller preempted.
    pub(super) fn usage_resubmits(&self, framework_def: usize) -> bool {
        self.task_usage(framework_def)
            .is_some_and(|u| u.resubmit_preempted)
    }
}
