//! Scenario files and the composition root of a simulation. See README.md in this crate.
