//! The `--event-log` JSON-lines writer: one object per offer, accept, decline, rescind,
//! launch, task state change, operator call and timeline step (design.md §4).

use std::io::Write;

use models::resources::Resources;
use serde::{Serialize, Serializer};

/// One line of the event log. Absent fields are omitted.
#[derive(Debug, Default, Serialize)]
pub struct LogRecord<'a> {
    /// Simulated time in nanoseconds.
    pub t_ns: u64,
    /// `offer`, `accept`, `decline`, `rescind`, `launch`, `task_state`, `operator`,
    /// `timeline`, `agent_added`, `agent_removed`, `framework_added`, `framework_removed`,
    /// `oversubscribed` (an agent's new revocable resources), and with the fetcher
    /// `fetch_start`, `fetch_hit`, `fetch_miss`, `fetch_wait`, `fetch_bypass`,
    /// `fetch_evict`, `fetch_done`.
    pub kind: &'a str,
    /// Framework name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<&'a str>,
    /// Role the resources are offered or allocated under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    /// Agent name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<&'a str>,
    /// Resources, written in Mesos text notation. Borrowed so a run without an event
    /// log never formats them (formatting was most of a large replay's offer cost).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "as_mesos_text"
    )]
    pub resources: Option<&'a Resources>,
    /// Offer id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<u64>,
    /// Task id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<u32>,
    /// Task state, e.g. `TASK_RUNNING`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
    /// Task status reason, e.g. `REASON_AGENT_REMOVED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// Filter duration installed by a decline, in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_ns: Option<u64>,
    /// Free text for operator calls and timeline steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The URI of a fetcher record (`fetch_*` kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<&'a str>,
    /// Bytes a fetcher record is about (the URI's size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// How long it took (`fetch_done`: launch at the agent → last URI in place), ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<u64>,
}

fn as_mesos_text<S: Serializer>(r: &Option<&Resources>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.collect_str(r),
        None => s.serialize_none(),
    }
}

/// Writes records to an optional sink; the first I/O error is kept and reported at the
/// end of the run, so the event path itself never fails.
pub struct EventLog<'w> {
    out: Option<&'w mut dyn Write>,
    error: Option<std::io::Error>,
    lines: u64,
}

impl<'w> EventLog<'w> {
    /// A log writing to `out`, or discarding everything when `None`.
    pub fn new(out: Option<&'w mut dyn Write>) -> Self {
        Self {
            out,
            error: None,
            lines: 0,
        }
    }

    /// True when records go somewhere (callers can skip building them otherwise).
    pub fn enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Appends one record.
    pub fn record(&mut self, record: LogRecord<'_>) {
        let Some(out) = self.out.as_mut() else { return };
        if self.error.is_some() {
            return;
        }
        let result = serde_json::to_writer(&mut *out, &record)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"));
        match result {
            Ok(()) => self.lines += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// Flushes and returns the first error, if any.
    pub fn finish(mut self) -> Result<u64, std::io::Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
        }
        Ok(self.lines)
    }
}
