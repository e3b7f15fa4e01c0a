//! Usage-model benchmark: what the resource usage model (CFS CPU sharing, memory
//! checks, completion timers) costs a whole simulation at scale.
//!
//! # Setting
//!
//! `agents` agents of `cpus:20;mem:40960`, one service framework with 20 one-CPU
//! instances per agent whose CPU usage is redrawn uniformly between 0.2 and 1.5 of the
//! request every 10 s (`[usage] interval`), so every agent's rates change every tick.
//! The same simulation without the usage model is the baseline, run in the same
//! process, the runs interleaved. Figures are simulated seconds per second of the
//! benchmark thread's CPU time; the ratio is
//! usage ÷ baseline (1.0 = free).

use std::fmt::Write as _;
use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};

use crate::timing::Stopwatch;

/// One measured scale.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UsageBenchRecord {
    /// Agents.
    pub agents: u64,
    /// Tasks per agent.
    pub tasks_per_agent: u64,
    /// Simulated time of each run, seconds.
    pub sim_seconds: f64,
    /// Engine events with the usage model.
    pub events: u64,
    /// Engine events of the baseline.
    pub baseline_events: u64,
    /// CPU time of the best run with the usage model, seconds (see [`crate::timing`]).
    pub cpu_seconds: f64,
    /// CPU time of the baseline's best run, seconds.
    pub baseline_cpu_seconds: f64,
    /// Simulated seconds per CPU second with the usage model.
    pub sim_seconds_per_cpu_second: f64,
    /// The same without it.
    pub baseline_sim_seconds_per_cpu_second: f64,
    /// `sim_seconds_per_cpu_second / baseline_sim_seconds_per_cpu_second`.
    pub ratio_to_baseline: f64,
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct UsageBenchOptions {
    /// 200 agents for 5 simulated minutes instead of 10,000 for 10 (CI smoke test).
    pub quick: bool,
}

/// Tasks per agent in every setting.
pub const TASKS_PER_AGENT: u64 = 20;

/// The scenario text: with `usage`, the model is on.
pub fn scenario_text(agents: u64, duration_s: u64, usage: bool) -> String {
    let mut s = format!(
        r#"name = "bench-usage"
seed = 1
duration = "{duration_s}s"
metrics_interval = "60s"

[[agents]]
name = "a"
count = {agents}
resources = "cpus:20;mem:40960"

[[frameworks]]
name = "svc"
roles = ["svc"]
suppress_when_idle = true
[frameworks.service]
instances = {instances}
task_resources = "cpus:1;mem:1024"
"#,
        instances = agents * TASKS_PER_AGENT
    );
    if usage {
        s.push_str(
            r#"[frameworks.usage]
cpu = { profile = "uniform", min = 0.2, max = 1.5 }
mem = { profile = "constant", level = 0.5 }

[usage]
interval = "10s"
"#,
        );
    }
    s
}

fn timed(text: &str) -> (f64, u64) {
    let scenario = Scenario::parse(text, Path::new("bench-usage.toml"), &[])
        .expect("the bench scenario is valid");
    let watch = Stopwatch::start();
    let out = sim::run(&scenario, RunOptions::default()).expect("the bench scenario runs");
    (watch.elapsed().as_secs_f64(), out.summary.events)
}

/// Runs the benchmark.
pub fn run(options: &UsageBenchOptions) -> Vec<UsageBenchRecord> {
    let (agents, duration_s) = if options.quick {
        (200, 300)
    } else {
        (10_000, 600)
    };
    // The baseline takes ~5 ms in quick mode: alone, one preemption or cache flush
    // moved the ratio by half. Interleaved repetitions, the best of each, do not.
    let reps = if options.quick { 5 } else { 1 };
    let base_text = scenario_text(agents, duration_s, false);
    let usage_text = scenario_text(agents, duration_s, true);
    let (mut base_cpu, mut base_events) = (f64::INFINITY, 0);
    let (mut cpu, mut events) = (f64::INFINITY, 0);
    for _ in 0..reps {
        let (seconds, n) = timed(&base_text);
        if seconds < base_cpu {
            (base_cpu, base_events) = (seconds, n);
        }
        let (seconds, n) = timed(&usage_text);
        if seconds < cpu {
            (cpu, events) = (seconds, n);
        }
    }
    let rate = duration_s as f64 / cpu.max(1e-9);
    let base_rate = duration_s as f64 / base_cpu.max(1e-9);
    vec![UsageBenchRecord {
        agents,
        tasks_per_agent: TASKS_PER_AGENT,
        sim_seconds: duration_s as f64,
        events,
        baseline_events: base_events,
        cpu_seconds: cpu,
        baseline_cpu_seconds: base_cpu,
        sim_seconds_per_cpu_second: rate,
        baseline_sim_seconds_per_cpu_second: base_rate,
        ratio_to_baseline: rate / base_rate,
    }]
}

/// A text table of the records.
pub fn render_table(records: &[UsageBenchRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>7} {:>6} {:>7} {:>10} {:>10} {:>12} {:>12} {:>7}",
        "agents", "tasks", "sim s", "events", "base ev", "sim s/cpu s", "base s/cpu s", "ratio"
    );
    for r in records {
        let _ = writeln!(
            out,
            "{:>7} {:>6} {:>7.0} {:>10} {:>10} {:>12.1} {:>12.1} {:>6.2}x",
            r.agents,
            r.agents * r.tasks_per_agent,
            r.sim_seconds,
            r.events,
            r.baseline_events,
            r.sim_seconds_per_cpu_second,
            r.baseline_sim_seconds_per_cpu_second,
            r.ratio_to_baseline
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_settings_parse_and_only_one_uses_the_model() {
        let on = Scenario::parse(&scenario_text(3, 30, true), Path::new("b.toml"), &[]).unwrap();
        let off = Scenario::parse(&scenario_text(3, 30, false), Path::new("b.toml"), &[]).unwrap();
        assert!(on.usage.is_some() && on.frameworks[0].usage.is_some());
        assert!(off.usage.is_none() && off.frameworks[0].usage.is_none());
        assert_eq!(on.agents.len(), 3);
    }
}
