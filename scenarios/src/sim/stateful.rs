//! Reservations and persistent volumes in the simulated master: offer operations in the accept path, operator calls from the timeline, and the `stateful` framework behaviour (reserve, create a volume, run on it, relaunch on it after a failure).
//!
//! The master validates every operation with [`models::operations::validate`] against
//! the agent's checkpointed resources and the resources its tasks use, applies it to
//! the offer (or, for operator calls, to the agent's unallocated resources after
//! rescinding offers until they cover it, each with a 5 s filter) and tells the
//! allocator (`update_allocation` / `update_available`). Each operation is applied
//! whole or not at all; a rejected one is logged with its reason and the rest of the
//! ACCEPT goes on, as Mesos drops a failed operation and carries on.
//!
//! A `stateful` framework keeps `instances` instances, at most one per agent. For an
//! instance without a volume it looks in an offer for a volume of its role nobody of
//! its own uses (and adopts it), else reserves what is missing (cpus, mem and disk,
//! for its role, by its own name as principal), creates a volume and launches on it,
//! all in one ACCEPT. An instance whose task ended keeps its volume and waits for an
//! offer from that agent to relaunch on it (data kept); when the agent is removed the
//! volume and its data are gone and the instance starts over elsewhere.

use std::sync::Arc;

use models::allocator::{AgentId, FrameworkId};
use models::operations::{
    apply, is_persistent_volume, persistent_volumes, validate, Conversion, Operation,
    OperationContext, Rejection,
};
use models::resources::{
    DiskInfo, ReservationInfo, ReservationStack, Resource, ResourceName, Resources, Value,
    VolumeMode,
};
use sim_core::engine::Context;
use sim_core::time::{SimDuration, SimTime};

use super::control::Peer;
use super::eventlog::LogRecord;
use super::events::Event;
use super::ids::{OfferId, TaskId};
use super::res;
use super::task::TaskState;
use super::tls::{ACCEPT_BYTES, DECLINE_BYTES, LAUNCH_BYTES};
use super::world::{Offer, TaskRt, World};
use crate::scenario::{Behaviour, DEFAULT_REFUSE};

/// One instance of a stateful service.
#[derive(Clone, Debug, Default)]
pub(crate) struct Instance {
    /// The agent holding its volume.
    pub agent: Option<usize>,
    /// Its volume, as it sits in offers.
    pub volume: Option<Resource>,
    /// Its current task (cleared when the framework learns the task ended).
    pub task: Option<TaskId>,
    /// It has run on its volume before: the next start is a relaunch.
    pub launched: bool,
    /// Its volume was found, not created: the first start is an adoption.
    pub adopted: bool,
}

/// What one instance does with (what is left of) an offer.
struct Plan {
    operations: Vec<Operation>,
    /// The pool after the operations and the task.
    pool: Resources,
    volume: Resource,
    task: Resources,
    adopted: bool,
}

fn single(r: &Resource) -> Resources {
    Resources::from_vec(vec![r.clone()])
}

fn volume_id(r: &Resource) -> Option<&str> {
    r.disk.as_deref().and_then(|d| d.persistence_id.as_deref())
}

/// Reserved for `role` exactly, divisible, not a volume: what a reservation made.
fn reserved_plain(r: &Resource, role: &str) -> bool {
    r.reservations.role() == Some(role)
        && r.is_choppable()
        && !r.revocable
        && !is_persistent_volume(r)
}

/// Unreserved, divisible, plain (no disk info): what may be reserved.
fn unreserved_plain(r: &Resource) -> bool {
    r.is_unreserved() && r.is_choppable() && !r.revocable && r.disk.is_none()
}

/// The scheduler's framework context for an offer made to `role`.
fn framework_ctx<'a>(
    roles: &'a [String],
    role: &'a str,
    principal: &'a str,
) -> OperationContext<'a> {
    OperationContext::framework(roles, role, Some(principal), false)
}

/// Picks the task's cpus and mem out of `pool` (never a volume) and adds `volume`.
fn task_on(pool: &Resources, want: &Resources, role: &str, volume: &Resource) -> Option<Resources> {
    let rest = pool.minus(&single(volume));
    let picked = res::pick(&rest.filter(|r| !is_persistent_volume(r)), want, role)?;
    let mut task = picked;
    task.add_resource(volume.clone());
    pool.contains(&task).then_some(task)
}

/// Plans a new instance on `pool`: adopt a free volume of the role, or reserve what is
/// missing and create one.
#[allow(clippy::too_many_arguments)]
fn plan_new(
    pool: &Resources,
    want: &Resources,
    volume_mb: u64,
    roles: &[String],
    role: &str,
    principal: &str,
    id: &str,
    reserve: bool,
    owned: &[Resource],
) -> Option<Plan> {
    let size = volume_mb as i64 * 1000;
    if let Some(v) = pool.iter().find(|r| {
        is_persistent_volume(r)
            && !r.shared
            && r.reservations.role() == Some(role)
            && r.scalar_milli() >= size
            && !owned.contains(r)
    }) {
        let task = task_on(pool, want, role, v)?;
        return Some(Plan {
            operations: Vec::new(),
            pool: pool.minus(&task),
            volume: v.clone(),
            task,
            adopted: true,
        });
    }
    let ctx = framework_ctx(roles, role, principal);
    let mut needs = want.clone();
    needs.add_resource(Resource::scalar(ResourceName::Disk, size));
    let stack = ReservationStack::new(vec![ReservationInfo::new_dynamic(role, Some(principal))]);
    let mut to_reserve = Resources::new();
    for n in needs.iter() {
        let Value::Scalar(amount) = n.value else {
            continue;
        };
        let have: i64 = pool
            .iter()
            .filter(|r| r.name == n.name && reserved_plain(r, role))
            .map(Resource::scalar_milli)
            .sum();
        let missing = amount - have;
        if missing <= 0 {
            continue;
        }
        if !reserve {
            return None;
        }
        let mut r = Resource::scalar(n.name.clone(), missing);
        r.reservations = stack.clone();
        to_reserve.add_resource(r);
    }
    let mut operations = Vec::new();
    let mut pool = pool.clone();
    if !to_reserve.is_empty() {
        // Only plain unreserved resources may be reserved here.
        let plain = pool.filter(unreserved_plain);
        if !plain.contains(&to_reserve.to_unreserved()) {
            return None;
        }
        let op = Operation::Reserve {
            source: Resources::new(),
            resources: to_reserve,
        };
        pool = apply(&pool, &validate(&op, &ctx).ok()?).ok()?;
        operations.push(op);
    }
    let disk = pool
        .iter()
        .find(|r| {
            r.name == ResourceName::Disk && reserved_plain(r, role) && r.scalar_milli() >= size
        })?
        .clone();
    let volume = Resource {
        value: Value::Scalar(size),
        disk: Some(Arc::new(DiskInfo {
            source: disk.disk.as_deref().and_then(|d| d.source.clone()),
            persistence_id: Some(id.to_string()),
            persistence_principal: Some(principal.to_string()),
            volume_path: Some("data".to_string()),
            volume_mode: Some(VolumeMode::Rw),
        })),
        ..disk
    };
    let op = Operation::Create {
        volumes: single(&volume),
    };
    pool = apply(&pool, &validate(&op, &ctx).ok()?).ok()?;
    operations.push(op);
    let task = task_on(&pool, want, role, &volume)?;
    Some(Plan {
        operations,
        pool: pool.minus(&task),
        volume,
        task,
        adopted: false,
    })
}

impl World<'_, '_> {
    /// Resources held by the staging or running tasks on `agent`.
    fn used_on(&self, agent: usize) -> Resources {
        let mut used = Resources::new();
        for t in &self.agents[agent].tasks {
            let t = &self.tasks[t.0 as usize];
            if matches!(t.state, TaskState::Staging | TaskState::Running) {
                used.add_assign(&t.resources);
            }
        }
        used
    }

    fn log_operation(
        &mut self,
        now: SimTime,
        framework: Option<usize>,
        role: Option<&str>,
        agent: usize,
        op: &Operation,
        outcome: &Result<(), Rejection>,
    ) {
        let kind = op.kind();
        let (resources, volumes) = match op {
            Operation::Reserve { resources, .. } | Operation::Unreserve { resources } => {
                (resources, 0)
            }
            Operation::Create { volumes } | Operation::Destroy { volumes } => {
                (volumes, volumes.len() as u64)
            }
            Operation::GrowVolume { volume, .. } | Operation::ShrinkVolume { volume, .. } => {
                (&single(volume), 0)
            }
        };
        let detail = match (op, outcome) {
            (Operation::Reserve { source, .. }, Ok(())) if !source.is_empty() => {
                format!("{} applied from {source}", kind.name())
            }
            (_, Ok(())) => format!("{} applied", kind.name()),
            (_, Err(why)) => format!("{} rejected: {why}", kind.name()),
        };
        if let Some(stats) = self.reservations.as_mut() {
            match outcome {
                Ok(()) => stats.applied(kind, volumes),
                Err(why) => stats.rejected(kind, why),
            }
        }
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: if framework.is_some() {
                "operation"
            } else {
                "operator_operation"
            },
            framework: framework.map(|f| self.framework_name(f)),
            role,
            agent: Some(&self.agents[agent].name),
            resources: Some(resources),
            state: Some(if outcome.is_ok() {
                "APPLIED"
            } else {
                "REJECTED"
            }),
            reason: outcome.as_ref().err().map(Rejection::reason),
            detail: Some(detail),
            ..LogRecord::default()
        });
    }

    /// Applies a framework's offer operations to what is left of its offer, in order;
    /// a rejected operation changes nothing and the next one is tried.
    pub(crate) fn apply_offer_operations(
        &mut self,
        ctx: &mut Context<'_, Event>,
        offer: &Offer,
        operations: &[Operation],
        remaining: &mut Resources,
    ) {
        let now = ctx.now();
        let def = &self.scenario.frameworks[self.frameworks[offer.framework].def];
        for op in operations {
            let used = self.used_on(offer.agent);
            let principal = def.name.as_str();
            let mut octx = OperationContext::framework(
                &def.roles,
                &offer.role,
                Some(principal),
                def.capabilities.shared_resources,
            );
            octx.checkpointed = &self.agents[offer.agent].total;
            octx.used = &used;
            let outcome = validate(op, &octx).and_then(|c| {
                let pool = apply(remaining, &c)?;
                let total = apply(&self.agents[offer.agent].total, &c)?;
                self.allocator.update_allocation(
                    now,
                    FrameworkId(offer.framework as u32),
                    &offer.role,
                    AgentId(offer.agent as u32),
                    &c,
                )?;
                *remaining = pool;
                self.agents[offer.agent].total = total;
                Ok(())
            });
            self.log_operation(
                now,
                Some(offer.framework),
                Some(&*offer.role),
                offer.agent,
                op,
                &outcome,
            );
            if let (Operation::Destroy { volumes }, Ok(())) = (op, &outcome) {
                self.rescind_offers_holding(ctx, offer.agent, volumes);
            }
        }
    }

    /// A destroyed (shared) volume may sit in other offers: the master rescinds them.
    fn rescind_offers_holding(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        volumes: &Resources,
    ) {
        let ids = self.offer_ids(|o| {
            o.agent == agent && volumes.iter().any(|v| o.resources.contains(&single(v)))
        });
        for id in ids {
            self.rescind(ctx, id, true);
        }
    }

    /// An operator call on `agent`'s unallocated resources. Offers on the agent are
    /// rescinded, oldest first with a 5 s filter, until the call's resources are
    /// available; then it applies or is rejected (409 Conflict: held by a task).
    pub(crate) fn operator_operation(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        op: &Operation,
        principal: Option<&str>,
    ) {
        let now = ctx.now();
        let used = self.used_on(agent);
        let total = self.agents[agent].total.clone();
        let mut octx = OperationContext::operator(principal);
        octx.checkpointed = &total;
        octx.used = &used;
        let outcome = validate(op, &octx).and_then(|c| {
            self.rescind_until_available(ctx, agent, &c);
            let new_total = apply(&self.agents[agent].total, &c)?;
            self.allocator
                .update_available(now, AgentId(agent as u32), &c)?;
            self.agents[agent].total = new_total;
            Ok(())
        });
        self.log_operation(now, None, None, agent, op, &outcome);
        if let (Operation::Destroy { volumes }, Ok(())) = (op, &outcome) {
            self.rescind_offers_holding(ctx, agent, volumes);
        }
    }

    fn rescind_until_available(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        conversions: &[Conversion],
    ) {
        let covered = |w: &Self| {
            w.allocator
                .available(AgentId(agent as u32))
                .is_some_and(|a| apply(&a, conversions).is_ok())
        };
        for id in self.offer_ids(|o| o.agent == agent) {
            if covered(self) {
                return;
            }
            let Some(offer) = self.offers.get(&id) else {
                continue;
            };
            let (fw, role, resources) =
                (offer.framework, offer.role.clone(), offer.resources.clone());
            self.rescind(ctx, id, false);
            let installed = self.allocator.recover_role_resources(
                ctx.now(),
                FrameworkId(fw as u32),
                &role,
                AgentId(agent as u32),
                &resources,
                Some(DEFAULT_REFUSE),
            );
            if let Some(filter) = installed {
                self.stats.filters_installed += 1;
                ctx.schedule_at(
                    filter.expires_at.max(ctx.now()),
                    Event::FilterExpired(filter.id),
                );
            }
        }
    }

    /// Creates a stateful framework's instances at registration.
    pub(crate) fn stateful_register(&mut self, fw: usize) {
        if let Behaviour::Stateful { instances, .. } =
            &self.scenario.frameworks[self.frameworks[fw].def].behaviour
        {
            self.frameworks[fw].stateful = vec![Instance::default(); *instances as usize];
        }
    }

    /// A stateful framework answers an offer: relaunch, adopt or create, then ACCEPT
    /// (operations and launches) or DECLINE.
    pub(crate) fn stateful_offer_decision(&mut self, ctx: &mut Context<'_, Event>, id: OfferId) {
        let now = ctx.now();
        let Some(offer) = self.offers.get(&id) else {
            return;
        };
        let (fw, agent, role) = (offer.framework, offer.agent, offer.role.clone());
        let mut pool = offer.resources.clone();
        let def = &self.scenario.frameworks[self.frameworks[fw].def];
        let Behaviour::Stateful {
            task_resources,
            volume_mb,
            agents,
            task_failure,
            reserve,
            ..
        } = &def.behaviour
        else {
            return;
        };
        let allowed = agents.is_empty() || agents.contains(&self.agents[agent].name);
        let mut operations = Vec::new();
        let mut launches = Vec::new();
        for i in 0..self.frameworks[fw].stateful.len() {
            let inst = &self.frameworks[fw].stateful[i];
            if inst.task.is_some() {
                continue;
            }
            let (volume, held, adopted) = match (&inst.agent, &inst.volume) {
                (Some(a), Some(v)) if *a == agent => {
                    if !pool.contains(&single(v)) {
                        continue;
                    }
                    let Some(task) = task_on(&pool, task_resources, &role, v) else {
                        continue;
                    };
                    pool = pool.minus(&task);
                    (v.clone(), task, false)
                }
                (Some(_), _) => continue,
                (None, _) => {
                    let taken = self.frameworks[fw]
                        .stateful
                        .iter()
                        .any(|x| x.agent == Some(agent));
                    if !allowed || taken {
                        continue;
                    }
                    let owned: Vec<Resource> = self.frameworks[fw]
                        .stateful
                        .iter()
                        .filter_map(|x| x.volume.clone())
                        .collect();
                    let Some(plan) = plan_new(
                        &pool,
                        task_resources,
                        *volume_mb,
                        &def.roles,
                        &role,
                        &def.name,
                        &format!("{}-{i}", def.name),
                        *reserve,
                        &owned,
                    ) else {
                        continue;
                    };
                    operations.extend(plan.operations);
                    pool = plan.pool;
                    (plan.volume, plan.task, plan.adopted)
                }
            };
            let duration = task_failure
                .as_ref()
                .map(|d| SimDuration::from_nanos(d.sample(&mut self.frameworks[fw].rng)));
            let task = TaskId(self.tasks.len() as u32);
            self.tasks.push(TaskRt {
                resources: held,
                ..TaskRt::pending(
                    fw,
                    task_resources.clone(),
                    role.clone(),
                    duration,
                    now,
                    TaskState::Failed,
                )
            });
            self.stats.task_submitted(fw, now);
            let inst = &mut self.frameworks[fw].stateful[i];
            inst.agent = Some(agent);
            inst.volume = Some(volume);
            inst.task = Some(task);
            inst.adopted = adopted;
            launches.push(task);
        }
        let refuse = def.refuse;
        let (launches_sent, operations_sent) = (launches.len() as u64, operations.len());
        let event = if launches.is_empty() && operations.is_empty() {
            Event::DeclineArrives { offer: id, refuse }
        } else {
            Event::AcceptArrives {
                offer: id,
                launches,
                refuse,
                operations,
            }
        };
        let bytes = if launches_sent == 0 && operations_sent == 0 {
            DECLINE_BYTES
        } else {
            ACCEPT_BYTES + launches_sent * LAUNCH_BYTES
        };
        ctx.schedule_after(self.recv_from(Peer::Framework(fw), bytes), event);
    }

    /// A stateful framework learns a task's state. Returns false when the task is not
    /// one of its instances.
    pub(crate) fn stateful_status(&mut self, task: TaskId, state: TaskState) -> bool {
        let fw = self.tasks[task.0 as usize].framework;
        let Some(i) = self.frameworks[fw]
            .stateful
            .iter()
            .position(|x| x.task == Some(task))
        else {
            return false;
        };
        let lost_agent = self.frameworks[fw].stateful[i]
            .agent
            .is_some_and(|a| self.agents[a].removed);
        let inst = &mut self.frameworks[fw].stateful[i];
        if state == TaskState::Running {
            if let Some(stats) = self.reservations.as_mut() {
                if inst.launched {
                    stats.relaunches_same_volume += 1;
                } else if inst.adopted {
                    stats.adopted_volume_launches += 1;
                }
            }
            inst.launched = true;
        } else if state.is_terminal() {
            inst.task = None;
            if lost_agent {
                *inst = Instance::default();
            } else if !inst.launched {
                // Never ran on it: a dropped first launch may retry anywhere, but the
                // volume (if it was created) stays the instance's.
                inst.adopted = false;
            }
        }
        true
    }

    /// An agent is gone: the data on its volumes is lost.
    pub(crate) fn lose_volumes(&mut self, now: SimTime, agent: usize) {
        let volumes = persistent_volumes(&self.agents[agent].total);
        if volumes.is_empty() {
            return;
        }
        if let Some(stats) = self.reservations.as_mut() {
            stats.volume_data_lost += volumes.len() as u64;
        }
        for v in volumes.iter() {
            let lost = single(v);
            self.log.record(LogRecord {
                t_ns: now.as_nanos(),
                kind: "volume_lost",
                agent: Some(&self.agents[agent].name),
                role: v.reservations.role(),
                resources: Some(&lost),
                detail: volume_id(v)
                    .map(|id| format!("persistent volume {id} lost with its agent")),
                ..LogRecord::default()
            });
        }
    }

    /// Samples reservation figures (when measured).
    pub(crate) fn sample_reservations(&mut self, now: SimTime) {
        let Some(stats) = self.reservations.as_mut() else {
            return;
        };
        let mut held = Resources::new();
        for t in &self.tasks {
            if matches!(t.state, TaskState::Staging | TaskState::Running) {
                held.add_assign(&t.resources);
            }
        }
        let totals = self.agents.iter().filter(|a| !a.removed).map(|a| &a.total);
        stats.sample(now, totals, &held);
    }

    /// Persistent volumes on the live agents.
    pub(crate) fn volumes_now(&self) -> u64 {
        self.agents
            .iter()
            .filter(|a| !a.removed)
            .map(|a| persistent_volumes(&a.total).len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    fn plan(pool: &str, reserve: bool, owned: &[Resource]) -> Option<Plan> {
        let roles = vec!["db".to_string()];
        plan_new(
            &r(pool),
            &r("cpus:1;mem:256"),
            100,
            &roles,
            "db",
            "db",
            "db-0",
            reserve,
            owned,
        )
    }

    #[test]
    fn a_new_instance_reserves_what_is_missing_and_creates_its_volume() {
        let p = plan("cpus:4;mem:1024;disk:500;cpus(dyn:db@db):0.5", true, &[]).unwrap();
        assert_eq!(
            p.operations,
            vec![
                Operation::Reserve {
                    source: Resources::new(),
                    resources: r("cpus(dyn:db@db):0.5;mem(dyn:db@db):256;disk(dyn:db@db):100"),
                },
                Operation::Create {
                    volumes: r("disk(dyn:db@db)[id=db-0,principal=db,path=data,mode=RW]:100"),
                },
            ]
        );
        assert_eq!(
            p.task,
            r("cpus(dyn:db@db):1;mem(dyn:db@db):256;disk(dyn:db@db)[id=db-0,principal=db,path=data,mode=RW]:100")
        );
        assert_eq!(p.pool, r("cpus:3.5;mem:768;disk:400"));
        assert!(!p.adopted);
    }

    #[test]
    fn static_reservations_need_no_reserve_and_found_volumes_are_adopted() {
        let p = plan("cpus(db):2;mem(db):512;disk(db):200", false, &[]).unwrap();
        assert_eq!(p.operations.len(), 1);
        assert!(plan("cpus:2;mem:512;disk:200", false, &[]).is_none());
        let found = "disk(dyn:db@ops)[id=x,path=data]:100";
        let pool = format!("cpus(dyn:db@ops):1;mem:512;{found}");
        let p = plan(&pool, true, &[]).unwrap();
        assert!(p.adopted && p.operations.is_empty());
        assert_eq!(p.volume, r(found).as_slice()[0]);
        // A volume another instance owns is not taken.
        let owned = vec![r(found).as_slice()[0].clone()];
        let p = plan(&format!("{pool};disk:100"), true, &owned).unwrap();
        assert!(!p.adopted);
    }
}
