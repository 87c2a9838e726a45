//! Tencent user profiles on the core's contract: a ghost's name and avatar from
//! `profile.portrait_get_all` (nickname, else the user id; the avatar URL as given), a
//! pushed change (`ProfileDataMod`) as [`RemoteEvent::ProfileChange`], and the user's own
//! nickname and avatar set from Matrix (`sync-profile`) with `profile.portrait_set`
//! ([`OwnProfileAbility`]; the avatar uploaded as an image first, its URL as
//! `Tag_Profile_IM_Image`, as a TUIKit app sets an uploaded avatar). Wire shapes: [`crate::network::tencent::session::profile`].

use async_trait::async_trait;

use super::{send_failure, TencentLogin};
use crate::core::connector::{
    AvatarImage, OwnProfileAbility, RemoteEvent, SendFailure, UserProfile,
};
use crate::network::tencent::cos::{FileType, MediaError};
use crate::network::tencent::session::profile::{
    get_body, parse_get_reply, set_body, Profile, ProfileChanged, PORTRAIT_GET_ALL, PORTRAIT_SET,
};

/// The core's profile of `user` from a Tencent one: the nickname when set, else the id.
fn user_profile_of(user: &str, p: Profile) -> UserProfile {
    UserProfile {
        name: Some(
            p.nick
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| user.to_owned()),
        ),
        avatar_url: p.face_url.filter(|f| !f.is_empty()),
    }
}

/// A pushed change as the core's event; the tags it does not name are left as they are
/// (a cleared nickname falls back to the id).
pub fn translate_changed(c: &ProfileChanged) -> RemoteEvent {
    RemoteEvent::ProfileChange {
        user: c.user.clone(),
        profile: UserProfile {
            name: c.profile.nick.as_ref().map(|n| {
                if n.is_empty() {
                    c.user.clone()
                } else {
                    n.clone()
                }
            }),
            avatar_url: c.profile.face_url.clone(),
        },
    }
}

/// `portrait_get_all` of `user`; an account the service does not know is a permanent
/// failure.
pub async fn user_profile(login: &TencentLogin, user: &str) -> Result<UserProfile, SendFailure> {
    let reply = login
        .client
        .call(PORTRAIT_GET_ALL, get_body(&login.own, user))
        .await
        .map_err(send_failure)?;
    parse_get_reply(&reply, user)
        .map(|p| user_profile_of(user, p))
        .ok_or_else(|| SendFailure::Permanent(format!("Tencent Cloud Chat has no user {user}")))
}

#[async_trait]
impl OwnProfileAbility for TencentLogin {
    /// `portrait_set` of the nickname and the avatar: a Tencent avatar is the URL of an
    /// uploaded image (`Tag_Profile_IM_Image`), so the avatar is uploaded first
    /// ([`crate::network::tencent::cos`], as an image of a one-to-one chat).
    async fn set_own_profile(
        &self,
        name: Option<&str>,
        avatar: Option<AvatarImage>,
    ) -> Result<(), SendFailure> {
        let face_url = match avatar {
            None => None,
            Some(a) => {
                if a.data.len() as u64 > super::media::MAX_MEDIA_BYTES {
                    return Err(super::media::media_failure(MediaError::TooLarge(
                        super::media::MAX_MEDIA_BYTES,
                    )));
                }
                let up = self
                    .client
                    .upload(false, FileType::Image, &a.name, a.data)
                    .await
                    .map_err(super::media::media_failure)?;
                Some(up.url)
            }
        };
        if name.is_some() || face_url.is_some() {
            self.client
                .call(PORTRAIT_SET, set_body(&self.own, name, face_url.as_deref()))
                .await
                .map_err(send_failure)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_name_ghosts_and_the_id_stands_in_for_none() {
        let p = user_profile_of(
            "bob",
            Profile {
                nick: Some("Bob B.".into()),
                face_url: Some(String::new()),
            },
        );
        assert_eq!(p.name.as_deref(), Some("Bob B."));
        assert_eq!(p.avatar_url, None);
        let p = user_profile_of("bob", Profile::default());
        assert_eq!(p.name.as_deref(), Some("bob"));
        let e = translate_changed(&ProfileChanged {
            user: "bob".into(),
            profile: Profile {
                nick: Some(String::new()),
                face_url: None,
            },
        });
        assert_eq!(
            e,
            RemoteEvent::ProfileChange {
                user: "bob".into(),
                profile: UserProfile {
                    name: Some("bob".into()),
                    avatar_url: None
                }
            }
        );
    }
}
