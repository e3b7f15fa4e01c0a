//! Task groups in a run (Mesos `LAUNCH_GROUP`, mesos-semantics.md §4.1, Mesos's
//! `docs/nested-container-and-task-group.md`): a framework with
//! `[frameworks.task_group]` submits its jobs as groups, launches each group all or
//! nothing from one offer together with the default executor's own resources, and the
//! executor's resources return to the allocator when its last task ends.
//!
//! The default executor's restart policy is modelled as Mesos's
//! `src/launcher/default_executor.cpp` has it: when a task of a group terminates as
//! `TASK_FAILED` or `TASK_KILLED`, the executor kills every other active task of the
//! group ("the default restart policy for a task group is to kill all the remaining
//! child containers if one of them terminated with a non-zero exit code"); they end
//! `TASK_KILLED`. With `share_cgroups = true` a memory overrun destroys the executor's
//! whole container instead: every task ends `TASK_FAILED` /
//! `REASON_CONTAINER_LIMITATION_MEMORY` at once (see `sim/usage.rs`).
//!
//! Only a group's leader sits in its framework's pending queue; the other members are
//! picked with it. A dropped group (its offer was rescinded) is resubmitted whole.

use std::collections::BTreeMap;

use models::allocator::{AgentId, FrameworkId};
use models::resources::Resources;
use serde::{Deserialize, Serialize};
use sim_core::engine::Context;
use sim_core::time::{SimDuration, SimTime};

use super::eventlog::LogRecord;
use super::events::Event;
use super::ids::TaskId;
use super::res;
use super::stats::round6;
use super::task::{TaskReason, TaskState};
use super::world::{TaskRt, World};
use crate::scenario::{Scenario, TaskGroupDef};

/// `task_groups` in `summary.json` (present only when a framework launches groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupsSummary {
    /// Groups submitted by the frameworks (a dropped and resubmitted group counts once).
    pub submitted: u64,
    /// Groups launched on an agent (all their tasks at once).
    pub launched: u64,
    /// Groups whose every task finished.
    pub finished: u64,
    /// Groups that lost a task to a failure or kill (the rest were killed with it).
    pub failed: u64,
    /// Groups whose executor container was destroyed whole (shared cgroups over
    /// their memory limit, or the executor chosen by the OOM killer).
    pub executor_containers_destroyed: u64,
    /// Tasks the default executor killed because a sibling failed.
    pub tasks_killed_by_executor: u64,
    /// Figures of groups with `share_cgroups = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_level: Option<IsolationFigures>,
    /// Figures of groups with `share_cgroups = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_level: Option<IsolationFigures>,
}

/// What the tasks of one isolation mode did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationFigures {
    /// Groups launched with this isolation.
    pub groups_launched: u64,
    /// Task-seconds held at a CFS quota (the task's own, or the executor
    /// container's with shared cgroups) while wanting more.
    pub throttled_task_seconds: f64,
    /// CPU-seconds used above the tasks' requests.
    pub cpu_seconds_above_request: f64,
    /// Tasks that ended `TASK_FAILED` / `REASON_CONTAINER_LIMITATION_MEMORY`.
    pub memory_limit_kills: u64,
    /// Tasks that ended `TASK_KILLED` by the default executor.
    pub tasks_killed_by_executor: u64,
    /// Tasks with CPU work that finished.
    pub work_tasks_finished: u64,
    /// Their mean running time, seconds.
    pub mean_runtime_s: f64,
}

/// Per-isolation figures the usage model measures (index 0: shared cgroups,
/// 1: task-level), raw integers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ModeUsage {
    /// Task × ns held at a quota.
    pub throttled: u128,
    /// Milli-CPU × ns above requests.
    pub above_request: u128,
    /// Memory-limit kills.
    pub limit_kills: u64,
    /// Summed running time of finished work tasks, ns, and their count.
    pub runtime: (u128, u64),
}

struct GroupRt {
    framework: usize,
    /// Members in launch order; the first is the leader.
    members: Vec<TaskId>,
    /// Member index in the definition's `tasks`, per member.
    member_def: Vec<usize>,
    /// Each member's run time and the group's submission time, kept here so a group
    /// dropped whole is resubmitted alike after its members' records were released.
    durations: Vec<SimDuration>,
    submitted: SimTime,
    /// The executor's resources as picked from the offer.
    executor: Resources,
    agent: Option<usize>,
    role: String,
    ended: usize,
    dropped: usize,
    /// The default executor is killing the group (or its container died whole).
    killing: bool,
    failed: bool,
}

/// The task groups of a run.
pub(crate) struct GroupSim {
    groups: Vec<GroupRt>,
    of_task: BTreeMap<TaskId, u32>,
    submitted: u64,
    launched: [u64; 2],
    finished: u64,
    failed: u64,
    destroyed: u64,
    killed_by_executor: [u64; 2],
}

/// How a task of a group is isolated, for the usage model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupLink {
    /// The group.
    pub id: u32,
    /// `share_cgroups`.
    pub shared: bool,
    /// The executor's cpus and mem, milli-units.
    pub executor_cpus: i64,
    /// See `executor_cpus`.
    pub executor_mem: i64,
    /// The task's index in the group definition's `tasks`.
    pub member: usize,
}

fn mode(shared: bool) -> usize {
    if shared {
        0
    } else {
        1
    }
}

impl GroupSim {
    /// The state for `scenario`, or `None` when no framework launches groups.
    pub fn new(scenario: &Scenario) -> Option<GroupSim> {
        scenario
            .frameworks
            .iter()
            .any(|f| f.task_group.is_some())
            .then(|| GroupSim {
                groups: Vec::new(),
                of_task: BTreeMap::new(),
                submitted: 0,
                launched: [0; 2],
                finished: 0,
                failed: 0,
                destroyed: 0,
                killed_by_executor: [0; 2],
            })
    }

    /// The summary section; `modes` are the usage model's per-isolation figures.
    pub fn summary(&self, scenario: &Scenario, modes: [ModeUsage; 2]) -> TaskGroupsSummary {
        let used = |shared: bool| {
            scenario
                .frameworks
                .iter()
                .filter_map(|f| f.task_group.as_ref())
                .any(|g| g.share_cgroups == shared)
        };
        let figures = |shared: bool| {
            let i = mode(shared);
            let m = modes[i];
            used(shared).then(|| IsolationFigures {
                groups_launched: self.launched[i],
                throttled_task_seconds: round6(m.throttled as f64 / 1e9),
                cpu_seconds_above_request: round6(m.above_request as f64 / 1e12),
                memory_limit_kills: m.limit_kills,
                tasks_killed_by_executor: self.killed_by_executor[i],
                work_tasks_finished: m.runtime.1,
                mean_runtime_s: if m.runtime.1 == 0 {
                    0.0
                } else {
                    round6(m.runtime.0 as f64 / 1e9 / m.runtime.1 as f64)
                },
            })
        };
        TaskGroupsSummary {
            submitted: self.submitted,
            launched: self.launched.iter().sum(),
            finished: self.finished,
            failed: self.failed,
            executor_containers_destroyed: self.destroyed,
            tasks_killed_by_executor: self.killed_by_executor.iter().sum(),
            executor_level: figures(true),
            task_level: figures(false),
        }
    }
}

impl World<'_, '_> {
    fn group_def(&self, fw: usize) -> Option<&TaskGroupDef> {
        self.scenario.frameworks[self.frameworks[fw].def]
            .task_group
            .as_ref()
    }

    /// Whether framework `fw` launches task groups.
    pub(super) fn group_def_of(&self, fw: usize) -> bool {
        self.group_def(fw).is_some()
    }

    /// How many tasks one group of framework `fw` has (1 without task groups).
    pub(super) fn group_size(&self, fw: usize) -> usize {
        self.group_def(fw).map_or(1, |g| g.members().count())
    }

    /// Submits a job of framework `fw` as groups: `durations` holds one running time
    /// per task, `group_size` of them per group.
    pub(super) fn group_submit(&mut self, now: SimTime, fw: usize, durations: &[u64]) {
        let size = self.group_size(fw);
        for chunk in durations.chunks(size) {
            let d: Vec<SimDuration> = chunk.iter().map(|&d| SimDuration::from_nanos(d)).collect();
            self.group_submit_one(now, fw, &d, now);
        }
    }

    fn group_submit_one(
        &mut self,
        now: SimTime,
        fw: usize,
        durations: &[SimDuration],
        submitted: SimTime,
    ) {
        let def = self.group_def(fw).expect("a task-group framework");
        let members: Vec<(usize, Resources)> = def
            .members()
            .map(|(i, t)| (i, t.resources.clone()))
            .collect();
        let gid = self.groups.as_ref().expect("groups present").groups.len() as u32;
        let role = self.frameworks[fw].role.clone();
        let fresh = submitted == now;
        let mut ids = Vec::with_capacity(members.len());
        for ((_, request), d) in members.iter().zip(durations) {
            let id = TaskId(self.tasks.len() as u32);
            self.tasks.push(TaskRt::pending(
                fw,
                request.clone(),
                role.clone(),
                Some(*d),
                submitted,
                TaskState::Finished,
            ));
            if fresh {
                self.stats.task_submitted(fw, now);
            }
            ids.push(id);
        }
        // Only the leader waits in the queue; the others launch with it.
        self.frameworks[fw].pending.push_back_unknown(ids[0]);
        let g = self.groups.as_mut().expect("groups present");
        for id in &ids {
            g.of_task.insert(*id, gid);
        }
        g.groups.push(GroupRt {
            framework: fw,
            members: ids,
            member_def: members.iter().map(|(i, _)| *i).collect(),
            durations: durations.to_vec(),
            submitted,
            executor: Resources::default(),
            agent: None,
            role: String::new(),
            ended: 0,
            dropped: 0,
            killing: false,
            failed: false,
        });
        if fresh {
            g.submitted += 1;
        }
    }

    /// The framework considers pending `task` for an offer with `remaining` left.
    /// `None`: not a group leader. `Some(None)`: its group does not fit whole.
    /// `Some(Some(members))`: every member and the executor picked from `remaining`.
    pub(super) fn group_pick(
        &mut self,
        task: TaskId,
        remaining: &mut Resources,
        role: &str,
    ) -> Option<Option<Vec<TaskId>>> {
        let g = self.groups.as_ref()?;
        let gid = *g.of_task.get(&task)?;
        let group = &g.groups[gid as usize];
        let fw = group.framework;
        let executor = self
            .group_def(fw)
            .expect("a task-group framework")
            .executor
            .clone();
        let members = group.members.clone();
        let mut left = remaining.clone();
        let Some(exec) = res::pick(&left, &executor, role) else {
            return Some(None);
        };
        left = res::subtract(&left, &exec);
        let mut picked = Vec::with_capacity(members.len());
        for m in &members {
            let Some(p) = res::pick(&left, &self.tasks[m.0 as usize].request, role) else {
                return Some(None);
            };
            left = res::subtract(&left, &p);
            picked.push(p);
        }
        *remaining = left;
        for (m, p) in members.iter().zip(picked) {
            let t = &mut self.tasks[m.0 as usize];
            t.resources = p;
            t.role = role.into();
        }
        let group = &mut self.groups.as_mut().expect("checked").groups[gid as usize];
        group.executor = exec;
        group.role = role.to_string();
        Some(Some(members))
    }

    /// The master checks an ACCEPT's task groups (`LAUNCH_GROUP`): a group whose
    /// tasks and executor do not all fit in `remaining` is dropped whole; a group that
    /// fits takes its executor's resources from `remaining`. Returns the launches left.
    pub(super) fn group_accept(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        launches: Vec<TaskId>,
        remaining: &mut Resources,
    ) -> Vec<TaskId> {
        let Some(g) = self.groups.as_ref() else {
            return launches;
        };
        let mut leaders: Vec<u32> = Vec::new();
        for t in &launches {
            if let Some(&gid) = g.of_task.get(t) {
                if g.groups[gid as usize].members[0] == *t {
                    leaders.push(gid);
                }
            }
        }
        let mut dropped: Vec<TaskId> = Vec::new();
        for gid in leaders {
            let group = &self.groups.as_ref().expect("checked").groups[gid as usize];
            let mut need = group.executor.clone();
            for m in &group.members {
                need.add_assign(&self.tasks[m.0 as usize].resources);
            }
            if !remaining.contains(&need) {
                dropped.extend(group.members.iter().copied());
                continue;
            }
            *remaining = res::subtract(remaining, &group.executor);
            let shared = self
                .group_def(group.framework)
                .is_some_and(|d| d.share_cgroups);
            let now = ctx.now();
            let (fw, exec) = (group.framework, group.executor.clone());
            let first = group.members[0];
            self.log.record(LogRecord {
                t_ns: now.as_nanos(),
                kind: "launch_group",
                framework: Some(self.framework_name(fw)),
                agent: Some(&self.agents[agent].name),
                resources: Some(&exec),
                task: Some(first.0),
                detail: Some(format!("share_cgroups={shared}")),
                ..LogRecord::default()
            });
            self.stats.executor_held(now, fw, &exec, 1);
            let g = self.groups.as_mut().expect("checked");
            g.groups[gid as usize].agent = Some(agent);
            g.launched[mode(shared)] += 1;
        }
        for t in &dropped {
            self.drop_task(ctx, *t);
        }
        launches
            .into_iter()
            .filter(|t| !dropped.contains(t))
            .collect()
    }

    /// How `task` is isolated, when it belongs to a group.
    pub(super) fn group_link(&self, task: TaskId) -> Option<GroupLink> {
        let g = self.groups.as_ref()?;
        let gid = *g.of_task.get(&task)?;
        let group = &g.groups[gid as usize];
        let def = self.group_def(group.framework)?;
        let pos = group.members.iter().position(|m| *m == task)?;
        let scalar = |n: &str| {
            group
                .executor
                .scalar_milli(&models::resources::ResourceName::new(n))
        };
        Some(GroupLink {
            id: gid,
            shared: def.share_cgroups,
            executor_cpus: scalar("cpus"),
            executor_mem: scalar("mem"),
            member: group.member_def[pos],
        })
    }

    /// The executor container of group `gid` was destroyed whole: its tasks die
    /// together (the caller ends them) rather than by the executor's kill policy.
    pub(super) fn group_destroyed(&mut self, gid: u32) {
        let Some(g) = self.groups.as_mut() else {
            return;
        };
        let group = &mut g.groups[gid as usize];
        if !group.killing {
            group.killing = true;
            g.destroyed += 1;
        }
    }

    /// A task ended (`end_task`): the default executor kills the rest of its group
    /// when it failed or was killed; the last task's end frees the executor.
    pub(super) fn group_task_ended(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        state: TaskState,
        reason: Option<TaskReason>,
    ) {
        let Some(g) = self.groups.as_mut() else {
            return;
        };
        let Some(&gid) = g.of_task.get(&task) else {
            return;
        };
        let group = &mut g.groups[gid as usize];
        group.ended += 1;
        let failure = matches!(state, TaskState::Failed | TaskState::Killed);
        if failure {
            group.failed = true;
        }
        let mut to_kill = Vec::new();
        // Kills the master itself reports (framework or agent removed) take every task
        // anyway; the executor's policy acts on what its own tasks did.
        let by_master = matches!(
            reason,
            Some(TaskReason::AgentRemoved | TaskReason::FrameworkRemoved)
        );
        if failure && !by_master && !group.killing {
            group.killing = true;
            to_kill = group.members.clone();
        }
        if group.ended == group.members.len() {
            let (fw, agent, role, exec, failed) = (
                group.framework,
                group.agent,
                group.role.clone(),
                std::mem::take(&mut group.executor),
                group.failed,
            );
            for m in std::mem::take(&mut group.members) {
                g.of_task.remove(&m);
            }
            if failed {
                g.failed += 1;
            } else {
                g.finished += 1;
            }
            if agent.is_some() {
                self.stats.executor_held(ctx.now(), fw, &exec, -1);
            }
            if let Some(agent) = agent.filter(|a| !self.agents[*a].removed) {
                self.allocator.recover_role_resources(
                    ctx.now(),
                    FrameworkId(fw as u32),
                    &role,
                    AgentId(agent as u32),
                    &exec,
                    None,
                );
            }
        }
        let shared = self
            .group_def(self.tasks[task.0 as usize].framework)
            .is_some_and(|d| d.share_cgroups);
        for m in to_kill {
            // A sibling whose end its framework already learnt has no record left.
            if self
                .tasks
                .get(m)
                .is_some_and(|t| matches!(t.state, TaskState::Staging | TaskState::Running))
            {
                self.groups.as_mut().expect("checked").killed_by_executor[mode(shared)] += 1;
                self.end_task(ctx, m, TaskState::Killed, None);
            }
        }
    }

    /// `leader` left its queue for good (its framework was removed): the members of
    /// its group, which wait only through their leader, to be released with it; their
    /// group-map entries go too. Empty when `leader` leads no group.
    pub(super) fn group_forget_queued(&mut self, leader: TaskId) -> Vec<TaskId> {
        let Some(g) = self.groups.as_mut() else {
            return Vec::new();
        };
        let Some(&gid) = g.of_task.get(&leader) else {
            return Vec::new();
        };
        let members = std::mem::take(&mut g.groups[gid as usize].members);
        for m in &members {
            g.of_task.remove(m);
        }
        members
    }

    /// A status update of a group's task reached its framework. Returns true when it
    /// belongs to a group (so the framework's usual retry does not apply): a group is
    /// retried whole once all its tasks were dropped.
    pub(super) fn group_status(&mut self, now: SimTime, task: TaskId, state: TaskState) -> bool {
        let Some(g) = self.groups.as_mut() else {
            return false;
        };
        let Some(&gid) = g.of_task.get(&task) else {
            return false;
        };
        if state != TaskState::Dropped {
            return true;
        }
        let group = &mut g.groups[gid as usize];
        group.dropped += 1;
        if group.dropped < group.members.len() {
            return true;
        }
        let (fw, submitted) = (group.framework, group.submitted);
        let durations = std::mem::take(&mut group.durations);
        for m in std::mem::take(&mut group.members) {
            g.of_task.remove(&m);
        }
        self.group_submit_one(now, fw, &durations, submitted);
        true
    }
}
