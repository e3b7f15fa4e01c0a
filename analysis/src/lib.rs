//! Metrics, percentiles, fairness and atomic output writers. See README.md in this crate.
