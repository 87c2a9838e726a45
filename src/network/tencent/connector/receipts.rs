//! Per-message read receipts, both ways, groups and DMs
//! ([`crate::network::tencent::session::receipts`] has the wire shapes).
//!
//! - Tencent → Matrix: a receipt push (someone read the user's messages that asked for one)
//!   becomes the reader's [`RemoteEvent::ReadReceipt`] up to the newest message it names:
//!   `groups::group_message_id(group, MsgSeq)` in a group, the `MsgKey` in a DM (or the key
//!   remembered for the SDK's message `ID` when the push names it only so). A group push
//!   that does not name its reader (the SDK reads no reader from it; the sandbox names it)
//!   is passed over.
//! - Matrix → Tencent: received messages whose sender asked for receipts
//!   (`IsNeedReadReceipt`) are remembered per chat ([`Pending`], in memory and bounded); when
//!   the core marks the chat read ([`crate::core::connector::ReceiptAbility::mark_read`]),
//!   besides the read marker the user's receipt goes out for the remembered messages up to
//!   the one read (`group_msg_receipt` / `c2c_msg_read_receipt`), only for those, so
//!   nobody's receipts are sent for messages that did not ask. After a restart the memory
//!   starts empty. In a DM the first read of the run also reads the chat's newest history
//!   page ([`HISTORY_PAGE`] messages, `openim.getroammsg`), which says of each message
//!   whether it asked (`IsNeedReadReceipt`) and whether the user answered already
//!   (`IsPeerRead`), so the peer's messages from before the restart get their receipts too.
//!   In a group, when the message read is older than every message this run has seen there,
//!   the receipt goes out for it alone (the service refuses it, quietly, if it did not ask);
//!   earlier group messages received before the restart get none.
//! - The bridge's own group messages ask for receipts ([`REQUEST_GROUP_RECEIPTS`]), so the
//!   members' receipts show as their ghosts' Matrix read receipts; its DM messages do not
//!   (the C2C read marker already shows the peer's reading there).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tracing::{debug, warn};

use super::groups::group_message_id;
use super::TencentLogin;
use crate::core::connector::{ChatId, ChatKind, RemoteEvent};
use crate::network::tencent::session::history;
use crate::network::tencent::session::ops::C2cRef;
use crate::network::tencent::session::receipts::{
    c2c_receipt_request, group_receipt_request, C2cReceiptFor, ReceiptNotice,
};
use crate::network::tencent::session::{C2cMessage, GroupMessage, SendError};

/// Whether the bridge's group messages (from Matrix) ask for per-message read receipts
/// (`NeedReadReceipt: 1`): yes, so that who read them shows in Matrix. The service counts
/// receipts only when the app enabled the feature in the console; without it the flag is
/// ignored.
pub const REQUEST_GROUP_RECEIPTS: bool = true;

/// The most messages awaiting a receipt remembered per chat (the oldest are forgotten).
const MAX_PER_CHAT: usize = 200;
/// The most chats remembered; past it the memory starts afresh.
const MAX_CHATS: usize = 2_000;
/// How many of a DM's newest messages the first read of a run checks for receipts owed from
/// before it (one `openim.getroammsg` page).
pub const HISTORY_PAGE: u64 = 20;

/// A received message that asked for a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Group(u64),
    C2c(C2cReceiptFor),
}

/// Received messages awaiting the user's receipt, by chat id (group / topic id or peer).
#[derive(Default)]
pub struct Pending {
    by_chat: Mutex<HashMap<String, Vec<Asked>>>,
    /// The lowest `MsgSeq` this run has received per group (or topic): a message read below
    /// it was received before the restart.
    first_seen: Mutex<HashMap<String, u64>>,
    /// DM peers whose history this run has checked for receipts owed from before it.
    checked: Mutex<HashSet<String>>,
}

/// What a Matrix read receipt takes to send.
#[derive(Debug, PartialEq, Eq)]
struct Taken {
    asked: Vec<Asked>,
    /// Guessed: the message read was received before this run, so whether it asked for a
    /// receipt is not known (a refusal is expected, not a fault).
    unsure: bool,
}

impl Pending {
    fn remember(&self, chat: &str, asked: Asked) {
        let Ok(mut m) = self.by_chat.lock() else {
            return;
        };
        if m.len() >= MAX_CHATS && !m.contains_key(chat) {
            m.clear();
        }
        let list = m.entry(chat.to_owned()).or_default();
        if list.len() >= MAX_PER_CHAT {
            list.remove(0);
        }
        list.push(asked);
    }

    /// A received C2C message (seen by `own`): remembered when it asked for a receipt.
    pub fn c2c_received(&self, own: &str, m: &C2cMessage) {
        if let Some(asked) = c2c_asked(own, m) {
            self.remember(&m.from, Asked::C2c(asked));
        }
    }

    /// Whether DM `peer`'s history was checked this run; marks it checked.
    fn first_check(&self, peer: &str) -> bool {
        let Ok(mut checked) = self.checked.lock() else {
            return false;
        };
        if checked.len() >= MAX_CHATS {
            checked.clear();
        }
        checked.insert(peer.to_owned())
    }

    /// Forgets that DM `peer`'s history was checked (the read failed: check next time).
    fn uncheck(&self, peer: &str) {
        if let Ok(mut checked) = self.checked.lock() {
            checked.remove(peer);
        }
    }

    /// A received group message (seen by `own`): remembered when it asked for a receipt.
    pub fn group_received(&self, own: &str, m: &GroupMessage) {
        if let Ok(mut first) = self.first_seen.lock() {
            if first.len() >= MAX_CHATS && !first.contains_key(&m.group_id) {
                first.clear();
            }
            let seq = first.entry(m.group_id.clone()).or_insert(m.seq);
            *seq = (*seq).min(m.seq);
        }
        if m.need_receipt && m.from != own {
            self.remember(&m.group_id, Asked::Group(m.seq));
        }
    }

    /// Takes the messages of `chat` read when `up_to` is: those with `MsgSeq` (group) or
    /// time (DM) up to its own; all when `up_to` names no message of the chat. A group
    /// message read that is older than all this run has seen of the group is taken alone,
    /// marked unsure.
    fn take(&self, chat: &ChatId, own: &str, up_to: &str) -> Taken {
        let read_seq = match chat.kind {
            ChatKind::Group => super::group_ops::seq_of(chat, up_to).ok(),
            _ => None,
        };
        let before_this_run = read_seq.is_some_and(|s| {
            self.first_seen
                .lock()
                .map(|first| first.get(&chat.id).is_none_or(|f| s < *f))
                .unwrap_or(false)
        });
        if let (Some(seq), true) = (read_seq, before_this_run) {
            return Taken {
                asked: vec![Asked::Group(seq)],
                unsure: true,
            };
        }
        Taken {
            asked: self.take_remembered(chat, own, up_to),
            unsure: false,
        }
    }

    fn take_remembered(&self, chat: &ChatId, own: &str, up_to: &str) -> Vec<Asked> {
        let Ok(mut m) = self.by_chat.lock() else {
            return Vec::new();
        };
        let Some(list) = m.get_mut(&chat.id) else {
            return Vec::new();
        };
        let read = |a: &Asked| match (a, chat.kind) {
            (Asked::Group(seq), ChatKind::Group) => {
                super::group_ops::seq_of(chat, up_to).map_or(true, |limit| *seq <= limit)
            }
            (Asked::C2c(c), ChatKind::Direct) => {
                C2cRef::from_key(&chat.id, own, up_to).is_none_or(|r| c.time <= r.time)
            }
            _ => false,
        };
        let (taken, kept): (Vec<Asked>, Vec<Asked>) = list.drain(..).partition(|a| read(a));
        *list = kept;
        if list.is_empty() {
            m.remove(&chat.id);
        }
        taken
    }
}

/// What `own` owes a receipt for in message `m`: a message from someone else that asked
/// for one, not recalled, and not answered already (`IsPeerRead`, known for history items).
fn c2c_asked(own: &str, m: &C2cMessage) -> Option<C2cReceiptFor> {
    (m.need_receipt && m.from != own && !m.revoked && !m.peer_read).then(|| C2cReceiptFor {
        from: m.from.clone(),
        to: own.to_owned(),
        seq: m.seq,
        random: m.random,
        time: m.time,
        client_time: m.client_time,
    })
}

/// Whether `a` and `b` ask for the same message's receipt: a group message by its seq, a
/// C2C one by `MsgSeq` and `MsgRandom` (its times may differ between the push and the
/// history, `MsgClientTime` above all).
fn same_message(a: &Asked, b: &Asked) -> bool {
    match (a, b) {
        (Asked::Group(x), Asked::Group(y)) => x == y,
        (Asked::C2c(x), Asked::C2c(y)) => (x.seq, x.random) == (y.seq, y.random),
        _ => false,
    }
}

/// At the run's first read of DM `chat`: the receipts owed for its newest history page up to
/// `up_to` (messages from before the run the memory never saw). Empty after the first read,
/// or when the page could not be read (then the next read tries again).
async fn owed_from_history(login: &TencentLogin, chat: &ChatId, up_to: &str) -> Vec<Asked> {
    let pending = &login.memory.receipts;
    if chat.kind != ChatKind::Direct || !pending.first_check(&chat.id) {
        return Vec::new();
    }
    let body = history::c2c_page_body(&chat.id, "", HISTORY_PAGE);
    let page = match login.client.call(history::GETROAMMSG, body).await {
        Ok(page) => page,
        Err(e) => {
            pending.uncheck(&chat.id);
            debug!(chat = %chat.id, error = %e, "tencent: history not read for receipts owed");
            return Vec::new();
        }
    };
    let read_time = C2cRef::from_key(&chat.id, &login.own, up_to).map(|r| r.time);
    let (messages, _, _) = history::c2c_page(&page);
    messages
        .iter()
        .filter(|m| m.from == chat.id && read_time.is_none_or(|t| m.time <= t))
        .filter_map(|m| c2c_asked(&login.own, m))
        .map(Asked::C2c)
        .collect()
}

/// Sends the user's receipt for the messages of `chat` that asked for one, up to `up_to`
/// (after the read marker). Best effort: a refusal (e.g. the app has no receipts) is logged,
/// the read marker stands.
pub async fn send_pending(login: &TencentLogin, chat: &ChatId, up_to: &str) {
    let Taken {
        asked: mut taken,
        unsure,
    } = login.memory.receipts.take(chat, &login.own, up_to);
    for owed in owed_from_history(login, chat, up_to).await {
        if !taken.iter().any(|t| same_message(t, &owed)) {
            taken.push(owed);
        }
    }
    if taken.is_empty() {
        return;
    }
    let (cmd, body) = match chat.kind {
        ChatKind::Group => {
            let seqs: Vec<u64> = taken
                .iter()
                .filter_map(|a| match a {
                    Asked::Group(s) => Some(*s),
                    Asked::C2c(_) => None,
                })
                .collect();
            group_receipt_request(&chat.id, &seqs)
        }
        _ => {
            let mut msgs: Vec<C2cReceiptFor> = taken
                .into_iter()
                .filter_map(|a| match a {
                    Asked::C2c(c) => Some(c),
                    Asked::Group(_) => None,
                })
                .collect();
            msgs.sort_by_key(|c| (c.time, c.seq));
            c2c_receipt_request(&chat.id, &msgs)
        }
    };
    let sent = login.client.call(cmd, body).await;
    let retriable = matches!(sent, Err(SendError::Timeout | SendError::QueueTimeout));
    if retriable && chat.kind == ChatKind::Direct {
        // Not answered: what was owed is looked up in the history again at the next read.
        // (A refusal is not retried: it would be refused at every read.)
        login.memory.receipts.uncheck(&chat.id);
    }
    match sent {
        Ok(_) => debug!(chat = %chat.id, "tencent read receipt sent"),
        Err(e) if unsure => {
            debug!(chat = %chat.id, error = %e, "tencent read receipt for a message from before the restart refused (it asked for none)")
        }
        Err(e) => warn!(chat = %chat.id, error = %e, "tencent read receipt refused"),
    }
}

/// The reader's [`RemoteEvent::ReadReceipt`] of a receipt push, up to the newest message it
/// names (`None` when it names no reader or no message the bridge can name).
pub fn translate(n: &ReceiptNotice, memory: &super::fidelity::Memory) -> Option<RemoteEvent> {
    match n {
        ReceiptNotice::Group {
            group_id,
            reader,
            messages,
        } => {
            let Some(reader) = reader else {
                debug!(group = %group_id, "tencent group receipt without its reader passed over");
                return None;
            };
            let seq = messages.iter().filter_map(|m| m.seq).max()?;
            Some(RemoteEvent::ReadReceipt {
                chat: ChatId::group(group_id.clone()),
                sender: reader.clone(),
                up_to: Some(group_message_id(group_id, seq)),
            })
        }
        ReceiptNotice::C2c {
            reader, messages, ..
        } => {
            let key = messages.iter().rev().find_map(|m| {
                m.key
                    .clone()
                    .or_else(|| m.sdk_id.as_deref().and_then(|id| memory.key_of(id)))
            })?;
            Some(RemoteEvent::ReadReceipt {
                chat: ChatId::direct(reader.clone()),
                sender: reader.clone(),
                up_to: Some(key),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::session::receipts::ReceiptItem;

    #[test]
    fn the_same_c2c_message_is_told_by_seq_and_random_not_its_times() {
        let pushed = C2cReceiptFor {
            from: "bob".into(),
            to: "alice".into(),
            seq: 7,
            random: 99,
            time: 100,
            client_time: 100,
        };
        let from_history = C2cReceiptFor {
            client_time: 0,
            ..pushed.clone()
        };
        let other = C2cReceiptFor {
            random: 98,
            ..pushed.clone()
        };
        assert!(same_message(
            &Asked::C2c(pushed.clone()),
            &Asked::C2c(from_history)
        ));
        assert!(!same_message(
            &Asked::C2c(pushed.clone()),
            &Asked::C2c(other)
        ));
        assert!(same_message(&Asked::Group(3), &Asked::Group(3)));
        assert!(!same_message(&Asked::Group(3), &Asked::C2c(pushed)));
    }

    fn group_msg(from: &str, seq: u64, need_receipt: bool) -> GroupMessage {
        GroupMessage {
            group_id: "g".into(),
            from: from.into(),
            seq,
            random: 1,
            time: 10,
            elems: vec![],
            mentions: vec![],
            offline: false,
            need_receipt,
            version: 0,
            cloud_custom_data: String::new(),
            tiny_id: String::new(),
            client_time: 0,
        }
    }

    #[test]
    fn only_messages_that_asked_are_taken_up_to_the_one_read() {
        let p = Pending::default();
        p.group_received("me", &group_msg("bob", 3, true));
        p.group_received("me", &group_msg("bob", 4, false));
        p.group_received("me", &group_msg("me", 5, true));
        p.group_received("me", &group_msg("bob", 6, true));
        let chat = ChatId::group("g");
        let sure = |asked| Taken {
            asked,
            unsure: false,
        };
        assert_eq!(p.take(&chat, "me", "g#4"), sure(vec![Asked::Group(3)]));
        assert_eq!(p.take(&chat, "me", "g#4"), sure(vec![]));
        assert_eq!(p.take(&chat, "me", "g#9"), sure(vec![Asked::Group(6)]));
        assert_eq!(p.take(&ChatId::group("other"), "me", "x"), sure(vec![]));
    }

    #[test]
    fn a_message_from_before_the_restart_is_taken_alone_and_unsure() {
        let p = Pending::default();
        let unsure = |asked| Taken {
            asked,
            unsure: true,
        };
        // Nothing of group g seen in this run: the message read goes alone.
        let chat = ChatId::group("g");
        assert_eq!(p.take(&chat, "me", "g#7"), unsure(vec![Asked::Group(7)]));
        // Seen from seq 10 on: 9 is from before, 10 and later are known.
        p.group_received("me", &group_msg("bob", 10, false));
        p.group_received("me", &group_msg("bob", 11, true));
        assert_eq!(p.take(&chat, "me", "g#9"), unsure(vec![Asked::Group(9)]));
        assert_eq!(
            p.take(&chat, "me", "g#11"),
            Taken {
                asked: vec![Asked::Group(11)],
                unsure: false
            }
        );
        // DMs have the read marker; nothing is guessed there.
        assert_eq!(
            p.take(&ChatId::direct("bob"), "me", "bob_1_2_3"),
            Taken {
                asked: vec![],
                unsure: false
            }
        );
    }

    #[test]
    fn a_dm_message_owes_a_receipt_when_it_asked_and_was_not_answered() {
        let m = C2cMessage {
            from: "bob".into(),
            to: "me".into(),
            seq: 3,
            random: 4,
            time: 5,
            need_receipt: true,
            ..C2cMessage::default()
        };
        assert_eq!(
            c2c_asked("me", &m),
            Some(C2cReceiptFor {
                from: "bob".into(),
                to: "me".into(),
                seq: 3,
                random: 4,
                time: 5,
                client_time: 0,
            })
        );
        let answered = C2cMessage {
            peer_read: true,
            ..m.clone()
        };
        let recalled = C2cMessage {
            revoked: true,
            ..m.clone()
        };
        let not_asked = C2cMessage {
            need_receipt: false,
            ..m.clone()
        };
        for m in [answered, recalled, not_asked] {
            assert_eq!(c2c_asked("me", &m), None, "{m:?}");
        }
        assert_eq!(c2c_asked("bob", &m), None, "one's own message");
        // A peer's history is checked once a run, again after a failed read.
        let p = Pending::default();
        assert!(p.first_check("bob"));
        assert!(!p.first_check("bob"));
        p.uncheck("bob");
        assert!(p.first_check("bob"));
    }

    #[test]
    fn pushes_become_the_readers_receipt_on_the_newest_message() {
        let memory = super::super::fidelity::Memory::default();
        let item = |seq: Option<u64>, key: Option<&str>| ReceiptItem {
            seq,
            key: key.map(str::to_owned),
            sdk_id: None,
            read: 1,
            unread: 0,
        };
        let group = ReceiptNotice::Group {
            group_id: "g".into(),
            reader: Some("bob".into()),
            messages: vec![item(Some(7), None), item(Some(5), None)],
        };
        assert_eq!(
            translate(&group, &memory),
            Some(RemoteEvent::ReadReceipt {
                chat: ChatId::group("g"),
                sender: "bob".into(),
                up_to: Some("g#7".into()),
            })
        );
        let anonymous = ReceiptNotice::Group {
            group_id: "g".into(),
            reader: None,
            messages: vec![item(Some(7), None)],
        };
        assert_eq!(translate(&anonymous, &memory), None);
        let c2c = ReceiptNotice::C2c {
            reader: "bob".into(),
            time: 1,
            messages: vec![item(None, Some("1_2_3"))],
        };
        assert_eq!(
            translate(&c2c, &memory),
            Some(RemoteEvent::ReadReceipt {
                chat: ChatId::direct("bob"),
                sender: "bob".into(),
                up_to: Some("1_2_3".into()),
            })
        );
    }
}
