//! Time order for traces whose files are not in time order (Google 2019 shards are
//! ordered by event type, Alibaba tables by machine): an external merge sort that
//! keeps at most one run of records in memory, spills sorted runs to temporary
//! compact files, and merges them. Ties keep input order, so the result is the
//! same whatever the run size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::compact::{CompactMetadata, CompactReader, CompactWriter};
use crate::{Nanos, Ordering, TraceError, TraceReader, WorkloadRecord};

/// How to sort.
#[derive(Clone, Debug)]
pub struct SortOptions {
    /// Records held in memory per run (about 100 bytes each in memory).
    pub run_records: usize,
    /// Where spilled runs go (the system's temporary directory by default). They are
    /// deleted when the sorted stream is dropped, also after an error.
    pub spill_dir: Option<PathBuf>,
}

impl Default for SortOptions {
    /// Two million records per run: about 200 MB of memory.
    fn default() -> Self {
        SortOptions {
            run_records: 2_000_000,
            spill_dir: None,
        }
    }
}

/// Records in non-decreasing time order, ties in input order.
pub struct TimeSorted {
    source: Source,
    /// Records read from the input.
    pub records: u64,
    /// Runs spilled to disk (0 when everything fitted in one run).
    pub spilled_runs: usize,
}

enum Source {
    Memory(std::vec::IntoIter<WorkloadRecord>),
    Merge {
        runs: Vec<Run>,
        /// (time, run index) of each run's head: ties go to the earlier run, which
        /// holds the earlier input records.
        heads: BinaryHeap<Reverse<(Nanos, usize)>>,
        failed: bool,
    },
}

struct Run {
    // Kept so the spill file is deleted when the run is dropped.
    _file: tempfile::NamedTempFile,
    reader: CompactReader<BufReader<File>>,
    head: Option<WorkloadRecord>,
}

fn spill_error(path: &Path, e: std::io::Error) -> TraceError {
    TraceError::BadFile {
        path: path.to_path_buf(),
        message: format!("cannot spill sorted records: {e}"),
    }
}

fn spill(run: &[WorkloadRecord], dir: &Path) -> Result<Run, TraceError> {
    let mut file = tempfile::Builder::new()
        .prefix("mesosim-sort-")
        .suffix(".compact")
        .tempfile_in(dir)
        .map_err(|e| spill_error(dir, e))?;
    let path = file.path().to_path_buf();
    let metadata = CompactMetadata {
        ordering: Ordering::Time,
        ..CompactMetadata::default()
    };
    let mut w = CompactWriter::new(BufWriter::new(file.as_file_mut()), &metadata)
        .map_err(|e| spill_error(&path, e))?;
    for rec in run {
        w.write(rec).map_err(|e| spill_error(&path, e))?;
    }
    w.finish()
        .and_then(|out| out.into_inner().map_err(|e| e.into_error()))
        .map_err(|e| spill_error(&path, e))?;
    let reopened = File::open(&path).map_err(|e| spill_error(&path, e))?;
    let mut reader = CompactReader::named(BufReader::new(reopened), &path.display().to_string())?;
    let head = reader.next().transpose()?;
    Ok(Run {
        _file: file,
        reader,
        head,
    })
}

/// The records of `reader` in an order a replay can follow: as read when its tables
/// are in time order (or in row-start order, which a replayer absorbs), else sorted.
pub fn time_ordered(
    reader: TraceReader,
    options: &SortOptions,
) -> Result<Box<dyn Iterator<Item = Result<WorkloadRecord, TraceError>> + Send>, TraceError> {
    Ok(match reader.metadata().ordering {
        Ordering::Time | Ordering::RowStart => Box::new(reader),
        Ordering::File => Box::new(sort_by_time(reader, options)?),
    })
}

/// Reads all of `input` and returns it in time order. The first error of the input
/// (or of writing a spill file) is returned and nothing is yielded.
pub fn sort_by_time(
    input: impl Iterator<Item = Result<WorkloadRecord, TraceError>>,
    options: &SortOptions,
) -> Result<TimeSorted, TraceError> {
    let run_records = options.run_records.max(1);
    let dir = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut records = 0u64;
    let mut buffer: Vec<WorkloadRecord> = Vec::new();
    let mut runs = Vec::new();
    for rec in input {
        buffer.push(rec?);
        records += 1;
        if buffer.len() == run_records {
            buffer.sort_by_key(WorkloadRecord::time); // stable: ties keep input order
            runs.push(spill(&buffer, &dir)?);
            buffer.clear();
        }
    }
    buffer.sort_by_key(WorkloadRecord::time);
    if runs.is_empty() {
        return Ok(TimeSorted {
            source: Source::Memory(buffer.into_iter()),
            records,
            spilled_runs: 0,
        });
    }
    if !buffer.is_empty() {
        runs.push(spill(&buffer, &dir)?);
    }
    let heads = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.head.as_ref().map(|h| Reverse((h.time(), i))))
        .collect();
    Ok(TimeSorted {
        spilled_runs: runs.len(),
        source: Source::Merge {
            runs,
            heads,
            failed: false,
        },
        records,
    })
}

impl Iterator for TimeSorted {
    type Item = Result<WorkloadRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Source::Memory(records) => records.next().map(Ok),
            Source::Merge {
                runs,
                heads,
                failed,
            } => {
                if *failed {
                    return None;
                }
                let Reverse((_, i)) = heads.pop()?;
                let run = &mut runs[i];
                let rec = run.head.take()?;
                match run.reader.next() {
                    Some(Ok(next)) => {
                        heads.push(Reverse((next.time(), i)));
                        run.head = Some(next);
                    }
                    Some(Err(e)) => {
                        *failed = true;
                        return Some(Err(e));
                    }
                    None => {}
                }
                Some(Ok(rec))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    /// The synthetic workload comes out in time order; shuffling it by a fixed
    /// permutation and sorting must give back a time-ordered stream holding the same
    /// records, whatever the run size, and equal records keep their input order.
    #[test]
    fn sorting_restores_time_order_at_any_run_size() {
        let original: Vec<WorkloadRecord> = synth(50, 1, 7).take(5_000).collect();
        assert_eq!(original.len(), 5_000);
        // Reverse blocks of 97 records: out of order, deterministic.
        let mut shuffled = Vec::new();
        for chunk in original.chunks(97).rev() {
            shuffled.extend(chunk.iter().rev().cloned());
        }
        let mut expected = shuffled.clone();
        expected.sort_by_key(WorkloadRecord::time);
        let dir = tempfile::tempdir().expect("tempdir");
        for run_records in [64, 1_000, 10_000] {
            let options = SortOptions {
                run_records,
                spill_dir: Some(dir.path().to_path_buf()),
            };
            let sorted = sort_by_time(shuffled.iter().cloned().map(Ok), &options).expect("sort");
            assert_eq!(sorted.records, 5_000);
            let spilled = sorted.spilled_runs;
            assert_eq!(spilled == 0, run_records >= 5_000, "run size {run_records}");
            let got: Vec<WorkloadRecord> = sorted.map(|r| r.expect("record")).collect();
            assert_eq!(got, expected, "run size {run_records}");
        }
        // Every spill file is gone once the streams are dropped.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    /// An input error is returned, not a partial stream.
    #[test]
    fn an_input_error_is_returned() {
        let input = vec![
            Ok(synth(2, 1, 1).next().expect("a record")),
            Err(TraceError::BadFile {
                path: PathBuf::from("x.json"),
                message: "truncated".to_string(),
            }),
        ];
        let err = sort_by_time(input.into_iter(), &SortOptions::default())
            .err()
            .expect("an error");
        assert!(err.to_string().contains("x.json"), "{err}");
    }
}
