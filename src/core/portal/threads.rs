//! Threads both ways, the mautrix way: a network thread (a side conversation hanging on one
//! message of a group) is a Matrix thread (`m.thread`, MSC3440) rooted at the event the
//! parent message was bridged to.
//!
//! * Network → Matrix: thread messages relate to the root with `rel_type: "m.thread"` and
//!   `is_falling_back: true` plus an `m.in_reply_to` fallback on the thread's latest event
//!   (clients without threads show a reply); a reply inside the thread has
//!   `is_falling_back: false` and the real `m.in_reply_to`. Thread created, renamed or
//!   deleted on the network → a bot notice in the thread.
//! * Matrix → network: a message in a Matrix thread whose root is bridged goes into the
//!   network thread of that parent message, which is created on the fly (named after the
//!   message's first line) when there is none yet.
//!
//! * Matrix edits and redactions of a message in a thread go to the network as edits and
//!   recalls in that thread ([`crate::core::connector::ThreadAbility::edit_in_thread`] and
//!   `recall_in_thread`): networks such as Easemob address them to the thread, not the group.
//!
//! Which network thread belongs to which parent message is kept in the store's misc table
//! (`thread:<portal key>:<root remote id>` → [`ThreadRecord`] JSON), and which thread a
//! bridged message is in too (`thread-msg:<portal key>:<remote id>` → the thread's root remote
//! id, written for every message bridged into or out of a thread), so both backends keep it
//! without a schema change.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{debug, warn};

use super::{retry, PortalWorker};
use crate::core::connector::{ChatId, MessageContent, SendFailure, ThreadChange};
use crate::core::convert;
use crate::core::ghosts::escape_localpart;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::metrics::Direction;

/// What the bridge knows of one thread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRecord {
    /// The network's thread id.
    pub thread: String,
    /// Its name, when known.
    #[serde(default)]
    pub name: Option<String>,
    /// The latest Matrix event in the thread (for the reply fallback of the next one).
    #[serde(default)]
    pub last_event: Option<String>,
}

/// The misc-table key of the thread on remote message `root` of portal `portal`.
fn kv_key(portal: &str, root: &str) -> String {
    format!("thread:{portal}:{}", escape_localpart(root))
}

/// The misc-table key naming the thread (by its root's remote id) that remote message
/// `remote` of portal `portal` is in.
fn message_kv_key(portal: &str, remote: &str) -> String {
    format!("thread-msg:{portal}:{}", escape_localpart(remote))
}

/// The name a thread created from Matrix gets: the first non-empty line of its first message,
/// cut to `max` characters (with an ellipsis), or "Thread" for messages without text.
pub fn thread_name(content: &MessageContent, max: usize) -> String {
    let text = match content {
        MessageContent::Text { body, .. } | MessageContent::Emote { body } => body.as_str(),
        MessageContent::Media {
            caption: Some(c), ..
        } => c.as_str(),
        MessageContent::Media { media, .. } => media.name.as_str(),
        _ => "",
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Thread");
    let max = max.max(2);
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Where a Matrix message goes on the network: the main timeline or a thread.
pub(super) enum ThreadTarget {
    /// Not in a thread (or the thread's root is not bridged): the chat itself.
    Main,
    /// Into this network thread.
    Thread(String),
}

impl PortalWorker {
    async fn thread_record(&self, root: &str) -> Option<ThreadRecord> {
        let raw = self
            .ctx
            .store
            .get_kv(&kv_key(&self.key, root))
            .await
            .ok()
            .flatten()?;
        serde_json::from_str(&raw).ok()
    }

    async fn put_thread_record(&self, root: &str, record: &ThreadRecord) {
        let value = serde_json::to_string(record).unwrap_or_default();
        if let Err(e) = self
            .ctx
            .store
            .put_kv(&kv_key(&self.key, root), &value)
            .await
        {
            warn!(portal = %self.key, error = %e, "thread mapping not saved");
        }
    }

    /// The `m.relates_to` of a network message in the thread on `root`: `None` when the root
    /// was never bridged (the message then goes to the main timeline). `reply_event` is the
    /// Matrix event the message really replies to, if any.
    pub(super) async fn thread_relation(
        &self,
        root: &str,
        reply_event: Option<&str>,
    ) -> Option<Value> {
        let root_event = self
            .ctx
            .store
            .message_by_remote(&self.key, root)
            .await
            .ok()
            .flatten()?
            .event_id;
        Some(match reply_event {
            Some(reply) => json!({
                "rel_type": "m.thread", "event_id": root_event, "is_falling_back": false,
                "m.in_reply_to": { "event_id": reply },
            }),
            None => {
                let latest = self
                    .thread_record(root)
                    .await
                    .and_then(|r| r.last_event)
                    .unwrap_or_else(|| root_event.clone());
                json!({
                    "rel_type": "m.thread", "event_id": root_event, "is_falling_back": true,
                    "m.in_reply_to": { "event_id": latest },
                })
            }
        })
    }

    /// Remembers `event` as the latest event of the thread on `root` (the thread id is kept,
    /// or learnt as `thread` when the network told it).
    pub(super) async fn thread_advanced(&self, root: &str, thread: Option<&str>, event: &str) {
        let mut record = self.thread_record(root).await.unwrap_or_default();
        if let Some(thread) = thread {
            record.thread = thread.to_owned();
        }
        record.last_event = Some(event.to_owned());
        self.put_thread_record(root, &record).await;
    }

    /// Remembers that remote messages `ids` are in the thread on `root` (for edits and
    /// recalls of them later).
    pub(super) async fn thread_messages(&self, root: &str, ids: &[String]) {
        for id in ids {
            if let Err(e) = self
                .ctx
                .store
                .put_kv(&message_kv_key(&self.key, id), root)
                .await
            {
                warn!(portal = %self.key, error = %e, "thread of a message not saved");
            }
        }
    }

    /// The network thread remote message `remote` is in: `None` when it is not in one the
    /// bridge knows (the main timeline, a thread since deleted, or one whose id the network
    /// never told).
    pub(super) async fn thread_of_message(&self, remote: &str) -> Option<String> {
        let root = self
            .ctx
            .store
            .get_kv(&message_kv_key(&self.key, remote))
            .await
            .ok()
            .flatten()?;
        let thread = self.thread_record(&root).await?.thread;
        (!thread.is_empty()).then_some(thread)
    }

    /// Forgets which thread remote message `remote` was in (it was recalled).
    pub(super) async fn forget_thread_message(&self, remote: &str) {
        let _ = self
            .ctx
            .store
            .delete_kv(&message_kv_key(&self.key, remote))
            .await;
    }

    /// A thread of this chat was created, renamed or deleted on the network: the mapping is
    /// kept and a notice goes into the Matrix thread. A thread the bridge created itself (from
    /// Matrix) is already mapped, and its creation is not announced again.
    pub(super) async fn remote_thread(
        &mut self,
        _login: &Arc<UserLogin>,
        root: &str,
        thread: &str,
        change: ThreadChange,
    ) -> Result<(), MatrixError> {
        let known = self.thread_record(root).await;
        let mut record = known.clone().unwrap_or_default();
        let old_name = record.name.clone();
        record.thread = thread.to_owned();
        let text = match &change {
            ThreadChange::Created { name } => {
                record.name = name.clone().or(old_name);
                if known.is_some_and(|k| k.thread == thread) {
                    self.put_thread_record(root, &record).await;
                    return Ok(());
                }
                match &record.name {
                    Some(name) => format!("🧵 Thread \"{name}\" started on the IM side"),
                    None => "🧵 Thread started on the IM side".to_owned(),
                }
            }
            ThreadChange::Renamed { name } => {
                if old_name.as_deref() == Some(name.as_str()) {
                    return Ok(());
                }
                record.name = Some(name.clone());
                format!("🧵 Thread renamed to \"{name}\"")
            }
            ThreadChange::Deleted => match &old_name {
                Some(name) => format!("🧵 Thread \"{name}\" was deleted on the IM side"),
                None => "🧵 This thread was deleted on the IM side".to_owned(),
            },
        };
        let Some(relation) = self.thread_relation(root, None).await else {
            debug!(portal = %self.key, root, "thread on a message that was never bridged");
            if change != ThreadChange::Deleted {
                self.put_thread_record(root, &record).await;
            }
            return Ok(());
        };
        let Some(room) = self
            .record()
            .await
            .and_then(|r| ruma::OwnedRoomId::try_from(r.room_id).ok())
        else {
            return Ok(());
        };
        let mut content = convert::notice_content(&text);
        content["m.relates_to"] = relation;
        let kind = match &change {
            ThreadChange::Created { .. } => "created".to_owned(),
            ThreadChange::Renamed { name } => format!("renamed-{name}"),
            ThreadChange::Deleted => "deleted".to_owned(),
        };
        let txn = format!(
            "imb-thread-{}-{}-{}",
            escape_localpart(&self.key),
            escape_localpart(thread),
            escape_localpart(&kind)
        );
        let ctx = self.ctx.clone();
        let bot = ctx.matrix.bot().to_owned();
        let event = retry("thread notice", || {
            ctx.matrix
                .send_event(&room, &bot, "m.room.message", &txn, &content)
        })
        .await?;
        match change {
            ThreadChange::Deleted => {
                let _ = ctx.store.delete_kv(&kv_key(&self.key, root)).await;
            }
            _ => {
                record.last_event = Some(event.to_string());
                self.put_thread_record(root, &record).await;
            }
        }
        ctx.metrics.bridged(Direction::ToMatrix, "thread");
        Ok(())
    }

    /// Where a Matrix message with relation `relates` goes: into the network thread of its
    /// `m.thread` root (created now, named after `content`, when the root's message has
    /// none yet), or the main timeline when it is not in a thread, the root is not bridged or
    /// the network has no threads.
    pub(super) async fn thread_target(
        &self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        relates: &Value,
        content: &MessageContent,
    ) -> Result<ThreadTarget, SendFailure> {
        if relates["rel_type"] != json!("m.thread") {
            return Ok(ThreadTarget::Main);
        }
        let Some(root_event) = relates["event_id"].as_str() else {
            return Ok(ThreadTarget::Main);
        };
        let (Some(root), Some(threads)) = (
            self.remote_of_event(root_event).await,
            login.session.as_threads(),
        ) else {
            return Ok(ThreadTarget::Main);
        };
        if let Some(record) = self.thread_record(&root).await {
            if !record.thread.is_empty() {
                return Ok(ThreadTarget::Thread(record.thread));
            }
        }
        let name = thread_name(content, threads.max_thread_name_chars());
        let thread = threads.create_thread(chat, &root, &name).await?;
        let record = ThreadRecord {
            thread: thread.clone(),
            name: Some(name),
            last_event: None,
        };
        self.put_thread_record(&root, &record).await;
        Ok(ThreadTarget::Thread(thread))
    }

    /// After a Matrix message went into a thread as remote messages `ids`: its event is the
    /// thread's latest, and the messages are known to be in the thread.
    pub(super) async fn thread_sent(&self, relates: &Value, event_id: &str, ids: &[String]) {
        let Some(root_event) = relates["event_id"].as_str() else {
            return;
        };
        if let Some(root) = self.remote_of_event(root_event).await {
            self.thread_advanced(&root, None, event_id).await;
            self.thread_messages(&root, ids).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_are_the_first_line_cut_to_the_limit() {
        assert_eq!(
            thread_name(&MessageContent::text("\n  hello\nworld"), 64),
            "hello"
        );
        assert_eq!(thread_name(&MessageContent::text("abcdef"), 4), "abc…");
        assert_eq!(thread_name(&MessageContent::text("   "), 64), "Thread");
        assert_eq!(
            thread_name(&MessageContent::text("ééééé"), 5),
            "ééééé",
            "characters, not bytes"
        );
    }
}
