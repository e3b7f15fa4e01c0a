//! Oversubscription (mesos-semantics.md §3): an agent's resource estimator reports
//! allocated-but-unused CPU as revocable ([`estimator`]), and its QoS controller kills
//! revocable containers when they hurt the others ([`qos`]).
//!
//! Both are plain state machines: the caller passes the agent's current usage at the
//! intervals Mesos uses (`--oversubscribed_resources_interval`,
//! `--qos_correction_interval_min`) and acts on the answers.

pub mod estimator;
pub mod qos;

/// Names of the estimators, for errors and docs.
pub const ESTIMATOR_NAMES: &[&str] = &["noop", "fixed", "usage"];
/// Names of the QoS controllers, for errors and docs.
pub const QOS_NAMES: &[&str] = &["noop", "load", "shortfall"];

/// What an agent knows about its CPU when it asks its estimator or QoS controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentUsage {
    /// The agent's CPUs, milli-CPUs.
    pub capacity: u64,
    /// Non-revocable CPUs allocated to running containers.
    pub allocated: u64,
    /// What those non-revocable containers use now.
    pub used: u64,
    /// Revocable CPUs allocated to running containers.
    pub revocable_allocated: u64,
}
