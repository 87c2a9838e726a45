//! Message history ("roaming"): `POST /users/{user}/messageroaming` (reference §3.10), and
//! the conversation list made from it (`GET /sdk/user/{user}/user_channels/list`).
//!
//! Both SDK callers expect the newest messages first when paging backwards
//! (`fetchHistoryMessages` reverses each batch itself, `getHistoryMessages` passes
//! `is_positive:false` for "up"). `start` is exclusive: the answer holds messages strictly older
//! (or, with `is_positive:true`, newer) than it, and `next_key` is the id of the last message
//! returned, so it can be passed back as the next `start`.

use base64::Engine as _;
use prost::Message as _;
use serde_json::{json, Value};

use super::super::state::HistoryEntry;
use super::{bool_field, str_field, u64_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::jid::{ChatType, Conversation, CONFERENCE_DOMAIN, USER_DOMAIN};
use crate::network::easemob::proto::{MessageBody, Meta};

/// Default and largest batch.
const DEFAULT_PULL: usize = 20;
const MAX_PULL: usize = 50;

/// The SDK's `msgType` name of a stored message (`txt`, `img`, …).
fn message_type(entry: &HistoryEntry) -> &'static str {
    let body = Meta::decode(entry.meta.as_slice())
        .ok()
        .and_then(|m| MessageBody::decode(m.payload.as_deref().unwrap_or_default()).ok());
    let kind = body
        .as_ref()
        .and_then(|b| b.contents.first())
        .and_then(|c| c.r#type)
        .unwrap_or(0);
    match kind {
        1 => "img",
        2 => "video",
        3 => "loc",
        4 => "audio",
        5 => "file",
        6 => "cmd",
        7 => "custom",
        8 => "combine",
        _ => "txt",
    }
}

/// `start` as a cursor: `-1`, `null`, `""` or missing mean "from the newest" (or oldest).
fn cursor(body: &serde_json::Map<String, Value>) -> Option<u64> {
    match body.get("start") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An optional time bound (ms); `null`, absent or non-positive mean none.
fn time_bound(body: &serde_json::Map<String, Value>, key: &str) -> Option<u64> {
    u64_field(body, key).filter(|t| *t > 0)
}

/// `POST /users/{user}/messageroaming`
/// `{"queue":"bob@easemob.com","start":-1,"end":-1,"pull_number":20,"is_positive":false,…}` →
/// `{"data":{"msgs":[{"msg":"<base64 Meta>"}],"next_key","is_last"}}`.
pub(crate) async fn roaming(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let queue = str_field(&body, "queue")
        .ok_or_else(|| ApiError::bad_request("queue is required"))?
        .to_owned();
    let (name, domain) = queue
        .split_once('@')
        .ok_or_else(|| ApiError::bad_request(format!("queue '{queue}' is not name@domain")))?;
    let start = cursor(&body);
    let forward = bool_field(&body, "is_positive").unwrap_or(false);
    let limit = u64_field(&body, "pull_number")
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_PULL)
        .clamp(1, MAX_PULL);
    let from_time = time_bound(&body, "startTime");
    let to_time = time_bound(&body, "endTime");
    let types: Vec<String> = str_field(&body, "msgType")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let sender = str_field(&body, "userId")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);

    let (msgs, next_key, is_last) = {
        let inner = cx.sb.lock();
        let conv = match domain {
            USER_DOMAIN => Some(Conversation::single(name)),
            // A thread's history is kept under the thread id; its group's members read it
            // (the SDK's getHistoryMessages with the thread id as `targetId`).
            CONFERENCE_DOMAIN if inner.data.threads.contains_key(name) => inner
                .data
                .threads
                .get(name)
                .and_then(|t| inner.data.groups.get(&t.group_id))
                .filter(|g| g.members.contains(user))
                .map(|_| Conversation::group(name)),
            CONFERENCE_DOMAIN => inner.data.groups.get(name).and_then(|g| {
                if !g.members.contains(user) {
                    return None;
                }
                Some(if g.is_chatroom {
                    Conversation::chatroom(name)
                } else {
                    Conversation::group(name)
                })
            }),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "queue '{queue}' has an unknown domain"
                )))
            }
        };
        let mut entries: Vec<&HistoryEntry> = match &conv {
            Some(conv) => inner.history_of(user, conv),
            None => Vec::new(),
        };
        entries.retain(|h| {
            from_time.is_none_or(|t| h.timestamp >= t)
                && to_time.is_none_or(|t| h.timestamp <= t)
                && sender.as_ref().is_none_or(|s| h.from == *s)
                && (types.is_empty() || types.iter().any(|t| t == message_type(h)))
        });
        if !forward {
            entries.reverse();
        }
        let mut rest = entries.into_iter().filter(|h| match start {
            None => true,
            Some(s) if forward => h.id > s,
            Some(s) => h.id < s,
        });
        let page: Vec<&HistoryEntry> = rest.by_ref().take(limit).collect();
        let is_last = rest.next().is_none();
        let next_key = page.last().map(|h| h.id.to_string()).unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        let msgs: Vec<Value> = page
            .iter()
            .map(|h| {
                json!({
                    "msg": b64.encode(&h.meta),
                    "msg_id": h.id.to_string(),
                    "timestamp": h.timestamp,
                })
            })
            .collect();
        (msgs, next_key, is_last)
    };
    cx.ok(json!({
        "data": { "msgs": msgs, "next_key": next_key, "is_last": is_last },
    }))
}

/// Largest page of the conversation list.
const MAX_CONVERSATIONS: usize = 100;

/// `GET /sdk/user/{user}/user_channels/list?limit=20&cursor=` (the SDK's
/// `getServerConversations`) → `{"data":{"channel_infos":[{"session_to","session_type",
/// "is_top","unread_num","meta"}],"cursor"}}`: the user's one-to-one and group conversations
/// with messages, the most recent first. `session_type` is `chat` or `groupchat`; `meta` is
/// `{}` (no last message: the SDK then reports `lastMessage: null`); `cursor` is the offset of
/// the next page, empty after the last.
pub(crate) fn conversations(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let limit = cx
        .query_num("limit")
        .unwrap_or(DEFAULT_PULL)
        .clamp(1, MAX_CONVERSATIONS);
    let offset: usize = cx
        .query("cursor")
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let list: Vec<(String, &'static str, u64)> = {
        let inner = cx.sb.lock();
        let mut latest: std::collections::HashMap<(String, &'static str), u64> =
            std::collections::HashMap::new();
        for h in inner.data.history.values().filter(|h| !h.recalled) {
            let key = match h.conversation.kind {
                ChatType::Single if h.from == user => (h.conversation.id.clone(), "chat"),
                ChatType::Single if h.conversation.id == user => (h.from.clone(), "chat"),
                ChatType::Group
                    if inner
                        .data
                        .groups
                        .get(&h.conversation.id)
                        .is_some_and(|g| g.members.contains(user)) =>
                {
                    (h.conversation.id.clone(), "groupchat")
                }
                _ => continue,
            };
            let at = latest.entry(key).or_insert(0);
            *at = (*at).max(h.timestamp);
        }
        let mut list: Vec<(String, &'static str, u64)> = latest
            .into_iter()
            .map(|((id, kind), t)| (id, kind, t))
            .collect();
        list.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        list
    };
    let page: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(id, kind, _)| {
            json!({
                "session_to": id, "session_type": kind, "is_top": false,
                "unread_num": 0, "meta": {},
            })
        })
        .collect();
    let next = offset + page.len();
    let cursor = if next < list.len() {
        next.to_string()
    } else {
        String::new()
    };
    cx.ok(json!({ "data": { "channel_infos": page, "cursor": cursor } }))
}
