//! The plain-text reply fallback (spec, "Fallbacks for rich replies"): a reply's `body` may
//! start with the quoted original, `> <@sender:server> first line`, `> next line`…, then a
//! blank line, then the reply itself. Clients are dropping it (MSC2781), so it is only
//! stripped when it is certainly one.

/// `body` without the reply fallback it starts with, or `body` unchanged.
///
/// Strips only when `is_reply` (the event's `m.relates_to` has `m.in_reply_to`) and the body
/// has the fallback's exact shape: a first line `> <@sender:server> …` (or `> * <@sender:server> …`
/// for a quoted emote), further lines starting with `>`, a blank line, then the reply. A body
/// that merely starts with a quote (`> the meeting is at 3\nok`) is the sender's own text and
/// comes back unchanged, as does one where nothing would remain after the fallback.
pub fn strip_reply_fallback(body: &str, is_reply: bool) -> &str {
    if !is_reply {
        return body;
    }
    let mut lines = body.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return body;
    };
    if !is_fallback_head(first.trim_end_matches(['\n', '\r'])) {
        return body;
    }
    let mut consumed = first.len();
    for line in lines {
        consumed += line.len();
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            // The blank line ending the fallback: what follows is the reply.
            let rest = body.get(consumed..).unwrap_or("");
            return if rest.trim().is_empty() { body } else { rest };
        }
        if !text.starts_with('>') {
            return body; // not the fallback's shape: no blank line after the quote
        }
    }
    body
}

/// Whether `line` is `> <@user:server>` or `> * <@user:server>`, then a space or nothing.
fn is_fallback_head(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("> ") else {
        return false;
    };
    let rest = rest.strip_prefix("* ").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix("<@") else {
        return false;
    };
    let Some(end) = rest.find('>') else {
        return false;
    };
    let id = &rest[..end];
    let after = &rest[end + 1..];
    let valid_id = id
        .split_once(':')
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
        && !id.contains(char::is_whitespace);
    valid_id && (after.is_empty() || after.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_fallback_of_a_reply() {
        assert_eq!(
            strip_reply_fallback("> <@a:b> old\n> more\n\nnew", true),
            "new"
        );
        assert_eq!(
            strip_reply_fallback("> <@alice:example.org> old\n\nnew\nsecond line", true),
            "new\nsecond line"
        );
        assert_eq!(
            strip_reply_fallback("> * <@alice:example.org> waves\n\nhi", true),
            "hi"
        );
        assert_eq!(
            strip_reply_fallback("> <@alice:example.org>\n>\n> x\r\n\r\nnew", true),
            "new"
        );
        // The reply itself may quote something.
        assert_eq!(
            strip_reply_fallback("> <@a:b> old\n\n> quoted by me\nok", true),
            "> quoted by me\nok"
        );
    }

    #[test]
    fn keeps_real_quotes() {
        let quote = "> the meeting is at 3\nok, I'll be there";
        assert_eq!(strip_reply_fallback(quote, false), quote);
        assert_eq!(strip_reply_fallback(quote, true), quote);
        let two = "> first quoted\n> second quoted";
        assert_eq!(strip_reply_fallback(two, false), two);
        assert_eq!(strip_reply_fallback(two, true), two);
        // A fallback shape without a reply relation is the user's text.
        let shaped = "> <@a:b> old\n\nnew";
        assert_eq!(strip_reply_fallback(shaped, false), shaped);
    }

    #[test]
    fn never_leaves_nothing() {
        for body in [
            "> <@a:b> old",
            "> <@a:b> old\n> more",
            "> <@a:b> old\n\n",
            "> <@a:b> old\n\n  \n",
        ] {
            assert_eq!(strip_reply_fallback(body, true), body);
        }
        assert_eq!(strip_reply_fallback("", true), "");
    }

    #[test]
    fn needs_the_sender_shape() {
        for body in [
            "> <bob> old\n\nnew",
            "> <@bob> old\n\nnew",
            "> <@:b> old\n\nnew",
            "> <@a b:c> old\n\nnew",
            "> <@a:b>old\n\nnew",
            "><@a:b> old\n\nnew",
            "> <@a:b> old\nnot quoted\n\nnew",
        ] {
            assert_eq!(strip_reply_fallback(body, true), body, "{body:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_empty_never_panics(body in "[> <@:ab\n\r*]{0,40}", is_reply: bool) {
            let out = strip_reply_fallback(&body, is_reply);
            proptest::prop_assert!(body.is_empty() || !out.is_empty());
            proptest::prop_assert!(body.ends_with(out));
        }
    }
}
