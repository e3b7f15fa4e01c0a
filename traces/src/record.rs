//! The workload model: the typed records every trace format is read into.
//!
//! One model serves all formats, so a replay driver needs one mapping:
//! [`MachineEvent`]s become agents, [`JobEvent`]s (with their user and priority)
//! become frameworks and roles, [`TaskEvent`]s drive the task lifecycle, and
//! [`UsageSample`]s, [`TaskConstraint`]s and [`MachineAttribute`]s refine it.
//!
//! Conventions shared by every record:
//! - time is [`Nanos`] since the start of the trace window (see each reader for how
//!   the trace's own clock maps to it);
//! - quantities are fixed-point integers, never floats; an [`Amount`] says in its
//!   variant whether it is normalised (a fraction of the trace's reference machine)
//!   or absolute;
//! - every field a trace may leave empty is an `Option`;
//! - `snapshot` is true for rows that describe the state before the window began
//!   (Google's time-0 rows), which a replayer takes as the initial state rather than
//!   as transitions.

use serde::{Deserialize, Serialize};

/// A point in trace time: nanoseconds since the start of the trace window.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub u64);

impl Nanos {
    /// The start of the trace window.
    pub const ZERO: Nanos = Nanos(0);
    /// "After the window ended": Google's 2^63−1 timestamp maps here.
    pub const END: Nanos = Nanos(u64::MAX);

    /// Whole seconds to nanoseconds, saturating at [`Nanos::END`].
    pub fn from_secs(secs: u64) -> Nanos {
        Nanos(secs.saturating_mul(1_000_000_000))
    }

    /// Microseconds to nanoseconds, saturating at [`Nanos::END`].
    pub fn from_micros(us: u64) -> Nanos {
        Nanos(us.saturating_mul(1_000))
    }

    /// True for the "after the window" sentinel.
    pub fn is_end(self) -> bool {
        self == Nanos::END
    }

    /// This time plus `d` nanoseconds, saturating at [`Nanos::END`].
    pub fn saturating_add(self, d: u64) -> Nanos {
        Nanos(self.0.saturating_add(d))
    }
}

/// An opaque 64-bit name: a hashed string from the trace (user, job name, platform,
/// attribute name…), or a small integer ID where the trace has one (SWF user IDs).
///
/// Strings are hashed with [`Symbol::of`], a fixed word-at-a-time hash, so the same
/// string maps to the same symbol in every run, on every machine and in every
/// format. Google's strings are already anonymising hashes, so nothing meaningful
/// is lost.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Symbol(pub u64);

impl Symbol {
    /// The symbol of a string: starting from `0xcbf29ce484222325 ^ len`, each 8-byte
    /// little-endian word `w` (the last one zero-padded) updates
    /// `h = (h.rotate_left(5) ^ w) * 0x517cc1b727220a95` (wrapping), and the result
    /// goes through the splitmix64 finalizer. Stable: changing it changes every
    /// compact file and golden output.
    #[inline]
    pub fn of(bytes: &[u8]) -> Symbol {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        Symbol(h ^ (h >> 31))
    }
}

/// A machine (agent) ID. Google's IDs exceed 2^32; Alibaba's `m_1932` becomes 1932.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MachineId(pub u64);

/// A job ID (Google job / 2019 collection, Alibaba `j_…` job or `app_…` service, SWF job number).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub u64);

/// A task: a job and the task's index in it (Google's job ID + task index, 2019's
/// collection ID + instance index, Alibaba's job + task number or container).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct TaskId {
    /// The job the task belongs to.
    pub job: JobId,
    /// The task's index within the job.
    pub index: u64,
}

/// A dimensionless fraction in parts per billion: 1_000_000_000 is 1.0.
///
/// Used for Google's normalised resources (1.0 = the trace's largest machine) and
/// for utilisation percentages (1.0 = 100 %). Parts per billion keep Google's
/// four significant digits exactly even for disk requests around 1e-5.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NormalizedFraction(pub u64);

impl NormalizedFraction {
    /// 1.0.
    pub const ONE: NormalizedFraction = NormalizedFraction(1_000_000_000);

    /// The fraction as a float, for display only.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// A resource quantity, with its unit in the type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Amount {
    /// A fraction of the trace's reference machine (Google: the largest machine's
    /// capacity is 1.0; Alibaba memory: 100 % of a machine). A replayer multiplies
    /// by the reference machine it chooses.
    Normalized(NormalizedFraction),
    /// A fraction of the subject's own capacity (a utilisation percentage: Alibaba
    /// `cpu_util_percent` of a machine or container).
    OfCapacity(NormalizedFraction),
    /// Absolute CPU in thousandths of a core (Mesos' fixed point).
    MilliCpus(u64),
    /// Absolute memory or disk in KiB.
    Kib(u64),
}

/// CPU, memory and disk of one request, limit or capacity.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    /// CPU.
    pub cpus: Option<Amount>,
    /// Memory.
    pub mem: Option<Amount>,
    /// Local disk space.
    pub disk: Option<Amount>,
}

impl Resources {
    /// True if no quantity is known.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_none() && self.mem.is_none() && self.disk.is_none()
    }
}

/// A dimensionless measurement in millionths (CPI, memory accesses per instruction,
/// sample portion): 1_000_000 is 1.0.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Micro(pub u64);

/// Why a Google row is incomplete (2011 "missing info", 2019 `missing_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MissingInfo {
    /// The object was in the snapshot but its transition is missing.
    SnapshotButNoTransition,
    /// Neither a snapshot record nor a transition was recorded.
    NoSnapshotOrTransition,
    /// The object exists but its creation was not recorded.
    ExistsButNoCreation,
    /// A step of the transition is missing (2019 only).
    TransitionMissingStep,
    /// Too many events to record them all (2019 only).
    TooManyEvents,
}

/// A job or task lifecycle transition: the union of Google 2011's and 2019's codes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LifecycleEvent {
    /// Submitted: becomes pending.
    Submit,
    /// Queued (2019 only).
    Queue,
    /// Enabled for scheduling (2019 only).
    Enable,
    /// Placed on a machine and started.
    Schedule,
    /// Descheduled by a higher-priority task or a machine problem.
    Evict,
    /// Terminated by a failure.
    Fail,
    /// Completed normally.
    Finish,
    /// Cancelled by the user or a driver.
    Kill,
    /// Its end was not recorded (lost).
    Lost,
    /// Scheduling attributes updated while pending.
    UpdatePending,
    /// Scheduling attributes updated while running.
    UpdateRunning,
}

impl LifecycleEvent {
    /// Every variant, in code order of Google 2019.
    pub const ALL: [LifecycleEvent; 11] = [
        LifecycleEvent::Submit,
        LifecycleEvent::Queue,
        LifecycleEvent::Enable,
        LifecycleEvent::Schedule,
        LifecycleEvent::Evict,
        LifecycleEvent::Fail,
        LifecycleEvent::Finish,
        LifecycleEvent::Kill,
        LifecycleEvent::Lost,
        LifecycleEvent::UpdatePending,
        LifecycleEvent::UpdateRunning,
    ];

    /// True if the task or job is no longer running or pending afterwards
    /// (an evicted Google task is usually resubmitted by a later SUBMIT).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LifecycleEvent::Evict
                | LifecycleEvent::Fail
                | LifecycleEvent::Finish
                | LifecycleEvent::Kill
                | LifecycleEvent::Lost
        )
    }

    /// A short lowercase name (`submit`, `schedule`, …).
    pub fn name(self) -> &'static str {
        match self {
            LifecycleEvent::Submit => "submit",
            LifecycleEvent::Queue => "queue",
            LifecycleEvent::Enable => "enable",
            LifecycleEvent::Schedule => "schedule",
            LifecycleEvent::Evict => "evict",
            LifecycleEvent::Fail => "fail",
            LifecycleEvent::Finish => "finish",
            LifecycleEvent::Kill => "kill",
            LifecycleEvent::Lost => "lost",
            LifecycleEvent::UpdatePending => "update_pending",
            LifecycleEvent::UpdateRunning => "update_running",
        }
    }
}

/// A priority: the trace's own value and the tier it belongs to, so a replay
/// driver can map tiers to roles without knowing each trace's scale.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Priority {
    /// The value as written in the trace (2011: 0–11; 2019: about 0–450).
    pub value: u32,
    /// The tier of that value under the trace's documented bands.
    pub band: PriorityBand,
}

/// Google's priority tiers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PriorityBand {
    /// Free / "gratis" (2011: 0–1; 2019: ≤ 99).
    Free,
    /// Best-effort batch (2011: 2–8; 2019: 100–115).
    BestEffort,
    /// Mid-tier (2019: 116–119).
    Mid,
    /// Production (2011: 9–11; 2019: 120–359).
    Production,
    /// Monitoring (2011: 12; 2019: ≥ 360).
    Monitoring,
}

impl PriorityBand {
    /// The band of a Google 2011 priority (0–12).
    pub fn google2011(value: u32) -> PriorityBand {
        match value {
            0..=1 => PriorityBand::Free,
            2..=8 => PriorityBand::BestEffort,
            9..=11 => PriorityBand::Production,
            _ => PriorityBand::Monitoring,
        }
    }

    /// The band of a Google 2019 priority (tiers quoted from the v3 document).
    pub fn google2019(value: u32) -> PriorityBand {
        match value {
            0..=99 => PriorityBand::Free,
            100..=115 => PriorityBand::BestEffort,
            116..=119 => PriorityBand::Mid,
            120..=359 => PriorityBand::Production,
            _ => PriorityBand::Monitoring,
        }
    }
}

/// Google 2019's collection type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CollectionType {
    /// A job: its instances are tasks.
    Job,
    /// An alloc set: its instances are resource reservations that tasks run inside.
    AllocSet,
}

/// What happened to a machine.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MachineEventKind {
    /// The machine joined the cluster (or, for Alibaba, is in service at this time).
    Add,
    /// The machine left the cluster (or, for Alibaba, is not in service).
    Remove,
    /// Its capacity or attributes changed.
    Update,
}

/// A machine joining, leaving or changing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineEvent {
    /// When.
    pub time: Nanos,
    /// Which machine.
    pub machine: MachineId,
    /// What happened.
    pub kind: MachineEventKind,
    /// Its capacity (empty where the trace leaves it out).
    pub capacity: Resources,
    /// Hardware platform (Google's hashed platform ID).
    pub platform: Option<Symbol>,
    /// Topology: Google 2019 `[switch_id, —]`, Alibaba `[failure_domain_1, failure_domain_2]`.
    pub failure_domains: [Option<Symbol>; 2],
    /// Why the row is incomplete, if the trace says.
    pub missing: Option<MissingInfo>,
    /// Part of the initial state before the window began.
    pub snapshot: bool,
}

/// A machine attribute set, changed or deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineAttribute {
    /// When.
    pub time: Nanos,
    /// Which machine.
    pub machine: MachineId,
    /// Attribute name (hashed).
    pub name: Symbol,
    /// Its value, if any.
    pub value: Option<AttrValue>,
    /// The attribute was deleted.
    pub deleted: bool,
    /// Part of the initial state before the window began.
    pub snapshot: bool,
}

/// A machine-attribute or constraint value: Google writes integers as such and
/// everything else as a hash.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AttrValue {
    /// An integer value.
    Int(i64),
    /// A hashed string value.
    Symbol(Symbol),
}

/// A job (framework-level) transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// When.
    pub time: Nanos,
    /// Which job.
    pub job: JobId,
    /// What happened.
    pub kind: LifecycleEvent,
    /// The submitting user (hashed name, or SWF user number).
    pub user: Option<Symbol>,
    /// A group the job belongs to (SWF group number).
    pub group: Option<Symbol>,
    /// Google scheduling class / latency sensitivity, 0–3 (3 most sensitive).
    pub scheduling_class: Option<u8>,
    /// Priority (2019 collections; 2011 has priorities on tasks only).
    pub priority: Option<Priority>,
    /// Job name (hashed; SWF: executable number).
    pub name: Option<Symbol>,
    /// Logical job name (hashed).
    pub logical_name: Option<Symbol>,
    /// Google 2019 collection type.
    pub collection_type: Option<CollectionType>,
    /// The parent collection (2019).
    pub parent: Option<JobId>,
    /// The alloc set this job runs in (2019).
    pub alloc: Option<JobId>,
    /// Jobs that must finish before this one starts (2019 `start_after_collection_ids`,
    /// SWF preceding job).
    pub depends_on: Vec<JobId>,
    /// Batch queue (SWF queue number).
    pub queue: Option<u32>,
    /// Why the row is incomplete, if the trace says.
    pub missing: Option<MissingInfo>,
    /// Part of the initial state before the window began.
    pub snapshot: bool,
}

/// A task (instance) transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// When.
    pub time: Nanos,
    /// Which task.
    pub task: TaskId,
    /// A concrete instance of the task, where the trace has several per task
    /// (Alibaba `batch_instance`'s `ins_…` number).
    pub instance: Option<u64>,
    /// How many identical instances this event stands for: 1 except for Alibaba
    /// `batch_task` rows, which describe `instance_num` instances at once.
    pub replicas: u32,
    /// What happened.
    pub kind: LifecycleEvent,
    /// The machine it ran on (for SCHEDULE and later events).
    pub machine: Option<MachineId>,
    /// The user (Google 2011 only has it on tasks and jobs).
    pub user: Option<Symbol>,
    /// Google scheduling class, 0–3.
    pub scheduling_class: Option<u8>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Resources requested per instance.
    pub request: Resources,
    /// Resource limits per instance (Alibaba containers' `cpu_limit`).
    pub limit: Resources,
    /// Google's "different machines restriction": no two tasks of the job on one machine.
    pub different_machines: Option<bool>,
    /// The alloc instance this task runs in (2019).
    pub alloc: Option<TaskId>,
    /// Trace-specific task type (Alibaba `task_type`, 1–12).
    pub task_type: Option<u32>,
    /// Task indexes of the same job that must finish first (Alibaba DAG names).
    pub depends_on: Vec<u64>,
    /// The runtime the user asked for (SWF requested time).
    pub runtime_limit: Option<Nanos>,
    /// Why the row is incomplete, if the trace says.
    pub missing: Option<MissingInfo>,
    /// Part of the initial state before the window began.
    pub snapshot: bool,
}

/// Whose usage a [`UsageSample`] measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UsageSubject {
    /// A task, optionally one instance of it.
    Task {
        /// The task.
        task: TaskId,
        /// The instance, where the trace has several per task.
        instance: Option<u64>,
    },
    /// An Alibaba container (its [`TaskId::index`] in container events).
    Container(u64),
    /// A whole machine.
    Machine(MachineId),
}

/// Measured resource usage over a window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSample {
    /// Start of the measurement window.
    pub start: Nanos,
    /// End of the measurement window (equal to `start` for point samples).
    pub end: Nanos,
    /// Whose usage.
    pub subject: UsageSubject,
    /// The machine it was measured on.
    pub machine: Option<MachineId>,
    /// Mean CPU usage.
    pub cpu: Option<Amount>,
    /// Maximum CPU usage.
    pub cpu_max: Option<Amount>,
    /// A randomly sampled CPU usage (Google 2011-2 column 20, 2019 random_sample_usage).
    pub cpu_sample: Option<Amount>,
    /// Mean memory usage (Google: canonical memory usage).
    pub mem: Option<Amount>,
    /// Maximum memory usage.
    pub mem_max: Option<Amount>,
    /// Memory assigned to the task.
    pub mem_assigned: Option<Amount>,
    /// Total page cache.
    pub page_cache: Option<Amount>,
    /// Unmapped page cache.
    pub page_cache_unmapped: Option<Amount>,
    /// Mean disk I/O time (Google) or disk I/O utilisation (Alibaba).
    pub disk_io: Option<Amount>,
    /// Maximum disk I/O time.
    pub disk_io_max: Option<Amount>,
    /// Local disk space used.
    pub disk_space: Option<Amount>,
    /// Memory bandwidth (Alibaba `mem_gps`).
    pub mem_bandwidth: Option<Amount>,
    /// Incoming network traffic (Alibaba, normalised).
    pub net_in: Option<Amount>,
    /// Outgoing network traffic (Alibaba, normalised).
    pub net_out: Option<Amount>,
    /// Cycles per instruction.
    pub cpi: Option<Micro>,
    /// Memory accesses per instruction (Google) .
    pub mai: Option<Micro>,
    /// Cache misses per thousand instructions (Alibaba `mpki`).
    pub mpki: Option<Micro>,
    /// Fraction of the window that was sampled (Google sample portion / sample rate).
    pub sample_portion: Option<Micro>,
    /// Google 2011 aggregation type: true if the values are aggregated over subcontainers.
    pub aggregated: Option<bool>,
}

impl UsageSample {
    /// An empty sample of `subject` over `start..end`, to fill in.
    pub fn new(start: Nanos, end: Nanos, subject: UsageSubject) -> UsageSample {
        UsageSample {
            start,
            end,
            subject,
            machine: None,
            cpu: None,
            cpu_max: None,
            cpu_sample: None,
            mem: None,
            mem_max: None,
            mem_assigned: None,
            page_cache: None,
            page_cache_unmapped: None,
            disk_io: None,
            disk_io_max: None,
            disk_space: None,
            mem_bandwidth: None,
            net_in: None,
            net_out: None,
            cpi: None,
            mai: None,
            mpki: None,
            sample_portion: None,
            aggregated: None,
        }
    }
}

/// How a constraint compares a machine attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConstraintOp {
    /// Attribute equals the value.
    Equal,
    /// Attribute differs from the value.
    NotEqual,
    /// Attribute is less than the value.
    LessThan,
    /// Attribute is greater than the value.
    GreaterThan,
    /// Attribute is at most the value (2019).
    LessThanEqual,
    /// Attribute is at least the value (2019).
    GreaterThanEqual,
    /// Attribute is present (2019).
    Present,
    /// Attribute is absent (2019).
    NotPresent,
}

/// A placement constraint of a task on machine attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskConstraint {
    /// When it was set.
    pub time: Nanos,
    /// Which task.
    pub task: TaskId,
    /// The comparison.
    pub op: ConstraintOp,
    /// Attribute name (hashed).
    pub attribute: Symbol,
    /// The value compared with, if any.
    pub value: Option<AttrValue>,
    /// Part of the initial state before the window began.
    pub snapshot: bool,
}

/// One record of the workload model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadRecord {
    /// A machine joins, leaves or changes.
    Machine(MachineEvent),
    /// A machine attribute changes.
    MachineAttribute(MachineAttribute),
    /// A job transition.
    Job(JobEvent),
    /// A task transition.
    Task(TaskEvent),
    /// A usage measurement.
    Usage(UsageSample),
    /// A task placement constraint.
    Constraint(TaskConstraint),
}

impl WorkloadRecord {
    /// The record's time (a usage sample's window start).
    pub fn time(&self) -> Nanos {
        match self {
            WorkloadRecord::Machine(r) => r.time,
            WorkloadRecord::MachineAttribute(r) => r.time,
            WorkloadRecord::Job(r) => r.time,
            WorkloadRecord::Task(r) => r.time,
            WorkloadRecord::Usage(r) => r.start,
            WorkloadRecord::Constraint(r) => r.time,
        }
    }

    /// A short lowercase name of the record kind (`machine`, `task`, …).
    pub fn kind_name(&self) -> &'static str {
        match self {
            WorkloadRecord::Machine(_) => "machine",
            WorkloadRecord::MachineAttribute(_) => "machine_attribute",
            WorkloadRecord::Job(_) => "job",
            WorkloadRecord::Task(_) => "task",
            WorkloadRecord::Usage(_) => "usage",
            WorkloadRecord::Constraint(_) => "constraint",
        }
    }
}

impl TaskEvent {
    /// A task event with every optional field empty and one replica.
    pub fn new(time: Nanos, task: TaskId, kind: LifecycleEvent) -> TaskEvent {
        TaskEvent {
            time,
            task,
            instance: None,
            replicas: 1,
            kind,
            machine: None,
            user: None,
            scheduling_class: None,
            priority: None,
            request: Resources::default(),
            limit: Resources::default(),
            different_machines: None,
            alloc: None,
            task_type: None,
            depends_on: Vec::new(),
            runtime_limit: None,
            missing: None,
            snapshot: false,
        }
    }
}

impl JobEvent {
    /// A job event with every optional field empty.
    pub fn new(time: Nanos, job: JobId, kind: LifecycleEvent) -> JobEvent {
        JobEvent {
            time,
            job,
            kind,
            user: None,
            group: None,
            scheduling_class: None,
            priority: None,
            name: None,
            logical_name: None,
            collection_type: None,
            parent: None,
            alloc: None,
            depends_on: Vec::new(),
            queue: None,
            missing: None,
            snapshot: false,
        }
    }
}

impl MachineEvent {
    /// A machine event with every optional field empty.
    pub fn new(time: Nanos, machine: MachineId, kind: MachineEventKind) -> MachineEvent {
        MachineEvent {
            time,
            machine,
            kind,
            capacity: Resources::default(),
            platform: None,
            failure_domains: [None, None],
            missing: None,
            snapshot: false,
        }
    }
}
