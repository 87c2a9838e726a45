//! The catch-up limit (`bridge.max_catchup_messages`): after a restart or a long
//! disconnection the network may hand over a large backlog at once. A login's dispatcher holds
//! its stored events until the connector reports the catch-up done (bounded by
//! [`CATCHUP_WAIT`]), then keeps only the newest messages of each chat up to the limit, acks
//! the older ones unbridged and tells the user how many were skipped, so a long outage cannot
//! flood the homeserver (which manages only tens of messages a second).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::connector::{ChatId, ChatKind, RemoteEvent};
use super::logins::UserLogin;
use super::{commands, Ctx};

/// How long a dispatcher waits for the catch-up to finish before it goes on regardless.
pub const CATCHUP_WAIT: Duration = Duration::from_secs(120);

/// The stored items to drop: for each chat with more than `limit` messages, its oldest
/// messages beyond the limit (other events are kept). Items are `(seq, event)`, oldest first.
/// Returns the seqs to drop and, per chat, how many.
pub fn excess(items: &[(u64, RemoteEvent)], limit: usize) -> (Vec<u64>, Vec<(ChatId, usize)>) {
    let mut per_chat: BTreeMap<(String, String), (ChatId, Vec<u64>)> = BTreeMap::new();
    for (seq, event) in items {
        if let RemoteEvent::Message(m) = event {
            let kind = format!("{:?}", m.chat.kind);
            per_chat
                .entry((kind, m.chat.id.clone()))
                .or_insert_with(|| (m.chat.clone(), Vec::new()))
                .1
                .push(*seq);
        }
    }
    let mut drop = Vec::new();
    let mut skipped = Vec::new();
    for (_, (chat, seqs)) in per_chat {
        if seqs.len() > limit {
            let n = seqs.len() - limit;
            drop.extend_from_slice(&seqs[..n]);
            skipped.push((chat, n));
        }
    }
    drop.sort_unstable();
    (drop, skipped)
}

/// Applies the limit to `login`'s stored events and tells the user what was skipped.
pub async fn prune(ctx: &Arc<Ctx>, login: &UserLogin) {
    let limit = ctx.cfg.bridge.max_catchup_messages as usize;
    let queue = login.queue();
    let pending = match ctx.store.pending(&queue).await {
        Ok(p) => p,
        Err(e) => {
            warn!(user = %login.mxid, error = %e, "inbox unreadable; catch-up not limited");
            return;
        }
    };
    let items: Vec<(u64, RemoteEvent)> = pending
        .into_iter()
        .filter_map(|(seq, bytes)| Some((seq, serde_json::from_slice(&bytes).ok()?)))
        .collect();
    let (drop, skipped) = excess(&items, limit);
    if drop.is_empty() {
        return;
    }
    for seq in &drop {
        if let Err(e) = ctx.store.ack(&queue, *seq).await {
            warn!(user = %login.mxid, seq, error = %e, "skipped catch-up item not removed");
        }
    }
    info!(user = %login.mxid, skipped = drop.len(), limit, "catch-up limited");
    for (chat, n) in skipped {
        let what = match chat.kind {
            ChatKind::Direct => format!("your chat with {}", chat.id),
            _ => format!("the group {}", chat.id),
        };
        let text = format!(
            "⏩ {n} older messages in {what} were not brought over: more than {limit} arrived while the bridge was away (bridge.max_catchup_messages)."
        );
        commands::notify_user(ctx, &login.mxid, &text).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connector::{MessageContent, RemoteMessage};

    fn message(chat: ChatId, id: &str) -> RemoteEvent {
        RemoteEvent::Message(RemoteMessage {
            id: id.into(),
            chat,
            sender: "bob".into(),
            from_self: false,
            timestamp_ms: 0,
            content: MessageContent::text(id),
            reply_to: None,
            thread_root: None,
            droppable: false,
            edit_count: 0,
            alt_id: None,
            extra: Default::default(),
        })
    }

    #[test]
    fn only_the_oldest_messages_beyond_the_limit_are_dropped_per_chat() {
        let bob = ChatId::direct("bob");
        let group = ChatId::group("g1");
        let receipt = RemoteEvent::ReadReceipt {
            chat: bob.clone(),
            sender: "bob".into(),
            up_to: None,
        };
        let items = vec![
            (1, message(bob.clone(), "b1")),
            (2, message(group.clone(), "g1")),
            (3, message(bob.clone(), "b2")),
            (4, receipt),
            (5, message(bob.clone(), "b3")),
            (6, message(bob.clone(), "b4")),
        ];
        let (drop, skipped) = excess(&items, 2);
        assert_eq!(
            drop,
            [1, 3],
            "bob's two oldest; the group's one and the receipt stay"
        );
        assert_eq!(skipped, [(bob, 2)]);
        let (drop, _) = excess(&items, 0);
        assert_eq!(drop, [1, 2, 3, 5, 6]);
        assert!(excess(&items, 10).0.is_empty());
    }
}
