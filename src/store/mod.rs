//! The bridge's database: logins, ghosts, portals, the message and reaction maps, appservice
//! transaction dedup, the durable inbox of incoming work, and small misc state. It is
//! network-agnostic: ids are plain strings and the store never names a network.
//!
//! [`Store`] is a cheap-clone handle over a [`StoreBackend`]: `sled` (embedded, the default,
//! see [`sled`]) or PostgreSQL (cargo feature `postgres`, see `postgres`). Both
//! keep the same records (JSON, field names stable: see [`records`]) and meet the same rules:
//!
//! Consistency: updates that must agree across tables (portal ↔ room index, message map in
//! both directions, reaction map in both directions, inbox items ↔ event-id marks) are
//! atomic, so a crash leaves all or none of them.
//!
//! Durability: these calls are durable on return: [`Store::enqueue`],
//! [`Store::enqueue_batch`], [`Store::enqueue_events`], [`Store::mark_txn`],
//! [`Store::put_login`], [`Store::delete_login`], [`Store::move_queue`]. Everything else is
//! durable within ~500 ms (sled's background flush; PostgreSQL's asynchronous commit, flushed
//! by its WAL writer within 600 ms at the server's defaults), and [`Store::flush`] makes
//! everything before it durable;
//! losing that window is harmless (ghost/portal state is refreshed, an un-persisted `ack`
//! replays an item, which the core handles as at-least-once).
//!
//! Schema: each backend records its schema version and refuses a database written by a newer
//! imbridge ([`StoreError::SchemaTooNew`]).

mod api;
pub mod backend;
pub mod copy;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod records;
pub mod scope;
pub mod sled;
pub mod testing;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

pub use backend::{StoreBackend, StoreDump};
pub use records::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};
pub use scope::{TxnFingerprint, TxnScope, TXN_EXPIRE_EVERY, TXN_KEEP_LAST, TXN_MAX_AGE_MS};

use crate::config::{DatabaseConfig, DatabaseKind};

/// The schema version this build writes (both backends).
pub const SCHEMA_VERSION: u32 = 1;

/// Key of the schema version in sled's `meta` tree (value: `u32` big-endian).
pub const SCHEMA_KEY: &[u8] = b"schema_version";

/// A PostgreSQL error in words an operator can act on: tokio-postgres' own text is only its
/// kind ("db error"), so the server's message and SQLSTATE code (or the underlying I/O or
/// protocol cause) are appended, as in `db error: ERROR 23505: duplicate key value …`.
#[cfg(feature = "postgres")]
fn postgres_detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{e}: {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        );
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] ::sled::Error),
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL: {}", postgres_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot reach the database {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
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
        "the database at {location} has schema version {found}, but this imbridge supports up \
         to {supported}: run a newer imbridge, or restore a backup made before the upgrade"
    )]
    SchemaTooNew {
        location: String,
        found: u32,
        supported: u32,
    },
    #[error(
        "the database at {path} is in use by another process (is another imbridge running \
         with this config?)"
    )]
    Locked { path: std::path::PathBuf },
    #[error("cannot migrate the database from schema version {from} to {to}: {reason}")]
    Migration { from: u32, to: u32, reason: String },
    #[error("the target database {target} is not empty: copy only into an empty database")]
    NotEmpty { target: String },
    #[error("the copy in {target} differs from the source in: {kinds}")]
    CopyMismatch { target: String, kinds: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Result of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A boxed future borrowing the store (a sled migration step).
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// One sled schema step: run on a store at version `from`, leaves it at `to` (= `from + 1`).
/// Steps must be idempotent: a crash during one re-runs it on the next start. (PostgreSQL
/// has its own numbered SQL migrations, see `postgres`.)
#[derive(Clone, Copy)]
pub struct Migration {
    pub from: u32,
    pub to: u32,
    pub run: for<'a> fn(&'a Store) -> StepFuture<'a>,
}

/// The built-in sled migrations, oldest first.
const MIGRATIONS: &[Migration] = &[];

/// How to open a sled store; [`Store::open`] uses the built-in schema.
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
    backend: Arc<dyn StoreBackend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.describe())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store over any backend (tests, tools).
    pub fn from_backend(backend: Arc<dyn StoreBackend>) -> Store {
        Store { backend }
    }

    /// Opens the store the config names: sled at `database.path`, or PostgreSQL at
    /// `database.uri` with a pool of `database.max_connections`.
    pub async fn connect(cfg: &DatabaseConfig) -> Result<Store> {
        match cfg.kind {
            DatabaseKind::Sled => Self::open(&cfg.path).await,
            DatabaseKind::Postgres => {
                let Some(uri) = &cfg.uri else {
                    return Err(StoreError::Unsupported(
                        "database.type is postgres but database.uri is not set".into(),
                    ));
                };
                Self::open_postgres(uri.expose(), cfg.max_connections).await
            }
        }
    }

    /// Opens (creating if needed) the sled store in folder `path` and brings its schema up to
    /// date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path, &OpenOptions::default()).await
    }

    /// Opens a sled store with explicit schema and migrations (for tests and tools).
    pub async fn open_with(path: impl AsRef<Path>, opts: &OpenOptions<'_>) -> Result<Store> {
        sled::open(path.as_ref(), opts).await
    }

    /// Connects to PostgreSQL at `uri` (`postgres://user:password@host:port/db`, or
    /// `host=… dbname=…`) with a pool of at most `max_connections`, and brings the schema up
    /// to date (numbered migrations, refusing a newer schema). Errors name the server without
    /// the password.
    #[cfg(feature = "postgres")]
    pub async fn open_postgres(uri: &str, max_connections: u32) -> Result<Store> {
        let backend = postgres::PgStore::connect(uri, max_connections).await?;
        Ok(Store::from_backend(Arc::new(backend)))
    }

    /// Without the `postgres` feature: always an error saying so.
    #[cfg(not(feature = "postgres"))]
    pub async fn open_postgres(_uri: &str, _max_connections: u32) -> Result<Store> {
        Err(StoreError::Unsupported(
            "this imbridge was built without PostgreSQL support (cargo feature `postgres`)".into(),
        ))
    }

    /// The backend and where it is (folder, or host/database), for logs; never a password.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The store's folder (sled), `None` for a database server.
    pub fn path(&self) -> Option<&Path> {
        self.backend.path()
    }

    /// The backend itself (tools and tests).
    pub fn backend(&self) -> &Arc<dyn StoreBackend> {
        &self.backend
    }
}

#[cfg(test)]
mod tests;
