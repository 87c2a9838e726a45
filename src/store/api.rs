//! The operations of [`Store`], each delegating to its backend. The doc of each states the
//! contract both backends meet (atomicity, durability, ordering).

use super::backend::StoreDump;
use super::scope::{TxnFingerprint, TxnScope};
use super::{GhostRecord, LoginRecord, MessageRecord, PortalRecord, ReactionRecord};
use super::{Result, Store};

impl Store {
    // ---- housekeeping -----------------------------------------------------------------

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<u32> {
        self.backend.schema_version().await
    }

    /// Makes every earlier write durable (sled: writes to disk; PostgreSQL: already durable,
    /// returns 0); returns the bytes flushed.
    pub async fn flush(&self) -> Result<usize> {
        self.backend.flush().await
    }

    /// The database's size in bytes (sled: on disk; PostgreSQL: `pg_database_size`).
    pub async fn size_on_disk(&self) -> Result<u64> {
        self.backend.size_on_disk().await
    }

    /// Everything in the store, record by record, in canonical order.
    pub async fn dump(&self) -> Result<StoreDump> {
        self.backend.dump().await
    }

    /// Writes `dump` into this store, which must be empty, all or
    /// nothing, durable on return; sequence numbers given later are above the dump's
    /// ([`StoreError::NotEmpty`](super::StoreError::NotEmpty) for a store with records).
    pub async fn load(&self, dump: &StoreDump) -> Result<()> {
        self.backend.load(dump).await
    }

    // ---- logins -----------------------------------------------------------------------

    /// The login of a Matrix user.
    pub async fn get_login(&self, mxid: &str) -> Result<Option<LoginRecord>> {
        self.backend.get_login(mxid).await
    }

    /// Saves a login (replacing the user's previous one). Durable on return.
    pub async fn put_login(&self, record: &LoginRecord) -> Result<()> {
        self.backend.put_login(record).await
    }

    /// Forgets a login; returns whether there was one. Durable on return.
    pub async fn delete_login(&self, mxid: &str) -> Result<bool> {
        self.backend.delete_login(mxid).await
    }

    /// Every login, ordered by MXID.
    pub async fn list_logins(&self) -> Result<Vec<LoginRecord>> {
        self.backend.list_logins().await
    }

    // ---- ghosts -----------------------------------------------------------------------

    /// The ghost of a remote user.
    pub async fn get_ghost(&self, remote_id: &str) -> Result<Option<GhostRecord>> {
        self.backend.get_ghost(remote_id).await
    }

    /// Saves a ghost.
    pub async fn put_ghost(&self, record: &GhostRecord) -> Result<()> {
        self.backend.put_ghost(record).await
    }

    /// Forgets a ghost; returns whether there was one.
    pub async fn delete_ghost(&self, remote_id: &str) -> Result<bool> {
        self.backend.delete_ghost(remote_id).await
    }

    /// Every ghost, ordered by remote id.
    pub async fn list_ghosts(&self) -> Result<Vec<GhostRecord>> {
        self.backend.list_ghosts().await
    }

    // ---- portals ----------------------------------------------------------------------

    /// A portal by its key.
    pub async fn get_portal(&self, key: &str) -> Result<Option<PortalRecord>> {
        self.backend.get_portal(key).await
    }

    /// The portal of a Matrix room.
    pub async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>> {
        self.backend.portal_by_room(room_id).await
    }

    /// Saves a portal and its room index atomically (a changed room id moves the index
    /// entry; an empty room id has none).
    pub async fn put_portal(&self, record: &PortalRecord) -> Result<()> {
        self.backend.put_portal(record).await
    }

    /// Changes a portal in place, atomically: `change` edits the stored record (it may run
    /// more than once when the transaction retries, so it must only depend on the record) and
    /// returns whether to save it. The room index follows a changed room id (the old entry is
    /// removed if it pointed here). Returns the record as saved, or `None` when there is no
    /// such portal or `change` declined.
    pub async fn update_portal(
        &self,
        key: &str,
        change: impl Fn(&mut PortalRecord) -> bool + Send + Sync,
    ) -> Result<Option<PortalRecord>> {
        self.backend.update_portal(key, &change).await
    }

    /// Forgets a portal, its room index entry and its message map; returns whether it
    /// existed. Messages go first (in batches), the portal last, so a crash midway leaves the
    /// portal in place and a second call finishes the job.
    pub async fn delete_portal(&self, key: &str) -> Result<bool> {
        self.backend.delete_portal(key).await
    }

    /// Every portal, ordered by key.
    pub async fn list_portals(&self) -> Result<Vec<PortalRecord>> {
        self.backend.list_portals().await
    }

    // ---- kv ---------------------------------------------------------------------------

    /// A small piece of misc state (e.g. the bot profile's hash).
    pub async fn get_kv(&self, key: &str) -> Result<Option<String>> {
        self.backend.get_kv(key).await
    }

    /// Sets a misc value.
    pub async fn put_kv(&self, key: &str, value: &str) -> Result<()> {
        self.backend.put_kv(key, value).await
    }

    /// Removes a misc value; returns whether it was set.
    pub async fn delete_kv(&self, key: &str) -> Result<bool> {
        self.backend.delete_kv(key).await
    }

    /// Every misc key and value with this prefix, ordered by key (bytewise).
    pub async fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.backend.list_kv(prefix).await
    }

    // ---- messages ---------------------------------------------------------------------

    /// Records that remote message `record.remote_id` (part `record.part`) of portal
    /// `portal_key` is Matrix event `record.event_id`; both directions atomically.
    /// Replacing a part with a new event drops the old event's entry.
    pub async fn put_message(&self, portal_key: &str, record: &MessageRecord) -> Result<()> {
        self.backend.put_message(portal_key, record).await
    }

    /// The first part of a remote message (the event to reply to or react on).
    pub async fn message_by_remote(
        &self,
        portal_key: &str,
        remote_id: &str,
    ) -> Result<Option<MessageRecord>> {
        let parts = self.backend.message_parts(portal_key, remote_id).await?;
        Ok(parts.into_iter().next())
    }

    /// Every part of a remote message, in part order.
    pub async fn message_parts(
        &self,
        portal_key: &str,
        remote_id: &str,
    ) -> Result<Vec<MessageRecord>> {
        self.backend.message_parts(portal_key, remote_id).await
    }

    /// The portal key and record of a Matrix event.
    pub async fn message_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, MessageRecord)>> {
        self.backend.message_by_event(event_id).await
    }

    /// Forgets every part of a remote message, both directions; returns how many parts.
    pub async fn delete_message(&self, portal_key: &str, remote_id: &str) -> Result<usize> {
        self.backend.delete_message(portal_key, remote_id).await
    }

    // ---- reactions --------------------------------------------------------------------

    /// Records a bridged reaction of portal `portal_key` (both directions atomically).
    pub async fn put_reaction(&self, portal_key: &str, record: &ReactionRecord) -> Result<()> {
        self.backend.put_reaction(portal_key, record).await
    }

    /// The reaction `key` of remote user `sender` on remote message `target`, if bridged.
    pub async fn reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        self.backend.reaction(portal_key, target, sender, key).await
    }

    /// Every bridged reaction on remote message `target` of portal `portal_key` (any sender,
    /// any key); what a network's full reaction list is compared with.
    pub async fn reactions_on(
        &self,
        portal_key: &str,
        target: &str,
    ) -> Result<Vec<ReactionRecord>> {
        self.backend.reactions_on(portal_key, target).await
    }

    /// The reaction behind Matrix event `event_id`, with its portal key.
    pub async fn reaction_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, ReactionRecord)>> {
        self.backend.reaction_by_event(event_id).await
    }

    /// Forgets a reaction (both directions atomically); returns what was stored.
    pub async fn delete_reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        self.backend
            .delete_reaction(portal_key, target, sender, key)
            .await
    }

    // ---- transaction dedup (see `scope`) ----------------------------------------------

    /// True when transaction `txn_id` was already marked in this scope with the same
    /// fingerprint (a retry). The same id with another fingerprint is a new transaction.
    pub async fn seen_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<bool> {
        self.backend.seen_txn(scope, txn_id, fp).await
    }

    /// Marks transaction `txn_id` as handled in this scope with its fingerprint, replacing an
    /// older mark of the same id. Durable on return.
    pub async fn mark_txn(
        &self,
        scope: &TxnScope,
        txn_id: &str,
        fp: &TxnFingerprint,
    ) -> Result<()> {
        self.backend.mark_txn(scope, txn_id, fp).await
    }

    /// Whether the event id is marked as queued (see [`Store::enqueue_events`]).
    pub async fn seen_event(&self, event_id: &str) -> Result<bool> {
        self.backend.seen_event(event_id).await
    }

    /// Appends a transaction's items to `queue` and marks their event ids, atomically and
    /// durably; items whose event id is already marked are skipped (delivered before), also
    /// when two calls race. Items without an id (receipts, typing) are always added. Returns
    /// the sequence numbers of the items added, in order. Answer the homeserver 200 only
    /// after this.
    pub async fn enqueue_events<I: AsRef<[u8]> + Sync>(
        &self,
        queue: &str,
        items: &[(Option<&str>, I)],
    ) -> Result<Vec<u64>> {
        let items: Vec<(Option<&str>, &[u8])> = items
            .iter()
            .map(|(id, item)| (*id, item.as_ref()))
            .collect();
        self.backend.enqueue_events(queue, &items).await
    }

    /// Forgets marks older than `max_age_ms` before `now_ms`, and all but the newest
    /// `keep_last` of each scope; returns how many were forgotten.
    pub async fn expire_txns(
        &self,
        now_ms: u64,
        max_age_ms: u64,
        keep_last: usize,
    ) -> Result<usize> {
        self.backend
            .expire_txns(now_ms, max_age_ms, keep_last)
            .await
    }

    // ---- inbox ------------------------------------------------------------------------

    /// Appends an item to `queue`; returns its sequence number. Sequence numbers increase
    /// within a queue, across restarts, in commit order. Durable on return.
    pub async fn enqueue(&self, queue: &str, item: impl AsRef<[u8]>) -> Result<u64> {
        self.backend.enqueue(queue, item.as_ref(), true).await
    }

    /// Appends several items to `queue` at once (all or none, one disk flush); returns their
    /// sequence numbers. Durable on return.
    pub async fn enqueue_batch<I: AsRef<[u8]>>(
        &self,
        queue: &str,
        items: &[I],
    ) -> Result<Vec<u64>> {
        let items: Vec<&[u8]> = items.iter().map(AsRef::as_ref).collect();
        self.backend.enqueue_batch(queue, &items).await
    }

    /// Appends an item to `queue` without flushing; returns its sequence number. Durable after
    /// the next [`Store::flush`] (one flush can then cover a whole batch).
    pub async fn enqueue_unflushed(&self, queue: &str, item: impl AsRef<[u8]>) -> Result<u64> {
        self.backend.enqueue(queue, item.as_ref(), false).await
    }

    /// Every unacked item of `queue`, oldest first.
    pub async fn pending(&self, queue: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        self.backend.pending_after(queue, None, usize::MAX).await
    }

    /// Up to `limit` unacked items of `queue` with a sequence number above `after`, oldest
    /// first (a reader that remembers where it is does not rescan what it already took).
    pub async fn pending_after(
        &self,
        queue: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        self.backend.pending_after(queue, after, limit).await
    }

    /// How many unacked items `queue` holds (0 when the store cannot be read; the error is
    /// logged).
    pub async fn pending_count(&self, queue: &str) -> usize {
        match self.backend.pending_count(queue).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, queue, "cannot count a queue");
                0
            }
        }
    }

    /// Moves every item of `from` to the end of `to`, in order, atomically and durably;
    /// returns how many were moved.
    pub async fn move_queue(&self, from: &str, to: &str) -> Result<usize> {
        self.backend.move_queue(from, to).await
    }

    /// Removes every item of `queue` (a login that is gone).
    pub async fn clear_queue(&self, queue: &str) -> Result<usize> {
        self.backend.clear_queue(queue).await
    }

    /// Removes a processed item (not necessarily durable: after a crash it may be replayed
    /// once more).
    pub async fn ack(&self, queue: &str, seq: u64) -> Result<()> {
        self.backend.ack(queue, seq).await
    }
}
