//! Where each live offer filter lives, by id: a window of slots over the recent ids plus an ordered map for the few long-lived ones, so installing and expiring a filter costs O(1) instead of two `BTreeMap` walks.
//!
//! Filter ids only grow (`Book::next_filter`) and a replay installs and expires a
//! filter per declined offer, mostly in install order (every decline of a framework
//! refuses for the same time). The window holds one slot per id from `base` on; an
//! expiry empties its slot and the emptied slots at the front are dropped. A filter
//! that outlives many younger ones (a longer `refuse_seconds`) would pin the window's
//! front and keep every slot behind it: once the window holds more than twice as
//! many slots as live filters (plus a constant), its oldest live filters move to
//! `far` until that is no longer so, which bounds the memory by the live filters.

use std::collections::{BTreeMap, VecDeque};

use super::book::FilterLoc;
use super::FilterId;

/// Slots a window may hold beyond twice its live filters before it is compacted.
const SLACK: usize = 1024;

/// The live filters by id (see the module documentation).
#[derive(Default)]
pub(crate) struct FilterIndex {
    /// Id of `window[0]`.
    base: u64,
    /// `window[i]`: the filter with id `base + i`, if it is live.
    window: VecDeque<Option<FilterLoc>>,
    /// Live filters in `window`.
    in_window: usize,
    /// Live filters with ids below `base`.
    far: BTreeMap<FilterId, FilterLoc>,
}

impl FilterIndex {
    /// Records filter `id`, which must be larger than every id recorded before.
    pub fn insert(&mut self, id: FilterId, loc: FilterLoc) {
        if self.window.is_empty() {
            self.base = id.0;
        }
        let at =
            id.0.checked_sub(self.base)
                .and_then(|d| usize::try_from(d).ok())
                .filter(|&d| d >= self.window.len())
                .expect("filter ids increase");
        self.window.resize(at, None);
        self.window.push_back(Some(loc));
        self.in_window += 1;
    }

    /// Where filter `id` lives, if it is live.
    pub fn get(&self, id: FilterId) -> Option<&FilterLoc> {
        if id.0 < self.base {
            return self.far.get(&id);
        }
        let i = usize::try_from(id.0 - self.base).ok()?;
        self.window.get(i)?.as_ref()
    }

    /// Where filter `id` lives, if it is live, to update.
    pub fn get_mut(&mut self, id: FilterId) -> Option<&mut FilterLoc> {
        if id.0 < self.base {
            return self.far.get_mut(&id);
        }
        let i = usize::try_from(id.0 - self.base).ok()?;
        self.window.get_mut(i)?.as_mut()
    }

    /// Forgets filter `id`; returns where it lived.
    pub fn remove(&mut self, id: FilterId) -> Option<FilterLoc> {
        if id.0 < self.base {
            return self.far.remove(&id);
        }
        let i = usize::try_from(id.0 - self.base).ok()?;
        let loc = self.window.get_mut(i)?.take()?;
        self.in_window -= 1;
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
        while self.window.len() > 2 * self.in_window + SLACK {
            if let Some(Some(old)) = self.window.pop_front() {
                self.far.insert(FilterId(self.base), old);
                self.in_window -= 1;
            }
            self.base += 1;
        }
        Some(loc)
    }

    /// Number of live filters.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.in_window + self.far.len()
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::allocator::{AgentId, FrameworkId};

    fn loc(n: u64) -> FilterLoc {
        FilterLoc {
            framework: FrameworkId((n % 7) as u32),
            role: (n % 3) as usize,
            agent: AgentId((n % 11) as u32),
            detached: n % 5 == 0,
        }
    }

    #[test]
    fn answers_like_an_ordered_map_under_random_lifetimes() {
        // Mostly short lifetimes with a few very long ones (which push the window to
        // compact), removals in any order, ids with gaps.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut index = FilterIndex::default();
        let mut reference: BTreeMap<FilterId, FilterLoc> = BTreeMap::new();
        let mut next = 0u64;
        let mut max_window = 0;
        for step in 0..60_000u64 {
            if reference.is_empty() || rng.random_bool(0.52) {
                next += if rng.random_bool(0.1) { 3 } else { 1 };
                let id = FilterId(next);
                index.insert(id, loc(next));
                reference.insert(id, loc(next));
            } else {
                // Usually the oldest short-lived one, sometimes any, sometimes a dead
                // id; ids that are multiples of 97 mostly live on.
                let any = rng.random_range(0..reference.len());
                let id = match rng.random_range(0..10) {
                    0 => *reference.keys().nth(any).expect("non-empty"),
                    1 => FilterId(rng.random_range(0..=next + 2)),
                    _ => *reference
                        .keys()
                        .find(|k| k.0 % 97 != 0)
                        .unwrap_or(reference.keys().nth(any).expect("non-empty")),
                };
                if id.0 % 97 != 0 || rng.random_bool(0.05) {
                    let got = index.remove(id);
                    assert_eq!(got, reference.remove(&id), "step {step}");
                    if got.is_some() {
                        assert!(index.window.len() <= 2 * index.in_window + SLACK);
                    }
                }
            }
            assert_eq!(index.len(), reference.len());
            max_window = max_window.max(index.window.len());
            let probe = FilterId(rng.random_range(0..=next + 1));
            assert_eq!(index.get(probe), reference.get(&probe), "step {step}");
        }
        assert!(!index.far.is_empty(), "long-lived filters reached `far`");
        assert!(max_window > SLACK, "the window grew enough to compact");
    }
}
