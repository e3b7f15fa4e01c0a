//! Criterion benchmark of one `hdrf` allocation cycle at 2,000 agents × 200 frameworks (Mesos's DeclineOffers setting).
//!
//! `cargo bench -p benches --bench allocator` runs criterion: each iteration declines
//! the previous round's offers with a long filter (untimed) and times one cycle; the
//! state is rebuilt (untimed) every 10 rounds, so the figures cover rounds 0–9 as in
//! Mesos's commit messages.
//! `cargo bench -p benches --bench allocator -- --suite` instead runs the full
//! `benches::allocator` suite (all four scales, 10 rounds each) and prints its table;
//! `-- --suite --quick` is the CI smoke version.

use std::time::Duration;

use benches::allocator::{self, AllocatorBenchOptions, DeclineOffers, ROUNDS};
use criterion::{BenchmarkId, Criterion};

fn cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocator/decline-offers");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let (agents, frameworks) = (2_000u64, 200u64);
    group.bench_function(
        BenchmarkId::new("hdrf", format!("{agents}x{frameworks}")),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut bench = DeclineOffers::new(agents, frameworks);
                let mut rounds = 0;
                for _ in 0..iters {
                    if rounds == ROUNDS {
                        bench = DeclineOffers::new(agents, frameworks);
                        rounds = 0;
                    }
                    total += bench.round().0;
                    rounds += 1;
                }
                total
            })
        },
    );
    group.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--suite") {
        let quick = args.iter().any(|a| a == "--quick");
        let records = allocator::run(&AllocatorBenchOptions { quick });
        print!("{}", allocator::render_table(&records));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    cycle(&mut c);
    c.final_summary();
}
