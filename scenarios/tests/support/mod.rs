//! What the scenario integration tests share: loading a library file or an inline text
//! with `--set` overrides, and running it (optionally with the over-allocation invariant
//! checked after every event, optionally keeping the event log as parsed JSON lines).
// Each test binary compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::summary::Summary;
use serde_json::Value;

fn owned(overrides: &[&str]) -> Vec<String> {
    overrides.iter().map(|s| s.to_string()).collect()
}

/// A file of the scenario library (beside the crate's sources), with overrides.
pub fn library(file: &str, overrides: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    Scenario::load(&path, &owned(overrides)).unwrap_or_else(|e| panic!("{e}"))
}

/// A scenario written in the test, named `name` in error messages.
pub fn inline(text: &str, name: &str, overrides: &[&str]) -> Scenario {
    Scenario::parse(text, Path::new(name), &owned(overrides)).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs with default options.
pub fn run(scenario: &Scenario) -> Summary {
    sim::run(scenario, RunOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .summary
}

/// Runs with the over-allocation invariant checked after every event.
pub fn run_checked(scenario: &Scenario) -> Summary {
    let options = RunOptions {
        check_invariants: true,
        ..RunOptions::default()
    };
    sim::run(scenario, options)
        .unwrap_or_else(|e| panic!("{e}"))
        .summary
}

/// Runs with the invariant checks on; returns the summary and the event log's lines.
pub fn run_checked_logged(scenario: &Scenario) -> (Summary, Vec<Value>) {
    let mut log = Vec::new();
    let out = sim::run(
        scenario,
        RunOptions {
            event_log: Some(&mut log),
            check_invariants: true,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let lines = String::from_utf8(log)
        .expect("the event log is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.summary, lines)
}
