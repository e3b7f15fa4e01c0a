//! Scenario files and the composition root of a simulation: parses and validates
//! scenarios, builds the Mesos models on the engine, runs them and compares policies.
//!
//! ```
//! use scenarios::{scenario::Scenario, sim};
//! let scenario = Scenario::quickstart(&["duration=\"30s\"".to_string()]).unwrap();
//! let out = sim::run(&scenario, sim::RunOptions::default()).unwrap();
//! assert!(out.summary.tasks.launched > 0);
//! ```

pub mod compare;
pub mod dist;
pub mod duration;
pub mod error;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod usage;
