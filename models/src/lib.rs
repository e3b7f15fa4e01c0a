//! The Mesos domain as engine-independent state machines. See README.md in this crate.
//!
//! * [`resources`]: Mesos resources with fixed-point arithmetic and the text notation;
//! * [`sorter`]: the role and framework sorters (hierarchical DRF, weighted random);
//! * [`allocator`]: the hierarchical allocator and baselines behind one trait;
//! * [`operations`]: RESERVE, UNRESERVE, CREATE, DESTROY and reservation updates;
//! * [`usage`]: what tasks really use: usage profiles, CFS CPU sharing, memory kills;
//! * [`oversubscription`]: resource estimators and QoS controllers;
//! * [`network`]: link topology, max-min fair flows and per-container isolation;
//! * [`fetcher`]: the per-agent fetcher cache (LRU, in-use entries, shared downloads);
//! * [`tls`]: TLS handshake, encryption and record-overhead costs.

pub mod allocator;
pub mod fetcher;
pub mod network;
pub mod operations;
pub mod oversubscription;
pub mod resources;
pub mod sorter;
pub mod tls;
pub mod usage;
