//! Flows sharing links max-min fairly, per-container egress limits, ephemeral port
//! blocks and per-container statistics (the simulated `/monitor/statistics`).
//!
//! # Fair share
//!
//! Progressive filling over the *constraining* links of a set of flows: every link's
//! fair share is `floor(remaining capacity / unfrozen flows on it)`; the smallest share
//! (or the smallest per-flow cap, if lower) freezes its flows at that rate, which is
//! subtracted from every other link they cross; repeat. Ties break by link id, then
//! flow id. Integer floors leave at most `n − 1` B/s of a link with `n` flows unused.
//!
//! # Incremental recomputation
//!
//! A flow arriving or leaving changes rates only in its connected component of the
//! bipartite flow/link graph (flows joined through the constraining links they share),
//! so [`Recompute::Incremental`] rebuilds exactly that component; [`Recompute::Full`]
//! recomputes every flow on each change and serves as the baseline and test oracle.
//!
//! # Progress and completion
//!
//! A flow's progress is kept in byte·ns/s (`rate × elapsed ns`, u128), so no rounding
//! accumulates; it completes at `last change + ceil(remaining / rate)`. Delivered bytes
//! (`floor(progress / 1e9)`) are credited to every link of the route and to the two
//! containers at each settlement, so per-container counters always add up to the link
//! totals. Packets are `ceil(bytes / MSS)`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use sim_core::time::{SimDuration, SimTime};

use super::topology::{Node, Topology, TopologyConfig};
use super::NetworkError;

/// Mesos's `--minimum_egress_rate_limit` default: 125,000 B/s (1 Mbit/s). A per-container
/// egress limit below it is raised to it, as the isolator clamps it.
pub const MIN_EGRESS_RATE_LIMIT: u64 = 125_000;

/// TCP payload bytes per packet on a 1500-byte Ethernet MTU with timestamps.
pub const MSS_BYTES: u64 = 1448;

const NS_PER_SEC: u128 = 1_000_000_000;

/// A flow, by the order it was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u64);

/// A container registered with the network, by registration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(pub u64);

/// One end of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// A host itself (agent daemon, artifact server, master).
    Host(Node),
    /// A container, on its agent's NIC, behind its egress limit.
    Container(ContainerId),
}

/// A transfer to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Bytes to move.
    pub bytes: u64,
    /// Per-flow rate cap in bytes/s (an application or TCP window limit).
    pub cap: Option<u64>,
}

/// How rates are recomputed after a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recompute {
    /// Only the connected component the change touched.
    #[default]
    Incremental,
    /// Every flow (the baseline).
    Full,
}

/// Network parameters beyond the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Links and hosts.
    pub topology: TopologyConfig,
    /// Size of each agent's `ephemeral_ports` range (Linux's default
    /// `ip_local_port_range` 32768–60999 holds 28,232).
    pub ephemeral_ports_per_agent: u32,
    /// `--ephemeral_ports_per_container` (1024 by default).
    pub ephemeral_ports_per_container: u32,
    /// Recompute policy.
    pub recompute: Recompute,
}

impl NetworkConfig {
    /// Mesos's defaults on a flat 10 Gbit/s cluster of `agents`.
    pub fn flat(agents: u32) -> NetworkConfig {
        NetworkConfig {
            topology: TopologyConfig::flat(agents),
            ephemeral_ports_per_agent: 28_232,
            ephemeral_ports_per_container: 1024,
            recompute: Recompute::Incremental,
        }
    }
}

/// Per-container network counters (`net_{tx,rx}_{bytes,packets,dropped}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Connections refused because the container had no free ephemeral port
    /// (their packets would leave from a port outside its range and be dropped).
    pub tx_dropped: u64,
    /// Nanoseconds during which the container's egress limit was the bottleneck of
    /// at least one of its flows.
    pub egress_capped_ns: u64,
}

/// A finished flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedFlow {
    /// The flow.
    pub id: FlowId,
    /// When it started.
    pub start: SimTime,
    /// When its last byte left.
    pub end: SimTime,
    /// Its size.
    pub bytes: u64,
}

/// Counters of one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStats {
    /// Link id (topology edge index).
    pub id: usize,
    /// Sending end.
    pub from: Node,
    /// Receiving end.
    pub to: Node,
    /// Capacity in bytes/s (`None`: non-blocking).
    pub capacity: Option<u64>,
    /// Bytes carried so far.
    pub bytes: u64,
}

#[derive(Clone, Debug)]
struct Flow {
    /// Public id: start order, the tie-break everywhere.
    id: u64,
    spec: FlowSpec,
    /// Every link of the route (for byte counters), physical ids.
    route: Vec<usize>,
    /// Links that constrain the rate: capacity-bearing route links and the source
    /// container's egress link.
    constraints: Vec<usize>,
    src_container: Option<ContainerId>,
    dst_container: Option<ContainerId>,
    rate: u64,
    progress: u128,
    delivered: u64,
    last: SimTime,
    start: SimTime,
    completion: Option<SimTime>,
    /// Epoch of the last component search that reached this flow.
    mark: u64,
    /// Epoch of the filling that froze it, and the rate it froze at.
    frozen: u64,
    new_rate: u64,
}

#[derive(Clone, Debug, Default)]
struct Link {
    capacity: u64,
    /// Slots of the flows constrained by this link.
    flows: Vec<u32>,
    bytes: u64,
    saturated_since: Option<SimTime>,
    saturated_ns: u64,
    mark: u64,
    bottleneck: bool,
    /// Capacity its flows left unused at the last recomputation that covered it.
    residual: u64,
}

#[derive(Clone, Debug)]
struct Container {
    agent: u32,
    block: u32,
    egress_link: Option<usize>,
    open_ports: u32,
    stats: ContainerStats,
    /// Ids of the active flows it sends or receives, so removing it does not scan
    /// every flow of the cluster.
    flows: Vec<u64>,
}

/// Reused buffers of the recomputation (no allocation per change once warm).
#[derive(Clone, Debug, Default)]
struct Scratch {
    links: Vec<usize>,
    flows: Vec<u32>,
    stack: Vec<usize>,
    capped: Vec<(u64, u64, u32)>,
    on_link: Vec<(u64, u32)>,
    bottlenecks: Vec<usize>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

/// After a component search that found at least this share (in per-mille) of all
/// active flows, the next changes recompute everything without searching…
const WHOLE_GRAPH_PER_MILLE: usize = 750;
/// …for this many changes, then search again in case the graph has split up; each
/// search that finds the whole graph again doubles the streak, up to the maximum.
const WHOLE_GRAPH_STREAK: u32 = 32;
const WHOLE_GRAPH_STREAK_MAX: u32 = 4096;

/// The network's state: topology, active flows, containers and counters.
#[derive(Clone, Debug)]
pub struct Network {
    topology: Topology,
    config: NetworkConfig,
    /// Physical links first (topology edge ids), then container egress links.
    links: Vec<Link>,
    free_virtual: Vec<usize>,
    /// Flow storage: a slab indexed by slot (links hold slots, so walking the
    /// flow/link graph is array indexing, not a map lookup per edge).
    slots: Vec<Option<Flow>>,
    free_slots: Vec<u32>,
    /// Active flows by public id (id order is start order), to their slots.
    by_id: BTreeMap<u64, u32>,
    /// (completion time, flow id, slot): completion order with id tie-breaks.
    completions: BTreeSet<(SimTime, u64, u32)>,
    containers: BTreeMap<u64, Container>,
    /// Per agent: free port blocks, lowest first.
    free_blocks: Vec<BTreeSet<u32>>,
    next_flow: u64,
    next_container: u64,
    epoch: u64,
    updates: u64,
    /// Changes left that skip the component search (see [`WHOLE_GRAPH_STREAK`]).
    whole_graph_streak: u32,
    /// The streak granted after the next search that finds the whole graph.
    whole_graph_next: u32,
    // Scratch for progressive filling, indexed by link id.
    rem: Vec<u64>,
    cnt: Vec<u32>,
    scratch: Scratch,
}

impl Network {
    /// An idle network.
    pub fn new(config: NetworkConfig) -> Result<Network, NetworkError> {
        let topology = Topology::new(&config.topology)?;
        if config.ephemeral_ports_per_container == 0 {
            return Err(NetworkError::ZeroCapacity("ephemeral_ports_per_container"));
        }
        let links = (0..topology.link_count())
            .map(|i| Link {
                capacity: topology.link(i).capacity.unwrap_or(u64::MAX),
                ..Link::default()
            })
            .collect::<Vec<_>>();
        let blocks = config.ephemeral_ports_per_agent / config.ephemeral_ports_per_container;
        let free_blocks = vec![(0..blocks).collect(); topology.agent_count() as usize];
        Ok(Network {
            rem: vec![0; links.len()],
            cnt: vec![0; links.len()],
            topology,
            config,
            links,
            free_virtual: Vec::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_id: BTreeMap::new(),
            completions: BTreeSet::new(),
            containers: BTreeMap::new(),
            free_blocks,
            next_flow: 0,
            next_container: 0,
            epoch: 0,
            updates: 0,
            whole_graph_streak: 0,
            whole_graph_next: WHOLE_GRAPH_STREAK,
            scratch: Scratch::default(),
        })
    }

    fn flow(&self, slot: u32) -> &Flow {
        self.slots[slot as usize]
            .as_ref()
            .expect("slots in use hold a flow")
    }

    fn flow_mut(&mut self, slot: u32) -> &mut Flow {
        self.slots[slot as usize]
            .as_mut()
            .expect("slots in use hold a flow")
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Number of active flows.
    pub fn active_flows(&self) -> usize {
        self.by_id.len()
    }

    /// Switches the recompute policy from the next change on.
    pub fn set_recompute(&mut self, recompute: Recompute) {
        self.config.recompute = recompute;
    }

    /// Flow rate recomputations performed (one per flow whose rate was recomputed).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Registers a container on `agent`, taking a block of ephemeral ports and, when
    /// `egress_limit` is set, an egress limit of at least [`MIN_EGRESS_RATE_LIMIT`].
    pub fn add_container(
        &mut self,
        agent: u32,
        egress_limit: Option<u64>,
    ) -> Result<ContainerId, NetworkError> {
        self.topology.node(Node::Agent(agent))?;
        let free = &mut self.free_blocks[agent as usize];
        let block = free
            .pop_first()
            .ok_or(NetworkError::AgentOutOfEphemeralPorts {
                agent,
                ports: self.config.ephemeral_ports_per_agent,
                blocks: self.config.ephemeral_ports_per_agent
                    / self.config.ephemeral_ports_per_container,
                per_container: self.config.ephemeral_ports_per_container,
            })?;
        let egress_link = egress_limit.map(|limit| {
            let link = Link {
                capacity: limit.max(MIN_EGRESS_RATE_LIMIT),
                ..Link::default()
            };
            match self.free_virtual.pop() {
                Some(i) => {
                    self.links[i] = link;
                    i
                }
                None => {
                    self.links.push(link);
                    self.rem.push(0);
                    self.cnt.push(0);
                    self.links.len() - 1
                }
            }
        });
        let id = self.next_container;
        self.next_container += 1;
        self.containers.insert(
            id,
            Container {
                agent,
                block,
                egress_link,
                open_ports: 0,
                stats: ContainerStats::default(),
                flows: Vec::new(),
            },
        );
        Ok(ContainerId(id))
    }

    /// Removes a container: aborts its flows (returned), frees its port block and its
    /// egress link, and returns its final counters.
    pub fn remove_container(
        &mut self,
        now: SimTime,
        id: ContainerId,
    ) -> Result<(ContainerStats, Vec<FlowId>), NetworkError> {
        if !self.containers.contains_key(&id.0) {
            return Err(NetworkError::UnknownContainer(id.0));
        }
        let mut mine = self.containers[&id.0].flows.clone();
        // In id order, as a scan of all flows would abort them.
        mine.sort_unstable();
        for &f in &mine {
            self.abort_flow(now, FlowId(f))?;
        }
        let c = self
            .containers
            .remove(&id.0)
            .expect("checked to be registered above");
        let mut stats = c.stats;
        if let Some(l) = c.egress_link {
            let link = &mut self.links[l];
            if let Some(since) = link.saturated_since.take() {
                link.saturated_ns += now.saturating_duration_since(since).as_nanos();
            }
            stats.egress_capped_ns = link.saturated_ns;
            self.links[l] = Link::default();
            self.free_virtual.push(l);
        }
        self.free_blocks[c.agent as usize].insert(c.block);
        Ok((stats, mine.into_iter().map(FlowId).collect()))
    }

    /// A container's counters so far (bytes settled up to the last change of any of
    /// its flows; call [`Network::settle_all`] first for counters as of `now`).
    pub fn container_stats(&self, id: ContainerId, now: SimTime) -> Option<ContainerStats> {
        let c = self.containers.get(&id.0)?;
        let mut stats = c.stats;
        if let Some(l) = c.egress_link {
            let link = &self.links[l];
            stats.egress_capped_ns = link.saturated_ns
                + link
                    .saturated_since
                    .map_or(0, |s| now.saturating_duration_since(s).as_nanos());
        }
        Some(stats)
    }

    /// Registered containers with their agents, in id order.
    pub fn containers(&self) -> impl Iterator<Item = (ContainerId, u32)> + '_ {
        self.containers
            .iter()
            .map(|(&k, c)| (ContainerId(k), c.agent))
    }

    /// The physical links' counters, in link id order.
    pub fn link_stats(&self) -> Vec<LinkStats> {
        (0..self.topology.link_count())
            .map(|id| {
                let (from, to) = self.topology.link_ends(id);
                LinkStats {
                    id,
                    from,
                    to,
                    capacity: self.topology.link(id).capacity,
                    bytes: self.links[id].bytes,
                }
            })
            .collect()
    }

    /// The current rate of a flow, bytes/s.
    pub fn rate(&self, id: FlowId) -> Option<u64> {
        self.by_id.get(&id.0).map(|&s| self.flow(s).rate)
    }

    /// One-way latency between two endpoints.
    pub fn latency(&self, src: Endpoint, dst: Endpoint) -> Result<SimDuration, NetworkError> {
        let (s, d) = (self.host(src)?, self.host(dst)?);
        self.topology.latency(s, d)
    }

    /// How long a control message of `bytes` takes from host `src` to host `dst`
    /// given the flows moving now: the route's propagation latency plus the time to
    /// transmit `bytes` at the rate the message would get on its tightest link.
    ///
    /// Why not a real flow: control messages are a few KiB, so as flows they would
    /// cost two recomputations each and shift bulk flows' rates by less than the
    /// integer floors do. Instead the message is priced against the current
    /// allocation without changing it: on each capacity-bearing link of the route it
    /// gets the larger of the unused capacity and `capacity / (flows + 1)`, the share a
    /// new flow gets under max-min fairness when the link's flows are bottlenecked
    /// there (a lower bound otherwise). An idle path therefore costs
    /// `Σ latency + bytes / NIC speed`, and a saturated ToR uplink with `n` flows
    /// slows a message crossing it to `capacity / (n + 1)`. Rounded up to the ns.
    pub fn message_delay(
        &self,
        src: Node,
        dst: Node,
        bytes: u64,
    ) -> Result<SimDuration, NetworkError> {
        let mut latency = SimDuration::ZERO;
        let mut rate = u64::MAX;
        for l in self.topology.route(src, dst)? {
            let spec = self.topology.link(l);
            latency += spec.latency;
            if spec.capacity.is_some() {
                rate = rate.min(self.share_for_new_flow(l));
            }
        }
        let tx = if rate == u64::MAX {
            0
        } else {
            u64::try_from((u128::from(bytes) * NS_PER_SEC).div_ceil(u128::from(rate)))
                .unwrap_or(u64::MAX)
        };
        Ok(latency + SimDuration::from_nanos(tx))
    }

    /// The rate a newcomer would get on link `l`: see [`Network::message_delay`].
    fn share_for_new_flow(&self, l: usize) -> u64 {
        let link = &self.links[l];
        if link.flows.is_empty() {
            return link.capacity;
        }
        let fair = link.capacity / (link.flows.len() as u64 + 1);
        fair.max(link.residual).max(1)
    }

    fn host(&self, e: Endpoint) -> Result<Node, NetworkError> {
        match e {
            Endpoint::Host(n) => Ok(n),
            Endpoint::Container(c) => self
                .containers
                .get(&c.0)
                .map(|c| Node::Agent(c.agent))
                .ok_or(NetworkError::UnknownContainer(c.0)),
        }
    }

    /// Starts a flow at `now`.
    pub fn start_flow(&mut self, now: SimTime, spec: FlowSpec) -> Result<FlowId, NetworkError> {
        self.start_flows(now, &[spec])
            .pop()
            .expect("one result per spec")
    }

    /// Starts several flows at `now` with one rate recomputation; one result per spec,
    /// in order (a refused flow does not stop the others).
    pub fn start_flows(
        &mut self,
        now: SimTime,
        specs: &[FlowSpec],
    ) -> Vec<Result<FlowId, NetworkError>> {
        let mut seeds = Vec::new();
        let mut new = Vec::new();
        let results = specs
            .iter()
            .map(|&spec| {
                let (id, slot) = self.insert_flow(now, spec)?;
                seeds.extend_from_slice(&self.flow(slot).constraints);
                new.push(slot);
                Ok(FlowId(id))
            })
            .collect();
        if !new.is_empty() {
            self.recompute(now, &seeds, &new);
        }
        results
    }

    fn insert_flow(&mut self, now: SimTime, spec: FlowSpec) -> Result<(u64, u32), NetworkError> {
        if spec.cap == Some(0) {
            return Err(NetworkError::ZeroFlowCap);
        }
        let route = self
            .topology
            .route(self.host(spec.src)?, self.host(spec.dst)?)?;
        let src_container = match spec.src {
            Endpoint::Container(c) => Some(c),
            Endpoint::Host(_) => None,
        };
        let dst_container = match spec.dst {
            Endpoint::Container(c) => Some(c),
            Endpoint::Host(_) => None,
        };
        let mut constraints: Vec<usize> = route
            .iter()
            .copied()
            .filter(|&l| self.topology.link(l).capacity.is_some())
            .collect();
        if let Some(c) = src_container {
            let ports = self.config.ephemeral_ports_per_container;
            let container = self.containers.get_mut(&c.0).expect("resolved by host()");
            if container.open_ports >= ports {
                container.stats.tx_dropped += 1;
                return Err(NetworkError::ContainerOutOfEphemeralPorts {
                    container: c.0,
                    ports,
                });
            }
            container.open_ports += 1;
            if let Some(l) = container.egress_link {
                constraints.push(l);
            }
        }
        let id = self.next_flow;
        self.next_flow += 1;
        let flow = Flow {
            id,
            spec,
            route,
            constraints,
            src_container,
            dst_container,
            rate: 0,
            progress: 0,
            delivered: 0,
            last: now,
            start: now,
            completion: None,
            mark: 0,
            frozen: 0,
            new_rate: 0,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(flow);
                s
            }
            None => {
                self.slots.push(Some(flow));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 concurrent flows")
            }
        };
        let flow = self.slots[slot as usize].as_ref().expect("just stored");
        for &l in &flow.constraints {
            self.links[l].flows.push(slot);
        }
        self.by_id.insert(id, slot);
        for c in [src_container, dst_container].into_iter().flatten() {
            let container = self.containers.get_mut(&c.0).expect("resolved by host()");
            // A flow from a container to itself is listed once.
            if container.flows.last() != Some(&id) {
                container.flows.push(id);
            }
        }
        Ok((id, slot))
    }

    /// Stops a flow before it completes (its delivered bytes stay counted).
    pub fn abort_flow(&mut self, now: SimTime, id: FlowId) -> Result<(), NetworkError> {
        let Some(&slot) = self.by_id.get(&id.0) else {
            return Err(NetworkError::UnknownFlow(id.0));
        };
        self.settle(slot, now);
        let flow = self.detach(slot);
        self.recompute(now, &flow.constraints, &[]);
        Ok(())
    }

    /// The earliest time an active flow completes, if any flow is moving.
    pub fn next_completion(&self) -> Option<SimTime> {
        self.completions.first().map(|&(t, _, _)| t)
    }

    /// Completes every flow due at or before `now` (in completion-time, then id order)
    /// and recomputes the rates of the flows they shared links with.
    pub fn advance(&mut self, now: SimTime) -> Vec<CompletedFlow> {
        let mut done = Vec::new();
        let mut seeds = Vec::new();
        while let Some(&(t, id, slot)) = self.completions.first() {
            if t > now {
                break;
            }
            self.settle(slot, t);
            let flow = self.detach(slot);
            debug_assert_eq!(
                flow.delivered, flow.spec.bytes,
                "a due flow has delivered all"
            );
            seeds.extend_from_slice(&flow.constraints);
            done.push(CompletedFlow {
                id: FlowId(id),
                start: flow.start,
                end: t,
                bytes: flow.spec.bytes,
            });
        }
        if !done.is_empty() {
            self.recompute(now, &seeds, &[]);
        }
        done
    }

    /// Brings every flow's delivered bytes (and so all counters) up to `now`.
    pub fn settle_all(&mut self, now: SimTime) {
        for slot in 0..self.slots.len() as u32 {
            if self.slots[slot as usize].is_some() {
                self.settle(slot, now);
            }
        }
    }

    /// Removes a flow from the links, the completion set, its slot and its
    /// container's ports.
    fn detach(&mut self, slot: u32) -> Flow {
        let flow = self.slots[slot as usize]
            .take()
            .expect("caller checked the flow exists");
        self.free_slots.push(slot);
        self.by_id.remove(&flow.id);
        for &l in &flow.constraints {
            let flows = &mut self.links[l].flows;
            let pos = flows
                .iter()
                .position(|&f| f == slot)
                .expect("a flow is listed on its links");
            flows.swap_remove(pos);
        }
        if let Some(t) = flow.completion {
            self.completions.remove(&(t, flow.id, slot));
        }
        if let Some(c) = flow.src_container {
            if let Some(c) = self.containers.get_mut(&c.0) {
                c.open_ports -= 1;
            }
        }
        for c in [flow.src_container, flow.dst_container]
            .into_iter()
            .flatten()
        {
            if let Some(c) = self.containers.get_mut(&c.0) {
                if let Some(pos) = c.flows.iter().position(|&f| f == flow.id) {
                    c.flows.swap_remove(pos);
                }
            }
        }
        flow
    }

    /// Credits the bytes a flow moved since its last settlement. Settling is linear
    /// (progress is an exact integer sum of rate × time), so when it happens does
    /// not change any total: flows are settled only when their rate changes, when they
    /// end, and for reports.
    fn settle(&mut self, slot: u32, now: SimTime) {
        let flow = self.slots[slot as usize]
            .as_mut()
            .expect("settling an active flow");
        let dt = now.saturating_duration_since(flow.last).as_nanos();
        flow.last = flow.last.max(now);
        if dt == 0 {
            return;
        }
        flow.progress += u128::from(flow.rate) * u128::from(dt);
        let delivered = ((flow.progress / NS_PER_SEC) as u64).min(flow.spec.bytes);
        let delta = delivered - flow.delivered;
        if delta == 0 {
            return;
        }
        let packets = packets(delivered) - packets(flow.delivered);
        flow.delivered = delivered;
        for &l in flow.route.iter() {
            self.links[l].bytes += delta;
        }
        if let Some(c) = flow.src_container {
            let c = self
                .containers
                .get_mut(&c.0)
                .expect("flows keep their container");
            c.stats.tx_bytes += delta;
            c.stats.tx_packets += packets;
            if let Some(l) = c.egress_link {
                self.links[l].bytes += delta;
            }
        }
        if let Some(c) = flow.dst_container {
            let c = self
                .containers
                .get_mut(&c.0)
                .expect("flows keep their container");
            c.stats.rx_bytes += delta;
            c.stats.rx_packets += packets;
        }
    }

    /// Recomputes rates after a change at `seeds` (constraining links of the flows that
    /// arrived or left) and `new` (slots of flows that just arrived).
    ///
    /// Incrementally, only the connected component of the change is refilled. When
    /// the last search found the component to be (nearly) the whole graph — uniform
    /// traffic over shared NICs joins almost every flow — searching costs as much as
    /// the filling it would save, so the next [`WHOLE_GRAPH_STREAK`] changes (doubling
    /// while the graph stays whole) refill everything without searching (exact all the
    /// same: components are independent) and then search again in case it has split.
    fn recompute(&mut self, now: SimTime, seeds: &[usize], new: &[u32]) {
        self.epoch += 1;
        let epoch = self.epoch;
        let mut s = std::mem::take(&mut self.scratch);
        s.links.clear();
        s.flows.clear();
        let whole = match self.config.recompute {
            Recompute::Full => true,
            Recompute::Incremental if self.whole_graph_streak > 0 => {
                self.whole_graph_streak -= 1;
                true
            }
            Recompute::Incremental => {
                self.component(seeds, new, epoch, &mut s);
                if s.flows.len() * 1000 >= self.by_id.len() * WHOLE_GRAPH_PER_MILLE
                    && s.flows.len() > 1
                {
                    self.whole_graph_streak = self.whole_graph_next;
                    self.whole_graph_next = (self.whole_graph_next * 2).min(WHOLE_GRAPH_STREAK_MAX);
                } else {
                    self.whole_graph_next = WHOLE_GRAPH_STREAK;
                }
                false
            }
        };
        if whole {
            s.links
                .extend((0..self.links.len()).filter(|&l| !self.links[l].flows.is_empty()));
            // Links the departed flows left empty still need their bookkeeping.
            for &l in seeds {
                if self.links[l].flows.is_empty() && self.links[l].mark != epoch {
                    self.links[l].mark = epoch;
                    s.links.push(l);
                }
            }
            s.flows.extend(self.by_id.values().copied());
        }
        self.progressive_filling(now, epoch, &mut s);
        self.scratch = s;
    }

    /// Fills `s.links` and `s.flows` with the links and flows connected to `seeds`
    /// through shared constraining links, plus the flows in `new` (a flow with no
    /// constraining link is alone).
    fn component(&mut self, seeds: &[usize], new: &[u32], epoch: u64, s: &mut Scratch) {
        for &f in new {
            let flow = self.flow_mut(f);
            if flow.mark != epoch {
                flow.mark = epoch;
                s.flows.push(f);
            }
        }
        s.stack.clear();
        for &l in seeds {
            if self.links[l].mark != epoch {
                self.links[l].mark = epoch;
                s.stack.push(l);
            }
        }
        while let Some(l) = s.stack.pop() {
            s.links.push(l);
            for i in 0..self.links[l].flows.len() {
                let f = self.links[l].flows[i];
                let flow = self.slots[f as usize]
                    .as_mut()
                    .expect("links list active flows");
                if flow.mark == epoch {
                    continue;
                }
                flow.mark = epoch;
                s.flows.push(f);
                for &l2 in &flow.constraints {
                    let link = &mut self.links[l2];
                    if link.mark != epoch {
                        link.mark = epoch;
                        s.stack.push(l2);
                    }
                }
            }
        }
    }

    /// Max-min fair rates for `s.flows`, which use only `s.links` (a union of
    /// components). Flows whose rate does not change are left alone (neither settled
    /// nor rescheduled): their completion time stays exactly what it was.
    fn progressive_filling(&mut self, now: SimTime, epoch: u64, s: &mut Scratch) {
        self.updates += s.flows.len() as u64;
        for &l in &s.links {
            self.rem[l] = self.links[l].capacity;
            self.cnt[l] = 0;
        }
        s.capped.clear();
        for &f in &s.flows {
            let flow = self.slots[f as usize]
                .as_ref()
                .expect("component flows are active");
            for &l in &flow.constraints {
                self.cnt[l] += 1;
            }
            if let Some(cap) = flow.spec.cap {
                s.capped.push((cap, flow.id, f));
            }
        }
        s.capped.sort_unstable();
        s.heap.clear();
        for &l in &s.links {
            if self.cnt[l] > 0 {
                s.heap
                    .push(Reverse((self.rem[l] / u64::from(self.cnt[l]), l)));
            }
        }
        s.bottlenecks.clear();
        let mut next_cap = 0;
        loop {
            // Heap keys are lazy: freezing a flow does not push its links' new shares.
            // A link's share never shrinks during filling (a frozen rate is at most the
            // smallest share), so an old key is a lower bound: when the top is out of
            // date it is re-pushed at its current share, and a top whose key is current
            // is a link of least share (ties: lowest link id). Links whose flows are all
            // frozen are dropped.
            while let Some(&Reverse((share, l))) = s.heap.peek() {
                if self.cnt[l] == 0 {
                    s.heap.pop();
                    continue;
                }
                let now_share = self.rem[l] / u64::from(self.cnt[l]);
                if now_share == share {
                    break;
                }
                s.heap.pop();
                s.heap.push(Reverse((now_share, l)));
            }
            while next_cap < s.capped.len() && self.flow(s.capped[next_cap].2).frozen == epoch {
                next_cap += 1;
            }
            let link_min = s.heap.peek().map(|&Reverse(entry)| entry);
            let cap_min = s.capped.get(next_cap).copied();
            match (link_min, cap_min) {
                (None, None) => break,
                (_, Some((cap, _, f))) if link_min.is_none_or(|(share, _)| cap <= share) => {
                    next_cap += 1;
                    self.freeze(f, cap, epoch);
                }
                (Some((share, l)), _) => {
                    s.heap.pop();
                    s.bottlenecks.push(l);
                    s.on_link.clear();
                    for &f in &self.links[l].flows {
                        let flow = self.flow(f);
                        if flow.frozen != epoch {
                            s.on_link.push((flow.id, f));
                        }
                    }
                    s.on_link.sort_unstable();
                    for i in 0..s.on_link.len() {
                        self.freeze(s.on_link[i].1, share, epoch);
                    }
                }
                (None, Some(_)) => unreachable!("the guard takes every cap when no link is left"),
            }
        }
        // Every flow on these links is frozen now: what is left is truly unused.
        for &l in &s.links {
            self.links[l].residual = self.rem[l];
        }
        // Saturation bookkeeping: links that froze flows are the bottlenecks now.
        for &l in &s.bottlenecks {
            self.links[l].bottleneck = true;
        }
        for &l in &s.links {
            let link = &mut self.links[l];
            match (std::mem::take(&mut link.bottleneck), link.saturated_since) {
                (true, None) => link.saturated_since = Some(now),
                (false, Some(since)) => {
                    link.saturated_ns += now.saturating_duration_since(since).as_nanos();
                    link.saturated_since = None;
                }
                _ => {}
            }
        }
        for &f in &s.flows {
            // A flow with no constraint and no cap is limited by nothing modelled
            // (host-local): it moves at u64::MAX B/s, i.e. within a nanosecond.
            let flow = self.flow(f);
            let rate = if flow.frozen == epoch {
                flow.new_rate
            } else {
                u64::MAX
            };
            if rate == flow.rate {
                continue;
            }
            // Bytes moved so far at the old rate, then the new rate from now on.
            self.settle(f, now);
            let flow = self.flow_mut(f);
            let completion = if rate == 0 {
                None
            } else {
                let remaining = u128::from(flow.spec.bytes) * NS_PER_SEC
                    - flow.progress.min(u128::from(flow.spec.bytes) * NS_PER_SEC);
                let dt = remaining.div_ceil(u128::from(rate));
                Some(flow.last + SimDuration::from_nanos(u64::try_from(dt).unwrap_or(u64::MAX)))
            };
            flow.rate = rate;
            let (id, old) = (flow.id, flow.completion);
            if old != completion {
                flow.completion = completion;
                if let Some(t) = old {
                    self.completions.remove(&(t, id, f));
                }
                if let Some(t) = completion {
                    self.completions.insert((t, id, f));
                }
            }
        }
    }

    fn freeze(&mut self, f: u32, rate: u64, epoch: u64) {
        let flow = self.slots[f as usize]
            .as_mut()
            .expect("component flows are active");
        flow.frozen = epoch;
        flow.new_rate = rate;
        for &l in &flow.constraints {
            self.rem[l] -= rate;
            self.cnt[l] -= 1;
        }
    }
}

/// Packets needed for `bytes` of payload.
pub fn packets(bytes: u64) -> u64 {
    bytes.div_ceil(MSS_BYTES)
}
