//! Criterion benchmarks of trace parsing; first prints the `mesosim bench` table
//! (MB/s of Google 2011 task_events against the csv crate baseline).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::io::Cursor;
use std::sync::Arc;

use benches::traces::{render_table, run, TracesBenchOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use traces::{ReadOptions, Table, TraceReader};

const SLICE: &[u8] = include_bytes!(
    "../../traces/testdata/google2011/task_events/part-00000-of-00500.rows277322-287321.csv"
);

/// Typed parse and the csv baseline on the 1.1 MB slice.
fn parse(c: &mut Criterion) {
    let data: Arc<[u8]> = SLICE.into();
    let mut g = c.benchmark_group("traces");
    g.throughput(Throughput::Bytes(SLICE.len() as u64));
    g.bench_function("google2011_task_events_typed", |b| {
        b.iter(|| {
            let r = TraceReader::from_reader(
                Table::Google2011TaskEvents,
                "bench",
                Box::new(Cursor::new(data.clone())),
                &ReadOptions::default(),
            )
            .expect("opens");
            let mut n = 0;
            for rec in r {
                rec.expect("parses");
                n += 1;
            }
            n
        })
    });
    g.bench_function("csv_byte_record_baseline", |b| {
        b.iter(|| {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(SLICE);
            let mut rec = csv::ByteRecord::new();
            let mut n = 0;
            while rdr.read_byte_record(&mut rec).expect("reads") {
                n += rec.len();
            }
            n
        })
    });
    g.finish();
}

/// Prints the `mesosim bench` table (quick with `MESOSIM_BENCH_QUICK` set).
fn table(_: &mut Criterion) {
    let quick = std::env::var_os("MESOSIM_BENCH_QUICK").is_some();
    print!("{}", render_table(&run(&TracesBenchOptions { quick })));
}

criterion_group!(benches, table, parse);
criterion_main!(benches);
