//! Integer simulated time: instants ([`SimTime`]) and spans ([`SimDuration`]) in `u64` nanoseconds.
//!
//! Both types are thin newtypes over a count of nanoseconds, so they are `Copy`, totally
//! ordered, hashable and exactly comparable. `u64` nanoseconds cover about 584 years of
//! simulated time. Arithmetic that would leave that range is a broken invariant and
//! panics with a message naming it; the `checked_*` and `saturating_*` methods exist for
//! callers that want to handle the edge themselves.
//!
//! Floats appear only at the boundary ([`SimDuration::from_secs_f64`],
//! [`SimDuration::as_secs_f64`], [`SimTime::as_secs_f64`]), rounded explicitly.

use core::fmt;
use core::ops::{Add, AddAssign, Mul, Sub, SubAssign};

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_MICRO: u64 = 1_000;

/// An instant of simulated time: nanoseconds since the start of the simulation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

/// A span of simulated time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every simulation.
    pub const ZERO: SimTime = SimTime(0);
    /// The last representable instant (about 584 years after [`SimTime::ZERO`]).
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `nanos` nanoseconds after [`SimTime::ZERO`].
    pub const fn from_nanos(nanos: u64) -> SimTime {
        SimTime(nanos)
    }

    /// The instant `secs` whole seconds after [`SimTime::ZERO`]; panics on overflow.
    pub const fn from_secs(secs: u64) -> SimTime {
        SimTime(SimDuration::from_secs(secs).0)
    }

    /// Nanoseconds since [`SimTime::ZERO`].
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since [`SimTime::ZERO`] as a float (for reports and plots only).
    pub fn as_secs_f64(self) -> f64 {
        SimDuration(self.0).as_secs_f64()
    }

    /// The span from [`SimTime::ZERO`] to this instant.
    pub const fn since_zero(self) -> SimDuration {
        SimDuration(self.0)
    }

    /// `self + d`, or `None` if that would pass [`SimTime::MAX`].
    pub const fn checked_add(self, d: SimDuration) -> Option<SimTime> {
        match self.0.checked_add(d.0) {
            Some(n) => Some(SimTime(n)),
            None => None,
        }
    }

    /// `self + d`, clamped to [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }

    /// The span from `earlier` to `self`, or `None` if `earlier` is later than `self`.
    pub const fn checked_duration_since(self, earlier: SimTime) -> Option<SimDuration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later than `self`.
    pub const fn saturating_duration_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// The empty span.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> SimDuration {
        SimDuration(nanos)
    }

    /// A span of `micros` microseconds; panics on overflow.
    pub const fn from_micros(micros: u64) -> SimDuration {
        SimDuration::scaled(micros, NANOS_PER_MICRO)
    }

    /// A span of `millis` milliseconds; panics on overflow.
    pub const fn from_millis(millis: u64) -> SimDuration {
        SimDuration::scaled(millis, NANOS_PER_MILLI)
    }

    /// A span of `secs` seconds; panics on overflow.
    pub const fn from_secs(secs: u64) -> SimDuration {
        SimDuration::scaled(secs, NANOS_PER_SEC)
    }

    const fn scaled(n: u64, unit: u64) -> SimDuration {
        match n.checked_mul(unit) {
            Some(v) => SimDuration(v),
            None => panic!("SimDuration overflow: the span does not fit in u64 nanoseconds"),
        }
    }

    /// A span of `secs` seconds, rounded to the nearest nanosecond.
    ///
    /// This is the float boundary (trace files, scenario files, sampled distributions).
    /// Panics if `secs` is negative, NaN, or too large for `u64` nanoseconds.
    pub fn from_secs_f64(secs: f64) -> SimDuration {
        let nanos = (secs * NANOS_PER_SEC as f64).round();
        assert!(
            nanos >= 0.0 && nanos < u64::MAX as f64,
            "SimDuration::from_secs_f64: {secs} s is not a non-negative span that fits in u64 nanoseconds"
        );
        SimDuration(nanos as u64)
    }

    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The span in seconds as a float (for reports and plots only).
    pub fn as_secs_f64(self) -> f64 {
        (self.0 / NANOS_PER_SEC) as f64 + (self.0 % NANOS_PER_SEC) as f64 / NANOS_PER_SEC as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: SimDuration) -> Option<SimDuration> {
        match self.0.checked_add(other.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other` is longer.
    pub const fn checked_sub(self, other: SimDuration) -> Option<SimDuration> {
        match self.0.checked_sub(other.0) {
            Some(n) => Some(SimDuration(n)),
            None => None,
        }
    }

    /// `self - other`, or zero if `other` is longer.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
}

/// `SimTime + SimDuration`: panics if the result passes [`SimTime::MAX`].
impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    #[inline]
    fn add(self, d: SimDuration) -> SimTime {
        match self.0.checked_add(d.0) {
            Some(n) => SimTime(n),
            None => panic!("SimTime overflow: {self} + {d} passes the end of representable time"),
        }
    }
}

impl AddAssign<SimDuration> for SimTime {
    #[inline]
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

/// `SimTime - SimDuration`: panics if the result would be before [`SimTime::ZERO`].
impl Sub<SimDuration> for SimTime {
    type Output = SimTime;
    #[inline]
    fn sub(self, d: SimDuration) -> SimTime {
        match self.0.checked_sub(d.0) {
            Some(n) => SimTime(n),
            None => panic!("SimTime underflow: {self} - {d} is before time zero"),
        }
    }
}

/// `SimTime - SimTime` is **checked**: it panics when the right-hand side is the later
/// instant (a span cannot be negative). Use [`SimTime::saturating_duration_since`] or
/// [`SimTime::checked_duration_since`] when the order is not known.
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    #[inline]
    fn sub(self, earlier: SimTime) -> SimDuration {
        match self.0.checked_sub(earlier.0) {
            Some(n) => SimDuration(n),
            None => panic!(
                "SimTime subtraction: {earlier} is later than {self}; spans are never negative"
            ),
        }
    }
}

/// `SimDuration + SimDuration`: panics on overflow.
impl Add for SimDuration {
    type Output = SimDuration;
    #[inline]
    fn add(self, other: SimDuration) -> SimDuration {
        match self.0.checked_add(other.0) {
            Some(n) => SimDuration(n),
            None => {
                panic!("SimDuration overflow: {self} + {other} does not fit in u64 nanoseconds")
            }
        }
    }
}

impl AddAssign for SimDuration {
    #[inline]
    fn add_assign(&mut self, other: SimDuration) {
        *self = *self + other;
    }
}

/// `SimDuration - SimDuration`: panics if the result would be negative.
impl Sub for SimDuration {
    type Output = SimDuration;
    #[inline]
    fn sub(self, other: SimDuration) -> SimDuration {
        match self.0.checked_sub(other.0) {
            Some(n) => SimDuration(n),
            None => panic!(
                "SimDuration subtraction: {other} is longer than {self}; spans are never negative"
            ),
        }
    }
}

impl SubAssign for SimDuration {
    #[inline]
    fn sub_assign(&mut self, other: SimDuration) {
        *self = *self - other;
    }
}

/// `SimDuration * u64`: panics on overflow.
impl Mul<u64> for SimDuration {
    type Output = SimDuration;
    #[inline]
    fn mul(self, k: u64) -> SimDuration {
        match self.0.checked_mul(k) {
            Some(n) => SimDuration(n),
            None => panic!("SimDuration overflow: {self} * {k} does not fit in u64 nanoseconds"),
        }
    }
}

/// Seconds with nine decimals, e.g. `12.500000000s`.
fn fmt_nanos(nanos: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let s = format_args!("{}.{:09}s", nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC);
    // `pad` would need a `&str`; widths are rare for times, so honour them via a String.
    if f.width().is_some() {
        f.pad(&s.to_string())
    } else {
        f.write_fmt(s)
    }
}

/// Seconds with nine decimals, e.g. `12.500000000s`.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

/// Seconds with nine decimals, e.g. `0.001000000s`.
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimTime({self})")
    }
}

impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimDuration({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree() {
        assert_eq!(SimDuration::from_secs(2).as_nanos(), 2_000_000_000);
        assert_eq!(SimDuration::from_millis(3).as_nanos(), 3_000_000);
        assert_eq!(SimDuration::from_micros(5).as_nanos(), 5_000);
        assert_eq!(SimDuration::from_nanos(7).as_nanos(), 7);
        assert_eq!(SimTime::from_secs(4), SimTime::from_nanos(4_000_000_000));
        assert_eq!(
            SimDuration::from_secs_f64(0.0015),
            SimDuration::from_micros(1500)
        );
        assert_eq!(
            SimDuration::from_secs_f64(1e-9 * 0.6),
            SimDuration::from_nanos(1)
        );
    }

    #[test]
    fn arithmetic() {
        let t = SimTime::ZERO + SimDuration::from_millis(1500);
        assert_eq!(t.as_nanos(), 1_500_000_000);
        assert_eq!(t - SimTime::from_secs(1), SimDuration::from_millis(500));
        assert_eq!(
            SimTime::from_secs(1).saturating_duration_since(t),
            SimDuration::ZERO
        );
        assert_eq!(SimTime::from_secs(1).checked_duration_since(t), None);
        assert_eq!(SimDuration::from_millis(2) * 3, SimDuration::from_millis(6));
        assert_eq!(SimDuration::from_millis(1500).as_secs_f64(), 1.5);
        assert_eq!(SimTime::MAX.checked_add(SimDuration::from_nanos(1)), None);
    }

    #[test]
    #[should_panic(expected = "spans are never negative")]
    fn negative_span_panics() {
        let _ = SimTime::from_secs(1) - SimTime::from_secs(2);
    }

    #[test]
    #[should_panic(expected = "SimTime overflow")]
    fn overflow_panics() {
        let _ = SimTime::MAX + SimDuration::from_nanos(1);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(
            SimTime::from_nanos(12_500_000_000).to_string(),
            "12.500000000s"
        );
        assert_eq!(SimDuration::from_millis(1).to_string(), "0.001000000s");
        assert_eq!(format!("{:?}", SimTime::ZERO), "SimTime(0.000000000s)");
        assert_eq!(
            format!("{:>14}", SimDuration::from_secs(1)),
            "  1.000000000s"
        );
    }

    #[test]
    fn ordering_is_numeric() {
        let mut v = vec![
            SimTime::from_nanos(3),
            SimTime::ZERO,
            SimTime::from_nanos(2),
        ];
        v.sort();
        assert_eq!(
            v,
            [
                SimTime::ZERO,
                SimTime::from_nanos(2),
                SimTime::from_nanos(3)
            ]
        );
    }
}
