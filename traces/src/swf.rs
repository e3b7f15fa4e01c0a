//! Standard Workload Format (Parallel Workloads Archive) to workload records.
//!
//! Header lines (`; Key: value`) are parsed into [`SwfHeader`]; unknown keys and
//! free-text comment lines are kept, never rejected. Each job line has 18
//! whitespace-separated fields, −1 meaning unknown; fractional values are accepted.
//!
//! A job line becomes, in this order:
//! 1. a job SUBMIT and a task SUBMIT (task index 0) at the submit time, the task
//!    requesting `requested processors` (else `allocated processors`) whole CPUs and
//!    `requested memory × processors` KiB, with the requested time as its runtime limit;
//! 2. a task SCHEDULE at submit + wait, if the wait time is known;
//! 3. a usage sample over the run (average CPU time / run time × processors, used
//!    memory × processors), if known;
//! 4. the task's end and the job's end at submit + max(wait, 0) + run time, if the run
//!    time is known: status 1 FINISH, 0 FAIL, 5 KILL, 2 EVICT (a partial execution
//!    continued later), 3 FINISH, 4 FAIL; −1 (unknown) is read as FINISH.
//!
//! Times are seconds after the header's `UnixStartTime` (→ ns). Rows are ordered by
//! submit time, so the reader guarantees [`crate::Ordering::RowStart`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{BadRowKind, FieldError};
use crate::parse::{parse_decimal, Fields, Sep};
use crate::record::*;

pub(crate) const FIELDS: &[&str] = &[
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time used",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user ID",
    "group ID",
    "executable number",
    "queue number",
    "partition number",
    "preceding job number",
    "think time from preceding job",
];

/// A numbered queue or partition declared in the header (`; Queue: 1 batch`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwfNamed {
    /// Its number, as used in the job lines.
    pub number: Option<i64>,
    /// Its name or description.
    pub name: String,
}

/// The header of an SWF log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwfHeader {
    /// `Version`.
    pub version: Option<String>,
    /// `Computer`.
    pub computer: Option<String>,
    /// `Installation`.
    pub installation: Option<String>,
    /// `Acknowledge`: the log's contributor, to be credited.
    pub acknowledge: Option<String>,
    /// `Information` (continuation lines joined with newlines).
    pub information: Option<String>,
    /// `Conversion`.
    pub conversion: Option<String>,
    /// `MaxJobs`.
    pub max_jobs: Option<u64>,
    /// `MaxRecords`.
    pub max_records: Option<u64>,
    /// `Preemption` (Yes / No / Double …).
    pub preemption: Option<String>,
    /// `UnixStartTime`: the epoch second that submit time 0 stands for.
    pub unix_start_time: Option<i64>,
    /// `TimeZone` (deprecated seconds offset).
    pub time_zone: Option<i64>,
    /// `TimeZoneString`.
    pub time_zone_string: Option<String>,
    /// `StartTime`.
    pub start_time: Option<String>,
    /// `EndTime`.
    pub end_time: Option<String>,
    /// `MaxNodes`.
    pub max_nodes: Option<u64>,
    /// `MaxProcs`.
    pub max_procs: Option<u64>,
    /// `MaxRuntime` (s).
    pub max_runtime: Option<u64>,
    /// `MaxMemory` (KB).
    pub max_memory: Option<u64>,
    /// `AllowOveruse`.
    pub allow_overuse: Option<String>,
    /// `MaxQueues`.
    pub max_queues: Option<u64>,
    /// `Queues` (free text).
    pub queues_text: Option<String>,
    /// `Queue` lines.
    pub queues: Vec<SwfNamed>,
    /// `MaxPartitions`.
    pub max_partitions: Option<u64>,
    /// `Partitions` (free text).
    pub partitions_text: Option<String>,
    /// `Partition` lines.
    pub partitions: Vec<SwfNamed>,
    /// `Note` entries (continuation lines joined with newlines).
    pub notes: Vec<String>,
    /// Keys this reader does not know, with their values, in file order.
    pub other: Vec<(String, String)>,
    /// Comment lines that are not `Key: value` lines.
    pub comments: Vec<String>,
}

/// Which header entry a continuation line extends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Last {
    None,
    Information,
    Note,
    Other,
    Text,
}

/// Parses header lines one at a time.
#[derive(Debug)]
pub(crate) struct HeaderParser {
    pub header: SwfHeader,
    last: Last,
    lines: usize,
}

/// Header and comment lines kept per log; later ones are ignored.
pub const MAX_HEADER_ENTRIES: usize = 10_000;

impl HeaderParser {
    pub fn new() -> Self {
        HeaderParser {
            header: SwfHeader::default(),
            last: Last::None,
            lines: 0,
        }
    }

    /// Takes one `;` line (with the `;`). Memory stays bounded: at most
    /// [`MAX_HEADER_ENTRIES`] lines are kept.
    pub fn line(&mut self, line: &[u8]) {
        if self.lines >= MAX_HEADER_ENTRIES {
            return;
        }
        self.lines += 1;
        let text = String::from_utf8_lossy(&line[1..]);
        let body = text.trim_end();
        let trimmed = body.trim_start();
        if trimmed.is_empty() {
            self.last = Last::None;
            return;
        }
        if let Some((key, value)) = split_key(trimmed) {
            self.entry(key, value.trim());
            return;
        }
        let indented = body.len() - trimmed.len() >= 2;
        let h = &mut self.header;
        match self.last {
            Last::Information if indented => {
                append(h.information.get_or_insert_with(String::new), trimmed)
            }
            Last::Note if indented => {
                if let Some(n) = h.notes.last_mut() {
                    append(n, trimmed);
                }
            }
            Last::Other if indented => {
                if let Some((_, v)) = h.other.last_mut() {
                    append(v, trimmed);
                }
            }
            _ => {
                h.comments.push(trimmed.to_string());
                self.last = Last::Text;
            }
        }
    }

    fn entry(&mut self, key: &str, value: &str) {
        let h = &mut self.header;
        let text = || Some(value.to_string());
        let num = |v: &str| {
            v.split_whitespace()
                .next()
                .and_then(|w| w.parse::<u64>().ok())
        };
        let int = |v: &str| {
            v.split_whitespace()
                .next()
                .and_then(|w| w.parse::<i64>().ok())
        };
        self.last = Last::None;
        let mut known = true;
        match key {
            "Version" => h.version = text(),
            "Computer" => h.computer = text(),
            "Installation" => h.installation = text(),
            "Acknowledge" => h.acknowledge = text(),
            "Information" => {
                match &mut h.information {
                    Some(s) => append(s, value),
                    None => h.information = text(),
                }
                self.last = Last::Information;
            }
            "Conversion" => h.conversion = text(),
            "MaxJobs" => h.max_jobs = num(value),
            "MaxRecords" => h.max_records = num(value),
            "Preemption" => h.preemption = text(),
            "UnixStartTime" => h.unix_start_time = int(value),
            "TimeZone" => h.time_zone = int(value),
            "TimeZoneString" => h.time_zone_string = text(),
            "StartTime" => h.start_time = text(),
            "EndTime" => h.end_time = text(),
            "MaxNodes" => h.max_nodes = num(value),
            "MaxProcs" => h.max_procs = num(value),
            "MaxRuntime" => h.max_runtime = num(value),
            "MaxMemory" => h.max_memory = num(value),
            "AllowOveruse" => h.allow_overuse = text(),
            "MaxQueues" => h.max_queues = num(value),
            "Queues" => h.queues_text = text(),
            "Queue" => h.queues.push(named(value)),
            "MaxPartitions" => h.max_partitions = num(value),
            "Partitions" => h.partitions_text = text(),
            "Partition" => h.partitions.push(named(value)),
            "Note" => {
                h.notes.push(value.to_string());
                self.last = Last::Note;
            }
            _ => known = false,
        }
        // A known numeric key whose value does not parse is kept as an unknown entry.
        let unparsed = matches!(
            key,
            "MaxJobs"
                | "MaxRecords"
                | "MaxNodes"
                | "MaxProcs"
                | "MaxRuntime"
                | "MaxMemory"
                | "MaxQueues"
                | "MaxPartitions"
        ) && num(value).is_none()
            || matches!(key, "UnixStartTime" | "TimeZone") && int(value).is_none();
        if !known || unparsed {
            h.other.push((key.to_string(), value.to_string()));
            self.last = Last::Other;
        }
    }
}

fn append(s: &mut String, more: &str) {
    if !s.is_empty() {
        s.push('\n');
    }
    s.push_str(more);
}

fn named(value: &str) -> SwfNamed {
    let mut parts = value.splitn(2, char::is_whitespace);
    let first = parts.next().unwrap_or("");
    match first.parse::<i64>() {
        Ok(n) => SwfNamed {
            number: Some(n),
            name: parts.next().unwrap_or("").trim().to_string(),
        },
        Err(_) => SwfNamed {
            number: None,
            name: value.to_string(),
        },
    }
}

/// `Key: value` where Key is one word of letters and the colon is followed by a
/// blank or the end (so `http://…` is not a key).
fn split_key(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let key = &s[..colon];
    let rest = &s[colon + 1..];
    let word = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let blank_after = rest.is_empty() || rest.starts_with([' ', '\t']);
    (word && blank_after).then_some((key, rest))
}

/// A field as seconds, `None` when −1 (or any negative: unknown).
fn opt_secs(f: &mut Fields<'_>) -> Result<Option<u64>, FieldError> {
    let raw = f.raw()?;
    let d = parse_decimal(raw).map_err(|k| f.error(k, "a number of seconds", raw))?;
    if d.negative {
        return Ok(None);
    }
    d.scaled_abs(9)
        .map(Some)
        .ok_or_else(|| f.error(BadRowKind::OutOfRange, "a number of seconds", raw))
}

/// A count or ID field, `None` when negative; fractions are rounded.
fn opt_count(f: &mut Fields<'_>) -> Result<Option<u64>, FieldError> {
    let raw = f.raw()?;
    let d = parse_decimal(raw).map_err(|k| f.error(k, "a number", raw))?;
    if d.negative {
        return Ok(None);
    }
    d.scaled_abs(0)
        .map(Some)
        .ok_or_else(|| f.error(BadRowKind::OutOfRange, "a number", raw))
}

/// Parses one job line.
pub(crate) fn parse(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, FIELDS, FIELDS.len(), Sep::Blanks);
    let job_raw = f.raw()?;
    let job = crate::parse::parse_u64(job_raw)
        .map_err(|k| f.error(k, "a non-negative integer", job_raw))?;
    let submit = opt_secs(&mut f)?
        .ok_or_else(|| f.error(BadRowKind::MissingValue, "a known submit time", b"-1"))?;
    let wait = opt_secs(&mut f)?;
    let run = opt_secs(&mut f)?;
    let alloc_procs = opt_count(&mut f)?;
    let avg_cpu = opt_secs(&mut f)?;
    let used_mem = opt_count(&mut f)?;
    let req_procs = opt_count(&mut f)?;
    let req_time = opt_secs(&mut f)?;
    let req_mem = opt_count(&mut f)?;
    let status_raw = f.raw()?;
    let status = match status_raw {
        b"-1" | b"1" | b"3" => LifecycleEvent::Finish,
        b"0" | b"4" => LifecycleEvent::Fail,
        b"5" => LifecycleEvent::Kill,
        b"2" => LifecycleEvent::Evict,
        _ => {
            return Err(f.error(
                BadRowKind::UnknownCode,
                "a status -1, 0, 1, 2, 3, 4 or 5",
                status_raw,
            ))
        }
    };
    let user = opt_count(&mut f)?;
    let group = opt_count(&mut f)?;
    let executable = opt_count(&mut f)?;
    let queue = opt_count(&mut f)?;
    let _partition = opt_count(&mut f)?;
    let preceding = opt_count(&mut f)?;
    let _think = opt_secs(&mut f)?;
    f.finish()?;

    let t_submit = Nanos(submit);
    let job_id = JobId(job);
    let mut j = JobEvent::new(t_submit, job_id, LifecycleEvent::Submit);
    j.user = user.map(Symbol);
    j.group = group.map(Symbol);
    j.name = executable.map(Symbol);
    j.queue = queue.and_then(|q| u32::try_from(q).ok());
    j.depends_on = preceding
        .filter(|&p| p > 0)
        .map(JobId)
        .into_iter()
        .collect();

    let procs = req_procs.filter(|&p| p > 0).or(alloc_procs);
    let mut t = TaskEvent::new(
        t_submit,
        TaskId {
            job: job_id,
            index: 0,
        },
        LifecycleEvent::Submit,
    );
    t.user = j.user;
    t.request.cpus = procs.map(|p| Amount::MilliCpus(p.saturating_mul(1000)));
    t.request.mem = match (req_mem, procs) {
        (Some(m), Some(p)) => Some(Amount::Kib(m.saturating_mul(p))),
        _ => None,
    };
    t.runtime_limit = req_time.map(Nanos);

    out.push_back(WorkloadRecord::Job(j.clone()));
    out.push_back(WorkloadRecord::Task(t.clone()));
    let start = t_submit.saturating_add(wait.unwrap_or(0));
    if wait.is_some() {
        let mut s = t.clone();
        s.time = start;
        s.kind = LifecycleEvent::Schedule;
        out.push_back(WorkloadRecord::Task(s));
    }
    if let Some(run) = run {
        let end = start.saturating_add(run);
        let used_procs = alloc_procs.or(procs);
        if avg_cpu.is_some() || used_mem.is_some() {
            let mut u = UsageSample::new(
                start,
                end,
                UsageSubject::Task {
                    task: t.task,
                    instance: None,
                },
            );
            if let (Some(cpu_ns), Some(p)) = (avg_cpu, used_procs) {
                if run > 0 {
                    let milli = u128::from(cpu_ns) * u128::from(p) * 1000 / u128::from(run);
                    u.cpu = Some(Amount::MilliCpus(u64::try_from(milli).unwrap_or(u64::MAX)));
                }
            }
            if let (Some(m), Some(p)) = (used_mem, used_procs) {
                u.mem = Some(Amount::Kib(m.saturating_mul(p)));
            }
            out.push_back(WorkloadRecord::Usage(u));
        }
        t.time = end;
        t.kind = status;
        out.push_back(WorkloadRecord::Task(t));
        j.time = end;
        j.kind = status;
        out.push_back(WorkloadRecord::Job(j));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keys_continuations_and_comments() {
        let mut p = HeaderParser::new();
        for l in [
            "; Version: 2.2",
            "; Information: http://www.nas.nasa.gov/",
            ";              http://www.cs.huji.ac.il/labs/parallel/workload/",
            ";",
            "; MaxNodes: 128",
            "; MaxProcs: lots",
            "; Queue:  1  batch          ",
            "; Note: first",
            ";       second",
            "; Frobnicate: yes",
            "; Job Submit Wait",
        ] {
            p.line(l.as_bytes());
        }
        let h = p.header;
        assert_eq!(h.version.as_deref(), Some("2.2"));
        assert_eq!(
            h.information.as_deref(),
            Some("http://www.nas.nasa.gov/\nhttp://www.cs.huji.ac.il/labs/parallel/workload/")
        );
        assert_eq!(h.max_nodes, Some(128));
        assert_eq!(h.max_procs, None);
        assert_eq!(
            h.queues,
            vec![SwfNamed {
                number: Some(1),
                name: "batch".into()
            }]
        );
        assert_eq!(h.notes, vec!["first\nsecond".to_string()]);
        assert_eq!(
            h.other,
            vec![
                ("MaxProcs".to_string(), "lots".to_string()),
                ("Frobnicate".to_string(), "yes".to_string())
            ]
        );
        assert_eq!(h.comments, vec!["Job Submit Wait".to_string()]);
    }
}
