//! The usage model end to end (oversubscription and bursting): the comparisons the
//! library's `oversubscription.toml` and `bursting.toml` promise, the kills they cause
//! and determinism. Each comparison runs the same scenario twice and compares.

mod support;

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::summary::Summary;

/// Runs with the invariant checks on; returns the summary and the event log lines.
fn run(file: &str, overrides: &[&str]) -> (Summary, Vec<serde_json::Value>) {
    support::run_checked_logged(&support::library(file, overrides))
}

/// Forty minutes take the services from their trough to past their peak.
const OVERSUB_SHORT: &str = "duration=\"40m\"";

#[test]
fn the_usage_estimator_raises_used_utilization_over_noop() {
    let (usage, log) = run("oversubscription.toml", &[OVERSUB_SHORT]);
    let (noop, _) = run(
        "oversubscription.toml",
        &[OVERSUB_SHORT, "usage.estimator=\"noop\""],
    );
    let (u, n) = (
        usage.oversubscription.as_ref().unwrap(),
        noop.oversubscription.as_ref().unwrap(),
    );
    assert_eq!(n.revocable_cpus_mean, 0.0, "noop never reports");
    assert_eq!(n.revocable_tasks_launched, 0);
    assert!(u.revocable_cpus_mean > 0.0 && u.revocable_tasks_launched > 0);
    // The same services hold the same allocation; only the revocable work differs.
    assert_eq!(u.allocated_utilization, n.allocated_utilization);
    assert!(
        u.used_utilization > n.used_utilization + 0.1,
        "usage {} vs noop {}",
        u.used_utilization,
        n.used_utilization
    );
    assert!(u.best_effort_cpu_seconds > 0.0);
    // Revocable CPUs are offered only to the framework with REVOCABLE_RESOURCES.
    let revocable_offers: Vec<&serde_json::Value> = log
        .iter()
        .filter(|r| r["kind"] == "offer" && r["resources"].as_str().unwrap().contains("{REV}"))
        .collect();
    assert!(!revocable_offers.is_empty());
    assert!(revocable_offers
        .iter()
        .all(|r| r["framework"] == "analytics"));
    assert!(log.iter().any(|r| r["kind"] == "oversubscribed"));
    // Rescinds can come only from changed estimates here, so any is of a revocable
    // offer (`a_changed_estimate_rescinds_outstanding_revocable_offers` makes one).
    let rescinded_revocable = log
        .iter()
        .filter(|r| r["kind"] == "rescind")
        .all(|r| r["resources"].as_str().unwrap().contains("{REV}"));
    assert!(rescinded_revocable, "only revocable offers are rescinded");
}

#[test]
fn qos_controllers_trade_kills_for_shortfall() {
    let summary = |qos: &str| {
        let (s, log) = run(
            "oversubscription.toml",
            &[OVERSUB_SHORT, &format!("usage.qos=\"{qos}\"")],
        );
        // Every QoS kill is a revocable task lost with REASON_CONTAINER_PREEMPTED.
        let preempted: Vec<&serde_json::Value> = log
            .iter()
            .filter(|r| r["reason"] == "REASON_CONTAINER_PREEMPTED")
            .collect();
        assert!(preempted
            .iter()
            .all(|r| r["framework"] == "analytics" && r["state"] == "TASK_LOST"));
        let o = s.oversubscription.clone().unwrap();
        assert_eq!(preempted.len() as u64, o.revocable_tasks_killed_by_qos);
        assert_eq!(s.tasks.revoked, o.revocable_tasks_killed_by_qos);
        o
    };
    let (noop, load, shortfall) = (summary("noop"), summary("load"), summary("shortfall"));
    assert_eq!(noop.revocable_tasks_killed_by_qos, 0);
    assert!(load.revocable_tasks_killed_by_qos > 0);
    assert!(
        shortfall.revocable_tasks_killed_by_qos < load.revocable_tasks_killed_by_qos,
        "shortfall kills {} vs load {}",
        shortfall.revocable_tasks_killed_by_qos,
        load.revocable_tasks_killed_by_qos
    );
    let short =
        |o: &scenarios::sim::OversubscriptionSummary| o.latency_sensitive_shortfall_cpu_seconds;
    assert!(
        short(&shortfall) < short(&noop) / 2.0,
        "shortfall controller {} vs none {}",
        short(&shortfall),
        short(&noop)
    );
    assert!(short(&load) < short(&noop));
}

#[test]
fn bursting_batch_finishes_sooner_than_capped_at_its_request() {
    let (burst, _) = run("bursting.toml", &[]);
    let (capped, _) = run("bursting.toml", &["frameworks[batch].usage.cpus_limit=1"]);
    let (b, c) = (burst.bursting.unwrap(), capped.bursting.unwrap());
    assert_eq!(b.work_tasks_finished, c.work_tasks_finished);
    // Capped at the request a task takes exactly its 4 minutes, throttled throughout.
    assert_eq!(c.mean_runtime_s, 240.0);
    assert_eq!(c.cpu_seconds_above_request, 0.0);
    assert_eq!(
        c.throttled_task_seconds,
        240.0 * c.work_tasks_finished as f64
    );
    // With idle neighbours the same work takes less time.
    assert!(b.mean_runtime_s < 0.75 * c.mean_runtime_s, "{b:?}");
    assert!(b.completion_time_change < -0.25);
    assert!(b.cpu_seconds_above_request > 0.0);
}

#[test]
fn memory_bursts_kill_the_right_containers() {
    let (s, log) = run("bursting.toml", &[]);
    let b = s.bursting.unwrap();
    let reasons = |reason: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r["reason"] == reason)
            .map(|r| {
                assert_eq!(r["state"], "TASK_FAILED");
                r["framework"].as_str().unwrap().to_string()
            })
            .collect()
    };
    // Both leaky tasks pass their 1.5 GB limit at 2 minutes (2 GB used).
    let limit = reasons("REASON_CONTAINER_LIMITATION_MEMORY");
    assert_eq!(limit, ["leaky", "leaky"]);
    assert_eq!(b.memory_limit_kills, 2);
    // The unlimited cache tasks grow to 12 GB: the host runs out, and the OOM killer
    // picks a burstable cache task (highest badness), never a service within its request.
    let oom = reasons("REASON_EXECUTOR_TERMINATED");
    assert!(!oom.is_empty());
    assert!(oom.iter().all(|f| f == "cache"), "{oom:?}");
    assert_eq!(b.oom_kills, oom.len() as u64);
}

#[test]
fn usage_runs_are_deterministic() {
    let once = || {
        let (s, log) = run("oversubscription.toml", &["duration=\"15m\""]);
        (serde_json::to_string(&s).unwrap(), log)
    };
    let (a, la) = once();
    let (b, lb) = once();
    assert_eq!(a, b);
    assert_eq!(la, lb);
}

#[test]
fn a_scenario_without_the_model_has_no_usage_sections() {
    let s = Scenario::quickstart(&["duration=\"20s\"".to_string()]).unwrap();
    let out = sim::run(&s, RunOptions::default()).unwrap();
    assert!(out.summary.oversubscription.is_none() && out.summary.bursting.is_none());
    let json = serde_json::to_string(&out.summary).unwrap();
    assert!(!json.contains("oversubscription") && !json.contains("bursting"));
}

#[test]
fn bad_usage_fields_name_their_place() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bursting.toml"))
        .unwrap();
    let bad = text.replace("cpus_limit = 4", "cpus_limit = 0.5");
    let e = Scenario::parse(&bad, Path::new("bursting.toml"), &[]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bursting.toml:") && msg.contains("cpus_limit"),
        "{msg}"
    );
    assert!(msg.contains("at least the request"), "{msg}");
    let bad = text.replace("[usage]\n", "[usage]\nqos = \"magic\"\n");
    let msg = Scenario::parse(&bad, Path::new("bursting.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("usage.qos") && msg.contains("magic"), "{msg}");
    let bad = text.replace("profile = \"uniform\"", "profile = \"wavy\"");
    let msg = Scenario::parse(&bad, Path::new("bursting.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cpu.profile") && msg.contains("wavy"), "{msg}");
}

#[test]
fn a_changed_estimate_rescinds_outstanding_revocable_offers() {
    // One 8-CPU agent; a service holds 4 CPUs and uses 1 of them, then 2 (from its
    // 15th second, seen at the agent's 20 s usage tick);
    // a scripted best-effort framework, registered at 1 s, holds every offer it gets. The usage estimator
    // (no smoothing, no margin) reports 3 revocable CPUs at 15 s and 2 at 30 s: the
    // master rescinds the held `cpus{REV}:3` offer and the allocator offers 2.
    let text = r#"
duration = "35s"
[usage]
estimator = "usage"
smoothing = 1.0
margin = 0.0
[[agents]]
name = "a1"
resources = "cpus:8;mem:8192"
[[frameworks]]
name = "svc"
roles = ["svc"]
[frameworks.service]
instances = 1
task_resources = "cpus:4;mem:1024"
[frameworks.usage]
cpu = { profile = "table", steps = [["0s", 0.25], ["15s", 0.5]] }
[[frameworks]]
name = "be"
roles = ["be"]
capabilities = ["revocable_resources"]
start = "1s"
scripted = {}
"#;
    let scenario = Scenario::parse(text, Path::new("rescind.toml"), &[]).unwrap();
    let mut log = Vec::new();
    sim::run(
        &scenario,
        RunOptions {
            event_log: Some(&mut log),
            check_invariants: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let log: Vec<serde_json::Value> = String::from_utf8(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let revocable: Vec<(u64, &str, &str)> = log
        .iter()
        .filter(|r| {
            matches!(
                r["kind"].as_str(),
                Some("offer" | "rescind" | "oversubscribed")
            ) && r["resources"].as_str().unwrap_or("").contains("{REV}")
        })
        .map(|r| {
            (
                r["t_ns"].as_u64().unwrap() / 1_000_000_000,
                r["kind"].as_str().unwrap(),
                r["resources"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revocable,
        [
            (15, "oversubscribed", "cpus{REV}:3"),
            (15, "offer", "cpus{REV}:3"),
            (30, "oversubscribed", "cpus{REV}:2"),
            (30, "rescind", "cpus{REV}:3"),
            (30, "offer", "cpus{REV}:2"),
        ]
    );
    assert!(log
        .iter()
        .filter(|r| r["kind"] == "offer" && r["resources"].as_str().unwrap().contains("{REV}"))
        .all(|r| r["framework"] == "be"));
}
