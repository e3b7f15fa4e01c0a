//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use traces::{open, ReadOptions, ReadStats, TraceError, TraceFormat, WorkloadRecord};

/// `traces/testdata/<rel>`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// Reads a whole trace strictly; panics on any error.
pub fn read_all(format: TraceFormat, paths: &[PathBuf]) -> (Vec<WorkloadRecord>, ReadStats) {
    read_with(format, paths, &ReadOptions::default()).expect("trace reads cleanly")
}

/// Reads a whole trace, returning the first error.
pub fn read_with(
    format: TraceFormat,
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<(Vec<WorkloadRecord>, ReadStats), TraceError> {
    let mut reader = open(format, paths, options)?;
    let mut out = Vec::new();
    for rec in reader.by_ref() {
        out.push(rec?);
    }
    Ok((out, reader.stats().clone()))
}

/// The first error of reading a trace, as a message.
pub fn first_error(format: TraceFormat, paths: &[PathBuf], options: &ReadOptions) -> String {
    match read_with(format, paths, options) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Writes `contents` to `dir/rel`, creating directories.
pub fn write(dir: &std::path::Path, rel: &str, contents: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&p, contents).expect("write");
    p
}
