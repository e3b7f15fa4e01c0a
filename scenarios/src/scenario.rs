//! A validated scenario: every name resolved, every duration and resource text parsed.
//! Built from [`crate::spec`] by [`Scenario::parse`]; errors name file, line, column
//! and field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use models::operations::Operation;
use models::resources::{ResourceQuantities, Resources};
use sha2::{Digest, Sha256};
use sim_core::time::{SimDuration, SimTime};
use toml::Spanned;

use crate::dist::Dist;
use crate::duration::parse_duration;
use crate::error::{Location, ScenarioError, SourceMap};

mod network;
mod tls;
use crate::spec::{self, ScenarioSpec};
pub use network::{NetworkDef, SchedulerPlacement, Transfers};
mod fetcher;
pub use fetcher::{parse_bytes, FetcherDef, UriDef};
mod task_group;
pub use task_group::{GroupTaskDef, GroupTaskSpec, TaskGroupDef, TaskGroupSpec};
pub use tls::{ExecutorPath, ExecutorTransport, MasterCpuCosts, TlsDef, TlsSpec};

/// The quickstart scenario built into the binary (`mesosim run` with no file).
pub const QUICKSTART: &str = include_str!("../quickstart.toml");

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name used in outputs.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Master seed.
    pub seed: u64,
    /// Simulated time to run.
    pub duration: SimDuration,
    /// Allocator name.
    pub allocator: String,
    /// Time-series sampling interval.
    pub metrics_interval: SimDuration,
    /// Master flags.
    pub master: MasterConfig,
    /// Agents registered at a fixed time, in registration order.
    pub agents: Vec<AgentDef>,
    /// Roles with weights and quota.
    pub roles: Vec<RoleDef>,
    /// Frameworks in file order.
    pub frameworks: Vec<FrameworkDef>,
    /// Scripted steps in time order (stable for equal times).
    pub timeline: Vec<Step>,
    /// sha256 of the scenario text (plus overrides), hex.
    pub sha256: String,
    /// The usage model's agent flags, when `[usage]` is present.
    pub usage: Option<crate::usage::UsageConfig>,
    /// The network model, when the scenario has a `[network]` table.
    pub network: Option<NetworkDef>,
    /// The agents' fetcher, when the scenario has a `[fetcher]` table or tasks with
    /// `uris`.
    pub fetcher: Option<FetcherDef>,
    /// TLS, the master CPU model and executor transports, when the scenario uses them.
    pub tls: Option<TlsDef>,
}

/// Master flags.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// `--allocation_interval`.
    pub allocation_interval: SimDuration,
    /// `--offer_timeout`.
    pub offer_timeout: Option<SimDuration>,
    /// `--min_allocatable_resources` (OR of ANDs).
    pub min_allocatable_resources: Vec<ResourceQuantities>,
    /// `--filter_gpu_resources`.
    pub filter_gpu_resources: bool,
    /// `--fair_sharing_excluded_resource_names`.
    pub fair_sharing_excluded_resource_names: Vec<String>,
    /// One-way control message latency.
    pub message_latency: SimDuration,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct AgentDef {
    /// Agent name.
    pub name: String,
    /// Total resources.
    pub resources: Resources,
    /// Attributes.
    pub attributes: Vec<(String, String)>,
    /// Registration time.
    pub start: SimTime,
}

/// One role.
#[derive(Debug, Clone)]
pub struct RoleDef {
    /// Role path.
    pub name: String,
    /// DRF weight.
    pub weight: f64,
    /// Quota guarantees.
    pub guarantees: Option<ResourceQuantities>,
    /// Quota limits.
    pub limits: Option<ResourceQuantities>,
}

/// Framework capabilities a scenario can switch on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// MULTI_ROLE (on unless the file lists capabilities without it... always on here).
    pub multi_role: bool,
    /// REVOCABLE_RESOURCES.
    pub revocable_resources: bool,
    /// GPU_RESOURCES.
    pub gpu_resources: bool,
    /// SHARED_RESOURCES.
    pub shared_resources: bool,
    /// RESERVATION_REFINEMENT.
    pub reservation_refinement: bool,
}

/// What a framework does with offers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Jobs of tasks arriving over time.
    Batch {
        /// Time between job arrivals (ns).
        job_interarrival: Dist,
        /// Tasks per job.
        tasks_per_job: Dist,
        /// Each task's resources.
        task_resources: Resources,
        /// Each task's running time (ns).
        task_duration: Dist,
        /// Stop after this many jobs.
        max_jobs: Option<u64>,
    },
    /// Long-running instances that never finish on their own.
    Service {
        /// Instances to keep running.
        instances: u64,
        /// Each instance's resources.
        task_resources: Resources,
    },
    /// Holds offers until the timeline acts.
    Scripted,
    /// Runs what a replayed trace submits (see [`crate::sim::replay()`]).
    Trace,
    /// Instances on reserved resources with persistent volumes (see
    /// `sim/stateful.rs`).
    Stateful {
        /// Instances to keep running.
        instances: u64,
        /// Each instance's cpus and mem.
        task_resources: Resources,
        /// Each instance's volume size, MB of disk.
        volume_mb: u64,
        /// Agents instances may use (all when empty).
        agents: Vec<String>,
        /// Running time until an instance fails (ns), if it does.
        task_failure: Option<Dist>,
        /// Reserve dynamically (else use existing reservations only).
        reserve: bool,
    },
}

/// One framework.
#[derive(Debug, Clone)]
pub struct FrameworkDef {
    /// Name (DRF tie-break key).
    pub name: String,
    /// Subscribed roles.
    pub roles: Vec<String>,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Registration time, or `None` when a timeline step adds it.
    pub start: Option<SimTime>,
    /// Time to answer an offer.
    pub offer_think_time: SimDuration,
    /// Extra time per task launched from an offer, before the ACCEPT leaves.
    pub task_think_time: SimDuration,
    /// Filter installed on declines (`None` = no filter).
    pub refuse: Option<SimDuration>,
    /// Cap on tasks launched from one offer.
    pub max_tasks_per_offer: Option<u64>,
    /// Suppress when idle, revive when work arrives.
    pub suppress_when_idle: bool,
    /// What it runs.
    pub behaviour: Behaviour,
    /// What its tasks really use, when `[frameworks.usage]` is present.
    pub usage: Option<crate::usage::TaskUsage>,
    /// What its tasks move over the network.
    pub transfers: Transfers,
    /// URIs each task fetches before it runs (empty: none).
    pub uris: Vec<UriDef>,
    /// Jobs launch task groups under the default executor, when set.
    pub task_group: Option<TaskGroupDef>,
}

/// One scripted step.
#[derive(Debug, Clone)]
pub struct Step {
    /// When it runs.
    pub at: SimTime,
    /// What it does.
    pub action: Action,
    /// The exact offers expected from this step until the next one, if checked.
    pub expect_offers: Option<Vec<ExpectedOffer>>,
}

/// An offer a step expects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedOffer {
    /// Framework name.
    pub framework: String,
    /// Role, or any.
    pub role: Option<String>,
    /// Agent name.
    pub agent: String,
    /// Resources.
    pub resources: Resources,
}

/// Timeline actions.
#[derive(Debug, Clone)]
pub enum Action {
    /// Register an agent.
    AddAgent {
        /// The agent.
        agent: AgentDef,
        /// Resources already used: (framework, role, resources).
        used: Vec<(String, String, Resources)>,
    },
    /// Remove an agent (its tasks are lost).
    RemoveAgent {
        /// Agent name.
        agent: String,
    },
    /// Change an agent's total and/or attributes.
    UpdateAgent {
        /// Agent name.
        agent: String,
        /// New total, if it changes.
        resources: Option<Resources>,
        /// New attributes, if they change.
        attributes: Option<Vec<(String, String)>>,
    },
    /// Register a framework declared in `[[frameworks]]`.
    AddFramework {
        /// Framework name.
        framework: String,
    },
    /// Tear a framework down (its tasks are killed).
    RemoveFramework {
        /// Framework name.
        framework: String,
    },
    /// Activate a framework.
    Activate {
        /// Framework name.
        framework: String,
    },
    /// Deactivate a framework.
    Deactivate {
        /// Framework name.
        framework: String,
    },
    /// Suppress offers for roles (empty = all).
    Suppress {
        /// Framework name.
        framework: String,
        /// Roles.
        roles: Vec<String>,
    },
    /// Revive offers for roles (empty = all).
    Revive {
        /// Framework name.
        framework: String,
        /// Roles.
        roles: Vec<String>,
    },
    /// Decline (or, with no filter, return) offered resources.
    Decline {
        /// Framework name.
        framework: String,
        /// Agent name.
        agent: String,
        /// Only offers made under this role.
        role: Option<String>,
        /// The resources, or `None` for whole offers.
        resources: Option<Resources>,
        /// Filter duration, `None` = no filter.
        refuse: Option<SimDuration>,
    },
    /// Operator `/weights`.
    SetWeight {
        /// Role.
        role: String,
        /// Weight.
        weight: f64,
    },
    /// Nothing: a point in time that carries an expectation.
    Check,
    /// Operator `/quota`.
    SetQuota {
        /// Role.
        role: String,
        /// Guarantees.
        guarantees: ResourceQuantities,
        /// Limits.
        limits: ResourceQuantities,
    },
    /// An operator call on an agent's unallocated resources: `RESERVE_RESOURCES`
    /// (with a source: a reservation update), `UNRESERVE_RESOURCES`, `CREATE_VOLUMES`,
    /// `DESTROY_VOLUMES`, `GROW_VOLUME`, `SHRINK_VOLUME`.
    Operation {
        /// Agent name.
        agent: String,
        /// The operation.
        operation: Operation,
        /// The authenticated principal, if any.
        principal: Option<String>,
    },
}

/// The default `Filters.refuse_seconds`.
pub const DEFAULT_REFUSE: SimDuration = SimDuration::from_secs(5);
/// `Filters.refuse_seconds` is capped at 365 days.
const MAX_REFUSE_SECS: f64 = 31_536_000.0;

/// Maps `Filters.refuse_seconds` as Mesos does: negative or not a number → 5 s,
/// 0 → no filter, above 365 days → 365 days.
pub fn refuse_from_seconds(seconds: f64) -> Option<SimDuration> {
    if !seconds.is_finite() || seconds < 0.0 {
        Some(DEFAULT_REFUSE)
    } else if seconds == 0.0 {
        None
    } else {
        Some(SimDuration::from_nanos(
            (seconds.min(MAX_REFUSE_SECS) * 1e9).round() as u64,
        ))
    }
}

/// Turns spans of one source text into errors.
struct Ctx<'a> {
    map: &'a SourceMap,
    overridden: Option<&'a str>,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ScenarioError {
        match self.overridden {
            // After --set the spans belong to a re-rendered text, not the file.
            Some(text) => ScenarioError {
                location: Location::Override(text.to_string()),
                field: Some(field.to_string()),
                message: message.into(),
            },
            None => self.map.error(span, field, message),
        }
    }

    fn duration(&self, s: &Spanned<String>, field: &str) -> Result<SimDuration, ScenarioError> {
        parse_duration(s.get_ref()).map_err(|e| self.err(s.span(), field, e))
    }

    fn resources(&self, s: &Spanned<String>, field: &str) -> Result<Resources, ScenarioError> {
        Resources::parse(s.get_ref()).map_err(|e| self.err(s.span(), field, e.to_string()))
    }

    fn quantities(
        &self,
        s: &Spanned<String>,
        field: &str,
    ) -> Result<ResourceQuantities, ScenarioError> {
        ResourceQuantities::parse(s.get_ref()).map_err(|e| self.err(s.span(), field, e.to_string()))
    }

    fn positive(&self, s: &Spanned<i64>, field: &str) -> Result<u64, ScenarioError> {
        u64::try_from(*s.get_ref())
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                self.err(
                    s.span(),
                    field,
                    format!("must be a positive integer, found {}", s.get_ref()),
                )
            })
    }

    fn dist(&self, d: &spec::DistSpec, field: &str, unit: Unit) -> Result<Dist, ScenarioError> {
        let kind = d.distribution.get_ref().as_str();
        let need = |v: &Option<Spanned<toml::Value>>, name: &str| -> Result<f64, ScenarioError> {
            let v = v.as_ref().ok_or_else(|| {
                self.err(
                    d.distribution.span(),
                    field,
                    format!("a `{kind}` distribution needs `{name}`"),
                )
            })?;
            unit.value(v.get_ref())
                .map_err(|e| self.err(v.span(), &format!("{field}.{name}"), e))
        };
        let present: Vec<&str> = [
            ("value", d.value.is_some()),
            ("min", d.min.is_some()),
            ("max", d.max.is_some()),
            ("mean", d.mean.is_some()),
            ("median", d.median.is_some()),
            ("sigma", d.sigma.is_some()),
            ("sd", d.sd.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.then_some(n))
        .collect();
        let allowed: &[&str] = match kind {
            "constant" => &["value"],
            "uniform" => &["min", "max"],
            "exponential" => &["mean"],
            "lognormal" => &["median", "sigma"],
            "normal" => &["mean", "sd"],
            other => {
                return Err(self.err(
                    d.distribution.span(),
                    &format!("{field}.distribution"),
                    format!("unknown distribution `{other}` (expected constant, uniform, exponential, lognormal or normal)"),
                ))
            }
        };
        if let Some(extra) = present.iter().find(|p| !allowed.contains(p)) {
            return Err(self.err(
                d.distribution.span(),
                field,
                format!("`{extra}` does not apply to a `{kind}` distribution"),
            ));
        }
        let dist = match kind {
            "constant" => Dist::Constant(need(&d.value, "value")?.round() as u64),
            "uniform" => {
                let (min, max) = (
                    need(&d.min, "min")?.round() as u64,
                    need(&d.max, "max")?.round() as u64,
                );
                if min > max {
                    return Err(self.err(
                        d.distribution.span(),
                        field,
                        "`min` is larger than `max`",
                    ));
                }
                Dist::Uniform { min, max }
            }
            "exponential" => Dist::Exponential {
                mean: need(&d.mean, "mean")?,
            },
            "lognormal" => {
                let sigma = d.sigma.as_ref().ok_or_else(|| {
                    self.err(
                        d.distribution.span(),
                        field,
                        "a `lognormal` distribution needs `sigma`",
                    )
                })?;
                if !(*sigma.get_ref() >= 0.0 && sigma.get_ref().is_finite()) {
                    return Err(self.err(
                        sigma.span(),
                        &format!("{field}.sigma"),
                        "must be a non-negative number",
                    ));
                }
                Dist::LogNormal {
                    median: need(&d.median, "median")?,
                    sigma: *sigma.get_ref(),
                }
            }
            _ => Dist::Normal {
                mean: need(&d.mean, "mean")?,
                sd: need(&d.sd, "sd")?,
            },
        };
        if let Dist::Exponential { mean } | Dist::LogNormal { median: mean, .. } = dist {
            if mean <= 0.0 {
                return Err(self.err(
                    d.distribution.span(),
                    field,
                    "the mean/median must be positive",
                ));
            }
        }
        Ok(dist)
    }
}

/// Whether a distribution's values are durations or plain counts.
#[derive(Clone, Copy)]
enum Unit {
    Nanos,
    Count,
}

impl Unit {
    fn value(self, v: &toml::Value) -> Result<f64, String> {
        match (self, v) {
            (Unit::Nanos, toml::Value::String(s)) => parse_duration(s).map(|d| d.as_nanos() as f64),
            (Unit::Nanos, other) => Err(format!(
                "expected a duration string like \"30s\", found {other}"
            )),
            (Unit::Count, toml::Value::Integer(i)) if *i >= 0 => Ok(*i as f64),
            (Unit::Count, toml::Value::Float(f)) if *f >= 0.0 && f.is_finite() => Ok(*f),
            (Unit::Count, other) => Err(format!("expected a non-negative number, found {other}")),
        }
    }
}

fn parse_capabilities(
    ctx: &Ctx<'_>,
    caps: &Option<Spanned<Vec<String>>>,
    field: &str,
) -> Result<Capabilities, ScenarioError> {
    let mut c = Capabilities {
        multi_role: true,
        ..Capabilities::default()
    };
    if let Some(caps) = caps {
        for name in caps.get_ref() {
            match name.to_ascii_lowercase().as_str() {
                "multi_role" => c.multi_role = true,
                "revocable_resources" => c.revocable_resources = true,
                "gpu_resources" => c.gpu_resources = true,
                "shared_resources" => c.shared_resources = true,
                "reservation_refinement" => c.reservation_refinement = true,
                other => {
                    return Err(ctx.err(
                        caps.span(),
                        field,
                        format!("unknown capability `{other}` (expected multi_role, revocable_resources, gpu_resources, shared_resources or reservation_refinement)"),
                    ))
                }
            }
        }
    }
    Ok(c)
}

fn validate_role_name(
    ctx: &Ctx<'_>,
    name: &str,
    span: Range<usize>,
    field: &str,
) -> Result<(), ScenarioError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name
            .split('/')
            .any(|part| part == "." || part == ".." || part.starts_with('-'))
        || name.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad || (name.contains('*') && name != "*") {
        return Err(ctx.err(span, field, format!("`{name}` is not a valid role name")));
    }
    Ok(())
}

impl Scenario {
    /// Reads and validates a scenario file, applying `--set key.path=value` overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            location: Location::Whole(path.to_path_buf()),
            field: None,
            message: format!("cannot read the scenario: {e}"),
        })?;
        Scenario::parse(&text, path, overrides)
    }

    /// The built-in quickstart scenario.
    pub fn quickstart(overrides: &[String]) -> Result<Scenario, ScenarioError> {
        Scenario::parse(QUICKSTART, Path::new("<built-in quickstart>"), overrides)
    }

    /// Validates scenario `text` that came from `path`.
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
        let map = SourceMap::new(path.to_path_buf(), text);
        // The file on its own first, so every error in it carries its line and column.
        let spec = deserialize(text, &map)?;
        let stem = path.file_stem().map(|s| {
            s.to_string_lossy()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        });
        let mut scenario = build(
            spec,
            &Ctx {
                map: &map,
                overridden: None,
            },
            stem.clone(),
        )?;
        let mut digest = Sha256::new();
        digest.update(text.as_bytes());
        if !overrides.is_empty() {
            let mut doc: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| toml_error(&map, &e))?;
            for o in overrides {
                apply_override(&mut doc, o)?;
                digest.update(b"\n--set ");
                digest.update(o.as_bytes());
            }
            let rendered = toml::to_string(&doc).map_err(|e| ScenarioError {
                location: Location::Override(overrides.join(" ")),
                field: None,
                message: e.to_string(),
            })?;
            let rmap = SourceMap::new(path.to_path_buf(), &rendered);
            let joined = overrides.join(" ");
            let spec = deserialize(&rendered, &rmap).map_err(|mut e| {
                e.location = Location::Override(joined.clone());
                e
            })?;
            scenario = build(
                spec,
                &Ctx {
                    map: &rmap,
                    overridden: Some(&joined),
                },
                stem,
            )?;
        }
        scenario.sha256 = hex(&digest.finalize());
        Ok(scenario)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn toml_error(map: &SourceMap, e: &toml::de::Error) -> ScenarioError {
    let location = match e.span() {
        Some(span) => map.locate(span.start),
        None => Location::Whole(map.path().clone()),
    };
    ScenarioError {
        location,
        field: None,
        message: e.message().trim().to_string(),
    }
}

fn deserialize(text: &str, map: &SourceMap) -> Result<ScenarioSpec, ScenarioError> {
    toml::from_str::<ScenarioSpec>(text).map_err(|e| toml_error(map, &e))
}

/// Sets `key.path=value` in a TOML document. Path segments that are integers index
/// arrays (`frameworks.0.refuse_seconds=1`); a segment `name=X` selects the array
/// element whose `name` is X (`frameworks.name=batch.refuse_seconds=1` is ambiguous,
/// so that form is written `frameworks[batch].refuse_seconds=1`). The value is read as
/// TOML (`2`, `true`, `"text"`, `[1, 2]`), and as a plain string when it is not TOML.
pub fn apply_override(doc: &mut toml::Table, text: &str) -> Result<(), ScenarioError> {
    let fail = |message: String| ScenarioError {
        location: Location::Override(text.to_string()),
        field: None,
        message,
    };
    let (path, raw) = text
        .split_once('=')
        .ok_or_else(|| fail("expected key.path=value".into()))?;
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut segments: Vec<String> = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((head, tail)) if tail.ends_with(']') => {
                segments.push(head.to_string());
                segments.push(format!("[{}", &tail[..tail.len() - 1]));
            }
            _ => segments.push(part.to_string()),
        }
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err(fail(format!("`{path}` is not a valid key path")));
    }
    let mut root = toml::Value::Table(std::mem::take(doc));
    let result = set_path(&mut root, &segments, value)
        .map_err(|at| fail(format!("`{at}` does not name a table or array element")));
    if let toml::Value::Table(t) = root {
        *doc = t;
    }
    result
}

/// Sets `segments` below `node` to `value`; on failure returns the path walked so far.
fn set_path(node: &mut toml::Value, segments: &[String], value: toml::Value) -> Result<(), String> {
    let (seg, rest) = segments.split_first().expect("non-empty key path");
    let child = match node {
        toml::Value::Table(t) if rest.is_empty() => {
            t.insert(seg.clone(), value);
            return Ok(());
        }
        toml::Value::Table(t) => Some(
            t.entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        ),
        toml::Value::Array(items) => {
            let index = match seg.strip_prefix('[') {
                Some(name) => items
                    .iter()
                    .position(|v| v.get("name").and_then(|n| n.as_str()) == Some(name)),
                None => seg.parse::<usize>().ok().filter(|i| *i < items.len()),
            };
            index.map(|i| &mut items[i])
        }
        _ => None,
    };
    match child {
        Some(c) if rest.is_empty() => {
            *c = value;
            Ok(())
        }
        Some(c) => set_path(c, rest, value).map_err(|at| format!("{seg}.{at}")),
        None => Err(seg.clone()),
    }
}

fn build(
    spec: ScenarioSpec,
    ctx: &Ctx<'_>,
    stem: Option<String>,
) -> Result<Scenario, ScenarioError> {
    let duration = ctx.duration(&spec.duration, "duration")?;
    if duration == SimDuration::ZERO {
        return Err(ctx.err(spec.duration.span(), "duration", "must be longer than zero"));
    }
    let allocator = match &spec.allocator {
        Some(a) => {
            if !models::allocator::ALLOCATOR_NAMES.contains(&a.get_ref().as_str()) {
                return Err(ctx.err(
                    a.span(),
                    "allocator",
                    format!(
                        "unknown allocator `{}` (expected one of {})",
                        a.get_ref(),
                        models::allocator::ALLOCATOR_NAMES.join(", ")
                    ),
                ));
            }
            a.get_ref().clone()
        }
        None => "hdrf".to_string(),
    };
    let metrics_interval = match &spec.metrics_interval {
        Some(m) => ctx.duration(m, "metrics_interval")?,
        None => SimDuration::from_secs(1),
    };
    if metrics_interval == SimDuration::ZERO {
        return Err(ctx.err(
            spec.metrics_interval
                .as_ref()
                .map(|m| m.span())
                .unwrap_or(0..0),
            "metrics_interval",
            "must be longer than zero",
        ));
    }

    let m = &spec.master;
    let allocation_interval = match &m.allocation_interval {
        Some(s) => ctx.duration(s, "master.allocation_interval")?,
        None => SimDuration::from_secs(1),
    };
    if allocation_interval == SimDuration::ZERO {
        return Err(ctx.err(
            m.allocation_interval
                .as_ref()
                .map(|s| s.span())
                .unwrap_or(0..0),
            "master.allocation_interval",
            "must be longer than zero",
        ));
    }
    let min_allocatable_resources = match &m.min_allocatable_resources {
        Some(s) => s
            .get_ref()
            .split('|')
            .map(|part| {
                ResourceQuantities::parse(part).map_err(|e| {
                    ctx.err(s.span(), "master.min_allocatable_resources", e.to_string())
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => models::allocator::AllocatorConfig::default().min_allocatable_resources,
    };
    let master = MasterConfig {
        allocation_interval,
        offer_timeout: m
            .offer_timeout
            .as_ref()
            .map(|s| ctx.duration(s, "master.offer_timeout"))
            .transpose()?,
        min_allocatable_resources,
        filter_gpu_resources: m.filter_gpu_resources.unwrap_or(true),
        fair_sharing_excluded_resource_names: m
            .fair_sharing_excluded_resource_names
            .clone()
            .unwrap_or_default(),
        message_latency: match &m.message_latency {
            Some(s) => ctx.duration(s, "master.message_latency")?,
            None => SimDuration::from_millis(1),
        },
    };

    let mut agent_names = BTreeMap::new();
    let mut agents = Vec::new();
    let mut group_names: Vec<Vec<String>> = Vec::new();
    for (gi, g) in spec.agents.iter().enumerate() {
        group_names.push(Vec::new());
        let field = format!("agents[{gi}]");
        let count = match &g.count {
            Some(c) => ctx.positive(c, &format!("{field}.count"))?,
            None => 1,
        };
        let resources = ctx.resources(&g.resources, &format!("{field}.resources"))?;
        let start = match &g.start {
            Some(s) => SimTime::ZERO + ctx.duration(s, &format!("{field}.start"))?,
            None => SimTime::ZERO,
        };
        for i in 1..=count {
            let name = if count == 1 {
                g.name.get_ref().clone()
            } else {
                format!("{}-{i}", g.name.get_ref())
            };
            if agent_names.insert(name.clone(), ()).is_some() {
                return Err(ctx.err(
                    g.name.span(),
                    &format!("{field}.name"),
                    format!("agent `{name}` is defined twice"),
                ));
            }
            group_names[gi].push(name.clone());
            agents.push(AgentDef {
                name,
                resources: resources.clone(),
                attributes: g
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                start,
            });
        }
    }
    agents.sort_by_key(|a| a.start); // stable: file order among equal start times

    let mut roles = Vec::new();
    for (ri, r) in spec.roles.iter().enumerate() {
        let field = format!("roles[{ri}]");
        validate_role_name(
            ctx,
            r.name.get_ref(),
            r.name.span(),
            &format!("{field}.name"),
        )?;
        let weight = match &r.weight {
            Some(w) if *w.get_ref() > 0.0 && w.get_ref().is_finite() => *w.get_ref(),
            Some(w) => {
                return Err(ctx.err(
                    w.span(),
                    &format!("{field}.weight"),
                    format!("must be a positive number, found {}", w.get_ref()),
                ))
            }
            None => 1.0,
        };
        let guarantees = r
            .guarantees
            .as_ref()
            .map(|g| ctx.quantities(g, &format!("{field}.guarantees")))
            .transpose()?;
        let limits = r
            .limits
            .as_ref()
            .map(|g| ctx.quantities(g, &format!("{field}.limits")))
            .transpose()?;
        if (guarantees.is_some() || limits.is_some()) && r.name.get_ref().contains('/') {
            return Err(ctx.err(
                r.name.span(),
                &format!("{field}.name"),
                "quota can be set only on top-level roles",
            ));
        }
        roles.push(RoleDef {
            name: r.name.get_ref().clone(),
            weight,
            guarantees,
            limits,
        });
    }

    let timeline_added: Vec<&str> = spec
        .timeline
        .iter()
        .filter(|s| s.action.get_ref() == "add_framework")
        .filter_map(|s| s.framework.as_ref().map(|f| f.get_ref().as_str()))
        .collect();
    let mut frameworks = Vec::new();
    for (fi, f) in spec.frameworks.iter().enumerate() {
        let field = format!("frameworks[{fi}]");
        let name = f.name.get_ref().clone();
        if frameworks.iter().any(|x: &FrameworkDef| x.name == name) {
            return Err(ctx.err(
                f.name.span(),
                &format!("{field}.name"),
                format!("framework `{name}` is defined twice"),
            ));
        }
        if f.roles.get_ref().is_empty() {
            return Err(ctx.err(
                f.roles.span(),
                &format!("{field}.roles"),
                "a framework needs at least one role",
            ));
        }
        for role in f.roles.get_ref() {
            validate_role_name(ctx, role, f.roles.span(), &format!("{field}.roles"))?;
        }
        let capabilities =
            parse_capabilities(ctx, &f.capabilities, &format!("{field}.capabilities"))?;
        let behaviours = [
            f.batch.is_some(),
            f.service.is_some(),
            f.scripted.is_some(),
            f.stateful.is_some(),
        ];
        if behaviours.iter().filter(|b| **b).count() != 1 {
            return Err(ctx.err(
                f.name.span(),
                &field,
                "a framework needs exactly one of `batch`, `service`, `scripted` or `stateful`",
            ));
        }
        let behaviour = if let Some(b) = &f.batch {
            let task_resources =
                ctx.resources(&b.task_resources, &format!("{field}.batch.task_resources"))?;
            if task_resources.is_empty() {
                return Err(ctx.err(
                    b.task_resources.span(),
                    &format!("{field}.batch.task_resources"),
                    "a task needs some resources",
                ));
            }
            Behaviour::Batch {
                job_interarrival: ctx.dist(
                    &b.job_interarrival,
                    &format!("{field}.batch.job_interarrival"),
                    Unit::Nanos,
                )?,
                tasks_per_job: ctx.dist(
                    &b.tasks_per_job,
                    &format!("{field}.batch.tasks_per_job"),
                    Unit::Count,
                )?,
                task_resources,
                task_duration: ctx.dist(
                    &b.task_duration,
                    &format!("{field}.batch.task_duration"),
                    Unit::Nanos,
                )?,
                max_jobs: b
                    .max_jobs
                    .as_ref()
                    .map(|m| ctx.positive(m, &format!("{field}.batch.max_jobs")))
                    .transpose()?,
            }
        } else if let Some(s) = &f.service {
            let task_resources = ctx.resources(
                &s.task_resources,
                &format!("{field}.service.task_resources"),
            )?;
            if task_resources.is_empty() {
                return Err(ctx.err(
                    s.task_resources.span(),
                    &format!("{field}.service.task_resources"),
                    "a task needs some resources",
                ));
            }
            Behaviour::Service {
                instances: ctx.positive(&s.instances, &format!("{field}.service.instances"))?,
                task_resources,
            }
        } else if let Some(st) = &f.stateful {
            build_stateful(ctx, st, &format!("{field}.stateful"), &agent_names)?
        } else {
            Behaviour::Scripted
        };
        let usage = match &f.usage {
            Some(u) => {
                let req = match &behaviour {
                    Behaviour::Batch { task_resources, .. }
                    | Behaviour::Service { task_resources, .. } => task_resources.clone(),
                    _ => Resources::default(),
                };
                let cpus = req.scalar_milli(&models::resources::ResourceName::new("cpus"));
                let mem = req.scalar_milli(&models::resources::ResourceName::new("mem"));
                Some(crate::usage::build_task(
                    &|span, field, msg| ctx.err(span, field, msg),
                    u,
                    &format!("{field}.usage"),
                    cpus,
                    mem,
                )?)
            }
            None => None,
        };
        let task_group = match &f.task_group {
            Some(g) => Some(task_group::build(
                ctx,
                g,
                &field,
                f.name.span(),
                match &behaviour {
                    Behaviour::Batch { task_resources, .. } => Some(task_resources),
                    _ => None,
                },
                usage.as_ref().zip(f.usage.as_ref()),
            )?),
            None => None,
        };
        let start = if timeline_added.contains(&name.as_str()) {
            None
        } else {
            Some(
                SimTime::ZERO
                    + f.start
                        .as_ref()
                        .map(|s| ctx.duration(s, &format!("{field}.start")))
                        .transpose()?
                        .unwrap_or_default(),
            )
        };
        frameworks.push(FrameworkDef {
            name,
            roles: f.roles.get_ref().clone(),
            capabilities,
            start,
            offer_think_time: f
                .offer_think_time
                .as_ref()
                .map(|s| ctx.duration(s, &format!("{field}.offer_think_time")))
                .transpose()?
                .unwrap_or_default(),
            task_think_time: f
                .task_think_time
                .as_ref()
                .map(|s| ctx.duration(s, &format!("{field}.task_think_time")))
                .transpose()?
                .unwrap_or_default(),
            refuse: refuse_from_seconds(f.refuse_seconds.unwrap_or(5.0)),
            max_tasks_per_offer: f
                .max_tasks_per_offer
                .as_ref()
                .map(|m| ctx.positive(m, &format!("{field}.max_tasks_per_offer")))
                .transpose()?,
            suppress_when_idle: f.suppress_when_idle.unwrap_or(false),
            behaviour,
            usage,
            transfers: network::transfers(ctx, f.network.as_ref(), &field)?,
            uris: fetcher::uris(ctx, f.uris.as_ref(), &field, f.name.get_ref())?,
            task_group,
        });
    }

    let mut timeline = Vec::new();
    for (si, s) in spec.timeline.iter().enumerate() {
        let field = format!("timeline[{si}]");
        timeline.push(build_step(ctx, s, &field, &frameworks, &mut agent_names)?);
    }
    timeline.sort_by_key(|s: &Step| s.at); // stable: file order among equal times
    let timeline_agents = timeline
        .iter()
        .filter(|s| matches!(s.action, Action::AddAgent { .. }))
        .count();
    let network = spec
        .network
        .as_ref()
        .map(|n| network::network(ctx, n, agents.len() + timeline_agents))
        .transpose()?;
    let fetcher = match &spec.fetcher {
        Some(f) => Some(fetcher::fetcher(ctx, f)?),
        None => frameworks
            .iter()
            .any(|f| !f.uris.is_empty())
            .then(FetcherDef::default),
    };
    let tls = tls::tls(ctx, spec.tls.as_ref(), &spec.agents, &group_names)?;

    let name = spec
        .name
        .clone()
        .or(stem)
        .unwrap_or_else(|| "scenario".to_string());
    Ok(Scenario {
        name,
        description: spec.description.clone().unwrap_or_default(),
        seed: spec.seed.unwrap_or(1),
        duration,
        allocator,
        metrics_interval,
        master,
        agents,
        roles,
        frameworks,
        timeline,
        sha256: String::new(),
        usage: spec
            .usage
            .as_ref()
            .map(|u| crate::usage::build_config(&|span, field, msg| ctx.err(span, field, msg), u))
            .transpose()?,
        network,
        fetcher,
        tls,
    })
}

fn build_step(
    ctx: &Ctx<'_>,
    s: &spec::StepSpec,
    field: &str,
    frameworks: &[FrameworkDef],
    agent_names: &mut BTreeMap<String, ()>,
) -> Result<Step, ScenarioError> {
    let at = SimTime::ZERO + ctx.duration(&s.at, &format!("{field}.at"))?;
    let action_span = s.action.span();
    let required = |v: &Option<Spanned<String>>, name: &str| -> Result<String, ScenarioError> {
        v.as_ref().map(|x| x.get_ref().clone()).ok_or_else(|| {
            ctx.err(
                action_span.clone(),
                field,
                format!("`{}` needs `{name}`", s.action.get_ref()),
            )
        })
    };
    let framework = |ctx: &Ctx<'_>| -> Result<String, ScenarioError> {
        let name = required(&s.framework, "framework")?;
        if !frameworks.iter().any(|f| f.name == name) {
            let span = s
                .framework
                .as_ref()
                .map(|f| f.span())
                .unwrap_or(action_span.clone());
            return Err(ctx.err(
                span,
                &format!("{field}.framework"),
                format!("no framework named `{name}` in [[frameworks]]"),
            ));
        }
        Ok(name)
    };
    let agent = |ctx: &Ctx<'_>,
                 agent_names: &BTreeMap<String, ()>|
     -> Result<String, ScenarioError> {
        let name = required(&s.agent, "agent")?;
        if !agent_names.contains_key(&name) {
            let span = s
                .agent
                .as_ref()
                .map(|f| f.span())
                .unwrap_or(action_span.clone());
            return Err(ctx.err(span, &format!("{field}.agent"), format!("no agent named `{name}` (agents are defined in [[agents]] or by an earlier add_agent)")));
        }
        Ok(name)
    };
    let attributes = s.attributes.as_ref().map(|a| {
        a.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    });
    let action = match s.action.get_ref().as_str() {
        "add_agent" => {
            let name = required(&s.agent, "agent")?;
            if agent_names.insert(name.clone(), ()).is_some() {
                return Err(ctx.err(s.agent.as_ref().unwrap().span(), &format!("{field}.agent"), format!("agent `{name}` is defined twice")));
            }
            let resources = ctx.resources(s.resources.as_ref().ok_or_else(|| ctx.err(action_span.clone(), field, "`add_agent` needs `resources`"))?, &format!("{field}.resources"))?;
            let mut used = Vec::new();
            for (ui, u) in s.used.iter().flatten().enumerate() {
                let uf = format!("{field}.used[{ui}]");
                let fw = frameworks.iter().find(|f| &f.name == u.framework.get_ref()).ok_or_else(|| {
                    ctx.err(u.framework.span(), &format!("{uf}.framework"), format!("no framework named `{}`", u.framework.get_ref()))
                })?;
                let role = u.role.as_ref().map(|r| r.get_ref().clone()).unwrap_or_else(|| fw.roles[0].clone());
                used.push((fw.name.clone(), role, ctx.resources(&u.resources, &format!("{uf}.resources"))?));
            }
            Action::AddAgent { agent: AgentDef { name, resources, attributes: attributes.unwrap_or_default(), start: at }, used }
        }
        "remove_agent" => Action::RemoveAgent { agent: agent(ctx, agent_names)? },
        "update_agent" => Action::UpdateAgent {
            agent: agent(ctx, agent_names)?,
            resources: s.resources.as_ref().map(|r| ctx.resources(r, &format!("{field}.resources"))).transpose()?,
            attributes,
        },
        "add_framework" => Action::AddFramework { framework: framework(ctx)? },
        "remove_framework" => Action::RemoveFramework { framework: framework(ctx)? },
        "activate" => Action::Activate { framework: framework(ctx)? },
        "deactivate" => Action::Deactivate { framework: framework(ctx)? },
        "suppress" => Action::Suppress { framework: framework(ctx)?, roles: s.roles.clone().unwrap_or_default() },
        "revive" => Action::Revive { framework: framework(ctx)?, roles: s.roles.clone().unwrap_or_default() },
        kind @ ("decline" | "return") => {
            let resources = match &s.resources {
                Some(r) if r.get_ref() == "all" => None,
                Some(r) => Some(ctx.resources(r, &format!("{field}.resources"))?),
                None => None,
            };
            let refuse = if kind == "return" {
                if s.refuse_seconds.is_some() {
                    return Err(ctx.err(action_span, field, "`return` installs no filter; use `decline` with `refuse_seconds`"));
                }
                None
            } else {
                refuse_from_seconds(s.refuse_seconds.unwrap_or(5.0))
            };
            Action::Decline {
                framework: framework(ctx)?,
                agent: agent(ctx, agent_names)?,
                role: s.role.as_ref().map(|r| r.get_ref().clone()),
                resources,
                refuse,
            }
        }
        "set_weight" => {
            let role = required(&s.role, "role")?;
            let w = s.weight.as_ref().ok_or_else(|| ctx.err(action_span.clone(), field, "`set_weight` needs `weight`"))?;
            if !(*w.get_ref() > 0.0 && w.get_ref().is_finite()) {
                return Err(ctx.err(w.span(), &format!("{field}.weight"), format!("must be a positive number, found {}", w.get_ref())));
            }
            Action::SetWeight { role, weight: *w.get_ref() }
        }
        "set_quota" => {
            let role = required(&s.role, "role")?;
            if role.contains('/') {
                return Err(ctx.err(s.role.as_ref().unwrap().span(), &format!("{field}.role"), "quota can be set only on top-level roles"));
            }
            let guarantees = s.guarantees.as_ref().map(|g| ctx.quantities(g, &format!("{field}.guarantees"))).transpose()?.unwrap_or_default();
            let limits = s.limits.as_ref().map(|g| ctx.quantities(g, &format!("{field}.limits"))).transpose()?.unwrap_or_default();
            Action::SetQuota { role, guarantees, limits }
        }
        kind @ ("reserve" | "unreserve" | "create_volume" | "destroy_volume" | "update_reservation") => {
            let agent = agent(ctx, agent_names)?;
            let resources = ctx.resources(s.resources.as_ref().ok_or_else(|| ctx.err(action_span.clone(), field, format!("`{kind}` needs `resources`")))?, &format!("{field}.resources"))?;
            let source = s.source.as_ref().map(|r| ctx.resources(r, &format!("{field}.source"))).transpose()?;
            if source.is_some() != (kind == "update_reservation") {
                return Err(ctx.err(action_span, field, "`source` goes with `update_reservation` only, which needs it"));
            }
            let operation = match kind {
                "reserve" => Operation::Reserve { source: Resources::new(), resources },
                "update_reservation" => Operation::Reserve { source: source.unwrap_or_default(), resources },
                "unreserve" => Operation::Unreserve { resources },
                "create_volume" => Operation::Create { volumes: resources },
                _ => Operation::Destroy { volumes: resources },
            };
            Action::Operation { agent, operation, principal: s.principal.clone() }
        }
        kind @ ("grow_volume" | "shrink_volume") => {
            let agent = agent(ctx, agent_names)?;
            let one = |text: &Spanned<String>, name: &str| -> Result<models::resources::Resource, ScenarioError> {
                let r = ctx.resources(text, &format!("{field}.{name}"))?;
                match r.as_slice() {
                    [single] => Ok(single.clone()),
                    _ => Err(ctx.err(text.span(), &format!("{field}.{name}"), "expected exactly one resource")),
                }
            };
            let need = |v: &Option<Spanned<String>>, name: &str| v.clone().ok_or_else(|| ctx.err(action_span.clone(), field, format!("`{kind}` needs `{name}`")));
            let volume = one(&need(&s.resources, "resources")?, "resources")?;
            let operation = if kind == "grow_volume" {
                Operation::GrowVolume { volume, addition: one(&need(&s.addition, "addition")?, "addition")? }
            } else {
                let sub = one(&need(&s.subtract, "subtract")?, "subtract")?;
                Operation::ShrinkVolume { volume, subtract: sub.scalar_milli() }
            };
            Action::Operation { agent, operation, principal: s.principal.clone() }
        }
        "check" => Action::Check,
        other => {
            return Err(ctx.err(
                action_span,
                &format!("{field}.action"),
                format!("unknown action `{other}` (expected add_agent, remove_agent, update_agent, add_framework, remove_framework, activate, deactivate, suppress, revive, decline, return, set_weight, set_quota, check, reserve, unreserve, create_volume, destroy_volume, update_reservation, grow_volume or shrink_volume)"),
            ))
        }
    };
    let expect_offers = match &s.expect_offers {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for (ei, e) in list.iter().enumerate() {
                let ef = format!("{field}.expect_offers[{ei}]");
                if !frameworks.iter().any(|f| &f.name == e.framework.get_ref()) {
                    return Err(ctx.err(
                        e.framework.span(),
                        &format!("{ef}.framework"),
                        format!("no framework named `{}`", e.framework.get_ref()),
                    ));
                }
                if !agent_names.contains_key(e.agent.get_ref()) {
                    return Err(ctx.err(
                        e.agent.span(),
                        &format!("{ef}.agent"),
                        format!("no agent named `{}`", e.agent.get_ref()),
                    ));
                }
                out.push(ExpectedOffer {
                    framework: e.framework.get_ref().clone(),
                    role: e.role.clone(),
                    agent: e.agent.get_ref().clone(),
                    resources: ctx.resources(&e.resources, &format!("{ef}.resources"))?,
                });
            }
            Some(out)
        }
    };
    Ok(Step {
        at,
        action,
        expect_offers,
    })
}

fn build_stateful(
    ctx: &Ctx<'_>,
    st: &spec::StatefulSpec,
    field: &str,
    agent_names: &BTreeMap<String, ()>,
) -> Result<Behaviour, ScenarioError> {
    let task_resources = ctx.resources(&st.task_resources, &format!("{field}.task_resources"))?;
    if task_resources.is_empty() || task_resources.has_reserved() {
        return Err(ctx.err(
            st.task_resources.span(),
            &format!("{field}.task_resources"),
            "an instance needs some resources, written unreserved",
        ));
    }
    let agents = st
        .agents
        .as_ref()
        .map(|a| a.get_ref().clone())
        .unwrap_or_default();
    if let Some(missing) = agents.iter().find(|a| !agent_names.contains_key(*a)) {
        let span = st.agents.as_ref().map(|a| a.span()).unwrap_or(0..0);
        return Err(ctx.err(
            span,
            &format!("{field}.agents"),
            format!("no agent named `{missing}` in [[agents]]"),
        ));
    }
    Ok(Behaviour::Stateful {
        instances: ctx.positive(&st.instances, &format!("{field}.instances"))?,
        task_resources,
        volume_mb: ctx.positive(&st.volume_mb, &format!("{field}.volume_mb"))?,
        agents,
        task_failure: st
            .task_failure
            .as_ref()
            .map(|d| ctx.dist(d, &format!("{field}.task_failure"), Unit::Nanos))
            .transpose()?,
        reserve: st.reserve.unwrap_or(true),
    })
}
