//! The master's task table: task ids stay dense and sequential (they appear in the
//! event log), but a finished task's record is released once nothing refers to it any
//! more, so memory follows the tasks alive, not every task ever submitted.
//!
//! Records live in an [`IdWindow`] from the oldest id still held, so a month-long
//! replay keeps the running tasks plus 4 bytes per id younger than its oldest live
//! task.

use std::ops::{Index, IndexMut};

use super::id_window::IdWindow;
use super::ids::TaskId;

/// Task records by [`TaskId`], issued in order and released when finished.
pub(crate) struct TaskTable<T> {
    /// The live records by id.
    records: IdWindow<T>,
    /// Keep every record (release does nothing); used to check that releasing records
    /// changes no output.
    pub keep_released: bool,
}

impl<T> Default for TaskTable<T> {
    fn default() -> Self {
        TaskTable {
            records: IdWindow::default(),
            keep_released: false,
        }
    }
}

impl<T> TaskTable<T> {
    /// How many ids were issued so far: the next task's id.
    pub fn len(&self) -> usize {
        self.records.end() as usize
    }

    /// Records still held.
    pub fn live(&self) -> usize {
        self.records.len()
    }

    /// Adds a record under the next id.
    pub fn push(&mut self, record: T) -> TaskId {
        let id = TaskId(u32::try_from(self.len()).expect("fewer than 2^32 tasks"));
        self.records.insert(u64::from(id.0), record);
        id
    }

    /// The record of `id`, unless it was released.
    pub fn get(&self, id: TaskId) -> Option<&T> {
        self.records.get(u64::from(id.0))
    }

    /// The record of `id` to change, unless it was released.
    pub fn get_mut(&mut self, id: TaskId) -> Option<&mut T> {
        self.records.get_mut(u64::from(id.0))
    }

    /// Forgets the record of `id` (nothing happens with `keep_released`). Callers
    /// release a task only when no event or book refers to it any more.
    pub fn release(&mut self, id: TaskId) {
        if !self.keep_released {
            self.records.remove(u64::from(id.0));
        }
    }

    /// The live records in id order.
    pub fn iter(&self) -> impl Iterator<Item = (TaskId, &T)> {
        self.records.iter().map(|(id, t)| (TaskId(id as u32), t))
    }
}

/// `tasks[id.0 as usize]`: the record of a task known to be held.
impl<T> Index<usize> for TaskTable<T> {
    type Output = T;

    fn index(&self, id: usize) -> &T {
        let id = TaskId(id as u32);
        self.get(id)
            .unwrap_or_else(|| panic!("task {} was released", id.0))
    }
}

impl<T> IndexMut<usize> for TaskTable<T> {
    fn index_mut(&mut self, id: usize) -> &mut T {
        let id = TaskId(id as u32);
        self.get_mut(id)
            .unwrap_or_else(|| panic!("task {} was released", id.0))
    }
}

/// Iterates the live records in id order.
impl<'a, T> IntoIterator for &'a TaskTable<T> {
    type Item = &'a T;
    type IntoIter = Box<dyn Iterator<Item = &'a T> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter().map(|(_, t)| t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_sequential_and_released_records_are_gone() {
        let mut t = TaskTable::default();
        let ids: Vec<TaskId> = (0..10u32).map(|i| t.push(i * 10)).collect();
        assert_eq!(ids, (0..10).map(TaskId).collect::<Vec<_>>());
        for i in [3, 0, 9, 1] {
            t.release(TaskId(i));
        }
        assert_eq!(t.live(), 6);
        assert_eq!(t.len(), 10);
        assert_eq!(t.push(100), TaskId(10));
        for i in [3, 0, 9, 1] {
            assert_eq!(t.get(TaskId(i)), None);
        }
        for i in [2, 4, 5, 6, 7, 8] {
            assert_eq!(t[i as usize], i * 10);
        }
        let live: Vec<(u32, u32)> = t.iter().map(|(id, v)| (id.0, *v)).collect();
        assert_eq!(
            live,
            vec![
                (2, 20),
                (4, 40),
                (5, 50),
                (6, 60),
                (7, 70),
                (8, 80),
                (10, 100)
            ]
        );
        // Releasing twice, or an id never issued, changes nothing.
        t.release(TaskId(3));
        t.release(TaskId(99));
        assert_eq!(t.live(), 7);
    }

    #[test]
    fn keep_released_keeps_everything() {
        let mut t = TaskTable::default();
        let a = t.push("a");
        t.keep_released = true;
        t.release(a);
        assert_eq!(t.get(a), Some(&"a"));
    }
}
