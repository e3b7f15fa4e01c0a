//! A synthetic workload with the statistical shape of Google clusterdata-2011-2,
//! streamed in time order and deterministic for a seed.
//!
//! Where the numbers come from:
//! - Machine mix (CPU, memory normalised to the largest machine, share of the
//!   12,583 machines): Reiss, Tumanov, Ganger, Katz, Kozuch, "Heterogeneity and
//!   dynamicity of clouds at scale: Google trace analysis", SoCC 2012, Table 1:
//!   (0.50, 0.50) 6,732; (0.50, 0.25) 3,863; (0.50, 0.75) 1,001; (1.00, 1.00) 795;
//!   (0.25, 0.25) 126; (0.50, 0.12) 52; (0.50, 0.03) 5; (0.50, 0.97) 5;
//!   (1.00, 0.50) 3; (0.50, 0.06) 1.
//! - Priority groups free (0–1), middle (2–8) and production (9–11), and the
//!   picture of many short batch jobs next to few long-running production services
//!   holding most resources: the same paper, §2–§4.
//! - Volume: about 670 k jobs and 25 M tasks in the 29-day trace (the totals
//!   commonly reported for clusterdata-2011-2), i.e. 0.268 job arrivals per second
//!   for 12,500 machines and about 37 tasks per job on average.
//! - Calibrated on the real part file in `testdata/` (task_events and job_events
//!   part-00000, the 600–5,600 s window; see ATTRIBUTION.md):
//!   76 % of jobs have one task, 90 % at most 20, 99 % at most about 1,000; others
//!   follow a bounded Pareto (α = 0.4, 2–5,000 tasks), which gives those quantiles;
//!   job priority shares 0: 21 %, 1: 20 %, 2: 29 %, 8: 15 %, 9: 14 %, 10: 0.4 %,
//!   11: 0.2 %; scheduling class 0: 84 %, 1: 4 %, 2: 11 %, 3: 0.5 %; CPU and memory
//!   requests with medians 0.025 and 0.0255, p99 about 0.1 and 0.08 (log-normal,
//!   σ = 0.6); task runtimes with median 345 s and p90 1,340 s (log-normal,
//!   σ = 1.06); task ends 78 % FINISH, 20 % KILL, 0.7 % FAIL, 1.4 % EVICT (evicted
//!   and failed tasks are resubmitted, up to three times); machine REMOVE and
//!   UPDATE rates of 0.025 and 0.02 per machine-day (machine_events head).
//! - Chosen, not measured: the time-0 snapshot holds 11 running tasks per machine
//!   (the real snapshot has 140 k tasks on 12.5 k machines), half of production
//!   jobs are services, scheduling waits are log-normal around 1.5 s, removed
//!   machines come back after about 30 minutes, 1,000 users with Zipf(1.2)
//!   activity, and a ±20 % daily cycle of arrivals.
//!
//! Services and steady state. Reiss et al. describe the month as near steady state:
//! requested CPU and memory roughly flat, the long-running production jobs mostly
//! present from the start. So the snapshot's services outlive the trace (there are
//! about 1.6 per machine, a bounded number), while a service arriving during the
//! trace is stopped, all its tasks KILLed, after a log-normal lifetime with a median
//! of one day and σ = 1, capped at seven days (chosen, not measured). Its mean,
//! E[min(L, 7 d)] = e^0.5 Φ(ln 7 − 1) + 7 (1 − Φ(ln 7)) = 1.55 days, sets the
//! steady state by Little's law: 1.85 job arrivals per machine-day, 7.3 % of them
//! services of 36.9 tasks on average, bring 5.0 service tasks per machine-day, so
//! about 7.7 are alive; with the snapshot's lasting services and the batch (0.44
//! alive per machine) that is 0.29 normalised CPU requested per machine, close to
//! the snapshot's 0.33 at time 0. From day 7 on as much service load leaves per day
//! as arrives, in expectation. (Before, every service ran past the end of the trace
//! and each day added 0.15 CPU per machine, for good: the cell over-filled within a
//! week.) Lifetimes come from their own ChaCha8 stream, so every other draw is what
//! it was when services never ended: the records of a seed are the earlier ones plus
//! the task and job KILLs of the services stopped since.
//!
//! Floats are used only to draw, and every output is fixed-point; the stream is
//! identical for a seed on a given platform (ChaCha8, ordered containers only).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};
use sim_core::queue::EventQueue;
use sim_core::time::SimTime;

use crate::record::*;

const SEC: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * SEC;

/// Reiss et al. 2012, Table 1: (CPU, memory, machines).
const MACHINE_MIX: [(f64, f64, u32); 10] = [
    (0.50, 0.50, 6732),
    (0.50, 0.25, 3863),
    (0.50, 0.75, 1001),
    (1.00, 1.00, 795),
    (0.25, 0.25, 126),
    (0.50, 0.12, 52),
    (0.50, 0.03, 5),
    (0.50, 0.97, 5),
    (1.00, 0.50, 3),
    (0.50, 0.06, 1),
];

/// Job priorities and their weights (jobs first submitted in part-00000).
const PRIORITIES: [(u32, u32); 7] = [
    (0, 235),
    (1, 226),
    (2, 318),
    (8, 165),
    (9, 156),
    (10, 4),
    (11, 2),
];

/// Scheduling classes and their weights (task submissions in part-00000).
const CLASSES: [(u8, u32); 4] = [(0, 48114), (1, 2394), (2, 6361), (3, 283)];

/// Task end kinds and their weights (ends after a SCHEDULE in part-00000).
const ENDS: [(LifecycleEvent, u32); 4] = [
    (LifecycleEvent::Finish, 38433),
    (LifecycleEvent::Kill, 9741),
    (LifecycleEvent::Fail, 337),
    (LifecycleEvent::Evict, 677),
];

/// Job arrivals per second per machine (0.268 / 12,500).
const ARRIVALS_PER_MACHINE_SEC: f64 = 0.268 / 12_500.0;

/// Median lifetime in days of a service arriving during the trace.
const SERVICE_LIFETIME_MEDIAN_DAYS: f64 = 1.0;
/// σ of the log-normal service lifetime.
const SERVICE_LIFETIME_SIGMA: f64 = 1.0;
/// No service arriving during the trace runs longer than this (days).
const SERVICE_LIFETIME_CAP_DAYS: f64 = 7.0;

/// A log-normal distribution by its median and σ (constants, so always valid).
fn lognormal(median: f64, sigma: f64) -> LogNormal<f64> {
    LogNormal::new(median.ln(), sigma).expect("constant log-normal parameters are valid")
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|&(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for &(v, w) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

/// A normalised fraction rounded to four significant digits, as Google prints them.
fn fraction(x: f64) -> NormalizedFraction {
    let x = x.clamp(1e-7, 1.0);
    let digits = 3 - x.log10().floor() as i32;
    let scale = 10f64.powi(digits);
    let rounded = (x * scale).round() / scale;
    NormalizedFraction((rounded * 1e9).round() as u64)
}

#[derive(Clone, Debug)]
struct JobSpec {
    job: JobId,
    user: Symbol,
    priority: Priority,
    class: u8,
    request: Resources,
    service: bool,
    /// When a service that arrived during the trace is stopped (its tasks KILLed);
    /// `None` for batch jobs and for the snapshot's services, which outlive the trace.
    stop: Option<u64>,
}

#[derive(Clone, Debug)]
enum Pending {
    JobArrival,
    TaskSubmit {
        spec: usize,
        index: u64,
        attempt: u8,
    },
    TaskSchedule {
        spec: usize,
        index: u64,
        attempt: u8,
    },
    TaskEnd {
        spec: usize,
        index: u64,
        attempt: u8,
        machine: MachineId,
        kind: LifecycleEvent,
    },
    MachineChange {
        machine: MachineId,
    },
    MachineReturn {
        machine: MachineId,
    },
}

/// The synthetic workload stream; see [`synth`].
pub struct SynthWorkload {
    rng: ChaCha8Rng,
    /// Service lifetimes, on their own stream so that drawing them leaves every
    /// other draw of a seed as it was before services ended.
    lifetimes: ChaCha8Rng,
    machines: u32,
    end: u64,
    /// Pending lifecycle steps by (time, push order): the engine's monotone radix
    /// queue pops them exactly as a heap on (time, sequence number) would.
    queue: EventQueue<Pending>,
    out: std::collections::VecDeque<WorkloadRecord>,
    /// Jobs with tasks still to end, and their tasks left, by spec number. A number
    /// is reused once its job is done: by then no pending step names it.
    specs: Vec<Option<(JobSpec, u64)>>,
    /// Spec numbers free for reuse.
    free_specs: Vec<usize>,
    next_job: u64,
    users: Zipf<f64>,
    request: LogNormal<f64>,
    disk: LogNormal<f64>,
    runtime: LogNormal<f64>,
    wait: LogNormal<f64>,
    capacities: Vec<(f64, f64)>,
    started: bool,
}

/// A synthetic Google-2011-shaped workload for `machines` machines over `days`
/// days: machine events, job and task lifecycles in time order, deterministic for
/// `seed`. At 12,500 machines it produces about 25 M tasks per 30 days.
pub fn synth(machines: u32, days: u32, seed: u64) -> SynthWorkload {
    let rng = ChaCha8Rng::seed_from_u64(seed);
    let mut lifetimes = ChaCha8Rng::seed_from_u64(seed);
    lifetimes.set_stream(1);
    SynthWorkload {
        rng,
        lifetimes,
        machines: machines.max(1),
        end: u64::from(days).saturating_mul(DAY),
        queue: EventQueue::new(),
        out: std::collections::VecDeque::new(),
        specs: Vec::new(),
        free_specs: Vec::new(),
        next_job: 1,
        users: Zipf::new(1000.0, 1.2).expect("constant Zipf parameters are valid"),
        request: lognormal(0.025, 0.6),
        disk: lognormal(3.8e-5, 1.0),
        runtime: lognormal(345.0, 1.06),
        wait: lognormal(1.5, 1.5),
        capacities: Vec::new(),
        started: false,
    }
}

impl SynthWorkload {
    /// Metadata for writing this stream to a compact file: it is time-ordered.
    pub fn compact_metadata(&self) -> crate::compact::CompactMetadata {
        crate::compact::CompactMetadata {
            format: None,
            ordering: crate::table::Ordering::Time,
            swf: None,
        }
    }

    fn push(&mut self, at: u64, ev: Pending) {
        if at >= self.end {
            return;
        }
        self.queue.push(SimTime::from_nanos(at), ev);
    }

    /// The job of spec number `spec` and its tasks left, while it has tasks to end.
    fn spec(&self, spec: usize) -> Option<&(JobSpec, u64)> {
        self.specs.get(spec).and_then(Option::as_ref)
    }

    fn spec_mut(&mut self, spec: usize) -> Option<&mut (JobSpec, u64)> {
        self.specs.get_mut(spec).and_then(Option::as_mut)
    }

    fn secs(&mut self, d: LogNormal<f64>, cap_s: f64) -> u64 {
        let s: f64 = d.sample(&mut self.rng);
        (s.min(cap_s) * SEC as f64) as u64
    }

    fn new_job(&mut self, service_bias: bool) -> (usize, u64) {
        let priority = pick(&mut self.rng, &PRIORITIES);
        let class = pick(&mut self.rng, &CLASSES);
        let user = Symbol(self.users.sample(&mut self.rng) as u64);
        let cpu: f64 = self.request.sample(&mut self.rng);
        let mem: f64 = self.request.sample(&mut self.rng) * 1.02;
        let disk: f64 = self.disk.sample(&mut self.rng);
        let production = priority >= 9;
        let service = production && (service_bias || self.rng.random_bool(0.5));
        let tasks = if self.rng.random_bool(0.76) {
            1
        } else {
            // Bounded Pareto on [2, 5000] with α = 0.4, by inversion.
            let (l, h, a) = (2.0f64, 5000.0f64, 0.4f64);
            let u: f64 = self.rng.random();
            let x = l / (1.0 - u * (1.0 - (l / h).powf(a))).powf(1.0 / a);
            x.floor().clamp(2.0, 5000.0) as u64
        };
        let spec = JobSpec {
            job: JobId(self.next_job),
            user,
            priority: Priority {
                value: priority,
                band: PriorityBand::google2011(priority),
            },
            class,
            request: Resources {
                cpus: Some(Amount::Normalized(fraction(cpu))),
                mem: Some(Amount::Normalized(fraction(mem))),
                disk: Some(Amount::Normalized(fraction(disk))),
            },
            service,
            stop: None,
        };
        self.next_job += 1;
        let id = match self.free_specs.pop() {
            Some(id) => {
                self.specs[id] = Some((spec, tasks));
                id
            }
            None => {
                self.specs.push(Some((spec, tasks)));
                self.specs.len() - 1
            }
        };
        (id, tasks)
    }

    fn job_event(
        &self,
        spec: usize,
        time: u64,
        kind: LifecycleEvent,
        snapshot: bool,
    ) -> Option<WorkloadRecord> {
        let (s, _) = self.spec(spec)?;
        let mut j = JobEvent::new(Nanos(time), s.job, kind);
        j.user = Some(s.user);
        j.scheduling_class = Some(s.class);
        j.name = Some(Symbol(s.job.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        j.snapshot = snapshot;
        Some(WorkloadRecord::Job(j))
    }

    fn task_event(
        &self,
        spec: usize,
        index: u64,
        time: u64,
        kind: LifecycleEvent,
        machine: Option<MachineId>,
        snapshot: bool,
    ) -> Option<WorkloadRecord> {
        let (s, _) = self.spec(spec)?;
        let mut t = TaskEvent::new(Nanos(time), TaskId { job: s.job, index }, kind);
        t.machine = machine;
        t.user = Some(s.user);
        t.scheduling_class = Some(s.class);
        t.priority = Some(s.priority);
        t.request = s.request;
        t.different_machines = Some(false);
        t.snapshot = snapshot;
        Some(WorkloadRecord::Task(t))
    }

    fn machine_for(&mut self) -> MachineId {
        MachineId(u64::from(self.rng.random_range(0..self.machines)) + 1)
    }

    /// Draws how long a service arriving during the trace runs before it is stopped
    /// (log-normal, median one day, σ = 1, at most seven days).
    fn service_lifetime(&mut self) -> u64 {
        let days: f64 = lognormal(SERVICE_LIFETIME_MEDIAN_DAYS, SERVICE_LIFETIME_SIGMA)
            .sample(&mut self.lifetimes);
        (days.min(SERVICE_LIFETIME_CAP_DAYS) * DAY as f64) as u64
    }

    /// Draws how task `index` of `spec` runs from `start` (when it is scheduled).
    fn plan_run(&mut self, spec: usize, index: u64, attempt: u8, start: u64, machine: MachineId) {
        if let Some((s, _)) = self.spec(spec).filter(|(s, _)| s.service) {
            // A service runs until its job is stopped: all its tasks are killed then.
            // A snapshot service is never stopped within the trace.
            if let Some(stop) = s.stop {
                self.push(
                    stop.max(start + SEC),
                    Pending::TaskEnd {
                        spec,
                        index,
                        attempt,
                        machine,
                        kind: LifecycleEvent::Kill,
                    },
                );
            }
            return;
        }
        let run = self.secs(self.runtime, 30.0 * 86_400.0).max(SEC);
        let kind = pick(&mut self.rng, &ENDS);
        self.push(
            start + run,
            Pending::TaskEnd {
                spec,
                index,
                attempt,
                machine,
                kind,
            },
        );
    }

    fn start(&mut self) {
        // Machines: the snapshot at time 0, in Table 1 proportions.
        let total: u32 = MACHINE_MIX.iter().map(|m| m.2).sum();
        for i in 0..self.machines {
            let mut x = self.rng.random_range(0..total);
            let mut cap = (0.5, 0.5);
            for &(c, m, w) in &MACHINE_MIX {
                if x < w {
                    cap = (c, m);
                    break;
                }
                x -= w;
            }
            self.capacities.push(cap);
            let machine = MachineId(u64::from(i) + 1);
            self.out
                .push_back(self.machine_record(machine, MachineEventKind::Add, 0, true));
            let next = self.machine_gap();
            self.push(next, Pending::MachineChange { machine });
        }
        // Running tasks at time 0: 11 per machine.
        let target = u64::from(self.machines) * 11;
        let mut running = 0;
        while running < target {
            let (spec, tasks) = self.new_job(true);
            let tasks = tasks.min(target - running).max(1);
            if let Some((_, n)) = self.spec_mut(spec) {
                *n = tasks;
            }
            running += tasks;
            if let Some(r) = self.job_event(spec, 0, LifecycleEvent::Submit, true) {
                self.out.push_back(r);
            }
            if let Some(r) = self.job_event(spec, 0, LifecycleEvent::Schedule, true) {
                self.out.push_back(r);
            }
            for index in 0..tasks {
                let machine = self.machine_for();
                for kind in [LifecycleEvent::Submit, LifecycleEvent::Schedule] {
                    let m = (kind == LifecycleEvent::Schedule).then_some(machine);
                    if let Some(r) = self.task_event(spec, index, 0, kind, m, true) {
                        self.out.push_back(r);
                    }
                }
                // A snapshot task has already run for a while: its remaining time.
                let service = self.spec(spec).is_some_and(|(s, _)| s.service);
                if !service {
                    let run = self.secs(self.runtime, 30.0 * 86_400.0).max(SEC);
                    let left = self.rng.random_range(0..run.max(1));
                    let kind = pick(&mut self.rng, &ENDS);
                    self.push(
                        left.max(1),
                        Pending::TaskEnd {
                            spec,
                            index,
                            attempt: 0,
                            machine,
                            kind,
                        },
                    );
                }
            }
        }
        let first = self.arrival_gap(0);
        self.push(first, Pending::JobArrival);
    }

    fn machine_record(
        &self,
        machine: MachineId,
        kind: MachineEventKind,
        time: u64,
        snapshot: bool,
    ) -> WorkloadRecord {
        let (c, m) = self
            .capacities
            .get((machine.0 - 1) as usize)
            .copied()
            .unwrap_or((0.5, 0.5));
        let mut ev = MachineEvent::new(Nanos(time), machine, kind);
        if kind != MachineEventKind::Remove {
            ev.capacity.cpus = Some(Amount::Normalized(fraction(c)));
            ev.capacity.mem = Some(Amount::Normalized(fraction(m)));
        }
        ev.platform = Some(Symbol::of(if c >= 1.0 {
            b"C"
        } else if c <= 0.25 {
            b"A"
        } else {
            b"B"
        }));
        ev.snapshot = snapshot;
        WorkloadRecord::Machine(ev)
    }

    /// Time to a machine's next REMOVE or UPDATE (rate 0.045 per machine-day).
    fn machine_gap(&mut self) -> u64 {
        let u: f64 = self.rng.random::<f64>().max(1e-12);
        let days = -u.ln() / 0.045;
        (days * DAY as f64).min(1e18) as u64 + 1
    }

    /// Time to the next job arrival after `now`: exponential with a ±20 % daily cycle.
    fn arrival_gap(&mut self, now: u64) -> u64 {
        let rate = ARRIVALS_PER_MACHINE_SEC * f64::from(self.machines);
        let max_rate = rate * 1.2;
        let mut t = now;
        loop {
            let u: f64 = self.rng.random::<f64>().max(1e-12);
            t += ((-u.ln() / max_rate) * SEC as f64) as u64 + 1;
            let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
            let accept = (1.0 + 0.2 * phase.sin()) / 1.2;
            if self.rng.random::<f64>() < accept {
                return t;
            }
        }
    }

    fn task_done(&mut self, spec: usize, time: u64, kind: LifecycleEvent) {
        let remaining = match self.spec_mut(spec) {
            Some((_, n)) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => return,
        };
        if remaining == 0 {
            if let Some(r) = self.job_event(spec, time, kind, false) {
                self.out.push_back(r);
            }
            self.specs[spec] = None;
            self.free_specs.push(spec);
        }
    }

    fn step(&mut self) -> bool {
        let Some((time, ev)) = self.queue.pop() else {
            return false;
        };
        let time = time.as_nanos();
        match ev {
            Pending::JobArrival => {
                let (spec, tasks) = self.new_job(false);
                if self.spec(spec).is_some_and(|(s, _)| s.service) {
                    let stop = time + self.service_lifetime();
                    if let Some((s, _)) = self.spec_mut(spec) {
                        s.stop = Some(stop);
                    }
                }
                if let Some(r) = self.job_event(spec, time, LifecycleEvent::Submit, false) {
                    self.out.push_back(r);
                }
                for index in 0..tasks {
                    // Tasks of a job are submitted together, microseconds apart.
                    self.push(
                        time + index * 1_000,
                        Pending::TaskSubmit {
                            spec,
                            index,
                            attempt: 0,
                        },
                    );
                }
                let next = self.arrival_gap(time);
                self.push(next, Pending::JobArrival);
            }
            Pending::TaskSubmit {
                spec,
                index,
                attempt,
            } => {
                if let Some(r) =
                    self.task_event(spec, index, time, LifecycleEvent::Submit, None, false)
                {
                    self.out.push_back(r);
                }
                let wait = self.secs(self.wait, 600.0);
                self.push(
                    time + wait,
                    Pending::TaskSchedule {
                        spec,
                        index,
                        attempt,
                    },
                );
            }
            Pending::TaskSchedule {
                spec,
                index,
                attempt,
            } => {
                let machine = self.machine_for();
                if let Some(r) = self.task_event(
                    spec,
                    index,
                    time,
                    LifecycleEvent::Schedule,
                    Some(machine),
                    false,
                ) {
                    self.out.push_back(r);
                }
                if index == 0 && attempt == 0 {
                    if let Some(r) = self.job_event(spec, time, LifecycleEvent::Schedule, false) {
                        self.out.push_back(r);
                    }
                }
                self.plan_run(spec, index, attempt, time, machine);
            }
            Pending::TaskEnd {
                spec,
                index,
                attempt,
                machine,
                kind,
            } => {
                if let Some(r) = self.task_event(spec, index, time, kind, Some(machine), false) {
                    self.out.push_back(r);
                }
                let retry =
                    matches!(kind, LifecycleEvent::Evict | LifecycleEvent::Fail) && attempt < 3;
                if retry {
                    let delay = self.rng.random_range(SEC..60 * SEC);
                    self.push(
                        time + delay,
                        Pending::TaskSubmit {
                            spec,
                            index,
                            attempt: attempt + 1,
                        },
                    );
                } else {
                    self.task_done(spec, time, kind);
                }
            }
            Pending::MachineChange { machine } => {
                let remove = self.rng.random_bool(0.025 / 0.045);
                if remove {
                    self.out.push_back(self.machine_record(
                        machine,
                        MachineEventKind::Remove,
                        time,
                        false,
                    ));
                    let down = self.secs(lognormal(1800.0, 1.0), 7.0 * 86_400.0);
                    self.push(time + down.max(SEC), Pending::MachineReturn { machine });
                } else {
                    self.out.push_back(self.machine_record(
                        machine,
                        MachineEventKind::Update,
                        time,
                        false,
                    ));
                    let next = time + self.machine_gap();
                    self.push(next, Pending::MachineChange { machine });
                }
            }
            Pending::MachineReturn { machine } => {
                self.out.push_back(self.machine_record(
                    machine,
                    MachineEventKind::Add,
                    time,
                    false,
                ));
                let next = time + self.machine_gap();
                self.push(next, Pending::MachineChange { machine });
            }
        }
        true
    }
}

impl Iterator for SynthWorkload {
    type Item = WorkloadRecord;

    fn next(&mut self) -> Option<WorkloadRecord> {
        if !self.started {
            self.started = true;
            self.start();
        }
        loop {
            if let Some(r) = self.out.pop_front() {
                return Some(r);
            }
            if !self.step() {
                return None;
            }
        }
    }
}
