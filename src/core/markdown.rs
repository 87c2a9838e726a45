//! The bridge bot's own messages, written in Markdown, as Matrix notices with both a plain
//! `body` and an HTML `formatted_body` (`org.matrix.custom.html`), so clients show `code` and
//! lists as formatting instead of literal marks. Raw HTML inside the text is never passed
//! through: it is escaped like any other text (the texts can quote user and server input).

use pulldown_cmark::{html, Event, Options, Parser};
use serde_json::{json, Value};

/// `m.notice` content for Markdown `text`: `body` is the text as written; `formatted_body` its
/// HTML rendering (only when the rendering is more than one plain paragraph).
pub fn notice(text: &str) -> Value {
    let html = render(text);
    let plain_paragraph = html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>\n"))
        .is_some_and(|inner| !inner.contains('<') && !inner.contains('&'));
    if plain_paragraph {
        json!({ "msgtype": "m.notice", "body": text })
    } else {
        json!({
            "msgtype": "m.notice",
            "body": text,
            "format": "org.matrix.custom.html",
            "formatted_body": html.trim_end(),
        })
    }
}

/// Markdown → HTML, with raw HTML in the input turned into escaped text.
pub fn render(text: &str) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_lists_become_html() {
        let c = notice("Send `login` to log in.\n\n* `help`\n* `logout`");
        assert_eq!(c["format"], "org.matrix.custom.html");
        let html = c["formatted_body"].as_str().unwrap_or_default();
        assert!(html.contains("<code>login</code>"), "{html}");
        assert!(html.contains("<li><code>help</code></li>"), "{html}");
        assert_eq!(c["body"], "Send `login` to log in.\n\n* `help`\n* `logout`");
    }

    #[test]
    fn plain_text_has_no_html() {
        let c = notice("Logged out.");
        assert_eq!(c, json!({"msgtype": "m.notice", "body": "Logged out."}));
    }

    #[test]
    fn raw_html_is_escaped() {
        let c = notice("Login failed: <script>alert(1)</script> *x*");
        let html = c["formatted_body"].as_str().unwrap_or_default();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
