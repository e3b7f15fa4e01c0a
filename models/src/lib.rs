//! The Mesos domain as engine-independent state machines. See README.md in this crate.
