//! Appservice dedup (`txns`, `txn_order`) and the durable inbox (`inbox`).
//!
//! Two kinds of marks share the dedup trees, each under its own 16-byte scope:
//!
//! * **event ids** ([`TxnScope::event_ids`]): what is really unique. [`Store::enqueue_events`]
//!   queues a transaction's events and marks their ids in one sled transaction, skipping ids
//!   already marked, so an event delivered twice (a retried transaction, or the same event in
//!   a transaction with another id) is queued once.
//! * **transaction ids** ([`TxnScope::from_hs_token`], scoped to the registration): a mark
//!   holds the [`TxnFingerprint`] of what the transaction carried. Only the same id with the
//!   same fingerprint is a retry. Synapse on SQLite numbers transactions from 1 again after a
//!   restart, so an id seen before carrying other events is a new transaction, not a retry.
//!   The mark catches exact retries of transactions without event ids (receipts, typing).
//!
//! Marks expire after [`TXN_MAX_AGE_MS`] and beyond the newest [`TXN_KEEP_LAST`] per scope;
//! expiry runs every [`TXN_EXPIRE_EVERY`] marks.
//!
//! The inbox holds work in named queues, each item under a sequence number from sled's
//! monotonic id generator (increasing across restarts), so [`Store::pending`] returns items in
//! arrival order and replays unacked ones after a restart.

use std::fmt;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use sled::Transactional;

use super::keys::{push_part, read_u64, take_part};
use super::{now_ms, tx_error, Result, Store, StoreError};

/// Transaction marks older than this are forgotten (7 days).
pub const TXN_MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
/// At most this many marks are kept per scope.
pub const TXN_KEEP_LAST: usize = 10_000;
/// Expiry runs once every this many marks.
pub const TXN_EXPIRE_EVERY: u64 = 256;

/// The dedup scope of one registration: a SHA-256 fingerprint of its `hs_token`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnScope([u8; 16]);

impl TxnScope {
    /// The scope of event-id marks (event ids are unique across registrations).
    pub fn event_ids() -> Self {
        Self::from_hs_token("\0imbridge event ids v1")
    }

    /// The scope of the registration with this `hs_token`.
    pub fn from_hs_token(hs_token: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"imbridge txn scope v1\0");
        hasher.update(hs_token.as_bytes());
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        TxnScope(out)
    }

    fn key(&self, txn_id: &str) -> Vec<u8> {
        let mut key = self.0.to_vec();
        key.extend_from_slice(txn_id.as_bytes());
        key
    }

    fn order_key(&self, ts: u64, txn_id: &str) -> Vec<u8> {
        let mut key = self.0.to_vec();
        key.extend_from_slice(&ts.to_be_bytes());
        key.extend_from_slice(txn_id.as_bytes());
        key
    }
}

impl fmt::Debug for TxnScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "TxnScope({hex})")
    }
}

/// What one appservice transaction carried: 16 bytes of a digest made by the caller (the
/// appservice listener hashes the transaction's event ids, or its body when it has none).
pub type TxnFingerprint = [u8; 16];

/// A dedup mark in `txn_order`: its time and key.
type Mark = (u64, Vec<u8>);

fn queue_prefix(queue: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(queue.len() + 4);
    push_part(&mut key, queue.as_bytes());
    key
}

fn queue_key(queue: &str, seq: u64) -> Vec<u8> {
    let mut key = queue_prefix(queue);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl Store {
    // ---- transaction dedup --------------------------------------------------------------

    /// True when transaction `txn_id` was already marked in this scope with the same
    /// fingerprint (a retry). The same id with another fingerprint is a new transaction.
    pub fn seen_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<bool> {
        Ok(self
            .inner
            .txns
            .get(scope.key(txn_id))?
            .is_some_and(|v| v.get(8..) == Some(&fp[..])))
    }

    /// Marks transaction `txn_id` as handled in this scope with its fingerprint, replacing an
    /// older mark of the same id. Durable on return.
    pub fn mark_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<()> {
        let ts = now_ms();
        let mut value = ts.to_be_bytes().to_vec();
        value.extend_from_slice(fp);
        let (txns, order) = (&self.inner.txns, &self.inner.txn_order);
        (txns, order)
            .transaction(|(txns, order)| {
                if let Some(old) = txns.insert(scope.key(txn_id), value.as_slice())? {
                    if let Some(old_ts) = read_u64(&old) {
                        order.remove(scope.order_key(old_ts, txn_id))?;
                    }
                }
                order.insert(scope.order_key(ts, txn_id), &[])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()?;
        self.after_mark();
        Ok(())
    }

    /// Whether the event id is marked as queued (see [`Store::enqueue_events`]).
    pub fn seen_event(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .inner
            .txns
            .contains_key(TxnScope::event_ids().key(event_id))?)
    }

    /// Appends a transaction's items to `queue` and marks their event ids, atomically and
    /// durably; items whose event id is already marked are skipped (delivered before). Items
    /// without an id (receipts, typing) are always added. Returns the sequence numbers of the
    /// items added, in order. Answer the homeserver 200 only after this.
    pub fn enqueue_events<I: AsRef<[u8]>>(
        &self,
        queue: &str,
        items: &[(Option<&str>, I)],
    ) -> Result<Vec<u64>> {
        let ts = now_ms();
        let scope = TxnScope::event_ids();
        let (txns, order, inbox) = (&self.inner.txns, &self.inner.txn_order, &self.inner.inbox);
        let seqs = (txns, order, inbox)
            .transaction(|(txns, order, inbox)| {
                let mut seqs = Vec::with_capacity(items.len());
                for (event_id, item) in items {
                    if let Some(id) = event_id {
                        if txns.get(scope.key(id))?.is_some() {
                            continue;
                        }
                        txns.insert(scope.key(id), &ts.to_be_bytes())?;
                        order.insert(scope.order_key(ts, id), &[])?;
                    }
                    let seq = inbox.generate_id()?;
                    inbox.insert(queue_key(queue, seq), item.as_ref())?;
                    seqs.push(seq);
                }
                Ok(seqs)
            })
            .map_err(tx_error)?;
        self.flush()?;
        if !seqs.is_empty() {
            self.after_mark();
        }
        Ok(seqs)
    }

    fn after_mark(&self) {
        let n = self.inner.txn_marks.fetch_add(1, Ordering::Relaxed) + 1;
        if n % TXN_EXPIRE_EVERY == 0 {
            if let Err(e) = self.expire_txns(now_ms(), TXN_MAX_AGE_MS, TXN_KEEP_LAST) {
                tracing::warn!(error = %e, "transaction dedup expiry failed");
            }
        }
    }

    /// Forgets marks older than `max_age_ms` before `now_ms`, and all but the newest
    /// `keep_last` of each scope; returns how many were forgotten.
    pub fn expire_txns(&self, now_ms: u64, max_age_ms: u64, keep_last: usize) -> Result<usize> {
        let cutoff = now_ms.saturating_sub(max_age_ms);
        // Group the (time-ordered) marks by scope.
        let mut scopes: Vec<(Vec<u8>, Vec<Mark>)> = Vec::new();
        for item in self.inner.txn_order.iter() {
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
            let (txns, order) = (&self.inner.txns, &self.inner.txn_order);
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

    /// Appends an item to `queue`; returns its sequence number. Durable on return.
    pub fn enqueue(&self, queue: &str, item: impl AsRef<[u8]>) -> Result<u64> {
        let seq = self.inner.db.generate_id()?;
        self.inner
            .inbox
            .insert(queue_key(queue, seq), item.as_ref())?;
        self.flush()?;
        Ok(seq)
    }

    /// Appends several items to `queue` at once (all or none, one disk flush); returns their
    /// sequence numbers. Durable on return.
    pub fn enqueue_batch<I: AsRef<[u8]>>(&self, queue: &str, items: &[I]) -> Result<Vec<u64>> {
        let seqs = self
            .inner
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
        self.flush()?;
        Ok(seqs)
    }

    /// Appends an item to `queue` without flushing; returns its sequence number. Durable after
    /// the next [`Store::flush`] (one flush can then cover a whole batch).
    pub fn enqueue_unflushed(&self, queue: &str, item: impl AsRef<[u8]>) -> Result<u64> {
        let seq = self.inner.db.generate_id()?;
        self.inner
            .inbox
            .insert(queue_key(queue, seq), item.as_ref())?;
        Ok(seq)
    }

    /// Every unacked item of `queue`, oldest first.
    pub fn pending(&self, queue: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        self.pending_after(queue, None, usize::MAX)
    }

    /// Up to `limit` unacked items of `queue` with a sequence number above `after`, oldest
    /// first (a reader that remembers where it is does not rescan what it already took).
    pub fn pending_after(
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
        for item in self.inner.inbox.range(start..) {
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
    pub fn pending_count(&self, queue: &str) -> usize {
        self.inner.inbox.scan_prefix(queue_prefix(queue)).count()
    }

    /// Moves every item of `from` to the end of `to`, in order (one sled transaction, flushed);
    /// returns how many were moved.
    pub fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        let items: Vec<(sled::IVec, sled::IVec)> = self
            .inner
            .inbox
            .scan_prefix(queue_prefix(from))
            .collect::<std::result::Result<_, _>>()?;
        if items.is_empty() {
            return Ok(0);
        }
        self.inner
            .inbox
            .transaction(|inbox| {
                for (key, value) in &items {
                    let seq = inbox.generate_id()?;
                    inbox.insert(queue_key(to, seq), value)?;
                    inbox.remove(key)?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(items.len())
    }

    /// Removes every item of `queue` (a login that is gone).
    pub fn clear_queue(&self, queue: &str) -> Result<usize> {
        let keys: Vec<sled::IVec> = self
            .inner
            .inbox
            .scan_prefix(queue_prefix(queue))
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        for key in &keys {
            self.inner.inbox.remove(key)?;
        }
        Ok(keys.len())
    }

    /// Removes a processed item (not flushed: after a crash it may be replayed once more).
    pub fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        self.inner.inbox.remove(queue_key(queue, seq))?;
        Ok(())
    }
}
