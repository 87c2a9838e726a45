//! The contract between [`Store`](super::Store) and a database: [`StoreBackend`], one
//! implementation per database (`sled`, `postgres`), and [`StoreDump`], the exact contents of
//! a store used to copy one backend into another (`imbridge migrate-store`).
//!
//! Every backend meets the same rules, stated on the [`Store`](super::Store) methods: the
//! multi-record updates listed there are atomic, and the calls marked "durable on return"
//! survive a crash once they return. Records travel as the typed structs of
//! [`records`](super::records); a backend stores them as JSON (field names stable).

use std::path::Path;

use async_trait::async_trait;

use super::records::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};
use super::scope::{TxnFingerprint, TxnScope};
use super::Result;

/// A portal edit for [`StoreBackend::update_portal`]: edits the record, returns whether to
/// save it. May run more than once (a retried transaction), so it must depend only on the
/// record.
pub type PortalChange<'a> = &'a (dyn Fn(&mut PortalRecord) -> bool + Send + Sync);

/// One database behind a [`Store`](super::Store). Object-safe; see the `Store` method of the
/// same name for each operation's contract.
#[async_trait]
pub trait StoreBackend: Send + Sync + 'static {
    /// What this is, for logs: the backend and its folder or host/database (never a password).
    fn describe(&self) -> String;
    /// The folder of an embedded database, `None` for a server.
    fn path(&self) -> Option<&Path>;
    /// The schema version recorded in the database.
    async fn schema_version(&self) -> Result<u32>;
    /// Makes every earlier write durable; returns the bytes flushed (0 when there was
    /// nothing to do).
    async fn flush(&self) -> Result<usize>;
    /// The database's size in bytes.
    async fn size_on_disk(&self) -> Result<u64>;

    async fn get_login(&self, mxid: &str) -> Result<Option<LoginRecord>>;
    async fn put_login(&self, record: &LoginRecord) -> Result<()>;
    async fn delete_login(&self, mxid: &str) -> Result<bool>;
    async fn list_logins(&self) -> Result<Vec<LoginRecord>>;

    async fn get_ghost(&self, remote_id: &str) -> Result<Option<GhostRecord>>;
    async fn put_ghost(&self, record: &GhostRecord) -> Result<()>;
    async fn delete_ghost(&self, remote_id: &str) -> Result<bool>;
    async fn list_ghosts(&self) -> Result<Vec<GhostRecord>>;

    async fn get_portal(&self, key: &str) -> Result<Option<PortalRecord>>;
    async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>>;
    async fn put_portal(&self, record: &PortalRecord) -> Result<()>;
    async fn update_portal(
        &self,
        key: &str,
        change: PortalChange<'_>,
    ) -> Result<Option<PortalRecord>>;
    async fn delete_portal(&self, key: &str) -> Result<bool>;
    async fn list_portals(&self) -> Result<Vec<PortalRecord>>;

    async fn get_kv(&self, key: &str) -> Result<Option<String>>;
    async fn put_kv(&self, key: &str, value: &str) -> Result<()>;
    async fn delete_kv(&self, key: &str) -> Result<bool>;
    async fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>>;

    async fn put_message(&self, portal_key: &str, record: &MessageRecord) -> Result<()>;
    async fn message_parts(&self, portal_key: &str, remote_id: &str) -> Result<Vec<MessageRecord>>;
    async fn message_by_event(&self, event_id: &str) -> Result<Option<(String, MessageRecord)>>;
    async fn delete_message(&self, portal_key: &str, remote_id: &str) -> Result<usize>;

    async fn put_reaction(&self, portal_key: &str, record: &ReactionRecord) -> Result<()>;
    async fn reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>>;
    /// Every bridged reaction on remote message `target` of the portal (any sender, any key).
    async fn reactions_on(&self, portal_key: &str, target: &str) -> Result<Vec<ReactionRecord>>;
    async fn reaction_by_event(&self, event_id: &str) -> Result<Option<(String, ReactionRecord)>>;
    async fn delete_reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>>;

    async fn seen_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<bool>;
    async fn mark_txn(&self, scope: &TxnScope, txn_id: &str, fp: &TxnFingerprint) -> Result<()>;
    async fn seen_event(&self, event_id: &str) -> Result<bool>;
    async fn enqueue_events(
        &self,
        queue: &str,
        items: &[(Option<&str>, &[u8])],
    ) -> Result<Vec<u64>>;
    async fn expire_txns(&self, now_ms: u64, max_age_ms: u64, keep_last: usize) -> Result<usize>;

    /// Appends one item; `durable` asks for durability on return (else at the next flush).
    async fn enqueue(&self, queue: &str, item: &[u8], durable: bool) -> Result<u64>;
    async fn enqueue_batch(&self, queue: &str, items: &[&[u8]]) -> Result<Vec<u64>>;
    async fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>>;
    async fn pending_count(&self, queue: &str) -> Result<usize>;
    async fn move_queue(&self, from: &str, to: &str) -> Result<usize>;
    async fn clear_queue(&self, queue: &str) -> Result<usize>;
    async fn ack(&self, queue: &str, seq: u64) -> Result<()>;

    /// Everything in the store, in canonical order (see [`StoreDump::sort`]).
    async fn dump(&self) -> Result<StoreDump>;
    /// Writes a dump into this store, which must be empty ([`StoreError::NotEmpty`]
    /// otherwise), all or nothing, durable on return. Later sequence numbers are above the
    /// dump's.
    ///
    /// [`StoreError::NotEmpty`]: super::StoreError::NotEmpty
    async fn load(&self, dump: &StoreDump) -> Result<()>;
}

/// A message map entry as stored: the portal, the remote message id, the part and the
/// record's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageRow {
    pub portal: String,
    pub remote_id: String,
    pub part: u32,
    pub json: String,
}

/// A reaction map entry as stored: the portal, target message, remote sender, key and the
/// record's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReactionRow {
    pub portal: String,
    pub target: String,
    pub sender: String,
    pub key: String,
    pub json: String,
}

/// Where a Matrix event's message record is: event id → (portal, remote id, part).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageEventRow {
    pub event_id: String,
    pub portal: String,
    pub remote_id: String,
    pub part: u32,
}

/// Where a Matrix event's reaction record is: event id → (portal, target, sender, key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReactionEventRow {
    pub event_id: String,
    pub portal: String,
    pub target: String,
    pub sender: String,
    pub key: String,
}

/// A dedup mark: scope, transaction or event id, when it was made (ms since the epoch) and
/// the fingerprint (`None` for event-id marks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxnMarkRow {
    pub scope: [u8; 16],
    pub id: String,
    pub ts_ms: u64,
    pub fingerprint: Option<TxnFingerprint>,
}

/// An unacked inbox item: queue, sequence number, payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InboxRow {
    pub queue: String,
    pub seq: u64,
    pub item: Vec<u8>,
}

/// The exact contents of a store, record by record. Records are kept as their stored JSON
/// text so a copy preserves fields this build does not know. Pairs are (key, JSON) for the
/// keyed tables and (room id, portal key) for the room index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreDump {
    pub schema_version: u32,
    pub logins: Vec<(String, String)>,
    pub ghosts: Vec<(String, String)>,
    pub portals: Vec<(String, String)>,
    pub room_portals: Vec<(String, String)>,
    pub messages: Vec<MessageRow>,
    pub message_events: Vec<MessageEventRow>,
    pub reactions: Vec<ReactionRow>,
    pub reaction_events: Vec<ReactionEventRow>,
    pub kv: Vec<(String, String)>,
    pub txn_marks: Vec<TxnMarkRow>,
    pub inbox: Vec<InboxRow>,
}

impl StoreDump {
    /// Puts every list in a canonical order (by all fields), so dumps of the same contents
    /// compare equal whatever order a backend reads in.
    pub fn sort(&mut self) {
        self.logins.sort();
        self.ghosts.sort();
        self.portals.sort();
        self.room_portals.sort();
        self.messages.sort();
        self.message_events.sort();
        self.reactions.sort();
        self.reaction_events.sort();
        self.kv.sort();
        self.txn_marks.sort();
        self.inbox.sort();
    }

    /// How many records it holds, all lists together.
    pub fn len(&self) -> usize {
        self.logins.len()
            + self.ghosts.len()
            + self.portals.len()
            + self.room_portals.len()
            + self.messages.len()
            + self.message_events.len()
            + self.reactions.len()
            + self.reaction_events.len()
            + self.kv.len()
            + self.txn_marks.len()
            + self.inbox.len()
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
