//! JMessage → core: session events become [`RemoteEvent`]s (single-chat and group messages,
//! their attachments through `media`, group events and retractions through `groups`, read
//! receipts through `receipts`, profile changes, login states, push receipts held until the
//! core stored a push, the end of the login-time catch-up).
//!
//! Profile changes: every message carries its sender's profile time (`sui_mtime`); one newer
//! than the last seen from that sender (as the Web SDK's `onUserInfUpdate` decides) fetches
//! their profile (`get_across_user_info`) and becomes [`RemoteEvent::ProfileChange`] after
//! the message. The first time seen is only noted: the core reads a ghost's profile itself
//! when it first needs it.
//!
//! The catch-up: JMessage says nothing when the offline hand-over (`sync_conversation` after
//! the login's `sync_check`) is complete, so it counts as done once [`CATCH_UP_QUIET`] passed
//! after the login with no offline message arriving.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::core::connector::{
    ChatId, Checkpoint, LoginState, MessageContent, RemoteEvent, RemoteEventSender, RemoteMessage,
};
use crate::network::jmessage::client::{Client, LinkState};
use crate::network::jmessage::session::{EndReason, GroupEventKind, IncomingMessage, SessionEvent};

use super::groups::{translate_group_event, translate_retraction};
use super::media::media_of;
use super::profile_of;
use super::receipts::{
    group_receipt_worker, translate_receipt_change, UnreadBook, GROUP_RECEIPT_QUEUE,
};

/// How long after the login (or the last offline message) the catch-up counts as done.
pub const CATCH_UP_QUIET: Duration = Duration::from_millis(1500);

/// One message seen by the logged-in user `own`: a group message (its `gid` set) goes to the
/// chat `ChatId::group(<gid>)`, a single-chat message to the other user's direct chat; `None`
/// for single-chat messages that are not this user's. Users are named as
/// [`crate::network::jmessage::across`] does (the session did), so `bob` of another app is
/// `bob/<appkey>`: another ghost and another direct chat than our app's `bob`.
pub fn translate_message(own: &str, m: &IncomingMessage) -> Option<RemoteMessage> {
    let from_self = m.from == own;
    let chat = match m.gid {
        Some(gid) => ChatId::group(gid.to_string()),
        None => {
            if !from_self && m.target != own {
                return None;
            }
            let peer = if from_self { &m.target } else { &m.from };
            if peer.is_empty() {
                return None;
            }
            ChatId::direct(peer.clone())
        }
    };
    let content = content_of(m);
    Some(RemoteMessage {
        id: m.msg_id.to_string(),
        chat,
        sender: m.from.clone(),
        from_self,
        timestamp_ms: u64::try_from(m.ctime_ms).unwrap_or(0),
        content,
        reply_to: None,
        thread_root: None,
        droppable: false,
        edit_count: 0,
        alt_id: None,
        extra: super::send::incoming_extra(m.extras.as_ref()),
    })
}

/// What a message carries: text as text; images, files, voices and videos as media (see
/// [`media_of`]); a location (`{latitude, longitude, scale, label}`) as a location; the other
/// kinds described in words.
pub fn content_of(m: &IncomingMessage) -> MessageContent {
    if let Some(media) = media_of(m) {
        return MessageContent::Media {
            media,
            caption: None,
        };
    }
    let b = &m.body;
    match (m.msg_type.as_str(), &m.text) {
        ("text", Some(text)) => MessageContent::text(text.clone()),
        ("location", _) if b["latitude"].is_f64() || b["latitude"].is_i64() => {
            match (b["latitude"].as_f64(), b["longitude"].as_f64()) {
                (Some(latitude), Some(longitude))
                    if latitude.abs() <= 90.0 && longitude.abs() <= 180.0 =>
                {
                    MessageContent::Location {
                        latitude,
                        longitude,
                        description: b["label"].as_str().unwrap_or_default().to_owned(),
                    }
                }
                _ => MessageContent::Unsupported {
                    description: "[a location with bad coordinates — not bridged]".into(),
                },
            }
        }
        ("custom", _) => MessageContent::Notice {
            body: custom_words(b),
        },
        (kind, _) => MessageContent::Unsupported {
            description: format!("[{} — not bridged from JMessage yet]", describe(kind)),
        },
    }
}

/// The longest rendering of a custom message's fields, in characters.
pub const CUSTOM_WORDS_CHARS: usize = 300;

/// A custom message (`msg_type` `custom`: any JSON object the app defined, the Web SDK's
/// `sendSingleCustom` / `sendGroupCustom`) in words, as a notice from its sender: its keys
/// with their values (strings, numbers and booleans as they are, other values by kind), at
/// most [`CUSTOM_WORDS_CHARS`] characters.
pub fn custom_words(body: &serde_json::Value) -> String {
    let Some(fields) = body.as_object().filter(|o| !o.is_empty()) else {
        return "sent a custom message (no fields)".into();
    };
    let shown: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                serde_json::Value::Null => "null".into(),
                serde_json::Value::Array(a) => format!("[{} items]", a.len()),
                serde_json::Value::Object(_) => "{…}".into(),
            };
            format!("{k}: {value}")
        })
        .collect();
    let mut words = format!("sent a custom message — {}", shown.join(", "));
    if words.chars().count() > CUSTOM_WORDS_CHARS {
        words = words.chars().take(CUSTOM_WORDS_CHARS).collect();
        words.push('…');
    }
    words
}

/// A message kind in words.
fn describe(msg_type: &str) -> &'static str {
    match msg_type {
        "image" => "an image",
        "file" => "a file",
        "voice" => "a voice message",
        "video" => "a video",
        "location" => "a location",
        "custom" => "a custom message",
        "text" => "an empty text",
        _ => "a message of a kind the bridge does not know",
    }
}

/// The state a session's end puts the login in; `None` for our own logout.
pub fn end_state(reason: &EndReason) -> Option<LoginState> {
    Some(match reason {
        EndReason::WrongPassword | EndReason::UserNotFound => LoginState::BadCredentials {
            reason: "JMessage refused the username or password".into(),
        },
        EndReason::PasswordChanged => LoginState::BadCredentials {
            reason: "the JMessage password was changed, which ended the bridge's session".into(),
        },
        EndReason::LoggedInElsewhere => LoginState::LoggedOut {
            reason: "this account logged in elsewhere, which ended the bridge's session".into(),
        },
        EndReason::InitRefused { code, message } => LoginState::UnknownError {
            reason: format!(
                "JMessage refused the bridge's app credentials ({code} {message}): the \
                 bridge's operator must check network.jmessage"
            ),
        },
        EndReason::LoginRefused { code, message } => LoginState::BadCredentials {
            reason: format!("JMessage refused the login ({code} {message})"),
        },
        EndReason::LoggedOut => return None,
    })
}

/// The most senders whose profile time is remembered (beyond it the map starts over).
pub const MAX_PROFILE_TIMES: usize = 10_000;

/// Whether a message's sender profile time `seen` is news after `known` (the last one seen
/// from that sender): only a newer time after a known one is.
pub fn profile_changed(known: Option<i64>, seen: Option<i64>) -> bool {
    matches!((known, seen), (Some(k), Some(s)) if s > k)
}

/// Who a session's events are translated for.
pub(super) struct Translation {
    /// The logged-in username.
    pub own: String,
    pub client: Client,
    /// Where the ids of messages from others are noted, for read reports.
    pub unread: UnreadBook,
}

/// Moves one session's events to the core until the session ends; also reports link losses
/// the client task sees.
pub(super) async fn translate(
    who: Translation,
    mut events: mpsc::Receiver<SessionEvent>,
    out: RemoteEventSender,
) {
    let Translation {
        own,
        client,
        unread,
    } = who;
    let mut link: watch::Receiver<LinkState> = client.watch_state();
    link.mark_unchanged();
    let mut link_open = true;
    let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
    // Senders' last profile times (`sui_mtime`).
    let mut profile_times: HashMap<String, i64> = HashMap::new();
    // Group receipt changes go to one worker that asks who read (in order, one at a time),
    // so this loop never waits on the server.
    let (group_receipts, changes) = mpsc::channel(GROUP_RECEIPT_QUEUE);
    tokio::spawn(group_receipt_worker(
        client.clone(),
        own.clone(),
        out.clone(),
        changes,
    ));
    // Armed at each login; fires CatchUpDone once quiet.
    let mut catch_up = far;
    let mut catching_up = false;
    loop {
        let event = tokio::select! {
            biased;
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
            changed = link.changed(), if link_open => {
                if changed.is_err() {
                    link_open = false;
                    continue;
                }
                let state = link.borrow_and_update().clone();
                if let LinkState::Reconnecting(reason) = state {
                    let lost = RemoteEvent::State(LoginState::TransientDisconnect { reason });
                    if out.send(lost).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(catch_up), if catching_up => {
                catching_up = false;
                catch_up = far;
                if out.send(RemoteEvent::CatchUpDone).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let remote = match event {
            SessionEvent::LoggedIn { .. } => {
                catching_up = true;
                catch_up = tokio::time::Instant::now() + CATCH_UP_QUIET;
                RemoteEvent::State(LoginState::Connected)
            }
            SessionEvent::Message(m) => {
                if m.offline && catching_up {
                    catch_up = tokio::time::Instant::now() + CATCH_UP_QUIET;
                }
                match translate_message(&own, &m) {
                    Some(message) => {
                        if !message.from_self {
                            unread.note(&message.chat, m.msg_id);
                        }
                        let known = profile_times.get(&m.from).copied();
                        if let Some(seen) = m.sui_mtime.filter(|_| !message.from_self) {
                            if profile_times.len() >= MAX_PROFILE_TIMES {
                                profile_times.clear();
                            }
                            profile_times.insert(m.from.clone(), seen.max(known.unwrap_or(0)));
                        }
                        if out.send(RemoteEvent::Message(message)).await.is_err() {
                            break;
                        }
                        if !profile_changed(known, m.sui_mtime) || m.from == own {
                            continue;
                        }
                        match client.user_info(&m.from).await {
                            Ok(info) => RemoteEvent::ProfileChange {
                                user: m.from.clone(),
                                profile: profile_of(&m.from, &info),
                            },
                            Err(e) => {
                                tracing::debug!(user = %own, sender = %m.from, error = %e, "changed profile not fetched");
                                continue;
                            }
                        }
                    }
                    None => {
                        tracing::debug!(user = %own, msg_id = m.msg_id, "JMessage message not bridged (not a single chat of this user)");
                        continue;
                    }
                }
            }
            SessionEvent::PushBatch { token } => {
                // Receipted to the server once the core stored what came before.
                let (checkpoint, stored) = Checkpoint::new();
                let acker = client.clone();
                tokio::spawn(async move {
                    if stored.wait().await {
                        acker.ack_push(token).await;
                    }
                });
                RemoteEvent::Checkpoint(checkpoint)
            }
            SessionEvent::Ended(reason) => match end_state(&reason) {
                Some(state) => RemoteEvent::State(state),
                None => continue,
            },
            SessionEvent::SendResult { .. } => continue,
            SessionEvent::Group(e) => {
                let fresh = if e.kind == GroupEventKind::InfoUpdated {
                    client.group_info(e.gid).await.ok()
                } else {
                    None
                };
                match translate_group_event(&own, &e, fresh.as_ref()) {
                    Some(remote) => remote,
                    None => continue,
                }
            }
            SessionEvent::Retracted(r) => {
                let mut closed = false;
                for remote in translate_retraction(&own, &r) {
                    if out.send(remote).await.is_err() {
                        closed = true;
                        break;
                    }
                }
                if closed {
                    break;
                }
                continue;
            }
            SessionEvent::ReceiptChange(change) if change.gid.is_some() => {
                if group_receipts.try_send(change).is_err() {
                    tracing::debug!(user = %own, "jmessage group receipt changes arrive faster than their readers are looked up; one dropped");
                }
                continue;
            }
            SessionEvent::ReceiptChange(change) => match translate_receipt_change(&own, &change) {
                Some(remote) => remote,
                None => continue,
            },
            SessionEvent::Friend(e) => super::contacts::translate_friend_event(&e),
            SessionEvent::CallResult { .. } => continue,
        };
        if out.send(remote).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(
        from: &str,
        target: &str,
        msg_type: &str,
        body: serde_json::Value,
    ) -> IncomingMessage {
        IncomingMessage {
            msg_id: 42,
            from: from.into(),
            from_appkey: Some("appkey".into()),
            target: target.into(),
            gid: None,
            ctime_ms: 1_700_000_000_123,
            msg_type: msg_type.into(),
            text: body.get("text").and_then(|t| t.as_str()).map(str::to_owned),
            extras: body.get("extras").cloned(),
            body,
            offline: false,
            sui_mtime: None,
        }
    }

    #[test]
    fn group_messages_go_to_the_group_chat() {
        for (from, mine) in [("bob", false), ("alice", true)] {
            let mut m = message(from, "10001", "text", json!({"text": "in the group"}));
            m.gid = Some(10001);
            let r = translate_message("alice", &m).expect("bridged");
            assert_eq!(r.chat, ChatId::group("10001"), "{from}");
            assert_eq!(r.sender, from);
            assert_eq!(r.from_self, mine);
            assert_eq!(r.content, MessageContent::text("in the group"));
        }
    }

    #[test]
    fn single_texts_both_directions() {
        let m = message(
            "bob",
            "alice",
            "text",
            json!({"text": "hi", "extras": {"k": 1}}),
        );
        let r = translate_message("alice", &m).expect("bridged");
        assert_eq!(r.id, "42");
        assert_eq!(r.chat, ChatId::direct("bob"));
        assert_eq!(r.sender, "bob");
        assert!(!r.from_self);
        assert_eq!(r.timestamp_ms, 1_700_000_000_123);
        assert_eq!(r.content, MessageContent::text("hi"));
        let mine = message("alice", "bob", "text", json!({"text": "yo"}));
        let r = translate_message("alice", &mine).expect("bridged");
        assert!(r.from_self);
        assert_eq!(r.chat, ChatId::direct("bob"));
        // Not ours at all.
        assert!(translate_message("carol", &m).is_none());
    }

    #[test]
    fn custom_messages_are_notices_showing_their_keys() {
        let m = message(
            "bob",
            "alice",
            "custom",
            json!({"action": "gift", "count": 3, "vip": true, "items": [1, 2], "meta": {}}),
        );
        let r = translate_message("alice", &m).expect("bridged");
        let MessageContent::Notice { body } = r.content else {
            panic!("a notice: {:?}", r.content);
        };
        assert!(body.starts_with("sent a custom message — "), "{body}");
        for part in [
            "action: gift",
            "count: 3",
            "vip: true",
            "items: [2 items]",
            "meta: {…}",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        let long = custom_words(&json!({ "k": "x".repeat(1000) }));
        assert_eq!(long.chars().count(), CUSTOM_WORDS_CHARS + 1);
        assert_eq!(
            custom_words(&json!({})),
            "sent a custom message (no fields)"
        );
        assert_eq!(custom_words(&json!(7)), "sent a custom message (no fields)");
    }

    #[test]
    fn other_kinds_and_apps_in_words() {
        let img = message("bob", "alice", "image", json!({"width": 3}));
        let r = translate_message("alice", &img).expect("bridged");
        let MessageContent::Unsupported { description } = r.content else {
            panic!("a notice");
        };
        assert!(description.contains("an image"), "{description}");
        let loc = message("bob", "alice", "location", json!({"latitude": 1.0}));
        let r = translate_message("alice", &loc).expect("bridged");
        assert!(matches!(r.content, MessageContent::Unsupported { .. }));
        let loc = message(
            "bob",
            "alice",
            "location",
            json!({"latitude": 91.0, "longitude": 0}),
        );
        let r = translate_message("alice", &loc).expect("bridged");
        assert!(matches!(r.content, MessageContent::Unsupported { .. }));
        let loc = message(
            "bob",
            "alice",
            "location",
            json!({"latitude": 39.9, "longitude": 116, "scale": 16, "label": "Tiananmen"}),
        );
        let r = translate_message("alice", &loc).expect("bridged");
        assert_eq!(
            r.content,
            MessageContent::Location {
                latitude: 39.9,
                longitude: 116.0,
                description: "Tiananmen".into()
            }
        );
        let img = message(
            "bob",
            "alice",
            "image",
            json!({"media_id": "m/1", "format": "png"}),
        );
        let r = translate_message("alice", &img).expect("bridged");
        let MessageContent::Media { media, caption } = r.content else {
            panic!("media");
        };
        assert_eq!((media.url.as_str(), caption), ("m/1", None));
        // The session names another app's `bob` `bob/<appkey>`: its own direct chat.
        let cross = message("bob/otherapp", "alice", "text", json!({"text": "hi"}));
        let r = translate_message("alice", &cross).expect("bridged");
        assert_eq!(r.chat, ChatId::direct("bob/otherapp"));
        assert_eq!(r.sender, "bob/otherapp");
    }

    #[test]
    fn only_a_newer_profile_time_after_a_known_one_is_a_change() {
        assert!(!profile_changed(None, Some(5)), "first seen: only noted");
        assert!(!profile_changed(Some(5), Some(5)));
        assert!(!profile_changed(Some(5), Some(4)));
        assert!(!profile_changed(Some(5), None));
        assert!(profile_changed(Some(5), Some(6)));
    }

    #[test]
    fn ends_become_states() {
        assert!(matches!(
            end_state(&EndReason::PasswordChanged),
            Some(LoginState::BadCredentials { .. })
        ));
        assert!(matches!(
            end_state(&EndReason::LoggedInElsewhere),
            Some(LoginState::LoggedOut { .. })
        ));
        assert!(end_state(&EndReason::LoggedOut).is_none());
    }
}
