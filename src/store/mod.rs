//! The bridge's embedded database (sled): logins, ghosts, portals, the message and reaction maps, appservice
//! transaction dedup, the durable inbox of incoming work, and small misc state. It is
//! network-agnostic: ids are plain strings and the store never names a network.
//!
//! Layout: one sled tree per kind, keys encoded by `keys` (length-prefixed parts, big-endian
//! numbers so they sort), values as JSON (`serde_json`, field names stable; new optional
//! fields default when old records are read). A `meta` tree holds `schema_version`; opening
//! runs the migrations from the stored version up to [`SCHEMA_VERSION`] and refuses a database
//! written by a newer imbridge.
//!
//! Consistency: updates that must agree across trees (portal ↔ room index, message map in both
//! directions, inbox items ↔ event-id marks) run in one sled transaction, so a crash leaves
//! all or none of them.
//!
//! Durability: sled writes reach disk at the next background flush (every 500 ms) or
//! [`Store::flush`]. These calls flush before returning, so their effect survives a crash once
//! they return: [`Store::enqueue`], [`Store::enqueue_batch`], [`Store::enqueue_events`],
//! [`Store::mark_txn`], [`Store::put_login`], [`Store::delete_login`]. Everything else is
//! durable within ~500 ms; losing that window is harmless (ghost/portal state is refreshed,
//! an un-persisted `ack` replays an item, which the core handles as at-least-once).
//!
//! Permissions: the folder is created (or reset) to mode 0700 and the files in it set to 0600
//! after opening, since logins hold remote credentials.

mod keys;
mod messages;
mod queue;
mod reactions;
mod records;
mod tables;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use queue::{TxnFingerprint, TxnScope, TXN_EXPIRE_EVERY, TXN_KEEP_LAST, TXN_MAX_AGE_MS};
pub use records::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Key of the schema version in the `meta` tree (value: `u32` big-endian).
pub const SCHEMA_KEY: &[u8] = b"schema_version";

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode a {tree} record: {source}")]
    Encode {
        tree: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("corrupt {tree} record {key:?}: {detail}")]
    Corrupt {
        tree: &'static str,
        key: String,
        detail: String,
    },
    #[error(
        "the database at {path} has schema version {found}, but this imbridge supports up to \
         {supported}: run a newer imbridge, or restore a backup made before the upgrade"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the database at {path} is in use by another process (is another imbridge running \
         with this config?)"
    )]
    Locked { path: PathBuf },
    #[error("cannot migrate the database from schema version {from} to {to}: {reason}")]
    Migration { from: u32, to: u32, reason: String },
}

/// Result of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One schema step: run on a store at version `from`, leaves it at `to` (= `from + 1`).
/// Steps must be idempotent: a crash during one re-runs it on the next start.
#[derive(Clone, Copy)]
pub struct Migration {
    pub from: u32,
    pub to: u32,
    pub run: fn(&Store) -> Result<()>,
}

/// The built-in migrations, oldest first.
const MIGRATIONS: &[Migration] = &[];

/// How to open a store; [`Store::open`] uses the built-in schema.
#[derive(Clone, Copy)]
pub struct OpenOptions<'a> {
    /// The version to migrate to.
    pub schema_version: u32,
    /// The steps to get there.
    pub migrations: &'a [Migration],
    /// sled's page cache size in bytes.
    pub cache_bytes: u64,
}

impl Default for OpenOptions<'_> {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            migrations: MIGRATIONS,
            cache_bytes: 64 << 20,
        }
    }
}

/// The database handle; cheap to clone (all clones share one database).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
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
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in folder `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Opens with explicit schema and migrations (for tests and tools).
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions<'_>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        prepare_dir(&path)?;
        let db = open_db(&path, opts.cache_bytes)?;
        restrict_files(&path)?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            inner: Arc::new(Inner {
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
                path,
                db,
            }),
        };
        store.check_schema(opts)?;
        if let Err(e) = store.expire_txns(now_ms(), queue::TXN_MAX_AGE_MS, queue::TXN_KEEP_LAST) {
            tracing::warn!(error = %e, "transaction dedup expiry failed");
        }
        Ok(store)
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(read_version(&self.inner.meta)?.unwrap_or(0))
    }

    fn check_schema(&self, opts: &OpenOptions<'_>) -> Result<()> {
        let meta = &self.inner.meta;
        let Some(mut current) = read_version(meta)? else {
            // A new database starts at the current schema.
            meta.insert(SCHEMA_KEY, &opts.schema_version.to_be_bytes())?;
            self.inner.db.flush()?;
            return Ok(());
        };
        if current > opts.schema_version {
            return Err(StoreError::SchemaTooNew {
                path: self.inner.path.clone(),
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
            (step.run)(self).map_err(|e| StoreError::Migration {
                from: step.from,
                to: step.to,
                reason: e.to_string(),
            })?;
            meta.insert(SCHEMA_KEY, &step.to.to_be_bytes())?;
            self.inner.db.flush()?;
            current = step.to;
        }
        Ok(())
    }

    /// Writes everything to disk; returns the bytes flushed.
    pub fn flush(&self) -> Result<usize> {
        Ok(self.inner.db.flush()?)
    }

    /// Like [`Store::flush`], without blocking the async runtime's thread.
    pub async fn flush_async(&self) -> Result<usize> {
        Ok(self.inner.db.flush_async().await?)
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
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

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
