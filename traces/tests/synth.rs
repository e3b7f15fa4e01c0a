//! The synthetic Google-2011-shaped workload: deterministic, time-ordered, and
//! with the volume and shape it claims.

use std::collections::BTreeMap;

use traces::*;

#[test]
fn deterministic_for_a_seed() {
    let a: Vec<_> = synth(40, 1, 11).take(20_000).collect();
    let b: Vec<_> = synth(40, 1, 11).take(20_000).collect();
    let c: Vec<_> = synth(40, 1, 12).take(20_000).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn shape_and_volume() {
    // 2,500 machines for 2 days; scaled to 12,500 machines and 30 days this should
    // be about 25 M tasks.
    let mut submits = 0u64;
    let mut first_submits = BTreeMap::<u64, u64>::new(); // job -> tasks (first attempts)
    let mut bands = BTreeMap::new();
    let mut prev = Nanos::ZERO;
    let mut machines = 0;
    let mut snapshot_tasks = 0;
    let mut ends = BTreeMap::new();
    for rec in synth(2500, 2, 42) {
        assert!(rec.time() >= prev, "time-ordered");
        prev = rec.time();
        assert!(prev < Nanos::from_secs(2 * 86_400));
        match rec {
            WorkloadRecord::Machine(m) if m.snapshot => machines += 1,
            WorkloadRecord::Task(t) if t.kind == LifecycleEvent::Submit => {
                if t.snapshot {
                    snapshot_tasks += 1;
                    continue;
                }
                submits += 1;
                let n = first_submits.entry(t.task.job.0).or_insert(0);
                *n = (*n).max(t.task.index + 1);
                if let Some(p) = t.priority {
                    *bands.entry(format!("{:?}", p.band)).or_insert(0u64) += 1;
                }
                assert!(matches!(t.request.cpus, Some(Amount::Normalized(_))));
            }
            WorkloadRecord::Task(t) if t.kind.is_terminal() => {
                *ends.entry(t.kind.name()).or_insert(0u64) += 1;
            }
            _ => {}
        }
    }
    assert_eq!(machines, 2500);
    assert_eq!(snapshot_tasks, 2500 * 11);
    let per_month = submits as f64 * 5.0 * 15.0;
    assert!(
        (18e6..34e6).contains(&per_month),
        "{per_month:.3e} task submissions per month at 12,500 machines"
    );
    let jobs = first_submits.len() as f64;
    let single = first_submits.values().filter(|&&n| n == 1).count() as f64 / jobs;
    assert!((0.70..0.82).contains(&single), "single-task jobs {single}");
    assert!(bands.contains_key("Free") && bands.contains_key("Production"));
    let finish = ends["finish"] as f64;
    let kill = ends["kill"] as f64;
    assert!(
        (3.0..5.5).contains(&(finish / kill)),
        "finish/kill {}",
        finish / kill
    );
}

/// Per day of a synthetic cell: (job arrivals in the day, requested CPU of the tasks
/// alive at its end in normalised machines, tasks alive at its end).
fn daily(machines: u32, days: u32, seed: u64) -> Vec<(u64, f64, u64)> {
    const DAY: u64 = 86_400_000_000_000;
    let mut alive = BTreeMap::<(u64, u64), u64>::new(); // task -> CPU (1e-9 units)
    let mut out = Vec::new();
    let mut arrivals = 0;
    let mut day_end = DAY;
    let close = |out: &mut Vec<_>, alive: &BTreeMap<(u64, u64), u64>, arrivals: &mut u64| {
        let cpu = alive.values().sum::<u64>() as f64 / 1e9;
        out.push((std::mem::take(arrivals), cpu, alive.len() as u64));
    };
    for rec in synth(machines, days, seed) {
        while rec.time().0 >= day_end {
            close(&mut out, &alive, &mut arrivals);
            day_end += DAY;
        }
        match rec {
            WorkloadRecord::Job(j) if j.kind == LifecycleEvent::Submit && !j.snapshot => {
                arrivals += 1
            }
            WorkloadRecord::Task(t) if t.kind == LifecycleEvent::Schedule => {
                let Some(Amount::Normalized(cpu)) = t.request.cpus else {
                    panic!("normalised CPU request")
                };
                alive.insert((t.task.job.0, t.task.index), cpu.0);
            }
            WorkloadRecord::Task(t) if t.kind.is_terminal() => {
                alive.remove(&(t.task.job.0, t.task.index));
            }
            _ => {}
        }
    }
    while out.len() < days as usize {
        close(&mut out, &alive, &mut arrivals);
    }
    out
}

/// Requested CPU (in normalised machines) per machine that the documented parameters
/// of the generator predict for a cell in steady state, by Little's law (alive = arrival
/// rate × mean lifetime), computed here by hand rather than by the generator's code:
/// - jobs arrive at 0.268 / 12,500 per machine-second: 1.8524 per machine-day;
/// - production (priorities 9–11) is 162 of the 1,106 weight: 14.65 % of jobs; half
///   of those arriving are services;
/// - tasks per job: 1 with probability 0.76, else a bounded Pareto (α = 0.4 on
///   [2, 5,000]), whose mean is (2^α / (1 − (2/5000)^α)) · (α / (1 − α)) ·
///   (5000^(1−α) − 2^(1−α)) = 151.1, about 150.6 once floored: 36.9 on average;
/// - CPU request log-normal with median 0.025 and σ = 0.6: mean 0.025 · e^0.18 = 0.02993;
/// - service lifetime log-normal (median 1 day, σ = 1) capped at 7 days:
///   E[min(L, 7)] = e^0.5 · Φ(ln 7 − 1) + 7 · (1 − Φ(ln 7)) = 1.365 + 0.181 = 1.546 days;
/// - snapshot: 11 tasks per machine, 14.65 % of them services that never end;
/// - batch: the other 92.7 % of arriving tasks run log-normal(345 s, σ = 1.06), mean
///   345 · e^0.5618 = 605 s.
fn expected_steady_cpu_per_machine() -> f64 {
    let jobs_per_day = 0.268 / 12_500.0 * 86_400.0;
    let production = 162.0 / 1106.0;
    let tasks_per_job = 0.76 + 0.24 * 150.6;
    let cpu = 0.02993;
    let services = jobs_per_day * production * 0.5 * tasks_per_job * 1.546;
    let snapshot_services = 11.0 * production;
    let batch = jobs_per_day * (1.0 - production * 0.5) * tasks_per_job * 605.0 / 86_400.0;
    (services + snapshot_services + batch) * cpu
}

#[test]
fn the_cell_is_stationary_over_weeks() {
    // Before services arriving during the trace ended, each day added about half of
    // this steady level (0.15 normalised CPU per machine), for good: by day 12 the
    // cell asked for six times it.
    let machines = 1500;
    let days = daily(machines, 12, 5);
    let level = expected_steady_cpu_per_machine() * f64::from(machines);
    let arrivals = 0.268 / 12_500.0 * 86_400.0 * f64::from(machines);
    for (day, &(jobs, cpu, _)) in days.iter().enumerate() {
        let jobs = jobs as f64;
        // Poisson: one standard deviation is 1.9 % of a day's 2,779 arrivals.
        assert!(
            (0.9 * arrivals..1.1 * arrivals).contains(&jobs),
            "day {}: {jobs} job arrivals, expected about {arrivals:.0}",
            day + 1
        );
        // Job sizes are heavy-tailed (one 5,000-task service asks for a fifth of
        // this cell, and its tasks end together), so a day strays far from the mean.
        // Day 1 starts from the snapshot's few lasting services.
        let low = if day == 0 { 0.1 } else { 0.2 };
        assert!(
            (low * level..2.5 * level).contains(&cpu),
            "day {}: {cpu:.1} CPU requested by alive tasks, expected about {level:.1}",
            day + 1
        );
    }
    // From day 2 on: on average at the predicted level, and no trend.
    let points: Vec<(f64, f64)> = days
        .iter()
        .enumerate()
        .skip(1)
        .map(|(d, &(_, cpu, _))| (d as f64, cpu))
        .collect();
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    assert!(
        (0.5 * level..1.5 * level).contains(&my),
        "mean requested CPU {my:.1}, expected about {level:.1}: {days:?}"
    );
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let slope = sxy / sxx;
    assert!(
        slope.abs() < 0.15 * level,
        "requested CPU changes by {slope:.1} a day (steady level {level:.1}): {days:?}"
    );
}
