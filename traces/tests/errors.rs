//! Every error path with its exact message, and lenient counting.

mod common;

use std::io::Write;

use common::{data, first_error, read_with, write};
use traces::*;

const GOOD_TASK: &str = "600026913,,515042969,1,372630443,1,/fk1fVcVxZ6iM6gHZzqbIyq56m5zrmHfpdcZ/zzkq4c=,2,0,0.01562,0.01553,0.0002155,0\n";

fn task_file(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    write(dir, "task_events/part-00000-of-00500.csv", body.as_bytes())
}

fn strict() -> ReadOptions {
    ReadOptions::default()
}

#[test]
fn non_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = GOOD_TASK.replacen(",1,/fk1f", ",x,/fk1f", 1);
    let p = task_file(dir.path(), &format!("{GOOD_TASK}{bad}"));
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        r#"task_events/part-00000-of-00500.csv:2: column 6 (event type): expected an integer 0-8, found "x""#
    );
}

#[test]
fn unknown_event_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = GOOD_TASK.replacen(",1,/fk1f", ",9,/fk1f", 1);
    let p = task_file(dir.path(), &bad);
    let err = match read_with(TraceFormat::Google2011, &[p], &strict()) {
        Err(TraceError::Row(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.kind, BadRowKind::UnknownCode);
    assert_eq!(
        err.column,
        Some(Column::Field {
            number: 6,
            name: "event type"
        })
    );
    assert_eq!(
        err.to_string(),
        r#"task_events/part-00000-of-00500.csv:1: column 6 (event type): expected an integer 0-8, found "9""#
    );
}

#[test]
fn missing_and_extra_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = GOOD_TASK
        .trim_end()
        .rsplit_once(',')
        .map(|(a, _)| a)
        .unwrap_or("");
    let p = task_file(dir.path(), &format!("{short}\n"));
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        "task_events/part-00000-of-00500.csv:1: column 13 (different machines restriction): expected 13 columns, found 12 columns"
    );
    let p = task_file(dir.path(), &format!("{},7\n", GOOD_TASK.trim_end()));
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        "task_events/part-00000-of-00500.csv:1: expected 13 columns, found 14 columns"
    );
}

#[test]
fn missing_required_value_and_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = task_file(dir.path(), &GOOD_TASK.replacen(",515042969,", ",,", 1));
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        r#"task_events/part-00000-of-00500.csv:1: column 3 (job ID): expected a non-negative integer, found """#
    );
    let p = task_file(dir.path(), &GOOD_TASK.replacen(",0.01562,", ",-0.5,", 1));
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        r#"task_events/part-00000-of-00500.csv:1: column 10 (CPU request): expected a non-negative decimal number, found "-0.5""#
    );
    let p = task_file(
        dir.path(),
        &GOOD_TASK.replacen("600026913,", "99999999999999999999,", 1),
    );
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        r#"task_events/part-00000-of-00500.csv:1: column 1 (time): expected a timestamp in microseconds (non-negative integer), found "99999999999999999999""#
    );
}

#[test]
fn truncated_gzip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes =
        std::fs::read(data("google2011/job_events/part-00000-of-00500.csv.gz")).expect("read");
    let p = write(
        dir.path(),
        "job_events/part-00000-of-00500.csv.gz",
        &bytes[..bytes.len() / 2],
    );
    let (msg, err) = match read_with(
        TraceFormat::Google2011,
        std::slice::from_ref(&p),
        &ReadOptions::lenient(),
    ) {
        Err(e) => (e.to_string(), e),
        Ok(_) => panic!("a truncated file must fail, in lenient mode too"),
    };
    assert!(matches!(err, TraceError::Read { .. }));
    assert!(
        msg.starts_with("job_events/part-00000-of-00500.csv.gz:")
            && msg.ends_with(": gzip stream is truncated"),
        "{msg}"
    );
    // The records before the cut are all delivered first.
    let mut reader = open(TraceFormat::Google2011, &[p], &strict()).expect("opens");
    let good = reader.by_ref().take_while(Result::is_ok).count();
    assert!(good > 4000, "{good}");
    assert!(reader.next().is_none(), "the reader ends after an error");
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes =
        std::fs::read(data("google2011/job_events/part-00000-of-00500.csv.gz")).expect("read");
    bytes[2] = 7; // compression method: only 8 (deflate) exists
    let p = write(dir.path(), "job_events/part-00000-of-00500.csv.gz", &bytes);
    let msg = first_error(TraceFormat::Google2011, &[p], &strict());
    assert!(
        msg.starts_with("job_events/part-00000-of-00500.csv.gz:1: corrupt gzip stream: "),
        "{msg}"
    );
}

#[test]
fn gzip_detected_by_magic_not_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(GOOD_TASK.as_bytes()).expect("gzip");
    let bytes = gz.finish().expect("gzip");
    let p = write(dir.path(), "task_events/part-00000-of-00500.csv", &bytes);
    let (recs, stats) = read_with(TraceFormat::Google2011, &[p], &strict()).expect("reads");
    assert_eq!(recs.len(), 1);
    assert!(stats.files[0].gzip);
}

#[test]
fn unknown_table_format_and_input() {
    let p = std::path::PathBuf::from("x/schema.csv");
    assert_eq!(
        first_error(TraceFormat::Google2011, &[p], &strict()),
        "cannot tell which google2011 table x/schema.csv holds (name the table explicitly; google2011 tables: machine_events, machine_attributes, job_events, task_events, task_constraints, task_usage)"
    );
    let opts = ReadOptions {
        table: Some("tasks".into()),
        lenient: false,
    };
    assert_eq!(
        first_error(TraceFormat::Alibaba2018, &[data("alibaba2018")], &opts),
        r#"unknown alibaba2018 table "tasks" (alibaba2018 tables: machine_meta, batch_task, batch_instance, container_meta, machine_usage, container_usage)"#
    );
    assert_eq!(
        "google".parse::<TraceFormat>().unwrap_err().to_string(),
        r#"unknown trace format "google" (expected one of google2011, google2019, alibaba2018, swf, compact)"#
    );
    assert_eq!(
        first_error(TraceFormat::Google2011, &[], &strict()),
        "no input files"
    );
    let missing = std::path::PathBuf::from("/nonexistent/task_events/part-00000-of-00500.csv.gz");
    let msg = first_error(TraceFormat::Google2011, &[missing], &strict());
    assert!(
        msg.starts_with("cannot open /nonexistent/task_events/part-00000-of-00500.csv.gz: "),
        "{msg}"
    );
}

#[test]
fn explicit_table_overrides_the_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "whatever.txt", GOOD_TASK.as_bytes());
    let opts = ReadOptions {
        table: Some("task_events".into()),
        lenient: false,
    };
    let (recs, _) = read_with(TraceFormat::Google2011, &[p], &opts).expect("reads");
    assert_eq!(recs.len(), 1);
}

#[test]
fn other_formats_name_their_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "machine_events-000000000000.json",
        br#"{"time":"1","machine_id":"5","type":"7"}"#,
    );
    assert_eq!(
        first_error(TraceFormat::Google2019, &[p], &strict()),
        r#"d/machine_events-000000000000.json:1: field "type": expected an integer 1-3, found "7""#
            .replace(
                "d/",
                &format!("{}/", dir.path().file_name().unwrap().to_string_lossy())
            )
    );
    let p = write(
        dir.path(),
        "g/machine_events-000000000001.json",
        br#"{"time":"1","machine_id":"5","type":"1","capacity":{"cpus":"x","memory":0.5}}"#,
    );
    assert_eq!(
        first_error(TraceFormat::Google2019, &[p], &strict()),
        r#"g/machine_events-000000000001.json:1: field "capacity.cpus": expected a non-negative number, found "x""#
    );
    let p = write(
        dir.path(),
        "g/instance_events-000000000000.json",
        b"{\"time\":",
    );
    let msg = first_error(TraceFormat::Google2019, &[p], &strict());
    assert!(
        msg.starts_with(
            "g/instance_events-000000000000.json:1: expected a JSON object, found invalid JSON ("
        ),
        "{msg}"
    );
    let p = write(
        dir.path(),
        "a/batch_task.csv",
        b"M1,10,j_3,1,Terminated,157213,157233,100,0.59\nM1,10,j_3,1,Finished,157213,157233,100,0.59\n",
    );
    assert_eq!(
        first_error(TraceFormat::Alibaba2018, &[p], &strict()),
        r#"a/batch_task.csv:2: column 5 (status): expected a status (Ready, Waiting, Running, Terminated, Failed, Cancelled, Interrupted), found "Finished""#
    );
    let p = write(
        dir.path(),
        "s/log.swf",
        b"; Version: 2.2\n1 0 -1 10 1 -1 -1 -1 -1 -1 7 1 1 -1 -1 -1 -1 -1\n",
    );
    assert_eq!(
        first_error(TraceFormat::Swf, &[p], &strict()),
        r#"s/log.swf:2: column 11 (status): expected a status -1, 0, 1, 2, 3, 4 or 5, found "7""#
    );
    let p = write(dir.path(), "s/short.swf", b"1 0 -1 10 1\n");
    assert_eq!(
        first_error(TraceFormat::Swf, &[p], &strict()),
        "s/short.swf:1: column 6 (average CPU time used): expected 18 columns, found 5 columns"
    );
}

#[test]
fn lenient_mode_skips_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = String::new();
    body.push_str(GOOD_TASK);
    body.push_str(&GOOD_TASK.replacen(",1,/fk1f", ",x,/fk1f", 1)); // not a number
    body.push_str(&GOOD_TASK.replacen(",1,/fk1f", ",9,/fk1f", 1)); // unknown code
    body.push_str("1,2,3\n"); // missing column
    body.push('\n'); // blank: not a row
    for _ in 0..7 {
        body.push_str(&GOOD_TASK.replacen(",0,0.01562", ",0,zz", 1)); // not a number
    }
    body.push_str(GOOD_TASK);
    let p = task_file(dir.path(), &body);
    let (recs, stats) = read_with(
        TraceFormat::Google2011,
        std::slice::from_ref(&p),
        &ReadOptions::lenient(),
    )
    .expect("lenient read");
    assert_eq!(recs.len(), 2);
    assert_eq!(stats.rows, 12);
    assert_eq!(stats.bad_rows, 10);
    let nan = &stats.bad_by_kind[&BadRowKind::NotANumber];
    assert_eq!(nan.count, 8);
    assert_eq!(nan.examples.len(), BAD_ROW_EXAMPLES);
    assert_eq!(
        nan.examples[0],
        r#"task_events/part-00000-of-00500.csv:2: column 6 (event type): expected an integer 0-8, found "x""#
    );
    assert_eq!(
        nan.examples[1],
        r#"task_events/part-00000-of-00500.csv:6: column 10 (CPU request): expected a non-negative decimal number, found "zz""#
    );
    assert_eq!(stats.bad_by_kind[&BadRowKind::UnknownCode].count, 1);
    assert_eq!(stats.bad_by_kind[&BadRowKind::MissingColumn].count, 1);
    // Strict mode stops at line 2.
    let msg = first_error(TraceFormat::Google2011, &[p], &strict());
    assert!(msg.contains(".csv:2: column 6"), "{msg}");
}

#[test]
fn long_lines_are_bad_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = vec![b'1'; MAX_LINE + 100];
    body.push(b'\n');
    body.extend_from_slice(GOOD_TASK.as_bytes());
    let p = write(dir.path(), "task_events/part-00001-of-00500.csv", &body);
    assert_eq!(
        first_error(TraceFormat::Google2011, std::slice::from_ref(&p), &strict()),
        "task_events/part-00001-of-00500.csv:1: expected a line of at most 1048576 bytes, found a longer line"
    );
    let (recs, stats) =
        read_with(TraceFormat::Google2011, &[p], &ReadOptions::lenient()).expect("lenient");
    assert_eq!(recs.len(), 1);
    assert_eq!(stats.bad_by_kind[&BadRowKind::LineTooLong].count, 1);
}
