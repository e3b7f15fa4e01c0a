//! Offer filters: the quantity pre-check (`book::Shape`, which decides containment alone for exact sets), filters stored without their resources, the agent's filter mask (`AgentState::filter_mask`), hidden filters (`AgentState::shadowed`) and detached ones (`AgentState::detached`) never change an answer: containment implies the quantity comparison, and `Book::is_filtered` agrees with a plain scan of `contains` over every live filter under random installs, expiries in deadline order and clears.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sim_core::time::SimTime;

use super::book::{filter_bits, filter_contains, shape, AgentFilter, AgentState, Book};
use super::{AgentInfo, FilterId, FrameworkId};
use crate::resources::Resources;

/// Entries of every kind the quantities see: plain and reserved scalars, revocable
/// ones, ranges, sets, a custom scalar, MOUNT disks and shared persistent volumes.
const TERMS: [&str; 14] = [
    "cpus:{a}",
    "cpus(eng):{b}",
    "cpus{REV}:{c}",
    "mem:{a}",
    "mem(dyn:eng@alice):{b}",
    "disk:{a}",
    "disk(eng)[MOUNT:/mnt/d1]:{b}",
    "disk(eng)[id=v1,path=data,mode=RW]<SHARED>:64",
    "disk(eng)[id=v2,path=data,mode=RW]:32",
    "gpus:{c}",
    "ports:[{p}-{q}]",
    "ports(eng):[{q}-{r}]",
    "zones:{x,y}",
    "licenses:{c}",
];

fn random_resources(rng: &mut ChaCha8Rng) -> Resources {
    let mut text = Vec::new();
    for term in TERMS {
        if rng.random_bool(0.4) {
            let p = rng.random_range(31_000..31_050);
            let t = term
                .replace("{a}", &rng.random_range(1..5).to_string())
                .replace("{b}", &rng.random_range(1..3).to_string())
                .replace("{c}", &rng.random_range(1..2).to_string())
                .replace("{p}", &p.to_string())
                .replace("{q}", &(p + rng.random_range(0..20)).to_string())
                .replace("{r}", &(p + 20 + rng.random_range(0..20)).to_string());
            text.push(t);
        }
    }
    if text.is_empty() {
        return Resources::new();
    }
    Resources::parse(&text.join(";")).expect("valid generated resources")
}

/// Plain scalars of cpus, mem, disk and gpus only: an exact set.
fn random_exact(rng: &mut ChaCha8Rng) -> Resources {
    let mut text = Vec::new();
    for name in ["cpus", "mem", "disk", "gpus"] {
        if rng.random_bool(0.6) {
            text.push(format!("{name}:{}", rng.random_range(1..5)));
        }
    }
    if text.is_empty() {
        return Resources::new();
    }
    Resources::parse(&text.join(";")).expect("valid generated resources")
}

/// Any kind of set: exact, mixed, or a part of another.
fn random_any(rng: &mut ChaCha8Rng, base: &Resources) -> Resources {
    match rng.random_range(0..4) {
        0 => random_exact(rng),
        1 => random_resources(rng),
        2 => base.clone(),
        _ => random_part(base, rng),
    }
}

/// A random part of `res`: some entries whole, some scalars halved.
fn random_part(res: &Resources, rng: &mut ChaCha8Rng) -> Resources {
    let mut out = Resources::new();
    for r in res.iter() {
        if rng.random_bool(0.6) {
            out.add_resource(r.clone());
        }
    }
    if rng.random_bool(0.3) {
        let half = Resources::parse("cpus:1;mem:1").expect("valid");
        out.sub_assign(&half);
    }
    out
}

fn dominates(a: &[i64; 5], b: &[i64; 5]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y)
}

#[test]
fn containment_implies_the_quantity_check_which_decides_for_exact_sets() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut contained, mut exact_pairs) = (0, 0);
    for _ in 0..20_000 {
        let a = if rng.random_bool(0.3) {
            random_exact(&mut rng)
        } else {
            random_resources(&mut rng)
        };
        let b = match rng.random_range(0..3) {
            0 => random_part(&a, &mut rng),
            1 => random_exact(&mut rng),
            _ => random_resources(&mut rng),
        };
        let (sa, sb) = (shape(&a), shape(&b));
        if a.contains(&b) {
            contained += 1;
            assert!(
                dominates(&sa.quantities, &sb.quantities),
                "{a} contains {b} but its quantities are smaller"
            );
        }
        assert_eq!(
            sa.exact,
            a.iter().all(|r| {
                let t = r.to_string();
                ["cpus:", "mem:", "disk:", "gpus:"]
                    .iter()
                    .any(|n| t.starts_with(n))
            }),
            "{a}"
        );
        if sa.exact && sb.exact {
            exact_pairs += 1;
            assert_eq!(
                a.contains(&b),
                dominates(&sa.quantities, &sb.quantities),
                "{a} ⊇ {b}"
            );
        }
    }
    assert!(contained > 5_000, "the generator exercises containment");
    assert!(
        exact_pairs > 1_000,
        "the generator makes exact pairs ({exact_pairs})"
    );
}

#[test]
fn filters_without_their_resources_answer_like_contains() {
    // Every pairing of stored and exact (resources dropped) filters and offers.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (mut yes, mut dropped) = (0, 0);
    let filter = |res: &Resources, id| {
        AgentFilter::new(
            FrameworkId(0),
            0,
            FilterId(id),
            SimTime::ZERO,
            res,
            &shape(res),
        )
    };
    for i in 0..20_000 {
        let base = random_resources(&mut rng);
        let a = random_any(&mut rng, &base);
        let b = random_any(&mut rng, &base);
        let (fa, fb) = (filter(&a, i), filter(&b, i));
        dropped += usize::from(fa.resources.is_none());
        let want = a.contains(&b);
        yes += usize::from(want);
        assert_eq!(fa.contains(&b, &shape(&b)), want, "{a} ⊇ {b}");
        assert_eq!(filter_contains(&fa, &fb), want, "{a} ⊇ {b} as filters");
    }
    assert!(yes > 3_000, "the generator exercises containment ({yes})");
    assert!(dropped > 3_000, "the generator drops resources ({dropped})");
}

/// A live filter as the reference sees it.
struct Live {
    fw: FrameworkId,
    role: usize,
    id: FilterId,
    expires_at: SimTime,
    resources: Resources,
}

/// One agent driven like `Book` drives it: installs with random deadlines, expiries
/// in deadline order (FIFO among equal deadlines), clears of a (framework, role) or
/// of everything; detached filters are never removed from the agent.
struct Bench {
    agent: AgentState,
    live: Vec<Live>,
    detached: Vec<FilterId>,
    next: u64,
    now: u64,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            agent: AgentState::new(AgentInfo::default()),
            live: Vec::new(),
            detached: Vec::new(),
            next: 0,
            now: 0,
        }
    }

    fn install(&mut self, fw: FrameworkId, role: usize, resources: Resources, life: u64) {
        let id = FilterId(self.next);
        self.next += 1;
        let expires_at = SimTime::from_nanos(self.now + life);
        let before = self.agent.detached.len();
        self.agent.add_filter(AgentFilter::new(
            fw,
            role,
            id,
            expires_at,
            &resources,
            &shape(&resources),
        ));
        self.detached
            .extend_from_slice(&self.agent.detached[before..]);
        self.live.push(Live {
            fw,
            role,
            id,
            expires_at,
            resources,
        });
    }

    fn remove(&mut self, at: usize) {
        let l = self.live.remove(at);
        if self.detached.contains(&l.id) {
            assert!(!self.agent.filters.iter().any(|f| f.id == l.id));
            return;
        }
        let visible = self.agent.filters.iter().any(|f| f.id == l.id);
        assert_eq!(self.agent.remove_filter(l.fw, l.role, l.id), visible);
    }

    /// Expires the first filter by (deadline, id) and advances the clock to it.
    fn expire_next(&mut self) {
        let at = (0..self.live.len())
            .min_by_key(|&i| (self.live[i].expires_at, self.live[i].id))
            .expect("non-empty");
        self.now = self.now.max(self.live[at].expires_at.as_nanos());
        self.remove(at);
    }

    /// Clears the filters `pred` selects, in install order.
    fn clear(&mut self, pred: impl Fn(&Live) -> bool) {
        while let Some(at) = self.live.iter().position(&pred) {
            self.remove(at);
        }
    }

    /// The structure's invariants against the reference.
    fn check(&self, what: &str) {
        let a = &self.agent;
        let mut on_agent: Vec<FilterId> = a
            .filters
            .iter()
            .map(|f| f.id)
            .chain(a.shadowed.iter().map(|h| h.filter.id))
            .collect();
        let live_detached = self.live.iter().filter(|l| self.detached.contains(&l.id));
        on_agent.extend(live_detached.clone().map(|l| l.id));
        on_agent.sort_unstable();
        let mut want: Vec<FilterId> = self.live.iter().map(|l| l.id).collect();
        want.sort_unstable();
        assert_eq!(on_agent, want, "{what}: every live filter is listed once");
        for l in live_detached {
            assert!(a.detached.contains(&l.id), "{what}: the agent lists it");
            assert!(
                self.live.iter().any(|c| c.fw == l.fw
                    && c.role == l.role
                    && c.expires_at > l.expires_at
                    && !self.detached.contains(&c.id)
                    && c.resources.contains(&l.resources)),
                "{what}: detached {:?} is contained in a later attached filter",
                l.id
            );
        }
        for h in a.shadowed.iter().map(|h| &h.filter) {
            assert!(
                a.filters.iter().any(|v| v.framework == h.framework
                    && v.role == h.role
                    && filter_contains(v, h)),
                "{what}: hidden {:?} is contained in a visible one",
                h.id
            );
        }
        let union = a
            .filters
            .iter()
            .fold(0, |m, f| m | filter_bits(f.framework, f.role));
        assert_eq!(a.filter_mask, union, "{what}: the mask");
    }

    /// `is_filtered` against a plain scan of every live filter.
    fn answers(&self, fw: FrameworkId, role: usize, offer: &Resources) -> bool {
        let plain = self
            .live
            .iter()
            .any(|l| l.fw == fw && l.role == role && l.resources.contains(offer));
        assert_eq!(
            Book::is_filtered(&self.agent, fw, role, offer),
            plain,
            "offer {offer}"
        );
        plain
    }
}

#[test]
fn is_filtered_agrees_with_a_plain_scan_of_every_live_filter() {
    // Random installs (lifetimes from one deadline for all, as in a replay, to a
    // few), expiries in deadline order and clears; after each step `is_filtered`
    // (visible filters only, quantities first) must answer like `contains` over
    // every live filter, and the structure's invariants hold.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (mut hits, mut hidden_seen, mut detached_seen) = (0, 0, 0);
    for round in 0..300 {
        let mut bench = Bench::new();
        let base = random_resources(&mut rng);
        let lives: Vec<u64> = (0..rng.random_range(1..4))
            .map(|_| rng.random_range(1..30))
            .collect();
        for step in 0..60 {
            bench.now += rng.random_range(0..3);
            match rng.random_range(0..100) {
                _ if bench.live.is_empty() => {}
                0..=29 => bench.expire_next(),
                30..=33 => {
                    let (fw, role) = (FrameworkId(rng.random_range(0..2)), rng.random_range(0..2));
                    bench.clear(|l| l.fw == fw && l.role == role);
                }
                34 => bench.clear(|_| true),
                _ => {}
            }
            if rng.random_bool(0.6) {
                let resources = random_any(&mut rng, &base);
                let (fw, role) = (FrameworkId(rng.random_range(0..2)), rng.random_range(0..2));
                let life = lives[rng.random_range(0..lives.len())];
                bench.install(fw, role, resources, life);
            }
            let what = format!("round {round} step {step}");
            bench.check(&what);
            hidden_seen += bench.agent.shadowed.len();
            detached_seen += bench.agent.detached.len();
            for _ in 0..4 {
                let offer = random_any(&mut rng, &base);
                let (fw, role) = (FrameworkId(rng.random_range(0..2)), rng.random_range(0..2));
                hits += usize::from(bench.answers(fw, role, &offer));
            }
        }
    }
    assert!(
        hits > 1_000,
        "the generator exercises filtered offers ({hits})"
    );
    assert!(
        hidden_seen > 1_000,
        "the generator hides filters ({hidden_seen})"
    );
    assert!(
        detached_seen > 1_000,
        "the generator detaches filters ({detached_seen})"
    );
}

#[test]
fn the_filter_mask_is_the_union_of_the_visible_filters_bits() {
    // Many (framework, role) pairs on one agent, installed and expired at random:
    // the mask never misses a visible filter (it would hide it from `is_filtered`)
    // and forgets the pairs whose filters are gone.
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut rejected_by_mask = 0;
    for round in 0..50 {
        let mut bench = Bench::new();
        let base = random_resources(&mut rng);
        for step in 0..60 {
            bench.now += 1;
            if bench.live.is_empty() || rng.random_bool(0.6) {
                let resources = random_part(&base, &mut rng);
                let (fw, role) = (FrameworkId(rng.random_range(0..40)), rng.random_range(0..3));
                bench.install(fw, role, resources, rng.random_range(1..20));
            } else {
                bench.expire_next();
            }
            bench.check(&format!("round {round} step {step}"));
            let (fw, role) = (FrameworkId(rng.random_range(0..40)), rng.random_range(0..3));
            let bits = filter_bits(fw, role);
            bench.answers(fw, role, &random_part(&base, &mut rng));
            rejected_by_mask += usize::from(bench.agent.filter_mask & bits != bits);
        }
    }
    assert!(
        rejected_by_mask > 1_000,
        "the mask answers most lookups ({rejected_by_mask})"
    );
}
