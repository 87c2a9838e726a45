//! `register <user> <password>`: creates an IM account where the network and the app allow
//! it ([`crate::core::registration`]), then logs it in as `login` would. The message holds a
//! password, so it is redacted at once, or the user is told plainly that it could not be.

use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};
use tracing::info;

use super::login::{finish, redact_secret_named};
use super::reply;
use crate::core::Ctx;

/// `register` with its arguments.
pub(super) async fn register(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    args: &[&str],
) {
    if args.len() >= 2 {
        redact_secret_named(ctx, room, event_id, "password").await;
    }
    let Some(ability) = ctx.connector.as_registration() else {
        return reply(
            ctx,
            room,
            "This IM service cannot register accounts through the bridge: get one from the \
             app, then `login`.",
        )
        .await;
    };
    let [user, password] = args else {
        return reply(
            ctx,
            room,
            "Usage: `register <user name> <password>` (the message is deleted at once).",
        )
        .await;
    };
    reply(ctx, room, &format!("Registering {user}…")).await;
    match ability.register(user, password).await {
        Ok(data) => {
            info!(user = %sender, remote = %data.remote_id, "IM account registered");
            let text = format!("Registered {} on the IM service.", data.remote_id);
            finish(ctx, room, sender, data, &text).await
        }
        Err(e) => reply(ctx, room, &format!("Registration failed: {e}.")).await,
    }
}
