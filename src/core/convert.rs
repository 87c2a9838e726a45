//! Text conversion between Matrix and the networks: Matrix HTML → plain text with mentions
//! resolved to remote ids, remote text → Matrix `m.text` content (HTML escaped), and the
//! content of notices and "unsupported" placeholders. Pure functions, no I/O.

use serde_json::{json, Value};

/// Escapes text for HTML.
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

/// A Matrix HTML body as plain text for the network. `mention` maps a mentioned MXID
/// (from a `https://matrix.to/#/@user:server` link) to the text to put instead, e.g.
/// `@bob` for a ghost; `None` keeps the link text. Replies' `<mx-reply>` fallback is dropped.
pub fn html_to_text(html: &str, mention: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut mentioned = Vec::new();
    let mut rest = html;
    let mut skip_depth = 0usize; // inside <mx-reply>
    let mut link: Option<(String, usize)> = None; // (mxid, output position at link start)
    while !rest.is_empty() {
        if let Some(after_lt) = rest.strip_prefix('<') {
            let end = after_lt.find('>').unwrap_or(after_lt.len());
            let tag = &after_lt[..end];
            rest = after_lt.get(end + 1..).unwrap_or("");
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase();
            match (name.as_str(), closing) {
                ("mx-reply", false) => skip_depth += 1,
                ("mx-reply", true) => skip_depth = skip_depth.saturating_sub(1),
                _ if skip_depth > 0 => {}
                ("br", _) => out.push('\n'),
                (
                    "p" | "div" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote"
                    | "pre",
                    true,
                ) if !out.ends_with('\n') => out.push('\n'),
                ("li", false) => out.push_str("• "),
                ("a", false) => {
                    let mxid = tag
                        .split("href=")
                        .nth(1)
                        .map(|h| h.trim_start_matches(['"', '\'']))
                        .and_then(|h| h.split(['"', '\'']).next())
                        .and_then(|h| h.strip_prefix("https://matrix.to/#/"))
                        .map(|id| {
                            id.split('?')
                                .next()
                                .unwrap_or(id)
                                .replace("%40", "@")
                                .replace("%3A", ":")
                        })
                        .filter(|id| id.starts_with('@'));
                    link = mxid.map(|m| (m, out.len()));
                }
                ("a", true) => {
                    if let Some((mxid, start)) = link.take() {
                        if let Some(replacement) = mention(&mxid) {
                            out.truncate(start);
                            out.push_str(&replacement);
                            mentioned.push(mxid);
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..next];
        rest = &rest[next..];
        if skip_depth > 0 {
            continue;
        }
        let mut chunk = text;
        while let Some(amp) = chunk.find('&') {
            out.push_str(&chunk[..amp]);
            let after = &chunk[amp + 1..];
            match after.find(';').filter(|&semi| semi <= 10) {
                Some(semi) => match decode_entity(&after[..semi]) {
                    Some(c) => {
                        out.push(c);
                        chunk = &after[semi + 1..];
                    }
                    None => {
                        out.push('&');
                        chunk = after;
                    }
                },
                None => {
                    out.push('&');
                    chunk = after;
                }
            }
        }
        out.push_str(chunk);
    }
    (out.trim_end_matches('\n').to_owned(), mentioned)
}

/// Strips the `> <@user> quoted` fallback lines a reply's plain body starts with.
pub fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    let mut rest = body;
    while let Some(line_end) = rest.find('\n') {
        if !rest.starts_with("> ") && !rest.starts_with('>') {
            break;
        }
        rest = &rest[line_end + 1..];
    }
    rest.trim_start_matches('\n')
}

/// `m.text` content for remote text (escaped HTML only when it has line breaks or was
/// formatted, so clients show it faithfully).
pub fn text_content(body: &str, html: Option<&str>) -> Value {
    match html {
        Some(h) => json!({
            "msgtype": "m.text", "body": body, "format": "org.matrix.custom.html", "formatted_body": h
        }),
        None => json!({ "msgtype": "m.text", "body": body }),
    }
}

/// An `m.notice` from the bridge.
pub fn notice_content(body: &str) -> Value {
    json!({ "msgtype": "m.notice", "body": body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_mentions(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn strips_tags_and_decodes_entities() {
        let (t, _) = html_to_text(
            "<b>bold</b> &amp; <i>it</i>&lt;3<br>next&#33;",
            &no_mentions,
        );
        assert_eq!(t, "bold & it<3\nnext!");
    }

    #[test]
    fn resolves_mentions_of_ghosts() {
        let html =
            r#"hi <a href="https://matrix.to/#/@easemob_bob:example.org">Bob (Easemob)</a>!"#;
        let (t, m) = html_to_text(html, &|mxid| {
            mxid.strip_prefix("@easemob_")
                .and_then(|r| r.split(':').next())
                .map(|id| format!("@{id}"))
        });
        assert_eq!(t, "hi @bob!");
        assert_eq!(m, vec!["@easemob_bob:example.org"]);
    }

    #[test]
    fn drops_reply_fallback() {
        let (t, _) = html_to_text(
            "<mx-reply><blockquote>old</blockquote></mx-reply>new",
            &no_mentions,
        );
        assert_eq!(t, "new");
        assert_eq!(strip_reply_fallback("> <@a:b> old\n> more\n\nnew"), "new");
    }

    #[test]
    fn malformed_html_does_not_panic() {
        for input in [
            "<",
            "<a href=",
            "&",
            "&#xZZZ;",
            "<mx-reply>",
            "</mx-reply></a>",
            "a<b",
            "&#1114112;",
        ] {
            let _ = html_to_text(input, &no_mentions);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_html_never_panics(input in ".{0,200}", tags in "[<>&;#a-z/ =\"'@:]{0,80}") {
            let mixed = format!("{input}{tags}{input}");
            let _ = html_to_text(&mixed, &|m: &str| Some(m.to_owned()));
            let _ = strip_reply_fallback(&mixed);
        }
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape_html("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
