//! The `mesosim` binary end to end: outputs, determinism, exit codes and error
//! messages for bad input.

mod common;

use common::{mesosim, stderr};
use std::path::Path;
use std::process::Command;

fn scenario_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().to_string()
}

const SMALL: &str = r#"
duration = "2m"
[[agents]]
name = "a"
count = 4
resources = "cpus:4;mem:8192"
[[frameworks]]
name = "batch"
roles = ["eng"]
[frameworks.batch]
job_interarrival = { distribution = "exponential", mean = "5s" }
tasks_per_job = { distribution = "uniform", min = 1, max = 5 }
task_resources = "cpus:1;mem:1024"
task_duration = { distribution = "constant", value = "20s" }
"#;

#[test]
fn run_writes_outputs_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario_file(dir.path(), "small.toml", SMALL);
    for out in ["o1", "o2"] {
        let o = mesosim(
            &[
                "run",
                &s,
                "--seed",
                "3",
                "--out",
                out,
                "--event-log",
                &format!("{out}/events.jsonl"),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("tasks submitted / launched / finished"),
            "{text}"
        );
    }
    for file in [
        "summary.json",
        "events.jsonl",
        "metrics/utilization.csv",
        "metrics/dominant_share.csv",
        "metrics/queue_length.csv",
        "report.html",
    ] {
        let a = std::fs::read(dir.path().join("o1").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("o2").join(file)).unwrap();
        assert!(a == b, "{file} differs between identical runs");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("o1/summary.json")).unwrap())
            .unwrap();
    for key in [
        "mesosim_version",
        "scenario",
        "scenario_sha256",
        "seed",
        "policy",
        "sim_end_ns",
        "events",
        "cluster",
        "tasks",
        "utilization",
        "fairness",
        "wait_ns",
        "allocator",
        "frameworks",
        "roles",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["seed"], 3);
    assert!(summary["tasks"]["finished"].as_u64().unwrap() > 0);
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("o1/run.json")).unwrap()).unwrap();
    assert!(run["wall_s"].as_f64().unwrap() > 0.0);
    let first = std::fs::read_to_string(dir.path().join("o1/events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert!(
        first["t_ns"].is_u64() && first["kind"].is_string(),
        "{first}"
    );
    // Nothing temporary is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("o1"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn quickstart_runs_with_no_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesosim(
        &["run", "--set", "duration=\"2m\"", "--out", "q"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("q/summary.json").exists());
}

#[test]
fn bad_scenarios_exit_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown-field.toml",
            SMALL.replace("count = 4", "count = 4\ncolour = \"red\""),
            "unknown field `colour`",
            ":6:",
        ),
        (
            "negative.toml",
            SMALL.replace("cpus:4;mem:8192", "cpus:-4;mem:8192"),
            "agents[0].resources",
            ":6:",
        ),
        (
            "bad-policy.toml",
            format!("allocator = \"fastest\"\n{SMALL}"),
            "unknown allocator `fastest`",
            ":1:",
        ),
        (
            "bad-duration.toml",
            SMALL.replace("\"2m\"", "\"2 fortnights\""),
            "field `duration`",
            ":2:",
        ),
    ];
    for (name, text, needle, line) in cases {
        let s = scenario_file(dir.path(), name, &text);
        for cmd in ["run", "validate"] {
            let o = mesosim(&[cmd, &s], dir.path());
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{name} {cmd}: {err}");
            assert!(
                err.starts_with("error: ")
                    && err.contains(name)
                    && err.contains(line)
                    && err.contains(needle),
                "{name} {cmd}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    assert!(
        !dir.path().join("out").exists(),
        "a failed run wrote outputs"
    );
}

#[test]
fn unknown_policy_flag_and_missing_file_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesosim(&["run", "--policy", "nope"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown policy `nope`"),
        "{}",
        stderr(&o)
    );
    let o = mesosim(&["validate", "missing.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing.toml: cannot read the scenario"),
        "{}",
        stderr(&o)
    );
    let o = mesosim(&["run", "--seed", "minus-one"], dir.path());
    assert_eq!(o.status.code(), Some(2), "clap usage errors also exit 2");
}

#[test]
fn compare_writes_identical_files_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario_file(dir.path(), "small.toml", SMALL);
    for (threads, out) in [("1", "c1"), ("2", "c2")] {
        let o = mesosim(
            &[
                "compare",
                &s,
                "--policies",
                "hdrf,random,fifo,bestfit",
                "--seeds",
                "2",
                "--threads",
                threads,
                "--out",
                out,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("wait_ns.p95"));
    }
    for file in ["compare.csv", "compare.json", "compare.html"] {
        assert_eq!(
            std::fs::read(dir.path().join("c1").join(file)).unwrap(),
            std::fs::read(dir.path().join("c2").join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn bench_engine_quick_writes_the_json_array() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesosim(
        &["bench", "engine", "--quick", "--json", "engine.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("engine.json")).unwrap()).unwrap();
    let rows = v.as_array().unwrap();
    let pending: Vec<u64> = rows
        .iter()
        .map(|r| r["pending"].as_u64().unwrap())
        .collect();
    for n in [1_000, 100_000, 1_000_000] {
        assert!(pending.contains(&n), "no row at {n} pending: {pending:?}");
    }
    for r in rows {
        assert!(
            r["name"].is_string()
                && r["events"].as_u64().unwrap() > 0
                && r["events_per_sec"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
}

#[test]
fn trace_inspect_reports_json_and_rejects_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/testdata/google2011/machine_events");
    let o = mesosim(
        &[
            "trace",
            "inspect",
            "--format",
            "google2011",
            "--json",
            sample.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "format",
        "rows",
        "bad_rows",
        "time_first_ns",
        "time_last_ns",
    ] {
        assert!(v.get(key).is_some(), "inspect --json lacks {key}: {v}");
    }
    assert_eq!(v["format"], "google2011");
    assert_eq!(
        v["rows"], 15_000,
        "the sample holds the first 15,000 machine events"
    );
    let bad = scenario_file(dir.path(), "bad.csv", "1,2,x\n");
    let o = mesosim(
        &[
            "trace",
            "inspect",
            "--format",
            "google2011",
            "--table",
            "machine_events",
            &bad,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv:1") && err.contains("column 3 (event type)"),
        "{err}"
    );
    let o = mesosim(
        &[
            "trace",
            "inspect",
            "--format",
            "google2011",
            "--table",
            "machine_events",
            "--lenient",
            "--json",
            &bad,
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["bad_rows"], 1, "{v}");
}

#[test]
fn bench_suite_ci_covers_every_target() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesosim(
        &["bench", "--suite", "ci", "--json", "bench.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bench.json")).unwrap()).unwrap();
    for target in ["engine", "allocator", "traces", "usage"] {
        let rows = v[target]
            .as_array()
            .unwrap_or_else(|| panic!("no {target} array in {v}"));
        assert!(!rows.is_empty(), "{target} measured nothing");
    }
    assert!(v["allocator"][0]["cycle_ns_median"].as_u64().unwrap() > 0);
    let replay = &v["replay"];
    for key in [
        "machines",
        "days",
        "tasks",
        "wall_s",
        "events_per_sec",
        "peak_rss_bytes",
    ] {
        assert!(
            replay.get(key).is_some(),
            "bench replay lacks {key}: {replay}"
        );
    }
    assert_eq!(replay["machines"], 200);
    assert!(replay["tasks"].as_u64().unwrap() > 0, "{replay}");

    // Gate a second run on the first's figures, one made unreachable (1,000x the
    // measured speedup) and the rest trivially met: exactly that one regresses.
    let mut gates = v["gates"].as_array().expect("a gates list").clone();
    assert!(gates.len() >= 5, "{gates:?}");
    for (i, g) in gates.iter_mut().enumerate() {
        let value = g["value"].as_f64().expect("numeric value");
        assert!(value > 0.0, "{g}");
        g["value"] = serde_json::json!(if i == 0 { value * 1e3 } else { value / 1e3 });
    }
    let unreachable = gates[0]["name"].as_str().unwrap().to_string();
    std::fs::write(
        dir.path().join("base.json"),
        serde_json::json!({ "gates": gates }).to_string(),
    )
    .unwrap();
    let o = mesosim(
        &["bench", "--suite", "ci", "--baseline", "base.json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let regressed: Vec<&str> = out.lines().filter(|l| l.contains("REGRESSED")).collect();
    assert_eq!(regressed.len(), 1, "{out}");
    assert!(regressed[0].starts_with(&unreachable), "{out}");
    assert!(
        stderr(&o).contains("1 figure(s) worse than in base.json by more than 25%"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_baseline_errors_name_the_file_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-gates.json"), r#"{"engine": []}"#).unwrap();
    std::fs::write(
        dir.path().join("zero.json"),
        r#"{"gates": [{"name": "engine/hold/1000", "value": 0}]}"#,
    )
    .unwrap();
    for (file, expected) in [
        ("no-gates.json", "no-gates.json: no `gates` list"),
        ("zero.json", "figure `engine/hold/1000` has value 0"),
        ("absent.json", "absent.json: "),
    ] {
        let o = mesosim(&["bench", "--suite", "ci", "--baseline", file], dir.path());
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{file}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{file}: measured before failing");
    }
    let o = mesosim(&["bench", "engine", "--baseline", "zero.json"], dir.path());
    assert_eq!(o.status.code(), Some(2), "--baseline needs --suite");
}

/// Google 2019's machine_events shard is ordered by event type (ADD, then REMOVE, then
/// UPDATE); replay sorts it, so every record up to the cut is replayed, the REMOVE and
/// UPDATE events near the end of the file included. Read in file order, the first ADD
/// past the cut would end the replay before them.
#[test]
fn replay_sorts_a_trace_whose_files_are_not_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/testdata/google2019");
    let cut = traces::Nanos(6 * 3600 * 1_000_000_000);
    let reader = traces::open(
        traces::TraceFormat::Google2019,
        std::slice::from_ref(&sample),
        &traces::ReadOptions::default(),
    )
    .unwrap();
    let records: Vec<traces::WorkloadRecord> = reader.map(|r| r.unwrap()).collect();
    let due = records.iter().filter(|r| r.time() <= cut).count() as u64;
    let late_in_file_but_due = records
        .iter()
        .filter(|r| {
            r.time() <= cut
                && matches!(r, traces::WorkloadRecord::Machine(m)
                    if m.kind != traces::MachineEventKind::Add)
        })
        .count();
    assert!(
        late_in_file_but_due > 0,
        "the sample has them within the cut"
    );
    let o = mesosim(
        &[
            "replay",
            "--format",
            "google2019",
            sample.to_str().unwrap(),
            "--duration",
            "6h",
            "--out",
            "out",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/summary.json")).unwrap())
            .unwrap();
    let replayed = v["replay"]["records"].as_u64().unwrap();
    // Every due record, and at most the one read ahead of the clock.
    assert!(
        (due..=due + 1).contains(&replayed),
        "{replayed} records replayed, {due} due"
    );
}

#[test]
fn sweep_shards_from_the_batch_index_merge_into_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    scenario_file(dir.path(), "small.toml", SMALL);
    let sweep = scenario_file(
        dir.path(),
        "grid.toml",
        "scenario = \"small.toml\"\npolicies = [\"hdrf\", \"bestfit\"]\nseeds = 2\n\
         [[axis]]\nkey = \"master.allocation_interval\"\nvalues = [\"1s\", \"3s\"]\n",
    );
    let whole = mesosim(&["sweep", &sweep, "--out", "whole"], dir.path());
    assert!(whole.status.success(), "{}", stderr(&whole));
    // A Kubernetes Indexed Job gives each pod its index; Slurm arrays may start at 1.
    for (var, value, min, out) in [
        ("JOB_COMPLETION_INDEX", "0", None, "s0"),
        ("SLURM_ARRAY_TASK_ID", "2", Some("1"), "s1"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesosim"));
        command
            .args(["sweep", &sweep, "--shards", "2", "--out", out])
            .current_dir(dir.path())
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("SLURM_ARRAY_TASK_MIN")
            .env_remove("JOB_COMPLETION_INDEX")
            .env(var, value);
        if let Some(min) = min {
            command.env("SLURM_ARRAY_TASK_MIN", min);
        }
        let o = command.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let partial = mesosim(&["merge", "s1", "--out", "partial"], dir.path());
    assert_eq!(partial.status.code(), Some(2));
    assert!(
        stderr(&partial).contains("missing shards: 0/2"),
        "{}",
        stderr(&partial)
    );
    assert!(
        !dir.path().join("partial").exists(),
        "no output from a failed merge"
    );
    let merged = mesosim(&["merge", "s1", "s0", "--out", "merged"], dir.path());
    assert!(merged.status.success(), "{}", stderr(&merged));
    for file in ["sweep.json", "runs.csv", "points.csv"] {
        assert_eq!(
            std::fs::read(dir.path().join("whole").join(file)).unwrap(),
            std::fs::read(dir.path().join("merged").join(file)).unwrap(),
            "{file}"
        );
    }
}

/// `replay --usage trace` on a hand-written Google 2011 trace: one 4-CPU machine, a
/// task asking for 1 CPU whose samples say it uses 2 for its traced 100 s (held at
/// its 1-CPU quota with CFS on: 100 throttled task-seconds, 1 of 4 CPUs used over
/// 200 s), and one whose memory goes from 256 MB to 5,120 MB at 50 s (above its
/// 512 MB request, its limit: killed). `--set` needs `--usage`; a bad value names
/// the override and the field.
#[test]
fn replay_with_trace_usage_reports_throttling_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("machine_events", "600000000,1,0,p,1.0,1.0\n"),
        (
            "task_events",
            "600000000,,1,0,,0,u,0,2,0.25,0.125,0,0\n600000000,,2,0,,0,u,0,2,0.25,0.125,0,0\n\
             600000000,,1,0,1,1,u,0,2,0.25,0.125,0,0\n600000000,,2,0,1,1,u,0,2,0.25,0.125,0,0\n\
             700000000,,1,0,1,4,u,0,2,0.25,0.125,0,0\n700000000,,2,0,1,4,u,0,2,0.25,0.125,0,0\n",
        ),
        (
            "task_usage",
            "600000000,900000000,1,0,1,0.5,0.0625,,,,,,,,,,,,\n\
             600000000,650000000,2,0,1,0,0.0625,,,,,,,,,,,,\n\
             650000000,700000000,2,0,1,,1.25,,,,,,,,,,,,\n",
        ),
    ];
    for (table, text) in files {
        std::fs::create_dir(dir.path().join(table)).unwrap();
        std::fs::write(dir.path().join(table).join("part-00000-of-00500.csv"), text).unwrap();
    }
    let base = [
        "replay",
        "--format",
        "google2011",
        "machine_events",
        "task_events",
        "task_usage",
        "--machine-cpus",
        "4",
        "--machine-mem-mb",
        "4096",
        "--duration",
        "200s",
        "--out",
        "out",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        mesosim(&args, dir.path())
    };
    let o = with(&["--usage", "trace", "--set", "usage.cgroups_enable_cfs=true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for line in [
        "usage samples: 3 (1 applied to running tasks, 2 kept for queued ones, 0 without a live task, 0 of machines or containers)",
        "cpus used / allocated (of capacity): 12.5% /",
        "cpu throttled: 100.0 task-s; cpu above requests: 0.0 cpu-s; memory-limit kills: 1; OOM kills: 0",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(v["utilization"]["cpus"]["used"], 0.125);
    assert_eq!(v["bursting"]["throttled_task_seconds"], 100.0);
    let o = with(&["--usage", "trace", "--set", "task.mem_limit=0.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("--set task.mem_limit=0.5: field `task.mem_limit`: expected a multiple"),
        "{}",
        stderr(&o)
    );
    let o = with(&["--set", "usage.cgroups_enable_cfs=true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--usage"), "{}", stderr(&o));
}
