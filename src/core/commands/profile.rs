//! `sync-profile`: the user's Matrix display name and avatar become their IM nickname and
//! avatar (the IM SDKs' `updateOwnUserInfo` / `setMyProfile`, through the connector's
//! [`OwnProfileAbility`](crate::core::connector::OwnProfileAbility)). Only on request: the
//! user decides when their IM profile changes.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use tracing::info;

use super::reply;
use crate::core::connector::AvatarImage;
use crate::core::Ctx;

/// The largest avatar copied, in bytes (IM services cap chat files well above this).
const MAX_AVATAR_BYTES: u64 = 5 << 20;

/// A file name for an avatar of type `mime`.
fn avatar_name(mime: &str) -> String {
    let ext = match mime {
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "jpg",
    };
    format!("avatar.{ext}")
}

/// The `sync-profile` command.
pub(super) async fn sync_profile(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let Some(ability) = login.session.as_own_profile() else {
        return reply(
            ctx,
            room,
            "This IM service cannot set your profile from here.",
        )
        .await;
    };
    let profile = match ctx.matrix.profile(sender).await {
        Ok(p) => p,
        Err(e) => {
            let text = format!("Your Matrix profile could not be read: {e}.");
            return reply(ctx, room, &text).await;
        }
    };
    if profile.displayname.is_none() && profile.avatar_url.is_none() {
        let text = "Your Matrix profile has no display name or avatar to copy.";
        return reply(ctx, room, text).await;
    }
    let avatar = match &profile.avatar_url {
        Some(mxc) => match ctx.matrix.download(mxc, MAX_AVATAR_BYTES).await {
            Ok((data, mime)) if mime.starts_with("image/") => Some(AvatarImage {
                name: avatar_name(&mime),
                data,
                mime,
            }),
            Ok((_, mime)) => {
                let text =
                    format!("Your Matrix avatar is not an image ({mime}); nothing was changed.");
                return reply(ctx, room, &text).await;
            }
            Err(e) => {
                let text = format!(
                    "Your Matrix avatar could not be downloaded: {e}. Nothing was changed."
                );
                return reply(ctx, room, &text).await;
            }
        },
        None => None,
    };
    let copied_avatar = avatar.is_some();
    let text = match ability
        .set_own_profile(profile.displayname.as_deref(), avatar)
        .await
    {
        Ok(()) => {
            info!(user = %sender, copied_avatar, "own profile copied to the IM side");
            match (&profile.displayname, copied_avatar) {
                (Some(name), true) => {
                    format!("Your IM nickname is now “{name}”, and your Matrix avatar is your IM avatar.")
                }
                (Some(name), false) => format!("Your IM nickname is now “{name}”."),
                (None, _) => "Your Matrix avatar is now your IM avatar.".to_owned(),
            }
        }
        Err(e) => format!("The IM service did not take your profile: {e}."),
    };
    reply(ctx, room, &text).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn avatar_names_follow_the_type() {
        assert_eq!(super::avatar_name("image/png"), "avatar.png");
        assert_eq!(super::avatar_name("image/jpeg"), "avatar.jpg");
    }
}
