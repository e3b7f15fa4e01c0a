//! Network bandwidth sharing and per-container isolation, as Mesos 0.23's
//! `network/port_mapping` isolator shaped it (mesos-semantics.md §6).
//!
//! * [`topology`]: agents' NICs, top-of-rack switches and a core, the artifact server and
//!   the master, as a petgraph graph of directed links with capacities and latencies;
//! * [`flows`]: transfers of N bytes sharing links max-min fairly (progressive filling),
//!   with per-flow caps, per-container egress limits (an HTB class is a virtual link
//!   the container's flows cross), ephemeral port blocks and per-container statistics.
//!
//! Everything is integer: rates in bytes/s, time in ns, progress in byte·ns/s (u128),
//! so the same inputs give the same completion times on every machine. Rates are
//! recomputed only over the connected component of the flow/link graph that a flow's
//! arrival or departure touched (max-min allocations of different components are
//! independent, so this is exact), and [`Network::next_completion`] lets a simulator
//! jump from one completion to the next with no per-tick work.

pub mod flows;
pub mod topology;

#[cfg(test)]
mod tests;

pub use flows::{
    CompletedFlow, ContainerId, ContainerStats, Endpoint, FlowId, FlowSpec, LinkStats, Network,
    NetworkConfig, Recompute, MIN_EGRESS_RATE_LIMIT, MSS_BYTES,
};
pub use topology::{LinkSpec, Node, Topology, TopologyConfig, TEN_GBIT_BYTES_PER_SEC};

/// What the network refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// A link speed of zero.
    #[error("{0} must be greater than 0")]
    ZeroCapacity(&'static str),
    /// An agent index past the topology's agents.
    #[error("agent {0} is not in the network topology")]
    UnknownAgent(u32),
    /// A switch used as a flow endpoint.
    #[error("{0:?} is a switch, not a host")]
    NotAHost(Node),
    /// A container id that is not (or no longer) registered.
    #[error("container {0} is not registered with the network")]
    UnknownContainer(u64),
    /// A flow id that is not (or no longer) active.
    #[error("flow {0} is not active")]
    UnknownFlow(u64),
    /// A per-flow cap of zero.
    #[error("a flow's rate cap must be greater than 0 bytes/s")]
    ZeroFlowCap,
    /// The agent's `ephemeral_ports` range has no free block for another container.
    #[error(
        "agent {agent} ran out of ephemeral ports: {ports} ports make {blocks} blocks of \
         {per_container} per container and all are in use"
    )]
    AgentOutOfEphemeralPorts {
        /// The agent.
        agent: u32,
        /// The agent's ephemeral port count.
        ports: u32,
        /// Blocks available in total.
        blocks: u32,
        /// Ports per container.
        per_container: u32,
    },
    /// A container opened more concurrent connections than it has ephemeral ports.
    #[error("container {container} has all {ports} of its ephemeral ports in use")]
    ContainerOutOfEphemeralPorts {
        /// The container.
        container: u64,
        /// Its ports.
        ports: u32,
    },
}
