//! Metrics, statistics and output writers shared by simulations, live mode and the CLI.
//!
//! Everything here is deterministic: statistics are computed from integers or reduced
//! in a fixed order, and writers produce the same bytes for the same values. Files are
//! written atomically (temporary file in the same directory, then rename), so an
//! interrupted run never leaves a half-written output behind.
//!
//! ```
//! use analysis::stats::{jain_index, percentile_sorted};
//! assert_eq!(percentile_sorted(&[1, 2, 3, 4], 50.0), Some(2));
//! assert!((jain_index(&[1.0, 1.0]) - 1.0).abs() < 1e-12);
//! ```

pub mod output;
pub mod plot;
pub mod report;
pub mod samples;
pub mod stats;
pub mod table;
pub mod timeseries;
