//! The Mesos hierarchical allocator's cycle (`HierarchicalAllocatorProcess::__generateOffers`, §2.2–§2.7): stage 1 serves unsatisfied quota guarantees, stage 2 everything else.
//!
//! Per stage the candidate agents are shuffled (seeded, see `order.rs`); for each agent the
//! role sorter is consulted once (a pass), and for each role the framework sorter
//! once. Every allocation updates both sorters at once, so the order seen by the next
//! agent reflects it, while the order within one agent is the snapshot taken when the
//! pass started (§2.3). Allocation is coarse-grained: a framework receives everything
//! on the agent its role may use and its capabilities allow; only quota limits and
//! headroom chop unreserved scalars (§2.4–§2.6).
//!
//! The same code runs as `random` with both sorters random.

use std::borrow::Cow;
use std::collections::BTreeMap;

use sim_core::time::SimTime;

use super::book::{strip, strip_needed, Book, Policy, RoleIdx, Shape, Source};
use super::order::shuffle_agents;
use super::{AgentId, Allocation, Candidates, FrameworkId};
use crate::resources::{shrink, shrink_to_limits, OfferFacts, ResourceQuantities, Resources};
use crate::sorter::{PassWalker, SorterKind};

/// The hierarchical DRF policy (stateless: everything lives in the [`Book`]).
pub(crate) struct Hdrf;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Unsatisfied guarantees only.
    One,
    /// Everything else.
    Two,
}

/// Per-cycle quota state (§2.4).
struct Cycle {
    /// Consumption of every role with a non-default quota.
    consumed: BTreeMap<RoleIdx, ResourceQuantities>,
    required_headroom: ResourceQuantities,
    available_headroom: ResourceQuantities,
    /// Shared resources already offered on each agent in this cycle.
    offered_shared: BTreeMap<AgentId, Resources>,
    /// Position in the output of each stage-1 allocation, to merge stage 2 into it.
    index: BTreeMap<(FrameworkId, RoleIdx, AgentId), usize>,
}

impl Cycle {
    fn new(b: &Book) -> Cycle {
        let mut consumed = BTreeMap::new();
        let mut required = ResourceQuantities::new();
        for &r in &b.quota_roles {
            let c = b.consumed(r);
            required.add_assign(&b.roles[r].quota.guarantees.minus(&c));
            consumed.insert(r, c);
        }
        let available_headroom = if required.is_empty() {
            ResourceQuantities::new()
        } else {
            b.available_headroom()
        };
        Cycle {
            consumed,
            required_headroom: required,
            available_headroom,
            offered_shared: BTreeMap::new(),
            index: BTreeMap::new(),
        }
    }

    /// What is left of the headroom for everyone else.
    fn surplus(&self) -> ResourceQuantities {
        self.available_headroom.minus(&self.required_headroom)
    }

    /// Charges unreserved non-revocable quantities `q` to `role` and its quota
    /// ancestors.
    fn consume(&mut self, b: &Book, role: RoleIdx, q: &ResourceQuantities) {
        for r in &b.roles[role].chain {
            if let Some(c) = self.consumed.get_mut(r) {
                c.add_assign(q);
            }
        }
    }
}

impl Policy for Hdrf {
    fn allocate(
        &mut self,
        b: &mut Book,
        _now: SimTime,
        candidates: &Candidates,
    ) -> Vec<Allocation> {
        let mut cy = Cycle::new(b);
        let mut out = Vec::new();
        // Agents with nothing available are left out of a stage before its order is
        // drawn (`order::shuffle_agents`: the visited agents come in the relative
        // order a shuffle of all agents would give them), so a cycle costs little
        // beyond the agents that have something to offer. A random role sorter draws
        // a permutation for every agent's pass, empty or not, so with it every agent
        // still runs and its draws stay as they were.
        let skip_empty = b.role_sorter.kind() == SorterKind::Drf;
        let stage1 = b
            .quota_roles
            .iter()
            .any(|&r| !b.roles[r].quota.guarantees.is_empty() && b.roles[r].role_client.is_some());
        if stage1 {
            let mut order = b.candidate_agents(candidates);
            order.retain(|&a| !skip_empty || b.has_available(a));
            shuffle_agents(&mut order, &mut b.rng);
            for &agent in &order {
                run_agent(b, &mut cy, agent, Stage::One, &mut out);
            }
        }
        // Stable agents (see `Book::stable`) are skipped when the cycle has no quota
        // work: no stage 1 and no headroom to keep, so every candidate a visit
        // examines takes the fast path and its rejections depend only on the agent
        // and the candidate. They are left out before the order is drawn; the others
        // keep the relative order they would have had with them (seeded outputs do
        // not depend on the skip). Both sorters must be DRF: a random sorter draws a
        // permutation per pass.
        let skip_stable = b.skip_stable
            && skip_empty
            && b.config.framework_sorter == SorterKind::Drf
            && !stage1
            && cy.required_headroom.is_empty();
        // Visiting an agent changes only that agent's availability and stable mark,
        // so filtering up front visits exactly the agents a check at each visit would.
        let mut agents = if skip_stable && *candidates == Candidates::All {
            b.awake_agents()
        } else {
            let mut agents = b.candidate_agents(candidates);
            agents.retain(|&a| {
                !skip_empty || (b.has_available(a) && !(skip_stable && b.is_stable(a)))
            });
            agents
        };
        shuffle_agents(&mut agents, &mut b.rng);
        out.reserve(agents.len());
        for (i, &agent) in agents.iter().enumerate() {
            if i % WARM_BATCH == 0 {
                warm(b, &agents[i..agents.len().min(i + WARM_BATCH)]);
            }
            let before = out.len();
            let local = run_agent(b, &mut cy, agent, Stage::Two, &mut out);
            if skip_stable && local && out.len() == before {
                b.settle(agent);
            }
        }
        out
    }
}

/// Agents whose state [`warm`] loads at once.
const WARM_BATCH: usize = 8;

/// Reads the first line of each agent's state, its available entries and its
/// allocation list header. In a large cluster visited in shuffled order these are
/// cache misses, and a visit takes them one after another, each waiting for the
/// previous; loaded here in one short loop, the misses of a batch overlap (safe
/// code has no prefetch instruction: these are plain loads whose sum is discarded).
fn warm(b: &Book, agents: &[AgentId]) {
    let mut sum = 0u64;
    for &id in agents {
        if let Some(a) = b.agent(id) {
            sum = sum.wrapping_add(a.version);
            for r in a.available.iter() {
                sum = sum.wrapping_add(u64::from(r.revocable));
            }
            sum = sum.wrapping_add(a.allocations.len() as u64);
        }
    }
    std::hint::black_box(sum);
}

/// Answers that depend only on the resources offered (a role's usable set): whether
/// they are allocatable with the configured minimum, and their filter quantities.
/// One visit shares a memo among the roles that may use the agent's whole available
/// set, so each answer is computed once per version of it, not once per role.
struct Memo {
    /// The agent version (`AgentState::version`) the answers hold for.
    version: u64,
    allocatable: Option<bool>,
    want: Option<Shape>,
    facts: Option<OfferFacts>,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            version: u64::MAX,
            allocatable: None,
            want: None,
            facts: None,
        }
    }

    /// Forgets the answers unless they hold for `version`.
    fn at(&mut self, version: u64) -> &mut Memo {
        if self.version != version {
            *self = Memo {
                version,
                allocatable: None,
                want: None,
                facts: None,
            };
        }
        self
    }
}

/// Visits one agent; returns true when every candidate it rejected was rejected for
/// a reason that depends only on the agent and that candidate (see `Book::stable`).
fn run_agent(
    b: &mut Book,
    cy: &mut Cycle,
    agent: AgentId,
    stage: Stage,
    out: &mut Vec<Allocation>,
) -> bool {
    let epoch = b.next_epoch();
    b.role_sorter.begin_pass();
    let mut roles = PassWalker::new(epoch);
    let mut local = true;
    let mut memo = Memo::new();
    while let Some(rc) = roles.next(&mut *b.role_sorter, &mut b.visited_roles) {
        let role = b.role_of_client[rc.0 as usize];
        if stage == Stage::One {
            let guarantees = &b.roles[role].quota.guarantees;
            if guarantees.is_empty() {
                continue;
            }
            let consumed = cy.consumed.get(&role).cloned().unwrap_or_default();
            if guarantees.minus(&consumed).is_empty() {
                continue;
            }
        }
        let Some(a) = b.agent(agent) else {
            return false;
        };
        if a.available.is_empty() {
            // Nothing left on the agent for any role (later roles would skip it).
            return local;
        }
        if !a.available.any_allocatable_to(&b.roles[role].name) {
            continue;
        }
        local &= run_role(b, cy, agent, role, stage, &mut memo, out);
        if b.agent(agent).is_some_and(|a| a.available.is_empty()) {
            return local;
        }
    }
    local
}

/// Offers `agent` to the frameworks of `role`; returns true when every rejection was
/// local to the agent and the candidate (a filter, exclusion, not allocatable).
fn run_role(
    b: &mut Book,
    cy: &mut Cycle,
    agent: AgentId,
    role: RoleIdx,
    stage: Stage,
    whole_memo: &mut Memo,
    out: &mut Vec<Allocation>,
) -> bool {
    let epoch = b.next_epoch();
    b.roles[role].fw_sorter.begin_pass();
    let mut frameworks = PassWalker::new(epoch);
    let mut cache = Resources::new();
    let mut cache_version = u64::MAX;
    // True when the role may use everything available (no other role's
    // reservation, no shared volume offered earlier in the cycle): then `cache` is
    // not built and an offer of everything moves `available` out instead.
    let mut whole = false;
    // Answers about `usable` when it is `cache` (when `whole`, `whole_memo` holds
    // them: `usable` is then the agent's available set whatever the role).
    let mut part_memo = Memo::new();
    let mut local = true;
    loop {
        let r = &mut b.roles[role];
        let Some(fc) = frameworks.next(&mut *r.fw_sorter, &mut r.visited) else {
            break;
        };
        let fw = r.fw_of_client[fc.0 as usize];

        // Available resources the role may use, minus shared ones already offered.
        let Some(a) = b.agent(agent) else {
            return false;
        };
        if a.version != cache_version {
            let name = &b.roles[role].name;
            whole = !cy.offered_shared.contains_key(&agent)
                && a.available.iter().all(|x| x.is_allocatable_to(name));
            if !whole {
                a.available
                    .filter_into(&mut cache, |x| x.is_allocatable_to(name));
                if let Some(s) = cy.offered_shared.get(&agent) {
                    cache.sub_assign(s);
                }
            }
            cache_version = a.version;
        }
        let usable = if whole { &a.available } else { &cache };
        if usable.is_empty() {
            break; // nothing left for this role on this agent
        }

        let Some(f) = b.framework(fw) else {
            local = false;
            continue;
        };
        let Some(fr_idx) = f.role_index(role) else {
            local = false;
            continue;
        };
        if b.agent_excluded(f, role, a) {
            continue;
        }
        let caps = *f.caps();
        // One pass over `usable` answers most questions below (per version of it).
        let facts = *{
            let memo = if whole {
                &mut *whole_memo
            } else {
                &mut part_memo
            };
            memo.at(cache_version)
                .facts
                .get_or_insert_with(|| usable.offer_facts())
        };
        let avail: Cow<'_, Resources> = if !facts.plain && strip_needed(usable, &caps) {
            let mut s = usable.clone();
            strip(&mut s, &caps);
            Cow::Owned(s)
        } else {
            Cow::Borrowed(usable)
        };
        // `allocatable` with the configured minimum depends only on `usable`: one
        // answer per version of it, shared by every framework without an override
        // (and, through `whole_memo`, by every role of the visit using it all).
        let fr = &f.roles[fr_idx];
        let ok = if fr.min_alloc.is_none() && matches!(avail, Cow::Borrowed(_)) {
            let memo = if whole {
                &mut *whole_memo
            } else {
                &mut part_memo
            };
            *memo
                .at(cache_version)
                .allocatable
                .get_or_insert_with(|| b.allocatable_with(&avail, fr, Some(&facts)))
        } else {
            b.allocatable(&avail, fr)
        };
        if !ok {
            continue;
        }

        let quota = b.quota_roles.contains(&role).then(|| &b.roles[role].quota);
        let limited = quota.is_some_and(|q| !q.limits.is_unlimited());
        let fast = stage == Stage::Two && !limited && cy.required_headroom.is_empty();
        if fast {
            // No quota anywhere near: the whole available set, as is.
            let filtered = match avail {
                Cow::Borrowed(_) => {
                    let memo = if whole {
                        &mut *whole_memo
                    } else {
                        &mut part_memo
                    };
                    Book::is_filtered_by(a, fw, role, &avail, &mut memo.at(cache_version).want)
                }
                Cow::Owned(_) => Book::is_filtered(a, fw, role, &avail),
            };
            if filtered {
                continue;
            }
            // The facts hold for the offer unless capabilities stripped it.
            let plain = (facts.plain && matches!(avail, Cow::Borrowed(_)))
                .then(|| facts.scalar_quantities());
            // The cache is stale after this allocation anyway: move it out.
            let (offering, source) = match avail {
                Cow::Owned(o) => (o, Source::FromAvailable),
                Cow::Borrowed(_) if whole => (b.take_available(agent), Source::TakenWhole),
                Cow::Borrowed(_) => (std::mem::take(&mut cache), Source::FromAvailable),
            };
            cache_version = u64::MAX;
            if !cy.consumed.is_empty() {
                let [_, unres, _] = offering.split_quantities();
                cy.consume(b, role, &unres);
            }
            emit(b, cy, out, agent, fw, role, offering, stage, source, plain);
            if source == Source::TakenWhole
                && b.agent(agent).is_some_and(|a| a.available.is_empty())
            {
                // Coarse-grained: the agent is exhausted; the next framework would
                // find nothing (Mesos breaks out of the framework loop there too).
                break;
            }
            continue;
        }

        // Quota limits or headroom decide from here on: global state.
        local = false;
        let limits = quota.map(|q| q.limits.clone());
        let guarantees = quota.map(|q| q.guarantees.clone()).unwrap_or_default();
        let consumed = cy.consumed.get(&role).cloned().unwrap_or_default();
        let mut to_offer = avail.filter(|x| x.is_reserved() || !x.is_scalar() || x.revocable);
        let quota_resources = avail.filter(|x| x.is_unreserved() && x.is_scalar() && !x.revocable);
        drop(avail);

        let (guarantees_offering, mut additional) = match stage {
            Stage::One => {
                let unsatisfied = guarantees.minus(&consumed);
                let g = shrink(&quota_resources, &unsatisfied, &mut b.rng);
                if g.is_empty() {
                    continue;
                }
                let mut additional = quota_resources.minus(&g);
                if let Some(l) = &limits {
                    let left = l.minus(&consumed.plus(&g.quantities()));
                    additional = shrink_to_limits(&additional, &left, &mut b.rng);
                }
                (g, additional)
            }
            Stage::Two => {
                let mut additional = quota_resources;
                if let Some(l) = &limits {
                    additional = shrink_to_limits(&additional, &l.minus(&consumed), &mut b.rng);
                }
                (Resources::new(), additional)
            }
        };
        if !cy.required_headroom.is_empty() {
            additional = shrink(&additional, &cy.surplus(), &mut b.rng);
        }
        to_offer.add_assign(&guarantees_offering);
        to_offer.add_assign(&additional);
        let offering = to_offer;

        let (Some(f), Some(a)) = (b.framework(fw), b.agent(agent)) else {
            continue;
        };
        if !b.allocatable(&offering, &f.roles[fr_idx]) || Book::is_filtered(a, fw, role, &offering)
        {
            continue;
        }
        let g = guarantees_offering.quantities();
        let add = additional.quantities();
        cy.consume(b, role, &g);
        cy.consume(b, role, &add);
        cy.required_headroom.sub_assign(&g);
        cy.available_headroom.sub_assign(&g);
        cy.available_headroom.sub_assign(&add);
        emit(
            b,
            cy,
            out,
            agent,
            fw,
            role,
            offering,
            stage,
            Source::FromAvailable,
            None,
        );
    }
    local
}

/// Records an offer, merging stage 2 into a stage-1 offer for the same
/// (framework, role, agent).
#[allow(clippy::too_many_arguments)]
fn emit(
    b: &mut Book,
    cy: &mut Cycle,
    out: &mut Vec<Allocation>,
    agent: AgentId,
    fw: FrameworkId,
    role: RoleIdx,
    offering: Resources,
    stage: Stage,
    source: Source,
    plain: Option<ResourceQuantities>,
) {
    if plain.is_none() && offering.has_shared() {
        cy.offered_shared
            .entry(agent)
            .or_default()
            .add_assign(&offering.shared());
    }
    if stage == Stage::Two && !cy.index.is_empty() {
        if let Some(&i) = cy.index.get(&(fw, role, agent)) {
            b.track_from(agent, fw, role, &offering, source, plain);
            out[i].resources.add_assign(&offering);
            return;
        }
    }
    b.offer_from(out, agent, fw, role, offering, source, plain);
    if stage == Stage::One {
        cy.index.insert((fw, role, agent), out.len() - 1);
    }
}
