//! Long text in parts that fit a network's message size limit.

use unicode_segmentation::UnicodeSegmentation;

/// The longest UTF-8 character, in bytes: the smallest limit every text can be split to.
const MIN_PART: usize = 4;

/// `text` in parts of at most `max_bytes` UTF-8 bytes each (a limit under 4 counts as 4, so a
/// part can always hold a character), in order; no part is empty, and an empty text gives no
/// part.
///
/// Parts end at a grapheme cluster boundary (an emoji with its modifiers or a letter with its
/// accents stays whole), inside a cluster only when the cluster alone is over the limit, and
/// never inside a character. Within the last fifth of each part's window the cut goes after a
/// paragraph break (`\n\n`) if there is one, else after a line break, else after whitespace,
/// else at the window's end. The break stays at the end of the part it ends, so the plain
/// concatenation of the parts is `text` exactly (callers may trim each part before sending).
pub fn split_text(text: &str, max_bytes: usize) -> Vec<String> {
    let max = max_bytes.max(MIN_PART);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() <= max {
            parts.push(rest.to_owned());
            break;
        }
        let cut = cut_at(rest, max);
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts
}

/// Where to end the part `rest` starts with: a byte offset in `1..=max`, on a char boundary.
fn cut_at(rest: &str, max: usize) -> usize {
    // Cluster boundaries up to `max` (offsets where a part may end).
    let mut boundaries: Vec<usize> = Vec::new();
    for (start, cluster) in rest.grapheme_indices(true) {
        let end = start + cluster.len();
        if end > max {
            break;
        }
        boundaries.push(end);
    }
    let Some(&window_end) = boundaries.last() else {
        // The first cluster alone is over the limit: cut it at a character boundary.
        return (1..=max)
            .rev()
            .find(|&i| rest.is_char_boundary(i))
            .unwrap_or(max);
    };
    let floor = window_end.saturating_sub(max / 5).max(1);
    let candidates = || boundaries.iter().rev().copied().take_while(|&b| b >= floor);
    let ends = |pattern: &dyn Fn(&str) -> bool| candidates().find(|&b| pattern(&rest[..b]));
    ends(&|s| s.ends_with("\n\n") || s.ends_with("\n\r\n"))
        .or_else(|| ends(&|s| s.ends_with('\n')))
        .or_else(|| ends(&|s| s.ends_with(char::is_whitespace)))
        .unwrap_or(window_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_empty_texts() {
        assert_eq!(split_text("", 10), Vec::<String>::new());
        assert_eq!(split_text("hello", 10), vec!["hello"]);
        assert_eq!(split_text("0123456789", 10), vec!["0123456789"]);
    }

    #[test]
    fn prefers_paragraph_then_line_then_space() {
        // A window of 20 bytes: breaks are looked for in its last 4 bytes (17..=20).
        let text = "aaaaaaaaaaaaaaaa\n\nbb cc\ndd";
        assert_eq!(
            split_text(text, 20),
            vec!["aaaaaaaaaaaaaaaa\n\n", "bb cc\ndd"]
        );
        let text = "aaaaaaaaaaaaaa a\nbbbbbbbbb";
        assert_eq!(
            split_text(text, 20),
            vec!["aaaaaaaaaaaaaa a\n", "bbbbbbbbb"]
        );
        let text = "aaaaaaaaaaaaaaaaa bbbbbbbbb";
        assert_eq!(
            split_text(text, 20),
            vec!["aaaaaaaaaaaaaaaaa ", "bbbbbbbbb"]
        );
        // A break too early in the window is not worth a short part.
        let text = "aa aaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            split_text(text, 20),
            vec!["aa aaaaaaaaaaaaaaaaa", "aaaaaaaaaa"]
        );
    }

    #[test]
    fn never_cuts_characters_or_clusters() {
        // "é" is 2 bytes: 5 of them do not fit in 9.
        assert_eq!(split_text("ééééé", 9), vec!["éééé", "é"]);
        // A family emoji is one 18-byte cluster: kept whole while it fits.
        let family = "👨‍👩‍👧";
        assert_eq!(family.len(), 18);
        let text = family.repeat(3);
        assert_eq!(
            split_text(&text, 40),
            vec![family.repeat(2), family.to_owned()]
        );
        // e + combining acute stays together.
        assert_eq!(split_text("abce\u{301}f", 5), vec!["abc", "e\u{301}f"]);
        // Over the limit, a cluster is cut between its characters.
        let parts = split_text(family, 10);
        assert!(parts.iter().all(|p| p.len() <= 10));
        assert_eq!(parts.concat(), family);
    }

    #[test]
    fn tiny_limits_still_make_progress() {
        assert_eq!(split_text("abcdef", 0), vec!["abcd", "ef"]);
        assert_eq!(split_text("😀😀", 1), vec!["😀", "😀"]);
    }

    proptest::proptest! {
        #[test]
        fn parts_fit_and_rebuild_the_text(
            text in "(\\PC|\n| |\u{301}|\u{200D}|👍🏽){0,300}",
            max in 4usize..80,
        ) {
            let parts = split_text(&text, max);
            for part in &parts {
                proptest::prop_assert!(!part.is_empty());
                proptest::prop_assert!(part.len() <= max, "{} > {max}", part.len());
            }
            proptest::prop_assert_eq!(parts.concat(), text);
        }
    }
}
