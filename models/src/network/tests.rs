//! Hand-computed max-min cases, isolation, counters adding up, and incremental
//! recomputation agreeing with the full one.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::time::{SimDuration, SimTime};

use super::*;

const NIC: u64 = TEN_GBIT_BYTES_PER_SEC;

fn agent(i: u32) -> Endpoint {
    Endpoint::Host(Node::Agent(i))
}

fn flow(src: Endpoint, dst: Endpoint, bytes: u64) -> FlowSpec {
    FlowSpec {
        src,
        dst,
        bytes,
        cap: None,
    }
}

fn flat(agents: u32) -> Network {
    Network::new(NetworkConfig::flat(agents)).expect("valid config")
}

#[test]
fn routes_and_latencies_follow_the_tree() {
    let flat = Topology::new(&TopologyConfig::flat(4)).unwrap();
    assert_eq!(flat.route(Node::Agent(0), Node::Agent(3)).unwrap().len(), 2);
    assert_eq!(
        flat.latency(Node::Agent(0), Node::Agent(3)).unwrap(),
        SimDuration::from_micros(50)
    );
    assert!(flat
        .route(Node::Agent(2), Node::Agent(2))
        .unwrap()
        .is_empty());
    let two = Topology::new(&TopologyConfig::two_tier(8, 4, Some(NIC))).unwrap();
    // Same rack: NIC up, NIC down. Other rack: NIC, uplink, downlink, NIC.
    assert_eq!(two.route(Node::Agent(0), Node::Agent(3)).unwrap().len(), 2);
    let across = two.route(Node::Agent(0), Node::Agent(5)).unwrap();
    assert_eq!(across.len(), 4);
    let ends: Vec<(Node, Node)> = across.iter().map(|&l| two.link_ends(l)).collect();
    assert_eq!(
        ends,
        vec![
            (Node::Agent(0), Node::Tor(0)),
            (Node::Tor(0), Node::Core),
            (Node::Core, Node::Tor(1)),
            (Node::Tor(1), Node::Agent(5)),
        ]
    );
    assert_eq!(
        two.route(Node::Agent(6), Node::ArtifactServer)
            .unwrap()
            .len(),
        3
    );
    assert!(matches!(
        two.route(Node::Agent(8), Node::Master),
        Err(NetworkError::UnknownAgent(8))
    ));
}

#[test]
fn two_flows_out_of_one_nic_split_it_evenly() {
    let mut net = flat(3);
    let t0 = SimTime::ZERO;
    let a = net.start_flow(t0, flow(agent(0), agent(1), NIC)).unwrap();
    assert_eq!(net.rate(a), Some(NIC));
    let b = net
        .start_flow(t0, flow(agent(0), agent(2), NIC / 2))
        .unwrap();
    assert_eq!(net.rate(a), Some(NIC / 2));
    assert_eq!(net.rate(b), Some(NIC / 2));
    // b (625 MB at 625 MB/s) ends at 1 s; a then has 625 MB left at the full NIC: 1.5 s.
    assert_eq!(net.next_completion(), Some(SimTime::from_secs(1)));
    let done = net.advance(SimTime::from_secs(1));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, b);
    assert_eq!(net.rate(a), Some(NIC));
    assert_eq!(
        net.next_completion(),
        Some(SimTime::from_nanos(1_500_000_000))
    );
    let done = net.advance(SimTime::from_nanos(1_500_000_000));
    assert_eq!(done[0].id, a);
    assert_eq!(net.active_flows(), 0);
    assert_eq!(net.next_completion(), None);
}

#[test]
fn a_flow_limited_elsewhere_frees_bandwidth_for_the_others() {
    // A: 0→1 and B: 0→2 share agent 0's uplink; B, C: 3→2 and D: 4→2 share agent 2's
    // downlink, where each gets 1.25e9 / 3 = 416,666,666 B/s. B is held to that, so A
    // gets the rest of agent 0's uplink: 1,250,000,000 − 416,666,666 = 833,333,334.
    let mut net = flat(5);
    let t0 = SimTime::ZERO;
    let a = net
        .start_flow(t0, flow(agent(0), agent(1), u64::MAX / 2))
        .unwrap();
    let b = net
        .start_flow(t0, flow(agent(0), agent(2), u64::MAX / 2))
        .unwrap();
    let c = net
        .start_flow(t0, flow(agent(3), agent(2), u64::MAX / 2))
        .unwrap();
    let d = net
        .start_flow(t0, flow(agent(4), agent(2), u64::MAX / 2))
        .unwrap();
    for f in [b, c, d] {
        assert_eq!(net.rate(f), Some(416_666_666));
    }
    assert_eq!(net.rate(a), Some(833_333_334));
}

#[test]
fn per_flow_caps_come_first_and_leave_the_rest() {
    let mut net = flat(3);
    let t0 = SimTime::ZERO;
    let capped = FlowSpec {
        cap: Some(100_000_000),
        ..flow(agent(0), agent(1), 1_000)
    };
    let a = net.start_flow(t0, capped).unwrap();
    let b = net.start_flow(t0, flow(agent(0), agent(2), 1_000)).unwrap();
    assert_eq!(net.rate(a), Some(100_000_000));
    assert_eq!(net.rate(b), Some(NIC - 100_000_000));
    assert_eq!(
        net.start_flow(
            t0,
            FlowSpec {
                cap: Some(0),
                ..capped
            }
        ),
        Err(NetworkError::ZeroFlowCap)
    );
}

#[test]
fn a_container_egress_limit_isolates_its_neighbours() {
    let mut net = flat(3);
    let t0 = SimTime::ZERO;
    let limited = net.add_container(0, Some(250_000_000)).unwrap();
    let free = net.add_container(0, None).unwrap();
    let x1 = net
        .start_flow(t0, flow(Endpoint::Container(limited), agent(1), 1 << 40))
        .unwrap();
    let x2 = net
        .start_flow(t0, flow(Endpoint::Container(limited), agent(2), 1 << 40))
        .unwrap();
    let y = net
        .start_flow(t0, flow(Endpoint::Container(free), agent(1), 1 << 40))
        .unwrap();
    // The HTB class holds the limited container to 250 MB/s over its two flows; the
    // other container gets the rest of the NIC.
    assert_eq!(net.rate(x1), Some(125_000_000));
    assert_eq!(net.rate(x2), Some(125_000_000));
    assert_eq!(net.rate(y), Some(NIC - 250_000_000));
    let t1 = SimTime::from_secs(2);
    net.settle_all(t1);
    let stats = net.container_stats(limited, t1).unwrap();
    assert_eq!(stats.tx_bytes, 500_000_000);
    assert_eq!(stats.egress_capped_ns, 2_000_000_000);
    assert_eq!(net.container_stats(free, t1).unwrap().egress_capped_ns, 0);
    // A limit below Mesos's minimum is raised to 125,000 B/s.
    let tiny = net.add_container(1, Some(1_000)).unwrap();
    let z = net
        .start_flow(t1, flow(Endpoint::Container(tiny), agent(2), 1 << 20))
        .unwrap();
    assert_eq!(net.rate(z), Some(MIN_EGRESS_RATE_LIMIT));
}

#[test]
fn ephemeral_ports_run_out_with_a_clear_error() {
    let mut config = NetworkConfig::flat(2);
    config.ephemeral_ports_per_agent = 2048;
    config.ephemeral_ports_per_container = 2;
    let mut net = Network::new(config).unwrap();
    let t0 = SimTime::ZERO;
    // 2048 / 2 = 1024 blocks; use a smaller agent budget to see it run out.
    let mut config = NetworkConfig::flat(2);
    config.ephemeral_ports_per_agent = 2048;
    let mut small = Network::new(config).unwrap();
    let c0 = small.add_container(1, None).unwrap();
    small.add_container(1, None).unwrap();
    let err = small.add_container(1, None).unwrap_err();
    assert_eq!(
        err,
        NetworkError::AgentOutOfEphemeralPorts {
            agent: 1,
            ports: 2048,
            blocks: 2,
            per_container: 1024
        }
    );
    assert!(err
        .to_string()
        .contains("agent 1 ran out of ephemeral ports"));
    small.remove_container(t0, c0).unwrap();
    small.add_container(1, None).unwrap();
    // A container with two ports can hold two connections open, not three.
    let c = net.add_container(0, None).unwrap();
    let src = Endpoint::Container(c);
    net.start_flow(t0, flow(src, agent(1), 10)).unwrap();
    net.start_flow(t0, flow(src, agent(1), 10)).unwrap();
    assert_eq!(
        net.start_flow(t0, flow(src, agent(1), 10)),
        Err(NetworkError::ContainerOutOfEphemeralPorts {
            container: 0,
            ports: 2
        })
    );
    assert_eq!(net.container_stats(c, t0).unwrap().tx_dropped, 1);
}

/// Every active flow's rate after each step.
type RateTrace = Vec<Vec<(FlowId, Option<u64>)>>;

/// Drives a network with a seeded mix of starts, aborts and completions, returning
/// every (flow, rate) after each step and every completion.
fn drive(recompute: Recompute, seed: u64) -> (RateTrace, Vec<CompletedFlow>, Network) {
    let mut config = NetworkConfig {
        topology: TopologyConfig::two_tier(24, 6, Some(2 * NIC)),
        ..NetworkConfig::flat(24)
    };
    config.recompute = recompute;
    let mut net = Network::new(config).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now = SimTime::ZERO;
    let containers: Vec<ContainerId> = (0..48)
        .map(|i| {
            let limit = (i % 3 == 0).then_some(200_000_000);
            net.add_container(i % 24, limit).unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    let mut trace = Vec::new();
    let mut done = Vec::new();
    for _ in 0..400 {
        match rng.random_range(0..10) {
            0..=5 => {
                // Destinations are on another agent, so every byte crosses two NICs.
                let i = rng.random_range(0..48);
                let src = Endpoint::Container(containers[i]);
                let dst = match rng.random_range(0..4) {
                    0 => Endpoint::Host(Node::ArtifactServer),
                    _ => Endpoint::Container(containers[(i + rng.random_range(1..24)) % 48]),
                };
                let cap = (rng.random_range(0..4) == 0).then(|| rng.random_range(1..NIC));
                let bytes = rng.random_range(1..2_000_000_000);
                ids.push(
                    net.start_flow(
                        now,
                        FlowSpec {
                            src,
                            dst,
                            bytes,
                            cap,
                        },
                    )
                    .unwrap(),
                );
            }
            6 if !ids.is_empty() => {
                let f = ids.swap_remove(rng.random_range(0..ids.len()));
                let _ = net.abort_flow(now, f);
            }
            _ => {
                if let Some(t) = net.next_completion() {
                    now = t;
                    done.extend(net.advance(now));
                }
            }
        }
        trace.push(ids.iter().map(|&f| (f, net.rate(f))).collect());
    }
    (trace, done, net)
}

#[test]
fn incremental_recomputation_matches_full_recomputation() {
    for seed in 0..4 {
        let (inc, inc_done, inc_net) = drive(Recompute::Incremental, seed);
        let (full, full_done, _) = drive(Recompute::Full, seed);
        assert_eq!(inc, full, "seed {seed}: rates differ");
        assert_eq!(inc_done, full_done, "seed {seed}: completions differ");
        assert!(!inc_done.is_empty());
        assert!(inc_net.active_flows() > 0);
    }
}

#[test]
fn the_same_inputs_give_the_same_completions() {
    assert_eq!(
        drive(Recompute::Incremental, 7).1,
        drive(Recompute::Incremental, 7).1
    );
}

#[test]
fn per_container_counters_add_up_to_link_totals() {
    let (_, _, mut net) = drive(Recompute::Incremental, 3);
    let end = net.next_completion().unwrap_or(SimTime::ZERO) + SimDuration::from_secs(1);
    net.settle_all(end);
    let links = net.link_stats();
    let containers: Vec<(ContainerId, u32)> = net.containers().collect();
    for a in 0..24 {
        let (tx, rx) = containers
            .iter()
            .filter(|&&(_, agent)| agent == a)
            .map(|&(c, _)| net.container_stats(c, end).unwrap())
            .fold((0, 0), |(tx, rx), s| (tx + s.tx_bytes, rx + s.rx_bytes));
        let up = links.iter().find(|l| l.from == Node::Agent(a)).unwrap();
        let down = links.iter().find(|l| l.to == Node::Agent(a)).unwrap();
        assert_eq!(up.bytes, tx, "agent {a} uplink");
        assert_eq!(down.bytes, rx, "agent {a} downlink");
        assert!(tx > 0);
    }
}

/// 1 KiB from agent 0 to the master on a flat 10 Gbit/s cluster: two hops of 25 µs
/// (agent0→core, core→master) and 1024 B at 1.25e9 B/s = 819.2 ns, rounded up.
#[test]
fn a_message_over_an_idle_two_hop_path_costs_latency_plus_transmission() {
    let net = flat(2);
    let d = net
        .message_delay(Node::Agent(0), Node::Master, 1024)
        .unwrap();
    assert_eq!(d.as_nanos(), 50_000 + 820);
    // Zero bytes: propagation only; same host: nothing at all.
    let d0 = net.message_delay(Node::Master, Node::Agent(1), 0).unwrap();
    assert_eq!(d0, SimDuration::from_micros(50));
    let same = net.message_delay(Node::Agent(1), Node::Agent(1), 1024);
    assert_eq!(same.unwrap(), SimDuration::ZERO);
}

/// Three bulk flows out of agent 0's NIC: each gets 1.25e9/3 B/s and 2 B/s is left,
/// so a message joining them gets 1.25e9/4 = 312.5 MB/s: 1024 B take 3276.8 → 3277 ns.
/// A capped flow leaves the rest of the NIC unused, and the message gets that.
#[test]
fn a_loaded_link_slows_messages_and_unused_capacity_does_not() {
    let t0 = SimTime::ZERO;
    let mut net = flat(3);
    let ids: Vec<FlowId> = (0..3)
        .map(|_| {
            net.start_flow(t0, flow(agent(0), agent(1), 1 << 40))
                .unwrap()
        })
        .collect();
    let d = net
        .message_delay(Node::Agent(0), Node::Master, 1024)
        .unwrap();
    assert_eq!(d.as_nanos(), 50_000 + 3277);
    // Only agent 0's uplink is loaded: agent 2's messages are not slowed.
    let other = net
        .message_delay(Node::Agent(2), Node::Master, 1024)
        .unwrap();
    assert_eq!(other.as_nanos(), 50_000 + 820);
    for f in ids {
        net.abort_flow(t0, f).unwrap();
    }
    assert_eq!(
        net.message_delay(Node::Agent(0), Node::Master, 1024)
            .unwrap()
            .as_nanos(),
        50_820
    );
    // One flow capped at 100 MB/s leaves 1.15e9 B/s unused, more than the fair half:
    // 1024e9 / 1.15e9 = 890.4 → 891 ns.
    let capped = FlowSpec {
        cap: Some(100_000_000),
        ..flow(agent(0), agent(1), 1 << 40)
    };
    net.start_flow(t0, capped).unwrap();
    assert_eq!(
        net.message_delay(Node::Agent(0), Node::Master, 1024)
            .unwrap()
            .as_nanos(),
        50_000 + 891
    );
}

/// Behind a 4:1 uplink (4 agents of 10 Gbit/s share 10 Gbit/s), 8 flows leaving the
/// rack saturate it: a message from the rack to the master crosses the agent's idle
/// NIC, the uplink (1.25e9/9 B/s: 1024 B in 7372.8 → 7373 ns) and the master's NIC.
#[test]
fn a_saturated_uplink_delays_control_traffic_of_the_agents_behind_it() {
    let t0 = SimTime::ZERO;
    let config = NetworkConfig {
        topology: TopologyConfig::two_tier(8, 4, Some(NIC)),
        ..NetworkConfig::flat(8)
    };
    let mut net = Network::new(config).unwrap();
    let idle = net
        .message_delay(Node::Agent(3), Node::Master, 1024)
        .unwrap();
    // agent3→tor0, tor0→core, core→master.
    assert_eq!(idle.as_nanos(), 75_000 + 820);
    for i in 0..8 {
        net.start_flow(t0, flow(agent(i % 3), agent(4 + i % 4), 1 << 40))
            .unwrap();
    }
    let loaded = net
        .message_delay(Node::Agent(3), Node::Master, 1024)
        .unwrap();
    assert_eq!(loaded.as_nanos(), 75_000 + 7373);
    // The other rack's agents receive but do not send: their uplink is idle.
    let rack1 = net
        .message_delay(Node::Agent(7), Node::Master, 1024)
        .unwrap();
    assert_eq!(rack1.as_nanos(), 75_000 + 820);
}

/// Random starts, aborts and completions on a 4:1 two-tier network with uniform
/// traffic (one big component: the search falls back to whole-graph refills) and with
/// rack-local traffic (small components): after every change each active flow's rate
/// equals the rate a network built from scratch with the same flows, filled in full
/// once, gives it. The oracle shares no state, no laziness and no fallback.
#[test]
fn incremental_rates_match_a_fresh_full_fill_after_random_changes() {
    for (seed, local) in [(1, false), (2, true), (3, false)] {
        let config = |recompute| NetworkConfig {
            topology: TopologyConfig::two_tier(48, 8, Some(2 * NIC)),
            recompute,
            ..NetworkConfig::flat(48)
        };
        let mut net = Network::new(config(Recompute::Incremental)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut now = SimTime::ZERO;
        let mut active: Vec<(FlowId, FlowSpec)> = Vec::new();
        for step in 0..300 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let n = rng.random_range(1..6);
                    let specs: Vec<FlowSpec> = (0..n)
                        .map(|_| {
                            let src = rng.random_range(0..48);
                            let dst = if local {
                                src / 8 * 8 + (src % 8 + rng.random_range(1..8)) % 8
                            } else {
                                (src + rng.random_range(1..48)) % 48
                            };
                            FlowSpec {
                                cap: (rng.random_range(0..5) == 0)
                                    .then(|| rng.random_range(1_000_000..NIC)),
                                ..flow(agent(src), agent(dst), rng.random_range(1..500_000_000))
                            }
                        })
                        .collect();
                    for (r, spec) in net.start_flows(now, &specs).into_iter().zip(specs) {
                        active.push((r.unwrap(), spec));
                    }
                }
                6 if !active.is_empty() => {
                    let (f, _) = active.remove(rng.random_range(0..active.len()));
                    net.abort_flow(now, f).unwrap();
                }
                _ => {
                    if let Some(t) = net.next_completion() {
                        now = t;
                        let done: Vec<FlowId> = net.advance(now).iter().map(|c| c.id).collect();
                        active.retain(|(f, _)| !done.contains(f));
                    }
                }
            }
            let mut oracle = Network::new(config(Recompute::Full)).unwrap();
            let specs: Vec<FlowSpec> = active.iter().map(|&(_, s)| s).collect();
            let fresh = oracle.start_flows(now, &specs);
            for ((f, _), o) in active.iter().zip(fresh) {
                assert_eq!(
                    net.rate(*f),
                    oracle.rate(o.unwrap()),
                    "seed {seed} step {step} flow {f:?}"
                );
            }
            assert_eq!(net.active_flows(), active.len());
        }
        assert!(active.len() > 20, "seed {seed}: the network stayed busy");
    }
}

#[test]
fn removing_a_container_aborts_exactly_the_flows_it_sends_or_receives() {
    let t0 = SimTime::ZERO;
    let mut net = flat(3);
    let a = net.add_container(0, None).unwrap();
    let b = net.add_container(1, None).unwrap();
    let (ca, cb) = (Endpoint::Container(a), Endpoint::Container(b));
    let big = 1 << 40;
    let sends = net.start_flow(t0, flow(ca, agent(2), big)).unwrap();
    let receives = net.start_flow(t0, flow(agent(2), ca, big)).unwrap();
    let other = net.start_flow(t0, flow(cb, agent(2), big)).unwrap();
    let to_b = net.start_flow(t0, flow(ca, cb, big)).unwrap();
    let unrelated = net.start_flow(t0, flow(agent(1), agent(2), big)).unwrap();
    // A flow that already ended is not aborted again.
    let ended = net.start_flow(t0, flow(ca, agent(1), big)).unwrap();
    net.abort_flow(t0, ended).unwrap();

    let (_, aborted) = net.remove_container(t0, a).unwrap();
    assert_eq!(aborted, [sends, receives, to_b], "in id order");
    assert_eq!(net.active_flows(), 2);
    for gone in [sends, receives, to_b] {
        assert_eq!(
            net.abort_flow(t0, gone),
            Err(NetworkError::UnknownFlow(gone.0))
        );
    }
    // The two left share agent 1's NIC up and agent 2's NIC down: half each.
    assert_eq!(net.rate(other), Some(NIC / 2));
    assert_eq!(net.rate(unrelated), Some(NIC / 2));
    // B's own list forgot the flow from A: removing B aborts only its sender.
    let (_, aborted) = net.remove_container(t0, b).unwrap();
    assert_eq!(aborted, [other]);
    assert_eq!(net.rate(unrelated), Some(NIC));
}
