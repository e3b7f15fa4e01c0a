//! The pending-event set: a monotone multi-level radix queue with exact (time, scheduling order) FIFO and O(1) cancellation.
//!
//! # Structure
//!
//! A discrete-event simulation only ever schedules at or after the current instant, so
//! the pending times are *monotone*: no time pushed is earlier than the last one
//! popped. [`EventQueue`] exploits that with a radix heap (Ahuja, Mehlhorn, Orlin and
//! Tarjan, 1990) whose digits are 8 bits wide:
//!
//! * `last` is the time of the last extracted minimum (never later than the horizon,
//!   the engine's `now`); every stored time is `>= last`;
//! * `current` holds, in scheduling order, the entries whose time equals `last`;
//! * any other entry lives in bucket `(level, digit)`: `level` is the position of the
//!   8-bit digit holding the highest bit in which its time differs from `last`, and
//!   `digit` is its time's digit there. Buckets in `(level, digit)` order hold
//!   increasing, disjoint time ranges; each bucket knows its minimum time, and a
//!   two-level bitmap finds the lowest non-empty bucket in two `trailing_zeros`;
//! * to pop when `current` is empty, the lowest non-empty bucket's minimum `m` becomes
//!   `last`. A bucket holding a single entry hands it out directly; otherwise its
//!   entries move to `current` (time `m`) or to buckets of a strictly lower level. An
//!   entry moves at most 8 times over its life; in the hold benchmark about 1.3 times
//!   at 1,000 pending events and 2.6 times at a million. Moves are sequential reads
//!   and appends of 16-byte entries, which keeps the queue fast with a million
//!   pending events, where a comparison heap is bound by cache misses.
//!
//! Each bucket stores its first entry inline (small queues are mostly single-entry
//! buckets) and the rest in 16-entry chunks linked from a shared pool, so memory
//! follows the number of stored entries rather than each bucket's historical peak.
//! Bucket tables are allocated one level (256 buckets) at a time, up to the highest
//! level the scheduled delays have reached.
//!
//! Entries are `(time, slot, generation)`; payloads live in a slab indexed by slot and
//! never move while pending.
//!
//! # Ordering guarantee (why no sequence number is stored)
//!
//! Entries with equal times always sit in the same bucket (the bucket depends only on
//! the time and `last`), every push appends, every move drains one bucket front to
//! back into the backs of others, and compaction keeps relative order. So among
//! entries of equal time, the order inside any bucket and inside `current` is the order
//! in which they were scheduled, and `current` pops from the front: events at the same
//! instant come out first in, first out. The queue behaves exactly like a priority
//! queue on `(time, sequence number)`; the sequence number is implicit. The randomized
//! test in `tests/queue_reference.rs` checks this against a sorted-vector reference.
//!
//! # Cancellation
//!
//! Each pending event owns a slab slot with a `u32` generation; its [`TimerId`] is
//! `(slot, generation)`. Popping or cancelling an event drops or returns its payload,
//! bumps the slot's generation and frees the slot, so a stale id (fired, cancelled,
//! or from a slot since reused) never matches again. A slot whose generation would
//! wrap is retired (never reused), so ids are unique for the life of the queue.
//!
//! Cancellation is O(1): the payload is dropped at once, and the 16-byte entry stays
//! in its bucket until it is next moved or surfaces (recognised as dead by its
//! generation), or until dead entries outnumber live ones, when the queue compacts
//! every bucket in one pass.
//! Memory therefore stays within about twice the live set, at O(1) amortised cost.

use std::collections::VecDeque;
use std::mem;

use crate::time::SimTime;

/// Identifies one scheduled event, for [`EventQueue::cancel`] and
/// [`crate::engine::Engine::cancel`].
///
/// Ids are never confusable: an id stops matching as soon as its event fires or is
/// cancelled, even after its slot is reused by a later event.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimerId {
    slot: u32,
    gen: u32,
}

impl TimerId {
    /// A stable `u64` form of the id (for logs and keys); [`TimerId::from_bits`] inverts it.
    pub const fn to_bits(self) -> u64 {
        ((self.gen as u64) << 32) | self.slot as u64
    }

    /// The id whose [`TimerId::to_bits`] is `bits`.
    pub const fn from_bits(bits: u64) -> TimerId {
        TimerId {
            slot: bits as u32,
            gen: (bits >> 32) as u32,
        }
    }
}

/// One stored event reference: 16 bytes.
#[derive(Clone, Copy)]
struct Entry {
    time: u64,
    slot: u32,
    gen: u32,
}

/// A slab slot: the payload of a pending event, or nothing.
struct Slot<E> {
    /// Matches the pending entry's generation; bumped when the slot is freed.
    gen: u32,
    event: Option<E>,
}

/// Bits per radix digit.
const DIGIT_BITS: u32 = 8;
/// Buckets per level (one per digit value; digit 0 is never used: a time that
/// differs from `last` first at some level has the larger digit there).
const RADIX: usize = 1 << DIGIT_BITS;
/// Levels needed to cover a `u64` time.
const LEVELS: usize = u64::BITS.div_ceil(DIGIT_BITS) as usize;
/// Bucket count: bucket `level * RADIX + digit`.
const BUCKETS: usize = LEVELS * RADIX;
/// Words in the non-empty bitmap (at most 64, so that one summary word covers them).
const MASK_WORDS: usize = BUCKETS.div_ceil(64);
const _: () = assert!(MASK_WORDS <= 64, "the summary word must cover the bitmap");
/// Entries per overflow chunk (256 bytes).
const CHUNK: usize = 16;
/// "No chunk".
const NIL: u32 = u32::MAX;

/// Compaction never runs while fewer than this many dead entries are stored.
const COMPACT_FLOOR: usize = 64;

/// A radix bucket: its first entry inline (most buckets hold one entry when the queue
/// is small), the rest in a linked list of chunks.
#[derive(Clone, Copy)]
struct Bucket {
    /// The first entry in scheduling order; meaningful only while the bucket is
    /// non-empty (its bit is set in `occupied`).
    first: Entry,
    /// Minimum time in the bucket, dead entries included (`u64::MAX` when empty).
    min: u64,
    /// First and last chunk holding the entries after `first` (`NIL` when none).
    head: u32,
    tail: u32,
}

const EMPTY_BUCKET: Bucket = Bucket {
    first: Entry {
        time: 0,
        slot: 0,
        gen: 0,
    },
    min: u64::MAX,
    head: NIL,
    tail: NIL,
};

/// A fixed-capacity block of a bucket's entries, linked to the bucket's next block.
struct Chunk {
    entries: Vec<Entry>,
    next: u32,
}

/// How much memory an [`EventQueue`] holds, split into bookkeeping and payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueMemory {
    /// Entry places allocated (inline bucket heads, chunks, the equal-time FIFO).
    pub entry_capacity: usize,
    /// Bytes of everything except payloads: buckets, chunks and the equal-time FIFO over
    /// their allocated capacity, the slab's generations, tags and padding, free lists.
    pub bookkeeping_bytes: usize,
    /// Bytes the slab reserves for payloads: `slab capacity * size_of::<E>()`.
    pub payload_bytes: usize,
}

/// A monotone priority queue of events ordered by (time, scheduling order), with
/// cheap cancellation. See the [module documentation](self) for the structure.
///
/// *Architecture invariant:* times pushed are never earlier than the queue's
/// [`horizon`](EventQueue::horizon) (the last popped time, or the limit of the last
/// `pop_until` that found nothing due). [`EventQueue::push`] panics otherwise; the
/// engine guarantees it because its `now` equals the horizon and it refuses to
/// schedule before `now`.
pub struct EventQueue<E> {
    /// Entries with `time == last`, in scheduling order; popped from the front.
    current: VecDeque<Entry>,
    /// Buckets of the levels in use so far (grown a level at a time, up to `BUCKETS`).
    buckets: Vec<Bucket>,
    /// Bit `b % 64` of word `b / 64` is set iff bucket `b` is non-empty.
    occupied: [u64; MASK_WORDS],
    /// Bit `w` is set iff `occupied[w] != 0`.
    summary: u64,
    /// Chunk pool: every chunk is either in exactly one bucket's list or in `free_chunks`.
    chunks: Vec<Chunk>,
    free_chunks: Vec<u32>,
    /// The time of the last extracted minimum; every stored time is `>= last`.
    last: u64,
    /// The queue's present: the time of the last popped event, or the limit of the last
    /// `pop_until` that found nothing due. Pushes must not be earlier. `last <= horizon`.
    horizon: u64,
    /// Payloads by slot.
    slots: Vec<Slot<E>>,
    /// Free slots, used last-in first-out so a slot freed by a pop is reused (still in
    /// cache) by the push that the popped event's handler usually makes.
    free: Vec<u32>,
    /// Live (not cancelled, not yet popped) events.
    live: usize,
    /// Cancelled entries still stored.
    dead: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue whose horizon is time zero.
    pub fn new() -> Self {
        EventQueue {
            current: VecDeque::new(),
            buckets: Vec::new(),
            occupied: [0; MASK_WORDS],
            summary: 0,
            chunks: Vec::new(),
            free_chunks: Vec::new(),
            last: 0,
            horizon: 0,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            dead: 0,
        }
    }

    /// An empty queue with slab room for `n` pending events (chunks grow on demand).
    pub fn with_capacity(n: usize) -> Self {
        let mut q = Self::new();
        q.slots.reserve_exact(n);
        q
    }

    /// Number of pending (scheduled, not yet popped, not cancelled) events.
    #[inline]
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no event is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The queue's present: the time of the last popped event, or the `limit` of the
    /// last [`EventQueue::pop_until`] that found nothing due, whichever is later.
    /// Starts at zero. [`EventQueue::push`] refuses earlier times.
    #[inline]
    pub fn horizon(&self) -> SimTime {
        SimTime::from_nanos(self.horizon)
    }

    /// Schedules `event` at `at` and returns its id.
    ///
    /// Among events with equal times, pop order is push order.
    ///
    /// # Panics
    /// If `at` is before [`EventQueue::horizon`] (the queue is monotone), or if more
    /// than `u32::MAX - 1` events are pending at once.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) -> TimerId {
        let time = at.as_nanos();
        if time < self.horizon {
            push_in_past(at, self.horizon());
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => self.new_slot(),
        };
        let s = &mut self.slots[slot as usize];
        s.event = Some(event);
        let gen = s.gen;
        let entry = Entry { time, slot, gen };
        if time == self.last {
            self.current.push_back(entry);
        } else {
            self.push_bucket(bucket_of(time, self.last), entry);
        }
        self.live += 1;
        TimerId { slot, gen }
    }

    #[cold]
    fn new_slot(&mut self) -> u32 {
        let slot = u32::try_from(self.slots.len())
            .ok()
            .filter(|&s| s < u32::MAX)
            .expect(
                "EventQueue: more than u32::MAX - 1 event slots; pending events must fit in u32",
            );
        self.slots.push(Slot {
            gen: 0,
            event: None,
        });
        slot
    }

    /// Appends `entry` to bucket `b`.
    #[inline]
    fn push_bucket(&mut self, b: usize, entry: Entry) {
        if b >= self.buckets.len() {
            self.grow_levels(b);
        }
        let word = &mut self.occupied[b / 64];
        let bit = 1u64 << (b % 64);
        let bucket = &mut self.buckets[b];
        if *word & bit == 0 {
            *word |= bit;
            self.summary |= 1 << (b / 64);
            bucket.first = entry;
            bucket.min = entry.time;
            return;
        }
        if entry.time < bucket.min {
            bucket.min = entry.time;
        }
        let tail = bucket.tail;
        if tail != NIL {
            let chunk = &mut self.chunks[tail as usize].entries;
            if chunk.len() < CHUNK {
                chunk.push(entry);
                return;
            }
        }
        self.append_chunk(b, entry);
    }

    /// Allocates bucket levels up to the one holding bucket `b`.
    #[cold]
    fn grow_levels(&mut self, b: usize) {
        let len = (b / RADIX + 1) * RADIX;
        self.buckets.resize(len, EMPTY_BUCKET);
    }

    /// Appends `entry` to non-empty bucket `b` in a fresh chunk.
    fn append_chunk(&mut self, b: usize, entry: Entry) {
        let c = match self.free_chunks.pop() {
            Some(c) => c,
            None => {
                let c = u32::try_from(self.chunks.len())
                    .ok()
                    .filter(|&c| c < NIL)
                    .expect("EventQueue: chunk count fits in u32");
                self.chunks.push(Chunk {
                    entries: Vec::with_capacity(CHUNK),
                    next: NIL,
                });
                c
            }
        };
        self.chunks[c as usize].entries.push(entry);
        let bucket = &mut self.buckets[b];
        match bucket.tail {
            NIL => bucket.head = c,
            tail => self.chunks[tail as usize].next = c,
        }
        bucket.tail = c;
    }

    /// Marks bucket `b` empty and returns what it held.
    #[inline]
    fn take_bucket(&mut self, b: usize) -> Bucket {
        let taken = mem::replace(&mut self.buckets[b], EMPTY_BUCKET);
        let word = &mut self.occupied[b / 64];
        *word &= !(1 << (b % 64));
        if *word == 0 {
            self.summary &= !(1 << (b / 64));
        }
        taken
    }

    /// Frees `slot` after its event fired or was cancelled; returns its payload.
    #[inline]
    fn release(&mut self, slot: u32) -> E {
        let s = &mut self.slots[slot as usize];
        let event = s
            .event
            .take()
            .expect("EventQueue: a live slot holds its event");
        s.gen += 1;
        // A generation is never issued twice: a slot whose counter reaches the top is
        // retired instead of wrapping (one slot of memory per 4 billion reuses).
        if s.gen != u32::MAX {
            self.free.push(slot);
        }
        event
    }

    /// True if `id` names an event that is still pending.
    #[inline]
    pub fn is_pending(&self, id: TimerId) -> bool {
        self.slots
            .get(id.slot as usize)
            .is_some_and(|s| s.gen == id.gen)
    }

    /// Cancels the event `id` and drops its payload. Returns `false` (and does nothing)
    /// if it already fired or was cancelled. O(1) amortised.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        if !self.is_pending(id) {
            return false;
        }
        drop(self.release(id.slot));
        self.live -= 1;
        self.dead += 1;
        if self.dead > self.live.max(COMPACT_FLOOR) {
            self.compact();
        }
        true
    }

    #[inline]
    fn is_live(slots: &[Slot<E>], e: &Entry) -> bool {
        slots[e.slot as usize].gen == e.gen
    }

    /// Calls `f` on bucket `bucket`'s entries in order (the bucket must be non-empty).
    fn for_each_entry(&self, bucket: &Bucket, mut f: impl FnMut(&Entry)) {
        f(&bucket.first);
        let mut c = bucket.head;
        while c != NIL {
            let chunk = &self.chunks[c as usize];
            chunk.entries.iter().for_each(&mut f);
            c = chunk.next;
        }
    }

    /// Returns every chunk of `bucket` to the pool, clearing them.
    fn free_bucket_chunks(&mut self, bucket: &Bucket) {
        let mut c = bucket.head;
        while c != NIL {
            let chunk = &mut self.chunks[c as usize];
            chunk.entries.clear();
            let next = mem::replace(&mut chunk.next, NIL);
            self.free_chunks.push(c);
            c = next;
        }
    }

    /// The non-empty buckets, lowest first.
    fn occupied_buckets(&self) -> impl Iterator<Item = usize> + '_ {
        self.occupied.iter().enumerate().flat_map(|(w, &word)| {
            let mut word = word;
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let b = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    b
                })
            })
        })
    }

    /// Drops every cancelled entry, keeping the order of the rest.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.current.retain(|e| Self::is_live(slots, e));
        let occupied: Vec<usize> = self.occupied_buckets().collect();
        let mut kept = Vec::new();
        for b in occupied {
            let bucket = self.take_bucket(b);
            kept.clear();
            self.for_each_entry(&bucket, |e| {
                if Self::is_live(&self.slots, e) {
                    kept.push(*e);
                }
            });
            self.free_bucket_chunks(&bucket);
            for &e in &kept {
                self.push_bucket(b, e);
            }
        }
        self.dead = 0;
    }

    /// Removes and returns the earliest pending event (ties: the first scheduled), and
    /// moves the queue's [`horizon`](EventQueue::horizon) to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let popped = self.pop_due(u64::MAX);
        if let Some((t, _)) = &popped {
            self.horizon = t.as_nanos();
        }
        popped
    }

    /// Removes and returns the earliest pending event if its time is `<= limit`, moving
    /// the [`horizon`](EventQueue::horizon) to its time. Otherwise returns `None` and
    /// moves the horizon to `limit` (if later): the caller has reached `limit`, as
    /// `Engine::run_until` does.
    #[inline]
    pub fn pop_until(&mut self, limit: SimTime) -> Option<(SimTime, E)> {
        let popped = self.pop_due(limit.as_nanos());
        self.horizon = match &popped {
            Some((t, _)) => t.as_nanos(),
            None => self.horizon.max(limit.as_nanos()),
        };
        popped
    }

    /// The lowest non-empty bucket.
    #[inline]
    fn lowest_bucket(&self) -> Option<usize> {
        if self.summary == 0 {
            return None;
        }
        let w = self.summary.trailing_zeros() as usize;
        Some(w * 64 + self.occupied[w].trailing_zeros() as usize)
    }

    /// Takes `e`'s payload if it is live; otherwise accounts for a dead entry.
    #[inline]
    fn take_if_live(&mut self, e: Entry) -> Option<(SimTime, E)> {
        if Self::is_live(&self.slots, &e) {
            self.live -= 1;
            Some((SimTime::from_nanos(e.time), self.release(e.slot)))
        } else {
            self.dead -= 1;
            None
        }
    }

    /// The earliest live event with time `<= limit`. May advance `last` up to `limit`
    /// (through cancelled entries) but never past the returned event's time.
    #[inline]
    fn pop_due(&mut self, limit: u64) -> Option<(SimTime, E)> {
        if self.live == 0 {
            // Only cancelled entries are left: drop them rather than walk `last`
            // forward through their times (which would forbid pushes before them).
            if self.dead > 0 {
                self.clear_dead();
            }
            return None;
        }
        loop {
            if let Some(e) = self.current.pop_front() {
                match self.take_if_live(e) {
                    Some(popped) => return Some(popped),
                    None => continue,
                }
            }
            let b = self.lowest_bucket()?;
            let bucket = &self.buckets[b];
            let min = bucket.min;
            if min > limit {
                // Leave `last` alone: the caller may still schedule before `min`.
                return None;
            }
            self.last = min;
            if bucket.head == NIL {
                // A lone entry is the minimum: pop it without moving it to `current`.
                let e = self.take_bucket(b).first;
                match self.take_if_live(e) {
                    Some(popped) => return Some(popped),
                    None => continue,
                }
            }
            self.redistribute(b, min);
        }
    }

    /// Moves the entries of bucket `b` (the lowest non-empty one, whose minimum `min`
    /// is the new `last`) to `current` (time `min`) or to lower-level buckets.
    fn redistribute(&mut self, b: usize, min: u64) {
        let bucket = self.take_bucket(b);
        self.route(bucket.first, min);
        let mut c = bucket.head;
        while c != NIL {
            let chunk = &mut self.chunks[c as usize];
            let entries = mem::take(&mut chunk.entries);
            let next = mem::replace(&mut chunk.next, NIL);
            for &e in &entries {
                self.route(e, min);
            }
            let mut entries = entries;
            entries.clear();
            self.chunks[c as usize].entries = entries;
            self.free_chunks.push(c);
            c = next;
        }
    }

    /// Places `e` relative to `last == min` during a redistribution; drops it if it
    /// was cancelled (checked only while cancelled entries exist, so a run without
    /// cancellations never touches the slab here).
    #[inline]
    fn route(&mut self, e: Entry, min: u64) {
        if self.dead != 0 && !Self::is_live(&self.slots, &e) {
            self.dead -= 1;
            return;
        }
        if e.time == min {
            self.current.push_back(e);
        } else {
            self.push_bucket(bucket_of(e.time, min), e);
        }
    }

    /// Empties the queue when every stored entry is cancelled.
    #[cold]
    fn clear_dead(&mut self) {
        debug_assert_eq!(self.live, 0);
        self.current.clear();
        for chunk in &mut self.chunks {
            chunk.entries.clear();
            chunk.next = NIL;
        }
        self.free_chunks.clear();
        self.free_chunks.extend((0..self.chunks.len() as u32).rev());
        self.buckets.fill(EMPTY_BUCKET);
        self.occupied = [0; MASK_WORDS];
        self.summary = 0;
        self.dead = 0;
        self.last = self.horizon;
    }

    /// The time of the earliest pending event, without removing it.
    ///
    /// Cost: O(1) when an event is pending at the last popped instant; otherwise a scan
    /// of the lowest non-empty bucket(s). Meant for occasional use (live mode, tests),
    /// not per event.
    pub fn peek_time(&self) -> Option<SimTime> {
        if self.current.iter().any(|e| Self::is_live(&self.slots, e)) {
            return Some(SimTime::from_nanos(self.last));
        }
        for b in self.occupied_buckets() {
            let mut best = None::<u64>;
            self.for_each_entry(&self.buckets[b], |e| {
                if Self::is_live(&self.slots, e) {
                    best = Some(best.map_or(e.time, |t| t.min(e.time)));
                }
            });
            if let Some(t) = best {
                return Some(SimTime::from_nanos(t));
            }
        }
        None
    }

    /// The memory held by the queue's structures (capacities, not lengths).
    pub fn memory(&self) -> QueueMemory {
        let entry = mem::size_of::<Entry>();
        let chunk_entries: usize = self.chunks.iter().map(|c| c.entries.capacity()).sum();
        let slot_overhead = mem::size_of::<Slot<E>>() - mem::size_of::<E>();
        QueueMemory {
            entry_capacity: self.current.capacity() + chunk_entries + self.buckets.capacity(),
            bookkeeping_bytes: (self.current.capacity() + chunk_entries) * entry
                + self.buckets.capacity() * mem::size_of::<Bucket>()
                + self.chunks.capacity() * mem::size_of::<Chunk>()
                + self.free_chunks.capacity() * mem::size_of::<u32>()
                + self.slots.capacity() * slot_overhead
                + self.free.capacity() * mem::size_of::<u32>()
                + mem::size_of::<Self>(),
            payload_bytes: self.slots.capacity() * mem::size_of::<E>(),
        }
    }
}

/// The panic of [`EventQueue::push`], out of line to keep the hot path small.
#[cold]
#[inline(never)]
fn push_in_past(at: SimTime, horizon: SimTime) -> ! {
    panic!("EventQueue::push: time {at} is before the queue's horizon {horizon}; the queue is monotone (nothing is scheduled in the past)")
}

/// The bucket of `time` relative to `last` (`time > last`): the level of the highest
/// differing bit and `time`'s digit at that level.
#[inline]
fn bucket_of(time: u64, last: u64) -> usize {
    let level = (u64::BITS - 1 - (time ^ last).leading_zeros()) / DIGIT_BITS;
    let digit = (time >> (level * DIGIT_BITS)) as usize & (RADIX - 1);
    level as usize * RADIX + digit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> SimTime {
        SimTime::from_nanos(n)
    }

    fn drain(q: &mut EventQueue<u32>) -> Vec<(u64, u32)> {
        std::iter::from_fn(|| q.pop().map(|(t, e)| (t.as_nanos(), e))).collect()
    }

    fn stored(q: &EventQueue<u32>) -> usize {
        q.current.len()
            + q.occupied
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
            + q.chunks.iter().map(|c| c.entries.len()).sum::<usize>()
    }

    #[test]
    fn pops_in_time_then_push_order() {
        let mut q = EventQueue::new();
        for (i, time) in [5u64, 3, 5, 1, 3, 5, 0, 1 << 40, 3].into_iter().enumerate() {
            q.push(t(time), i as u32);
        }
        assert_eq!(
            drain(&mut q),
            [
                (0, 6),
                (1, 3),
                (3, 1),
                (3, 4),
                (3, 8),
                (5, 0),
                (5, 2),
                (5, 5),
                (1 << 40, 7)
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn many_equal_times_across_chunks_stay_fifo() {
        let mut q = EventQueue::new();
        for i in 0..1000u32 {
            q.push(t(u64::from(i % 7) * 1_000_003 + 17), i);
        }
        let got = drain(&mut q);
        let mut want: Vec<(u64, u32)> = (0..1000u32)
            .map(|i| (u64::from(i % 7) * 1_000_003 + 17, i))
            .collect();
        want.sort_by_key(|&(time, i)| (time, i));
        assert_eq!(got, want);
    }

    #[test]
    fn bucket_order_matches_time_order() {
        let last = 0x1234_5678_9abc_def0u64;
        let mut times: Vec<u64> = (0..64)
            .map(|b| last ^ (1u64 << b))
            .filter(|&x| x > last)
            .collect();
        times.extend([last + 1, last + 15, last + 16, last + 255, u64::MAX]);
        times.sort_unstable();
        let buckets: Vec<usize> = times.iter().map(|&x| bucket_of(x, last)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert!(buckets.iter().all(|&b| b < BUCKETS && b % RADIX != 0));
    }

    #[test]
    fn cancel_is_exact_and_ids_do_not_alias() {
        let mut q = EventQueue::new();
        let a = q.push(t(10), 1);
        let b = q.push(t(20), 2);
        assert!(q.cancel(a));
        assert!(!q.cancel(a), "second cancel of the same id");
        assert_eq!(q.len(), 1);
        // The freed slot is reused by the next push, with a new generation.
        let c = q.push(t(10), 3);
        assert_ne!(a, c);
        assert!(
            !q.cancel(a),
            "stale id must not cancel the slot's new event"
        );
        assert!(q.is_pending(c));
        assert_eq!(q.pop(), Some((t(10), 3)));
        assert!(!q.cancel(c), "cancel after fire");
        assert!(q.is_pending(b));
        assert_eq!(q.pop(), Some((t(20), 2)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn pop_until_does_not_advance_past_limit() {
        let mut q = EventQueue::new();
        q.push(t(100), 1);
        assert_eq!(q.pop_until(t(50)), None);
        assert_eq!(q.horizon(), t(50));
        assert_eq!(q.pop_until(t(60)), None);
        // Still allowed to schedule between the limit and the next event.
        q.push(t(70), 2);
        assert_eq!(q.peek_time(), Some(t(70)));
        assert_eq!(q.pop_until(t(100)), Some((t(70), 2)));
        assert_eq!(q.pop_until(t(100)), Some((t(100), 1)));
    }

    #[test]
    fn only_cancelled_entries_left_does_not_move_time() {
        let mut q = EventQueue::new();
        q.push(t(5), 0);
        assert_eq!(q.pop(), Some((t(5), 0)));
        let id = q.push(t(1_000), 1);
        assert!(q.cancel(id));
        assert_eq!(q.pop(), None);
        assert_eq!(q.horizon(), t(5));
        q.push(t(6), 2);
        assert_eq!(q.pop(), Some((t(6), 2)));
    }

    #[test]
    #[should_panic(expected = "the queue is monotone")]
    fn push_before_last_pop_panics() {
        let mut q = EventQueue::new();
        q.push(t(10), 1);
        q.pop();
        q.push(t(9), 2);
    }

    #[test]
    fn compaction_bounds_dead_entries() {
        let mut q = EventQueue::new();
        let keep = q.push(t(1_000_000), 0);
        for i in 0..10_000u32 {
            let id = q.push(t(500 + u64::from(i)), i);
            assert!(q.cancel(id));
            assert!(q.dead <= COMPACT_FLOOR.max(q.live));
        }
        assert!(
            stored(&q) <= COMPACT_FLOOR + 1,
            "{} entries stored for 1 live event",
            stored(&q)
        );
        assert!(
            q.chunks.len() <= 2 * (COMPACT_FLOOR / CHUNK + 1) + BUCKETS,
            "chunks leak: {}",
            q.chunks.len()
        );
        assert_eq!(q.peek_time(), Some(t(1_000_000)));
        assert!(q.cancel(keep));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn cancelled_payload_is_dropped_at_once() {
        use std::rc::Rc;
        let token = Rc::new(());
        let mut q = EventQueue::new();
        let id = q.push(t(10), Rc::clone(&token));
        assert_eq!(Rc::strong_count(&token), 2);
        assert!(q.cancel(id));
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn retired_slot_is_never_reissued() {
        let mut q: EventQueue<u32> = EventQueue::new();
        let id = q.push(t(0), 0);
        q.slots[id.slot as usize].gen = u32::MAX - 1;
        let old = TimerId {
            slot: id.slot,
            gen: u32::MAX - 1,
        };
        assert!(q.cancel(old));
        assert!(
            q.free.is_empty(),
            "slot with an exhausted generation is retired"
        );
        let fresh = q.push(t(0), 1);
        assert_ne!(fresh.slot, id.slot);
        assert!(!q.cancel(old));
    }

    #[test]
    fn timer_id_bits_round_trip() {
        let id = TimerId { slot: 7, gen: 9 };
        assert_eq!(TimerId::from_bits(id.to_bits()), id);
    }

    #[test]
    fn memory_tracks_live_set_not_history() {
        let mut q = EventQueue::new();
        // Grow to 10k pending, shrink to 10, grow again: chunks are reused.
        for i in 0..10_000u64 {
            q.push(t(i * 997 % 100_000 + 1), 0u32);
        }
        while q.len() > 10 {
            q.pop();
        }
        let chunks = q.chunks.len();
        for i in 0..10_000u64 {
            q.push(t(200_000 + i * 997 % 100_000), 0);
        }
        assert!(
            q.chunks.len() <= chunks + BUCKETS,
            "{} chunks after reuse, {chunks} before",
            q.chunks.len()
        );
    }
}
