//! Usage profiles: how much of its request a task wants to use over time, as a
//! per-mille level (1000 = exactly its request, 2500 = two and a half times it).
//!
//! A profile is evaluated at the instants the caller chooses (the agent's usage
//! interval); between them the level is constant. All shapes are integer: the diurnal
//! shape is a triangle wave (a linear ramp between trough and peak), not a sine, so no
//! floating point decides a level.

use rand::Rng;
use sim_core::time::SimDuration;

/// A usage level over a task's lifetime, in per-mille of its request.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageProfile {
    /// Always the same level.
    Constant(u32),
    /// A fresh uniform draw in `[min, max]` at every evaluation.
    Uniform {
        /// Lowest level.
        min: u32,
        /// Highest level.
        max: u32,
    },
    /// A daily cycle: `trough` at `phase` into each period, rising linearly to `peak`
    /// half a period later and falling back.
    Diurnal {
        /// Lowest level.
        trough: u32,
        /// Highest level.
        peak: u32,
        /// Length of one cycle (a day in production; shorter in tests).
        period: SimDuration,
        /// Time of the trough, measured from the start of the task's cycle.
        phase: SimDuration,
    },
    /// Piecewise constant: each `(from, level)` holds from `from` (since the task
    /// started) until the next one; `repeat` restarts the table after that long.
    Table {
        /// Steps in increasing `from` order; the first must start at zero.
        steps: Vec<(SimDuration, u32)>,
        /// Period after which the table starts over, if any.
        repeat: Option<SimDuration>,
    },
}

impl UsageProfile {
    /// The level `elapsed` after the task started; `rng` is drawn from only by
    /// [`UsageProfile::Uniform`].
    pub fn level<R: Rng + ?Sized>(&self, elapsed: SimDuration, rng: &mut R) -> u32 {
        match self {
            UsageProfile::Constant(l) => *l,
            UsageProfile::Uniform { min, max } => rng.random_range(*min..=*max),
            UsageProfile::Diurnal {
                trough,
                peak,
                period,
                phase,
            } => {
                let p = period.as_nanos().max(1) as u128;
                let t = (elapsed.as_nanos() as u128 + p - phase.as_nanos() as u128 % p) % p;
                let half = p / 2;
                // Distance from the trough, folded: 0 at the trough, `half` at the peak.
                let x = if t <= half { t } else { p - t };
                let span = (*peak as i128 - *trough as i128) * x as i128 / half.max(1) as i128;
                (*trough as i128 + span) as u32
            }
            UsageProfile::Table { steps, repeat } => {
                let t = match repeat {
                    Some(r) if r.as_nanos() > 0 => elapsed.as_nanos() % r.as_nanos(),
                    _ => elapsed.as_nanos(),
                };
                steps
                    .iter()
                    .take_while(|(from, _)| from.as_nanos() <= t)
                    .last()
                    .map_or(0, |(_, l)| *l)
            }
        }
    }

    /// Scales `request` (milli-units) by the level at `elapsed`.
    pub fn demand<R: Rng + ?Sized>(&self, request: i64, elapsed: SimDuration, rng: &mut R) -> u64 {
        scale(request, self.level(elapsed, rng))
    }
}

/// `request × level / 1000` for a non-negative request, in u64 when it fits (the usual
/// case, and much cheaper than u128 division).
pub fn scale(request: i64, level: u32) -> u64 {
    let r = request.max(0) as u64;
    match r.checked_mul(level as u64) {
        Some(x) => x / 1000,
        None => (r as u128 * level as u128 / 1000) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn s(x: u64) -> SimDuration {
        SimDuration::from_secs(x)
    }

    #[test]
    fn diurnal_is_a_triangle_between_trough_and_peak() {
        let p = UsageProfile::Diurnal {
            trough: 200,
            peak: 1000,
            period: s(100),
            phase: s(0),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let at = |t: u64, rng: &mut ChaCha8Rng| p.level(s(t), rng);
        assert_eq!(at(0, &mut rng), 200);
        assert_eq!(at(25, &mut rng), 600);
        assert_eq!(at(50, &mut rng), 1000);
        assert_eq!(at(75, &mut rng), 600);
        assert_eq!(at(100, &mut rng), 200);
        assert_eq!(at(150, &mut rng), 1000);
    }

    #[test]
    fn a_phase_moves_the_trough() {
        let p = UsageProfile::Diurnal {
            trough: 0,
            peak: 1000,
            period: s(100),
            phase: s(50),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(p.level(s(0), &mut rng), 1000);
        assert_eq!(p.level(s(50), &mut rng), 0);
    }

    #[test]
    fn a_table_holds_each_step_and_repeats() {
        let p = UsageProfile::Table {
            steps: vec![(s(0), 100), (s(10), 900), (s(30), 400)],
            repeat: Some(s(60)),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let levels: Vec<u32> = [0, 9, 10, 29, 30, 59, 60, 75]
            .iter()
            .map(|&t| p.level(s(t), &mut rng))
            .collect();
        assert_eq!(levels, [100, 100, 900, 900, 400, 400, 100, 900]);
    }

    #[test]
    fn uniform_draws_stay_in_bounds_and_repeat_with_the_seed() {
        let p = UsageProfile::Uniform { min: 300, max: 700 };
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|i| p.level(s(i), &mut rng)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert!(a.iter().all(|l| (300..=700).contains(l)));
        assert_eq!(a, draw(7));
    }

    #[test]
    fn demand_scales_the_request() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            UsageProfile::Constant(2500).demand(2000, s(0), &mut rng),
            5000
        );
        assert_eq!(
            UsageProfile::Constant(333).demand(1000, s(0), &mut rng),
            333
        );
    }
}
