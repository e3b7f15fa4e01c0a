//! The cluster's physical network: hosts (agents, the artifact server, the master),
//! top-of-rack switches and a core switch, joined by full-duplex links.
//!
//! The graph is a petgraph `DiGraph` whose edges are *directed* links (a full-duplex
//! cable is two edges, one per direction, each with its own capacity), because uplink
//! and downlink traffic do not compete. Topologies are trees by construction (a flat
//! star, or two tiers), so the route between two hosts is the unique path through their
//! lowest common switch; it is computed by walking parents, no search.
//!
//! A switch fabric is non-blocking; only links carry capacity. A link whose capacity
//! is `None` is non-blocking too (for example a ToR uplink as fast as all its hosts'
//! NICs together) and is left out of the fair-share computation entirely, which keeps
//! the connected components of the flow/link graph small.

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use sim_core::time::SimDuration;

use super::NetworkError;

/// 10 Gbit/s in bytes per second: the default NIC speed.
pub const TEN_GBIT_BYTES_PER_SEC: u64 = 1_250_000_000;

/// A host or switch of the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    /// Agent number `i` (its NIC is the link to its switch).
    Agent(u32),
    /// The artifact server the fetcher downloads from.
    ArtifactServer,
    /// The Mesos master.
    Master,
    /// Top-of-rack switch `r`.
    Tor(u32),
    /// The core switch (in a flat topology, the only switch).
    Core,
    /// Clients outside the cluster, behind a non-blocking edge (a service's users).
    Clients,
}

/// One direction of a cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// Bytes per second, or `None` for a link that can never be a bottleneck.
    pub capacity: Option<u64>,
    /// One-way propagation and switching latency.
    pub latency: SimDuration,
}

/// How to build a topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Number of agents.
    pub agents: u32,
    /// Agents per rack; 0 means flat (every host on the one core switch).
    pub agents_per_rack: u32,
    /// Agent NIC speed, bytes/s, each direction.
    pub nic_bytes_per_sec: u64,
    /// Artifact server NIC speed, bytes/s.
    pub artifact_server_bytes_per_sec: u64,
    /// Master NIC speed, bytes/s.
    pub master_bytes_per_sec: u64,
    /// ToR uplink speed, bytes/s each direction; `None` is non-blocking.
    pub uplink_bytes_per_sec: Option<u64>,
    /// One-way latency of a host's link to its switch.
    pub host_link_latency: SimDuration,
    /// One-way latency of a ToR uplink.
    pub uplink_latency: SimDuration,
}

impl TopologyConfig {
    /// A flat, non-blocking cluster: every host on one switch with a 10 Gbit/s NIC
    /// and 25 µs per link (50 µs one way between two hosts).
    pub fn flat(agents: u32) -> TopologyConfig {
        TopologyConfig {
            agents,
            agents_per_rack: 0,
            nic_bytes_per_sec: TEN_GBIT_BYTES_PER_SEC,
            artifact_server_bytes_per_sec: TEN_GBIT_BYTES_PER_SEC,
            master_bytes_per_sec: TEN_GBIT_BYTES_PER_SEC,
            uplink_bytes_per_sec: None,
            host_link_latency: SimDuration::from_micros(25),
            uplink_latency: SimDuration::from_micros(25),
        }
    }

    /// Two tiers: racks of `agents_per_rack` agents under a ToR each, the ToRs on a
    /// core switch through uplinks of `uplink` bytes/s (`None`: non-blocking).
    pub fn two_tier(agents: u32, agents_per_rack: u32, uplink: Option<u64>) -> TopologyConfig {
        TopologyConfig {
            agents_per_rack,
            uplink_bytes_per_sec: uplink,
            ..TopologyConfig::flat(agents)
        }
    }
}

/// The built topology.
#[derive(Clone, Debug)]
pub struct Topology {
    graph: DiGraph<Node, LinkSpec>,
    /// Per node: (parent, up edge, down edge); the root has none.
    up: Vec<Option<(NodeIndex, EdgeIndex, EdgeIndex)>>,
    depth: Vec<u32>,
    agents: Vec<NodeIndex>,
    artifact_server: NodeIndex,
    master: NodeIndex,
    clients: NodeIndex,
}

impl Topology {
    /// Builds the tree a configuration describes.
    pub fn new(config: &TopologyConfig) -> Result<Topology, NetworkError> {
        for (what, v) in [
            ("nic_bytes_per_sec", config.nic_bytes_per_sec),
            (
                "artifact_server_bytes_per_sec",
                config.artifact_server_bytes_per_sec,
            ),
            ("master_bytes_per_sec", config.master_bytes_per_sec),
            (
                "uplink_bytes_per_sec",
                config.uplink_bytes_per_sec.unwrap_or(1),
            ),
        ] {
            if v == 0 {
                return Err(NetworkError::ZeroCapacity(what));
            }
        }
        let mut t = Topology {
            graph: DiGraph::new(),
            up: Vec::new(),
            depth: Vec::new(),
            agents: Vec::new(),
            artifact_server: NodeIndex::new(0),
            master: NodeIndex::new(0),
            clients: NodeIndex::new(0),
        };
        let core = t.add_node(Node::Core, None);
        let host_link = |cap: u64| LinkSpec {
            capacity: Some(cap),
            latency: config.host_link_latency,
        };
        // The artifact server and the master hang off the core.
        t.artifact_server = t.add_node(
            Node::ArtifactServer,
            Some((core, host_link(config.artifact_server_bytes_per_sec))),
        );
        t.master = t.add_node(
            Node::Master,
            Some((core, host_link(config.master_bytes_per_sec))),
        );
        // The outside world: a non-blocking edge, so only the sender's side limits it.
        t.clients = t.add_node(
            Node::Clients,
            Some((
                core,
                LinkSpec {
                    capacity: None,
                    latency: config.uplink_latency,
                },
            )),
        );
        let mut tor = core;
        for i in 0..config.agents {
            if config.agents_per_rack > 0 && i % config.agents_per_rack == 0 {
                let uplink = LinkSpec {
                    capacity: config.uplink_bytes_per_sec,
                    latency: config.uplink_latency,
                };
                tor = t.add_node(Node::Tor(i / config.agents_per_rack), Some((core, uplink)));
            }
            let a = t.add_node(
                Node::Agent(i),
                Some((tor, host_link(config.nic_bytes_per_sec))),
            );
            t.agents.push(a);
        }
        Ok(t)
    }

    fn add_node(&mut self, node: Node, parent: Option<(NodeIndex, LinkSpec)>) -> NodeIndex {
        let n = self.graph.add_node(node);
        match parent {
            None => {
                self.up.push(None);
                self.depth.push(0);
            }
            Some((p, spec)) => {
                let up = self.graph.add_edge(n, p, spec);
                let down = self.graph.add_edge(p, n, spec);
                self.up.push(Some((p, up, down)));
                self.depth.push(self.depth[p.index()] + 1);
            }
        }
        n
    }

    /// The underlying graph (nodes are hosts and switches, edges directed links).
    pub fn graph(&self) -> &DiGraph<Node, LinkSpec> {
        &self.graph
    }

    /// Number of directed links; link ids are `0..link_count()`.
    pub fn link_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The specification of link `id`.
    pub fn link(&self, id: usize) -> LinkSpec {
        self.graph[EdgeIndex::new(id)]
    }

    /// The link's endpoints, for reports (`from`, `to`).
    pub fn link_ends(&self, id: usize) -> (Node, Node) {
        let (a, b) = self
            .graph
            .edge_endpoints(EdgeIndex::new(id))
            .expect("link ids come from this graph");
        (self.graph[a], self.graph[b])
    }

    /// Number of agents.
    pub fn agent_count(&self) -> u32 {
        self.agents.len() as u32
    }

    /// The graph node of a host.
    pub fn node(&self, host: Node) -> Result<NodeIndex, NetworkError> {
        match host {
            Node::Agent(i) => self
                .agents
                .get(i as usize)
                .copied()
                .ok_or(NetworkError::UnknownAgent(i)),
            Node::ArtifactServer => Ok(self.artifact_server),
            Node::Master => Ok(self.master),
            Node::Clients => Ok(self.clients),
            Node::Tor(_) | Node::Core => Err(NetworkError::NotAHost(host)),
        }
    }

    /// The directed links from `src` to `dst` (empty when they are the same host).
    pub fn route(&self, src: Node, dst: Node) -> Result<Vec<usize>, NetworkError> {
        let (mut a, mut b) = (self.node(src)?, self.node(dst)?);
        let mut ups = Vec::new();
        let mut downs = Vec::new();
        while self.depth[a.index()] > self.depth[b.index()] {
            a = self.step_up(a, &mut ups);
        }
        while self.depth[b.index()] > self.depth[a.index()] {
            b = self.step_down(b, &mut downs);
        }
        while a != b {
            a = self.step_up(a, &mut ups);
            b = self.step_down(b, &mut downs);
        }
        downs.reverse();
        ups.extend(downs);
        Ok(ups)
    }

    fn step_up(&self, n: NodeIndex, links: &mut Vec<usize>) -> NodeIndex {
        let (p, up, _) = self.up[n.index()].expect("a node below the root has a parent");
        links.push(up.index());
        p
    }

    fn step_down(&self, n: NodeIndex, links: &mut Vec<usize>) -> NodeIndex {
        let (p, _, down) = self.up[n.index()].expect("a node below the root has a parent");
        links.push(down.index());
        p
    }

    /// One-way latency from `src` to `dst`: the sum of the route's link latencies.
    pub fn latency(&self, src: Node, dst: Node) -> Result<SimDuration, NetworkError> {
        Ok(self
            .route(src, dst)?
            .into_iter()
            .fold(SimDuration::ZERO, |acc, l| acc + self.link(l).latency))
    }
}
