//! `replay --usage trace` end to end: replayed tasks' CPU and memory follow the trace's
//! usage samples. A hand-written Google 2011 trace checks figures computed by hand
//! (throttling, CPU above requests, used utilisation, memory-limit and OOM kills, what
//! became of each sample); the real Google 2011 sample (CC-BY 4.0, see
//! traces/testdata/ATTRIBUTION.md) replays with its (synthetic) task_usage part; runs
//! are deterministic and a bad usage row stops the replay with its location.

use std::path::{Path, PathBuf};

use scenarios::sim::replay::ReplayConfig;
use scenarios::sim::replay_usage::{ReplayUsageConfig, ReplayUsageSummary};
use scenarios::sim::{self, ReplayOptions, RunOptions};
use scenarios::summary::Summary;
use sim_core::time::SimDuration;
use traces::{ReadOptions, TraceFormat, WorkloadRecord};

/// One 4-CPU, 4096 MB machine (1.0 of the reference machine below) and two batch
/// tasks (priority 2) asking for 1 CPU and 512 MB (0.25 and 0.125), both traced from
/// 0 s to 100 s (times in µs, with Google's 600 s offset).
const MACHINES: &str = "600000000,1,0,p,1.0,1.0\n";
const TASKS: &str = "\
600000000,,1,0,,0,u,0,2,0.25,0.125,0,0
600000000,,2,0,,0,u,0,2,0.25,0.125,0,0
600000000,,1,0,1,1,u,0,2,0.25,0.125,0,0
600000000,,2,0,1,1,u,0,2,0.25,0.125,0,0
700000000,,1,0,1,4,u,0,2,0.25,0.125,0,0
700000000,,2,0,1,4,u,0,2,0.25,0.125,0,0
";
/// Task 1/0 uses 2 CPUs (0.5) and 256 MB from 0 s; task 2/0 no CPU and 256 MB from
/// 0 s, then 5,120 MB (1.25: more than the machine) from 50 s with its CPU left empty.
/// A sample of job 9 (never submitted) and one of 1/0 after the trace ended it at
/// 100 s have no live task.
const USAGE: &str = "\
600000000,900000000,1,0,1,0.5,0.0625,,,,,,,,,,,,
600000000,650000000,2,0,1,0,0.0625,,,,,,,,,,,,
600000000,900000000,9,0,1,0.5,0.0625,,,,,,,,,,,,
650000000,700000000,2,0,1,,1.25,,,,,,,,,,,,
750000000,800000000,1,0,1,0.5,0.0625,,,,,,,,,,,,
";

fn write_trace(dir: &Path, usage: &str) -> Vec<PathBuf> {
    write_tables(dir, MACHINES, TASKS, usage)
}

fn write_tables(dir: &Path, machines: &str, tasks: &str, usage: &str) -> Vec<PathBuf> {
    let files = [
        ("machine_events", "part-00000-of-00001.csv", machines),
        ("task_events", "part-00000-of-00500.csv", tasks),
        ("task_usage", "part-00000-of-00500.csv", usage),
    ];
    files
        .iter()
        .map(|(table, file, text)| {
            let d = dir.join(table);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(file), text).unwrap();
            d
        })
        .collect()
}

struct Run {
    summary: Summary,
    json: String,
    log: Vec<u8>,
    metrics: Vec<(String, String)>,
}

fn replay_paths(paths: &[PathBuf], usage: Option<&[&str]>, cpus: u64, mem_mb: u64) -> Run {
    let reader = traces::open(TraceFormat::Google2011, paths, &ReadOptions::default()).unwrap();
    let mut log = Vec::new();
    let out = sim::replay(
        Box::new(reader),
        ReplayOptions {
            name: "hand-written".into(),
            config: ReplayConfig {
                machine_cpus_milli: cpus,
                machine_mem_mb: mem_mb,
                usage: usage.map(|sets| {
                    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
                    ReplayUsageConfig::from_overrides(&sets).unwrap()
                }),
                ..ReplayConfig::default()
            },
            duration: Some(SimDuration::from_secs(200)),
            run: RunOptions {
                event_log: Some(&mut log),
                check_invariants: true,
                ..RunOptions::default()
            },
        },
    )
    .unwrap();
    Run {
        json: serde_json::to_string(&out.summary).unwrap(),
        summary: out.summary,
        log,
        metrics: out.metrics,
    }
}

fn hand_written(sets: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    replay_paths(&write_trace(dir.path(), USAGE), Some(sets), 4000, 4096)
}

/// What becomes of the five samples in both runs below: the two at 0 s arrive while
/// the tasks wait for their first offer and are kept (two held at once) until they
/// start; task 2/0's at 50 s is applied to it running; job 9's and 1/0's after its
/// end have no live task.
fn expected_samples() -> ReplayUsageSummary {
    ReplayUsageSummary {
        samples: 5,
        applied: 1,
        remembered: 2,
        skipped_no_task: 2,
        skipped_not_task: 0,
        held_max: 2,
        tasks_started_with_sample: 2,
        tasks_started_at_request: 0,
    }
}

#[test]
fn cfs_throttles_a_task_above_its_request_and_memory_above_it_is_killed() {
    // Agents re-evaluate every 10 s: a replayed task's demand stays its sample's.
    let r = hand_written(&["usage.cgroups_enable_cfs=true", "usage.interval=\"10s\""]).summary;
    assert_eq!(r.replay.as_ref().unwrap().usage, Some(expected_samples()));
    let b = r.bursting.expect("bursting section");
    // 1/0 wants 2 CPUs under a 1-CPU quota for its whole traced 100 s.
    assert_eq!(b.throttled_task_seconds, 100.0);
    assert_eq!(b.cpu_seconds_above_request, 0.0);
    // 2/0 goes from 256 MB to 5,120 MB at 50 s, above its 512 MB limit (the request).
    assert_eq!((b.memory_limit_kills, b.oom_kills), (1, 0));
    assert_eq!((r.tasks.finished, r.tasks.failed), (1, 1));
    // Used: 1 CPU × 100 s (2/0 uses none) of 4 CPUs × 200 s = 0.125. Allocated: 1 CPU
    // × 100 s plus 1 CPU × (50 s less 2/0's start, a few ms) = just under 0.1875.
    let o = r.oversubscription.expect("oversubscription section");
    assert_eq!(o.used_utilization, 0.125);
    assert_eq!(r.utilization["cpus"].used, 0.125);
    // Memory: 256 MB × 100 s (1/0) + 256 MB × (50 s less 2/0's start), of 4,096 MB ×
    // 200 s: just under 0.046875 (the 5,120 MB never counts: 2/0 dies at once).
    let mem = r.utilization["mem"].used;
    assert!(mem > 0.0468 && mem < 0.046875, "{mem}");
    assert!(
        o.allocated_utilization > 0.187 && o.allocated_utilization < 0.1875,
        "{o:?}"
    );
}

#[test]
fn without_limits_cpu_bursts_into_idle_cores_and_the_oom_killer_picks_the_hog() {
    let r = hand_written(&["task.mem_limit=\"inf\""]).summary;
    assert_eq!(r.replay.as_ref().unwrap().usage, Some(expected_samples()));
    let b = r.bursting.expect("bursting section");
    // No CFS quota: 1/0 gets its 2 CPUs, 1 above its request for 100 s.
    assert_eq!(b.throttled_task_seconds, 0.0);
    assert_eq!(b.cpu_seconds_above_request, 100.0);
    // No memory limit: 256 + 5,120 MB exceed the 4,096 MB host at 50 s and the OOM
    // killer takes the container with the highest badness, 2/0.
    assert_eq!((b.memory_limit_kills, b.oom_kills), (0, 1));
    assert_eq!((r.tasks.finished, r.tasks.failed), (1, 1));
    // 2 CPUs × 100 s of 4 CPUs × 200 s.
    assert_eq!(r.oversubscription.unwrap().used_utilization, 0.25);
}

#[test]
fn usage_driven_replays_are_deterministic() {
    let sets = ["usage.cgroups_enable_cfs=true", "usage.estimator=\"usage\""];
    let (a, b) = (hand_written(&sets), hand_written(&sets));
    assert_eq!(a.json, b.json);
    assert!(a.log == b.log, "event logs differ");
    assert_eq!(a.metrics, b.metrics);
    // The runs did something: a kill, and the estimator saw the idle CPUs.
    assert_eq!(a.summary.bursting.as_ref().unwrap().memory_limit_kills, 1);
    assert!(
        a.summary
            .oversubscription
            .as_ref()
            .unwrap()
            .revocable_cpus_mean
            > 0.0
    );
}

#[test]
fn without_the_flag_samples_are_ignored_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_trace(dir.path(), USAGE);
    let with_samples = replay_paths(&paths, None, 4000, 4096);
    let without = replay_paths(&paths[..2], None, 4000, 4096);
    for r in [&with_samples, &without] {
        assert!(r.summary.bursting.is_none() && r.summary.oversubscription.is_none());
        assert!(!r.json.contains("\"usage\""), "{}", r.json);
        assert_eq!((r.summary.tasks.finished, r.summary.tasks.failed), (2, 0));
    }
    // The same run but for the count of records read.
    let records = |r: &Run| r.summary.replay.as_ref().unwrap().records;
    assert_eq!(records(&with_samples), records(&without) + 5);
    assert!(with_samples.log == without.log, "event logs differ");
}

/// The machine leaves at 1.5 ms, after the framework accepted its first offer for
/// the task (the ACCEPT reaches the master at 2 ms and finds the offer rescinded: the
/// task is DROPPED, its framework learns it at 3 ms and retries) and comes back at
/// 10 ms. The sample at 2.5 ms arrives while the DROPPED status is on its way.
fn dropped_in_flight(tasks: &str) -> ReplayUsageSummary {
    const MACHINE_LEAVES_AND_RETURNS: &str = "\
600000000,1,0,p,1.0,1.0
600001500,1,1,p,1.0,1.0
600010000,1,0,p,1.0,1.0
";
    const SAMPLE_WHILE_DROPPED: &str = "600002500,900000000,1,0,1,0.5,0.0625,,,,,,,,,,,,\n";
    let dir = tempfile::tempdir().unwrap();
    let paths = write_tables(
        dir.path(),
        MACHINE_LEAVES_AND_RETURNS,
        tasks,
        SAMPLE_WHILE_DROPPED,
    );
    let run = replay_paths(&paths, Some(&[]), 4000, 4096);
    let log = String::from_utf8(run.log).unwrap();
    assert!(
        log.contains(r#""t_ns":2000000,"kind":"task_state","framework":"trace-batch","role":"batch","task":0,"state":"TASK_DROPPED""#),
        "{log}"
    );
    run.summary.replay.unwrap().usage.unwrap()
}

#[test]
fn a_sample_arriving_while_a_drop_is_reported_waits_for_the_retry() {
    let u = dropped_in_flight("600000000,,1,0,,0,u,0,2,0.25,0.125,0,0\n");
    assert_eq!(
        (u.remembered, u.skipped_no_task, u.held_max),
        (1, 0, 1),
        "{u:?}"
    );
    assert_eq!(
        (u.tasks_started_with_sample, u.tasks_started_at_request),
        (1, 0)
    );
}

#[test]
fn a_sample_for_a_dropped_task_the_trace_withdrew_is_skipped() {
    // The trace kills the task at 2.2 ms, before it ever ran: no retry.
    let u = dropped_in_flight(
        "600000000,,1,0,,0,u,0,2,0.25,0.125,0,0\n600002200,,1,0,,5,u,0,2,0.25,0.125,0,0\n",
    );
    assert_eq!((u.remembered, u.skipped_no_task), (0, 1), "{u:?}");
    assert_eq!(
        (u.tasks_started_with_sample, u.tasks_started_at_request),
        (0, 0)
    );
}

#[test]
fn a_bad_usage_row_stops_the_replay_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = USAGE.replacen(
        "650000000,700000000,2,0,1,,1.25",
        "650000000,700000000,2,0,1,zz,1.25",
        1,
    );
    let paths = write_trace(dir.path(), &bad);
    let reader = traces::open(TraceFormat::Google2011, &paths, &ReadOptions::default()).unwrap();
    let err = sim::replay(
        Box::new(reader),
        ReplayOptions {
            config: ReplayConfig {
                usage: Some(ReplayUsageConfig::from_overrides(&[]).unwrap()),
                ..ReplayConfig::default()
            },
            ..ReplayOptions::default()
        },
    )
    .unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("task_usage/part-00000-of-00500.csv:4") && chain.contains("CPU rate"),
        "{chain}"
    );
}

/// The real sample's machines and task events with the synthetic task_usage part: its
/// three rows are samples of task 3418309/0, whose submission in the snapshot has no
/// request (so it is never replayed), and of 6251537638/1832 at 600 s, long after the
/// trace finished it (at 47 ms). None has a live task, so every task runs at its
/// request: used equals allocated, and nothing is throttled or killed.
#[test]
fn google_2011_sample_with_its_task_usage_part() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/testdata/google2011");
    let paths: Vec<PathBuf> = ["machine_events", "task_events", "task_usage"]
        .iter()
        .map(|t| dir.join(t))
        .collect();
    let thinned =
        || -> Box<dyn Iterator<Item = Result<WorkloadRecord, traces::TraceError>> + Send> {
            let reader =
                traces::open(TraceFormat::Google2011, &paths, &ReadOptions::default()).unwrap();
            Box::new(
                reader.filter(
                    |r| !matches!(r, Ok(WorkloadRecord::Machine(m)) if m.machine.0 % 100 != 0),
                ),
            )
        };
    let run = |usage: Option<ReplayUsageConfig>| {
        sim::replay(
            thinned(),
            ReplayOptions {
                name: "google2011-sample".into(),
                config: ReplayConfig {
                    usage,
                    ..ReplayConfig::default()
                },
                duration: Some(SimDuration::from_secs(600)),
                ..ReplayOptions::default()
            },
        )
        .unwrap()
        .summary
    };
    let s = run(Some(ReplayUsageConfig::from_overrides(&[]).unwrap()));
    let u = s.replay.as_ref().unwrap().usage.clone().unwrap();
    assert_eq!(
        (u.samples, u.applied, u.remembered, u.skipped_no_task),
        (3, 0, 0, 3),
        "{u:?}"
    );
    assert_eq!(u.tasks_started_at_request, s.tasks.launched);
    let o = s.oversubscription.clone().unwrap();
    assert!(o.allocated_utilization > 0.0, "{o:?}");
    assert_eq!(o.used_utilization, o.allocated_utilization);
    let b = s.bursting.clone().unwrap();
    assert_eq!(
        (b.throttled_task_seconds, b.memory_limit_kills, b.oom_kills),
        (0.0, 0, 0)
    );
    // Tasks at their request change nothing the allocator sees.
    let plain = run(None);
    assert_eq!(
        serde_json::to_string(&s.tasks).unwrap(),
        serde_json::to_string(&plain.tasks).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&s.frameworks).unwrap(),
        serde_json::to_string(&plain.frameworks).unwrap()
    );
}
