//! What tasks actually use on an agent, as opposed to what they asked the allocator
//! for: usage profiles over time ([`profile`]), the agent's CPU as Linux CFS shares it
//! ([`cpu`]), the memory limits and OOM killer ([`memory`]) and task groups' executor
//! and nested containers ([`nested`]) (mesos-semantics.md §4).
//!
//! Everything is integer: CPU in milli-CPUs, memory in milli-MB (the units of
//! [`crate::resources`]), levels in per-mille, so the same inputs always give the
//! same rates and kills. Nothing here schedules anything; the caller evaluates the
//! model when an agent's tasks or their usage change.

pub mod cpu;
pub mod memory;
pub mod nested;
pub mod profile;

/// A CPU or memory limit above the request (`TaskInfo.limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A finite limit in milli-units.
    Finite(i64),
    /// `+Infinity`: unlimited.
    Infinite,
}
