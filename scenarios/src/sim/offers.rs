//! The master's outstanding offers by id. Offer ids are issued in sequence and most
//! offers are answered within a message round trip, so the offers alive at once are
//! a short run of recent ids: a window of slot numbers from the oldest outstanding id
//! maps ids to records in a dense slab, which makes each lookup an index instead of a
//! search (a large replay makes, looks up and removes millions of offers a day).
//! Iteration is in id order, as the ordered map it replaces iterated.

use std::collections::VecDeque;
use std::ops::Index;

use super::ids::OfferId;
use super::world::Offer;

/// Marks an id of the window that holds no offer.
const VACANT: u32 = u32::MAX;

/// Outstanding offers by [`OfferId`].
#[derive(Default)]
pub(crate) struct OfferTable {
    /// The id of `window[0]`.
    base: u64,
    /// Slab slot of each id from `base` on, or [`VACANT`].
    window: VecDeque<u32>,
    /// The offers with their ids (dense: a removal moves the last one into the hole).
    slab: Vec<(OfferId, Offer)>,
}

impl OfferTable {
    fn slot(&self, id: OfferId) -> Option<usize> {
        let offset = usize::try_from(id.0.checked_sub(self.base)?).ok()?;
        let slot = *self.window.get(offset)?;
        (slot != VACANT).then_some(slot as usize)
    }

    /// Holds `offer` under `id` (a new id, or one removed earlier and put back).
    pub fn insert(&mut self, id: OfferId, offer: Offer) {
        if let Some(slot) = self.slot(id) {
            self.slab[slot].1 = offer;
            return;
        }
        if self.window.is_empty() {
            self.base = id.0;
        }
        while id.0 < self.base {
            self.window.push_front(VACANT);
            self.base -= 1;
        }
        let offset = (id.0 - self.base) as usize;
        if self.window.len() <= offset {
            self.window.resize(offset + 1, VACANT);
        }
        self.window[offset] = u32::try_from(self.slab.len()).expect("fewer than 2^32 offers");
        self.slab.push((id, offer));
    }

    /// The offer `id`, if outstanding.
    pub fn get(&self, id: &OfferId) -> Option<&Offer> {
        self.slot(*id).map(|s| &self.slab[s].1)
    }

    /// The offer `id` to change, if outstanding.
    pub fn get_mut(&mut self, id: &OfferId) -> Option<&mut Offer> {
        self.slot(*id).map(|s| &mut self.slab[s].1)
    }

    /// Takes offer `id` out, if outstanding.
    pub fn remove(&mut self, id: &OfferId) -> Option<Offer> {
        let slot = self.slot(*id)?;
        self.window[(id.0 - self.base) as usize] = VACANT;
        let (_, offer) = self.slab.swap_remove(slot);
        if let Some((moved, _)) = self.slab.get(slot) {
            self.window[(moved.0 - self.base) as usize] = slot as u32;
        }
        while self.window.front() == Some(&VACANT) {
            self.window.pop_front();
            self.base += 1;
        }
        // Give back a window that was once much longer (offers held for a long time).
        if self.window.capacity() > 4096 && self.window.len() < self.window.capacity() / 4 {
            self.window.shrink_to(self.window.len() * 2);
        }
        Some(offer)
    }

    /// The outstanding offers with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&OfferId, &Offer)> {
        self.window.iter().filter(|s| **s != VACANT).map(|s| {
            let (id, o) = &self.slab[*s as usize];
            (id, o)
        })
    }

    /// The outstanding offers in id order.
    pub fn values(&self) -> impl Iterator<Item = &Offer> {
        self.iter().map(|(_, o)| o)
    }
}

/// `offers[&id]`: an offer known to be outstanding.
impl Index<&OfferId> for OfferTable {
    type Output = Offer;

    fn index(&self, id: &OfferId) -> &Offer {
        self.get(id)
            .unwrap_or_else(|| panic!("offer {} is not outstanding", id.0))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use models::resources::Resources;

    use super::*;

    fn offer(agent: usize) -> Offer {
        Offer {
            framework: 0,
            role: Arc::from("r"),
            agent,
            resources: Resources::default(),
            timeout: None,
        }
    }

    fn agents(t: &OfferTable) -> Vec<(u64, usize)> {
        t.iter().map(|(id, o)| (id.0, o.agent)).collect()
    }

    /// Against an ordered map under a fixed mix of inserts (new ids and put-back
    /// ones), removals (oldest, newest, middle, absent) and lookups.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut table = OfferTable::default();
        let mut map: BTreeMap<u64, usize> = BTreeMap::new();
        let mut next = 1u64;
        // A linear congruential sequence of operations (fixed, so the test is exact).
        let mut x = 12345u64;
        for step in 0..5000usize {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = (x >> 33) as usize;
            match pick % 5 {
                0 | 1 => {
                    table.insert(OfferId(next), offer(step));
                    map.insert(next, step);
                    next += 1;
                }
                2 => {
                    // Remove some id, present or not (often the oldest).
                    let id = if pick % 3 == 0 {
                        map.keys().next().copied().unwrap_or(0)
                    } else {
                        (pick as u64) % next.max(1)
                    };
                    let got = table.remove(&OfferId(id)).map(|o| o.agent);
                    assert_eq!(got, map.remove(&id), "remove {id} at step {step}");
                    // Put it back now and then, as a partial decline does.
                    if got.is_some() && pick % 7 == 0 {
                        table.insert(OfferId(id), offer(step));
                        map.insert(id, step);
                    }
                }
                3 => {
                    let id = (pick as u64) % next.max(1);
                    if let Some(o) = table.get_mut(&OfferId(id)) {
                        o.agent = step;
                        map.insert(id, step);
                    }
                    assert_eq!(
                        table.get(&OfferId(id)).map(|o| o.agent),
                        map.get(&id).copied()
                    );
                }
                _ => {
                    let want: Vec<(u64, usize)> = map.iter().map(|(k, v)| (*k, *v)).collect();
                    assert_eq!(agents(&table), want, "step {step}");
                }
            }
        }
        let want: Vec<(u64, usize)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(agents(&table), want);
    }

    /// A removed oldest offer put back below the window's front is found again.
    #[test]
    fn an_offer_put_back_below_the_front_is_kept_in_order() {
        let mut t = OfferTable::default();
        for id in 1..=3 {
            t.insert(OfferId(id), offer(id as usize));
        }
        let first = t.remove(&OfferId(1)).expect("held");
        let second = t.remove(&OfferId(2)).expect("held");
        t.insert(OfferId(1), first);
        assert_eq!(agents(&t), vec![(1, 1), (3, 3)]);
        t.insert(OfferId(2), second);
        assert_eq!(agents(&t), vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(t[&OfferId(2)].agent, 2);
        for id in 1..=3 {
            assert!(t.remove(&OfferId(id)).is_some());
        }
        assert_eq!(agents(&t), vec![]);
        assert!(t.get(&OfferId(2)).is_none());
        t.insert(OfferId(9), offer(9));
        assert_eq!(agents(&t), vec![(9, 9)]);
    }
}
