//! Criterion benchmarks of the event engine: the hold model at 1k, 100k and 1M pending events, with the `BinaryHeap` baseline alongside.
//!
//! `cargo bench -p benches --bench engine` runs criterion (small samples; each sample
//! dispatches a batch on an engine filled and warmed up once per size).
//! `cargo bench -p benches --bench engine -- --suite` instead runs the full
//! `benches::engine` suite (best of 3, ratios to the baseline) and prints its table;
//! `-- --suite --quick` is the CI smoke version.

use std::time::Duration;

use benches::engine::{self, BaselineHeap, EngineBenchOptions, HoldSim, HoldVariant};
use criterion::{BenchmarkId, Criterion, Throughput};

/// Events dispatched per criterion iteration.
const BATCH: u64 = 20_000;

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/hold");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(BATCH));
    for pending in [1_000u64, 100_000, 1_000_000] {
        let warm = pending.min(1_000_000);
        let mut sim = HoldSim::new(pending, HoldVariant::Plain);
        sim.run_events(warm);
        group.bench_function(BenchmarkId::new("engine", pending), |b| {
            b.iter(|| sim.run_events(BATCH))
        });
        drop(sim);
        let mut sim = HoldSim::new(pending, HoldVariant::CancelHalf);
        sim.run_events(warm);
        group.bench_function(BenchmarkId::new("engine-cancel-half", pending), |b| {
            b.iter(|| sim.run_events(BATCH))
        });
        drop(sim);
        let mut base = BaselineHeap::new(pending);
        base.run_events(warm);
        group.bench_function(BenchmarkId::new("binary-heap-baseline", pending), |b| {
            b.iter(|| base.run_events(BATCH))
        });
    }
    group.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--suite") {
        let quick = args.iter().any(|a| a == "--quick");
        let records = engine::run(&EngineBenchOptions { quick });
        print!("{}", engine::render_table(&records));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    hold(&mut c);
    c.final_summary();
}
