//! Google 2019 readers: the real machine_events slice and synthetic fixtures of the
//! other tables (labelled in testdata/ATTRIBUTION.md).

mod common;

use common::{data, read_all};
use traces::*;

fn ppb(v: u64) -> Option<Amount> {
    Some(Amount::Normalized(NormalizedFraction(v)))
}

#[test]
fn machine_events_slice() {
    let path = data(
        "google2019/machine_events-000000000000.cell-a.lines1-1000+27778-28277+45719-45968.json",
    );
    let (recs, stats) = read_all(TraceFormat::Google2019, &[path]);
    assert_eq!(stats.rows, 1750);
    let machines: Vec<&MachineEvent> = recs
        .iter()
        .map(|r| match r {
            WorkloadRecord::Machine(m) => m,
            _ => panic!("machine events only"),
        })
        .collect();
    let count = |k| machines.iter().filter(|m| m.kind == k).count();
    assert_eq!(count(MachineEventKind::Add), 1000);
    assert_eq!(count(MachineEventKind::Remove), 500);
    assert_eq!(count(MachineEventKind::Update), 250);
    assert_eq!(
        machines.iter().filter(|m| m.capacity.is_empty()).count(),
        459
    );
    // The shard is ordered by event type, not time.
    assert!(stats.out_of_order_rows > 0);
    // Line 1: {"time":"1687655299440","machine_id":"385611578151","type":"1",…} (no capacity)
    let m = machines[0];
    assert_eq!(m.time, Nanos((1_687_655_299_440 - 600_000_000) * 1000));
    assert_eq!(m.machine, MachineId(385_611_578_151));
    assert_eq!(m.kind, MachineEventKind::Add);
    assert!(m.capacity.is_empty());
    assert_eq!(
        m.failure_domains[0],
        Some(Symbol::of(b"+1VWJQsXJiHPTnLfEiJRudzQxErmdD00l4Iwh+Z/MYA="))
    );
    assert_eq!(
        m.platform,
        Some(Symbol::of(b"JQ1tVQBMHBAIISU1gUNXk2powhYumYA+4cB3KzU29l8="))
    );
    // Line 1001 (shard line 27,778), the first REMOVE: capacity {"cpus":1,"memory":0.5}.
    let m = machines[1000];
    assert_eq!(m.kind, MachineEventKind::Remove);
    assert_eq!(m.machine, MachineId(92_126_449_465));
    assert_eq!(m.capacity.cpus, ppb(1_000_000_000));
    assert_eq!(m.capacity.mem, ppb(500_000_000));
    let reader = open(
        TraceFormat::Google2019,
        &[data("google2019")],
        &ReadOptions::default(),
    )
    .expect("opens");
    assert_eq!(reader.metadata().ordering, Ordering::File);
}

#[test]
fn collection_events() {
    let (recs, _) = read_all(
        TraceFormat::Google2019,
        &[data(
            "google2019/collection_events-000000000000.synthetic.json",
        )],
    );
    let jobs: Vec<&JobEvent> = recs
        .iter()
        .map(|r| match r {
            WorkloadRecord::Job(j) => j,
            _ => panic!(),
        })
        .collect();
    assert_eq!(jobs.len(), 3);
    let j = jobs[0];
    assert_eq!(
        (j.time, j.snapshot, j.kind),
        (Nanos::ZERO, true, LifecycleEvent::Submit)
    );
    assert_eq!(j.job, JobId(272_545_541));
    assert_eq!(j.scheduling_class, Some(3));
    assert_eq!(j.missing, Some(MissingInfo::SnapshotButNoTransition));
    assert_eq!(j.collection_type, Some(CollectionType::Job));
    assert_eq!(
        j.priority,
        Some(Priority {
            value: 200,
            band: PriorityBand::Production
        })
    );
    assert_eq!(j.alloc, None);
    assert_eq!(
        j.user,
        Some(Symbol::of(b"Bc9Ag6tZ3Kkxi4AzIb1l2q4bLSuiaVBfE9A4yBSanB0="))
    );
    assert!(j.depends_on.is_empty());
    let j = jobs[1];
    assert_eq!(j.time, Nanos(602_404_612_345_000));
    assert_eq!(j.kind, LifecycleEvent::Schedule); // 2019 code 3, not 2011's 1
    assert_eq!(j.parent, Some(JobId(272_545_000)));
    let j = jobs[2];
    assert_eq!(j.kind, LifecycleEvent::Finish); // 2019 code 6
    assert_eq!(j.collection_type, Some(CollectionType::AllocSet));
    assert_eq!(j.priority.map(|p| p.band), Some(PriorityBand::BestEffort));
    assert_eq!(j.depends_on, vec![JobId(272_545_541), JobId(272_545_542)]);
}

#[test]
fn instance_events_with_constraints() {
    let (recs, stats) = read_all(
        TraceFormat::Google2019,
        &[data(
            "google2019/instance_events-000000000000.synthetic.json",
        )],
    );
    assert_eq!(stats.rows, 3);
    assert_eq!(recs.len(), 5); // three task events and two constraints
    let WorkloadRecord::Task(t) = &recs[0] else {
        panic!()
    };
    assert_eq!((t.kind, t.snapshot), (LifecycleEvent::Schedule, true));
    assert_eq!(t.machine, Some(MachineId(385_611_578_151)));
    assert_eq!(t.request.cpus, ppb(18_676_758));
    assert_eq!(t.request.mem, ppb(5_920_410));
    assert_eq!(t.alloc, None);
    let WorkloadRecord::Task(t) = &recs[1] else {
        panic!()
    };
    assert_eq!(t.kind, LifecycleEvent::Submit);
    assert_eq!(t.machine, None); // machine_id 0 = no machine
    assert_eq!(t.task.index, 1);
    let ops: Vec<_> = recs[2..4]
        .iter()
        .map(|r| match r {
            WorkloadRecord::Constraint(c) => (c.task.index, c.op, c.value),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            (1, ConstraintOp::NotPresent, None),
            (1, ConstraintOp::GreaterThanEqual, Some(AttrValue::Int(2))),
        ]
    );
    let WorkloadRecord::Task(t) = &recs[4] else {
        panic!()
    };
    assert_eq!(t.kind, LifecycleEvent::Evict);
    assert_eq!(
        t.alloc,
        Some(TaskId {
            job: JobId(380_000_000_001),
            index: 3
        })
    );
}

#[test]
fn instance_usage() {
    let (recs, _) = read_all(
        TraceFormat::Google2019,
        &[data(
            "google2019/instance_usage-000000000000.synthetic.json",
        )],
    );
    assert_eq!(recs.len(), 2);
    let WorkloadRecord::Usage(u) = &recs[0] else {
        panic!()
    };
    assert_eq!((u.start, u.end), (Nanos(0), Nanos(300_000_000_000)));
    assert_eq!(u.machine, Some(MachineId(385_611_578_151)));
    assert_eq!(u.cpu, ppb(5_310_059));
    assert_eq!(u.cpu_sample, ppb(3_479_004));
    assert_eq!(u.cpi, Some(Micro(1_453_600)));
    assert_eq!(u.mai, Some(Micro(6_100)));
    assert_eq!(u.sample_portion, Some(Micro(1_000_000)));
    let WorkloadRecord::Usage(u) = &recs[1] else {
        panic!()
    };
    assert_eq!((u.cpu, u.mem, u.cpu_max), (ppb(4_800_000), None, None));
}
