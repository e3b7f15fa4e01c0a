//! Weighted random sorter (`src/master/allocator/mesos/sorter/random/`, MESOS-8936): a new weighted permutation at every pass.
//!
//! At each level of the path tree every active node (a client, or an internal node
//! with an active client below it) draws the key `-u^(1/w)`, `u ~ U(0,1)`, where `w`
//! is its weight relative to its active siblings; siblings are ordered by key and the
//! permutation is read in pre-order. As in the DRF sorter, a client `a` that also has
//! descendants competes inside the subtree `a` as a virtual leaf of weight 1.
//! Allocations never influence the order.
//!
//! When every active client is a top-level client with the same weight, the weighted
//! permutation is a uniform one, and a pass draws it lazily (a Fisher–Yates step per
//! position read), so a pass that stops after the first client costs one draw.

use std::collections::BTreeMap;

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{ClientId, Sorter, SorterKind};
use crate::allocator::AgentId;
use crate::resources::{ResourceName, ResourceQuantities, Resources};

#[derive(Debug)]
struct Client {
    path: String,
    depth: usize,
    active: bool,
    weight: f64,
    alloc: ResourceQuantities,
    shared_held: BTreeMap<AgentId, Resources>,
}

/// The weighted random sorter. See the module documentation.
#[derive(Debug)]
pub struct RandomSorter {
    rng: ChaCha8Rng,
    clients: Vec<Option<Client>>,
    by_path: BTreeMap<String, ClientId>,
    weights: BTreeMap<String, f64>,
    total: ResourceQuantities,
    excluded: Vec<ResourceName>,
    perm: Vec<ClientId>,
    lazy: bool,
    drawn: usize,
}

impl RandomSorter {
    /// An empty sorter drawing from ChaCha8 seeded with `seed`.
    pub fn new(seed: [u8; 32]) -> RandomSorter {
        RandomSorter::with_excluded(seed, Vec::new())
    }

    /// Like [`RandomSorter::new`]; `excluded` names are skipped in reported shares.
    pub fn with_excluded(seed: [u8; 32], excluded: Vec<ResourceName>) -> RandomSorter {
        RandomSorter {
            rng: ChaCha8Rng::from_seed(seed),
            clients: Vec::new(),
            by_path: BTreeMap::new(),
            weights: BTreeMap::new(),
            total: ResourceQuantities::new(),
            excluded,
            perm: Vec::new(),
            lazy: false,
            drawn: 0,
        }
    }

    fn get(&self, client: ClientId) -> &Client {
        match self.clients.get(client.0 as usize).and_then(Option::as_ref) {
            Some(c) => c,
            None => panic!("random sorter: unknown client {client:?}"),
        }
    }

    fn get_mut(&mut self, client: ClientId) -> &mut Client {
        match self
            .clients
            .get_mut(client.0 as usize)
            .and_then(Option::as_mut)
        {
            Some(c) => c,
            None => panic!("random sorter: unknown client {client:?}"),
        }
    }

    /// Orders one level: `members` are active clients below `prefix` (depth `depth`),
    /// `virtual_leaf` the client whose path is `prefix` itself, if any.
    fn order_level(
        &mut self,
        depth: usize,
        prefix: &str,
        virtual_leaf: Option<ClientId>,
        members: Vec<ClientId>,
        out: &mut Vec<ClientId>,
    ) {
        // comp -> (client at exactly this path, clients deeper below it)
        let mut groups: BTreeMap<String, (Option<ClientId>, Vec<ClientId>)> = BTreeMap::new();
        for c in members {
            let client = self.get(c);
            let comp = client.path.split('/').nth(depth).unwrap_or("").to_string();
            let g = groups.entry(comp).or_default();
            if client.depth == depth {
                g.0 = Some(c);
            } else {
                g.1.push(c);
            }
        }
        struct Entry {
            key: f64,
            name: String,
            leaf: Option<ClientId>,
            deeper: Vec<ClientId>,
        }
        let mut entries: Vec<(f64, Entry)> = Vec::new();
        if let Some(v) = virtual_leaf {
            entries.push((
                1.0,
                Entry {
                    key: 0.0,
                    name: ".".into(),
                    leaf: Some(v),
                    deeper: Vec::new(),
                },
            ));
        }
        for (comp, (leaf, deeper)) in groups {
            let path = if prefix.is_empty() {
                comp.clone()
            } else {
                format!("{prefix}/{comp}")
            };
            let w = self.weights.get(&path).copied().unwrap_or(1.0);
            entries.push((
                w,
                Entry {
                    key: 0.0,
                    name: comp,
                    leaf,
                    deeper,
                },
            ));
        }
        let sum: f64 = entries.iter().map(|(w, _)| *w).sum();
        for (w, e) in entries.iter_mut() {
            let u: f64 = self.rng.random();
            e.key = -u.powf(sum / *w);
        }
        entries.sort_by(|a, b| {
            a.1.key
                .total_cmp(&b.1.key)
                .then_with(|| a.1.name.cmp(&b.1.name))
        });
        for (_, e) in entries {
            if e.deeper.is_empty() {
                out.extend(e.leaf);
            } else {
                let path = if prefix.is_empty() {
                    e.name.clone()
                } else {
                    format!("{prefix}/{}", e.name)
                };
                self.order_level(depth + 1, &path, e.leaf, e.deeper, out);
            }
        }
    }

    fn quantities_delta(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        add: bool,
    ) -> ResourceQuantities {
        if !resources.has_shared() {
            return resources.quantities();
        }
        let mut q = resources.non_shared().quantities();
        let held = self.get_mut(client).shared_held.entry(agent).or_default();
        for r in resources.shared().iter() {
            let one = Resources::from_vec(vec![r.clone()]);
            if add {
                if !held.contains(&one) {
                    q.add_milli(&r.name, r.scalar_milli());
                }
                held.add_resource(r.clone());
            } else {
                held.sub_resource(r);
                if !held.contains(&one) {
                    q.add_milli(&r.name, r.scalar_milli());
                }
            }
        }
        q
    }
}

impl Sorter for RandomSorter {
    fn kind(&self) -> SorterKind {
        SorterKind::Random
    }

    fn add(&mut self, path: &str) -> ClientId {
        assert!(
            !self.by_path.contains_key(path),
            "random sorter: client {path} added twice"
        );
        let id = ClientId(self.clients.len() as u32);
        self.clients.push(Some(Client {
            path: path.to_string(),
            depth: path.split('/').count() - 1,
            active: false,
            weight: self.weights.get(path).copied().unwrap_or(1.0),
            alloc: ResourceQuantities::new(),
            shared_held: BTreeMap::new(),
        }));
        self.by_path.insert(path.to_string(), id);
        id
    }

    fn remove(&mut self, client: ClientId) {
        let c = self.clients[client.0 as usize].take();
        if let Some(c) = c {
            self.by_path.remove(&c.path);
        }
    }

    fn client(&self, path: &str) -> Option<ClientId> {
        self.by_path.get(path).copied()
    }

    fn path(&self, client: ClientId) -> &str {
        &self.get(client).path
    }

    fn count(&self) -> usize {
        self.by_path.len()
    }

    fn activate(&mut self, client: ClientId) {
        self.get_mut(client).active = true;
    }

    fn deactivate(&mut self, client: ClientId) {
        self.get_mut(client).active = false;
    }

    fn is_active(&self, client: ClientId) -> bool {
        self.get(client).active
    }

    fn update_weight(&mut self, path: &str, weight: f64) {
        assert!(
            weight > 0.0,
            "random sorter: weight of {path} must be positive, got {weight}"
        );
        self.weights.insert(path.to_string(), weight);
        if let Some(&c) = self.by_path.get(path) {
            self.get_mut(c).weight = weight;
        }
    }

    fn allocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources) {
        let q = self.quantities_delta(client, agent, resources, true);
        self.get_mut(client).alloc.add_assign(&q);
    }

    fn unallocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources) {
        let q = self.quantities_delta(client, agent, resources, false);
        self.get_mut(client).alloc.sub_assign(&q);
    }

    fn add_total(&mut self, quantities: &ResourceQuantities) {
        self.total.add_assign(quantities);
    }

    fn remove_total(&mut self, quantities: &ResourceQuantities) {
        self.total.sub_assign(quantities);
    }

    fn total(&self) -> &ResourceQuantities {
        &self.total
    }

    fn allocation(&self, client: ClientId) -> &ResourceQuantities {
        &self.get(client).alloc
    }

    fn share(&self, client: ClientId) -> f64 {
        self.get(client)
            .alloc
            .dominant_share(&self.total, &self.excluded)
    }

    fn begin_pass(&mut self) {
        self.perm.clear();
        let mut flat = true;
        let mut weight: Option<f64> = None;
        let mut uniform = true;
        for (i, c) in self.clients.iter().enumerate() {
            let Some(c) = c else { continue };
            if !c.active {
                continue;
            }
            self.perm.push(ClientId(i as u32));
            flat &= c.depth == 0;
            match weight {
                None => weight = Some(c.weight),
                Some(w) => uniform &= w == c.weight,
            }
        }
        self.drawn = 0;
        self.lazy = flat && uniform;
        if !self.lazy {
            let members = std::mem::take(&mut self.perm);
            let mut out = Vec::with_capacity(members.len());
            self.order_level(0, "", None, members, &mut out);
            self.perm = out;
        }
    }

    fn pass_client(&mut self, index: usize) -> Option<ClientId> {
        if index >= self.perm.len() {
            return None;
        }
        if self.lazy {
            while self.drawn <= index {
                let j = self.rng.random_range(self.drawn..self.perm.len());
                self.perm.swap(self.drawn, j);
                self.drawn += 1;
            }
        }
        Some(self.perm[index])
    }
}
