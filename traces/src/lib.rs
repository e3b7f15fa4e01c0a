//! Streaming readers for public cluster traces into one workload record type.
//!
//! Formats: Google clusterdata-2011-2 ([`TraceFormat::Google2011`]), Google
//! clusterdata-2019 JSON exports ([`TraceFormat::Google2019`]), Alibaba
//! cluster-trace-v2018 ([`TraceFormat::Alibaba2018`]), the Standard Workload Format
//! ([`TraceFormat::Swf`]) and mesosim's own [`compact`] format. Every row becomes a
//! [`WorkloadRecord`] of one model (machines, jobs, tasks, usage, constraints) with
//! integer time in nanoseconds since the trace window's start and fixed-point
//! resources that say whether they are normalised.
//!
//! Files are streamed in constant memory, plain or gzip (detected by the magic
//! bytes), part files of a table chained in part order, tables merged by time.
//! Reading is strict by default: the first bad row is an error naming file, line,
//! column and field; [`ReadOptions::lenient`] skips bad rows and counts them.
//!
//! ```
//! use std::path::PathBuf;
//! use traces::{open, ReadOptions, TraceFormat, WorkloadRecord};
//!
//! let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/google2011");
//! let paths = [dir.join("machine_events/part-00000-of-00001.head15000.csv")];
//! let (mut machines, mut snapshot) = (0, 0);
//! for rec in open(TraceFormat::Google2011, &paths, &ReadOptions::default())? {
//!     if let WorkloadRecord::Machine(m) = rec? {
//!         machines += 1;
//!         snapshot += usize::from(m.snapshot); // time-0 rows: the initial population
//!     }
//! }
//! assert_eq!((machines, snapshot), (15_000, 12_477));
//! # Ok::<(), traces::TraceError>(())
//! ```
//!
//! See README.md in this crate for what it may depend on and what it does not do.

pub mod compact;
mod error;
pub mod google2011;
mod google2019;
mod input;
pub mod inspect;
mod parse;
pub mod prefetch;
mod reader;
mod record;
pub mod sort;
pub mod swf;
pub mod synth;
mod table;

mod alibaba2018;

use std::path::PathBuf;

pub use error::{BadRowKind, Column, Found, RowError, TraceError};
pub use input::{display_name, MAX_LINE};
pub use inspect::{inspect, InspectReport};
pub use reader::{
    BadRows, FileStats, ReadOptions, ReadStats, TraceMetadata, TraceReader, BAD_ROW_EXAMPLES,
};
pub use record::*;
pub use swf::{SwfHeader, SwfNamed};
pub use synth::synth;
pub use table::{Ordering, Table, TraceFormat};

/// Opens a trace for streaming.
///
/// `paths` are files or directories (searched two levels deep). Each file's table
/// is recognised from its name as in the official layouts (`task_events/part-…`,
/// `machine_meta.csv`, `instance_events-000000000000.json.gz`, `*.swf`; sample
/// suffixes such as `.head15000.csv` are fine), or forced with
/// [`ReadOptions::table`]. Part files of one table are chained in part-number
/// order (then path order); tables are merged by record time.
pub fn open(
    format: TraceFormat,
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<TraceReader, TraceError> {
    TraceReader::open(format, paths, options)
}
