//! Finished tasks' records are released: a long replay holds the tasks alive, not every
//! task ever submitted, and releasing them changes no output (summary, metrics, event
//! log) of any library scenario or replay.

use std::path::{Path, PathBuf};

use scenarios::scenario::Scenario;
use scenarios::sim::{self, ReplayOptions, RunOptions, RunOutput};
use sim_core::time::SimDuration;
use traces::{ReadOptions, TraceFormat, WorkloadRecord};

type Records = Box<dyn Iterator<Item = Result<WorkloadRecord, traces::TraceError>> + Send>;

/// Everything a run writes, as bytes: summary.json, metrics files, event log.
fn outputs(out: &RunOutput, log: Vec<u8>) -> (String, Vec<(String, String)>, Vec<u8>) {
    (
        serde_json::to_string_pretty(&out.summary).unwrap(),
        out.metrics.clone(),
        log,
    )
}

fn run_scenario(path: &Path, keep: bool) -> (RunOutput, Vec<u8>) {
    let scenario =
        Scenario::load(path, &["duration=\"3m\"".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let mut log = Vec::new();
    let out = sim::run(
        &scenario,
        RunOptions {
            event_log: Some(&mut log),
            keep_finished_tasks: keep,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (out, log)
}

fn replay(records: Records, duration: Option<SimDuration>, keep: bool) -> (RunOutput, Vec<u8>) {
    let mut log = Vec::new();
    let out = sim::replay(
        records,
        ReplayOptions {
            name: "records".into(),
            duration,
            run: RunOptions {
                event_log: Some(&mut log),
                keep_finished_tasks: keep,
                ..RunOptions::default()
            },
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    (out, log)
}

fn synth(machines: u32, days: u32) -> Records {
    Box::new(traces::synth(machines, days, 7).map(Ok))
}

#[test]
fn a_replay_holds_only_the_tasks_still_alive() {
    // One simulated day of a 150-machine cell, then a quiet day for the last tasks to end.
    let (out, _) = replay(
        synth(150, 1),
        Some(SimDuration::from_secs(2 * 86_400)),
        false,
    );
    let t = &out.summary.tasks;
    let ended = t.finished + t.failed + t.killed + t.lost;
    assert!(ended > 2_000, "{t:?}");
    // Nothing is on its way any more: exactly the unfinished tasks are held.
    assert_eq!(out.task_records_held, out.tasks_unfinished, "{t:?}");
    assert!(
        out.task_records_held < ended / 10,
        "{} held",
        out.task_records_held
    );

    // Keeping every record holds one per task ever submitted (retries included).
    let (kept, _) = replay(
        synth(150, 1),
        Some(SimDuration::from_secs(2 * 86_400)),
        true,
    );
    assert!(
        kept.task_records_held >= t.submitted,
        "{}",
        kept.task_records_held
    );
    assert_eq!(kept.tasks_unfinished, out.tasks_unfinished);
}

#[test]
fn mid_replay_the_held_records_are_the_unfinished_tasks_and_their_last_updates() {
    let (out, _) = replay(
        synth(150, 1),
        Some(SimDuration::from_secs(12 * 3600)),
        false,
    );
    let t = &out.summary.tasks;
    assert!(t.finished > 500, "{t:?}");
    assert!(out.task_records_held >= out.tasks_unfinished);
    // Only tasks that ended in the last few message latencies still have a status
    // update on its way.
    assert!(
        out.task_records_held - out.tasks_unfinished < 50,
        "{} held, {} unfinished",
        out.task_records_held,
        out.tasks_unfinished
    );
}

#[test]
fn releasing_records_changes_no_replay_output() {
    for duration in [Some(SimDuration::from_secs(6 * 3600)), None] {
        let a = replay(synth(30, 1), duration, false);
        let b = replay(synth(30, 1), duration, true);
        assert!(a.0.task_records_held < b.0.task_records_held);
        assert!(outputs(&a.0, a.1) == outputs(&b.0, b.1), "{duration:?}");
    }
    // The real Google 2011 sample, one machine in a hundred (heavily loaded: tasks
    // queue, some are withdrawn before they start, agents come and go).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/testdata/google2011");
    let files: Vec<PathBuf> = vec![dir.join("machine_events"), dir.join("task_events")];
    let sample = || -> Records {
        let reader =
            traces::open(TraceFormat::Google2011, &files, &ReadOptions::default()).unwrap();
        Box::new(
            reader
                .filter(|r| !matches!(r, Ok(WorkloadRecord::Machine(m)) if m.machine.0 % 100 != 0)),
        )
    };
    let ten_minutes = Some(SimDuration::from_secs(600));
    let a = replay(sample(), ten_minutes, false);
    let b = replay(sample(), ten_minutes, true);
    assert!(a.0.summary.tasks.finished > 0);
    assert!(
        outputs(&a.0, a.1) == outputs(&b.0, b.1),
        "google 2011 sample"
    );
}

#[test]
fn releasing_records_changes_no_library_scenario_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for d in [dir.to_path_buf(), dir.join("acceptance")] {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") && !p.ends_with("Cargo.toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 30, "{files:?}");
    for f in &files {
        let (a, log_a) = run_scenario(f, false);
        let (b, log_b) = run_scenario(f, true);
        assert!(
            outputs(&a, log_a) == outputs(&b, log_b),
            "{} differs when finished tasks are released",
            f.display()
        );
    }
}
