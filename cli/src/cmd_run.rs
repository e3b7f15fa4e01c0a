//! `mesosim run`, `mesosim validate` and `mesosim compare`.

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use analysis::output::{write_atomic, write_json_atomic};
use analysis::table::Table;
use clap::Args;
use scenarios::compare::{compare as run_compare, CompareOptions};
use scenarios::report::{frameworks, headline, secs};
use scenarios::scenario::{Behaviour, Scenario};
use scenarios::sim::{self, RunOptions};
use scenarios::summary::Summary;
use sim_core::time::SimTime;

use crate::output::{write_run_outputs, RunInfo};
use crate::CmdResult;

/// Flags shared by commands that load a scenario.
#[derive(Args)]
pub struct ScenarioArgs {
    /// Override a scenario value, e.g. `--set master.allocation_interval="2s"` or
    /// `--set frameworks[spark].refuse_seconds=1` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
}

/// `mesosim run`.
#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (TOML); the built-in quickstart when absent.
    scenario: Option<PathBuf>,
    /// Master seed (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Allocation policy (overrides the scenario's): hdrf, random, fifo, bestfit.
    #[arg(long)]
    policy: Option<String>,
    #[command(flatten)]
    scenario_args: ScenarioArgs,
    /// Output directory [default: out/<scenario>-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write every offer, accept, decline, launch and task state change as JSON lines.
    #[arg(long, value_name = "FILE")]
    event_log: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `mesosim validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    #[command(flatten)]
    scenario_args: ScenarioArgs,
}

/// `mesosim compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Comma-separated allocation policies, e.g. `hdrf,random,fifo,bestfit`.
    #[arg(long, value_delimiter = ',', required = true)]
    policies: Vec<String>,
    /// Seeds per policy (the scenario's seed, seed+1, …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// Worker threads (0 = one per core). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    scenario_args: ScenarioArgs,
    /// Output directory [default: out/<scenario>-compare].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn load(path: Option<&Path>, set: &[String]) -> Result<Scenario, scenarios::error::ScenarioError> {
    match path {
        Some(p) => Scenario::load(p, set),
        None => Scenario::quickstart(set),
    }
}

fn check_policy(name: &str) -> CmdResult {
    if models::allocator::ALLOCATOR_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown policy `{name}` (expected one of {})",
            models::allocator::ALLOCATOR_NAMES.join(", ")
        )
        .into())
    }
}

/// Writes the event log to a temporary sibling and renames it into place on success.
struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<fs::File>>,
}

impl AtomicFile {
    fn create(path: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut name = std::ffi::OsString::from(".");
        name.push(
            path.file_name()
                .ok_or_else(|| format!("{} is not a file path", path.display()))?,
        );
        name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let file =
            fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    fn commit(mut self) -> CmdResult {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| format!("cannot write {}: {}", self.path.display(), e.error()))?;
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        fs::rename(&self.tmp, &self.path)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A one-line progress display on stderr, only when a person is watching.
/// A progress line for a run whose end is known (`total`), with a bar and an ETA, or
/// for an open-ended replay (`None`): simulated hours reached and wall time. Redrawn at
/// most five times a second, and only when `enabled` (stderr is a terminal).
pub(crate) fn progress_line(total: Option<SimTime>, enabled: bool) -> Box<dyn FnMut(SimTime)> {
    match total {
        Some(total) => Box::new(progress_printer(total, enabled)),
        None => {
            let started = Instant::now();
            let mut last_print = Instant::now();
            Box::new(move |reached: SimTime| {
                if enabled && last_print.elapsed().as_millis() >= 200 {
                    last_print = Instant::now();
                    eprint!(
                        "\rreplayed {:.1} simulated hours in {:.1}s ",
                        reached.as_secs_f64() / 3600.0,
                        started.elapsed().as_secs_f64()
                    );
                }
            })
        }
    }
}

fn progress_printer(total: SimTime, enabled: bool) -> impl FnMut(SimTime) {
    let started = Instant::now();
    let mut last_print = Instant::now();
    move |reached: SimTime| {
        if !enabled {
            return;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let done = reached >= total;
        if elapsed < 1.0 || (!done && last_print.elapsed().as_millis() < 200) {
            return;
        }
        last_print = Instant::now();
        let frac = reached.as_secs_f64() / total.as_secs_f64().max(1e-9);
        let eta = if frac > 0.0 {
            elapsed / frac - elapsed
        } else {
            0.0
        };
        let bar: String = (0..30)
            .map(|i| if (i as f64) < frac * 30.0 { '#' } else { '.' })
            .collect();
        eprint!(
            "\r[{bar}] {:5.1}%  simulated {:.0}s  elapsed {elapsed:.1}s  eta {eta:.0}s ",
            frac * 100.0,
            reached.as_secs_f64()
        );
        if done {
            eprintln!();
        }
    }
}

/// `mesosim run`.
pub fn run(args: RunArgs) -> CmdResult {
    if let Some(p) = &args.policy {
        check_policy(p)?;
    }
    let scenario = load(args.scenario.as_deref(), &args.scenario_args.set)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{}-{seed}", scenario.name)));
    let mut log = args
        .event_log
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    let mut progress = progress_printer(
        SimTime::ZERO + scenario.duration,
        !args.quiet && std::io::stderr().is_terminal(),
    );
    let started = Instant::now();
    let output = sim::run(
        &scenario,
        RunOptions {
            seed: Some(seed),
            policy: args.policy.clone(),
            event_log: log
                .as_mut()
                .map(|f| f.writer.as_mut().expect("open") as &mut dyn Write),
            progress: Some(&mut progress),
            ..RunOptions::default()
        },
    )?;
    let wall_s = started.elapsed().as_secs_f64();
    if let Some(log) = log {
        log.commit()?;
    }
    let info = RunInfo::measure(wall_s, &output.summary);
    write_run_outputs(&out, &output.summary, &output.metrics, &info)?;
    if !args.quiet {
        print!("{}", render_summary(&output.summary, &info));
        println!("outputs: {}", out.display());
        if let Some(p) = &args.event_log {
            println!(
                "event log: {} ({} lines)",
                p.display(),
                output.event_log_lines
            );
        }
    }
    Ok(())
}

/// The terminal summary of one run.
fn render_summary(s: &Summary, info: &RunInfo) -> String {
    let mut out = format!(
        "scenario {} (policy {}, seed {}): {} simulated in {:.2}s wall ({:.0}x real time, {} events)\n\n",
        s.scenario,
        s.policy,
        s.seed,
        secs(s.sim_end_ns),
        info.wall_s,
        info.sim_speedup,
        s.events
    );
    let mut t = Table::new(["figure", "value"]);
    for row in headline(s) {
        t.row(row);
    }
    out.push_str(&t.render());
    out.push('\n');
    let (header, rows) = frameworks(s);
    let mut f = Table::new(header);
    for row in rows {
        f.row(row);
    }
    out.push_str(&f.render());
    out
}

/// `mesosim validate`.
pub fn validate(args: ValidateArgs) -> CmdResult {
    let s = Scenario::load(&args.scenario, &args.scenario_args.set)?;
    println!("{}: ok", args.scenario.display());
    println!(
        "  name: {}  seed: {}  duration: {}s  allocator: {}",
        s.name,
        s.seed,
        s.duration.as_secs_f64(),
        s.allocator
    );
    println!(
        "  agents: {}  roles: {}  frameworks: {}  timeline steps: {}",
        s.agents.len(),
        s.roles.len(),
        s.frameworks.len(),
        s.timeline.len()
    );
    for f in &s.frameworks {
        let kind = match f.behaviour {
            Behaviour::Batch { .. } => "batch",
            Behaviour::Service { .. } => "service",
            Behaviour::Scripted => "scripted",
            Behaviour::Trace => "trace",
            Behaviour::Stateful { .. } => "stateful",
        };
        println!("  framework {} ({kind}) in {}", f.name, f.roles.join(","));
    }
    Ok(())
}

/// `mesosim compare`.
pub fn compare(args: CompareArgs) -> CmdResult {
    for p in &args.policies {
        check_policy(p)?;
    }
    let scenario = Scenario::load(&args.scenario, &args.scenario_args.set)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{}-compare", scenario.name)));
    let result = run_compare(
        &scenario,
        &CompareOptions {
            policies: args.policies.clone(),
            seeds: args.seeds,
            threads: args.threads,
        },
    )?;
    write_atomic(&out.join("compare.csv"), result.to_csv().as_bytes())?;
    write_json_atomic(&out.join("compare.json"), &result)?;
    let report = scenarios::report::compare_report(&result);
    write_atomic(&out.join("compare.html"), report.to_html().as_bytes())?;
    println!(
        "scenario {}: {} policies x {} seeds (mean ± 95% CI over seeds)\n",
        scenario.name,
        result.policies.len(),
        result.seeds.len()
    );
    print!("{}", result.render_table());
    println!("outputs: {}", out.display());
    Ok(())
}

/// The `--usage trace` lines of a replay's terminal summary.
fn render_replay_usage(
    s: &Summary,
    u: &scenarios::sim::replay_usage::ReplayUsageSummary,
) -> String {
    let mut out = format!(
        "usage samples: {} ({} applied to running tasks, {} kept for queued ones, {} without a live task, {} of machines or containers); tasks started with a sample / at their request: {} / {}\n",
        u.samples,
        u.applied,
        u.remembered,
        u.skipped_no_task,
        u.skipped_not_task,
        u.tasks_started_with_sample,
        u.tasks_started_at_request
    );
    if let Some(o) = &s.oversubscription {
        out.push_str(&format!(
            "cpus used / allocated (of capacity): {:.1}% / {:.1}%\n",
            o.used_utilization * 100.0,
            o.allocated_utilization * 100.0
        ));
    }
    if let Some(b) = &s.bursting {
        out.push_str(&format!(
            "cpu throttled: {:.1} task-s; cpu above requests: {:.1} cpu-s; memory-limit kills: {}; OOM kills: {}\n",
            b.throttled_task_seconds, b.cpu_seconds_above_request, b.memory_limit_kills, b.oom_kills
        ));
    }
    out
}

/// `mesosim replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// Trace format: google2011, google2019, alibaba2018, swf, compact.
    #[arg(long)]
    format: traces::TraceFormat,
    /// Trace files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Allocation policy: hdrf, random, fifo, bestfit.
    #[arg(long, default_value = "hdrf")]
    policy: String,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this much simulated time (e.g. `6h`); by default at the trace's end.
    #[arg(long)]
    duration: Option<String>,
    /// CPUs of the reference machine normalised capacities are fractions of.
    #[arg(long, default_value_t = 32.0)]
    machine_cpus: f64,
    /// Memory (MB) of the reference machine.
    #[arg(long, default_value_t = 131_072)]
    machine_mem_mb: u64,
    /// `refuse_seconds` of the trace frameworks' declines (e.g. `5s`, `2m`, `1h`).
    #[arg(long, default_value = "1h")]
    refuse: String,
    /// Skip bad rows instead of stopping at the first one.
    #[arg(long)]
    lenient: bool,
    /// `trace`: run the usage model on the agents, each task's CPU and memory
    /// following the trace's usage samples (throttling, memory kills, used vs
    /// allocated); by default the samples are ignored.
    #[arg(long, value_parser = ["trace"])]
    usage: Option<String>,
    /// With `--usage trace`: a `[usage]` value, e.g. `--set usage.cgroups_enable_cfs=true`
    /// or `--set usage.estimator="usage"`, or a limit of every task as a multiple of its
    /// request, `--set task.mem_limit=2` / `task.cpus_limit="inf"` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE", requires = "usage")]
    set: Vec<String>,
    /// Output directory [default: out/replay-<format>-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write every offer, launch and task state change as JSON lines.
    #[arg(long, value_name = "FILE")]
    event_log: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `mesosim replay`.
pub fn replay(args: ReplayArgs) -> CmdResult {
    check_policy(&args.policy)?;
    if !(args.machine_cpus.is_finite() && args.machine_cpus > 0.0) {
        return Err(format!(
            "--machine-cpus must be a positive number, found {}",
            args.machine_cpus
        )
        .into());
    }
    let duration = args
        .duration
        .as_deref()
        .map(scenarios::duration::parse_duration)
        .transpose()
        .map_err(|e| format!("--duration: {e}"))?;
    let refuse =
        scenarios::duration::parse_duration(&args.refuse).map_err(|e| format!("--refuse: {e}"))?;
    let usage = args
        .usage
        .as_ref()
        .map(|_| scenarios::sim::replay_usage::ReplayUsageConfig::from_overrides(&args.set))
        .transpose()?;
    let reader = traces::open(
        args.format,
        &args.paths,
        &traces::ReadOptions {
            table: None,
            lenient: args.lenient,
        },
    )?;
    if reader.metadata().ordering == traces::Ordering::File && !args.quiet {
        eprintln!(
            "sorting the trace by time first: its files are not in time order \
             (`mesosim trace convert` stores it sorted for later replays)"
        );
    }
    let records = traces::sort::time_ordered(reader, &traces::sort::SortOptions::default())?;
    let name = format!("replay-{}", args.format);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{name}-{}", args.seed)));
    let mut log = args
        .event_log
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    let mut progress = progress_line(
        duration.map(|d| SimTime::ZERO + d),
        !args.quiet && std::io::stderr().is_terminal(),
    );
    let started = Instant::now();
    let output = sim::replay(
        // Parsing runs on the second core while the simulation runs on this one.
        records,
        sim::ReplayOptions {
            name,
            config: scenarios::sim::replay::ReplayConfig {
                machine_cpus_milli: (args.machine_cpus * 1000.0).round() as u64,
                machine_mem_mb: args.machine_mem_mb,
                refuse,
                usage,
            },
            duration,
            run: RunOptions {
                seed: Some(args.seed),
                policy: Some(args.policy.clone()),
                event_log: log
                    .as_mut()
                    .map(|f| f.writer.as_mut().expect("open") as &mut dyn Write),
                progress: Some(&mut progress),
                ..RunOptions::default()
            },
        },
    )?;
    if !args.quiet && std::io::stderr().is_terminal() {
        eprintln!();
    }
    let wall_s = started.elapsed().as_secs_f64();
    if let Some(log) = log {
        log.commit()?;
    }
    let info = RunInfo::measure(wall_s, &output.summary);
    write_run_outputs(&out, &output.summary, &output.metrics, &info)?;
    if !args.quiet {
        print!("{}", render_summary(&output.summary, &info));
        if let Some(r) = &output.summary.replay {
            println!(
                "trace: {} records, {} machines added, {} task submissions ({} skipped without a request); trace ends: {} finish, {} evict, {} fail, {} kill, {} lost",
                r.records, r.machines_added, r.task_submissions, r.task_submissions_skipped, r.trace_finishes, r.trace_evictions, r.trace_failures, r.trace_kills, r.trace_lost
            );
            if let Some(u) = &r.usage {
                print!("{}", render_replay_usage(&output.summary, u));
            }
        }
        println!("outputs: {}", out.display());
    }
    Ok(())
}
