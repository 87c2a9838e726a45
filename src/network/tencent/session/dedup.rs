//! The window of recently seen message keys the session drops duplicates with.

use std::collections::{HashSet, VecDeque};

/// The last N message keys seen.
#[derive(Debug, Default)]
pub(super) struct RecentKeys {
    pub(super) order: VecDeque<String>,
    pub(super) set: HashSet<String>,
    pub(super) capacity: usize,
}

impl RecentKeys {
    /// False when `key` was already seen.
    pub(super) fn insert(&mut self, key: String) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        if self.order.len() > self.capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Forgets `key`, so the message is delivered again when it comes again.
    pub(super) fn forget(&mut self, key: &str) {
        if self.set.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}
