//! The sandbox's profiles: `get_across_user_info {username, appkey}` → `{user_info:
//! {username, appkey, nickname, avatar, signature, gender, region, address, birthday, mtime}}`
//! (the fields the Web SDK 2.5.0 hands to `getUserInfo`'s caller, `uid` removed as the SDK
//! does; 880103 for an unknown user), and `update_self_info {nickname?, signature?, avatar?}`
//! (the SDK's `updateSelfInfo`, and `updateSelfAvatar` with the `media_id` of an image upload).
//! A user's messages carry their profile's time as `content.sui_mtime` (seconds; made to
//! grow by at least 1 per change, so two changes within a second are told apart). In memory.

use serde_json::{json, Value};

use super::state::{now_ms, Sandbox};
use crate::network::jmessage::wire::{code, event};

/// The longest nickname taken, bytes (the service documents 64).
pub const MAX_NICKNAME_BYTES: usize = 64;

/// What a user set about themselves.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub nickname: String,
    pub avatar: String,
    pub signature: String,
    /// Seconds since the epoch of the last change.
    pub mtime: i64,
}

impl Sandbox {
    /// `username`'s profile (empty when never set); `None` for an unknown user.
    pub fn profile(&self, username: &str) -> Option<Profile> {
        if let super::apps::Whose::There(app, user) = self.whose(username) {
            return app.profile(user);
        }
        if !self.has_user(username) {
            return None;
        }
        let profiles = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        Some(profiles.get(username).cloned().unwrap_or_default())
    }

    /// The time of `username`'s profile (seconds), when they ever set one: their messages'
    /// `sui_mtime`.
    pub fn profile_mtime(&self, username: &str) -> Option<i64> {
        if let super::apps::Whose::There(app, user) = self.whose(username) {
            return app.profile_mtime(user);
        }
        let profiles = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        profiles.get(username).map(|p| p.mtime)
    }

    /// Changes `username`'s nickname / avatar / signature (the fields given).
    pub fn update_profile(
        &self,
        username: &str,
        nickname: Option<&str>,
        avatar: Option<&str>,
        signature: Option<&str>,
    ) {
        let mut profiles = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        let p = profiles.entry(username.to_owned()).or_default();
        if let Some(n) = nickname {
            p.nickname = n.to_owned();
        }
        if let Some(a) = avatar {
            p.avatar = a.to_owned();
        }
        if let Some(s) = signature {
            p.signature = s.to_owned();
        }
        p.mtime = (now_ms() / 1000).max(p.mtime + 1);
    }
}

/// Answers the profile calls of logged-in `user`; `None` for other events.
pub(super) fn handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    let invalid = || json!({"code": code::INVALID_PARAMETER, "message": "invalid parameter"});
    match name {
        event::GET_ACROSS_USER_INFO => {
            let Some(username) = data["username"].as_str().filter(|u| !u.is_empty()) else {
                return Some(invalid());
            };
            // A user of another app of the federation is looked up there.
            let appkey = data["appkey"]
                .as_str()
                .filter(|k| !k.is_empty())
                .unwrap_or(&sandbox.cfg.app_key);
            let named = sandbox.name_of(username, appkey);
            let Some(p) = sandbox.profile(&named) else {
                return Some(json!({"code": code::USER_NOT_EXIST, "message": "user not exist"}));
            };
            Some(json!({"code": 0, "message": "success", "user_info": {
                "username": username, "appkey": appkey, "nickname": p.nickname,
                "avatar": p.avatar, "signature": p.signature, "gender": 0, "region": "",
                "address": "", "birthday": "", "mtime": p.mtime,
            }}))
        }
        event::UPDATE_SELF_INFO => {
            let field = |k: &str| match &data[k] {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.as_str())),
                _ => Err(()),
            };
            let (Ok(nickname), Ok(avatar), Ok(signature)) =
                (field("nickname"), field("avatar"), field("signature"))
            else {
                return Some(invalid());
            };
            if nickname.is_some_and(|n| n.len() > MAX_NICKNAME_BYTES) {
                return Some(invalid());
            }
            if avatar.is_some_and(|a| !a.is_empty() && sandbox.media(a).is_none()) {
                return Some(invalid());
            }
            sandbox.update_profile(user, nickname, avatar, signature);
            Some(json!({"code": 0, "message": "success"}))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;

    #[test]
    fn profiles_are_set_by_their_owner_and_read_by_anyone() {
        let sb = Sandbox::new(SandboxConfig::new("appkey", "secret"));
        assert!(sb.register("bob", "pw"));
        let get = |u: &str| {
            handle(
                &sb,
                "alice",
                event::GET_ACROSS_USER_INFO,
                &json!({"username": u, "appkey": "appkey"}),
            )
            .expect("handled")
        };
        assert_eq!(get("bob")["user_info"]["nickname"], "");
        assert_eq!(get("nobody")["code"], code::USER_NOT_EXIST);
        let set = |d: Value| handle(&sb, "bob", event::UPDATE_SELF_INFO, &d).expect("handled");
        assert_eq!(set(json!({"nickname": "Bobby"}))["code"], 0);
        assert_eq!(get("bob")["user_info"]["nickname"], "Bobby");
        let first = sb.profile_mtime("bob").expect("a profile time");
        assert_eq!(set(json!({"signature": "hi"}))["code"], 0);
        assert!(
            sb.profile_mtime("bob").is_some_and(|t| t > first),
            "a change within the second still moves the time"
        );
        assert_eq!(sb.profile_mtime("alice"), None);
        assert_eq!(set(json!({"nickname": 5}))["code"], code::INVALID_PARAMETER);
        assert_eq!(
            set(json!({"avatar": "no/such/media"}))["code"],
            code::INVALID_PARAMETER
        );
        assert_eq!(
            set(json!({"nickname": "x".repeat(65)}))["code"],
            code::INVALID_PARAMETER
        );
        assert!(handle(&sb, "bob", "other", &json!({})).is_none());
        assert_eq!(
            get("bob")["user_info"]["nickname"],
            "Bobby",
            "refusals change nothing"
        );
    }
}
