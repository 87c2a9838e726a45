//! Tests of the HTML → text conversion (`html.rs`).

use super::*;
use crate::core::convert::escape_html;

fn no_mentions(_: &str) -> Option<String> {
    None
}

fn text(html: &str) -> String {
    html_to_text(html, &no_mentions).0
}

fn ghosts(mxid: &str) -> Option<String> {
    mxid.strip_prefix("@easemob_")
        .and_then(|r| r.split(':').next())
        .map(|id| format!("@{id}"))
}

#[test]
fn strips_tags_and_decodes_entities() {
    assert_eq!(
        text("<b>bold</b> &amp; <i>it</i>&lt;3<br>next&#33;"),
        "bold & it<3\nnext!"
    );
    assert_eq!(
        text("<del>gone</del> <strike>x</strike><s>y</s>"),
        "gone xy"
    );
    assert_eq!(text("a < b and c<3"), "a < b and c<3");
}

#[test]
fn resolves_mentions_of_ghosts() {
    let html = r#"hi <a href="https://matrix.to/#/@easemob_bob:example.org">Bob (Easemob)</a>!"#;
    let (t, m) = html_to_text(html, &ghosts);
    assert_eq!(t, "hi @bob!");
    assert_eq!(m, vec!["@easemob_bob:example.org"]);
}

#[test]
fn resolves_msc2312_and_encoded_pills() {
    for href in [
        "matrix:u/easemob_bob:example.org",
        "matrix:u/easemob_bob:example.org?action=chat",
        "MATRIX:user/easemob_bob:example.org",
        "https://matrix.to/#/%40easemob_bob%3Aexample.org?via=example.org",
        "https://matrix.to/#/@easemob_bob:example.org",
    ] {
        let html = format!(r#"<p>hi <a href="{href}">Bob</a></p>"#);
        let (t, m) = html_to_text(&html, &ghosts);
        assert_eq!(t, "hi @bob", "{href}");
        assert_eq!(m, vec!["@easemob_bob:example.org"], "{href}");
    }
    // A Matrix user that is no ghost keeps its label, without the matrix.to URL.
    let (t, m) = html_to_text(
        r#"<a href="https://matrix.to/#/@alice:example.org">Alice</a>: hi"#,
        &ghosts,
    );
    assert_eq!((t.as_str(), m.len()), ("Alice: hi", 0));
    // @room stays text; the callback is not asked about it.
    let (t, _) = html_to_text("@room meeting now", &|m: &str| {
        panic!("asked about {m}");
    });
    assert_eq!(t, "@room meeting now");
}

#[test]
fn links_keep_their_target() {
    assert_eq!(
        text(r#"See the <a href="https://x.org/r">report</a>"#),
        "See the report (https://x.org/r)"
    );
    assert_eq!(
        text(r#"<a href="https://x.org/r">https://x.org/r</a>"#),
        "https://x.org/r"
    );
    assert_eq!(
        text(r#"<a href="https://example.org/">example.org</a>"#),
        "https://example.org/"
    );
    assert_eq!(
        text(r#"mail <a href="mailto:a@b.org">a@b.org</a>."#),
        "mail a@b.org."
    );
    assert_eq!(
        text(r#"<a href="https://x.org/?a=1&amp;b=2">q</a>"#),
        "q (https://x.org/?a=1&b=2)"
    );
    assert_eq!(
        text(r#"<a href='https://x.org/a>b'>l</a>"#),
        "l (https://x.org/a>b)"
    );
    assert_eq!(
        text(r#"a<a href="https://x.org"> <b>bold</b> label </a>b"#),
        "a bold label (https://x.org) b"
    );
    assert_eq!(text(r#"<a href="https://x.org"></a>"#), "https://x.org");
    assert_eq!(text(r##"<a href="#top">top</a>"##), "top");
    assert_eq!(text("<a>plain</a>"), "plain");
}

#[test]
fn lists_keep_numbers_and_bullets() {
    assert_eq!(text("<ol><li>a</li><li>b</li></ol>"), "1. a\n2. b");
    assert_eq!(
        text(r#"<ol start="3"><li>c</li><li>d</li></ol>"#),
        "3. c\n4. d"
    );
    assert_eq!(text("<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"), "• a\n• b");
    assert_eq!(
        text("<p>intro</p>\n<ol>\n<li>one\n<ul>\n<li>x</li>\n<li>y</li>\n</ul>\n</li>\n<li>two</li>\n</ol>\n<p>end</p>"),
        "intro\n\n1. one\n   • x\n   • y\n2. two\n\nend"
    );
    assert_eq!(text("<ul><li>a<br>b</li></ul>"), "• a\n  b");
    assert_eq!(text("<ul><li>a<li>b</ul>"), "• a\n• b");
    assert_eq!(text("<li>stray</li>"), "• stray");
}

#[test]
fn quotes_prefix_every_line() {
    assert_eq!(
        text("<blockquote>\n<p>a<br>b</p>\n</blockquote>\n<p>reply</p>"),
        "> a\n> b\n\nreply"
    );
    assert_eq!(
        text("<blockquote>\n<p>a</p>\n<blockquote>\n<p>b</p>\n</blockquote>\n</blockquote>"),
        "> a\n>\n> > b"
    );
    assert_eq!(
        text("<blockquote><p>a</p><p>b</p></blockquote>"),
        "> a\n>\n> b"
    );
    assert_eq!(
        text("before<blockquote>q</blockquote>after"),
        "before\n\n> q\n\nafter"
    );
}

#[test]
fn normalises_whitespace() {
    assert_eq!(text("<p>a</p>\n<p>b</p>\n"), "a\n\nb");
    assert_eq!(text("\n\n<p>  a \n b  </p>\n\n\n"), "a b");
    assert_eq!(text("a<br><br><br><br>b"), "a\n\nb");
    assert_eq!(text("a<br><br>b"), "a\n\nb");
    assert_eq!(text("<p></p><p>a</p><p></p><div></div><p>b</p>"), "a\n\nb");
    assert_eq!(text("<h1>Title</h1>\n<p>text</p>"), "Title\n\ntext");
    assert_eq!(text("a<hr>b"), "a\n\n---\n\nb");
}

#[test]
fn element_markdown_message() {
    let html = "<p>Hello <strong>world</strong></p>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n<ol>\n<li>one</li>\n<li><a href=\"https://a.b/c\">link</a> <code>x</code></li>\n</ol>\n<pre><code>code\n</code></pre>\n";
    assert_eq!(
        text(html),
        "Hello world\n\n> quoted\n\n1. one\n2. link (https://a.b/c) x\n\ncode"
    );
}

#[test]
fn keeps_pre_verbatim() {
    assert_eq!(
        text("<p>code:</p>\n<pre><code class=\"language-rust\">fn main() {\n    let x = 1;\n\n\n    x\n}\n</code></pre>\n<p>done</p>"),
        "code:\n\nfn main() {\n    let x = 1;\n\n\n    x\n}\n\ndone"
    );
    assert_eq!(text("<pre>\n  a  b</pre>"), "  a  b");
    assert_eq!(text("<blockquote><pre>a\nb</pre></blockquote>"), "> a\n> b");
}

#[test]
fn drops_reply_fallback_and_comments() {
    assert_eq!(
        text("<mx-reply><blockquote>old</blockquote></mx-reply>new"),
        "new"
    );
    assert_eq!(
        text("<mx-reply><blockquote><mx-reply>x</mx-reply>old</blockquote></mx-reply>new"),
        "new"
    );
    assert_eq!(text("a<!-- <b>hidden</b> -->b<style>p{}</style>"), "ab");
    assert_eq!(
        text(r#"<img data-mx-emoticon src="mxc://a/b" alt=":party:"> yay"#),
        ":party: yay"
    );
}

#[test]
fn malformed_html_does_not_panic() {
    for input in [
        "<",
        "<a href=",
        "<a href=\"",
        "<a href='x",
        "&",
        "&#xZZZ;",
        "<mx-reply>",
        "</mx-reply></a>",
        "a<b",
        "&#1114112;",
        "</ol></li></blockquote>",
        "<ol start=\"-9223372036854775808\"><li>a",
        "<ol start=\"9223372036854775807\"><li>a<li>b",
        "<a href=\"https://matrix.to/#/%\">x",
        "<a href=\"matrix:u/\">x",
        "<pre>\n",
        "<a href=\"matrix:u/é:é\">é</a>",
    ] {
        let _ = html_to_text(input, &|m: &str| Some(m.to_owned()));
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_html_never_panics(input in ".{0,200}", tags in "[<>&;#a-z/ =\"'@:]{0,80}") {
        let mixed = format!("{input}{tags}{input}");
        let _ = html_to_text(&mixed, &|m: &str| Some(m.to_owned()));
    }

    #[test]
    fn link_targets_survive(
        links in proptest::collection::vec(
            (
                "[a-zA-Z0-9 .,!\n<>&]{0,20}",
                0usize..8,
                "[a-zA-Z0-9/_.~&=?%-]{0,20}",
                "[a-zA-Z0-9 <>&\n]{0,15}",
            ),
            1..5,
        )
    ) {
        const WRAP: [(&str, &str); 8] = [
            ("", ""),
            ("<b>", "</b>"),
            ("<p>", "</p>\n"),
            ("<ul><li>", "</li></ul>"),
            ("<blockquote>\n<p>", "</p>\n</blockquote>"),
            ("<ol start=\"7\"><li><em>", "</em></li></ol>"),
            ("<pre><code>", "</code></pre>"),
            ("<h2>", "</h2><br><br>"),
        ];
        let mut html = String::new();
        let mut urls = Vec::new();
        for (before, wrap, path, label) in &links {
            let (open, close) = WRAP[*wrap];
            let url = format!("https://example.org/{path}");
            html.push_str(&escape_html(before));
            html.push_str(open);
            html.push_str(&format!(r#"<a href="{}">{}</a>"#, escape_html(&url), escape_html(label)));
            html.push_str(close);
            urls.push(url);
        }
        let (out, _) = html_to_text(&html, &no_mentions);
        for url in urls {
            proptest::prop_assert!(out.contains(&url), "{url} missing from {out:?} (html {html:?})");
        }
    }
}

/// Found with the `html_to_text` fuzz target (a hand-made input): thousands of nested quotes or list items around
/// thousands of line breaks repeated the whole nesting on every line (a 62 KB event gave
/// ~32 MB of text). The prefix is now bounded.
#[test]
fn deep_nesting_does_not_multiply_the_text() {
    for (open, close) in [
        ("<blockquote>", "</blockquote>"),
        ("<ul><li>", "</li></ul>"),
    ] {
        let mut html = open.repeat(2700);
        html.push_str(&"x<br>".repeat(6000));
        html.push_str(&close.repeat(2700));
        let started = std::time::Instant::now();
        let out = text(&html);
        assert!(out.len() < 6000 * 80, "{} bytes", out.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let first = out.lines().next().unwrap_or_default();
        assert!(first.ends_with('x') && first.len() <= 65, "{first:?}");
    }
    // Shallow nesting is unchanged.
    assert_eq!(
        text("<blockquote><blockquote>a<br>b</blockquote></blockquote>"),
        "> > a\n> > b"
    );
}
