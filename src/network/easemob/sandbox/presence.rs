//! Presence as the service keeps it (the reference's §3.12 `"presence"` NOTIFY and the
//! `/users/{user}/presence…` REST calls): each user's published custom status (`ext`), the
//! online state of each of their devices (a live msync connection is online), and
//! subscriptions with an expiry. Every change (a publish, a device coming online or going
//! offline) is pushed to the live subscribers as a NOTIFY
//! `{"type":"presence","data":{"values":[{uid, last_time, expiry, ext, status}]}}`, which the
//! SDK turns into `onPresenceStatusChange`.

use serde_json::{json, Value};

use super::state::{now_ms, Inner};
use crate::network::easemob::jid;
use crate::network::easemob::proto::{meta::NameSpace, Meta};

/// Most users one subscribe call may name (the service's limit).
pub const MAX_PER_CALL: usize = 100;
/// Most users one user may be subscribed to.
pub const MAX_SUBSCRIPTIONS: usize = 3000;
/// The longest subscription, in seconds (30 days).
pub const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;

/// One user's presence as the SDK reads it; `expiry` is the asker's subscription end (unix s,
/// 0 without one). `status` maps each device (resource) to 1 (online) or 0.
pub fn presence_json(inner: &Inner, user: &str, asker: &str) -> Value {
    let Some(u) = inner.data.users.get(user) else {
        return json!({ "uid": user, "last_time": 0, "expiry": 0, "ext": "", "status": {} });
    };
    let status: serde_json::Map<String, Value> = u
        .devices
        .keys()
        .map(|r| {
            let online = inner.live.contains_key(&(user.to_owned(), r.clone()));
            (r.clone(), json!(if online { 1 } else { 0 }))
        })
        .collect();
    let expiry = u.presence.subscribers.get(asker).map_or(0, |ms| ms / 1000);
    json!({
        "uid": user,
        "last_time": u.presence.last_time / 1000,
        "expiry": expiry,
        "ext": u.presence.ext,
        "status": status,
    })
}

/// Whether `user` is online (any live device).
pub fn is_online(inner: &Inner, user: &str) -> bool {
    inner.live.keys().any(|(u, _)| u == user)
}

/// Tells `user`'s live subscribers their current presence (after a change), dropping expired
/// subscriptions on the way.
pub fn notify_subscribers(inner: &mut Inner, app_key: &str, user: &str) {
    let now = now_ms();
    let subscribers: Vec<String> = match inner.data.users.get_mut(user) {
        Some(u) => {
            u.presence.last_time = now;
            u.presence.subscribers.retain(|_, until| *until > now);
            u.presence.subscribers.keys().cloned().collect()
        }
        None => return,
    };
    let queue = jid::user_jid(app_key, user);
    for subscriber in subscribers {
        if !is_online(inner, &subscriber) {
            continue; // presence is not kept for later: the next subscribe reads it
        }
        let values = [presence_json(inner, user, &subscriber)];
        let payload = json!({ "type": "presence", "data": { "values": values } }).to_string();
        let meta = Meta {
            id: Some(inner.next_id()),
            from: Some(queue.clone()),
            to: Some(queue.clone()),
            timestamp: Some(now),
            ns: Some(NameSpace::Notify as i32),
            payload: Some(payload.into_bytes()),
            ..Default::default()
        };
        inner.route(app_key, &subscriber, &queue, &meta, None);
    }
}
