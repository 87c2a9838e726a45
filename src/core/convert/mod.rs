//! Text conversion between Matrix and the networks. Pure functions, no I/O:
//!
//! - [`html_to_text`]: Matrix HTML → plain text, links, lists and quotes kept readable,
//!   user pills resolved to remote ids (module `html`);
//! - [`strip_reply_fallback`]: the `> <@user:server> …` quote a reply's plain body starts with;
//! - [`text_content`], [`text_with_mentions`], [`notice_content`]: Matrix content for remote
//!   text, with `m.mentions` and pills; [`matrix_mentions`] reads `m.mentions` back (module
//!   `mentions`);
//! - [`normalize_reaction_key`]: one key per emoji whichever way it was written (module
//!   `reactions`);
//! - [`split_text`]: long text in parts that fit a network's limit (module `split`);
//! - [`matrix_text_content`]: Matrix text content → the network's text with its mentions
//!   (module `matrix_text`).

use serde_json::{json, Value};

mod html;
mod matrix_text;
mod mentions;
mod reactions;
mod reply;
mod split;

pub use html::html_to_text;
pub use matrix_text::matrix_text_content;
pub use mentions::{matrix_mentions, text_with_mentions, Mention};
pub use reactions::normalize_reaction_key;
pub use reply::strip_reply_fallback;
pub use split::split_text;

/// Escapes text for HTML (`&`, `<`, `>`, `"` and `'`), for both text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One entity's character: `entity` is what stands between `&` and `;`.
fn decode_entity(entity: &str) -> Option<char> {
    match entity {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let num = entity.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// `text` with its character references decoded; unknown or unterminated ones stay as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chunk = text;
    while let Some(amp) = chunk.find('&') {
        out.push_str(&chunk[..amp]);
        let after = &chunk[amp + 1..];
        let decoded = after
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| Some((decode_entity(&after[..semi])?, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                chunk = &after[semi + 1..];
            }
            None => {
                out.push('&');
                chunk = after;
            }
        }
    }
    out.push_str(chunk);
    out
}

/// `m.text` content for remote text: `body` as given, plus `format`/`formatted_body` when
/// `html` is given (already HTML, used as is).
pub fn text_content(body: &str, html: Option<&str>) -> Value {
    match html {
        Some(h) => json!({
            "msgtype": "m.text", "body": body, "format": "org.matrix.custom.html", "formatted_body": h
        }),
        None => json!({ "msgtype": "m.text", "body": body }),
    }
}

/// An `m.notice` from the bridge, plain text.
pub fn notice_content(body: &str) -> Value {
    json!({ "msgtype": "m.notice", "body": body })
}

/// Adds a network message's extra fields ([`crate::core::connector::RemoteMessage::extra`])
/// to its Matrix `content`, called last: a key is taken only when it is namespaced (has a dot),
/// is not of the Matrix namespace (`m.…`) and is not set already, so no extra field can change
/// what the bridge or the spec gives the event (its body, relation, mentions, marks).
pub fn merge_extra(content: &mut Value, extra: &serde_json::Map<String, Value>) {
    let Some(fields) = content.as_object_mut() else {
        return;
    };
    for (key, value) in extra {
        if key.contains('.') && !key.starts_with("m.") && !fields.contains_key(key) {
            fields.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_never_replace_what_the_event_has() {
        let mut content = json!({"msgtype": "m.text", "body": "hi", "net.imbridge.remote_id": "1"});
        let extra = json!({
            "body": "spoofed", "m.relates_to": {"rel_type": "m.replace"},
            "net.imbridge.remote_id": "2", "net.imbridge.jmessage.extras": {"k": 1},
        });
        let Value::Object(extra) = extra else {
            unreachable!("an object literal")
        };
        merge_extra(&mut content, &extra);
        assert_eq!(
            content,
            json!({"msgtype": "m.text", "body": "hi", "net.imbridge.remote_id": "1",
                "net.imbridge.jmessage.extras": {"k": 1}})
        );
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape_html("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(decode_entities("a&amp;b&lt;&#33;&#x41;"), "a&b<!A");
        assert_eq!(
            decode_entities("&unknown; & &#xZZ; &#1114112;"),
            "&unknown; & &#xZZ; &#1114112;"
        );
        assert_eq!(decode_entities("tail &amp"), "tail &amp");
    }

    #[test]
    fn text_and_notice_content() {
        assert_eq!(
            text_content("hi", None),
            json!({"msgtype": "m.text", "body": "hi"})
        );
        assert_eq!(
            text_content("hi", Some("<b>hi</b>"))["formatted_body"],
            "<b>hi</b>"
        );
        assert_eq!(notice_content("n")["msgtype"], "m.notice");
    }
}
