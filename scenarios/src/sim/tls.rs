//! TLS and the master's CPU in a run (mesos-semantics.md §7–§8): the master is one
//! FIFO server whose service time per message type (registration, ACCEPT, DECLINE,
//! status update, offer, allocation cycle per agent visited) grows with TLS's
//! handshakes and per-byte AES-GCM work, so TLS shows in offer latency, status-update
//! latency and allocation-cycle delay. Executors reach their agent over TCP (TLS when
//! on, through the container's network) or over the agent's unix domain socket.
//!
//! Absent without `[tls]` and `executor_transport`: the world then runs as before.
//!
//! Message sizes are assumptions (no Mesos figure): an offer or a TaskInfo 1 KiB, an
//! ACCEPT or status update 512 B, a DECLINE/SUPPRESS/REVIVE 256 B, a registration 2 KiB.

use std::collections::{BTreeMap, BTreeSet};

use analysis::stats::percentile_sorted;
use models::tls::TlsCosts;
use serde::{Deserialize, Serialize};
use sim_core::engine::Context;
use sim_core::time::{SimDuration, SimTime};

use super::control::Peer;
use super::events::Event;
use super::ids::TaskId;
use super::task::TaskState;
use super::world::World;
use crate::scenario::{ExecutorTransport, MasterCpuCosts, TlsDef};

pub(super) const OFFER_BYTES: u64 = 1024;
pub(super) const LAUNCH_BYTES: u64 = 1024;
pub(super) const ACCEPT_BYTES: u64 = 512;
pub(super) const STATUS_BYTES: u64 = 512;
pub(super) const DECLINE_BYTES: u64 = 256;
pub(super) const REGISTRATION_BYTES: u64 = 2048;

/// The `tls` section of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSummary {
    /// TLS on control traffic.
    pub enabled: bool,
    /// `"1.2"` or `"1.3"` when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Full handshakes (master and executor connections).
    pub handshakes_full: u64,
    /// Resumed handshakes.
    pub handshakes_resumed: u64,
    /// Plaintext bytes sent over TLS.
    pub bytes_encrypted: u64,
    /// Bytes TLS records added.
    pub record_overhead_bytes: u64,
    /// The master CPU queue, when `[tls]` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_cpu: Option<MasterCpuSummary>,
    /// Executor ↔ agent figures per transport (agent groups with `executor_transport`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executors: Vec<ExecutorSummary>,
}

/// The master's CPU over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterCpuSummary {
    /// Busy fraction of the run.
    pub utilization: f64,
    /// Busy time within the run, ns.
    pub busy_ns: u64,
    /// Offers sent.
    pub offers: u64,
    /// Allocation cycle due → offer at its framework, 50th percentile, ns.
    pub offer_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub offer_latency_p99_ns: u64,
    /// Status updates forwarded.
    pub status_updates: u64,
    /// Agent sends → framework receives, 50th percentile, ns.
    pub status_update_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub status_update_latency_p99_ns: u64,
    /// Allocation cycles run.
    pub allocation_cycles: u64,
    /// Cycle due → cycle done (queueing and work), 50th percentile, ns.
    pub allocation_cycle_delay_p50_ns: u64,
    /// Same, 99th percentile.
    pub allocation_cycle_delay_p99_ns: u64,
}

/// Executor ↔ agent figures of one transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorSummary {
    /// `"tcp"` or `"domain_socket"`.
    pub transport: String,
    /// Executors registered.
    pub registrations: u64,
    /// Executors that could not reach their agent (the task failed).
    pub registrations_failed: u64,
    /// Connect and register, 50th percentile, ns.
    pub registration_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub registration_latency_p99_ns: u64,
    /// Status updates sent to the agent.
    pub status_updates: u64,
    /// Executor → agent status update, 50th percentile, ns.
    pub status_update_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub status_update_latency_p99_ns: u64,
}

struct MasterCpu {
    costs: MasterCpuCosts,
    /// When the queue empties.
    busy_until: SimTime,
    busy_ns: u64,
    /// When the message being handled reached the master.
    current_queued: SimTime,
    offer_latency: Vec<u64>,
    status_latency: Vec<u64>,
    cycle_delay: Vec<u64>,
}

#[derive(Default)]
struct ExecutorStats {
    registration: Vec<u64>,
    failed: u64,
    status: Vec<u64>,
}

/// The TLS, master CPU and executor transport state of a run.
pub(crate) struct TlsSim {
    def: TlsDef,
    cpu: Option<MasterCpu>,
    handshakes_full: u64,
    handshakes_resumed: u64,
    bytes_encrypted: u64,
    record_overhead_bytes: u64,
    /// Peers that completed a handshake before (for session resumption).
    peers: BTreeSet<String>,
    executors: BTreeMap<ExecutorTransport, ExecutorStats>,
}

/// Sorted percentile, 0 when empty (the control-message summary uses it too).
pub(super) fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    percentile_sorted(v, p).unwrap_or(0)
}

impl TlsSim {
    pub fn new(def: &TlsDef) -> Self {
        TlsSim {
            def: def.clone(),
            cpu: def.master_cpu.clone().map(|costs| MasterCpu {
                costs,
                busy_until: SimTime::ZERO,
                busy_ns: 0,
                current_queued: SimTime::ZERO,
                offer_latency: Vec::new(),
                status_latency: Vec::new(),
                cycle_delay: Vec::new(),
            }),
            handshakes_full: 0,
            handshakes_resumed: 0,
            bytes_encrypted: 0,
            record_overhead_bytes: 0,
            peers: BTreeSet::new(),
            executors: BTreeMap::new(),
        }
    }

    fn tls(&self) -> Option<&TlsCosts> {
        self.def.tls.as_ref()
    }

    /// Bytes TLS records add to a message of `bytes` on the wire (0 with TLS off).
    /// Not counted here: the master CPU model counts what it encrypts.
    pub(super) fn record_overhead(&self, bytes: u64) -> u64 {
        self.tls().map_or(0, |t| t.overhead_bytes(bytes))
    }

    /// CPU to encrypt or decrypt one message of `bytes`, counting its bytes.
    fn crypto(&mut self, bytes: u64) -> u64 {
        let Some(t) = self.def.tls.as_ref() else {
            return 0;
        };
        let (ns, overhead) = (t.crypto_ns(bytes), t.overhead_bytes(bytes));
        self.bytes_encrypted += bytes;
        self.record_overhead_bytes += overhead;
        ns
    }

    /// A handshake with `peer`: (server CPU, client CPU, extra round trips).
    fn handshake(&mut self, peer: String) -> (u64, u64, u64) {
        let Some(t) = self.def.tls.clone() else {
            return (0, 0, 0);
        };
        let seen = !self.peers.insert(peer);
        let h = t.handshake(seen);
        if seen && t.session_resumption {
            self.handshakes_resumed += 1;
        } else {
            self.handshakes_full += 1;
        }
        (h.server_ns, h.client_ns, h.rtts)
    }

    /// Puts `service_ns` of work on the master's queue once it can start at `ready`;
    /// returns when it is done.
    fn enqueue(&mut self, ready: SimTime, service_ns: u64) -> SimTime {
        let cpu = self.cpu.as_mut().expect("master CPU modelled");
        let start = ready.max(cpu.busy_until);
        cpu.busy_until = start + SimDuration::from_nanos(service_ns);
        cpu.busy_ns += service_ns;
        cpu.busy_until
    }

    pub fn summary(&mut self, end: SimTime) -> TlsSummary {
        let master_cpu = self.cpu.as_mut().map(|c| {
            // Work still queued past the end was not done within the run.
            let late = c.busy_until.as_nanos().saturating_sub(end.as_nanos());
            let busy = c.busy_ns.saturating_sub(late);
            MasterCpuSummary {
                utilization: if end.as_nanos() == 0 {
                    0.0
                } else {
                    busy as f64 / end.as_nanos() as f64
                },
                busy_ns: busy,
                offers: c.offer_latency.len() as u64,
                offer_latency_p50_ns: pct(&mut c.offer_latency, 50.0),
                offer_latency_p99_ns: pct(&mut c.offer_latency, 99.0),
                status_updates: c.status_latency.len() as u64,
                status_update_latency_p50_ns: pct(&mut c.status_latency, 50.0),
                status_update_latency_p99_ns: pct(&mut c.status_latency, 99.0),
                allocation_cycles: c.cycle_delay.len() as u64,
                allocation_cycle_delay_p50_ns: pct(&mut c.cycle_delay, 50.0),
                allocation_cycle_delay_p99_ns: pct(&mut c.cycle_delay, 99.0),
            }
        });
        let executors = self
            .executors
            .iter_mut()
            .map(|(t, s)| ExecutorSummary {
                transport: t.name().to_string(),
                registrations: s.registration.len() as u64,
                registrations_failed: s.failed,
                registration_latency_p50_ns: pct(&mut s.registration, 50.0),
                registration_latency_p99_ns: pct(&mut s.registration, 99.0),
                status_updates: s.status.len() as u64,
                status_update_latency_p50_ns: pct(&mut s.status, 50.0),
                status_update_latency_p99_ns: pct(&mut s.status, 99.0),
            })
            .collect();
        TlsSummary {
            enabled: self.tls().is_some(),
            version: self.tls().map(|t| match t.version {
                models::tls::TlsVersion::V1_2 => "1.2".to_string(),
                models::tls::TlsVersion::V1_3 => "1.3".to_string(),
            }),
            handshakes_full: self.handshakes_full,
            handshakes_resumed: self.handshakes_resumed,
            bytes_encrypted: self.bytes_encrypted,
            record_overhead_bytes: self.record_overhead_bytes,
            master_cpu,
            executors,
        }
    }
}

impl World<'_, '_> {
    /// Messages reaching the master wait for its CPU: returns the event to handle now,
    /// or `None` when it was queued. Without the model every event passes through.
    pub(super) fn master_cpu_admit(
        &mut self,
        ctx: &mut Context<'_, Event>,
        event: Event,
    ) -> Option<Event> {
        // Every event of every run passes here: return first when there is no CPU model.
        if self.tls.as_ref().is_none_or(|s| s.cpu.is_none()) {
            return Some(event);
        }
        let now = ctx.now();
        // Handshake round trips follow the path to the peer when there is a network.
        let rtt = match &event {
            Event::RegisterAgent(i) => self.control_rtt(Peer::Agent(*i)),
            Event::RegisterFramework(i) => self.control_rtt(Peer::Framework(*i)),
            _ => self.latency() + self.latency(),
        }
        .as_nanos();
        let Some(sim) = self.tls.as_mut() else {
            return Some(event);
        };
        let c = sim.cpu.as_ref().expect("checked").costs.clone();
        let event = match event {
            Event::MasterCpuDone { event, queued } => {
                let cpu = sim.cpu.as_mut().expect("checked");
                cpu.current_queued = queued;
                if matches!(
                    *event,
                    Event::PeriodicAllocation | Event::TriggeredAllocation
                ) {
                    cpu.cycle_delay.push(now.as_nanos() - queued.as_nanos());
                }
                return Some(*event);
            }
            other => other,
        };
        let (ready, service) = match &event {
            Event::RegisterAgent(i) => {
                let (server, _, rtts) = sim.handshake(format!("agent/{i}"));
                let crypto = sim.crypto(REGISTRATION_BYTES);
                (
                    now + SimDuration::from_nanos(rtts * rtt),
                    c.registration_ns + server + crypto,
                )
            }
            Event::RegisterFramework(i) => {
                let (server, _, rtts) = sim.handshake(format!("framework/{i}"));
                let crypto = sim.crypto(REGISTRATION_BYTES);
                (
                    now + SimDuration::from_nanos(rtts * rtt),
                    c.registration_ns + server + crypto,
                )
            }
            Event::AcceptArrives { launches, .. } => {
                let n = launches.len() as u64;
                let mut crypto = sim.crypto(ACCEPT_BYTES);
                for _ in 0..n {
                    crypto += sim.crypto(LAUNCH_BYTES);
                }
                (now, c.accept_ns + n * c.launch_ns + crypto)
            }
            Event::DeclineArrives { .. } | Event::SuppressArrives { .. } => {
                (now, c.decline_ns + sim.crypto(DECLINE_BYTES))
            }
            Event::StatusAtMaster(..) => {
                // Decrypted on arrival, encrypted again for the framework.
                let crypto = sim.crypto(STATUS_BYTES) + sim.crypto(STATUS_BYTES);
                (now, c.status_update_ns + crypto)
            }
            Event::PeriodicAllocation | Event::TriggeredAllocation => {
                let agents = self.agents.iter().filter(|a| !a.removed).count() as u64;
                (now, c.allocation_per_agent_ns * agents)
            }
            _ => return Some(event),
        };
        let done = sim.enqueue(ready, service);
        ctx.schedule_at(
            done,
            Event::MasterCpuDone {
                event: Box::new(event),
                queued: now,
            },
        );
        None
    }

    /// An offer leaves the master after its CPU work and takes `latency` to its
    /// framework; returns the extra delay.
    pub(super) fn master_cpu_offer(&mut self, now: SimTime, latency: SimDuration) -> SimDuration {
        let Some(sim) = self.tls.as_mut().filter(|s| s.cpu.is_some()) else {
            return SimDuration::ZERO;
        };
        let service = sim.cpu.as_ref().expect("checked").costs.offer_ns + sim.crypto(OFFER_BYTES);
        let done = sim.enqueue(now, service);
        let cpu = sim.cpu.as_mut().expect("checked");
        let arrives = done + latency;
        cpu.offer_latency
            .push(arrives.as_nanos() - cpu.current_queued.as_nanos().min(now.as_nanos()));
        done - now
    }

    /// A status update the master forwards now, taking `out` to its framework:
    /// records agent → framework latency.
    pub(super) fn master_cpu_status_forwarded(
        &mut self,
        now: SimTime,
        task: TaskId,
        state: TaskState,
        out: SimDuration,
    ) {
        let latency = self.latency();
        let origin = self.control_status_origin(task, state);
        if let Some(cpu) = self.tls.as_mut().and_then(|s| s.cpu.as_mut()) {
            // Without a network it left the agent one latency before it reached the
            // master's queue; with one, the control plane noted when it left.
            let sent = origin.map_or_else(
                || {
                    cpu.current_queued.as_nanos()
                        - latency.as_nanos().min(cpu.current_queued.as_nanos())
                },
                |t| t.as_nanos(),
            );
            cpu.status_latency.push((now + out).as_nanos() - sent);
        }
    }

    /// The task's executor connects and registers with its agent: `Ok(delay)` before it
    /// can report TASK_RUNNING, `Err(())` when the container's network blocks TCP to
    /// the agent. Zero for agents whose group sets no `executor_transport`.
    pub(super) fn executor_register(&mut self, task: TaskId) -> Result<SimDuration, ()> {
        let Some(agent) = self.tasks[task.0 as usize].agent else {
            return Ok(SimDuration::ZERO);
        };
        let name = &self.agents[agent].name;
        let Some(sim) = self.tls.as_mut() else {
            return Ok(SimDuration::ZERO);
        };
        let Some(path) = sim.def.executors.get(name).copied() else {
            return Ok(SimDuration::ZERO);
        };
        let ns = match path.transport {
            ExecutorTransport::Tcp => {
                if path.container_network_blocks_agent {
                    sim.executors.entry(path.transport).or_default().failed += 1;
                    return Err(());
                }
                let lat = sim.def.executor_tcp_latency.as_nanos();
                let (server, client, rtts) = sim.handshake(format!("executor@{name}"));
                // TCP connect (1 RTT), TLS handshake, then the encrypted SUBSCRIBE.
                2 * lat
                    + rtts * 2 * lat
                    + server
                    + client
                    + lat
                    + 2 * sim.crypto(REGISTRATION_BYTES)
            }
            ExecutorTransport::DomainSocket => {
                let lat = sim.def.executor_domain_socket_latency.as_nanos();
                2 * lat + lat
            }
        };
        sim.executors
            .entry(path.transport)
            .or_default()
            .registration
            .push(ns);
        Ok(SimDuration::from_nanos(ns))
    }

    /// The executor → agent leg of a status update, zero when not modelled.
    pub(super) fn executor_status(&mut self, task: TaskId) -> SimDuration {
        let Some(agent) = self.tasks[task.0 as usize].agent else {
            return SimDuration::ZERO;
        };
        let name = &self.agents[agent].name;
        let Some(sim) = self.tls.as_mut() else {
            return SimDuration::ZERO;
        };
        let Some(path) = sim.def.executors.get(name).copied() else {
            return SimDuration::ZERO;
        };
        let ns = match path.transport {
            ExecutorTransport::Tcp => {
                sim.def.executor_tcp_latency.as_nanos() + 2 * sim.crypto(STATUS_BYTES)
            }
            ExecutorTransport::DomainSocket => sim.def.executor_domain_socket_latency.as_nanos(),
        };
        sim.executors
            .entry(path.transport)
            .or_default()
            .status
            .push(ns);
        SimDuration::from_nanos(ns)
    }
}
