//! No panic, whatever the bytes: every table reader (strict and lenient) and the
//! compact reader are fed random and mutated bytes from a seeded RNG. The
//! cargo-fuzz targets in traces/fuzz explore further; this runs in CI.

mod common;

use std::io::{Cursor, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use traces::compact::{CompactMetadata, CompactReader, CompactWriter};
use traces::*;

/// Real and synthetic seeds to mutate, per table.
fn seeds() -> Vec<(Table, Vec<u8>)> {
    let head = |rel: &str, lines: usize| -> Vec<u8> {
        let p = common::data(rel);
        let bytes = std::fs::read(&p).expect("read");
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                &mut out,
            )
            .expect("gunzip");
            out
        } else {
            bytes
        };
        bytes
            .split_inclusive(|&b| b == b'\n')
            .take(lines)
            .flatten()
            .copied()
            .collect()
    };
    use Table::*;
    vec![
        (Google2011TaskEvents, head("google2011/task_events/part-00000-of-00500.rows277322-287321.csv", 40)),
        (Google2011JobEvents, head("google2011/job_events/part-00000-of-00500.csv.gz", 40)),
        (Google2011MachineEvents, head("google2011/machine_events/part-00000-of-00001.head15000.csv", 40)),
        (Google2011MachineAttributes, head("google2011/machine_attributes/part-00000-of-00001.synthetic.csv", 40)),
        (Google2011TaskConstraints, head("google2011/task_constraints/part-00000-of-00500.synthetic.csv", 40)),
        (Google2011TaskUsage, head("google2011/task_usage/part-00000-of-00500.synthetic.csv", 40)),
        (Google2019MachineEvents, head("google2019/machine_events-000000000000.cell-a.lines1-1000+27778-28277+45719-45968.json", 20)),
        (Google2019MachineAttributes, br#"{"time":"0","machine_id":"5","name":"abc","value":"12","deleted":false}
"#.to_vec()),
        (Google2019CollectionEvents, head("google2019/collection_events-000000000000.synthetic.json", 20)),
        (Google2019InstanceEvents, head("google2019/instance_events-000000000000.synthetic.json", 20)),
        (Google2019InstanceUsage, head("google2019/instance_usage-000000000000.synthetic.json", 20)),
        (Alibaba2018MachineMeta, head("alibaba2018/machine_meta.rows1-8821.csv", 40)),
        (Alibaba2018MachineUsage, head("alibaba2018/machine_usage.rows1-6000.csv", 40)),
        (Alibaba2018BatchTask, head("alibaba2018/batch_task.synthetic.csv", 40)),
        (Alibaba2018BatchInstance, head("alibaba2018/batch_instance.synthetic.csv", 40)),
        (Alibaba2018ContainerMeta, head("alibaba2018/container_meta.synthetic.csv", 40)),
        (Alibaba2018ContainerUsage, head("alibaba2018/container_usage.synthetic.csv", 40)),
        (SwfJobs, head("swf/NASA-iPSC-1993-3.1-cln.swf.gz", 60)),
    ]
}

/// Characters that matter to the parsers, to splice in.
const SPICE: &[&[u8]] = &[
    b",",
    b"\n",
    b"\r\n",
    b";",
    b" ",
    b"\t",
    b"-",
    b"+",
    b".",
    b"e",
    b"E",
    b"e-999",
    b"9999999999999999999999",
    b"-1",
    b"0",
    b"101",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"\xff\xfe",
    b"m_",
    b"j_",
    b"ins_",
    b"9223372036854775807",
    b"18446744073709551616",
    b"1e308",
    b"NaN",
];

fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    let edits = rng.random_range(1..12);
    for _ in 0..edits {
        let at = if v.is_empty() {
            0
        } else {
            rng.random_range(0..=v.len())
        };
        match rng.random_range(0..6) {
            0 if at < v.len() => v[at] = rng.random(),
            1 if at < v.len() => {
                let end = (at + rng.random_range(1..20)).min(v.len());
                v.drain(at..end);
            }
            2 => {
                let s = SPICE[rng.random_range(0..SPICE.len())];
                v.splice(at..at, s.iter().copied());
            }
            3 if at < v.len() => {
                let end = (at + rng.random_range(1..40)).min(v.len());
                let chunk: Vec<u8> = v[at..end].to_vec();
                v.splice(at..at, chunk);
            }
            4 => v.truncate(at),
            _ => v.insert(at.min(v.len()), rng.random()),
        }
    }
    v
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn drain(table: Table, bytes: Vec<u8>, lenient: bool) -> usize {
    let options = ReadOptions {
        table: None,
        lenient,
    };
    match TraceReader::from_reader(table, "fuzz", Box::new(Cursor::new(bytes)), &options) {
        Ok(r) => r.take(100_000).count(),
        Err(_) => 0,
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x7ace5);
    let seeds = seeds();
    for (table, seed) in &seeds {
        for round in 0..300 {
            let bytes = match round % 10 {
                0 => (0..rng.random_range(0..400))
                    .map(|_| rng.random())
                    .collect(),
                1 => gzip(&mutate(&mut rng, seed)),
                2 => {
                    let mut g = gzip(seed);
                    let cut = rng.random_range(0..g.len());
                    g.truncate(cut);
                    g
                }
                _ => mutate(&mut rng, seed),
            };
            drain(*table, bytes.clone(), false);
            drain(*table, bytes, true);
        }
    }
}

#[test]
fn mutated_compact_files_never_panic() {
    let (recs, _) = common::read_all(
        TraceFormat::Google2011,
        &[
            common::data("google2011/task_usage"),
            common::data("google2011/task_constraints"),
            common::data("google2011/machine_attributes"),
        ],
    );
    let (more, _) = common::read_all(
        TraceFormat::Alibaba2018,
        &[common::data("alibaba2018/batch_task.synthetic.csv")],
    );
    let mut w = CompactWriter::new(Vec::new(), &CompactMetadata::default()).expect("writer");
    for r in recs
        .iter()
        .chain(&more)
        .chain(synth(20, 1, 3).take(300).collect::<Vec<_>>().iter())
    {
        w.write(r).expect("write");
    }
    let good = w.finish().expect("finish");
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0ffee);
    for _ in 0..3000 {
        let bytes = mutate(&mut rng, &good);
        if let Ok(r) = CompactReader::new(&bytes[..]) {
            let _ = r.take(100_000).count();
        }
        let _ = drain(Table::CompactRecords, bytes, false);
    }
}
