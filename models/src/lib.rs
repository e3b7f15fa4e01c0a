//! The Mesos domain as engine-independent state machines. See README.md in this crate.
//!
//! * [`resources`]: Mesos resources with fixed-point arithmetic and the text notation;
//! * [`sorter`]: the role and framework sorters (hierarchical DRF, weighted random);
//! * [`allocator`]: the hierarchical allocator and baselines behind one trait;
//! * [`operations`]: RESERVE, UNRESERVE, CREATE, DESTROY and reservation updates.

pub mod allocator;
pub mod operations;
pub mod resources;
pub mod sorter;
