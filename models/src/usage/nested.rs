//! Task groups under one executor: the executor container and its nested task
//! containers in the CFS hierarchy (mesos-semantics.md §4.1, Mesos's
//! `docs/nested-container-and-task-group.md`).
//!
//! The default executor runs in a top-level container; each task of a group runs in a
//! nested container under it. `container.linux_info.share_cgroups` decides the
//! isolation:
//!
//! * `true` (the default, executor-level): the nested containers share the executor's
//!   cgroups, so one set of `cpu`/`memory` controls enforces the *sum* of the tasks'
//!   (and the executor's) requests. Inside it the tasks are plain processes: without
//!   cgroups of their own each gets the weight of a nice-0 process
//!   ([`PROCESS_WEIGHT`]) and they share the container's CPU work-conservingly.
//! * `false` (task-level): every task has its own cgroups with its own shares, quota
//!   and memory limit. They are children of the executor's cgroup (Mesos nests the
//!   cgroup paths, `mesos/<executor>/mesos/<task>`), whose shares are those of the
//!   executor's whole allocation; its quota is the sum of its children's and so never
//!   binds before theirs do.
//!
//! [`allocate`] runs the water-filling of [`super::cpu::allocate`] twice: among the
//! agent's top-level containers, then inside each container among its members.

use super::cpu::{self, CpuDemand};
use super::memory::MemContainer;

/// `cpu.shares`-equivalent weight of one process inside a cgroup (nice 0).
pub const PROCESS_WEIGHT: u64 = 1024;

/// A top-level container on the agent and the members competing inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// `cpu.shares` of the container.
    pub shares: u64,
    /// Its CFS quota in milli-CPUs, if any.
    pub cap: Option<u64>,
    /// What each member would use and its own cap, if it has cgroups of its own.
    pub members: Vec<CpuDemand>,
}

impl Container {
    /// A task with a container of its own: one member, no second level.
    pub fn single(task: CpuDemand) -> Container {
        Container {
            shares: task.shares,
            cap: task.cap,
            members: vec![CpuDemand { cap: None, ..task }],
        }
    }

    /// The most the container can use: its members' maxima, capped by its quota.
    pub fn max_rate(&self) -> u64 {
        let want: u64 = self.members.iter().map(CpuDemand::max_rate).sum();
        self.cap.map_or(want, |c| c.min(want))
    }

    /// The container as one competitor at the top level.
    pub fn demand(&self) -> CpuDemand {
        CpuDemand {
            shares: self.shares,
            demand: self.members.iter().map(CpuDemand::max_rate).sum(),
            cap: self.cap,
        }
    }
}

/// An executor container with shared cgroups (`share_cgroups = true`) for tasks
/// requesting `task_cpus` milli-CPUs each and an executor requesting `executor_cpus`:
/// shares and quota come from the sum, members weigh [`PROCESS_WEIGHT`] each.
pub fn shared(executor_cpus: i64, tasks: &[(i64, u64)], cgroups_enable_cfs: bool) -> Container {
    let sum = executor_cpus + tasks.iter().map(|(r, _)| r).sum::<i64>();
    Container {
        shares: cpu::shares(sum, false, false),
        cap: cpu::quota(sum, None, cgroups_enable_cfs),
        members: tasks
            .iter()
            .map(|&(_, demand)| CpuDemand {
                shares: PROCESS_WEIGHT,
                demand,
                cap: None,
            })
            .collect(),
    }
}

/// An executor container whose tasks have cgroups of their own
/// (`share_cgroups = false`): the parent's shares come from the executor's whole
/// allocation; each member keeps its own shares and quota.
pub fn nested(executor_cpus: i64, tasks: &[(i64, CpuDemand)]) -> Container {
    let sum = executor_cpus + tasks.iter().map(|(r, _)| r).sum::<i64>();
    Container {
        shares: cpu::shares(sum, false, false),
        cap: None,
        members: tasks.iter().map(|(_, d)| *d).collect(),
    }
}

/// The memory of an executor container with shared cgroups: the executor uses its
/// request (`executor_mem`); each task's `(usage, request)` adds to the usage and
/// to the soft and hard limits, which are therefore the sum (limits on the tasks are
/// not allowed with shared cgroups). One task over its own request is fine as long as
/// the sum holds; when it does not, the whole container goes.
pub fn shared_memory(executor_mem: i64, tasks: &[(i64, i64)], revocable: bool) -> MemContainer {
    MemContainer {
        usage: executor_mem + tasks.iter().map(|(u, _)| u).sum::<i64>(),
        request: executor_mem + tasks.iter().map(|(_, r)| r).sum::<i64>(),
        limit: None,
        revocable,
    }
}

/// The rate of every member of every container from `capacity` milli-CPUs: first the
/// containers split the agent by their shares and quotas, then each container's rate
/// is split among its members by theirs.
pub fn allocate(capacity: u64, containers: &[Container]) -> Vec<Vec<u64>> {
    let top: Vec<CpuDemand> = containers.iter().map(Container::demand).collect();
    let rates = cpu::allocate(capacity, &top);
    containers
        .iter()
        .zip(rates)
        .map(|(c, r)| cpu::allocate(r, &c.members))
        .collect()
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
    fn a_single_task_container_is_the_flat_model() {
        let tasks = [d(1024, 4000, Some(3000)), d(2048, 4000, None)];
        let flat = cpu::allocate(4000, &tasks);
        let nested: Vec<u64> = allocate(4000, &tasks.map(Container::single))
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(nested, flat);
    }

    #[test]
    fn shared_cgroups_take_shares_and_quota_from_the_sum() {
        // Executor 0.1 CPU + tasks 1 + 0.5 + 0.4 = 2 CPUs: shares 2048, and with
        // --cgroups_enable_cfs a 2-CPU quota (200 ms per 100 ms period).
        let c = shared(100, &[(1000, 4000), (500, 0), (400, 100)], true);
        assert_eq!(c.shares, 2048);
        assert_eq!(c.cap, Some(2000));
        assert!(c.members.iter().all(|m| m.shares == PROCESS_WEIGHT));
        assert_eq!(shared(100, &[(1000, 0)], false).cap, None);
    }

    #[test]
    fn inside_a_shared_container_an_idle_sibling_leaves_its_cpu() {
        // 8 CPUs, nobody else: the container is held at its 2-CPU quota; the sidecar
        // wants 0.1, the 0.4 task is idle, the main task gets the other 1.9 CPUs
        // although it requested 1.
        let c = shared(100, &[(1000, 4000), (500, 100), (400, 0)], true);
        assert_eq!(allocate(8000, &[c]), [vec![1900, 100, 0]]);
    }

    #[test]
    fn busy_members_of_a_shared_container_split_it_equally() {
        // Quota 1.6 CPUs (1 + 0.5 + 0.1); both tasks want 2 CPUs: as two nice-0
        // processes they get 0.8 each, whatever their requests.
        let c = shared(100, &[(1000, 2000), (500, 2000)], true);
        assert_eq!(allocate(8000, &[c]), [vec![800, 800]]);
    }

    #[test]
    fn a_shared_container_competes_by_the_sum_of_its_shares() {
        // 4 CPUs, CFS off (no quota). Container: executor 0.1 + tasks 1 + 0.9 = 2 CPUs
        // → 2048 shares; a neighbour with 1 CPU (1024 shares); everyone saturating.
        // Top level: 4000 × 2048/3072 = 2666.67 → 2667 (largest remainder) and 1333.
        // Inside: 2667 split equally between two busy processes: 1334 + 1333.
        let c = shared(100, &[(1000, 8000), (900, 8000)], false);
        let n = Container::single(d(1024, 8000, None));
        assert_eq!(allocate(4000, &[c, n]), [vec![1334, 1333], vec![1333]]);
    }

    #[test]
    fn nested_cgroups_keep_each_tasks_quota() {
        // Task-level isolation, 8 idle CPUs: main (1 CPU, 4-CPU limit) bursts to 4;
        // the sidecar (0.5 CPU, no limit, CFS on → quota 0.5) is held at 0.5 though it
        // wants 1.
        let c = nested(
            100,
            &[
                (1000, d(1024, 8000, Some(4000))),
                (500, d(512, 1000, Some(500))),
            ],
        );
        assert_eq!(c.shares, 1638); // 1024 × 1.6 CPUs
        assert_eq!(allocate(8000, &[c]), [vec![4000, 500]]);
    }

    #[test]
    fn nested_cgroups_split_the_parents_rate_by_their_own_shares() {
        // 3 CPUs; parent (executor 0 + 1 + 0.5 CPU = 1536 shares) against a 1.5-CPU
        // neighbour (1536 shares), all saturating: 1.5 CPUs each at the top. Inside,
        // 1024 : 512 → 1000 and 500.
        let c = nested(0, &[(1000, d(1024, 9000, None)), (500, d(512, 9000, None))]);
        let n = Container::single(d(1536, 9000, None));
        assert_eq!(allocate(3000, &[c, n]), [vec![1000, 500], vec![1500]]);
    }

    #[test]
    fn an_idle_sibling_helps_its_group_before_the_neighbours() {
        // The hierarchy, not a flat split: 4 CPUs; group tasks A (1024, wants 4) and
        // B (1024, wants 0.1) under a 2048-share parent; neighbour N (2048, wants 4).
        // Top: parent wants 4.1, N 4 → 2 CPUs each. Inside: B 0.1, A 1.9. (A flat
        // split would give A only 1.3 and N 2.6.)
        let c = nested(
            0,
            &[(1000, d(1024, 4000, None)), (1000, d(1024, 100, None))],
        );
        let n = Container::single(d(2048, 4000, None));
        assert_eq!(allocate(4000, &[c, n]), [vec![1900, 100], vec![2000]]);
        let flat = cpu::allocate(
            4000,
            &[d(1024, 4000, None), d(1024, 100, None), d(2048, 4000, None)],
        );
        assert_eq!(flat, [1300, 100, 2600]);
    }

    #[test]
    fn a_shared_memory_limit_pools_the_groups_requests() {
        use crate::usage::memory::{kills, MemKill};
        const MB: i64 = 1000;
        // Executor 32 MB + two 1024 MB tasks: hard limit 2080 MB. The leaky task at
        // 1.4× (1434 MB) next to a sibling using half (512 MB): 1978 MB, it lives on
        // the sibling's slack; at 2× (2048 MB) the sum is 2592 MB and the whole
        // container dies, the sibling with it.
        let ok = shared_memory(
            32 * MB,
            &[(1434 * MB, 1024 * MB), (512 * MB, 1024 * MB)],
            false,
        );
        assert_eq!(ok.hard_limit(), Some(2080 * MB));
        assert_eq!(kills(16_384 * MB, &[ok]), []);
        let over = shared_memory(
            32 * MB,
            &[(2048 * MB, 1024 * MB), (512 * MB, 1024 * MB)],
            false,
        );
        assert_eq!(kills(16_384 * MB, &[over]), [(0, MemKill::Limit)]);
    }

    proptest::proptest! {
        /// The two levels never hand out more than the agent has or a member can use,
        /// and use all the CPU demand allows.
        #[test]
        fn nested_allocation_is_capped_and_work_conserving(
            capacity in 0u64..32_000,
            raw in proptest::collection::vec(
                (2u64..8_000, proptest::option::of(10u64..8_000),
                 proptest::collection::vec((2u64..4_000, 0u64..8_000, proptest::option::of(10u64..8_000)), 1..4)),
                0..5),
        ) {
            let cs: Vec<Container> = raw.iter().map(|(s, cap, ms)| Container {
                shares: *s,
                cap: *cap,
                members: ms.iter().map(|&(s, dm, c)| d(s, dm, c)).collect(),
            }).collect();
            let rates = allocate(capacity, &cs);
            let want: u64 = cs.iter().map(Container::max_rate).sum();
            let got: u64 = rates.iter().flatten().sum();
            proptest::prop_assert_eq!(got, want.min(capacity));
            for (c, r) in cs.iter().zip(&rates) {
                proptest::prop_assert!(r.iter().sum::<u64>() <= c.max_rate());
                for (m, x) in c.members.iter().zip(r) {
                    proptest::prop_assert!(*x <= m.max_rate());
                }
            }
        }
    }
}
