//! Read receipts both ways.
//!
//! * JMessage → core: `receipt_change` of a single chat (`type` 3) names the reader
//!   (`username`): their read of our messages becomes [`RemoteEvent::ReadReceipt`] up to the
//!   newest message it lists. A group's `receipt_change` (`type` 4) only gives unread
//!   counts, so the connector asks `msg_unread_list` (the SDK's `msgUnreadList`, what the
//!   JChat web app shows as a message's read list) who has read each message it names, and
//!   every reader not seen before for that message becomes their read receipt up to it
//!   ([`ReaderBook`]); one worker per login does the asking, in order
//!   ([`group_receipt_worker`]).
//! * core → JMessage: JMessage receipts are per message (`receipt_report` of `msg_ids`), a
//!   Matrix read receipt is "everything up to here". The connector notes the ids of the
//!   messages others sent in each chat ([`UnreadBook`]) and reports all of them up to the
//!   one read; an id it did not note (received before a restart) is reported alone.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracing::debug;

use super::{send_failure, target_of, ChatTarget, JmessageLogin};
use crate::core::connector::{ChatId, ReceiptAbility, RemoteEvent, SendFailure};
use crate::network::jmessage::client::Client;
use crate::network::jmessage::session::ReceiptChange;

/// The most unreported message ids kept per chat (the oldest are dropped first).
pub const MAX_UNREPORTED_PER_CHAT: usize = 500;

/// The ids of messages received from others and not yet reported read, per chat, in arrival
/// order. Shared by a login's event translation (which notes) and the login (which reports).
#[derive(Debug, Clone, Default)]
pub struct UnreadBook(Arc<Mutex<HashMap<ChatId, VecDeque<i64>>>>);

impl UnreadBook {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<ChatId, VecDeque<i64>>) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }

    /// Notes message `msg_id` of `chat`, received from someone else.
    pub fn note(&self, chat: &ChatId, msg_id: i64) {
        self.with(|map| {
            let ids = map.entry(chat.clone()).or_default();
            if !ids.contains(&msg_id) {
                ids.push_back(msg_id);
                while ids.len() > MAX_UNREPORTED_PER_CHAT {
                    ids.pop_front();
                }
            }
        });
    }

    /// Takes the ids of `chat` up to and including `up_to` (arrival order); `[up_to]` when
    /// it was not noted.
    pub fn take_up_to(&self, chat: &ChatId, up_to: i64) -> Vec<i64> {
        self.with(|map| {
            let Some(ids) = map.get_mut(chat) else {
                return vec![up_to];
            };
            match ids.iter().position(|id| *id == up_to) {
                Some(at) => ids.drain(..=at).collect(),
                None => vec![up_to],
            }
        })
    }

    /// Takes every id noted for `chat`.
    pub fn take_all(&self, chat: &ChatId) -> Vec<i64> {
        self.with(|map| map.remove(chat).map(Vec::from).unwrap_or_default())
    }
}

/// The most messages whose readers a login remembers (the oldest ids are forgotten first;
/// a forgotten message's readers are told again if it changes again).
pub const MAX_MESSAGES_WITH_READERS: usize = 2000;

/// The readers already told per message of ours in groups, shared by a login's event
/// translation and the look-ups it starts.
#[derive(Debug, Clone, Default)]
pub struct ReaderBook(Arc<Mutex<BTreeMap<i64, HashSet<String>>>>);

impl ReaderBook {
    /// Of `readers` of message `msg_id`, those not told before (now noted), in order.
    pub fn new_readers(&self, msg_id: i64, readers: &[String]) -> Vec<String> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let known = map.entry(msg_id).or_default();
        let fresh: Vec<String> = readers
            .iter()
            .filter(|r| known.insert((*r).clone()))
            .cloned()
            .collect();
        while map.len() > MAX_MESSAGES_WITH_READERS {
            map.pop_first();
        }
        fresh
    }
}

/// The read receipts a group `receipt_change` means for the logged-in user `own`: for each
/// message it names (oldest first), who read it (`msg_unread_list`) and was not told yet,
/// each as their receipt up to that message. A look-up that fails is logged and skipped.
pub async fn group_read_receipts(
    client: &Client,
    readers: &ReaderBook,
    own: &str,
    change: &ReceiptChange,
) -> Vec<RemoteEvent> {
    let Some(gid) = change.gid else {
        return Vec::new();
    };
    let mut ids: Vec<i64> = change.receipts.iter().map(|r| r.msg_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for msg_id in ids {
        let list = match client.msg_readers(msg_id).await {
            Ok(list) => list,
            Err(e) => {
                debug!(gid, msg_id, error = %e, "jmessage msg_unread_list failed; receipts of it not bridged");
                continue;
            }
        };
        let read: Vec<String> = list.read.into_iter().filter(|u| u != own).collect();
        for reader in readers.new_readers(msg_id, &read) {
            out.push(RemoteEvent::ReadReceipt {
                chat: ChatId::group(gid.to_string()),
                sender: reader,
                up_to: Some(msg_id.to_string()),
            });
        }
    }
    out
}

/// How many group receipt changes may wait for [`group_receipt_worker`]; more are dropped
/// (receipts are not worth holding up a login's other events for).
pub const GROUP_RECEIPT_QUEUE: usize = 256;

/// Turns a login's group receipt changes into read receipts, one change at a time in arrival
/// order ([`group_read_receipts`]), until the login's translation ends or the core stops
/// taking events.
pub async fn group_receipt_worker(
    client: Client,
    own: String,
    out: crate::core::connector::RemoteEventSender,
    mut changes: tokio::sync::mpsc::Receiver<ReceiptChange>,
) {
    let readers = ReaderBook::default();
    while let Some(change) = changes.recv().await {
        for remote in group_read_receipts(&client, &readers, &own, &change).await {
            if out.send(remote).await.is_err() {
                return;
            }
        }
    }
}

/// The read receipt a `receipt_change` means for the logged-in user `own`: single chats
/// only (the reader is named), up to the newest message listed; a group's goes through
/// [`group_read_receipts`].
pub fn translate_receipt_change(own: &str, change: &ReceiptChange) -> Option<RemoteEvent> {
    if change.gid.is_some() {
        return None;
    }
    let reader = change
        .username
        .as_deref()
        .filter(|u| !u.is_empty() && *u != own)?;
    let newest = change.receipts.iter().map(|r| r.msg_id).max()?;
    Some(RemoteEvent::ReadReceipt {
        chat: ChatId::direct(reader),
        sender: reader.to_owned(),
        up_to: Some(newest.to_string()),
    })
}

impl JmessageLogin {
    /// Reports `ids` of `chat` read (nothing to do for none).
    async fn report_read(&self, chat: &ChatId, ids: &[i64]) -> Result<(), SendFailure> {
        if ids.is_empty() {
            return Ok(());
        }
        match target_of(chat)? {
            ChatTarget::User(peer) => self.client.report_read_single(peer, ids).await,
            ChatTarget::Group(gid) => self.client.report_read_group(gid, ids).await,
        }
        .map_err(send_failure)
    }
}

#[async_trait]
impl ReceiptAbility for JmessageLogin {
    /// `receipt_report` of the messages of `chat` received up to `up_to`.
    async fn mark_read(&self, chat: &ChatId, up_to: &str) -> Result<(), SendFailure> {
        target_of(chat)?;
        let up_to: i64 = up_to.parse().map_err(|_| {
            SendFailure::Permanent(format!("{up_to:?} is not a JMessage message id"))
        })?;
        let ids = self.unread.take_up_to(chat, up_to);
        self.report_read(chat, &ids).await
    }

    /// `receipt_report` of every message of `chat` received and not reported yet.
    async fn mark_chat_read(&self, chat: &ChatId) -> Result<(), SendFailure> {
        target_of(chat)?;
        let ids = self.unread.take_all(chat);
        self.report_read(chat, &ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::session::MessageUnread;

    #[test]
    fn readers_are_told_once_per_message_and_old_messages_forgotten() {
        let book = ReaderBook::default();
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(book.new_readers(5, &names(&["bob"])), names(&["bob"]));
        assert_eq!(
            book.new_readers(5, &names(&["bob", "carol"])),
            names(&["carol"])
        );
        assert_eq!(book.new_readers(6, &names(&["bob"])), names(&["bob"]));
        for id in 100..100 + MAX_MESSAGES_WITH_READERS as i64 {
            book.new_readers(id, &names(&["x"]));
        }
        // Message 5 was forgotten: its readers are told again.
        assert_eq!(book.new_readers(5, &names(&["bob"])), names(&["bob"]));
    }

    #[test]
    fn the_book_hands_out_ids_up_to_the_one_read() {
        let book = UnreadBook::default();
        let bob = ChatId::direct("bob");
        for id in [5, 9, 7, 9] {
            book.note(&bob, id);
        }
        book.note(&ChatId::group("1"), 6);
        assert_eq!(book.take_up_to(&bob, 9), vec![5, 9]);
        assert_eq!(
            book.take_up_to(&bob, 3),
            vec![3],
            "an id not noted goes alone"
        );
        assert_eq!(book.take_all(&bob), vec![7]);
        assert!(book.take_all(&bob).is_empty());
        assert_eq!(book.take_up_to(&ChatId::direct("x"), 4), vec![4]);
        for id in 0..(MAX_UNREPORTED_PER_CHAT as i64 + 10) {
            book.note(&bob, id);
        }
        let kept = book.take_all(&bob);
        assert_eq!(kept.len(), MAX_UNREPORTED_PER_CHAT);
        assert_eq!(kept[0], 10, "the oldest dropped first");
    }

    #[test]
    fn single_chat_changes_are_the_readers_receipt() {
        let unread = |msg_id| MessageUnread {
            msg_id,
            unread_count: 0,
            mtime: 1,
        };
        let single = ReceiptChange {
            gid: None,
            username: Some("bob".into()),
            receipts: vec![unread(12), unread(15), unread(13)],
        };
        assert_eq!(
            translate_receipt_change("alice", &single),
            Some(RemoteEvent::ReadReceipt {
                chat: ChatId::direct("bob"),
                sender: "bob".into(),
                up_to: Some("15".into()),
            })
        );
        let group = ReceiptChange {
            gid: Some(10001),
            username: None,
            receipts: vec![unread(3)],
        };
        assert_eq!(translate_receipt_change("alice", &group), None);
        let nobody = ReceiptChange {
            username: None,
            ..single.clone()
        };
        assert_eq!(translate_receipt_change("alice", &nobody), None);
        let own = ReceiptChange {
            username: Some("alice".into()),
            ..single
        };
        assert_eq!(translate_receipt_change("alice", &own), None);
    }
}
