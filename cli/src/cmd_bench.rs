//! `mesosim bench`: runs the benchmark suite of the `benches` crate and prints its
//! figures, each with a baseline measured in the same run where one exists.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use analysis::output::write_json_atomic;
use benches::gate;
use clap::{Args, ValueEnum};

use crate::cmd_run::progress_line;
use crate::output::peak_rss_bytes;
use crate::CmdResult;

/// Which benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Target {
    /// The event engine under the hold model (1k, 100k, 1M pending events).
    Engine,
    /// One full allocation cycle of the hdrf allocator at Mesos's benchmark scales.
    Allocator,
    /// Parsing Google 2011 task_events (MB/s per core) against the csv crate.
    Traces,
    /// Replaying the synthetic workload of `--machines` machines over `--days` days.
    Replay,
    /// The resource usage model at 10,000 agents × 20 tasks (simulated s per wall s).
    Usage,
    /// Fair-share updates/s with 10,000 flows on 1,000 agents, incremental vs full.
    Network,
}

/// `mesosim bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, required_unless_present = "suite")]
    target: Option<Target>,
    /// Run a named suite instead: `ci` runs every target with small sizes.
    #[arg(long, value_parser = ["ci"], conflicts_with = "target")]
    suite: Option<String>,
    /// Fewer repetitions and smaller sizes (what the `ci` suite uses).
    #[arg(long)]
    quick: bool,
    /// Also write the figures as JSON to this file (a suite adds its `gates`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// With `--suite`: compare the run's machine-independent ratios with the `gates`
    /// of an earlier `--json` file of the same suite and exit 1 if any is worse by
    /// more than `--max-regression`.
    #[arg(long, value_name = "FILE", requires = "suite")]
    baseline: Option<PathBuf>,
    /// With `--baseline`: the slowdown each ratio may show before the run fails, as
    /// a fraction (0.25: 25%).
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.25,
        requires = "baseline"
    )]
    max_regression: f64,
    /// `replay`: machines of the synthetic cell.
    #[arg(long, default_value_t = 12_500)]
    machines: u32,
    /// `replay`: days of workload.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// `replay`: seed of the workload and the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `mesosim bench`.
pub fn run(args: BenchArgs) -> CmdResult {
    let quick = args.quick || args.suite.is_some();
    let targets: Vec<Target> = match args.target {
        Some(t) => vec![t],
        None => vec![
            Target::Engine,
            Target::Allocator,
            Target::Traces,
            Target::Replay,
            Target::Usage,
            Target::Network,
        ],
    };
    if args.machines == 0 || args.days == 0 {
        return Err("--machines and --days must be at least 1".into());
    }
    if !(args.max_regression.is_finite() && args.max_regression >= 0.0) {
        return Err(format!(
            "--max-regression must be a fraction of at least 0, found {}",
            args.max_regression
        )
        .into());
    }
    // Read before measuring: a bad baseline should not cost a whole suite.
    let baseline = args.baseline.as_deref().map(read_gates).transpose()?;
    let mut json = serde_json::Map::new();
    let mut gates = Vec::new();
    for target in &targets {
        let value = match target {
            Target::Engine => {
                let records = benches::engine::run(&benches::engine::EngineBenchOptions { quick });
                print!("{}", benches::engine::render_table(&records));
                gates.extend(gate::engine_figures(&records));
                serde_json::to_value(&records)?
            }
            Target::Allocator => {
                let records =
                    benches::allocator::run(&benches::allocator::AllocatorBenchOptions { quick });
                print!("{}", benches::allocator::render_table(&records));
                serde_json::to_value(&records)?
            }
            Target::Traces => {
                let records = benches::traces::run(&benches::traces::TracesBenchOptions { quick });
                print!("{}", benches::traces::render_table(&records));
                gates.extend(gate::traces_figures(&records));
                serde_json::to_value(&records)?
            }
            Target::Replay => {
                // The ci suite replays two hours of a small cell; the figures that
                // matter come from an explicit `bench replay --machines 12500 --days D`.
                let smoke = args.suite.is_some();
                let options = benches::replay::ReplayBenchOptions {
                    machines: if smoke { 200 } else { args.machines },
                    days: args.days,
                    seed: args.seed,
                    cut_after: smoke.then(|| sim_core::time::SimDuration::from_secs(2 * 3600)),
                };
                let mut record = benches::replay::run(
                    &options,
                    &mut progress_line(None, std::io::stderr().is_terminal()),
                )?;
                record.peak_rss_bytes = peak_rss_bytes();
                if std::io::stderr().is_terminal() {
                    eprintln!();
                }
                print!("{}", benches::replay::render_table(&record));
                serde_json::to_value(&record)?
            }
            Target::Usage => {
                let records = benches::usage::run(&benches::usage::UsageBenchOptions { quick });
                print!("{}", benches::usage::render_table(&records));
                gates.extend(gate::usage_figures(&records));
                serde_json::to_value(&records)?
            }
            Target::Network => {
                let records =
                    benches::network::run(&benches::network::NetworkBenchOptions { quick });
                print!("{}", benches::network::render_table(&records));
                gates.extend(gate::network_figures(&records));
                serde_json::to_value(&records)?
            }
        };
        println!();
        json.insert(format!("{target:?}").to_lowercase(), value);
    }
    if let Some(path) = &args.json {
        // One target writes its array as is; a suite writes an object keyed by
        // target, with the figures a later run can be gated on.
        let value = if args.suite.is_none() {
            json.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        } else {
            json.insert("gates".to_string(), serde_json::to_value(&gates)?);
            serde_json::Value::Object(json)
        };
        write_json_atomic(path, &value)?;
    }
    if let (Some(base), Some(path)) = (baseline, &args.baseline) {
        let rows = gate::compare(&base, &gates, args.max_regression);
        println!("against {}:", path.display());
        print!("{}", gate::render_table(&rows));
        let regressed = rows
            .iter()
            .filter(|r| r.verdict == gate::Verdict::Regressed)
            .count();
        if regressed > 0 {
            return Err(Box::new(Regressed {
                figures: regressed,
                max_regression: args.max_regression,
                baseline: path.clone(),
            }));
        }
    }
    Ok(())
}

/// A gated figure got slower than `--baseline` allows: `main` exits 1 for it (2 is
/// for errors), so CI can tell a regression from a broken invocation.
#[derive(Debug)]
pub struct Regressed {
    figures: usize,
    max_regression: f64,
    baseline: PathBuf,
}

impl std::fmt::Display for Regressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} figure(s) worse than in {} by more than {}%",
            self.figures,
            self.baseline.display(),
            self.max_regression * 100.0
        )
    }
}

impl std::error::Error for Regressed {}

/// The `gates` of an earlier `bench --suite --json` file.
fn read_gates(path: &Path) -> Result<Vec<gate::GateFigure>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    let gates = value.get("gates").ok_or_else(|| {
        format!("{name}: no `gates` list; write one with `mesosim bench --suite ci --json FILE`")
    })?;
    let figures: Vec<gate::GateFigure> =
        serde_json::from_value(gates.clone()).map_err(|e| format!("{name}: `gates`: {e}"))?;
    if let Some(bad) = figures
        .iter()
        .find(|g| !(g.value.is_finite() && g.value > 0.0))
    {
        return Err(format!(
            "{name}: `gates`: figure `{}` has value {}, expected a positive ratio",
            bad.name, bad.value
        ));
    }
    Ok(figures)
}
