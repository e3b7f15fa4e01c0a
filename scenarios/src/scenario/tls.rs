//! The `[tls]` table (SSL on libprocess traffic and the master's CPU as a queue,
//! mesos-semantics.md §7) and each agent group's `executor_transport` (executor domain
//! sockets, §8), validated into [`TlsDef`].

use std::collections::BTreeMap;

use models::tls::{TlsCosts, TlsVersion};
use serde::Deserialize;
use sim_core::time::SimDuration;
use toml::Spanned;

use super::Ctx;
use crate::error::ScenarioError;
use crate::spec::AgentGroupSpec;

/// `[tls]` as written. Its presence turns on the master CPU model; every field is
/// optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// `LIBPROCESS_SSL_ENABLED`, default true (false: the same CPU model without TLS).
    pub enabled: Option<bool>,
    /// `"1.2"` (default; the only version Mesos enables) or `"1.3"`.
    pub version: Option<Spanned<String>>,
    /// Reconnecting peers resume their session, default false.
    pub session_resumption: Option<bool>,
    /// Server CPU of a full handshake, default `"1726us"` (RSA-2048 sign).
    pub server_handshake: Option<Spanned<String>>,
    /// Client CPU of a full handshake, default `"78us"` (RSA-2048 verify).
    pub client_handshake: Option<Spanned<String>>,
    /// AES-GCM CPU per byte in picoseconds, default 213.
    pub crypto_ps_per_byte: Option<Spanned<i64>>,
    /// Master CPU per offer sent, default `"20us"`.
    pub offer_cpu: Option<Spanned<String>>,
    /// Master CPU per ACCEPT (plus `launch_cpu` per task), default `"30us"`.
    pub accept_cpu: Option<Spanned<String>>,
    /// Master CPU per task launched from an ACCEPT, default `"10us"`.
    pub launch_cpu: Option<Spanned<String>>,
    /// Master CPU per DECLINE, SUPPRESS or REVIVE, default `"10us"`.
    pub decline_cpu: Option<Spanned<String>>,
    /// Master CPU per status update (received and forwarded), default `"15us"`.
    pub status_update_cpu: Option<Spanned<String>>,
    /// Master CPU per agent or framework registration, default `"100us"`.
    pub registration_cpu: Option<Spanned<String>>,
    /// Master CPU of an allocation cycle per agent visited, default `"1us"`.
    pub allocation_cpu_per_agent: Option<Spanned<String>>,
    /// One-way latency of an executor's TCP message to its agent, default `"6us"`.
    pub executor_tcp_latency: Option<Spanned<String>>,
    /// One-way latency of an executor's domain-socket message, default `"2us"`.
    pub executor_domain_socket_latency: Option<Spanned<String>>,
}

/// How an executor talks to its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExecutorTransport {
    /// TCP through the container's network namespace (TLS when enabled).
    Tcp,
    /// The agent's unix domain socket (`--http_executor_domain_sockets`): no TCP, no TLS.
    DomainSocket,
}

impl ExecutorTransport {
    /// The name used in scenarios and summaries.
    pub fn name(self) -> &'static str {
        match self {
            ExecutorTransport::Tcp => "tcp",
            ExecutorTransport::DomainSocket => "domain_socket",
        }
    }
}

/// The executor path of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorPath {
    /// The transport.
    pub transport: ExecutorTransport,
    /// The container's network blocks the agent (TCP executors cannot register).
    pub container_network_blocks_agent: bool,
}

/// Master CPU service times (ns) per message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterCpuCosts {
    /// Per offer sent.
    pub offer_ns: u64,
    /// Per ACCEPT.
    pub accept_ns: u64,
    /// Per task launched from an ACCEPT.
    pub launch_ns: u64,
    /// Per DECLINE, SUPPRESS or REVIVE.
    pub decline_ns: u64,
    /// Per status update.
    pub status_update_ns: u64,
    /// Per agent or framework registration.
    pub registration_ns: u64,
    /// Per agent visited by an allocation cycle.
    pub allocation_per_agent_ns: u64,
}

/// The validated TLS and executor-transport configuration.
#[derive(Debug, Clone)]
pub struct TlsDef {
    /// TLS costs when `[tls]` is present and enabled.
    pub tls: Option<TlsCosts>,
    /// The master CPU model, when `[tls]` is present.
    pub master_cpu: Option<MasterCpuCosts>,
    /// Executor paths by agent name (agents of groups that set `executor_transport`).
    pub executors: BTreeMap<String, ExecutorPath>,
    /// One-way latency of an executor TCP message.
    pub executor_tcp_latency: SimDuration,
    /// One-way latency of an executor domain-socket message.
    pub executor_domain_socket_latency: SimDuration,
}

fn dur(
    ctx: &Ctx<'_>,
    s: &Option<Spanned<String>>,
    field: &str,
    default_ns: u64,
) -> Result<u64, ScenarioError> {
    match s {
        Some(s) => Ok(ctx.duration(s, field)?.as_nanos()),
        None => Ok(default_ns),
    }
}

/// Validates `[tls]` and the agent groups' executor transports; `None` when the
/// scenario uses neither. `names` are each group's agent names.
pub(super) fn tls(
    ctx: &Ctx<'_>,
    spec: Option<&TlsSpec>,
    groups: &[AgentGroupSpec],
    names: &[Vec<String>],
) -> Result<Option<TlsDef>, ScenarioError> {
    let mut executors = BTreeMap::new();
    for (gi, (g, names)) in groups.iter().zip(names).enumerate() {
        let Some(t) = &g.executor_transport else {
            continue;
        };
        let transport = match t.get_ref().as_str() {
            "tcp" => ExecutorTransport::Tcp,
            "domain_socket" => ExecutorTransport::DomainSocket,
            other => {
                return Err(ctx.err(
                    t.span(),
                    &format!("agents[{gi}].executor_transport"),
                    format!("must be \"tcp\" or \"domain_socket\", found `{other}`"),
                ))
            }
        };
        let path = ExecutorPath {
            transport,
            container_network_blocks_agent: g.container_network_blocks_agent.unwrap_or(false),
        };
        for n in names {
            executors.insert(n.clone(), path);
        }
    }
    if spec.is_none() && executors.is_empty() {
        return Ok(None);
    }
    let default = TlsSpec::default();
    let s = spec.unwrap_or(&default);
    let version = match &s.version {
        Some(v) => TlsVersion::parse(v.get_ref()).ok_or_else(|| {
            ctx.err(
                v.span(),
                "tls.version",
                format!("must be \"1.2\" or \"1.3\", found `{}`", v.get_ref()),
            )
        })?,
        None => TlsVersion::V1_2,
    };
    let d = TlsCosts::default();
    let crypto_ps_per_byte = match &s.crypto_ps_per_byte {
        Some(v) => u64::try_from(*v.get_ref()).map_err(|_| {
            ctx.err(
                v.span(),
                "tls.crypto_ps_per_byte",
                format!("must be a non-negative integer, found {}", v.get_ref()),
            )
        })?,
        None => d.crypto_ps_per_byte,
    };
    let costs = TlsCosts {
        version,
        session_resumption: s.session_resumption.unwrap_or(false),
        server_handshake_ns: dur(
            ctx,
            &s.server_handshake,
            "tls.server_handshake",
            d.server_handshake_ns,
        )?,
        client_handshake_ns: dur(
            ctx,
            &s.client_handshake,
            "tls.client_handshake",
            d.client_handshake_ns,
        )?,
        crypto_ps_per_byte,
    };
    let master_cpu = MasterCpuCosts {
        offer_ns: dur(ctx, &s.offer_cpu, "tls.offer_cpu", 20_000)?,
        accept_ns: dur(ctx, &s.accept_cpu, "tls.accept_cpu", 30_000)?,
        launch_ns: dur(ctx, &s.launch_cpu, "tls.launch_cpu", 10_000)?,
        decline_ns: dur(ctx, &s.decline_cpu, "tls.decline_cpu", 10_000)?,
        status_update_ns: dur(ctx, &s.status_update_cpu, "tls.status_update_cpu", 15_000)?,
        registration_ns: dur(ctx, &s.registration_cpu, "tls.registration_cpu", 100_000)?,
        allocation_per_agent_ns: dur(
            ctx,
            &s.allocation_cpu_per_agent,
            "tls.allocation_cpu_per_agent",
            1_000,
        )?,
    };
    let present = spec.is_some();
    Ok(Some(TlsDef {
        tls: (present && s.enabled.unwrap_or(true)).then_some(costs),
        master_cpu: present.then_some(master_cpu),
        executors,
        executor_tcp_latency: SimDuration::from_nanos(dur(
            ctx,
            &s.executor_tcp_latency,
            "tls.executor_tcp_latency",
            6_000,
        )?),
        executor_domain_socket_latency: SimDuration::from_nanos(dur(
            ctx,
            &s.executor_domain_socket_latency,
            "tls.executor_domain_socket_latency",
            2_000,
        )?),
    }))
}
