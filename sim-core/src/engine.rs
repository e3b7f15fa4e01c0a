//! The engine: simulated `now`, the pending-event queue, and the loop that dispatches typed events to a [`Handler`].
//!
//! See the [crate documentation](crate) for the ordering guarantees and for how a model
//! composes components under one handler.

use crate::clock::{Clock, VirtualClock};
use crate::queue::{EventQueue, QueueMemory};
use crate::time::{SimDuration, SimTime};

pub use crate::queue::TimerId;

/// Receives every event the engine dispatches.
///
/// `E` is the model's closed event enum; the handler usually `match`es on it and
/// forwards each variant to the component that owns the state (see the crate docs).
pub trait Handler<E> {
    /// Handles `event`, due at `ctx.now()`. The handler may schedule and cancel events
    /// and stop the run through `ctx`.
    fn handle(&mut self, event: E, ctx: &mut Context<'_, E>);
}

/// Any `FnMut(E, &mut Context<E>)` closure is a handler (handy in tests and examples).
impl<E, F> Handler<E> for F
where
    F: FnMut(E, &mut Context<'_, E>),
{
    #[inline]
    fn handle(&mut self, event: E, ctx: &mut Context<'_, E>) {
        self(event, ctx)
    }
}

/// Sees every event just before its handler runs (metrics, event logs, tracing).
///
/// An observer cannot change the simulation: it gets the event by reference and no
/// [`Context`].
pub trait Observer<E> {
    /// Called with the event's time (the new `now`) and the event, before the handler.
    fn observe(&mut self, now: SimTime, event: &E);
}

/// Any `FnMut(SimTime, &E)` closure is an observer.
impl<E, F> Observer<E> for F
where
    F: FnMut(SimTime, &E),
{
    #[inline]
    fn observe(&mut self, now: SimTime, event: &E) {
        self(now, event)
    }
}

/// The observer that does nothing (what [`Engine::run_until`] uses).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl<E> Observer<E> for NoObserver {
    #[inline(always)]
    fn observe(&mut self, _now: SimTime, _event: &E) {}
}

/// What a run did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RunOutcome {
    /// Events dispatched by this call.
    pub events: u64,
    /// True if a handler called [`Context::stop`]; the run ended right after that
    /// handler returned and `now` is that event's time.
    pub stopped: bool,
    /// The engine's `now` when the call returned.
    pub now: SimTime,
}

/// A handler's view of the engine while it handles one event.
pub struct Context<'a, E> {
    queue: &'a mut EventQueue<E>,
    now: SimTime,
    stop: &'a mut bool,
}

impl<E> Context<'_, E> {
    /// The current simulated time (the time of the event being handled).
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`; see [`Engine::schedule_at`].
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> TimerId {
        schedule(self.queue, self.now, at, event)
    }

    /// Schedules `event` `delay` after now; see [`Engine::schedule_after`].
    #[inline]
    pub fn schedule_after(&mut self, delay: SimDuration, event: E) -> TimerId {
        let at = self.now + delay;
        self.queue.push(at, event)
    }

    /// Cancels a pending event; see [`Engine::cancel`].
    #[inline]
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.queue.cancel(id)
    }

    /// True if `id` is still pending (neither fired nor cancelled).
    #[inline]
    pub fn is_pending(&self, id: TimerId) -> bool {
        self.queue.is_pending(id)
    }

    /// Number of pending events (not counting the one being handled).
    #[inline]
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The time of the earliest pending event, if any. A handler that must run after
    /// everything else due at this instant (e.g. a scripted step) re-schedules itself
    /// at `now` while this equals `now`.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Ends the current run after this handler returns. Events stay queued; a later
    /// `run*` call continues with them.
    #[inline]
    pub fn stop(&mut self) {
        *self.stop = true;
    }
}

#[inline]
fn schedule<E>(queue: &mut EventQueue<E>, now: SimTime, at: SimTime, event: E) -> TimerId {
    if at < now {
        scheduled_in_past(at, now);
    }
    queue.push(at, event)
}

#[cold]
#[inline(never)]
fn scheduled_in_past(at: SimTime, now: SimTime) -> ! {
    panic!("schedule_at: {at} is before now ({now}); events are never scheduled in the past")
}

/// A discrete-event engine over the model's event type `E`.
///
/// Events are dispatched in (time, scheduling order): see the crate docs for the
/// guarantees. The engine never reads the wall clock; pacing is the job of a [`Clock`].
pub struct Engine<E> {
    queue: EventQueue<E>,
    now: SimTime,
    stop: bool,
    dispatched: u64,
}

impl<E> Default for Engine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Engine<E> {
    /// An engine at [`SimTime::ZERO`] with nothing scheduled.
    pub fn new() -> Self {
        Engine {
            queue: EventQueue::new(),
            now: SimTime::ZERO,
            stop: false,
            dispatched: 0,
        }
    }

    /// Like [`Engine::new`], with room reserved for `pending` simultaneous events.
    pub fn with_capacity(pending: usize) -> Self {
        Engine {
            queue: EventQueue::with_capacity(pending),
            ..Self::new()
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at` and returns an id that can cancel it.
    ///
    /// Events at the same instant are dispatched in the order they were scheduled; an
    /// event scheduled at `now` runs after every event already scheduled at `now`.
    ///
    /// # Panics
    /// If `at < now()`: events are never scheduled in the past.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> TimerId {
        schedule(&mut self.queue, self.now, at, event)
    }

    /// Schedules `event` at `now() + delay`.
    ///
    /// # Panics
    /// If `now() + delay` passes [`SimTime::MAX`].
    #[inline]
    pub fn schedule_after(&mut self, delay: SimDuration, event: E) -> TimerId {
        let at = self.now + delay;
        self.queue.push(at, event)
    }

    /// Cancels the pending event `id`; returns `false` if it already fired or was
    /// cancelled (ids of fired or cancelled events never match a later event). O(1).
    #[inline]
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.queue.cancel(id)
    }

    /// True if `id` is still pending (neither fired nor cancelled).
    #[inline]
    pub fn is_pending(&self, id: TimerId) -> bool {
        self.queue.is_pending(id)
    }

    /// Number of pending events (cancelled ones are not counted).
    #[inline]
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The time of the next pending event, if any. Not for per-event use: it may scan
    /// part of the queue (see [`EventQueue::peek_time`]).
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Events dispatched since the engine was created, over all runs and steps.
    pub fn dispatched(&self) -> u64 {
        self.dispatched
    }

    /// Memory held by the event queue (for benchmarks and capacity planning).
    pub fn queue_memory(&self) -> QueueMemory {
        self.queue.memory()
    }

    /// Dispatches every event with time `<= until`, then sets `now` to `until`, unless a
    /// handler calls [`Context::stop`] (then `now` is the stopping event's time).
    ///
    /// # Panics
    /// If `until < now()`: time never goes backwards.
    pub fn run_until<H: Handler<E>>(&mut self, handler: &mut H, until: SimTime) -> RunOutcome {
        self.drive(
            handler,
            &mut VirtualClock::new(),
            &mut NoObserver,
            Some(until),
        )
    }

    /// Dispatches events until none is pending or a handler stops the run. `now` is
    /// left at the last dispatched event's time.
    pub fn run<H: Handler<E>>(&mut self, handler: &mut H) -> RunOutcome {
        self.drive(handler, &mut VirtualClock::new(), &mut NoObserver, None)
    }

    /// Dispatches the next pending event, if any; returns whether one was dispatched.
    /// A [`Context::stop`] inside it has no effect beyond this step.
    pub fn step<H: Handler<E>>(&mut self, handler: &mut H) -> bool {
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        self.dispatch(handler, &mut NoObserver, at, event);
        self.stop = false;
        true
    }

    /// [`Engine::run_until`], showing every event to `observer` before its handler.
    pub fn run_until_observed<H: Handler<E>, O: Observer<E>>(
        &mut self,
        handler: &mut H,
        observer: &mut O,
        until: SimTime,
    ) -> RunOutcome {
        self.drive(handler, &mut VirtualClock::new(), observer, Some(until))
    }

    /// [`Engine::run`], showing every event to `observer` before its handler.
    pub fn run_observed<H: Handler<E>, O: Observer<E>>(
        &mut self,
        handler: &mut H,
        observer: &mut O,
    ) -> RunOutcome {
        self.drive(handler, &mut VirtualClock::new(), observer, None)
    }

    /// [`Engine::run_until`] paced by `clock`: before each event the engine calls
    /// [`Clock::reach_event`], and at the end (if not stopped) [`Clock::reach_horizon`].
    pub fn run_until_with_clock<H: Handler<E>, C: Clock>(
        &mut self,
        handler: &mut H,
        clock: &mut C,
        until: SimTime,
    ) -> RunOutcome {
        self.drive(handler, clock, &mut NoObserver, Some(until))
    }

    /// The general form: a clock, an observer, and an optional horizon (`None` runs until
    /// the queue is empty or a handler stops).
    pub fn run_with<H: Handler<E>, C: Clock, O: Observer<E>>(
        &mut self,
        handler: &mut H,
        clock: &mut C,
        observer: &mut O,
        until: Option<SimTime>,
    ) -> RunOutcome {
        self.drive(handler, clock, observer, until)
    }

    #[inline]
    fn dispatch<H: Handler<E>, O: Observer<E>>(
        &mut self,
        handler: &mut H,
        observer: &mut O,
        at: SimTime,
        event: E,
    ) {
        self.now = at;
        self.dispatched += 1;
        observer.observe(at, &event);
        let mut ctx = Context {
            queue: &mut self.queue,
            now: at,
            stop: &mut self.stop,
        };
        handler.handle(event, &mut ctx);
    }

    #[inline]
    fn drive<H: Handler<E>, C: Clock, O: Observer<E>>(
        &mut self,
        handler: &mut H,
        clock: &mut C,
        observer: &mut O,
        until: Option<SimTime>,
    ) -> RunOutcome {
        if let Some(until) = until {
            assert!(
                until >= self.now,
                "run_until: {until} is before now ({}); time never goes backwards",
                self.now
            );
        }
        self.stop = false;
        let mut events = 0;
        loop {
            let next = match until {
                Some(limit) => self.queue.pop_until(limit),
                None => self.queue.pop(),
            };
            let Some((at, event)) = next else { break };
            clock.reach_event(at);
            self.dispatch(handler, observer, at, event);
            events += 1;
            if self.stop {
                self.stop = false;
                return RunOutcome {
                    events,
                    stopped: true,
                    now: self.now,
                };
            }
        }
        if let Some(until) = until {
            clock.reach_horizon(until);
            self.now = until;
        }
        RunOutcome {
            events,
            stopped: false,
            now: self.now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Ev {
        Mark(u32),
        Spawn { n: u32, delay: u64 },
        Stop,
        CancelThen(TimerId),
    }

    /// Records (time in ns, mark) for every `Mark`.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<(u64, u32)>,
        cancel_results: Vec<bool>,
    }

    impl Handler<Ev> for Recorder {
        fn handle(&mut self, event: Ev, ctx: &mut Context<'_, Ev>) {
            match event {
                Ev::Mark(m) => self.seen.push((ctx.now().as_nanos(), m)),
                Ev::Spawn { n, delay } => {
                    for i in 0..n {
                        ctx.schedule_after(SimDuration::from_nanos(delay), Ev::Mark(i));
                    }
                }
                Ev::Stop => ctx.stop(),
                Ev::CancelThen(id) => {
                    let r = ctx.cancel(id);
                    self.cancel_results.push(r);
                }
            }
        }
    }

    fn ns(n: u64) -> SimTime {
        SimTime::from_nanos(n)
    }

    #[test]
    fn equal_time_events_run_in_scheduling_order() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        // Interleave times so that equal-time events are not pushed back to back.
        for i in 0..30u32 {
            e.schedule_at(ns(u64::from(i % 3) * 1000), Ev::Mark(i));
        }
        e.run(&mut r);
        let expected: Vec<(u64, u32)> = (0..3u64)
            .flat_map(|t| {
                (0..30u32)
                    .filter(move |i| u64::from(i % 3) == t)
                    .map(move |i| (t * 1000, i))
            })
            .collect();
        assert_eq!(r.seen, expected);
    }

    #[test]
    fn zero_delay_event_runs_after_those_already_due_now() {
        let mut e = Engine::new();
        let mut order = Vec::new();
        e.schedule_at(ns(5), 1u32);
        e.schedule_at(ns(5), 2);
        e.run(&mut |ev: u32, ctx: &mut Context<'_, u32>| {
            order.push(ev);
            if ev == 1 {
                ctx.schedule_after(SimDuration::ZERO, 3);
            }
        });
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn spawned_events_at_same_instant_keep_order() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        e.schedule_at(ns(10), Ev::Spawn { n: 5, delay: 7 });
        e.schedule_at(ns(17), Ev::Mark(99));
        e.run(&mut r);
        // Mark(99) was scheduled before the spawned marks, at the same instant 17.
        assert_eq!(
            r.seen,
            [(17, 99), (17, 0), (17, 1), (17, 2), (17, 3), (17, 4)]
        );
    }

    #[test]
    fn cancellation() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        let a = e.schedule_at(ns(10), Ev::Mark(1));
        let b = e.schedule_at(ns(20), Ev::Mark(2));
        assert_eq!(e.pending(), 2);
        assert!(e.cancel(a));
        assert!(!e.cancel(a));
        assert_eq!(e.pending(), 1);
        // A handler cancels b before it fires, then tries again after.
        e.schedule_at(ns(15), Ev::CancelThen(b));
        e.schedule_at(ns(16), Ev::CancelThen(b));
        e.run(&mut r);
        assert!(r.seen.is_empty());
        assert_eq!(r.cancel_results, [true, false]);
        assert!(!e.is_pending(b));
    }

    #[test]
    fn cancel_after_fire_and_id_reuse() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        let a = e.schedule_at(ns(1), Ev::Mark(1));
        assert!(e.step(&mut r));
        assert!(!e.cancel(a), "cancel after fire");
        // The slot of `a` is reused; `a` must not cancel the new event.
        let b = e.schedule_at(ns(2), Ev::Mark(2));
        assert_ne!(a, b);
        assert!(!e.cancel(a));
        assert!(e.is_pending(b));
        e.run(&mut r);
        assert_eq!(r.seen, [(1, 1), (2, 2)]);
    }

    #[test]
    fn run_until_semantics() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        for t in [5u64, 10, 15] {
            e.schedule_at(ns(t), Ev::Mark(t as u32));
        }
        let out = e.run_until(&mut r, ns(10));
        assert_eq!(
            out,
            RunOutcome {
                events: 2,
                stopped: false,
                now: ns(10)
            }
        );
        assert_eq!(e.now(), ns(10), "events at exactly `until` are included");
        let out = e.run_until(&mut r, ns(12));
        assert_eq!(
            (out.events, e.now()),
            (0, ns(12)),
            "now advances with no events"
        );
        // Scheduling between the horizon and the next event is allowed.
        e.schedule_at(ns(13), Ev::Mark(13));
        assert_eq!(e.next_event_time(), Some(ns(13)));
        let out = e.run(&mut r);
        assert_eq!(out.events, 2);
        assert_eq!(e.now(), ns(15), "run leaves now at the last event");
        assert_eq!(r.seen, [(5, 5), (10, 10), (13, 13), (15, 15)]);
        assert_eq!(e.dispatched(), 4);
        assert!(!e.step(&mut r));
    }

    #[test]
    fn stop_ends_the_run_and_a_later_run_resumes() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        e.schedule_at(ns(1), Ev::Mark(1));
        e.schedule_at(ns(2), Ev::Stop);
        e.schedule_at(ns(2), Ev::Mark(2));
        e.schedule_at(ns(3), Ev::Mark(3));
        let out = e.run_until(&mut r, ns(100));
        assert_eq!(
            out,
            RunOutcome {
                events: 2,
                stopped: true,
                now: ns(2)
            }
        );
        assert_eq!(
            e.now(),
            ns(2),
            "a stopped run_until leaves now at the stop event"
        );
        assert_eq!(e.pending(), 2);
        let out = e.run_until(&mut r, ns(100));
        assert_eq!(
            out,
            RunOutcome {
                events: 2,
                stopped: false,
                now: ns(100)
            }
        );
        assert_eq!(r.seen, [(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn observer_sees_every_event_before_the_handler() {
        let mut e = Engine::new();
        let mut log = Vec::new();
        e.schedule_at(ns(3), Ev::Spawn { n: 2, delay: 1 });
        let mut r = Recorder::default();
        e.run_until_observed(
            &mut r,
            &mut |t: SimTime, ev: &Ev| log.push((t.as_nanos(), ev.clone())),
            ns(10),
        );
        assert_eq!(
            log,
            [
                (3, Ev::Spawn { n: 2, delay: 1 }),
                (4, Ev::Mark(0)),
                (4, Ev::Mark(1))
            ]
        );
    }

    /// A clock that logs every call.
    #[derive(Default)]
    struct LogClock(Vec<(char, u64)>);
    impl Clock for LogClock {
        fn reach_event(&mut self, at: SimTime) {
            self.0.push(('e', at.as_nanos()));
        }
        fn reach_horizon(&mut self, until: SimTime) {
            self.0.push(('h', until.as_nanos()));
        }
    }

    #[test]
    fn clock_is_asked_to_reach_each_event_then_the_horizon() {
        let mut e = Engine::new();
        let mut r = Recorder::default();
        e.schedule_at(ns(4), Ev::Mark(0));
        e.schedule_at(ns(4), Ev::Mark(1));
        e.schedule_at(ns(9), Ev::Mark(2));
        let mut c = LogClock::default();
        e.run_until_with_clock(&mut r, &mut c, ns(20));
        assert_eq!(c.0, [('e', 4), ('e', 4), ('e', 9), ('h', 20)]);
        let mut v = VirtualClock::new();
        e.schedule_at(ns(25), Ev::Mark(3));
        e.run_until_with_clock(&mut r, &mut v, ns(30));
        assert_eq!(v.reached(), ns(30));
    }

    #[test]
    #[should_panic(expected = "events are never scheduled in the past")]
    fn scheduling_in_the_past_panics() {
        let mut e: Engine<Ev> = Engine::new();
        e.run_until(&mut Recorder::default(), ns(10));
        e.schedule_at(ns(9), Ev::Mark(0));
    }

    #[test]
    #[should_panic(expected = "time never goes backwards")]
    fn run_until_before_now_panics() {
        let mut e: Engine<Ev> = Engine::new();
        e.run_until(&mut Recorder::default(), ns(10));
        e.run_until(&mut Recorder::default(), ns(5));
    }
}
