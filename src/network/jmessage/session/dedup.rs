//! Duplicate suppression for the session: a bounded window of the ids last seen.

use std::collections::{HashSet, VecDeque};

/// The last N ids seen (messages' `msg_id`, events' `event_id`).
#[derive(Debug, Default)]
pub(super) struct RecentIds {
    pub(super) order: VecDeque<i64>,
    pub(super) set: HashSet<i64>,
    pub(super) capacity: usize,
}

impl RecentIds {
    /// False when `id` was already seen.
    pub(super) fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}
