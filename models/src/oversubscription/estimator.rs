//! Resource estimators: how many revocable CPUs an agent may offer.
//!
//! [`ResourceEstimator::oversubscribable`] is Mesos's `oversubscribable()`: the
//! *extra* revocable CPUs beyond those already allocated. [`ReportLoop`] is the agent's
//! side (`forwardOversubscribed`): total = revocable allocated + estimate, sent only
//! when it changed.

use super::AgentUsage;

/// Estimates allocated-but-unused CPU (milli-CPUs).
pub trait ResourceEstimator {
    /// The extra revocable milli-CPUs the agent can offer now, or `None` when the
    /// estimator never answers (the noop estimator's future never completes).
    fn oversubscribable(&mut self, usage: &AgentUsage) -> Option<u64>;
}

/// Never answers: no revocable resources ever appear.
#[derive(Debug, Default)]
pub struct Noop;

impl ResourceEstimator for Noop {
    fn oversubscribable(&mut self, _: &AgentUsage) -> Option<u64> {
        None
    }
}

/// Mesos's `FixedResourceEstimator`: `fixed − revocable allocated`, so the reported
/// total always equals `fixed`.
#[derive(Debug)]
pub struct Fixed {
    /// The revocable milli-CPUs to advertise.
    pub cpus: u64,
}

impl ResourceEstimator for Fixed {
    fn oversubscribable(&mut self, usage: &AgentUsage) -> Option<u64> {
        Some(self.cpus.saturating_sub(usage.revocable_allocated))
    }
}

/// Allocated minus smoothed usage, less a safety margin: the slack of the regular
/// containers, minus what revocable containers already hold.
///
/// Smoothing is an exponentially weighted moving average with weight `alpha`
/// per-mille on the newest sample; the margin is `margin` per-mille of the allocation.
#[derive(Debug)]
pub struct UsageBased {
    /// Weight of the newest sample, per-mille (1000 = no smoothing).
    pub alpha: u64,
    /// Safety margin, per-mille of allocated CPUs.
    pub margin: u64,
    smoothed: Option<u64>,
}

impl UsageBased {
    /// A usage-based estimator with the given smoothing weight and margin (per-mille).
    pub fn new(alpha: u64, margin: u64) -> UsageBased {
        UsageBased {
            alpha: alpha.clamp(1, 1000),
            margin,
            smoothed: None,
        }
    }
}

impl ResourceEstimator for UsageBased {
    fn oversubscribable(&mut self, usage: &AgentUsage) -> Option<u64> {
        let s = match self.smoothed {
            None => usage.used,
            Some(prev) => (self.alpha * usage.used + (1000 - self.alpha) * prev).div_ceil(1000),
        };
        self.smoothed = Some(s);
        let margin = usage.allocated * self.margin / 1000;
        let slack = usage.allocated.saturating_sub(s).saturating_sub(margin);
        Some(slack.saturating_sub(usage.revocable_allocated))
    }
}

/// The estimator by name with its parameters: `noop`, `fixed` (`fixed_cpus`), `usage`
/// (`alpha`, `margin`, per-mille).
pub fn by_name(
    name: &str,
    fixed_cpus: u64,
    alpha: u64,
    margin: u64,
) -> Option<Box<dyn ResourceEstimator>> {
    match name {
        "noop" => Some(Box::new(Noop)),
        "fixed" => Some(Box::new(Fixed { cpus: fixed_cpus })),
        "usage" => Some(Box::new(UsageBased::new(alpha, margin))),
        _ => None,
    }
}

/// The agent's estimation loop: what to send to the master, if anything.
#[derive(Debug, Default)]
pub struct ReportLoop {
    last_sent: Option<u64>,
}

impl ReportLoop {
    /// Asks `estimator` and returns the new revocable total to send, only when it
    /// differs from the last one sent.
    pub fn poll(
        &mut self,
        estimator: &mut dyn ResourceEstimator,
        usage: &AgentUsage,
    ) -> Option<u64> {
        let extra = estimator.oversubscribable(usage)?;
        let total = usage.revocable_allocated + extra;
        if self.last_sent == Some(total) {
            return None;
        }
        self.last_sent = Some(total);
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(allocated: u64, used: u64, rev: u64) -> AgentUsage {
        AgentUsage {
            capacity: 16_000,
            allocated,
            used,
            revocable_allocated: rev,
        }
    }

    #[test]
    fn noop_never_reports() {
        let mut l = ReportLoop::default();
        assert_eq!(l.poll(&mut Noop, &u(8000, 1000, 0)), None);
    }

    #[test]
    fn fixed_reports_its_value_once_whatever_is_allocated() {
        let mut e = Fixed { cpus: 14_000 };
        let mut l = ReportLoop::default();
        assert_eq!(l.poll(&mut e, &u(0, 0, 0)), Some(14_000));
        assert_eq!(l.poll(&mut e, &u(0, 0, 4000)), None);
        assert_eq!(e.oversubscribable(&u(0, 0, 4000)), Some(10_000));
    }

    #[test]
    fn usage_based_loop_over_a_scripted_trace() {
        // 10 CPUs allocated; usage 2, 2, 6, 6, 2 CPUs; alpha 500, margin 100 (1 CPU).
        // Smoothed: 2000, 2000, 4000, 5000, 3500 -> slack 7000, 7000, 5000, 4000, 5500.
        let mut e = UsageBased::new(500, 100);
        let mut l = ReportLoop::default();
        let trace = [
            (2000, 0),
            (2000, 0),
            (6000, 3000),
            (6000, 3000),
            (2000, 3000),
        ];
        let sent: Vec<Option<u64>> = trace
            .iter()
            .map(|&(used, rev)| l.poll(&mut e, &u(10_000, used, rev)))
            .collect();
        // Unchanged totals are not resent; with 3 CPUs allocated as revocable the
        // extra is slack - 3000, the total still the slack.
        assert_eq!(sent, [Some(7000), None, Some(5000), Some(4000), Some(5500)]);
    }

    #[test]
    fn usage_above_allocation_leaves_no_slack() {
        let mut e = UsageBased::new(1000, 0);
        assert_eq!(e.oversubscribable(&u(4000, 6000, 0)), Some(0));
    }

    #[test]
    fn a_shrinking_estimate_never_reports_below_what_is_allocated() {
        let mut e = UsageBased::new(1000, 0);
        let mut l = ReportLoop::default();
        assert_eq!(l.poll(&mut e, &u(8000, 7000, 3000)), Some(3000));
    }

    #[test]
    fn names_resolve() {
        for n in super::super::ESTIMATOR_NAMES {
            assert!(by_name(n, 1000, 500, 100).is_some());
        }
        assert!(by_name("magic", 0, 0, 0).is_none());
    }
}
