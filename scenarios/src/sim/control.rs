//! Control messages over the network topology (issue 6): with a `[network]` table,
//! master ↔ agent and master ↔ framework messages (registrations, offers, ACCEPT,
//! DECLINE, SUPPRESS/REVIVE, launches, status updates) take the path between their
//! endpoints instead of `master.message_latency`: the sum of the path's link latencies
//! plus the message's bytes at the share the path gives a newcomer
//! ([`models::network::Network::message_delay`]), so bulk flows saturating a rack's
//! uplink visibly slow the control traffic of the agents behind it. With TLS on, each
//! message also carries its record overhead bytes and handshakes take the path's
//! round trip.
//!
//! Without `[network]` every function here returns the old constant latency and
//! records nothing, so such runs are unchanged.

use std::collections::BTreeMap;

use super::tls::pct;
use models::network::Node;
use serde::{Deserialize, Serialize};
use sim_core::time::{SimDuration, SimTime};

use super::ids::TaskId;
use super::task::TaskState;
use super::world::World;
use crate::scenario::SchedulerPlacement;

/// The far end of a control message; the near end is always the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// An agent, by its index in the world.
    Agent(usize),
    /// A framework's scheduler, by framework index.
    Framework(usize),
}

/// The `network.control` section of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlSummary {
    /// Where the schedulers run: `"outside"` or `"on_agents"`.
    pub schedulers: String,
    /// Control messages sent over the topology.
    pub messages: u64,
    /// Their bytes on the wire (TLS record overhead included when TLS is on).
    pub bytes: u64,
    /// Offers: created by the master → at the framework, 50th percentile, ns.
    pub offer_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub offer_latency_p99_ns: u64,
    /// Status updates delivered through the master.
    pub status_updates: u64,
    /// Status updates: the agent sends → the framework receives (agent → master,
    /// the master's handling, master → framework), 50th percentile, ns.
    pub status_update_latency_p50_ns: u64,
    /// Same, 99th percentile.
    pub status_update_latency_p99_ns: u64,
}

/// What the control plane measured over a run with a network.
pub(crate) struct ControlStats {
    placement: SchedulerPlacement,
    messages: u64,
    bytes: u64,
    offer_latency: Vec<u64>,
    status_latency: Vec<u64>,
    /// Status updates on their way: (task, state) → when the agent sent it.
    status_sent: BTreeMap<(TaskId, TaskState), SimTime>,
}

impl ControlStats {
    pub fn new(placement: SchedulerPlacement) -> Self {
        ControlStats {
            placement,
            messages: 0,
            bytes: 0,
            offer_latency: Vec::new(),
            status_latency: Vec::new(),
            status_sent: BTreeMap::new(),
        }
    }

    pub fn summary(&mut self) -> ControlSummary {
        ControlSummary {
            schedulers: match self.placement {
                SchedulerPlacement::Outside => "outside",
                SchedulerPlacement::OnAgents => "on_agents",
            }
            .to_string(),
            messages: self.messages,
            bytes: self.bytes,
            offer_latency_p50_ns: pct(&mut self.offer_latency, 50.0),
            offer_latency_p99_ns: pct(&mut self.offer_latency, 99.0),
            status_updates: self.status_latency.len() as u64,
            status_update_latency_p50_ns: pct(&mut self.status_latency, 50.0),
            status_update_latency_p99_ns: pct(&mut self.status_latency, 99.0),
        }
    }
}

impl World<'_, '_> {
    /// The topology host of a peer, when the run has a network that knows it.
    fn peer_node(&self, peer: Peer) -> Option<Node> {
        let net = self.net.as_ref()?;
        let agents = net.agent_count();
        match peer {
            Peer::Agent(a) => u32::try_from(a)
                .ok()
                .filter(|&a| a < agents)
                .map(Node::Agent),
            Peer::Framework(fw) => match net.control.placement {
                SchedulerPlacement::Outside => Some(Node::Clients),
                SchedulerPlacement::OnAgents if agents > 0 => {
                    Some(Node::Agent((fw % agents as usize) as u32))
                }
                SchedulerPlacement::OnAgents => Some(Node::Clients),
            },
        }
    }

    /// One-way delay of a control message of `bytes` between the master and `peer`
    /// (`outbound`: from the master). Without a network: `master.message_latency`.
    fn control_delay(&mut self, peer: Peer, bytes: u64, outbound: bool) -> SimDuration {
        let Some(node) = self.peer_node(peer) else {
            return self.latency();
        };
        let wire = bytes + self.tls.as_ref().map_or(0, |t| t.record_overhead(bytes));
        let (src, dst) = if outbound {
            (Node::Master, node)
        } else {
            (node, Node::Master)
        };
        let net = self.net.as_mut().expect("peer_node checked");
        let delay = net.message_delay(src, dst, wire);
        net.control.messages += 1;
        net.control.bytes += wire;
        delay
    }

    /// Master → `peer`.
    pub(crate) fn send_to(&mut self, peer: Peer, bytes: u64) -> SimDuration {
        self.control_delay(peer, bytes, true)
    }

    /// `peer` → master.
    pub(crate) fn recv_from(&mut self, peer: Peer, bytes: u64) -> SimDuration {
        self.control_delay(peer, bytes, false)
    }

    /// A registration's trip to the master: zero without a network (registrations
    /// have always taken effect at their start time there).
    pub(crate) fn registration_delay(&mut self, peer: Peer, bytes: u64) -> SimDuration {
        if self.peer_node(peer).is_none() {
            return SimDuration::ZERO;
        }
        self.recv_from(peer, bytes)
    }

    /// The round trip a TLS handshake step takes with `peer`: the path's propagation
    /// both ways (handshake flights are not counted as message bytes), or twice
    /// `master.message_latency` without a network.
    pub(crate) fn control_rtt(&self, peer: Peer) -> SimDuration {
        let (Some(node), Some(net)) = (self.peer_node(peer), self.net.as_ref()) else {
            return self.latency() + self.latency();
        };
        net.message_delay(Node::Master, node, 0) + net.message_delay(node, Node::Master, 0)
    }

    /// An offer leaves the master `sent` after it was made and takes `delay`.
    pub(crate) fn control_offer_sent(&mut self, sent: SimDuration, delay: SimDuration) {
        if let Some(net) = self.net.as_mut() {
            net.control.offer_latency.push((sent + delay).as_nanos());
        }
    }

    /// The agent sends a task's status update at `now`.
    pub(crate) fn control_status_sent(&mut self, now: SimTime, task: TaskId, state: TaskState) {
        if let Some(net) = self.net.as_mut() {
            net.control.status_sent.insert((task, state), now);
        }
    }

    /// When the agent sent the status update now at the master (with a network).
    pub(crate) fn control_status_origin(&self, task: TaskId, state: TaskState) -> Option<SimTime> {
        self.net
            .as_ref()
            .and_then(|n| n.control.status_sent.get(&(task, state)).copied())
    }

    /// A status update reached its framework at `now`.
    pub(crate) fn control_status_arrived(&mut self, now: SimTime, task: TaskId, state: TaskState) {
        if let Some(net) = self.net.as_mut() {
            if let Some(sent) = net.control.status_sent.remove(&(task, state)) {
                net.control
                    .status_latency
                    .push(now.as_nanos() - sent.as_nanos());
            }
        }
    }
}
