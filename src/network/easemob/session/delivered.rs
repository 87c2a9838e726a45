//! Which incoming metas the session has already handed its owner: duplicates (the server's
//! redelivery of a batch it had no ack for, a meta in two pulls) are dropped, but only once
//! the owner confirmed storing the batch they came in. A batch the owner did not store is
//! fetched again after a reconnect, and must reach the owner again rather than be dropped
//! as seen (the issue 14 store-refusal path: a crash before the owner bridged it would lose
//! it otherwise).

use std::collections::{HashSet, VecDeque};

/// The last N ids delivered, and those whose batch is not yet confirmed stored.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    order: VecDeque<u64>,
    set: HashSet<u64>,
    capacity: usize,
    /// Ids delivered since the last confirmed checkpoint, oldest first.
    unconfirmed: Vec<u64>,
    /// Where each checkpoint handed out and not yet answered ends in `unconfirmed` (its
    /// length then), oldest first.
    marks: VecDeque<usize>,
}

impl Delivered {
    /// Remembers up to `capacity` ids (at least 1).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            ..Default::default()
        }
    }

    /// True the first time `id` is delivered (remembering it), false for a duplicate.
    pub(super) fn first_time(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.unconfirmed.push(id);
        if self.unconfirmed.len() > self.capacity {
            // Past the window (metas no checkpoint covers, such as unsolicited pushes):
            // bounded like the window itself.
            self.unconfirmed.remove(0);
            for m in &mut self.marks {
                *m = m.saturating_sub(1);
            }
        }
        true
    }

    /// A checkpoint goes out after everything delivered so far.
    pub(super) fn checkpoint(&mut self) {
        self.marks.push_back(self.unconfirmed.len());
    }

    /// The owner stored everything up to the oldest unanswered checkpoint.
    pub(super) fn stored(&mut self) {
        let Some(mark) = self.marks.pop_front() else {
            return;
        };
        let mark = mark.min(self.unconfirmed.len());
        self.unconfirmed.drain(..mark);
        for m in &mut self.marks {
            *m = m.saturating_sub(mark);
        }
    }

    /// The owner did not store a batch: every id not confirmed stored is forgotten, so its
    /// next delivery reaches the owner.
    pub(super) fn not_stored(&mut self) {
        for id in std::mem::take(&mut self.unconfirmed) {
            if self.set.remove(&id) {
                self.order.retain(|x| *x != id);
            }
        }
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Delivered;

    #[test]
    fn duplicates_are_dropped_once_their_batch_is_stored() {
        let mut d = Delivered::new(8);
        assert!(d.first_time(1));
        assert!(d.first_time(2));
        d.checkpoint();
        assert!(!d.first_time(1), "a duplicate in the same batch");
        d.stored();
        assert!(!d.first_time(2));
        assert!(d.unconfirmed.is_empty());
    }

    #[test]
    fn a_batch_not_stored_is_delivered_again_later_batches_too() {
        let mut d = Delivered::new(8);
        assert!(d.first_time(1));
        d.checkpoint();
        d.stored();
        assert!(d.first_time(2));
        d.checkpoint();
        assert!(d.first_time(3));
        d.checkpoint();
        d.not_stored();
        assert!(!d.first_time(1), "stored before: still a duplicate");
        assert!(d.first_time(2), "not stored: delivered again");
        assert!(d.first_time(3), "after the refused batch: delivered again");
    }

    #[test]
    fn confirming_the_first_of_two_batches_keeps_the_second_unconfirmed() {
        let mut d = Delivered::new(8);
        d.first_time(1);
        d.checkpoint();
        d.first_time(2);
        d.checkpoint();
        d.stored();
        assert_eq!(d.unconfirmed, vec![2]);
        d.not_stored();
        assert!(!d.first_time(1));
        assert!(d.first_time(2));
    }

    #[test]
    fn the_window_stays_bounded() {
        let mut d = Delivered::new(2);
        for id in 1..=3 {
            d.first_time(id);
            d.checkpoint();
            d.stored();
        }
        assert!(d.first_time(1), "forgotten past the window");
        assert_eq!(d.order.len(), 2);
    }
}
