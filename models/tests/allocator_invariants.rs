//! Invariants of every allocator over seeded random workloads (proptest): no over-allocation, no double booking, conservation.
//!
//! A small model master keeps the outstanding offers and allocations per
//! (framework, role, agent) and replays random operations: agents and frameworks
//! come and go, cycles run, frameworks decline (with or without filters) or return
//! parts of what they hold, suppress, revive, deactivate, and agents change their
//! revocable estimate upward. After every step:
//!
//! * every allocation of a cycle is contained in the agent's available resources at
//!   the start of that cycle (never more than the agent has);
//! * the outstanding resources on an agent never overlap: their sum is contained in
//!   the agent's total, ranges (ports) included (never the same resources twice);
//! * conservation: `available + Σ outstanding == total` on every agent, and after the
//!   model returns everything, `available == total`.

use std::collections::BTreeMap;

use models::allocator::{
    by_name, AgentId, AgentInfo, Allocator, AllocatorConfig, Candidates, FrameworkCapabilities,
    FrameworkId, FrameworkInfo, Quota, ALLOCATOR_NAMES,
};
use models::resources::{ResourceQuantities, Resources};
use proptest::prelude::*;
use sim_core::time::{SimDuration, SimTime};

#[derive(Clone, Debug)]
enum Op {
    AddAgent(u8),
    RemoveAgent(u8),
    AddFramework(u8),
    RemoveFramework(u8),
    Tick,
    /// Return a fraction (in percent of the held entries) with an optional filter.
    Recover {
        fw: u8,
        pick: u8,
        filter_secs: u8,
    },
    Suppress(u8),
    Revive(u8),
    Deactivate(u8),
    Activate(u8),
    Revocable {
        agent: u8,
        cpus: u8,
    },
    Quota {
        role: u8,
        cpus: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6).prop_map(Op::AddAgent),
        1 => (0u8..6).prop_map(Op::RemoveAgent),
        2 => (0u8..5).prop_map(Op::AddFramework),
        1 => (0u8..5).prop_map(Op::RemoveFramework),
        4 => Just(Op::Tick),
        5 => (0u8..5, any::<u8>(), 0u8..4).prop_map(|(fw, pick, filter_secs)| Op::Recover { fw, pick, filter_secs }),
        1 => (0u8..5).prop_map(Op::Suppress),
        1 => (0u8..5).prop_map(Op::Revive),
        1 => (0u8..5).prop_map(Op::Deactivate),
        1 => (0u8..5).prop_map(Op::Activate),
        1 => (0u8..6, 0u8..8).prop_map(|(agent, cpus)| Op::Revocable { agent, cpus }),
        1 => (0u8..3, 0u8..6).prop_map(|(role, cpus)| Op::Quota { role, cpus }),
    ]
}

const ROLES: [&str; 3] = ["a", "b", "a/x"];

fn agent_total(i: u8, rev: u8) -> Resources {
    let mut text = format!(
        "cpus:{};mem:{};disk:100;ports:[{}-{}]",
        2 + i % 3,
        1024 * (1 + i as u32 % 2),
        31000 + 10 * i as u32,
        31009 + 10 * i as u32
    );
    // Some agents carry reservations for a role, one a shared volume.
    match i % 3 {
        0 => text.push_str(";cpus(a):1;mem(a):256"),
        1 => text.push_str(";cpus(a/x):0.5;disk(b)[id=v1,path=data]<SHARED>:64"),
        _ => {}
    }
    if rev > 0 {
        text.push_str(&format!(";cpus{{REV}}:{rev}"));
    }
    Resources::parse(&text).expect("valid agent total")
}

fn framework_info(i: u8) -> FrameworkInfo {
    FrameworkInfo {
        name: format!("fw{i}"),
        roles: match i % 3 {
            0 => vec!["a".into()],
            1 => vec!["b".into(), "a/x".into()],
            _ => vec!["a/x".into()],
        },
        capabilities: FrameworkCapabilities {
            multi_role: true,
            revocable_resources: i % 2 == 0,
            gpu_resources: false,
            shared_resources: i % 3 == 1,
            reservation_refinement: false,
        },
        ..FrameworkInfo::default()
    }
}

struct Model {
    alloc: Box<dyn Allocator>,
    now: SimTime,
    totals: BTreeMap<u8, Resources>,
    rev: BTreeMap<u8, u8>,
    frameworks: BTreeMap<u8, FrameworkInfo>,
    /// Outstanding per (framework, role, agent).
    held: BTreeMap<(u8, String, u8), Resources>,
}

impl Model {
    fn run_requested(&mut self) {
        if let Some(c) = self.alloc.take_allocation_request() {
            self.cycle(&c);
        }
    }

    fn cycle(&mut self, c: &Candidates) {
        let before: BTreeMap<u8, Resources> = self
            .totals
            .keys()
            .map(|&a| (a, self.alloc.available(AgentId(a as u32)).expect("present")))
            .collect();
        let out = self.alloc.allocate(self.now, c);
        let mut given: BTreeMap<u8, Resources> = BTreeMap::new();
        for o in out {
            let a = o.agent.0 as u8;
            assert!(
                self.totals.contains_key(&a),
                "allocation on unknown agent {a}"
            );
            assert!(
                self.frameworks.contains_key(&(o.framework.0 as u8)),
                "allocation to unknown framework"
            );
            assert!(!o.resources.is_empty(), "empty allocation");
            given.entry(a).or_default().add_assign(&o.resources);
            self.held
                .entry((o.framework.0 as u8, o.role.to_string(), a))
                .or_default()
                .add_assign(&o.resources);
        }
        for (a, g) in given {
            // Shared volumes may be given while in use; compare the non-shared part.
            assert!(
                before[&a].non_shared().contains(&g.non_shared()),
                "agent {a}: allocated {g} but only {} was available",
                before[&a]
            );
        }
    }

    fn check(&self) {
        for (&a, total) in &self.totals {
            let mut sum = Resources::new();
            for ((_, _, agent), r) in &self.held {
                if *agent == a {
                    sum.add_assign(&r.non_shared());
                }
            }
            // Non-revocable resources never overlap (revocable ones may be
            // over-allocated after an estimate goes down, which this test never does).
            assert!(
                total.non_shared().contains(&sum),
                "agent {a}: outstanding {sum} exceeds total {total}"
            );
            let avail = self.alloc.available(AgentId(a as u32)).expect("present");
            let mut back = avail.non_shared();
            back.add_assign(&sum);
            assert_eq!(
                back,
                total.non_shared(),
                "agent {a}: available {avail} + outstanding {sum} != total"
            );
        }
    }

    fn recover_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        for ((fw, role, a), r) in held {
            self.alloc.recover_role_resources(
                self.now,
                FrameworkId(fw as u32),
                &role,
                AgentId(a as u32),
                &r,
                None,
            );
        }
        for (&a, total) in &self.totals {
            let avail = self.alloc.available(AgentId(a as u32)).expect("present");
            assert_eq!(&avail, total, "agent {a}: not everything came back");
        }
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::AddAgent(i) => {
                if self.totals.contains_key(&i) {
                    return;
                }
                let total = agent_total(i, 0);
                self.totals.insert(i, total.clone());
                self.rev.insert(i, 0);
                let info = AgentInfo {
                    name: format!("a{i}"),
                    total,
                    ..AgentInfo::default()
                };
                self.alloc.add_agent(now, AgentId(i as u32), info, &[]);
            }
            Op::RemoveAgent(i) => {
                if self.totals.remove(&i).is_some() {
                    self.alloc.remove_agent(now, AgentId(i as u32));
                    self.held.retain(|(_, _, a), _| *a != i);
                }
            }
            Op::AddFramework(i) => {
                if self.frameworks.contains_key(&i) {
                    return;
                }
                let info = framework_info(i);
                self.frameworks.insert(i, info.clone());
                self.alloc
                    .add_framework(now, FrameworkId(i as u32), info, true);
            }
            Op::RemoveFramework(i) => {
                if self.frameworks.remove(&i).is_some() {
                    self.alloc.remove_framework(now, FrameworkId(i as u32));
                    self.held.retain(|(f, _, _), _| *f != i);
                }
            }
            Op::Tick => {
                self.now = now + SimDuration::from_secs(1);
                self.cycle(&Candidates::All);
            }
            Op::Recover {
                fw,
                pick,
                filter_secs,
            } => {
                let keys: Vec<(u8, String, u8)> =
                    self.held.keys().filter(|k| k.0 == fw).cloned().collect();
                if keys.is_empty() {
                    return;
                }
                let key = keys[pick as usize % keys.len()].clone();
                let r = self.held[&key].clone();
                // Return everything, or only the unreserved part, or only cpus.
                let part = match pick % 3 {
                    0 => r.clone(),
                    1 => r.unreserved(),
                    _ => r.filter(|x| x.name.as_str() == "cpus"),
                };
                let refuse = (filter_secs > 0).then(|| SimDuration::from_secs(filter_secs as u64));
                self.alloc.recover_role_resources(
                    now,
                    FrameworkId(fw as u32),
                    &key.1,
                    AgentId(key.2 as u32),
                    &part,
                    refuse,
                );
                let left = r.minus(&part);
                if left.is_empty() {
                    self.held.remove(&key);
                } else {
                    self.held.insert(key, left);
                }
            }
            Op::Suppress(i) => self.alloc.suppress_offers(now, FrameworkId(i as u32), &[]),
            Op::Revive(i) => self.alloc.revive_offers(now, FrameworkId(i as u32), &[]),
            Op::Deactivate(i) => self.alloc.deactivate_framework(now, FrameworkId(i as u32)),
            Op::Activate(i) => self.alloc.activate_framework(now, FrameworkId(i as u32)),
            Op::Revocable { agent, cpus } => {
                if !self.totals.contains_key(&agent) {
                    return;
                }
                // Only upward, so nothing is ever over-allocated.
                let rev = self.rev[&agent].max(cpus);
                self.rev.insert(agent, rev);
                let total = agent_total(agent, rev);
                self.totals.insert(agent, total.clone());
                self.alloc
                    .update_agent(now, AgentId(agent as u32), total, Vec::new());
            }
            Op::Quota { role, cpus } => {
                let role = ROLES[role as usize % 2];
                let q = if cpus == 0 {
                    Quota::default()
                } else {
                    Quota::guarantee_and_limit(
                        ResourceQuantities::parse(&format!(
                            "cpus:{cpus};mem:{}",
                            512 * cpus as u32
                        ))
                        .expect("valid"),
                    )
                };
                self.alloc.update_quota(now, role, q);
            }
        }
        self.run_requested();
    }
}

fn run(name: &str, seed: u64, ops: &[Op]) {
    let mut m = Model {
        alloc: by_name(name, AllocatorConfig::default(), seed).expect("known"),
        now: SimTime::ZERO,
        totals: BTreeMap::new(),
        rev: BTreeMap::new(),
        frameworks: BTreeMap::new(),
        held: BTreeMap::new(),
    };
    for op in ops {
        m.apply(op);
        m.check();
    }
    m.recover_all();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_every_allocator(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        for name in ALLOCATOR_NAMES {
            run(name, seed, &ops);
        }
    }
}

/// The same seed and operations give the same allocations, for every allocator.
#[test]
fn allocators_are_deterministic() {
    let ops: Vec<Op> = (0..40u8)
        .map(|i| match i % 5 {
            0 => Op::AddAgent(i % 6),
            1 => Op::AddFramework(i % 5),
            2 => Op::Tick,
            3 => Op::Recover {
                fw: i % 5,
                pick: i,
                filter_secs: i % 3,
            },
            _ => Op::Revocable {
                agent: i % 6,
                cpus: i % 4,
            },
        })
        .collect();
    for name in ALLOCATOR_NAMES {
        let trace = |seed| {
            let mut m = Model {
                alloc: by_name(name, AllocatorConfig::default(), seed).expect("known"),
                now: SimTime::ZERO,
                totals: BTreeMap::new(),
                rev: BTreeMap::new(),
                frameworks: BTreeMap::new(),
                held: BTreeMap::new(),
            };
            for op in &ops {
                m.apply(op);
            }
            format!("{:?}", m.held)
        };
        assert_eq!(trace(5), trace(5), "{name}");
    }
}
