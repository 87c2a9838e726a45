//! C2C fidelity beyond plain messages, both ways: recall ↔ [`RemoteEvent::Remove`] /
//! [`RecallAbility`], edit ↔ [`RemoteEvent::Edit`] / [`EditAbility`], the read marker ↔
//! [`RemoteEvent::ReadReceipt`] / [`ReceiptAbility`], and the typing notice ↔
//! [`RemoteEvent::Typing`] / [`TypingAbility`]. Wire shapes: [`crate::network::tencent::
//! session::ops`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::incoming::content_of;
use super::{direct_peer, outgoing_elems, send_failure, TencentLogin};
use crate::core::connector::{
    ChatId, EditAbility, MessageContent, RecallAbility, ReceiptAbility, RemoteEvent, SendFailure,
    TypingAbility,
};
use crate::network::tencent::client::unix_now;
use crate::network::tencent::session::ops::{self, C2cRef};
use crate::network::tencent::session::{C2cMessage, SendError, SessionEvent};
use crate::network::tencent::wire::servcmd;

/// How long a sender may recall a C2C message: the service's default, 2 minutes (console
/// setting "消息撤回时间限制"; the sandbox does not enforce it).
pub const RECALL_WINDOW_SECS: u64 = 120;

/// The last known `MsgVersion` of edited messages, by `MsgKey` (learnt from edit replies
/// and `C2cMsgModNotifys`; an edit needs the version the server has). In memory: after a
/// restart the first edit of a message edited before is refused as a conflict.
pub type Versions = Arc<Mutex<HashMap<String, u64>>>;

/// Bounds [`Versions`]: past this many entries it starts afresh.
const MAX_VERSIONS: usize = 10_000;

fn remember_version(versions: &Versions, key: String, version: u64) {
    if let Ok(mut v) = versions.lock() {
        if v.len() >= MAX_VERSIONS {
            v.clear();
        }
        v.insert(key, version);
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
pub fn translate(own: &str, e: &SessionEvent, versions: &Versions) -> Option<RemoteEvent> {
    Some(match e {
        SessionEvent::Recalled(r) => RemoteEvent::Remove {
            chat: ChatId::direct(peer_of(own, r)),
            sender: r.from.clone(),
            target: r.msg_key(),
        },
        SessionEvent::Modified(m) => {
            let target = m.target.msg_key();
            remember_version(versions, target.clone(), m.version);
            RemoteEvent::Edit {
                chat: ChatId::direct(peer_of(own, &m.target)),
                sender: m.target.from.clone(),
                target,
                content: content_of(&m.elems),
                timestamp_ms: unix_now().saturating_mul(1000),
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
    /// `openim.msgwithdraw` of the user's own message.
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
        let r = own_ref(self, chat, target)?;
        self.client
            .call(ops::MSGWITHDRAW, ops::withdraw_body(&r))
            .await
            .map(|_| ())
            .map_err(send_failure)
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
        let r = own_ref(self, chat, target)?;
        let key = r.msg_key();
        let version = self
            .versions
            .lock()
            .ok()
            .and_then(|v| v.get(&key).copied())
            .unwrap_or(0);
        let body = ops::modify_body(&r, version, &outgoing_elems(content), "");
        match self.client.call(ops::MODIFY_C2C_MSG, body).await {
            Ok(reply) => {
                let now = ops::modified_version(&reply).unwrap_or(version + 1);
                remember_version(&self.versions, key, now);
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
    /// one marker per conversation).
    async fn mark_read(&self, chat: &ChatId, up_to: &str) -> Result<(), SendFailure> {
        let peer = direct_peer(chat)?;
        let time = C2cRef::from_key(peer, &self.own, up_to).map_or_else(unix_now, |r| r.time);
        self.client
            .call(ops::MSGREADED, ops::read_body(peer, time))
            .await
            .map(|_| ())
            .map_err(send_failure)
    }
}

#[async_trait]
impl TypingAbility for TencentLogin {
    /// The TUIKit typing notice, online only.
    async fn set_typing(&self, chat: &ChatId, active: bool) -> Result<(), SendFailure> {
        let peer = direct_peer(chat)?;
        let body = ops::typing_body(&self.own, peer, active, rand::random(), rand::random());
        self.client
            .call(servcmd::SENDMSG, body)
            .await
            .map(|_| ())
            .map_err(send_failure)
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
        let versions = Versions::default();
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
        assert_eq!(versions.lock().unwrap().get("5_6_7"), Some(&3));
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
