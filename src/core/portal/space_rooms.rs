//! Network spaces: a chat that holds chats ([`ChatInfo::is_space`]) is a Matrix space room
//! (`m.space` room type, named after the chat), and a chat with a [`ChatInfo::parent`] is a
//! portal room that the space lists as an `m.space.child` and that names the space in its
//! `m.space.parent` (canonical), as mautrix bridgev2 does with `ChatInfo.ParentID`. The
//! space is a portal of its own (its key the parent chat's), made on demand when its first
//! child room is made. Which space a child room is in is kept in the store's key-value table
//! under `space_of_room:{room}`, so a child whose chat is deleted leaves the space (its
//! `m.space.child` emptied).

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::{bridge_state, ignore_already_member, portal_key, retry};
use crate::core::connector::{ChatId, ChatInfo};
use crate::core::ghosts::now_ms;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::RoomSpec;
use crate::core::Ctx;
use crate::store::PortalRecord;

fn room_key(room: &RoomId) -> String {
    format!("space_of_room:{room}")
}

/// The Matrix room type of a chat's room: `m.space` for a space chat.
pub(super) fn room_type(info: &ChatInfo) -> Option<String> {
    info.is_space.then(|| "m.space".to_owned())
}

/// The `m.space.parent` state a child room starts with (`canonical`: its one parent).
pub(super) fn parent_state(ctx: &Ctx, space: &RoomId) -> (String, String, Value) {
    (
        "m.space.parent".into(),
        space.to_string(),
        json!({"via": [ctx.cfg.homeserver.domain], "canonical": true}),
    )
}

/// The room of space chat `parent` for `login`, made (bot-created, the user invited) when
/// it has none; the user is invited when new to it. `None` when it cannot be made (logged).
pub(super) async fn ensure_space(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    parent: &ChatId,
) -> Option<OwnedRoomId> {
    let key = portal_key(&login.remote_id, parent);
    let bot = ctx.matrix.bot().to_owned();
    let user = login.mxid.to_string();
    if let Some(record) = ctx.store.get_portal(&key).await.ok().flatten() {
        let room = OwnedRoomId::try_from(record.room_id.as_str()).ok()?;
        if !record.receivers.contains(&user) {
            let invited = retry("invite", || ctx.matrix.invite(&room, &bot, &login.mxid))
                .await
                .or_else(ignore_already_member);
            if let Err(e) = invited {
                warn!(%room, error = %e, "user not invited to the space");
                return Some(room);
            }
            let _ = ctx
                .store
                .update_portal(&key, |p| {
                    p.receivers.push(user.clone());
                    true
                })
                .await;
        }
        return Some(room);
    }
    let mut info = login.session.chat_info(parent).await.unwrap_or_default();
    info.is_space = true;
    let spec = RoomSpec {
        name: info.name.clone(),
        topic: info.topic.clone(),
        invite: vec![login.mxid.clone()],
        initial_state: vec![bridge_state(ctx, &key, parent)],
        room_type: room_type(&info),
        ..RoomSpec::default()
    };
    let room = match retry("create space", || ctx.matrix.create_room(&bot, &spec)).await {
        Ok(room) => room,
        Err(e) => {
            warn!(portal = %key, error = %e, "space room not made");
            return None;
        }
    };
    let record = PortalRecord {
        key: key.clone(),
        room_id: room.to_string(),
        kind: format!("{:?}", parent.kind).to_lowercase(),
        name: info.name.clone(),
        topic: info.topic.clone(),
        avatar_mxc: None,
        receivers: vec![user],
        is_direct: false,
        created_ms: now_ms(),
    };
    if let Err(e) = ctx.store.put_portal(&record).await {
        warn!(portal = %key, error = %e, "space record not saved");
    }
    info!(portal = %key, %room, "space room made");
    Some(room)
}

/// Lists `child` in `space` (`m.space.child`) and remembers it.
pub(super) async fn add_child(ctx: &Ctx, space: &RoomId, child: &RoomId) {
    let bot = ctx.matrix.bot().to_owned();
    let content = json!({"via": [ctx.cfg.homeserver.domain]});
    match ctx
        .matrix
        .send_state(space, &bot, "m.space.child", child.as_str(), &content)
        .await
    {
        Ok(_) => {
            let _ = ctx.store.put_kv(&room_key(child), space.as_str()).await;
        }
        Err(e) => warn!(%space, %child, error = %e, "child room not added to the space"),
    }
}

/// Takes `child` out of its space, if it is in one (an emptied `m.space.child`).
pub(super) async fn remove_child(ctx: &Ctx, child: &RoomId) {
    let Some(space) = ctx.store.get_kv(&room_key(child)).await.ok().flatten() else {
        return;
    };
    let Ok(space) = OwnedRoomId::try_from(space) else {
        return;
    };
    let bot = ctx.matrix.bot().to_owned();
    match ctx
        .matrix
        .send_state(&space, &bot, "m.space.child", child.as_str(), &json!({}))
        .await
    {
        Ok(_) => {
            let _ = ctx.store.delete_kv(&room_key(child)).await;
        }
        Err(e) => warn!(%space, %child, error = %e, "child room not removed from the space"),
    }
}

/// True when `child` is listed in a space.
pub(super) async fn in_space(ctx: &Ctx, child: &RoomId) -> bool {
    ctx.store
        .get_kv(&room_key(child))
        .await
        .ok()
        .flatten()
        .is_some()
}
