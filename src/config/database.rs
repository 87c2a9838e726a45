//! `database:` — which store backend and where: `type: sled` (embedded, the default; `path`)
//! or `type: postgres` (`uri`, `max_connections`). The URI may hold a password, so it is a
//! [`DatabaseUri`], which prints itself with the password replaced.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Section;

/// Default `database.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// `database:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `type`: the backend.
    pub kind: DatabaseKind,
    /// The sled store's folder (resolved against the config file's folder); kept for
    /// `type: postgres` too, as the source of `imbridge migrate-store`.
    pub path: PathBuf,
    /// The PostgreSQL connection URI (required for `type: postgres`).
    pub uri: Option<DatabaseUri>,
    /// The PostgreSQL pool size (1..=1000, default [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: u32,
    /// `failover`: with PostgreSQL, only the process holding the database's lease runs the
    /// bridge; others on the same database stand by and take over when it dies
    /// ([`crate::store::postgres::lease`]). Default true; ignored for sled, which one process
    /// opens at a time anyway.
    pub failover: bool,
}

/// `database.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatabaseKind {
    /// The embedded sled store in `database.path`.
    #[default]
    Sled,
    /// A PostgreSQL database at `database.uri`.
    Postgres,
}

/// A PostgreSQL connection string: `postgres://user:password@host:port/db?…` or the
/// key-value form `host=… user=… password=… dbname=…`. `Debug` and `Display` show it with
/// the password replaced by `***`; [`DatabaseUri::expose`] gives the real one.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUri(String);

impl DatabaseUri {
    /// Wraps a connection string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The connection string itself: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the URL form (`postgres://` or `postgresql://`) or the key-value form
    /// (contains `=`); anything else is not a connection string.
    pub fn looks_valid(&self) -> bool {
        let s = self.0.trim();
        s.starts_with("postgres://") || s.starts_with("postgresql://") || s.contains('=')
    }

    /// The connection string with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_uri(&self.0)
    }
}

/// `uri` with the password (URL userinfo, `password=` pair, or `password` query parameter)
/// replaced by `***`.
pub fn redact_uri(uri: &str) -> String {
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        if let Ok(mut url) = url::Url::parse(uri) {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "***".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            return url.to_string();
        }
        // Unparsable: keep only the scheme.
        return "postgres://<unparsable, hidden>".into();
    }
    uri.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Debug for DatabaseUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUri({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Reads `database:`, reporting problems (unknown type, missing or malformed uri) at their
/// lines.
pub(super) fn load(s: Section<'_>, base: &Path) -> DatabaseConfig {
    let kind = match s.string("type").as_deref() {
        None | Some("sled") => DatabaseKind::Sled,
        Some("postgres") | Some("postgresql") => DatabaseKind::Postgres,
        Some(other) => {
            s.problem(
                "type",
                format!("unknown database type \"{other}\" (use sled or postgres)"),
            );
            DatabaseKind::Sled
        }
    };
    let uri = s.string("uri").map(DatabaseUri::new);
    if let Some(u) = &uri {
        if !u.looks_valid() {
            // Never echo the value: it may hold a password.
            s.problem(
                "uri",
                "is not a PostgreSQL connection string (postgres://user:password@host:port/db \
                 or host=… dbname=…)",
            );
        }
    }
    if kind == DatabaseKind::Postgres {
        if uri.is_none() {
            s.problem("uri", "missing (required with type: postgres)");
        }
        if !cfg!(feature = "postgres") {
            s.problem(
                "type",
                "this imbridge was built without PostgreSQL support (cargo feature `postgres`)",
            );
        }
    }
    let max_connections = s
        .int("max_connections", 1, 1000)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let out = DatabaseConfig {
        kind,
        path: base.join(s.string("path").unwrap_or_else(|| "imbridge.sled".into())),
        uri,
        max_connections,
        failover: s.bool("failover").unwrap_or(true),
    };
    s.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_both_forms() {
        let u = DatabaseUri::new("postgres://bridge:s3cret@db.example:5433/imb?sslmode=disable");
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("bridge:***@db.example:5433/imb"), "{shown}");
        let q = redact_uri("postgresql://db/imb?user=a&password=s3cret");
        assert!(!q.contains("s3cret") && q.contains("user=a"), "{q}");
        let kv = redact_uri("host=/tmp user=a password=s3cret dbname=x");
        assert_eq!(kv, "host=/tmp user=a password=*** dbname=x");
        assert!(!redact_uri("postgres://a:s3cret@[bad").contains("s3cret"));
        assert!(DatabaseUri::new("host=x").looks_valid());
        assert!(!DatabaseUri::new("mysql://x").looks_valid());
    }
}
