//! Google 2011 readers on the real samples (counts from SOURCES.md, records checked
//! against the raw lines) and on the labelled synthetic fixtures.

mod common;

use std::collections::BTreeMap;

use common::{data, read_all};
use traces::*;

fn task_kinds(recs: &[WorkloadRecord]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in recs {
        if let WorkloadRecord::Task(t) = r {
            *m.entry(t.kind.name()).or_insert(0) += 1;
        }
    }
    m
}

fn ppb(v: u64) -> Option<Amount> {
    Some(Amount::Normalized(NormalizedFraction(v)))
}

#[test]
fn task_events_after_the_snapshot() {
    let path = data("google2011/task_events/part-00000-of-00500.rows277322-287321.csv");
    let (recs, stats) = read_all(TraceFormat::Google2011, &[path]);
    assert_eq!(stats.rows, 10_000);
    assert_eq!(recs.len(), 10_000);
    assert_eq!(stats.out_of_order_rows, 0);
    // SOURCES.md: SUBMIT 3,834, SCHEDULE 3,856, EVICT 60, FAIL 28, FINISH 1,790, KILL 432.
    let kinds = task_kinds(&recs);
    let want: BTreeMap<_, _> = [
        ("submit", 3834),
        ("schedule", 3856),
        ("evict", 60),
        ("fail", 28),
        ("finish", 1790),
        ("kill", 432),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, want);
    // Line 1: 600026913,,515042969,1,372630443,1,/fk1f…,2,0,0.01562,0.01553,0.0002155,0
    let WorkloadRecord::Task(t) = &recs[0] else {
        panic!("a task event")
    };
    assert_eq!(t.time, Nanos(26_913_000));
    assert!(!t.snapshot);
    assert_eq!(t.missing, None);
    assert_eq!(
        t.task,
        TaskId {
            job: JobId(515_042_969),
            index: 1
        }
    );
    assert_eq!(t.machine, Some(MachineId(372_630_443)));
    assert_eq!(t.kind, LifecycleEvent::Schedule);
    assert_eq!(
        t.user,
        Some(Symbol::of(b"/fk1fVcVxZ6iM6gHZzqbIyq56m5zrmHfpdcZ/zzkq4c="))
    );
    assert_eq!(t.scheduling_class, Some(2));
    assert_eq!(
        t.priority,
        Some(Priority {
            value: 0,
            band: PriorityBand::Free
        })
    );
    assert_eq!(t.request.cpus, ppb(15_620_000));
    assert_eq!(t.request.mem, ppb(15_530_000));
    assert_eq!(t.request.disk, ppb(215_500));
    assert_eq!(t.different_machines, Some(false));
    // Line 2 carries a job ID above 2^32: 600046926,,6251537638,1832,4304051942,4,…
    let WorkloadRecord::Task(t) = &recs[1] else {
        panic!("a task event")
    };
    assert_eq!(t.task.job, JobId(6_251_537_638));
    assert_eq!(t.machine, Some(MachineId(4_304_051_942)));
    assert_eq!(t.kind, LifecycleEvent::Finish);
    assert_eq!(t.different_machines, Some(true));
    // Time range 600,026,913 .. 905,225,120 µs.
    assert_eq!(
        recs.last().map(WorkloadRecord::time),
        Some(Nanos(305_225_120_000))
    );
}

#[test]
fn task_events_snapshot_rows() {
    let path = data("google2011/task_events/part-00000-of-00500.head2000.csv");
    let (recs, _) = read_all(TraceFormat::Google2011, &[path]);
    assert_eq!(recs.len(), 2000);
    let tasks: Vec<&TaskEvent> = recs
        .iter()
        .filter_map(|r| match r {
            WorkloadRecord::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    assert!(tasks.iter().all(|t| t.snapshot && t.time == Nanos::ZERO));
    assert!(tasks.iter().all(|t| t.kind == LifecycleEvent::Submit));
    assert_eq!(tasks.iter().filter(|t| t.missing.is_some()).count(), 88);
    assert_eq!(tasks.iter().filter(|t| t.machine.is_none()).count(), 159);
    // Line 1: 0,2,3418309,0,4155527081,0,70s3v5…,3,9,,,,
    let t = tasks[0];
    assert_eq!(t.missing, Some(MissingInfo::ExistsButNoCreation));
    assert_eq!(t.machine, Some(MachineId(4_155_527_081)));
    assert_eq!(t.scheduling_class, Some(3));
    assert_eq!(t.priority.map(|p| p.band), Some(PriorityBand::Production));
    assert!(t.request.is_empty());
    assert_eq!(t.different_machines, None);
}

#[test]
fn part_files_chain_in_time_order() {
    // Both slices of part-00000 as one table, given in reverse order: they are
    // chained by part number then name, and come out time-ordered.
    let paths = [
        data("google2011/task_events/part-00000-of-00500.rows277322-287321.csv"),
        data("google2011/task_events/part-00000-of-00500.head2000.csv"),
    ];
    let (recs, stats) = read_all(TraceFormat::Google2011, &paths);
    assert_eq!(recs.len(), 12_000);
    assert_eq!(stats.files.len(), 2);
    assert!(stats.files[0].file.ends_with("head2000.csv"));
    assert_eq!(stats.out_of_order_rows, 0);
    assert!(recs.windows(2).all(|w| w[0].time() <= w[1].time()));
    // A directory works the same way.
    let (by_dir, _) = read_all(TraceFormat::Google2011, &[data("google2011/task_events")]);
    assert_eq!(by_dir, recs);
}

#[test]
fn job_events_from_the_original_gzip_part() {
    let path = data("google2011/job_events/part-00000-of-00500.csv.gz");
    let (recs, stats) = read_all(TraceFormat::Google2011, &[path]);
    assert_eq!(stats.rows, 10_704);
    assert!(stats.files[0].gzip);
    let mut kinds = BTreeMap::new();
    for r in &recs {
        let WorkloadRecord::Job(j) = r else {
            panic!("job events only")
        };
        *kinds.entry(j.kind.name()).or_insert(0) += 1;
    }
    let want: BTreeMap<_, _> = [
        ("submit", 4900),
        ("schedule", 4892),
        ("fail", 8),
        ("finish", 636),
        ("kill", 268),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, want);
    // Line 1: 0,,3418309,0,70s3v5…,3,IHgtox…,wAmgn2…
    let WorkloadRecord::Job(j) = &recs[0] else {
        panic!()
    };
    assert_eq!(
        (j.time, j.snapshot, j.job),
        (Nanos::ZERO, true, JobId(3_418_309))
    );
    assert_eq!(j.kind, LifecycleEvent::Submit);
    assert_eq!(
        j.user,
        Some(Symbol::of(b"70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo="))
    );
    assert_eq!(j.scheduling_class, Some(3));
    assert_eq!(
        j.name,
        Some(Symbol::of(b"IHgtoxEBuUTHNbUeVs4hzptMY4n8rZKLbZg+Jh5fNG4="))
    );
    assert_eq!(
        j.logical_name,
        Some(Symbol::of(b"wAmgn2H74cdoMuSFwJF3NaUEaudVBTZ0/HaNZBwIpEQ="))
    );
    // Time range 0 .. 5,598,884,349 µs.
    assert_eq!(
        recs.last().map(WorkloadRecord::time),
        Some(Nanos((5_598_884_349 - 600_000_000) * 1000))
    );
}

#[test]
fn machine_events_head() {
    let path = data("google2011/machine_events/part-00000-of-00001.head15000.csv");
    let (recs, _) = read_all(TraceFormat::Google2011, &[path]);
    assert_eq!(recs.len(), 15_000);
    let mut kinds = BTreeMap::new();
    let mut snapshot = 0;
    let mut no_cpu = 0;
    for r in &recs {
        let WorkloadRecord::Machine(m) = r else {
            panic!()
        };
        *kinds.entry(format!("{:?}", m.kind)).or_insert(0) += 1;
        snapshot += usize::from(m.snapshot);
        no_cpu += usize::from(m.capacity.cpus.is_none());
    }
    assert_eq!(kinds["Add"], 13_421);
    assert_eq!(kinds["Remove"], 920);
    assert_eq!(kinds["Update"], 659);
    assert_eq!(snapshot, 12_477);
    assert_eq!(no_cpu, 2);
    // Line 1: 0,5,0,HofLGzk1…,0.5,0.2493
    let WorkloadRecord::Machine(m) = &recs[0] else {
        panic!()
    };
    assert_eq!(m.machine, MachineId(5));
    assert_eq!(m.kind, MachineEventKind::Add);
    assert_eq!(m.capacity.cpus, ppb(500_000_000));
    assert_eq!(m.capacity.mem, ppb(249_300_000));
    assert_eq!(
        m.platform,
        Some(Symbol::of(b"HofLGzk1Or/8Ildj2+Lqv0UGGvY82NLoni8+J/Yy0RU="))
    );
    // The last row is at 244,487,711,279 µs.
    assert_eq!(
        recs.last().map(WorkloadRecord::time),
        Some(Nanos((244_487_711_279 - 600_000_000) * 1000))
    );
}

#[test]
fn synthetic_task_usage_attributes_and_constraints() {
    let (usage, _) = read_all(
        TraceFormat::Google2011,
        &[data(
            "google2011/task_usage/part-00000-of-00500.synthetic.csv",
        )],
    );
    assert_eq!(usage.len(), 3);
    let WorkloadRecord::Usage(u) = &usage[0] else {
        panic!()
    };
    assert_eq!((u.start, u.end), (Nanos(0), Nanos(300_000_000_000)));
    assert_eq!(
        u.subject,
        UsageSubject::Task {
            task: TaskId {
                job: JobId(3_418_309),
                index: 0
            },
            instance: None
        }
    );
    assert_eq!(u.cpu, ppb(31_250_000));
    assert_eq!(u.disk_io, ppb(76_290));
    assert_eq!(u.cpi, Some(Micro(1_326_000)));
    assert_eq!(u.sample_portion, Some(Micro(1_000_000)));
    assert_eq!(u.aggregated, Some(false));
    assert_eq!(u.cpu_sample, ppb(24_900_000));
    let WorkloadRecord::Usage(u) = &usage[1] else {
        panic!()
    };
    assert_eq!(u.cpu_sample, None); // a 19-column 2011-1 row
    assert_eq!(u.page_cache, None);
    let WorkloadRecord::Usage(u) = &usage[2] else {
        panic!()
    };
    assert_eq!((u.cpu, u.aggregated), (None, Some(true)));

    let (attrs, _) = read_all(
        TraceFormat::Google2011,
        &[data(
            "google2011/machine_attributes/part-00000-of-00001.synthetic.csv",
        )],
    );
    let WorkloadRecord::MachineAttribute(a) = &attrs[0] else {
        panic!()
    };
    assert_eq!(
        (a.machine, a.value, a.deleted, a.snapshot),
        (MachineId(5), Some(AttrValue::Int(8)), false, true)
    );
    let WorkloadRecord::MachineAttribute(a) = &attrs[2] else {
        panic!()
    };
    assert_eq!(a.time, Nanos(11_745_678_900_000));
    assert!(a.deleted);
    assert_eq!(
        a.value,
        Some(AttrValue::Symbol(Symbol::of(
            b"rYb8gbKNwqY2BD06Sv8RHcN+nb8wgMRtNDJVdQkIaqk="
        )))
    );

    let (cons, _) = read_all(
        TraceFormat::Google2011,
        &[data(
            "google2011/task_constraints/part-00000-of-00500.synthetic.csv",
        )],
    );
    let ops: Vec<_> = cons
        .iter()
        .map(|r| match r {
            WorkloadRecord::Constraint(c) => (c.op, c.value),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            (ConstraintOp::Equal, Some(AttrValue::Int(8))),
            (ConstraintOp::NotEqual, None),
            (ConstraintOp::GreaterThan, Some(AttrValue::Int(2))),
        ]
    );
}

#[test]
fn whole_directory_merges_tables_by_time() {
    let (recs, stats) = read_all(TraceFormat::Google2011, &[data("google2011")]);
    let expected_rows = 10_704 + 15_000 + 12_000 + 3 + 3 + 3;
    assert_eq!(stats.rows, expected_rows);
    assert_eq!(recs.len() as u64, expected_rows);
    assert!(recs.windows(2).all(|w| w[0].time() <= w[1].time()));
    // At time 0, machines come before jobs before tasks.
    assert!(matches!(recs[0], WorkloadRecord::Machine(_)));
    let reader = open(
        TraceFormat::Google2011,
        &[data("google2011")],
        &ReadOptions::default(),
    )
    .expect("opens");
    assert_eq!(reader.metadata().ordering, Ordering::Time);
    assert_eq!(reader.metadata().tables.len(), 6);
}
