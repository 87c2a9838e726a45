//! Reaction keys: the same emoji written differently (`U+1F44D` code form from the Easemob
//! UIKit, `❤` without its emoji variation selector) must aggregate as one Matrix annotation
//! and map back to one remote reaction.

/// Characters that are emoji with text presentation by default (`Emoji_Presentation=No` in
/// Unicode's emoji-data.txt) and have an emoji variation sequence with U+FE0F in
/// emoji-variation-sequences.txt; limited to the ones commonly used as reactions or inside
/// emoji ZWJ sequences (♀ ♂ ⚕ for gendered and professional emoji). Arrows, ©, ® and ™ are
/// left out on purpose: those are usually meant as text. Each entry was checked to be narrow
/// alone and wide with U+FE0F (unicode-width 0.2).
const TAKES_VS16: &[char] = &[
    '\u{2764}',  // ❤ heavy black heart
    '\u{2763}',  // ❣ heart exclamation
    '\u{2665}',  // ♥ heart suit
    '\u{263A}',  // ☺ smiling face
    '\u{2639}',  // ☹ frowning face
    '\u{2620}',  // ☠ skull and crossbones
    '\u{261D}',  // ☝ index pointing up
    '\u{270C}',  // ✌ victory hand
    '\u{270D}',  // ✍ writing hand
    '\u{1F590}', // 🖐 hand with fingers splayed
    '\u{1F441}', // 👁 eye
    '\u{2600}',  // ☀ sun
    '\u{2601}',  // ☁ cloud
    '\u{2602}',  // ☂ umbrella
    '\u{2603}',  // ☃ snowman
    '\u{2604}',  // ☄ comet
    '\u{2744}',  // ❄ snowflake
    '\u{26A0}',  // ⚠ warning
    '\u{2714}',  // ✔ check mark
    '\u{2716}',  // ✖ multiplication x
    '\u{2611}',  // ☑ ballot box with check
    '\u{2708}',  // ✈ airplane
    '\u{260E}',  // ☎ telephone
    '\u{270F}',  // ✏ pencil
    '\u{2702}',  // ✂ scissors
    '\u{2618}',  // ☘ shamrock
    '\u{262E}',  // ☮ peace
    '\u{262F}',  // ☯ yin yang
    '\u{267B}',  // ♻ recycling
    '\u{2640}',  // ♀ female sign (ZWJ sequences)
    '\u{2642}',  // ♂ male sign (ZWJ sequences)
    '\u{2695}',  // ⚕ medical symbol (ZWJ sequences)
    '\u{1F54A}', // 🕊 dove
    '\u{1F3F3}', // 🏳 white flag (🏳️‍🌈)
    '\u{1F5E8}', // 🗨 speech bubble (👁️‍🗨️)
    '\u{1F576}', // 🕶 sunglasses
    '\u{1F336}', // 🌶 hot pepper
    '\u{1F321}', // 🌡 thermometer
];

/// One form per reaction key, used both ways (remote → Matrix and Matrix → remote):
///
/// - trimmed of surrounding whitespace;
/// - the code form `U+1F44D` (any case, code points separated by spaces, `-`, `_`, `,` or
///   nothing: `U+2764 U+FE0F`, `U+1F468-U+200D-U+1F469`) becomes the characters; a key that
///   does not parse wholly as valid code points of emoji characters is text and is kept;
/// - in a key made only of emoji characters (see below), each character of the table of
///   text-default emoji (`❤`, `☺`, `✌`, `☀`, `✔`… see `TAKES_VS16` in the source) not already
///   followed by U+FE0F/U+FE0E or a skin-tone modifier gets U+FE0F, so `❤` and `❤️` are one
///   key, and `🏳‍🌈` becomes the fully-qualified `🏳️‍🌈`;
/// - anything else (`+1`, `:smile:`, `ok ❤`) is returned trimmed, otherwise unchanged.
///
/// "Emoji characters" here: U+1F000 and above, U+2000–U+2BFF (symbols, dingbats, arrows),
/// ZWJ, variation selectors, the keycap mark, tag characters, ASCII digits/`#`/`*` (keycaps)
/// and the table's entries. Applying it twice gives the same key.
pub fn normalize_reaction_key(key: &str) -> String {
    let key = key.trim();
    // Only emoji come out of the code form, so a second pass finds nothing to decode.
    let decoded = parse_code_points(key).filter(|d| d.chars().all(is_emoji_part));
    let key = decoded.as_deref().unwrap_or(key);
    if key.is_empty() || !key.chars().all(is_emoji_part) || !key.chars().any(is_pictographic) {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len() + 3);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if TAKES_VS16.contains(&c) {
            let qualified = chars
                .peek()
                .is_some_and(|n| matches!(n, '\u{FE0E}' | '\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}'));
            if !qualified {
                out.push('\u{FE0F}');
            }
        }
    }
    out
}

/// `U+1F44D`, `u+2764 U+FE0F`, `U+1F468-U+200D-U+1F469` → the characters; `None` if `key`
/// is not wholly that form.
fn parse_code_points(key: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = key;
    loop {
        rest = rest.trim_start_matches([' ', '-', '_', ',']);
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix("U+")
            .or_else(|| rest.strip_prefix("u+"))?;
        let len = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        if len == 0 || len > 6 {
            return None;
        }
        out.push(char::from_u32(u32::from_str_radix(&rest[..len], 16).ok()?)?);
        rest = &rest[len..];
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `c` may be part of an emoji key (see [`normalize_reaction_key`]).
fn is_emoji_part(c: char) -> bool {
    // U+2000–U+2BFF holds ZWJ (U+200D) and the keycap mark (U+20E3) too.
    matches!(c,
        '\u{1F000}'..='\u{1FFFF}'
        | '\u{2000}'..='\u{2BFF}'
        | '\u{FE0E}' | '\u{FE0F}'
        | '\u{E0020}'..='\u{E007F}'
        | '0'..='9' | '#' | '*'
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
    )
}

/// Whether `c` is a picture, not only a joiner, selector or keycap base.
fn is_pictographic(c: char) -> bool {
    matches!(c, '\u{1F000}'..='\u{1FFFF}' | '\u{2000}'..='\u{2BFF}' | '\u{3030}'..='\u{3299}')
        && !matches!(c, '\u{200D}' | '\u{20E3}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_form_becomes_characters() {
        assert_eq!(normalize_reaction_key("U+1F44D"), "👍");
        assert_eq!(normalize_reaction_key(" u+1f44d "), "👍");
        assert_eq!(normalize_reaction_key("U+2764 U+FE0F"), "❤️");
        assert_eq!(normalize_reaction_key("U+2764"), "❤️");
        assert_eq!(
            normalize_reaction_key("U+1F468-U+200D-U+1F469-U+200D-U+1F467"),
            "👨‍👩‍👧"
        );
        assert_eq!(normalize_reaction_key("U+1F44DU+1F3FD"), "👍🏽");
        assert_eq!(normalize_reaction_key("U+0031 U+FE0F U+20E3"), "1️⃣");
    }

    #[test]
    fn text_default_emoji_get_vs16() {
        assert_eq!(normalize_reaction_key("❤"), "❤\u{FE0F}");
        assert_eq!(normalize_reaction_key("❤\u{FE0F}"), "❤\u{FE0F}");
        assert_eq!(normalize_reaction_key("☺"), "☺\u{FE0F}");
        assert_eq!(normalize_reaction_key("✌"), "✌\u{FE0F}");
        assert_eq!(normalize_reaction_key("☀"), "☀\u{FE0F}");
        assert_eq!(normalize_reaction_key("✔"), "✔\u{FE0F}");
        // Skin tone and explicit text presentation are left alone.
        assert_eq!(normalize_reaction_key("✌🏽"), "✌🏽");
        assert_eq!(normalize_reaction_key("❤\u{FE0E}"), "❤\u{FE0E}");
        // Minimally-qualified ZWJ sequences become fully qualified.
        assert_eq!(normalize_reaction_key("🏳\u{200D}🌈"), "🏳\u{FE0F}\u{200D}🌈");
        assert_eq!(normalize_reaction_key("❤\u{200D}🔥"), "❤\u{FE0F}\u{200D}🔥");
        // Emoji-presentation characters and text symbols are unchanged.
        for key in ["👍", "☔", "⭐", "✅", "😂", "™", "→"] {
            assert_eq!(normalize_reaction_key(key), key);
        }
    }

    #[test]
    fn text_keys_are_only_trimmed() {
        assert_eq!(normalize_reaction_key(" +1 "), "+1");
        assert_eq!(normalize_reaction_key(":smile:"), ":smile:");
        assert_eq!(normalize_reaction_key("ok ❤"), "ok ❤");
        assert_eq!(normalize_reaction_key("1"), "1");
        assert_eq!(normalize_reaction_key("U+"), "U+");
        assert_eq!(normalize_reaction_key("U+110000"), "U+110000");
        assert_eq!(normalize_reaction_key("U+D800"), "U+D800");
        assert_eq!(
            normalize_reaction_key("U+1F44D and more"),
            "U+1F44D and more"
        );
        assert_eq!(normalize_reaction_key("U+1234567"), "U+1234567");
        assert_eq!(normalize_reaction_key("U+55U+2BU+31"), "U+55U+2BU+31");
        assert_eq!(normalize_reaction_key(""), "");
    }

    proptest::proptest! {
        #[test]
        fn idempotent(key in "[U+0-9a-fA-F ❤☺👍\u{FE0F}\u{200D}🏽:a-z-]{0,16}") {
            let once = normalize_reaction_key(&key);
            proptest::prop_assert_eq!(normalize_reaction_key(&once), once.clone());
        }
    }
}
