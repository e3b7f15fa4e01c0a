//! `inspect` on real samples: the report's figures, its JSON and its rendering.

mod common;

use common::data;
use traces::*;

#[test]
fn google2011_directory() {
    let report = inspect(
        TraceFormat::Google2011,
        &[data("google2011")],
        &ReadOptions::default(),
    )
    .expect("inspects");
    assert_eq!(report.format, Some(TraceFormat::Google2011));
    assert_eq!(report.rows, 10_704 + 15_000 + 12_000 + 9);
    assert_eq!(report.records, report.rows);
    assert_eq!(report.bad_rows, 0);
    assert_eq!(report.time_first_ns, Some(0));
    // The latest record: machine_events' last row at 244,487,711,279 µs.
    assert_eq!(
        report.time_last_ns,
        Some((244_487_711_279 - 600_000_000) * 1000)
    );
    assert_eq!(report.machine_events["add"], 13_421);
    assert_eq!(report.job_events["submit"], 4_900);
    assert_eq!(report.task_events["submit"], 2_000 + 3_834);
    assert_eq!(report.task_events["kill"], 432);
    assert!(report.distinct_exact);
    assert!(report.machines >= 12_477);
    assert!(report.jobs > 0 && report.tasks > 0 && report.users > 0);
    assert!(report.machine_capacity.cpus.normalized > 5_000.0);
    assert!(report.task_requests.cpus.normalized > 0.0);
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["format"], "google2011");
    assert_eq!(json["rows"], 37_713);
    let text = report.render();
    assert!(text.contains("format        google2011"), "{text}");
    assert!(text.contains("task events   "), "{text}");
}

#[test]
fn lenient_inspect_reports_bad_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = common::write(
        dir.path(),
        "batch_task.csv",
        b"M1,10,j_3,1,Terminated,157213,157233,100,0.59\nM1,x,j_3,1,Terminated,1,2,100,0.59\n",
    );
    let report =
        inspect(TraceFormat::Alibaba2018, &[p], &ReadOptions::lenient()).expect("inspects");
    assert_eq!((report.rows, report.bad_rows), (2, 1));
    assert_eq!(report.bad_by_kind[&BadRowKind::NotANumber].count, 1);
    assert!(report.render().contains("not_a_number: 1"));
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["bad_by_kind"]["not_a_number"]["count"], 1);
}

#[test]
fn swf_header_in_report() {
    let report =
        inspect(TraceFormat::Swf, &[data("swf")], &ReadOptions::default()).expect("inspects");
    assert_eq!(report.jobs, 18_239);
    assert_eq!(report.swf.as_ref().and_then(|h| h.max_nodes), Some(128));
    assert!(report.render().contains("max nodes 128"));
}
