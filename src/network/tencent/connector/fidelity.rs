//! C2C fidelity beyond plain messages, both ways: recall ↔ [`RemoteEvent::Remove`] /
//! [`RecallAbility`], edit ↔ [`RemoteEvent::Edit`] / [`EditAbility`], the read marker ↔
//! [`RemoteEvent::ReadReceipt`] / [`ReceiptAbility`], the typing notice ↔
//! [`RemoteEvent::Typing`] / [`TypingAbility`], and reply quotes (the TUIKit's
//! `CloudCustomData.messageReply`) ↔ [`RemoteMessage::reply_to`] / [`ReplyTo`].
//! Wire shapes: [`crate::network::tencent::session::ops`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::incoming::content_of;
use super::{direct_peer, outgoing_elems, send_failure, TencentLogin};
use crate::core::connector::{
    ChatId, ChatKind, EditAbility, MessageContent, QuotedKind, RecallAbility, ReceiptAbility,
    RemoteEvent, RemoteMessage, ReplyTo, SendFailure, TypingAbility,
};
use crate::network::tencent::client::unix_now;
use crate::network::tencent::session::ops::{self, C2cRef};
use crate::network::tencent::session::{
    C2cMessage, GroupMessage, SendError, SendReceipt, SessionEvent,
};
use crate::network::tencent::wire::servcmd;

/// How long a sender may recall a C2C message: the service's default, 2 minutes (console
/// setting "消息撤回时间限制"; the sandbox does not enforce it).
pub const RECALL_WINDOW_SECS: u64 = 120;

/// What a login remembers between events and calls, in memory and bounded (after a restart
/// it starts empty): the last known `MsgVersion` of edited messages by `MsgKey` (an edit
/// needs the version the server has: after a restart the first edit of a message edited
/// before is refused as a conflict), and the SDK's message `ID`s of the messages seen, both
/// ways with their `MsgKey`s (the TUIKit's reply quote names a message by its SDK `ID`).
#[derive(Default)]
pub struct Memory {
    versions: Mutex<HashMap<String, u64>>,
    ids: Mutex<IdMap>,
    own_tiny_id: Mutex<String>,
    /// Received messages awaiting the user's read receipt ([`super::receipts`]).
    pub receipts: super::receipts::Pending,
}

#[derive(Default)]
struct IdMap {
    key_of: HashMap<String, String>,
    sdk_id_of: HashMap<String, String>,
    /// `MsgKey` → `From_Account` (a reaction names the message's author).
    author_of: HashMap<String, String>,
}

/// The [`Memory`] a login and its event task share.
pub type Shared = Arc<Memory>;

/// Bounds each map of [`Memory`]: past this many entries it starts afresh.
const MAX_REMEMBERED: usize = 10_000;

impl Memory {
    pub(super) fn remember_version(&self, key: String, version: u64) {
        if let Ok(mut v) = self.versions.lock() {
            if v.len() >= MAX_REMEMBERED {
                v.clear();
            }
            v.insert(key, version);
        }
    }

    pub(super) fn version(&self, key: &str) -> u64 {
        self.versions
            .lock()
            .ok()
            .and_then(|v| v.get(key).copied())
            .unwrap_or(0)
    }

    fn remember_id(&self, sdk_id: String, key: String, author: &str) {
        if let Ok(mut m) = self.ids.lock() {
            if m.key_of.len() >= MAX_REMEMBERED {
                m.key_of.clear();
                m.sdk_id_of.clear();
                m.author_of.clear();
            }
            m.author_of.insert(key.clone(), author.to_owned());
            m.sdk_id_of.insert(key.clone(), sdk_id.clone());
            m.key_of.insert(sdk_id, key);
        }
    }

    /// The `MsgKey` of the message whose SDK `ID` is `sdk_id`, when seen.
    pub fn key_of(&self, sdk_id: &str) -> Option<String> {
        self.ids.lock().ok()?.key_of.get(sdk_id).cloned()
    }

    /// The author of C2C message `key`, when seen.
    pub fn author_of(&self, key: &str) -> Option<String> {
        self.ids.lock().ok()?.author_of.get(key).cloned()
    }

    /// The login's own `TinyId` (from `wslogin`).
    pub fn logged_in(&self, tiny_id: &str) {
        if let Ok(mut t) = self.own_tiny_id.lock() {
            *t = tiny_id.to_owned();
        }
    }

    /// A message this login sent: its SDK `ID` is `{own TinyId}-{MsgClientTime}-{MsgRandom}`,
    /// and the bridge sends `MsgClientTime` 0, which the server fills with `MsgTime` (the
    /// sandbox does; the real service's behaviour is not known).
    pub fn sent(&self, own: &str, receipt: &SendReceipt) {
        self.sent_as(own, receipt, receipt.msg_key.clone());
    }

    /// A message this login sent whose network id is `id` (a group message's
    /// `{GroupId}#{MsgSeq}`): its SDK `ID` as for [`Memory::sent`].
    pub fn sent_as(&self, own: &str, receipt: &SendReceipt, id: String) {
        let tiny = self
            .own_tiny_id
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        if !tiny.is_empty() {
            let sdk_id = ops::sdk_message_id(&tiny, receipt.msg_time, receipt.msg_random);
            self.remember_id(sdk_id, id, own);
        }
    }

    /// A received message: remembers its SDK `ID`, gives it as `out.alt_id` (the core keeps
    /// it across restarts), and fills `out.reply_to` from its reply quote (the `MsgKey` of
    /// the quoted message when it was seen since the start, else the quoted `ID` as given,
    /// which the core resolves by the `alt_id`s it keeps).
    pub fn received(&self, m: &C2cMessage, out: &mut RemoteMessage) {
        self.received_parts(
            (&m.tiny_id, m.client_time, m.time, m.random),
            &m.from,
            &m.cloud_custom_data,
            out,
        );
    }

    /// [`Memory::received`] for a group message (its network id `{GroupId}#{MsgSeq}`).
    pub fn received_group(&self, m: &GroupMessage, out: &mut RemoteMessage) {
        self.received_parts(
            (&m.tiny_id, m.client_time, m.time, m.random),
            &m.from,
            &m.cloud_custom_data,
            out,
        );
    }

    /// `(TinyId, MsgClientTime, MsgTime, MsgRandom)` name the message for the SDK.
    fn received_parts(
        &self,
        (tiny_id, client_time, time, random): (&str, u64, u64, u32),
        from: &str,
        cloud_custom_data: &str,
        out: &mut RemoteMessage,
    ) {
        if !tiny_id.is_empty() {
            let time = if client_time == 0 { time } else { client_time };
            let id = ops::sdk_message_id(tiny_id, time, random);
            self.remember_id(id.clone(), out.id.clone(), from);
            out.alt_id = Some(id);
        }
        if let Some(r) = ops::parse_reply(cloud_custom_data) {
            let key = self
                .ids
                .lock()
                .ok()
                .and_then(|ids| ids.key_of.get(&r.message_id).cloned());
            out.reply_to = Some(key.unwrap_or(r.message_id));
        }
    }

    /// The SDK `ID` of message `key` this login sent or received since it started.
    pub fn sdk_id_of(&self, key: &str) -> Option<String> {
        self.ids.lock().ok()?.sdk_id_of.get(key).cloned()
    }

    /// The `CloudCustomData` of a reply to `to`: the TUIKit quote naming the message by its
    /// SDK `ID` when known (seen since the start, else the `alt_id` the core kept), else by
    /// its `MsgKey`.
    pub fn reply_data(&self, to: &ReplyTo) -> String {
        let id = self
            .sdk_id_of(&to.id)
            .or_else(|| to.alt_id.clone())
            .unwrap_or_else(|| to.id.clone());
        ops::reply_data(&ops::MessageReply {
            message_id: id,
            message_abstract: to.preview.clone().unwrap_or_default(),
            message_sender: to.sender.clone().unwrap_or_default(),
            message_type: match to.kind {
                QuotedKind::Text => 1,
                QuotedKind::Other => 2,
                QuotedKind::Image => 3,
                QuotedKind::Audio => 4,
                QuotedKind::Video => 5,
                QuotedKind::File => 6,
                QuotedKind::Location => 7,
            },
        })
    }
}

/// The peer of a C2C operation seen by `own`.
fn peer_of<'a>(own: &str, r: &'a C2cRef) -> &'a str {
    if r.from == own {
        &r.to
    } else {
        &r.from
    }
}

/// A received message that is a typing notice: the [`RemoteEvent::Typing`] it stands for
/// (`None` for the user's own, from another instance).
pub fn typing_event(own: &str, m: &C2cMessage) -> Option<Option<RemoteEvent>> {
    let active = ops::typing_status(&m.elems)?;
    Some((m.from != own).then(|| RemoteEvent::Typing {
        chat: ChatId::direct(m.from.clone()),
        sender: m.from.clone(),
        active,
    }))
}

/// The [`RemoteEvent`] of an operation event; `None` for other events.
pub fn translate(own: &str, e: &SessionEvent, memory: &Memory) -> Option<RemoteEvent> {
    Some(match e {
        SessionEvent::Recalled(r) => RemoteEvent::Remove {
            chat: ChatId::direct(peer_of(own, r)),
            sender: r.from.clone(),
            target: r.msg_key(),
        },
        SessionEvent::Modified(m) => {
            let target = m.target.msg_key();
            memory.remember_version(target.clone(), m.version);
            RemoteEvent::Edit {
                chat: ChatId::direct(peer_of(own, &m.target)),
                sender: m.target.from.clone(),
                target,
                content: content_of(&m.elems),
                timestamp_ms: unix_now().saturating_mul(1000),
                edit_count: Some(m.version),
            }
        }
        SessionEvent::PeerRead { peer, .. } => RemoteEvent::ReadReceipt {
            chat: ChatId::direct(peer.clone()),
            sender: peer.clone(),
            up_to: None,
        },
        SessionEvent::ReadElsewhere { peer, .. } => RemoteEvent::ReadReceipt {
            chat: ChatId::direct(peer.clone()),
            sender: own.to_owned(),
            up_to: None,
        },
        SessionEvent::MuteSynced { peer, flag } => RemoteEvent::NotifyChange {
            chat: ChatId::direct(peer.clone()),
            level: super::notify::c2c_level(*flag),
        },
        _ => return None,
    })
}

/// The reference of the user's own message `target` in `chat`.
fn own_ref(login: &TencentLogin, chat: &ChatId, target: &str) -> Result<C2cRef, SendFailure> {
    let peer = direct_peer(chat)?;
    C2cRef::from_key(&login.own, peer, target)
        .ok_or_else(|| SendFailure::Permanent(format!("{target} is not a Tencent message key")))
}

#[async_trait]
impl RecallAbility for TencentLogin {
    /// `openim.msgwithdraw` of the user's own message; in a group `group_msg_recall`.
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
        if chat.kind == ChatKind::Group {
            return super::group_ops::recall(self, chat, target).await;
        }
        let r = own_ref(self, chat, target)?;
        self.call_done(ops::MSGWITHDRAW, ops::withdraw_body(&r))
            .await
    }
}

#[async_trait]
impl EditAbility for TencentLogin {
    /// `openim.modify_c2c_msg` of the user's own message, from the last version known.
    async fn edit_message(
        &self,
        chat: &ChatId,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure> {
        if chat.kind == ChatKind::Group {
            return super::group_ops::edit(self, chat, target, &outgoing_elems(content)).await;
        }
        let r = own_ref(self, chat, target)?;
        let key = r.msg_key();
        let version = self.memory.version(&key);
        let body = ops::modify_body(&r, version, &outgoing_elems(content), None);
        match self.client.call(ops::MODIFY_C2C_MSG, body).await {
            Ok(reply) => {
                let now = ops::modified_version(&reply).unwrap_or(version + 1);
                self.memory.remember_version(key, now);
                Ok(())
            }
            Err(SendError::Server(e)) if e.code == 20027 => Err(SendFailure::Permanent(
                "the message was edited elsewhere since the bridge last saw it".into(),
            )),
            Err(e) => Err(send_failure(e)),
        }
    }
}

#[async_trait]
impl ReceiptAbility for TencentLogin {
    /// `openim.msgreaded`: the conversation is read up to `up_to`'s time (C2C read state is
    /// one marker per conversation); in a group `msg_read_report` up to `up_to`'s `MsgSeq`;
    /// then the per-message receipts of messages that asked for one
    /// ([`super::receipts::send_pending`]).
    async fn mark_read(&self, chat: &ChatId, up_to: &str) -> Result<(), SendFailure> {
        if chat.kind == ChatKind::Group {
            super::group_ops::mark_read(self, chat, up_to).await?;
        } else {
            let peer = direct_peer(chat)?;
            let time = C2cRef::from_key(peer, &self.own, up_to).map_or_else(unix_now, |r| r.time);
            self.client
                .call(ops::MSGREADED, ops::read_body(peer, time))
                .await
                .map_err(send_failure)?;
        }
        // Then the per-message receipts the senders asked for.
        super::receipts::send_pending(self, chat, up_to).await;
        Ok(())
    }
}

#[async_trait]
impl TypingAbility for TencentLogin {
    /// The TUIKit typing notice, online only.
    async fn set_typing(&self, chat: &ChatId, active: bool) -> Result<(), SendFailure> {
        let peer = direct_peer(chat)?;
        let body = ops::typing_body(&self.own, peer, active, rand::random(), rand::random());
        self.call_done(servcmd::SENDMSG, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::Elem;
    use crate::network::tencent::session::ops::C2cModified;

    fn r(from: &str, to: &str) -> C2cRef {
        C2cRef::from_key(from, to, "5_6_7").unwrap()
    }

    #[test]
    fn operations_map_onto_the_core_events_seen_from_each_side() {
        let versions = Memory::default();
        let e = translate("bob", &SessionEvent::Recalled(r("alice", "bob")), &versions);
        assert_eq!(
            e,
            Some(RemoteEvent::Remove {
                chat: ChatId::direct("alice"),
                sender: "alice".into(),
                target: "5_6_7".into()
            })
        );
        // The user's own recall from another instance: the chat is the peer's.
        let e = translate(
            "alice",
            &SessionEvent::Recalled(r("alice", "bob")),
            &versions,
        );
        assert!(
            matches!(e, Some(RemoteEvent::Remove { chat, .. }) if chat == ChatId::direct("bob"))
        );
        let m = C2cModified {
            target: r("alice", "bob"),
            elems: vec![Elem::text("new")],
            cloud_custom_data: String::new(),
            version: 3,
        };
        let Some(RemoteEvent::Edit {
            target, content, ..
        }) = translate("bob", &SessionEvent::Modified(m), &versions)
        else {
            panic!("an edit");
        };
        assert_eq!(
            (target.as_str(), content),
            ("5_6_7", MessageContent::text("new"))
        );
        assert_eq!(versions.version("5_6_7"), 3);
        let read = SessionEvent::PeerRead {
            peer: "alice".into(),
            time: 1,
        };
        assert!(matches!(translate("bob", &read, &versions),
            Some(RemoteEvent::ReadReceipt { sender, up_to: None, .. }) if sender == "alice"));
        let mine = SessionEvent::ReadElsewhere {
            peer: "alice".into(),
            time: 1,
        };
        assert!(matches!(translate("bob", &mine, &versions),
            Some(RemoteEvent::ReadReceipt { sender, chat, .. }) if sender == "bob" && chat == ChatId::direct("alice")));
        assert_eq!(
            translate("bob", &SessionEvent::SyncCompleted { count: 0 }, &versions),
            None
        );
    }
}
