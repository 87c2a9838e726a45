//! Mentions both ways: remote text with mentioned users → Matrix `m.text` with `m.mentions`
//! and pills; Matrix `m.mentions` → the users and `@room` flag to mention on the network.

use serde_json::{json, Value};

use super::{escape_html, text_content};

/// A user mentioned in a remote message, for [`text_with_mentions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The user's id on the network, as typed after `@` in the text (`bob`).
    pub remote_id: String,
    /// The Matrix user to mention: the ghost's or the puppeted user's MXID (`@easemob_bob:hs`).
    pub mxid: String,
    /// The name the pill shows (the ghost's display name); empty means `remote_id`.
    pub display_name: String,
}

/// `m.text` content for remote text that mentions users (and the room if `room`, for `@all`).
///
/// - `m.mentions` is always set: `{"user_ids": [...]}` with each distinct `mxid` of `mentions`
///   in order, plus `"room": true` when `room`. With no mention it is `{}`, so Matrix clients
///   do not guess mentions from display names in the text.
/// - With `html` (the network already sent formatted text) body and HTML are kept as given.
/// - Without, each `@remote_id` (or `@display_name`) in `body` of a mentioned user, at a word
///   start and end (`@bob` matches in `hi @bob!`, not in `@bobby` or `a@bob`), becomes a pill
///   `<a href="https://matrix.to/#/MXID">display name</a>` in `formatted_body`, the rest being
///   escaped with `\n` as `<br>`. The plain `body` gets the display name there, without `@`,
///   which is what Element itself puts in the body of a message with a pill, so both read the
///   same. Without any pill there is no `formatted_body`.
/// - `@all`-style text stays as written; only `room` sets the room mention.
pub fn text_with_mentions(
    body: &str,
    html: Option<&str>,
    mentions: &[Mention],
    room: bool,
) -> Value {
    let mut user_ids: Vec<&str> = Vec::new();
    for m in mentions {
        if !m.mxid.is_empty() && !user_ids.contains(&m.mxid.as_str()) {
            user_ids.push(&m.mxid);
        }
    }
    let mut m_mentions = json!({});
    if !user_ids.is_empty() {
        m_mentions["user_ids"] = json!(user_ids);
    }
    if room {
        m_mentions["room"] = json!(true);
    }
    let mut content = match html {
        Some(h) => text_content(body, Some(h)),
        None => {
            let (plain, formatted) = pillify(body, mentions);
            text_content(&plain, formatted.as_deref())
        }
    };
    content["m.mentions"] = m_mentions;
    content
}

/// The name a pill for `m` shows.
fn pill_name(m: &Mention) -> &str {
    [&m.display_name, &m.remote_id, &m.mxid]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or("", |s| s.as_str())
}

/// `body` with mentions as names, and as HTML with pills (`None` when nothing matched).
fn pillify(body: &str, mentions: &[Mention]) -> (String, Option<String>) {
    // What may follow `@`, longest first so `@bob.smith` wins over `@bob`.
    let mut needles: Vec<(&str, &Mention)> = mentions
        .iter()
        .filter(|m| !m.mxid.is_empty())
        .flat_map(|m| [(m.remote_id.as_str(), m), (m.display_name.as_str(), m)])
        .filter(|(n, _)| !n.is_empty())
        .collect();
    needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut plain = String::with_capacity(body.len());
    let mut html = String::with_capacity(body.len() + 64);
    let mut any = false;
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = body[i..].chars().next() {
        let at_word_start = !prev.is_some_and(is_word_char);
        let found = (c == '@' && at_word_start)
            .then(|| {
                let after_at = &body[i + 1..];
                needles.iter().find(|(needle, _)| {
                    after_at.starts_with(needle) && ends_word(&after_at[needle.len()..])
                })
            })
            .flatten();
        if let Some((needle, m)) = found {
            let name = pill_name(m);
            plain.push_str(name);
            html.push_str(&format!(
                r#"<a href="https://matrix.to/#/{}">{}</a>"#,
                escape_html(&m.mxid),
                escape_html(name)
            ));
            any = true;
            i += 1 + needle.len();
            prev = needle.chars().last();
            continue;
        }
        plain.push(c);
        match c {
            '\n' => html.push_str("<br>"),
            '\r' => {}
            _ => html.push_str(&escape_html(c.encode_utf8(&mut [0; 4]))),
        }
        prev = Some(c);
        i += c.len_utf8();
    }
    (plain, any.then_some(html))
}

/// Characters of a user id: a mention must not start or end next to one.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Whether a mention may end where `rest` starts (`.` ends it unless a word follows).
fn ends_word(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some('.') => !chars.next().is_some_and(is_word_char),
        Some(c) => !is_word_char(c),
    }
}

/// Who a Matrix message mentions, from its `m.mentions` (MSC3952): the distinct valid user ids
/// (`@local:server`) in order, and whether it mentions the whole room. Content without
/// `m.mentions` mentions nobody (the text is not searched). For an edit, pass the content
/// whose mentions should count (`m.new_content` for the full set).
pub fn matrix_mentions(content: &Value) -> (Vec<String>, bool) {
    let mentions = &content["m.mentions"];
    let mut users: Vec<String> = Vec::new();
    for id in mentions["user_ids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(id) = id.as_str() else { continue };
        let valid = id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty());
        if valid && !users.iter().any(|u| u == id) {
            users.push(id.to_owned());
        }
    }
    (users, mentions["room"].as_bool() == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> Mention {
        Mention {
            remote_id: "bob".into(),
            mxid: "@easemob_bob:example.org".into(),
            display_name: "Bob (Easemob)".into(),
        }
    }

    #[test]
    fn pills_mentioned_users() {
        let c = text_with_mentions("hi @bob!\n<3", None, &[bob()], false);
        assert_eq!(c["msgtype"], "m.text");
        assert_eq!(c["body"], "hi Bob (Easemob)!\n<3");
        assert_eq!(c["format"], "org.matrix.custom.html");
        assert_eq!(
            c["formatted_body"],
            r#"hi <a href="https://matrix.to/#/@easemob_bob:example.org">Bob (Easemob)</a>!<br>&lt;3"#
        );
        assert_eq!(
            c["m.mentions"],
            json!({"user_ids": ["@easemob_bob:example.org"]})
        );
    }

    #[test]
    fn matches_whole_ids_only() {
        for body in ["@bobby", "mail@bob", "@bob_x", "@bob.smith", "bob"] {
            let c = text_with_mentions(body, None, &[bob()], false);
            assert_eq!(c["body"], body);
            assert!(c.get("formatted_body").is_none(), "{body}");
            assert_eq!(c["m.mentions"]["user_ids"][0], "@easemob_bob:example.org");
        }
        let c = text_with_mentions("@bob. @bob, (@bob) @Bob (Easemob)", None, &[bob()], false);
        assert_eq!(
            c["body"],
            "Bob (Easemob). Bob (Easemob), (Bob (Easemob)) Bob (Easemob)"
        );
    }

    #[test]
    fn longest_id_wins_and_ids_are_deduplicated() {
        let bob_smith = Mention {
            remote_id: "bob.smith".into(),
            mxid: "@easemob_bob.smith:example.org".into(),
            display_name: String::new(),
        };
        let c = text_with_mentions("@bob.smith @bob", None, &[bob(), bob_smith, bob()], false);
        assert_eq!(c["body"], "bob.smith Bob (Easemob)");
        assert_eq!(
            c["m.mentions"]["user_ids"],
            json!(["@easemob_bob:example.org", "@easemob_bob.smith:example.org"])
        );
    }

    #[test]
    fn room_mentions_and_given_html() {
        let c = text_with_mentions("@all lunch", None, &[], true);
        assert_eq!(c["body"], "@all lunch");
        assert_eq!(c["m.mentions"], json!({"room": true}));
        assert!(c.get("formatted_body").is_none());

        let c = text_with_mentions("plain", None, &[], false);
        assert_eq!(c["m.mentions"], json!({}));

        let c = text_with_mentions("@bob <b>x</b>", Some("@bob <b>x</b>"), &[bob()], false);
        assert_eq!(c["formatted_body"], "@bob <b>x</b>");
        assert_eq!(c["body"], "@bob <b>x</b>");
        assert_eq!(c["m.mentions"]["user_ids"][0], "@easemob_bob:example.org");
    }

    #[test]
    fn escapes_names_and_ids() {
        let evil = Mention {
            remote_id: "x".into(),
            mxid: "@x\"<:hs".into(),
            display_name: "<b>&".into(),
        };
        let c = text_with_mentions("@x", None, &[evil], false);
        assert_eq!(
            c["formatted_body"],
            r#"<a href="https://matrix.to/#/@x&quot;&lt;:hs">&lt;b&gt;&amp;</a>"#
        );
        assert_eq!(c["body"], "<b>&");
    }

    #[test]
    fn reads_matrix_mentions() {
        let content = json!({
            "body": "hi",
            "m.mentions": {"user_ids": ["@a:hs", "@a:hs", "bad", 3, "@:hs", "@b:hs"], "room": true}
        });
        assert_eq!(
            matrix_mentions(&content),
            (vec!["@a:hs".to_owned(), "@b:hs".to_owned()], true)
        );
        assert_eq!(matrix_mentions(&json!({"body": "@room"})), (vec![], false));
        assert_eq!(
            matrix_mentions(&json!({"m.mentions": {"user_ids": "@a:hs", "room": "yes"}})),
            (vec![], false)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_text(body in "[@bob .\n<&é_-]{0,40}") {
            let c = text_with_mentions(&body, None, &[bob()], false);
            let plain = c["body"].as_str().unwrap_or_default().to_owned();
            proptest::prop_assert_eq!(plain.replace("Bob (Easemob)", "@bob"), body);
        }
    }
}
