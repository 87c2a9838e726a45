//! Personal filtering spaces (mautrix's `personal_filtering_spaces`): with
//! `bridge.personal_filtering_spaces: true`, each login gets a Matrix space, made by the bot and
//! named after the network and the IM account, that holds every portal of that login (an
//! `m.space.child` state event per portal room), so the user can filter their client by it.
//! The space's room id is kept in the store's key-value table under `space:{mxid}:{remote id}`;
//! a child already added under `space_child:{room}:{mxid}`. At start-up every login's portals
//! are added when missing, so turning the option on covers rooms made before.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId};
use serde_json::json;
use tracing::{info, warn};

use super::logins::UserLogin;
use super::matrix_api::RoomSpec;
use super::Ctx;

fn space_key(login: &UserLogin) -> String {
    format!("space:{}:{}", login.mxid, login.remote_id)
}

fn child_key(room: &RoomId, login: &UserLogin) -> String {
    format!("space_child:{room}:{}", login.mxid)
}

/// The login's space, made (and the user invited) the first time it is needed; `None` when
/// the option is off or the space could not be made (logged).
pub async fn space_of(ctx: &Ctx, login: &UserLogin) -> Option<OwnedRoomId> {
    if !ctx.cfg.bridge.personal_filtering_spaces {
        return None;
    }
    let key = space_key(login);
    if let Some(room) = ctx.store.get_kv(&key).await.ok().flatten() {
        if let Ok(room) = OwnedRoomId::try_from(room) {
            return Some(room);
        }
    }
    let spec = RoomSpec {
        name: Some(format!("{} ({})", ctx.connector.name(), login.remote_id)),
        topic: Some(format!(
            "Your {} chats, bridged by {}",
            ctx.connector.name(),
            ctx.matrix.bot()
        )),
        invite: vec![login.mxid.clone()],
        room_type: Some("m.space".into()),
        ..RoomSpec::default()
    };
    let bot = ctx.matrix.bot().to_owned();
    match ctx.matrix.create_room(&bot, &spec).await {
        Ok(room) => {
            info!(user = %login.mxid, %room, "personal filtering space made");
            if let Err(e) = ctx.store.put_kv(&key, room.as_str()).await {
                warn!(user = %login.mxid, error = %e, "space not stored");
            }
            Some(room)
        }
        Err(e) => {
            warn!(user = %login.mxid, error = %e, "personal filtering space not made");
            None
        }
    }
}

/// Adds a portal room to the login's space (once; nothing when the option is off).
pub async fn add_portal(ctx: &Ctx, login: &UserLogin, room: &RoomId) {
    let Some(space) = space_of(ctx, login).await else {
        return;
    };
    let done = child_key(room, login);
    if ctx.store.get_kv(&done).await.ok().flatten().is_some() {
        return;
    }
    let content = json!({ "via": [ctx.cfg.homeserver.domain] });
    let bot = ctx.matrix.bot().to_owned();
    match ctx
        .matrix
        .send_state(&space, &bot, "m.space.child", room.as_str(), &content)
        .await
    {
        Ok(_) => {
            let _ = ctx.store.put_kv(&done, space.as_str()).await;
        }
        Err(e) => warn!(%space, %room, error = %e, "portal not added to the space"),
    }
}

/// When a login starts: its space is made if missing (so it exists before the first portal),
/// and every portal of the login joins it when missing.
pub async fn fill(ctx: Arc<Ctx>, login: Arc<UserLogin>) {
    if space_of(&ctx, &login).await.is_none() {
        return;
    }
    let Ok(portals) = ctx.store.list_portals().await else {
        return;
    };
    for portal in portals {
        if !portal.receivers.iter().any(|r| r == login.mxid.as_str()) {
            continue;
        }
        if let Some(owner) = super::portal::direct_owner_of_key(&portal.key) {
            if owner != login.remote_id {
                continue;
            }
        }
        if let Ok(room) = OwnedRoomId::try_from(portal.room_id) {
            add_portal(&ctx, &login, &room).await;
        }
    }
}
