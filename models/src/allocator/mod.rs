//! The allocator: the Mesos hierarchical allocator (`HierarchicalAllocatorProcess`) and baselines as plain state machines behind one trait.
//!
//! An [`Allocator`] never reads a clock and never schedules anything: every call takes
//! `now`, and the driver (the simulated or live master) owns the timers:
//!
//! * the periodic cycle: every `allocation_interval` the driver calls
//!   [`Allocator::allocate`] with [`Candidates::All`];
//! * event-triggered cycles (§2.1): calls such as `add_agent` or `revive_offers` only
//!   *request* a cycle; requests accumulate (batched, MESOS-6904) until the driver takes
//!   them with [`Allocator::take_allocation_request`] and runs `allocate` at the same
//!   instant;
//! * offer filters: [`Allocator::recover_resources`] returns the filter it installed;
//!   the driver arms a timer at `expires_at` and calls [`Allocator::expire_filter`]
//!   when it fires (FIFO among equal deadlines, §2.8).
//!
//! Implementations, resolved by [`by_name`]:
//!
//! | name | file | policy |
//! |---|---|---|
//! | `hdrf` | `hdrf.rs` | Mesos hierarchical DRF, both stages, quota, headroom (§2) |
//! | `random` | `hdrf.rs` | the same with the weighted random sorters (MESOS-8936) |
//! | `fifo` | `fifo.rs` | global FIFO first-fit (not Mesos) |
//! | `bestfit` | `bestfit.rs` | packing onto the busiest agents (not Mesos) |
//!
//! All four share the bookkeeping in `book.rs` (agents, frameworks, roles,
//! reservations, filters, suppression, capabilities), so the baselines honour filters,
//! suppression, reservations-to-role and the revocable capability exactly like `hdrf`.
//!
//! Determinism: agent order is drawn (`order.rs`) from ChaCha8 streams derived from the seed
//! given to [`by_name`] (`sim_core::rng::derive_seed`); every map is ordered; ties are
//! broken by ids or names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sim_core::time::{SimDuration, SimTime};
use thiserror::Error;

use crate::operations::{Conversion, Rejection};
use crate::resources::{
    parse_min_allocatable, ResourceLimits, ResourceName, ResourceQuantities, Resources,
};
use crate::sorter::SorterKind;

mod bestfit;
mod book;
mod fifo;
mod filter_index;
mod hdrf;
mod order;

#[cfg(test)]
mod filter_tests;
#[cfg(test)]
mod stable_tests;
#[cfg(test)]
mod tests;

/// An agent, by a dense id the caller chooses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AgentId(pub u32);

/// A framework, by a dense id the caller chooses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FrameworkId(pub u32);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent{}", self.0)
    }
}

impl fmt::Display for FrameworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "framework{}", self.0)
    }
}

/// Agent capabilities that matter to the allocator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AgentCapabilities {
    /// MULTI_ROLE: without it, MULTI_ROLE frameworks receive nothing from the agent.
    pub multi_role: bool,
    /// HIERARCHICAL_ROLE: without it, roles containing `/` receive nothing from it.
    pub hierarchical_role: bool,
    /// RESERVATION_REFINEMENT.
    pub reservation_refinement: bool,
}

impl Default for AgentCapabilities {
    fn default() -> Self {
        AgentCapabilities {
            multi_role: true,
            hierarchical_role: true,
            reservation_refinement: true,
        }
    }
}

/// What the allocator knows about an agent.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct AgentInfo {
    /// Hostname or id, for reports.
    pub name: String,
    /// Total resources, including reserved and revocable ones.
    pub total: Resources,
    /// Attributes (`rack:r1`), compared by `update_agent`.
    pub attributes: Vec<(String, String)>,
    /// Capabilities.
    pub capabilities: AgentCapabilities,
}

/// Framework capabilities that matter to the allocator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FrameworkCapabilities {
    /// MULTI_ROLE.
    pub multi_role: bool,
    /// REVOCABLE_RESOURCES: without it revocable resources are stripped from offers.
    pub revocable_resources: bool,
    /// GPU_RESOURCES: without it (and with `filter_gpu_resources`) GPU agents are never
    /// offered to the framework.
    pub gpu_resources: bool,
    /// SHARED_RESOURCES: without it shared volumes are stripped.
    pub shared_resources: bool,
    /// RESERVATION_REFINEMENT: without it refined reservations are stripped.
    pub reservation_refinement: bool,
}

impl Default for FrameworkCapabilities {
    fn default() -> Self {
        FrameworkCapabilities {
            multi_role: true,
            revocable_resources: false,
            gpu_resources: false,
            shared_resources: false,
            reservation_refinement: false,
        }
    }
}

/// What the allocator knows about a framework.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct FrameworkInfo {
    /// The framework's id string (`fw1`): the DRF tie-break key within a role, compared
    /// byte-wise. Names should be unique; a duplicate is disambiguated as `name#id`.
    pub name: String,
    /// Subscribed roles.
    pub roles: Vec<String>,
    /// Capabilities.
    pub capabilities: FrameworkCapabilities,
    /// Roles suppressed at subscription.
    pub suppressed_roles: Vec<String>,
    /// Per-role override of `min_allocatable_resources`; an empty list allows any
    /// non-empty offer (§2.7).
    pub min_allocatable_resources: BTreeMap<String, Vec<ResourceQuantities>>,
}

/// Resources for one framework, under one role, on one agent: the master turns each
/// into one offer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Allocation {
    /// Who receives them.
    pub framework: FrameworkId,
    /// The role they are offered under (`allocation_info.role`), shared with the
    /// allocator's role table (cloning it copies no string).
    pub role: Arc<str>,
    /// Where they are.
    pub agent: AgentId,
    /// What is offered.
    pub resources: Resources,
}

/// The agents an allocation cycle considers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Candidates {
    /// Every agent (periodic cycles, framework events).
    All,
    /// Only these (agent events).
    Agents(Vec<AgentId>),
}

impl Candidates {
    /// Merges another request into this one (batching, MESOS-6904).
    pub fn merge(&mut self, other: Candidates) {
        match (&mut *self, other) {
            (Candidates::All, _) => {}
            (_, Candidates::All) => *self = Candidates::All,
            (Candidates::Agents(a), Candidates::Agents(b)) => {
                a.extend(b);
                a.sort_unstable();
                a.dedup();
            }
        }
    }
}

/// An offer filter's id, unique for the life of an allocator (increasing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FilterId(pub u64);

/// A filter installed by [`Allocator::recover_resources`]: the driver must call
/// [`Allocator::expire_filter`] with `id` at `expires_at`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InstalledFilter {
    /// The filter.
    pub id: FilterId,
    /// When it expires.
    pub expires_at: SimTime,
}

/// A role's quota: guarantees (deprecated in Mesos but enforced) and limits.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Quota {
    /// Guaranteed quantities (held back as headroom until consumed).
    pub guarantees: ResourceQuantities,
    /// Upper limits; an absent name is unlimited, a zero limit allows none.
    pub limits: ResourceLimits,
}

impl Quota {
    /// `Q(x)` of the Mesos tests: guarantee = limit = `x`.
    pub fn guarantee_and_limit(x: ResourceQuantities) -> Quota {
        Quota {
            limits: x.clone().into(),
            guarantees: x,
        }
    }

    /// True for the default quota (no guarantee, no limit).
    pub fn is_default(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_unlimited()
    }
}

/// Allocator flags (§0).
#[derive(Clone, PartialEq, Debug)]
pub struct AllocatorConfig {
    /// `--allocation_interval` (1 s): the minimum filter duration (MESOS-4302). The
    /// driver owns the periodic timer.
    pub allocation_interval: SimDuration,
    /// `--min_allocatable_resources` (`cpus:0.01|mem:32`): an offer must contain one
    /// of these; an empty list allows any non-empty offer.
    pub min_allocatable_resources: Vec<ResourceQuantities>,
    /// `--filter_gpu_resources` (true).
    pub filter_gpu_resources: bool,
    /// `--fair_sharing_excluded_resource_names` (none).
    pub fair_sharing_excluded_resource_names: Vec<ResourceName>,
    /// `--role_sorter` (drf). `by_name("random")` overrides it with random.
    pub role_sorter: SorterKind,
    /// `--framework_sorter` (drf). `by_name("random")` overrides it with random.
    pub framework_sorter: SorterKind,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            allocation_interval: SimDuration::from_secs(1),
            min_allocatable_resources: parse_min_allocatable("cpus:0.01|mem:32")
                .unwrap_or_default(),
            filter_gpu_resources: true,
            fair_sharing_excluded_resource_names: Vec::new(),
            role_sorter: SorterKind::Drf,
            framework_sorter: SorterKind::Drf,
        }
    }
}

/// Quota figures of one role (§2.13 `quota/roles/<role>/resources/<r>/...`).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct QuotaMetrics {
    /// The guarantees.
    pub guarantees: ResourceQuantities,
    /// The limits.
    pub limits: ResourceLimits,
    /// Offered or allocated to the role's subtree: unreserved non-revocable plus
    /// reserved scalars.
    pub offered_or_allocated: ResourceQuantities,
    /// The consumption quota enforcement uses: the subtree's reservations (allocated or
    /// not) plus its offered-or-allocated unreserved non-revocable scalars (§2.4).
    pub consumed: ResourceQuantities,
}

/// A snapshot of the allocator's metrics (§2.13).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct AllocatorMetrics {
    /// `allocation_runs`: cycles run so far.
    pub allocation_runs: u64,
    /// `resources/<r>/total`: scalar totals of all agents.
    pub total: ResourceQuantities,
    /// `resources/<r>/offered_or_allocated`.
    pub offered_or_allocated: ResourceQuantities,
    /// `offer_filters/roles/<role>/active`, for every role with a framework or a filter.
    pub active_filters: BTreeMap<String, u64>,
    /// `roles/<role>/shares/dominant`: the role sorter's share of each role with a
    /// framework (weighted for DRF).
    pub dominant_shares: BTreeMap<String, f64>,
    /// Quota figures of every role with a non-default quota.
    pub quota: BTreeMap<String, QuotaMetrics>,
}

/// An allocation policy with Mesos's allocator interface. See the module docs.
///
/// Calls naming an unknown agent or framework are ignored (the master may race with
/// removals); none of them panics on caller input.
pub trait Allocator {
    /// The name it was resolved by (`hdrf`, `random`, `fifo`, `bestfit`).
    fn name(&self) -> &str;

    /// Registers an agent. `used` lists resources already allocated (running tasks),
    /// per framework and role. Requests a cycle for this agent.
    fn add_agent(
        &mut self,
        now: SimTime,
        id: AgentId,
        info: AgentInfo,
        used: &[(FrameworkId, String, Resources)],
    );

    /// Removes an agent, its allocations and every filter on it. No cycle.
    fn remove_agent(&mut self, now: SimTime, id: AgentId);

    /// Replaces an agent's total (for example a new oversubscription estimate) and
    /// attributes. Nothing allocated is taken back, even if the agent ends up
    /// over-allocated. A change of total or attributes requests a cycle for the agent;
    /// a change of attributes also clears every framework's filters on it (§2.8).
    fn update_agent(
        &mut self,
        now: SimTime,
        id: AgentId,
        total: Resources,
        attributes: Vec<(String, String)>,
    );

    /// Registers a framework under its roles (suppressed roles as given). When
    /// `active`, requests a cycle over all agents.
    fn add_framework(&mut self, now: SimTime, id: FrameworkId, info: FrameworkInfo, active: bool);

    /// Removes a framework: its allocations return to the agents, its filters go.
    fn remove_framework(&mut self, now: SimTime, id: FrameworkId);

    /// Activates a framework's non-suppressed roles; requests a cycle over all agents.
    fn activate_framework(&mut self, now: SimTime, id: FrameworkId);

    /// Deactivates a framework and clears all its filters; its allocation still
    /// counts. Suppression survives.
    fn deactivate_framework(&mut self, now: SimTime, id: FrameworkId);

    /// Suppresses offers for `roles` (empty = all its roles). No cycle.
    fn suppress_offers(&mut self, now: SimTime, id: FrameworkId, roles: &[String]);

    /// Revives `roles` (empty = all its roles): un-suppresses them, clears their
    /// filters and requests a cycle over all agents.
    fn revive_offers(&mut self, now: SimTime, id: FrameworkId, roles: &[String]);

    /// decline / rescind / task end. `refuse`: None = no filter; Some(d) → filter of
    /// max(d, interval) capped 365 d (callers map refuse_seconds: negative → default
    /// 5 s, 0 → None).
    ///
    /// The resources return to the agent at once; no cycle is requested (MESOS-3078).
    /// The role is inferred from the framework's allocations on the agent (the first
    /// role, in name order, whose allocation contains them; otherwise they are taken
    /// from the roles in name order). Multi-role callers that know the offer's role
    /// should use [`Allocator::recover_role_resources`].
    fn recover_resources(
        &mut self,
        now: SimTime,
        framework: FrameworkId,
        agent: AgentId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) -> Option<InstalledFilter>;

    /// [`Allocator::recover_resources`] for resources offered under `role`; the filter
    /// (if any) is installed for that role.
    fn recover_role_resources(
        &mut self,
        now: SimTime,
        framework: FrameworkId,
        role: &str,
        agent: AgentId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) -> Option<InstalledFilter>;

    /// The driver schedules an engine timer at `expires_at` and calls this when it
    /// fires (FIFO among equal deadlines is the driver's job). Unknown ids (already
    /// cleared by a revive, a deactivation or a removal) are ignored.
    fn expire_filter(&mut self, now: SimTime, id: FilterId);

    /// Sets role weights (operator `/weights`). No cycle.
    fn update_weights(&mut self, now: SimTime, weights: &[(String, f64)]);

    /// Sets a role's quota (meaningful for top-level roles). No cycle; the master
    /// rescinds offers as it sees fit.
    fn update_quota(&mut self, now: SimTime, role: &str, quota: Quota);

    /// Event-triggered cycles (§2.1) accumulate here (batched, MESOS-6904); the driver
    /// takes them and runs `allocate` at the same instant.
    fn take_allocation_request(&mut self) -> Option<Candidates>;

    /// Runs one allocation cycle over `candidates` (removed and unknown agents are
    /// skipped). Returns at most one allocation per (framework, role, agent), in the
    /// order they were made. The resources stay allocated until recovered.
    fn allocate(&mut self, now: SimTime, candidates: &Candidates) -> Vec<Allocation>;

    /// Metrics of §2.13: active offer filters per role, dominant share per role, quota
    /// offered_or_allocated / consumed per role and name, totals.
    fn metrics(&self) -> AllocatorMetrics;

    /// The agent's available resources (`total − offered or allocated`), for
    /// invariant checks and reports; `None` for an unknown agent.
    fn available(&self, agent: AgentId) -> Option<Resources>;

    /// Applies accepted offer operations (RESERVE, UNRESERVE, CREATE, DESTROY, a
    /// reservation update) to what `framework` holds under `role` on `agent` (Mesos
    /// `updateAllocation`): the allocation and the agent's total are rewritten, the
    /// sorters and the quota books follow, and quantities stay the same. All or
    /// nothing: when the allocation does not hold a consumed part (or the agent or
    /// framework is unknown) nothing changes. No cycle.
    fn update_allocation(
        &mut self,
        now: SimTime,
        framework: FrameworkId,
        role: &str,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection>;

    /// Applies operator operations to the agent's unallocated resources (Mesos
    /// `updateAvailable`): the consumed parts must be available (not offered nor
    /// allocated, else `409 Conflict`); the agent's total is rewritten and the
    /// reservation tracking moves between roles. All or nothing. Nothing is allocated
    /// until the next cycle (no cycle is requested).
    fn update_available(
        &mut self,
        now: SimTime,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection>;
}

/// [`by_name`] was given a name it does not know.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown allocator `{0}` (expected one of: hdrf, random, fifo, bestfit)")]
pub struct UnknownAllocator(pub String);

/// The allocator names [`by_name`] resolves.
pub const ALLOCATOR_NAMES: [&str; 4] = ["hdrf", "random", "fifo", "bestfit"];

/// Builds the allocator called `name`: `hdrf` (Mesos hierarchical DRF, using the
/// sorters named in `config`), `random` (the same with both sorters random),
/// `fifo` or `bestfit`. `rng_seed` seeds the agent shuffles and random sorters.
pub fn by_name(
    name: &str,
    config: AllocatorConfig,
    rng_seed: u64,
) -> Result<Box<dyn Allocator>, UnknownAllocator> {
    match name {
        "hdrf" => Ok(Box::new(book::Driver::new(
            "hdrf",
            config,
            rng_seed,
            hdrf::Hdrf,
        ))),
        "random" => {
            let config = AllocatorConfig {
                role_sorter: SorterKind::Random,
                framework_sorter: SorterKind::Random,
                ..config
            };
            Ok(Box::new(book::Driver::new(
                "random",
                config,
                rng_seed,
                hdrf::Hdrf,
            )))
        }
        "fifo" => Ok(Box::new(book::Driver::new(
            "fifo",
            config,
            rng_seed,
            fifo::Fifo,
        ))),
        "bestfit" => Ok(Box::new(book::Driver::new(
            "bestfit",
            config,
            rng_seed,
            bestfit::BestFit,
        ))),
        other => Err(UnknownAllocator(other.to_string())),
    }
}
