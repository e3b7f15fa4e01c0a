//! The wall clock: paces the engine so each event is dispatched when its simulated time is due in real time, and records how late dispatches were.
//!
//! sim-core never reads the wall clock; it asks a [`sim_core::Clock`] to reach each
//! event's time. [`WallClock`] maps simulated time onto [`Instant`]s (simulated
//! `anchor` = the instant the clock was created, one simulated second = one real
//! second), sleeps until an event is due, and records the *lag*: how long after its
//! due instant each event was actually released for dispatch.

use std::time::{Duration, Instant};

use sim_core::{Clock, SimTime};

/// A [`Clock`] that runs the simulation in real time.
#[derive(Clone, Debug)]
pub struct WallClock {
    /// The real instant that corresponds to simulated `anchor`.
    origin: Instant,
    /// The simulated instant that corresponds to `origin`.
    anchor: SimTime,
    events: u64,
    total_lag: Duration,
    max_lag: Duration,
}

impl WallClock {
    /// A clock on which simulated [`SimTime::ZERO`] is now.
    pub fn new() -> Self {
        Self::anchored(SimTime::ZERO)
    }

    /// A clock on which simulated `anchor` is now (to resume a simulation at its
    /// current `now` in real time).
    pub fn anchored(anchor: SimTime) -> Self {
        WallClock {
            origin: Instant::now(),
            anchor,
            events: 0,
            total_lag: Duration::ZERO,
            max_lag: Duration::ZERO,
        }
    }

    /// The real instant at which simulated `at` is due (`at` before the anchor is due
    /// at once).
    pub fn due(&self, at: SimTime) -> Instant {
        let offset = at.saturating_duration_since(self.anchor);
        self.origin + Duration::from_nanos(offset.as_nanos())
    }

    /// Events released so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The largest lag of any event so far (zero before the first event).
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// The mean lag over all events so far (zero before the first event).
    pub fn mean_lag(&self) -> Duration {
        match u32::try_from(self.events) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.total_lag / n,
            // More than 4 billion events: divide in nanoseconds instead.
            Err(_) => {
                Duration::from_nanos((self.total_lag.as_nanos() / u128::from(self.events)) as u64)
            }
        }
    }

    /// Sleeps until `due` has passed; returns the instant it woke up at.
    fn sleep_until(due: Instant) -> Instant {
        loop {
            let now = Instant::now();
            if now >= due {
                return now;
            }
            std::thread::sleep(due - now);
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for WallClock {
    fn reach_event(&mut self, at: SimTime) {
        let due = self.due(at);
        let released = Self::sleep_until(due);
        let lag = released - due;
        self.events += 1;
        self.total_lag += lag;
        self.max_lag = self.max_lag.max(lag);
    }

    fn reach_horizon(&mut self, until: SimTime) {
        Self::sleep_until(self.due(until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Context, Engine, SimDuration};

    #[test]
    fn events_are_not_dispatched_before_they_are_due() {
        let mut engine = Engine::new();
        engine.schedule_at(SimTime::ZERO + SimDuration::from_millis(20), 20u64);
        engine.schedule_at(SimTime::ZERO + SimDuration::from_millis(5), 5u64);
        let mut clock = WallClock::new();
        let start = clock.origin;
        let mut seen = Vec::new();
        let mut handler = |ms: u64, ctx: &mut Context<'_, u64>| {
            seen.push((ms, start.elapsed(), ctx.now()));
        };
        let out = engine.run_until_with_clock(
            &mut handler,
            &mut clock,
            SimTime::ZERO + SimDuration::from_millis(30),
        );
        assert_eq!(out.events, 2);
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [5, 20]);
        for (ms, wall, _) in &seen {
            assert!(
                *wall >= Duration::from_millis(*ms),
                "event due at {ms} ms dispatched after only {wall:?}"
            );
        }
        // run_until returns once the horizon is due in real time as well.
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(clock.events(), 2);
        assert!(clock.max_lag() >= clock.mean_lag());
        // Generous bound: lag is scheduler latency, far below a second even on busy CI.
        assert!(
            clock.max_lag() < Duration::from_secs(1),
            "lag {:?}",
            clock.max_lag()
        );
    }

    #[test]
    fn lag_measures_lateness_when_the_clock_is_behind() {
        let mut clock = WallClock::anchored(SimTime::from_secs(100));
        std::thread::sleep(Duration::from_millis(10));
        // Due at the anchor, i.e. 10 ms ago: released at once, about 10 ms late.
        clock.reach_event(SimTime::from_secs(100));
        assert_eq!(clock.events(), 1);
        assert!(clock.max_lag() >= Duration::from_millis(10));
        assert_eq!(clock.mean_lag(), clock.max_lag());
        // Times before the anchor are due immediately.
        assert_eq!(clock.due(SimTime::ZERO), clock.origin);
    }
}
