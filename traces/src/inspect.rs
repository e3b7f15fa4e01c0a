//! `inspect`: stream a trace once and summarise it (rows, bad rows, time span,
//! machines, jobs, tasks, event counts, resource totals).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{BadRowKind, TraceError};
use crate::reader::{BadRows, FileStats, ReadOptions, TraceReader};
use crate::record::*;
use crate::swf::SwfHeader;
use crate::table::{Ordering, Table, TraceFormat};

/// Above this many distinct keys a counter switches from exact to estimated
/// (HyperLogLog, about 1 % error), keeping memory bounded.
pub const EXACT_DISTINCT_LIMIT: usize = 1 << 20;

/// Counts distinct keys: exactly up to [`EXACT_DISTINCT_LIMIT`], then by estimate.
#[derive(Clone, Debug, Default)]
struct Distinct {
    exact: BTreeSet<u128>,
    registers: Option<Vec<u8>>,
}

const HLL_BITS: u32 = 14;

fn mix(key: u128) -> u64 {
    // splitmix64 over both halves: a fixed, documented hash.
    let mut z = (key as u64) ^ ((key >> 64) as u64).rotate_left(32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Distinct {
    fn insert(&mut self, key: u128) {
        if let Some(regs) = &mut self.registers {
            let h = mix(key);
            let idx = (h >> (64 - HLL_BITS)) as usize;
            let rank = ((h << HLL_BITS) | (1 << (HLL_BITS - 1))).leading_zeros() as u8 + 1;
            if regs[idx] < rank {
                regs[idx] = rank;
            }
            return;
        }
        self.exact.insert(key);
        if self.exact.len() > EXACT_DISTINCT_LIMIT {
            let mut regs = vec![0u8; 1 << HLL_BITS];
            let keys = std::mem::take(&mut self.exact);
            self.registers = Some(Vec::new());
            std::mem::swap(
                self.registers.as_mut().unwrap_or(&mut Vec::new()),
                &mut regs,
            );
            for k in keys {
                self.insert(k);
            }
        }
    }

    fn count(&self) -> (u64, bool) {
        match &self.registers {
            None => (self.exact.len() as u64, true),
            Some(regs) => {
                let m = regs.len() as f64;
                let sum: f64 = regs.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let mut est = alpha * m * m / sum;
                let zeros = regs.iter().filter(|&&r| r == 0).count();
                if est <= 2.5 * m && zeros > 0 {
                    est = m * (m / zeros as f64).ln();
                }
                (est.round() as u64, false)
            }
        }
    }
}

/// Sums of one resource, per unit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AmountTotals {
    /// Sum of normalised amounts, in reference machines.
    pub normalized: f64,
    /// Sum of absolute CPU, in cores.
    pub cpus: f64,
    /// Sum of absolute memory or disk, in GiB.
    pub gib: f64,
}

#[derive(Clone, Debug, Default)]
struct Sum {
    normalized: u128,
    milli: u128,
    kib: u128,
}

impl Sum {
    fn add(&mut self, a: Option<Amount>, times: u64) {
        let t = u128::from(times);
        match a {
            Some(Amount::Normalized(f)) => self.normalized += u128::from(f.0) * t,
            Some(Amount::MilliCpus(v)) => self.milli += u128::from(v) * t,
            Some(Amount::Kib(v)) => self.kib += u128::from(v) * t,
            Some(Amount::OfCapacity(_)) | None => {}
        }
    }

    fn totals(&self) -> AmountTotals {
        AmountTotals {
            normalized: self.normalized as f64 / 1e9,
            cpus: self.milli as f64 / 1e3,
            gib: self.kib as f64 / (1024.0 * 1024.0),
        }
    }
}

/// Totals of CPU, memory and disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResourceTotals {
    /// CPU.
    pub cpus: AmountTotals,
    /// Memory.
    pub mem: AmountTotals,
    /// Disk.
    pub disk: AmountTotals,
}

#[derive(Clone, Debug, Default)]
struct ResSum {
    cpus: Sum,
    mem: Sum,
    disk: Sum,
}

impl ResSum {
    fn add(&mut self, r: &Resources, times: u64) {
        self.cpus.add(r.cpus, times);
        self.mem.add(r.mem, times);
        self.disk.add(r.disk, times);
    }

    fn totals(&self) -> ResourceTotals {
        ResourceTotals {
            cpus: self.cpus.totals(),
            mem: self.mem.totals(),
            disk: self.disk.totals(),
        }
    }
}

/// A summary of a whole trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InspectReport {
    /// The trace format (for compact input: the format it came from, if known).
    pub format: Option<TraceFormat>,
    /// Tables read.
    pub tables: Vec<Table>,
    /// The record order the reader guarantees.
    pub ordering: Ordering,
    /// Files read.
    pub files: Vec<FileStats>,
    /// Data rows read.
    pub rows: u64,
    /// Records produced.
    pub records: u64,
    /// Bad rows (skipped in lenient mode).
    pub bad_rows: u64,
    /// Bad rows by kind, with examples.
    pub bad_by_kind: BTreeMap<BadRowKind, BadRows>,
    /// Rows earlier than the row before them in the same table.
    pub out_of_order_rows: u64,
    /// Earliest record time (ns since the window start).
    pub time_first_ns: Option<u64>,
    /// Latest record time, not counting "after the window" records.
    pub time_last_ns: Option<u64>,
    /// Records timed "after the window ended".
    pub after_end_records: u64,
    /// Records from the snapshot before the window.
    pub snapshot_records: u64,
    /// Distinct machines.
    pub machines: u64,
    /// Distinct jobs.
    pub jobs: u64,
    /// Distinct tasks.
    pub tasks: u64,
    /// Distinct users.
    pub users: u64,
    /// False if a distinct count was estimated (over a million keys).
    pub distinct_exact: bool,
    /// Records per kind (`machine`, `task`, …).
    pub record_kinds: BTreeMap<String, u64>,
    /// Machine events per type (`add`, `remove`, `update`).
    pub machine_events: BTreeMap<String, u64>,
    /// Job events per type (`submit`, `finish`, …).
    pub job_events: BTreeMap<String, u64>,
    /// Task events per type (`submit`, `schedule`, …).
    pub task_events: BTreeMap<String, u64>,
    /// Task submissions per priority band.
    pub task_priorities: BTreeMap<String, u64>,
    /// Capacity of all machines, each counted once with its last known capacity.
    pub machine_capacity: ResourceTotals,
    /// Resources requested by all task submissions (× replicas).
    pub task_requests: ResourceTotals,
    /// The SWF header, for SWF logs.
    pub swf: Option<SwfHeader>,
}

/// Opens and inspects a trace (see [`crate::open`] for the arguments).
pub fn inspect(
    format: TraceFormat,
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<InspectReport, TraceError> {
    inspect_reader(TraceReader::open(format, paths, options)?)
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_insert(0) += 1;
}

/// Streams an opened trace to its end and summarises it. Stops at the first error
/// (in lenient mode bad rows are counted, not errors).
pub fn inspect_reader(mut reader: TraceReader) -> Result<InspectReport, TraceError> {
    let mut first: Option<u64> = None;
    let mut last: Option<u64> = None;
    let mut after_end = 0;
    let mut snapshot = 0;
    let mut machines = Distinct::default();
    let mut jobs = Distinct::default();
    let mut tasks = Distinct::default();
    let mut users = Distinct::default();
    let mut kinds = BTreeMap::new();
    let mut machine_events = BTreeMap::new();
    let mut job_events = BTreeMap::new();
    let mut task_events = BTreeMap::new();
    let mut priorities = BTreeMap::new();
    let mut capacity: BTreeMap<MachineId, Resources> = BTreeMap::new();
    let mut requests = ResSum::default();
    for rec in reader.by_ref() {
        let rec = rec?;
        let t = rec.time();
        if t.is_end() {
            after_end += 1;
        } else {
            first = Some(first.map_or(t.0, |f| f.min(t.0)));
            last = Some(last.map_or(t.0, |l| l.max(t.0)));
        }
        bump(&mut kinds, rec.kind_name());
        match &rec {
            WorkloadRecord::Machine(m) => {
                snapshot += u64::from(m.snapshot);
                machines.insert(u128::from(m.machine.0));
                bump(
                    &mut machine_events,
                    match m.kind {
                        MachineEventKind::Add => "add",
                        MachineEventKind::Remove => "remove",
                        MachineEventKind::Update => "update",
                    },
                );
                if !m.capacity.is_empty() {
                    capacity.insert(m.machine, m.capacity);
                }
            }
            WorkloadRecord::MachineAttribute(a) => {
                snapshot += u64::from(a.snapshot);
                machines.insert(u128::from(a.machine.0));
            }
            WorkloadRecord::Job(j) => {
                snapshot += u64::from(j.snapshot);
                jobs.insert(u128::from(j.job.0));
                if let Some(u) = j.user {
                    users.insert(u128::from(u.0));
                }
                bump(&mut job_events, j.kind.name());
            }
            WorkloadRecord::Task(t) => {
                snapshot += u64::from(t.snapshot);
                jobs.insert(u128::from(t.task.job.0));
                tasks.insert((u128::from(t.task.job.0) << 64) | u128::from(t.task.index));
                if let Some(u) = t.user {
                    users.insert(u128::from(u.0));
                }
                if let Some(m) = t.machine {
                    machines.insert(u128::from(m.0));
                }
                bump(&mut task_events, t.kind.name());
                if t.kind == LifecycleEvent::Submit {
                    requests.add(&t.request, u64::from(t.replicas));
                    let band = match t.priority.map(|p| p.band) {
                        Some(PriorityBand::Free) => "free",
                        Some(PriorityBand::BestEffort) => "best_effort",
                        Some(PriorityBand::Mid) => "mid",
                        Some(PriorityBand::Production) => "production",
                        Some(PriorityBand::Monitoring) => "monitoring",
                        None => "none",
                    };
                    bump(&mut priorities, band);
                }
            }
            WorkloadRecord::Usage(u) => {
                if let Some(m) = u.machine {
                    machines.insert(u128::from(m.0));
                }
            }
            WorkloadRecord::Constraint(c) => {
                snapshot += u64::from(c.snapshot);
            }
        }
    }
    let mut cap = ResSum::default();
    for r in capacity.values() {
        cap.add(r, 1);
    }
    let (machines, e1) = machines.count();
    let (jobs, e2) = jobs.count();
    let (tasks, e3) = tasks.count();
    let (users, e4) = users.count();
    let stats = reader.stats().clone();
    let md = reader.metadata().clone();
    Ok(InspectReport {
        format: md.format,
        tables: md.tables,
        ordering: md.ordering,
        files: stats.files,
        rows: stats.rows,
        records: stats.records,
        bad_rows: stats.bad_rows,
        bad_by_kind: stats.bad_by_kind,
        out_of_order_rows: stats.out_of_order_rows,
        time_first_ns: first,
        time_last_ns: last,
        after_end_records: after_end,
        snapshot_records: snapshot,
        machines,
        jobs,
        tasks,
        users,
        distinct_exact: e1 && e2 && e3 && e4,
        record_kinds: kinds,
        machine_events,
        job_events,
        task_events,
        task_priorities: priorities,
        machine_capacity: cap.totals(),
        task_requests: requests.totals(),
        swf: md.swf,
    })
}

fn secs(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => format!("{:.3} s", ns as f64 / 1e9),
        None => "-".to_string(),
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".to_string();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn totals(t: &AmountTotals) -> String {
    let mut parts = Vec::new();
    if t.normalized > 0.0 {
        parts.push(format!("{:.3} normalised", t.normalized));
    }
    if t.cpus > 0.0 {
        parts.push(format!("{:.3} cores", t.cpus));
    }
    if t.gib > 0.0 {
        parts.push(format!("{:.3} GiB", t.gib));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" + ")
    }
}

impl InspectReport {
    /// A human-readable summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let format = self.format.map_or("unknown", |f| f.name());
        let tables: Vec<_> = self.tables.iter().map(|t| t.name()).collect();
        let _ = writeln!(s, "format        {format} ({})", tables.join(", "));
        let _ = writeln!(s, "files         {}", self.files.len());
        for f in &self.files {
            let _ = writeln!(
                s,
                "  {}  {} rows, {} bytes{}",
                f.file,
                f.rows,
                f.bytes,
                if f.gzip { " (gzip)" } else { "" }
            );
        }
        let _ = writeln!(s, "rows          {} ({} bad)", self.rows, self.bad_rows);
        for (kind, b) in &self.bad_by_kind {
            let _ = writeln!(s, "  {}: {}", kind.name(), b.count);
            for e in &b.examples {
                let _ = writeln!(s, "    {e}");
            }
        }
        let _ = writeln!(
            s,
            "records       {} ({})",
            self.records,
            counts(&self.record_kinds)
        );
        let _ = writeln!(
            s,
            "time          {} .. {}{}",
            secs(self.time_first_ns),
            secs(self.time_last_ns),
            if self.after_end_records > 0 {
                format!(", {} after the window", self.after_end_records)
            } else {
                String::new()
            }
        );
        let _ = writeln!(s, "snapshot      {} records", self.snapshot_records);
        let _ = writeln!(
            s,
            "order         {:?} ({} rows out of order)",
            self.ordering, self.out_of_order_rows
        );
        let approx = if self.distinct_exact {
            ""
        } else {
            " (estimated)"
        };
        let _ = writeln!(
            s,
            "distinct      {} machines, {} jobs, {} tasks, {} users{approx}",
            self.machines, self.jobs, self.tasks, self.users
        );
        let _ = writeln!(s, "machine events {}", counts(&self.machine_events));
        let _ = writeln!(s, "job events    {}", counts(&self.job_events));
        let _ = writeln!(s, "task events   {}", counts(&self.task_events));
        let _ = writeln!(s, "priorities    {}", counts(&self.task_priorities));
        let c = &self.machine_capacity;
        let _ = writeln!(
            s,
            "capacity      cpus {}; mem {}",
            totals(&c.cpus),
            totals(&c.mem)
        );
        let r = &self.task_requests;
        let _ = writeln!(
            s,
            "requests      cpus {}; mem {}; disk {}",
            totals(&r.cpus),
            totals(&r.mem),
            totals(&r.disk)
        );
        if let Some(h) = &self.swf {
            let _ = writeln!(
                s,
                "swf header    {} at {}; max nodes {}, max procs {}",
                h.computer.as_deref().unwrap_or("?"),
                h.installation.as_deref().unwrap_or("?"),
                h.max_nodes.map_or("?".to_string(), |n| n.to_string()),
                h.max_procs.map_or("?".to_string(), |n| n.to_string()),
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_switches_to_estimate() {
        let mut d = Distinct::default();
        let n = EXACT_DISTINCT_LIMIT as u128 + 50_000;
        for k in 0..n {
            d.insert(k);
            d.insert(k);
        }
        let (est, exact) = d.count();
        assert!(!exact);
        let err = (est as f64 - n as f64).abs() / n as f64;
        assert!(err < 0.03, "estimate {est} for {n}");
    }
}
