//! Network benchmark: flows starting and ending on a 1,000-agent two-tier topology
//! with 10,000 concurrent flows, incremental fair-share recomputation against a full
//! recomputation measured in the same run.
//!
//! # Setting
//!
//! * 1,000 agents in 25 racks of 40 under ToR switches, 10 Gbit/s NICs;
//! * 10,000 flows of 1 MB–1 GB between agents, kept concurrent: each step completes
//!   the next flow due ([`Network::next_completion`] / [`Network::advance`]) and starts
//!   a new one, so a step is two updates (one end, one start);
//! * two traffic patterns: `rack_local` (a shuffle within each rack; non-blocking
//!   uplinks) and `uniform` (any agent to any agent; uplinks oversubscribed 4:1).
//!
//! The same network (same flows, same state) is timed for up to `steps` steps (or a
//! time budget, whichever ends first) with
//! [`Recompute::Incremental`] and, from an identical clone, with [`Recompute::Full`]
//! (quick mode: in four interleaved rounds, the best rate of each side counting), timed
//! by the thread's CPU time.
//! Max-min allocations of different components of the flow/link graph are independent,
//! so the incremental policy only recomputes the component a change touched; with
//! uniform traffic the NICs join almost every flow into one component and the two
//! policies do about the same work, which the record shows rather than hides.

use std::fmt::Write as _;

use models::network::{
    Endpoint, FlowSpec, Network, NetworkConfig, Node, Recompute, TopologyConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::time::SimTime;

use crate::timing::Stopwatch;

/// One measured pattern.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetworkBenchRecord {
    /// Traffic pattern: `rack_local` or `uniform`.
    pub pattern: String,
    /// Agents in the topology.
    pub agents: u32,
    /// Concurrent flows.
    pub flows: usize,
    /// Updates (flow starts plus flow ends) per second with incremental recomputation.
    pub updates_per_sec_incremental: f64,
    /// Updates per second recomputing every flow on each change (the baseline).
    pub updates_per_sec_full: f64,
    /// `updates_per_sec_incremental / updates_per_sec_full`.
    pub speedup: f64,
    /// Mean number of flows whose rate was recomputed per update, incrementally.
    pub mean_flows_recomputed: f64,
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct NetworkBenchOptions {
    /// 100 agents and 1,000 flows, fewer steps (the CI suite).
    pub quick: bool,
}

/// The traffic patterns measured.
pub const PATTERNS: [&str; 2] = ["rack_local", "uniform"];

#[derive(Clone)]
struct Churn {
    net: Network,
    rng: ChaCha8Rng,
    now: SimTime,
    agents: u32,
    rack: u32,
    local: bool,
}

impl Churn {
    fn new(agents: u32, flows: usize, local: bool) -> Churn {
        let rack = 40;
        let uplink = (!local).then_some(u64::from(rack) * 1_250_000_000 / 4);
        let config = NetworkConfig {
            topology: TopologyConfig::two_tier(agents, rack, uplink),
            ..NetworkConfig::flat(agents)
        };
        let mut churn = Churn {
            net: Network::new(config).expect("valid bench topology"),
            rng: ChaCha8Rng::seed_from_u64(42),
            now: SimTime::ZERO,
            agents,
            rack,
            local,
        };
        let specs: Vec<FlowSpec> = (0..flows).map(|_| churn.spec()).collect();
        for r in churn.net.start_flows(churn.now, &specs) {
            r.expect("agents exist");
        }
        churn
    }

    fn start(&mut self) {
        let spec = self.spec();
        self.net.start_flow(self.now, spec).expect("agents exist");
    }

    fn spec(&mut self) -> FlowSpec {
        let src = self.rng.random_range(0..self.agents);
        let dst = if self.local {
            let base = src / self.rack * self.rack;
            let span = self.rack.min(self.agents - base);
            base + (src - base + self.rng.random_range(1..span)) % span
        } else {
            (src + self.rng.random_range(1..self.agents)) % self.agents
        };
        FlowSpec {
            src: Endpoint::Host(Node::Agent(src)),
            dst: Endpoint::Host(Node::Agent(dst)),
            bytes: self.rng.random_range(1_000_000..1_000_000_000),
            cap: None,
        }
    }

    /// One completion and one start; returns the updates made (2).
    fn step(&mut self) -> u64 {
        let t = self.net.next_completion().expect("flows are moving");
        self.now = t;
        let ended = self.net.advance(t).len() as u64;
        self.start();
        ended + 1
    }
}

/// Times up to `steps` steps, stopping early once `budget` seconds of wall time have
/// passed; returns the updates made, the flows recomputed and the thread's CPU
/// seconds (see [`crate::timing`]).
fn time_steps(churn: &mut Churn, steps: usize, budget: f64) -> (u64, u64, f64) {
    let before = churn.net.updates();
    let watch = Stopwatch::start();
    let mut updates = 0;
    for _ in 0..steps {
        updates += churn.step();
        if watch.wall_elapsed().as_secs_f64() > budget {
            break;
        }
    }
    let secs = watch.elapsed().as_secs_f64().max(1e-9);
    (updates, churn.net.updates() - before, secs)
}

/// Runs both patterns.
pub fn run(options: &NetworkBenchOptions) -> Vec<NetworkBenchRecord> {
    // Quick mode splits its steps into interleaved rounds (incremental, full,
    // incremental, ...) and keeps each side's best rate, so a burst of load on the
    // machine does not land on one side only.
    let (agents, flows, steps, budget, rounds) = if options.quick {
        (100, 1_000, 100, 0.15, 4)
    } else {
        (1_000, 10_000, 5_000, 3.0, 1)
    };
    PATTERNS
        .iter()
        .map(|&pattern| {
            // Both policies run on clones of one prototype, so their flows sit in
            // memory the same way (a clone lays each flow's vectors out afresh, which
            // alone made the cloned side faster).
            let proto = Churn::new(agents, flows, pattern == "rack_local");
            let mut inc = proto.clone();
            let mut full = proto.clone();
            drop(proto);
            full.net.set_recompute(Recompute::Full);
            let (mut ups_inc, mut ups_full) = (0.0f64, 0.0f64);
            let (mut updates, mut recomputed) = (0, 0);
            for _ in 0..rounds {
                let (n, flows_recomputed, secs) = time_steps(&mut inc, steps, budget);
                ups_inc = ups_inc.max(n as f64 / secs);
                updates += n;
                recomputed += flows_recomputed;
                let (n, _, secs) = time_steps(&mut full, steps, budget);
                ups_full = ups_full.max(n as f64 / secs);
            }
            NetworkBenchRecord {
                pattern: pattern.to_string(),
                agents,
                flows,
                updates_per_sec_incremental: ups_inc,
                updates_per_sec_full: ups_full,
                speedup: ups_inc / ups_full.max(1e-9),
                mean_flows_recomputed: recomputed as f64 / updates.max(1) as f64,
            }
        })
        .collect()
}

/// A plain-text table of the records.
pub fn render_table(records: &[NetworkBenchRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>11} {:>7} {:>7} {:>14} {:>14} {:>9} {:>12}",
        "pattern", "agents", "flows", "incr upd/s", "full upd/s", "speedup", "flows/upd"
    );
    for r in records {
        let _ = writeln!(
            s,
            "{:>11} {:>7} {:>7} {:>14.0} {:>14.0} {:>8.1}x {:>12.1}",
            r.pattern,
            r.agents,
            r.flows,
            r.updates_per_sec_incremental,
            r.updates_per_sec_full,
            r.speedup,
            r.mean_flows_recomputed
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_keeps_the_flow_count_and_both_policies_agree() {
        let mut inc = Churn::new(80, 400, true);
        let mut full = inc.clone();
        full.net.set_recompute(Recompute::Full);
        for _ in 0..50 {
            assert_eq!(inc.step(), full.step());
            assert_eq!(inc.now, full.now);
        }
        assert_eq!(inc.net.active_flows(), 400);
        let t = render_table(&run(&NetworkBenchOptions { quick: true })[..1]);
        assert!(t.contains("rack_local"), "{t}");
    }
}
