//! Durable flushes of the sled database, one at a time with group commit.
//!
//! sled 0.34's `flush_async` deadlocks when several run at once (spacejam/sled#1308: the
//! flushes fill sled's I/O thread pool while the buffer write they wait for queues behind
//! them; a multi-tree transaction waiting for its lock then blocks everything). The stand-in
//! homeserver benchmark hit it with a few portals sending to the network at once. So the
//! blocking `flush` runs on tokio's blocking pool, one at a time, and callers that arrive
//! while a flush runs share the next one: a burst of durable writes costs one fsync, not one
//! each.

use std::sync::atomic::{AtomicU64, Ordering};

use super::super::{Result, StoreError};

/// Serialises flushes and counts them, so a caller can tell whether a flush that started
/// after its write has already finished.
#[derive(Default)]
pub(super) struct Flusher {
    /// Number of the last flush started.
    started: AtomicU64,
    /// Number of the last flush finished successfully.
    done: AtomicU64,
    /// Held while a flush runs.
    turn: tokio::sync::Mutex<()>,
}

impl Flusher {
    /// Returns once everything written to `db` before the call is on disk; the bytes this
    /// call's own flush wrote (0 when a shared flush covered it).
    pub(super) async fn flush(&self, db: &sled::Db) -> Result<usize> {
        // Any flush numbered above `ticket` started after the caller's writes.
        let ticket = self.started.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        if self.done.load(Ordering::SeqCst) > ticket {
            return Ok(0);
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let db = db.clone();
        let written = tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| {
                StoreError::Db(sled::Error::ReportableBug(format!("flush task: {e}")))
            })??;
        self.done.store(number, Ordering::SeqCst);
        Ok(written)
    }
}
