//! QoS controllers: which revocable containers an agent kills to protect the others
//! (mesos-semantics.md §3.3), and the Linux load average the `load` controller reads.
//!
//! [`QosController::corrections`] returns container indices to kill (Mesos's `KILL`
//! corrections); the agent destroys them with `REASON_CONTAINER_PREEMPTED`.

use crate::usage::cpu::{allocate, CpuDemand};

/// One container as the controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QosContainer {
    /// Any of its resources is revocable (the whole container then counts as revocable).
    pub revocable: bool,
    /// A latency-sensitive service task.
    pub latency_sensitive: bool,
    /// Its CPU shares, demand and quota.
    pub cpu: CpuDemand,
}

/// The agent's state when the controller is asked.
#[derive(Clone, Copy, Debug)]
pub struct QosInput<'a> {
    /// The agent's CPUs, milli-CPUs.
    pub capacity: u64,
    /// Its containers.
    pub containers: &'a [QosContainer],
    /// 5-minute load average, milli-runnable.
    pub load5: u64,
    /// 15-minute load average, milli-runnable.
    pub load15: u64,
}

/// Decides which revocable containers to kill.
pub trait QosController {
    /// Indices into `input.containers` to kill now, in kill order; only revocable ones.
    fn corrections(&mut self, input: &QosInput<'_>) -> Vec<usize>;
}

/// Never kills.
#[derive(Debug, Default)]
pub struct Noop;

impl QosController for Noop {
    fn corrections(&mut self, _: &QosInput<'_>) -> Vec<usize> {
        Vec::new()
    }
}

/// Mesos's `LoadQoSController`: when `load5 > t5` or `load15 > t15` (strictly), kill
/// every revocable container at once. Thresholds are milli-runnable.
#[derive(Debug)]
pub struct Load {
    /// `load_threshold_5min`.
    pub threshold_5min: Option<u64>,
    /// `load_threshold_15min`.
    pub threshold_15min: Option<u64>,
}

impl QosController for Load {
    fn corrections(&mut self, input: &QosInput<'_>) -> Vec<usize> {
        let over = self.threshold_5min.is_some_and(|t| input.load5 > t)
            || self.threshold_15min.is_some_and(|t| input.load15 > t);
        if !over {
            return Vec::new();
        }
        revocable(input.containers).collect()
    }
}

fn revocable(cs: &[QosContainer]) -> impl Iterator<Item = usize> + '_ {
    cs.iter()
        .enumerate()
        .filter(|(_, c)| c.revocable)
        .map(|(i, _)| i)
}

/// Protects latency-sensitive containers with as few kills as it can (not Mesos).
///
/// It measures the CPU *actually stolen*: what latency-sensitive containers would get
/// if no revocable container ran, minus what they get now (both by the CFS model).
/// While that exceeds `tolerance` milli-CPUs it kills the revocable container whose
/// removal leaves the least stolen (ties: the one using more CPU, then the lower
/// index). Load alone never kills: busy revocable work that takes only idle CPU stays.
#[derive(Debug)]
pub struct Shortfall {
    /// Stolen milli-CPUs tolerated before killing.
    pub tolerance: u64,
}

/// Milli-CPUs that revocable containers (those still `alive`) take from
/// latency-sensitive ones on an agent of `capacity`.
pub fn stolen(capacity: u64, containers: &[QosContainer], alive: &[bool]) -> u64 {
    let with: Vec<CpuDemand> = containers
        .iter()
        .zip(alive)
        .map(|(c, &a)| CpuDemand {
            demand: if a { c.cpu.demand } else { 0 },
            ..c.cpu
        })
        .collect();
    let without: Vec<CpuDemand> = containers
        .iter()
        .zip(&with)
        .map(|(c, d)| CpuDemand {
            demand: if c.revocable { 0 } else { d.demand },
            ..*d
        })
        .collect();
    let (r_with, r_without) = (allocate(capacity, &with), allocate(capacity, &without));
    containers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.latency_sensitive && !c.revocable)
        .map(|(i, _)| r_without[i].saturating_sub(r_with[i]))
        .sum()
}

impl QosController for Shortfall {
    fn corrections(&mut self, input: &QosInput<'_>) -> Vec<usize> {
        let cs = input.containers;
        let mut alive = vec![true; cs.len()];
        let mut kills = Vec::new();
        let mut now_stolen = stolen(input.capacity, cs, &alive);
        while now_stolen > self.tolerance {
            let rates = allocate(
                input.capacity,
                &cs.iter()
                    .zip(&alive)
                    .map(|(c, &a)| CpuDemand {
                        demand: if a { c.cpu.demand } else { 0 },
                        ..c.cpu
                    })
                    .collect::<Vec<_>>(),
            );
            let candidates: Vec<usize> = revocable(cs).filter(|&i| alive[i]).collect();
            let best = candidates
                .into_iter()
                .map(|i| {
                    alive[i] = false;
                    let s = stolen(input.capacity, cs, &alive);
                    alive[i] = true;
                    (s, std::cmp::Reverse(rates[i]), i)
                })
                .min();
            let Some((s, _, i)) = best else { break };
            alive[i] = false;
            kills.push(i);
            now_stolen = s;
        }
        kills
    }
}

/// The controller by name: `noop`, `load` (thresholds in milli-runnable), `shortfall`
/// (tolerance in milli-CPUs).
pub fn by_name(
    name: &str,
    threshold_5min: Option<u64>,
    threshold_15min: Option<u64>,
    tolerance: u64,
) -> Option<Box<dyn QosController>> {
    match name {
        "noop" => Some(Box::new(Noop)),
        "load" => Some(Box::new(Load {
            threshold_5min,
            threshold_15min,
        })),
        "shortfall" => Some(Box::new(Shortfall { tolerance })),
        _ => None,
    }
}

/// The kernel's load averages (`kernel/sched/loadavg.c`): every 5 s,
/// `load = load × e + n × (1 − e)` in 11-bit fixed point, with `n` the runnable count.
/// Here `n` is the agent's total CPU demand (milli-CPUs wanting to run, throttled or
/// not), so values are milli-runnable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadAverage {
    /// 1-, 5- and 15-minute averages, milli-runnable.
    pub loads: [u64; 3],
}

/// `LOAD_FREQ`: the kernel samples every 5 s.
pub const LOAD_FREQ_SECS: u64 = 5;
const FIXED_1: u64 = 1 << 11;
const EXP: [u64; 3] = [1884, 2014, 2037];

impl LoadAverage {
    /// Applies `samples` 5-second samples with `runnable` milli-runnable.
    pub fn advance(&mut self, runnable: u64, samples: u64) {
        for _ in 0..samples.min(10_000) {
            for (l, e) in self.loads.iter_mut().zip(EXP) {
                // `calc_load`: round up while rising so the average reaches `n`.
                let mut next = *l * e + runnable * (FIXED_1 - e);
                if runnable >= *l {
                    next += FIXED_1 - 1;
                }
                *l = next / FIXED_1;
            }
        }
    }

    /// The 5-minute average.
    pub fn load5(&self) -> u64 {
        self.loads[1]
    }

    /// The 15-minute average.
    pub fn load15(&self) -> u64 {
        self.loads[2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(revocable: bool, ls: bool, shares: u64, demand: u64) -> QosContainer {
        QosContainer {
            revocable,
            latency_sensitive: ls,
            cpu: CpuDemand {
                shares,
                demand,
                cap: None,
            },
        }
    }

    fn input<'a>(cs: &'a [QosContainer], load5: u64, load15: u64) -> QosInput<'a> {
        QosInput {
            capacity: 8000,
            containers: cs,
            load5,
            load15,
        }
    }

    #[test]
    fn load_controller_matches_the_mesos_unit_test() {
        // t5 = 7, t15 = 6 on an 8-CPU machine with two revocable executors.
        let cs = [
            c(true, false, 10, 1000),
            c(false, true, 1024, 1000),
            c(true, false, 10, 1000),
        ];
        let mut q = Load {
            threshold_5min: Some(7000),
            threshold_15min: Some(6000),
        };
        assert_eq!(q.corrections(&input(&cs, 7200, 5000)), [0, 2]);
        assert_eq!(q.corrections(&input(&cs, 6800, 5800)), Vec::<usize>::new());
        assert_eq!(q.corrections(&input(&cs, 7000, 6000)), Vec::<usize>::new());
        assert_eq!(q.corrections(&input(&cs, 0, 6001)), [0, 2]);
    }

    #[test]
    fn noop_never_kills() {
        let cs = [c(true, false, 1024, 8000), c(false, true, 1024, 8000)];
        assert!(Noop.corrections(&input(&cs, 99_000, 99_000)).is_empty());
    }

    #[test]
    fn stolen_cpu_is_what_revocable_work_takes_from_services() {
        // 8 CPUs; a service (4096 shares) wants 6; revocable work at full shares wants
        // 8 in two containers of 2048 shares. Alone the service gets 6; with them it
        // gets 8 × 4096/8192 = 4: 2 CPUs are stolen.
        let cs = [
            c(false, true, 4096, 6000),
            c(true, false, 2048, 4000),
            c(true, false, 2048, 4000),
        ];
        assert_eq!(stolen(8000, &cs, &[true, true, true]), 2000);
    }

    #[test]
    fn shortfall_kills_the_fewest_needed() {
        // As above plus a small revocable container (1024 shares, wants 0.5): killing
        // one of the large ones leaves the service 8 × 4096/7168 = 4.57 → still short;
        // the greedy choice is a large one each time, and two kills are enough
        // (service 6 + small 0.5 fit in 8), while the load controller kills all three.
        let cs = [
            c(false, true, 4096, 6000),
            c(true, false, 2048, 4000),
            c(true, false, 2048, 4000),
            c(true, false, 1024, 500),
        ];
        let mut q = Shortfall { tolerance: 0 };
        assert_eq!(q.corrections(&input(&cs, 20_000, 20_000)), [1, 2]);
        let mut l = Load {
            threshold_5min: Some(8000),
            threshold_15min: None,
        };
        assert_eq!(l.corrections(&input(&cs, 20_000, 20_000)).len(), 3);
    }

    #[test]
    fn shortfall_spares_revocable_work_on_idle_cpu() {
        // The service wants 2 of 8 and gets them: the revocable work takes only idle
        // CPU, so nothing is killed however high the load.
        let cs = [c(false, true, 4096, 2000), c(true, false, 1024, 9000)];
        assert!(Shortfall { tolerance: 0 }
            .corrections(&input(&cs, 50_000, 50_000))
            .is_empty());
    }

    #[test]
    fn load_average_converges_like_the_kernel_formula() {
        // From 0 with 4 runnable for 5 minutes (60 samples): n (1 - (2014/2048)^60),
        // plus the kernel's rounding up while rising: under 1 per sample, decaying by
        // e/2048, so less than 2048/(2048 - e) in total (61 for load5, 187 for load15).
        let mut l = LoadAverage::default();
        l.advance(4000, 60);
        let expect = 4000.0 * (1.0 - (2014.0f64 / 2048.0).powi(60));
        let got = l.load5() as f64;
        assert!(got >= expect && got < expect + 61.0, "{got} vs {expect}");
        let expect15 = 4000.0 * (1.0 - (2037.0f64 / 2048.0).powi(60));
        let got15 = l.load15() as f64;
        assert!(
            got15 >= expect15 && got15 < expect15 + 187.0,
            "{got15} vs {expect15}"
        );
        l.advance(4000, 2000);
        assert_eq!(l.loads, [4000, 4000, 4000]);
    }

    #[test]
    fn controllers_over_a_scripted_load_trace() {
        // An 8-CPU agent: a latency-sensitive service (4096 shares) and two revocable
        // containers at full shares. For 10 minutes the service wants 2 CPUs and the
        // revocable work 2 each (load 6, nothing stolen); then the service wants 6
        // (load 10; with the revocable work it gets 8 × 4096/8192 = 4 instead of 6).
        // Corrections every 20 s, i.e. every 4 load samples.
        let calm = [
            c(false, true, 4096, 2000),
            c(true, false, 2048, 2000),
            c(true, false, 2048, 2000),
        ];
        let busy = [
            c(false, true, 4096, 6000),
            c(true, false, 2048, 2000),
            c(true, false, 2048, 2000),
        ];
        let runnable = |cs: &[QosContainer]| cs.iter().map(|c| c.cpu.demand).sum::<u64>();
        let mut load = LoadAverage::default();
        let mut ctl = Load {
            threshold_5min: Some(8000),
            threshold_15min: None,
        };
        let mut short = Shortfall { tolerance: 100 };
        let (mut first_load_kill, mut first_short_kill) = (None, None);
        for step in 0..120u64 {
            let cs: &[QosContainer] = if step < 30 { &calm } else { &busy };
            load.advance(runnable(cs), 4);
            let input = QosInput {
                capacity: 8000,
                containers: cs,
                load5: load.load5(),
                load15: load.load15(),
            };
            if first_load_kill.is_none() && !ctl.corrections(&input).is_empty() {
                first_load_kill = Some(step);
            }
            let k = short.corrections(&input);
            if first_short_kill.is_none() && !k.is_empty() {
                first_short_kill = Some((step, k));
            }
        }
        // Calm: after 120 samples load5 = 6 (1 − r^120) = 5.20 with r = 2014/2048.
        // Busy from step 30: load5 = 10 − 4.80 r^n passes 8 once r^n < 0.416, i.e.
        // n ≥ 53 samples; step 30 + j has applied 4 (j + 1) of them, so j = 13 (one
        // step earlier at most from the kernel's rounding up). Then it kills both.
        let s = first_load_kill.expect("load passes 8");
        assert!((42..=43).contains(&s), "first load kill at step {s}");
        // The shortfall controller reacts at the first busy correction, with one kill:
        // without one revocable container the service gets 6 of 8.
        let (s, k) = first_short_kill.expect("CPU is stolen");
        assert_eq!(s, 30);
        assert_eq!(k.len(), 1);
    }

    #[test]
    fn names_resolve() {
        for n in super::super::QOS_NAMES {
            assert!(by_name(n, Some(1), None, 0).is_some());
        }
        assert!(by_name("magic", None, None, 0).is_none());
    }
}
