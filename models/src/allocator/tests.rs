//! Data-driven allocator tests: acceptance cases 12, 14, 17, 19, 21 and 27 of allocator-cases.md, played step by step against `hdrf`.
//!
//! A script is a list of steps (one per line, `#` starts a comment):
//!
//! | step | call |
//! |---|---|
//! | `agent aN R [used=fwN:role:R']` | `add_agent` |
//! | `update aN R [attrs=k:v,k:v]` | `update_agent` |
//! | `framework fwN roles=r1,r2 [caps=revocable,gpu,shared,refinement] [suppressed=r1] [inactive]` | `add_framework` |
//! | `decline fwN[/role] aN R SECS` | `recover_(role_)resources` with a filter of SECS (0 = none) |
//! | `return fwN aN R` | `recover_resources` without a filter |
//! | `suppress fwN [roles]`, `revive fwN [roles]`, `activate fwN`, `deactivate fwN`, `remove fwN` | the same calls |
//! | `quota role R` | `update_quota` with guarantee = limit = R |
//! | `weight role W` | `update_weights` |
//! | `tick [n]` | n periodic cycles (see below) |
//! | `=> fwN/role@aN R \| ...` or `=> none` | asserts the offers made since the previous `=>` |
//! | `filters role N` | asserts `offer_filters/roles/<role>/active` |
//! | `quota-metric role offered_or_allocated\|consumed R` | asserts a quota metric (exact set of names) |
//!
//! `R` is the resource text notation; `all` means the agent's whole total. A step that
//! requests a cycle is followed at once by `take_allocation_request` + `allocate`.
//! `tick` emulates the driver's timers: the periodic timer for `t + interval` is armed
//! when the cycle at `t` ends, filter expiry timers when the filter is installed, and
//! timers with equal deadlines fire in creation order (FIFO, §2.8). Every offer must be
//! matched by a `=>` step before the script ends.

use std::collections::BTreeMap;

use sim_core::time::{SimDuration, SimTime};

use super::*;
use crate::resources::Resources;

struct Harness {
    alloc: Box<dyn Allocator>,
    now: SimTime,
    interval: SimDuration,
    /// Pending timers: (deadline, creation sequence) → filter id, or None for the tick.
    timers: BTreeMap<(SimTime, u64), Option<FilterId>>,
    seq: u64,
    totals: BTreeMap<u32, Resources>,
    offers: Vec<Allocation>,
}

fn id_of(s: &str, prefix: &str) -> u32 {
    s.strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected {prefix}N, got {s}"))
}

impl Harness {
    fn new(name: &str) -> Harness {
        let config = AllocatorConfig::default();
        let interval = config.allocation_interval;
        let mut h = Harness {
            alloc: by_name(name, config, 7).expect("known allocator"),
            now: SimTime::ZERO,
            interval,
            timers: BTreeMap::new(),
            seq: 0,
            totals: BTreeMap::new(),
            offers: Vec::new(),
        };
        h.arm(SimTime::ZERO + interval, None);
        h
    }

    fn arm(&mut self, at: SimTime, filter: Option<FilterId>) {
        self.seq += 1;
        self.timers.insert((at, self.seq), filter);
    }

    fn res(&self, text: &str, agent: Option<u32>) -> Resources {
        if text == "all" {
            return self.totals[&agent.expect("`all` needs an agent")].clone();
        }
        Resources::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn run_requested(&mut self) {
        if let Some(c) = self.alloc.take_allocation_request() {
            let out = self.alloc.allocate(self.now, &c);
            self.offers.extend(out);
        }
    }

    fn tick(&mut self) {
        let target = self.now + self.interval;
        while let Some((&(at, seq), &what)) = self.timers.iter().next() {
            if at > target {
                break;
            }
            self.timers.remove(&(at, seq));
            self.now = at;
            match what {
                Some(filter) => self.alloc.expire_filter(at, filter),
                None => {
                    let out = self.alloc.allocate(at, &Candidates::All);
                    self.offers.extend(out);
                    self.arm(at + self.interval, None);
                }
            }
        }
        self.now = target;
    }

    fn step(&mut self, line: &str) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let now = self.now;
        let opt = |key: &str| -> Option<&str> {
            w.iter()
                .find_map(|x| x.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        };
        match w[0] {
            "agent" => {
                let a = id_of(w[1], "a");
                let total = self.res(w[2], None);
                self.totals.insert(a, total.clone());
                let mut used = Vec::new();
                if let Some(u) = opt("used") {
                    let mut parts = u.splitn(3, ':');
                    let fw = id_of(parts.next().unwrap_or(""), "fw");
                    let role = parts.next().unwrap_or("").to_string();
                    let r = self.res(parts.next().unwrap_or(""), Some(a));
                    used.push((FrameworkId(fw), role, r));
                }
                let info = AgentInfo {
                    name: w[1].to_string(),
                    total,
                    ..AgentInfo::default()
                };
                self.alloc.add_agent(now, AgentId(a), info, &used);
            }
            "update" => {
                let a = id_of(w[1], "a");
                let total = self.res(w[2], Some(a));
                self.totals.insert(a, total.clone());
                let attrs = opt("attrs")
                    .map(|s| {
                        s.split(',')
                            .map(|kv| {
                                let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
                                (k.to_string(), v.to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.alloc.update_agent(now, AgentId(a), total, attrs);
            }
            "framework" => {
                let fw = id_of(w[1], "fw");
                let list = |s: Option<&str>| -> Vec<String> {
                    s.map(|s| s.split(',').map(str::to_string).collect())
                        .unwrap_or_default()
                };
                let caps_list = list(opt("caps"));
                let has = |c: &str| caps_list.iter().any(|x| x == c);
                let info = FrameworkInfo {
                    name: w[1].to_string(),
                    roles: list(opt("roles")),
                    capabilities: FrameworkCapabilities {
                        multi_role: true,
                        revocable_resources: has("revocable"),
                        gpu_resources: has("gpu"),
                        shared_resources: has("shared"),
                        reservation_refinement: has("refinement"),
                    },
                    suppressed_roles: list(opt("suppressed")),
                    min_allocatable_resources: BTreeMap::new(),
                };
                let active = !w.contains(&"inactive");
                self.alloc.add_framework(now, FrameworkId(fw), info, active);
            }
            "decline" | "return" => {
                let (fw, role) = match w[1].split_once('/') {
                    Some((f, r)) => (id_of(f, "fw"), Some(r)),
                    None => (id_of(w[1], "fw"), None),
                };
                let a = id_of(w[2], "a");
                let r = self.res(w[3], Some(a));
                let secs: u64 = if w[0] == "decline" {
                    w[4].parse().expect("seconds")
                } else {
                    0
                };
                let refuse = (secs > 0).then(|| SimDuration::from_secs(secs));
                let installed = match role {
                    Some(role) => self.alloc.recover_role_resources(
                        now,
                        FrameworkId(fw),
                        role,
                        AgentId(a),
                        &r,
                        refuse,
                    ),
                    None => {
                        self.alloc
                            .recover_resources(now, FrameworkId(fw), AgentId(a), &r, refuse)
                    }
                };
                assert_eq!(installed.is_some(), refuse.is_some(), "filter installed?");
                if let Some(f) = installed {
                    self.arm(f.expires_at, Some(f.id));
                }
            }
            "suppress" | "revive" | "activate" | "deactivate" | "remove" => {
                let fw = FrameworkId(id_of(w[1], "fw"));
                let roles: Vec<String> = w[2..].iter().map(|s| s.to_string()).collect();
                match w[0] {
                    "suppress" => self.alloc.suppress_offers(now, fw, &roles),
                    "revive" => self.alloc.revive_offers(now, fw, &roles),
                    "activate" => self.alloc.activate_framework(now, fw),
                    "deactivate" => self.alloc.deactivate_framework(now, fw),
                    _ => self.alloc.remove_framework(now, fw),
                }
            }
            "quota" => {
                let q = ResourceQuantities::parse(w[2]).expect("quantities");
                self.alloc
                    .update_quota(now, w[1], Quota::guarantee_and_limit(q));
            }
            "weight" => {
                let weight: f64 = w[2].parse().expect("weight");
                self.alloc
                    .update_weights(now, &[(w[1].to_string(), weight)]);
            }
            "tick" => {
                let n: usize = w.get(1).map_or(1, |n| n.parse().expect("count"));
                for _ in 0..n {
                    self.tick();
                }
            }
            "=>" => {
                let spec = line.trim_start_matches("=>").trim();
                let mut want: Vec<String> = if spec == "none" {
                    Vec::new()
                } else {
                    spec.split('|')
                        .map(|o| {
                            let (head, r) = o.trim().split_once(' ').expect("fw/role@a R");
                            let agent = id_of(head.split_once('@').expect("@").1, "a");
                            format!("{head} {}", self.res(r.trim(), Some(agent)))
                        })
                        .collect()
                };
                let mut got: Vec<String> = self
                    .offers
                    .drain(..)
                    .map(|o| {
                        format!(
                            "fw{}/{}@a{} {}",
                            o.framework.0, o.role, o.agent.0, o.resources
                        )
                    })
                    .collect();
                want.sort();
                got.sort();
                assert_eq!(got, want, "offers at t={}", self.now);
            }
            "filters" => {
                let m = self.alloc.metrics();
                let n: u64 = w[2].parse().expect("count");
                assert_eq!(
                    m.active_filters.get(w[1]).copied().unwrap_or(0),
                    n,
                    "active filters of {}",
                    w[1]
                );
            }
            "quota-metric" => {
                let m = self.alloc.metrics();
                let q = &m.quota[w[1]];
                let got = match w[2] {
                    "offered_or_allocated" => &q.offered_or_allocated,
                    "consumed" => &q.consumed,
                    other => panic!("unknown quota metric {other}"),
                };
                assert_eq!(got, &ResourceQuantities::parse(w[3]).expect("quantities"));
            }
            other => panic!("unknown step {other}"),
        }
        if !matches!(w[0], "=>" | "tick" | "filters" | "quota-metric") {
            self.run_requested();
        }
    }
}

fn play(name: &str, script: &str) {
    let mut h = Harness::new(name);
    for (i, raw) in script.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.step(line)));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: script line {} `{line}` failed:\n{msg}", i + 1);
        }
    }
    assert!(
        h.offers.is_empty(),
        "{name}: unchecked offers at the end: {:?}",
        h.offers
    );
}

fn hdrf(script: &str) {
    play("hdrf", script);
}

#[test]
fn case12a_offer_filter_longer_than_interval() {
    hdrf(
        "
        framework fw1 roles=role
        agent a1 cpus:1;mem:512
        => fw1/role@a1 all
        decline fw1 a1 all 2
        filters role 1
        tick            # t=1: the filter (until t=2) still holds
        => none
        tick            # t=2: the expiry timer was armed before this tick's timer
        => fw1/role@a1 all
        filters role 0
    ",
    );
}

#[test]
fn case12b_attribute_change_clears_filters() {
    hdrf(
        "
        framework fw1 roles=role
        agent a1 cpus:1;mem:512
        => fw1/role@a1 all
        decline fw1 a1 all 2
        tick
        => none
        update a1 all attrs=foo:bar,baz:quux
        => fw1/role@a1 all
        filters role 0
    ",
    );
}

#[test]
fn case12_filter_shorter_than_interval_still_seen_by_next_tick() {
    // max(refuse, interval): a 0.5 s refusal lasts one interval, and the tick armed
    // before the filter fires first at the shared deadline (SmallOfferFilterTimeout).
    hdrf(
        "
        framework fw1 roles=role
        agent a1 cpus:1;mem:512
        => fw1/role@a1 all
        decline fw1 a1 all 1
        tick
        => none
        tick
        => fw1/role@a1 all
    ",
    );
}

#[test]
fn case14a_static_reservations_go_to_their_role() {
    hdrf(
        "
        agent a1 cpus(role1):2;mem(role1):1024
        agent a2 cpus(role2):2;mem(role2):1024;cpus:1;mem:1024
        agent a3 cpus(role3):1;mem(role3):1024
        => none
        framework fw1 roles=role1
        => fw1/role1@a1 cpus(role1):2;mem(role1):1024 | fw1/role1@a2 cpus:1;mem:1024
        framework fw2 roles=role2
        => fw2/role2@a2 cpus(role2):2;mem(role2):1024
        tick 3
        => none
    ",
    );
}

#[test]
fn case14b_reserved_and_unreserved_recovered_separately() {
    hdrf(
        "
        agent a1 cpus(role1):1;mem(role1):200;cpus:1;mem:200
        framework fw1 roles=role1
        => fw1/role1@a1 all
        return fw1 a1 cpus(role1):1;mem(role1):200
        => none
        tick
        => fw1/role1@a1 cpus(role1):1;mem(role1):200
        return fw1 a1 cpus:1;mem:200
        tick
        => fw1/role1@a1 cpus:1;mem:200
    ",
    );
}

const BASE: &str = "cpus:100;mem:100;disk:100";

#[test]
fn case17a_revocable_delta_only() {
    hdrf(&format!(
        "
        agent a1 {BASE}
        framework fw1 roles=role1 caps=revocable
        => fw1/role1@a1 {BASE}
        update a1 {BASE};cpus{{REV}}:10
        => fw1/role1@a1 cpus{{REV}}:10
        update a1 {BASE};cpus{{REV}}:12
        => fw1/role1@a1 cpus{{REV}}:2
        update a1 {BASE};cpus{{REV}}:5
        => none
        tick
        => none
    "
    ));
}

#[test]
fn case17b_revocable_stripped_without_capability() {
    hdrf(&format!(
        "
        agent a1 {BASE}
        framework fw1 roles=role1
        => fw1/role1@a1 {BASE}
        update a1 {BASE};cpus{{REV}}:10
        => none
        framework fw2 roles=role1 caps=revocable
        => fw2/role1@a1 cpus{{REV}}:10
    "
    ));
}

#[test]
fn case17c_recover_revocable_and_regular_together() {
    hdrf(&format!(
        "
        agent a1 {BASE}
        framework fw1 roles=role1 caps=revocable
        => fw1/role1@a1 {BASE}
        update a1 {BASE};cpus{{REV}}:10
        => fw1/role1@a1 cpus{{REV}}:10
        return fw1 a1 cpus{{REV}}:6;cpus:2
        tick
        => fw1/role1@a1 cpus{{REV}}:6;cpus:2
    "
    ));
}

#[test]
fn case19a_suppress_and_revive() {
    hdrf(
        "
        agent a1 cpus:2;mem:1024
        framework fw1 roles=role1
        => fw1/role1@a1 all
        revive fw1
        => none
        return fw1 a1 all
        suppress fw1
        tick
        => none
        revive fw1
        => fw1/role1@a1 all
    ",
    );
}

#[test]
fn case19b_revive_clears_filters() {
    hdrf(
        "
        agent a1 cpus:2;mem:1024
        framework fw1 roles=role1
        => fw1/role1@a1 all
        decline fw1 a1 all 1000
        tick
        => none
        revive fw1
        => fw1/role1@a1 all
    ",
    );
}

#[test]
fn case19c_suppression_survives_deactivation() {
    hdrf(
        "
        agent a1 cpus:2;mem:1024
        framework fw1 roles=role1
        => fw1/role1@a1 all
        return fw1 a1 all
        suppress fw1
        deactivate fw1
        tick
        => none
        activate fw1
        => none
        revive fw1
        => fw1/role1@a1 all
    ",
    );
}

#[test]
fn case19d_multi_role_suppress_and_revive() {
    hdrf(
        "
        framework fw1 roles=role1,role2
        suppress fw1 role1
        agent a1 cpus:2;mem:1024
        => fw1/role2@a1 all
        decline fw1/role2 a1 all 86400
        tick
        => none
        revive fw1 role1
        => fw1/role1@a1 all
        filters role2 1
        decline fw1/role1 a1 all 86400
        tick
        => none
    ",
    );
}

#[test]
fn case21a_quota_guarantee_holds_declined_resources_back() {
    hdrf(
        "
        framework fw1 roles=quota-role
        quota quota-role cpus:2;mem:1024
        framework fw2 roles=no-quota-role
        => none
        agent a1 cpus:1;mem:512
        => fw1/quota-role@a1 all
        agent a2 cpus:1;mem:512
        => fw1/quota-role@a2 all
        decline fw1 a2 all 2
        tick
        => none
        tick
        => fw1/quota-role@a2 all
    ",
    );
}

#[test]
fn case21b_quota_against_starvation() {
    hdrf(
        "
        framework fw1 roles=quota-role
        framework fw2 roles=no-quota-role
        agent a1 cpus:1;mem:512 used=fw1:quota-role:all
        => none
        agent a2 cpus:1;mem:512
        => fw2/no-quota-role@a2 all
        decline fw2 a2 all 0
        tick
        => fw2/no-quota-role@a2 all
        decline fw2 a2 all 0
        quota quota-role cpus:2;mem:1024
        tick
        => fw1/quota-role@a2 all
    ",
    );
}

#[test]
fn case27a_unallocated_reservation_uses_up_quota() {
    hdrf(
        "
        agent a1 cpus(quota-role):1;mem(quota-role):1024
        quota quota-role cpus:1;mem:1024
        framework fw1 roles=quota-role
        => fw1/quota-role@a1 all
        decline fw1 a1 all 86400
        agent a2 cpus:1;mem:1024
        => none
        quota-metric quota-role consumed cpus:1;mem:1024
    ",
    );
}

#[test]
fn case27b_reservation_plus_unreserved_up_to_quota() {
    hdrf(
        "
        agent a1 cpus(quota-role):1;mem(quota-role):1024
        quota quota-role cpus:2;mem:2048
        framework fw1 roles=quota-role
        => fw1/quota-role@a1 all
        agent a2 cpus:1;mem:1024
        => fw1/quota-role@a2 all
        agent a3 cpus:1;mem:1024
        => none
    ",
    );
}

#[test]
fn case27c_reservation_within_quota() {
    hdrf(
        "
        quota quota-role cpus:2;mem:256
        framework fw1 roles=quota-role
        framework fw2 roles=non-quota-role
        => none
        agent a1 cpus:8;mem(quota-role):256 used=fw1:quota-role:cpus:2;mem(quota-role):256
        => fw2/non-quota-role@a1 cpus:6
        agent a2 cpus:4
        => fw2/non-quota-role@a2 cpus:4
    ",
    );
}

#[test]
fn case27d_drf_with_quota() {
    hdrf(
        "
        quota quota-role cpus:0.25;mem:128
        framework fw1 roles=quota-role
        framework fw2 roles=no-quota-role
        => none
        agent a1 cpus:1;mem:512 used=fw1:quota-role:cpus:0.25;mem:128
        => fw2/no-quota-role@a1 cpus:0.75;mem:384
        quota-metric quota-role offered_or_allocated cpus:0.25;mem:128
        agent a2 cpus:1;mem:512
        => fw2/no-quota-role@a2 all
    ",
    );
}

// ----------------------------------------------------------------------- extras

#[test]
fn coarse_grained_and_drf_order_across_agents() {
    // Two frameworks in one role, two agents added in one batch: each framework gets
    // one whole agent (the order inside a cycle reflects earlier allocations).
    let mut h = Harness::new("hdrf");
    h.step("framework fw1 roles=r");
    h.step("framework fw2 roles=r");
    let mut a = Candidates::Agents(vec![]);
    for i in 1..=2 {
        h.alloc.add_agent(
            h.now,
            AgentId(i),
            AgentInfo {
                name: format!("a{i}"),
                total: Resources::parse("cpus:4;mem:4096").unwrap(),
                ..AgentInfo::default()
            },
            &[],
        );
        a.merge(Candidates::Agents(vec![AgentId(i)]));
    }
    let req = h.alloc.take_allocation_request().expect("requested");
    assert_eq!(req, a);
    let out = h.alloc.allocate(h.now, &req);
    let mut fws: Vec<u32> = out.iter().map(|o| o.framework.0).collect();
    fws.sort();
    assert_eq!(fws, vec![1, 2]);
    assert!(out
        .iter()
        .all(|o| o.resources.to_string() == "cpus:4;mem:4096"));
}

#[test]
fn gpu_agents_only_for_gpu_frameworks() {
    hdrf(
        "
        framework fw1 roles=r
        framework fw2 roles=r caps=gpu
        agent a1 cpus:4;mem:4096;gpus:1
        => fw2/r@a1 all
    ",
    );
}

#[test]
fn hierarchical_roles_get_ancestor_reservations() {
    hdrf(
        "
        agent a1 cpus(a):2;mem(a):512;cpus(a/b/d):1;mem(a/b/d):64
        framework fw1 roles=a/b/c
        => fw1/a/b/c@a1 cpus(a):2;mem(a):512
        framework fw3 roles=a
        => none
        framework fw2 roles=a/b/d
        => fw2/a/b/d@a1 cpus(a/b/d):1;mem(a/b/d):64
    ",
    );
}

#[test]
fn min_allocatable_override_empty_allows_anything() {
    let mut h = Harness::new("hdrf");
    let mut info = FrameworkInfo {
        name: "fw1".into(),
        roles: vec!["r".into()],
        ..FrameworkInfo::default()
    };
    h.alloc
        .add_framework(h.now, FrameworkId(1), info.clone(), true);
    h.run_requested();
    h.step("agent a1 disk:100");
    h.step("=> none");
    info.min_allocatable_resources
        .insert("r".into(), Vec::new());
    h.alloc.remove_framework(h.now, FrameworkId(1));
    h.alloc.add_framework(h.now, FrameworkId(1), info, true);
    h.run_requested();
    h.step("=> fw1/r@a1 disk:100");
}

#[test]
fn weights_bias_role_order() {
    // Without the weight, a4 would go to `light` (share .25 against .5).
    hdrf(
        "
        framework fw1 roles=light
        framework fw2 roles=heavy
        weight heavy 3
        agent a1 cpus:1;mem:1024
        => fw2/heavy@a1 all
        agent a2 cpus:1;mem:1024
        => fw1/light@a2 all
        agent a3 cpus:1;mem:1024
        => fw2/heavy@a3 all
        agent a4 cpus:1;mem:1024
        => fw2/heavy@a4 all
    ",
    );
}

#[test]
fn unknown_allocator_name_is_an_error() {
    let e = by_name("drfx", AllocatorConfig::default(), 1)
        .err()
        .expect("error");
    assert_eq!(
        e.to_string(),
        "unknown allocator `drfx` (expected one of: hdrf, random, fifo, bestfit)"
    );
    for n in ALLOCATOR_NAMES {
        assert_eq!(
            by_name(n, AllocatorConfig::default(), 1)
                .expect("known")
                .name(),
            n
        );
    }
}

#[test]
fn fifo_gives_everything_to_the_first_framework() {
    play(
        "fifo",
        "
        framework fw1 roles=r
        framework fw2 roles=r
        agent a1 cpus:1;mem:512
        => fw1/r@a1 all
        agent a2 cpus:1;mem:512
        => fw1/r@a2 all
        decline fw1 a2 all 10
        tick
        => fw2/r@a2 all
    ",
    );
}

#[test]
fn bestfit_packs_onto_busy_agents_round_robin() {
    // fw9 is unknown to the allocator: its tasks make the agents busy.
    play(
        "bestfit",
        "
        framework fw1 roles=r
        framework fw2 roles=r
        framework fw3 roles=r
        agent a3 cpus:4;mem:4096 used=fw9:x:all
        agent a2 cpus:4;mem:4096 used=fw9:x:all
        agent a1 cpus:4;mem:4096 used=fw9:x:all
        => none
        return fw9 a1 cpus:1;mem:1024
        return fw9 a2 cpus:3;mem:3072
        return fw9 a3 all
        tick
        => fw1/r@a1 cpus:1;mem:1024 | fw2/r@a2 cpus:3;mem:3072 | fw3/r@a3 all
    ",
    );
}
