//! The master's side of oversubscription in a live run: estimates become revocable CPUs in the allocator, revocable tasks launch on them, QoS corrections kill them.
//!
//! Every `--estimator-interval` each agent's running tasks are sampled
//! ([`crate::usage::sample`]) and its [`AgentUsage`] — regular CPUs allocated, what
//! those tasks used over the interval, revocable CPUs allocated — goes to
//! [`Oversubscription::estimate`]. A changed total becomes the agent's revocable CPUs
//! through `Allocator::update_agent` with the agent's total plus `cpus{REV}`, as the
//! simulator's `usage_estimate` does. Offers never outlive the cycle that made them
//! here (the framework answers each at once), so there is no outstanding revocable
//! offer for the master to rescind.
//!
//! Every `--qos-interval` each agent's tasks are sampled again into
//! [`QosContainer`]s (demand: the measured usage, or the quota when throttled; shares:
//! the kernel default 1024 for regular tasks, whose `cpu.shares` mesosim leaves alone,
//! and Mesos's low-priority `max(10 × cpus, 2)` written for revocable ones) and
//! [`Oversubscription::corrections`] names the revocable tasks to kill: their process
//! group is killed, their cgroups removed, they end `TASK_LOST` with
//! `REASON_CONTAINER_PREEMPTED`, and their resources go back to the allocator.

use std::path::PathBuf;
use std::sync::Arc;

use models::allocator::{AgentId, FrameworkCapabilities};
use models::oversubscription::qos::QosContainer;
use models::oversubscription::AgentUsage;
use models::resources::Resources;
use models::usage::cpu::{self, CpuDemand};
use sim_core::{Context, Engine, SimTime};

use super::{scalar, Ending, Event, LiveConfig, LiveError, Master, TaskSpec};
use crate::cgroup::{detect_host_cpuacct, Cgroup, CgroupError, CgroupGuard};
use crate::oversubscription::{
    revocable_task_resources, with_revocable, Oversubscription, OversubscriptionSummary, QosKill,
    QOS_MESSAGE, QOS_REASON,
};
use crate::usage::{self, Meter};

/// The kernel's default `cpu.shares` (v2: weight 100), which regular tasks keep.
const DEFAULT_SHARES: u64 = 1024;

/// A revocable task's `cpu.shares` with `--revocable_cpu_low_priority` (Mesos's
/// default): `max(10 × cpus, 2)`.
pub(super) fn shares(task: &Resources) -> u64 {
    cpu::shares(scalar(task, "cpus"), true, true)
}

/// Oversubscription state of the run, owned by the master.
pub(super) struct Revocable {
    pub(super) state: Oversubscription,
    /// A revocable task's resources.
    task: Resources,
    /// Revocable tasks launched so far.
    next: u32,
    // v1 with cpuacct apart from cpu: the run's and the agents' cgroups there, agents
    // first in drop order.
    acct_agents: Vec<CgroupGuard>,
    acct_run: Option<CgroupGuard>,
}

/// A task's usage meters (one per question asked, each measuring since its last
/// answer) and, on v1 with a separate cpuacct hierarchy, its cgroup there.
pub(super) struct Meters {
    acct: Option<CgroupGuard>,
    estimate: Meter,
    qos: Meter,
}

impl Meters {
    /// The `cgroup.procs` files the task joins besides its own cgroup's.
    pub(super) fn procs_files(&self) -> Vec<PathBuf> {
        self.acct
            .as_ref()
            .map_or(Vec::new(), |g| g.cgroup().procs_files())
    }

    /// The meters of a task started at `t_ns` (its cgroups are new: zero counters).
    pub(super) fn started(self, t_ns: u64) -> Meters {
        Meters {
            estimate: Meter::starting_at(t_ns),
            qos: Meter::starting_at(t_ns),
            ..self
        }
    }

    /// Removes its cpuacct cgroup, if any.
    pub(super) fn remove(self) -> Result<(), CgroupError> {
        self.acct.map_or(Ok(()), CgroupGuard::remove_or_leave)
    }
}

impl Revocable {
    /// The state for `config` (`None` when oversubscription is off), with the cpuacct
    /// cgroups of the run and its agents when v1 has cpuacct apart from cpu. `run` is
    /// the run's cgroup.
    pub(super) fn create(
        config: &LiveConfig,
        run: &Cgroup,
    ) -> Result<Option<Revocable>, LiveError> {
        let o = &config.oversubscription;
        if !o.enabled() {
            return Ok(None);
        }
        let (acct_run, acct_agents) = match run {
            Cgroup::V1 { cpu, .. } if !cpu.join("cpuacct.usage").exists() => {
                let Some(dir) = detect_host_cpuacct()? else {
                    return Err(LiveError::Config(
                        "cgroup v1 without the cpuacct controller: task CPU usage cannot be measured"
                            .into(),
                    ));
                };
                // A cgroup of the cpuacct hierarchy alone: both directories are its one.
                let base = Cgroup::V1 {
                    cpu: dir.clone(),
                    memory: dir,
                };
                let run = base.create_child(&config.cgroup_name)?;
                let mut agents = Vec::new();
                for a in 0..config.agents {
                    agents.push(run.cgroup().create_child(&format!("agent-{a}"))?);
                }
                (Some(run), agents)
            }
            _ => (None, Vec::new()),
        };
        Ok(Some(Revocable {
            state: Oversubscription::new(o, config.agents as usize),
            task: revocable_task_resources(&config.task_resources),
            next: 0,
            acct_agents,
            acct_run,
        }))
    }

    /// Removes the cpuacct cgroups and returns the summary section.
    pub(super) fn finish(mut self) -> Result<OversubscriptionSummary, LiveError> {
        for g in std::mem::take(&mut self.acct_agents) {
            g.remove_or_leave()?;
        }
        if let Some(g) = self.acct_run.take() {
            g.remove_or_leave()?;
        }
        Ok(self.state.summary())
    }
}

/// Schedules the first estimate and QoS correction. The noop estimator never answers
/// (Mesos's loop stalls) and the noop controller never kills, so neither is asked.
pub(super) fn schedule(config: &LiveConfig, engine: &mut Engine<Event>) {
    let o = &config.oversubscription;
    if o.estimator != "noop" {
        engine.schedule_at(SimTime::ZERO + o.estimator_interval, Event::Estimate);
    }
    if o.qos != "noop" {
        engine.schedule_at(SimTime::ZERO + o.qos_interval, Event::Qos);
    }
}

impl Master<'_> {
    /// REVOCABLE_RESOURCES when the framework has revocable tasks to run.
    pub(super) fn framework_capabilities(&self) -> FrameworkCapabilities {
        FrameworkCapabilities {
            revocable_resources: self
                .oversub
                .as_ref()
                .is_some_and(|o| o.state.config().revocable_tasks > 0),
            ..Default::default()
        }
    }

    /// Agent `a`'s total: its resources plus the revocable CPUs it last reported.
    pub(super) fn agent_total(&self, a: usize) -> Resources {
        match &self.oversub {
            Some(o) => with_revocable(&self.config.agent_resources, o.state.revocable(a)),
            None => self.config.agent_resources.clone(),
        }
    }

    /// The meters of a task about to start on agent `a` (creating its cpuacct cgroup
    /// when there is one), with oversubscription on.
    pub(super) fn meters(
        &self,
        a: usize,
        spec: &TaskSpec<'_>,
    ) -> Result<Option<Meters>, LiveError> {
        let Some(o) = &self.oversub else {
            return Ok(None);
        };
        let acct = match o.acct_agents.get(a) {
            Some(g) => Some(g.cgroup().create_child(&spec.id)?),
            None => None,
        };
        Ok(Some(Meters {
            acct,
            estimate: Meter::starting_at(0),
            qos: Meter::starting_at(0),
        }))
    }

    /// Launches waiting revocable tasks on the revocable CPUs of an offer's `left`
    /// on agent `a`, taking what they use from it.
    pub(super) fn launch_revocable(
        &mut self,
        a: usize,
        role: &Arc<str>,
        left: &mut Resources,
    ) -> Result<(), LiveError> {
        let config = self.config;
        let Some(o) = &mut self.oversub else {
            return Ok(());
        };
        o.state.offered(left);
        let task = o.task.clone();
        loop {
            let Some(o) = &self.oversub else {
                return Ok(());
            };
            let index = o.next;
            if index >= config.oversubscription.revocable_tasks || !left.contains(&task) {
                return Ok(());
            }
            self.start_task(
                a,
                role.clone(),
                TaskSpec {
                    id: format!("revocable-{index}"),
                    index,
                    resources: &task,
                    command: &config.oversubscription.revocable_task_command,
                    revocable: true,
                },
            )?;
            left.sub_assign(&task);
            if let Some(o) = &mut self.oversub {
                o.next += 1;
                o.state.counts.launched += 1;
            }
        }
    }

    fn elapsed_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Asks every agent's estimator; a changed total goes to the allocator.
    pub(super) fn estimate(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), LiveError> {
        let now = ctx.now();
        let config = self.config;
        let Some(o) = &mut self.oversub else {
            return Ok(());
        };
        ctx.schedule_after(config.oversubscription.estimator_interval, Event::Estimate);
        let t_ns = self.start.elapsed().as_nanos() as u64;
        for (a, agent) in self.agents.iter().enumerate() {
            let mut usage = AgentUsage {
                capacity: scalar(&config.agent_resources, "cpus") as u64,
                ..AgentUsage::default()
            };
            for r in self.running.iter_mut().filter(|r| r.agent == a) {
                let cpus = scalar(&r.resources, "cpus").max(0) as u64;
                let Some(m) = r.meters.as_mut() else { continue };
                let sample =
                    usage::sample(r.cgroup.cgroup(), m.acct.as_ref().map(CgroupGuard::cgroup))?;
                let used = m.estimate.interval(t_ns, sample.cpu).used;
                if r.revocable {
                    usage.revocable_allocated += cpus;
                } else {
                    usage.allocated += cpus;
                    usage.used += used.min(cpus);
                }
            }
            if let Some(total) = o.state.estimate(a, &agent.name, t_ns, &usage) {
                self.allocator.update_agent(
                    now,
                    AgentId(a as u32),
                    with_revocable(&config.agent_resources, total),
                    Vec::new(),
                );
            }
        }
        Ok(())
    }

    /// Asks every agent's QoS controller and kills the revocable tasks it names.
    pub(super) fn qos(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), LiveError> {
        let now = ctx.now();
        let config = self.config;
        if self.oversub.is_none() {
            return Ok(());
        }
        ctx.schedule_after(config.oversubscription.qos_interval, Event::Qos);
        let t_ns = self.elapsed_ns();
        let capacity = scalar(&config.agent_resources, "cpus") as u64;
        let mut victims = Vec::new();
        for a in 0..self.agents.len() {
            let mut on_agent = Vec::new();
            let mut containers = Vec::new();
            let mut regular_used = 0;
            for (i, r) in self.running.iter_mut().enumerate() {
                if r.agent != a {
                    continue;
                }
                let Some(m) = r.meters.as_mut() else { continue };
                let sample =
                    usage::sample(r.cgroup.cgroup(), m.acct.as_ref().map(CgroupGuard::cgroup))?;
                let cap = scalar(&r.resources, "cpus").max(0) as u64;
                let interval = m.qos.interval(t_ns, sample.cpu);
                if !r.revocable {
                    regular_used += interval.used;
                }
                on_agent.push(i);
                containers.push(QosContainer {
                    revocable: r.revocable,
                    latency_sensitive: !r.revocable,
                    cpu: CpuDemand {
                        shares: if r.revocable {
                            shares(&r.resources)
                        } else {
                            DEFAULT_SHARES
                        },
                        demand: interval.demand(cap),
                        cap: Some(cap),
                    },
                });
            }
            let Some(o) = &mut self.oversub else {
                return Ok(());
            };
            let (kills, (load5, load15)) = o.state.corrections(a, now, capacity, &containers);
            for k in kills {
                let r = &self.running[on_agent[k]];
                o.state.killed(QosKill {
                    task: self.runs[r.run].id.clone(),
                    agent: self.agents[a].name.clone(),
                    t_ns,
                    reason: QOS_REASON.into(),
                    message: QOS_MESSAGE.into(),
                    load5_milli: load5,
                    load15_milli: load15,
                    regular_used_cpus_milli: regular_used,
                });
                victims.push(on_agent[k]);
            }
        }
        // Highest index first, so each swap_remove moves a task already looked at.
        victims.sort_unstable_by(|x, y| y.cmp(x));
        for i in victims {
            let mut r = self.running.swap_remove(i);
            let exit = r.process.kill();
            self.end(now, r, exit, Ending::Preempted)?;
        }
        Ok(())
    }
}
