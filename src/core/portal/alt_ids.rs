//! A message's other network id ([`crate::core::connector::RemoteMessage::alt_id`]): kept
//! with its record and in the store's key-value map as `message_alt:{portal}:{alt id}` →
//! remote id, so a reply that names the message by it resolves, also after a restart. The
//! entry goes with its message (a recall or a redaction) and with its portal.

use tracing::{debug, warn};

use super::PortalWorker;
use crate::store::MessageRecord;

fn kv_key(portal: &str, alt_id: &str) -> String {
    format!("message_alt:{portal}:{alt_id}")
}

/// The key prefix of every other id of `portal`'s messages.
fn kv_prefix(portal: &str) -> String {
    kv_key(portal, "")
}

impl PortalWorker {
    /// Keeps `alt_id` as another name of this portal's remote message `remote_id`.
    pub(super) async fn remember_alt_id(&self, alt_id: &str, remote_id: &str) {
        if alt_id.is_empty() || alt_id == remote_id {
            return;
        }
        let key = kv_key(&self.key, alt_id);
        if let Err(e) = self.ctx.store.put_kv(&key, remote_id).await {
            warn!(portal = %self.key, error = %e, "message's other id not saved");
        }
    }

    /// Forgets this portal's remote message `remote_id` (every part, both directions) and
    /// its other id's entry. Best effort: a store failure is logged.
    pub(super) async fn forget_message(&self, remote_id: &str) {
        let store = &self.ctx.store;
        if let Ok(Some(record)) = store.message_by_remote(&self.key, remote_id).await {
            if let Some(alt) = record.alt_id.as_deref().filter(|a| !a.is_empty()) {
                if let Err(e) = store.delete_kv(&kv_key(&self.key, alt)).await {
                    debug!(portal = %self.key, error = %e, "message's other id not deleted");
                }
            }
        }
        if let Err(e) = store.delete_message(&self.key, remote_id).await {
            warn!(portal = %self.key, error = %e, "message record not deleted");
        }
    }

    /// Forgets what the store keeps of this portal besides its records (the portal is being
    /// deleted, its messages with it): its messages' other ids, and its ghosts' levels from
    /// before a mute ([`super::group_roles::premute_prefix`]).
    pub(super) async fn forget_portal_entries(&self) {
        let store = &self.ctx.store;
        for prefix in [
            kv_prefix(&self.key),
            super::group_roles::premute_prefix(&self.key),
        ] {
            let entries = match store.list_kv(&prefix).await {
                Ok(entries) => entries,
                Err(e) => return warn!(portal = %self.key, error = %e, "portal entries not listed"),
            };
            for (key, _) in entries {
                if let Err(e) = store.delete_kv(&key).await {
                    return warn!(portal = %self.key, error = %e, "portal entries not deleted");
                }
            }
        }
    }

    /// The record of the message `id` names in this portal: by its remote id, else by its
    /// other id; `None` when it was not bridged (or the store cannot be read).
    pub(super) async fn message_named(&self, id: &str) -> Option<MessageRecord> {
        let store = &self.ctx.store;
        if let Some(record) = store.message_by_remote(&self.key, id).await.ok().flatten() {
            return Some(record);
        }
        let remote_id = store.get_kv(&kv_key(&self.key, id)).await.ok().flatten()?;
        store
            .message_by_remote(&self.key, &remote_id)
            .await
            .ok()
            .flatten()
    }
}
