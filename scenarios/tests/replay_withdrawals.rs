//! Tasks the trace withdraws or never ends: a withdrawn task is never launched
//! afterwards (nor counted twice), and the replay's trace-task map keeps no entry that
//! can never be used again.

use scenarios::sim::{self, ReplayOptions, RunOptions, RunOutput};
use sim_core::time::SimDuration;
use traces::{
    Amount, JobId, LifecycleEvent, MachineEvent, MachineEventKind, MachineId, Nanos,
    NormalizedFraction, Priority, PriorityBand, TaskEvent, TaskId, WorkloadRecord,
};

const MS: u64 = 1_000_000;

fn fraction(milli: u64) -> Option<Amount> {
    Some(Amount::Normalized(NormalizedFraction(milli * 1_000_000)))
}

fn machine(at: u64, id: u64) -> WorkloadRecord {
    let mut m = MachineEvent::new(Nanos(at), MachineId(id), MachineEventKind::Add);
    m.capacity.cpus = fraction(1000);
    m.capacity.mem = fraction(1000);
    WorkloadRecord::Machine(m)
}

fn task(at: u64, job: u64, index: u64, kind: LifecycleEvent) -> WorkloadRecord {
    let mut t = TaskEvent::new(
        Nanos(at),
        TaskId {
            job: JobId(job),
            index,
        },
        kind,
    );
    t.priority = Some(Priority {
        value: 0,
        band: PriorityBand::google2011(0),
    });
    t.request.cpus = fraction(10);
    t.request.mem = fraction(10);
    WorkloadRecord::Task(t)
}

fn removed(at: u64, id: u64) -> WorkloadRecord {
    WorkloadRecord::Machine(MachineEvent::new(
        Nanos(at),
        MachineId(id),
        MachineEventKind::Remove,
    ))
}

/// Replays `records` in time order; the run and its event log.
fn replay(mut records: Vec<WorkloadRecord>) -> (RunOutput, String) {
    records.sort_by_key(WorkloadRecord::time);
    let mut log = Vec::new();
    let out = sim::replay(
        Box::new(records.into_iter().map(Ok)),
        ReplayOptions {
            name: "withdrawals".into(),
            duration: Some(SimDuration::from_secs(60)),
            run: RunOptions {
                event_log: Some(&mut log),
                check_invariants: true,
                ..RunOptions::default()
            },
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    (out, String::from_utf8(log).unwrap())
}

/// Tasks of the free band submitted at time 0 on one machine: `trace-free` subscribes
/// at its first task and gets its first offer at once, its decision at 1 ms picks them
/// all, and its ACCEPT arrives at 2 ms.
fn submitted_then_withdrawn_in_flight(extra: Vec<WorkloadRecord>) -> (RunOutput, String) {
    let mut records = vec![machine(0, 1)];
    for i in 0..5 {
        records.push(task(0, 1, i, LifecycleEvent::Submit));
    }
    // The trace kills them before it ever scheduled them, while the ACCEPT is on
    // its way.
    for i in 0..5 {
        records.push(task(MS + MS / 2, 1, i, LifecycleEvent::Kill));
    }
    records.extend(extra);
    replay(records)
}

#[test]
fn a_task_withdrawn_while_its_accept_is_in_flight_is_never_launched() {
    let (out, log) = submitted_then_withdrawn_in_flight(Vec::new());
    assert!(log.contains(r#""kind":"accept""#), "{log}");
    let t = &out.summary.tasks;
    assert_eq!(
        (t.submitted, t.launched, t.killed),
        (5, 0, 5),
        "{t:?}\n{log}"
    );
    assert!(!log.contains(r#""kind":"launch""#), "{log}");
    assert_eq!(out.tasks_unfinished, 0);
    let r = out.summary.replay.expect("a replay section");
    assert_eq!((r.trace_kills, r.withdrawn_before_start), (5, 5), "{r:?}");
}

#[test]
fn a_task_withdrawn_while_its_offer_is_rescinded_is_not_retried() {
    // The machine leaves at the same instant, so the ACCEPT finds its offer gone:
    // Mesos drops the tasks, and a framework retries what was dropped, but not
    // what it no longer wants. Another machine comes later, with room for them.
    let (out, log) =
        submitted_then_withdrawn_in_flight(vec![removed(MS + MS / 2, 1), machine(10_000 * MS, 2)]);
    let t = &out.summary.tasks;
    assert_eq!(
        (t.submitted, t.launched, t.killed),
        (5, 0, 5),
        "{t:?}\n{log}"
    );
    assert!(!log.contains(r#""kind":"launch""#), "{log}");
    assert_eq!(out.tasks_unfinished, 0, "{log}");
}

#[test]
fn a_dropped_and_retried_task_still_ends_when_the_trace_says() {
    // The trace runs five tasks for 10 s. Their first ACCEPT finds its offer gone
    // (machine 1 leaves at 1.5 ms): they are dropped, retried, and run on machine 2,
    // for 10 s from when each started there.
    let mut records = vec![machine(0, 1)];
    for i in 0..5 {
        records.push(task(0, 1, i, LifecycleEvent::Submit));
        records.push(task(500 * MS, 1, i, LifecycleEvent::Schedule));
        records.push(task(10_500 * MS, 1, i, LifecycleEvent::Finish));
    }
    records.push(removed(MS + MS / 2, 1));
    records.push(machine(2_000 * MS, 2));
    let (out, log) = replay(records);
    assert!(log.contains("TASK_DROPPED"), "{log}");
    let t = &out.summary.tasks;
    assert_eq!(
        (t.submitted, t.launched, t.finished),
        (5, 5, 5),
        "{t:?}\n{log}"
    );
    assert_eq!(out.tasks_unfinished, 0);
}

#[test]
fn a_task_lost_with_its_agent_is_no_longer_mapped() {
    // Five tasks run on machine 1 until it leaves at 5 s: they are lost, and the
    // trace (which never ends them) cannot change them any more. The trace goes on
    // (a machine joins at 50 s), so only the loss can release their entries.
    let mut records = vec![machine(0, 1)];
    for i in 0..5 {
        records.push(task(0, 1, i, LifecycleEvent::Submit));
    }
    records.push(removed(5_000 * MS, 1));
    records.push(machine(50_000 * MS, 2));
    let (out, _) = replay(records);
    let t = &out.summary.tasks;
    assert_eq!((t.launched, t.lost), (5, 5), "{t:?}");
    assert_eq!(out.trace_tasks_held, 0);
}

#[test]
fn the_task_map_holds_only_tasks_the_trace_may_still_end() {
    let synth = || Box::new(traces::synth(150, 1, 7).map(Ok));
    let run = |hours: u64| {
        sim::replay(
            synth(),
            ReplayOptions {
                name: "synth".into(),
                duration: Some(SimDuration::from_secs(hours * 3600)),
                ..ReplayOptions::default()
            },
        )
        .unwrap()
    };
    // Mid-trace: every entry is a task still pending, staging or running.
    let mid = run(12);
    assert!(mid.trace_tasks_held > 10, "{}", mid.trace_tasks_held);
    assert!(
        mid.trace_tasks_held <= mid.tasks_unfinished,
        "{} held, {} unfinished",
        mid.trace_tasks_held,
        mid.tasks_unfinished
    );
    // After the trace's last record nothing can end a task any more, though the
    // snapshot's services still run.
    let after = run(30);
    assert!(after.tasks_unfinished > 100, "{}", after.tasks_unfinished);
    assert_eq!(after.trace_tasks_held, 0);
}

/// Five tasks whose first ACCEPT finds its offer gone (machine 1 leaves at 1.5 ms):
/// the master drops them at 2 ms and the framework learns it at 3 ms. `ends` are the
/// trace's records about them at 2.5 ms, while that DROPPED status is on its way;
/// machine 2 comes at 2 s with room for any retry.
fn dropped_then_ended_in_flight(ends: impl Fn(u64) -> Vec<WorkloadRecord>) -> (RunOutput, String) {
    let mut records = vec![machine(0, 1)];
    for i in 0..5 {
        records.push(task(0, 1, i, LifecycleEvent::Submit));
        records.extend(ends(i));
    }
    records.push(removed(MS + MS / 2, 1));
    records.push(machine(2_000 * MS, 2));
    replay(records)
}

#[test]
fn a_task_withdrawn_while_its_drop_is_in_flight_is_not_retried() {
    let (out, log) =
        dropped_then_ended_in_flight(|i| vec![task(2 * MS + MS / 2, 1, i, LifecycleEvent::Kill)]);
    assert!(log.contains(r#""state":"TASK_DROPPED""#), "{log}");
    assert!(!log.contains(r#""kind":"launch""#), "{log}");
    let t = &out.summary.tasks;
    assert_eq!((t.submitted, t.launched, t.killed), (5, 0, 5), "{t:?}");
    assert_eq!(out.tasks_unfinished, 0, "{log}");
    assert_eq!(
        out.summary.replay.expect("replay").withdrawn_before_start,
        5
    );
}

#[test]
fn a_task_that_ends_in_the_trace_while_its_drop_is_in_flight_is_retried_for_its_runtime() {
    // Scheduled at 0 and finished at 2.5 ms in the trace: the retry runs 2.5 ms.
    let (out, log) = dropped_then_ended_in_flight(|i| {
        vec![
            task(0, 1, i, LifecycleEvent::Schedule),
            task(2 * MS + MS / 2, 1, i, LifecycleEvent::Finish),
        ]
    });
    let t = &out.summary.tasks;
    assert_eq!(
        (t.submitted, t.launched, t.finished),
        (5, 5, 5),
        "{t:?}\n{log}"
    );
    assert_eq!(out.tasks_unfinished, 0, "{log}");
}
