//! `mesosim compare`: the same scenario under several allocation policies and seeds,
//! one simulation per task on a rayon pool, aggregated as mean ± 95% CI over seeds.
//!
//! Results are collected in (policy, seed) order whatever thread finished first, so
//! the output is identical at any `--threads`.

use std::collections::BTreeMap;

use analysis::stats::mean_ci95;
use analysis::table::Table;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;
use crate::sim::{self, RunError, RunOptions};
use crate::summary::Summary;

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Allocator names.
    pub policies: Vec<String>,
    /// Seeds per policy: the scenario's seed, seed + 1, …
    pub seeds: u64,
    /// Worker threads (0 = one per core).
    pub threads: usize,
}

/// One figure of one policy over all seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Mean over seeds.
    pub mean: f64,
    /// Half-width of the 95% confidence interval (0 with one seed).
    pub ci95: f64,
    /// The per-seed values, in seed order.
    pub values: Vec<f64>,
}

/// One policy's aggregated figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// Allocator name.
    pub policy: String,
    /// Figure name → aggregate, e.g. `utilization.cpus.allocated`, `wait_ns.p95`.
    pub metrics: BTreeMap<String, Aggregate>,
}

/// Everything `compare` produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareResult {
    /// Scenario name.
    pub scenario: String,
    /// Seeds used.
    pub seeds: Vec<u64>,
    /// Per policy, in the order asked.
    pub policies: Vec<PolicyResult>,
    /// Every run's summary, policy-major, seed-minor.
    pub runs: Vec<Summary>,
}

/// The figures compared (and swept), as (name, value).
pub(crate) fn figures(s: &Summary) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, u) in &s.utilization {
        out.push((format!("utilization.{name}.allocated"), u.allocated));
    }
    out.push(("fairness".into(), s.fairness));
    out.push(("wait_ns.p50".into(), s.wait_ns.p50 as f64));
    out.push(("wait_ns.p95".into(), s.wait_ns.p95 as f64));
    out.push(("wait_ns.p99".into(), s.wait_ns.p99 as f64));
    out.push(("makespan_ns".into(), s.makespan_ns as f64));
    out.push(("tasks.finished".into(), s.tasks.finished as f64));
    out.push(("allocator.offers".into(), s.allocator.offers as f64));
    out.push(("allocator.declines".into(), s.allocator.declines as f64));
    out
}

/// A compare run failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// One simulation failed.
    #[error("policy {policy}, seed {seed}")]
    Run {
        /// The policy.
        policy: String,
        /// The seed.
        seed: u64,
        /// What failed.
        #[source]
        source: RunError,
    },
    /// The thread pool could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// The worker threads of `compare` or `sweep` could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {threads} worker threads: {message}")]
pub struct PoolError {
    /// Threads asked for.
    pub threads: usize,
    /// Why.
    pub message: String,
}

/// A pool of `threads` workers (0 = one per core) for independent simulations.
pub(crate) fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, PoolError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PoolError {
            threads,
            message: e.to_string(),
        })
}

/// Runs every policy × seed and aggregates.
pub fn compare(
    scenario: &Scenario,
    options: &CompareOptions,
) -> Result<CompareResult, CompareError> {
    let seeds: Vec<u64> = (0..options.seeds.max(1))
        .map(|i| scenario.seed.wrapping_add(i))
        .collect();
    let jobs: Vec<(String, u64)> = options
        .policies
        .iter()
        .flat_map(|p| seeds.iter().map(move |s| (p.clone(), *s)))
        .collect();
    let pool = worker_pool(options.threads)?;
    let results: Vec<Result<Summary, CompareError>> = pool.install(|| {
        jobs.par_iter()
            .map(|(policy, seed)| {
                let opts = RunOptions {
                    seed: Some(*seed),
                    policy: Some(policy.clone()),
                    ..RunOptions::default()
                };
                sim::run(scenario, opts)
                    .map(|o| o.summary)
                    .map_err(|source| CompareError::Run {
                        policy: policy.clone(),
                        seed: *seed,
                        source,
                    })
            })
            .collect()
    });
    let runs: Vec<Summary> = results.into_iter().collect::<Result<_, _>>()?;
    let policies = options
        .policies
        .iter()
        .enumerate()
        .map(|(pi, policy)| {
            let mine = &runs[pi * seeds.len()..(pi + 1) * seeds.len()];
            let mut metrics: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for s in mine {
                for (name, v) in figures(s) {
                    metrics.entry(name).or_default().push(v);
                }
            }
            let metrics = metrics
                .into_iter()
                .map(|(name, values)| {
                    let (mean, ci95) = mean_ci95(&values).unwrap_or((0.0, 0.0));
                    (name, Aggregate { mean, ci95, values })
                })
                .collect();
            PolicyResult {
                policy: policy.clone(),
                metrics,
            }
        })
        .collect();
    Ok(CompareResult {
        scenario: scenario.name.clone(),
        seeds,
        policies,
        runs,
    })
}

impl CompareResult {
    /// Side-by-side table: one row per figure, one column per policy.
    pub fn render_table(&self) -> String {
        let (header, rows) = self.table_rows();
        let mut table = Table::new(header);
        for row in rows {
            table.row(row);
        }
        table.render()
    }

    /// The side-by-side table's header (`figure`, then the policies) and rows, each
    /// cell `mean ± ci95`.
    pub fn table_rows(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["figure".to_string()];
        header.extend(self.policies.iter().map(|p| p.policy.clone()));
        let names: Vec<&String> = self
            .policies
            .first()
            .map(|p| p.metrics.keys().collect())
            .unwrap_or_default();
        let rows = names
            .into_iter()
            .map(|name| {
                let mut row = vec![name.clone()];
                row.extend(self.policies.iter().map(|p| {
                    p.metrics
                        .get(name)
                        .map(|a| format_aggregate(name, a))
                        .unwrap_or_default()
                }));
                row
            })
            .collect();
        (header, rows)
    }

    /// `compare.csv`: policy, figure, mean, ci95, n.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("policy,figure,mean,ci95,n\n");
        for p in &self.policies {
            for (name, a) in &p.metrics {
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    p.policy,
                    name,
                    a.mean,
                    a.ci95,
                    a.values.len()
                ));
            }
        }
        out
    }
}

fn format_aggregate(name: &str, a: &Aggregate) -> String {
    if name.ends_with("_ns") || name.contains("_ns.") {
        let ms = |ns: f64| ns / 1e6;
        format!("{:.1} ± {:.1} ms", ms(a.mean), ms(a.ci95))
    } else if a.mean.fract() == 0.0 && a.ci95.fract() == 0.0 && a.mean.abs() >= 1.0 {
        format!("{:.0} ± {:.0}", a.mean, a.ci95)
    } else {
        format!("{:.3} ± {:.3}", a.mean, a.ci95)
    }
}
