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
//! (`openim.getroammsg`) when that message was not bridged.

use serde_json::{json, Value};
use tracing::debug;

use crate::core::connector::{ChatId, RemoteEvent, RemoteEventSender};
use crate::network::tencent::client::Client;
use crate::network::tencent::session::SendError;
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

/// Reads the conversation list in the background and sends a [`RemoteEvent::ChatResync`]
/// for each one-to-one chat with a newest message; a failed read is logged, nothing more.
pub(super) fn resync(own: &str, client: &Client, out: &RemoteEventSender) {
    let (own, client, out) = (own.to_owned(), client.clone(), out.clone());
    tokio::spawn(async move {
        let reply = match recent(&client, &own).await {
            Ok(reply) => reply,
            Err(e) => {
                debug!(user = %own, error = %e, "tencent: conversation list not read after the catch-up");
                return;
            }
        };
        for (chat, latest) in direct(&reply) {
            let Some(latest) = latest else { continue };
            if out
                .send(RemoteEvent::ChatResync { chat, latest })
                .await
                .is_err()
            {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
