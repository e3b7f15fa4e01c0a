//! Bookkeeping shared by every allocator policy: agents, frameworks, roles, reservations, sorters, filters, suppression and cycle requests.
//!
//! A [`Policy`] only decides who gets what in a cycle; [`Driver`] implements the rest
//! of the [`Allocator`] trait once, on top of [`Book`].
//!
//! Architecture invariants (checked by the randomized tests):
//! * `agent.available == total − Σ allocations` (Mesos subtraction; shared resources
//!   stay available while in use), recomputed after every change;
//! * a framework is tracked under a role (a client of that role's framework sorter)
//!   while it is subscribed to the role or holds resources under it, and a role is a
//!   client of the role sorter while it tracks at least one framework;
//! * a sorter client is active iff its framework is active, subscribed to the role and
//!   not suppressed in it;
//! * every filter in `filters` is listed in its framework's per-role list (which may
//!   also hold ids that expired since), counted in that list's `live_filters` and in
//!   its role's `active_filters`;
//! * an agent's `filter_mask` is the union of the bits of its visible filters;
//! * a live filter is on its agent's `filters` or `shadowed` list, or marked
//!   `detached` in `filters` and listed in the agent's `detached`, contained in a
//!   filter there of its (framework, role) that expires later.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim_core::rng::derive_seed;
use sim_core::time::{SimDuration, SimTime};

use super::filter_index::FilterIndex;
use super::{
    AgentCapabilities, AgentId, AgentInfo, Allocation, Allocator, AllocatorConfig,
    AllocatorMetrics, Candidates, FilterId, FrameworkCapabilities, FrameworkId, FrameworkInfo,
    InstalledFilter, Quota, QuotaMetrics,
};
use crate::operations::{apply, Conversion, Rejection};
use crate::resources::{
    known_slot, OfferFacts, Resource, ResourceName, ResourceQuantities, Resources, Value,
};
use crate::sorter::{new_sorter, ClientId, Sorter};

/// Index of an interned role.
pub(crate) type RoleIdx = usize;

/// Where tracked resources come from, so `available` is updated cheaply and exactly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    /// Anything (running tasks at registration): recompute `total − Σ allocations`.
    Recompute,
    /// A subset of `available`: `available −= res` is exact.
    FromAvailable,
    /// All of `available`, already moved out with [`Book::take_available`].
    TakenWhole,
}

/// Emptied buffers kept for reuse: at most one per agent, or this many.
const MIN_SPARE: usize = 1024;

/// Filters last at most 365 days (`Filters.refuse_seconds` is clamped).
const MAX_FILTER: SimDuration = SimDuration::from_secs(365 * 24 * 3600);

/// Who gets what in one cycle.
pub(crate) trait Policy {
    /// Runs one cycle over `candidates` (see [`Book::candidate_agents`]) and returns
    /// the allocations, after recording each with [`Book::track`].
    fn allocate(
        &mut self,
        book: &mut Book,
        now: SimTime,
        candidates: &Candidates,
    ) -> Vec<Allocation>;
}

/// One framework's resources under one role on an agent.
#[derive(Debug)]
pub(crate) struct AgentAlloc {
    pub framework: FrameworkId,
    pub role: RoleIdx,
    pub resources: Resources,
}

/// An agent's allocator state. The fields a visit reads for every candidate come
/// first and the struct is cache-line aligned (`repr(C)` keeps the order), so a visit
/// to an agent in a shuffled cycle touches one line of it before the entry lists.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct AgentState {
    pub available: Resources,
    /// Bumped whenever `available` changes (cache key for policies).
    pub version: u64,
    /// The union of [`filter_bits`] over `filters` (a Bloom filter): a (framework,
    /// role) with a bit clear has no visible filter here, which the allocation loop
    /// learns without reading the filter list (cold lines per candidate in a large
    /// cluster).
    pub filter_mask: u128,
    pub has_gpus: bool,
    /// `info.capabilities` (they never change while the agent is registered).
    pub capabilities: AgentCapabilities,
    /// `info.total.has_shared()` (kept by [`AgentState::set_total`]).
    pub total_shared: bool,
    /// Offer filters on this agent, sorted by (framework, role, id). Only the
    /// *visible* ones: see `shadowed`.
    pub filters: Vec<AgentFilter>,
    /// Sorted by (framework, role).
    pub allocations: Vec<AgentAlloc>,
    pub info: AgentInfo,
    /// Filters hidden behind another filter of the same (framework, role) whose
    /// resources contain theirs, sorted by (that shadower's id, own id). While the
    /// shadower lives, a hidden filter never decides anything (whatever it contains,
    /// the shadower contains), so `is_filtered` scans only `filters`; when the
    /// shadower goes, the filters it hid become visible again. A shadower may itself
    /// be hidden (containment is transitive), so every hidden filter is contained in
    /// a visible one. In a replay a framework declines the agent's whole available
    /// set again after each change, and this keeps the scan to the sets that are
    /// not contained in a later one.
    /// An agent holds a handful of them, so sorted vectors beat ordered maps.
    pub shadowed: Vec<Hidden>,
    /// (hidden filter's id, its shadower's id), sorted by the first.
    pub shadow_of: Vec<(FilterId, FilterId)>,
    /// Live filters of this agent that are in neither `filters` nor `shadowed`
    /// (marked `detached` in `Book::filters`), and maybe some that are gone since:
    /// each is contained in a live filter of its (framework, role) here that expires
    /// later. It never becomes visible: its container outlives it, and every clear
    /// that removes the container early (a revive, an untracked role, a removed
    /// framework or agent) removes it too. So its expiry touches only the counts,
    /// not the agent. Kept only so that clearing the agent's filters finds it; pruned
    /// when it doubles (`detached_kept`).
    pub detached: Vec<FilterId>,
    /// Length of `detached` after its last pruning.
    pub detached_kept: usize,
    /// `available` and the allocations are disjoint parts of `info.total` (every
    /// allocation was moved out of `available`, nothing is shared): then returning a
    /// part of an allocation adds it to `available`, which is exactly what
    /// recomputing `total − Σ allocations` would give. Set by `refresh_available`
    /// when nothing is allocated; kept by moves out of `available` (`track_from`
    /// with a subset of it) and back (`Book::untrack_held`).
    pub exact: bool,
}

/// A filter hidden behind filter `by` (see `AgentState::shadowed`).
#[derive(Debug)]
pub(crate) struct Hidden {
    pub by: FilterId,
    pub filter: AgentFilter,
}

/// A refused set: its resources are not offered again to (framework, role) on the
/// agent while any candidate is contained in them.
#[derive(Debug)]
pub(crate) struct AgentFilter {
    pub framework: FrameworkId,
    pub role: RoleIdx,
    pub id: FilterId,
    /// When the driver expires it (see `AgentState::detached`).
    pub expires_at: SimTime,
    /// `Shape::quantities` of the refused set: a filter whose quantity of some
    /// well-known name is below the offer's cannot contain it, so most filters are
    /// rejected without comparing entries.
    pub quantities: [i64; 5],
    /// The refused set, unless it is exact (see [`Shape::exact`]): then `quantities`
    /// describe it entirely and no copy is kept, which keeps the filter list small
    /// and an install free of allocations.
    pub resources: Option<Box<Resources>>,
}

impl AgentFilter {
    /// A filter refusing `resources` (of shape `shape`).
    pub(crate) fn new(
        framework: FrameworkId,
        role: RoleIdx,
        id: FilterId,
        expires_at: SimTime,
        resources: &Resources,
        shape: &Shape,
    ) -> AgentFilter {
        AgentFilter {
            framework,
            role,
            id,
            expires_at,
            quantities: shape.quantities,
            resources: (!shape.exact).then(|| Box::new(resources.clone())),
        }
    }

    /// True when the refused set contains `offer`, whose shape is `want`.
    #[inline]
    pub(crate) fn contains(&self, offer: &Resources, want: &Shape) -> bool {
        if !covers(&self.quantities, &want.quantities) {
            return false;
        }
        match &self.resources {
            None if want.exact => true,
            None => exact_contains(&self.quantities, offer),
            Some(mine) => mine.contains(offer),
        }
    }
}

/// What the filter checks need of a resource set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Summed quantities (scalars, range and set elements, every copy of a shared
    /// entry) of cpus, mem, disk, gpus and ports. When `a.contains(b)`, every entry
    /// of `b` is matched by a distinct entry of `a` with a value at least as large,
    /// so each of these sums of `a` is at least the one of `b`: comparing them is a
    /// necessary condition for containment, and a sufficient one when both sets are
    /// exact.
    pub quantities: [i64; 5],
    /// Every entry is a plain (unreserved, no disk info, neither revocable nor
    /// shared) positive scalar of cpus, mem, disk or gpus. Entries of equal keys are
    /// merged, so such a set holds one entry per name and `quantities` describe it
    /// entirely: an exact set contains another exact set iff its quantities are at
    /// least the other's.
    pub exact: bool,
}

/// The scalar of a plain entry of cpus, mem, disk or gpus (an exact set's kind).
#[inline]
fn exact_entry(r: &Resource) -> Option<(usize, i64)> {
    match (known_slot(&r.name), &r.value) {
        (Some(s), Value::Scalar(v)) if s < 4 && r.is_plain() => Some((s, *v)),
        _ => None,
    }
}

/// The [`Shape`] of `res`.
pub(crate) fn shape(res: &Resources) -> Shape {
    let mut q = [0i64; 5];
    let mut exact = true;
    for r in res.iter() {
        exact &= exact_entry(r).is_some_and(|(_, v)| v > 0);
        if let Some(s) = known_slot(&r.name) {
            q[s] = q[s].saturating_add(r.value.quantity_milli());
        }
    }
    Shape {
        quantities: q,
        exact,
    }
}

/// `a >= b` name by name.
#[inline]
fn covers(a: &[i64; 5], b: &[i64; 5]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y)
}

/// `Resources::contains` for a container that is the exact set of quantities `q`:
/// every entry of `other` needs a plain scalar of its name there (present iff its
/// quantity is positive) at least as large.
fn exact_contains(q: &[i64; 5], other: &Resources) -> bool {
    other
        .iter()
        .all(|r| exact_entry(r).is_some_and(|(s, v)| q[s] > 0 && q[s] >= v))
}

/// `Resources::contains` for a contained exact set of quantities `q`: `outer` has a
/// plain scalar at least as large for each of its names.
fn contains_exact(outer: &Resources, q: &[i64; 5]) -> bool {
    q[..4].iter().enumerate().all(|(s, &need)| {
        need <= 0
            || outer
                .iter()
                .any(|r| exact_entry(r).is_some_and(|(t, v)| t == s && v >= need))
    })
}

/// The two bits of (framework, role) in [`AgentState::filter_mask`], from two 7-bit
/// slices of a multiplicative hash (framework ids are dense, so neighbours land
/// apart). With ten filters on an agent, an unfiltered pair finds both bits set
/// about 2% of the time.
#[inline]
pub(crate) fn filter_bits(fw: FrameworkId, role: RoleIdx) -> u128 {
    let h = u64::from(fw.0).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (role as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    (1u128 << (h >> 57)) | (1u128 << ((h >> 50) & 127))
}

/// True when `outer` contains `inner` (quantities first, see [`Shape`]).
pub(crate) fn filter_contains(outer: &AgentFilter, inner: &AgentFilter) -> bool {
    if !covers(&outer.quantities, &inner.quantities) {
        return false;
    }
    match (&outer.resources, &inner.resources) {
        (None, None) => true,
        (None, Some(i)) => exact_contains(&outer.quantities, i),
        (Some(o), None) => contains_exact(o, &inner.quantities),
        (Some(o), Some(i)) => o.contains(i),
    }
}

// What a visit reads for every candidate fits the first line.
const _: () = assert!(
    std::mem::offset_of!(AgentState, capabilities) + std::mem::size_of::<AgentCapabilities>() <= 64
);

impl AgentState {
    /// A freshly registered agent (its `available` is still to be computed).
    pub(crate) fn new(info: AgentInfo) -> AgentState {
        AgentState {
            available: Resources::new(),
            version: 0,
            filters: Vec::new(),
            filter_mask: 0,
            has_gpus: info.total.scalar_milli(&ResourceName::Gpus) > 0,
            capabilities: info.capabilities,
            total_shared: info.total.has_shared(),
            allocations: Vec::new(),
            info,
            shadowed: Vec::new(),
            shadow_of: Vec::new(),
            detached: Vec::new(),
            detached_kept: 0,
            exact: false,
        }
    }

    /// What `fw` holds under `role` on the agent.
    fn entry(&self, fw: FrameworkId, role: RoleIdx) -> Option<&Resources> {
        self.allocations
            .binary_search_by(|e| (e.framework, e.role).cmp(&(fw, role)))
            .ok()
            .map(|i| &self.allocations[i].resources)
    }

    /// Replaces the total and the flags derived from it (`available` is left to
    /// the caller).
    fn set_total(&mut self, total: Resources) {
        self.has_gpus = total.scalar_milli(&ResourceName::Gpus) > 0;
        self.total_shared = total.has_shared();
        self.info.total = total;
    }

    /// The range of `filters` of (framework, role).
    fn filter_range(&self, fw: FrameworkId, role: RoleIdx) -> std::ops::Range<usize> {
        let from = self
            .filters
            .partition_point(|f| (f.framework, f.role) < (fw, role));
        let to = from
            + self.filters[from..]
                .iter()
                .take_while(|f| f.framework == fw && f.role == role)
                .count();
        from..to
    }

    /// Adds a filter whose id is larger than every other (see `shadowed` and
    /// `detached`): a filter contained in another of its (framework, role) that
    /// expires later is detached at once; otherwise it is hidden behind a visible
    /// one of its (framework, role) that contains it, if any, or else visible, and
    /// then every visible filter it contains goes: detached (with what it hid and
    /// expires earlier too) when it expires earlier, hidden behind it otherwise.
    pub(crate) fn add_filter(&mut self, nf: AgentFilter) {
        let range = self.filter_range(nf.framework, nf.role);
        let mut shadower = None;
        for f in &self.filters[range.clone()] {
            if filter_contains(f, &nf) {
                if nf.expires_at < f.expires_at {
                    self.detached.push(nf.id);
                    return;
                }
                shadower.get_or_insert(f.id);
            }
        }
        if let Some(by) = shadower {
            self.hide(by, nf);
            return;
        }
        // Visible, after the others of its (framework, role) (its id is the largest).
        let (mut i, mut end) = (range.start, range.end);
        while i < end {
            if filter_contains(&nf, &self.filters[i]) {
                let f = self.filters.remove(i);
                if f.expires_at < nf.expires_at {
                    self.detach(f.id, &nf);
                } else {
                    self.hide(nf.id, f);
                }
                end -= 1;
            } else {
                i += 1;
            }
        }
        self.filter_mask |= filter_bits(nf.framework, nf.role);
        self.filters.insert(end, nf);
    }

    /// Detaches filter `id` (no longer in `filters` nor `shadowed`), contained in
    /// `nf`, which expires later: the filters it hid are contained in `nf` too, so
    /// those that expire before `nf` are detached as well (with what they hid), and
    /// the others are hidden behind `nf`.
    fn detach(&mut self, id: FilterId, nf: &AgentFilter) {
        self.detached.push(id);
        if self.shadowed.is_empty() {
            return;
        }
        let mut gone = vec![id];
        while let Some(by) = gone.pop() {
            let from = self.shadowed.partition_point(|h| h.by < by);
            let to = from
                + self.shadowed[from..]
                    .iter()
                    .take_while(|h| h.by == by)
                    .count();
            if from == to {
                continue;
            }
            let freed: Vec<Hidden> = self.shadowed.drain(from..to).collect();
            for h in freed {
                let f = h.filter;
                if let Ok(k) = self.shadow_of.binary_search_by_key(&f.id, |&(h, _)| h) {
                    self.shadow_of.remove(k);
                }
                if f.expires_at < nf.expires_at {
                    self.detached.push(f.id);
                    gone.push(f.id);
                } else {
                    self.hide(nf.id, f);
                }
            }
        }
    }

    /// Hides `f` behind filter `by`.
    fn hide(&mut self, by: FilterId, f: AgentFilter) {
        let at = self.shadow_of.partition_point(|&(h, _)| h < f.id);
        self.shadow_of.insert(at, (f.id, by));
        let key = (by, f.id);
        let at = self.shadowed.partition_point(|h| (h.by, h.filter.id) < key);
        self.shadowed.insert(at, Hidden { by, filter: f });
    }

    /// Removes filter `id` (visible or hidden, not detached); the filters it hid
    /// become visible. Returns true when it was visible: removing a hidden filter
    /// changes no answer of `is_filtered` (whatever it or the filters it hid
    /// contain, a visible filter contains).
    pub(crate) fn remove_filter(&mut self, fw: FrameworkId, role: RoleIdx, id: FilterId) -> bool {
        let hidden = !self.shadow_of.is_empty()
            && match self.shadow_of.binary_search_by_key(&id, |&(h, _)| h) {
                Ok(k) => {
                    let (_, by) = self.shadow_of.remove(k);
                    if let Ok(j) = self
                        .shadowed
                        .binary_search_by(|h| (h.by, h.filter.id).cmp(&(by, id)))
                    {
                        self.shadowed.remove(j);
                    }
                    true
                }
                Err(_) => false,
            };
        let visible = !hidden && {
            let key = (fw, role, id);
            match self
                .filters
                .binary_search_by(|f| (f.framework, f.role, f.id).cmp(&key))
            {
                Ok(i) => {
                    self.filters.remove(i);
                    true
                }
                Err(_) => false,
            }
        };
        // A hidden filter may hide others too (it hid them while visible).
        if !self.shadowed.is_empty() {
            let from = self.shadowed.partition_point(|h| h.by < id);
            let to = from
                + self.shadowed[from..]
                    .iter()
                    .take_while(|h| h.by == id)
                    .count();
            for h in self.shadowed.drain(from..to) {
                let f = h.filter;
                if let Ok(k) = self.shadow_of.binary_search_by_key(&f.id, |&(h, _)| h) {
                    self.shadow_of.remove(k);
                }
                let at = self
                    .filters
                    .partition_point(|g| (g.framework, g.role, g.id) < (f.framework, f.role, f.id));
                self.filters.insert(at, f);
            }
        }
        // The filters that became visible are of the same (framework, role): the
        // mask changes only when that pair has no visible filter left.
        if visible && self.filter_range(fw, role).is_empty() {
            self.filter_mask = self
                .filters
                .iter()
                .fold(0, |m, f| m | filter_bits(f.framework, f.role));
        }
        visible
    }

    /// Ids of every filter of the agent, visible, hidden or detached (with some
    /// detached ones that are gone since).
    fn filter_ids(&self) -> Vec<FilterId> {
        self.filters
            .iter()
            .map(|f| f.id)
            .chain(self.shadow_of.iter().map(|&(h, _)| h))
            .chain(self.detached.iter().copied())
            .collect()
    }

    fn refresh_available(&mut self) {
        let mut available = std::mem::take(&mut self.available);
        self.recompute_available_into(&mut available);
        self.available = available;
        self.exact = self.allocations.is_empty() && !self.total_shared;
        self.version += 1;
    }

    /// Writes `total − Σ allocations` into `out` (reusing its buffer), subtracting
    /// one allocation at a time: Mesos subtraction clamps at zero per entry, so this
    /// equals subtracting the sum.
    fn recompute_available_into(&self, out: &mut Resources) {
        let shared = self.total_shared || self.allocations.iter().any(|e| e.resources.has_shared());
        if shared {
            // Shared resources stay offerable while in use.
            let mut a = self.info.total.non_shared();
            for e in &self.allocations {
                a.sub_assign(&e.resources.non_shared());
            }
            a.add_assign(&self.info.total.shared());
            *out = a;
        } else {
            out.clone_from(&self.info.total);
            for e in &self.allocations {
                out.sub_assign(&e.resources);
            }
        }
    }
}

/// A framework's state in one role.
#[derive(Debug)]
pub(crate) struct FwRole {
    pub role: RoleIdx,
    pub client: ClientId,
    pub subscribed: bool,
    pub suppressed: bool,
    /// Number of agents where the framework holds resources under this role.
    pub alloc_agents: u32,
    /// This framework's offer filters in this role, in install order, and maybe
    /// some that are gone since (`Book::filters` tells): removing one costs nothing,
    /// and the list is pruned when most of it is gone.
    pub filters: Vec<FilterId>,
    /// How many of `filters` are live.
    pub live_filters: usize,
    /// Per-role override of `min_allocatable_resources`.
    pub min_alloc: Option<Vec<ResourceQuantities>>,
}

/// A framework's allocator state. What an offer reads (roles, capabilities, active)
/// comes first, on one cache line (`repr(C)` keeps the order).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct FrameworkState {
    pub roles: Vec<FwRole>,
    /// `info.capabilities` (they never change while the framework is registered).
    pub capabilities: FrameworkCapabilities,
    pub active: bool,
    /// Registration order.
    pub seq: u64,
    pub info: FrameworkInfo,
}

impl FrameworkState {
    pub fn role_index(&self, role: RoleIdx) -> Option<usize> {
        self.roles.iter().position(|r| r.role == role)
    }

    pub fn caps(&self) -> &FrameworkCapabilities {
        &self.capabilities
    }
}

pub(crate) struct RoleState {
    /// Shared with every [`Allocation`] made under the role (no string copy per offer).
    pub name: Arc<str>,
    /// This role, then its ancestors up to the top-level role.
    pub chain: Vec<RoleIdx>,
    pub hierarchical: bool,
    pub fw_sorter: Box<dyn Sorter>,
    pub fw_of_client: Vec<FrameworkId>,
    pub visited: Vec<u64>,
    pub tracked_frameworks: usize,
    pub role_client: Option<ClientId>,
    pub quota: Quota,
    pub weight: f64,
    /// Reserved scalar quantities of the subtree (allocated or not).
    pub reservations: ResourceQuantities,
    /// Offered-or-allocated unreserved non-revocable scalars of the subtree.
    pub offered_unreserved: ResourceQuantities,
    /// Offered-or-allocated reserved scalars of the subtree.
    pub offered_reserved: ResourceQuantities,
    pub active_filters: u64,
}

/// Where a filter lives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FilterLoc {
    pub framework: FrameworkId,
    pub role: RoleIdx,
    pub agent: AgentId,
    /// Listed in the agent's `detached`, not in its filter lists.
    pub detached: bool,
}

/// The allocator's state, shared by every policy.
pub(crate) struct Book {
    pub config: AllocatorConfig,
    pub seed: u64,
    /// Agent shuffles and shrinking.
    pub rng: ChaCha8Rng,
    pub agents: Vec<Option<AgentState>>,
    /// `has_available[i]`: agent `i` is present and its `available` is not empty. A
    /// dense copy of that one bit, so a cycle skips agents with nothing to offer
    /// without touching their state (its cost then follows the agents with free
    /// resources, not all agents).
    pub has_available: Vec<bool>,
    /// `stable[i] == stable_gen`: a stage-2 visit of agent `i` allocated nothing and
    /// rejected every candidate for reasons that depend only on the agent and that
    /// candidate (a filter, the agent being excluded, not allocatable, capability
    /// stripping), and nothing has changed since that could make one eligible. Such an
    /// agent's visit is skipped by `hdrf` in cycles without quota work (see
    /// [`Book::settle`]).
    pub stable: Vec<u64>,
    /// Generation of the `stable` marks: bumped by every change that may make a
    /// rejected candidate eligible anywhere (framework added, activated, revived,
    /// roles, weights, quota); starts at 1 so that 0 never matches.
    pub stable_gen: u64,
    /// Whether `hdrf` may skip stable agents (always on in production; the tests turn
    /// it off to prove the skip changes nothing).
    pub skip_stable: bool,
    /// Every *awake* agent (present, something available, no current stable mark),
    /// and maybe some others, in no particular order: the agents a periodic cycle
    /// that skips stable agents visits, found without walking the whole cluster.
    /// An agent can only wake up in `sync_available` or `unsettle` (which push it
    /// here) or by a `stable_gen` bump (which sets `wake_all`);
    /// [`Book::awake_agents`] drops the others.
    awake: Vec<AgentId>,
    /// `in_awake[i]`: agent `i` is listed in `awake`.
    in_awake: Vec<bool>,
    /// Every stable mark went stale since `awake` was last rebuilt.
    wake_all: bool,
    /// Emptied allocation buffers, reused by `track_from` (an offer/decline round
    /// trip then allocates nothing).
    spare: Vec<Resources>,
    pub frameworks: Vec<Option<FrameworkState>>,
    pub roles: Vec<RoleState>,
    pub role_index: BTreeMap<String, RoleIdx>,
    pub role_sorter: Box<dyn Sorter>,
    pub role_of_client: Vec<RoleIdx>,
    pub visited_roles: Vec<u64>,
    pub epoch: u64,
    pub quota_roles: BTreeSet<RoleIdx>,
    pub filters: FilterIndex,
    pub next_filter: u64,
    pub next_seq: u64,
    pub pending: Option<Candidates>,
    pub allocation_runs: u64,
    /// Scalar totals of all agents.
    pub total: ResourceQuantities,
    /// All offered-or-allocated scalars.
    pub offered: ResourceQuantities,
    /// Reserved scalars in agent totals.
    pub reserved_total: ResourceQuantities,
    /// Offered-or-allocated reserved scalars.
    pub offered_reserved: ResourceQuantities,
}

/// Removes what `caps` may not receive (Mesos `stripIncapableResources`).
pub(crate) fn strip_needed(res: &Resources, caps: &FrameworkCapabilities) -> bool {
    // One pass over the entries (a framework with every capability needs none).
    if caps.shared_resources && caps.revocable_resources && caps.reservation_refinement {
        return false;
    }
    res.iter().any(|r| {
        (!caps.shared_resources && r.shared)
            || (!caps.revocable_resources && r.revocable)
            || (!caps.reservation_refinement && r.reservations.is_refined())
    })
}

/// Strips in place what `caps` may not receive.
pub(crate) fn strip(res: &mut Resources, caps: &FrameworkCapabilities) {
    if strip_needed(res, caps) {
        let caps = *caps;
        res.retain(|r| {
            (caps.shared_resources || !r.shared)
                && (caps.revocable_resources || !r.revocable)
                && (caps.reservation_refinement || !r.reservations.is_refined())
        });
    }
}

/// `a ∩ b` for recovery of resources the caller does not fully hold.
fn intersect(a: &Resources, b: &Resources) -> Resources {
    a.minus(&a.minus(b))
}

impl Book {
    pub fn new(config: AllocatorConfig, seed: u64) -> Book {
        let role_sorter = new_sorter(
            config.role_sorter,
            &config.fair_sharing_excluded_resource_names,
            derive_seed(seed, "allocator/role-sorter"),
        );
        Book {
            rng: ChaCha8Rng::from_seed(derive_seed(seed, "allocator/agent-order")),
            seed,
            config,
            agents: Vec::new(),
            has_available: Vec::new(),
            stable: Vec::new(),
            stable_gen: 1,
            skip_stable: true,
            awake: Vec::new(),
            in_awake: Vec::new(),
            wake_all: false,
            spare: Vec::new(),
            frameworks: Vec::new(),
            roles: Vec::new(),
            role_index: BTreeMap::new(),
            role_sorter,
            role_of_client: Vec::new(),
            visited_roles: Vec::new(),
            epoch: 0,
            quota_roles: BTreeSet::new(),
            filters: FilterIndex::default(),
            next_filter: 0,
            next_seq: 0,
            pending: None,
            allocation_runs: 0,
            total: ResourceQuantities::new(),
            offered: ResourceQuantities::new(),
            reserved_total: ResourceQuantities::new(),
            offered_reserved: ResourceQuantities::new(),
        }
    }

    /// A fresh pass epoch (see `sorter::PassWalker`).
    pub fn next_epoch(&mut self) -> u64 {
        self.epoch += 1;
        self.epoch
    }

    pub fn agent(&self, id: AgentId) -> Option<&AgentState> {
        self.agents.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn agent_mut(&mut self, id: AgentId) -> Option<&mut AgentState> {
        self.agents.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// True when `id` is present with something available (see `has_available`).
    pub fn has_available(&self, id: AgentId) -> bool {
        self.has_available
            .get(id.0 as usize)
            .copied()
            .unwrap_or(false)
    }

    /// True when `id` carries a current stable mark (see `stable`).
    pub fn is_stable(&self, id: AgentId) -> bool {
        self.stable.get(id.0 as usize) == Some(&self.stable_gen)
    }

    /// Marks `id` stable: its last visit proved it yields nothing until something
    /// changes (the caller checked the conditions documented on `stable`).
    pub fn settle(&mut self, id: AgentId) {
        let i = id.0 as usize;
        if self.stable.len() <= i {
            self.stable.resize(i + 1, 0);
        }
        self.stable[i] = self.stable_gen;
    }

    /// Drops the stable mark of `id` (its resources, filters or attributes changed).
    fn unsettle(&mut self, id: AgentId) {
        if let Some(m) = self.stable.get_mut(id.0 as usize) {
            *m = 0;
        }
        self.wake(id);
    }

    /// Drops every stable mark (a change that may make a rejected candidate eligible
    /// on any agent).
    fn unsettle_all(&mut self) {
        self.stable_gen += 1;
        self.wake_all = true;
    }

    /// Lists `id` in `awake` (if it is not listed yet).
    fn wake(&mut self, id: AgentId) {
        let i = id.0 as usize;
        if self.in_awake.len() <= i {
            self.in_awake.resize(i + 1, false);
        }
        if !self.in_awake[i] {
            self.in_awake[i] = true;
            self.awake.push(id);
        }
    }

    /// The awake agents (present, something available, not stable), in no
    /// particular order; costs about their number, not the number of agents (the
    /// whole cluster is walked only after a change that unsettled every agent).
    pub fn awake_agents(&mut self) -> Vec<AgentId> {
        if self.wake_all {
            self.wake_all = false;
            self.awake.clear();
            self.in_awake.clear();
            self.in_awake.resize(self.has_available.len(), false);
            for (i, &free) in self.has_available.iter().enumerate() {
                // Every stable mark is stale after the bump.
                if free && self.stable.get(i) != Some(&self.stable_gen) {
                    self.in_awake[i] = true;
                    self.awake.push(AgentId(i as u32));
                }
            }
        } else {
            let mut awake = std::mem::take(&mut self.awake);
            awake.retain(|&a| {
                let keep = self.has_available(a) && !self.is_stable(a);
                if !keep {
                    self.in_awake[a.0 as usize] = false;
                }
                keep
            });
            self.awake = awake;
        }
        self.awake.clone()
    }

    /// Re-reads `has_available` of `id` after its `available` changed (and drops its
    /// stable mark).
    fn sync_available(&mut self, id: AgentId) {
        self.unsettle(id);
        let i = id.0 as usize;
        let free = self
            .agents
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|a| !a.available.is_empty());
        if self.has_available.len() <= i {
            self.has_available.resize(i + 1, false);
        }
        self.has_available[i] = free;
    }

    pub fn framework(&self, id: FrameworkId) -> Option<&FrameworkState> {
        self.frameworks.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn framework_mut(&mut self, id: FrameworkId) -> Option<&mut FrameworkState> {
        self.frameworks
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
    }

    pub fn request(&mut self, c: Candidates) {
        match &mut self.pending {
            Some(p) => p.merge(c),
            None => self.pending = Some(c),
        }
    }

    /// Interns `name` and its ancestors.
    pub fn intern_role(&mut self, name: &str) -> RoleIdx {
        if let Some(&i) = self.role_index.get(name) {
            return i;
        }
        let parent = name.rsplit_once('/').map(|(p, _)| self.intern_role(p));
        let idx = self.roles.len();
        let mut chain = vec![idx];
        if let Some(p) = parent {
            chain.extend_from_slice(&self.roles[p].chain);
        }
        let mut fw_sorter = new_sorter(
            self.config.framework_sorter,
            &self.config.fair_sharing_excluded_resource_names,
            derive_seed(self.seed, &format!("allocator/framework-sorter/{name}")),
        );
        fw_sorter.add_total(&self.total);
        self.roles.push(RoleState {
            name: Arc::from(name),
            chain,
            hierarchical: name.contains('/'),
            fw_sorter,
            fw_of_client: Vec::new(),
            visited: Vec::new(),
            tracked_frameworks: 0,
            role_client: None,
            quota: Quota::default(),
            weight: 1.0,
            reservations: ResourceQuantities::new(),
            offered_unreserved: ResourceQuantities::new(),
            offered_reserved: ResourceQuantities::new(),
            active_filters: 0,
        });
        self.role_index.insert(name.to_string(), idx);
        idx
    }

    // ------------------------------------------------------------------ totals

    fn add_total(&mut self, total: &Resources, sign: i64) {
        let q = total.quantities();
        if sign > 0 {
            self.total.add_assign(&q);
            self.role_sorter.add_total(&q);
            for r in &mut self.roles {
                r.fw_sorter.add_total(&q);
            }
        } else {
            self.total.sub_assign(&q);
            self.role_sorter.remove_total(&q);
            for r in &mut self.roles {
                r.fw_sorter.remove_total(&q);
            }
        }
        for (role, q) in total.reservation_quantities() {
            let idx = self.intern_role(&role);
            let chain = self.roles[idx].chain.clone();
            for r in chain {
                if sign > 0 {
                    self.roles[r].reservations.add_assign(&q);
                } else {
                    self.roles[r].reservations.sub_assign(&q);
                }
            }
            if sign > 0 {
                self.reserved_total.add_assign(&q);
            } else {
                self.reserved_total.sub_assign(&q);
            }
        }
    }

    // ------------------------------------------------------------------ roles

    /// Tracks `fw` under `role` (adding sorter clients as needed); returns the index
    /// of its [`FwRole`].
    fn ensure_fw_role(&mut self, fw: FrameworkId, role: RoleIdx) -> usize {
        let f = match self.frameworks[fw.0 as usize].as_ref() {
            Some(f) => f,
            None => panic!("allocator: tracking unknown {fw} under a role"),
        };
        if let Some(i) = f.role_index(role) {
            return i;
        }
        let name = f.info.name.clone();
        let min_alloc = f
            .info
            .min_allocatable_resources
            .get(&*self.roles[role].name)
            .cloned();
        let r = &mut self.roles[role];
        let path = if name.is_empty() || r.fw_sorter.client(&name).is_some() {
            format!("{name}#{}", fw.0)
        } else {
            name
        };
        let client = r.fw_sorter.add(&path);
        if r.fw_of_client.len() <= client.0 as usize {
            r.fw_of_client
                .resize(client.0 as usize + 1, FrameworkId(u32::MAX));
        }
        r.fw_of_client[client.0 as usize] = fw;
        r.tracked_frameworks += 1;
        self.unsettle_all();
        let r = &mut self.roles[role];
        if r.role_client.is_none() {
            let c = self.role_sorter.add(&r.name);
            self.role_sorter.activate(c);
            r.role_client = Some(c);
            if self.role_of_client.len() <= c.0 as usize {
                self.role_of_client.resize(c.0 as usize + 1, usize::MAX);
            }
            self.role_of_client[c.0 as usize] = role;
        }
        let f = self.frameworks[fw.0 as usize]
            .as_mut()
            .expect("checked above");
        f.roles.push(FwRole {
            role,
            client,
            subscribed: false,
            suppressed: false,
            alloc_agents: 0,
            filters: Vec::new(),
            live_filters: 0,
            min_alloc,
        });
        f.roles.len() - 1
    }

    /// Untracks `fw` from the role at `idx` of its roles (filters go too).
    fn untrack_fw_role(&mut self, fw: FrameworkId, idx: usize) {
        self.clear_filters(fw, |i, _| i == idx);
        let Some(f) = self.framework_mut(fw) else {
            return;
        };
        let fr = f.roles.remove(idx);
        self.unsettle_all();
        let r = &mut self.roles[fr.role];
        r.fw_sorter.remove(fr.client);
        r.tracked_frameworks -= 1;
        if r.tracked_frameworks == 0 {
            if let Some(c) = r.role_client.take() {
                self.role_sorter.remove(c);
            }
        }
    }

    /// Untracks the role at `idx` if the framework neither subscribes to it nor holds
    /// resources under it.
    fn maybe_untrack_fw_role(&mut self, fw: FrameworkId, idx: usize) {
        let Some(f) = self.framework(fw) else { return };
        let fr = &f.roles[idx];
        if !fr.subscribed && fr.alloc_agents == 0 {
            self.untrack_fw_role(fw, idx);
        }
    }

    /// Makes the sorter client of `fw` in its role `idx` active iff the framework is
    /// active, subscribed and not suppressed there.
    fn refresh_activation(&mut self, fw: FrameworkId, idx: usize) {
        let Some(f) = self.framework(fw) else { return };
        let fr = &f.roles[idx];
        let want = f.active && fr.subscribed && !fr.suppressed;
        let (role, client) = (fr.role, fr.client);
        if want != self.roles[role].fw_sorter.is_active(client) {
            self.unsettle_all();
            let sorter = &mut self.roles[role].fw_sorter;
            if want {
                sorter.activate(client);
            } else {
                sorter.deactivate(client);
            }
        }
    }

    // ------------------------------------------------------------------ allocations

    /// Records that `res` on `agent` now belong to `fw` under `role`.
    pub fn track(&mut self, agent: AgentId, fw: FrameworkId, role: RoleIdx, res: &Resources) {
        self.track_from(agent, fw, role, res, Source::Recompute, None);
    }

    /// Moves the agent's whole available set out (for an offer of everything); the
    /// caller must then call [`Book::track_from`] with [`Source::TakenWhole`].
    pub fn take_available(&mut self, agent: AgentId) -> Resources {
        let taken = match self.agent_mut(agent) {
            Some(a) => std::mem::take(&mut a.available),
            None => Resources::new(),
        };
        self.sync_available(agent);
        taken
    }

    /// [`Book::track`], told where `res` came from so that `available` is updated
    /// without a recomputation when that is exact, and given the scalar quantities of
    /// `res` when its entries are plain ([`OfferFacts`]), so they are not summed again.
    pub fn track_from(
        &mut self,
        agent: AgentId,
        fw: FrameworkId,
        role: RoleIdx,
        res: &Resources,
        source: Source,
        plain: Option<ResourceQuantities>,
    ) {
        if res.is_empty() {
            return;
        }
        let Some(a) = self
            .agents
            .get_mut(agent.0 as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        let new_entry = match a
            .allocations
            .binary_search_by(|e| (e.framework, e.role).cmp(&(fw, role)))
        {
            Ok(i) => {
                a.allocations[i].resources.add_assign(res);
                false
            }
            Err(i) => {
                let mut resources = self.spare.pop().unwrap_or_default();
                resources.clone_from(res);
                a.allocations.insert(
                    i,
                    AgentAlloc {
                        framework: fw,
                        role,
                        resources,
                    },
                );
                true
            }
        };
        let no_shared = plain.is_some() || !res.has_shared();
        let resync = match source {
            Source::TakenWhole if !a.total_shared && no_shared => {
                // Still empty, as `take_available` left (and synced) it.
                a.version += 1;
                false
            }
            Source::FromAvailable if !a.total_shared && no_shared => {
                if a.available == *res {
                    a.available.clear();
                } else {
                    a.available.sub_assign(res);
                }
                a.version += 1;
                true
            }
            _ => {
                a.refresh_available();
                true
            }
        };
        if resync {
            self.sync_available(agent);
        }
        let q = match plain {
            Some(q) => self.account_plain(role, q),
            None => self.account(role, res, 1),
        };
        self.attach_sorters(agent, fw, role, res, &q, new_entry, no_shared);
    }

    /// Charges `res` to the sorters (when `fw` is known), tracking `fw` under `role`;
    /// `unshared` when the caller knows `res` has no shared entry.
    #[allow(clippy::too_many_arguments)]
    fn attach_sorters(
        &mut self,
        agent: AgentId,
        fw: FrameworkId,
        role: RoleIdx,
        res: &Resources,
        q: &ResourceQuantities,
        new_entry: bool,
        unshared: bool,
    ) {
        if self.framework(fw).is_none() {
            return;
        }
        let idx = self.ensure_fw_role(fw, role);
        let f = self.frameworks[fw.0 as usize].as_mut().expect("known");
        let fr = &mut f.roles[idx];
        if new_entry {
            fr.alloc_agents += 1;
        }
        let client = fr.client;
        let r = &mut self.roles[role];
        if unshared {
            r.fw_sorter.allocated_unshared(client, agent, res, q);
            if let Some(rc) = r.role_client {
                self.role_sorter.allocated_unshared(rc, agent, res, q);
            }
        } else {
            r.fw_sorter.allocated_with(client, agent, res, q);
            if let Some(rc) = r.role_client {
                self.role_sorter.allocated_with(rc, agent, res, q);
            }
        }
    }

    /// Records that `res` (held by `fw` under `role` on `agent`) came back.
    pub fn untrack(&mut self, agent: AgentId, fw: FrameworkId, role: RoleIdx, res: &Resources) {
        self.untrack_from(agent, fw, role, res, false);
    }

    /// [`Book::untrack`] of resources the caller knows the (framework, role) entry
    /// holds, so that an exact agent (see `AgentState::exact`) gets them back in
    /// `available` without recomputing it.
    fn untrack_held(&mut self, agent: AgentId, fw: FrameworkId, role: RoleIdx, res: &Resources) {
        self.untrack_from(agent, fw, role, res, true);
    }

    fn untrack_from(
        &mut self,
        agent: AgentId,
        fw: FrameworkId,
        role: RoleIdx,
        res: &Resources,
        held: bool,
    ) {
        if res.is_empty() {
            return;
        }
        let spare_cap = self.agents.len().max(MIN_SPARE);
        let Some(a) = self
            .agents
            .get_mut(agent.0 as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        let Ok(i) = a
            .allocations
            .binary_search_by(|e| (e.framework, e.role).cmp(&(fw, role)))
        else {
            return;
        };
        debug_assert!(!held || a.allocations[i].resources.contains(res));
        // Returning all of it (a declined offer of a framework that held nothing
        // else there) empties the entry: compare instead of subtracting entry by entry.
        let entry = &mut a.allocations[i].resources;
        if *entry == *res {
            entry.clear();
        } else {
            entry.sub_assign(res);
        }
        let emptied = a.allocations[i].resources.is_empty();
        if emptied {
            let gone = a.allocations.remove(i);
            if self.spare.len() < spare_cap {
                self.spare.push(gone.resources);
            }
        }
        if held && a.exact && !res.has_shared() {
            if a.available.is_empty() {
                // Canonical `res` is `∅ + res` (the agent was offered whole).
                a.available.clone_from(res);
            } else {
                a.available.add_assign(res);
            }
            a.version += 1;
            #[cfg(debug_assertions)]
            {
                let mut check = Resources::new();
                a.recompute_available_into(&mut check);
                debug_assert_eq!(a.available, check, "incremental return on an exact agent");
            }
        } else {
            a.refresh_available();
        }
        self.sync_available(agent);
        let q = self.account(role, res, -1);
        let Some(f) = self.framework(fw) else { return };
        let Some(idx) = f.role_index(role) else {
            return;
        };
        let client = f.roles[idx].client;
        let r = &mut self.roles[role];
        r.fw_sorter.unallocated_with(client, agent, res, &q);
        if let Some(rc) = r.role_client {
            self.role_sorter.unallocated_with(rc, agent, res, &q);
        }
        if emptied {
            let f = self.frameworks[fw.0 as usize].as_mut().expect("known");
            f.roles[idx].alloc_agents -= 1;
            self.maybe_untrack_fw_role(fw, idx);
        }
    }

    /// Returns `resources` held by `fw` on `agent` under any of its roles: from the
    /// one role holding them all if there is one (the first by role name), else from
    /// each role in role-name order until nothing is left. Returns the first role
    /// something came back from (where a filter goes).
    fn recover_any_role(
        &mut self,
        agent: AgentId,
        fw: FrameworkId,
        resources: &Resources,
    ) -> Option<RoleIdx> {
        let a = self.agent(agent)?;
        let mut roles: Vec<RoleIdx> = a
            .allocations
            .iter()
            .filter(|e| e.framework == fw)
            .map(|e| e.role)
            .collect();
        roles.sort_by(|x, y| self.roles[*x].name.cmp(&self.roles[*y].name));
        if let Some(&whole) = roles
            .iter()
            .find(|&&r| a.entry(fw, r).is_some_and(|h| h.contains(resources)))
        {
            self.untrack_held(agent, fw, whole, resources);
            // Nothing came back when nothing was returned.
            return (!resources.is_empty()).then_some(whole);
        }
        let mut remaining = resources.clone();
        let mut filter_role = None;
        for r in roles {
            let Some(held) = self.agent(agent).and_then(|a| a.entry(fw, r)) else {
                continue;
            };
            let part = if held.contains(&remaining) {
                std::mem::take(&mut remaining)
            } else {
                intersect(held, &remaining)
            };
            if part.is_empty() {
                continue;
            }
            self.untrack_held(agent, fw, r, &part);
            // `remaining − remaining` is empty: what is left is outside `part`.
            if !remaining.is_empty() {
                remaining.sub_assign(&part);
            }
            filter_role.get_or_insert(r);
            if remaining.is_empty() {
                break;
            }
        }
        filter_role
    }

    /// Updates the offered-or-allocated quantities (global and along the role's
    /// chain) by `sign × res`; returns the scalar quantities of `res`.
    fn account(&mut self, role: RoleIdx, res: &Resources, sign: i64) -> ResourceQuantities {
        // One pass over `res`, then whole-vector updates: subtracting the sums clamps
        // at zero exactly like subtracting entry by entry (all amounts are positive).
        let [all, unres, reserved] = res.split_quantities();
        let some_reserved = !reserved.is_empty();
        if sign > 0 {
            self.offered.add_assign(&all);
            if some_reserved {
                self.offered_reserved.add_assign(&reserved);
            }
        } else {
            self.offered.sub_assign(&all);
            if some_reserved {
                self.offered_reserved.sub_assign(&reserved);
            }
        }
        for k in 0..self.roles[role].chain.len() {
            let idx = self.roles[role].chain[k];
            let rs = &mut self.roles[idx];
            if sign > 0 {
                rs.offered_unreserved.add_assign(&unres);
                if some_reserved {
                    rs.offered_reserved.add_assign(&reserved);
                }
            } else {
                rs.offered_unreserved.sub_assign(&unres);
                if some_reserved {
                    rs.offered_reserved.sub_assign(&reserved);
                }
            }
        }
        all
    }

    /// [`Book::account`] of an allocation of plain resources (unreserved and
    /// non-revocable) whose scalar quantities are `q`.
    fn account_plain(&mut self, role: RoleIdx, q: ResourceQuantities) -> ResourceQuantities {
        self.offered.add_assign(&q);
        for k in 0..self.roles[role].chain.len() {
            let idx = self.roles[role].chain[k];
            self.roles[idx].offered_unreserved.add_assign(&q);
        }
        q
    }

    /// Tracks `res` for `fw` under `role` on `agent` and appends the allocation.
    pub fn offer(
        &mut self,
        out: &mut Vec<Allocation>,
        agent: AgentId,
        fw: FrameworkId,
        role: RoleIdx,
        res: Resources,
    ) {
        self.offer_from(out, agent, fw, role, res, Source::FromAvailable, None);
    }

    /// [`Book::offer`] with the [`Source`] of `res` and, when it is plain, its scalar
    /// quantities (see [`Book::track_from`]).
    #[allow(clippy::too_many_arguments)]
    pub fn offer_from(
        &mut self,
        out: &mut Vec<Allocation>,
        agent: AgentId,
        fw: FrameworkId,
        role: RoleIdx,
        res: Resources,
        source: Source,
        plain: Option<ResourceQuantities>,
    ) {
        self.track_from(agent, fw, role, &res, source, plain);
        out.push(Allocation {
            framework: fw,
            role: self.roles[role].name.clone(),
            agent,
            resources: res,
        });
    }

    // ------------------------------------------------------------------ checks

    /// `allocatable()` (§2.7) with the framework's per-role override.
    pub fn allocatable(&self, res: &Resources, fr: &FwRole) -> bool {
        self.allocatable_with(res, fr, None)
    }

    /// [`Book::allocatable`] given `res.offer_facts()` when the caller has them.
    pub fn allocatable_with(
        &self,
        res: &Resources,
        fr: &FwRole,
        facts: Option<&OfferFacts>,
    ) -> bool {
        if res.is_empty() {
            return false;
        }
        let list = fr
            .min_alloc
            .as_ref()
            .unwrap_or(&self.config.min_allocatable_resources);
        list.is_empty()
            || match facts {
                Some(f) => res.contains_any_quantities_with(&f.have, list),
                None => res.contains_any_quantities(list),
            }
    }

    /// The agent-level part of `isCapableOfReceivingAgent` and `isFiltered`: GPU
    /// filtering, MULTI_ROLE and HIERARCHICAL_ROLE capabilities.
    pub fn agent_excluded(&self, f: &FrameworkState, role: RoleIdx, agent: &AgentState) -> bool {
        let caps = f.caps();
        (self.config.filter_gpu_resources && !caps.gpu_resources && agent.has_gpus)
            || (caps.multi_role && !agent.capabilities.multi_role)
            || (self.roles[role].hierarchical && !agent.capabilities.hierarchical_role)
    }

    /// True when an offer filter of (framework, role) on the agent contains `offer`.
    pub fn is_filtered(a: &AgentState, fw: FrameworkId, role: RoleIdx, offer: &Resources) -> bool {
        Book::is_filtered_by(a, fw, role, offer, &mut None)
    }

    /// [`Book::is_filtered`] with a slot for `shape(offer)`: filled on first need,
    /// reused by the caller for the next candidate of the same offer.
    pub fn is_filtered_by(
        a: &AgentState,
        fw: FrameworkId,
        role: RoleIdx,
        offer: &Resources,
        want: &mut Option<Shape>,
    ) -> bool {
        let bits = filter_bits(fw, role);
        if a.filter_mask & bits != bits {
            return false;
        }
        let from = a
            .filters
            .partition_point(|f| (f.framework, f.role) < (fw, role));
        let mut mine = a.filters[from..]
            .iter()
            .take_while(|f| f.framework == fw && f.role == role)
            .peekable();
        if mine.peek().is_none() {
            return false;
        }
        let want = want.get_or_insert_with(|| shape(offer));
        mine.any(|f| f.contains(offer, want))
    }

    /// Offers `fw` (its role at `fr_idx`) everything on `agent` its role may use and
    /// its capabilities allow, unless a check fails (capabilities, min_allocatable,
    /// filters). Shared resources go at most once per agent per cycle. Used by the
    /// baselines; returns whether an offer was made.
    pub fn offer_whole(
        &mut self,
        out: &mut Vec<Allocation>,
        offered_shared: &mut BTreeMap<AgentId, Resources>,
        agent: AgentId,
        fw: FrameworkId,
        fr_idx: usize,
    ) -> bool {
        let (Some(a), Some(f)) = (self.agent(agent), self.framework(fw)) else {
            return false;
        };
        let fr = &f.roles[fr_idx];
        let role = fr.role;
        if self.agent_excluded(f, role, a) {
            return false;
        }
        let name = &self.roles[role].name;
        let mut offer = a.available.filter(|x| x.is_allocatable_to(name));
        if let Some(s) = offered_shared.get(&agent) {
            offer.sub_assign(s);
        }
        strip(&mut offer, f.caps());
        if !self.allocatable(&offer, fr) || Book::is_filtered(a, fw, role, &offer) {
            return false;
        }
        if offer.has_shared() {
            offered_shared
                .entry(agent)
                .or_default()
                .add_assign(&offer.shared());
        }
        self.offer(out, agent, fw, role, offer);
        true
    }

    /// Active frameworks in registration order, each with the indices of its roles
    /// that may receive offers (subscribed, not suppressed), in subscription order.
    pub fn eligible_players(&self) -> Vec<(FrameworkId, usize)> {
        let mut fws: Vec<(u64, FrameworkId)> = self
            .frameworks
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (f, FrameworkId(i as u32))))
            .filter(|(f, _)| f.active)
            .map(|(f, id)| (f.seq, id))
            .collect();
        fws.sort_unstable();
        let mut out = Vec::new();
        for (_, id) in fws {
            let f = self.framework(id).expect("listed");
            for (i, fr) in f.roles.iter().enumerate() {
                if fr.subscribed && !fr.suppressed {
                    out.push((id, i));
                }
            }
        }
        out
    }

    // ------------------------------------------------------------------ filters

    fn install_filter(
        &mut self,
        now: SimTime,
        fw: FrameworkId,
        idx: usize,
        agent: AgentId,
        resources: &Resources,
        refuse: SimDuration,
    ) -> InstalledFilter {
        let d = refuse.max(self.config.allocation_interval).min(MAX_FILTER);
        let expires_at = now.saturating_add(d);
        let id = FilterId(self.next_filter);
        self.next_filter += 1;
        let f = self.frameworks[fw.0 as usize]
            .as_mut()
            .expect("known framework");
        let fr = &mut f.roles[idx];
        if fr.filters.len() >= 2 * fr.live_filters + 16 {
            let index = &self.filters;
            fr.filters.retain(|&id| index.get(id).is_some());
        }
        fr.filters.push(id);
        fr.live_filters += 1;
        let role = fr.role;
        self.roles[role].active_filters += 1;
        self.filters.insert(
            id,
            FilterLoc {
                framework: fw,
                role,
                agent,
                detached: false,
            },
        );
        let a = self.agents[agent.0 as usize]
            .as_mut()
            .expect("filters are installed on known agents");
        let before = a.detached.len();
        a.add_filter(AgentFilter::new(
            fw,
            role,
            id,
            expires_at,
            resources,
            &shape(resources),
        ));
        for &gone in &a.detached[before..] {
            if let Some(loc) = self.filters.get_mut(gone) {
                loc.detached = true;
            }
        }
        if a.detached.len() >= 2 * a.detached_kept + 16 {
            let index = &self.filters;
            a.detached.retain(|&id| index.get(id).is_some());
            a.detached_kept = a.detached.len();
        }
        InstalledFilter { id, expires_at }
    }

    /// What `fw` holds on every agent, by role, in agent order.
    fn held_by(&self, fw: FrameworkId) -> Vec<(AgentId, RoleIdx, Resources)> {
        self.agents
            .iter()
            .enumerate()
            .filter_map(|(ai, a)| a.as_ref().map(|a| (AgentId(ai as u32), a)))
            .flat_map(|(aid, a)| {
                a.allocations
                    .iter()
                    .filter(|e| e.framework == fw)
                    .map(move |e| (aid, e.role, e.resources.clone()))
            })
            .collect()
    }

    fn remove_filter(&mut self, id: FilterId) {
        let Some(loc) = self.filters.remove(id) else {
            return;
        };
        self.roles[loc.role].active_filters -= 1;
        // A detached filter is on no list of the agent (see `AgentState::detached`).
        let visible = !loc.detached
            && self
                .agent_mut(loc.agent)
                .is_some_and(|a| a.remove_filter(loc.framework, loc.role, id));
        // A hidden filter's removal changes no rejection: stable marks stay valid.
        if visible {
            self.unsettle(loc.agent);
        }
        let Some(f) = self.framework_mut(loc.framework) else {
            return;
        };
        let Some(idx) = f.role_index(loc.role) else {
            return;
        };
        let fr = &mut f.roles[idx];
        fr.live_filters -= 1;
        if fr.live_filters == 0 {
            fr.filters.clear();
        }
    }

    /// Clears the filters of `fw` on the (role index, agent) pairs `pred` selects.
    fn clear_filters(&mut self, fw: FrameworkId, pred: impl Fn(usize, AgentId) -> bool) {
        let Some(f) = self.framework(fw) else { return };
        let mut ids: Vec<FilterId> = Vec::new();
        for (i, fr) in f.roles.iter().enumerate() {
            for &id in &fr.filters {
                // Ids are never reused: a live one is this framework's.
                if let Some(loc) = self.filters.get(id) {
                    if pred(i, loc.agent) {
                        ids.push(id);
                    }
                }
            }
        }
        for id in ids {
            self.remove_filter(id);
        }
    }

    /// Clears every framework's filters on `agent`.
    fn clear_agent_filters(&mut self, agent: AgentId) {
        let ids: Vec<FilterId> = match self.agent(agent) {
            Some(a) => a.filter_ids(),
            None => return,
        };
        for id in ids {
            self.remove_filter(id);
        }
    }

    /// Present agents among `candidates`, in id order.
    pub fn candidate_agents(&self, candidates: &Candidates) -> Vec<AgentId> {
        match candidates {
            Candidates::All => self
                .agents
                .iter()
                .enumerate()
                .filter(|(_, a)| a.is_some())
                .map(|(i, _)| AgentId(i as u32))
                .collect(),
            Candidates::Agents(list) => {
                let mut v: Vec<AgentId> = list
                    .iter()
                    .copied()
                    .filter(|&a| self.agent(a).is_some())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        }
    }

    /// Quota consumption of `role` (§2.4): subtree reservations plus offered-or-
    /// allocated unreserved non-revocable scalars.
    pub fn consumed(&self, role: RoleIdx) -> ResourceQuantities {
        let r = &self.roles[role];
        r.reservations.plus(&r.offered_unreserved)
    }

    /// `availableHeadroom` (§2.4): total − allocated − unallocated reservations −
    /// available revocable.
    pub fn available_headroom(&self) -> ResourceQuantities {
        let mut h = self.total.minus(&self.offered);
        h.sub_assign(&self.reserved_total.minus(&self.offered_reserved));
        for a in self.agents.iter().flatten() {
            if a.available.has_revocable() {
                let [all, _, _] = a.available.revocable().split_quantities();
                h.sub_assign(&all);
            }
        }
        h
    }

    /// The metrics snapshot (§2.13).
    pub fn metrics(&self) -> AllocatorMetrics {
        let mut m = AllocatorMetrics {
            allocation_runs: self.allocation_runs,
            total: self.total.clone(),
            offered_or_allocated: self.offered.clone(),
            ..AllocatorMetrics::default()
        };
        for (i, r) in self.roles.iter().enumerate() {
            if r.role_client.is_some() || r.active_filters > 0 {
                m.active_filters
                    .insert(r.name.to_string(), r.active_filters);
            }
            if let Some(c) = r.role_client {
                m.dominant_shares
                    .insert(r.name.to_string(), self.role_sorter.share(c));
            }
            if self.quota_roles.contains(&i) {
                m.quota.insert(
                    r.name.to_string(),
                    QuotaMetrics {
                        guarantees: r.quota.guarantees.clone(),
                        limits: r.quota.limits.clone(),
                        offered_or_allocated: r.offered_unreserved.plus(&r.offered_reserved),
                        consumed: self.consumed(i),
                    },
                );
            }
        }
        m
    }
}

/// Offer operations (`updateAllocation`, `updateAvailable`).
impl Book {
    fn not_held(what: &str) -> Rejection {
        Rejection::NotAvailable {
            consumed: what.to_string(),
            pool: String::new(),
        }
    }

    /// Rewrites an agent's total, keeping the totals, sorters and reservation books
    /// in step.
    fn replace_total(&mut self, agent: AgentId, total: Resources) {
        let old = self
            .agent(agent)
            .expect("checked by the caller")
            .info
            .total
            .clone();
        self.add_total(&old, -1);
        self.add_total(&total, 1);
        let a = self.agent_mut(agent).expect("checked by the caller");
        a.set_total(total);
        a.refresh_available();
        self.sync_available(agent);
    }

    fn update_allocation(
        &mut self,
        fw: FrameworkId,
        role: &str,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection> {
        let r = *self
            .role_index
            .get(role)
            .ok_or_else(|| Book::not_held(role))?;
        let a = self.agent(agent).ok_or_else(|| Book::not_held("agent"))?;
        let held = a
            .allocations
            .iter()
            .find(|e| e.framework == fw && e.role == r)
            .map(|e| e.resources.clone())
            .ok_or_else(|| Book::not_held("allocation"))?;
        let new_held = apply(&held, conversions)?;
        let new_total = apply(&a.info.total, conversions)?;
        let removed = held.minus(&new_held);
        let added = new_held.minus(&held);
        self.replace_total(agent, new_total);
        // Add first so the (framework, role) entry never empties in between.
        self.track(agent, fw, r, &added);
        self.untrack(agent, fw, r, &removed);
        Ok(())
    }

    fn update_available(
        &mut self,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection> {
        let a = self.agent(agent).ok_or_else(|| Book::not_held("agent"))?;
        apply(&a.available, conversions)?;
        let new_total = apply(&a.info.total, conversions)?;
        self.replace_total(agent, new_total);
        Ok(())
    }
}

/// Implements [`Allocator`] for a [`Policy`] on top of a [`Book`].
pub(crate) struct Driver<P> {
    name: &'static str,
    book: Book,
    policy: P,
}

impl<P: Policy> Driver<P> {
    pub fn new(name: &'static str, config: AllocatorConfig, seed: u64, policy: P) -> Self {
        Driver {
            name,
            book: Book::new(config, seed),
            policy,
        }
    }

    /// The same allocator with the stable-agent skip turned off (the reference the
    /// tests compare the skip against).
    #[cfg(test)]
    pub fn without_stable_skip(mut self) -> Self {
        self.book.skip_stable = false;
        self
    }

    /// Whether `agent` carries a current stable mark.
    #[cfg(test)]
    pub fn is_stable(&self, agent: AgentId) -> bool {
        self.book.is_stable(agent)
    }

    /// The books (for the tests' reference checks).
    #[cfg(test)]
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Number of agents carrying a current stable mark.
    #[cfg(test)]
    pub fn stable_agents(&self) -> usize {
        let b = &self.book;
        b.stable.iter().filter(|&&m| m == b.stable_gen).count()
    }

    fn recover(
        &mut self,
        now: SimTime,
        fw: FrameworkId,
        role: Option<RoleIdx>,
        agent: AgentId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) -> Option<InstalledFilter> {
        let b = &mut self.book;
        let a = b.agent(agent)?;
        let filter_role = match role {
            // One (framework, role) entry at most: return what it holds of
            // `resources`, subtracting in place (no copy of the entry).
            Some(r) => {
                if let Some(held) = a.entry(fw, r) {
                    // A declined offer is usually all the entry holds: equality is
                    // the cheap first answer.
                    if held == resources || held.contains(resources) {
                        b.untrack_held(agent, fw, r, resources);
                    } else {
                        // `held − x` is always part of `held`.
                        let part = intersect(held, resources);
                        b.untrack_held(agent, fw, r, &part);
                    }
                }
                Some(r)
            }
            None => b.recover_any_role(agent, fw, resources),
        };
        let refuse = refuse?;
        let role = filter_role?;
        let idx = b.framework(fw)?.role_index(role)?;
        Some(b.install_filter(now, fw, idx, agent, resources, refuse))
    }
}

impl<P: Policy> Allocator for Driver<P> {
    fn name(&self) -> &str {
        self.name
    }

    fn add_agent(
        &mut self,
        now: SimTime,
        id: AgentId,
        info: AgentInfo,
        used: &[(FrameworkId, String, Resources)],
    ) {
        if self.book.agent(id).is_some() {
            self.remove_agent(now, id);
        }
        let b = &mut self.book;
        let i = id.0 as usize;
        if b.agents.len() <= i {
            b.agents.resize_with(i + 1, || None);
        }
        let total = info.total.clone();
        let mut state = AgentState::new(info);
        state.refresh_available();
        b.agents[i] = Some(state);
        b.sync_available(id);
        b.add_total(&total, 1);
        for (fw, role, res) in used {
            let r = b.intern_role(role);
            b.track(id, *fw, r, res);
        }
        b.request(Candidates::Agents(vec![id]));
    }

    fn remove_agent(&mut self, _now: SimTime, id: AgentId) {
        let b = &mut self.book;
        let Some(a) = b.agent(id) else { return };
        let allocs: Vec<(FrameworkId, RoleIdx, Resources)> = a
            .allocations
            .iter()
            .map(|e| (e.framework, e.role, e.resources.clone()))
            .collect();
        let total = a.info.total.clone();
        for (fw, role, res) in allocs {
            b.untrack(id, fw, role, &res);
        }
        b.clear_agent_filters(id);
        b.add_total(&total, -1);
        b.agents[id.0 as usize] = None;
        b.sync_available(id);
    }

    fn update_agent(
        &mut self,
        _now: SimTime,
        id: AgentId,
        total: Resources,
        attributes: Vec<(String, String)>,
    ) {
        let b = &mut self.book;
        let Some(a) = b.agent(id) else { return };
        let total_changed = a.info.total != total;
        let attrs_changed = a.info.attributes != attributes;
        if total_changed {
            let old = a.info.total.clone();
            b.add_total(&old, -1);
            b.add_total(&total, 1);
            let a = b.agent_mut(id).expect("present");
            a.set_total(total);
            a.refresh_available();
            b.sync_available(id);
        }
        if attrs_changed {
            b.agent_mut(id).expect("present").info.attributes = attributes;
            b.clear_agent_filters(id);
            b.unsettle(id);
        }
        if total_changed || attrs_changed {
            b.request(Candidates::Agents(vec![id]));
        }
    }

    fn add_framework(&mut self, now: SimTime, id: FrameworkId, info: FrameworkInfo, active: bool) {
        if self.book.framework(id).is_some() {
            self.remove_framework(now, id);
        }
        let b = &mut self.book;
        let i = id.0 as usize;
        if b.frameworks.len() <= i {
            b.frameworks.resize_with(i + 1, || None);
        }
        let roles: Vec<String> = info.roles.clone();
        let suppressed: Vec<String> = info.suppressed_roles.clone();
        b.frameworks[i] = Some(FrameworkState {
            roles: Vec::new(),
            capabilities: info.capabilities,
            active,
            seq: b.next_seq,
            info,
        });
        b.next_seq += 1;
        b.unsettle_all();
        for role in &roles {
            let r = b.intern_role(role);
            let idx = b.ensure_fw_role(id, r);
            let f = b.frameworks[i].as_mut().expect("just added");
            f.roles[idx].subscribed = true;
            f.roles[idx].suppressed = suppressed.contains(role);
            b.refresh_activation(id, idx);
        }
        // Resources this framework already holds (agents added before it).
        let held = b.held_by(id);
        for (aid, role, res) in held {
            let q = res.quantities();
            b.attach_sorters(aid, id, role, &res, &q, true, false);
        }
        if active {
            b.request(Candidates::All);
        }
    }

    fn remove_framework(&mut self, _now: SimTime, id: FrameworkId) {
        let b = &mut self.book;
        if b.framework(id).is_none() {
            return;
        }
        let held = b.held_by(id);
        for (aid, role, res) in held {
            b.untrack(aid, id, role, &res);
        }
        while let Some(f) = b.framework(id) {
            if f.roles.is_empty() {
                break;
            }
            b.untrack_fw_role(id, f.roles.len() - 1);
        }
        b.frameworks[id.0 as usize] = None;
        b.unsettle_all();
    }

    fn activate_framework(&mut self, _now: SimTime, id: FrameworkId) {
        let b = &mut self.book;
        let Some(f) = b.framework_mut(id) else { return };
        f.active = true;
        let n = f.roles.len();
        b.unsettle_all();
        for idx in 0..n {
            b.refresh_activation(id, idx);
        }
        b.request(Candidates::All);
    }

    fn deactivate_framework(&mut self, _now: SimTime, id: FrameworkId) {
        let b = &mut self.book;
        let Some(f) = b.framework_mut(id) else { return };
        f.active = false;
        let n = f.roles.len();
        b.unsettle_all();
        for idx in 0..n {
            b.refresh_activation(id, idx);
        }
        b.clear_filters(id, |_, _| true);
    }

    fn suppress_offers(&mut self, _now: SimTime, id: FrameworkId, roles: &[String]) {
        let b = &mut self.book;
        let Some(f) = b.framework(id) else { return };
        let targets: Vec<usize> = (0..f.roles.len())
            .filter(|&i| {
                let fr = &f.roles[i];
                fr.subscribed
                    && (roles.is_empty() || roles.iter().any(|x| **x == *b.roles[fr.role].name))
            })
            .collect();
        for idx in targets {
            b.frameworks[id.0 as usize].as_mut().expect("known").roles[idx].suppressed = true;
            b.refresh_activation(id, idx);
        }
    }

    fn revive_offers(&mut self, _now: SimTime, id: FrameworkId, roles: &[String]) {
        let b = &mut self.book;
        let Some(f) = b.framework(id) else { return };
        let targets: Vec<usize> = (0..f.roles.len())
            .filter(|&i| {
                let fr = &f.roles[i];
                fr.subscribed
                    && (roles.is_empty() || roles.iter().any(|x| **x == *b.roles[fr.role].name))
            })
            .collect();
        for &idx in &targets {
            b.frameworks[id.0 as usize].as_mut().expect("known").roles[idx].suppressed = false;
            b.refresh_activation(id, idx);
        }
        b.clear_filters(id, |i, _| targets.contains(&i));
        b.unsettle_all();
        b.request(Candidates::All);
    }

    fn recover_resources(
        &mut self,
        now: SimTime,
        framework: FrameworkId,
        agent: AgentId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) -> Option<InstalledFilter> {
        self.recover(now, framework, None, agent, resources, refuse)
    }

    fn recover_role_resources(
        &mut self,
        now: SimTime,
        framework: FrameworkId,
        role: &str,
        agent: AgentId,
        resources: &Resources,
        refuse: Option<SimDuration>,
    ) -> Option<InstalledFilter> {
        let role = *self.book.role_index.get(role)?;
        self.recover(now, framework, Some(role), agent, resources, refuse)
    }

    fn expire_filter(&mut self, _now: SimTime, id: FilterId) {
        self.book.remove_filter(id);
    }

    fn update_weights(&mut self, _now: SimTime, weights: &[(String, f64)]) {
        let b = &mut self.book;
        for (role, w) in weights {
            // Rejects zero, negative and NaN weights alike.
            if w.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                continue;
            }
            let r = b.intern_role(role);
            b.roles[r].weight = *w;
            b.role_sorter.update_weight(role, *w);
        }
        b.unsettle_all();
    }

    fn update_quota(&mut self, _now: SimTime, role: &str, quota: Quota) {
        let b = &mut self.book;
        let r = b.intern_role(role);
        if quota.is_default() {
            b.quota_roles.remove(&r);
        } else {
            b.quota_roles.insert(r);
        }
        b.roles[r].quota = quota;
        b.unsettle_all();
    }

    fn take_allocation_request(&mut self) -> Option<Candidates> {
        self.book.pending.take()
    }

    fn allocate(&mut self, now: SimTime, candidates: &Candidates) -> Vec<Allocation> {
        self.book.allocation_runs += 1;
        self.policy.allocate(&mut self.book, now, candidates)
    }

    fn metrics(&self) -> AllocatorMetrics {
        self.book.metrics()
    }

    fn available(&self, agent: AgentId) -> Option<Resources> {
        self.book.agent(agent).map(|a| a.available.clone())
    }

    fn update_allocation(
        &mut self,
        _now: SimTime,
        framework: FrameworkId,
        role: &str,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection> {
        self.book
            .update_allocation(framework, role, agent, conversions)
    }

    fn update_available(
        &mut self,
        _now: SimTime,
        agent: AgentId,
        conversions: &[Conversion],
    ) -> Result<(), Rejection> {
        self.book.update_available(agent, conversions)
    }
}
