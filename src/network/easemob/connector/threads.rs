//! Easemob threads on the core's thread contract: which thread belongs to which group and
//! parent message ([`ThreadDirectory`], learnt from thread notifies, thread messages and the
//! threads this login creates), thread `NOTIFY`s → [`RemoteEvent::Thread`] (joining threads
//! others create, so their messages reach this login), and [`ThreadAbility`]: creating a thread
//! over REST (or finding the one the message has already), and sending, editing and recalling
//! in it (a group message, `EDIT` or `RECALL` to
//! the thread id with `isChatThread`'s `{"thread":{}}` meta, as the SDK sends them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tracing::debug;

use super::send::SendTarget;
use super::{rest_failure, send_failure, EasemobLogin};
use crate::core::connector::{
    ChatId, ChatKind, MessageContent, RemoteEvent, SendFailure, SendOptions, ThreadAbility,
    ThreadChange,
};
use crate::network::easemob::client::EasemobClient;
use crate::network::easemob::events::{parse_thread_notify, MessageThread, ThreadOperation};
use crate::network::easemob::jid::Conversation;
use crate::network::easemob::message::{Body, OutgoingMessage};
use crate::network::easemob::rest::{MAX_THREADS_PAGE, MAX_THREAD_NAME_CHARS};

/// Where a thread lives: its group and the message it hangs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPlace {
    pub group_id: String,
    pub root: String,
}

/// Thread id → [`ThreadPlace`], shared by a login's event translation and its senders. Held
/// in memory: after a restart it is learnt again from the next notify or thread message.
#[derive(Debug, Clone, Default)]
pub struct ThreadDirectory(Arc<Mutex<HashMap<String, ThreadPlace>>>);

impl ThreadDirectory {
    /// Records where thread `id` is.
    pub fn learn(&self, id: &str, group_id: &str, root: &str) {
        if id.is_empty() || group_id.is_empty() || root.is_empty() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            id.to_owned(),
            ThreadPlace {
                group_id: group_id.to_owned(),
                root: root.to_owned(),
            },
        );
    }

    /// Where thread `id` is, if known.
    pub fn get(&self, id: &str) -> Option<ThreadPlace> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }

    /// Points a group chat that is really a known thread at the thread's group (reactions to
    /// thread messages are reported on the thread id).
    pub fn resolve_chat(&self, event: &mut RemoteEvent) {
        if let RemoteEvent::Reaction { chat, .. } | RemoteEvent::ReactionRemove { chat, .. } = event
        {
            if chat.kind == ChatKind::Group {
                if let Some(place) = self.get(&chat.id) {
                    chat.id = place.group_id;
                }
            }
        }
    }

    /// The chat and thread root of a message addressed to `to` (a group id or a thread id),
    /// given the message's own thread facts when it carries them: the parent group and the
    /// root for thread messages, `None` for everything else.
    pub fn place_of(&self, to: &str, meta: Option<&MessageThread>) -> Option<ThreadPlace> {
        if let Some(t) = meta {
            self.learn(to, &t.group_id, &t.message_id);
            return Some(ThreadPlace {
                group_id: t.group_id.clone(),
                root: t.message_id.clone(),
            });
        }
        self.get(to)
    }
}

/// A `"thread"` NOTIFY → core events. A thread created by someone else is joined (over REST,
/// in the background) so that its messages reach this login.
pub(super) fn translate_thread_notify(
    own: &str,
    json: &str,
    threads: &ThreadDirectory,
    client: &Weak<EasemobClient>,
) -> Option<Vec<RemoteEvent>> {
    let n = parse_thread_notify(json)?;
    let place = match (n.group_id.is_empty(), n.message_id.is_empty()) {
        (false, false) => {
            threads.learn(&n.id, &n.group_id, &n.message_id);
            ThreadPlace {
                group_id: n.group_id.clone(),
                root: n.message_id.clone(),
            }
        }
        _ => match threads.get(&n.id) {
            Some(p) => p,
            None => {
                debug!(thread = %n.id, "thread notify for an unknown thread");
                return Some(Vec::new());
            }
        },
    };
    let name = Some(n.name.clone()).filter(|s| !s.is_empty());
    let change = match n.operation {
        ThreadOperation::Create => {
            if n.operator.as_deref() != Some(own) {
                if let Some(client) = client.upgrade() {
                    let id = n.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = client.rest().join_thread(&id).await {
                            debug!(thread = %id, error = %e, "thread not joined");
                        }
                    });
                }
            }
            ThreadChange::Created { name }
        }
        ThreadOperation::Update => match name {
            Some(name) => ThreadChange::Renamed { name },
            None => return Some(Vec::new()),
        },
        ThreadOperation::Delete => ThreadChange::Deleted,
        ThreadOperation::UpdateMessage => return Some(Vec::new()),
    };
    Some(vec![RemoteEvent::Thread {
        chat: ChatId::group(place.group_id),
        sender: n.operator,
        root: place.root,
        thread: n.id,
        change,
    }])
}

#[async_trait]
impl ThreadAbility for EasemobLogin {
    fn max_thread_name_chars(&self) -> usize {
        MAX_THREAD_NAME_CHARS
    }

    async fn create_thread(
        &self,
        chat: &ChatId,
        root: &str,
        name: &str,
    ) -> Result<String, SendFailure> {
        in_group(chat)?;
        let rest = self.client.rest();
        let id = match rest.create_thread(&chat.id, root, name).await {
            Ok(id) => id,
            // One thread per message: the message may have one already (created by someone
            // else, or by this login before a crash lost the answer). Then that one is used.
            Err(e) => match self.existing_thread(&chat.id, root).await {
                Some(id) => {
                    if let Err(e) = rest.join_thread(&id).await {
                        debug!(thread = %id, error = %e, "existing thread not joined");
                    }
                    id
                }
                None => return Err(rest_failure(e)),
            },
        };
        self.threads.learn(&id, &chat.id, root);
        Ok(id)
    }

    /// The SDK's `isChatThread` send: to the thread id, `{"thread":{}}` in the body's meta;
    /// keyed and looked up in the thread's history as any other send (module `send`).
    async fn send_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        in_group(chat)?;
        self.send_keyed(&SendTarget::thread(thread), content, options)
            .await
    }

    /// What the SDK sends for `modifyMessage` of a thread message (the app passes the thread
    /// message's own `to`, the thread id, and `isChatThread: true`; easemob-websdk 4.x encodes
    /// every message, edits and recalls included, through one function that sets `to` from the
    /// message and `meta` to `{"thread":{}}` for `isChatThread`). Captured from the SDK
    /// against the sandbox: `Meta.to` = `<thread id>@conference.easemob.com`,
    /// `MessageBody{type: EDIT, to: <thread id>, editMessageId, editScope: BODY,
    /// meta: '{"thread":{}}'}`; this sends the same. The service applies it in the thread and
    /// fans it out to the thread's members; the same edit addressed to the group is refused
    /// (the sandbox answers "Sorry, message does not exist": see its `chat` module).
    async fn edit_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure> {
        in_group(chat)?;
        self.send_thread_control(thread, Self::edit_body(target, content)?)
            .await
    }

    /// The SDK's `recallMessage({mid, to: <thread id>, chatType: "groupChat", isChatThread:
    /// true})`, captured as `MessageBody{type: RECALL, to: <thread id>, ackMessageId,
    /// meta: '{"thread":{}}'}` to `<thread id>@conference.easemob.com`: this sends the same
    /// (see [`ThreadAbility::edit_in_thread`] for why, and what the service does otherwise).
    async fn recall_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        target: &str,
    ) -> Result<(), SendFailure> {
        in_group(chat)?;
        self.send_thread_control(thread, Self::recall_body(target)?)
            .await
    }
}

/// Threads exist in groups only.
fn in_group(chat: &ChatId) -> Result<(), SendFailure> {
    if chat.kind != ChatKind::Group {
        return Err(SendFailure::Permanent(
            "threads exist in IM groups only".into(),
        ));
    }
    Ok(())
}

/// Pages of the group's threads looked through at most for the thread of one message (of
/// [`MAX_THREADS_PAGE`] threads each).
const THREAD_LOOKUP_PAGES: u32 = 20;

impl EasemobLogin {
    /// The thread on message `root` of group `group`, if it has one (the group's thread list,
    /// at most [`THREAD_LOOKUP_PAGES`] pages).
    async fn existing_thread(&self, group: &str, root: &str) -> Option<String> {
        let rest = self.client.rest();
        let mut cursor: Option<String> = None;
        for _ in 0..THREAD_LOOKUP_PAGES {
            let (page, next) = match rest
                .group_threads(group, cursor.as_deref(), MAX_THREADS_PAGE)
                .await
            {
                Ok(found) => found,
                Err(e) => {
                    debug!(group, error = %e, "the group's threads not listed");
                    return None;
                }
            };
            if let Some(t) = page.iter().find(|t| t.message_id == root) {
                return Some(t.id.clone());
            }
            match next {
                Some(next) if !page.is_empty() => cursor = Some(next),
                _ => return None,
            }
        }
        None
    }

    /// Sends a control body (edit, recall) into thread `thread`, shaped as the SDK's
    /// `isChatThread` frames, and waits for the server's ack.
    async fn send_thread_control(&self, thread: &str, body: Body) -> Result<(), SendFailure> {
        let mut msg = OutgoingMessage::new(Conversation::group(thread.to_owned()), body);
        msg.in_thread = true;
        self.client
            .send(msg)
            .await
            .map(|_| ())
            .map_err(send_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notifies_become_thread_events_and_teach_the_directory() {
        let threads = ThreadDirectory::default();
        let none = Weak::new();
        let create = r#"{"type":"thread","data":{"id":"t1","name":"plans","muc_parent_id":"g1","msg_parent_id":"99","operation":"create","from":"bob","timestamp":1}}"#;
        let events = translate_thread_notify("alice", create, &threads, &none).expect("thread");
        assert_eq!(
            events,
            vec![RemoteEvent::Thread {
                chat: ChatId::group("g1"),
                sender: Some("bob".into()),
                root: "99".into(),
                thread: "t1".into(),
                change: ThreadChange::Created {
                    name: Some("plans".into())
                },
            }]
        );
        // A delete without the parent: the directory knows it.
        let delete = r#"{"type":"thread","data":{"id":"t1","operation":"delete","from":"bob"}}"#;
        let events = translate_thread_notify("alice", delete, &threads, &none).expect("thread");
        assert!(matches!(
            &events[..],
            [RemoteEvent::Thread { chat, root, change: ThreadChange::Deleted, .. }]
                if *chat == ChatId::group("g1") && root == "99"
        ));
        // A reaction reported on the thread id lands in the thread's group.
        let mut reaction = RemoteEvent::Reaction {
            chat: ChatId::group("t1"),
            sender: "bob".into(),
            target: "100".into(),
            key: "👍".into(),
        };
        threads.resolve_chat(&mut reaction);
        assert!(
            matches!(reaction, RemoteEvent::Reaction { chat, .. } if chat == ChatId::group("g1"))
        );
        let unknown = r#"{"type":"thread","data":{"id":"t9","operation":"update","name":"x"}}"#;
        assert_eq!(
            translate_thread_notify("alice", unknown, &threads, &none),
            Some(Vec::new())
        );
        assert!(
            translate_thread_notify("alice", r#"{"type":"presence"}"#, &threads, &none).is_none()
        );
    }
}
