//! A replayed trace's records made ready for the world on the reader's thread.
//!
//! [`prepare`] turns each [`WorkloadRecord`] into a small [`Fed`] record while the
//! trace is still on the reader's (or generator's) thread ([`traces::prefetch`]): the
//! Mesos resources of a submission or a machine are built there, the framework of a
//! task's priority band is chosen there, and the trace task's (job, index) key is
//! looked up there in a map to a dense *slot* number. The simulation's thread then
//! finds a trace task's current simulated task by indexing a vector with the slot
//! ([`super::replay::Feeder`]) instead of searching an ordered map of keys, and
//! moves records a fraction of a trace record's size.
//!
//! Slots: a key gets a slot at its first submission and keeps it until a record of the
//! trace ends the task (FINISH, FAIL, KILL, EVICT, LOST); the slot is then free for a
//! later key. A freed slot is reused only by a record read after the ending one, and
//! the world applies records in the order read, so the world has let go of a slot
//! before any record names it for another key. A key whose task the simulation ended
//! on its own keeps its slot (the world's entry is empty) until the trace ends it,
//! exactly as the world's map held no entry for it then; a resubmission of the key
//! finds the same slot.

use std::collections::BTreeMap;

use models::resources::{Resource, ResourceName, Resources};
use traces::{
    Amount, LifecycleEvent, MachineEventKind, TraceError, UsageSample, UsageSubject, WorkloadRecord,
};

use super::replay::{amount_milli, framework_of, ReplayConfig};

/// One trace record as the world applies it.
pub(crate) struct Fed {
    /// When it is due (ns; a usage sample's window start).
    pub time: u64,
    /// What it does.
    pub what: FedKind,
}

/// What a [`Fed`] record does.
pub(crate) enum FedKind {
    /// A machine joins, leaves or changes; `capacity` is `None` when the trace gives
    /// neither CPU nor memory.
    Machine {
        machine: u64,
        kind: MachineEventKind,
        capacity: Option<Resources>,
    },
    /// A task submission to replay: the trace task's slot, its band's framework and
    /// its request.
    Submit {
        slot: u32,
        framework: usize,
        request: Resources,
    },
    /// A task submission with neither CPU nor memory request (counted, not replayed).
    SubmitSkipped,
    /// The trace scheduled a task (`slot`: the trace task's, if it has one).
    Schedule { slot: Option<u32> },
    /// The trace ended a task (FINISH, FAIL, KILL, EVICT or LOST).
    End {
        kind: LifecycleEvent,
        slot: Option<u32>,
    },
    /// A usage sample (only with `--usage trace`) and the slot of its task, if any.
    Usage {
        sample: Box<UsageSample>,
        slot: Option<u32>,
    },
    /// Nothing for the world to do (job and attribute records, other transitions,
    /// usage samples without `--usage trace`).
    Ignored,
}

/// Trace task (job, index) keys to dense slot numbers, freed slots reused last freed
/// first (so the slots in use never outnumber the most keys held at once).
#[derive(Default)]
pub(crate) struct TraceSlots {
    slots: BTreeMap<(u64, u64), u32>,
    /// Slots given back, reused before new ones.
    free: Vec<u32>,
    /// Slots ever handed out.
    issued: u32,
}

impl TraceSlots {
    /// The slot of `key`, given one if it has none.
    pub fn get_or_assign(&mut self, key: (u64, u64)) -> u32 {
        if let Some(s) = self.slots.get(&key) {
            return *s;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.issued = self.issued.checked_add(1).expect("fewer than 2^32 slots");
            self.issued - 1
        });
        self.slots.insert(key, slot);
        slot
    }

    /// The slot of `key`, if it has one.
    pub fn get(&self, key: (u64, u64)) -> Option<u32> {
        self.slots.get(&key).copied()
    }

    /// `key`'s slot, now free for a later key.
    pub fn release(&mut self, key: (u64, u64)) -> Option<u32> {
        let slot = self.slots.remove(&key)?;
        self.free.push(slot);
        Some(slot)
    }

    /// Keys holding a slot.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Converts trace resources into Mesos resources on the reference machine; `None`
/// when neither CPU nor memory is known.
pub(crate) fn to_mesos(config: &ReplayConfig, r: &traces::Resources) -> Option<Resources> {
    let milli = |a: Amount, is_mem: bool| {
        let reference = if is_mem {
            config.machine_mem_mb * 1000
        } else {
            config.machine_cpus_milli
        };
        amount_milli(a, reference, is_mem)
    };
    let cpus = r.cpus.and_then(|a| milli(a, false));
    let mem = r.mem.and_then(|a| milli(a, true));
    let mut r = Resources::new();
    if let Some(c) = cpus.filter(|c| *c > 0) {
        r.add_resource(Resource::scalar(ResourceName::Cpus, c));
    }
    if let Some(m) = mem.filter(|m| *m > 0) {
        r.add_resource(Resource::scalar(ResourceName::Mem, m));
    }
    (!r.is_empty()).then_some(r)
}

/// Prepares `records` for the world, one [`Fed`] per record (errors passed on).
pub(crate) fn prepare<I>(records: I, config: ReplayConfig) -> Prepare<I>
where
    I: Iterator<Item = Result<WorkloadRecord, TraceError>>,
{
    Prepare {
        records,
        config,
        slots: TraceSlots::default(),
    }
}

/// The iterator of [`prepare`].
pub(crate) struct Prepare<I> {
    records: I,
    config: ReplayConfig,
    slots: TraceSlots,
}

impl<I> Prepare<I> {
    fn fed(&mut self, record: WorkloadRecord) -> Fed {
        let time = record.time().0;
        let what = match record {
            WorkloadRecord::Machine(m) => FedKind::Machine {
                machine: m.machine.0,
                kind: m.kind,
                capacity: to_mesos(&self.config, &m.capacity),
            },
            WorkloadRecord::Task(t) => {
                let key = (t.task.job.0, t.task.index);
                match t.kind {
                    LifecycleEvent::Submit => match to_mesos(&self.config, &t.request) {
                        Some(request) => FedKind::Submit {
                            slot: self.slots.get_or_assign(key),
                            framework: framework_of(t.priority.map(|p| p.band)),
                            request,
                        },
                        None => FedKind::SubmitSkipped,
                    },
                    LifecycleEvent::Schedule => FedKind::Schedule {
                        slot: self.slots.get(key),
                    },
                    kind @ (LifecycleEvent::Finish
                    | LifecycleEvent::Fail
                    | LifecycleEvent::Kill
                    | LifecycleEvent::Evict
                    | LifecycleEvent::Lost) => FedKind::End {
                        kind,
                        slot: self.slots.release(key),
                    },
                    _ => FedKind::Ignored,
                }
            }
            WorkloadRecord::Usage(u) if self.config.usage.is_some() => {
                let slot = match u.subject {
                    UsageSubject::Task { task, .. } => self.slots.get((task.job.0, task.index)),
                    _ => None,
                };
                FedKind::Usage {
                    sample: Box::new(u),
                    slot,
                }
            }
            WorkloadRecord::Usage(_)
            | WorkloadRecord::MachineAttribute(_)
            | WorkloadRecord::Job(_)
            | WorkloadRecord::Constraint(_) => FedKind::Ignored,
        };
        Fed { time, what }
    }
}

impl<I> Iterator for Prepare<I>
where
    I: Iterator<Item = Result<WorkloadRecord, TraceError>>,
{
    type Item = Result<Fed, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.records.next()? {
            Ok(r) => Ok(self.fed(r)),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traces::NormalizedFraction;

    #[test]
    fn normalised_amounts_scale_to_the_reference_machine() {
        let config = ReplayConfig::default();
        let half = Amount::Normalized(NormalizedFraction(500_000_000));
        let r = traces::Resources {
            cpus: Some(half),
            mem: Some(half),
            disk: None,
        };
        assert_eq!(
            to_mesos(&config, &r),
            Some(Resources::parse("cpus:16;mem:65536").unwrap())
        );
        let none = traces::Resources::default();
        assert_eq!(to_mesos(&config, &none), None);
        let abs = traces::Resources {
            cpus: Some(Amount::MilliCpus(1500)),
            mem: Some(Amount::Kib(2048)),
            disk: None,
        };
        assert_eq!(
            to_mesos(&config, &abs),
            Some(Resources::parse("cpus:1.5;mem:2").unwrap())
        );
    }

    fn task(time: u64, job: u64, kind: LifecycleEvent, cpus: Option<u64>) -> WorkloadRecord {
        let mut t = traces::TaskEvent::new(
            traces::Nanos(time),
            traces::TaskId {
                job: traces::JobId(job),
                index: 0,
            },
            kind,
        );
        t.request.cpus = cpus.map(|c| Amount::Normalized(NormalizedFraction(c)));
        t.priority = Some(traces::Priority {
            value: 9,
            band: traces::PriorityBand::Production,
        });
        WorkloadRecord::Task(t)
    }

    /// What the world reads for a trace task's life: its slot at submission, the same
    /// slot on its SCHEDULE and end, the slot reused by the next task after the end,
    /// nothing for a request without CPU or memory, errors passed on in place.
    #[test]
    fn records_carry_their_trace_task_slot() {
        use LifecycleEvent::*;
        let records = vec![
            Ok(task(1, 7, Submit, Some(500_000_000))),
            Ok(task(2, 8, Submit, Some(250_000_000))),
            Ok(task(3, 7, Schedule, None)),
            Ok(task(4, 7, Finish, None)),
            Ok(task(5, 9, Submit, None)),
            Ok(task(6, 10, Submit, Some(1_000_000))),
            Ok(task(7, 11, Queue, None)),
            Err(TraceError::Open {
                path: "t".into(),
                source: std::io::Error::other("cut"),
            }),
        ];
        let fed: Vec<String> = prepare(records.into_iter(), ReplayConfig::default())
            .map(|r| match r {
                Err(_) => "error".to_string(),
                Ok(f) => match f.what {
                    FedKind::Submit {
                        slot,
                        framework,
                        request,
                    } => format!("{} submit {slot} fw {framework} {request}", f.time),
                    FedKind::SubmitSkipped => format!("{} skipped", f.time),
                    FedKind::Schedule { slot } => format!("{} schedule {slot:?}", f.time),
                    FedKind::End { kind, slot } => format!("{} {kind:?} {slot:?}", f.time),
                    FedKind::Ignored => format!("{} ignored", f.time),
                    FedKind::Machine { .. } | FedKind::Usage { .. } => unreachable!(),
                },
            })
            .collect();
        // Production is the first band (framework 0); 1.0 is 32 CPUs.
        assert_eq!(
            fed,
            vec![
                "1 submit 0 fw 0 cpus:16",
                "2 submit 1 fw 0 cpus:8",
                "3 schedule Some(0)",
                "4 Finish Some(0)",
                "5 skipped",
                "6 submit 0 fw 0 cpus:0.032",
                "7 ignored",
                "error",
            ]
        );
    }

    /// Every key holding a slot has its own; the last released slot comes back first;
    /// the slots issued never exceed the most keys held at once. Checked against a plain
    /// map under a fixed pseudo-random mix of submissions, lookups and ends.
    #[test]
    fn slots_are_unique_per_live_key_and_reused() {
        let mut slots = TraceSlots::default();
        let mut reference: BTreeMap<(u64, u64), u32> = BTreeMap::new();
        let mut most_held = 0;
        let mut x = 7u64;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ((x >> 40) % 50, (x >> 20) % 8);
            match (x >> 60) % 3 {
                0 => {
                    let free_before = slots.free.last().copied();
                    let s = slots.get_or_assign(key);
                    match reference.get(&key) {
                        Some(had) => assert_eq!(s, *had, "a held key keeps its slot"),
                        None => {
                            // The last freed slot, or a new one.
                            assert_eq!(s, free_before.unwrap_or(slots.issued - 1), "step {step}");
                            assert!(!reference.values().any(|v| *v == s), "step {step}");
                            reference.insert(key, s);
                        }
                    }
                }
                1 => assert_eq!(slots.get(key), reference.get(&key).copied()),
                _ => assert_eq!(slots.release(key), reference.remove(&key)),
            }
            most_held = most_held.max(reference.len());
            assert_eq!(slots.len(), reference.len());
        }
        assert!(
            slots.issued as usize <= most_held,
            "{} > {most_held}",
            slots.issued
        );
    }
}
