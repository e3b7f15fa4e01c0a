//! Google clusterdata-2011-2 rows (headerless CSV) to workload records.
//!
//! Time: trace timestamps are microseconds and the window starts at 600 s, so a
//! record's time is `(µs − 600,000,000) × 1000` ns. Timestamp 0 is the snapshot
//! taken before the window (records get time 0 and `snapshot = true`); 2^63−1
//! means "after the window" ([`Nanos::END`]). Timestamps between 0 and 600 s do
//! not occur in the trace and are clamped to 0.
//!
//! Resources stay normalised: [`Amount::Normalized`], 1.0 = the largest machine.

use crate::error::{BadRowKind, FieldError};
use crate::parse::{Fields, Sep};
use crate::record::*;
use crate::table::Table;

/// Start of the trace window in trace microseconds.
pub const WINDOW_START_US: u64 = 600_000_000;

pub(crate) const MACHINE_EVENTS: &[&str] = &[
    "time",
    "machine ID",
    "event type",
    "platform ID",
    "CPUs",
    "memory",
];
pub(crate) const MACHINE_ATTRIBUTES: &[&str] = &[
    "time",
    "machine ID",
    "attribute name",
    "attribute value",
    "attribute deleted",
];
pub(crate) const JOB_EVENTS: &[&str] = &[
    "time",
    "missing info",
    "job ID",
    "event type",
    "user",
    "scheduling class",
    "job name",
    "logical job name",
];
pub(crate) const TASK_EVENTS: &[&str] = &[
    "time",
    "missing info",
    "job ID",
    "task index",
    "machine ID",
    "event type",
    "user",
    "scheduling class",
    "priority",
    "CPU request",
    "memory request",
    "disk space request",
    "different machines restriction",
];
pub(crate) const TASK_CONSTRAINTS: &[&str] = &[
    "time",
    "job ID",
    "task index",
    "comparison operator",
    "attribute name",
    "attribute value",
];
pub(crate) const TASK_USAGE: &[&str] = &[
    "start time",
    "end time",
    "job ID",
    "task index",
    "machine ID",
    "CPU rate",
    "canonical memory usage",
    "assigned memory usage",
    "unmapped page cache",
    "total page cache",
    "maximum memory usage",
    "disk I/O time",
    "local disk space usage",
    "maximum CPU rate",
    "maximum disk IO time",
    "cycles per instruction",
    "memory accesses per instruction",
    "sample portion",
    "aggregation type",
    "sampled CPU usage",
];

/// Maps a trace timestamp (µs) to record time and the snapshot flag.
pub(crate) fn google_time(us: u64) -> Result<(Nanos, bool), BadRowKind> {
    if us == 0 {
        return Ok((Nanos::ZERO, true));
    }
    if us == i64::MAX as u64 {
        return Ok((Nanos::END, false));
    }
    if us < WINDOW_START_US {
        return Ok((Nanos::ZERO, false));
    }
    (us - WINDOW_START_US)
        .checked_mul(1000)
        .filter(|&ns| ns != u64::MAX)
        .map(|ns| (Nanos(ns), false))
        .ok_or(BadRowKind::OutOfRange)
}

const TIME_EXPECTED: &str = "a timestamp in microseconds (non-negative integer)";
const ID_EXPECTED: &str = "a non-negative integer";

fn time(f: &mut Fields<'_>) -> Result<(Nanos, bool), FieldError> {
    let us = f.u64(TIME_EXPECTED)?;
    google_time(us).map_err(|k| {
        f.error(
            k,
            "a timestamp in microseconds below 1.8e16",
            us.to_string().as_bytes(),
        )
    })
}

/// 2011 missing-info codes.
pub(crate) fn missing_2011(code: u8) -> MissingInfo {
    match code {
        0 => MissingInfo::SnapshotButNoTransition,
        1 => MissingInfo::NoSnapshotOrTransition,
        _ => MissingInfo::ExistsButNoCreation,
    }
}

/// 2011 job/task event codes 0–8.
pub(crate) fn event_2011(code: u8) -> LifecycleEvent {
    match code {
        0 => LifecycleEvent::Submit,
        1 => LifecycleEvent::Schedule,
        2 => LifecycleEvent::Evict,
        3 => LifecycleEvent::Fail,
        4 => LifecycleEvent::Finish,
        5 => LifecycleEvent::Kill,
        6 => LifecycleEvent::Lost,
        7 => LifecycleEvent::UpdatePending,
        _ => LifecycleEvent::UpdateRunning,
    }
}

/// Constraint operators 0–7 (2011 uses 0–3).
pub(crate) fn constraint_op(code: u8) -> ConstraintOp {
    match code {
        0 => ConstraintOp::Equal,
        1 => ConstraintOp::NotEqual,
        2 => ConstraintOp::LessThan,
        3 => ConstraintOp::GreaterThan,
        4 => ConstraintOp::LessThanEqual,
        5 => ConstraintOp::GreaterThanEqual,
        6 => ConstraintOp::Present,
        _ => ConstraintOp::NotPresent,
    }
}

/// Parses one row of `table` into its record.
#[inline]
pub(crate) fn parse(table: Table, line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    match table {
        Table::Google2011TaskEvents => task_event(line),
        Table::Google2011JobEvents => job_event(line),
        Table::Google2011MachineEvents => machine_event(line),
        Table::Google2011MachineAttributes => machine_attribute(line),
        Table::Google2011TaskConstraints => task_constraint(line),
        _ => task_usage(line),
    }
}

fn task_event(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    let mut f = Fields::new(line, TASK_EVENTS, TASK_EVENTS.len(), Sep::Comma);
    let (time, snapshot) = time(&mut f)?;
    let missing = f.opt_code(2, "an integer 0-2")?.map(missing_2011);
    let job = JobId(f.u64(ID_EXPECTED)?);
    let index = f.u64(ID_EXPECTED)?;
    let machine = f.opt_u64(ID_EXPECTED)?.map(MachineId);
    let kind = event_2011(f.code(8, "an integer 0-8")?);
    let user = f.opt_symbol()?;
    let scheduling_class = f.opt_code(3, "an integer 0-3")?;
    let priority = f.code(12, "an integer 0-12")?;
    let cpus = f.opt_normalized()?;
    let mem = f.opt_normalized()?;
    let disk = f.opt_normalized()?;
    let different_machines = f.opt_bool()?;
    f.finish()?;
    let mut ev = TaskEvent::new(time, TaskId { job, index }, kind);
    ev.machine = machine;
    ev.user = user;
    ev.scheduling_class = scheduling_class;
    ev.priority = Some(Priority {
        value: u32::from(priority),
        band: PriorityBand::google2011(u32::from(priority)),
    });
    ev.request = Resources { cpus, mem, disk };
    ev.different_machines = different_machines;
    ev.missing = missing;
    ev.snapshot = snapshot;
    Ok(WorkloadRecord::Task(ev))
}

fn job_event(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    let mut f = Fields::new(line, JOB_EVENTS, JOB_EVENTS.len(), Sep::Comma);
    let (time, snapshot) = time(&mut f)?;
    let missing = f.opt_code(2, "an integer 0-2")?.map(missing_2011);
    let job = JobId(f.u64(ID_EXPECTED)?);
    let kind = event_2011(f.code(8, "an integer 0-8")?);
    let user = f.opt_symbol()?;
    let scheduling_class = f.opt_code(3, "an integer 0-3")?;
    let name = f.opt_symbol()?;
    let logical_name = f.opt_symbol()?;
    f.finish()?;
    let mut ev = JobEvent::new(time, job, kind);
    ev.user = user;
    ev.scheduling_class = scheduling_class;
    ev.name = name;
    ev.logical_name = logical_name;
    ev.missing = missing;
    ev.snapshot = snapshot;
    Ok(WorkloadRecord::Job(ev))
}

fn machine_event(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    let mut f = Fields::new(line, MACHINE_EVENTS, MACHINE_EVENTS.len(), Sep::Comma);
    let (time, snapshot) = time(&mut f)?;
    let machine = MachineId(f.u64(ID_EXPECTED)?);
    let kind = match f.code(2, "an integer 0-2")? {
        0 => MachineEventKind::Add,
        1 => MachineEventKind::Remove,
        _ => MachineEventKind::Update,
    };
    let platform = f.opt_symbol()?;
    let cpus = f.opt_normalized()?;
    let mem = f.opt_normalized()?;
    f.finish()?;
    let mut ev = MachineEvent::new(time, machine, kind);
    ev.capacity = Resources {
        cpus,
        mem,
        disk: None,
    };
    ev.platform = platform;
    ev.snapshot = snapshot;
    Ok(WorkloadRecord::Machine(ev))
}

fn machine_attribute(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    let mut f = Fields::new(
        line,
        MACHINE_ATTRIBUTES,
        MACHINE_ATTRIBUTES.len(),
        Sep::Comma,
    );
    let (time, snapshot) = time(&mut f)?;
    let machine = MachineId(f.u64(ID_EXPECTED)?);
    let name = f.symbol()?;
    let value = f.opt_attr_value()?;
    let deleted = f.bool()?;
    f.finish()?;
    Ok(WorkloadRecord::MachineAttribute(MachineAttribute {
        time,
        machine,
        name,
        value,
        deleted,
        snapshot,
    }))
}

fn task_constraint(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    let mut f = Fields::new(line, TASK_CONSTRAINTS, TASK_CONSTRAINTS.len(), Sep::Comma);
    let (time, snapshot) = time(&mut f)?;
    let job = JobId(f.u64(ID_EXPECTED)?);
    let index = f.u64(ID_EXPECTED)?;
    let op = constraint_op(f.code(3, "an integer 0-3")?);
    let attribute = f.symbol()?;
    let value = f.opt_attr_value()?;
    f.finish()?;
    Ok(WorkloadRecord::Constraint(TaskConstraint {
        time,
        task: TaskId { job, index },
        op,
        attribute,
        value,
        snapshot,
    }))
}

fn task_usage(line: &[u8]) -> Result<WorkloadRecord, FieldError> {
    // 2011-1 rows have 19 columns, 2011-2 rows 20.
    let mut f = Fields::new(line, TASK_USAGE, 19, Sep::Comma);
    let (start, _) = time(&mut f)?;
    let (end, _) = time(&mut f)?;
    let job = JobId(f.u64(ID_EXPECTED)?);
    let index = f.u64(ID_EXPECTED)?;
    let machine = MachineId(f.u64(ID_EXPECTED)?);
    let mut s = UsageSample::new(
        start,
        end,
        UsageSubject::Task {
            task: TaskId { job, index },
            instance: None,
        },
    );
    s.machine = Some(machine);
    s.cpu = f.opt_normalized()?;
    s.mem = f.opt_normalized()?;
    s.mem_assigned = f.opt_normalized()?;
    s.page_cache_unmapped = f.opt_normalized()?;
    s.page_cache = f.opt_normalized()?;
    s.mem_max = f.opt_normalized()?;
    s.disk_io = f.opt_normalized()?;
    s.disk_space = f.opt_normalized()?;
    s.cpu_max = f.opt_normalized()?;
    s.disk_io_max = f.opt_normalized()?;
    s.cpi = f.opt_micro()?;
    s.mai = f.opt_micro()?;
    s.sample_portion = f.opt_micro()?;
    s.aggregated = f.opt_bool()?;
    if !f.at_end() {
        s.cpu_sample = f.opt_normalized()?;
    }
    f.finish()?;
    Ok(WorkloadRecord::Usage(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_time_mapping() {
        assert_eq!(google_time(0), Ok((Nanos::ZERO, true)));
        assert_eq!(google_time(600_000_000), Ok((Nanos::ZERO, false)));
        assert_eq!(google_time(600_026_913), Ok((Nanos(26_913_000), false)));
        assert_eq!(google_time(5), Ok((Nanos::ZERO, false)));
        assert_eq!(google_time(i64::MAX as u64), Ok((Nanos::END, false)));
        assert_eq!(google_time(u64::MAX / 10), Err(BadRowKind::OutOfRange));
    }

    #[test]
    fn after_the_window_and_empty_optionals() {
        let line = b"9223372036854775807,,6253771429,3,,4,,,11,,,,";
        let WorkloadRecord::Task(t) = parse(Table::Google2011TaskEvents, line).unwrap() else {
            panic!()
        };
        assert!(t.time.is_end());
        assert_eq!((t.machine, t.user, t.scheduling_class), (None, None, None));
        assert_eq!(t.priority.map(|p| p.band), Some(PriorityBand::Production));
        assert!(t.request.is_empty());
    }
}
