//! Output directory helpers: atomic files, run.json's wall-clock figures, peak memory.

use std::path::Path;

use analysis::output::{write_atomic, write_json_atomic, WriteError};

/// Writes `summary.json`, `metrics/*.csv`, `report.html` and `run.json` into `dir`,
/// each atomically.
pub fn write_run_outputs(
    dir: &Path,
    summary: &scenarios::summary::Summary,
    metrics: &[(String, String)],
    run_info: &RunInfo,
) -> Result<(), WriteError> {
    for (name, csv) in metrics {
        write_atomic(&dir.join("metrics").join(name), csv.as_bytes())?;
    }
    let report = scenarios::report::run_report(summary, metrics);
    write_atomic(&dir.join("report.html"), report.to_html().as_bytes())?;
    write_json_atomic(&dir.join("run.json"), run_info)?;
    // The summary goes last: its presence means the directory is complete.
    write_json_atomic(&dir.join("summary.json"), summary)
}

/// `run.json`: what is not deterministic about a run.
#[derive(Debug, serde::Serialize)]
pub struct RunInfo {
    /// Wall-clock seconds the simulation took.
    pub wall_s: f64,
    /// Engine events processed.
    pub events: u64,
    /// Events per wall-clock second.
    pub events_per_sec: f64,
    /// Simulated seconds per wall-clock second.
    pub sim_speedup: f64,
    /// Peak resident memory of the process, if the OS tells.
    pub peak_rss_bytes: Option<u64>,
}

impl RunInfo {
    /// The wall-clock figures of a run that took `wall_s` seconds and produced `summary`.
    pub fn measure(wall_s: f64, summary: &scenarios::summary::Summary) -> RunInfo {
        let wall = wall_s.max(1e-9);
        RunInfo {
            wall_s,
            events: summary.events,
            events_per_sec: summary.events as f64 / wall,
            sim_speedup: summary.sim_end_ns as f64 / 1e9 / wall,
            peak_rss_bytes: peak_rss_bytes(),
        }
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), if available.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
