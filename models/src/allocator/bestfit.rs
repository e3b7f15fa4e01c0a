//! `bestfit`: a packing baseline (not Mesos): frameworks take turns, each receiving the busiest agent that still has something for it.
//!
//! The rule, per cycle:
//! 1. The candidate agents are ranked once by how much is free on them, as the sum
//!    over `cpus` and `mem` of `available / cluster total`, **ascending** (busiest
//!    first; ties by agent id). Fewest-free-first packs new work onto agents that are
//!    already in use and keeps empty agents whole for large tasks (best fit by free
//!    capacity, as in bin packing).
//! 2. The players are the active frameworks in registration order, each with each of
//!    its roles that may receive offers (subscribed, not suppressed).
//! 3. Players take turns round-robin. In its turn a player walks the ranking from where
//!    it stopped last and receives the whole free part of the first agent it may use
//!    (coarse-grained, as in Mesos: everything its role may use and it is capable of),
//!    then the turn passes. An agent that fails for a player is not tried again by it
//!    in this cycle (agents only lose resources during a cycle). A player that reaches
//!    the end of the ranking drops out; the cycle ends when every player has.
//!
//! So frameworks share agents one at a time instead of the first framework taking
//! everything (`fifo`), and the busiest agents go first. Filters, suppression,
//! reservations-to-role, capabilities and `min_allocatable_resources` apply exactly as
//! in `hdrf`; quota and weights are ignored.

use std::collections::BTreeMap;

use sim_core::time::SimTime;

use super::book::{Book, Policy};
use super::{AgentId, Allocation, Candidates};
use crate::resources::ResourceName;

/// The best-fit packing policy (stateless between cycles).
#[derive(Default)]
pub(crate) struct BestFit;

impl Policy for BestFit {
    fn allocate(
        &mut self,
        b: &mut Book,
        _now: SimTime,
        candidates: &Candidates,
    ) -> Vec<Allocation> {
        let agents = b.candidate_agents(candidates);
        let dims = [ResourceName::Cpus, ResourceName::Mem];
        let totals: Vec<i64> = dims.iter().map(|d| b.total.get(d)).collect();
        let mut ranked: Vec<(f64, AgentId)> = agents
            .iter()
            .filter_map(|&id| {
                let a = b.agent(id)?;
                let free: f64 = dims
                    .iter()
                    .zip(&totals)
                    .filter(|(_, &t)| t > 0)
                    .map(|(d, &t)| a.available.scalar_milli(d) as f64 / t as f64)
                    .sum();
                Some((free, id))
            })
            .collect();
        ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));

        let mut out = Vec::new();
        let mut shared = BTreeMap::new();
        let players = b.eligible_players();
        let mut cursor = vec![0usize; players.len()];
        let mut live: Vec<usize> = (0..players.len()).collect();
        while !live.is_empty() {
            live.retain(|&p| {
                let (fw, fr_idx) = players[p];
                while cursor[p] < ranked.len() {
                    let agent = ranked[cursor[p]].1;
                    cursor[p] += 1;
                    if b.offer_whole(&mut out, &mut shared, agent, fw, fr_idx) {
                        return true;
                    }
                }
                false
            });
        }
        out
    }
}
