//! The PostgreSQL backend (cargo feature `postgres`): the sled store's trees as tables (see
//! `migrations/0001_init.sql`), records as JSON text, a connection pool (`deadpool-postgres`
//! over `tokio-postgres`, no TLS: connect over a unix socket or a trusted network).
//!
//! Consistency: every multi-row update runs in one SQL transaction; read-modify-write steps
//! lock the row they read (`SELECT … FOR UPDATE`).
//!
//! Durability: the store's promise (see [`crate::store`]), met with PostgreSQL's asynchronous
//! commit. Connections run with `synchronous_commit = off` (unless the URI's `options` set it):
//! a commit returns before its WAL record reaches the disk, and the WAL writer flushes it
//! within 3 × `wal_writer_delay` (600 ms at the default 200 ms); a server crash loses at most
//! that suffix of commits, never part of one, and never breaks their order. The calls the
//! store documents as durable run in a transaction with `SET LOCAL synchronous_commit = on`,
//! and [`Store::flush`](super::Store::flush) commits one such transaction: the WAL is one
//! sequence, so waiting for that commit's flush makes every earlier commit durable too.
//! Measured on this machine's disk, a synchronous commit waits ~3 ms for its fsync; a bridged
//! message made about five of them before (see README, "Benchmarks").
//!
//! Inbox order: one sequence numbers every queue's items. A writer takes a transaction-level
//! advisory lock on its queue ([`LOCK_SPACE_QUEUE`], hash of the queue name) before drawing
//! numbers, so numbers commit in increasing order within a queue and a reader that remembers
//! its position never skips an item committed late.
//!
//! Advisory locks: the two-key form `(space, key)` with the spaces below; other spaces are
//! free for later users (a failover lease).

mod dump;
pub mod lease;
mod maps;
mod migrate;
mod queue;
mod tables;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::backend::{PortalChange, StoreBackend, StoreDump};
use super::scope::{now_ms, TxnFingerprint, TxnScope, TXN_KEEP_LAST, TXN_MAX_AGE_MS};
use super::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};
use super::{Result, StoreError};
use crate::config::redact_uri;

pub use migrate::{PgMigration, PG_MIGRATIONS};

/// Advisory-lock space of schema migrations (key 1).
pub const LOCK_SPACE_SCHEMA: i32 = 0x696d_6200;
/// Advisory-lock space of inbox queues (key: `hashtext(queue)`).
pub const LOCK_SPACE_QUEUE: i32 = 0x696d_6201;

/// How long to wait for a pooled connection (or a new one) before failing a call.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database behind a pool.
pub struct PgStore {
    pool: Pool,
    /// The server and database, password hidden (for logs and errors).
    target: String,
    /// Dedup marks since start (expiry runs every so many).
    txn_marks: AtomicU64,
}

impl PgStore {
    /// Connects to `uri` with a pool of at most `max_connections` (at least 1), checks the
    /// server (UTF-8 encoding) and brings the schema up to date, refusing a newer one.
    /// Errors show the URI with its password hidden.
    pub async fn connect(uri: &str, max_connections: u32) -> Result<PgStore> {
        let target = redact_uri(uri);
        let connect_error = |detail: String| StoreError::Connect {
            target: target.clone(),
            detail,
        };
        let mut pg: tokio_postgres::Config = uri
            .parse()
            .map_err(|e: tokio_postgres::Error| connect_error(e.to_string()))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("imbridge");
        }
        let options = pg.get_options().unwrap_or_default().to_owned();
        if !options.contains("synchronous_commit") {
            pg.options(format!("{options} -c synchronous_commit=off").trim_start());
        }
        let manager = Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let size = usize::try_from(max_connections.max(1)).unwrap_or(1);
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| connect_error(e.to_string()))?;
        let store = PgStore {
            pool,
            target,
            txn_marks: AtomicU64::new(0),
        };
        store.check_server().await?;
        migrate::run(&store, super::SCHEMA_VERSION, PG_MIGRATIONS).await?;
        if let Err(e) = store
            .expire_txns(now_ms(), TXN_MAX_AGE_MS, TXN_KEEP_LAST)
            .await
        {
            tracing::warn!(error = %e, "transaction dedup expiry failed");
        }
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| StoreError::Connect {
            target: self.target.clone(),
            detail: e.to_string(),
        })
    }

    /// Begins a transaction whose commit waits for its WAL flush (`synchronous_commit = on`
    /// for it alone), for the calls the store promises durable on return.
    async fn durable_transaction<'a>(
        client: &'a mut deadpool_postgres::Client,
    ) -> Result<deadpool_postgres::Transaction<'a>> {
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await?;
        Ok(tx)
    }

    /// Refuses a database whose encoding is not UTF-8 (records hold any Unicode text).
    async fn check_server(&self) -> Result<()> {
        let client = self.client().await?;
        let row = client.query_one("SHOW server_encoding", &[]).await?;
        let encoding: String = row.get(0);
        if !encoding.eq_ignore_ascii_case("UTF8") {
            return Err(StoreError::Connect {
                target: self.target.clone(),
                detail: format!(
                    "the database's encoding is {encoding}; imbridge needs UTF8 \
                     (CREATE DATABASE … ENCODING 'UTF8')"
                ),
            });
        }
        Ok(())
    }
}

/// A `u64` for an INT8 column (sequence numbers, times); larger values are refused.
fn to_i64(what: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt {
        tree: what,
        key: value.to_string(),
        detail: "number too large for PostgreSQL's int8".into(),
    })
}

/// An INT8 column read back as `u64` (negative values are corrupt).
fn to_u64(what: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        tree: what,
        key: value.to_string(),
        detail: "negative number".into(),
    })
}

/// JSON-encodes a record.
fn encode<T: serde::Serialize>(table: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode {
        tree: table,
        source,
    })
}

/// JSON-decodes a record of `table` stored under `key`.
fn decode<T: serde::de::DeserializeOwned>(table: &'static str, key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        tree: table,
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

#[async_trait]
impl StoreBackend for PgStore {
    fn describe(&self) -> String {
        format!("postgres {}", self.target)
    }
    fn path(&self) -> Option<&Path> {
        None
    }
    async fn schema_version(&self) -> Result<u32> {
        migrate::current_version(&**self.client().await?).await
    }
    async fn flush(&self) -> Result<usize> {
        // PostgreSQL waits for the WAL flush at commit only for a transaction that wrote
        // WAL (`RecordTransactionCommit`): a transactional logical message is the smallest
        // such write (no table, no lock, no row left behind). Its flush covers every
        // earlier commit of any connection: the WAL is one sequence.
        let mut client = self.client().await?;
        let tx = Self::durable_transaction(&mut client).await?;
        tx.execute("SELECT pg_logical_emit_message(true, 'imbridge', '')", &[])
            .await?;
        tx.commit().await?;
        Ok(0)
    }
    async fn size_on_disk(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        to_u64("pg_database_size", row.get(0))
    }

    async fn get_login(&self, mxid: &str) -> Result<Option<LoginRecord>> {
        self.get_record("logins", mxid).await
    }
    async fn put_login(&self, record: &LoginRecord) -> Result<()> {
        self.put_record("logins", &record.mxid, record).await?;
        self.flush().await.map(drop)
    }
    async fn delete_login(&self, mxid: &str) -> Result<bool> {
        let found = self.delete_record("logins", mxid).await?;
        self.flush().await?;
        Ok(found)
    }
    async fn list_logins(&self) -> Result<Vec<LoginRecord>> {
        self.list_records("logins").await
    }

    async fn get_ghost(&self, remote_id: &str) -> Result<Option<GhostRecord>> {
        self.get_record("ghosts", remote_id).await
    }
    async fn put_ghost(&self, record: &GhostRecord) -> Result<()> {
        self.put_record("ghosts", &record.remote_id, record).await
    }
    async fn delete_ghost(&self, remote_id: &str) -> Result<bool> {
        self.delete_record("ghosts", remote_id).await
    }
    async fn list_ghosts(&self) -> Result<Vec<GhostRecord>> {
        self.list_records("ghosts").await
    }

    async fn get_portal(&self, key: &str) -> Result<Option<PortalRecord>> {
        self.get_record("portals", key).await
    }
    async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>> {
        PgStore::portal_by_room(self, room_id).await
    }
    async fn put_portal(&self, record: &PortalRecord) -> Result<()> {
        PgStore::put_portal(self, record).await
    }
    async fn update_portal(
        &self,
        key: &str,
        change: PortalChange<'_>,
    ) -> Result<Option<PortalRecord>> {
        PgStore::update_portal(self, key, change).await
    }
    async fn delete_portal(&self, key: &str) -> Result<bool> {
        PgStore::delete_portal(self, key).await
    }
    async fn list_portals(&self) -> Result<Vec<PortalRecord>> {
        self.list_records("portals").await
    }

    async fn get_kv(&self, key: &str) -> Result<Option<String>> {
        PgStore::get_kv(self, key).await
    }
    async fn put_kv(&self, key: &str, value: &str) -> Result<()> {
        PgStore::put_kv(self, key, value).await
    }
    async fn delete_kv(&self, key: &str) -> Result<bool> {
        PgStore::delete_kv(self, key).await
    }
    async fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        PgStore::list_kv(self, prefix).await
    }

    async fn put_message(&self, portal_key: &str, record: &MessageRecord) -> Result<()> {
        PgStore::put_message(self, portal_key, record).await
    }
    async fn message_parts(&self, portal_key: &str, remote_id: &str) -> Result<Vec<MessageRecord>> {
        PgStore::message_parts(self, portal_key, remote_id).await
    }
    async fn message_by_event(&self, event_id: &str) -> Result<Option<(String, MessageRecord)>> {
        PgStore::message_by_event(self, event_id).await
    }
    async fn delete_message(&self, portal_key: &str, remote_id: &str) -> Result<usize> {
        PgStore::delete_message(self, portal_key, remote_id).await
    }

    async fn put_reaction(&self, portal_key: &str, record: &ReactionRecord) -> Result<()> {
        PgStore::put_reaction(self, portal_key, record).await
    }
    async fn reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        PgStore::reaction(self, portal_key, target, sender, key).await
    }
    async fn reactions_on(&self, portal_key: &str, target: &str) -> Result<Vec<ReactionRecord>> {
        PgStore::reactions_on(self, portal_key, target).await
    }
    async fn reaction_by_event(&self, event_id: &str) -> Result<Option<(String, ReactionRecord)>> {
        PgStore::reaction_by_event(self, event_id).await
    }
    async fn delete_reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        PgStore::delete_reaction(self, portal_key, target, sender, key).await
    }

    async fn seen_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<bool> {
        PgStore::seen_txn(self, scope, txn_id, fp).await
    }
    async fn mark_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<()> {
        PgStore::mark_txn(self, scope, txn_id, fp).await
    }
    async fn seen_event(&self, event_id: &str) -> Result<bool> {
        PgStore::seen_event(self, event_id).await
    }
    async fn enqueue_events(
        &self,
        queue: &str,
        items: &[(Option<&str>, &[u8])],
    ) -> Result<Vec<u64>> {
        PgStore::enqueue_events(self, queue, items).await
    }
    async fn expire_txns(&self, now_ms: u64, max_age_ms: u64, keep_last: usize) -> Result<usize> {
        PgStore::expire_txns(self, now_ms, max_age_ms, keep_last).await
    }

    async fn enqueue(&self, queue: &str, item: &[u8], _durable: bool) -> Result<u64> {
        let seqs = PgStore::enqueue_batch(self, queue, &[item]).await?;
        seqs.first().copied().ok_or_else(|| StoreError::Corrupt {
            tree: "inbox",
            key: queue.to_owned(),
            detail: "no sequence number returned".into(),
        })
    }
    async fn enqueue_batch(&self, queue: &str, items: &[&[u8]]) -> Result<Vec<u64>> {
        PgStore::enqueue_batch(self, queue, items).await
    }
    async fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        PgStore::pending_after(self, queue, after, limit).await
    }
    async fn pending_count(&self, queue: &str) -> Result<usize> {
        PgStore::pending_count(self, queue).await
    }
    async fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        PgStore::move_queue(self, from, to).await
    }
    async fn clear_queue(&self, queue: &str) -> Result<usize> {
        PgStore::clear_queue(self, queue).await
    }
    async fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        PgStore::ack(self, queue, seq).await
    }

    async fn dump(&self) -> Result<StoreDump> {
        let mut dump = dump::dump(self).await?;
        dump.sort();
        Ok(dump)
    }
    async fn load(&self, dump: &StoreDump) -> Result<()> {
        dump::load(self, dump).await
    }
}

#[cfg(test)]
mod commit_tests;
