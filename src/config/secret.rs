//! Secrets (appservice tokens) and where they came from. A [`Secret`] never shows its value in
//! `Debug` or `Display`, so it cannot leak into logs by accident; the value is reached only
//! through [`Secret::expose`].

use std::fmt;
use std::path::PathBuf;

/// A secret string (a token). `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself: only for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a candidate (e.g. the `hs_token` a request presents) in time that does
    /// not depend on where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a token was found (for logs: says where, never what).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenSource {
    /// From the environment variable of that name.
    Env(String),
    /// Read from this file (`appservice.as_token_file` / `hs_token_file`).
    File(PathBuf),
    /// Written in the config file itself.
    Inline,
    /// From the registration file (`appservice.registration`).
    Registration(PathBuf),
    /// Not found (only allowed when generating a registration).
    #[default]
    Missing,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(var) => write!(f, "environment variable {var}"),
            TokenSource::File(p) => write!(f, "file {}", p.display()),
            TokenSource::Inline => f.write_str("config file"),
            TokenSource::Registration(p) => write!(f, "registration file {}", p.display()),
            TokenSource::Missing => f.write_str("nowhere"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_and_comparable() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter"));
        assert!(!s.matches("hunter22"));
        assert!(!s.matches(""));
    }
}
