//! User profiles in the session: the `ProfileDataMod` push (a profile changed: the user's
//! own, set on another instance, or a friend's) read into [`ProfileChanged`], and the bodies
//! of `profile.portrait_get_all` (the SDK's `getUserProfile`) and `profile.portrait_set`
//! (`updateMyProfile`) with their replies. Shapes: `@tencentcloud/chat` 3.6.6 keyMaps
//! (`ProfileDataMod` → `profileModify`, `Profile_Account` → `userID`, `ValueBytes` →
//! `value`) and the REST docs of `portrait_get` / `portrait_set`.

use serde_json::{json, Value};
use tracing::debug;

use super::{Session, SessionEvent};

/// `servcmd` of a profile read (`GET_USER_PROFILE`).
pub const PORTRAIT_GET_ALL: &str = super::super::wire::servcmd::PORTRAIT_GET_ALL;
/// `servcmd` of setting the user's own profile (`UPDATE_MY_PROFILE`).
pub const PORTRAIT_SET: &str = "profile.portrait_set";
/// The nickname tag.
pub const TAG_NICK: &str = "Tag_Profile_IM_Nick";
/// The avatar URL tag.
pub const TAG_IMAGE: &str = "Tag_Profile_IM_Image";

/// A user's profile as read or pushed; `None` = not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// `Tag_Profile_IM_Nick`.
    pub nick: Option<String>,
    /// `Tag_Profile_IM_Image`: the avatar's URL.
    pub face_url: Option<String>,
}

/// A profile changed (`ProfileDataMod` item): only the tags it names are `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileChanged {
    /// `Profile_Account`.
    pub user: String,
    pub profile: Profile,
}

fn profile_of(items: Option<&Value>, value_key: &str) -> Profile {
    let mut p = Profile::default();
    for i in items.and_then(Value::as_array).into_iter().flatten() {
        let value = i
            .get(value_key)
            .or_else(|| i.get("Value"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match i.get("Tag").and_then(Value::as_str) {
            Some(TAG_NICK) => p.nick = value,
            Some(TAG_IMAGE) => p.face_url = value,
            _ => {}
        }
    }
    p
}

/// The `portrait_get_all` body asking for `user`'s nickname and avatar.
pub fn get_body(own: &str, user: &str) -> Value {
    json!({"From_Account": own, "UserItem": [{"To_Account": user, "StandardSequence": 0,
            "CustomSequence": 0}], "TagList": [TAG_NICK, TAG_IMAGE]})
}

/// The profile of `user` in a `portrait_get_all` reply; `None` when the reply does not list
/// it or lists it with a non-zero `ResultCode` (no such account).
pub fn parse_get_reply(reply: &Value, user: &str) -> Option<Profile> {
    reply
        .get("UserProfileItem")
        .and_then(Value::as_array)?
        .iter()
        .find(|i| i.get("To_Account").and_then(Value::as_str) == Some(user))
        .filter(|i| i.get("ResultCode").and_then(Value::as_i64).unwrap_or(0) == 0)
        .map(|i| profile_of(i.get("ProfileItem"), "Value"))
}

/// The `portrait_set` body setting `nick` (and the avatar URL `face_url`) of `own`.
pub fn set_body(own: &str, nick: Option<&str>, face_url: Option<&str>) -> Value {
    let mut items = Vec::new();
    if let Some(n) = nick {
        items.push(json!({"Tag": TAG_NICK, "Value": n}));
    }
    if let Some(f) = face_url {
        items.push(json!({"Tag": TAG_IMAGE, "Value": f}));
    }
    json!({"From_Account": own, "ProfileItem": items})
}

impl Session {
    /// The profile part of one `eventArray` item: `ProfileDataMod`.
    pub(super) fn on_profile_event(&mut self, ev: &Value) {
        for item in ev
            .get("ProfileDataMod")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let user = item
                .get("Profile_Account")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if user.is_empty() {
                debug!("tencent: ProfileDataMod item without an account skipped");
                continue;
            }
            let profile = profile_of(item.get("ProfileList"), "ValueBytes");
            self.delivered += 1;
            self.event(SessionEvent::ProfileChanged(ProfileChanged {
                user: user.to_owned(),
                profile,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_pushes_read_the_nick_and_avatar_tags() {
        let reply = json!({"UserProfileItem": [
            {"To_Account": "bob", "ResultCode": 0, "ProfileItem": [
                {"Tag": TAG_NICK, "Value": "Bob B."}, {"Tag": "Tag_Profile_IM_Gender", "Value": "x"}]},
            {"To_Account": "ghost", "ResultCode": 70107, "ProfileItem": []}]});
        assert_eq!(
            parse_get_reply(&reply, "bob"),
            Some(Profile {
                nick: Some("Bob B.".into()),
                face_url: None
            })
        );
        assert_eq!(parse_get_reply(&reply, "ghost"), None);
        assert_eq!(parse_get_reply(&reply, "carol"), None);
        assert_eq!(parse_get_reply(&json!("junk"), "bob"), None);
        let set = set_body("alice", Some("Alice"), None);
        assert_eq!(
            set["ProfileItem"],
            json!([{"Tag": TAG_NICK, "Value": "Alice"}])
        );
        let pushed = profile_of(
            Some(&json!([{"Tag": TAG_IMAGE, "ValueBytes": "https://x/a.png"}])),
            "ValueBytes",
        );
        assert_eq!(pushed.face_url.as_deref(), Some("https://x/a.png"));
        assert_eq!(pushed.nick, None);
    }
}
