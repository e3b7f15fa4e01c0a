//! The master's outstanding offers by id. Offer ids are issued in sequence and most
//! offers are answered within a message round trip, so the offers alive at once are
//! a short run of recent ids: an [`IdWindow`] from the oldest outstanding id makes
//! each lookup an index instead of a search (a large replay makes, looks up and
//! removes millions of offers a day). Iteration is in id order, as the ordered map it
//! replaces iterated.

use std::ops::Index;

use super::id_window::IdWindow;
use super::ids::OfferId;
use super::world::Offer;

/// Outstanding offers by [`OfferId`].
#[derive(Default)]
pub(crate) struct OfferTable(IdWindow<Offer>);

impl OfferTable {
    /// Holds `offer` under `id` (a new id, or one removed earlier and put back).
    pub fn insert(&mut self, id: OfferId, offer: Offer) {
        self.0.insert(id.0, offer);
    }

    /// The offer `id`, if outstanding.
    pub fn get(&self, id: &OfferId) -> Option<&Offer> {
        self.0.get(id.0)
    }

    /// The offer `id` to change, if outstanding.
    pub fn get_mut(&mut self, id: &OfferId) -> Option<&mut Offer> {
        self.0.get_mut(id.0)
    }

    /// Takes offer `id` out, if outstanding.
    pub fn remove(&mut self, id: &OfferId) -> Option<Offer> {
        self.0.remove(id.0)
    }

    /// The outstanding offers with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (OfferId, &Offer)> {
        self.0.iter().map(|(id, o)| (OfferId(id), o))
    }

    /// The outstanding offers in id order.
    pub fn values(&self) -> impl Iterator<Item = &Offer> {
        self.0.iter().map(|(_, o)| o)
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
