//! `join-chatroom <id>` / `leave-chatroom <id>`: joining a public chat room (a channel,
//! [`crate::core::channels`]) opens its portal and invites the user; leaving leaves the chat
//! room on the network and says so in the portal, which stays as a readable room.

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

/// `join-chatroom <id>`.
pub(super) async fn join(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, args: &[&str]) {
    let [id] = args else {
        return reply(ctx, room, "Usage: `join-chatroom <chat room id>`").await;
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

/// `leave-chatroom <id>`.
pub(super) async fn leave(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, args: &[&str]) {
    let [id] = args else {
        return reply(ctx, room, "Usage: `leave-chatroom <chat room id>`").await;
    };
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
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
