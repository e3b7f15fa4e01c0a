//! A framework's queue of tasks waiting for offers. Each queued id carries the task's
//! plain CPU and memory need, so a framework looking through its queue for tasks that
//! fit an offer rejects most of them without reading their records (a replay looks at
//! up to 256 queued tasks per offer, nearly every offer is declined, and reading each
//! task's record and resource list was most of the cost of answering an offer).

use std::collections::VecDeque;

use models::resources::{Resource, ResourceName, Resources, Value};

use super::ids::TaskId;

/// Unreserved, non-revocable CPU and memory in milli-units: what a task needs at least
/// of an offer's plainly usable CPU and memory, or what an offer holds of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Need {
    cpus: i64,
    mem: i64,
}

impl Need {
    /// No known need: a task queued with it is never rejected without a full look
    /// (a task group's leader, whose group also needs its executor and members).
    pub const UNKNOWN: Need = Need { cpus: 0, mem: 0 };

    /// The largest non-revocable CPU and memory entry of a request: `res::pick` needs
    /// each entry's amount in the offer's usable resources of its name.
    pub fn of_request(request: &Resources) -> Need {
        Need::fold(request, |r| !r.revocable, i64::max)
    }

    /// The CPU and memory of `offer` that `res::pick` may hand to a non-revocable
    /// request: non-revocable, unshared, choppable scalars.
    pub fn usable_in(offer: &Resources) -> Need {
        Need::fold(
            offer,
            |r| !r.revocable && !r.shared && r.is_choppable(),
            |a, b| a + b,
        )
    }

    fn fold(r: &Resources, keep: impl Fn(&Resource) -> bool, f: impl Fn(i64, i64) -> i64) -> Need {
        let mut n = Need::UNKNOWN;
        for e in r.iter() {
            let Value::Scalar(milli) = e.value else {
                continue;
            };
            if !keep(e) {
                continue;
            }
            match e.name {
                ResourceName::Cpus => n.cpus = f(n.cpus, milli),
                ResourceName::Mem => n.mem = f(n.mem, milli),
                _ => {}
            }
        }
        n
    }

    /// False when a task needing `self` certainly does not fit an offer whose usable
    /// CPU and memory are `usable` (`res::pick` would refuse it); true when it may.
    pub fn may_fit(self, usable: Need) -> bool {
        self.cpus <= usable.cpus && self.mem <= usable.mem
    }
}

/// A queued task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Queued {
    /// The task.
    pub id: TaskId,
    /// Its CPU and memory need ([`Need::UNKNOWN`] if it must always be looked at).
    pub need: Need,
}

/// Tasks waiting for offers, oldest first.
#[derive(Default)]
pub(crate) struct TaskQueue {
    items: VecDeque<Queued>,
}

impl TaskQueue {
    /// Queues `id`, whose request is `request`, at the back.
    pub fn push_back(&mut self, id: TaskId, request: &Resources) {
        self.items.push_back(Queued {
            id,
            need: Need::of_request(request),
        });
    }

    /// Queues `id` at the back with no known need (always looked at in full).
    pub fn push_back_unknown(&mut self, id: TaskId) {
        self.items.push_back(Queued {
            id,
            need: Need::UNKNOWN,
        });
    }

    /// Tasks queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The task at `index` (0 = oldest).
    pub fn get(&self, index: usize) -> Option<Queued> {
        self.items.get(index).copied()
    }

    /// The position of the first of the oldest `limit` tasks that may fit an offer
    /// whose usable CPU and memory are `usable` (see [`Need::may_fit`]).
    pub fn first_may_fit(&self, limit: usize, usable: Need) -> Option<usize> {
        self.items
            .iter()
            .take(limit)
            .position(|q| q.need.may_fit(usable))
    }

    /// Removes the tasks at `positions` (strictly increasing), keeping the others' order.
    pub fn remove_positions(&mut self, positions: &[usize]) {
        for &p in positions.iter().rev() {
            self.items.remove(p);
        }
    }

    /// Removes `id` if queued; true if it was.
    pub fn remove(&mut self, id: TaskId) -> bool {
        let before = self.items.len();
        self.items.retain(|q| q.id != id);
        self.items.len() < before
    }

    /// Empties the queue, returning the ids oldest first.
    pub fn take_all(&mut self) -> impl Iterator<Item = TaskId> {
        std::mem::take(&mut self.items).into_iter().map(|q| q.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    /// The quick test never rejects a task `res::pick` would place: checked on offers
    /// with reservations, revocable and non-scalar entries.
    #[test]
    fn may_fit_is_implied_by_pick() {
        let offers = [
            "cpus:4;mem:1024",
            "cpus(eng):1;cpus:1;mem:512",
            "cpus:0.5;mem:4096;ports:[31000-31010]",
            "mem:100",
        ];
        let requests = [
            "cpus:1;mem:512",
            "cpus:2",
            "mem:2048",
            "cpus:0.5;mem:100;ports:[31000-31000]",
            "cpus:3;mem:1",
        ];
        let mut fits = 0;
        for o in offers {
            for q in requests {
                let (offer, request) = (r(o), r(q));
                let picked = super::super::res::pick(&offer, &request, "eng").is_some();
                let may = Need::of_request(&request).may_fit(Need::usable_in(&offer));
                assert!(may || !picked, "{q} fits {o} but was rejected");
                fits += usize::from(picked);
            }
        }
        assert!(fits > 3, "the cases exercise both outcomes");
    }

    /// The first fitting task is the one a scan by position finds, within the limit.
    #[test]
    fn first_may_fit_is_the_first_by_position() {
        let mut q = TaskQueue::default();
        for (i, text) in ["cpus:8", "mem:4096", "cpus:1;mem:64", "cpus:0.5"]
            .iter()
            .enumerate()
        {
            q.push_back(TaskId(i as u32), &r(text));
        }
        let usable = Need::usable_in(&r("cpus:2;mem:128"));
        let by_position = (0..q.len()).find(|p| q.get(*p).unwrap().need.may_fit(usable));
        assert_eq!(q.first_may_fit(q.len(), usable), by_position);
        assert_eq!(by_position, Some(2));
        assert_eq!(q.first_may_fit(2, usable), None, "beyond the limit");
        q.remove_positions(&[0, 2]);
        assert_eq!(q.first_may_fit(q.len(), usable), Some(1));
    }

    #[test]
    fn needs_sum_cpus_and_memory_only() {
        let n = Need::of_request(&r("cpus:1.5;mem:256;disk:10"));
        assert_eq!(
            n,
            Need {
                cpus: 1500,
                mem: 256_000
            }
        );
        assert!(n.may_fit(Need::usable_in(&r("cpus:2;mem:256"))));
        assert!(!n.may_fit(Need::usable_in(&r("cpus:1;mem:1024"))));
        assert!(Need::UNKNOWN.may_fit(Need::usable_in(&Resources::default())));
    }

    #[test]
    fn removing_positions_keeps_order() {
        let mut q = TaskQueue::default();
        for i in 0..6 {
            q.push_back_unknown(TaskId(i));
        }
        q.remove_positions(&[0, 2, 5]);
        assert!(q.remove(TaskId(3)));
        assert!(!q.remove(TaskId(3)));
        assert_eq!(q.take_all().collect::<Vec<_>>(), vec![TaskId(1), TaskId(4)]);
        assert!(q.is_empty());
    }
}
