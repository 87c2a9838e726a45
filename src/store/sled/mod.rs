//! The embedded sled backend (the default): one sled tree per kind, keys encoded by `keys`
//! (length-prefixed parts, big-endian numbers so they sort), values as JSON. A `meta` tree
//! holds `schema_version`; opening runs the migrations from the stored version up to the
//! wanted one and refuses a database written by a newer imbridge.
//!
//! Consistency: updates that must agree across trees run in one sled transaction.
//!
//! Durability: sled writes reach disk at the next background flush (every 500 ms) or
//! [`Store::flush`]; the calls the store documents as durable flush before returning, one flush
//! at a time with concurrent callers sharing it (group commit, [`flush`]).
//!
//! Permissions: the folder is created (or reset) to mode 0700 and the files in it set to 0600
//! after opening, since logins hold remote credentials.

mod dump;
mod flush;
mod keys;
mod messages;
mod queue;
mod reactions;
mod tables;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::backend::{PortalChange, StoreBackend, StoreDump};
use super::scope::{now_ms, TxnFingerprint, TxnScope, TXN_KEEP_LAST, TXN_MAX_AGE_MS};
use super::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};
use super::{OpenOptions, Result, Store, StoreError, SCHEMA_KEY};

/// The sled database and its trees.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    logins: sled::Tree,
    ghosts: sled::Tree,
    portals: sled::Tree,
    room_portals: sled::Tree,
    messages: sled::Tree,
    message_events: sled::Tree,
    reactions: sled::Tree,
    reaction_events: sled::Tree,
    txns: sled::Tree,
    txn_order: sled::Tree,
    inbox: sled::Tree,
    kv: sled::Tree,
    /// `mark_txn` calls since start (expiry runs every so many).
    txn_marks: AtomicU64,
    /// Held while drawing sequence numbers and inserting inbox items, so items become
    /// visible in number order (a reader never skips one inserted late).
    inbox_lock: std::sync::Mutex<()>,
    /// Durable flushes, one at a time, shared by callers that arrive during one.
    flusher: flush::Flusher,
}

/// Opens (creating if needed) the sled store in folder `path`, brings its schema to
/// `opts.schema_version` and expires old dedup marks.
pub(super) async fn open(path: &Path, opts: &OpenOptions<'_>) -> Result<Store> {
    let sled = Arc::new(SledStore::open(path, opts.cache_bytes)?);
    let store = Store::from_backend(sled.clone());
    sled.check_schema(&store, opts).await?;
    if let Err(e) = sled.expire_txns(now_ms(), TXN_MAX_AGE_MS, TXN_KEEP_LAST) {
        tracing::warn!(error = %e, "transaction dedup expiry failed");
    }
    Ok(store)
}

impl SledStore {
    fn open(path: &Path, cache_bytes: u64) -> Result<SledStore> {
        prepare_dir(path)?;
        let db = open_db(path, cache_bytes)?;
        restrict_files(path)?;
        let tree = |name: &str| db.open_tree(name);
        Ok(SledStore {
            meta: tree("meta")?,
            logins: tree("logins")?,
            ghosts: tree("ghosts")?,
            portals: tree("portals")?,
            room_portals: tree("room_portals")?,
            messages: tree("messages")?,
            message_events: tree("message_events")?,
            reactions: tree("reactions")?,
            reaction_events: tree("reaction_events")?,
            txns: tree("txns")?,
            txn_order: tree("txn_order")?,
            inbox: tree("inbox")?,
            kv: tree("kv")?,
            txn_marks: AtomicU64::new(0),
            inbox_lock: std::sync::Mutex::new(()),
            flusher: flush::Flusher::default(),
            path: path.to_path_buf(),
            db,
        })
    }

    async fn check_schema(&self, store: &Store, opts: &OpenOptions<'_>) -> Result<()> {
        let meta = &self.meta;
        let Some(mut current) = read_version(meta)? else {
            // A new database starts at the current schema.
            meta.insert(SCHEMA_KEY, &opts.schema_version.to_be_bytes())?;
            self.sync().await?;
            return Ok(());
        };
        if current > opts.schema_version {
            return Err(StoreError::SchemaTooNew {
                location: self.path.display().to_string(),
                found: current,
                supported: opts.schema_version,
            });
        }
        while current < opts.schema_version {
            let step = opts
                .migrations
                .iter()
                .find(|m| m.from == current && m.to > current && m.to <= opts.schema_version)
                .ok_or_else(|| StoreError::Migration {
                    from: current,
                    to: opts.schema_version,
                    reason: format!("no migration from version {current}"),
                })?;
            tracing::info!(from = step.from, to = step.to, "migrating the database");
            (step.run)(store).await.map_err(|e| StoreError::Migration {
                from: step.from,
                to: step.to,
                reason: e.to_string(),
            })?;
            meta.insert(SCHEMA_KEY, &step.to.to_be_bytes())?;
            self.sync().await?;
            current = step.to;
        }
        Ok(())
    }

    /// Flushes to disk without blocking the async runtime's thread (see [`flush`]).
    async fn sync(&self) -> Result<usize> {
        self.flusher.flush(&self.db).await
    }
}

#[async_trait]
impl StoreBackend for SledStore {
    fn describe(&self) -> String {
        format!("sled at {}", self.path.display())
    }
    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
    async fn schema_version(&self) -> Result<u32> {
        Ok(read_version(&self.meta)?.unwrap_or(0))
    }
    async fn flush(&self) -> Result<usize> {
        self.sync().await
    }
    async fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    async fn get_login(&self, mxid: &str) -> Result<Option<LoginRecord>> {
        SledStore::get_login(self, mxid)
    }
    async fn put_login(&self, record: &LoginRecord) -> Result<()> {
        SledStore::put_login(self, record)?;
        self.sync().await.map(drop)
    }
    async fn delete_login(&self, mxid: &str) -> Result<bool> {
        let existed = SledStore::delete_login(self, mxid)?;
        self.sync().await?;
        Ok(existed)
    }
    async fn list_logins(&self) -> Result<Vec<LoginRecord>> {
        SledStore::list_logins(self)
    }

    async fn get_ghost(&self, remote_id: &str) -> Result<Option<GhostRecord>> {
        SledStore::get_ghost(self, remote_id)
    }
    async fn put_ghost(&self, record: &GhostRecord) -> Result<()> {
        SledStore::put_ghost(self, record)
    }
    async fn delete_ghost(&self, remote_id: &str) -> Result<bool> {
        SledStore::delete_ghost(self, remote_id)
    }
    async fn list_ghosts(&self) -> Result<Vec<GhostRecord>> {
        SledStore::list_ghosts(self)
    }

    async fn get_portal(&self, key: &str) -> Result<Option<PortalRecord>> {
        SledStore::get_portal(self, key)
    }
    async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>> {
        SledStore::portal_by_room(self, room_id)
    }
    async fn put_portal(&self, record: &PortalRecord) -> Result<()> {
        SledStore::put_portal(self, record)
    }
    async fn update_portal(
        &self,
        key: &str,
        change: PortalChange<'_>,
    ) -> Result<Option<PortalRecord>> {
        SledStore::update_portal(self, key, change)
    }
    async fn delete_portal(&self, key: &str) -> Result<bool> {
        SledStore::delete_portal(self, key)
    }
    async fn list_portals(&self) -> Result<Vec<PortalRecord>> {
        SledStore::list_portals(self)
    }

    async fn get_kv(&self, key: &str) -> Result<Option<String>> {
        SledStore::get_kv(self, key)
    }
    async fn put_kv(&self, key: &str, value: &str) -> Result<()> {
        SledStore::put_kv(self, key, value)
    }
    async fn delete_kv(&self, key: &str) -> Result<bool> {
        SledStore::delete_kv(self, key)
    }
    async fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        SledStore::list_kv(self, prefix)
    }

    async fn put_message(&self, portal_key: &str, record: &MessageRecord) -> Result<()> {
        SledStore::put_message(self, portal_key, record)
    }
    async fn message_parts(&self, portal_key: &str, remote_id: &str) -> Result<Vec<MessageRecord>> {
        SledStore::message_parts(self, portal_key, remote_id)
    }
    async fn message_by_event(&self, event_id: &str) -> Result<Option<(String, MessageRecord)>> {
        SledStore::message_by_event(self, event_id)
    }
    async fn delete_message(&self, portal_key: &str, remote_id: &str) -> Result<usize> {
        SledStore::delete_message(self, portal_key, remote_id)
    }

    async fn put_reaction(&self, portal_key: &str, record: &ReactionRecord) -> Result<()> {
        SledStore::put_reaction(self, portal_key, record)
    }
    async fn reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        SledStore::reaction(self, portal_key, target, sender, key)
    }
    async fn reactions_on(&self, portal_key: &str, target: &str) -> Result<Vec<ReactionRecord>> {
        SledStore::reactions_on(self, portal_key, target)
    }
    async fn reaction_by_event(&self, event_id: &str) -> Result<Option<(String, ReactionRecord)>> {
        SledStore::reaction_by_event(self, event_id)
    }
    async fn delete_reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        SledStore::delete_reaction(self, portal_key, target, sender, key)
    }

    async fn seen_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<bool> {
        SledStore::seen_txn(self, scope, txn_id, fp)
    }
    async fn mark_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<()> {
        SledStore::mark_txn(self, scope, txn_id, fp)?;
        self.sync().await.map(drop)
    }
    async fn seen_event(&self, event_id: &str) -> Result<bool> {
        SledStore::seen_event(self, event_id)
    }
    async fn enqueue_events(
        &self,
        queue: &str,
        items: &[(Option<&str>, &[u8])],
    ) -> Result<Vec<u64>> {
        let seqs = SledStore::enqueue_events(self, queue, items)?;
        self.sync().await?;
        Ok(seqs)
    }
    async fn expire_txns(&self, now_ms: u64, max_age_ms: u64, keep_last: usize) -> Result<usize> {
        SledStore::expire_txns(self, now_ms, max_age_ms, keep_last)
    }

    async fn enqueue(&self, queue: &str, item: &[u8], durable: bool) -> Result<u64> {
        let seq = SledStore::enqueue(self, queue, item)?;
        if durable {
            self.sync().await?;
        }
        Ok(seq)
    }
    async fn enqueue_batch(&self, queue: &str, items: &[&[u8]]) -> Result<Vec<u64>> {
        let seqs = SledStore::enqueue_batch(self, queue, items)?;
        self.sync().await?;
        Ok(seqs)
    }
    async fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        SledStore::pending_after(self, queue, after, limit)
    }
    async fn pending_count(&self, queue: &str) -> Result<usize> {
        SledStore::pending_count(self, queue)
    }
    async fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        let moved = SledStore::move_queue(self, from, to)?;
        if moved > 0 {
            self.sync().await?;
        }
        Ok(moved)
    }
    async fn clear_queue(&self, queue: &str) -> Result<usize> {
        SledStore::clear_queue(self, queue)
    }
    async fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        SledStore::ack(self, queue, seq)
    }

    async fn dump(&self) -> Result<StoreDump> {
        let mut dump = dump::dump(self)?;
        dump.schema_version = read_version(&self.meta)?.unwrap_or(0);
        dump.sort();
        Ok(dump)
    }
    async fn load(&self, _dump: &StoreDump) -> Result<()> {
        Err(StoreError::Unsupported(
            "copying into a sled store is not supported (only sled → PostgreSQL)".into(),
        ))
    }
}

/// Opens sled, waiting a little while the folder is locked: sled's background thread can hold
/// the lock for a moment after the last handle of a previous open is dropped.
fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

fn read_version(meta: &sled::Tree) -> Result<Option<u32>> {
    match meta.get(SCHEMA_KEY)? {
        None => Ok(None),
        Some(v) => {
            let bytes: [u8; 4] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: "meta",
                key: "schema_version".into(),
                detail: format!("{} bytes instead of 4", v.len()),
            })?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}

/// Creates the folder with mode 0700, or sets an existing one to 0700.
fn prepare_dir(path: &Path) -> Result<()> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io)
    }
}

/// Sets the files sled created to 0600 (folders to 0700).
fn restrict_files(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let mode = if kind.is_dir() {
            restrict_files(&path)?;
            0o700
        } else if kind.is_file() {
            0o600
        } else {
            continue;
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|source| StoreError::Io { path, source })?;
    }
    Ok(())
}

/// Maps a sled transaction error.
fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

/// Aborts a transaction with a store error.
fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}
