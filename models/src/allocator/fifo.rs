//! `fifo`: a global FIFO first-fit baseline (not Mesos): frameworks in registration order, each offered the agents in id order.
//!
//! Every active framework, in the order it registered, and each of its roles that may
//! receive offers (subscribed, not suppressed), in subscription order, is offered the
//! candidate agents in id order. An offer is coarse-grained, like Mesos's: everything
//! on the agent the role may use and the framework is capable of. So the first
//! framework takes every agent it is not filtered from, and later frameworks get what
//! it could not use (other roles' reservations, revocable resources it cannot take,
//! agents it declined with a filter). Filters, suppression, reservations-to-role,
//! capabilities and `min_allocatable_resources` apply exactly as in `hdrf`; quota and
//! weights are ignored.

use std::collections::BTreeMap;

use sim_core::time::SimTime;

use super::book::{Book, Policy};
use super::{Allocation, Candidates};

/// The FIFO first-fit policy.
pub(crate) struct Fifo;

impl Policy for Fifo {
    fn allocate(
        &mut self,
        b: &mut Book,
        _now: SimTime,
        candidates: &Candidates,
    ) -> Vec<Allocation> {
        let agents = b.candidate_agents(candidates);
        let mut out = Vec::new();
        let mut shared = BTreeMap::new();
        for (fw, fr_idx) in b.eligible_players() {
            for &agent in &agents {
                b.offer_whole(&mut out, &mut shared, agent, fw, fr_idx);
            }
        }
        out
    }
}
