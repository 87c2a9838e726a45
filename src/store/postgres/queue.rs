//! Appservice dedup (`txn_marks`) and the durable inbox (`inbox`, numbered by `inbox_seq`
//! under a per-queue advisory lock; see the module above).

use std::sync::atomic::Ordering;

use super::{to_i64, to_u64, PgStore, LOCK_SPACE_QUEUE};
use crate::store::scope::{
    now_ms, TxnFingerprint, TxnScope, TXN_EXPIRE_EVERY, TXN_KEEP_LAST, TXN_MAX_AGE_MS,
};
use crate::store::Result;

/// Locks `queue` for the rest of the transaction (numbers then commit in order).
const LOCK_QUEUE: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";
/// Appends an item under the next number.
const INSERT_ITEM: &str =
    "INSERT INTO inbox (queue, seq, item) VALUES ($1, nextval('inbox_seq'), $2) RETURNING seq";

impl PgStore {
    // ---- transaction dedup ------------------------------------------------------------

    pub(super) async fn seen_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT fingerprint FROM txn_marks WHERE scope = $1 AND id = $2",
                &[&&scope.bytes()[..], &txn_id],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get::<_, Option<&[u8]>>(0) == Some(&fp[..])))
    }

    pub(super) async fn mark_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<()> {
        let ts = to_i64("txn_marks", now_ms())?;
        let mut client = self.client().await?;
        let tx = Self::durable_transaction(&mut client).await?;
        tx.execute(
            "INSERT INTO txn_marks (scope, id, ts_ms, fingerprint) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope, id) DO UPDATE \
             SET ts_ms = EXCLUDED.ts_ms, fingerprint = EXCLUDED.fingerprint",
            &[&&scope.bytes()[..], &txn_id, &ts, &&fp[..]],
        )
        .await?;
        tx.commit().await?;
        drop(client);
        self.after_mark().await;
        Ok(())
    }

    pub(super) async fn seen_event(&self, event_id: &str) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM txn_marks WHERE scope = $1 AND id = $2",
                &[&&TxnScope::event_ids().bytes()[..], &event_id],
            )
            .await?;
        Ok(row.is_some())
    }

    pub(super) async fn enqueue_events(
        &self,
        queue: &str,
        items: &[(Option<&str>, &[u8])],
    ) -> Result<Vec<u64>> {
        let ts = to_i64("txn_marks", now_ms())?;
        let scope = TxnScope::event_ids().bytes();
        let mut client = self.client().await?;
        let tx = Self::durable_transaction(&mut client).await?;
        tx.execute(LOCK_QUEUE, &[&LOCK_SPACE_QUEUE, &queue]).await?;
        let mark = tx
            .prepare(
                "INSERT INTO txn_marks (scope, id, ts_ms, fingerprint) VALUES ($1, $2, $3, NULL) \
                 ON CONFLICT (scope, id) DO NOTHING",
            )
            .await?;
        let insert = tx.prepare(INSERT_ITEM).await?;
        let mut seqs = Vec::with_capacity(items.len());
        for (event_id, item) in items {
            if let Some(id) = event_id {
                // Zero rows: marked before (or by a racing call that committed first).
                if tx.execute(&mark, &[&&scope[..], id, &ts]).await? == 0 {
                    continue;
                }
            }
            let row = tx.query_one(&insert, &[&queue, item]).await?;
            seqs.push(to_u64("inbox", row.get(0))?);
        }
        tx.commit().await?;
        drop(client);
        if !seqs.is_empty() {
            self.after_mark().await;
        }
        Ok(seqs)
    }

    /// Runs expiry every [`TXN_EXPIRE_EVERY`] marks.
    async fn after_mark(&self) {
        let n = self.txn_marks.fetch_add(1, Ordering::Relaxed) + 1;
        if n % TXN_EXPIRE_EVERY == 0 {
            if let Err(e) = self
                .expire_txns(now_ms(), TXN_MAX_AGE_MS, TXN_KEEP_LAST)
                .await
            {
                tracing::warn!(error = %e, "transaction dedup expiry failed");
            }
        }
    }

    pub(super) async fn expire_txns(
        &self,
        now_ms: u64,
        max_age_ms: u64,
        keep_last: usize,
    ) -> Result<usize> {
        let cutoff = to_i64("txn_marks", now_ms.saturating_sub(max_age_ms))?;
        let keep = i64::try_from(keep_last).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let old = tx
            .execute("DELETE FROM txn_marks WHERE ts_ms < $1", &[&cutoff])
            .await?;
        // The newest `keep` of each scope stay (newest by time, then id, as in sled).
        let excess = tx
            .execute(
                "DELETE FROM txn_marks t USING ( \
                   SELECT scope, id, row_number() OVER \
                     (PARTITION BY scope ORDER BY ts_ms DESC, id DESC) AS n \
                   FROM txn_marks) r \
                 WHERE t.scope = r.scope AND t.id = r.id AND r.n > $1",
                &[&keep],
            )
            .await?;
        tx.commit().await?;
        Ok(usize::try_from(old + excess).unwrap_or(usize::MAX))
    }

    // ---- inbox ------------------------------------------------------------------------

    pub(super) async fn enqueue_batch(&self, queue: &str, items: &[&[u8]]) -> Result<Vec<u64>> {
        let mut client = self.client().await?;
        let tx = Self::durable_transaction(&mut client).await?;
        tx.execute(LOCK_QUEUE, &[&LOCK_SPACE_QUEUE, &queue]).await?;
        let insert = tx.prepare(INSERT_ITEM).await?;
        let mut seqs = Vec::with_capacity(items.len());
        for item in items {
            let row = tx.query_one(&insert, &[&queue, item]).await?;
            seqs.push(to_u64("inbox", row.get(0))?);
        }
        tx.commit().await?;
        Ok(seqs)
    }

    pub(super) async fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let after = match after {
            None => -1,
            Some(seq) => match i64::try_from(seq) {
                Ok(seq) => seq,
                // Beyond any number PostgreSQL hands out.
                Err(_) => return Ok(Vec::new()),
            },
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, item FROM inbox WHERE queue = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&queue, &after, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((to_u64("inbox", r.get(0))?, r.get(1))))
            .collect()
    }

    pub(super) async fn pending_count(&self, queue: &str) -> Result<usize> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM inbox WHERE queue = $1", &[&queue])
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    pub(super) async fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = Self::durable_transaction(&mut client).await?;
        tx.execute(LOCK_QUEUE, &[&LOCK_SPACE_QUEUE, &to]).await?;
        let rows = tx
            .query(
                "DELETE FROM inbox WHERE queue = $1 RETURNING seq, item",
                &[&from],
            )
            .await?;
        let mut items: Vec<(i64, Vec<u8>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        items.sort_by_key(|(seq, _)| *seq);
        let insert = tx.prepare(INSERT_ITEM).await?;
        for (_, item) in &items {
            tx.query_one(&insert, &[&to, item]).await?;
        }
        tx.commit().await?;
        Ok(items.len())
    }

    pub(super) async fn clear_queue(&self, queue: &str) -> Result<usize> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM inbox WHERE queue = $1", &[&queue])
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) async fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(());
        };
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM inbox WHERE queue = $1 AND seq = $2",
                &[&queue, &seq],
            )
            .await?;
        Ok(())
    }
}
