//! Profiles in the session: a user's info (`get_across_user_info`, the SDK's `getUserInfo`)
//! and changing our own (`update_self_info`, the SDK's `updateSelfInfo` /
//! `updateSelfAvatar`).

use std::time::Instant;

use serde_json::{json, Value};

use super::{SendError, Session};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::event;

/// A user's profile as `get_across_user_info` answers it (`user_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    /// The display name; `None` when unset or empty.
    pub nickname: Option<String>,
    /// The avatar's `media_id` (fetched with `get_resource`); `None` when unset or empty.
    pub avatar: Option<String>,
}

impl UserInfo {
    /// Reads a `user_info` object as a user of app `own_app` sees it (`username` named as
    /// [`across`] does); `None` without a `username`.
    pub fn from_value(v: &Value, own_app: &str) -> Option<Self> {
        let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        text("username")?;
        Some(Self {
            username: across::from_json(v, own_app)?,
            nickname: text("nickname"),
            avatar: text("avatar"),
        })
    }
}

impl Session {
    /// `get_across_user_info {username, appkey}` of `username` (named as [`across`] does)
    /// → `{user_info}` ([`UserInfo::from_value`]); 880103 when there is no such user.
    pub fn user_info(&mut self, username: &str, now: Instant) -> Result<u64, SendError> {
        let data = across::to_json(username, &self.cfg.app_key);
        self.call(event::GET_ACROSS_USER_INFO, data, now)
    }

    /// `update_self_info` with the fields given (`nickname`, and `avatar`: a media_id of an
    /// `image` upload).
    pub fn update_self_info(
        &mut self,
        nickname: Option<&str>,
        avatar: Option<&str>,
        now: Instant,
    ) -> Result<u64, SendError> {
        let mut data = json!({});
        if let Some(n) = nickname {
            data["nickname"] = json!(n);
        }
        if let Some(a) = avatar {
            data["avatar"] = json!(a);
        }
        self.call(event::UPDATE_SELF_INFO, data, now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::super::tests::{drain, logged_in};
    use super::*;

    #[test]
    fn profile_calls_are_built_as_the_sdk_builds_them_and_read_leniently() {
        let now = Instant::now();
        let mut s = logged_in(now);
        s.user_info("bob", now).unwrap();
        s.update_self_info(Some("Alice A."), None, now).unwrap();
        let (sent, _, _) = drain(&mut s);
        assert_eq!(sent[0].0, "get_across_user_info");
        assert_eq!(sent[0].1["username"], "bob");
        assert_eq!(sent[0].1["appkey"], "appkey");
        assert_eq!(sent[1].0, "update_self_info");
        assert_eq!(sent[1].1["nickname"], "Alice A.");
        assert!(sent[1].1.get("avatar").is_none());
        let info = UserInfo::from_value(
            &json!({"username": "bob", "nickname": "Bobby",
            "avatar": "", "gender": 0}),
            "k",
        )
        .expect("read");
        assert_eq!(info.nickname.as_deref(), Some("Bobby"));
        assert_eq!(info.avatar, None);
        assert_eq!(UserInfo::from_value(&json!({"nickname": "x"}), "k"), None);
        assert_eq!(UserInfo::from_value(&json!(3), "k"), None);
    }
}
