//! Backfill of new portals: when a chat gets its Matrix room, its latest messages (at most
//! `bridge.max_initial_messages`) are brought in first, oldest first, dated as on the network
//! and sent by their senders' ghosts, through the same path as live messages (so the message
//! map keeps each exactly once, whether it arrives again live or in a later backfill); and
//! the catch-up from history of what another instance of the account took
//! ([`crate::core::connector::RemoteEvent::ChatResync`]).

use std::sync::Arc;

use tracing::{info, warn};

use super::PortalWorker;
use crate::core::connector::{ChatId, RemoteMessage};
use crate::core::logins::UserLogin;

impl PortalWorker {
    /// Brings in the history of the portal's chat. With `before` (the message whose arrival
    /// created the room), only what precedes it: it follows, and what came after it arrives
    /// live behind it.
    pub(super) async fn backfill(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        before: Option<&RemoteMessage>,
    ) {
        let limit = self.ctx.cfg.bridge.max_initial_messages;
        let Some(messages) = self.fetch_history(login, chat, limit).await else {
            return;
        };
        let messages = match before {
            None => messages,
            Some(trigger) => older_than(messages, trigger),
        };
        let bridged = self.bridge_all(login, messages).await;
        info!(portal = %self.key, bridged, "new portal backfilled");
    }

    /// [`crate::core::connector::RemoteEvent::ChatResync`]: when the portal exists and the
    /// chat's newest message `latest` was not bridged, the chat's newest messages that follow
    /// the last bridged one are bridged, oldest first.
    pub(super) async fn remote_resync(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        latest: &str,
    ) {
        if self.record().await.is_none() || self.message_named(latest).await.is_some() {
            return;
        }
        let limit = self.ctx.cfg.bridge.max_catchup_messages;
        let Some(messages) = self.fetch_history(login, chat, limit).await else {
            return;
        };
        let mut bridged_before = Vec::with_capacity(messages.len());
        for m in &messages {
            bridged_before.push(self.message_named(&m.id).await.is_some());
        }
        let missed = after_last_bridged(messages, &bridged_before);
        let bridged = self.bridge_all(login, missed).await;
        info!(portal = %self.key, bridged, "messages another device took caught up from history");
    }

    /// The chat's newest `limit` messages, oldest first; `None` when the limit is 0, the
    /// network keeps no history, or the read failed (logged).
    async fn fetch_history(
        &self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        limit: u32,
    ) -> Option<Vec<RemoteMessage>> {
        if limit == 0 {
            return None;
        }
        match login.session.as_history()?.history(chat, limit).await {
            Ok(messages) => Some(messages),
            Err(e) => {
                warn!(portal = %self.key, error = %e, "history not fetched");
                None
            }
        }
    }

    /// Bridges `messages` in order through the live path (which drops those bridged
    /// already); returns how many went through.
    async fn bridge_all(&mut self, login: &Arc<UserLogin>, messages: Vec<RemoteMessage>) -> usize {
        let mut bridged = 0usize;
        for message in messages {
            match Box::pin(self.remote_message(login, message)).await {
                Ok(()) => bridged += 1,
                Err(e) => warn!(portal = %self.key, error = %e, "history message not bridged"),
            }
        }
        bridged
    }
}

/// The messages of `history` (oldest first) after the last one bridged before
/// (`bridged[i]` for `history[i]`); all of them when none was.
fn after_last_bridged(mut history: Vec<RemoteMessage>, bridged: &[bool]) -> Vec<RemoteMessage> {
    let start = bridged.iter().rposition(|b| *b).map_or(0, |i| i + 1);
    history.drain(..start.min(history.len()));
    history
}

/// The part of `history` (oldest first) before `trigger`: up to its position when it is
/// there, else what is strictly older by timestamp.
fn older_than(mut history: Vec<RemoteMessage>, trigger: &RemoteMessage) -> Vec<RemoteMessage> {
    match history.iter().position(|m| m.id == trigger.id) {
        Some(at) => history.truncate(at),
        None => history.retain(|m| m.timestamp_ms < trigger.timestamp_ms),
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connector::MessageContent;

    fn message(id: &str, ts: u64) -> RemoteMessage {
        RemoteMessage {
            id: id.into(),
            chat: ChatId::direct("dave"),
            sender: "dave".into(),
            from_self: false,
            timestamp_ms: ts,
            content: MessageContent::text(id),
            reply_to: None,
            thread_root: None,
            droppable: false,
            edit_count: 0,
            alt_id: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn a_resync_bridges_what_follows_the_last_bridged_message() {
        let history = || vec![message("1", 1), message("2", 2), message("3", 3)];
        let ids = |v: Vec<RemoteMessage>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(
            ids(after_last_bridged(history(), &[true, false, false])),
            ["2", "3"]
        );
        // A gap in what was bridged before the last one is not filled (it was skipped on
        // purpose, or failed and was told): only what follows.
        assert_eq!(
            ids(after_last_bridged(history(), &[false, true, false])),
            ["3"]
        );
        assert!(after_last_bridged(history(), &[true, true, true]).is_empty());
        assert_eq!(ids(after_last_bridged(history(), &[false; 3])).len(), 3);
    }

    #[test]
    fn only_what_precedes_the_trigger_is_backfilled() {
        let history = vec![
            message("1", 10),
            message("2", 10),
            message("3", 10),
            message("4", 20),
        ];
        let ids = |v: Vec<RemoteMessage>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(older_than(history.clone(), &message("2", 10))), ["1"]);
        assert_eq!(
            ids(older_than(history.clone(), &message("1", 10))),
            Vec::<String>::new()
        );
        // Not in the history (older than what the server kept, or not stored yet): by time.
        assert_eq!(ids(older_than(history, &message("9", 15))), ["1", "2", "3"]);
    }
}
