//! Seeded randomized test: the event queue against a trivially correct reference (a vector sorted by (time, sequence number)).

use rand::{Rng, RngCore};
use sim_core::{Context, Engine, EventQueue, RngStreams, SimDuration, SimRng, SimTime, TimerId};

/// The reference: pending events as (time, seq, payload), kept sorted.
#[derive(Default)]
struct Reference {
    pending: Vec<(u64, u64, u64)>,
    next_seq: u64,
    last_pop: u64,
}

impl Reference {
    fn push(&mut self, time: u64, payload: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pos = self
            .pending
            .partition_point(|&(t, s, _)| (t, s) < (time, seq));
        self.pending.insert(pos, (time, seq, payload));
        seq
    }

    fn cancel(&mut self, seq: u64) -> bool {
        match self.pending.iter().position(|&(_, s, _)| s == seq) {
            Some(i) => {
                self.pending.remove(i);
                true
            }
            None => false,
        }
    }

    fn pop_until(&mut self, limit: u64) -> Option<(u64, u64)> {
        match self.pending.first() {
            Some(&(t, _, p)) if t <= limit => {
                self.pending.remove(0);
                self.last_pop = t;
                Some((t, p))
            }
            _ => None,
        }
    }
}

/// A delay with many exact ties, small gaps and occasional huge jumps, so every bucket
/// of the radix structure and the equal-time path are exercised.
fn delay(rng: &mut SimRng) -> u64 {
    match rng.random_range(0..10u32) {
        0..=2 => 0,
        3..=4 => rng.random_range(0..4),
        5..=7 => rng.random_range(0..2_000),
        8 => rng.random_range(0..1 << 30),
        _ => rng.next_u64() >> rng.random_range(20..40u32),
    }
}

/// Percentages of (push, cancel, pop, pop_until); the rest is peek.
type Mix = (u32, u32, u32, u32);
const BALANCED: Mix = (45, 15, 30, 7);
/// Cancels as often as pushes: exercises lazy deletion and compaction.
const CANCEL_HEAVY: Mix = (40, 35, 15, 5);

fn run_one(seed: u64, ops: usize, mix: Mix) {
    let (push, cancel, pop, pop_until) = mix;
    let mut rng = RngStreams::new(seed).stream("queue-reference");
    let mut q: EventQueue<u64> = EventQueue::new();
    let mut r = Reference::default();
    // Every id ever issued, with its reference sequence number (ids stay in the list
    // after they fire or are cancelled, to test stale ids).
    let mut ids: Vec<(TimerId, u64)> = Vec::new();
    // A floor below which pushes are not allowed: the last popped time, or a limit that
    // a `pop_until` returned `None` for (the engine moves `now` there).
    let mut now = 0u64;
    for op in 0..ops {
        let dice = rng.random_range(0..100u32);
        if dice < push {
            let t = now + delay(&mut rng);
            let payload = op as u64;
            let id = q.push(SimTime::from_nanos(t), payload);
            let seq = r.push(t, payload);
            ids.push((id, seq));
        } else if dice < push + cancel {
            if !ids.is_empty() {
                // Prefer recent ids (likely pending) but also hit old, stale ones.
                let i = if rng.random_bool(0.7) {
                    ids.len() - 1 - rng.random_range(0..ids.len().min(8))
                } else {
                    rng.random_range(0..ids.len())
                };
                let (id, seq) = ids[i];
                assert_eq!(
                    q.is_pending(id),
                    r.pending.iter().any(|e| e.1 == seq),
                    "seed {seed} op {op}: is_pending"
                );
                assert_eq!(q.cancel(id), r.cancel(seq), "seed {seed} op {op}: cancel");
            }
        } else if dice < push + cancel + pop {
            let got = q.pop().map(|(t, p)| (t.as_nanos(), p));
            assert_eq!(got, r.pop_until(u64::MAX), "seed {seed} op {op}: pop");
            if let Some((t, _)) = got {
                now = t;
            }
        } else if dice < push + cancel + pop + pop_until {
            let limit = now + delay(&mut rng);
            let got = q
                .pop_until(SimTime::from_nanos(limit))
                .map(|(t, p)| (t.as_nanos(), p));
            assert_eq!(
                got,
                r.pop_until(limit),
                "seed {seed} op {op}: pop_until({limit})"
            );
            now = match got {
                Some((t, _)) => t,
                None => limit,
            };
        } else {
            let want = r.pending.first().map(|e| SimTime::from_nanos(e.0));
            assert_eq!(q.peek_time(), want, "seed {seed} op {op}: peek_time");
        }
        assert_eq!(q.len(), r.pending.len(), "seed {seed} op {op}: len");
    }
    // Drain: everything left comes out in reference order.
    while let Some((t, p)) = q.pop() {
        assert_eq!(
            Some((t.as_nanos(), p)),
            r.pop_until(u64::MAX),
            "seed {seed}: drain"
        );
    }
    assert!(r.pending.is_empty(), "seed {seed}: queue lost events");
}

#[test]
fn queue_matches_sorted_vec_reference() {
    for seed in 0..60 {
        run_one(seed, 5_000, BALANCED);
        run_one(seed, 5_000, CANCEL_HEAVY);
    }
    run_one(1_000, 100_000, BALANCED);
    run_one(1_001, 100_000, CANCEL_HEAVY);
}

/// The same check one level up: handlers schedule and cancel through the engine's
/// public API; the dispatch log must equal the reference's (time, seq) order.
#[test]
fn engine_dispatch_order_matches_reference() {
    #[derive(Debug)]
    enum Ev {
        Work(u64),
    }
    for seed in 0..20u64 {
        let mut rng = RngStreams::new(seed).stream("engine-reference");
        let mut engine: Engine<Ev> = Engine::new();
        let mut reference = Reference::default();
        let mut ids: Vec<(TimerId, u64)> = Vec::new();
        let mut next_payload = 0u64;
        for _ in 0..50 {
            let t = delay(&mut rng) % 10_000;
            ids.push((
                engine.schedule_at(SimTime::from_nanos(t), Ev::Work(next_payload)),
                reference.push(t, next_payload),
            ));
            next_payload += 1;
        }
        let mut log = Vec::new();
        let mut expected = Vec::new();
        let mut handler = |ev: Ev, ctx: &mut Context<'_, Ev>| {
            let Ev::Work(p) = ev;
            let now = ctx.now().as_nanos();
            let want = reference
                .pop_until(u64::MAX)
                .expect("reference has the event");
            expected.push(want);
            log.push((now, p));
            if next_payload < 3_000 {
                for _ in 0..rng.random_range(0..3u32) {
                    let d = delay(&mut rng) % 100_000;
                    let id = ctx.schedule_after(SimDuration::from_nanos(d), Ev::Work(next_payload));
                    ids.push((id, reference.push(now + d, next_payload)));
                    next_payload += 1;
                }
                if rng.random_bool(0.3) {
                    let (id, seq) = ids[rng.random_range(0..ids.len())];
                    assert_eq!(ctx.cancel(id), reference.cancel(seq));
                }
            }
        };
        engine.run(&mut handler);
        assert_eq!(log, expected, "seed {seed}");
        assert!(reference.pending.is_empty());
    }
}
