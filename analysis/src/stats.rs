//! Summary statistics: percentiles, fairness, time-weighted means, confidence intervals.

/// Nearest-rank percentile of an ascending slice: the smallest value such that at least
/// `p` percent of the values are less than or equal to it. `None` for an empty slice.
///
/// Nearest-rank (rather than interpolation) keeps integer inputs integer, so percentiles
/// of nanosecond waits stay exact and reproducible.
pub fn percentile_sorted(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Jain's fairness index `(Σx)² / (n·Σx²)`: 1 when all values are equal, `1/n` when one
/// value holds everything. Defined as 1 for an empty input or all zeros (nobody is
/// treated worse than anybody else).
pub fn jain_index(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let sum_sq: f64 = values.iter().map(|v| v * v).sum();
    if values.is_empty() || sum_sq == 0.0 {
        return 1.0;
    }
    sum * sum / (values.len() as f64 * sum_sq)
}

/// Arithmetic mean; `None` for an empty input.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Mean and half-width of a two-sided 95% confidence interval (Student's t) over
/// independent samples, e.g. the same figure from several seeds. The half-width is 0
/// for a single sample: one seed says nothing about the spread.
pub fn mean_ci95(values: &[f64]) -> Option<(f64, f64)> {
    let m = mean(values)?;
    let n = values.len();
    if n < 2 {
        return Some((m, 0.0));
    }
    let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64;
    Some((m, student_t_975(n - 1) * (var / n as f64).sqrt()))
}

/// The 97.5% quantile of Student's t distribution for `df` degrees of freedom (table
/// values to three decimals; the normal quantile 1.960 beyond 30).
fn student_t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.960,
    }
}

/// Integrates a piecewise-constant integer signal over integer time, for time-weighted
/// means (utilization, dominant share, queue length) without floating-point drift.
#[derive(Debug, Clone, Default)]
pub struct TimeWeighted {
    start_ns: u64,
    last_ns: u64,
    value: i128,
    area: i128,
}

impl TimeWeighted {
    /// Starts integrating at `start_ns` with the signal at `value`.
    pub fn new(start_ns: u64, value: i64) -> Self {
        Self {
            start_ns,
            last_ns: start_ns,
            value: value as i128,
            area: 0,
        }
    }

    /// The signal changes to `value` at `now_ns` (which must not go backwards).
    pub fn set(&mut self, now_ns: u64, value: i64) {
        self.advance(now_ns);
        self.value = value as i128;
    }

    /// Adds `delta` to the signal at `now_ns`.
    pub fn add(&mut self, now_ns: u64, delta: i64) {
        self.advance(now_ns);
        self.value += delta as i128;
    }

    /// The current value of the signal.
    pub fn current(&self) -> i64 {
        self.value as i64
    }

    /// The time-weighted mean over `[start, end_ns]`; the current value if no time passed.
    pub fn mean(&self, end_ns: u64) -> f64 {
        let mut copy = self.clone();
        copy.advance(end_ns);
        let span = copy.last_ns - copy.start_ns;
        if span == 0 {
            copy.value as f64
        } else {
            copy.area as f64 / span as f64
        }
    }

    fn advance(&mut self, now_ns: u64) {
        assert!(
            now_ns >= self.last_ns,
            "time-weighted signal went back in time"
        );
        self.area += self.value * (now_ns - self.last_ns) as i128;
        self.last_ns = now_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_match_hand_computation() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile_sorted(&v, 50.0), Some(5));
        assert_eq!(percentile_sorted(&v, 95.0), Some(10));
        assert_eq!(percentile_sorted(&v, 0.0), Some(1));
        assert_eq!(percentile_sorted(&v, 100.0), Some(10));
        assert_eq!(percentile_sorted(&[], 50.0), None);
        assert_eq!(percentile_sorted(&[7, 9], 50.0), Some(7));
    }

    #[test]
    fn jain_index_extremes() {
        assert!((jain_index(&[2.0, 2.0, 2.0]) - 1.0).abs() < 1e-12);
        assert!((jain_index(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        // (1+3)^2 / (2 * (1+9)) = 16/20
        assert!((jain_index(&[1.0, 3.0]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn confidence_interval_by_hand() {
        // mean 2, sample sd 1, n = 3: 4.303 * 1/sqrt(3)
        let (m, h) = mean_ci95(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12);
        assert!((h - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(mean_ci95(&[5.0]), Some((5.0, 0.0)));
        assert_eq!(mean_ci95(&[]), None);
    }

    #[test]
    fn time_weighted_mean_integrates_steps() {
        let mut s = TimeWeighted::new(0, 0);
        s.set(10, 4); // 0 for 10 ns
        s.add(20, -2); // 4 for 10 ns, then 2
        assert!((s.mean(40) - (40.0 + 40.0) / 40.0).abs() < 1e-12);
        assert_eq!(s.current(), 2);
        assert_eq!(TimeWeighted::new(5, 3).mean(5), 3.0);
    }
}
