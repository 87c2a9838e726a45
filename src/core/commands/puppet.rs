//! `login-matrix <access token>` and `logout-matrix`: double puppeting with the user's own
//! Matrix access token ([`crate::core::double_puppet`]). The message holding the token is
//! redacted as a password is, and the user is told when it could not be.

use ruma::{EventId, RoomId, UserId};

use super::login::redact_secret_named;
use super::reply;
use crate::core::double_puppet;
use crate::core::Ctx;

/// `login-matrix <access token>`.
pub(super) async fn login_matrix(
    ctx: &Ctx,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    args: &[&str],
) {
    let [token] = args else {
        return reply(
            ctx,
            room,
            "Usage: `login-matrix <access token>` — your own Matrix access token, so that what \
             you do on other IM devices shows as you rather than as your ghost.",
        )
        .await;
    };
    redact_secret_named(ctx, room, event_id, "access token").await;
    let text = match double_puppet::login_matrix(ctx, sender, token).await {
        Ok(()) => format!(
            "Double puppeting is on: what you do on other IM devices now shows as {sender}."
        ),
        Err(why) => format!("Double puppeting not turned on: {why}."),
    };
    reply(ctx, room, &text).await
}

/// `logout-matrix`.
pub(super) async fn logout_matrix(ctx: &Ctx, room: &RoomId, sender: &UserId) {
    let text = match double_puppet::logout_matrix(ctx, sender).await {
        Ok(true) => "Double puppeting is off: what you do on other IM devices shows as your \
                     ghost again. `login-matrix` turns it back on."
            .to_owned(),
        Ok(false) => "Double puppeting was not on; it stays off until `login-matrix`.".to_owned(),
        Err(why) => format!("Could not turn double puppeting off: {why}."),
    };
    reply(ctx, room, &text).await
}
