//! SWF reader on the real NASA iPSC log (gzip-compressed in testdata).

mod common;

use common::{data, read_all};
use traces::*;

#[test]
fn nasa_ipsc_log() {
    let path = data("swf/NASA-iPSC-1993-3.1-cln.swf.gz");
    let reader = open(
        TraceFormat::Swf,
        std::slice::from_ref(&path),
        &ReadOptions::default(),
    )
    .expect("opens");
    let h = reader.metadata().swf.clone().expect("an SWF header");
    assert_eq!(h.version.as_deref(), Some("2.2"));
    assert_eq!(h.computer.as_deref(), Some("Intel iPSC/860"));
    assert_eq!(h.acknowledge.as_deref(), Some("Bill Nitzberg"));
    assert_eq!((h.max_nodes, h.max_procs), (Some(128), Some(128)));
    assert_eq!((h.max_jobs, h.max_records), (Some(42_264), Some(42_264)));
    assert_eq!(h.unix_start_time, Some(749_458_803));
    assert_eq!(h.time_zone_string.as_deref(), Some("US/Pacific"));
    assert_eq!(h.preemption.as_deref(), Some("No"));
    assert_eq!(h.queues.len(), 2);
    assert_eq!(h.queues[1].number, Some(1));
    assert_eq!(h.queues[1].name, "batch");
    assert_eq!(h.notes.len(), 4);
    assert!(h.information.as_deref().is_some_and(|i| i.contains('\n')));
    drop(reader);

    let (recs, stats) = read_all(TraceFormat::Swf, &[path]);
    assert_eq!(stats.rows, 18_239);
    // Wait and status are −1 on every job: job submit, task submit, task end, job end.
    assert_eq!(recs.len(), 4 * 18_239);
    assert_eq!(stats.out_of_order_rows, 0);
    // Job 1: `1 0 -1 1451 128 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1`
    let WorkloadRecord::Job(j) = &recs[0] else {
        panic!()
    };
    assert_eq!(
        (j.job, j.time, j.kind),
        (JobId(1), Nanos::ZERO, LifecycleEvent::Submit)
    );
    assert_eq!(
        (j.user, j.group, j.queue),
        (Some(Symbol(1)), Some(Symbol(1)), None)
    );
    let WorkloadRecord::Task(t) = &recs[1] else {
        panic!()
    };
    assert_eq!(t.request.cpus, Some(Amount::MilliCpus(128_000)));
    assert_eq!(t.request.mem, None);
    let WorkloadRecord::Task(t) = &recs[2] else {
        panic!()
    };
    assert_eq!(
        (t.kind, t.time),
        (LifecycleEvent::Finish, Nanos::from_secs(1451))
    );
    // The last job: `42264 7948936 -1 86 128 … 12 2 …`
    let WorkloadRecord::Job(j) = &recs[recs.len() - 1] else {
        panic!()
    };
    assert_eq!(j.job, JobId(42_264));
    assert_eq!(j.time, Nanos::from_secs(7_948_936 + 86));
    assert_eq!((j.user, j.group), (Some(Symbol(12)), Some(Symbol(2))));
}

#[test]
fn fields_and_status_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = "; Version: 2.2\n; MaxProcs: 8\n\n\
        7 10 5 100 4 50.5 1024 4 200 2048 0 3 1 9 2 1 6 30\n";
    let p = common::write(dir.path(), "x.swf", log.as_bytes());
    let (recs, _) = read_all(TraceFormat::Swf, &[p]);
    use LifecycleEvent::*;
    let kinds: Vec<_> = recs
        .iter()
        .map(|r| match r {
            WorkloadRecord::Job(j) => ("job", j.kind, j.time.0 / 1_000_000_000),
            WorkloadRecord::Task(t) => ("task", t.kind, t.time.0 / 1_000_000_000),
            WorkloadRecord::Usage(u) => ("usage", Schedule, u.start.0 / 1_000_000_000),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("job", Submit, 10),
            ("task", Submit, 10),
            ("task", Schedule, 15),
            ("usage", Schedule, 15),
            ("task", Fail, 115),
            ("job", Fail, 115),
        ]
    );
    let WorkloadRecord::Task(t) = &recs[1] else {
        panic!()
    };
    assert_eq!(t.request.mem, Some(Amount::Kib(8192)));
    assert_eq!(t.runtime_limit, Some(Nanos::from_secs(200)));
    let WorkloadRecord::Usage(u) = &recs[3] else {
        panic!()
    };
    // 50.5 s of CPU per processor over 100 s on 4 processors = 2.02 cores.
    assert_eq!(u.cpu, Some(Amount::MilliCpus(2020)));
    assert_eq!(u.mem, Some(Amount::Kib(4096)));
    let WorkloadRecord::Job(j) = &recs[0] else {
        panic!()
    };
    assert_eq!((j.queue, j.depends_on.clone()), (Some(2), vec![JobId(6)]));
}
