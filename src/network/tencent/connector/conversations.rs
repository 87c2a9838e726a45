//! The recent conversations (`recentcontact.page_get`, the SDK's `getConversationList`):
//! the one-to-one chats `sync` brings over, and the catch-up of what another instance of the
//! account took while the bridge was away.
//!
//! The service hands a C2C offline message to the first instance of the account that syncs
//! and then drops it from the offline store ("一个终端通过 SDK 把离线消息拉取到本地后, 即时通信
//! IM 服务器便会删除这些离线消息", Tencent Cloud's article on IMSDK message kinds,
//! cloud.tencent.com/developer/article/1622904; the sandbox does the same), so the bridge's
//! `openim.getmsg` catch-up never sees what the user's phone read meanwhile. After each
//! catch-up the conversation list is read and each one-to-one chat's newest message goes to
//! the core as a [`RemoteEvent::ChatResync`]: the core reads the chat's history
//! (`openim.getroammsg`) when that message was not bridged. Edits, recalls and reactions are
//! pushed live only (`C2cMsgModNotifys`, `WithdrawC2cMsgNotify`, `MsgReactionNotifyList`),
//! so the newest messages of the newest chats are read again too, as groups' are by the
//! group catch-up: the history keeps a recalled message marked (`MsgFlagBits` 8).

use serde_json::{json, Value};
use tracing::debug;

use super::fidelity::{self, Shared};
use super::{message_id, reaction_sync, translate_message};
use crate::core::connector::{ChatId, RemoteEvent, RemoteEventSender};
use crate::network::tencent::client::Client;
use crate::network::tencent::session::{history, C2cMessage, SendError};
use crate::network::tencent::wire::servcmd;

/// How many conversations are read at most (one page).
const MAX_CONVERSATIONS: u64 = 100;

/// The user's recent conversations, newest first: a `recentcontact.page_get` reply.
pub(super) async fn recent(client: &Client, own: &str) -> Result<Value, SendError> {
    let body = json!({
        "FromAccount": own, "Count": MAX_CONVERSATIONS, "StartIndex": 0,
        "TopTimeStamp": 0, "TopStartIndex": 0, "TimeStamp": 0,
    });
    client.call(servcmd::RECENT_CONTACT_PAGE_GET, body).await
}

/// The one-to-one chats of a `recentcontact.page_get` reply (`SessionItem`, `Type` 1), in
/// its order (newest first), each with its newest message's network id (its `MsgKey`;
/// `None` when the item names none).
pub(super) fn direct(reply: &Value) -> Vec<(ChatId, Option<String>)> {
    reply
        .get("SessionItem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("Type").and_then(Value::as_i64) == Some(1))
        .filter_map(|item| {
            let peer = item.get("To_Account").and_then(Value::as_str)?;
            if peer.is_empty() {
                return None;
            }
            let key = item.get("MsgKey").and_then(Value::as_str).unwrap_or("");
            // The core's id of a C2C message is its `MsgKey` ([`super::message_id`]).
            let latest = (!key.is_empty()).then(|| key.to_owned());
            Some((ChatId::direct(peer), latest))
        })
        .collect()
}

/// How many of the newest one-to-one chats are read again after a catch-up, for the edits
/// and reactions made while the bridge was away (pushed live only), and how many of each
/// one's newest messages (one `openim.getroammsg` page).
const REREAD_CHATS: usize = 20;
const REREAD_MESSAGES: u64 = 20;

/// After a catch-up, in the background: reads the conversation list and sends a
/// [`RemoteEvent::ChatResync`] for each one-to-one chat with a newest message; then reads
/// the newest messages of the [`REREAD_CHATS`] newest chats again and sends each edited
/// one's edit, numbered by its `MsgVersion` (the core drops what it bridged already), each
/// recalled one's [`RemoteEvent::Remove`], and the reactions they have now
/// ([`super::reaction_sync`]). A failed read is logged and ends the task.
pub(super) fn resync(own: &str, client: &Client, memory: &Shared, out: &RemoteEventSender) {
    let (own, client, memory, out) = (own.to_owned(), client.clone(), memory.clone(), out.clone());
    tokio::spawn(async move {
        let reply = match recent(&client, &own).await {
            Ok(reply) => reply,
            Err(e) => {
                debug!(user = %own, error = %e, "tencent: conversation list not read after the catch-up");
                return;
            }
        };
        let chats = direct(&reply);
        for (chat, latest) in &chats {
            let Some(latest) = latest.clone() else {
                continue;
            };
            let event = RemoteEvent::ChatResync {
                chat: chat.clone(),
                latest,
            };
            if out.send(event).await.is_err() {
                return;
            }
        }
        let mut reactions = reaction_sync::Pending::default();
        for (chat, _) in chats.iter().take(REREAD_CHATS) {
            let body = history::c2c_page_body(&chat.id, "", REREAD_MESSAGES);
            let page = match client.call(history::GETROAMMSG, body).await {
                Ok(page) => page,
                Err(e) => {
                    debug!(user = %own, error = %e, "tencent: chats not read again after the catch-up");
                    return;
                }
            };
            let (messages, _, _) = history::c2c_page(&page);
            for m in &messages {
                let event = if m.revoked {
                    Some(recall_of(&own, m))
                } else {
                    reactions.c2c(&own, m);
                    edit_of(&own, m, &memory)
                };
                let Some(event) = event else {
                    continue;
                };
                if out.send(event).await.is_err() {
                    return;
                }
            }
        }
        reaction_sync::read(own, client, reactions.take(), memory, out).await;
    });
}

/// The recall a message read again stands for when it was recalled
/// ([`C2cMessage::revoked`]): a [`RemoteEvent::Remove`] by its revoker (its author when not
/// named), which the core drops for a message it has not bridged or has redacted already.
fn recall_of(own: &str, m: &C2cMessage) -> RemoteEvent {
    let peer = if m.from == own { &m.to } else { &m.from };
    let sender = if m.revoker.is_empty() {
        &m.from
    } else {
        &m.revoker
    };
    RemoteEvent::Remove {
        chat: ChatId::direct(peer.clone()),
        sender: sender.clone(),
        target: message_id(&m.from, m.seq, m.random, &m.key),
    }
}

/// The edit a message read again stands for: its latest content numbered by its
/// `MsgVersion`; `None` for a message never edited (or a typing notice).
fn edit_of(own: &str, m: &C2cMessage, memory: &Shared) -> Option<RemoteEvent> {
    if m.version == 0 || fidelity::typing_event(own, m).is_some() {
        return None;
    }
    let message = translate_message(own, m);
    memory.remember_version(message.id.clone(), m.version);
    Some(RemoteEvent::Edit {
        chat: message.chat,
        sender: message.sender,
        target: message.id,
        content: message.content,
        timestamp_ms: message.timestamp_ms,
        edit_count: Some(m.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_read_again_stands_for_its_edit_when_edited() {
        let memory = Shared::default();
        let m = C2cMessage {
            from: "bob".into(),
            to: "alice".into(),
            key: "5_6_7".into(),
            time: 7,
            elems: vec![crate::network::tencent::elem::Elem::text("new")],
            ..C2cMessage::default()
        };
        assert_eq!(edit_of("alice", &m, &memory), None, "never edited");
        let edited = C2cMessage { version: 2, ..m };
        let Some(RemoteEvent::Edit {
            chat,
            sender,
            target,
            edit_count,
            ..
        }) = edit_of("alice", &edited, &memory)
        else {
            panic!("an edit");
        };
        assert_eq!(
            (chat, sender.as_str(), target.as_str(), edit_count),
            (ChatId::direct("bob"), "bob", "5_6_7", Some(2))
        );
        // The next Matrix edit of it starts from that version.
        assert_eq!(memory.version("5_6_7"), 2);
    }

    #[test]
    fn a_recalled_message_read_again_stands_for_its_recall() {
        let m = C2cMessage {
            from: "alice".into(),
            to: "bob".into(),
            key: "5_6_7".into(),
            revoked: true,
            ..C2cMessage::default()
        };
        let by_author = RemoteEvent::Remove {
            chat: ChatId::direct("bob"),
            sender: "alice".into(),
            target: "5_6_7".into(),
        };
        assert_eq!(recall_of("alice", &m), by_author);
        let by_admin = C2cMessage {
            revoker: "admin".into(),
            key: String::new(),
            seq: 3,
            random: 4,
            ..m
        };
        assert_eq!(
            recall_of("bob", &by_admin),
            RemoteEvent::Remove {
                chat: ChatId::direct("alice"),
                sender: "admin".into(),
                target: "alice-3-4".into(),
            }
        );
    }

    #[test]
    fn conversation_list_keeps_direct_chats_in_order_with_their_newest_message() {
        let reply = json!({"SessionItem": [
            {"Type": 1, "To_Account": "bob", "MsgKey": "5_6_7"},
            {"Type": 2, "ToAccount": "@TGS#1", "MsgKey": "x"},
            {"Type": 1, "To_Account": "carol"},
            {"Type": 1, "To_Account": ""},
        ]});
        assert_eq!(
            direct(&reply),
            [
                (ChatId::direct("bob"), Some("5_6_7".to_owned())),
                (ChatId::direct("carol"), None)
            ]
        );
        assert!(direct(&json!({})).is_empty());
    }
}
