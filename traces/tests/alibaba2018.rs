//! Alibaba 2018 readers: the real machine_meta and machine_usage slices and
//! synthetic fixtures of the batch and container tables.

mod common;

use common::{data, read_all};
use traces::*;

#[test]
fn machine_meta() {
    let (recs, stats) = read_all(
        TraceFormat::Alibaba2018,
        &[data("alibaba2018/machine_meta.rows1-8821.csv")],
    );
    assert_eq!(stats.rows, 8821);
    let ms: Vec<&MachineEvent> = recs
        .iter()
        .map(|r| match r {
            WorkloadRecord::Machine(m) => m,
            _ => panic!(),
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = ms.iter().map(|m| m.machine).collect();
    assert_eq!(distinct.len(), 2045);
    assert_eq!(
        ms.iter()
            .filter(|m| m.kind == MachineEventKind::Remove)
            .count(),
        5
    );
    assert_eq!(ms.iter().filter(|m| m.snapshot).count(), 1975);
    // Line 1: m_1,0,219,17,96,100,USING
    let m = ms[0];
    assert_eq!(
        (m.machine, m.time, m.snapshot),
        (MachineId(1), Nanos::ZERO, true)
    );
    assert_eq!(m.kind, MachineEventKind::Add);
    assert_eq!(m.capacity.cpus, Some(Amount::MilliCpus(96_000)));
    assert_eq!(
        m.capacity.mem,
        Some(Amount::Normalized(NormalizedFraction::ONE))
    );
    assert_eq!(
        m.failure_domains,
        [Some(Symbol::of(b"219")), Some(Symbol::of(b"17"))]
    );
    // Line 1214: m_1263,357600,15,,96,100,USING (empty failure_domain_2)
    let m = ms[1213];
    assert_eq!(
        (m.machine, m.time),
        (MachineId(1263), Nanos::from_secs(357_600))
    );
    assert_eq!(m.failure_domains[1], None);
}

#[test]
fn machine_usage() {
    let (recs, _) = read_all(
        TraceFormat::Alibaba2018,
        &[data("alibaba2018/machine_usage.rows1-6000.csv")],
    );
    assert_eq!(recs.len(), 6000);
    // Line 1: m_1932,386640,41,92,,,43.04,33.08,5
    let WorkloadRecord::Usage(u) = &recs[0] else {
        panic!()
    };
    assert_eq!(u.subject, UsageSubject::Machine(MachineId(1932)));
    assert_eq!(
        (u.start, u.end),
        (Nanos::from_secs(386_640), Nanos::from_secs(386_640))
    );
    assert_eq!(
        u.cpu,
        Some(Amount::OfCapacity(NormalizedFraction(410_000_000)))
    );
    assert_eq!(
        u.mem,
        Some(Amount::OfCapacity(NormalizedFraction(920_000_000)))
    );
    assert_eq!((u.mem_bandwidth, u.mpki), (None, None));
    assert_eq!(
        u.net_in,
        Some(Amount::Normalized(NormalizedFraction(430_400_000)))
    );
    assert_eq!(
        u.net_out,
        Some(Amount::Normalized(NormalizedFraction(330_800_000)))
    );
    assert_eq!(
        u.disk_io,
        Some(Amount::OfCapacity(NormalizedFraction(50_000_000)))
    );
}

fn tasks(recs: &[WorkloadRecord]) -> Vec<(u64, u64, LifecycleEvent, u64)> {
    recs.iter()
        .filter_map(|r| match r {
            WorkloadRecord::Task(t) => {
                Some((t.task.job.0, t.task.index, t.kind, t.time.0 / 1_000_000_000))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn batch_task() {
    let (recs, stats) = read_all(
        TraceFormat::Alibaba2018,
        &[data("alibaba2018/batch_task.synthetic.csv")],
    );
    assert_eq!(stats.rows, 5);
    let hashed = Symbol::of(b"task_LTg0MTUzNDgwNjQ5NDY0NTY1NA==").0;
    use LifecycleEvent::*;
    assert_eq!(
        tasks(&recs),
        vec![
            (3, 1, Submit, 157_213),
            (3, 1, Finish, 157_233),
            (3, 2, Submit, 157_234),
            (3, 2, Finish, 157_240),
            (217, hashed, Submit, 673_790),
            (217, hashed, Fail, 673_800),
            (1000, 5, Submit, 674_000),
            (1001, 1, Submit, 0),
        ]
    );
    let WorkloadRecord::Task(t) = &recs[0] else {
        panic!()
    };
    assert_eq!(t.replicas, 10);
    assert_eq!(t.task_type, Some(1));
    assert_eq!(t.request.cpus, Some(Amount::MilliCpus(1000)));
    assert_eq!(
        t.request.mem,
        Some(Amount::Normalized(NormalizedFraction(5_900_000)))
    );
    let WorkloadRecord::Task(t) = &recs[2] else {
        panic!()
    };
    assert_eq!(t.depends_on, vec![1]);
    let WorkloadRecord::Task(t) = &recs[6] else {
        panic!()
    };
    assert_eq!((t.replicas, t.depends_on.clone()), (371, vec![2, 4]));
    let WorkloadRecord::Task(t) = &recs[7] else {
        panic!()
    };
    assert!(t.snapshot && t.request.is_empty());
}

#[test]
fn batch_instance() {
    let (recs, _) = read_all(
        TraceFormat::Alibaba2018,
        &[data("alibaba2018/batch_instance.synthetic.csv")],
    );
    assert_eq!(recs.len(), 11);
    let WorkloadRecord::Task(t) = &recs[1] else {
        panic!()
    };
    assert_eq!(t.kind, LifecycleEvent::Schedule);
    assert_eq!(
        (t.instance, t.machine),
        (Some(74_901_673), Some(MachineId(2637)))
    );
    let WorkloadRecord::Usage(u) = &recs[2] else {
        panic!()
    };
    assert_eq!(
        (u.start, u.end),
        (Nanos::from_secs(673_795), Nanos::from_secs(673_797))
    );
    assert_eq!(u.cpu, Some(Amount::MilliCpus(130)));
    assert_eq!(u.cpu_max, Some(Amount::MilliCpus(160)));
    assert_eq!(u.mem, Some(Amount::Normalized(NormalizedFraction(200_000))));
    let WorkloadRecord::Task(t) = &recs[3] else {
        panic!()
    };
    assert_eq!(
        (t.kind, t.time),
        (LifecycleEvent::Finish, Nanos::from_secs(673_797))
    );
    let kinds: Vec<_> = tasks(&recs).into_iter().map(|t| t.2).collect();
    use LifecycleEvent::*;
    assert_eq!(
        kinds,
        vec![Submit, Schedule, Finish, Submit, Schedule, Fail, Submit, Schedule, Submit]
    );
}

#[test]
fn containers() {
    // Both tables are in file order; merging them interleaves by the heads' times.
    let (recs, _) = read_all(
        TraceFormat::Alibaba2018,
        &[
            data("alibaba2018/container_meta.synthetic.csv"),
            data("alibaba2018/container_usage.synthetic.csv"),
        ],
    );
    assert_eq!(recs.len(), 7);
    let metas: Vec<&TaskEvent> = recs
        .iter()
        .filter_map(|r| match r {
            WorkloadRecord::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    let kinds: Vec<_> = metas
        .iter()
        .map(|t| (t.task.job.0, t.task.index, t.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (5052, 1, LifecycleEvent::Schedule),
            (5052, 1, LifecycleEvent::Finish),
            (8125, 2, LifecycleEvent::Schedule),
            (1, 3, LifecycleEvent::Lost),
        ]
    );
    let lost = metas[3];
    assert_eq!(lost.machine, None);
    assert_eq!(lost.request.cpus, Some(Amount::MilliCpus(1000)));
    assert_eq!(lost.limit.cpus, Some(Amount::MilliCpus(2000)));
    assert_eq!(
        lost.request.mem,
        Some(Amount::Normalized(NormalizedFraction(7_800_000)))
    );
    let usage: Vec<&UsageSample> = recs
        .iter()
        .filter_map(|r| match r {
            WorkloadRecord::Usage(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(usage.len(), 3);
    assert_eq!(usage[0].subject, UsageSubject::Container(1));
    assert_eq!(
        usage[0].cpu,
        Some(Amount::OfCapacity(NormalizedFraction(110_000_000)))
    );
    // −1 and 101 are "invalid" and read as missing.
    assert_eq!(usage[1].disk_io, None);
    assert_eq!(usage[1].cpi, Some(Micro(1_410_000)));
    assert_eq!(usage[2].subject, UsageSubject::Container(2));
    assert_eq!((usage[2].cpu, usage[2].mem), (None, None));
}
