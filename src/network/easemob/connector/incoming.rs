//! Easemob → core: session events, messages, group events and end reasons translated into
//! the core's [`RemoteEvent`]s, and Easemob contents into [`MessageContent`].

use crate::core::event_channel::BoxedReceiver;
use serde_json::json;
use tracing::debug;

use super::chat_id;
use super::threads::{translate_thread_notify, ThreadDirectory};
use crate::core::connector::RemoteEventSender;
use crate::core::connector::{
    ChatId, ChatInfoChange, ChatKind, ContactUpdate, LoginState, MediaKind, MessageContent,
    RemoteEvent, RemoteMedia, RemoteMessage, RemoteThumbnail,
};
use crate::network::easemob::client::EasemobClient;
use crate::network::easemob::error::{EndReason, LoginError};
use crate::network::easemob::events::{
    message_thread, parse_presence_notify, parse_reaction_notify, ContactEvent, GroupEvent,
    SessionEvent,
};
use crate::network::easemob::jid::ChatType;
use crate::network::easemob::message::{Body, Content, ExtValue, FileRef, IncomingMessage};

/// Media URLs carry the download secret: `{"url":…,"secret":…}` (opaque to the core).
pub(super) fn media_url(file: &FileRef) -> String {
    json!({ "url": file.url, "secret": file.secret }).to_string()
}

pub(super) fn split_media_url(opaque: &str) -> (String, String) {
    match serde_json::from_str::<serde_json::Value>(opaque) {
        Ok(v) => (
            v["url"].as_str().unwrap_or_default().to_owned(),
            v["secret"].as_str().unwrap_or_default().to_owned(),
        ),
        Err(_) => (opaque.to_owned(), String::new()),
    }
}

fn media(
    kind: MediaKind,
    file: &FileRef,
    size: (Option<f64>, Option<f64>),
    duration: Option<i32>,
) -> RemoteMedia {
    RemoteMedia {
        kind,
        url: media_url(file),
        name: if file.name.is_empty() {
            "file".into()
        } else {
            file.name.clone()
        },
        mime: None,
        size: file.length,
        width: size.0.map(|w| w as u32),
        height: size.1.map(|h| h as u32),
        duration_ms: duration
            .and_then(|d| u64::try_from(d).ok())
            .map(|s| s * 1000),
        thumbnail: None,
    }
}

/// Easemob content → core content; `None` for contents that are not messages (commands).
pub fn incoming_content(content: &Content) -> Option<MessageContent> {
    Some(match content {
        Content::Text { text } => MessageContent::text(text.clone()),
        Content::Image {
            file,
            width,
            height,
            ..
        } => MessageContent::Media {
            media: media(MediaKind::Image, file, (*width, *height), None),
            caption: None,
        },
        Content::Video {
            file,
            duration,
            thumbnail,
        } => MessageContent::Media {
            media: RemoteMedia {
                thumbnail: thumbnail.as_ref().map(|t| RemoteThumbnail {
                    url: media_url(t),
                    mime: None,
                    size: t.length,
                    width: None,
                    height: None,
                }),
                ..media(MediaKind::Video, file, (None, None), *duration)
            },
            caption: None,
        },
        Content::Voice { file, duration } => MessageContent::Media {
            media: media(MediaKind::Audio, file, (None, None), *duration),
            caption: None,
        },
        Content::File { file } => MessageContent::Media {
            media: media(MediaKind::File, file, (None, None), None),
            caption: None,
        },
        Content::Location {
            latitude,
            longitude,
            address,
            building,
        } => MessageContent::Location {
            latitude: *latitude,
            longitude: *longitude,
            description: [address.as_str(), building.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        },
        Content::Command { .. } => return None,
        Content::Custom { event, .. } => MessageContent::Unsupported {
            description: format!("custom message \"{event}\""),
        },
        Content::Combine {
            title,
            compatible_text,
            ..
        } => MessageContent::Unsupported {
            description: format!("forwarded messages \"{title}\": {compatible_text}"),
        },
        Content::Unknown { type_code } => MessageContent::Unsupported {
            description: format!("message type {type_code}"),
        },
    })
}

/// The UIKit's `em_at_list` ext: a JSON array of user ids, or `"ALL"` for everyone (the SDK
/// docs' convention; read case-insensitively, as a JSON string or a plain one).
pub(super) fn at_list(m: &IncomingMessage) -> (Vec<String>, bool) {
    let Some(ext) = m.ext.iter().find(|e| e.key == "em_at_list") else {
        return (Vec::new(), false);
    };
    let raw = match &ext.value {
        ExtValue::Json(s) | ExtValue::String(s) => s.as_str(),
        _ => return (Vec::new(), false),
    };
    let value = serde_json::from_str::<serde_json::Value>(raw)
        .unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
    match value {
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("all") => (Vec::new(), true),
        serde_json::Value::Array(list) => {
            let mut users = Vec::new();
            let mut all = false;
            for item in list.iter().filter_map(|v| v.as_str()) {
                if item.eq_ignore_ascii_case("all") {
                    all = true;
                } else if !users.iter().any(|u| u == item) {
                    users.push(item.to_owned());
                }
            }
            (users, all)
        }
        _ => (Vec::new(), false),
    }
}

fn with_mentions(content: MessageContent, m: &IncomingMessage) -> MessageContent {
    match content {
        MessageContent::Text { body, html, .. } => {
            let (mentions, mentions_room) = at_list(m);
            MessageContent::Text {
                body,
                html,
                mentions,
                mentions_room,
            }
        }
        other => other,
    }
}

fn reply_target(m: &IncomingMessage) -> Option<String> {
    m.ext
        .iter()
        .find(|e| e.key == "msgQuote")
        .and_then(|e| match &e.value {
            ExtValue::Json(s) | ExtValue::String(s) => serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .and_then(|v| v["msgID"].as_str().map(str::to_owned)),
            _ => None,
        })
}

/// Easemob message → core event. A message to a thread (its meta says which, or `threads`
/// knows the thread id it is addressed to) belongs to the thread's group, with the thread's
/// root message as [`RemoteMessage::thread_root`].
pub fn translate_message(
    own: &str,
    m: IncomingMessage,
    threads: &ThreadDirectory,
) -> Option<RemoteEvent> {
    let mut chat = chat_id(&m.conversation(own));
    let mut thread_root = None;
    if m.chat_type == ChatType::Group {
        let meta = message_thread(m.meta_json.as_deref());
        if let Some(place) = threads.place_of(&m.to, meta.as_ref()) {
            chat = ChatId::group(place.group_id);
            thread_root = Some(place.root);
        }
    }
    let sender = m.from.clone();
    Some(match &m.body {
        Body::Content(Content::Command { action, .. }) => {
            let active = match action.as_str() {
                "TypingBegin" => true,
                "TypingEnd" => false,
                _ => return None,
            };
            RemoteEvent::Typing {
                chat,
                sender,
                active,
            }
        }
        Body::Content(content) => RemoteEvent::Message(RemoteMessage {
            id: m.id.to_string(),
            // Chat rooms are high-traffic and keep nothing for absent members: a busy chat
            // room portal may drop its oldest messages (the core's channel queue).
            droppable: chat.kind == ChatKind::Channel,
            edit_count: 0,
            alt_id: None,
            extra: Default::default(),
            chat,
            from_self: sender == own,
            sender,
            timestamp_ms: m.timestamp,
            content: with_mentions(incoming_content(content)?, &m),
            reply_to: reply_target(&m),
            thread_root,
        }),
        Body::ReadAck { message_id, .. } => RemoteEvent::ReadReceipt {
            chat,
            sender,
            up_to: Some(message_id.to_string()),
        },
        Body::ChannelAck => RemoteEvent::ReadReceipt {
            chat,
            sender,
            up_to: None,
        },
        Body::DeliveryAck { message_id } => RemoteEvent::DeliveryReceipt {
            chat,
            sender,
            target: message_id.to_string(),
        },
        Body::Recall { message_id, .. } => RemoteEvent::Remove {
            chat,
            sender,
            target: message_id.to_string(),
        },
        Body::Edit {
            message_id,
            content,
            ..
        } => RemoteEvent::Edit {
            chat,
            sender,
            target: message_id.to_string(),
            content: incoming_content(content)?,
            timestamp_ms: m.timestamp,
            edit_count: None,
        },
        Body::Unknown { .. } => return None,
    })
}

/// Easemob group event → core event.
fn translate_group(g: GroupEvent) -> Option<RemoteEvent> {
    let chat = ChatId {
        kind: if g.is_chatroom {
            ChatKind::Channel
        } else {
            ChatKind::Group
        },
        id: g.id.clone(),
    };
    let mut change = ChatInfoChange::default();
    let affected = if g.to.is_empty() {
        vec![g.from.clone()]
    } else {
        g.to.clone()
    };
    match g.operation_name {
        "destroy" => return Some(RemoteEvent::ChatDelete { chat }),
        // Sent to the invitee only, when the group needs their consent (`invite_need_confirm`).
        "inviteToJoin" if !g.is_chatroom => {
            return Some(RemoteEvent::GroupInvitation {
                chat,
                inviter: g.from,
                reason: Some(g.reason).filter(|r| !r.is_empty()),
            })
        }
        "memberPresence" | "directJoined" | "acceptInvite" | "acceptRequest" => {
            change.members_added = affected
        }
        "memberAbsence" | "leave" => change.members_removed = affected,
        // To the removed member only (the others get `memberAbsence`): `from` removed them.
        "removeMember" => {
            change.members_removed = affected;
            change.reason = Some(g.reason.clone()).filter(|r| !r.is_empty());
        }
        // To the banned member (`blockGroupMember`; the SDK's legacy `ban`): `from` banned them.
        "ban" if !g.is_chatroom => {
            change.members_banned = affected;
            change.reason = Some(g.reason.clone()).filter(|r| !r.is_empty());
        }
        "unblockMember" if !g.is_chatroom => change.members_unbanned = affected,
        // `to` is the new owner (the SDK's `changeOwner`, reference §3.11 op 20).
        "changeOwner" if !g.to.is_empty() => change.owner = g.to.first().cloned(),
        // The SDK reads the text from `reason` (`announcement = reason`).
        "updateAnnouncement" => change.announcement = Some(g.reason.clone()),
        "deleteAnnouncement" => change.announcement = Some(String::new()),
        "updateInfo" => {
            change.name = g.name.clone();
            change.topic = g.description.clone();
        }
        "setAdmin" => change.admins_added = affected,
        "removeAdmin" => change.admins_removed = affected,
        "muteMember" => change.muted_added = affected,
        "unmuteMember" => change.muted_removed = affected,
        _ => return None,
    }
    Some(RemoteEvent::ChatInfoChange {
        chat,
        sender: Some(g.from).filter(|f| !f.is_empty()),
        change: Box::new(change),
    })
}

/// Easemob roster event → core event (the SDK's `onContactInvited`, `onContactAgreed`,
/// `onContactRefuse`, `onContactDeleted`); `from` is the other user.
fn translate_contact(own: &str, c: ContactEvent) -> Option<RemoteEvent> {
    if c.from.is_empty() || c.from == own {
        return None; // the user's own action, told back to their other devices
    }
    let update = match c.operation_name {
        "invited" => {
            return Some(RemoteEvent::ContactRequest {
                from: c.from,
                reason: Some(c.reason).filter(|r| !r.is_empty()),
            })
        }
        "agreed" => ContactUpdate::Accepted,
        "refusedByPeer" => ContactUpdate::Declined,
        "deleted" => ContactUpdate::Removed,
        _ => return None,
    };
    Some(RemoteEvent::ContactUpdate {
        user: c.from,
        update,
    })
}

/// The login state a session end means. For a login by user token (`by_token`), an expired
/// or refused token is bad credentials: only a new token helps, and the user is told so.
fn end_state(reason: &EndReason, by_token: bool) -> LoginState {
    match reason {
        EndReason::TokenExpired if by_token => LoginState::BadCredentials {
            reason: super::login::TOKEN_EXPIRED.into(),
        },
        EndReason::LoginFailed(e) if by_token && e.is_token_problem() => {
            LoginState::BadCredentials {
                reason: super::login::TOKEN_EXPIRED.into(),
            }
        }
        EndReason::LoginFailed(e)
            if matches!(
                e,
                LoginError::InvalidCredentials
                    | LoginError::UserNotFound
                    | LoginError::InvalidToken
            ) =>
        {
            LoginState::BadCredentials {
                reason: e.to_string(),
            }
        }
        EndReason::PasswordChanged => LoginState::BadCredentials {
            reason: reason.to_string(),
        },
        other => LoginState::LoggedOut {
            reason: other.to_string(),
        },
    }
}

/// What the translation of one login's events needs.
pub(super) struct Translator {
    /// The login's user.
    pub own: String,
    /// Logged in by user token (an expired token is then bad credentials).
    pub by_token: bool,
    pub threads: ThreadDirectory,
    /// For the REST calls a notify asks for (joining a new thread).
    pub client: std::sync::Weak<EasemobClient>,
}

/// Turns the session's events into core events, in order.
pub(super) async fn translate(
    t: Translator,
    mut session: BoxedReceiver<SessionEvent>,
    out: RemoteEventSender,
) {
    let (own, by_token) = (t.own.as_str(), t.by_token);
    while let Some(event) = session.recv().await {
        let translated: Vec<RemoteEvent> = match event {
            SessionEvent::Connected { .. } => vec![RemoteEvent::State(LoginState::Connected)],
            SessionEvent::Reconnecting { reason } => {
                vec![RemoteEvent::State(LoginState::TransientDisconnect {
                    reason,
                })]
            }
            SessionEvent::Ended(reason) => vec![RemoteEvent::State(end_state(&reason, by_token))],
            SessionEvent::OfflineSyncFinished => vec![RemoteEvent::CatchUpDone],
            SessionEvent::Message(m) => translate_message(own, m, &t.threads).into_iter().collect(),
            SessionEvent::Group(g) => translate_group(g).into_iter().collect(),
            SessionEvent::Contact(c) => translate_contact(own, c).into_iter().collect(),
            SessionEvent::Notify { json } => {
                translate_thread_notify(own, &json, &t.threads, &t.client).unwrap_or_else(|| {
                    let mut events = translate_notify(own, &json);
                    events.iter_mut().for_each(|e| t.threads.resolve_chat(e));
                    events
                })
            }
            SessionEvent::Checkpoint(checkpoint) => vec![RemoteEvent::Checkpoint(checkpoint)],
            other => {
                debug!(event = ?other, "easemob event not bridged");
                Vec::new()
            }
        };
        for e in translated {
            if out.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// A `NOTIFY` meta → core events: reaction changes (one per operation) and presence changes
/// (one per user); other notify types (conversation marks) are not bridged; threads are
/// translated before this, in [`super::threads`].
pub fn translate_notify(own: &str, json: &str) -> Vec<RemoteEvent> {
    if let Some(list) = parse_presence_notify(json) {
        return list
            .iter()
            .filter(|s| s.user != own)
            .map(|s| RemoteEvent::Presence {
                user: s.user.clone(),
                presence: super::presence::to_core(s),
            })
            .collect();
    }
    let Some(changes) = parse_reaction_notify(json) else {
        debug!("notify not bridged");
        return Vec::new();
    };
    changes
        .into_iter()
        .map(|c| {
            let chat = match c.chat_type {
                // One-to-one: `from` / `to` are the message's sender and recipient.
                ChatType::Single if c.from == own => ChatId::direct(c.to),
                ChatType::Single => ChatId::direct(c.from),
                ChatType::Group => ChatId::group(c.to),
                ChatType::Chatroom => ChatId {
                    kind: ChatKind::Channel,
                    id: c.to,
                },
            };
            if c.added {
                RemoteEvent::Reaction {
                    chat,
                    sender: c.operator,
                    target: c.message_id,
                    key: c.reaction,
                }
            } else {
                RemoteEvent::ReactionRemove {
                    chat,
                    sender: c.operator,
                    target: c.message_id,
                    key: c.reaction,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_notifies_become_reaction_events_in_the_right_chat() {
        // What the sandbox sends (and the SDK parses) when alice reacts to bob's message.
        let json = r#"{"type":"reaction","data":[{"from":"bob","to":"alice","channel_type":"chat","messageId":"1234567890","ts":1700000000000,"reactions":[{"reactionId":"1a2b","reaction":"👍","count":1,"userList":["alice"],"op":[{"operator":"alice","reactionType":"create"}]}]}]}"#;
        let seen_by_alice = translate_notify("alice", json);
        assert_eq!(
            seen_by_alice,
            vec![RemoteEvent::Reaction {
                chat: ChatId::direct("bob"),
                sender: "alice".into(),
                target: "1234567890".into(),
                key: "👍".into(),
            }]
        );
        let seen_by_bob = translate_notify("bob", json);
        assert!(matches!(
            &seen_by_bob[..],
            [RemoteEvent::Reaction { chat, .. }] if *chat == ChatId::direct("alice")
        ));
        let removed = json.replace("create", "delete");
        assert!(matches!(
            &translate_notify("alice", &removed)[..],
            [RemoteEvent::ReactionRemove { .. }]
        ));
        assert!(translate_notify("alice", r#"{"type":"presence","data":{}}"#).is_empty());
        let bob_online =
            r#"{"type":"presence","data":{"values":[{"uid":"bob","ext":"","status":{"web":1}}]}}"#;
        assert!(matches!(
            translate_notify("alice", bob_online).as_slice(),
            [RemoteEvent::Presence { user, .. }] if user == "bob"
        ));
        assert!(translate_notify("alice", "not json").is_empty());
    }
}
