//! `mesosim sweep` (a grid of settings × policies × seeds, whole or one shard) and
//! `mesosim merge` (shards back into the whole sweep's files).

use std::path::{Path, PathBuf};

use analysis::output::{write_atomic, write_json_atomic};
use clap::Args;
use scenarios::sweep::{merge as merge_shards, Shard, Sweep, SweepResult};

use crate::CmdResult;

/// `mesosim sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// Sweep file (TOML): the scenario, fixed `set` overrides, policies, seeds per point
    /// and `[[axis]]` tables of `key` and `values`.
    pub sweep: PathBuf,
    /// Worker threads (0 = one per core). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Run only shard INDEX/COUNT (from 0): the runs numbered INDEX modulo COUNT.
    #[arg(long, value_name = "INDEX/COUNT", value_parser = Shard::parse, conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Cut into COUNT shards and take this process's index from SLURM_ARRAY_TASK_ID
    /// (less SLURM_ARRAY_TASK_MIN) or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "COUNT")]
    pub shards: Option<u64>,
    /// Output directory [default: out/<sweep>, or out/<sweep>.shard-I-of-N for a shard].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mesosim merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The shards' output directories (each holding the sweep.json `sweep --shard` wrote).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Output directory [default: out/<sweep>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mesosim sweep`.
pub fn sweep(args: SweepArgs) -> CmdResult {
    let shard = match (args.shard, args.shards) {
        (Some(shard), _) => Some(shard),
        (None, Some(count)) => Some(Shard::from_env(count, |name| std::env::var(name).ok())?),
        (None, None) => None,
    };
    let sweep = Sweep::load(&args.sweep)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = match shard {
            Some(s) => format!("{}.shard-{}-of-{}", sweep.name, s.index, s.count),
            None => sweep.name.clone(),
        };
        PathBuf::from("out").join(name)
    });
    eprintln!(
        "sweep {}: {} points x {} policies x {} seeds = {} runs{}",
        sweep.name,
        sweep.total_runs() / (sweep.policies.len() as u64 * sweep.seeds),
        sweep.policies.len(),
        sweep.seeds,
        sweep.total_runs(),
        shard
            .map(|s| format!(", shard {s} runs every {}th from {}", s.count, s.index))
            .unwrap_or_default()
    );
    let result = sweep.run(shard, args.threads)?;
    write_result(&out, &result)?;
    println!(
        "{} runs done{}; outputs: {}",
        result.runs.len(),
        if shard.is_some() {
            " (merge the shards with `mesosim merge`)"
        } else {
            ""
        },
        out.display()
    );
    Ok(())
}

/// `mesosim merge`.
pub fn merge(args: MergeArgs) -> CmdResult {
    let mut shards = Vec::new();
    for dir in &args.shards {
        let file = dir.join("sweep.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
        let result: SweepResult = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: not a sweep result: {e}",
                file.display(),
                e.line(),
                e.column()
            )
        })?;
        shards.push((dir.display().to_string(), result));
    }
    let merged = merge_shards(shards)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&merged.sweep));
    write_result(&out, &merged)?;
    println!(
        "merged {} shards: {} runs, {} point x policy aggregates; outputs: {}",
        args.shards.len(),
        merged.runs.len(),
        merged.points.len(),
        out.display()
    );
    Ok(())
}

/// `runs.csv` and, for a whole sweep, `points.csv`, then `sweep.json` last: its presence
/// means the directory is complete.
fn write_result(out: &Path, result: &SweepResult) -> CmdResult {
    write_atomic(&out.join("runs.csv"), result.runs_csv().as_bytes())?;
    if result.shard.is_none() {
        write_atomic(&out.join("points.csv"), result.points_csv().as_bytes())?;
    }
    write_json_atomic(&out.join("sweep.json"), result)?;
    Ok(())
}
