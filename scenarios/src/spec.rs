//! The scenario file as written (TOML), before validation. Field names here are the
//! file format: change them only together with the scenario docs and library.
//!
//! Values that are checked after parsing (resource texts, durations, names) are kept
//! as [`Spanned`] so their errors can point at the line and column they came from.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Name used in outputs; defaults to the file stem.
    pub name: Option<String>,
    /// Free text shown by `validate`.
    pub description: Option<String>,
    /// Master seed of every RNG stream (`--seed` overrides it).
    pub seed: Option<u64>,
    /// Simulated time to run, e.g. `"10m"`.
    pub duration: Spanned<String>,
    /// The allocator by name (`--policy` overrides it).
    pub allocator: Option<Spanned<String>>,
    /// How often time series are sampled into `metrics/*.csv`.
    pub metrics_interval: Option<Spanned<String>>,
    /// Master flags.
    #[serde(default)]
    pub master: MasterSpec,
    /// Groups of identical agents registering at a given time.
    #[serde(default)]
    pub agents: Vec<AgentGroupSpec>,
    /// Roles with weights and quota.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// Frameworks and their behaviour.
    #[serde(default)]
    pub frameworks: Vec<FrameworkSpec>,
    /// Scripted steps at given times.
    #[serde(default)]
    pub timeline: Vec<StepSpec>,
    /// The resource usage model on the agents (oversubscription, bursting).
    pub usage: Option<crate::usage::UsageSpec>,
    /// The cluster network (links, per-container isolation); absent: not modelled.
    pub network: Option<NetworkSpec>,
    /// The agents' fetcher cache and transfer speeds (used when tasks list `uris`).
    pub fetcher: Option<FetcherSpec>,
    /// SSL on control traffic and the master's CPU as a queue; absent: not modelled.
    pub tls: Option<crate::scenario::TlsSpec>,
}

/// Master flags (design.md §3, mesos-semantics.md §0).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterSpec {
    /// `--allocation_interval`, default `"1s"`.
    pub allocation_interval: Option<Spanned<String>>,
    /// `--offer_timeout`; offers never time out when absent.
    pub offer_timeout: Option<Spanned<String>>,
    /// `--min_allocatable_resources`, default `"cpus:0.01|mem:32"`.
    pub min_allocatable_resources: Option<Spanned<String>>,
    /// `--filter_gpu_resources`, default true.
    pub filter_gpu_resources: Option<bool>,
    /// `--fair_sharing_excluded_resource_names`.
    pub fair_sharing_excluded_resource_names: Option<Vec<String>>,
    /// One-way latency of every control message, default `"1ms"`.
    pub message_latency: Option<Spanned<String>>,
}

/// A group of identical agents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroupSpec {
    /// Agent name, or name prefix when `count > 1` (agents are `name-1`, `name-2`, …).
    pub name: Spanned<String>,
    /// How many agents, default 1.
    pub count: Option<Spanned<i64>>,
    /// Each agent's resources in Mesos notation, static reservations included.
    pub resources: Spanned<String>,
    /// Agent attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// When the agents register, default `"0s"`.
    pub start: Option<Spanned<String>>,
    /// How executors reach the agent: `"tcp"` or `"domain_socket"`; absent: not modelled.
    pub executor_transport: Option<Spanned<String>>,
    /// The containers' network blocks the agent: TCP executors cannot register.
    pub container_network_blocks_agent: Option<bool>,
}

/// A role's weight and quota.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Role path, e.g. `eng` or `eng/backend`.
    pub name: Spanned<String>,
    /// DRF weight, default 1.
    pub weight: Option<Spanned<f64>>,
    /// Quota guarantees (scalar quantities).
    pub guarantees: Option<Spanned<String>>,
    /// Quota limits (scalar quantities).
    pub limits: Option<Spanned<String>>,
}

/// A framework (scheduler).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkSpec {
    /// Framework name; also the DRF tie-break key among frameworks of a role.
    pub name: Spanned<String>,
    /// Roles it subscribes to.
    pub roles: Spanned<Vec<String>>,
    /// Capabilities: `revocable_resources`, `gpu_resources`, `shared_resources`,
    /// `reservation_refinement`, `multi_role` (on by default).
    pub capabilities: Option<Spanned<Vec<String>>>,
    /// Registration time, default `"0s"`; ignored when a timeline step adds it.
    pub start: Option<Spanned<String>>,
    /// Time the scheduler takes to answer an offer, default `"0s"`.
    pub offer_think_time: Option<Spanned<String>>,
    /// Extra time per task it launches from an offer, default `"0s"`.
    pub task_think_time: Option<Spanned<String>>,
    /// `Filters.refuse_seconds` on declines, default 5 (negative → 5, 0 → no filter).
    pub refuse_seconds: Option<f64>,
    /// At most this many tasks launched from one offer (default unlimited).
    pub max_tasks_per_offer: Option<Spanned<i64>>,
    /// Suppress offers when it has nothing to run and revive when work arrives.
    pub suppress_when_idle: Option<bool>,
    /// A batch job queue.
    pub batch: Option<BatchSpec>,
    /// A long-running service.
    pub service: Option<ServiceSpec>,
    /// Holds offers until the timeline tells it what to do.
    pub scripted: Option<ScriptedSpec>,
    /// A stateful service on reserved resources and persistent volumes.
    pub stateful: Option<StatefulSpec>,
    /// What its tasks really use (turns the usage model on).
    pub usage: Option<crate::usage::TaskUsageSpec>,
    /// What its tasks move over the network (needs a top-level `[network]`).
    pub network: Option<TaskNetworkSpec>,
    /// URIs each task fetches into its sandbox before it runs (mesos-semantics.md §5).
    pub uris: Option<Vec<UriSpec>>,
    /// Jobs launch task groups under the default executor (needs `batch`).
    pub task_group: Option<crate::scenario::TaskGroupSpec>,
}

/// A stateful service (a database, say): each instance reserves what it needs on an
/// agent, creates a persistent volume there and runs on it; a failed instance is
/// relaunched on the same volume.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatefulSpec {
    /// Instances to keep running, each with its own volume on its own agent.
    pub instances: Spanned<i64>,
    /// Each instance's cpus and mem (unreserved notation).
    pub task_resources: Spanned<String>,
    /// Size of each instance's persistent volume in MB of disk.
    pub volume_mb: Spanned<i64>,
    /// The agents instances may be placed on (any agent when absent).
    pub agents: Option<Spanned<Vec<String>>>,
    /// Running time until an instance's task fails (never when absent).
    pub task_failure: Option<DistSpec>,
    /// Reserve unreserved resources dynamically (default true); when false only
    /// resources already reserved for the role (static reservations) are used.
    pub reserve: Option<bool>,
}

/// Jobs of several tasks arriving over time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// Time between job arrivals.
    pub job_interarrival: DistSpec,
    /// Tasks per job.
    pub tasks_per_job: DistSpec,
    /// Each task's resources.
    pub task_resources: Spanned<String>,
    /// Each task's running time.
    pub task_duration: DistSpec,
    /// Stop submitting after this many jobs.
    pub max_jobs: Option<Spanned<i64>>,
}

/// A service of identical long-running instances.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Instances to keep running.
    pub instances: Spanned<i64>,
    /// Each instance's resources.
    pub task_resources: Spanned<String>,
}

/// A framework driven by timeline steps only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedSpec {}

/// A distribution of durations (strings like `"30s"`) or counts (integers).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistSpec {
    /// `constant`, `uniform`, `exponential`, `lognormal` or `normal`.
    pub distribution: Spanned<String>,
    /// `constant`: the value.
    pub value: Option<Spanned<toml::Value>>,
    /// `uniform`: lower bound (inclusive).
    pub min: Option<Spanned<toml::Value>>,
    /// `uniform`: upper bound (inclusive).
    pub max: Option<Spanned<toml::Value>>,
    /// `exponential` and `normal`: the mean.
    pub mean: Option<Spanned<toml::Value>>,
    /// `lognormal`: the median.
    pub median: Option<Spanned<toml::Value>>,
    /// `lognormal`: σ of the underlying normal.
    pub sigma: Option<Spanned<f64>>,
    /// `normal`: standard deviation.
    pub sd: Option<Spanned<toml::Value>>,
}

/// One scripted step. Which fields apply depends on `action`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// When the step runs. Steps at the same time run in file order, each after
    /// everything the previous one caused at that instant (including allocation).
    pub at: Spanned<String>,
    /// `add_agent`, `remove_agent`, `update_agent`, `add_framework`,
    /// `remove_framework`, `activate`, `deactivate`, `suppress`, `revive`, `decline`,
    /// `return`, `set_weight`, `set_quota`, `check` (does nothing; carries
    /// `expect_offers`), or the operator calls `reserve`, `unreserve`,
    /// `create_volume`, `destroy_volume`, `update_reservation`, `grow_volume` and
    /// `shrink_volume` (on `agent`).
    pub action: Spanned<String>,
    /// Agent name.
    pub agent: Option<Spanned<String>>,
    /// Framework name.
    pub framework: Option<Spanned<String>>,
    /// One role (`decline`, `return`, `set_weight`, `set_quota`).
    pub role: Option<Spanned<String>>,
    /// Several roles (`suppress`, `revive`; empty or absent = all).
    pub roles: Option<Vec<String>>,
    /// Resources (`add_agent`, `update_agent`, `decline`, `return`; `all` = the
    /// whole outstanding offer).
    pub resources: Option<Spanned<String>>,
    /// `decline`: filter duration in seconds (default 5).
    pub refuse_seconds: Option<f64>,
    /// `add_agent`, `update_agent`: attributes.
    pub attributes: Option<BTreeMap<String, String>>,
    /// `add_agent`: resources already in use by a framework's tasks.
    pub used: Option<Vec<UsedSpec>>,
    /// `set_weight`: the weight.
    pub weight: Option<Spanned<f64>>,
    /// `set_quota`: guarantees.
    pub guarantees: Option<Spanned<String>>,
    /// `set_quota`: limits.
    pub limits: Option<Spanned<String>>,
    /// The exact offers made from this step until the next step runs (or the run
    /// ends), in any order; checked while running. `[]` means no offer at all.
    pub expect_offers: Option<Vec<ExpectedOfferSpec>>,
    /// `update_reservation`: the reserved resources to re-reserve (`resources` is
    /// the target).
    pub source: Option<Spanned<String>>,
    /// Operator calls (`reserve`, `unreserve`, `create_volume`, `destroy_volume`,
    /// `update_reservation`): the authenticated principal, if any.
    pub principal: Option<String>,
    /// `grow_volume`: the disk added to the volume in `resources`.
    pub addition: Option<Spanned<String>>,
    /// `shrink_volume`: the disk taken off the volume in `resources` (`disk:100`).
    pub subtract: Option<Spanned<String>>,
}

/// One expected offer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOfferSpec {
    /// Framework name.
    pub framework: Spanned<String>,
    /// Role the offer is made under (any when absent).
    pub role: Option<String>,
    /// Agent name.
    pub agent: Spanned<String>,
    /// The offered resources.
    pub resources: Spanned<String>,
}

/// Resources already allocated to a framework when an agent registers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedSpec {
    /// Framework name.
    pub framework: Spanned<String>,
    /// The role they are allocated under (default: the framework's first role).
    pub role: Option<Spanned<String>>,
    /// The resources.
    pub resources: Spanned<String>,
}

/// `[network]`: the topology and Mesos's `network/port_mapping` flags
/// (mesos-semantics.md §6). Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Agent NIC speed in bytes/s, default 1,250,000,000 (10 Gbit/s).
    pub nic_bytes_per_sec: Option<Spanned<i64>>,
    /// Agents per rack under a top-of-rack switch; absent or 0: one flat switch.
    pub agents_per_rack: Option<Spanned<i64>>,
    /// ToR uplink speed in bytes/s; absent: non-blocking.
    pub uplink_bytes_per_sec: Option<Spanned<i64>>,
    /// One-way latency of each link, default `"25us"`.
    pub link_latency: Option<Spanned<String>>,
    /// `--egress_rate_limit_per_container` in bytes/s; absent or 0: no limit;
    /// otherwise at least 125,000.
    pub egress_rate_limit_per_container: Option<Spanned<i64>>,
    /// `--ephemeral_ports_per_container`, default 1024 (a power of 2).
    pub ephemeral_ports_per_container: Option<Spanned<i64>>,
    /// Size of each agent's `ephemeral_ports` range, default 28,232 (32768–60999).
    pub ephemeral_ports_per_agent: Option<Spanned<i64>>,
    /// The artifact server's NIC speed in bytes/s (fetcher downloads), default
    /// 1,250,000,000 (10 Gbit/s).
    pub artifact_server_bytes_per_sec: Option<Spanned<i64>>,
    /// Where the frameworks' schedulers run, which decides the path of their control
    /// messages: `"outside"` (default: behind the core, like outside clients) or
    /// `"on_agents"` (framework `i`'s scheduler on agent `i mod agents`).
    pub schedulers: Option<Spanned<String>>,
}

/// `[frameworks.network]`: transfers each task makes. Batch phases start when the task
/// starts and must all finish before it completes; a service answers requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskNetworkSpec {
    /// Bytes read from another agent (a data node) into the task.
    pub input_bytes: Option<Spanned<i64>>,
    /// Bytes the task sends to other agents (its shuffle output).
    pub shuffle_bytes: Option<Spanned<i64>>,
    /// Parallel flows the shuffle is split over, default 1.
    pub shuffle_flows: Option<Spanned<i64>>,
    /// Bytes written from the task to another agent (a replica).
    pub output_bytes: Option<Spanned<i64>>,
    /// A service's response size: every `request_interval` it sends this many bytes
    /// to its clients outside the cluster.
    pub request_bytes: Option<Spanned<i64>>,
    /// Time between a service instance's responses.
    pub request_interval: Option<Spanned<String>>,
}

/// `[fetcher]`: the agents' Mesos fetcher (mesos-semantics.md §5). Every field is
/// optional. Sizes are byte counts or texts such as `"2GB"` (1 GB = 1024 MB).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetcherSpec {
    /// `--fetcher_cache_size` of every agent, default `"2GB"`.
    pub cache_size: Option<Spanned<toml::Value>>,
    /// Download speed from the artifact server when there is no `[network]`, bytes/s,
    /// default 125,000,000 (1 Gbit/s).
    pub download_bytes_per_sec: Option<Spanned<i64>>,
    /// Disk speed of a copy from the cache into a sandbox, bytes/s, default 500,000,000.
    pub copy_bytes_per_sec: Option<Spanned<i64>>,
    /// Speed of extracting an archive (`extract = true`), bytes/s, default 200,000,000.
    pub extract_bytes_per_sec: Option<Spanned<i64>>,
    /// Start every agent with every cacheable URI of the scenario already cached
    /// (as far as it fits), as after a warm-up; default false (an empty cache, as
    /// after an agent start).
    pub warm: Option<bool>,
}

/// One `CommandInfo.URI` of a framework's tasks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriSpec {
    /// The URI's value, e.g. `"http://artifacts/spark-3.5.tgz"`.
    pub uri: Spanned<String>,
    /// Its size: a byte count or a text such as `"600MB"`.
    pub size: Spanned<toml::Value>,
    /// `URI.cache`, default false (downloaded straight into the sandbox every time).
    pub cache: Option<bool>,
    /// `URI.extract`, default false.
    pub extract: Option<bool>,
    /// The user it is fetched as (the cache key's user), default the framework's name.
    pub user: Option<String>,
}
