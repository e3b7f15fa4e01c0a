//! Clocks: how simulated time relates to real time. [`VirtualClock`] runs as fast as possible.
//!
//! The engine asks its clock to *reach* an event's time before dispatching the event.
//! A virtual clock returns at once; a wall clock (in the `live` crate, because sim-core
//! never reads the wall clock) sleeps until the event is due. The same model code runs
//! under either.

use crate::time::SimTime;

/// Paces the engine. Implementations decide how long "reaching" an instant takes.
///
/// The engine calls the methods with non-decreasing instants, never earlier than the
/// engine's `now` at the time of the call.
pub trait Clock {
    /// Returns once the event scheduled at `at` may be dispatched. The engine
    /// dispatches it (observer, then handler) immediately afterwards.
    fn reach_event(&mut self, at: SimTime);

    /// Returns once `until` is due, at the end of an `Engine::run_until_*` call that was
    /// not stopped (no event is dispatched at `until` itself unless one was scheduled).
    /// The default returns at once.
    fn reach_horizon(&mut self, until: SimTime) {
        let _ = until;
    }
}

/// A clock that never waits: simulated time jumps from event to event.
///
/// It remembers the latest instant it was asked to reach, which tests use to check the
/// engine's calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualClock {
    reached: SimTime,
}

impl VirtualClock {
    /// A virtual clock at [`SimTime::ZERO`].
    pub const fn new() -> Self {
        VirtualClock {
            reached: SimTime::ZERO,
        }
    }

    /// The latest instant this clock was asked to reach.
    pub const fn reached(&self) -> SimTime {
        self.reached
    }
}

impl Clock for VirtualClock {
    #[inline]
    fn reach_event(&mut self, at: SimTime) {
        self.reached = at;
    }

    #[inline]
    fn reach_horizon(&mut self, until: SimTime) {
        self.reached = until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_records_and_returns_immediately() {
        let mut c = VirtualClock::new();
        assert_eq!(c.reached(), SimTime::ZERO);
        c.reach_event(SimTime::from_secs(3600));
        assert_eq!(c.reached(), SimTime::from_secs(3600));
        c.reach_horizon(SimTime::from_secs(7200));
        assert_eq!(c.reached(), SimTime::from_secs(7200));
    }
}
