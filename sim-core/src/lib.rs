//! Deterministic discrete-event engine. See README.md in this crate.
