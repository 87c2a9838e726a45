//! Transaction dedup scopes and limits, shared by both backends.
//!
//! Two kinds of marks share one dedup table, each under its own 16-byte scope:
//!
//! * **event ids** ([`TxnScope::event_ids`]): what is really unique.
//!   [`Store::enqueue_events`](super::Store::enqueue_events) queues a transaction's events and
//!   marks their ids atomically, skipping ids already marked, so an event delivered twice (a
//!   retried transaction, or the same event in a transaction with another id) is queued once.
//! * **transaction ids** ([`TxnScope::from_hs_token`], scoped to the registration): a mark
//!   holds the [`TxnFingerprint`] of what the transaction carried. Only the same id with the
//!   same fingerprint is a retry. Synapse on SQLite numbers transactions from 1 again after a
//!   restart, so an id seen before carrying other events is a new transaction, not a retry.
//!   The mark catches exact retries of transactions without event ids (receipts, typing).
//!
//! Marks expire after [`TXN_MAX_AGE_MS`] and beyond the newest [`TXN_KEEP_LAST`] per scope;
//! expiry runs every [`TXN_EXPIRE_EVERY`] marks and when a store is opened.

use std::fmt;

use sha2::{Digest, Sha256};

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

    /// The scope as stored (16 bytes).
    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// A scope from its stored bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        TxnScope(bytes)
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

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
