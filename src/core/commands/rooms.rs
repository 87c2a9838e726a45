//! Commands typed (with the command prefix) in a room that is neither a portal nor a
//! management room, where the bot was invited (a room that is not a DM does not become a
//! management room by itself):
//! * `set-management-room`: this room becomes the sender's management room (mautrix's
//!   command), replacing their earlier one;
//! * `bridge <group id>`: this existing Matrix room becomes the portal of an IM group the
//!   sender's login is in (mautrix legacy bridges' `bridge`), instead of a room the bridge
//!   makes. Refused when the group already has a portal (`unbridge` it there first). Ghosts
//!   join as the group's members speak; the bot needs power to follow name and topic changes
//!   and says so when it lacks it.
//!
//! Anything else in such rooms is ignored: the bot stays quiet in rooms it merely sits in.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use tracing::{info, warn};

use super::{chats, reply, set_management_room};
use crate::config::PermissionLevel;
use crate::core::connector::{ChatId, ChatKind};
use crate::core::matrix_api::MatrixEvent;
use crate::core::portal::{bridge_state, portal_key};
use crate::core::{room_features, spaces, Ctx};
use crate::store::PortalRecord;

/// What the bot says when invited to a room that is not a DM.
pub(super) fn greeting(prefix: &str) -> String {
    format!(
        "Hello! I am the bridge bot. This room is not a direct chat with me, so it is not a \
         management room. Send `{prefix} bridge <group id>` to bridge it to an IM group you \
         are in, or `{prefix} set-management-room` to make it your management room."
    )
}

/// A message in a room that is neither a portal nor a management room.
pub async fn on_message(ctx: &Arc<Ctx>, event: &MatrixEvent) {
    let MatrixEvent::Message {
        room,
        sender,
        content,
        ..
    } = event
    else {
        return;
    };
    if content["msgtype"] == "m.notice" {
        return;
    }
    let Some(body) = content["body"].as_str() else {
        return;
    };
    let prefix = ctx.cfg.bridge.command_prefix.as_str();
    let Some(command) = body.trim().strip_prefix(prefix).map(str::trim) else {
        return;
    };
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default().to_lowercase();
    let args: Vec<&str> = words.collect();
    if !matches!(name.as_str(), "set-management-room" | "bridge") {
        return;
    }
    if ctx.permission(sender) < PermissionLevel::Commands {
        return reply(ctx, room, "You are not allowed to use this bridge.").await;
    }
    match (name.as_str(), args.as_slice()) {
        ("set-management-room", _) => {
            let previous = set_management_room(ctx, room, sender).await;
            info!(%room, user = %sender, "management room set by command");
            let mut text = "This is now your management room: send commands without the \
                            prefix, `help` for the list."
                .to_owned();
            if let Some(old) = previous {
                text.push_str(&format!(" It replaces {old}."));
            }
            reply(ctx, room, &text).await
        }
        ("bridge", [group]) => bridge(ctx, room, sender, group).await,
        _ => reply(ctx, room, &format!("Usage: `{prefix} bridge <group id>`")).await,
    }
}

/// `bridge <group>`: makes `room` the group's portal.
async fn bridge(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, group: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(
            ctx,
            room,
            "You are not logged in: log in first, then bridge.",
        )
        .await;
    };
    let chat = ChatId::group(group.to_owned());
    let key = portal_key(&login.remote_id, &chat);
    if let Ok(Some(existing)) = ctx.store.get_portal(&key).await {
        if !existing.room_id.is_empty() {
            let text = match existing.room_id == room.as_str() {
                true => "This room is already bridged to that group.".to_owned(),
                false => format!(
                    "That group is already bridged to {}: send `unbridge` there first.",
                    chats::room_link(&existing.room_id)
                ),
            };
            return reply(ctx, room, &text).await;
        }
    }
    let info = match login.session.chat_info(&chat).await {
        Ok(info) if info.members.is_empty() || info.members.contains(&login.remote_id) => info,
        Ok(_) => {
            let text = format!(
                "You ({}) are not a member of group {group}.",
                login.remote_id
            );
            return reply(ctx, room, &text).await;
        }
        Err(e) => {
            let text = format!("Group {group} cannot be bridged: {e}.");
            return reply(ctx, room, &text).await;
        }
    };
    let record = PortalRecord {
        key: key.clone(),
        room_id: room.to_string(),
        kind: format!("{:?}", ChatKind::Group).to_lowercase(),
        name: info.name.clone(),
        topic: info.topic.clone(),
        avatar_mxc: None,
        receivers: vec![sender.to_string()],
        is_direct: false,
        created_ms: crate::core::ghosts::now_ms(),
    };
    if let Err(e) = ctx.store.put_portal(&record).await {
        warn!(%room, error = %e, "portal record not saved");
        return reply(ctx, room, "The room could not be bridged (store error).").await;
    }
    let bot = ctx.matrix.bot().to_owned();
    let (kind, state_key, content) = bridge_state(ctx, &key, &chat);
    let marked = ctx
        .matrix
        .send_state(room, &bot, &kind, &state_key, &content)
        .await
        .is_ok();
    let _ = room_features::send(ctx, &key, room, false, &bot).await;
    spaces::add_portal(ctx, &login, room).await;
    chats::open_portal(ctx, &login, chat).await;
    info!(%room, portal = %key, "existing room bridged");
    let name = info.name.as_deref().unwrap_or(group);
    let mut text = format!(
        "This room is now bridged to the IM group {name} ({group}): messages go both ways, \
         and the group's members appear as they speak."
    );
    if !marked {
        text.push_str(
            " ⚠️ I cannot set room state here: give me power level 100 so the room follows \
             the group's name, topic and roles.",
        );
    }
    reply(ctx, room, &text).await
}
