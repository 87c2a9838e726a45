//! Matrix identifiers as the config needs them: permission levels, MXID and server-name
//! checks, and the escaping of remote ids into user-id localparts (and back).
//!
//! Escaping: bytes in `a-z 0-9 . _ - /` are kept; every other byte (upper case, `=`, spaces,
//! non-ASCII UTF-8 bytes, …) becomes `=xx` in lower-case hex, the mautrix / Matrix spec
//! "mapping from other character sets" style. The result is a valid localpart and the mapping
//! is lossless, so `Bob` and `bob` stay two ghosts. Unescaping accepts only the canonical form,
//! so two localparts never map to the same remote id.

use std::fmt;
use std::str::FromStr;

/// What a Matrix user may do with the bridge; each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum PermissionLevel {
    /// Ignored entirely.
    #[default]
    Block,
    /// Messages are relayed through a relay login, if the room has one.
    Relay,
    /// May use bot commands that need no login (help, version).
    Commands,
    /// May log in with their own remote account.
    User,
    /// Everything, including commands about other users and the bridge itself.
    Admin,
}

impl PermissionLevel {
    /// Every level, lowest first.
    pub const ALL: [PermissionLevel; 5] = [
        PermissionLevel::Block,
        PermissionLevel::Relay,
        PermissionLevel::Commands,
        PermissionLevel::User,
        PermissionLevel::Admin,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionLevel::Block => "block",
            PermissionLevel::Relay => "relay",
            PermissionLevel::Commands => "commands",
            PermissionLevel::User => "user",
            PermissionLevel::Admin => "admin",
        }
    }
}

impl fmt::Display for PermissionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PermissionLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown permission level \"{s}\" (use block, relay, commands, user or admin)"
                )
            })
    }
}

/// True for a byte kept as is in an escaped localpart.
fn is_plain(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
}

/// Escapes a remote id into the localpart alphabet (see the module docs).
pub fn escape_localpart(remote: &str) -> String {
    let mut out = String::with_capacity(remote.len());
    for b in remote.bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The inverse of [`escape_localpart`]; `None` unless `local` is exactly what escaping some
/// string gives (lower-case hex, no needless escapes, valid UTF-8).
pub fn unescape_localpart(local: &str) -> Option<String> {
    let bytes = local.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'=' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            let decoded = (hi << 4) | lo;
            if is_plain(decoded) {
                return None; // would have been kept as is: not canonical
            }
            out.push(decoded);
            i += 3;
        } else if is_plain(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// True for a valid (non-historical) user-id localpart: `a-z 0-9 . _ = - / +`, not empty.
pub fn is_valid_localpart(local: &str) -> bool {
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b))
}

/// True for a plausible server name: a host name, IPv4 or `[IPv6]` literal, optional `:port`.
pub fn is_valid_server_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let (host_ok, port) = if let Some(rest) = name.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let port = match after {
            "" => None,
            other => match other.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        (ok, port)
    } else {
        let (host, port) = match name.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (name, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        (ok, port)
    };
    if !host_ok {
        return false;
    }
    match port {
        None => true,
        Some(p) => p.parse::<u16>().is_ok_and(|p| p > 0),
    }
}

/// Splits `@localpart:server` into its parts, if it has that shape.
pub fn split_mxid(mxid: &str) -> Option<(&str, &str)> {
    let rest = mxid.strip_prefix('@')?;
    let (local, server) = rest.split_once(':')?;
    (!local.is_empty() && !server.is_empty()).then_some((local, server))
}

/// True for a user id with a non-empty localpart (any printable ASCII but `:`, as historical
/// user ids allow) and a valid server name.
pub fn is_valid_mxid(mxid: &str) -> bool {
    split_mxid(mxid).is_some_and(|(local, server)| {
        local
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
            && is_valid_server_name(server)
            && mxid.len() <= 255
    })
}

/// Escapes a literal for use inside a regular expression.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for ok in [
            "example.org",
            "example.org:8448",
            "127.0.0.1",
            "[::1]",
            "[::1]:8008",
            "localhost",
        ] {
            assert!(is_valid_server_name(ok), "{ok}");
        }
        for bad in ["", "http://x", "a b", "x:0", "x:abc", "[::1", "ex/ample"] {
            assert!(!is_valid_server_name(bad), "{bad}");
        }
    }

    #[test]
    fn non_canonical_escapes_rejected() {
        assert_eq!(unescape_localpart("=61"), None); // 'a' is never escaped
        assert_eq!(unescape_localpart("=4A"), None); // upper-case hex
        assert_eq!(unescape_localpart("=4"), None);
        assert_eq!(unescape_localpart("A"), None);
        assert_eq!(unescape_localpart("=42ob").as_deref(), Some("Bob"));
    }

    #[test]
    fn levels_are_ordered() {
        assert!(PermissionLevel::Block < PermissionLevel::Relay);
        assert!(PermissionLevel::User < PermissionLevel::Admin);
        assert_eq!(
            "commands".parse::<PermissionLevel>(),
            Ok(PermissionLevel::Commands)
        );
        assert!("root".parse::<PermissionLevel>().is_err());
    }
}
