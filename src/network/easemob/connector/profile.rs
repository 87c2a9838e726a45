//! The logged-in user's own profile (the core's `OwnProfileAbility`): the avatar is uploaded
//! to the user's chat files (`POST /chatfiles`), and the nickname and that file's URL are set
//! with `PUT /metadata/user/{me}` (form-urlencoded, the SDK's `updateOwnUserInfo` with the
//! `nickname` and `avatarurl` keys). Other users read them with `fetchUserInfoById`, which
//! is where the bridge's ghosts take theirs from.

use async_trait::async_trait;

use super::group_admin::admin_failure;
use super::EasemobLogin;
use crate::core::connector::{AvatarImage, OwnProfileAbility, SendFailure};
use crate::network::easemob::jid::ChatType;

#[async_trait]
impl OwnProfileAbility for EasemobLogin {
    async fn set_own_profile(
        &self,
        name: Option<&str>,
        avatar: Option<AvatarImage>,
    ) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        let avatar_url = match avatar {
            Some(image) => Some(
                rest.upload(
                    ChatType::Single,
                    &self.own,
                    &image.name,
                    &image.mime,
                    image.data,
                )
                .await
                .map_err(admin_failure)?
                .url,
            ),
            None => None,
        };
        if name.is_none() && avatar_url.is_none() {
            return Ok(());
        }
        rest.set_own_info(name, avatar_url.as_deref())
            .await
            .map_err(admin_failure)
    }
}
