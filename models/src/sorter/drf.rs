//! Hierarchical weighted DRF sorter (`src/master/allocator/mesos/sorter/drf/sorter.cpp`), kept sorted incrementally.
//!
//! The clients form a tree keyed by path. When both `a` and `a/b` are clients, `a` is
//! represented by a *virtual leaf* `a/.` under the internal node `a`; the virtual leaf
//! has its own weight of 1, and the weight of `a` applies to the internal node.
//!
//! Every internal node keeps its children sorted by
//! `(inactive leaf, share / weight, lifetime allocation count, path bytes)`, where the
//! share is `max over names of allocation / total` (names excluded from fair sharing
//! and names with a zero total skipped). An allocation updates the allocated leaf and
//! its ancestors and moves each of them to its new place with a binary search and a
//! rotation, so a cycle never re-sorts. Only a change of the cluster total marks the
//! tree dirty; the next pass then recomputes every key and sorts each child list once,
//! as Mesos does.
//!
//! The keys are stored inline in each child list (share, count and a numeric rank of
//! the path among the siblings), so a binary search never dereferences a node.
//!
//! Architecture invariant: each child list is sorted by the keys stored in it, and a
//! node's `key` equals its entry there; a key changes only while its node is being
//! re-positioned (or during the full re-sort), so binary searches stay valid. An only
//! child's key is not refreshed on allocations (nothing is ordered by it); it is
//! brought up to date when a sibling is inserted.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use super::{ClientId, Sorter, SorterKind};
use crate::allocator::AgentId;
use crate::resources::{ResourceName, ResourceQuantities, Resources};

const ROOT: usize = 0;
const VIRTUAL: &str = ".";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Internal,
    Leaf { active: bool },
}

/// A child's sort key, stored inline in its parent's child list so that binary
/// searches never touch the nodes: `(inactive leaf, share / weight, lifetime count,
/// rank of the path among the siblings)`. The rank orders siblings exactly as their
/// paths compare byte-wise, so ties fall back to the path as in Mesos.
///
/// The first three fields are packed into one `u128`: the high 64 bits are the
/// share's IEEE bits (order-preserving for non-negative finite shares), or
/// `u64::MAX` for an inactive leaf; the low 64 bits are the count.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Child {
    key: u128,
    rank: u32,
    node: u32,
}

impl Child {
    fn new(inactive: bool, share: f64, count: u64, rank: u32, node: u32) -> Child {
        let high = if inactive {
            u64::MAX
        } else {
            // Shares are finite and >= 0 (weights are positive), so the bit pattern
            // orders like the value; -0.0 is normalized.
            (share + 0.0).max(0.0).to_bits()
        };
        Child {
            key: ((high as u128) << 64) | count as u128,
            rank,
            node,
        }
    }
}

fn cmp_child(x: &Child, y: &Child) -> Ordering {
    (x.key, x.rank).cmp(&(y.key, y.rank))
}

/// Number of children ordered before `key` (a binary search over the deque's two
/// slices; `VecDeque::partition_point` is markedly slower in the allocation loop).
fn partition_before(d: &VecDeque<Child>, key: &Child) -> usize {
    let below = |c: &Child| (c.key, c.rank) < (key.key, key.rank);
    let (a, b) = d.as_slices();
    match a.last() {
        Some(last) if !below(last) => a.partition_point(below),
        _ => a.len() + b.partition_point(below),
    }
}

/// Number of children ordered before `key`, given that every child below index `lo`
/// is ordered before it. Gallops from the back: an allocated client usually moves to
/// (or near) the end of its siblings, so this takes a comparison or two instead of a
/// full binary search. Same result as [`partition_before`].
fn partition_before_from_back(d: &VecDeque<Child>, key: &Child, lo: usize) -> usize {
    let below = |c: &Child| (c.key, c.rank) < (key.key, key.rank);
    let (mut lo, mut hi) = (lo, d.len());
    let mut step = 1;
    // Invariant: children below `lo` are before `key`; children at `hi` and above are not.
    while hi > lo {
        let probe = hi.saturating_sub(step).max(lo);
        if below(&d[probe]) {
            lo = probe + 1;
            break;
        }
        hi = probe;
        step *= 2;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(&d[mid]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A sorter node. The fields an allocation reads and writes (the order's walk,
/// `charge`, `reposition`) come first and fill the first two cache lines
/// (`repr(C)` keeps the order): a cycle over a large cluster gives each framework
/// an offer now and then, and finds its node out of cache each time.
#[derive(Debug)]
#[repr(C, align(64))]
struct Node {
    /// The key this node is sorted by in its parent's child list.
    key: Child,
    /// Scalar quantities allocated to the subtree.
    alloc: ResourceQuantities,
    /// Lifetime number of `allocated()` calls in the subtree (never decremented).
    count: u64,
    weight: f64,
    /// Index of the parent node (`u32` so the hot fields fit two lines).
    parent: u32,
    client: Option<ClientId>,
    kind: Kind,
    /// Last path component (`.` for a virtual leaf).
    name: String,
    /// Full path (`a/.` for the virtual leaf of `a`); the tie-break key.
    path: String,
    /// Children sorted by key. A deque, because the typical move (the head of the
    /// order receives an allocation and goes to the back) is then O(1).
    children: VecDeque<Child>,
    /// Children sorted by path (their ranks, `key.rank`, are their positions here).
    by_path: Vec<usize>,
    /// Shared resources held per agent (leaves only), so a copy counts once.
    shared_held: BTreeMap<AgentId, Resources>,
    /// False once the slot is on the free list.
    live: bool,
}

// The hot fields fit the first two lines.
const _: () = assert!(std::mem::offset_of!(Node, kind) < 128);

impl Node {
    fn new(name: &str, path: String, kind: Kind, parent: usize, weight: f64) -> Node {
        Node {
            name: name.to_string(),
            path,
            kind,
            client: None,
            parent: parent as u32,
            children: VecDeque::new(),
            by_path: Vec::new(),
            weight,
            alloc: ResourceQuantities::new(),
            count: 0,
            key: Child::new(matches!(kind, Kind::Leaf { active: false }), 0.0, 0, 0, 0),
            shared_held: BTreeMap::new(),
            live: true,
        }
    }
}

/// The hierarchical DRF sorter. See the module documentation.
#[derive(Debug)]
pub struct DrfSorter {
    nodes: Vec<Node>,
    free: Vec<usize>,
    clients: Vec<Option<usize>>,
    client_paths: Vec<String>,
    by_path: BTreeMap<String, ClientId>,
    weights: BTreeMap<String, f64>,
    total: ResourceQuantities,
    excluded: Vec<ResourceName>,
    dirty: bool,
    internal_nodes: usize,
    snapshot: Vec<ClientId>,
    snapshot_mode: bool,
    /// (index, node) of the client `pass_client` returned last in flat mode: the
    /// allocation that usually follows finds the node there without a search.
    last_pass: Option<(usize, usize)>,
}

impl DrfSorter {
    /// An empty sorter; `excluded` names never count toward shares.
    pub fn new(excluded: Vec<ResourceName>) -> DrfSorter {
        DrfSorter {
            nodes: vec![Node::new("", String::new(), Kind::Internal, ROOT, 1.0)],
            free: Vec::new(),
            clients: Vec::new(),
            client_paths: Vec::new(),
            by_path: BTreeMap::new(),
            weights: BTreeMap::new(),
            total: ResourceQuantities::new(),
            excluded,
            dirty: false,
            internal_nodes: 0,
            snapshot: Vec::new(),
            snapshot_mode: false,
            last_pass: None,
        }
    }

    fn alloc_node(&mut self, node: Node) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    fn node_of(&self, client: ClientId) -> usize {
        match self.clients.get(client.0 as usize).copied().flatten() {
            Some(n) => n,
            None => panic!("drf sorter: unknown client {client:?}"),
        }
    }

    fn compute_share(&self, n: usize) -> f64 {
        let node = &self.nodes[n];
        node.alloc.dominant_share(&self.total, &self.excluded) / node.weight
    }

    fn fresh_key(&self, n: usize) -> Child {
        let node = &self.nodes[n];
        Child::new(
            matches!(node.kind, Kind::Leaf { active: false }),
            self.compute_share(n),
            node.count,
            node.key.rank,
            n as u32,
        )
    }

    fn refresh_key(&mut self, n: usize) {
        self.nodes[n].key = self.fresh_key(n);
    }

    /// Inserts new node `n` under its parent: gives it a path rank (renumbering the
    /// siblings, which keeps their relative order) and a place in the child list.
    fn insert_child(&mut self, n: usize) {
        let p = self.nodes[n].parent as usize;
        let mut by_path = std::mem::take(&mut self.nodes[p].by_path);
        let pos = by_path.partition_point(|&c| self.nodes[c].path < self.nodes[n].path);
        by_path.insert(pos, n);
        for (i, &c) in by_path.iter().enumerate() {
            self.nodes[c].key.rank = i as u32;
        }
        self.nodes[p].by_path = by_path;
        let mut children = std::mem::take(&mut self.nodes[p].children);
        for c in children.iter_mut() {
            c.rank = self.nodes[c.node as usize].key.rank;
        }
        if children.len() == 1 {
            // A former only child's key may be stale (see `reposition`).
            let c = children[0].node as usize;
            let key = self.fresh_key(c);
            self.nodes[c].key = key;
            children[0] = key;
        }
        self.refresh_key(n);
        let key = self.nodes[n].key;
        let at = children.partition_point(|c| cmp_child(c, &key) == Ordering::Less);
        children.insert(at, key);
        self.nodes[p].children = children;
    }

    fn position(&self, n: usize) -> usize {
        let p = self.nodes[n].parent as usize;
        let key = &self.nodes[n].key;
        let children = &self.nodes[p].children;
        if let Some((i, m)) = self.last_pass {
            if m == n && children.get(i).is_some_and(|c| c == key) {
                return i;
            }
        }
        let pos = partition_before(children, key);
        match children.get(pos) {
            Some(c) if c.node == key.node => pos,
            _ => panic!(
                "drf sorter: node {} not found among its siblings",
                self.nodes[n].path
            ),
        }
    }

    /// Removes `n` (found by its stored key) from its parent's lists.
    fn detach_child(&mut self, n: usize) {
        let pos = self.position(n);
        let p = self.nodes[n].parent as usize;
        self.nodes[p].children.remove(pos);
        self.nodes[p].by_path.retain(|&c| c != n);
    }

    /// Recomputes `n`'s key and moves it to its place among its siblings.
    fn reposition(&mut self, n: usize) {
        let p = self.nodes[n].parent as usize;
        if self.nodes[p].children.len() == 1 {
            // An only child (a single role, say) is ordered against nobody: its key
            // (and its equal entry) is brought up to date when a sibling arrives
            // (`insert_child`), not on every allocation.
            return;
        }
        let pos = self.position(n);
        let old = self.nodes[n].key;
        let key = self.fresh_key(n);
        self.nodes[n].key = key;
        let p = self.nodes[n].parent as usize;
        let children = &mut self.nodes[p].children;
        let less = |c: &Child| cmp_child(c, &key) == Ordering::Less;
        // The usual move: the head of the order receives an allocation and passes
        // every sibling (the last one is the largest).
        if pos == 0 && children.back().is_some_and(less) {
            children.pop_front();
            children.push_back(key);
            return;
        }
        let stays = (pos + 1 >= children.len() || !less(&children[pos + 1]))
            && (pos == 0 || less(&children[pos - 1]));
        if stays {
            children[pos] = key;
        } else {
            if pos == 0 {
                children.pop_front();
            } else {
                children.remove(pos);
            }
            let at = if cmp_child(&old, &key) == Ordering::Less {
                // Moving later (an allocation): everything before `pos` stays before.
                partition_before_from_back(children, &key, pos)
            } else {
                partition_before(children, &key)
            };
            // The usual move (the head of the order to the back) costs O(1) here.
            if at == children.len() {
                children.push_back(key);
            } else {
                children.insert(at, key);
            }
        }
    }

    /// Re-positions `n` and every ancestor below the root.
    fn reposition_up(&mut self, mut n: usize) {
        while n != ROOT {
            self.reposition(n);
            n = self.nodes[n].parent as usize;
        }
    }

    fn find_child(&self, parent: usize, name: &str) -> Option<usize> {
        self.nodes[parent]
            .by_path
            .iter()
            .copied()
            .find(|&c| self.nodes[c].name == name)
    }

    fn find_path(&self, path: &str) -> Option<usize> {
        let mut cur = ROOT;
        for comp in path.split('/') {
            cur = self.find_child(cur, comp)?;
        }
        Some(cur)
    }

    /// Turns leaf `c` into an internal node whose client moves to a new virtual leaf.
    fn convert_to_internal(&mut self, c: usize) {
        let path = format!("{}/{}", self.nodes[c].path, VIRTUAL);
        let mut v = Node::new(VIRTUAL, path, self.nodes[c].kind, c, 1.0);
        v.client = self.nodes[c].client.take();
        v.alloc = self.nodes[c].alloc.clone();
        v.count = self.nodes[c].count;
        v.shared_held = std::mem::take(&mut self.nodes[c].shared_held);
        let v = self.alloc_node(v);
        if let Some(client) = self.nodes[v].client {
            self.clients[client.0 as usize] = Some(v);
        }
        self.nodes[c].kind = Kind::Internal;
        self.internal_nodes += 1;
        self.insert_child(v);
        self.reposition(c);
    }

    fn resort_all(&mut self) {
        for n in 0..self.nodes.len() {
            if n != ROOT && self.is_live(n) {
                self.refresh_key(n);
            }
        }
        for n in 0..self.nodes.len() {
            if self.is_live(n) && self.nodes[n].kind == Kind::Internal {
                let mut children: Vec<Child> = std::mem::take(&mut self.nodes[n].children).into();
                for c in children.iter_mut() {
                    *c = self.nodes[c.node as usize].key;
                }
                children.sort_by(cmp_child);
                self.nodes[n].children = children.into();
            }
        }
        self.dirty = false;
    }

    fn is_live(&self, n: usize) -> bool {
        self.nodes[n].live
    }

    fn free_node(&mut self, n: usize) {
        self.nodes[n].live = false;
        self.nodes[n].children = VecDeque::new();
        self.nodes[n].by_path = Vec::new();
        self.nodes[n].alloc = ResourceQuantities::new();
        self.free.push(n);
    }

    fn preorder(&self, n: usize, out: &mut Vec<ClientId>) {
        for child in &self.nodes[n].children {
            let c = child.node as usize;
            match self.nodes[c].kind {
                Kind::Leaf { active: true } => out.extend(self.nodes[c].client),
                Kind::Leaf { active: false } => break,
                Kind::Internal => self.preorder(c, out),
            }
        }
    }

    /// Adds `q` to leaf `n` and its ancestors, counts one allocation on each, and
    /// re-positions them.
    fn charge(&mut self, n: usize, q: &ResourceQuantities) {
        let mut a = n;
        while a != ROOT {
            let node = &mut self.nodes[a];
            node.alloc.add_assign(q);
            node.count += 1;
            a = node.parent as usize;
        }
        self.nodes[ROOT].count += 1;
        self.reposition_up(n);
    }

    /// Removes `q` from leaf `n` and its ancestors and re-positions them.
    fn discharge(&mut self, n: usize, q: &ResourceQuantities) {
        let mut a = n;
        while a != ROOT {
            self.nodes[a].alloc.sub_assign(q);
            a = self.nodes[a].parent as usize;
        }
        self.reposition_up(n);
    }

    fn quantities_delta(
        &mut self,
        n: usize,
        agent: AgentId,
        resources: &Resources,
        add: bool,
    ) -> ResourceQuantities {
        if !resources.has_shared() {
            return resources.quantities();
        }
        let mut q = resources.non_shared().quantities();
        let shared = resources.shared();
        let held = self.nodes[n].shared_held.entry(agent).or_default();
        if add {
            for r in shared.iter() {
                if !held.contains(&Resources::from_vec(vec![r.clone()])) {
                    q.add_milli(&r.name, r.scalar_milli());
                }
                held.add_resource(r.clone());
            }
        } else {
            for r in shared.iter() {
                held.sub_resource(r);
                if !held.contains(&Resources::from_vec(vec![r.clone()])) {
                    q.add_milli(&r.name, r.scalar_milli());
                }
            }
            if held.is_empty() {
                self.nodes[n].shared_held.remove(&agent);
            }
        }
        q
    }
}

impl Sorter for DrfSorter {
    fn kind(&self) -> SorterKind {
        SorterKind::Drf
    }

    fn add(&mut self, path: &str) -> ClientId {
        assert!(
            !self.by_path.contains_key(path),
            "drf sorter: client {path} added twice"
        );
        let id = ClientId(self.clients.len() as u32);
        let comps: Vec<&str> = path.split('/').collect();
        let mut cur = ROOT;
        let mut leaf = ROOT;
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            match self.find_child(cur, comp) {
                Some(c) if last => {
                    // An internal node with this path exists: the client becomes its
                    // virtual leaf.
                    let vpath = format!("{}/{}", self.nodes[c].path, VIRTUAL);
                    let v = self.alloc_node(Node::new(
                        VIRTUAL,
                        vpath,
                        Kind::Leaf { active: false },
                        c,
                        1.0,
                    ));
                    self.refresh_key(v);
                    self.insert_child(v);
                    leaf = v;
                }
                Some(c) => {
                    if self.nodes[c].kind != Kind::Internal {
                        self.convert_to_internal(c);
                    }
                    cur = c;
                }
                None => {
                    let npath = if cur == ROOT {
                        comp.to_string()
                    } else {
                        format!("{}/{}", self.nodes[cur].path, comp)
                    };
                    let weight = self.weights.get(&npath).copied().unwrap_or(1.0);
                    let kind = if last {
                        Kind::Leaf { active: false }
                    } else {
                        Kind::Internal
                    };
                    let n = self.alloc_node(Node::new(comp, npath, kind, cur, weight));
                    if !last {
                        self.internal_nodes += 1;
                    }
                    self.refresh_key(n);
                    self.insert_child(n);
                    if last {
                        leaf = n;
                    } else {
                        cur = n;
                    }
                }
            }
        }
        self.nodes[leaf].client = Some(id);
        self.clients.push(Some(leaf));
        self.client_paths.push(path.to_string());
        self.by_path.insert(path.to_string(), id);
        id
    }

    fn remove(&mut self, client: ClientId) {
        let n = self.node_of(client);
        self.clients[client.0 as usize] = None;
        self.by_path.remove(&self.client_paths[client.0 as usize]);
        let q = self.nodes[n].alloc.clone();
        let p = self.nodes[n].parent as usize;
        self.detach_child(n);
        self.free_node(n);
        let mut a = p;
        while a != ROOT {
            self.nodes[a].alloc.sub_assign(&q);
            a = self.nodes[a].parent as usize;
        }
        self.reposition_up(p);
        // Drop internal nodes left without children; collapse an internal node whose
        // only child is its virtual leaf back into a leaf.
        let mut cur = p;
        while cur != ROOT {
            let children = &self.nodes[cur].children;
            if children.is_empty() {
                let pp = self.nodes[cur].parent as usize;
                self.detach_child(cur);
                self.free_node(cur);
                self.internal_nodes -= 1;
                cur = pp;
                continue;
            }
            if children.len() == 1 && self.nodes[children[0].node as usize].name == VIRTUAL {
                let v = children[0].node as usize;
                let kind = self.nodes[v].kind;
                let vclient = self.nodes[v].client;
                let alloc = std::mem::take(&mut self.nodes[v].alloc);
                let count = self.nodes[v].count;
                let held = std::mem::take(&mut self.nodes[v].shared_held);
                self.free_node(v);
                let node = &mut self.nodes[cur];
                node.kind = kind;
                node.client = vclient;
                node.alloc = alloc;
                node.count = count;
                node.shared_held = held;
                node.children.clear();
                node.by_path.clear();
                if let Some(c) = vclient {
                    self.clients[c.0 as usize] = Some(cur);
                }
                self.internal_nodes -= 1;
                self.reposition(cur);
            }
            break;
        }
    }

    fn client(&self, path: &str) -> Option<ClientId> {
        self.by_path.get(path).copied()
    }

    fn path(&self, client: ClientId) -> &str {
        &self.client_paths[client.0 as usize]
    }

    fn count(&self) -> usize {
        self.by_path.len()
    }

    fn activate(&mut self, client: ClientId) {
        let n = self.node_of(client);
        if self.nodes[n].kind != (Kind::Leaf { active: true }) {
            self.nodes[n].kind = Kind::Leaf { active: true };
            self.reposition(n);
        }
    }

    fn deactivate(&mut self, client: ClientId) {
        let n = self.node_of(client);
        if self.nodes[n].kind != (Kind::Leaf { active: false }) {
            self.nodes[n].kind = Kind::Leaf { active: false };
            self.reposition(n);
        }
    }

    fn is_active(&self, client: ClientId) -> bool {
        self.nodes[self.node_of(client)].kind == Kind::Leaf { active: true }
    }

    fn update_weight(&mut self, path: &str, weight: f64) {
        assert!(
            weight > 0.0,
            "drf sorter: weight of {path} must be positive, got {weight}"
        );
        self.weights.insert(path.to_string(), weight);
        if let Some(n) = self.find_path(path) {
            self.nodes[n].weight = weight;
            self.reposition(n);
        }
    }

    fn allocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources) {
        let n = self.node_of(client);
        let q = self.quantities_delta(n, agent, resources, true);
        self.charge(n, &q);
    }

    fn unallocated(&mut self, client: ClientId, agent: AgentId, resources: &Resources) {
        let n = self.node_of(client);
        let q = self.quantities_delta(n, agent, resources, false);
        self.discharge(n, &q);
    }

    fn allocated_with(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        if resources.has_shared() {
            self.allocated(client, agent, resources);
        } else {
            let n = self.node_of(client);
            self.charge(n, quantities);
        }
    }

    fn allocated_unshared(
        &mut self,
        client: ClientId,
        _agent: AgentId,
        _resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        let n = self.node_of(client);
        self.charge(n, quantities);
    }

    fn unallocated_with(
        &mut self,
        client: ClientId,
        agent: AgentId,
        resources: &Resources,
        quantities: &ResourceQuantities,
    ) {
        if resources.has_shared() {
            self.unallocated(client, agent, resources);
        } else {
            let n = self.node_of(client);
            self.discharge(n, quantities);
        }
    }

    fn add_total(&mut self, quantities: &ResourceQuantities) {
        if !quantities.is_empty() {
            self.total.add_assign(quantities);
            self.dirty = true;
        }
    }

    fn remove_total(&mut self, quantities: &ResourceQuantities) {
        if !quantities.is_empty() {
            self.total.sub_assign(quantities);
            self.dirty = true;
        }
    }

    fn total(&self) -> &ResourceQuantities {
        &self.total
    }

    fn allocation(&self, client: ClientId) -> &ResourceQuantities {
        &self.nodes[self.node_of(client)].alloc
    }

    fn share(&self, client: ClientId) -> f64 {
        self.compute_share(self.node_of(client))
    }

    fn begin_pass(&mut self) {
        if self.dirty {
            self.resort_all();
        }
        if self.internal_nodes == 0 {
            self.snapshot_mode = false;
        } else {
            let mut snap = std::mem::take(&mut self.snapshot);
            snap.clear();
            self.preorder(ROOT, &mut snap);
            self.snapshot = snap;
            self.snapshot_mode = true;
        }
    }

    fn pass_client(&mut self, index: usize) -> Option<ClientId> {
        if self.snapshot_mode {
            return self.snapshot.get(index).copied();
        }
        let n = self.nodes[ROOT].children.get(index)?.node as usize;
        self.last_pass = Some((index, n));
        match self.nodes[n].kind {
            Kind::Leaf { active: true } => self.nodes[n].client,
            _ => None,
        }
    }
}
