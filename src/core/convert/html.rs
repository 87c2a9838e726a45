//! Matrix HTML (`formatted_body`, as Element makes it from markdown) → plain text for networks
//! without formatting. A small tolerant tokenizer, not a full HTML parser: what it does not
//! know it reads as text or skips, and it never panics.

use super::decode_entities;

/// Elements whose whole content is dropped (`<mx-reply>`: the reply fallback).
const SKIPPED: &[&str] = &["mx-reply", "script", "style"];

/// Marker of an unordered list item.
const BULLET: &str = "• ";

/// Longest line prefix (quote marks, list markers and indents) written, in bytes: deeper
/// nesting is not shown. Without a bound, a message nesting thousands of quotes or lists
/// around thousands of line breaks grows by its depth on every line (a 62 KB event became
/// ~32 MB of text; found running a hand-made input through the `html_to_text` fuzz target,
/// which then took 100 s and 500 MB on it).
const MAX_PREFIX: usize = 64;

/// A Matrix HTML body as plain text for the network, and the MXIDs of the pills `mention`
/// resolved (in order, repeats kept).
///
/// - User pills, `https://matrix.to/#/@user:server` and `matrix:u/user:server` (MSC2312,
///   `?action=chat` and other queries allowed), are replaced by `mention(mxid)`, e.g. `@bob`
///   for a ghost; `None` keeps the pill's label. `@room` is plain text and stays as it is.
/// - Other links keep their target: `<a href="https://x.org/r">report</a>` →
///   `report (https://x.org/r)`; the URL alone when the label is empty or is the URL (with or
///   without its scheme), the label alone for `mailto:` + label. Entities in `href` are decoded.
/// - Lists: `1. `, `2. `… (honouring `<ol start>`) and `• `; nested lists are indented by the
///   width of the parent's marker. Block quotes: every line prefixed `> ` (`> > ` nested).
/// - Whitespace as a browser would show it: runs collapsed to one space, source newlines
///   between tags ignored, paragraphs separated by one blank line, never more than one blank
///   line in a row, no leading or trailing blank lines; `<pre>` content kept verbatim.
/// - `<img>` gives its `alt` text (custom emoji); `<mx-reply>`, `<script>`, `<style>` and
///   comments are dropped; every other tag (`<del>`, `<code>`, `<span>`…) is reduced to its text.
pub fn html_to_text(html: &str, mention: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut w = Writer::default();
    let mut mentioned = Vec::new();
    let mut skip: Option<(&'static str, usize)> = None;
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            if let Some(comment) = after.strip_prefix("!--") {
                rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
                continue;
            }
            let opens_tag = after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
            if !opens_tag {
                if skip.is_none() {
                    w.text("<");
                }
                rest = after;
                continue;
            }
            let end = tag_end(after);
            let tag = Tag::parse(&after[..end]);
            rest = after.get(end + 1..).unwrap_or("");
            if let Some((name, depth)) = skip.as_mut() {
                if tag.name == *name {
                    if tag.closing {
                        *depth -= 1;
                    } else {
                        *depth += 1;
                    }
                    if *depth == 0 {
                        skip = None;
                    }
                }
                continue;
            }
            if let Some(name) = SKIPPED.iter().find(|s| **s == tag.name) {
                if !tag.closing {
                    skip = Some((name, 1));
                }
                continue;
            }
            w.tag(&tag, mention, &mut mentioned);
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        if skip.is_none() {
            w.text(&rest[..next]);
        }
        rest = &rest[next..];
    }
    w.finish_link(mention, &mut mentioned);
    let out = w.out.trim_end_matches([' ', '\n']).to_owned();
    (out, mentioned)
}

/// Index of the `>` ending the tag `after` starts (after its `<`): quoted attribute values
/// may hold `>`. Without an end, the tag runs to the end of the input.
fn tag_end(after: &str) -> usize {
    let mut quote = None;
    let mut last = b' ';
    for (i, b) in after.bytes().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'>' => return i,
            None if (b == b'"' || b == b'\'') && last == b'=' => quote = Some(b),
            None => {}
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
    }
    // An unterminated quote: fall back to the first `>`, as if there were no quotes.
    after.find('>').unwrap_or(after.len())
}

/// A start or end tag: lower-case name and the raw attribute text.
struct Tag<'a> {
    name: String,
    closing: bool,
    attrs: &'a str,
}

impl<'a> Tag<'a> {
    fn parse(inner: &'a str) -> Self {
        let closing = inner.starts_with('/');
        let body = inner.trim_start_matches('/');
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(body.len());
        Self {
            name: body[..name_len].to_ascii_lowercase(),
            closing,
            attrs: &body[name_len..],
        }
    }

    /// The decoded value of attribute `key` (lower case), if present.
    fn attr(&self, key: &str) -> Option<String> {
        let mut rest = self.attrs;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
            if rest.is_empty() {
                return None;
            }
            let name_len = rest
                .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '/' | '>'))
                .unwrap_or(rest.len())
                .max(1.min(rest.len()));
            let name = &rest[..name_len];
            rest = rest[name_len..].trim_start();
            let mut value = None;
            if let Some(after_eq) = rest.strip_prefix('=') {
                let after_eq = after_eq.trim_start();
                let (v, r) = match after_eq.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let inner = &after_eq[1..];
                        let end = inner.find(q).unwrap_or(inner.len());
                        (&inner[..end], inner.get(end + 1..).unwrap_or(""))
                    }
                    _ => {
                        let end = after_eq
                            .find(|c: char| c.is_ascii_whitespace())
                            .unwrap_or(after_eq.len());
                        (&after_eq[..end], &after_eq[end..])
                    }
                };
                value = Some(v);
                rest = r;
            }
            if name.eq_ignore_ascii_case(key) {
                return Some(decode_entities(value.unwrap_or("")));
            }
        }
    }
}

/// What encloses the current line; each adds to the line's prefix.
enum Container {
    /// `<blockquote>`: `> `.
    Quote,
    /// `<ul>`/`<ol>`: no prefix; `next` numbers the next ordered item.
    List { ordered: bool, next: i64 },
    /// `<li>`: its marker on its first line, as many spaces on the next ones.
    Item { marker: String, used: bool },
}

/// A link being read: its label is collected and written when it ends.
struct Link {
    href: String,
    mxid: Option<String>,
    label: String,
}

/// The plain-text output and the layout state it is written with.
#[derive(Default)]
struct Writer {
    out: String,
    containers: Vec<Container>,
    /// No content on the current output line yet (its prefix is still to be written).
    line_start: bool,
    /// Newlines to write before the next content.
    pending: usize,
    /// `pending` holds `<pre>` newlines: write them all, not at most two.
    verbatim: bool,
    /// How many containers every line of the pending break is inside (for blank-line prefixes).
    floor: usize,
    /// A collapsed space to write before the next content on the same line.
    space: bool,
    /// Depth of `<pre>`, and whether its first newline may still be dropped.
    pre: usize,
    pre_fresh: bool,
    link: Option<Link>,
}

impl Writer {
    fn tag(
        &mut self,
        tag: &Tag<'_>,
        mention: &dyn Fn(&str) -> Option<String>,
        mentioned: &mut Vec<String>,
    ) {
        let name = tag.name.as_str();
        match (name, tag.closing) {
            ("a", false) => {
                self.finish_link(mention, mentioned);
                let href = tag.attr("href").unwrap_or_default();
                let href = href.trim().to_owned();
                self.link = Some(Link {
                    mxid: user_pill(&href),
                    href,
                    label: String::new(),
                });
            }
            ("a", true) => self.finish_link(mention, mentioned),
            ("br", _) => match self.link.as_mut() {
                Some(link) => link.label.push(' '),
                None => self.hard_break(false),
            },
            ("img", false) => {
                let alt = tag.attr("alt").unwrap_or_default();
                match self.link.as_mut() {
                    Some(link) => link.label.push_str(&alt),
                    None => self.words(&alt),
                }
            }
            _ if !is_block(name) => {}
            _ => {
                self.finish_link(mention, mentioned);
                self.block(tag);
            }
        }
    }

    fn block(&mut self, tag: &Tag<'_>) {
        let in_item = matches!(self.containers.last(), Some(Container::Item { .. }));
        let fresh_item = matches!(
            self.containers.last(),
            Some(Container::Item { used: false, .. })
        );
        let paragraph = if fresh_item { 1 } else { 2 };
        match (tag.name.as_str(), tag.closing) {
            ("blockquote", false) => {
                self.request_break(paragraph);
                self.containers.push(Container::Quote);
            }
            ("blockquote", true) => {
                self.request_break(2);
                self.pop_to(|c| matches!(c, Container::Quote));
            }
            ("ul" | "ol", false) => {
                self.request_break(if in_item { 1 } else { 2 });
                let next = tag
                    .attr("start")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1);
                self.containers.push(Container::List {
                    ordered: tag.name == "ol",
                    next,
                });
            }
            ("ul" | "ol", true) => {
                self.pop_to(|c| matches!(c, Container::List { .. }));
                let in_item = matches!(self.containers.last(), Some(Container::Item { .. }));
                self.request_break(if in_item { 1 } else { 2 });
            }
            ("li", false) => {
                self.request_break(1);
                // An unclosed previous item ends where the next one starts.
                if in_item {
                    self.pop_to(|c| matches!(c, Container::Item { .. }));
                }
                let marker = match self.containers.last_mut() {
                    Some(Container::List {
                        ordered: true,
                        next,
                    }) => {
                        let n = *next;
                        *next = next.saturating_add(1);
                        format!("{n}. ")
                    }
                    _ => BULLET.to_owned(),
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            ("li", true) => {
                self.request_break(1);
                self.pop_to(|c| matches!(c, Container::Item { .. }));
            }
            ("pre", false) => {
                self.request_break(paragraph);
                self.pre += 1;
                self.pre_fresh = true;
            }
            ("pre", true) => {
                self.pre = self.pre.saturating_sub(1);
                self.pending = self.pending.min(1);
                self.verbatim = false;
                self.request_break(2);
            }
            ("hr", false) => {
                self.request_break(2);
                self.write("---");
                self.request_break(2);
            }
            ("tr", _) => self.request_break(1),
            ("td" | "th", _) => self.space = true,
            (_, false) => self.request_break(paragraph),
            (_, true) => self.request_break(2),
        }
    }

    /// Text between tags, entities not yet decoded.
    fn text(&mut self, raw: &str) {
        let text = decode_entities(raw);
        if let Some(link) = self.link.as_mut() {
            link.label.push_str(&text);
            return;
        }
        if self.pre == 0 {
            self.words(&text);
            return;
        }
        let mut text = text.as_str();
        if self.pre_fresh {
            // As in browsers, a newline right after `<pre>` is not content.
            text = text
                .strip_prefix("\r\n")
                .or_else(|| text.strip_prefix('\n'))
                .unwrap_or(text);
        }
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.hard_break(true);
            }
            self.write(line.trim_end_matches('\r'));
        }
    }

    /// Text with its whitespace collapsed, as outside `<pre>`.
    fn words(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let ws = rest
                .find(|c: char| !c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            if ws > 0 {
                self.space = true;
                rest = &rest[ws..];
            }
            let word = rest
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            self.write(&rest[..word]);
            rest = &rest[word..];
        }
    }

    /// Writes the link being read, if any, and forgets it.
    fn finish_link(
        &mut self,
        mention: &dyn Fn(&str) -> Option<String>,
        mentioned: &mut Vec<String>,
    ) {
        let Some(link) = self.link.take() else {
            return;
        };
        let raw = link.label.as_str();
        if raw.starts_with(|c: char| c.is_ascii_whitespace()) {
            self.space = true;
        }
        let label = collapse(raw);
        let href = link.href.as_str();
        let text = if let Some(mxid) = link.mxid {
            match mention(&mxid) {
                Some(replacement) => {
                    mentioned.push(mxid);
                    replacement
                }
                None if label.is_empty() => mxid,
                None => label,
            }
        } else if href.is_empty() || href.starts_with('#') {
            label
        } else if label.is_empty() || same_target(&label, href) {
            href.to_owned()
        } else if strip_prefix_ci(href, "mailto:") == Some(label.as_str()) {
            label
        } else {
            format!("{label} ({href})")
        };
        self.words(&text);
        if raw.ends_with(|c: char| c.is_ascii_whitespace()) {
            self.space = true;
        }
    }

    /// Writes `s` (no collapsing), after the pending line breaks or space.
    fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.pending > 0 && !self.out.is_empty() {
            let n = if self.verbatim {
                self.pending
            } else {
                self.pending.min(2)
            };
            for i in 0..n {
                self.out.push('\n');
                if i + 1 < n {
                    let blank = self.blank_prefix();
                    self.out.push_str(&blank);
                }
            }
            self.line_start = true;
        }
        if self.out.is_empty() {
            self.line_start = true;
        }
        self.pending = 0;
        self.verbatim = false;
        self.pre_fresh = false;
        if self.line_start {
            let prefix = self.line_prefix();
            self.out.push_str(&prefix);
            self.line_start = false;
        } else if self.space {
            self.out.push(' ');
        }
        self.space = false;
        self.out.push_str(s);
    }

    /// Ends the line and leaves `n - 1` blank lines (at least; breaks merge).
    fn request_break(&mut self, n: usize) {
        if self.pre == 0 {
            let kept = self.out.trim_end_matches(' ').len();
            self.out.truncate(kept);
        }
        self.space = false;
        if self.pending == 0 {
            self.floor = self.containers.len();
        }
        self.pending = self.pending.max(n);
    }

    /// One more newline (`<br>`, or a newline in `<pre>` when `verbatim`).
    fn hard_break(&mut self, verbatim: bool) {
        self.space = false;
        if self.pending == 0 {
            self.floor = self.containers.len();
        }
        self.pending += 1;
        self.verbatim |= verbatim;
    }

    /// Closes the innermost container matching `is`, and those inside it; none if none matches.
    fn pop_to(&mut self, is: impl Fn(&Container) -> bool) {
        if let Some(i) = self.containers.iter().rposition(is) {
            self.containers.truncate(i);
            if self.pending > 0 {
                self.floor = self.floor.min(i);
            }
        }
    }

    /// The prefix of a content line: quotes, list markers (first line) or their indent.
    fn line_prefix(&mut self) -> String {
        let mut prefix = String::new();
        for c in &mut self.containers {
            if prefix.len() >= MAX_PREFIX {
                break;
            }
            match c {
                Container::Quote => prefix.push_str("> "),
                Container::List { .. } => {}
                Container::Item { marker, used } => {
                    if *used {
                        prefix.extend(std::iter::repeat_n(' ', marker.chars().count()));
                    } else {
                        prefix.push_str(marker);
                        *used = true;
                    }
                }
            }
        }
        cap_prefix(&mut prefix);
        prefix
    }

    /// The prefix of a blank line: the quotes every line of the break is in, no trailing space.
    fn blank_prefix(&self) -> String {
        let mut prefix = String::new();
        for c in self.containers.iter().take(self.floor) {
            if prefix.len() >= MAX_PREFIX {
                break;
            }
            if let Container::Quote = c {
                prefix.push_str("> ");
            }
        }
        cap_prefix(&mut prefix);
        prefix.trim_end().to_owned()
    }
}

/// Cuts `prefix` to at most [`MAX_PREFIX`] bytes, on a character boundary.
fn cap_prefix(prefix: &mut String) {
    if prefix.len() > MAX_PREFIX {
        let end = (0..=MAX_PREFIX)
            .rev()
            .find(|&i| prefix.is_char_boundary(i))
            .unwrap_or(0);
        prefix.truncate(end);
    }
}

/// Whether `name` starts or ends a block (a line break around it).
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "ul"
            | "ol"
            | "li"
            | "hr"
            | "table"
            | "thead"
            | "tbody"
            | "tr"
            | "td"
            | "th"
            | "details"
            | "summary"
            | "figure"
            | "dl"
            | "dt"
            | "dd"
    )
}

/// `text` with ASCII whitespace runs as single spaces, trimmed.
fn collapse(text: &str) -> String {
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a link's label just repeats its target (`https://x.org/` labelled `x.org`).
fn same_target(label: &str, href: &str) -> bool {
    let bare = |s: &'_ str| -> String {
        let lower = s.to_ascii_lowercase();
        let s = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        s.trim_end_matches('/').to_owned()
    };
    label == href || bare(label) == bare(href)
}

/// The MXID a user pill links to: `https://matrix.to/#/@user:server` (percent-encoded or
/// not, any query) or `matrix:u/user:server` / `matrix:user/user:server` (MSC2312).
fn user_pill(href: &str) -> Option<String> {
    let id = if let Some(rest) = strip_prefix_ci(href, "https://matrix.to/#/")
        .or_else(|| strip_prefix_ci(href, "http://matrix.to/#/"))
    {
        let id = percent_decode(rest.split(['?', '/']).next().unwrap_or(""));
        id.starts_with('@').then_some(id)?
    } else {
        let path = strip_prefix_ci(href, "matrix:")?;
        let path = path.split(['?', '#']).next().unwrap_or("");
        let user = path
            .strip_prefix("u/")
            .or_else(|| path.strip_prefix("user/"))?;
        let user = percent_decode(user.split('/').next().unwrap_or(""));
        format!("@{user}")
    };
    let (local, server) = id.get(1..)?.split_once(':')?;
    (!local.is_empty() && !server.is_empty() && !id.contains(char::is_whitespace)).then_some(id)
}

/// `s` without `prefix` (ASCII, compared case-insensitively), if it starts with it.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// `%XX` sequences decoded; invalid ones kept; invalid UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
