//! Sorters: the order in which the allocator visits roles, and frameworks within a role (§2.3).
//!
//! A sorter holds *clients* named by paths (`eng/backend` is the child `backend` of the
//! internal node `eng`). Clients are added inactive and are returned by [`Sorter::sort`]
//! only while active. Two implementations, chosen by [`SorterKind`]:
//!
//! * [`drf::DrfSorter`]: hierarchical weighted DRF with Mesos's tie-breaks, kept sorted
//!   incrementally (an allocation re-positions the touched nodes only);
//! * [`random::RandomSorter`]: a weighted random permutation (MESOS-8936), drawn anew
//!   at every pass from a seeded generator.
//!
//! # Passes
//!
//! The allocator calls `sort()` once per agent (roles) and once per (agent, role)
//! (frameworks). To avoid materializing thousands of clients per agent, the trait
//! exposes the same order as a *pass*: [`Sorter::begin_pass`] is one `sort()` call and
//! [`Sorter::pass_client`] reads its `index`-th client. Allocations made while a pass
//! is open may move the allocated client *later* in a DRF pass (never earlier, never
//! any other client), so a caller that walks a pass must skip the clients it already
//! visited and re-read the same index after an allocation; [`PassWalker`] does that.
//! Walked that way, a pass yields exactly the snapshot `sort()` would have returned.

use std::fmt;

use crate::allocator::AgentId;
use crate::resources::{ResourceQuantities, Resources};

pub mod drf;
pub mod random;

/// A client handle, dense and never reused within one sorter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ClientId(pub u32);

/// Which sorter implementation to build.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SorterKind {
    /// Hierarchical weighted DRF (the Mesos default).
    #[default]
    Drf,
    /// Weighted random permutation.
    Random,
}

impl SorterKind {
    /// Resolves `drf` or `random`.
    pub fn from_name(name: &str) -> Option<SorterKind> {
        match name {
            "drf" => Some(SorterKind::Drf),
            "random" => Some(SorterKind::Random),
            _ => None,
        }
    }

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            SorterKind::Drf => "drf",
            SorterKind::Random => "random",
        }
    }
}

impl fmt::Display for SorterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Builds a sorter of `kind`. `excluded` lists the resource names that never count
/// toward shares (`--fair_sharing_excluded_resource_names`); `seed` feeds the random
/// sorter (ignored by DRF).
pub fn new_sorter(
    kind: SorterKind,
    excluded: &[crate::resources::ResourceName],
    seed: [u8; 32],
) -> Box<dyn Sorter> {
    match kind {
        SorterKind::Drf => Box::new(drf::DrfSorter::new(excluded.to_vec())),
        SorterKind::Random => {
            Box::new(random::RandomSorter::with_excluded(seed, excluded.to_vec()))
        }
    }
}

/// An ordering of clients (roles or frameworks). See the module documentation.
pub trait Sorter {
    /// `drf` or `random`.
    fn kind(&self) -> SorterKind;

    /// Adds an inactive client at `path` and returns its handle.
    ///
    /// Panics when a client with that path exists (a broken invariant of the caller).
    fn add(&mut self, path: &str) -> ClientId;

    /// Removes a client. Its allocation leaves the totals of its ancestors; lifetime
    /// allocation counts of the ancestors stay as they are.
    fn remove(&mut self, client: ClientId);

    /// The handle of the client at `path`, if any.
    fn client(&self, path: &str) -> Option<ClientId>;

    /// The path of a client.
    fn path(&self, client: ClientId) -> &str;

    /// Number of clients, active or not.
    fn count(&self) -> usize;

    /// Makes a client eligible for `sort()`.
    fn activate(&mut self, client: ClientId);

    /// Keeps a client (and its allocation) but leaves it out of `sort()`.
    fn deactivate(&mut self, client: ClientId);

    /// True when the client is active.
    fn is_active(&self, client: ClientId) -> bool;

    /// Sets the weight of the node whose path is `path` (a client or an internal node;
    /// it applies also to nodes created later). Must be positive.
    fn update_weight(&mut self, path: &str, weight: f64);

    /// Records that `resources` on `agent` were allocated (offered) to `client`: its
    /// scalar quantities join the client's and every ancestor's allocation (a shared
    /// resource already held by the client on that agent counts once) and the
    /// lifetime allocation count of the client and every ancestor grows by one.
    fn allocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources);

    /// Records that `resources` on `agent` came back from `client`.
    fn unallocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources);

    /// [`Sorter::allocated`] when the caller already has `resources.quantities()`
    /// (it saves recomputing them in the allocation loop).
    fn allocated_with(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        let _ = quantities;
        self.allocated(client, agent, resources);
    }

    /// [`Sorter::allocated_with`] when the caller knows that `resources` has no
    /// shared entry (it saves looking for one in the allocation loop).
    fn allocated_unshared(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        self.allocated_with(client, agent, resources, quantities);
    }

    /// [`Sorter::unallocated`] when the caller already has `resources.quantities()`.
    fn unallocated_with(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        let _ = quantities;
        self.unallocated(client, agent, resources);
    }

    /// Adds an agent's scalar quantities to the cluster total.
    fn add_total(&mut self, quantities: &ResourceQuantities);

    /// Removes an agent's scalar quantities from the cluster total.
    fn remove_total(&mut self, quantities: &ResourceQuantities);

    /// The cluster total the shares are computed against.
    fn total(&self) -> &ResourceQuantities;

    /// The scalar quantities allocated to a client.
    fn allocation(&self, client: ClientId) -> &ResourceQuantities;

    /// The client's current share (DRF: weighted dominant share; random: the
    /// unweighted dominant share, for reports only).
    fn share(&self, client: ClientId) -> f64;

    /// Starts a pass: one Mesos `sort()` call (a DRF sorter re-sorts here if the totals
    /// changed; a random sorter draws a new permutation).
    fn begin_pass(&mut self);

    /// The `index`-th active client of the current pass, `None` past the end. See the
    /// module documentation for what allocations during a pass do to the order.
    fn pass_client(&mut self, index: usize) -> Option<ClientId>;

    /// The active clients in order (a pass, collected).
    fn sort(&mut self) -> Vec<ClientId> {
        self.begin_pass();
        let mut out = Vec::new();
        while let Some(c) = self.pass_client(out.len()) {
            out.push(c);
        }
        out
    }

    /// `sort()` as paths (for tests and reports).
    fn sort_paths(&mut self) -> Vec<String> {
        self.sort()
            .into_iter()
            .map(|c| self.path(c).to_string())
            .collect()
    }
}

/// Walks one pass of a sorter in snapshot order while allocations happen (see the
/// module documentation). `visited` is scratch space indexed by client id.
#[derive(Debug)]
pub struct PassWalker {
    index: usize,
    epoch: u64,
}

impl PassWalker {
    /// Starts walking a pass whose `begin_pass` was just called. `epoch` must differ
    /// from every epoch previously stored in `visited` for this sorter.
    pub fn new(epoch: u64) -> PassWalker {
        PassWalker { index: 0, epoch }
    }

    /// The next client not visited in this pass, marking it visited.
    pub fn next(&mut self, sorter: &mut dyn Sorter, visited: &mut Vec<u64>) -> Option<ClientId> {
        loop {
            let c = sorter.pass_client(self.index)?;
            let i = c.0 as usize;
            if visited.len() <= i {
                visited.resize(i + 1, 0);
            }
            if visited[i] == self.epoch {
                self.index += 1;
                continue;
            }
            visited[i] = self.epoch;
            return Some(c);
        }
    }
}

#[cfg(test)]
mod tests;
