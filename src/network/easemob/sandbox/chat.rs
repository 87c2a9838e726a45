//! What the sandbox does with a chat meta a client sends: validation, server id and timestamp,
//! history, and fan-out to the peer, the group or room members and the sender's other devices.
//! Receipts, recall and edit are routed here too (reference §3.2–§3.6).

use prost::Message as _;

use super::state::{now_ms, HistoryEntry, Inner, SandboxConfig, Thread};
use crate::network::easemob::jid::{self, ChatType, Conversation};
use crate::network::easemob::proto::{message_body, meta, status, MessageBody, Meta};

/// A refusal: `Status.errorCode` and reason, as the real server words them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i32,
    pub reason: String,
}

impl Refusal {
    fn fail(reason: &str) -> Self {
        Self {
            code: status::ErrorCode::Fail as i32,
            reason: reason.to_owned(),
        }
    }
}

/// What the sender's ack carries.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub server_id: u64,
    pub timestamp: u64,
    /// Extra metas in the ack (edit info).
    pub metas: Vec<Meta>,
}

/// Who sent it.
pub struct Sender<'a> {
    pub user: &'a str,
    pub resource: &'a str,
}

/// Handles one `ns = CHAT` meta from `sender`.
pub fn handle_chat(
    inner: &mut Inner,
    cfg: &SandboxConfig,
    sender: &Sender<'_>,
    meta: &Meta,
) -> Result<Accepted, Refusal> {
    let body =
        MessageBody::decode(meta.payload.as_deref().unwrap_or_default()).map_err(|e| Refusal {
            code: status::ErrorCode::PbParserError as i32,
            reason: format!("bad message body: {e}"),
        })?;
    let to = meta
        .to
        .as_ref()
        .ok_or_else(|| Refusal::fail("Sorry, format is incorrect"))?;
    let target = to.name.clone().unwrap_or_default();
    let body_type = body.r#type.unwrap_or(0);
    // A message to a thread is addressed to the thread id, as to a group.
    let thread = jid::is_conference(to)
        .then(|| inner.data.threads.get(&target).cloned())
        .flatten();
    let conv = if thread.is_some() {
        Conversation::group(target.clone())
    } else if jid::is_conference(to) {
        let is_room = inner
            .data
            .groups
            .get(&target)
            .is_some_and(|g| g.is_chatroom);
        if is_room {
            Conversation::chatroom(target)
        } else {
            Conversation::group(target)
        }
    } else {
        Conversation::single(target)
    };
    match &thread {
        Some(t) => {
            check_target(inner, sender, &Conversation::group(t.group_id.clone()))?;
            // Sending in a thread makes the sender one of its members (who get its messages).
            if let Some(t) = inner.data.threads.get_mut(&t.id) {
                t.members.insert(sender.user.to_owned());
            }
        }
        None => check_target(inner, sender, &conv)?,
    }
    check_size(&body)?;

    let server_id = inner.next_id();
    let timestamp = now_ms();
    let mut out = meta.clone();
    out.id = Some(server_id);
    out.timestamp = Some(timestamp);
    let mut from = jid::user_jid(&cfg.app_key, sender.user);
    from.client_resource = Some(sender.resource.to_owned());
    out.from = Some(from);
    let mut to = to.clone();
    to.app_key = Some(cfg.app_key.clone());
    out.to = Some(to);
    if let Some(t) = &thread {
        stamp_thread(&mut out, t);
    }
    let mut accepted = Accepted {
        server_id,
        timestamp,
        metas: Vec::new(),
    };

    use message_body::Type;
    match Type::try_from(body_type) {
        Ok(Type::Recall) => {
            let id = body.ack_message_id.unwrap_or(0);
            check_in_conversation(inner, id, &conv)?;
            check_recall(inner, cfg, sender, id, &conv)?;
            if let Some(entry) = inner.data.history.get_mut(&id) {
                entry.recalled = true;
            }
        }
        Ok(Type::Edit) => {
            check_in_conversation(inner, body.edit_message_id.unwrap_or(0), &conv)?;
            let (payload, notify) = apply_edit(inner, sender, &body, timestamp)?;
            out.payload = Some(payload);
            if let Some(t) = &thread {
                stamp_thread(&mut out, t);
            }
            accepted.metas.push(notify);
        }
        Ok(Type::ReadAck) | Ok(Type::DeliverAck) | Ok(Type::ChannelAck) => {
            if conv.kind != ChatType::Single && body_type == Type::ReadAck as i32 {
                // A group read ack goes to the original sender only.
                let original = body.ack_message_id.unwrap_or(0);
                if let Some(author) = inner.data.history.get(&original).map(|h| h.from.clone()) {
                    let queue = jid::conference_jid(&cfg.app_key, &conv.id);
                    inner.route(&cfg.app_key, &author, &queue, &out, None);
                }
                return Ok(accepted);
            }
            if conv.kind != ChatType::Single && body_type == Type::ChannelAck as i32 {
                // The user's own read state of the group: their other devices learn it, the
                // other members do not.
                let queue = jid::conference_jid(&cfg.app_key, &conv.id);
                let except = Some(sender.resource);
                inner.route(&cfg.app_key, sender.user, &queue, &out, except);
                return Ok(accepted);
            }
        }
        _ => {
            inner.remember(HistoryEntry {
                id: server_id,
                from: sender.user.to_owned(),
                conversation: conv.clone(),
                timestamp,
                meta: out.encode_to_vec(),
                recalled: false,
            });
        }
    }
    deliver(inner, cfg, sender, &conv, &out);
    Ok(accepted)
}

/// Puts the thread's facts into the body's meta JSON (`{"thread":{msg_parent_id,
/// muc_parent_id, thread_name}}`, next to what else it holds), as received thread messages
/// carry them (reference §3.3; the SDK's `chatThread`).
fn stamp_thread(out: &mut Meta, thread: &Thread) {
    let Ok(mut body) = MessageBody::decode(out.payload.as_deref().unwrap_or_default()) else {
        return;
    };
    let mut meta: serde_json::Map<String, serde_json::Value> = body
        .meta
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    meta.insert("thread".into(), thread.message_meta());
    body.meta = Some(serde_json::Value::Object(meta).to_string());
    out.payload = Some(body.encode_to_vec());
}

fn check_target(inner: &Inner, sender: &Sender<'_>, conv: &Conversation) -> Result<(), Refusal> {
    match conv.kind {
        ChatType::Single => {
            let peer = inner
                .data
                .users
                .get(&conv.id)
                .ok_or_else(|| Refusal::fail("Sorry, user not found"))?;
            if peer.blocks.contains(sender.user) {
                return Err(Refusal::fail("blocked"));
            }
        }
        ChatType::Group | ChatType::Chatroom => {
            let group = inner
                .data
                .groups
                .get(&conv.id)
                .ok_or_else(|| Refusal::fail("group not found"))?;
            if !group.members.contains(sender.user) {
                return Err(Refusal::fail("not in group or chatroom"));
            }
            if group.muted.contains(sender.user) {
                return Err(Refusal {
                    code: status::ErrorCode::UserMuted as i32,
                    reason: "user is mute".into(),
                });
            }
        }
    }
    Ok(())
}

/// The longest text a message may carry (Easemob: text messages up to 5 KB), in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 5 * 1024;

/// Refuses texts over [`MAX_TEXT_BYTES`] the way the server does: `FAIL` with the reason
/// "Sorry, data is too large", which the SDK turns into `MESSAGE_SIZE_LIMIT` (511).
fn check_size(body: &MessageBody) -> Result<(), Refusal> {
    let text: usize = body
        .contents
        .iter()
        .map(|c| c.text.as_deref().map_or(0, str::len))
        .sum();
    if text > MAX_TEXT_BYTES {
        return Err(Refusal::fail("Sorry, data is too large"));
    }
    Ok(())
}

/// Refuses a recall or edit of message `id` addressed to a conversation the message is not
/// in, as "Sorry, message does not exist" (the SDK's `MODIFY_MESSAGE_NOT_EXIST`).
///
/// Why: the official SDK addresses a recall or edit to the conversation the message lives in,
/// the `to` the app passes from the message itself, and for a thread message that is the
/// thread id, with `isChatThread: true` putting `{"thread":{}}` in the body's meta
/// (easemob-websdk 4.x builds `recallMessage` and `modifyMessage` frames with the same encoder
/// as messages: `MessageBody.to` and `Meta.to` from `to`, `meta` from `isChatThread`;
/// reference §3.4, §3.6); its local cache then updates the message in the conversation of
/// that `to`. A thread message's recall or edit is applied to and fanned out in the thread,
/// to the thread's members. The service's answer to one addressed elsewhere (a thread
/// message's recall sent to the parent group) is not documented; the sandbox refuses it, so
/// a client that addresses it otherwise than the SDK does fails here instead of appearing to
/// work while the thread's members never see it.
fn check_in_conversation(inner: &Inner, id: u64, conv: &Conversation) -> Result<(), Refusal> {
    match inner.data.history.get(&id) {
        Some(entry) if entry.conversation != *conv => {
            Err(Refusal::fail("Sorry, message does not exist"))
        }
        _ => Ok(()),
    }
}

fn check_recall(
    inner: &Inner,
    cfg: &SandboxConfig,
    sender: &Sender<'_>,
    id: u64,
    conv: &Conversation,
) -> Result<(), Refusal> {
    let entry = inner
        .data
        .history
        .get(&id)
        .ok_or_else(|| Refusal::fail("Sorry, message does not exist"))?;
    // In a thread, the admins of its group.
    let group = inner
        .data
        .threads
        .get(&conv.id)
        .map_or(conv.id.as_str(), |t| t.group_id.as_str());
    let is_admin = inner
        .data
        .groups
        .get(group)
        .is_some_and(|g| g.owner == sender.user || g.admins.contains(sender.user));
    if entry.from != sender.user && !(conv.kind != ChatType::Single && is_admin) {
        return Err(Refusal::fail("Sorry, You do not have permission"));
    }
    if now_ms().saturating_sub(entry.timestamp) > cfg.recall_limit_ms {
        return Err(Refusal::fail("exceed recall time limit"));
    }
    Ok(())
}

/// Replaces the stored message's content and returns the EDIT payload to deliver (with the
/// `edit_msg` meta JSON) and the NOTIFY meta for the sender's ack.
fn apply_edit(
    inner: &mut Inner,
    sender: &Sender<'_>,
    body: &MessageBody,
    timestamp: u64,
) -> Result<(Vec<u8>, Meta), Refusal> {
    let id = body.edit_message_id.unwrap_or(0);
    let entry = inner
        .data
        .history
        .get_mut(&id)
        .filter(|e| !e.recalled)
        .ok_or_else(|| Refusal::fail("Sorry, message does not exist"))?;
    if entry.from != sender.user {
        return Err(Refusal::fail("Sorry, You do not have permission"));
    }
    let new_content = body
        .contents
        .first()
        .cloned()
        .ok_or_else(|| Refusal::fail("Sorry, format is incorrect"))?;
    let mut stored =
        Meta::decode(entry.meta.as_slice()).map_err(|_| Refusal::fail("Sorry, edit fail"))?;
    let mut stored_body = MessageBody::decode(stored.payload.as_deref().unwrap_or_default())
        .map_err(|_| Refusal::fail("Sorry, edit fail"))?;
    let previous: serde_json::Value = stored_body
        .meta
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    let count = previous
        .pointer("/edit_msg/count")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
        + 1;
    let chat_type = match entry.conversation.kind {
        ChatType::Single => "chat:user",
        ChatType::Group => "chat:group",
        ChatType::Chatroom => "chat:room",
    };
    let edit_msg = serde_json::json!({
        "count": count, "operator": sender.user, "edit_time": timestamp,
        "sender": entry.from, "send_time": entry.timestamp, "chat_type": chat_type,
    });
    let meta_json = serde_json::json!({ "edit_msg": edit_msg }).to_string();
    stored_body.contents = vec![new_content];
    if body.edit_scope == Some(message_body::EditScope::BodyAndExt as i32) {
        stored_body.ext = body.ext.clone();
    }
    stored_body.meta = Some(meta_json.clone());
    stored.payload = Some(stored_body.encode_to_vec());
    entry.meta = stored.encode_to_vec();

    let mut delivered = body.clone();
    delivered.meta = Some(meta_json.clone());
    let notify = Meta {
        id: Some(id),
        ns: Some(meta::NameSpace::Notify as i32),
        timestamp: Some(timestamp),
        payload: Some(meta_json.into_bytes()),
        ..Default::default()
    };
    Ok((delivered.encode_to_vec(), notify))
}

/// Fans `out` out to the conversation's other party and the sender's other devices.
fn deliver(
    inner: &mut Inner,
    cfg: &SandboxConfig,
    sender: &Sender<'_>,
    conv: &Conversation,
    out: &Meta,
) {
    match conv.kind {
        ChatType::Single => {
            let sender_queue = jid::user_jid(&cfg.app_key, sender.user);
            if conv.id != sender.user {
                inner.route(&cfg.app_key, &conv.id, &sender_queue, out, None);
            }
            let peer_queue = jid::user_jid(&cfg.app_key, &conv.id);
            inner.route(
                &cfg.app_key,
                sender.user,
                &peer_queue,
                out,
                Some(sender.resource),
            );
        }
        ChatType::Group | ChatType::Chatroom => {
            inner.route_to_group(&cfg.app_key, &conv.id, out, sender.user, sender.resource);
        }
    }
}
