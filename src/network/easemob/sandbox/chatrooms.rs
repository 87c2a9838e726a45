//! Chat-room membership as the service keeps it: joining and leaving over the socket
//! (reference §3.9), the `memberPresence` / `memberAbsence` events (MUC PRESENCE / ABSENCE
//! with `isChatroom`) sent to the other members, messages delivered only to members connected
//! at the time (chat rooms keep no offline messages), and members dropped when their last
//! connection ends (the real service does so after a short grace period; the sandbox at once,
//! the room's owner excepted).

use prost::Message as _;

use super::state::{now_ms, Inner};
use crate::network::easemob::jid;
use crate::network::easemob::proto::{meta, muc_body, Jid, Meta, MucBody};

/// Tells the members of chat room `room` (but `user`) that `user` joined (`Presence`) or left
/// (`Absence`), with the new member count.
pub(super) fn announce(
    inner: &mut Inner,
    app_key: &str,
    room: &str,
    user: &str,
    operation: muc_body::Operation,
) {
    let count = inner
        .data
        .groups
        .get(room)
        .map_or(0, |g| g.members.len() as i32);
    let event = Meta {
        id: Some(inner.next_id()),
        from: Some(jid::user_jid(app_key, user)),
        to: Some(jid::conference_jid(app_key, room)),
        timestamp: Some(now_ms()),
        ns: Some(meta::NameSpace::Muc as i32),
        payload: Some(
            MucBody {
                muc_id: Some(jid::conference_jid(app_key, room)),
                operation: Some(operation as i32),
                from: Some(jid::user_jid(app_key, user)),
                is_chatroom: Some(true),
                muc_member_count: Some(count),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        ..Default::default()
    };
    let queue = jid::conference_jid(app_key, room);
    for member in inner.members(room) {
        if member != user {
            route_live(inner, app_key, &member, &queue, &event, None);
        }
    }
}

/// [`Inner::route`] for chat rooms: only `recipient`'s connected devices get `meta` (nothing
/// is kept for a device that is away). Returns how many got it.
pub(super) fn route_live(
    inner: &mut Inner,
    app_key: &str,
    recipient: &str,
    queue: &Jid,
    meta: &Meta,
    except_resource: Option<&str>,
) -> usize {
    let connected: Vec<String> = inner
        .live
        .keys()
        .filter(|(u, r)| u == recipient && Some(r.as_str()) != except_resource)
        .map(|(_, r)| r.clone())
        .collect();
    connected
        .iter()
        .map(|resource| inner.route_to_device(app_key, recipient, resource, queue, meta))
        .sum()
}

/// `user`'s last connection ended: they leave every chat room they do not own, and the
/// other members are told.
pub(super) fn drop_offline_member(inner: &mut Inner, app_key: &str, user: &str) {
    if inner.live.keys().any(|(u, _)| u == user) {
        return;
    }
    let rooms: Vec<String> = inner
        .data
        .groups
        .values_mut()
        .filter(|g| g.is_chatroom && g.owner != user && g.members.contains(user))
        .map(|g| {
            g.members.remove(user);
            g.id.clone()
        })
        .collect();
    for room in rooms {
        announce(inner, app_key, &room, user, muc_body::Operation::Absence);
    }
}
