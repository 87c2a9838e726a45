//! Management commands in the DM with the bridge bot (a room the bot is invited to as a
//! direct chat, or one named by `set-management-room`, see [`rooms`]): `help`, `login`,
//! `relogin` ([`login`]), `register` ([`register`]), `logout`, `list-logins`, `ping`, `sync`, `pm`, `search`,
//! `resolve-identifier` ([`chats`]), `create-group` ([`groups`]), `join-chatroom` /
//! `leave-chatroom` (aliases `join-live` / `leave-live`, [`channels`]), `accept` / `decline`
//! ([`invitations`]), `add-contact`, `remove-contact`, `block`, `unblock`, `blocked`
//! ([`contacts`]), `presence` ([`presence`]), `sync-profile` ([`profile`]), `login-matrix`,
//! `logout-matrix` ([`puppet`]), `version`, `cancel`. Owns the management
//! rooms (found by the bot being invited to a DM; one per user, the newest), permission checks,
//! and telling users about their logins. The bot writes Markdown, sent with its HTML rendering
//! ([`crate::core::markdown`]).

mod channels;
pub(crate) mod chats;
mod contacts;
pub(crate) mod groups;
mod invitations;
mod login;
mod presence;
mod profile;
mod puppet;
mod register;
mod rooms;

pub use rooms::on_message as on_room_message;

pub(crate) use chats::{existing_room, point_to_chat, room_link};

use std::collections::HashMap;
use std::sync::Arc;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::login_steps::PendingLogin;
use super::logins;
use super::markdown;
use super::matrix_api::MatrixEvent;
use super::Ctx;
use crate::config::PermissionLevel;
use crate::store::Store;

const MGMT_PREFIX: &str = "mgmt:";

/// Multi-step command state per management room: the login waiting for a value there.
#[derive(Default)]
pub struct CommandState {
    pending: Mutex<HashMap<OwnedRoomId, PendingLogin>>,
}

/// Management rooms saved in the store's kv tree.
pub async fn load_management_rooms(store: &Store) -> Vec<(OwnedRoomId, OwnedUserId)> {
    store
        .list_kv(MGMT_PREFIX)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let room = RoomId::parse(k.strip_prefix(MGMT_PREFIX)?).ok()?;
            let user = UserId::parse(v.as_str()).ok()?;
            Some((room, user))
        })
        .collect()
}

/// Sends `text` (Markdown) as a notice from the bot. Every call is a new event, so its
/// transaction id is new every time.
pub(super) async fn reply(ctx: &Ctx, room: &RoomId, text: &str) {
    let txn = super::fresh_txn("imb-cmd");
    super::send_bot_notice(ctx, room, &txn, &markdown::notice(text)).await;
}

/// The user's management room, if any.
async fn management_room_of(ctx: &Ctx, user: &UserId) -> Option<OwnedRoomId> {
    ctx.management
        .read()
        .await
        .iter()
        .find(|(_, u)| u.as_str() == user.as_str())
        .map(|(r, _)| r.clone())
}

/// Tells `user` something in their management room.
pub async fn notify_user(ctx: &Ctx, user: &UserId, text: &str) {
    match management_room_of(ctx, user).await {
        Some(room) => reply(ctx, &room, text).await,
        None => info!(%user, text, "no management room to notify"),
    }
}

/// Invites of the bot to a DM make it the inviter's management room.
pub async fn on_membership(ctx: &Arc<Ctx>, event: &MatrixEvent) {
    let MatrixEvent::Membership {
        room,
        sender,
        target,
        membership,
        is_direct,
        ..
    } = event
    else {
        return;
    };
    if target.as_str() != ctx.matrix.bot().as_str() {
        return;
    }
    match membership.as_str() {
        "invite" => {
            if ctx.permission(sender) < PermissionLevel::Commands {
                info!(%sender, "invite from a user without permission ignored");
                let _ = ctx.matrix.leave(room, ctx.matrix.bot()).await;
                return;
            }
            if let Err(e) = ctx.matrix.join(room, ctx.matrix.bot()).await {
                warn!(%room, error = %e, "bot could not join");
                return;
            }
            if !is_direct {
                // Not a DM: a room to bridge, or to make the management room on request.
                let prefix = ctx.cfg.bridge.command_prefix.as_str();
                return reply(ctx, room, &rooms::greeting(prefix)).await;
            }
            let previous = set_management_room(ctx, room, sender).await;
            let mut text = "Hello! I am the bridge bot. This room is your management room: \
                send `help` for the commands."
                .to_owned();
            if let Some(old) = &previous {
                text.push_str(&format!(
                    " It replaces your earlier management room ({old}), which I have left: \
                     there is one per user, the newest."
                ));
            }
            reply(ctx, room, &text).await;
            if let Some(old) = previous {
                reply(
                    ctx,
                    &old,
                    &format!("This is no longer your management room: the new one is {room}. I am leaving this one."),
                )
                .await;
                if let Err(e) = ctx.matrix.leave(&old, ctx.matrix.bot()).await {
                    warn!(room = %old, error = %e, "bot could not leave the old management room");
                }
            }
            if let Ok(Some(_)) = ctx.matrix.room_state(room, "m.room.encryption", "").await {
                // The invite's event id names the notice's transaction.
                if let MatrixEvent::Membership { event_id, .. } = event {
                    super::encryption::on_encrypted(ctx, room, event_id).await;
                }
            }
        }
        "leave" | "ban" => {
            ctx.management.write().await.remove(room);
            let _ = ctx.store.delete_kv(&format!("{MGMT_PREFIX}{room}")).await;
        }
        _ => {}
    }
}

/// Makes `room` the management room of `user`; returns the one it replaces.
pub(super) async fn set_management_room(
    ctx: &Ctx,
    room: &RoomId,
    user: &UserId,
) -> Option<OwnedRoomId> {
    let mut rooms = ctx.management.write().await;
    let previous: Vec<OwnedRoomId> = rooms
        .iter()
        .filter(|(r, u)| u.as_str() == user.as_str() && r.as_str() != room.as_str())
        .map(|(r, _)| r.clone())
        .collect();
    for old in &previous {
        rooms.remove(old);
        let _ = ctx.store.delete_kv(&format!("{MGMT_PREFIX}{old}")).await;
    }
    rooms.insert(room.to_owned(), user.to_owned());
    if let Err(e) = ctx
        .store
        .put_kv(&format!("{MGMT_PREFIX}{room}"), user.as_str())
        .await
    {
        warn!(%room, error = %e, "management room not stored");
    }
    previous.into_iter().next()
}

/// A message in a management room.
pub async fn on_message(ctx: &Arc<Ctx>, event: &MatrixEvent) {
    let MatrixEvent::Message {
        room,
        sender,
        event_id,
        content,
        ..
    } = event
    else {
        return;
    };
    let Some(body) = content["body"].as_str() else {
        return;
    };
    // Notices are for people: bots answer them never (spec, m.notice).
    if content["msgtype"] == "m.notice" {
        return;
    }
    let level = ctx.permission(sender);
    if level < PermissionLevel::Commands {
        reply(ctx, room, "You are not allowed to use this bridge.").await;
        return;
    }
    let body = body.trim();
    let prefix = ctx.cfg.bridge.command_prefix.as_str();
    // A message with the command prefix is a command even while a login waits for a value
    // (a user typing `!tc help` at the password prompt means the command); the login keeps
    // waiting. Without the prefix, everything but `cancel` is the value.
    let prefixed = !prefix.is_empty() && body.starts_with(prefix);
    let body = body
        .strip_prefix(prefix)
        .map(str::trim_start)
        .unwrap_or(body);
    if body != "cancel" && !prefixed {
        let pending = ctx.commands.pending.lock().await.remove(room);
        if let Some(pending) = pending {
            return login::continue_login(ctx, room, sender, event_id, pending, body).await;
        }
    }
    let mut words = body.split_whitespace();
    let command = words.next().unwrap_or_default().to_lowercase();
    let args: Vec<&str> = words.collect();
    match command.as_str() {
        "help" => reply(ctx, room, HELP).await,
        "version" => {
            let text = format!(
                "imbridge {} — network: {}",
                env!("CARGO_PKG_VERSION"),
                ctx.connector.name()
            );
            reply(ctx, room, &text).await
        }
        "cancel" => {
            let pending = ctx.commands.pending.lock().await.remove(room);
            let had = pending.is_some();
            if let Some(pending) = pending {
                pending.cancel().await;
            }
            reply(
                ctx,
                room,
                if had {
                    "Cancelled."
                } else {
                    "Nothing to cancel."
                },
            )
            .await
        }
        "login" | "register" if level < PermissionLevel::User => {
            reply(
                ctx,
                room,
                "You are not allowed to log in through this bridge.",
            )
            .await
        }
        "login" => login::start(ctx, room, sender, event_id, &args, None).await,
        "register" => register::register(ctx, room, sender, event_id, &args).await,
        "relogin" => match ctx.login_of(sender).await {
            Some(current) => {
                let remote = current.remote_id.clone();
                login::start(ctx, room, sender, event_id, &args, Some(remote)).await
            }
            None => reply(ctx, room, "You are not logged in: send `login`.").await,
        },
        "logout" => {
            let text = if logins::logout(ctx, sender).await {
                "Logged out."
            } else {
                "You are not logged in."
            };
            reply(ctx, room, text).await
        }
        "list-logins" => {
            let text = match ctx.login_of(sender).await {
                Some(l) => format!("* {} — {}", l.remote_id, l.state().await),
                None => "You are not logged in.".into(),
            };
            reply(ctx, room, &text).await
        }
        "ping" => {
            let text = match ctx.login_of(sender).await {
                Some(l) => format!("Logged in as {}: {}.", l.remote_id, l.state().await),
                None => "You are not logged in.".into(),
            };
            reply(ctx, room, &text).await
        }
        "login-matrix" => puppet::login_matrix(ctx, room, sender, event_id, &args).await,
        "logout-matrix" => puppet::logout_matrix(ctx, room, sender).await,
        "sync" => chats::sync(ctx, room, sender).await,
        "resolve-identifier" => match args.first() {
            Some(user) => chats::resolve_identifier(ctx, room, sender, user).await,
            None => reply(ctx, room, "Usage: `resolve-identifier <im-user>`").await,
        },
        "search" if !args.is_empty() => chats::search(ctx, room, sender, &args.join(" ")).await,
        "search" => reply(ctx, room, "Usage: `search <name or id>`").await,
        "pm" | "start-chat" => match args.as_slice() {
            [user] => chats::pm(ctx, room, sender, user).await,
            [] => reply(ctx, room, "Usage: `pm <im-user>`").await,
            [_, ..] => {
                let text = format!(
                    "`{command}` opens one chat: `{command} <im-user>` (got {} names).",
                    args.len()
                );
                reply(ctx, room, &text).await
            }
        },
        "create-group" => groups::create_group_command(ctx, room, sender, &args).await,
        "join-chatroom" | "join-live" => channels::join(ctx, room, sender, &command, &args).await,
        "leave-chatroom" | "leave-live" => channels::leave(ctx, room, sender, &args).await,
        "accept" => invitations::answer(ctx, room, sender, &args, true).await,
        "decline" => invitations::answer(ctx, room, sender, &args, false).await,
        "presence" => presence::command(ctx, room, sender, &args).await,
        "sync-profile" => profile::sync_profile(ctx, room, sender).await,
        "add-contact" | "remove-contact" | "block" | "unblock" | "blocked" => {
            contacts::command(ctx, room, sender, &command, &args).await
        }
        "" => {}
        other => {
            let text = format!("Unknown command `{other}`. Send `help` for the list.");
            reply(ctx, room, &text).await
        }
    }
}

const HELP: &str = "Commands:\n\
* `login` — log in to the IM service: lists the ways to log in when there are several; `login <flow>` follows one, asking for each value in turn (secrets are deleted from the room), or give them at once: `login <flow> <values…>`; `login <user> [<password>]` uses the first way; logging in as another account closes the current one\n\
* `relogin [<flow> [<values…>]]` — log in again as the same account (new password or token, after the login stopped working); like `login`, but another account is refused\n\
* `register <user> <password>` — create an IM account (where the app allows it) and log in with it; the message is deleted at once\n\
* `logout` — log out and forget the login\n\
* `list-logins` / `ping` — your login and its connection state\n\
* `login-matrix <access token>` / `logout-matrix` — double puppeting: what you do on other IM devices shows as you, not your ghost (automatic on homeservers the admin set up)\n\
* `sync` — create rooms for your contacts and groups\n\
* `pm <im-user>` — open a direct chat with an IM user\n\
* `search <name or id>` — find IM users (among your contacts, and by exact id)\n\
* `create-group <name> [<im-user>…]` — create an IM group with these members (IM ids or ghosts; quote a name with spaces) and its room\n\
* `join-chatroom <id>` / `leave-chatroom [id]` (or `join-live <id>` / `leave-live [id]` for live-stream rooms) — join a public IM chat room (its room arrives as an invite; only what is said while you are connected comes over) / leave it (the room stays, with its history; without an id: the chat room of the room you are in, or your only one)\n\
* `accept [<id>]` / `decline [<id>]` — answer an invitation into IM group `<id>` or user `<id>`'s contact request (the bot tells you of each one; without an id, the only one waiting); accepting a group joins it and opens its room\n\
* `add-contact <im-user> [<message>…]` / `remove-contact <im-user>` — send a contact request (the answer is told here) / remove a contact\n\
* `block <im-user>` / `unblock <im-user>` / `blocked` — block a user (their messages stop reaching you), unblock them, list the blocked\n\
* `presence [on|off]` — publish your Matrix presence (online, away, offline, status text) on the IM side, or stop; IM users' presence shows on their ghosts\n\
* `sync-profile` — make your Matrix display name and avatar your IM nickname and avatar\n\
* `resolve-identifier <im-user>` — who an IM user is, their ghost and your chat with them\n\
* `cancel` — cancel a login in progress\n\
* in a room of yours I was invited to, with the command prefix: `bridge <group id>` makes it the IM group's room, `set-management-room` makes it this room; in a portal: `set-relay`, `unset-relay`, `unbridge`, `delete-portal`\n\
* `version` — the bridge version";
