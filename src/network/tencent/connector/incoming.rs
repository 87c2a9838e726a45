//! Tencent → core: session events become [`RemoteEvent`]s (messages, login states, the end of
//! the catch-up), and C2C elements become [`MessageContent`].

use tokio::sync::{mpsc, watch};

use super::login::{mint, USERSIG_EXPIRED};
use super::TencentSettings;
use crate::core::connector::RemoteEventSender;
use crate::core::connector::{
    ChatId, Checkpoint, LoginState, MessageContent, RemoteEvent, RemoteMessage,
};
use crate::network::tencent::client::{Client, LinkState};
use crate::network::tencent::elem::Elem;
use crate::network::tencent::session::{C2cMessage, EndReason, KickType, SessionEvent};

/// The network id of a message: its `MsgKey`, else `From_Account-MsgSeq-MsgRandom` (the
/// SDK's own message id shape).
pub fn message_id(from: &str, seq: u32, random: u32, key: &str) -> String {
    if key.is_empty() {
        format!("{from}-{seq}-{random}")
    } else {
        key.to_owned()
    }
}

/// One C2C message, seen by the logged-in user `own`.
pub fn translate_message(own: &str, m: &C2cMessage) -> RemoteMessage {
    let from_self = m.from == own;
    let peer = if from_self { &m.to } else { &m.from };
    RemoteMessage {
        id: message_id(&m.from, m.seq, m.random, &m.key),
        chat: ChatId::direct(peer.clone()),
        sender: m.from.clone(),
        from_self,
        timestamp_ms: m.time.saturating_mul(1000),
        content: content_of(&m.elems),
        reply_to: None,
        thread_root: None,
        droppable: false,
        edit_count: m.version,
        alt_id: None,
        extra: Default::default(),
    }
}

/// What a message's elements carry: one attachment with its text as the caption
/// ([`super::media::media_content`]), else their text, with the elements not bridged
/// described in words.
pub fn content_of(elems: &[Elem]) -> MessageContent {
    if let Some(media) = super::media::media_content(elems) {
        return media;
    }
    if let [Elem::Location(l)] = elems {
        return MessageContent::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            description: l.desc.clone(),
        };
    }
    let mut text = String::new();
    let mut missing = Vec::new();
    for e in elems {
        match e {
            Elem::Text(t) => text.push_str(&t.text),
            Elem::Custom(c) => missing.push(custom_words(c)),
            other => missing.push(describe(other.msg_type()).to_owned()),
        }
    }
    if missing.is_empty() {
        return MessageContent::text(text);
    }
    let words = missing.join(", ");
    if !text.is_empty() {
        return MessageContent::text(format!("{text}\n[{words} — not bridged from Tencent]"));
    }
    // A message of custom elements only is shown as what it says (app-defined: a poll, an
    // order card); other kinds the bridge cannot show are said to be unsupported.
    if elems.iter().all(|e| matches!(e, Elem::Custom(_))) {
        MessageContent::Notice {
            body: format!("sent {words}"),
        }
    } else {
        MessageContent::Unsupported { description: words }
    }
}

/// A custom element (app-defined, so never bridged as content) in words: its `Desc`, else
/// the start of its `Data`.
fn custom_words(c: &crate::network::tencent::elem::CustomElem) -> String {
    const MAX_CHARS: usize = 80;
    let shown = if c.desc.trim().is_empty() {
        c.data.trim()
    } else {
        c.desc.trim()
    };
    if shown.is_empty() {
        return "a custom message".into();
    }
    // Control characters (app data may hold any) are shown as spaces.
    let mut short: String = shown
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if shown.chars().count() > MAX_CHARS {
        short.push('…');
    }
    format!("a custom message: {short}")
}

/// An element kind in words.
fn describe(msg_type: &str) -> &'static str {
    match msg_type {
        "TIMFaceElem" => "a sticker",
        "TIMLocationElem" => "a location",
        "TIMCustomElem" => "a custom message",
        "TIMImageElem" => "an image",
        "TIMSoundElem" => "a voice message",
        "TIMFileElem" => "a file",
        "TIMVideoFileElem" => "a video",
        _ => "a message of a kind the bridge does not know",
    }
}

/// The state a session's end puts the login in; `None` for our own logout.
fn end_state(reason: &EndReason, minted: bool) -> Option<LoginState> {
    Some(match reason {
        EndReason::UserSigExpired if minted => LoginState::BadCredentials {
            reason: "the UserSig the bridge signed was refused as expired: check the \
                     bridge's clock, then send `relogin minted`"
                .into(),
        },
        EndReason::UserSigExpired => LoginState::BadCredentials {
            reason: USERSIG_EXPIRED.into(),
        },
        EndReason::LoginRefused(e) => LoginState::BadCredentials {
            reason: format!("Tencent Cloud Chat refused the login ({e}): log in again"),
        },
        EndReason::LoginTimeout => LoginState::UnknownError {
            reason: "the login got no answer".into(),
        },
        EndReason::Kicked(KickType::RestApi) => LoginState::LoggedOut {
            reason: "the app's server logged this account out (REST kick)".into(),
        },
        EndReason::Kicked(KickType::OtherAccount | KickType::OtherDevice) => {
            LoginState::LoggedOut {
                reason: "this account logged in elsewhere, which ended the bridge's session".into(),
            }
        }
        EndReason::Kicked(KickType::Other(n)) => LoginState::LoggedOut {
            reason: format!("kicked out by the server (kick type {n})"),
        },
        EndReason::LoggedOut => return None,
    })
}

/// Moves one session's events to the core until the session ends; also reports link losses
/// seen by the client task (`link`) and, for minted logins, renews the UserSig at half its
/// lifetime.
pub(super) async fn translate(
    own: String,
    settings: Option<TencentSettings>,
    client: Client,
    mut events: mpsc::Receiver<SessionEvent>,
    out: RemoteEventSender,
    memory: super::fidelity::Shared,
) {
    let minted = settings.is_some();
    let mut link: watch::Receiver<LinkState> = client.watch_state();
    link.mark_unchanged();
    let renew_every = settings
        .as_ref()
        .map_or(std::time::Duration::from_secs(3600), |s| {
            s.mint_lifetime / 2
        })
        .max(std::time::Duration::from_secs(1));
    let mut renew =
        tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    let mut link_open = true;
    let mut reactions_due = super::reaction_sync::Pending::default();
    let mut mute_ends = super::mute_ends::MuteEnds::default();
    loop {
        let next_end = mute_ends.next_end();
        let until_end = next_end.map_or(0, |end| {
            end.saturating_sub(crate::network::tencent::client::unix_now())
        });
        let event = tokio::select! {
            biased;
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
            // A timed mute ran out (the service tells nobody): its unmute.
            _ = tokio::time::sleep(std::time::Duration::from_secs(until_end)), if next_end.is_some() => {
                let due = mute_ends.due(crate::network::tencent::client::unix_now());
                if send_all(&out, due).await {
                    continue;
                }
                break;
            }
            changed = link.changed(), if link_open => {
                if changed.is_err() {
                    link_open = false;
                    continue;
                }
                let state = link.borrow_and_update().clone();
                if let LinkState::Reconnecting(reason) = state {
                    let _ = out.send(RemoteEvent::State(LoginState::TransientDisconnect { reason })).await;
                }
                continue;
            }
            _ = renew.tick(), if minted => {
                if let Some(sig) = settings.as_ref().and_then(|s| mint(s, &own)) {
                    client.set_user_sig(&sig).await;
                    tracing::debug!(user = %own, "tencent UserSig renewed");
                }
                continue;
            }
        };
        let remote = match event {
            SessionEvent::LoggedIn { tiny_id, .. } => {
                memory.logged_in(&tiny_id);
                RemoteEvent::State(LoginState::Connected)
            }
            SessionEvent::Message(m) => match super::fidelity::typing_event(&own, &m) {
                Some(Some(typing)) => typing,
                Some(None) => continue,
                None => {
                    let mut message = translate_message(&own, &m);
                    memory.received(&m, &mut message);
                    reactions_due.c2c(&own, &m);
                    memory.receipts.c2c_received(&own, &m);
                    RemoteEvent::Message(message)
                }
            },
            e @ (SessionEvent::Recalled(_)
            | SessionEvent::Modified(_)
            | SessionEvent::PeerRead { .. }
            | SessionEvent::ReadElsewhere { .. }
            | SessionEvent::MuteSynced { .. }) => {
                match super::fidelity::translate(&own, &e, &memory) {
                    Some(remote) => remote,
                    None => continue,
                }
            }
            SessionEvent::SyncCompleted { .. } => {
                read_reactions(&own, &client, &mut reactions_due, &memory, &out);
                super::conversations::resync(&own, &client, &memory, &out);
                RemoteEvent::CatchUpDone
            }
            SessionEvent::LinkLost { reason } => {
                RemoteEvent::State(LoginState::TransientDisconnect { reason })
            }
            SessionEvent::Ended(reason) => match end_state(&reason, minted) {
                Some(state) => RemoteEvent::State(state),
                None => continue,
            },
            SessionEvent::PushBatch { token } => {
                // Acknowledged to the server once the core stored what came before.
                let (checkpoint, stored) = Checkpoint::new();
                let acker = client.clone();
                tokio::spawn(async move {
                    if stored.wait().await {
                        acker.ack_push(token).await;
                    } else {
                        // Fetched again, so they reach the core again (issue 14).
                        acker.push_not_stored(token).await;
                    }
                });
                RemoteEvent::Checkpoint(checkpoint)
            }
            SessionEvent::SendResult { .. } | SessionEvent::CallResult { .. } => continue,
            SessionEvent::GroupMessage(m) => {
                reactions_due.group(&m);
                memory.receipts.group_received(&own, &m);
                if m.version > 0 {
                    let id = super::groups::group_message_id(&m.group_id, m.seq);
                    memory.remember_version(id, m.version);
                }
                let mut events = super::groups::translate_group_events(&own, &m);
                if let Some(RemoteEvent::Message(msg)) = events.first_mut() {
                    memory.received_group(&m, msg);
                }
                if send_all(&out, events).await {
                    continue;
                }
                break;
            }
            SessionEvent::LiveMessage(m) => {
                RemoteEvent::Message(super::live::translate_live_message(&own, &m))
            }
            SessionEvent::GroupTip(t) => {
                let now = crate::network::tencent::client::unix_now();
                mute_ends.note(&t, now);
                match super::groups::translate_tip(&own, &t, now) {
                    Some(e) => e,
                    None => continue,
                }
            }
            SessionEvent::GroupNotice(n) => {
                if send_all(&out, super::group_ops::translate_notice(&own, &n)).await {
                    continue;
                }
                break;
            }
            SessionEvent::Reactions(r) => match super::reactions::translate(&own, &r, &memory) {
                Some(e) => e,
                None => continue,
            },
            SessionEvent::ReadReceipts(r) => match super::receipts::translate(&r, &memory) {
                Some(e) => e,
                None => continue,
            },
            SessionEvent::ProfileChanged(c) => super::profiles::translate_changed(&c),
            SessionEvent::GroupModified(m) => super::group_ops::translate_modified(&m, &memory),
            SessionEvent::GroupSyncCompleted { .. } => {
                read_reactions(&own, &client, &mut reactions_due, &memory, &out);
                continue;
            }
            SessionEvent::GroupList(_) => continue,
            SessionEvent::Topic(t) => {
                if send_all(&out, super::topics::translate(&t)).await {
                    continue;
                }
                break;
            }
            SessionEvent::TopicList { topics, .. } => {
                if send_all(&out, super::topics::listed(&topics)).await {
                    continue;
                }
                break;
            }
        };
        if out.send(remote).await.is_err() {
            break;
        }
    }
}

/// Reads, in the background, the reactions of the messages the catch-up delivered (the
/// events go behind those messages: [`super::reaction_sync`]).
fn read_reactions(
    own: &str,
    client: &Client,
    due: &mut super::reaction_sync::Pending,
    memory: &super::fidelity::Shared,
    out: &RemoteEventSender,
) {
    let queries = due.take();
    if !queries.is_empty() {
        tokio::spawn(super::reaction_sync::read(
            own.to_owned(),
            client.clone(),
            queries,
            memory.clone(),
            out.clone(),
        ));
    }
}

/// Sends `events` in order; false once the core is gone.
async fn send_all(out: &RemoteEventSender, events: Vec<RemoteEvent>) -> bool {
    for e in events {
        if out.send(e).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::{LocationElem, TextElem};

    #[test]
    fn texts_join_and_the_rest_is_described() {
        let t = |s: &str| Elem::Text(TextElem { text: s.into() });
        assert_eq!(content_of(&[t("a"), t("b")]), MessageContent::text("ab"));
        let loc = Elem::Location(LocationElem {
            desc: "here".into(),
            latitude: 1.5,
            longitude: 2.5,
        });
        assert!(matches!(
            content_of(std::slice::from_ref(&loc)),
            MessageContent::Location { .. }
        ));
        let MessageContent::Text { body, .. } = content_of(&[t("hi"), loc]) else {
            panic!("text with a note");
        };
        assert!(body.starts_with("hi\n[a location"), "{body}");
        let custom = |desc: &str, data: &str| {
            content_of(&[Elem::Custom(crate::network::tencent::elem::CustomElem {
                desc: desc.into(),
                data: data.into(),
                ..Default::default()
            })])
        };
        assert_eq!(
            custom("a poll", "{}"),
            MessageContent::Notice {
                body: "sent a custom message: a poll".into()
            }
        );
        let MessageContent::Notice { body } = custom("", &"x".repeat(200)) else {
            panic!("a notice");
        };
        assert!(body.ends_with(&format!(": {}…", "x".repeat(80))), "{body}");
        assert_eq!(
            custom("", "{\"a\":\"\u{0}\u{1}\"}"),
            MessageContent::Notice {
                body: "sent a custom message: {\"a\":\"  \"}".into()
            }
        );
    }

    #[test]
    fn ids_prefer_the_msg_key() {
        assert_eq!(message_id("a", 1, 2, "k"), "k");
        assert_eq!(message_id("a", 1, 2, ""), "a-1-2");
    }
}
