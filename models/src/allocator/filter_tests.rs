//! Offer filters: the quantity pre-check (`book::known_quantities`), the agent's filter mask (`AgentState::filter_mask`) and hidden filters (`AgentState::shadowed`) never change an answer: containment implies the quantity comparison, and `Book::is_filtered` agrees with a plain scan of `contains` over every live filter under random installs and removals.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::book::{filter_bits, known_quantities, AgentFilter, AgentState, Book};
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
fn containment_implies_the_quantity_check() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut contained = 0;
    for _ in 0..20_000 {
        let a = random_resources(&mut rng);
        let b = if rng.random_bool(0.5) {
            random_part(&a, &mut rng)
        } else {
            random_resources(&mut rng)
        };
        if a.contains(&b) {
            contained += 1;
            assert!(
                dominates(&known_quantities(&a), &known_quantities(&b)),
                "{a} contains {b} but its quantities are smaller"
            );
        }
    }
    assert!(contained > 5_000, "the generator exercises containment");
}

/// Every filter on the agent, visible or hidden.
fn all_filters(a: &AgentState) -> Vec<&AgentFilter> {
    a.filters
        .iter()
        .chain(a.shadowed.iter().map(|h| &h.filter))
        .collect()
}

#[test]
fn is_filtered_agrees_with_a_plain_scan_of_every_live_filter() {
    // Random installs and removals (expiry in any order) on one agent; after each
    // step, `is_filtered` (visible filters only, quantities first) must answer like
    // `contains` over every live filter, and every hidden filter must be contained
    // in a visible one of its (framework, role).
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (mut hits, mut hidden_seen) = (0, 0);
    for round in 0..300 {
        let mut agent = AgentState::new(AgentInfo::default());
        let base = random_resources(&mut rng);
        let mut live: Vec<(FrameworkId, usize, FilterId)> = Vec::new();
        for step in 0..40u64 {
            if live.is_empty() || rng.random_bool(0.65) {
                let resources = match rng.random_range(0..3) {
                    0 => base.clone(),
                    1 => random_part(&base, &mut rng),
                    _ => random_resources(&mut rng),
                };
                let (fw, role) = (FrameworkId(rng.random_range(0..2)), rng.random_range(0..2));
                agent.add_filter(AgentFilter {
                    framework: fw,
                    role,
                    id: FilterId(step),
                    quantities: known_quantities(&resources),
                    resources,
                });
                live.push((fw, role, FilterId(step)));
            } else {
                let (fw, role, id) = live.swap_remove(rng.random_range(0..live.len()));
                let visible = agent.filters.iter().any(|f| f.id == id);
                assert_eq!(agent.remove_filter(fw, role, id), visible);
            }
            let mut ids: Vec<FilterId> = all_filters(&agent).iter().map(|f| f.id).collect();
            ids.sort_unstable();
            let mut want: Vec<FilterId> = live.iter().map(|l| l.2).collect();
            want.sort_unstable();
            assert_eq!(ids, want, "round {round} step {step}: the live filters");
            for h in agent.shadowed.iter().map(|h| &h.filter) {
                hidden_seen += 1;
                assert!(agent.filters.iter().any(|v| v.framework == h.framework
                    && v.role == h.role
                    && v.resources.contains(&h.resources)));
            }
            for _ in 0..4 {
                let offer = random_part(&base, &mut rng);
                let (fw, role) = (FrameworkId(rng.random_range(0..2)), rng.random_range(0..2));
                let plain = all_filters(&agent)
                    .iter()
                    .any(|f| f.framework == fw && f.role == role && f.resources.contains(&offer));
                assert_eq!(
                    Book::is_filtered(&agent, fw, role, &offer),
                    plain,
                    "round {round} step {step}: offer {offer}"
                );
                hits += usize::from(plain);
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
}

#[test]
fn the_filter_mask_is_the_union_of_the_visible_filters_bits() {
    // Many (framework, role) pairs on one agent, installed and removed at random:
    // the mask never misses a visible filter (it would hide it from `is_filtered`)
    // and forgets the pairs whose filters are gone.
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut rejected_by_mask = 0;
    for round in 0..50 {
        let mut agent = AgentState::new(AgentInfo::default());
        let base = random_resources(&mut rng);
        let mut live: Vec<(FrameworkId, usize, FilterId)> = Vec::new();
        for step in 0..60u64 {
            if live.is_empty() || rng.random_bool(0.6) {
                let resources = random_part(&base, &mut rng);
                let (fw, role) = (FrameworkId(rng.random_range(0..40)), rng.random_range(0..3));
                agent.add_filter(AgentFilter {
                    framework: fw,
                    role,
                    id: FilterId(step),
                    quantities: known_quantities(&resources),
                    resources,
                });
                live.push((fw, role, FilterId(step)));
            } else {
                let (fw, role, id) = live.swap_remove(rng.random_range(0..live.len()));
                agent.remove_filter(fw, role, id);
            }
            let union = agent
                .filters
                .iter()
                .fold(0, |m, f| m | filter_bits(f.framework, f.role));
            assert_eq!(agent.filter_mask, union, "round {round} step {step}");
            let (fw, role) = (FrameworkId(rng.random_range(0..40)), rng.random_range(0..3));
            let bits = filter_bits(fw, role);
            let offer = random_part(&base, &mut rng);
            let plain = all_filters(&agent)
                .iter()
                .any(|f| f.framework == fw && f.role == role && f.resources.contains(&offer));
            assert_eq!(Book::is_filtered(&agent, fw, role, &offer), plain);
            rejected_by_mask += usize::from(agent.filter_mask & bits != bits);
        }
    }
    assert!(
        rejected_by_mask > 1_000,
        "the mask answers most lookups ({rejected_by_mask})"
    );
}
