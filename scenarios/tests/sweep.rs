//! Sweeps: a grid of settings × policies × seeds, whole or in shards merged back.
//! The merged shards must give the whole sweep's bytes, each run must be the plain run
//! of its settings, and a known Mesos rule (a decline filter lasts at least one
//! allocation interval) must show in the grid.

use std::path::{Path, PathBuf};

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::sweep::{merge, Shard, Sweep, SweepError, SweepResult};

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("quickstart.toml")
}

/// A sweep file in `dir` over the library's quickstart, shortened.
fn sweep_file(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("grid.toml");
    let text = format!(
        "scenario = {:?}\nset = ['duration=\"3m\"']\n{body}",
        quickstart().display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

const GRID: &str = r#"
policies = ["hdrf", "fifo"]
seeds = 2

[[axis]]
key = "master.allocation_interval"
values = ["1s", "5s"]

[[axis]]
key = "frameworks[spark].refuse_seconds"
values = [1, 5]
"#;

fn files(r: &SweepResult) -> (String, String, String) {
    (
        serde_json::to_string_pretty(r).unwrap(),
        r.runs_csv(),
        r.points_csv(),
    )
}

#[test]
fn merged_shards_give_the_whole_sweeps_bytes_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), GRID)).unwrap();
    assert_eq!(sweep.total_runs(), 4 * 2 * 2);
    let whole = sweep.run(None, 1).unwrap();
    assert_eq!(whole.runs.len(), 16);
    assert_eq!(
        whole.points.len(),
        4 * 2,
        "one aggregate per point and policy"
    );
    assert_eq!(files(&sweep.run(None, 2).unwrap()), files(&whole));

    let mut shards: Vec<(String, SweepResult)> = (0..3)
        .map(|i| {
            let shard = sweep.run(Some(Shard::new(i, 3).unwrap()), 2).unwrap();
            assert!(shard.points.is_empty(), "a shard's points are partial");
            (format!("shard{i}"), shard)
        })
        .collect();
    assert_eq!(
        shards.iter().map(|(_, s)| s.runs.len()).sum::<usize>(),
        16,
        "every run in exactly one shard"
    );
    shards.reverse();
    let merged = merge(shards).unwrap();
    assert_eq!(files(&merged), files(&whole));
}

#[test]
fn each_run_is_the_plain_run_of_its_settings_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), GRID)).unwrap();
    let result = sweep.run(None, 0).unwrap();
    // Runs 12-15 are point 3 (interval 5s, refuse 5): hdrf then fifo, two seeds each.
    let record = &result.runs[15];
    assert_eq!((record.point, record.policy.as_str()), (3, "fifo"));
    let scenario = Scenario::load(
        &quickstart(),
        &[
            "duration=\"3m\"".to_string(),
            "master.allocation_interval=\"5s\"".to_string(),
            "frameworks[spark].refuse_seconds=5".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(record.seed, scenario.seed + 1);
    assert_eq!(
        sweep.overrides(3)[1..],
        [
            "master.allocation_interval=\"5s\"",
            "frameworks[spark].refuse_seconds=5"
        ]
    );
    let summary = sim::run(
        &scenario,
        RunOptions {
            seed: Some(record.seed),
            policy: Some("fifo".into()),
            ..RunOptions::default()
        },
    )
    .unwrap()
    .summary;
    assert_eq!(record.figures["fairness"], summary.fairness);
    assert_eq!(record.figures["wait_ns.p99"], summary.wait_ns.p99 as f64);
    assert_eq!(
        record.figures["allocator.offers"],
        summary.allocator.offers as f64
    );
    assert_eq!(
        record.figures["tasks.finished"],
        summary.tasks.finished as f64
    );
}

#[test]
fn a_decline_filter_lasts_at_least_one_allocation_interval() {
    // mesos-semantics.md: a filter's effective duration is max(refuse_seconds,
    // allocation_interval), so refusing for 1 s or 5 s is the same at a 5 s interval
    // and not at 1 s.
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), GRID)).unwrap();
    let result = sweep.run(None, 0).unwrap();
    let point = |p: u64, policy: &str| {
        result
            .points
            .iter()
            .find(|r| r.point == p && r.policy == policy)
            .map(|r| r.metrics.clone())
            .unwrap()
    };
    for policy in ["hdrf", "fifo"] {
        assert_eq!(point(2, policy), point(3, policy), "{policy} at 5s");
        assert_ne!(point(0, policy), point(1, policy), "{policy} at 1s");
    }
}

#[test]
fn merge_refuses_missing_duplicate_whole_and_foreign_shards() {
    let dir = tempfile::tempdir().unwrap();
    let grid =
        "seeds = 1\n[[axis]]\nkey = \"master.allocation_interval\"\nvalues = [\"1s\", \"2s\"]\n";
    let sweep = Sweep::load(&sweep_file(dir.path(), grid)).unwrap();
    let shard = |i| {
        (
            format!("s{i}"),
            sweep.run(Some(Shard::new(i, 2).unwrap()), 1).unwrap(),
        )
    };
    let message = |r: Result<SweepResult, SweepError>| r.unwrap_err().to_string();
    assert_eq!(message(merge(vec![shard(0)])), "missing shards: 1/2");
    assert_eq!(
        message(merge(vec![shard(1), shard(1)])),
        "s1 and s1 are both shard 1/2"
    );
    let whole = ("w".to_string(), sweep.run(None, 1).unwrap());
    assert_eq!(
        message(merge(vec![whole])),
        "w is a whole sweep, not a shard"
    );
    let other_dir = tempfile::tempdir().unwrap();
    let other = Sweep::load(&sweep_file(other_dir.path(), &grid.replace("2s", "3s"))).unwrap();
    let foreign = (
        "o1".to_string(),
        other.run(Some(Shard::new(1, 2).unwrap()), 1).unwrap(),
    );
    assert!(message(merge(vec![shard(0), foreign]))
        .starts_with("o1 comes from a different sweep than s0"));
    let mut older = shard(1);
    older.1.mesosim_version = "0.0.1".into();
    assert!(message(merge(vec![shard(0), older])).starts_with("s1 was run by mesosim 0.0.1"));
    let mut edited = shard(1);
    edited.1.axes[0].values.clear();
    assert_eq!(
        message(merge(vec![shard(0), edited])),
        "s1: axis `master.allocation_interval` has no values"
    );
    let mut moved = shard(1);
    moved.1.runs[0].point = 0;
    assert_eq!(
        message(merge(vec![shard(0), moved])),
        "s1: run 1 does not match its point, policy or number"
    );
    let mut truncated = shard(1);
    truncated.1.runs.clear();
    assert!(message(merge(vec![shard(0), truncated])).contains("not runs 0..2 once each"));
}

#[test]
fn bad_sweep_files_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let error = |body: &str| match Sweep::load(&sweep_file(dir.path(), body)) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => e.to_string(),
    };
    let path = dir.path().join("grid.toml").display().to_string();
    assert_eq!(
        error("policies = [\"hdrf\", \"nope\"]\n"),
        format!("{path}:3:21: field `policies`: unknown allocator `nope` (expected one of hdrf, random, fifo, bestfit)")
    );
    assert_eq!(
        error("seeds = 0\n"),
        format!("{path}:3:9: field `seeds`: must be at least 1")
    );
    assert!(error("bogus = 1\n").starts_with(&format!("{path}:3:1: unknown field `bogus`")));
    let bad_value =
        error("[[axis]]\nkey = \"master.allocation_interval\"\nvalues = [\"1s\", \"-3s\"]\n");
    assert!(
        bad_value.starts_with(&format!("{path}:5:17: field `axis[0].values`: ")),
        "{bad_value}"
    );
    assert!(bad_value.contains("unknown unit `-3s`"), "{bad_value}");
    let bad_key = error("[[axis]]\nkey = \"frameworks[nope].refuse_seconds\"\nvalues = [1]\n");
    assert!(
        bad_key.starts_with(&format!("{path}:5:11: field `axis[0].values`")),
        "{bad_key}"
    );
}

#[test]
fn the_library_sweep_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/offer-filters.toml");
    let sweep = Sweep::load(&path).unwrap();
    assert_eq!(
        (sweep.policies.len(), sweep.seeds, sweep.total_runs()),
        (2, 3, 36)
    );
}
