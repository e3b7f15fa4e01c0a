//! The agent's CPU as the Linux CFS scheduler shares it between container cgroups
//! (mesos-semantics.md §4.2): `cpu.shares` weights, work-conserving redistribution of
//! idle CPU by shares (water-filling), and a hard cap at the CFS quota.
//!
//! Rates are integer milli-CPUs. Water-filling splits the remaining capacity by shares
//! with exact integer arithmetic; the milli-CPUs left by rounding go one each to the tasks
//! with the largest remainders (ties to the lower index), so outcomes are exact and
//! deterministic.

use super::Limit;

/// `cpu.shares` per requested CPU for regular containers.
pub const SHARES_PER_CPU: i64 = 1024;
/// `cpu.shares` per requested CPU for revocable containers with
/// `--revocable_cpu_low_priority`.
pub const REVOCABLE_SHARES_PER_CPU: i64 = 10;
/// The kernel's minimum `cpu.shares`.
pub const MIN_SHARES: i64 = 2;

/// `cpu.shares` of a container requesting `request_milli` milli-CPUs:
/// `max(1024 × cpus, 2)`, or `max(10 × cpus, 2)` for revocable cpus with low priority.
pub fn shares(request_milli: i64, revocable: bool, revocable_low_priority: bool) -> u64 {
    let per_cpu = if revocable && revocable_low_priority {
        REVOCABLE_SHARES_PER_CPU
    } else {
        SHARES_PER_CPU
    };
    (per_cpu * request_milli / 1000).max(MIN_SHARES) as u64
}

/// The CFS quota as a rate cap in milli-CPUs (`cfs_quota_us / cfs_period_us`), or
/// `None` when the container may use any idle CPU. A limit sets the quota (at least
/// 1 ms per 100 ms period, i.e. 10 milli-CPUs) even with CFS off; an infinite limit
/// removes it; with no limit the quota is the request only when `cgroups_enable_cfs`.
pub fn quota(request_milli: i64, limit: Option<Limit>, cgroups_enable_cfs: bool) -> Option<u64> {
    const MIN_QUOTA: i64 = 10;
    match limit {
        Some(Limit::Finite(l)) => Some(l.max(MIN_QUOTA) as u64),
        Some(Limit::Infinite) => None,
        None if cgroups_enable_cfs => Some(request_milli.max(MIN_QUOTA) as u64),
        None => None,
    }
}

/// One container competing for the agent's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuDemand {
    /// `cpu.shares`.
    pub shares: u64,
    /// What it would use if nothing held it back, in milli-CPUs.
    pub demand: u64,
    /// CFS quota in milli-CPUs, if any.
    pub cap: Option<u64>,
}

impl CpuDemand {
    /// The most it can get: its demand, capped by its quota.
    pub fn max_rate(&self) -> u64 {
        self.cap.map_or(self.demand, |c| c.min(self.demand))
    }
}

/// The rate each container gets from `capacity` milli-CPUs, in input order.
///
/// Water-filling: every unsatisfied container is offered capacity in proportion to its
/// shares; one whose demand (or quota) is below its offer takes only that, and the rest
/// is offered again to the others. The result never exceeds a container's
/// [`CpuDemand::max_rate`] and uses all of `capacity` whenever total demand allows.
///
/// Containers are visited once, in increasing order of `max_rate / shares` (ties by
/// index): giving a satisfied container its max only raises the others' offers, so the
/// first one not satisfied ends the filling and the rest split what is left by shares.
pub fn allocate(capacity: u64, tasks: &[CpuDemand]) -> Vec<u64> {
    // An uncontended agent (the common case) gives everyone what it can use.
    let want = tasks
        .iter()
        .try_fold(0u64, |sum, t| sum.checked_add(t.max_rate()));
    if want.is_some_and(|w| w <= capacity) {
        return tasks.iter().map(CpuDemand::max_rate).collect();
    }
    let mut rates = vec![0u64; tasks.len()];
    let shares = |i: usize| tasks[i].shares.max(1) as u128;
    let mut order: Vec<usize> = (0..tasks.len())
        .filter(|&i| tasks[i].max_rate() > 0)
        .collect();
    // a before b when max_a / s_a < max_b / s_b, compared without division.
    order.sort_by(|&a, &b| {
        (tasks[a].max_rate() as u128 * shares(b))
            .cmp(&(tasks[b].max_rate() as u128 * shares(a)))
            .then(a.cmp(&b))
    });
    let mut left = capacity as u128;
    let mut total_shares: u128 = order.iter().map(|&i| shares(i)).sum();
    for (k, &i) in order.iter().enumerate() {
        let max = tasks[i].max_rate() as u128;
        if max * total_shares <= left * shares(i) {
            rates[i] = max as u64;
            left -= max;
            total_shares -= shares(i);
            continue;
        }
        // Everyone left is limited by its share: split what is left by shares, the
        // rounding leftovers one milli-CPU each to the largest remainders.
        let rest = &order[k..];
        let mut given = 0u128;
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(rest.len());
        for &j in rest {
            let exact = left * shares(j);
            let r = exact / total_shares;
            rates[j] = r as u64;
            given += r;
            remainders.push((exact % total_shares, j));
        }
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, j) in remainders.iter().take((left - given) as usize) {
            rates[j] += 1;
        }
        break;
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(shares: u64, demand: u64, cap: Option<u64>) -> CpuDemand {
        CpuDemand {
            shares,
            demand,
            cap,
        }
    }

    #[test]
    fn shares_follow_the_cgroups_isolator() {
        assert_eq!(shares(1000, false, false), 1024);
        assert_eq!(shares(500, false, false), 512);
        assert_eq!(shares(2000, true, true), 20);
        assert_eq!(shares(2000, true, false), 2048);
        assert_eq!(shares(100, true, true), 2);
        assert_eq!(shares(0, false, false), 2);
    }

    #[test]
    fn quota_follows_the_table_of_section_4_2() {
        assert_eq!(quota(1000, Some(Limit::Finite(3000)), false), Some(3000));
        assert_eq!(quota(1000, Some(Limit::Infinite), true), None);
        assert_eq!(quota(1500, None, true), Some(1500));
        assert_eq!(quota(1500, None, false), None);
        assert_eq!(quota(1000, Some(Limit::Finite(1)), false), Some(10));
    }

    #[test]
    fn two_busy_equal_tasks_split_evenly() {
        // 4 CPUs, two 1-CPU containers each wanting 4: 2 + 2.
        assert_eq!(
            allocate(4000, &[d(1024, 4000, None), d(1024, 4000, None)]),
            [2000, 2000]
        );
    }

    #[test]
    fn shares_weight_the_split() {
        // 3 CPUs, 2048 vs 1024 shares, both saturating: 2 and 1.
        assert_eq!(
            allocate(3000, &[d(2048, 9000, None), d(1024, 9000, None)]),
            [2000, 1000]
        );
    }

    #[test]
    fn an_idle_neighbour_leaves_its_cpu_to_the_busy_one() {
        // 4 CPUs; A wants 0.5, B wants everything: B gets 3.5 (work conserving).
        assert_eq!(
            allocate(4000, &[d(2048, 500, None), d(2048, 8000, None)]),
            [500, 3500]
        );
    }

    #[test]
    fn a_quota_caps_a_task_even_when_cpu_is_idle() {
        // Same, but B has a 2-CPU quota: 1.5 CPUs stay idle.
        assert_eq!(
            allocate(4000, &[d(2048, 500, None), d(2048, 8000, Some(2000))]),
            [500, 2000]
        );
    }

    #[test]
    fn three_tasks_cascade_through_water_filling() {
        // 6 CPUs, equal shares: offers 2 each; A takes 1, then 5 split over B and C
        // (2.5 each), but C is capped at 1.5 so B gets 3.5.
        assert_eq!(
            allocate(
                6000,
                &[
                    d(1024, 1000, None),
                    d(1024, 9000, None),
                    d(1024, 9000, Some(1500))
                ]
            ),
            [1000, 3500, 1500]
        );
    }

    #[test]
    fn four_tasks_with_a_low_priority_revocable_one() {
        // 4 CPUs: two services (1024 each) wanting 1.5 each, one batch (1024) wanting 4,
        // one revocable (10 shares) wanting 4. Offers: 4000*1024/3082 = 1329 each for
        // the three regular ones, 12 for the revocable one; nobody is satisfied, so the
        // split is by shares: 1329 + 1329 + 1329 + 12 = 3999, the leftover 1 goes to the
        // largest remainder (4000*1024 mod 3082 = 22 vs 4000*10 mod 3082 = 3016).
        let r = allocate(
            4000,
            &[
                d(1024, 1500, None),
                d(1024, 1500, None),
                d(1024, 4000, None),
                d(10, 4000, None),
            ],
        );
        assert_eq!(r, [1329, 1329, 1329, 13]);
        assert_eq!(r.iter().sum::<u64>(), 4000);
    }

    #[test]
    fn an_uncontended_agent_gives_everyone_their_demand() {
        assert_eq!(
            allocate(
                8000,
                &[d(1024, 1000, None), d(10, 2500, None), d(512, 0, None)]
            ),
            [1000, 2500, 0]
        );
    }

    proptest::proptest! {
        /// Water-filling invariants: nobody gets more than it can use, the CPU is
        /// all used when demand allows, and nobody gets more per share than a container
        /// left short (up to one milli-CPU of rounding on either side).
        #[test]
        fn allocation_is_capped_work_conserving_and_fair(
            capacity in 0u64..64_000,
            raw in proptest::collection::vec((2u64..20_000, 0u64..20_000, proptest::option::of(10u64..20_000)), 0..8),
        ) {
            let tasks: Vec<CpuDemand> = raw.iter().map(|&(s, dm, c)| d(s, dm, c)).collect();
            let rates = allocate(capacity, &tasks);
            let want: u64 = tasks.iter().map(CpuDemand::max_rate).sum();
            proptest::prop_assert_eq!(rates.iter().sum::<u64>(), want.min(capacity));
            for (i, t) in tasks.iter().enumerate() {
                proptest::prop_assert!(rates[i] <= t.max_rate());
                if rates[i] < t.max_rate() {
                    for (j, u) in tasks.iter().enumerate() {
                        proptest::prop_assert!(
                            (rates[j].saturating_sub(1)) as u128 * t.shares as u128
                                <= (rates[i] as u128 + 1) * u.shares as u128,
                            "{} gets more per share than short {}", j, i
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_throttling_example_of_the_docs() {
        // A 1-CPU quota on 2 cores runs at 1 CPU (50 ms of each 100 ms on two cores).
        assert_eq!(allocate(2000, &[d(1024, 2000, Some(1000))]), [1000]);
    }
}
