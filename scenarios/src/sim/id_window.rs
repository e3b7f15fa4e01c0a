//! Values keyed by ids that are issued in sequence and mostly retired young, such as
//! the master's outstanding offers and its task records. The values live densely in a
//! slab; a window of `u32` slot numbers maps ids to slots, starting at the oldest id
//! still held. Removing a value leaves a vacant mark in the window and moves the
//! slab's last value into the hole; the window's front advances past vacant marks. A
//! lookup is an index, iteration is in id order, and memory follows the values held
//! plus 4 bytes per id younger than the oldest one held.

use std::collections::VecDeque;

/// Marks an id of the window that holds no value.
const VACANT: u32 = u32::MAX;

/// Values of type `T` by `u64` id, held in a window from the oldest id held.
pub(crate) struct IdWindow<T> {
    /// The id of `window[0]`.
    base: u64,
    /// Slab slot of each id from `base` on, or [`VACANT`].
    window: VecDeque<u32>,
    /// The values with their ids (dense: a removal moves the last one into the hole).
    slab: Vec<(u64, T)>,
}

impl<T> Default for IdWindow<T> {
    fn default() -> Self {
        IdWindow {
            base: 0,
            window: VecDeque::new(),
            slab: Vec::new(),
        }
    }
}

impl<T> IdWindow<T> {
    /// One past the newest id the window reaches: after ids 0, 1, 2, … inserted in
    /// order, the next id, whatever was removed since.
    pub fn end(&self) -> u64 {
        self.base + self.window.len() as u64
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    fn slot(&self, id: u64) -> Option<usize> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let slot = *self.window.get(offset)?;
        (slot != VACANT).then_some(slot as usize)
    }

    /// Holds `value` under `id`, replacing the value held there if any. Ids below
    /// the window's front are taken back in (the window grows at the front).
    pub fn insert(&mut self, id: u64, value: T) {
        if let Some(slot) = self.slot(id) {
            self.slab[slot].1 = value;
            return;
        }
        if self.window.is_empty() {
            self.base = id;
        }
        while id < self.base {
            self.window.push_front(VACANT);
            self.base -= 1;
        }
        let offset = usize::try_from(id - self.base).expect("window fits in memory");
        if self.window.len() <= offset {
            self.window.resize(offset + 1, VACANT);
        }
        self.window[offset] = u32::try_from(self.slab.len())
            .ok()
            .filter(|s| *s != VACANT)
            .expect("fewer than 2^32 - 1 values held");
        self.slab.push((id, value));
    }

    /// The value of `id`, if held.
    pub fn get(&self, id: u64) -> Option<&T> {
        self.slot(id).map(|s| &self.slab[s].1)
    }

    /// The value of `id` to change, if held.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.slot(id).map(|s| &mut self.slab[s].1)
    }

    /// Takes the value of `id` out, if held.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let slot = self.slot(id)?;
        self.window[(id - self.base) as usize] = VACANT;
        let (_, value) = self.slab.swap_remove(slot);
        if let Some((moved, _)) = self.slab.get(slot) {
            self.window[(moved - self.base) as usize] = slot as u32;
        }
        while self.window.front() == Some(&VACANT) {
            self.window.pop_front();
            self.base += 1;
        }
        // Give back a window that was once much longer (values held for a long time).
        if self.window.capacity() > 4096 && self.window.len() < self.window.capacity() / 4 {
            self.window.shrink_to(self.window.len() * 2);
        }
        Some(value)
    }

    /// The values held with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.window.iter().filter(|s| **s != VACANT).map(|s| {
            let (id, v) = &self.slab[*s as usize];
            (*id, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn contents(w: &IdWindow<u64>) -> Vec<(u64, u64)> {
        w.iter().map(|(id, v)| (id, *v)).collect()
    }

    fn check(w: &IdWindow<u64>, map: &BTreeMap<u64, u64>, what: &str) {
        let want: Vec<(u64, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(contents(w), want, "{what}");
        assert_eq!(w.len(), map.len(), "{what}");
        // The window starts at the oldest id held (or is empty).
        assert_eq!(
            w.window.front().is_some(),
            !map.is_empty(),
            "front mark {what}"
        );
        if let Some(first) = map.keys().next() {
            assert_eq!(w.base, *first, "{what}");
            assert!(w.end() > *map.keys().next_back().unwrap(), "{what}");
        }
    }

    /// Randomized against an ordered map: ids issued mostly in sequence, removed in
    /// any order (oldest, newest, middle, absent), put back below or inside the
    /// window, replaced, looked up and changed. Several seeds of a fixed generator,
    /// so the test is exact and repeatable.
    #[test]
    fn behaves_as_an_ordered_map_under_random_operations() {
        for seed in 1..=20u64 {
            let mut w = IdWindow::default();
            let mut map: BTreeMap<u64, u64> = BTreeMap::new();
            let mut next = seed * 1_000_000_007 % 1000;
            let mut x = seed;
            let mut rand = move |n: u64| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) % n.max(1)
            };
            for step in 0..4000u64 {
                let what = format!("seed {seed} step {step}");
                match rand(8) {
                    0..=2 => {
                        w.insert(next, step);
                        map.insert(next, step);
                        next += 1 + rand(3) / 2; // now and then an id skipped
                    }
                    3 | 4 => {
                        let id = match rand(3) {
                            0 => map.keys().next().copied().unwrap_or(next),
                            1 => map.keys().next_back().copied().unwrap_or(next),
                            _ => rand(next + 5),
                        };
                        assert_eq!(w.remove(id), map.remove(&id), "remove {id} {what}");
                    }
                    5 => {
                        // Put back (or replace) an id anywhere up to `next`.
                        let id = rand(next + 1);
                        w.insert(id, step);
                        map.insert(id, step);
                    }
                    6 => {
                        let id = rand(next + 5);
                        if let Some(v) = w.get_mut(id) {
                            *v = step * 3;
                        }
                        if let Some(v) = map.get_mut(&id) {
                            *v = step * 3;
                        }
                        assert_eq!(w.get(id), map.get(&id), "get {id} {what}");
                    }
                    _ => check(&w, &map, &what),
                }
            }
            check(&w, &map, "end");
            // Drain in a scrambled order; everything comes out once.
            let mut ids: Vec<u64> = map.keys().copied().collect();
            ids.sort_by_key(|id| id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for id in ids {
                assert_eq!(w.remove(id), map.remove(&id));
                assert_eq!(w.remove(id), None);
            }
            check(&w, &map, "drained");
            assert_eq!(w.window.len(), 0);
        }
    }

    #[test]
    fn ids_inserted_in_order_keep_counting_after_removals() {
        let mut w = IdWindow::default();
        for id in 0..10 {
            w.insert(id, id * 10);
        }
        for id in [3, 0, 9, 1] {
            assert_eq!(w.remove(id), Some(id * 10));
        }
        assert_eq!((w.len(), w.end()), (6, 10));
        assert_eq!(w.get(3), None);
        assert_eq!(w.get(4), Some(&40));
        for id in [2, 4, 5, 6, 7, 8] {
            w.remove(id);
        }
        // Empty, but the window's end still counts the ids issued.
        assert_eq!((w.len(), w.end()), (0, 10));
        w.insert(w.end(), 100);
        assert_eq!(contents(&w), vec![(10, 100)]);
    }

    #[test]
    fn a_long_window_is_given_back() {
        let mut w = IdWindow::default();
        for id in 0..100_000u64 {
            w.insert(id, id);
        }
        // Remove all but id 50,000, out of order.
        for id in (0..100_000u64).rev().filter(|id| *id != 50_000) {
            w.remove(id);
        }
        assert_eq!((w.len(), w.base, w.window.len()), (1, 50_000, 50_000));
        w.remove(50_000);
        assert_eq!((w.len(), w.window.len(), w.end()), (0, 0, 100_000));
        assert!(w.window.capacity() <= 4096 * 2, "{}", w.window.capacity());
    }
}
