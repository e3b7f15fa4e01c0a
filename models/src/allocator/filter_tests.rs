//! The quantity pre-check of offer filters (`book::known_quantities`) never changes an answer: containment implies the quantity comparison, and `Book::is_filtered` agrees with a plain scan of `contains` over random filters and offers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::book::{known_quantities, AgentFilter, AgentState, Book};
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

#[test]
fn is_filtered_agrees_with_a_plain_scan() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut hits = 0;
    for round in 0..2_000 {
        let mut agent = AgentState {
            info: AgentInfo::default(),
            allocations: Vec::new(),
            available: Resources::new(),
            has_gpus: false,
            version: 0,
            filters: Vec::new(),
        };
        let base = random_resources(&mut rng);
        for i in 0..rng.random_range(0..12) {
            let resources = if rng.random_bool(0.7) {
                random_part(&base, &mut rng)
            } else {
                random_resources(&mut rng)
            };
            agent.filters.push(AgentFilter {
                framework: FrameworkId(rng.random_range(0..3)),
                role: rng.random_range(0..2),
                id: FilterId(i),
                quantities: known_quantities(&resources),
                resources,
            });
        }
        agent
            .filters
            .sort_by_key(|f| (f.framework, f.role, f.id));
        for _ in 0..8 {
            let offer = random_part(&base, &mut rng);
            let (fw, role) = (FrameworkId(rng.random_range(0..3)), rng.random_range(0..2));
            let plain = agent
                .filters
                .iter()
                .any(|f| f.framework == fw && f.role == role && f.resources.contains(&offer));
            assert_eq!(
                Book::is_filtered(&agent, fw, role, &offer),
                plain,
                "round {round}: offer {offer}"
            );
            hits += usize::from(plain);
        }
    }
    assert!(hits > 1_000, "the generator exercises filtered offers ({hits})");
}
