//! `join-chatroom <id>` / `leave-chatroom [id]` (aliases `join-live <id>` / `leave-live [id]`
//! for live-stream rooms): joining a public chat room (a channel, [`crate::core::channels`])
//! opens its portal and invites the user; leaving leaves the chat room on the network and says
//! so in the portal, which stays as a readable room. Without an id, `leave` leaves the
//! channel whose room the command is sent in, or the user's only channel.

use std::sync::Arc;

use ruma::{RoomId, UserId};

use super::chats::{existing_room, room_link};
use super::reply;
use crate::core::channels;
use crate::core::connector::ChatId;
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// What the bot says in a channel's room when the user left the channel.
pub(crate) const LEFT_NOTICE: &str =
    "ℹ️ You left this IM chat room: its messages no longer come here. The history stays.";

/// The channel a `leave` without an id means: the one whose portal is `room`, else the
/// user's only joined channel.
async fn implied_channel(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    remote: &str,
) -> Option<String> {
    let joined = channels::joined(ctx, sender, remote).await;
    for id in &joined {
        let key = portal_key(remote, &ChatId::channel(id.as_str()));
        if existing_room(ctx, &key).await.as_deref() == Some(room) {
            return Some(id.clone());
        }
    }
    match joined.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// `join-chatroom <id>` (`join-live <id>`); `command` is the name it was called by, which
/// its usage line repeats.
pub(super) async fn join(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    command: &str,
    args: &[&str],
) {
    let [id] = args else {
        let what = if command == "join-live" {
            "live room id"
        } else {
            "chat room id"
        };
        return reply(ctx, room, &format!("Usage: `{command} <{what}>`")).await;
    };
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let existing = existing_room(ctx, &portal_key(&login.remote_id, &ChatId::channel(*id))).await;
    let text = match channels::join(ctx, &login, id).await {
        Ok(_) => {
            let room = match existing {
                Some(room) => format!("its room is {}", room_link(room.as_str())),
                None => "its room arrives as an invite".into(),
            };
            format!(
                "Joined the IM chat room `{id}`: {room}. Chat rooms keep no messages for absent \
                 members, so only what is said while you are connected comes here."
            )
        }
        Err(e) => e,
    };
    reply(ctx, room, &text).await
}

/// `leave-chatroom [id]` (`leave-live [id]`).
pub(super) async fn leave(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, args: &[&str]) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let id = match args {
        [id] => (*id).to_owned(),
        [] => match implied_channel(ctx, room, sender, &login.remote_id).await {
            Some(id) => id,
            None => {
                let text = "Usage: `leave-chatroom <chat room id>` (the id may be left out in \
                            the chat room's own room, or when you are in one chat room only)";
                return reply(ctx, room, text).await;
            }
        },
        _ => return reply(ctx, room, "Usage: `leave-chatroom <chat room id>`").await,
    };
    let id = id.as_str();
    let text = match channels::leave(ctx, &login, id).await {
        Ok(chat) => {
            if let Some(portal) = existing_room(ctx, &portal_key(&login.remote_id, &chat)).await {
                reply(ctx, &portal, LEFT_NOTICE).await;
            }
            format!("Left the IM chat room `{id}`; its room stays, with its history.")
        }
        Err(e) => e,
    };
    reply(ctx, room, &text).await
}
