//! Users across apps: how one JMessage user names a user of another app ("跨应用", the
//! `appkey` beside `username` in `s_across_single_text`, `add_across_group_member`,
//! `get_across_user_info`, `receipt_report` and the pushes).
//!
//! A user of the viewer's own app is named by the bare username (`bob`); a user of app `K`
//! is named `bob/K`. The separator cannot be part of a username: the IM REST v1 register call
//! ("注册用户", `jpush-docs` `zh/JMessage/docs/server/rest_api_im.md`) allows only letters,
//! digits, `_`, `.`, `-` and `@`, starting with a letter or digit, 4 to 128 bytes. Both the
//! connector (remote user ids, so `bob` of two apps are two ghosts) and the sandbox (a group
//! or ledger of one app holding another app's user) use this naming.

/// Between the username and the appkey of a user of another app.
pub const SEPARATOR: char = '/';

/// Whether `name` keeps the register rules' characters (see the module docs): the sandbox
/// refuses other names, so no registered name holds [`SEPARATOR`]. The length rule is not
/// checked (at most 128 bytes is; the 4-byte minimum is not, for short names in tests).
pub fn valid_username(name: &str) -> bool {
    name.len() <= 128
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@'))
}

/// How a viewer of app `own_app` names `username` of app `appkey` (`None` or empty: the
/// viewer's app).
pub fn name(username: &str, appkey: Option<&str>, own_app: &str) -> String {
    match appkey {
        Some(k) if !k.is_empty() && k != own_app => format!("{username}{SEPARATOR}{k}"),
        _ => username.to_owned(),
    }
}

/// A name from [`name`] back into `(username, appkey)`, the appkey `own_app` for a bare name.
pub fn split<'a>(name: &'a str, own_app: &'a str) -> (&'a str, &'a str) {
    match name.split_once(SEPARATOR) {
        Some((user, app)) if !app.is_empty() => (user, app),
        _ => (name, own_app),
    }
}

/// The `{username, appkey}` object the wire uses for the user named `name` by a viewer of
/// `own_app`.
pub fn to_json(name: &str, own_app: &str) -> serde_json::Value {
    let (username, appkey) = split(name, own_app);
    serde_json::json!({ "username": username, "appkey": appkey })
}

/// A `{username, appkey?}` object (or a bare username string, as the SDK also takes) named as
/// a viewer of `own_app` names it; `None` without a username.
pub fn from_json(v: &serde_json::Value, own_app: &str) -> Option<String> {
    let username = v.as_str().or_else(|| v["username"].as_str())?;
    if username.is_empty() {
        return None;
    }
    Some(name(username, v["appkey"].as_str(), own_app))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_own_app_users_stay_bare() {
        assert_eq!(name("bob", Some("appA"), "appA"), "bob");
        assert_eq!(name("bob", None, "appA"), "bob");
        assert_eq!(name("bob", Some(""), "appA"), "bob");
        assert_eq!(name("bob", Some("appB"), "appA"), "bob/appB");
        assert_eq!(split("bob/appB", "appA"), ("bob", "appB"));
        assert_eq!(split("bob", "appA"), ("bob", "appA"));
        assert_eq!(split("bob/", "appA"), ("bob/", "appA"));
        assert_eq!(
            to_json("bob/appB", "appA"),
            json!({"username": "bob", "appkey": "appB"})
        );
        assert_eq!(
            from_json(&json!({"username": "bob", "appkey": "appB"}), "appA").as_deref(),
            Some("bob/appB")
        );
        assert_eq!(from_json(&json!("bob"), "appA").as_deref(), Some("bob"));
        assert_eq!(from_json(&json!({"username": ""}), "appA"), None);
    }

    #[test]
    fn usernames_follow_the_register_rules() {
        for ok in ["bob", "dev_fang", "a.b-c@d", "1234"] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in ["", "_bob", "bob/app", "bo b", "名字名字", &"x".repeat(129)] {
            assert!(!valid_username(bad), "{bad}");
        }
    }
}
