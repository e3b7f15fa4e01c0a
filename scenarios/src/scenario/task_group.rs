//! `[frameworks.task_group]`: a batch framework whose jobs launch task groups
//! (`LAUNCH_GROUP`) under Mesos's default executor, and their validation
//! (mesos-semantics.md §4.1, Mesos's `docs/nested-container-and-task-group.md`).
//!
//! Each job of the framework launches `batch.tasks_per_job` groups; a group is every
//! task listed in `[[frameworks.task_group.tasks]]`, `count` times each, plus the
//! executor's own resources. The group is launched all or nothing from one offer.
//! `share_cgroups` chooses executor-level isolation (`true`, the default: the
//! executor's cgroup enforces the sum of the tasks' requests) or task-level isolation
//! (`false`: every task has its own cgroups, and only then may it have `limits`).

use std::collections::BTreeMap;

use models::resources::{ResourceName, Resources};
use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::error::ScenarioError;
use crate::usage::{ProfileSpec, TaskUsage};

/// The default executor's resources when the framework does not set them
/// (`ExecutorInfo.resources`; the figure is the one Marathon and the Mesos examples
/// give the default executor).
pub const DEFAULT_EXECUTOR_RESOURCES: &str = "cpus:0.1;mem:32";

/// `[frameworks.task_group]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGroupSpec {
    /// The default executor's own resources, added to every group's allocation;
    /// default `"cpus:0.1;mem:32"`.
    pub executor_resources: Option<Spanned<String>>,
    /// `container.linux_info.share_cgroups` of the group's tasks, default true.
    pub share_cgroups: Option<Spanned<bool>>,
    /// The tasks of one group.
    #[serde(default)]
    pub tasks: Vec<GroupTaskSpec>,
}

/// One task of a group as written (`[[frameworks.task_group.tasks]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupTaskSpec {
    /// Name within the group (`--set …tasks[main].…` selects by it).
    pub name: Spanned<String>,
    /// How many such tasks the group has, default 1.
    pub count: Option<Spanned<i64>>,
    /// Its requests, default `batch.task_resources`.
    pub resources: Option<Spanned<String>>,
    /// Its own `share_cgroups`, default the group's. All tasks under one executor
    /// must agree.
    pub share_cgroups: Option<Spanned<bool>>,
    /// `TaskInfo.limits`: `cpus` (a number or `"inf"`) and `mem` (MB or `"inf"`).
    pub limits: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    /// CPU usage profile, default the framework's `usage.cpu`.
    pub cpu: Option<ProfileSpec>,
    /// Memory usage profile, default the framework's `usage.mem`.
    pub mem: Option<ProfileSpec>,
    /// Runs for exactly its duration whatever CPU it gets (a sidecar), default the
    /// framework's `usage.fixed_duration`.
    pub fixed_duration: Option<bool>,
}

/// A validated task group.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskGroupDef {
    /// The executor's resources.
    pub executor: Resources,
    /// Executor-level (true) or task-level (false) isolation.
    pub share_cgroups: bool,
    /// The tasks, each `count` times.
    pub tasks: Vec<GroupTaskDef>,
}

/// One validated task of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTaskDef {
    /// Name within the group.
    pub name: String,
    /// How many of it.
    pub count: u64,
    /// Its requests.
    pub resources: Resources,
    /// Its usage, limits included.
    pub usage: TaskUsage,
}

impl TaskGroupDef {
    /// The tasks of one group in launch order: each member `count` times.
    pub fn members(&self) -> impl Iterator<Item = (usize, &GroupTaskDef)> {
        self.tasks
            .iter()
            .enumerate()
            .flat_map(|(i, t)| std::iter::repeat_n((i, t), t.count as usize))
    }
}

/// Validates `[frameworks.task_group]` of the framework at `field`, whose batch tasks
/// request `batch_resources` and whose `[frameworks.usage]` is `usage`.
pub(super) fn build(
    ctx: &Ctx<'_>,
    spec: &TaskGroupSpec,
    field: &str,
    name_span: std::ops::Range<usize>,
    batch_resources: Option<&Resources>,
    usage: Option<(&TaskUsage, &crate::usage::TaskUsageSpec)>,
) -> Result<TaskGroupDef, ScenarioError> {
    let field = format!("{field}.task_group");
    let Some(batch_resources) = batch_resources else {
        return Err(ctx.err(
            name_span,
            &field,
            "a task group needs a `batch` framework (each job launches groups)",
        ));
    };
    if spec.tasks.is_empty() {
        return Err(ctx.err(
            name_span,
            &format!("{field}.tasks"),
            "a task group needs at least one task",
        ));
    }
    if let Some((_, u)) = usage {
        for (v, which) in [(&u.cpus_limit, "cpus_limit"), (&u.mem_limit, "mem_limit")] {
            if let Some(v) = v {
                return Err(ctx.err(
                    v.span(),
                    &format!("{}.usage.{which}", field.trim_end_matches(".task_group")),
                    "with a task group, limits are set per task in `task_group.tasks[].limits`",
                ));
            }
        }
    }
    let executor = match &spec.executor_resources {
        Some(s) => ctx.resources(s, &format!("{field}.executor_resources"))?,
        None => Resources::parse(DEFAULT_EXECUTOR_RESOURCES).expect("valid default"),
    };
    let group_share = spec.share_cgroups.as_ref().is_none_or(|s| *s.get_ref());
    let first_share = spec.tasks[0]
        .share_cgroups
        .as_ref()
        .map_or(group_share, |s| *s.get_ref());
    let base = usage.map(|(u, _)| u.clone()).unwrap_or_default();
    let err = |span: std::ops::Range<usize>, f: &str, m: String| ctx.err(span, f, m);
    let mut tasks: Vec<GroupTaskDef> = Vec::new();
    for (i, t) in spec.tasks.iter().enumerate() {
        let tf = format!("{field}.tasks[{i}]");
        let name = t.name.get_ref().clone();
        if tasks.iter().any(|x| x.name == name) {
            return Err(ctx.err(
                t.name.span(),
                &format!("{tf}.name"),
                format!("task `{name}` is defined twice in the group"),
            ));
        }
        let share = t
            .share_cgroups
            .as_ref()
            .map_or(group_share, |s| *s.get_ref());
        if share != first_share {
            let span = t
                .share_cgroups
                .as_ref()
                .map_or_else(|| t.name.span(), |s| s.span());
            return Err(ctx.err(
                span,
                &format!("{tf}.share_cgroups"),
                format!(
                    "all tasks under one executor must use the same share_cgroups \
                     (tasks[0] uses {first_share}, this task {share})"
                ),
            ));
        }
        let resources = match &t.resources {
            Some(s) => ctx.resources(s, &format!("{tf}.resources"))?,
            None => batch_resources.clone(),
        };
        if resources.is_empty() {
            let span = t
                .resources
                .as_ref()
                .map_or_else(|| t.name.span(), |s| s.span());
            return Err(ctx.err(
                span,
                &format!("{tf}.resources"),
                "a task needs some resources",
            ));
        }
        let mut usage = base.clone();
        if let Some(p) = &t.cpu {
            usage.cpu = crate::usage::profile(&err, p, &format!("{tf}.cpu"))?;
        }
        if let Some(p) = &t.mem {
            usage.mem = crate::usage::profile(&err, p, &format!("{tf}.mem"))?;
        }
        if let Some(f) = t.fixed_duration {
            usage.fixed_duration = f;
        }
        if let Some(limits) = &t.limits {
            if share {
                return Err(ctx.err(
                    limits.span(),
                    &format!("{tf}.limits"),
                    "limits on a task of a task group need `share_cgroups = false` \
                     (with shared cgroups the executor's cgroup enforces the sum of the \
                     tasks' requests)",
                ));
            }
            for (res, v) in limits.get_ref() {
                let lf = format!("{tf}.limits.{res}");
                if res != "cpus" && res != "mem" {
                    return Err(ctx.err(
                        v.span(),
                        &lf,
                        format!("only `cpus` and `mem` take limits, found `{res}`"),
                    ));
                }
                let request = resources.scalar_milli(&ResourceName::new(res));
                if request <= 0 {
                    return Err(ctx.err(
                        v.span(),
                        &lf,
                        format!("a limit needs a request for `{res}` in the task's resources"),
                    ));
                }
                let limit = crate::usage::limit(&err, &Some(v.clone()), &lf, request)?;
                if res == "cpus" {
                    usage.cpus_limit = limit;
                } else {
                    usage.mem_limit = limit;
                }
            }
        }
        tasks.push(GroupTaskDef {
            name,
            count: t
                .count
                .as_ref()
                .map(|c| ctx.positive(c, &format!("{tf}.count")))
                .transpose()?
                .unwrap_or(1),
            resources,
            usage,
        });
    }
    Ok(TaskGroupDef {
        executor,
        share_cgroups: first_share,
        tasks,
    })
}
