//! Google clusterdata-2019 (v3) rows, as exported JSON lines, to workload records.
//!
//! The export writes int64 and enum values as JSON strings (`"time":"90134737257"`),
//! nested messages as objects, and leaves unset fields out; both strings and numbers
//! are accepted wherever a number is expected. Times are µs with the same 600 s
//! window start, 0 snapshot and 2^63−1 end as 2011 (unverified for 2019). Event
//! codes differ from 2011: machine events are 1 ADD, 2 REMOVE, 3 UPDATE, and
//! collection/instance events 0–10 include QUEUE and ENABLE.
//!
//! Shards are ordered by event type, not time: the reader keeps file order
//! ([`crate::Ordering::File`]).

use std::collections::VecDeque;

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::{found_text, BadRowKind, Column, FieldError, Found};
use crate::google2011::{constraint_op, google_time};
use crate::parse::{parse_decimal, parse_i64};
use crate::record::*;
use crate::table::Table;

/// One JSON object (and the key it is nested under, or "") with helpers that name
/// the key in every error.
struct Obj<'a>(&'a Map<String, Value>, &'static str);

fn found_value(v: &Value) -> Found {
    match v {
        Value::String(s) => found_text(s.as_bytes()),
        other => found_text(other.to_string().as_bytes()),
    }
}

fn err(
    key: impl Into<Cow<'static, str>>,
    kind: BadRowKind,
    expected: &'static str,
    v: &Value,
) -> FieldError {
    FieldError::new(
        Some(Column::Key(key.into())),
        kind,
        expected,
        found_value(v),
    )
}

impl<'a> Obj<'a> {
    /// `key` as shown in messages: `capacity.cpus` for a nested key.
    fn label(&self, key: &'static str) -> Cow<'static, str> {
        if self.1.is_empty() {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(format!("{}.{key}", self.1))
        }
    }

    fn value(&self, key: &'static str) -> Option<&'a Value> {
        match self.0.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A nested object (`capacity`, `resource_request`, …).
    fn object(&self, key: &'static str) -> Result<Option<Obj<'a>>, FieldError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Obj(m, key))),
            Some(v) => Err(err(self.label(key), BadRowKind::BadJson, "an object", v)),
        }
    }

    fn int_of(
        &self,
        key: &'static str,
        v: &Value,
        expected: &'static str,
    ) -> Result<i64, FieldError> {
        match v {
            Value::String(s) => {
                parse_i64(s.as_bytes()).map_err(|k| err(self.label(key), k, expected, v))
            }
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| err(self.label(key), BadRowKind::OutOfRange, expected, v)),
            _ => Err(err(self.label(key), BadRowKind::NotANumber, expected, v)),
        }
    }

    fn opt_int(
        &self,
        key: &'static str,
        expected: &'static str,
    ) -> Result<Option<i64>, FieldError> {
        self.value(key)
            .map(|v| self.int_of(key, v, expected))
            .transpose()
    }

    fn int(&self, key: &'static str, expected: &'static str) -> Result<i64, FieldError> {
        self.opt_int(key, expected)?.ok_or_else(|| {
            FieldError::new(
                Some(Column::Key(self.label(key))),
                BadRowKind::MissingValue,
                expected,
                Found::Plain("no such field".to_string()),
            )
        })
    }

    fn opt_u64(&self, key: &'static str) -> Result<Option<u64>, FieldError> {
        const E: &str = "a non-negative integer";
        match self.value(key) {
            None => Ok(None),
            Some(v) => {
                let i = self.int_of(key, v, E)?;
                u64::try_from(i)
                    .map(Some)
                    .map_err(|_| err(self.label(key), BadRowKind::OutOfRange, E, v))
            }
        }
    }

    fn u64(&self, key: &'static str) -> Result<u64, FieldError> {
        let v = self.int(key, "a non-negative integer")?;
        u64::try_from(v).map_err(|_| {
            FieldError::new(
                Some(Column::Key(self.label(key))),
                BadRowKind::OutOfRange,
                "a non-negative integer",
                found_text(v.to_string().as_bytes()),
            )
        })
    }

    fn opt_code(
        &self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
        expected: &'static str,
    ) -> Result<Option<u8>, FieldError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => {
                let i = self.int_of(key, v, expected)?;
                if range.contains(&i) {
                    Ok(Some(i as u8))
                } else {
                    Err(err(self.label(key), BadRowKind::UnknownCode, expected, v))
                }
            }
        }
    }

    fn code(
        &self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
        expected: &'static str,
    ) -> Result<u8, FieldError> {
        self.opt_code(key, range, expected)?.ok_or_else(|| {
            FieldError::new(
                Some(Column::Key(self.label(key))),
                BadRowKind::MissingValue,
                expected,
                Found::Plain("no such field".to_string()),
            )
        })
    }

    fn time(&self, key: &'static str) -> Result<(Nanos, bool), FieldError> {
        const E: &str = "a timestamp in microseconds (non-negative integer)";
        let us = self.int(key, E)?;
        let bad = |k| {
            FieldError::new(
                Some(Column::Key(self.label(key))),
                k,
                E,
                found_text(us.to_string().as_bytes()),
            )
        };
        let us = u64::try_from(us).map_err(|_| bad(BadRowKind::OutOfRange))?;
        google_time(us).map_err(bad)
    }

    /// A non-negative decimal × 10^scale.
    fn opt_scaled(&self, key: &'static str, scale: i32) -> Result<Option<u64>, FieldError> {
        const E: &str = "a non-negative number";
        let v = match self.value(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(err(self.label(key), BadRowKind::NotANumber, E, v)),
        };
        let d = parse_decimal(text.as_bytes()).map_err(|k| err(self.label(key), k, E, v))?;
        if d.negative {
            return Err(err(self.label(key), BadRowKind::OutOfRange, E, v));
        }
        d.scaled_abs(scale)
            .map(Some)
            .ok_or_else(|| err(self.label(key), BadRowKind::OutOfRange, E, v))
    }

    fn opt_normalized(&self, key: &'static str) -> Result<Option<Amount>, FieldError> {
        Ok(self
            .opt_scaled(key, 9)?
            .map(|v| Amount::Normalized(NormalizedFraction(v))))
    }

    fn opt_micro(&self, key: &'static str) -> Result<Option<Micro>, FieldError> {
        Ok(self.opt_scaled(key, 6)?.map(Micro))
    }

    fn opt_symbol(&self, key: &'static str) -> Result<Option<Symbol>, FieldError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(Symbol::of(s.as_bytes()))),
            Some(Value::Number(n)) => Ok(Some(Symbol::of(n.to_string().as_bytes()))),
            Some(v) => Err(err(self.label(key), BadRowKind::BadJson, "a string", v)),
        }
    }

    fn opt_bool(&self, key: &'static str) -> Result<Option<bool>, FieldError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(err(
                    self.label(key),
                    BadRowKind::UnknownCode,
                    "true or false",
                    v,
                )),
            },
            Some(v @ Value::Number(_)) => match v.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(err(
                    self.label(key),
                    BadRowKind::UnknownCode,
                    "true or false",
                    v,
                )),
            },
            Some(v) => Err(err(
                self.label(key),
                BadRowKind::BadJson,
                "true or false",
                v,
            )),
        }
    }
}

fn missing_2019(code: u8) -> Option<MissingInfo> {
    match code {
        1 => Some(MissingInfo::SnapshotButNoTransition),
        2 => Some(MissingInfo::NoSnapshotOrTransition),
        3 => Some(MissingInfo::ExistsButNoCreation),
        4 => Some(MissingInfo::TransitionMissingStep),
        5 => Some(MissingInfo::TooManyEvents),
        _ => None,
    }
}

fn priority(value: i64) -> Option<Priority> {
    let v = u32::try_from(value).ok()?;
    Some(Priority {
        value: v,
        band: PriorityBand::google2019(v),
    })
}

/// Parses one JSON line of `table`.
pub(crate) fn parse(
    table: Table,
    line: &[u8],
    out: &mut VecDeque<WorkloadRecord>,
) -> Result<(), FieldError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        FieldError::new(
            None,
            BadRowKind::BadJson,
            "a JSON object",
            Found::Plain(format!("invalid JSON ({e})")),
        )
    })?;
    let Value::Object(map) = &value else {
        return Err(FieldError::new(
            None,
            BadRowKind::BadJson,
            "a JSON object",
            found_text(value.to_string().as_bytes()),
        ));
    };
    let o = Obj(map, "");
    match table {
        Table::Google2019MachineEvents => machine_event(&o, out),
        Table::Google2019MachineAttributes => machine_attribute(&o, out),
        Table::Google2019CollectionEvents => collection_event(&o, out),
        Table::Google2019InstanceEvents => instance_event(&o, out),
        _ => instance_usage(&o, out),
    }
}

fn machine_event(o: &Obj<'_>, out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let (time, snapshot) = o.time("time")?;
    let machine = MachineId(o.u64("machine_id")?);
    let kind = match o.code("type", 1..=3, "an integer 1-3")? {
        1 => MachineEventKind::Add,
        2 => MachineEventKind::Remove,
        _ => MachineEventKind::Update,
    };
    let mut ev = MachineEvent::new(time, machine, kind);
    if let Some(cap) = o.object("capacity")? {
        ev.capacity.cpus = cap.opt_normalized("cpus")?;
        ev.capacity.mem = cap.opt_normalized("memory")?;
    }
    ev.platform = o.opt_symbol("platform_id")?;
    ev.failure_domains[0] = o.opt_symbol("switch_id")?;
    ev.missing = match o.opt_code("missing_data_reason", 0..=1, "an integer 0-1")? {
        Some(1) => Some(MissingInfo::SnapshotButNoTransition),
        _ => None,
    };
    ev.snapshot = snapshot;
    out.push_back(WorkloadRecord::Machine(ev));
    Ok(())
}

fn machine_attribute(o: &Obj<'_>, out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let (time, snapshot) = o.time("time")?;
    let machine = MachineId(o.u64("machine_id")?);
    let name = o.opt_symbol("name")?.ok_or_else(|| {
        FieldError::new(
            Some(Column::Key("name".into())),
            BadRowKind::MissingValue,
            "a string",
            Found::Plain("no such field".to_string()),
        )
    })?;
    let value = match o.value("value") {
        None => None,
        Some(Value::String(s)) => crate::parse::attr_value(s.as_bytes()),
        Some(Value::Number(n)) => n.as_i64().map(AttrValue::Int),
        Some(v) => return Err(err("value", BadRowKind::BadJson, "a string", v)),
    };
    let deleted = o.opt_bool("deleted")?.unwrap_or(false);
    out.push_back(WorkloadRecord::MachineAttribute(MachineAttribute {
        time,
        machine,
        name,
        value,
        deleted,
        snapshot,
    }));
    Ok(())
}

fn event_type(o: &Obj<'_>) -> Result<LifecycleEvent, FieldError> {
    let code = o.code("type", 0..=10, "an integer 0-10")?;
    Ok(LifecycleEvent::ALL[usize::from(code)])
}

fn collection_event(o: &Obj<'_>, out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let (time, snapshot) = o.time("time")?;
    let kind = event_type(o)?;
    let job = JobId(o.u64("collection_id")?);
    let mut ev = JobEvent::new(time, job, kind);
    ev.scheduling_class = o.opt_code("scheduling_class", 0..=3, "an integer 0-3")?;
    ev.missing = o
        .opt_code("missing_type", 0..=5, "an integer 0-5")?
        .and_then(missing_2019);
    ev.collection_type = o
        .opt_code("collection_type", 0..=1, "an integer 0-1")?
        .map(|c| {
            if c == 0 {
                CollectionType::Job
            } else {
                CollectionType::AllocSet
            }
        });
    ev.priority = o.opt_int("priority", "an integer")?.and_then(priority);
    ev.alloc = o
        .opt_u64("alloc_collection_id")?
        .filter(|&a| a != 0)
        .map(JobId);
    ev.user = o.opt_symbol("user")?;
    ev.name = o.opt_symbol("collection_name")?;
    ev.logical_name = o.opt_symbol("collection_logical_name")?;
    ev.parent = o
        .opt_u64("parent_collection_id")?
        .filter(|&p| p != 0)
        .map(JobId);
    if let Some(v) = o.value("start_after_collection_ids") {
        let Value::Array(items) = v else {
            return Err(err(
                "start_after_collection_ids",
                BadRowKind::BadJson,
                "an array of integers",
                v,
            ));
        };
        for item in items {
            let id = o.int_of("start_after_collection_ids", item, "an array of integers")?;
            ev.depends_on.push(JobId(id as u64));
        }
    }
    ev.snapshot = snapshot;
    out.push_back(WorkloadRecord::Job(ev));
    Ok(())
}

/// `machine_id`: 0 is "no machine" and −1 "dedicated machine"; both become `None`.
fn machine_id(o: &Obj<'_>) -> Result<Option<MachineId>, FieldError> {
    Ok(o.opt_int("machine_id", "an integer")?
        .filter(|&m| m > 0)
        .map(|m| MachineId(m as u64)))
}

/// The alloc instance: `alloc_collection_id` 0 and `alloc_instance_index` −1 mean none.
fn alloc(o: &Obj<'_>) -> Result<Option<TaskId>, FieldError> {
    let job = o.opt_u64("alloc_collection_id")?.filter(|&a| a != 0);
    let index = o
        .opt_int("alloc_instance_index", "an integer")?
        .filter(|&i| i >= 0);
    Ok(match (job, index) {
        (Some(job), Some(index)) => Some(TaskId {
            job: JobId(job),
            index: index as u64,
        }),
        _ => None,
    })
}

fn instance_event(o: &Obj<'_>, out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let (time, snapshot) = o.time("time")?;
    let kind = event_type(o)?;
    let job = JobId(o.u64("collection_id")?);
    let index = o.opt_u64("instance_index")?.unwrap_or(0);
    let task = TaskId { job, index };
    let mut ev = TaskEvent::new(time, task, kind);
    ev.scheduling_class = o.opt_code("scheduling_class", 0..=3, "an integer 0-3")?;
    ev.missing = o
        .opt_code("missing_type", 0..=5, "an integer 0-5")?
        .and_then(missing_2019);
    o.opt_code("collection_type", 0..=1, "an integer 0-1")?;
    ev.priority = o.opt_int("priority", "an integer")?.and_then(priority);
    ev.machine = machine_id(o)?;
    ev.alloc = alloc(o)?;
    if let Some(req) = o.object("resource_request")? {
        ev.request.cpus = req.opt_normalized("cpus")?;
        ev.request.mem = req.opt_normalized("memory")?;
    }
    ev.snapshot = snapshot;
    let mut constraints = Vec::new();
    if let Some(v) = o.value("constraint") {
        let Value::Array(items) = v else {
            return Err(err("constraint", BadRowKind::BadJson, "an array", v));
        };
        for item in items {
            let Value::Object(m) = item else {
                return Err(err(
                    "constraint",
                    BadRowKind::BadJson,
                    "an array of objects",
                    item,
                ));
            };
            let c = Obj(m, "constraint");
            let attribute = c.opt_symbol("name")?.unwrap_or_default();
            let value = match c.value("value") {
                Some(Value::String(s)) => crate::parse::attr_value(s.as_bytes()),
                Some(Value::Number(n)) => n.as_i64().map(AttrValue::Int),
                _ => None,
            };
            let op = constraint_op(
                c.opt_code("relation", 0..=7, "an integer 0-7")?
                    .unwrap_or(0),
            );
            constraints.push(WorkloadRecord::Constraint(TaskConstraint {
                time,
                task,
                op,
                attribute,
                value,
                snapshot,
            }));
        }
    }
    out.push_back(WorkloadRecord::Task(ev));
    out.extend(constraints);
    Ok(())
}

fn instance_usage(o: &Obj<'_>, out: &mut VecDeque<WorkloadRecord>) -> Result<(), FieldError> {
    let (start, _) = o.time("start_time")?;
    let (end, _) = o.time("end_time")?;
    let job = JobId(o.u64("collection_id")?);
    let index = o.opt_u64("instance_index")?.unwrap_or(0);
    let mut s = UsageSample::new(
        start,
        end,
        UsageSubject::Task {
            task: TaskId { job, index },
            instance: None,
        },
    );
    s.machine = machine_id(o)?;
    if let Some(avg) = o.object("average_usage")? {
        s.cpu = avg.opt_normalized("cpus")?;
        s.mem = avg.opt_normalized("memory")?;
    }
    if let Some(max) = o.object("maximum_usage")? {
        s.cpu_max = max.opt_normalized("cpus")?;
        s.mem_max = max.opt_normalized("memory")?;
    }
    if let Some(r) = o.object("random_sample_usage")? {
        s.cpu_sample = r.opt_normalized("cpus")?;
    }
    s.mem_assigned = o.opt_normalized("assigned_memory")?;
    s.page_cache = o.opt_normalized("page_cache_memory")?;
    s.cpi = o.opt_micro("cycles_per_instruction")?;
    s.mai = o.opt_micro("memory_accesses_per_instruction")?;
    s.sample_portion = o.opt_micro("sample_rate")?;
    out.push_back(WorkloadRecord::Usage(s));
    Ok(())
}
