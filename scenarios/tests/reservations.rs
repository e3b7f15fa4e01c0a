//! The reservation scenarios' key figures: dynamic vs static idle reservations, a stateful service surviving failures with its data, a reservation update moving a volume to another role, data lost only with an agent; and the event log records every operation with its outcome.

mod support;

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::summary::{ReservationsSummary, Summary};

use support::library as load;

/// Runs with the over-allocation invariant checked after every event.
fn run(scenario: &Scenario, log: Option<&mut Vec<u8>>) -> Summary {
    let options = RunOptions {
        check_invariants: true,
        event_log: log.map(|l| l as &mut dyn std::io::Write),
        ..RunOptions::default()
    };
    sim::run(scenario, options)
        .unwrap_or_else(|e| panic!("{e}"))
        .summary
}

fn reservations(s: &Summary) -> &ReservationsSummary {
    s.reservations.as_ref().expect("a reservations section")
}

fn launched(s: &Summary, name: &str) -> u64 {
    s.frameworks
        .iter()
        .find(|f| f.name == name)
        .unwrap()
        .tasks_launched
}

#[test]
fn dynamic_reservations_leave_nothing_reserved_idle_unlike_static_ones() {
    let dynamic = run(
        &load("dynamic-reservation.toml", &["duration=\"5m\""]),
        None,
    );
    let r = reservations(&dynamic);
    assert_eq!(launched(&dynamic, "cassandra"), 4);
    assert_eq!(r.applied.get("reserve"), Some(&4));
    assert_eq!(r.volumes_created, 4);
    // Sampled every 10 s from t=0, when nothing is reserved yet; from the 10 s sample
    // on, 4 instances × 2 cpus of 16 agents × 8 cpus = 1/16, all of it in use.
    assert_eq!(r.reserved_fraction["cpus"], 0.060417, "1/16 × 290/300");
    assert_eq!(r.idle_reserved_fraction["cpus"], 0.0);

    let fixed = run(
        &load(
            "dynamic-reservation.toml",
            &[
                "duration=\"5m\"",
                "agents[db-host].resources=\"cpus(db):8;mem(db):16384;disk(db):100000\"",
                "frameworks[cassandra].stateful.reserve=false",
            ],
        ),
        None,
    );
    let r = reservations(&fixed);
    assert_eq!(launched(&fixed, "cassandra"), 4);
    assert_eq!(
        r.applied.get("reserve"),
        None,
        "static reservations need no RESERVE"
    );
    assert_eq!(r.reserved_fraction["cpus"], 0.25);
    // All 32 reserved cpus idle at the t=0 sample, then 4 hosts × 6 idle cpus of 128.
    assert_eq!(
        r.idle_reserved_fraction["cpus"], 0.189583,
        "(10 × 0.25 + 290 × 0.1875) / 300"
    );
}

#[test]
fn a_stateful_service_survives_task_failures_with_no_data_lost() {
    let s = run(&load("persistent-volume-failover.toml", &[]), None);
    let r = reservations(&s);
    assert_eq!(r.volume_data_lost, 0);
    assert_eq!(r.volumes_created, 3);
    assert_eq!(r.volumes_at_end, 3);
    assert_eq!(r.applied.get("reserve"), Some(&3));
    // Every failure but at most the last of each instance is followed by a relaunch
    // on the same volume before the run ends.
    let failed = s.tasks.failed;
    assert!(failed >= 5, "the failure process runs: {failed} failures");
    assert!(
        (failed.saturating_sub(3)..=failed).contains(&r.relaunches_same_volume),
        "{failed} failures, {} relaunches",
        r.relaunches_same_volume
    );
    // 3 first launches, the relaunches, and at most one launch per instance still on
    // its way when the run ends.
    let postgres = launched(&s, "postgres");
    let first_and_relaunches = 3 + r.relaunches_same_volume;
    assert!(
        (first_and_relaunches..=first_and_relaunches + 3).contains(&postgres),
        "{postgres} launches"
    );
}

#[test]
fn a_reservation_update_moves_the_volume_and_its_data_to_another_role() {
    let mut log = Vec::new();
    let s = run(&load("reservation-update.toml", &[]), Some(&mut log));
    let r = reservations(&s);
    assert_eq!(r.volume_data_lost, 0);
    assert_eq!(r.applied.get("update_reservation"), Some(&1));
    assert_eq!(r.rejected["update_reservation"]["not_available"], 1);
    assert_eq!(r.volumes_created, 1, "the volume is moved, never recreated");
    assert_eq!(r.adopted_volume_launches, 1);
    assert_eq!(launched(&s, "analytics-db"), 1);

    // Every operation is in the event log with its outcome (and reason if rejected).
    let text = String::from_utf8(log).unwrap();
    let ops: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| matches!(v["kind"].as_str(), Some("operation" | "operator_operation")))
        .collect();
    let applied: u64 = r.applied.values().sum();
    let rejected: u64 = r.rejected.values().flat_map(|m| m.values()).sum();
    assert_eq!(ops.len() as u64, applied + rejected);
    for op in &ops {
        match op["state"].as_str() {
            Some("APPLIED") => assert!(op.get("reason").is_none(), "{op}"),
            Some("REJECTED") => assert!(op["reason"].is_string(), "{op}"),
            other => panic!("operation without an outcome: {other:?}"),
        }
    }
    let moved = ops
        .iter()
        .find(|o| o["state"] == "APPLIED" && o["kind"] == "operator_operation")
        .expect("the applied update");
    assert!(moved["resources"]
        .as_str()
        .unwrap()
        .contains("disk(dyn:analytics@ops)[id=reports-v1-0"));
}

#[test]
fn removing_an_agent_loses_its_volumes_and_the_instance_starts_over() {
    let text = r#"
duration = "3m"
[[agents]]
name = "a"
resources = "cpus:4;mem:8192;disk:10000"
[[agents]]
name = "b"
resources = "cpus:4;mem:8192;disk:10000"
start = "90s"
[[frameworks]]
name = "kv"
roles = ["kv"]
refuse_seconds = 1
[frameworks.stateful]
instances = 1
task_resources = "cpus:1;mem:1024"
volume_mb = 1000
[[timeline]]
at = "1m"
action = "remove_agent"
agent = "a"
"#;
    let scenario = Scenario::parse(text, Path::new("inline.toml"), &[]).unwrap();
    let s = run(&scenario, None);
    let r = reservations(&s);
    // The volume on `a` goes with the agent; the instance makes a new one on `b`.
    assert_eq!(r.volume_data_lost, 1);
    assert_eq!(r.volumes_created, 2);
    assert_eq!(r.volumes_at_end, 1);
    assert_eq!(r.relaunches_same_volume, 0);
    assert_eq!(s.tasks.lost, 1);
    assert_eq!(launched(&s, "kv"), 2);
}

#[test]
fn scenarios_without_reservations_have_no_reservations_section() {
    let s = run(&load("weighted-roles.toml", &["duration=\"20s\""]), None);
    assert!(s.reservations.is_none());
}

#[test]
fn operator_calls_reserve_create_resize_destroy_and_unreserve_volumes() {
    let text = r#"
duration = "1m"
[[agents]]
name = "a"
resources = "cpus:2;mem:1024;disk:1000"
[[frameworks]]
name = "holder"
roles = ["kv"]
capabilities = ["shared_resources"]
[frameworks.scripted]
[[timeline]]
at = "10s"
action = "reserve"
agent = "a"
principal = "ops"
resources = "disk(dyn:kv@ops):500"
[[timeline]]
at = "20s"
action = "create_volume"
agent = "a"
principal = "ops"
resources = "disk(dyn:kv@ops)[id=s1,principal=ops,path=data]<SHARED>:500"
[[timeline]]
at = "30s"
action = "destroy_volume"
agent = "a"
resources = "disk(dyn:kv@ops)[id=s1,principal=ops,path=data]<SHARED>:500"
[[timeline]]
at = "40s"
action = "unreserve"
agent = "a"
resources = "disk(dyn:kv@ops):500"
[[timeline]]
at = "41s"
action = "unreserve"
agent = "a"
resources = "disk(kv):1"
[[timeline]]
at = "45s"
action = "reserve"
agent = "a"
resources = "disk(dyn:kv):300"
[[timeline]]
at = "46s"
action = "create_volume"
agent = "a"
resources = "disk(dyn:kv)[id=v2,path=data]:100"
[[timeline]]
at = "47s"
action = "grow_volume"
agent = "a"
resources = "disk(dyn:kv)[id=v2,path=data]:100"
addition = "disk(dyn:kv):150"
[[timeline]]
at = "48s"
action = "shrink_volume"
agent = "a"
resources = "disk(dyn:kv)[id=v2,path=data]:250"
subtract = "disk:50"
"#;
    let scenario = Scenario::parse(text, Path::new("inline.toml"), &[]).unwrap();
    let mut log = Vec::new();
    let s = run(&scenario, Some(&mut log));
    let r = reservations(&s);
    for (kind, n) in [
        ("reserve", 2),
        ("create", 2),
        ("destroy", 1),
        ("unreserve", 1),
        ("grow_volume", 1),
        ("shrink_volume", 1),
    ] {
        assert_eq!(r.applied.get(kind), Some(&n), "{kind}: {r:?}");
    }
    assert_eq!(r.rejected["unreserve"]["not_dynamically_reserved"], 1);
    assert_eq!(
        (r.volumes_created, r.volumes_destroyed, r.volumes_at_end),
        (2, 1, 1)
    );
    assert_eq!(r.volume_data_lost, 0);
    // The scripted framework holds every offer: reserve and create rescind it to get
    // at the resources; the destroyed shared volume is rescinded from its offer.
    let text = String::from_utf8(log).unwrap();
    let rescinds: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"rescind\""))
        .collect();
    assert_eq!(rescinds.len() as u64, s.allocator.rescinds);
    assert!(
        rescinds
            .iter()
            .any(|l| l.contains("id=s1") && l.contains("<SHARED>")),
        "{rescinds:?}"
    );
}

#[test]
fn bad_reservation_input_names_the_field() {
    let base = r#"
duration = "1m"
[[agents]]
name = "a"
resources = "cpus:2;mem:1024;disk:1000"
"#;
    let cases = [
        (
            "[[frameworks]]\nname = \"kv\"\nroles = [\"kv\"]\n[frameworks.stateful]\ninstances = 1\ntask_resources = \"cpus:1\"\nvolume_mb = 10\nagents = [\"b\"]\n",
            "frameworks[0].stateful.agents",
        ),
        (
            "[[frameworks]]\nname = \"kv\"\nroles = [\"kv\"]\n[frameworks.stateful]\ninstances = 1\ntask_resources = \"cpus(kv):1\"\nvolume_mb = 10\n",
            "frameworks[0].stateful.task_resources",
        ),
        (
            "[[timeline]]\nat = \"1s\"\naction = \"reserve\"\nagent = \"a\"\nsource = \"cpus:1\"\nresources = \"cpus(dyn:kv):1\"\n",
            "timeline[0]",
        ),
        (
            "[[timeline]]\nat = \"1s\"\naction = \"update_reservation\"\nagent = \"a\"\nresources = \"cpus(dyn:kv):1\"\n",
            "timeline[0]",
        ),
        (
            "[[timeline]]\nat = \"1s\"\naction = \"create_volume\"\nagent = \"a\"\n",
            "timeline[0]",
        ),
    ];
    for (extra, field) in cases {
        let text = format!("{base}{extra}");
        let err = Scenario::parse(&text, Path::new("bad.toml"), &[])
            .err()
            .unwrap_or_else(|| panic!("accepted: {extra}"))
            .to_string();
        assert!(err.starts_with("bad.toml:") && err.contains(field), "{err}");
    }
}

#[test]
fn reservation_runs_are_deterministic_and_never_over_allocate_under_any_policy() {
    let scenario = load("persistent-volume-failover.toml", &["duration=\"15m\""]);
    let bytes = |policy: &str| {
        let mut log = Vec::new();
        let out = sim::run(
            &scenario,
            RunOptions {
                policy: Some(policy.to_string()),
                check_invariants: true,
                event_log: Some(&mut log),
                ..RunOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{policy}: {e}"));
        (out.summary, out.metrics, log)
    };
    for policy in models::allocator::ALLOCATOR_NAMES {
        let (a, a_metrics, a_log) = bytes(policy);
        let (b, b_metrics, b_log) = bytes(policy);
        assert_eq!(a, b, "{policy}");
        assert_eq!(a_metrics, b_metrics, "{policy}");
        assert!(a_log == b_log, "{policy}: event logs differ");
        assert!(a_metrics.iter().any(|(name, _)| name == "reservations.csv"));
        let r = reservations(&a);
        assert_eq!(r.volume_data_lost, 0, "{policy}");
        assert_eq!(r.volumes_created, 3, "{policy}");
        assert!(r.relaunches_same_volume > 0, "{policy}: {r:?}");
    }
}
