//! Distributions of durations and counts in scenario files, sampled from seeded streams.
//!
//! Samples are drawn as `f64` from rand_distr and rounded to integers right here, at the
//! boundary, so everything downstream (time, counts) stays integer.

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};

/// A distribution over non-negative values (nanoseconds or counts).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Always the same value.
    Constant(u64),
    /// Uniform over the integers `[min, max]`.
    Uniform {
        /// Lower bound, inclusive.
        min: u64,
        /// Upper bound, inclusive.
        max: u64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// The mean.
        mean: f64,
    },
    /// Log-normal with the given median (`e^μ`) and σ.
    LogNormal {
        /// The median.
        median: f64,
        /// σ of the underlying normal.
        sigma: f64,
    },
    /// Normal truncated at zero.
    Normal {
        /// The mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
}

impl Dist {
    /// Draws one value, rounded to the nearest integer and never negative.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let x = match *self {
            Dist::Constant(v) => return v,
            Dist::Uniform { min, max } => return rng.random_range(min..=max),
            Dist::Exponential { mean } => {
                Exp::new(1.0 / mean).map(|d| d.sample(rng)).unwrap_or(mean)
            }
            Dist::LogNormal { median, sigma } => LogNormal::new(median.ln(), sigma)
                .map(|d| d.sample(rng))
                .unwrap_or(median),
            Dist::Normal { mean, sd } => {
                Normal::new(mean, sd).map(|d| d.sample(rng)).unwrap_or(mean)
            }
        };
        if x.is_finite() && x > 0.0 {
            x.round().min(u64::MAX as f64) as u64
        } else {
            0
        }
    }

    /// The distribution's mean, for summaries and sanity checks.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Constant(v) => v as f64,
            Dist::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            Dist::Exponential { mean } | Dist::Normal { mean, .. } => mean,
            Dist::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sample_mean(d: &Dist, n: usize) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n).map(|_| d.sample(&mut rng) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_approach_the_analytic_mean() {
        for d in [
            Dist::Exponential { mean: 1000.0 },
            Dist::LogNormal {
                median: 1000.0,
                sigma: 0.5,
            },
            Dist::Uniform { min: 10, max: 20 },
            Dist::Normal {
                mean: 500.0,
                sd: 50.0,
            },
        ] {
            let m = sample_mean(&d, 50_000);
            assert!(
                (m - d.mean()).abs() / d.mean() < 0.03,
                "{d:?}: {m} vs {}",
                d.mean()
            );
        }
    }

    #[test]
    fn constant_and_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Dist::Constant(5).sample(&mut rng), 5);
        for _ in 0..1000 {
            let v = Dist::Uniform { min: 3, max: 4 }.sample(&mut rng);
            assert!((3..=4).contains(&v));
            assert!(
                Dist::Normal {
                    mean: 0.0,
                    sd: 10.0
                }
                .sample(&mut rng)
                    < 100
            );
        }
    }
}
