//! Alibaba cluster-trace-v2018 rows (headerless CSV) to workload records.
//!
//! - Time: seconds since the start of the sampled period; `ns = s × 10^9`. Times
//!   ≤ 0 (before the period) become 0 with `snapshot = true`.
//! - IDs: `m_1932` → machine 1932, `j_217` → job 217, `ins_74901673` → instance
//!   74901673, `c_12` → container 12, `app_5` → job 5; names of another shape are
//!   hashed ([`Symbol::of`]).
//! - Task names encode the job's DAG: `M1` is task 1, `R2_1` is task 2 after task 1,
//!   `J5_2_4` is task 5 after tasks 2 and 4; other names (`task_Nzg3…`) are
//!   independent tasks whose index is the name's hash.
//! - Units: CPU requests are absolute (100 = 1 core → [`Amount::MilliCpus`]); memory
//!   is normalised 0–100 (→ [`Amount::Normalized`], 100 = 1.0); utilisation
//!   percentages become [`Amount::OfCapacity`]. The invalid values −1 and 101 are
//!   read as missing.
//! - A `batch_task` row stands for `instance_num` instances (`replicas`) and yields a
//!   SUBMIT at its start and, if it ended, a FINISH/FAIL/KILL/EVICT at its end. A
//!   `batch_instance` row yields SUBMIT and SCHEDULE at its start, a usage sample
//!   over its run, and its end event. Use one table or the other for a replay.
//! - `machine_meta`: status `USING` is an ADD (the machine is in service from then
//!   on; a replayer treats a repeated ADD as an update), any other status a REMOVE.
//! - There is no job table: jobs appear only as [`TaskId::job`].
//! - The files are ordered by machine or not at all ([`crate::Ordering::File`]).

use std::collections::VecDeque;

use crate::error::{BadRowKind, FieldError};
use crate::parse::{parse_decimal, Fields, Sep};
use crate::record::*;
use crate::table::Table;

pub(crate) const MACHINE_META: &[&str] = &[
    "machine_id",
    "time_stamp",
    "failure_domain_1",
    "failure_domain_2",
    "cpu_num",
    "mem_size",
    "status",
];
pub(crate) const MACHINE_USAGE: &[&str] = &[
    "machine_id",
    "time_stamp",
    "cpu_util_percent",
    "mem_util_percent",
    "mem_gps",
    "mkpi",
    "net_in",
    "net_out",
    "disk_io_percent",
];
pub(crate) const CONTAINER_META: &[&str] = &[
    "container_id",
    "machine_id",
    "time_stamp",
    "app_du",
    "status",
    "cpu_request",
    "cpu_limit",
    "mem_size",
];
pub(crate) const CONTAINER_USAGE: &[&str] = &[
    "container_id",
    "machine_id",
    "time_stamp",
    "cpu_util_percent",
    "mem_util_percent",
    "cpi",
    "mem_gps",
    "mpki",
    "net_in",
    "net_out",
    "disk_io_percent",
];
pub(crate) const BATCH_TASK: &[&str] = &[
    "task_name",
    "instance_num",
    "job_name",
    "task_type",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
];
pub(crate) const BATCH_INSTANCE: &[&str] = &[
    "instance_name",
    "task_name",
    "job_name",
    "task_type",
    "status",
    "start_time",
    "end_time",
    "machine_id",
    "seq_no",
    "total_seq_no",
    "cpu_avg",
    "cpu_max",
    "mem_avg",
    "mem_max",
];

/// `prefix` + decimal digits → the number; anything else → its hash.
fn prefixed_id(f: &[u8], prefix: &[u8]) -> u64 {
    if let Some(digits) = f.strip_prefix(prefix) {
        if let Ok(v) = crate::parse::parse_u64(digits) {
            return v;
        }
    }
    Symbol::of(f).0
}

/// A required ID field with an `m_`/`j_`/… prefix.
fn id(f: &mut Fields<'_>, prefix: &[u8]) -> Result<u64, FieldError> {
    let raw = f.raw()?;
    if raw.is_empty() {
        return Err(f.error(BadRowKind::MissingValue, "a non-empty ID", raw));
    }
    Ok(prefixed_id(raw, prefix))
}

/// An optional ID field.
fn opt_id(f: &mut Fields<'_>, prefix: &[u8]) -> Result<Option<u64>, FieldError> {
    let raw = f.raw()?;
    Ok(if raw.is_empty() {
        None
    } else {
        Some(prefixed_id(raw, prefix))
    })
}

/// Task name → (task index, dependencies).
pub(crate) fn task_name(name: &[u8]) -> (u64, Vec<u64>) {
    let body = {
        let letters = name.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        &name[letters..]
    };
    if !body.is_empty() && body[0].is_ascii_digit() {
        let mut parts = body.split(|&b| b == b'_');
        let mut nums = Vec::new();
        let mut ok = true;
        for p in &mut parts {
            match crate::parse::parse_u64(p) {
                Ok(v) => nums.push(v),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && !nums.is_empty() {
            let index = nums.remove(0);
            return (index, nums);
        }
    }
    (Symbol::of(name).0, Vec::new())
}

/// An optional time in seconds (integer or decimal); `None` if empty.
fn opt_time(f: &mut Fields<'_>) -> Result<Option<(Nanos, bool)>, FieldError> {
    const E: &str = "a time in seconds";
    let raw = f.raw()?;
    if raw.is_empty() {
        return Ok(None);
    }
    let d = parse_decimal(raw).map_err(|k| f.error(k, E, raw))?;
    let ns = d
        .scaled_i64(9)
        .ok_or_else(|| f.error(BadRowKind::OutOfRange, E, raw))?;
    Ok(Some(if ns <= 0 {
        (Nanos::ZERO, true)
    } else {
        (Nanos(ns as u64), false)
    }))
}

fn time(f: &mut Fields<'_>) -> Result<(Nanos, bool), FieldError> {
    match opt_time(f)? {
        Some(t) => Ok(t),
        None => Err(f.error(BadRowKind::MissingValue, "a time in seconds", b"")),
    }
}

/// An optional decimal scaled by 10^scale where −1 and 101 mean "invalid".
fn opt_value(f: &mut Fields<'_>, scale: i32) -> Result<Option<u64>, FieldError> {
    const E: &str = "a number";
    let raw = f.raw()?;
    if raw.is_empty() {
        return Ok(None);
    }
    let d = parse_decimal(raw).map_err(|k| f.error(k, E, raw))?;
    if d.negative || d.scaled_abs(3) == Some(101_000) {
        return Ok(None);
    }
    d.scaled_abs(scale)
        .map(Some)
        .ok_or_else(|| f.error(BadRowKind::OutOfRange, E, raw))
}

/// A percentage of the subject's capacity.
fn opt_percent(f: &mut Fields<'_>) -> Result<Option<Amount>, FieldError> {
    Ok(opt_value(f, 7)?.map(|v| Amount::OfCapacity(NormalizedFraction(v))))
}

/// Normalised 0–100 (100 = a whole machine).
fn opt_norm100(f: &mut Fields<'_>) -> Result<Option<Amount>, FieldError> {
    Ok(opt_value(f, 7)?.map(|v| Amount::Normalized(NormalizedFraction(v))))
}

/// CPU in percent of a core (100 = 1 core).
fn opt_cpu100(f: &mut Fields<'_>) -> Result<Option<Amount>, FieldError> {
    Ok(opt_value(f, 1)?.map(Amount::MilliCpus))
}

fn opt_micro(f: &mut Fields<'_>) -> Result<Option<Micro>, FieldError> {
    Ok(opt_value(f, 6)?.map(Micro))
}

const STATUSES: &str =
    "a status (Ready, Waiting, Running, Terminated, Failed, Cancelled, Interrupted)";

/// A batch status → the event at the end of the run, if it ended.
fn batch_end(f: &Fields<'_>, raw: &[u8]) -> Result<Option<LifecycleEvent>, FieldError> {
    Ok(match raw {
        b"Terminated" => Some(LifecycleEvent::Finish),
        b"Failed" => Some(LifecycleEvent::Fail),
        b"Cancelled" => Some(LifecycleEvent::Kill),
        b"Interrupted" | b"Interupted" => Some(LifecycleEvent::Evict),
        b"Running" | b"Waiting" | b"Ready" | b"Unknown" => None,
        b"" => return Err(f.error(BadRowKind::MissingValue, STATUSES, raw)),
        _ => return Err(f.error(BadRowKind::UnknownCode, STATUSES, raw)),
    })
}

/// Parses one row of `table`.
pub(crate) fn parse(
    table: Table,
    line: &[u8],
    out: &mut VecDeque<WorkloadRecord>,
) -> Result<(), FieldError> {
    match table {
        Table::Alibaba2018MachineMeta => machine_meta(line, out),
        Table::Alibaba2018MachineUsage => machine_usage(line, out),
        Table::Alibaba2018BatchTask => batch_task(line, out),
        Table::Alibaba2018BatchInstance => batch_instance(line, out),
        Table::Alibaba2018ContainerMeta => container_meta(line, out),
        _ => container_usage(line, out),
    }
}

fn machine_meta(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, MACHINE_META, MACHINE_META.len(), Sep::Comma);
    let machine = MachineId(id(&mut f, b"m_")?);
    let (time, snapshot) = time(&mut f)?;
    let fd1 = f.opt_symbol()?;
    let fd2 = f.opt_symbol()?;
    let cpus = f.opt_scaled(3, "a number of CPUs")?.map(Amount::MilliCpus);
    let mem = opt_norm100(&mut f)?;
    let status = f.raw()?;
    let kind = match status {
        b"USING" => MachineEventKind::Add,
        b"" => return Err(f.error(BadRowKind::MissingValue, "a status such as USING", status)),
        _ => MachineEventKind::Remove,
    };
    f.finish()?;
    let mut ev = MachineEvent::new(time, machine, kind);
    ev.capacity = Resources {
        cpus,
        mem,
        disk: None,
    };
    ev.failure_domains = [fd1, fd2];
    ev.snapshot = snapshot;
    out.push_back(WorkloadRecord::Machine(ev));
    Ok(())
}

fn machine_usage(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, MACHINE_USAGE, MACHINE_USAGE.len(), Sep::Comma);
    let machine = MachineId(id(&mut f, b"m_")?);
    let (time, _) = time(&mut f)?;
    let mut s = UsageSample::new(time, time, UsageSubject::Machine(machine));
    s.machine = Some(machine);
    s.cpu = opt_percent(&mut f)?;
    s.mem = opt_percent(&mut f)?;
    s.mem_bandwidth = opt_norm100(&mut f)?;
    s.mpki = opt_micro(&mut f)?;
    s.net_in = opt_norm100(&mut f)?;
    s.net_out = opt_norm100(&mut f)?;
    s.disk_io = opt_percent(&mut f)?;
    f.finish()?;
    out.push_back(WorkloadRecord::Usage(s));
    Ok(())
}

fn container_meta(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, CONTAINER_META, CONTAINER_META.len(), Sep::Comma);
    let container = id(&mut f, b"c_")?;
    let machine = opt_id(&mut f, b"m_")?.map(MachineId);
    let (time, snapshot) = time(&mut f)?;
    let app = id(&mut f, b"app_")?;
    let status = f.raw()?;
    let kind = match status {
        b"allocated" | b"started" => LifecycleEvent::Schedule,
        b"stopped" => LifecycleEvent::Finish,
        b"unknown" => LifecycleEvent::Lost,
        _ => {
            return Err(f.error(
                if status.is_empty() {
                    BadRowKind::MissingValue
                } else {
                    BadRowKind::UnknownCode
                },
                "a status (allocated, started, stopped, unknown)",
                status,
            ))
        }
    };
    let cpu_request = opt_cpu100(&mut f)?;
    let cpu_limit = opt_cpu100(&mut f)?;
    let mem = opt_norm100(&mut f)?;
    f.finish()?;
    let mut ev = TaskEvent::new(
        time,
        TaskId {
            job: JobId(app),
            index: container,
        },
        kind,
    );
    ev.machine = machine;
    ev.request.cpus = cpu_request;
    ev.request.mem = mem;
    ev.limit.cpus = cpu_limit;
    ev.snapshot = snapshot;
    out.push_back(WorkloadRecord::Task(ev));
    Ok(())
}

fn container_usage(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, CONTAINER_USAGE, CONTAINER_USAGE.len(), Sep::Comma);
    let container = id(&mut f, b"c_")?;
    let machine = opt_id(&mut f, b"m_")?.map(MachineId);
    let (time, _) = time(&mut f)?;
    let mut s = UsageSample::new(time, time, UsageSubject::Container(container));
    s.machine = machine;
    s.cpu = opt_percent(&mut f)?;
    s.mem = opt_percent(&mut f)?;
    s.cpi = opt_micro(&mut f)?;
    s.mem_bandwidth = opt_norm100(&mut f)?;
    s.mpki = opt_micro(&mut f)?;
    s.net_in = opt_norm100(&mut f)?;
    s.net_out = opt_norm100(&mut f)?;
    s.disk_io = opt_percent(&mut f)?;
    f.finish()?;
    out.push_back(WorkloadRecord::Usage(s));
    Ok(())
}

fn batch_task(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, BATCH_TASK, BATCH_TASK.len(), Sep::Comma);
    let name = f.raw()?;
    if name.is_empty() {
        return Err(f.error(BadRowKind::MissingValue, "a task name", name));
    }
    let (index, depends_on) = task_name(name);
    let replicas = f.opt_u64("a non-negative integer")?.unwrap_or(1);
    let replicas = u32::try_from(replicas)
        .map_err(|_| f.error(BadRowKind::OutOfRange, "at most 4294967295 instances", b""))?;
    let job = JobId(id(&mut f, b"j_")?);
    let task_type = opt_type(&mut f)?;
    let status = f.raw()?;
    let end_kind = batch_end(&f, status)?;
    let start = opt_time(&mut f)?;
    let end = opt_time(&mut f)?;
    let cpus = opt_cpu100(&mut f)?;
    let mem = opt_norm100(&mut f)?;
    f.finish()?;
    let task = TaskId { job, index };
    let mut ev = TaskEvent::new(Nanos::ZERO, task, LifecycleEvent::Submit);
    ev.replicas = replicas;
    ev.task_type = task_type;
    ev.request = Resources {
        cpus,
        mem,
        disk: None,
    };
    ev.depends_on = depends_on;
    if let Some((t, snap)) = start {
        let mut submit = ev.clone();
        submit.time = t;
        submit.snapshot = snap;
        out.push_back(WorkloadRecord::Task(submit));
    }
    if let (Some(kind), Some((t, snap))) = (end_kind, end) {
        if !snap && !matches!(start, Some((s, _)) if t < s) {
            ev.time = t;
            ev.kind = kind;
            out.push_back(WorkloadRecord::Task(ev));
        }
    }
    Ok(())
}

fn opt_type(f: &mut Fields<'_>) -> Result<Option<u32>, FieldError> {
    let v = f.opt_u64("a non-negative integer")?;
    v.map(u32::try_from)
        .transpose()
        .map_err(|_| f.error(BadRowKind::OutOfRange, "a task type below 2^32", b""))
}

fn batch_instance(line: &[u8], out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let mut f = Fields::new(line, BATCH_INSTANCE, BATCH_INSTANCE.len(), Sep::Comma);
    let instance = id(&mut f, b"ins_")?;
    let name = f.raw()?;
    if name.is_empty() {
        return Err(f.error(BadRowKind::MissingValue, "a task name", name));
    }
    let (index, depends_on) = task_name(name);
    let job = JobId(id(&mut f, b"j_")?);
    let task_type = opt_type(&mut f)?;
    let status = f.raw()?;
    let end_kind = batch_end(&f, status)?;
    let start = opt_time(&mut f)?;
    let end = opt_time(&mut f)?;
    let machine = opt_id(&mut f, b"m_")?.map(MachineId);
    let _seq_no = f.opt_u64("a non-negative integer")?;
    let _total_seq_no = f.opt_u64("a non-negative integer")?;
    let cpu_avg = opt_cpu100(&mut f)?;
    let cpu_max = opt_cpu100(&mut f)?;
    let mem_avg = opt_norm100(&mut f)?;
    let mem_max = opt_norm100(&mut f)?;
    f.finish()?;
    let task = TaskId { job, index };
    let Some((t0, snap)) = start else {
        return Ok(());
    };
    let mut ev = TaskEvent::new(t0, task, LifecycleEvent::Submit);
    ev.instance = Some(instance);
    ev.task_type = task_type;
    ev.depends_on = depends_on;
    ev.snapshot = snap;
    out.push_back(WorkloadRecord::Task(ev.clone()));
    let running = end_kind.is_some() || status == b"Running";
    if !running {
        return Ok(());
    }
    ev.kind = LifecycleEvent::Schedule;
    ev.machine = machine;
    out.push_back(WorkloadRecord::Task(ev.clone()));
    let end = end.filter(|&(t, s)| !s && t >= t0).map(|(t, _)| t);
    if cpu_avg.is_some() || cpu_max.is_some() || mem_avg.is_some() || mem_max.is_some() {
        let mut s = UsageSample::new(
            t0,
            end.unwrap_or(t0),
            UsageSubject::Task {
                task,
                instance: Some(instance),
            },
        );
        s.machine = machine;
        s.cpu = cpu_avg;
        s.cpu_max = cpu_max;
        s.mem = mem_avg;
        s.mem_max = mem_max;
        out.push_back(WorkloadRecord::Usage(s));
    }
    if let (Some(kind), Some(t)) = (end_kind, end) {
        ev.time = t;
        ev.kind = kind;
        ev.snapshot = false;
        out.push_back(WorkloadRecord::Task(ev));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_names() {
        assert_eq!(task_name(b"M1"), (1, vec![]));
        assert_eq!(task_name(b"R2_1"), (2, vec![1]));
        assert_eq!(task_name(b"J5_2_4"), (5, vec![2, 4]));
        assert_eq!(
            task_name(b"task_Nzg3"),
            (Symbol::of(b"task_Nzg3").0, vec![])
        );
        assert_eq!(task_name(b"M"), (Symbol::of(b"M").0, vec![]));
        assert_eq!(task_name(b"R2_"), (Symbol::of(b"R2_").0, vec![]));
    }

    #[test]
    fn prefixed_ids() {
        assert_eq!(prefixed_id(b"m_1932", b"m_"), 1932);
        assert_eq!(prefixed_id(b"j_x", b"j_"), Symbol::of(b"j_x").0);
    }
}
