//! Appservice dedup (`txns`, `txn_order`) and the durable inbox (`inbox`) in sled.
//!
//! `txns` maps scope ++ id to the mark's time (`u64` big-endian ms) followed, for
//! transaction-id marks, by the 16-byte fingerprint; `txn_order` indexes the same marks by
//! scope ++ time ++ id for expiry (see [`crate::store::scope`] for what the marks mean).
//!
//! The inbox holds work in named queues, each item under a sequence number from sled's
//! monotonic id generator (increasing across restarts), so `pending` returns items in
//! arrival order and replays unacked ones after a restart.

use std::sync::atomic::Ordering;

use sled::Transactional;

use super::keys::{push_part, read_u64, take_part};
use super::{tx_error, SledStore};
use crate::store::scope::{
    now_ms, TxnFingerprint, TxnScope, TXN_EXPIRE_EVERY, TXN_KEEP_LAST, TXN_MAX_AGE_MS,
};
use crate::store::{Result, StoreError};

/// Key of a mark in `txns`: scope (16 bytes), then the id.
pub(super) fn mark_key(scope: &TxnScope, txn_id: &str) -> Vec<u8> {
    let mut key = scope.bytes().to_vec();
    key.extend_from_slice(txn_id.as_bytes());
    key
}

/// Key of a mark in `txn_order`: scope, time (big-endian ms), then the id.
pub(super) fn order_key(scope: &TxnScope, ts: u64, txn_id: &str) -> Vec<u8> {
    let mut key = scope.bytes().to_vec();
    key.extend_from_slice(&ts.to_be_bytes());
    key.extend_from_slice(txn_id.as_bytes());
    key
}

/// A dedup mark in `txn_order`: its time and key.
type Mark = (u64, Vec<u8>);

pub(super) fn queue_prefix(queue: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(queue.len() + 4);
    push_part(&mut key, queue.as_bytes());
    key
}

pub(super) fn queue_key(queue: &str, seq: u64) -> Vec<u8> {
    let mut key = queue_prefix(queue);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl SledStore {
    // ---- transaction dedup --------------------------------------------------------------

    /// True when transaction `txn_id` was already marked in this scope with the same
    /// fingerprint (a retry). The same id with another fingerprint is a new transaction.
    pub(super) fn seen_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<bool> {
        Ok(self
            .txns
            .get(mark_key(scope, txn_id))?
            .is_some_and(|v| v.get(8..) == Some(&fp[..])))
    }

    /// Marks transaction `txn_id` as handled in this scope with its fingerprint, replacing an
    /// older mark of the same id. Durable on return.
    pub(super) fn mark_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<()> {
        let ts = now_ms();
        let mut value = ts.to_be_bytes().to_vec();
        value.extend_from_slice(fp);
        let (txns, order) = (&self.txns, &self.txn_order);
        (txns, order)
            .transaction(|(txns, order)| {
                if let Some(old) = txns.insert(mark_key(scope, txn_id), value.as_slice())? {
                    if let Some(old_ts) = read_u64(&old) {
                        order.remove(order_key(scope, old_ts, txn_id))?;
                    }
                }
                order.insert(order_key(scope, ts, txn_id), &[])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.after_mark();
        Ok(())
    }

    /// Whether the event id is marked as queued (see [`Store::enqueue_events`]).
    pub(super) fn seen_event(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .txns
            .contains_key(mark_key(&TxnScope::event_ids(), event_id))?)
    }

    /// Appends a transaction's items to `queue` and marks their event ids, atomically and
    /// durably; items whose event id is already marked are skipped (delivered before). Items
    /// without an id (receipts, typing) are always added. Returns the sequence numbers of the
    /// items added, in order. Answer the homeserver 200 only after this.
    pub(super) fn enqueue_events<I: AsRef<[u8]>>(
        &self,
        queue: &str,
        items: &[(Option<&str>, I)],
    ) -> Result<Vec<u64>> {
        let _order = self.inbox_order();
        let ts = now_ms();
        let scope = TxnScope::event_ids();
        let (txns, order, inbox) = (&self.txns, &self.txn_order, &self.inbox);
        let seqs = (txns, order, inbox)
            .transaction(|(txns, order, inbox)| {
                let mut seqs = Vec::with_capacity(items.len());
                for (event_id, item) in items {
                    if let Some(id) = event_id {
                        if txns.get(mark_key(&scope, id))?.is_some() {
                            continue;
                        }
                        txns.insert(mark_key(&scope, id), &ts.to_be_bytes())?;
                        order.insert(order_key(&scope, ts, id), &[])?;
                    }
                    let seq = inbox.generate_id()?;
                    inbox.insert(queue_key(queue, seq), item.as_ref())?;
                    seqs.push(seq);
                }
                Ok(seqs)
            })
            .map_err(tx_error)?;
        if !seqs.is_empty() {
            self.after_mark();
        }
        Ok(seqs)
    }

    /// Takes the inbox order lock (see `SledStore::inbox_lock`); a poisoned lock is still
    /// usable since it guards no data.
    fn inbox_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inbox_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn after_mark(&self) {
        let n = self.txn_marks.fetch_add(1, Ordering::Relaxed) + 1;
        if n % TXN_EXPIRE_EVERY == 0 {
            if let Err(e) = self.expire_txns(now_ms(), TXN_MAX_AGE_MS, TXN_KEEP_LAST) {
                tracing::warn!(error = %e, "transaction dedup expiry failed");
            }
        }
    }

    /// Forgets marks older than `max_age_ms` before `now_ms`, and all but the newest
    /// `keep_last` of each scope; returns how many were forgotten.
    pub(super) fn expire_txns(
        &self,
        now_ms: u64,
        max_age_ms: u64,
        keep_last: usize,
    ) -> Result<usize> {
        let cutoff = now_ms.saturating_sub(max_age_ms);
        // Group the (time-ordered) marks by scope.
        let mut scopes: Vec<(Vec<u8>, Vec<Mark>)> = Vec::new();
        for item in self.txn_order.iter() {
            let (k, _) = item?;
            let (Some(scope), Some(ts)) = (k.get(..16), k.get(16..).and_then(read_u64)) else {
                continue;
            };
            match scopes.last_mut() {
                Some((s, list)) if s.as_slice() == scope => list.push((ts, k.to_vec())),
                _ => scopes.push((scope.to_vec(), vec![(ts, k.to_vec())])),
            }
        }
        let mut doomed = Vec::new();
        for (_, list) in &scopes {
            let excess = list.len().saturating_sub(keep_last);
            for (i, (ts, k)) in list.iter().enumerate() {
                if i < excess || *ts < cutoff {
                    doomed.push(k.clone());
                }
            }
        }
        for chunk in doomed.chunks(256) {
            let (txns, order) = (&self.txns, &self.txn_order);
            (txns, order)
                .transaction(|(txns, order)| {
                    for k in chunk {
                        order.remove(k.as_slice())?;
                        let mut txn_key = k[..16].to_vec();
                        txn_key.extend_from_slice(&k[24..]);
                        txns.remove(txn_key)?;
                    }
                    Ok(())
                })
                .map_err(tx_error)?;
        }
        Ok(doomed.len())
    }

    // ---- inbox --------------------------------------------------------------------------

    /// Appends an item to `queue`; returns its sequence number (durable after a flush).
    pub(super) fn enqueue(&self, queue: &str, item: impl AsRef<[u8]>) -> Result<u64> {
        let _order = self.inbox_order();
        let seq = self.db.generate_id()?;
        self.inbox.insert(queue_key(queue, seq), item.as_ref())?;
        Ok(seq)
    }

    /// Appends several items to `queue` at once (all or none, one disk flush); returns their
    /// sequence numbers. Durable on return.
    pub(super) fn enqueue_batch<I: AsRef<[u8]>>(
        &self,
        queue: &str,
        items: &[I],
    ) -> Result<Vec<u64>> {
        let _order = self.inbox_order();
        let seqs = self
            .inbox
            .transaction(|inbox| {
                let mut seqs = Vec::with_capacity(items.len());
                for item in items {
                    let seq = inbox.generate_id()?;
                    inbox.insert(queue_key(queue, seq), item.as_ref())?;
                    seqs.push(seq);
                }
                Ok(seqs)
            })
            .map_err(tx_error)?;
        Ok(seqs)
    }

    /// Up to `limit` unacked items of `queue` with a sequence number above `after`, oldest
    /// first (a reader that remembers where it is does not rescan what it already took).
    pub(super) fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let prefix = queue_prefix(queue);
        let start = match after {
            None => prefix.clone(),
            Some(u64::MAX) => return Ok(Vec::new()),
            Some(seq) => queue_key(queue, seq + 1),
        };
        let mut out = Vec::new();
        for item in self.inbox.range(start..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let seq = take_part(&k)
                .and_then(|(_, rest)| read_u64(rest))
                .ok_or_else(|| StoreError::Corrupt {
                    tree: "inbox",
                    key: String::from_utf8_lossy(&k).into_owned(),
                    detail: "bad key".into(),
                })?;
            out.push((seq, v.to_vec()));
        }
        Ok(out)
    }

    /// How many unacked items `queue` holds.
    pub(super) fn pending_count(&self, queue: &str) -> Result<usize> {
        let mut n = 0;
        for item in self.inbox.scan_prefix(queue_prefix(queue)).keys() {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Moves every item of `from` to the end of `to`, in order (one sled transaction, flushed);
    /// returns how many were moved.
    pub(super) fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        let _order = self.inbox_order();
        let items: Vec<(sled::IVec, sled::IVec)> = self
            .inbox
            .scan_prefix(queue_prefix(from))
            .collect::<std::result::Result<_, _>>()?;
        if items.is_empty() {
            return Ok(0);
        }
        self.inbox
            .transaction(|inbox| {
                for (key, value) in &items {
                    let seq = inbox.generate_id()?;
                    inbox.insert(queue_key(to, seq), value)?;
                    inbox.remove(key)?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(items.len())
    }

    /// Removes every item of `queue` (a login that is gone).
    pub(super) fn clear_queue(&self, queue: &str) -> Result<usize> {
        let keys: Vec<sled::IVec> = self
            .inbox
            .scan_prefix(queue_prefix(queue))
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        for key in &keys {
            self.inbox.remove(key)?;
        }
        Ok(keys.len())
    }

    /// Removes a processed item (not flushed: after a crash it may be replayed once more).
    pub(super) fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        self.inbox.remove(queue_key(queue, seq))?;
        Ok(())
    }
}
