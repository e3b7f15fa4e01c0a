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
