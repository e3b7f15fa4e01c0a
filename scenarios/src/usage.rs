//! The scenario format of the resource usage model (oversubscription and bursting,
//! mesos-semantics.md §3–§4): the agents' `[usage]` table and each framework's
//! `[frameworks.usage]`, as written ([`UsageSpec`], [`TaskUsageSpec`]) and validated
//! ([`UsageConfig`], [`TaskUsage`]). Every field is optional; a scenario with neither
//! table runs without the model, exactly as before.

use std::ops::Range;

use models::usage::profile::UsageProfile;
use models::usage::Limit;
use serde::Deserialize;
use sim_core::time::SimDuration;
use toml::Spanned;

use crate::duration::parse_duration;
use crate::error::ScenarioError;

/// `[usage]`: agent flags of the usage model, the estimator and the QoS controller.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    /// How often task usage is re-evaluated on each agent, default `"10s"`.
    pub interval: Option<Spanned<String>>,
    /// `--revocable_cpu_low_priority`, default true.
    pub revocable_cpu_low_priority: Option<bool>,
    /// `--cgroups_enable_cfs`, default false.
    pub cgroups_enable_cfs: Option<bool>,
    /// `noop` (default), `fixed` or `usage`.
    pub estimator: Option<Spanned<String>>,
    /// `fixed`: the revocable CPUs each agent advertises.
    pub fixed_cpus: Option<Spanned<f64>>,
    /// `usage`: weight of the newest sample in the moving average, 0–1 (default 0.5).
    pub smoothing: Option<Spanned<f64>>,
    /// `usage`: safety margin as a fraction of allocated CPUs, 0–1 (default 0.1).
    pub margin: Option<Spanned<f64>>,
    /// `--oversubscribed_resources_interval`, default `"15s"`.
    pub oversubscribed_resources_interval: Option<Spanned<String>>,
    /// `noop` (default), `load` or `shortfall`.
    pub qos: Option<Spanned<String>>,
    /// `--qos_correction_interval_min`, default `"20s"` (Mesos polls continuously by
    /// default; the docs' example uses 20 s).
    pub qos_correction_interval_min: Option<Spanned<String>>,
    /// `load`: `load_threshold_5min`.
    pub load_threshold_5min: Option<Spanned<f64>>,
    /// `load`: `load_threshold_15min`.
    pub load_threshold_15min: Option<Spanned<f64>>,
    /// `shortfall`: CPUs stolen from latency-sensitive tasks that are tolerated
    /// (default 0.1).
    pub shortfall_tolerance: Option<Spanned<f64>>,
}

/// `[frameworks.usage]`: what each of the framework's tasks really uses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskUsageSpec {
    /// CPU usage over time, as a fraction of the cpus request (default: constant 1).
    pub cpu: Option<ProfileSpec>,
    /// Memory usage over time, as a fraction of the mem request (default: constant 1).
    pub mem: Option<ProfileSpec>,
    /// CPU limit (`TaskInfo.limits`): a number of CPUs or `"inf"`.
    pub cpus_limit: Option<Spanned<toml::Value>>,
    /// Memory limit in MB, or `"inf"`.
    pub mem_limit: Option<Spanned<toml::Value>>,
    /// A latency-sensitive service (protected by the `shortfall` QoS controller).
    pub latency_sensitive: Option<bool>,
    /// Resubmit tasks preempted by a QoS controller (best-effort frameworks).
    pub resubmit_preempted: Option<bool>,
    /// Batch tasks run for exactly `task_duration` whatever CPU they get, instead of
    /// doing `task_duration × cpus` CPU-seconds of work (default false).
    pub fixed_duration: Option<bool>,
}

/// A usage profile as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// `constant`, `uniform`, `diurnal` or `table`.
    pub profile: Spanned<String>,
    /// `constant`: the level.
    pub level: Option<Spanned<f64>>,
    /// `uniform`: lowest level.
    pub min: Option<Spanned<f64>>,
    /// `uniform`: highest level.
    pub max: Option<Spanned<f64>>,
    /// `diurnal`: lowest level.
    pub trough: Option<Spanned<f64>>,
    /// `diurnal`: highest level.
    pub peak: Option<Spanned<f64>>,
    /// `diurnal`: cycle length, default `"24h"`; the cycle follows the cluster's
    /// clock (all services peak together).
    pub period: Option<Spanned<String>>,
    /// `diurnal`: time of the trough within the cycle, default `"0s"`.
    pub phase: Option<Spanned<String>>,
    /// `table`: `[["0s", 0.5], ["10m", 1.5], …]` from each task's start.
    pub steps: Option<Spanned<Vec<(String, f64)>>>,
    /// `table`: restart the table after this long.
    pub repeat: Option<Spanned<String>>,
}

/// The validated `[usage]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageConfig {
    /// Re-evaluation interval of task usage.
    pub interval: SimDuration,
    /// `--revocable_cpu_low_priority`.
    pub revocable_cpu_low_priority: bool,
    /// `--cgroups_enable_cfs`.
    pub cgroups_enable_cfs: bool,
    /// Estimator name.
    pub estimator: String,
    /// `fixed`: milli-CPUs.
    pub fixed_cpus: u64,
    /// `usage`: smoothing weight, per-mille.
    pub smoothing: u64,
    /// `usage`: margin, per-mille.
    pub margin: u64,
    /// `--oversubscribed_resources_interval`.
    pub oversubscribed_resources_interval: SimDuration,
    /// QoS controller name.
    pub qos: String,
    /// `--qos_correction_interval_min`.
    pub qos_correction_interval_min: SimDuration,
    /// `load`: milli-runnable.
    pub load_threshold_5min: Option<u64>,
    /// `load`: milli-runnable.
    pub load_threshold_15min: Option<u64>,
    /// `shortfall`: milli-CPUs.
    pub shortfall_tolerance: u64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            interval: SimDuration::from_secs(10),
            revocable_cpu_low_priority: true,
            cgroups_enable_cfs: false,
            estimator: "noop".to_string(),
            fixed_cpus: 0,
            smoothing: 500,
            margin: 100,
            oversubscribed_resources_interval: SimDuration::from_secs(15),
            qos: "noop".to_string(),
            qos_correction_interval_min: SimDuration::from_secs(20),
            load_threshold_5min: None,
            load_threshold_15min: None,
            shortfall_tolerance: 100,
        }
    }
}

/// The validated `[frameworks.usage]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUsage {
    /// CPU profile (per-mille of the cpus request).
    pub cpu: UsageProfile,
    /// Memory profile (per-mille of the mem request).
    pub mem: UsageProfile,
    /// CPU limit, milli-CPUs.
    pub cpus_limit: Option<Limit>,
    /// Memory limit, milli-MB.
    pub mem_limit: Option<Limit>,
    /// Latency-sensitive.
    pub latency_sensitive: bool,
    /// Resubmit preempted tasks.
    pub resubmit_preempted: bool,
    /// Run for the task duration whatever the CPU rate.
    pub fixed_duration: bool,
}

impl Default for TaskUsage {
    fn default() -> Self {
        TaskUsage {
            cpu: UsageProfile::Constant(1000),
            mem: UsageProfile::Constant(1000),
            cpus_limit: None,
            mem_limit: None,
            latency_sensitive: false,
            resubmit_preempted: false,
            fixed_duration: false,
        }
    }
}

/// Builds errors at a span of the source: `(span, field, message)`.
pub(crate) type ErrAt<'a> = &'a dyn Fn(Range<usize>, &str, String) -> ScenarioError;

fn duration(
    err: ErrAt<'_>,
    s: &Option<Spanned<String>>,
    field: &str,
    default: SimDuration,
) -> Result<SimDuration, ScenarioError> {
    let Some(s) = s else { return Ok(default) };
    let d = parse_duration(s.get_ref()).map_err(|e| err(s.span(), field, e))?;
    if d == SimDuration::ZERO {
        return Err(err(s.span(), field, "must be longer than zero".into()));
    }
    Ok(d)
}

fn fraction(
    err: ErrAt<'_>,
    v: &Option<Spanned<f64>>,
    field: &str,
    default: u64,
    max: f64,
) -> Result<u64, ScenarioError> {
    let Some(v) = v else { return Ok(default) };
    let x = *v.get_ref();
    if !(x.is_finite() && (0.0..=max).contains(&x)) {
        return Err(err(
            v.span(),
            field,
            format!("must be a number from 0 to {max}, found {x}"),
        ));
    }
    Ok((x * 1000.0).round() as u64)
}

fn name(
    err: ErrAt<'_>,
    v: &Option<Spanned<String>>,
    field: &str,
    known: &[&str],
) -> Result<String, ScenarioError> {
    let Some(v) = v else {
        return Ok("noop".to_string());
    };
    if !known.contains(&v.get_ref().as_str()) {
        return Err(err(
            v.span(),
            field,
            format!(
                "unknown `{}` (expected one of {})",
                v.get_ref(),
                known.join(", ")
            ),
        ));
    }
    Ok(v.get_ref().clone())
}

/// Validates `[usage]`.
pub(crate) fn build_config(err: ErrAt<'_>, s: &UsageSpec) -> Result<UsageConfig, ScenarioError> {
    let d = UsageConfig::default();
    let estimator = name(
        err,
        &s.estimator,
        "usage.estimator",
        models::oversubscription::ESTIMATOR_NAMES,
    )?;
    let qos = name(
        err,
        &s.qos,
        "usage.qos",
        models::oversubscription::QOS_NAMES,
    )?;
    let fixed_cpus = fraction(err, &s.fixed_cpus, "usage.fixed_cpus", 0, 1e9)?;
    if estimator == "fixed" && s.fixed_cpus.is_none() {
        let span = s.estimator.as_ref().map_or(0..0, |e| e.span());
        return Err(err(
            span,
            "usage.fixed_cpus",
            "the `fixed` estimator needs `fixed_cpus`".into(),
        ));
    }
    let load_threshold_5min = s
        .load_threshold_5min
        .as_ref()
        .map(|_| {
            fraction(
                err,
                &s.load_threshold_5min,
                "usage.load_threshold_5min",
                0,
                1e9,
            )
        })
        .transpose()?;
    let load_threshold_15min = s
        .load_threshold_15min
        .as_ref()
        .map(|_| {
            fraction(
                err,
                &s.load_threshold_15min,
                "usage.load_threshold_15min",
                0,
                1e9,
            )
        })
        .transpose()?;
    if qos == "load" && load_threshold_5min.is_none() && load_threshold_15min.is_none() {
        let span = s.qos.as_ref().map_or(0..0, |e| e.span());
        return Err(err(
            span,
            "usage.qos",
            "the `load` controller needs `load_threshold_5min` or `load_threshold_15min`".into(),
        ));
    }
    Ok(UsageConfig {
        interval: duration(err, &s.interval, "usage.interval", d.interval)?,
        revocable_cpu_low_priority: s
            .revocable_cpu_low_priority
            .unwrap_or(d.revocable_cpu_low_priority),
        cgroups_enable_cfs: s.cgroups_enable_cfs.unwrap_or(d.cgroups_enable_cfs),
        estimator,
        fixed_cpus,
        smoothing: fraction(err, &s.smoothing, "usage.smoothing", d.smoothing, 1.0)?.max(1),
        margin: fraction(err, &s.margin, "usage.margin", d.margin, 1.0)?,
        oversubscribed_resources_interval: duration(
            err,
            &s.oversubscribed_resources_interval,
            "usage.oversubscribed_resources_interval",
            d.oversubscribed_resources_interval,
        )?,
        qos,
        qos_correction_interval_min: duration(
            err,
            &s.qos_correction_interval_min,
            "usage.qos_correction_interval_min",
            d.qos_correction_interval_min,
        )?,
        load_threshold_5min,
        load_threshold_15min,
        shortfall_tolerance: fraction(
            err,
            &s.shortfall_tolerance,
            "usage.shortfall_tolerance",
            d.shortfall_tolerance,
            1e9,
        )?,
    })
}

/// Validates one limit (a number or `"inf"`) against its request (milli-units).
pub(crate) fn limit(
    err: ErrAt<'_>,
    v: &Option<Spanned<toml::Value>>,
    field: &str,
    request: i64,
) -> Result<Option<Limit>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    let parsed = match v.get_ref() {
        toml::Value::String(s) if s.eq_ignore_ascii_case("inf") => Some(Limit::Infinite),
        toml::Value::Integer(i) if *i >= 0 => Some(Limit::Finite(i * 1000)),
        toml::Value::Float(f) if f.is_finite() && *f >= 0.0 => {
            Some(Limit::Finite((f * 1000.0).round() as i64))
        }
        toml::Value::Float(f) if f.is_infinite() && *f > 0.0 => Some(Limit::Infinite),
        _ => None,
    };
    match parsed {
        None => Err(err(
            v.span(),
            field,
            format!(
                "expected a non-negative number or \"inf\", found {}",
                v.get_ref()
            ),
        )),
        Some(Limit::Finite(l)) if l < request => Err(err(
            v.span(),
            field,
            format!(
                "a limit must be at least the request ({})",
                models::resources::from_milli(request)
            ),
        )),
        Some(l) => Ok(Some(l)),
    }
}

fn level(err: ErrAt<'_>, v: &Option<Spanned<f64>>, field: &str) -> Result<u32, ScenarioError> {
    Ok(fraction(err, v, field, 1000, 1e6)? as u32)
}

/// Validates one usage profile.
pub(crate) fn profile(
    err: ErrAt<'_>,
    p: &ProfileSpec,
    field: &str,
) -> Result<UsageProfile, ScenarioError> {
    let kind = p.profile.get_ref().as_str();
    let need = |present: bool, what: &str| -> Result<(), ScenarioError> {
        if present {
            Ok(())
        } else {
            Err(err(
                p.profile.span(),
                field,
                format!("a `{kind}` profile needs `{what}`"),
            ))
        }
    };
    Ok(match kind {
        "constant" => {
            need(p.level.is_some(), "level")?;
            UsageProfile::Constant(level(err, &p.level, &format!("{field}.level"))?)
        }
        "uniform" => {
            need(p.min.is_some() && p.max.is_some(), "min` and `max")?;
            let (min, max) = (
                level(err, &p.min, &format!("{field}.min"))?,
                level(err, &p.max, &format!("{field}.max"))?,
            );
            if min > max {
                return Err(err(
                    p.profile.span(),
                    field,
                    "`min` is larger than `max`".into(),
                ));
            }
            UsageProfile::Uniform { min, max }
        }
        "diurnal" => {
            need(p.trough.is_some() && p.peak.is_some(), "trough` and `peak")?;
            UsageProfile::Diurnal {
                trough: level(err, &p.trough, &format!("{field}.trough"))?,
                peak: level(err, &p.peak, &format!("{field}.peak"))?,
                period: duration(
                    err,
                    &p.period,
                    &format!("{field}.period"),
                    SimDuration::from_secs(86_400),
                )?,
                phase: match &p.phase {
                    Some(s) => parse_duration(s.get_ref())
                        .map_err(|e| err(s.span(), &format!("{field}.phase"), e))?,
                    None => SimDuration::ZERO,
                },
            }
        }
        "table" => {
            need(p.steps.is_some(), "steps")?;
            let steps_spec = p.steps.as_ref().expect("checked above");
            let f = format!("{field}.steps");
            let mut steps = Vec::new();
            for (at, l) in steps_spec.get_ref() {
                let at = parse_duration(at).map_err(|e| err(steps_spec.span(), &f, e))?;
                if !(l.is_finite() && *l >= 0.0) {
                    return Err(err(steps_spec.span(), &f, format!("bad level {l}")));
                }
                if steps.last().is_some_and(|(prev, _)| *prev >= at) {
                    return Err(err(
                        steps_spec.span(),
                        &f,
                        "steps must be in increasing time order".into(),
                    ));
                }
                steps.push((at, (l * 1000.0).round() as u32));
            }
            if steps.first().is_none_or(|(at, _)| *at != SimDuration::ZERO) {
                return Err(err(
                    steps_spec.span(),
                    &f,
                    "the first step must be at \"0s\"".into(),
                ));
            }
            UsageProfile::Table {
                steps,
                repeat: p
                    .repeat
                    .as_ref()
                    .map(|_| {
                        duration(
                            err,
                            &p.repeat,
                            &format!("{field}.repeat"),
                            SimDuration::ZERO,
                        )
                    })
                    .transpose()?,
            }
        }
        other => {
            return Err(err(
                p.profile.span(),
                &format!("{field}.profile"),
                format!("unknown profile `{other}` (expected constant, uniform, diurnal or table)"),
            ))
        }
    })
}

/// Validates `[frameworks.usage]` for tasks requesting `cpus` and `mem` (milli-units).
pub(crate) fn build_task(
    err: ErrAt<'_>,
    s: &TaskUsageSpec,
    field: &str,
    cpus: i64,
    mem: i64,
) -> Result<TaskUsage, ScenarioError> {
    let d = TaskUsage::default();
    Ok(TaskUsage {
        cpu: match &s.cpu {
            Some(p) => profile(err, p, &format!("{field}.cpu"))?,
            None => d.cpu,
        },
        mem: match &s.mem {
            Some(p) => profile(err, p, &format!("{field}.mem"))?,
            None => d.mem,
        },
        cpus_limit: limit(err, &s.cpus_limit, &format!("{field}.cpus_limit"), cpus)?,
        mem_limit: limit(err, &s.mem_limit, &format!("{field}.mem_limit"), mem)?,
        latency_sensitive: s.latency_sensitive.unwrap_or(false),
        resubmit_preempted: s.resubmit_preempted.unwrap_or(false),
        fixed_duration: s.fixed_duration.unwrap_or(false),
    })
}
