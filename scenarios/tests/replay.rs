//! Trace replay end to end on the real Google 2011 sample (CC-BY 4.0, see
//! traces/testdata/ATTRIBUTION.md): machines become agents, tasks run for their traced
//! runtimes, and the result is deterministic.

use std::path::{Path, PathBuf};

use scenarios::sim::{self, ReplayOptions, RunOptions};
use scenarios::summary::Summary;
use sim_core::time::SimDuration;
use traces::{ReadOptions, TraceFormat, WorkloadRecord};

fn sample() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/testdata/google2011");
    vec![dir.join("machine_events"), dir.join("task_events")]
}

/// One machine in a hundred (about 125 of the cell's 12,500) keeps the test fast; tasks
/// are all kept, so the thinned cell is heavily loaded.
fn thinned() -> Box<dyn Iterator<Item = Result<WorkloadRecord, traces::TraceError>> + Send> {
    let reader = traces::open(TraceFormat::Google2011, &sample(), &ReadOptions::default()).unwrap();
    Box::new(
        reader.filter(|r| !matches!(r, Ok(WorkloadRecord::Machine(m)) if m.machine.0 % 100 != 0)),
    )
}

fn replay(
    policy: &str,
    log: Option<&mut Vec<u8>>,
    minutes: u64,
    check_invariants: bool,
) -> Summary {
    sim::replay(
        thinned(),
        ReplayOptions {
            name: "google2011-sample".into(),
            duration: Some(SimDuration::from_secs(minutes * 60)),
            run: RunOptions {
                policy: Some(policy.into()),
                event_log: log.map(|l| l as &mut dyn std::io::Write),
                check_invariants,
                ..RunOptions::default()
            },
            ..ReplayOptions::default()
        },
    )
    .unwrap()
    .summary
}

#[test]
fn google_2011_sample_replays_deterministically() {
    let mut log_a = Vec::new();
    let a = replay("hdrf", Some(&mut log_a), 5, false);
    let r = a.replay.clone().expect("a replay section");
    assert!(r.machines_added > 100 && r.machines_added < 150, "{r:?}");
    assert!(r.task_submissions > 1_000, "{r:?}");
    // Most agents at once: every added machine, less at most the removed ones.
    assert!(a.cluster.agents <= r.machines_added, "{r:?}");
    assert!(
        a.cluster.agents >= r.machines_added - r.machines_removed,
        "{r:?}"
    );
    assert!(
        a.tasks.launched > 0 && a.tasks.launched <= r.task_submissions,
        "{:?}",
        a.tasks
    );
    // Tasks go to the framework of their priority band.
    let launched = |name: &str| {
        a.frameworks
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .tasks_launched
    };
    assert!(launched("trace-batch") > 0 && launched("trace-prod") > 0);
    let mut log_b = Vec::new();
    let b = replay("hdrf", Some(&mut log_b), 5, false);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert!(log_a == log_b, "event logs differ");
}

#[test]
fn every_policy_replays_without_over_allocating() {
    for policy in models::allocator::ALLOCATOR_NAMES {
        // The invariant check walks every task after every event: keep this run short.
        let s = replay(policy, None, 1, true);
        assert!(s.tasks.launched > 0, "{policy} launched nothing");
    }
}

#[test]
fn a_bad_row_stops_the_replay_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("task_events");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("part-00000-of-00500.csv"),
        "0,,1,0,,0,u,0,9,0.1,0.1,0,0\n5,,1,0,,zz,u,0,9,0.1,0.1,0,0\n",
    )
    .unwrap();
    let reader = traces::open(TraceFormat::Google2011, &[bad], &ReadOptions::default()).unwrap();
    let err = sim::replay(Box::new(reader), ReplayOptions::default()).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("part-00000-of-00500.csv:2") && chain.contains("event type"),
        "{chain}"
    );
}

#[test]
fn a_band_subscribes_at_its_first_task_and_an_unused_band_gets_no_offers() {
    let mut log = Vec::new();
    let s = replay("hdrf", Some(&mut log), 5, false);
    let records: Vec<serde_json::Value> = log
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let first = |kind: &str, framework: &str| {
        records
            .iter()
            .find(|r| r["kind"] == kind && r["framework"] == framework)
            .map(|r| r["t_ns"].as_u64().unwrap())
    };
    let unused: Vec<&str> = s
        .frameworks
        .iter()
        .filter(|f| f.tasks_submitted == 0)
        .map(|f| f.name.as_str())
        .collect();
    assert!(!unused.is_empty(), "the sample leaves some band unused");
    for f in &s.frameworks {
        let added = first("framework_added", &f.name);
        if f.tasks_submitted == 0 {
            assert_eq!(added, None, "{} never had work", f.name);
            assert_eq!(first("offer", &f.name), None, "{} got offers", f.name);
        } else {
            let added = added.unwrap_or_else(|| panic!("{} never subscribed", f.name));
            assert!(
                first("offer", &f.name).is_none_or(|t| t >= added),
                "{}",
                f.name
            );
        }
    }
}
