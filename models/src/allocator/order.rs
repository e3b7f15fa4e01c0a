//! The random agent order of one allocation stage, drawn so that the order of any subset of agents does not depend on which other agents take part.
//!
//! Mesos shuffles every agent at each cycle (`std::random_shuffle`) and then skips
//! those with nothing to offer. Only the relative order of the agents actually
//! visited matters, and a uniform shuffle of all agents induces a uniform order on
//! any subset. We draw that order directly: one 64-bit nonce per stage from the
//! allocator's seeded stream, then every candidate gets the key
//! `mix(nonce + id × φ)` (φ the odd 64-bit golden-ratio constant, `mix` the
//! SplitMix64 finalizer, a bijection), and the candidates are visited by increasing
//! key. For a fixed nonce distinct agents get distinct keys (a bijection of a
//! bijection), so there are no ties, and the cost follows the candidates, not the
//! cluster: agents with nothing available or marked stable are left out before the
//! keys are drawn, yet the agents that remain are visited in the same relative order
//! as if everybody had been included (which keeps the stable-skip exactness test
//! meaningful: with and without the skip, the visited agents come in one order).

use rand::RngCore;

use super::AgentId;

/// The odd 64-bit golden-ratio constant (SplitMix64's increment).
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijection of `u64` with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of `agent` under `nonce`.
fn key(nonce: u64, agent: AgentId) -> u64 {
    mix(nonce.wrapping_add(u64::from(agent.0).wrapping_mul(PHI)))
}

/// Reorders `agents` (distinct ids) into a random order drawn with one `u64` from
/// `rng`. See the module documentation.
pub(crate) fn shuffle_agents(agents: &mut [AgentId], rng: &mut impl RngCore) {
    let nonce = rng.next_u64();
    let n = agents.len();
    if n < 2 {
        return;
    }
    // The keys are uniform, so one counting pass over their top bits (about one
    // agent per bucket) and an insertion sort of what is left out of order within
    // the buckets sort them in expected linear time: cheaper than a comparison sort
    // and than Mesos's shuffle of every agent. The result is the order by key.
    let bits = usize::BITS - (n - 1).leading_zeros();
    let shift = 64 - bits;
    let mut starts = vec![0u32; (1usize << bits) + 1];
    let keyed: Vec<(u64, AgentId)> = agents.iter().map(|&a| (key(nonce, a), a)).collect();
    for &(k, _) in &keyed {
        starts[(k >> shift) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut sorted = vec![(0u64, AgentId(0)); n];
    for &(k, a) in &keyed {
        let slot = &mut starts[(k >> shift) as usize];
        sorted[*slot as usize] = (k, a);
        *slot += 1;
    }
    for i in 1..n {
        let mut j = i;
        while j > 0 && sorted[j - 1].0 > sorted[j].0 {
            sorted.swap(j - 1, j);
            j -= 1;
        }
    }
    for (slot, (_, a)) in agents.iter_mut().zip(sorted) {
        *slot = a;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn ids(v: &[u32]) -> Vec<AgentId> {
        v.iter().map(|&i| AgentId(i)).collect()
    }

    #[test]
    fn a_subset_keeps_its_relative_order() {
        let all: Vec<AgentId> = (0..200).map(AgentId).collect();
        let subset: Vec<AgentId> = all.iter().copied().filter(|a| a.0 % 7 < 3).collect();
        for seed in 0..20 {
            let mut full = all.clone();
            shuffle_agents(&mut full, &mut ChaCha8Rng::seed_from_u64(seed));
            let mut part = subset.clone();
            shuffle_agents(&mut part, &mut ChaCha8Rng::seed_from_u64(seed));
            let induced: Vec<AgentId> = full.into_iter().filter(|a| subset.contains(a)).collect();
            assert_eq!(part, induced, "seed {seed}");
        }
    }

    #[test]
    fn the_order_is_the_order_by_key() {
        for (seed, n) in [(1, 2), (2, 3), (3, 17), (4, 1000), (5, 4097)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut v: Vec<AgentId> = (0..n).map(|i| AgentId(i * 3 + 1)).collect();
            let nonce = ChaCha8Rng::seed_from_u64(seed).next_u64();
            let mut want = v.clone();
            want.sort_by_key(|&a| key(nonce, a));
            shuffle_agents(&mut v, &mut rng);
            assert_eq!(v, want, "{n} agents");
        }
    }

    #[test]
    fn it_is_a_permutation_and_depends_on_the_draw() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut a: Vec<AgentId> = (0..1000).map(AgentId).collect();
        shuffle_agents(&mut a, &mut rng);
        let mut b: Vec<AgentId> = (0..1000).map(AgentId).collect();
        shuffle_agents(&mut b, &mut rng);
        assert_ne!(a, b, "two draws give two orders");
        a.sort_unstable();
        assert_eq!(a, (0..1000).map(AgentId).collect::<Vec<_>>());
    }

    #[test]
    fn every_order_of_three_agents_is_about_equally_likely() {
        // 6 orders, 60,000 draws: each expected 10,000 times; a uniform shuffle stays
        // within ±500 (about 5 standard deviations) with overwhelming probability.
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut seen: BTreeMap<Vec<AgentId>, u32> = BTreeMap::new();
        for _ in 0..60_000 {
            let mut v = ids(&[3, 10, 11]);
            shuffle_agents(&mut v, &mut rng);
            *seen.entry(v).or_default() += 1;
        }
        assert_eq!(seen.len(), 6);
        for (order, n) in seen {
            assert!((9_500..=10_500).contains(&n), "{order:?} drawn {n} times");
        }
    }

    #[test]
    fn first_place_is_uniform_over_many_agents() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut first = [0u32; 10];
        for _ in 0..50_000 {
            let mut v: Vec<AgentId> = (0..10).map(AgentId).collect();
            shuffle_agents(&mut v, &mut rng);
            first[v[0].0 as usize] += 1;
        }
        // Expected 5,000 each; the standard deviation is about 67.
        for (agent, n) in first.iter().enumerate() {
            assert!((4_650..=5_350).contains(n), "agent {agent} first {n} times");
        }
    }
}
