//! The compact format: lossless round trips of every reader's records, and its
//! error paths.

mod common;

use std::io::Cursor;

use common::{data, read_all};
use traces::compact::{convert, CompactMetadata, CompactReader, CompactWriter, MAGIC};
use traces::*;

fn round_trip(recs: &[WorkloadRecord]) -> Vec<u8> {
    let mut w = CompactWriter::new(Vec::new(), &CompactMetadata::default()).expect("writer");
    for r in recs {
        w.write(r).expect("write");
    }
    let bytes = w.finish().expect("finish");
    let back: Vec<WorkloadRecord> = CompactReader::new(&bytes[..])
        .expect("header")
        .map(|r| r.expect("decodes"))
        .collect();
    assert_eq!(back.len(), recs.len());
    for (a, b) in back.iter().zip(recs) {
        assert_eq!(a, b);
    }
    bytes
}

#[test]
fn every_format_round_trips() {
    for (format, dir) in [
        (TraceFormat::Google2011, "google2011"),
        (TraceFormat::Google2019, "google2019"),
        (TraceFormat::Alibaba2018, "alibaba2018"),
        (TraceFormat::Swf, "swf"),
    ] {
        let (recs, _) = read_all(format, &[data(dir)]);
        assert!(!recs.is_empty());
        round_trip(&recs);
    }
    let synthetic: Vec<_> = synth(50, 1, 7).collect();
    round_trip(&synthetic);
}

#[test]
fn compact_is_smaller_than_csv() {
    let path = data("google2011/task_events/part-00000-of-00500.rows277322-287321.csv");
    let (recs, _) = read_all(TraceFormat::Google2011, std::slice::from_ref(&path));
    let bytes = round_trip(&recs);
    let csv = std::fs::metadata(&path).expect("stat").len() as usize;
    assert!(bytes.len() * 3 < csv, "{} vs {csv}", bytes.len());
}

#[test]
fn convert_and_open_as_a_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = open(TraceFormat::Swf, &[data("swf")], &ReadOptions::default()).expect("opens");
    let out = std::fs::File::create(dir.path().join("nasa.msw")).expect("create");
    let (_, summary) = convert(reader, out).expect("converts");
    assert_eq!(summary.records, 4 * 18_239);
    let (orig, _) = read_all(TraceFormat::Swf, &[data("swf")]);
    let mut back = open(
        TraceFormat::Compact,
        &[dir.path().join("nasa.msw")],
        &ReadOptions::default(),
    )
    .expect("opens compact");
    let md = back.metadata().clone();
    assert_eq!(md.format, Some(TraceFormat::Swf));
    assert_eq!(md.ordering, Ordering::RowStart);
    assert_eq!(md.swf.and_then(|h| h.max_procs), Some(128));
    let recs: Vec<_> = back.by_ref().map(|r| r.expect("decodes")).collect();
    assert_eq!(recs, orig);
    assert_eq!(back.stats().rows, 4 * 18_239);
    // inspect works on compact input too
    let report = inspect(
        TraceFormat::Compact,
        &[dir.path().join("nasa.msw")],
        &ReadOptions::default(),
    )
    .expect("inspects");
    assert_eq!(report.jobs, 18_239);
}

#[test]
fn errors() {
    let (recs, _) = read_all(
        TraceFormat::Alibaba2018,
        &[data("alibaba2018/batch_task.synthetic.csv")],
    );
    let bytes = round_trip(&recs);
    // Truncated: every cut is detected.
    for cut in [bytes.len() - 1, bytes.len() - 2, bytes.len() / 2, 20] {
        let result: Result<Vec<_>, _> =
            CompactReader::named(&bytes[..cut], "x.msw").and_then(|r| r.collect());
        let msg = result.expect_err("truncated").to_string();
        assert!(
            msg.starts_with("x.msw: ") && msg.ends_with("compact stream is truncated"),
            "{msg}"
        );
    }
    let msg = CompactReader::named(&b"mesosim!"[..], "x.msw")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        msg.as_deref(),
        Some("x.msw: header: not a mesosim compact workload file (bad magic bytes)")
    );
    let mut v2 = MAGIC.to_vec();
    v2.push(2);
    let msg = CompactReader::named(&v2[..], "x.msw")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        msg.as_deref(),
        Some("x.msw: header: compact format version 2 is not supported (this reader knows version 1)")
    );
    let mut bad_tag = bytes.clone();
    // magic (8) + version (1) + a one-byte length + the metadata JSON
    let header_len = 10
        + serde_json::to_vec(&CompactMetadata::default())
            .expect("json")
            .len();
    bad_tag[header_len] = 42;
    let err = CompactReader::named(Cursor::new(bad_tag), "x.msw")
        .expect("header")
        .next()
        .expect("an item")
        .expect_err("bad tag");
    assert_eq!(err.to_string(), "x.msw: record 1: unknown record tag 42");
}

/// Google 2019's machine_events shard is ordered by event type (ADD, then REMOVE, then
/// UPDATE): converting it yields the same records in time order, ties in file order.
#[test]
fn convert_sorts_a_file_ordered_trace_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = data(
        "google2019/machine_events-000000000000.cell-a.lines1-1000+27778-28277+45719-45968.json",
    );
    let reader = open(
        TraceFormat::Google2019,
        std::slice::from_ref(&path),
        &ReadOptions::default(),
    )
    .expect("opens");
    assert_eq!(reader.metadata().ordering, Ordering::File);
    let (orig, _) = read_all(TraceFormat::Google2019, std::slice::from_ref(&path));
    assert!(
        orig.windows(2).any(|w| w[0].time() > w[1].time()),
        "the sample is expected out of time order"
    );
    let out = std::fs::File::create(dir.path().join("m.msw")).expect("create");
    let (_, summary) = convert(reader, out).expect("converts");
    assert_eq!(summary.records, orig.len() as u64);
    let back = open(
        TraceFormat::Compact,
        &[dir.path().join("m.msw")],
        &ReadOptions::default(),
    )
    .expect("opens compact");
    assert_eq!(back.metadata().ordering, Ordering::Time);
    let sorted: Vec<WorkloadRecord> = back.map(|r| r.expect("decodes")).collect();
    let mut expected = orig.clone();
    expected.sort_by_key(WorkloadRecord::time);
    assert_eq!(sorted, expected);
}
