//! `presence [on|off]`: whether the user's Matrix presence (online, away, offline, status
//! text) is published on the IM side through their login (opt-in, see
//! [`crate::core::presence`]); without an argument, says which.

use std::sync::Arc;

use ruma::{RoomId, UserId};

use super::reply;
use crate::core::{presence, Ctx};

/// The `presence` command.
pub(super) async fn command(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, args: &[&str]) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    if login.session.as_presence().is_none() {
        return reply(ctx, room, "This IM service has no presence to publish.").await;
    }
    let text = match args {
        [] => match presence::is_publishing(ctx, sender).await {
            true => "Your Matrix presence is published on the IM side (`presence off` stops it).",
            false => {
                "Your Matrix presence is not published on the IM side (`presence on` starts it)."
            }
        }
        .to_owned(),
        [word @ ("on" | "off")] => match presence::set_publishing(ctx, sender, *word == "on").await
        {
            Ok(()) if *word == "on" => {
                "Your Matrix presence will be published on the IM side from its next change."
                    .to_owned()
            }
            Ok(()) => "Your Matrix presence is no longer published on the IM side.".to_owned(),
            Err(e) => format!("The setting could not be saved: {e}."),
        },
        _ => "Usage: `presence [on|off]`".to_owned(),
    };
    reply(ctx, room, &text).await
}
