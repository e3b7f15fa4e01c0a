//! Oversubscription in live mode (mesos-semantics.md §3): each agent's resource estimator and QoS controller — the simulator's `models::oversubscription` code — fed with real cgroup usage.
//!
//! This file holds the agents' side as state machines with no I/O: the settings, one
//! estimator + [`ReportLoop`] + QoS controller + [`LoadAverage`] per agent, and the
//! figures for `summary.json`. The master (`run.rs` and `run/revocable.rs`) samples the
//! task cgroups ([`crate::usage`]), calls [`Oversubscription::estimate`] every
//! `--estimator-interval` and [`Oversubscription::corrections`] every `--qos-interval`,
//! and carries out what they answer: a new revocable total goes to the allocator with
//! `update_agent` (as the simulator's `usage_estimate` does), a correction kills the
//! revocable task (`TASK_LOST`, `REASON_CONTAINER_PREEMPTED`).
//!
//! The load average is the model's [`LoadAverage`] (the kernel's formula, one sample
//! per 5 s) over the agent's own containers' measured runnable demand, not
//! `/proc/loadavg`: the agents of a live run share one host, whose load average counts
//! every agent and every other process on it, so it cannot say which agent is
//! overloaded; per-agent demand is also what the simulator feeds the same controller.

use models::oversubscription::estimator::{self, ReportLoop, ResourceEstimator};
use models::oversubscription::qos::{self, LoadAverage, QosContainer, QosController, QosInput};
use models::oversubscription::{AgentUsage, ESTIMATOR_NAMES, QOS_NAMES};
use models::resources::{Resource, ResourceName, Resources};
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

/// Mesos's `--oversubscribed_resources_interval` default.
pub const DEFAULT_ESTIMATOR_INTERVAL: SimDuration = SimDuration::from_secs(15);

/// The QoS interval when not given: the simulator's `[usage]` default and the Mesos
/// docs' example (Mesos itself polls again at once, `--qos_correction_interval_min`
/// 0 s, which on real cgroups would be a busy loop of file reads).
pub const DEFAULT_QOS_INTERVAL: SimDuration = SimDuration::from_secs(20);

/// The reason a QoS kill reports, as Mesos's agent does.
pub const QOS_REASON: &str = "REASON_CONTAINER_PREEMPTED";

/// The message that goes with it.
pub const QOS_MESSAGE: &str = "Container preempted by QoS correction";

/// Oversubscription settings of a live run. The default is Mesos's: the noop
/// estimator and controller, and no revocable tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct OversubscriptionConfig {
    /// `noop`, `fixed` or `usage`.
    pub estimator: String,
    /// `fixed`: the revocable milli-CPUs each agent advertises.
    pub fixed_cpus: Option<u64>,
    /// `usage`: weight of the newest sample, per-mille.
    pub smoothing: u64,
    /// `usage`: safety margin, per-mille of allocated CPUs.
    pub margin: u64,
    /// Time between estimates (`--oversubscribed_resources_interval`).
    pub estimator_interval: SimDuration,
    /// `noop`, `load` or `shortfall`.
    pub qos: String,
    /// Time between QoS corrections (`--qos_correction_interval_min`).
    pub qos_interval: SimDuration,
    /// `load`: `load_threshold_5min`, milli-runnable.
    pub load_threshold_5min: Option<u64>,
    /// `load`: `load_threshold_15min`, milli-runnable.
    pub load_threshold_15min: Option<u64>,
    /// `shortfall`: stolen milli-CPUs tolerated.
    pub shortfall_tolerance: u64,
    /// Best-effort tasks of the framework that run only on revocable CPUs.
    pub revocable_tasks: u32,
    /// Their command line (`/bin/sh -c`).
    pub revocable_task_command: String,
}

impl Default for OversubscriptionConfig {
    fn default() -> Self {
        OversubscriptionConfig {
            estimator: "noop".into(),
            fixed_cpus: None,
            smoothing: 500,
            margin: 100,
            estimator_interval: DEFAULT_ESTIMATOR_INTERVAL,
            qos: "noop".into(),
            qos_interval: DEFAULT_QOS_INTERVAL,
            load_threshold_5min: None,
            load_threshold_15min: None,
            shortfall_tolerance: 100,
            revocable_tasks: 0,
            revocable_task_command: "sleep 1".into(),
        }
    }
}

impl OversubscriptionConfig {
    /// Anything other than the default: the run then estimates, corrects and reports
    /// an `oversubscription` section.
    pub fn enabled(&self) -> bool {
        self.estimator != "noop" || self.qos != "noop" || self.revocable_tasks > 0
    }

    /// Checks the settings; `task_cpus` is a task's CPUs (milli), which a revocable
    /// task takes as revocable CPUs.
    pub fn validate(&self, task_cpus: i64) -> Result<(), String> {
        if !ESTIMATOR_NAMES.contains(&self.estimator.as_str()) {
            return Err(format!(
                "--estimator `{}` is not one of {}",
                self.estimator,
                ESTIMATOR_NAMES.join(", ")
            ));
        }
        if !QOS_NAMES.contains(&self.qos.as_str()) {
            return Err(format!(
                "--qos `{}` is not one of {}",
                self.qos,
                QOS_NAMES.join(", ")
            ));
        }
        if self.estimator == "fixed" && self.fixed_cpus.is_none_or(|c| c == 0) {
            return Err("the `fixed` estimator needs a positive --fixed-cpus".into());
        }
        if self.qos == "load"
            && self.load_threshold_5min.is_none()
            && self.load_threshold_15min.is_none()
        {
            return Err(
                "the `load` controller needs --load-threshold-5min or --load-threshold-15min"
                    .into(),
            );
        }
        if self.estimator_interval == SimDuration::ZERO {
            return Err("--estimator-interval must be positive".into());
        }
        if self.qos_interval == SimDuration::ZERO {
            return Err("--qos-interval must be positive".into());
        }
        if self.revocable_tasks > 0 {
            if self.estimator == "noop" {
                return Err(
                    "--revocable-tasks needs an --estimator: with `noop` no revocable CPUs ever appear"
                        .into(),
                );
            }
            if let Some(fixed) = self.fixed_cpus.filter(|_| self.estimator == "fixed") {
                if (fixed as i64) < task_cpus {
                    return Err(format!(
                        "a revocable task's {} CPUs do not fit --fixed-cpus {}",
                        task_cpus as f64 / 1000.0,
                        fixed as f64 / 1000.0
                    ));
                }
            }
            if self.revocable_task_command.trim().is_empty() {
                return Err("--revocable-task-command is empty".into());
            }
        }
        Ok(())
    }
}

fn cpus() -> ResourceName {
    ResourceName::new("cpus")
}

/// A revocable task's resources: a task's CPUs as revocable CPUs, the rest (memory) as
/// it is — estimators report CPUs only, so memory is never oversubscribed.
pub fn revocable_task_resources(task: &Resources) -> Resources {
    let mut r = task.filter(|x| x.name != cpus());
    let mut c = Resource::scalar(cpus(), task.scalar_milli(&cpus()));
    c.revocable = true;
    r.add_resource(c);
    r
}

/// `total` plus `revocable` milli-CPUs of revocable CPUs (none when 0): an agent's
/// total as the master sets it after an estimate (§3.2).
pub fn with_revocable(total: &Resources, revocable: u64) -> Resources {
    let mut new = total.non_revocable();
    if revocable > 0 {
        let mut c = Resource::scalar(cpus(), revocable as i64);
        c.revocable = true;
        new.add_resource(c);
    }
    new
}

struct AgentState {
    estimator: Box<dyn ResourceEstimator>,
    report: ReportLoop,
    qos: Box<dyn QosController>,
    load: LoadAverage,
    load_at: SimTime,
    /// The revocable milli-CPUs last reported.
    revocable: u64,
}

/// An estimate the master received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateRecord {
    /// When, ns after the master started.
    pub t_ns: u64,
    /// The agent.
    pub agent: String,
    /// Its new revocable CPUs, milli.
    pub revocable_cpus_milli: u64,
    /// Non-revocable CPUs allocated to its running tasks then, milli.
    pub allocated_cpus_milli: u64,
    /// What those tasks used over the last interval, measured, milli-CPUs.
    pub used_cpus_milli: u64,
    /// Revocable CPUs allocated to its running tasks then, milli.
    pub revocable_allocated_cpus_milli: u64,
}

/// A revocable task the QoS controller killed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosKill {
    /// The task.
    pub task: String,
    /// Its agent.
    pub agent: String,
    /// When, ns after the master started.
    pub t_ns: u64,
    /// Always `REASON_CONTAINER_PREEMPTED`.
    pub reason: String,
    /// The agent's message.
    pub message: String,
    /// The agent's 5- and 15-minute load averages then, milli-runnable.
    pub load5_milli: u64,
    /// See `load5_milli`.
    pub load15_milli: u64,
    /// What the agent's regular tasks used over the last QoS interval, milli-CPUs.
    pub regular_used_cpus_milli: u64,
}

/// Revocable tasks by how they ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocableCounts {
    /// Asked for (`--revocable-tasks`).
    pub submitted: u64,
    /// Started on revocable CPUs.
    pub launched: u64,
    /// Exited 0 (`TASK_FINISHED`).
    pub finished: u64,
    /// Ended otherwise (`TASK_FAILED`).
    pub failed: u64,
    /// Killed at `--timeout` (`TASK_KILLED`).
    pub killed: u64,
    /// Killed by a QoS correction (`TASK_LOST`).
    pub lost: u64,
}

/// `oversubscription` in a live run's `summary.json` (absent by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OversubscriptionSummary {
    /// The resource estimator.
    pub estimator: String,
    /// Time between estimates, ns.
    pub estimator_interval_ns: u64,
    /// The QoS controller.
    pub qos: String,
    /// Time between QoS corrections, ns.
    pub qos_interval_ns: u64,
    /// Estimates sent to the master (only changed values are sent).
    pub estimates_reported: u64,
    /// Each of them, in order.
    pub estimates: Vec<EstimateRecord>,
    /// Offers that carried revocable CPUs.
    pub revocable_offers: u64,
    /// Revocable CPUs summed over those offers, milli.
    pub revocable_cpus_offered_milli: u64,
    /// QoS corrections asked for (one per agent per interval).
    pub qos_evaluations: u64,
    /// Revocable tasks by outcome.
    pub revocable_tasks: RevocableCounts,
    /// Each QoS kill.
    pub qos_kills: Vec<QosKill>,
}

/// The agents' estimators and controllers and what they did.
pub struct Oversubscription {
    config: OversubscriptionConfig,
    agents: Vec<AgentState>,
    /// Revocable tasks by outcome.
    pub counts: RevocableCounts,
    estimates: Vec<EstimateRecord>,
    offers: (u64, u64),
    evaluations: u64,
    kills: Vec<QosKill>,
}

impl Oversubscription {
    /// The state for `agents` agents (`config` validated).
    pub fn new(config: &OversubscriptionConfig, agents: usize) -> Oversubscription {
        let agents = (0..agents)
            .map(|_| AgentState {
                estimator: estimator::by_name(
                    &config.estimator,
                    config.fixed_cpus.unwrap_or(0),
                    config.smoothing,
                    config.margin,
                )
                .expect("validated estimator name"),
                report: ReportLoop::default(),
                qos: qos::by_name(
                    &config.qos,
                    config.load_threshold_5min,
                    config.load_threshold_15min,
                    config.shortfall_tolerance,
                )
                .expect("validated controller name"),
                load: LoadAverage::default(),
                load_at: SimTime::ZERO,
                revocable: 0,
            })
            .collect();
        Oversubscription {
            config: config.clone(),
            agents,
            counts: RevocableCounts {
                submitted: u64::from(config.revocable_tasks),
                ..Default::default()
            },
            estimates: Vec::new(),
            offers: (0, 0),
            evaluations: 0,
            kills: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &OversubscriptionConfig {
        &self.config
    }

    /// The revocable milli-CPUs agent `a` last reported.
    pub fn revocable(&self, a: usize) -> u64 {
        self.agents[a].revocable
    }

    /// Asks agent `a`'s estimator with its current `usage`; the new revocable total
    /// (milli-CPUs) to send to the master when it changed (recorded at `t_ns`).
    pub fn estimate(
        &mut self,
        a: usize,
        agent: &str,
        t_ns: u64,
        usage: &AgentUsage,
    ) -> Option<u64> {
        let s = &mut self.agents[a];
        let total = s.report.poll(s.estimator.as_mut(), usage)?;
        s.revocable = total;
        self.estimates.push(EstimateRecord {
            t_ns,
            agent: agent.to_string(),
            revocable_cpus_milli: total,
            allocated_cpus_milli: usage.allocated,
            used_cpus_milli: usage.used,
            revocable_allocated_cpus_milli: usage.revocable_allocated,
        });
        Some(total)
    }

    /// Asks agent `a`'s QoS controller about its `containers` at `now`, first bringing
    /// its load average to `now` with their runnable demand (one kernel sample per 5 s
    /// elapsed). Returns the revocable containers to kill (indices) and the load
    /// averages (5-, 15-minute).
    pub fn corrections(
        &mut self,
        a: usize,
        now: SimTime,
        capacity: u64,
        containers: &[QosContainer],
    ) -> (Vec<usize>, (u64, u64)) {
        self.evaluations += 1;
        let s = &mut self.agents[a];
        let runnable: u64 = containers.iter().map(|c| c.cpu.max_rate()).sum();
        let freq = SimDuration::from_secs(qos::LOAD_FREQ_SECS).as_nanos();
        let samples = now.saturating_duration_since(s.load_at).as_nanos() / freq;
        s.load.advance(runnable, samples);
        s.load_at += SimDuration::from_nanos(samples * freq);
        let input = QosInput {
            capacity,
            containers,
            load5: s.load.load5(),
            load15: s.load.load15(),
        };
        let kills = s
            .qos
            .corrections(&input)
            .into_iter()
            .filter(|&i| containers.get(i).is_some_and(|c| c.revocable))
            .collect();
        (kills, (input.load5, input.load15))
    }

    /// Records a QoS kill (the task's end is counted by [`Oversubscription::ended`]).
    pub fn killed(&mut self, kill: QosKill) {
        self.kills.push(kill);
    }

    /// Counts a revocable task that ended in `state`.
    pub fn ended(&mut self, state: &str) {
        let c = &mut self.counts;
        match state {
            "TASK_FINISHED" => c.finished += 1,
            "TASK_KILLED" => c.killed += 1,
            "TASK_LOST" => c.lost += 1,
            _ => c.failed += 1,
        }
    }

    /// Counts an offer's revocable CPUs.
    pub fn offered(&mut self, offer: &Resources) {
        let c = offer.revocable().scalar_milli(&cpus());
        if c > 0 {
            self.offers.0 += 1;
            self.offers.1 += c as u64;
        }
    }

    /// The `summary.json` section.
    pub fn summary(&self) -> OversubscriptionSummary {
        OversubscriptionSummary {
            estimator: self.config.estimator.clone(),
            estimator_interval_ns: self.config.estimator_interval.as_nanos(),
            qos: self.config.qos.clone(),
            qos_interval_ns: self.config.qos_interval.as_nanos(),
            estimates_reported: self.estimates.len() as u64,
            estimates: self.estimates.clone(),
            revocable_offers: self.offers.0,
            revocable_cpus_offered_milli: self.offers.1,
            qos_evaluations: self.evaluations,
            revocable_tasks: self.counts.clone(),
            qos_kills: self.kills.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::usage::cpu::CpuDemand;

    fn cfg() -> OversubscriptionConfig {
        OversubscriptionConfig {
            estimator: "fixed".into(),
            fixed_cpus: Some(1000),
            qos: "load".into(),
            load_threshold_5min: Some(5),
            revocable_tasks: 2,
            ..Default::default()
        }
    }

    #[test]
    fn the_default_is_off_and_valid() {
        let d = OversubscriptionConfig::default();
        assert!(!d.enabled());
        assert_eq!(d.validate(500), Ok(()));
        assert_eq!(d.estimator_interval, SimDuration::from_secs(15));
        assert!(cfg().enabled());
        assert_eq!(cfg().validate(500), Ok(()));
    }

    #[test]
    fn bad_settings_are_named() {
        let check = |f: &dyn Fn(&mut OversubscriptionConfig), want: &str| {
            let mut c = cfg();
            f(&mut c);
            let e = c.validate(500).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        check(&|c| c.estimator = "magic".into(), "--estimator `magic`");
        check(&|c| c.qos = "magic".into(), "--qos `magic`");
        check(&|c| c.fixed_cpus = None, "--fixed-cpus");
        check(&|c| c.load_threshold_5min = None, "--load-threshold-5min");
        check(&|c| c.estimator = "noop".into(), "--revocable-tasks needs");
        check(&|c| c.fixed_cpus = Some(400), "do not fit --fixed-cpus 0.4");
        check(&|c| c.qos_interval = SimDuration::ZERO, "--qos-interval");
        check(
            &|c| c.estimator_interval = SimDuration::ZERO,
            "--estimator-interval",
        );
        check(&|c| c.revocable_task_command = " ".into(), "empty");
    }

    #[test]
    fn a_revocable_task_takes_revocable_cpus_and_regular_memory() {
        let task = Resources::parse("cpus:0.5;mem:64").unwrap();
        let r = revocable_task_resources(&task);
        assert_eq!(r.revocable().scalar_milli(&cpus()), 500);
        assert_eq!(r.non_revocable(), Resources::parse("mem:64").unwrap());
        // An agent's total with 1.5 revocable CPUs offers exactly three of them
        // beside its regular resources, and with 0 has none.
        let agent = Resources::parse("cpus:1;mem:256").unwrap();
        let total = with_revocable(&agent, 1500);
        assert!(total.contains(&r.plus(&r).plus(&r)));
        assert!(!total.contains(&r.plus(&r).plus(&r).plus(&r)));
        assert_eq!(with_revocable(&total, 0), agent);
    }

    fn c(revocable: bool, demand: u64) -> QosContainer {
        QosContainer {
            revocable,
            latency_sensitive: !revocable,
            cpu: CpuDemand {
                shares: if revocable { 5 } else { 1024 },
                demand,
                cap: Some(500),
            },
        }
    }

    #[test]
    fn fixed_estimates_are_reported_once_and_load_kills_every_revocable_task() {
        let mut o = Oversubscription::new(&cfg(), 1);
        let usage = AgentUsage {
            capacity: 1000,
            allocated: 500,
            used: 0,
            revocable_allocated: 0,
        };
        assert_eq!(o.estimate(0, "agent-0", 1, &usage), Some(1000));
        assert_eq!(o.revocable(0), 1000);
        // Unchanged total (fixed − allocated + allocated): not resent.
        let busy = AgentUsage {
            revocable_allocated: 1000,
            ..usage
        };
        assert_eq!(o.estimate(0, "agent-0", 2, &busy), None);
        let idle = [c(false, 0), c(true, 0), c(true, 0)];
        let busy = [c(false, 500), c(true, 0), c(true, 0)];
        // Before the first 5 s sample the load is 0: nothing to do.
        let at = |s: u64| SimTime::ZERO + SimDuration::from_millis(s);
        assert_eq!(
            o.corrections(0, at(4_900), 1000, &busy).0,
            Vec::<usize>::new()
        );
        // Idle containers leave the load at 0 after a sample.
        assert_eq!(o.corrections(0, at(5_000), 1000, &idle), (vec![], (0, 0)));
        // Half a CPU runnable for one sample: load5 = ceil(500 × 34/2048) = 9 > 5.
        let (kills, (l5, _)) = o.corrections(0, at(10_000), 1000, &busy);
        assert_eq!((kills, l5), (vec![1, 2], 9));
        let s = o.summary();
        assert_eq!((s.estimates_reported, s.qos_evaluations), (1, 3));
        assert_eq!(s.revocable_tasks.submitted, 2);
    }

    #[test]
    fn offers_count_only_revocable_cpus() {
        let mut o = Oversubscription::new(&cfg(), 1);
        o.offered(&Resources::parse("cpus:1;mem:64").unwrap());
        o.offered(&with_revocable(&Resources::parse("mem:64").unwrap(), 700));
        let s = o.summary();
        assert_eq!(
            (s.revocable_offers, s.revocable_cpus_offered_milli),
            (1, 700)
        );
    }
}
