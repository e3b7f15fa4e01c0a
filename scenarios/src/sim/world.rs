//! The simulated cluster: a Mesos master (offers, accepts, declines, rescinds, operator
//! calls), its agents and its frameworks, driven by the engine around a
//! [`models::allocator::Allocator`].
//!
//! The master keeps the books Mesos's master keeps (outstanding offers, tasks per
//! agent) and asks the allocator every question Mesos's master asks it, at the same
//! moments: the allocator is the production code, this file is the world around it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use models::allocator::{
    AgentId, AgentInfo, Allocation, Allocator, Candidates, FrameworkCapabilities, FrameworkId,
    FrameworkInfo, Quota,
};
use models::operations::{Operation, OperationKind};
use models::resources::Resources;
use rand::RngCore;
use sim_core::engine::{Context, Handler, TimerId};
use sim_core::rng::{RngStreams, SimRng};
use sim_core::time::{SimDuration, SimTime};

use super::control::Peer;
use super::eventlog::{EventLog, LogRecord};
use super::events::Event;
use super::ids::{OfferId, TaskId};
use super::network::NetSim;
use super::pending::{Need, TaskQueue};
use super::replay::Feeder;
use super::replay_feed::{Fed, FedKind};
use super::res;
use super::reservations::{self, ReservationStats};
use super::stateful::Instance;
use super::stats::Stats;
use super::task::{TaskReason, TaskState};
use super::tasks::TaskTable;
use super::tls::{
    ACCEPT_BYTES, DECLINE_BYTES, LAUNCH_BYTES, OFFER_BYTES, REGISTRATION_BYTES, STATUS_BYTES,
};
use crate::scenario::{Action, AgentDef, Behaviour, Scenario};

/// A runtime problem the scenario caused (e.g. a timeline step that matches nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// Index of the step in time order.
    pub step: usize,
    /// When it ran.
    pub at: SimTime,
    /// What went wrong.
    pub message: String,
}

pub(crate) struct AgentRt {
    pub name: String,
    pub total: Resources,
    pub removed: bool,
    pub tasks: BTreeSet<TaskId>,
}

pub(crate) struct FrameworkRt {
    pub def: usize,
    pub registered: bool,
    /// Its SUBSCRIBE is on its way (a replay band's framework, at its first task).
    pub registering: bool,
    pub removed: bool,
    pub active: bool,
    /// Suppressed by its own idle logic (scripted suppression is the allocator's).
    pub self_suppressed: bool,
    pub pending: TaskQueue,
    pub rng: SimRng,
    pub jobs_submitted: u64,
    /// A stateful framework's instances (empty for other behaviours).
    pub stateful: Vec<Instance>,
    /// Its first role, which its queued tasks carry (shared, not copied per task).
    pub role: Arc<str>,
}

pub(crate) struct Offer {
    pub framework: usize,
    /// Shared with the allocator's role table (an offer copies no string).
    pub role: Arc<str>,
    pub agent: usize,
    pub resources: Resources,
    pub timeout: Option<TimerId>,
}

pub(crate) struct TaskRt {
    pub framework: usize,
    /// What the task asks for (unreserved notation).
    pub request: Resources,
    /// The concrete resources it holds once launched.
    pub resources: Resources,
    /// Its framework's role while queued, the offer's role once launched.
    pub role: Arc<str>,
    pub agent: Option<usize>,
    pub duration: Option<SimDuration>,
    pub submitted: SimTime,
    pub state: TaskState,
    pub done_timer: Option<TimerId>,
    /// When it started running on its agent.
    pub started: Option<SimTime>,
    /// The state its work ends in (a replayed trace may say it failed or was killed).
    pub end_state: TaskState,
    /// Status updates about it still on their way to the master or its framework; a
    /// finished task's record is released once the last one arrives.
    pub status_in_flight: u16,
    /// The trace withdrew it while its DROPPED status was on the way to its framework,
    /// which therefore does not resubmit it.
    pub withdrawn: bool,
    /// The slot of the replayed trace's task this task currently stands for, while
    /// the trace may still end it (the reverse of the feeder's map).
    pub trace_slot: Option<u32>,
}

impl TaskRt {
    /// A task waiting in its framework's queue, holding nothing yet.
    pub fn pending(
        framework: usize,
        request: Resources,
        role: Arc<str>,
        duration: Option<SimDuration>,
        submitted: SimTime,
        end_state: TaskState,
    ) -> TaskRt {
        TaskRt {
            framework,
            request,
            resources: Resources::default(),
            role,
            agent: None,
            duration,
            submitted,
            state: TaskState::Pending,
            done_timer: None,
            started: None,
            end_state,
            status_in_flight: 0,
            withdrawn: false,
            trace_slot: None,
        }
    }
}

/// Upper bound on the pending tasks a framework scans per offer: schedulers look at
/// the head of their queue, not all of it, and this keeps an offer O(1) in queue size.
const MAX_TASKS_SCANNED_PER_OFFER: usize = 256;

pub(crate) struct World<'s, 'l> {
    pub scenario: &'s Scenario,
    pub allocator: Box<dyn Allocator>,
    pub agents: Vec<AgentRt>,
    agent_by_name: BTreeMap<String, usize>,
    pub frameworks: Vec<FrameworkRt>,
    framework_by_name: BTreeMap<String, usize>,
    pub offers: super::offers::OfferTable,
    next_offer: u64,
    pub tasks: TaskTable<TaskRt>,
    triggered_scheduled: bool,
    pub log: EventLog<'l>,
    pub stats: Stats,
    pub error: Option<StepError>,
    /// The step whose expectation window is open, and the offers made since it ran.
    open_step: Option<usize>,
    offers_since_step: Vec<MadeOffer>,
    /// Check resource invariants after every event (tests).
    pub check_invariants: bool,
    /// The trace being replayed, if any.
    pub feeder: Option<Feeder>,
    /// Reservation and volume figures, when the scenario uses them.
    pub reservations: Option<ReservationStats>,
    /// The resource usage model, when the scenario uses it.
    pub usage: Option<super::usage::UsageModel>,
    /// The network, when the scenario models it.
    pub net: Option<NetSim>,
    /// The agents' fetchers, when tasks fetch URIs.
    pub fetcher: Option<super::fetcher::FetchSim>,
    /// TLS, the master's CPU and executor transports, when the scenario models them.
    pub tls: Option<super::tls::TlsSim>,
    /// Task groups, when a framework launches them.
    pub groups: Option<super::task_group::GroupSim>,
}

/// An offer as the expectation check sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MadeOffer {
    pub framework: String,
    pub role: String,
    pub agent: String,
    pub resources: Resources,
}

impl std::fmt::Display for MadeOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}] {}: {}",
            self.framework, self.role, self.agent, self.resources
        )
    }
}

fn join_offers<'a>(offers: impl Iterator<Item = &'a MadeOffer>) -> String {
    offers
        .map(MadeOffer::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'s, 'l> World<'s, 'l> {
    pub fn new(
        scenario: &'s Scenario,
        allocator: Box<dyn Allocator>,
        streams: &RngStreams,
        log: EventLog<'l>,
    ) -> Self {
        let frameworks = scenario
            .frameworks
            .iter()
            .enumerate()
            .map(|(i, f)| FrameworkRt {
                def: i,
                registered: false,
                registering: false,
                removed: false,
                active: false,
                self_suppressed: false,
                pending: TaskQueue::default(),
                rng: streams.stream(&format!("framework/{}/workload", f.name)),
                jobs_submitted: 0,
                stateful: Vec::new(),
                role: f
                    .roles
                    .first()
                    .map_or_else(|| Arc::from(""), |r| Arc::from(r.as_str())),
            })
            .collect();
        let framework_by_name = scenario
            .frameworks
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        World {
            scenario,
            allocator,
            agents: Vec::new(),
            agent_by_name: BTreeMap::new(),
            frameworks,
            framework_by_name,
            offers: Default::default(),
            next_offer: 1,
            tasks: TaskTable::default(),
            triggered_scheduled: false,
            log,
            stats: Stats::new(scenario, &[]),
            error: None,
            open_step: None,
            offers_since_step: Vec::new(),
            check_invariants: false,
            feeder: None,
            reservations: reservations::used_by(scenario).then(ReservationStats::new),
            usage: super::usage::UsageModel::new(scenario, streams),
            net: scenario.network.as_ref().map(|def| {
                NetSim::new(
                    def,
                    scenario.frameworks.len(),
                    streams.stream("network/peers"),
                )
            }),
            fetcher: scenario
                .fetcher
                .as_ref()
                .map(|def| super::fetcher::FetchSim::new(def, scenario)),
            tls: scenario.tls.as_ref().map(super::tls::TlsSim::new),
            groups: super::task_group::GroupSim::new(scenario),
        }
    }

    /// Schedules everything the scenario fixes in advance and applies the operator's
    /// initial weights and quota.
    pub fn start(&mut self, engine: &mut sim_core::engine::Engine<Event>) {
        let weights: Vec<(String, f64)> = self
            .scenario
            .roles
            .iter()
            .filter(|r| r.weight != 1.0)
            .map(|r| (r.name.clone(), r.weight))
            .collect();
        if !weights.is_empty() {
            self.allocator.update_weights(SimTime::ZERO, &weights);
        }
        for r in &self.scenario.roles {
            if r.guarantees.is_some() || r.limits.is_some() {
                let quota = Quota {
                    guarantees: r.guarantees.clone().unwrap_or_default(),
                    limits: r.limits.clone().unwrap_or_default().into(),
                };
                self.allocator.update_quota(SimTime::ZERO, &r.name, quota);
            }
        }
        // Agents register in definition order, so agent i becomes the world's agent i.
        for (i, a) in self.scenario.agents.iter().enumerate() {
            let trip = self.registration_delay(Peer::Agent(i), REGISTRATION_BYTES);
            engine.schedule_at(a.start + trip, Event::RegisterAgent(i));
        }
        for (i, f) in self.scenario.frameworks.iter().enumerate() {
            if let Some(start) = f.start {
                let trip = self.registration_delay(Peer::Framework(i), REGISTRATION_BYTES);
                engine.schedule_at(start + trip, Event::RegisterFramework(i));
            }
        }
        if let Some(first) = self.scenario.timeline.first() {
            engine.schedule_at(first.at, Event::TimelineStep(0));
        }
        engine.schedule_at(
            SimTime::ZERO + self.scenario.master.allocation_interval,
            Event::PeriodicAllocation,
        );
        engine.schedule_at(SimTime::ZERO, Event::Sample);
        if let Some(t) = self.feeder.as_mut().and_then(Feeder::next_time) {
            engine.schedule_at(t, Event::TraceNext);
        }
    }

    /// Applies every trace record due now, then waits for the next one.
    fn on_trace_next(&mut self, ctx: &mut Context<'_, Event>) {
        let now = ctx.now();
        while let Some(record) = self.feeder.as_mut().and_then(|f| f.take_due(now)) {
            self.apply_record(ctx, record);
        }
        self.replay_usage_flush(ctx);
        let next = self.feeder.as_mut().and_then(Feeder::next_time);
        match next {
            Some(t) => {
                ctx.schedule_at(t.max(now), Event::TraceNext);
            }
            None => {
                if self.feeder.as_ref().is_some_and(|f| f.error.is_some()) {
                    ctx.stop();
                }
            }
        }
    }

    fn apply_record(&mut self, ctx: &mut Context<'_, Event>, record: Fed) {
        use traces::{LifecycleEvent as L, MachineEventKind};
        let now = ctx.now();
        let feeder = self.feeder.as_mut().expect("records come from the feeder");
        match record.what {
            FedKind::Machine {
                machine,
                kind,
                capacity,
            } => {
                let name = format!("m{machine}");
                let live = self
                    .agent_by_name
                    .get(&name)
                    .copied()
                    .filter(|a| !self.agents[*a].removed);
                match (kind, live, capacity) {
                    (MachineEventKind::Remove, Some(a), _) => {
                        feeder.summary.machines_removed += 1;
                        self.remove_agent(ctx, a);
                    }
                    (MachineEventKind::Add | MachineEventKind::Update, Some(a), Some(total)) => {
                        if total != self.agents[a].total {
                            self.stats.agent_removed(now, &self.agents[a].total);
                            self.stats.agent_added(now, &total);
                            self.agents[a].total = total.clone();
                            self.allocator
                                .update_agent(now, AgentId(a as u32), total, Vec::new());
                            self.trigger_allocation(ctx);
                        }
                    }
                    (MachineEventKind::Add | MachineEventKind::Update, None, Some(resources)) => {
                        feeder.summary.machines_added += 1;
                        let def = AgentDef {
                            name,
                            resources,
                            attributes: Vec::new(),
                            start: now,
                        };
                        self.register_agent(ctx, &def, &[]);
                    }
                    (MachineEventKind::Remove, None, _) => {}
                    (_, _, None) => feeder.summary.machines_skipped += 1,
                }
            }
            FedKind::SubmitSkipped => feeder.summary.task_submissions_skipped += 1,
            FedKind::Submit {
                slot,
                framework: fw,
                request,
            } => {
                feeder.summary.task_submissions += 1;
                debug_assert!(self.framework_name(fw).starts_with("trace-"));
                let id = self.submit_task(now, fw, request, None);
                let feeder = self.feeder.as_mut().expect("feeder");
                if let Some(old) = feeder.track(slot, id) {
                    if let Some(t) = self.tasks.get_mut(old) {
                        t.trace_slot = None;
                    }
                }
                self.tasks[id.0 as usize].trace_slot = Some(slot);
                self.wake_framework(ctx, fw);
                self.subscribe_on_first_task(ctx, fw);
            }
            FedKind::Schedule { slot } => {
                if let Some(slot) = slot {
                    feeder.scheduled(slot, record.time);
                }
            }
            FedKind::End { kind, slot } => {
                let (end_state, counter) = match kind {
                    L::Finish => (TaskState::Finished, &mut feeder.summary.trace_finishes),
                    L::Fail => (TaskState::Failed, &mut feeder.summary.trace_failures),
                    L::Kill => (TaskState::Killed, &mut feeder.summary.trace_kills),
                    L::Evict => (TaskState::Killed, &mut feeder.summary.trace_evictions),
                    _ => (TaskState::Lost, &mut feeder.summary.trace_lost),
                };
                *counter += 1;
                let Some((id, runtime)) = slot.and_then(|s| feeder.ended(s, record.time)) else {
                    return;
                };
                if let Some(t) = self.tasks.get_mut(id) {
                    t.trace_slot = None;
                }
                self.end_traced_task(ctx, id, runtime, end_state);
                self.replay_usage_forget(id);
            }
            FedKind::Usage { sample, slot } => self.replay_usage_sample(*sample, slot),
            FedKind::Ignored => {}
        }
    }

    /// The trace says a task's run ended after `runtime` (unknown if the trace never
    /// scheduled it): the simulated task runs that long from its own start.
    fn end_traced_task(
        &mut self,
        ctx: &mut Context<'_, Event>,
        id: TaskId,
        runtime: Option<SimDuration>,
        end_state: TaskState,
    ) {
        let now = ctx.now();
        let Some(t) = self.tasks.get_mut(id) else {
            return; // ended in the simulation and released
        };
        t.end_state = end_state;
        match (t.state, runtime) {
            (TaskState::Pending, Some(d)) => t.duration = Some(d),
            (TaskState::Pending, None) => {
                // Withdrawn before it ever ran in the trace: it leaves the queue (or,
                // picked for an ACCEPT on its way, is left out of it on arrival).
                t.state = TaskState::Killed;
                let fw = t.framework;
                if self.frameworks[fw].pending.remove(id) {
                    // Nothing else refers to a task that only waited in the queue.
                    self.tasks.release(id);
                }
                self.stats.task_ended(now, fw, TaskState::Killed);
                if let Some(f) = self.feeder.as_mut() {
                    f.summary.withdrawn_before_start += 1;
                }
            }
            // Dropped, its framework about to learn it: the retry runs as the trace
            // ran it, or, if the trace withdrew it before it ever ran, is not made.
            (TaskState::Dropped, Some(d)) => t.duration = Some(d),
            (TaskState::Dropped, None) => {
                t.withdrawn = true;
                let fw = t.framework;
                self.stats.task_ended(now, fw, TaskState::Killed);
                if let Some(f) = self.feeder.as_mut() {
                    f.summary.withdrawn_before_start += 1;
                }
            }
            (TaskState::Staging, d) => t.duration = Some(d.unwrap_or(SimDuration::ZERO)),
            (TaskState::Running, d) => {
                let started = t.started.unwrap_or(now);
                let end = (started + d.unwrap_or(SimDuration::ZERO)).max(now);
                if let Some(old) = t.done_timer.take() {
                    ctx.cancel(old);
                }
                t.done_timer = Some(ctx.schedule_at(end, Event::TaskWorkDone(id)));
            }
            _ => {}
        }
    }

    pub(crate) fn latency(&self) -> SimDuration {
        self.scenario.master.message_latency
    }

    /// A framework's name, borrowed from the scenario (not from the world, so it can
    /// sit in a log record while the world is mutated).
    pub(crate) fn framework_name(&self, fw: usize) -> &'s str {
        let scenario: &'s Scenario = self.scenario;
        &scenario.frameworks[self.frameworks[fw].def].name
    }

    /// Asks for an event-triggered cycle; the allocator batches the candidates and the
    /// cycle runs after everything already due at this instant.
    pub(super) fn trigger_allocation(&mut self, ctx: &mut Context<'_, Event>) {
        if !self.triggered_scheduled {
            self.triggered_scheduled = true;
            ctx.schedule_after(SimDuration::ZERO, Event::TriggeredAllocation);
        }
    }

    fn run_allocation(&mut self, ctx: &mut Context<'_, Event>, candidates: &Candidates) {
        let now = ctx.now();
        let allocations = self.allocator.allocate(now, candidates);
        self.stats.allocation_cycles += 1;
        for a in allocations {
            self.make_offer(ctx, a);
        }
    }

    fn make_offer(&mut self, ctx: &mut Context<'_, Event>, a: Allocation) {
        let now = ctx.now();
        let fw = a.framework.0 as usize;
        let agent = a.agent.0 as usize;
        if !self.frameworks[fw].active {
            // Mesos's master recovers offers for inactive frameworks with no filter.
            self.allocator.recover_role_resources(
                now,
                a.framework,
                &a.role,
                a.agent,
                &a.resources,
                None,
            );
            return;
        }
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        let timeout = self
            .scenario
            .master
            .offer_timeout
            .map(|t| ctx.schedule_after(t, Event::OfferTimeout(id)));
        self.stats.offers += 1;
        self.usage_offer_made(&a.resources);
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "offer",
            framework: Some(self.framework_name(fw)),
            role: Some(&*a.role),
            agent: Some(&self.agents[agent].name),
            resources: Some(&a.resources),
            offer: Some(id.0),
            ..LogRecord::default()
        });
        if self.open_step.is_some() {
            self.offers_since_step.push(MadeOffer {
                framework: self.framework_name(fw).to_string(),
                role: a.role.to_string(),
                agent: self.agents[agent].name.clone(),
                resources: a.resources.clone(),
            });
        }
        self.offers.insert(
            id,
            Offer {
                framework: fw,
                role: a.role,
                agent,
                resources: a.resources,
                timeout,
            },
        );
        let delay = self.send_to(Peer::Framework(fw), OFFER_BYTES);
        let sent = self.master_cpu_offer(now, delay);
        self.control_offer_sent(sent, delay);
        ctx.schedule_after(delay + sent, Event::OfferArrives(id));
    }

    /// Takes an offer back from its framework and returns its resources with no filter.
    pub(crate) fn rescind(&mut self, ctx: &mut Context<'_, Event>, id: OfferId, recover: bool) {
        let Some(offer) = self.offers.remove(&id) else {
            return;
        };
        if let Some(t) = offer.timeout {
            ctx.cancel(t);
        }
        self.stats.rescinds += 1;
        self.log.record(LogRecord {
            t_ns: ctx.now().as_nanos(),
            kind: "rescind",
            framework: Some(self.framework_name(offer.framework)),
            role: Some(&*offer.role),
            agent: Some(&self.agents[offer.agent].name),
            resources: Some(&offer.resources),
            offer: Some(id.0),
            ..LogRecord::default()
        });
        if recover {
            self.allocator.recover_role_resources(
                ctx.now(),
                FrameworkId(offer.framework as u32),
                &offer.role,
                AgentId(offer.agent as u32),
                &offer.resources,
                None,
            );
        }
    }

    /// Returns resources of an offer to the allocator with a filter, as DECLINE does.
    fn decline_resources(
        &mut self,
        ctx: &mut Context<'_, Event>,
        offer: &Offer,
        id: OfferId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) {
        let now = ctx.now();
        self.stats.declines += 1;
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "decline",
            framework: Some(self.framework_name(offer.framework)),
            role: Some(&*offer.role),
            agent: Some(&self.agents[offer.agent].name),
            resources: Some(resources),
            offer: Some(id.0),
            refuse_ns: refuse.map(|r| r.as_nanos()),
            ..LogRecord::default()
        });
        let installed = self.allocator.recover_role_resources(
            now,
            FrameworkId(offer.framework as u32),
            &offer.role,
            AgentId(offer.agent as u32),
            resources,
            refuse,
        );
        if let Some(filter) = installed {
            self.stats.filters_installed += 1;
            ctx.schedule_at(filter.expires_at.max(now), Event::FilterExpired(filter.id));
        }
    }

    fn register_agent(
        &mut self,
        ctx: &mut Context<'_, Event>,
        def: &AgentDef,
        used: &[(String, String, Resources)],
    ) {
        let now = ctx.now();
        let index = self.agents.len();
        self.agents.push(AgentRt {
            name: def.name.clone(),
            total: def.resources.clone(),
            removed: false,
            tasks: BTreeSet::new(),
        });
        self.agent_by_name.insert(def.name.clone(), index);
        let used: Vec<(FrameworkId, String, Resources)> = used
            .iter()
            .map(|(fw, role, r)| {
                (
                    FrameworkId(self.framework_by_name[fw] as u32),
                    role.clone(),
                    r.clone(),
                )
            })
            .collect();
        self.allocator.add_agent(
            now,
            AgentId(index as u32),
            AgentInfo {
                name: def.name.clone(),
                total: def.resources.clone(),
                attributes: def.attributes.clone(),
                capabilities: Default::default(),
            },
            &used,
        );
        self.stats.agent_added(now, &def.resources);
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "agent_added",
            agent: Some(&def.name),
            resources: Some(&def.resources),
            ..LogRecord::default()
        });
        self.usage_agent_added(ctx, index, &def.attributes);
        self.trigger_allocation(ctx);
    }

    fn register_framework(&mut self, ctx: &mut Context<'_, Event>, fw: usize) {
        let now = ctx.now();
        let def = &self.scenario.frameworks[self.frameworks[fw].def];
        if self.frameworks[fw].registered {
            return;
        }
        let c = &def.capabilities;
        let info = FrameworkInfo {
            name: def.name.clone(),
            roles: def.roles.clone(),
            capabilities: FrameworkCapabilities {
                multi_role: c.multi_role,
                revocable_resources: c.revocable_resources,
                gpu_resources: c.gpu_resources,
                shared_resources: c.shared_resources,
                reservation_refinement: c.reservation_refinement,
            },
            suppressed_roles: Vec::new(),
            min_allocatable_resources: BTreeMap::new(),
        };
        self.allocator
            .add_framework(now, FrameworkId(fw as u32), info, true);
        let rt = &mut self.frameworks[fw];
        rt.registered = true;
        rt.active = true;
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "framework_added",
            framework: Some(&def.name),
            role: Some(&def.roles.join(",")),
            ..LogRecord::default()
        });
        match &def.behaviour {
            Behaviour::Batch {
                job_interarrival, ..
            } => {
                let delay = job_interarrival.sample(&mut self.frameworks[fw].rng);
                ctx.schedule_after(SimDuration::from_nanos(delay), Event::JobArrival(fw));
            }
            Behaviour::Service {
                instances,
                task_resources,
            } => {
                for _ in 0..*instances {
                    self.submit_task(now, fw, task_resources.clone(), None);
                }
            }
            Behaviour::Stateful { .. } => self.stateful_register(fw),
            Behaviour::Scripted | Behaviour::Trace => {}
        }
        self.trigger_allocation(ctx);
    }

    fn submit_task(
        &mut self,
        now: SimTime,
        fw: usize,
        request: Resources,
        duration: Option<SimDuration>,
    ) -> TaskId {
        let id = TaskId(self.tasks.len() as u32);
        let role = self.frameworks[fw].role.clone();
        self.frameworks[fw].pending.push_back(id, &request);
        self.tasks.push(TaskRt::pending(
            fw,
            request,
            role,
            duration,
            now,
            TaskState::Finished,
        ));
        self.stats.task_submitted(fw, now);
        id
    }

    /// A framework with new work revives if it had suppressed itself.
    fn wake_framework(&mut self, ctx: &mut Context<'_, Event>, fw: usize) {
        let rt = &mut self.frameworks[fw];
        if rt.self_suppressed && !rt.pending.is_empty() {
            rt.self_suppressed = false;
            ctx.schedule_after(
                self.recv_from(Peer::Framework(fw), DECLINE_BYTES),
                Event::SuppressArrives {
                    framework: fw,
                    suppress: false,
                },
            );
        }
    }

    /// A replay band's scheduler subscribes when its first task arrives, not at time
    /// zero: a band the trace never uses then gets no offers (at 2,000 machines two
    /// idle bands drew 28% of a day's offers, each declined, filtered and expired).
    fn subscribe_on_first_task(&mut self, ctx: &mut Context<'_, Event>, fw: usize) {
        let rt = &mut self.frameworks[fw];
        if rt.registered || rt.registering || rt.removed {
            return;
        }
        rt.registering = true;
        let trip = self.registration_delay(Peer::Framework(fw), REGISTRATION_BYTES);
        ctx.schedule_after(trip, Event::RegisterFramework(fw));
    }

    fn on_job_arrival(&mut self, ctx: &mut Context<'_, Event>, fw: usize) {
        let now = ctx.now();
        let rt = &self.frameworks[fw];
        if rt.removed {
            return;
        }
        let Behaviour::Batch {
            job_interarrival,
            tasks_per_job,
            task_resources,
            task_duration,
            max_jobs,
        } = &self.scenario.frameworks[rt.def].behaviour
        else {
            return;
        };
        let per_group = self.group_size(fw) as u64;
        let rng = &mut self.frameworks[fw].rng;
        let count = tasks_per_job.sample(rng).max(1) * per_group;
        let durations: Vec<u64> = (0..count).map(|_| task_duration.sample(rng)).collect();
        let next = job_interarrival.sample(rng);
        self.frameworks[fw].jobs_submitted += 1;
        let jobs = self.frameworks[fw].jobs_submitted;
        if self.group_def_of(fw) {
            self.group_submit(now, fw, &durations);
        } else {
            for d in durations {
                self.submit_task(
                    now,
                    fw,
                    task_resources.clone(),
                    Some(SimDuration::from_nanos(d)),
                );
            }
        }
        if max_jobs.is_none_or(|m| jobs < m) {
            ctx.schedule_after(SimDuration::from_nanos(next), Event::JobArrival(fw));
        }
        self.wake_framework(ctx, fw);
    }

    fn on_offer_decision(&mut self, ctx: &mut Context<'_, Event>, id: OfferId) {
        let Some(offer) = self.offers.get(&id) else {
            return;
        }; // rescinded meanwhile
        let fw = offer.framework;
        let def = &self.scenario.frameworks[self.frameworks[fw].def];
        if matches!(def.behaviour, Behaviour::Stateful { .. }) {
            return self.stateful_offer_decision(ctx, id);
        }
        let role = offer.role.clone();
        let cap = def.max_tasks_per_offer.unwrap_or(u64::MAX);
        let mut launches = Vec::new();
        // Queue positions of the tasks launched; the others keep their place.
        let mut taken = Vec::new();
        let mut usable = Need::usable_in(&offer.resources);
        let pending = &self.frameworks[fw].pending;
        let scan = pending.len().min(MAX_TASKS_SCANNED_PER_OFFER);
        // Most offers fit none of the tasks looked at: those are declined without
        // copying the offer.
        let first = pending.first_may_fit(scan, usable).unwrap_or(scan);
        let mut remaining = if first < scan {
            offer.resources.clone()
        } else {
            Resources::default()
        };
        for position in first..scan {
            if launches.len() as u64 >= cap {
                break;
            }
            let queued = self.frameworks[fw].pending.get(position).expect("in range");
            if !queued.need.may_fit(usable) {
                continue; // `res::pick` would refuse it
            }
            let task = queued.id;
            if let Some(group) = self.group_pick(task, &mut remaining, &role) {
                if let Some(members) = group {
                    launches.extend(members);
                    taken.push(position);
                    usable = Need::usable_in(&remaining);
                }
                continue;
            }
            if let Some(picked) = res::pick(&remaining, &self.tasks[task.0 as usize].request, &role)
            {
                remaining.sub_assign(&picked);
                usable = Need::usable_in(&remaining);
                let t = &mut self.tasks[task.0 as usize];
                t.resources = picked;
                t.role = role.clone();
                launches.push(task);
                taken.push(position);
            }
        }
        let bytes = match launches.len() as u64 {
            0 => DECLINE_BYTES,
            n => ACCEPT_BYTES + n * LAUNCH_BYTES,
        };
        let latency = self.recv_from(Peer::Framework(fw), bytes);
        let rt = &mut self.frameworks[fw];
        rt.pending.remove_positions(&taken);
        let refuse = def.refuse;
        // Scheduling each task takes the scheduler time too: the ACCEPT leaves later.
        let task_think = SimDuration::from_nanos(
            def.task_think_time
                .as_nanos()
                .saturating_mul(launches.len() as u64),
        );
        let event = if launches.is_empty() {
            Event::DeclineArrives { offer: id, refuse }
        } else {
            Event::AcceptArrives {
                offer: id,
                launches,
                refuse,
                operations: Vec::new(),
            }
        };
        ctx.schedule_after(latency + task_think, event);
        if def.suppress_when_idle && rt.pending.is_empty() && !rt.self_suppressed {
            rt.self_suppressed = true;
            let latency = self.recv_from(Peer::Framework(fw), DECLINE_BYTES);
            ctx.schedule_after(
                latency,
                Event::SuppressArrives {
                    framework: fw,
                    suppress: true,
                },
            );
        }
    }

    /// Drops a task whose offer is gone or too small, as Mesos's master does with
    /// `REASON_INVALID_OFFERS`; the framework learns it and retries.
    pub(super) fn drop_task(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        let t = &mut self.tasks[task.0 as usize];
        t.state = TaskState::Dropped;
        t.status_in_flight += 1;
        self.log_task(
            ctx.now(),
            task,
            TaskState::Dropped,
            Some(TaskReason::InvalidOffers),
        );
        let fw = self.tasks[task.0 as usize].framework;
        ctx.schedule_after(
            self.send_to(Peer::Framework(fw), STATUS_BYTES),
            Event::StatusAtFramework(task, TaskState::Dropped),
        );
    }

    fn on_accept(
        &mut self,
        ctx: &mut Context<'_, Event>,
        id: OfferId,
        launches: Vec<TaskId>,
        refuse: Option<SimDuration>,
        operations: Vec<Operation>,
    ) {
        let now = ctx.now();
        let launches = self.replay_left_out_withdrawn(launches);
        let Some(offer) = self.offers.remove(&id) else {
            // The offer was rescinded while the framework thought: Mesos drops the tasks.
            for task in launches {
                self.drop_task(ctx, task);
            }
            return;
        };
        if let Some(t) = offer.timeout {
            ctx.cancel(t);
        }
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "accept",
            framework: Some(self.framework_name(offer.framework)),
            role: Some(&*offer.role),
            agent: Some(&self.agents[offer.agent].name),
            resources: Some(&offer.resources),
            offer: Some(id.0),
            ..LogRecord::default()
        });
        let mut remaining = offer.resources.clone();
        self.apply_offer_operations(ctx, &offer, &operations, &mut remaining);
        let launches = self.group_accept(ctx, offer.agent, launches, &mut remaining);
        for task in launches {
            let t = &self.tasks[task.0 as usize];
            if !remaining.contains(&t.resources) {
                self.drop_task(ctx, task);
                continue;
            }
            remaining.sub_assign(&t.resources);
            let t = &mut self.tasks[task.0 as usize];
            t.state = TaskState::Staging;
            t.agent = Some(offer.agent);
            self.agents[offer.agent].tasks.insert(task);
            self.stats.task_launched(&self.tasks[task.0 as usize]);
            let t = &self.tasks[task.0 as usize];
            self.log.record(LogRecord {
                t_ns: now.as_nanos(),
                kind: "launch",
                framework: Some(self.framework_name(offer.framework)),
                role: Some(&*t.role),
                agent: Some(&self.agents[offer.agent].name),
                resources: Some(&t.resources),
                task: Some(task.0),
                offer: Some(id.0),
                ..LogRecord::default()
            });
            let trip = self.send_to(Peer::Agent(offer.agent), LAUNCH_BYTES);
            ctx.schedule_after(trip, Event::LaunchArrives(task));
        }
        if !remaining.is_empty() {
            self.decline_resources(ctx, &offer, id, &remaining, refuse);
        }
    }

    fn on_launch_at_agent(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        if self
            .tasks
            .get(task)
            .is_none_or(|t| t.state != TaskState::Staging)
        {
            return; // lost with its agent or killed on the way
        }
        if self.fetch_begin(ctx, task) {
            return; // runs once its URIs are in its sandbox
        }
        self.task_running(ctx, task);
    }

    /// The task starts running on its agent (its URIs, if any, fetched).
    pub(super) fn task_running(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        let now = ctx.now();
        let t = &mut self.tasks[task.0 as usize];
        if let (Some(net), Some(agent)) = (self.net.as_mut(), t.agent) {
            let fw = t.framework;
            let transfers = &self.scenario.frameworks[self.frameworks[fw].def].transfers;
            if net.task_started(ctx, task, fw, agent, transfers).is_err() {
                // REASON_CONTAINER_LAUNCH_FAILED: no ephemeral ports left on the agent.
                self.end_task(ctx, task, TaskState::Failed, None);
                return;
            }
        }
        let Ok(registered) = self.executor_register(task) else {
            // The executor cannot reach the agent over TCP through its container network.
            self.end_task(
                ctx,
                task,
                TaskState::Failed,
                Some(TaskReason::ExecutorRegistrationTimeout),
            );
            return;
        };
        let t = &mut self.tasks[task.0 as usize];
        t.state = TaskState::Running;
        t.started = Some(now);
        if !self.usage_task_started(ctx, task) {
            let t = &mut self.tasks[task.0 as usize];
            if let Some(d) = t.duration {
                t.done_timer = Some(ctx.schedule_after(d, Event::TaskWorkDone(task)));
            }
        }
        let t = &self.tasks[task.0 as usize];
        let (fw, submitted) = (t.framework, t.submitted);
        self.stats
            .task_started(now, fw, submitted, &self.tasks[task.0 as usize].resources);
        let executor = registered + self.executor_status(task);
        self.tasks[task.0 as usize].status_in_flight += 1;
        let agent = self.tasks[task.0 as usize].agent.unwrap_or_default();
        let trip = self.recv_from(Peer::Agent(agent), STATUS_BYTES);
        self.control_status_sent(now + executor, task, TaskState::Running);
        ctx.schedule_after(
            trip + executor,
            Event::StatusAtMaster(task, TaskState::Running),
        );
    }

    fn on_work_done(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        let Some(t) = self
            .tasks
            .get_mut(task)
            .filter(|t| t.state == TaskState::Running)
        else {
            return;
        };
        t.done_timer = None;
        let end_state = t.end_state;
        if self.net.as_mut().is_some_and(|n| !n.work_done(task)) {
            return; // finishes when its last transfer does
        }
        self.end_task(ctx, task, end_state, None);
    }

    fn on_network_completion(&mut self, ctx: &mut Context<'_, Event>) {
        let Some(net) = self.net.as_mut() else {
            return;
        };
        for task in net.on_completion(ctx) {
            if self.tasks[task.0 as usize].state == TaskState::Running {
                let end_state = self.tasks[task.0 as usize].end_state;
                self.end_task(ctx, task, end_state, None);
            }
        }
        self.fetch_downloads_done(ctx);
    }

    /// Ends a task on its agent: frees its resources and reports the state.
    pub(super) fn end_task(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        state: TaskState,
        reason: Option<TaskReason>,
    ) {
        let now = ctx.now();
        self.replay_task_ended(task);
        let t = &mut self.tasks[task.0 as usize];
        let was_running = t.state == TaskState::Running;
        t.state = state;
        if let Some(timer) = t.done_timer.take() {
            ctx.cancel(timer);
        }
        let fw = t.framework;
        let agent = t.agent;
        if let Some(net) = self.net.as_mut() {
            net.task_ended(ctx, task);
        }
        if let Some(f) = self.fetcher.as_mut() {
            f.task_ended(task);
        }
        if was_running {
            self.stats
                .task_stopped(now, fw, &self.tasks[task.0 as usize].resources);
        }
        self.usage_task_ended(ctx, task);
        if let Some(agent) = agent {
            self.agents[agent].tasks.remove(&task);
            if !self.agents[agent].removed {
                self.allocator.recover_role_resources(
                    now,
                    FrameworkId(fw as u32),
                    &self.tasks[task.0 as usize].role,
                    AgentId(agent as u32),
                    &self.tasks[task.0 as usize].resources,
                    None,
                );
            }
        }
        self.stats.task_ended(now, fw, state);
        self.group_task_ended(ctx, task, state, reason);
        self.tasks[task.0 as usize].status_in_flight += 1;
        match reason {
            // Removals are reported by the master itself, at once.
            Some(r) => {
                self.log_task(now, task, state, Some(r));
                let trip = self.send_to(Peer::Framework(fw), STATUS_BYTES);
                ctx.schedule_after(trip, Event::StatusAtFramework(task, state));
            }
            None => {
                let executor = self.executor_status(task);
                let trip = self.recv_from(Peer::Agent(agent.unwrap_or_default()), STATUS_BYTES);
                self.control_status_sent(now + executor, task, state);
                ctx.schedule_after(trip + executor, Event::StatusAtMaster(task, state));
            }
        }
    }

    fn log_task(
        &mut self,
        now: SimTime,
        task: TaskId,
        state: TaskState,
        reason: Option<TaskReason>,
    ) {
        let t = &self.tasks[task.0 as usize];
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "task_state",
            framework: Some(&self.scenario.frameworks[self.frameworks[t.framework].def].name),
            role: Some(&*t.role),
            agent: t.agent.map(|a| self.agents[a].name.as_str()),
            task: Some(task.0),
            state: Some(state.mesos_name()),
            reason: reason.map(|r| r.mesos_name()),
            ..LogRecord::default()
        });
    }

    fn on_status_at_framework(&mut self, now: SimTime, task: TaskId, state: TaskState) {
        let fw = self.tasks[task.0 as usize].framework;
        if self.frameworks[fw].removed
            || self.stateful_status(task, state)
            || self.group_status(now, task, state)
        {
            return;
        }
        let behaviour = &self.scenario.frameworks[self.frameworks[fw].def].behaviour;
        // Schedulers retry what never ran; a service also replaces what was lost.
        let retry = match state {
            TaskState::Dropped => !self.tasks.get(task).is_some_and(|t| t.withdrawn),
            TaskState::Lost | TaskState::Failed
                if matches!(behaviour, Behaviour::Service { .. }) =>
            {
                true
            }
            TaskState::Lost => self.usage_resubmits(self.frameworks[fw].def),
            _ => false,
        };
        if retry {
            let t = &self.tasks[task.0 as usize];
            let (request, duration, submitted) = (t.request.clone(), t.duration, t.submitted);
            let id = TaskId(self.tasks.len() as u32);
            let (role, end_state) = (t.role.clone(), t.end_state);
            self.frameworks[fw].pending.push_back(id, &request);
            self.tasks.push(TaskRt::pending(
                fw, request, role, duration, submitted, end_state,
            ));
            self.replay_task_resubmitted(task, id);
        } else if state == TaskState::Dropped {
            self.replay_task_not_retried(task);
        }
    }

    /// Ids of the outstanding offers matching `pred`, in creation order. Collected
    /// first because acting on an offer (rescind, decline) removes it from the map.
    pub(crate) fn offer_ids(&self, pred: impl Fn(&Offer) -> bool) -> Vec<OfferId> {
        self.offers
            .iter()
            .filter(|(_, o)| pred(o))
            .map(|(id, _)| id)
            .collect()
    }

    fn remove_agent(&mut self, ctx: &mut Context<'_, Event>, agent: usize) {
        let now = ctx.now();
        for id in self.offer_ids(|o| o.agent == agent) {
            self.rescind(ctx, id, false);
        }
        self.lose_volumes(now, agent);
        self.agents[agent].removed = true;
        for task in std::mem::take(&mut self.agents[agent].tasks) {
            if !self.tasks[task.0 as usize].state.is_terminal() {
                self.end_task(ctx, task, TaskState::Lost, Some(TaskReason::AgentRemoved));
            }
        }
        self.allocator.remove_agent(now, AgentId(agent as u32));
        self.stats.agent_removed(now, &self.agents[agent].total);
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "agent_removed",
            agent: Some(&self.agents[agent].name),
            ..LogRecord::default()
        });
    }

    fn remove_framework(&mut self, ctx: &mut Context<'_, Event>, fw: usize) {
        let now = ctx.now();
        for id in self.offer_ids(|o| o.framework == fw) {
            self.rescind(ctx, id, true);
        }
        let running: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.framework == fw && matches!(t.state, TaskState::Staging | TaskState::Running)
            })
            .map(|(id, _)| id)
            .collect();
        for task in running {
            self.end_task(
                ctx,
                task,
                TaskState::Killed,
                Some(TaskReason::FrameworkRemoved),
            );
        }
        let rt = &mut self.frameworks[fw];
        rt.removed = true;
        rt.active = false;
        for task in rt.pending.take_all() {
            // Queued only: nothing else refers to it, nor to its group's other members.
            for member in self.group_forget_queued(task) {
                self.tasks.release(member);
            }
            self.tasks.release(task);
        }
        self.allocator.remove_framework(now, FrameworkId(fw as u32));
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "framework_removed",
            framework: Some(self.framework_name(fw)),
            ..LogRecord::default()
        });
    }

    fn operator_log(&mut self, now: SimTime, what: &str, role: Option<&str>, detail: String) {
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "operator",
            role,
            detail: Some(format!("{what} {detail}")),
            ..LogRecord::default()
        });
    }

    /// No agent has more offered or running than it has: offers and tasks never
    /// double-book a resource. Revocable resources are left out because an estimate
    /// may shrink below what is already offered (Mesos takes nothing back).
    fn verify_invariants(&self) -> Result<(), String> {
        let mut held: Vec<Resources> = vec![Resources::default(); self.agents.len()];
        for o in self.offers.values() {
            held[o.agent].add_assign(&o.resources.non_revocable());
        }
        for t in &self.tasks {
            if let (Some(a), TaskState::Staging | TaskState::Running) = (t.agent, t.state) {
                held[a].add_assign(&t.resources.non_revocable());
            }
        }
        for (agent, h) in self.agents.iter().zip(&held) {
            if agent.removed {
                if !h.is_empty() {
                    return Err(format!("removed agent {} still holds {h}", agent.name));
                }
            } else if !agent.total.non_revocable().contains(h) {
                return Err(format!(
                    "agent {} over-allocated: holds {h} of {}",
                    agent.name, agent.total
                ));
            }
        }
        Ok(())
    }

    /// Checks the open step's `expect_offers` against the offers made since it ran.
    pub fn close_expectation_window(&mut self) -> Result<(), String> {
        let Some(step) = self.open_step.take() else {
            return Ok(());
        };
        let made = std::mem::take(&mut self.offers_since_step);
        let Some(expected) = &self.scenario.timeline[step].expect_offers else {
            return Ok(());
        };
        let mut unmatched: Vec<&MadeOffer> = made.iter().collect();
        let mut missing = Vec::new();
        for e in expected {
            let pos = unmatched.iter().position(|m| {
                m.framework == e.framework
                    && m.agent == e.agent
                    && e.role.as_ref().is_none_or(|r| r == &m.role)
                    && m.resources == e.resources
            });
            match pos {
                Some(p) => {
                    unmatched.remove(p);
                }
                None => missing.push(format!(
                    "{} [{}] {}: {}",
                    e.framework,
                    e.role.as_deref().unwrap_or("*any*"),
                    e.agent,
                    e.resources
                )),
            }
        }
        if missing.is_empty() && unmatched.is_empty() {
            return Ok(());
        }
        Err(format!(
            "expect_offers of step {step} not met: missing [{}], unexpected [{}]; offers made: [{}]",
            missing.join(", "),
            join_offers(unmatched.into_iter()),
            join_offers(made.iter())
        ))
    }

    fn run_step(&mut self, ctx: &mut Context<'_, Event>, index: usize) -> Result<(), String> {
        if self.scenario.timeline[index].expect_offers.is_some() {
            self.open_step = Some(index);
        }
        let now = ctx.now();
        let step = &self.scenario.timeline[index];
        let agent_of = |w: &Self, name: &str| -> Result<usize, String> {
            match w.agent_by_name.get(name) {
                Some(&a) if !w.agents[a].removed => Ok(a),
                _ => Err(format!("agent `{name}` is not registered at this time")),
            }
        };
        let fw_of = |w: &Self, name: &str| -> Result<usize, String> {
            let fw = w.framework_by_name[name];
            if w.frameworks[fw].registered && !w.frameworks[fw].removed {
                Ok(fw)
            } else {
                Err(format!("framework `{name}` is not registered at this time"))
            }
        };
        self.log.record(LogRecord {
            t_ns: now.as_nanos(),
            kind: "timeline",
            detail: Some(format!("step {index}: {}", step_name(&step.action))),
            ..LogRecord::default()
        });
        match &step.action {
            Action::AddAgent { agent, used } => self.register_agent(ctx, agent, used),
            Action::RemoveAgent { agent } => {
                let a = agent_of(self, agent)?;
                self.remove_agent(ctx, a);
            }
            Action::UpdateAgent {
                agent,
                resources,
                attributes,
            } => {
                let a = agent_of(self, agent)?;
                if let Some(r) = resources {
                    self.stats.agent_removed(now, &self.agents[a].total);
                    self.stats.agent_added(now, r);
                    self.agents[a].total = r.clone();
                }
                let attrs = attributes.clone().unwrap_or_else(|| {
                    self.scenario
                        .agents
                        .iter()
                        .find(|d| &d.name == agent)
                        .map(|d| d.attributes.clone())
                        .unwrap_or_default()
                });
                let total = self.agents[a].total.clone();
                self.allocator
                    .update_agent(now, AgentId(a as u32), total, attrs);
                self.trigger_allocation(ctx);
            }
            Action::AddFramework { framework } => {
                let fw = self.framework_by_name[framework];
                self.register_framework(ctx, fw);
            }
            Action::RemoveFramework { framework } => {
                let fw = fw_of(self, framework)?;
                self.remove_framework(ctx, fw);
            }
            Action::Activate { framework } => {
                let fw = fw_of(self, framework)?;
                self.frameworks[fw].active = true;
                self.allocator
                    .activate_framework(now, FrameworkId(fw as u32));
                self.trigger_allocation(ctx);
            }
            Action::Deactivate { framework } => {
                let fw = fw_of(self, framework)?;
                for id in self.offer_ids(|o| o.framework == fw) {
                    self.rescind(ctx, id, true);
                }
                self.frameworks[fw].active = false;
                self.allocator
                    .deactivate_framework(now, FrameworkId(fw as u32));
            }
            Action::Suppress { framework, roles } => {
                let fw = fw_of(self, framework)?;
                self.allocator
                    .suppress_offers(now, FrameworkId(fw as u32), roles);
            }
            Action::Revive { framework, roles } => {
                let fw = fw_of(self, framework)?;
                self.allocator
                    .revive_offers(now, FrameworkId(fw as u32), roles);
                self.trigger_allocation(ctx);
            }
            Action::Decline {
                framework,
                agent,
                role,
                resources,
                refuse,
            } => {
                let fw = fw_of(self, framework)?;
                let a = agent_of(self, agent)?;
                let ids = self.offer_ids(|o| {
                    o.framework == fw
                        && o.agent == a
                        && role.as_ref().is_none_or(|r| *o.role == **r)
                });
                if ids.is_empty() {
                    return Err(format!(
                        "`{framework}` holds no offer on `{agent}` to decline"
                    ));
                }
                match resources {
                    None => {
                        for id in ids {
                            let offer = self.offers.remove(&id).expect("offer listed above");
                            if let Some(t) = offer.timeout {
                                ctx.cancel(t);
                            }
                            let all = offer.resources.clone();
                            self.decline_resources(ctx, &offer, id, &all, *refuse);
                        }
                    }
                    Some(part) => {
                        // Like the allocator tests, a partial decline returns just `part`
                        // (entry by entry, from the oldest offer holding each) and leaves
                        // the rest of those offers outstanding.
                        let mut taken: BTreeMap<OfferId, Resources> = BTreeMap::new();
                        for entry in part.iter() {
                            let single = Resources::from_vec(vec![entry.clone()]);
                            let id = ids
                                .iter()
                                .find(|id| {
                                    let already = taken.get(id).cloned().unwrap_or_default();
                                    self.offers[id].resources.minus(&already).contains(&single)
                                })
                                .ok_or_else(|| {
                                    format!("no offer of `{framework}` on `{agent}` holds {single}")
                                })?;
                            taken.entry(*id).or_default().add_resource(entry.clone());
                        }
                        for (id, returned) in taken {
                            let mut offer = self.offers.remove(&id).expect("offer listed above");
                            offer.resources = res::subtract(&offer.resources, &returned);
                            self.decline_resources(ctx, &offer, id, &returned, *refuse);
                            if offer.resources.is_empty() {
                                if let Some(t) = offer.timeout {
                                    ctx.cancel(t);
                                }
                            } else {
                                self.offers.insert(id, offer);
                            }
                        }
                    }
                }
            }
            Action::Check => {}
            Action::Operation {
                agent,
                operation,
                principal,
            } => {
                let a = agent_of(self, agent)?;
                self.operator_operation(ctx, a, operation, principal.as_deref());
            }
            Action::SetWeight { role, weight } => {
                self.allocator
                    .update_weights(now, &[(role.clone(), *weight)]);
                self.operator_log(now, "set_weight", Some(role), weight.to_string());
            }
            Action::SetQuota {
                role,
                guarantees,
                limits,
            } => {
                self.allocator.update_quota(
                    now,
                    role,
                    Quota {
                        guarantees: guarantees.clone(),
                        limits: limits.clone().into(),
                    },
                );
                self.operator_log(
                    now,
                    "set_quota",
                    Some(role),
                    format!("guarantees={guarantees} limits={limits}"),
                );
            }
        }
        Ok(())
    }
}

fn step_name(a: &Action) -> &'static str {
    match a {
        Action::AddAgent { .. } => "add_agent",
        Action::RemoveAgent { .. } => "remove_agent",
        Action::UpdateAgent { .. } => "update_agent",
        Action::AddFramework { .. } => "add_framework",
        Action::RemoveFramework { .. } => "remove_framework",
        Action::Activate { .. } => "activate",
        Action::Deactivate { .. } => "deactivate",
        Action::Suppress { .. } => "suppress",
        Action::Revive { .. } => "revive",
        Action::Decline { refuse: None, .. } => "return",
        Action::Decline { .. } => "decline",
        Action::SetWeight { .. } => "set_weight",
        Action::SetQuota { .. } => "set_quota",
        Action::Check => "check",
        Action::Operation { operation, .. } => match operation.kind() {
            OperationKind::Reserve => "reserve",
            OperationKind::Unreserve => "unreserve",
            OperationKind::Update => "update_reservation",
            OperationKind::Create => "create_volume",
            OperationKind::Destroy => "destroy_volume",
            OperationKind::Grow => "grow_volume",
            OperationKind::Shrink => "shrink_volume",
        },
    }
}

impl Handler<Event> for World<'_, '_> {
    fn handle(&mut self, event: Event, ctx: &mut Context<'_, Event>) {
        self.dispatch(event, ctx);
        if self.check_invariants && self.error.is_none() {
            if let Err(message) = self.verify_invariants() {
                self.error = Some(StepError {
                    step: usize::MAX,
                    at: ctx.now(),
                    message: format!("invariant broken: {message}"),
                });
                ctx.stop();
            }
        }
    }
}

impl World<'_, '_> {
    fn dispatch(&mut self, event: Event, ctx: &mut Context<'_, Event>) {
        let now = ctx.now();
        let Some(event) = self.master_cpu_admit(ctx, event) else {
            return; // queued for the master's CPU
        };
        match event {
            Event::RegisterAgent(i) => {
                let def = self.scenario.agents[i].clone();
                self.register_agent(ctx, &def, &[]);
            }
            Event::RegisterFramework(i) => self.register_framework(ctx, i),
            Event::TimelineStep(i) => {
                // A step runs after everything already due at this instant, including
                // the allocation an earlier step triggered.
                if ctx.next_event_time() == Some(now) {
                    ctx.schedule_after(SimDuration::ZERO, Event::TimelineStep(i));
                    return;
                }
                if let Err(message) = self
                    .close_expectation_window()
                    .and_then(|_| self.run_step(ctx, i))
                {
                    self.error = Some(StepError {
                        step: i,
                        at: now,
                        message,
                    });
                    ctx.stop();
                    return;
                }
                if let Some(next) = self.scenario.timeline.get(i + 1) {
                    ctx.schedule_at(next.at, Event::TimelineStep(i + 1));
                }
            }
            Event::PeriodicAllocation => {
                self.run_allocation(ctx, &Candidates::All);
                // Armed only after the cycle finished, so cycles never overlap.
                ctx.schedule_after(
                    self.scenario.master.allocation_interval,
                    Event::PeriodicAllocation,
                );
            }
            Event::TriggeredAllocation => {
                self.triggered_scheduled = false;
                if let Some(candidates) = self.allocator.take_allocation_request() {
                    self.run_allocation(ctx, &candidates);
                }
            }
            Event::FilterExpired(id) => self.allocator.expire_filter(now, id),
            Event::OfferArrives(id) => {
                let Some(offer) = self.offers.get(&id) else {
                    return;
                };
                let def = &self.scenario.frameworks[self.frameworks[offer.framework].def];
                if !matches!(def.behaviour, Behaviour::Scripted) {
                    ctx.schedule_after(def.offer_think_time, Event::OfferDecision(id));
                }
            }
            Event::OfferDecision(id) => self.on_offer_decision(ctx, id),
            Event::AcceptArrives {
                offer,
                launches,
                refuse,
                operations,
            } => self.on_accept(ctx, offer, launches, refuse, operations),
            Event::DeclineArrives { offer, refuse } => {
                if let Some(o) = self.offers.remove(&offer) {
                    if let Some(t) = o.timeout {
                        ctx.cancel(t);
                    }
                    self.decline_resources(ctx, &o, offer, &o.resources, refuse);
                }
            }
            Event::SuppressArrives {
                framework,
                suppress,
            } => {
                if self.frameworks[framework].removed {
                    return;
                }
                let id = FrameworkId(framework as u32);
                if suppress {
                    self.allocator.suppress_offers(now, id, &[]);
                } else {
                    self.allocator.revive_offers(now, id, &[]);
                    self.trigger_allocation(ctx);
                }
            }
            Event::LaunchArrives(task) => self.on_launch_at_agent(ctx, task),
            Event::TaskWorkDone(task) => self.on_work_done(ctx, task),
            Event::StatusAtMaster(task, state) => {
                let fw = self.tasks[task.0 as usize].framework;
                let trip = self.send_to(Peer::Framework(fw), STATUS_BYTES);
                self.master_cpu_status_forwarded(now, task, state, trip);
                self.log_task(now, task, state, None);
                ctx.schedule_after(trip, Event::StatusAtFramework(task, state));
            }
            Event::StatusAtFramework(task, state) => {
                self.control_status_arrived(now, task, state);
                self.on_status_at_framework(now, task, state);
                let t = &mut self.tasks[task.0 as usize];
                t.status_in_flight -= 1;
                let (fw, done) = (
                    t.framework,
                    t.state.is_terminal() && t.status_in_flight == 0,
                );
                self.wake_framework(ctx, fw);
                if done {
                    // The framework knows the end and nothing else refers to it.
                    self.tasks.release(task);
                }
            }
            Event::JobArrival(fw) => self.on_job_arrival(ctx, fw),
            Event::OfferTimeout(id) => {
                if let Some(o) = self.offers.get_mut(&id) {
                    o.timeout = None;
                    self.rescind(ctx, id, true);
                }
            }
            Event::TraceNext => self.on_trace_next(ctx),
            Event::Usage(e) => self.on_usage(ctx, e),
            Event::NetworkCompletion => self.on_network_completion(ctx),
            Event::Fetch(e) => self.on_fetch(ctx, e),
            // Unwrapped by `master_cpu_admit` above; handled as the message it carries.
            Event::MasterCpuDone { event, .. } => self.dispatch(*event, ctx),
            Event::ServiceRequest(task) => {
                let Some(fw) = self.tasks.get(task).map(|t| t.framework) else {
                    return; // ended and released: its requests stopped with it
                };
                let transfers = &self.scenario.frameworks[self.frameworks[fw].def].transfers;
                if let Some(net) = self.net.as_mut() {
                    net.on_service_request(ctx, task, transfers);
                }
            }
            Event::Sample => {
                if let Some(net) = self.net.as_mut() {
                    net.sample(now);
                }
                self.stats.sample(now, &self.frameworks, &self.offers);
                self.sample_reservations(now);
                self.usage_sample(now);
                self.fetcher_sample(now);
                ctx.schedule_after(self.scenario.metrics_interval, Event::Sample);
            }
        }
    }
}

/// Draws a seed for a component from its own stream.
pub(crate) fn component_seed(streams: &RngStreams, name: &str) -> u64 {
    streams.stream(name).next_u64()
}
