//! `mesosim sweep` and `mesosim merge`: one scenario over a grid of `--set` values ×
//! policies × seeds, cut into shards that separate machines run (Slurm job arrays,
//! Kubernetes Indexed Jobs), and joined back into the result one machine would give.
//!
//! A sweep file names the scenario (relative to the sweep file), overrides applied to
//! every point (`set`), the policies, the seeds per point and the axes:
//!
//! ```toml
//! scenario = "../quickstart.toml"
//! set = ['duration="10m"']
//! policies = ["hdrf", "fifo"]
//! seeds = 3
//!
//! [[axis]]
//! key = "master.allocation_interval"
//! values = ["1s", "5s"]
//! ```
//!
//! The runs are numbered in one fixed order: points with the first axis slowest, then
//! policies, then seeds. Shard I of N takes the runs whose number is I modulo N, so the
//! heavy points of a grid spread over the shards. A shard's result holds only its runs'
//! figures; [`merge`] checks that the shards come from the same sweep and cover every
//! run exactly once, then aggregates exactly as an unsharded sweep does, so the merged
//! files have the same bytes as a single machine's.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use analysis::stats::mean_ci95;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::compare::{figures, worker_pool, Aggregate, PoolError};
use crate::error::{Location, ScenarioError, SourceMap};
use crate::scenario::Scenario;
use crate::sim::{self, RunError, RunOptions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    scenario: Spanned<String>,
    #[serde(default)]
    set: Vec<Spanned<String>>,
    policies: Option<Spanned<Vec<Spanned<String>>>>,
    seeds: Option<Spanned<i64>>,
    #[serde(default)]
    axis: Vec<AxisSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisSpec {
    key: Spanned<String>,
    values: Spanned<Vec<Spanned<toml::Value>>>,
}

/// One swept setting and the values it takes, in the file's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The `--set` key path, e.g. `frameworks[spark].refuse_seconds`.
    pub key: String,
    /// Each value as it reads in tables: strings bare, everything else as TOML.
    pub values: Vec<String>,
}

/// One combination of axis values.
struct Point {
    /// `key=value` overrides after the sweep's fixed `set`, as `--set` takes them.
    overrides: Vec<String>,
    scenario: Scenario,
}

/// A validated sweep: every point's scenario already loaded.
pub struct Sweep {
    /// The sweep file's stem.
    pub name: String,
    /// SHA-256 of the sweep file and the scenario file it names: shards of different
    /// sweeps (or of an edited one) refuse to merge.
    pub sha256: String,
    /// Allocator names, in the file's order.
    pub policies: Vec<String>,
    /// Seeds per point and policy: the point's scenario seed, seed + 1, …
    pub seeds: u64,
    /// The axes, first one slowest.
    pub axes: Vec<Axis>,
    points: Vec<Point>,
}

/// Which part of a sweep one machine runs: the runs numbered `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u64,
    /// How many shards the sweep is cut into.
    pub count: u64,
}

impl Shard {
    /// Reads `I/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected INDEX/COUNT, e.g. 0/4"))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{i}` is not a shard index"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{n}` is not a shard count"))?;
        Shard::new(index, count).map_err(|e| format!("`{text}`: {e}"))
    }

    /// Shard `index` of `count`, checked.
    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the shard count {count} (indices start at 0)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard index a batch system gives this process: Slurm's
    /// `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`, so `--array=1-4` works) or
    /// Kubernetes' `JOB_COMPLETION_INDEX`; `env` looks a variable up.
    pub fn from_env(count: u64, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{name}=`{v}` is not a non-negative integer"))
                })
                .transpose()
        };
        let index = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            id.checked_sub(min).ok_or_else(|| {
                format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
            })?
        } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            index
        } else {
            return Err(
                "neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set: give --shard I/N"
                    .into(),
            );
        };
        Shard::new(index, count)
    }

    fn takes(&self, run: u64) -> bool {
        run % self.count == self.index
    }
}

/// One setting of one point, for the tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// The axis key.
    pub key: String,
    /// The value at this point.
    pub value: String,
}

/// One simulation's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's number in the sweep's fixed order.
    pub run: u64,
    /// The point it belongs to.
    pub point: u64,
    /// Allocator name.
    pub policy: String,
    /// Seed.
    pub seed: u64,
    /// Figure name → value (the figures `compare` aggregates).
    pub figures: BTreeMap<String, f64>,
}

/// One point and policy aggregated over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// The point's number.
    pub point: u64,
    /// Its settings, in axis order.
    pub settings: Vec<Setting>,
    /// Allocator name.
    pub policy: String,
    /// Figure name → mean and 95% interval over seeds.
    pub metrics: BTreeMap<String, Aggregate>,
}

/// What a sweep (or one shard of it) produces: `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The version of mesosim that ran it: shards of different versions do not merge.
    pub mesosim_version: String,
    /// The sweep file's stem.
    pub sweep: String,
    /// See [`Sweep::sha256`].
    pub sweep_sha256: String,
    /// The axes, first one slowest.
    pub axes: Vec<Axis>,
    /// Allocator names.
    pub policies: Vec<String>,
    /// Seeds per point and policy.
    pub seeds: u64,
    /// Runs in the whole sweep.
    pub total_runs: u64,
    /// The shard these runs are, or none for a whole (or merged) sweep.
    pub shard: Option<Shard>,
    /// Every run of this shard (all runs when whole), in run order.
    pub runs: Vec<RunRecord>,
    /// Per point and policy over seeds; empty for a shard, whose points are partial.
    pub points: Vec<PointResult>,
}

/// A sweep could not be loaded, run or merged.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file itself, or one of its values.
    #[error("{0}")]
    Spec(Box<ScenarioError>),
    /// A combination of values that each load on their own does not.
    #[error("{sweep}: point {point} ({settings})")]
    Point {
        /// The sweep file.
        sweep: PathBuf,
        /// The point's number.
        point: u64,
        /// Its settings as `key=value, …`.
        settings: String,
        /// Why the scenario does not load.
        #[source]
        source: Box<ScenarioError>,
    },
    /// One simulation failed.
    #[error("run {run} (point {point}, policy {policy}, seed {seed})")]
    Run {
        /// The run's number.
        run: u64,
        /// Its point.
        point: u64,
        /// Its policy.
        policy: String,
        /// Its seed.
        seed: u64,
        /// What failed.
        #[source]
        source: RunError,
    },
    /// The thread pool could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// Shards that do not make one sweep.
    #[error("{0}")]
    Merge(String),
}

impl Sweep {
    /// Reads a sweep file and loads every point's scenario, so a bad value fails before
    /// any simulation runs.
    pub fn load(path: &Path) -> Result<Sweep, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SweepError::Spec(Box::new(ScenarioError {
                location: Location::Whole(path.to_path_buf()),
                field: None,
                message: format!("cannot read the sweep file: {e}"),
            }))
        })?;
        Sweep::parse(&text, path)
    }

    /// Validates sweep `text` that came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Sweep, SweepError> {
        let map = SourceMap::new(path.to_path_buf(), text);
        let spec: SweepSpec = toml::from_str(text).map_err(|e| {
            SweepError::Spec(Box::new(ScenarioError {
                location: e
                    .span()
                    .map(|s| map.locate(s.start))
                    .unwrap_or_else(|| Location::Whole(path.to_path_buf())),
                field: None,
                message: e.message().trim().to_string(),
            }))
        })?;
        let at = |span: std::ops::Range<usize>, field: &str, message: String| {
            SweepError::Spec(Box::new(map.error(span, field, message)))
        };
        let scenario_path = path
            .parent()
            .unwrap_or(Path::new(""))
            .join(spec.scenario.get_ref());
        let scenario_text = std::fs::read_to_string(&scenario_path).map_err(|e| {
            at(
                spec.scenario.span(),
                "scenario",
                format!("cannot read `{}`: {e}", scenario_path.display()),
            )
        })?;
        let base: Vec<String> = spec.set.iter().map(|s| s.get_ref().clone()).collect();
        let load =
            |overrides: &[String]| Scenario::parse(&scenario_text, &scenario_path, overrides);
        let scenario = load(&base).map_err(|e| {
            // Blame the first fixed override after which the scenario stops loading, or
            // the scenario file itself when it does not load on its own.
            let culprit = (0..=base.len()).find(|&n| load(&base[..n]).is_err());
            match culprit {
                Some(n) if n > 0 => at(
                    spec.set[n - 1].span(),
                    &format!("set[{}]", n - 1),
                    e.to_string(),
                ),
                _ => at(spec.scenario.span(), "scenario", e.to_string()),
            }
        })?;

        let policies = match &spec.policies {
            None => vec![scenario.allocator.clone()],
            Some(list) if list.get_ref().is_empty() => {
                return Err(at(
                    list.span(),
                    "policies",
                    "must name at least one policy".into(),
                ))
            }
            Some(list) => {
                for p in list.get_ref() {
                    if !models::allocator::ALLOCATOR_NAMES.contains(&p.get_ref().as_str()) {
                        return Err(at(
                            p.span(),
                            "policies",
                            format!(
                                "unknown allocator `{}` (expected one of {})",
                                p.get_ref(),
                                models::allocator::ALLOCATOR_NAMES.join(", ")
                            ),
                        ));
                    }
                }
                list.get_ref().iter().map(|p| p.get_ref().clone()).collect()
            }
        };
        let seeds = match &spec.seeds {
            None => 1,
            Some(s) if *s.get_ref() < 1 => {
                return Err(at(s.span(), "seeds", "must be at least 1".into()))
            }
            Some(s) => *s.get_ref() as u64,
        };

        // Each value on its own first, so an error points at the value that causes it.
        let mut axes = Vec::new();
        let mut choices: Vec<Vec<String>> = Vec::new();
        for (i, axis) in spec.axis.iter().enumerate() {
            let key = axis.key.get_ref();
            if key.is_empty() || key.contains('=') {
                return Err(at(
                    axis.key.span(),
                    &format!("axis[{i}].key"),
                    format!("`{key}` is not a key path"),
                ));
            }
            if axis.values.get_ref().is_empty() {
                return Err(at(
                    axis.values.span(),
                    &format!("axis[{i}].values"),
                    "must hold at least one value".into(),
                ));
            }
            let mut shown = Vec::new();
            let mut overrides = Vec::new();
            for value in axis.values.get_ref() {
                let text = format!("{key}={}", value.get_ref());
                let mut set = base.clone();
                set.push(text.clone());
                load(&set)
                    .map_err(|e| at(value.span(), &format!("axis[{i}].values"), e.to_string()))?;
                shown.push(match value.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                overrides.push(text);
            }
            axes.push(Axis {
                key: key.clone(),
                values: shown,
            });
            choices.push(overrides);
        }

        let mut points = Vec::new();
        for (number, combination) in cartesian(&choices).into_iter().enumerate() {
            let mut overrides = base.clone();
            overrides.extend(combination.iter().cloned());
            let scenario = load(&overrides).map_err(|source| SweepError::Point {
                sweep: path.to_path_buf(),
                point: number as u64,
                settings: combination.join(", "),
                source: Box::new(source),
            })?;
            points.push(Point {
                overrides,
                scenario,
            });
        }

        let mut digest = Sha256::new();
        digest.update(text.as_bytes());
        digest.update(b"\n--scenario\n");
        digest.update(scenario_text.as_bytes());
        let sha256 = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Sweep {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into()),
            sha256,
            policies,
            seeds,
            axes,
            points,
        })
    }

    /// Runs in the whole sweep.
    pub fn total_runs(&self) -> u64 {
        (self.points.len() * self.policies.len()) as u64 * self.seeds
    }

    /// The `--set` overrides of point `point` (the fixed ones first).
    pub fn overrides(&self, point: usize) -> &[String] {
        &self.points[point].overrides
    }

    /// Runs the whole sweep (`shard` none) or one shard of it on `threads` workers
    /// (0 = one per core). The result does not depend on `threads`.
    pub fn run(&self, shard: Option<Shard>, threads: usize) -> Result<SweepResult, SweepError> {
        let per_point = self.policies.len() as u64 * self.seeds;
        let mine: Vec<u64> = (0..self.total_runs())
            .filter(|r| shard.is_none_or(|s| s.takes(*r)))
            .collect();
        let pool = worker_pool(threads)?;
        let runs: Vec<Result<RunRecord, SweepError>> = pool.install(|| {
            mine.par_iter()
                .map(|&run| {
                    let point = run / per_point;
                    let policy = &self.policies[((run % per_point) / self.seeds) as usize];
                    let scenario = &self.points[point as usize].scenario;
                    let seed = scenario.seed.wrapping_add(run % self.seeds);
                    let options = RunOptions {
                        seed: Some(seed),
                        policy: Some(policy.clone()),
                        ..RunOptions::default()
                    };
                    let summary = sim::run(scenario, options)
                        .map_err(|source| SweepError::Run {
                            run,
                            point,
                            policy: policy.clone(),
                            seed,
                            source,
                        })?
                        .summary;
                    Ok(RunRecord {
                        run,
                        point,
                        policy: policy.clone(),
                        seed,
                        figures: figures(&summary).into_iter().collect(),
                    })
                })
                .collect()
        });
        let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut result = SweepResult {
            mesosim_version: env!("CARGO_PKG_VERSION").to_string(),
            sweep: self.name.clone(),
            sweep_sha256: self.sha256.clone(),
            axes: self.axes.clone(),
            policies: self.policies.clone(),
            seeds: self.seeds,
            total_runs: self.total_runs(),
            shard,
            runs,
            points: Vec::new(),
        };
        if shard.is_none() {
            result.points = aggregate(&result);
        }
        Ok(result)
    }
}

/// Every combination of one choice per list, the first list slowest.
fn cartesian(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    lists.iter().fold(vec![Vec::new()], |done, list| {
        done.iter()
            .flat_map(|prefix| {
                list.iter().map(move |choice| {
                    let mut next = prefix.clone();
                    next.push(choice.clone());
                    next
                })
            })
            .collect()
    })
}

/// The settings of point `point`: its value on each axis (first axis slowest).
fn settings(axes: &[Axis], point: u64) -> Vec<Setting> {
    let mut rest = point;
    let mut out: Vec<Setting> = axes
        .iter()
        .rev()
        .map(|axis| {
            let n = axis.values.len() as u64;
            let value = axis.values[(rest % n) as usize].clone();
            rest /= n;
            Setting {
                key: axis.key.clone(),
                value,
            }
        })
        .collect();
    out.reverse();
    out
}

/// Means and intervals over seeds for each point and policy, from runs in run order.
fn aggregate(result: &SweepResult) -> Vec<PointResult> {
    let mut groups: BTreeMap<(u64, usize), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for record in &result.runs {
        let policy = result
            .policies
            .iter()
            .position(|p| *p == record.policy)
            .unwrap_or(usize::MAX);
        let figures = groups.entry((record.point, policy)).or_default();
        for (name, value) in &record.figures {
            figures.entry(name.clone()).or_default().push(*value);
        }
    }
    groups
        .into_iter()
        .map(|((point, policy), figures)| PointResult {
            point,
            settings: settings(&result.axes, point),
            policy: result.policies.get(policy).cloned().unwrap_or_default(),
            metrics: figures
                .into_iter()
                .map(|(name, values)| {
                    let (mean, ci95) = mean_ci95(&values).unwrap_or((0.0, 0.0));
                    (name, Aggregate { mean, ci95, values })
                })
                .collect(),
        })
        .collect()
}

/// Joins shards (each labelled, e.g. by its directory) into the whole sweep's result.
pub fn merge(shards: Vec<(String, SweepResult)>) -> Result<SweepResult, SweepError> {
    let fail = |m: String| SweepError::Merge(m);
    let Some((first_label, first)) = shards.first() else {
        return Err(fail("nothing to merge".into()));
    };
    let count = match first.shard {
        Some(s) => s.count,
        None => return Err(fail(format!("{first_label} is a whole sweep, not a shard"))),
    };
    let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
    for (label, shard) in &shards {
        check_consistent(shard).map_err(|why| fail(format!("{label}: {why}")))?;
        if shard.mesosim_version != first.mesosim_version {
            return Err(fail(format!(
                "{label} was run by mesosim {} and {first_label} by {}",
                shard.mesosim_version, first.mesosim_version
            )));
        }
        let same = shard.sweep == first.sweep
            && shard.sweep_sha256 == first.sweep_sha256
            && shard.axes == first.axes
            && shard.policies == first.policies
            && shard.seeds == first.seeds
            && shard.total_runs == first.total_runs;
        if !same {
            return Err(fail(format!(
                "{label} comes from a different sweep than {first_label} (sweep `{}` {} vs `{}` {})",
                shard.sweep, shard.sweep_sha256, first.sweep, first.sweep_sha256
            )));
        }
        let Some(s) = shard.shard else {
            return Err(fail(format!("{label} is a whole sweep, not a shard")));
        };
        if s.count != count {
            return Err(fail(format!(
                "{label} is shard {}/{} but {first_label} is one of {count}",
                s.index, s.count
            )));
        }
        if let Some(other) = seen.insert(s.index, label) {
            return Err(fail(format!(
                "{label} and {other} are both shard {}/{count}",
                s.index
            )));
        }
        if let Some(r) = shard
            .runs
            .iter()
            .find(|r| !s.takes(r.run) || r.run >= shard.total_runs)
        {
            return Err(fail(format!(
                "{label}: run {} does not belong to shard {}/{count}",
                r.run, s.index
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!("missing shards: {}", missing.join(", "))));
    }
    let mut merged = first.clone();
    merged.shard = None;
    merged.runs = shards.into_iter().flat_map(|(_, s)| s.runs).collect();
    merged.runs.sort_by_key(|r| r.run);
    let expected = merged.total_runs;
    if merged.runs.len() as u64 != expected
        || merged
            .runs
            .iter()
            .enumerate()
            .any(|(i, r)| r.run != i as u64)
    {
        return Err(fail(format!(
            "the shards hold {} runs, not runs 0..{expected} once each (a shard's sweep.json was edited or truncated)",
            merged.runs.len()
        )));
    }
    merged.points = aggregate(&merged);
    Ok(merged)
}

/// A result read back from a file is whole in itself: its axes have values, its run
/// count is points × policies × seeds, and each run's point, policy and seed are the
/// ones its number gives (an edited or foreign `sweep.json` is refused, not trusted).
fn check_consistent(r: &SweepResult) -> Result<(), String> {
    if let Some(axis) = r.axes.iter().find(|a| a.values.is_empty()) {
        return Err(format!("axis `{}` has no values", axis.key));
    }
    let points = r
        .axes
        .iter()
        .try_fold(1u64, |n, a| n.checked_mul(a.values.len() as u64));
    let total = points
        .and_then(|p| p.checked_mul(r.policies.len() as u64))
        .and_then(|n| n.checked_mul(r.seeds));
    if r.seeds == 0 || r.policies.is_empty() || total != Some(r.total_runs) {
        return Err(format!(
            "total_runs {} is not points x policies x seeds",
            r.total_runs
        ));
    }
    let per_point = r.policies.len() as u64 * r.seeds;
    for run in &r.runs {
        let policy = r.policies.get(((run.run % per_point) / r.seeds) as usize);
        if run.run >= r.total_runs
            || run.point != run.run / per_point
            || policy != Some(&run.policy)
        {
            return Err(format!(
                "run {} does not match its point, policy or number",
                run.run
            ));
        }
    }
    Ok(())
}

impl SweepResult {
    /// `runs.csv`: one row per simulation: run, point, one column per axis, policy, seed,
    /// then the figures.
    pub fn runs_csv(&self) -> String {
        // Every run's figures: an axis that adds a resource adds its utilization.
        let names: Vec<&String> = self
            .runs
            .iter()
            .flat_map(|r| r.figures.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut header = vec!["run".to_string(), "point".to_string()];
        header.extend(self.axes.iter().map(|a| a.key.clone()));
        header.extend(["policy".to_string(), "seed".to_string()]);
        header.extend(names.iter().map(|n| n.to_string()));
        let mut out = csv_row(&header);
        for r in &self.runs {
            let mut row = vec![r.run.to_string(), r.point.to_string()];
            row.extend(settings(&self.axes, r.point).into_iter().map(|s| s.value));
            row.extend([r.policy.clone(), r.seed.to_string()]);
            row.extend(
                names
                    .iter()
                    .map(|n| r.figures.get(*n).map(|v| v.to_string()).unwrap_or_default()),
            );
            out.push_str(&csv_row(&row));
        }
        out
    }

    /// `points.csv`: one row per point, policy and figure: the mean and the 95% interval
    /// over seeds.
    pub fn points_csv(&self) -> String {
        let mut header = vec!["point".to_string()];
        header.extend(self.axes.iter().map(|a| a.key.clone()));
        header.extend(["policy", "figure", "mean", "ci95", "n"].map(String::from));
        let mut out = csv_row(&header);
        for p in &self.points {
            for (name, a) in &p.metrics {
                let mut row = vec![p.point.to_string()];
                row.extend(p.settings.iter().map(|s| s.value.clone()));
                row.extend([
                    p.policy.clone(),
                    name.clone(),
                    a.mean.to_string(),
                    a.ci95.to_string(),
                    a.values.len().to_string(),
                ]);
                out.push_str(&csv_row(&row));
            }
        }
        out
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One CSV line, quoting fields that hold a comma, a quote or a line break (RFC 4180).
fn csv_row(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_puts_the_first_list_slowest() {
        let lists = vec![
            vec!["a1".into(), "a2".into()],
            vec!["b1".into(), "b2".into(), "b3".into()],
        ];
        let all = cartesian(&lists);
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], ["a1", "b1"]);
        assert_eq!(all[2], ["a1", "b3"]);
        assert_eq!(all[3], ["a2", "b1"]);
        // `settings` decodes a point number the same way round.
        let axes = vec![
            Axis {
                key: "a".into(),
                values: vec!["a1".into(), "a2".into()],
            },
            Axis {
                key: "b".into(),
                values: vec!["b1".into(), "b2".into(), "b3".into()],
            },
        ];
        for (number, combination) in all.iter().enumerate() {
            let decoded: Vec<String> = settings(&axes, number as u64)
                .into_iter()
                .map(|s| s.value)
                .collect();
            assert_eq!(&decoded, combination);
        }
    }

    #[test]
    fn shards_parse_and_partition_the_runs() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4").unwrap_err().contains("not below"));
        assert!(Shard::parse("0/0").unwrap_err().contains("at least 1"));
        assert!(Shard::parse("x/2")
            .unwrap_err()
            .contains("not a shard index"));
        assert!(Shard::parse("3").unwrap_err().contains("INDEX/COUNT"));
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        for run in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.takes(run)).count(), 1);
        }
    }

    #[test]
    fn the_shard_index_comes_from_slurm_or_kubernetes() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            Shard::from_env(
                4,
                env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1")])
            ),
            Ok(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::from_env(4, env(&[("JOB_COMPLETION_INDEX", "0")])),
            Ok(Shard { index: 0, count: 4 })
        );
        assert!(Shard::from_env(4, env(&[]))
            .unwrap_err()
            .contains("--shard"));
        assert!(Shard::from_env(2, env(&[("JOB_COMPLETION_INDEX", "2")]))
            .unwrap_err()
            .contains("not below"));
        assert!(Shard::from_env(2, env(&[("JOB_COMPLETION_INDEX", "-1")]))
            .unwrap_err()
            .contains("non-negative"));
    }

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        let row = csv_row(&["plain".into(), "[1, 2]".into(), "say \"hi\"".into()]);
        assert_eq!(row, "plain,\"[1, 2]\",\"say \"\"hi\"\"\"\n");
    }
}
