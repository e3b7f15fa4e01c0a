//! What a run measures: task counters, waits, utilization integrated over time, dominant
//! shares and the `metrics/*.csv` time series, turned into a [`Summary`] at the end.

use std::collections::{BTreeMap, BTreeSet};

use analysis::samples::CompactSamples;
use analysis::stats::{jain_index, TimeWeighted};
use analysis::timeseries::TimeSeries;
use models::resources::{ResourceName, Resources, Value};
use sim_core::time::SimTime;

use super::res;
use super::task::TaskState;
use super::world::{FrameworkRt, TaskRt};
use crate::scenario::{Action, Scenario};
use crate::summary::{
    AllocatorSummary, ClusterSummary, FrameworkSummary, RoleSummary, Summary, TaskCounts,
    Utilization, WaitSummary,
};

struct FrameworkStats {
    submitted: u64,
    launched: u64,
    finished: u64,
    failed: u64,
    killed: u64,
    lost: u64,
    running: u64,
    running_max: u64,
    /// Resources held by running tasks, milli-units per scalar name of
    /// [`Stats::names`] (by position; other names never count towards a share, their
    /// cluster total being zero).
    allocation: Vec<i64>,
    share_sum: f64,
}

pub(crate) struct Stats {
    /// The scalar names measured, sorted.
    names: Vec<String>,
    /// The position in `names` of cpus, mem, disk, gpus and ports, when measured: a
    /// task's start and end find their series without comparing strings.
    known: [Option<usize>; 5],
    /// Cluster total and allocated amount per name of `names`, by position.
    total: Vec<TimeWeighted>,
    allocated: Vec<TimeWeighted>,
    offered_sum: BTreeMap<String, f64>,
    frameworks: Vec<FrameworkStats>,
    framework_role: Vec<String>,
    roles: Vec<String>,
    role_share_sum: Vec<f64>,
    agents_max: u64,
    agents_now: u64,
    /// Every started task's wait, kept exactly in a few bytes each.
    waits: CompactSamples,
    first_submit: Option<SimTime>,
    last_end: Option<SimTime>,
    samples: u64,
    pub allocation_cycles: u64,
    pub offers: u64,
    pub declines: u64,
    pub rescinds: u64,
    pub filters_installed: u64,
    utilization_series: TimeSeries,
    share_series: TimeSeries,
    queue_series: TimeSeries,
}

/// Rounds to 6 decimals so summaries stay readable; the rounding is deterministic.
pub(crate) fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Stats {
    /// Statistics for `scenario`; `extra_names` are scalar resources agents may bring
    /// that the scenario does not name (a replayed trace's machines).
    pub fn new(scenario: &Scenario, extra_names: &[&str]) -> Self {
        let mut names: BTreeSet<String> = extra_names.iter().map(|n| n.to_string()).collect();
        let mut add = |r: &Resources| names.extend(res::scalars(r).into_iter().map(|(n, _)| n));
        scenario.agents.iter().for_each(|a| add(&a.resources));
        for step in &scenario.timeline {
            match &step.action {
                Action::AddAgent { agent, .. } => add(&agent.resources),
                Action::UpdateAgent {
                    resources: Some(r), ..
                } => add(r),
                _ => {}
            }
        }
        let names: Vec<String> = names.into_iter().collect();
        let framework_role: Vec<String> = scenario
            .frameworks
            .iter()
            .map(|f| f.roles[0].clone())
            .collect();
        let roles: Vec<String> = framework_role
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let zero = || vec![TimeWeighted::new(0, 0); names.len()];
        let known = [
            ResourceName::Cpus,
            ResourceName::Mem,
            ResourceName::Disk,
            ResourceName::Gpus,
            ResourceName::Ports,
        ]
        .map(|n| names.iter().position(|m| m == n.as_str()));
        let mut util_columns = Vec::new();
        for n in &names {
            util_columns.push(format!("{n}_allocated"));
            util_columns.push(format!("{n}_offered"));
        }
        Stats {
            total: zero(),
            allocated: zero(),
            offered_sum: names.iter().map(|n| (n.clone(), 0.0)).collect(),
            frameworks: scenario
                .frameworks
                .iter()
                .map(|_| FrameworkStats {
                    submitted: 0,
                    launched: 0,
                    finished: 0,
                    failed: 0,
                    killed: 0,
                    lost: 0,
                    running: 0,
                    running_max: 0,
                    allocation: vec![0; names.len()],
                    share_sum: 0.0,
                })
                .collect(),
            utilization_series: TimeSeries::new(util_columns),
            share_series: TimeSeries::new(roles.clone()),
            queue_series: TimeSeries::new(scenario.frameworks.iter().map(|f| f.name.clone())),
            role_share_sum: vec![0.0; roles.len()],
            names,
            known,
            framework_role,
            roles,
            agents_max: 0,
            agents_now: 0,
            waits: CompactSamples::new(),
            first_submit: None,
            last_end: None,
            samples: 0,
            allocation_cycles: 0,
            offers: 0,
            declines: 0,
            rescinds: 0,
            filters_installed: 0,
        }
    }

    /// The position of `name` in `names`, if measured.
    fn slot(names: &[String], known: &[Option<usize>; 5], name: &ResourceName) -> Option<usize> {
        match name {
            ResourceName::Cpus => known[0],
            ResourceName::Mem => known[1],
            ResourceName::Disk => known[2],
            ResourceName::Gpus => known[3],
            ResourceName::Ports => known[4],
            ResourceName::Custom(s) => names.binary_search_by(|n| n.as_str().cmp(s.as_str())).ok(),
        }
    }

    /// Adds `sign` times `r`'s scalars to the series `which` (`total` or `allocated`)
    /// and, with `fw`, to that framework's allocation.
    fn shift(&mut self, total: bool, fw: Option<usize>, now: SimTime, r: &Resources, sign: i64) {
        let series = if total {
            &mut self.total
        } else {
            &mut self.allocated
        };
        // `r.quantities()` summed per entry, without building it (three calls per
        // task): scalars, identical shared copies counted once.
        let mut previous = None;
        for entry in r.iter() {
            let copy = entry.shared && previous == Some(entry);
            previous = Some(entry);
            let (Value::Scalar(milli), false) = (&entry.value, copy) else {
                continue;
            };
            if let Some(i) = Self::slot(&self.names, &self.known, &entry.name) {
                series[i].add(now.as_nanos(), sign * milli);
                if let Some(fw) = fw {
                    self.frameworks[fw].allocation[i] += sign * milli;
                }
            }
        }
    }

    pub fn agent_added(&mut self, now: SimTime, total: &Resources) {
        self.shift(true, None, now, total, 1);
        self.agents_now += 1;
        self.agents_max = self.agents_max.max(self.agents_now);
    }

    pub fn agent_removed(&mut self, now: SimTime, total: &Resources) {
        self.shift(true, None, now, total, -1);
        self.agents_now -= 1;
    }

    pub fn task_submitted(&mut self, fw: usize, now: SimTime) {
        self.frameworks[fw].submitted += 1;
        self.first_submit.get_or_insert(now);
    }

    pub fn task_launched(&mut self, task: &TaskRt) {
        self.frameworks[task.framework].launched += 1;
    }

    pub fn task_started(
        &mut self,
        now: SimTime,
        fw: usize,
        submitted: SimTime,
        resources: &Resources,
    ) {
        self.waits
            .push(now.saturating_duration_since(submitted).as_nanos());
        self.shift(false, Some(fw), now, resources, 1);
        let f = &mut self.frameworks[fw];
        f.running += 1;
        f.running_max = f.running_max.max(f.running);
    }

    pub fn task_stopped(&mut self, now: SimTime, fw: usize, resources: &Resources) {
        self.shift(false, Some(fw), now, resources, -1);
        self.frameworks[fw].running -= 1;
    }

    /// A task group's executor holds `resources` (`sign` 1) or let them go (-1):
    /// they count as the framework's allocation like its tasks', without a task.
    pub fn executor_held(&mut self, now: SimTime, fw: usize, resources: &Resources, sign: i64) {
        self.shift(false, Some(fw), now, resources, sign);
    }

    pub fn task_ended(&mut self, now: SimTime, fw: usize, state: TaskState) {
        if state == TaskState::Finished {
            self.last_end = Some(now);
        }
        let f = &mut self.frameworks[fw];
        match state {
            TaskState::Finished => f.finished += 1,
            TaskState::Failed => f.failed += 1,
            TaskState::Killed => f.killed += 1,
            TaskState::Lost | TaskState::Dropped => f.lost += 1,
            TaskState::Pending | TaskState::Staging | TaskState::Running => {}
        }
    }

    /// Dominant share of an allocation (by position in `names`) against the current
    /// cluster total.
    fn dominant_share(&self, allocation: &[i64]) -> f64 {
        allocation
            .iter()
            .zip(&self.total)
            .filter_map(|(milli, total)| {
                let total = total.current();
                (total > 0).then(|| *milli as f64 / total as f64)
            })
            .fold(0.0, f64::max)
    }

    pub fn sample(
        &mut self,
        now: SimTime,
        frameworks: &[FrameworkRt],
        offers: &super::offers::OfferTable,
    ) {
        self.samples += 1;
        let mut offered: BTreeMap<String, i64> = BTreeMap::new();
        for o in offers.values() {
            for (name, milli) in res::scalars(&o.resources) {
                *offered.entry(name).or_insert(0) += milli;
            }
        }
        let mut util = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let total = self.total[i].current().max(0) as f64;
            let frac = |v: i64| if total > 0.0 { v as f64 / total } else { 0.0 };
            let off = frac(*offered.get(name).unwrap_or(&0));
            util.push(round6(frac(self.allocated[i].current())));
            util.push(round6(off));
            *self.offered_sum.get_mut(name).expect("known name") += off;
        }
        self.utilization_series.push(now.as_nanos(), util);
        let mut role_alloc: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (i, f) in self.frameworks.iter().enumerate() {
            let entry = role_alloc
                .entry(self.framework_role[i].as_str())
                .or_insert_with(|| vec![0; self.names.len()]);
            for (sum, milli) in entry.iter_mut().zip(&f.allocation) {
                *sum += milli;
            }
        }
        let shares: Vec<f64> = self
            .roles
            .iter()
            .map(|r| {
                role_alloc
                    .get(r.as_str())
                    .map(|a| self.dominant_share(a))
                    .unwrap_or(0.0)
            })
            .collect();
        for (sum, share) in self.role_share_sum.iter_mut().zip(&shares) {
            *sum += share;
        }
        self.share_series
            .push(now.as_nanos(), shares.into_iter().map(round6).collect());
        for i in 0..self.frameworks.len() {
            let share = self.dominant_share(&self.frameworks[i].allocation);
            self.frameworks[i].share_sum += share;
        }
        self.queue_series.push(
            now.as_nanos(),
            frameworks.iter().map(|f| f.pending.len() as f64).collect(),
        );
    }

    /// The metrics files of the run: (file name, CSV text).
    pub fn metrics_files(&self) -> Vec<(String, String)> {
        vec![
            (
                "utilization.csv".to_string(),
                self.utilization_series.to_csv(),
            ),
            ("dominant_share.csv".to_string(), self.share_series.to_csv()),
            ("queue_length.csv".to_string(), self.queue_series.to_csv()),
        ]
    }

    pub fn summary(
        &self,
        scenario: &Scenario,
        policy: &str,
        seed: u64,
        end: SimTime,
        events: u64,
    ) -> Summary {
        let end_ns = end.as_nanos();
        let mut utilization = BTreeMap::new();
        for (i, name) in self.names.iter().enumerate() {
            let total_mean = self.total[i].mean(end_ns);
            let allocated = if total_mean > 0.0 {
                self.allocated[i].mean(end_ns) / total_mean
            } else {
                0.0
            };
            let offered = if self.samples > 0 {
                self.offered_sum[name] / self.samples as f64
            } else {
                0.0
            };
            utilization.insert(
                name.clone(),
                // No usage model yet: tasks use exactly what they requested.
                Utilization {
                    allocated: round6(allocated),
                    used: round6(allocated),
                    offered: round6(offered),
                },
            );
        }
        let [p50, p95, p99, max] = self
            .waits
            .percentiles(&[50.0, 95.0, 99.0, 100.0])
            .map_or([0; 4], |v| [v[0], v[1], v[2], v[3]]);
        let share_mean = |f: &FrameworkStats| {
            if self.samples > 0 {
                f.share_sum / self.samples as f64
            } else {
                0.0
            }
        };
        let frameworks: Vec<FrameworkSummary> = scenario
            .frameworks
            .iter()
            .zip(&self.frameworks)
            .map(|(def, f)| FrameworkSummary {
                name: def.name.clone(),
                role: def.roles[0].clone(),
                tasks_submitted: f.submitted,
                tasks_launched: f.launched,
                tasks_finished: f.finished,
                tasks_running_max: f.running_max,
                dominant_share_mean: round6(share_mean(f)),
            })
            .collect();
        let shares: Vec<f64> = self.frameworks.iter().map(share_mean).collect();
        let roles = self
            .roles
            .iter()
            .zip(&self.role_share_sum)
            .map(|(r, share_sum)| {
                let members: Vec<usize> = (0..self.frameworks.len())
                    .filter(|i| &self.framework_role[*i] == r)
                    .collect();
                RoleSummary {
                    name: r.clone(),
                    weight: scenario
                        .roles
                        .iter()
                        .find(|d| &d.name == r)
                        .map(|d| d.weight)
                        .unwrap_or(1.0),
                    frameworks: members.len() as u64,
                    tasks_launched: members.iter().map(|i| self.frameworks[*i].launched).sum(),
                    dominant_share_mean: round6(if self.samples > 0 {
                        share_sum / self.samples as f64
                    } else {
                        0.0
                    }),
                }
            })
            .collect();
        let sum = |g: fn(&FrameworkStats) -> u64| self.frameworks.iter().map(g).sum::<u64>();
        Summary {
            mesosim_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: scenario.name.clone(),
            scenario_sha256: scenario.sha256.clone(),
            seed,
            policy: policy.to_string(),
            sim_end_ns: end_ns,
            events,
            cluster: ClusterSummary {
                agents: self.agents_max,
                totals: self
                    .names
                    .iter()
                    .zip(&self.total)
                    .map(|(n, t)| (n.clone(), t.current() as f64 / 1000.0))
                    .collect(),
            },
            tasks: TaskCounts {
                submitted: sum(|f| f.submitted),
                launched: sum(|f| f.launched),
                finished: sum(|f| f.finished),
                failed: sum(|f| f.failed),
                killed: sum(|f| f.killed),
                lost: sum(|f| f.lost),
                revoked: 0,
            },
            utilization,
            fairness: round6(jain_index(&shares)),
            wait_ns: WaitSummary {
                count: self.waits.len(),
                p50,
                p95,
                p99,
                max,
            },
            makespan_ns: match (self.first_submit, self.last_end) {
                (Some(a), Some(b)) => b.saturating_duration_since(a).as_nanos(),
                _ => 0,
            },
            allocator: AllocatorSummary {
                cycles: self.allocation_cycles,
                offers: self.offers,
                declines: self.declines,
                rescinds: self.rescinds,
                filters_installed: self.filters_installed,
            },
            frameworks,
            roles,
            replay: None,
            reservations: None,
            oversubscription: None,
            bursting: None,
            network: None,
            fetcher: None,
            tls: None,
            task_groups: None,
        }
    }
}
