//! Validation of the `[network]` table and each framework's `[frameworks.network]`
//! transfers into the models' network configuration.

use models::network::{NetworkConfig, Recompute, TopologyConfig, MIN_EGRESS_RATE_LIMIT};
use sim_core::time::SimDuration;
use toml::Spanned;

use super::Ctx;
use crate::error::ScenarioError;
use crate::spec::{NetworkSpec, TaskNetworkSpec};

/// The validated `[network]` table.
#[derive(Debug, Clone)]
pub struct NetworkDef {
    /// Topology, port ranges and recompute policy for [`models::network::Network`].
    pub config: NetworkConfig,
    /// `--egress_rate_limit_per_container` in bytes/s (`None`: no limit).
    pub egress_rate_limit_per_container: Option<u64>,
    /// Where the frameworks' schedulers run (the far end of their control messages).
    pub schedulers: SchedulerPlacement,
}

/// Where the frameworks' schedulers sit in the topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SchedulerPlacement {
    /// Outside the racks, behind the core's non-blocking edge (the default).
    #[default]
    Outside,
    /// Framework `i`'s scheduler runs on agent `i mod agents` (a Spark driver in
    /// cluster mode, a scheduler launched as a task), so its messages cross that
    /// agent's NIC and rack uplink.
    OnAgents,
}

/// What each task of a framework moves; all zero when it moves nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Bytes read from another agent when the task starts.
    pub input_bytes: u64,
    /// Bytes sent to other agents.
    pub shuffle_bytes: u64,
    /// Parallel flows of the shuffle (at least 1).
    pub shuffle_flows: u64,
    /// Bytes written to another agent.
    pub output_bytes: u64,
    /// A service instance's response size.
    pub request_bytes: u64,
    /// Time between a service instance's responses.
    pub request_interval: Option<SimDuration>,
}

impl Transfers {
    /// True when the tasks move nothing.
    pub fn is_empty(&self) -> bool {
        self.input_bytes == 0
            && self.shuffle_bytes == 0
            && self.output_bytes == 0
            && self.request_bytes == 0
    }
}

fn non_negative(
    ctx: &Ctx<'_>,
    v: &Option<Spanned<i64>>,
    field: &str,
) -> Result<Option<u64>, ScenarioError> {
    v.as_ref()
        .map(|s| {
            u64::try_from(*s.get_ref()).map_err(|_| {
                ctx.err(
                    s.span(),
                    field,
                    format!("must be a non-negative integer, found {}", s.get_ref()),
                )
            })
        })
        .transpose()
}

fn positive(
    ctx: &Ctx<'_>,
    v: &Option<Spanned<i64>>,
    field: &str,
) -> Result<Option<u64>, ScenarioError> {
    v.as_ref().map(|s| ctx.positive(s, field)).transpose()
}

/// Validates `[network]` for a cluster of at most `agents` agents.
pub(super) fn network(
    ctx: &Ctx<'_>,
    n: &NetworkSpec,
    agents: usize,
) -> Result<NetworkDef, ScenarioError> {
    let agents = u32::try_from(agents).unwrap_or(u32::MAX);
    let mut config = NetworkConfig::flat(agents);
    let t: &mut TopologyConfig = &mut config.topology;
    if let Some(v) = positive(ctx, &n.nic_bytes_per_sec, "network.nic_bytes_per_sec")? {
        t.nic_bytes_per_sec = v;
    }
    if let Some(v) = non_negative(ctx, &n.agents_per_rack, "network.agents_per_rack")? {
        t.agents_per_rack = u32::try_from(v).unwrap_or(u32::MAX);
    }
    t.uplink_bytes_per_sec =
        positive(ctx, &n.uplink_bytes_per_sec, "network.uplink_bytes_per_sec")?;
    if let Some(v) = positive(
        ctx,
        &n.artifact_server_bytes_per_sec,
        "network.artifact_server_bytes_per_sec",
    )? {
        t.artifact_server_bytes_per_sec = v;
    }
    if let Some(s) = &n.link_latency {
        let l = ctx.duration(s, "network.link_latency")?;
        t.host_link_latency = l;
        t.uplink_latency = l;
    }
    let field = "network.ephemeral_ports_per_container";
    if let Some(v) = positive(ctx, &n.ephemeral_ports_per_container, field)? {
        if !v.is_power_of_two() {
            let span = n.ephemeral_ports_per_container.as_ref().map(|s| s.span());
            return Err(ctx.err(
                span.unwrap_or(0..0),
                field,
                format!("must be a power of 2, found {v}"),
            ));
        }
        config.ephemeral_ports_per_container = u32::try_from(v).unwrap_or(u32::MAX);
    }
    if let Some(v) = positive(
        ctx,
        &n.ephemeral_ports_per_agent,
        "network.ephemeral_ports_per_agent",
    )? {
        config.ephemeral_ports_per_agent = u32::try_from(v).unwrap_or(u32::MAX);
    }
    let field = "network.egress_rate_limit_per_container";
    let egress = match non_negative(ctx, &n.egress_rate_limit_per_container, field)? {
        None | Some(0) => None,
        Some(v) if v < MIN_EGRESS_RATE_LIMIT => {
            let span = n.egress_rate_limit_per_container.as_ref().map(|s| s.span());
            return Err(ctx.err(
                span.unwrap_or(0..0),
                field,
                format!(
                    "must be 0 (no limit) or at least {MIN_EGRESS_RATE_LIMIT} bytes/s \
                     (--minimum_egress_rate_limit), found {v}"
                ),
            ));
        }
        Some(v) => Some(v),
    };
    let schedulers = match &n.schedulers {
        None => SchedulerPlacement::Outside,
        Some(s) => match s.get_ref().as_str() {
            "outside" => SchedulerPlacement::Outside,
            "on_agents" => SchedulerPlacement::OnAgents,
            other => {
                return Err(ctx.err(
                    s.span(),
                    "network.schedulers",
                    format!("must be \"outside\" or \"on_agents\", found {other:?}"),
                ))
            }
        },
    };
    config.recompute = Recompute::Incremental;
    Ok(NetworkDef {
        config,
        egress_rate_limit_per_container: egress,
        schedulers,
    })
}

/// Validates a framework's `[frameworks.network]`.
pub(super) fn transfers(
    ctx: &Ctx<'_>,
    n: Option<&TaskNetworkSpec>,
    framework_field: &str,
) -> Result<Transfers, ScenarioError> {
    let Some(n) = n else {
        return Ok(Transfers::default());
    };
    let f = |name: &str| format!("{framework_field}.network.{name}");
    let bytes = |v: &Option<Spanned<i64>>, name: &str| {
        non_negative(ctx, v, &f(name)).map(Option::unwrap_or_default)
    };
    let request_interval = n
        .request_interval
        .as_ref()
        .map(|s| ctx.duration(s, &f("request_interval")))
        .transpose()?;
    let request_bytes = bytes(&n.request_bytes, "request_bytes")?;
    if request_bytes > 0 && request_interval.is_none_or(|i| i == SimDuration::ZERO) {
        let span = n.request_bytes.as_ref().map(|s| s.span());
        return Err(ctx.err(
            span.unwrap_or(0..0),
            &f("request_bytes"),
            "needs a `request_interval` longer than zero",
        ));
    }
    Ok(Transfers {
        input_bytes: bytes(&n.input_bytes, "input_bytes")?,
        shuffle_bytes: bytes(&n.shuffle_bytes, "shuffle_bytes")?,
        shuffle_flows: positive(ctx, &n.shuffle_flows, &f("shuffle_flows"))?.unwrap_or(1),
        output_bytes: bytes(&n.output_bytes, "output_bytes")?,
        request_bytes,
        request_interval,
    })
}
