//! `network:` — which IM service, and that service's own section of keys:
//!
//! ```yaml
//! network:
//!   type: easemob
//!   easemob:
//!     app_key: "org#app"
//!     rest_url: https://a1.easemob.com
//!     websocket_url: wss://im-api-wechat.easemob.com/websocket
//! ```
//!
//! or, for Tencent Cloud Chat:
//!
//! ```yaml
//! network:
//!   type: tencent
//!   tencent:
//!     sdk_app_id: 1400000001
//!     websocket_url: wss://wss.im.qcloud.com
//!     rest_url: https://console.tim.qq.com        # optional
//!     secret_key_file: /etc/imbridge/tencent.key  # optional: the bridge mints UserSigs
//!     admin_identifier: administrator             # optional
//! ```
//!
//! or, for JiGuang JMessage, the keys of [`super::jmessage`].
//!
//! Each network's keys live under its own name and are read (and checked, with their lines)
//! by that network's reader here; keys that belong to no section of the chosen network are
//! unknown-key errors. The older flat form (the Easemob keys right under `network:`) still
//! loads, with a deprecation warning saying where to move them. The bridge core never sees
//! these keys: the daemon hands the chosen section to its connector.

use super::jmessage::JmessageConfig;
use super::validate::Checker;
use super::yaml::Section;
use super::Problem;

/// The remote networks this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// Easemob / Agora Chat.
    Easemob,
    /// Tencent Cloud Chat (TIM / IM).
    Tencent,
    /// JiGuang JMessage (极光 IM).
    Jmessage,
}

impl NetworkKind {
    /// Every known network.
    pub const ALL: [NetworkKind; 3] = [
        NetworkKind::Easemob,
        NetworkKind::Tencent,
        NetworkKind::Jmessage,
    ];

    /// The service's name as users know it: what the default ghost display name template
    /// puts after the nickname (`{{.Nickname}} (Tencent)`).
    pub fn display_name(self) -> &'static str {
        match self {
            NetworkKind::Easemob => "Easemob",
            NetworkKind::Tencent => "Tencent",
            NetworkKind::Jmessage => "JMessage",
        }
    }

    /// The default `bridge.command_prefix` (`!em`, `!tc`, `!jm`).
    pub fn command_prefix(self) -> &'static str {
        match self {
            NetworkKind::Easemob => "!em",
            NetworkKind::Tencent => "!tc",
            NetworkKind::Jmessage => "!jm",
        }
    }

    /// The config spelling (`network.type`, and the name of the network's section).
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::Easemob => "easemob",
            NetworkKind::Tencent => "tencent",
            NetworkKind::Jmessage => "jmessage",
        }
    }
}

/// `network:` — the remote side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `network.type`.
    pub kind: NetworkKind,
    /// The chosen network's own keys.
    pub section: NetworkSection,
    /// The YAML path of those keys: `network.easemob`, or `network` for the flat form.
    pub section_path: String,
}

impl NetworkConfig {
    /// The Easemob section, when the network is Easemob.
    pub fn easemob(&self) -> Option<&EasemobConfig> {
        match &self.section {
            NetworkSection::Easemob(c) => Some(c),
            _ => None,
        }
    }

    /// The Tencent section, when the network is Tencent Cloud Chat.
    pub fn tencent(&self) -> Option<&TencentConfig> {
        match &self.section {
            NetworkSection::Tencent(c) => Some(c),
            _ => None,
        }
    }

    /// The JMessage section, when the network is JiGuang JMessage.
    pub fn jmessage(&self) -> Option<&JmessageConfig> {
        match &self.section {
            NetworkSection::Jmessage(c) => Some(c),
            _ => None,
        }
    }

    /// The YAML path of a key of the network's section (`network.easemob.app_key`).
    pub fn key_path(&self, key: &str) -> String {
        super::yaml::join_path(&self.section_path, key)
    }
}

/// One network's section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkSection {
    /// `network.easemob`.
    Easemob(EasemobConfig),
    /// `network.tencent`.
    Tencent(TencentConfig),
    /// `network.jmessage`.
    Jmessage(JmessageConfig),
}

/// `network.easemob:` — where the Easemob / Agora Chat service of the app is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EasemobConfig {
    /// Application key, `org#app`.
    pub app_key: String,
    /// REST API base URL (without trailing slash).
    pub rest_url: Option<String>,
    /// Websocket (msync) URL.
    pub websocket_url: Option<String>,
    /// Host-discovery URL, used when `rest_url` / `websocket_url` are not set.
    pub dns_url: Option<String>,
}

impl EasemobConfig {
    /// Every key of the section.
    const KEYS: [&'static str; 4] = ["app_key", "rest_url", "websocket_url", "dns_url"];

    fn read(s: &Section<'_>) -> Self {
        Self {
            app_key: s.required_string("app_key").unwrap_or_default(),
            rest_url: s
                .string("rest_url")
                .map(|u| u.trim().trim_end_matches('/').to_owned()),
            websocket_url: s.string("websocket_url").map(|u| u.trim().to_owned()),
            dns_url: s.string("dns_url").map(|u| u.trim().to_owned()),
        }
    }

    fn check(&self, net: &NetworkConfig, c: &mut Checker<'_>) {
        match self.app_key.split_once('#') {
            Some((org, app)) if !org.is_empty() && !app.is_empty() && !app.contains('#') => {}
            _ => c.report(
                &net.key_path("app_key"),
                format!(
                    "\"{}\" is not an application key of the form org#app",
                    self.app_key
                ),
            ),
        }
        if let Some(u) = &self.rest_url {
            c.url(&net.key_path("rest_url"), u, &["http", "https"]);
        }
        if let Some(u) = &self.websocket_url {
            c.url(&net.key_path("websocket_url"), u, &["ws", "wss"]);
        }
        if let Some(u) = &self.dns_url {
            c.url(&net.key_path("dns_url"), u, &["http", "https"]);
        }
        if self.dns_url.is_none() {
            match (&self.rest_url, &self.websocket_url) {
                (Some(_), Some(_)) => {}
                (None, None) => c.report(
                    &net.section_path,
                    "set rest_url and websocket_url, or dns_url for host discovery",
                ),
                (None, Some(_)) => c.report(
                    &net.key_path("rest_url"),
                    "missing: needed with websocket_url (or set dns_url)",
                ),
                (Some(_), None) => c.report(
                    &net.key_path("websocket_url"),
                    "missing: needed with rest_url (or set dns_url)",
                ),
            }
        }
    }
}

/// `network.tencent:` — where the Tencent Cloud Chat service of the app is, and how UserSigs
/// are had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TencentConfig {
    /// The app's SDKAppID (console: "SDKAppID", a number like `1400000001`).
    pub sdk_app_id: u64,
    /// The websocket server, without path (`wss://wss.im.qcloud.com`; the client appends
    /// `/binfo?…`).
    pub websocket_url: String,
    /// The REST API base (`https://console.tim.qq.com`), for admin calls; optional, read and
    /// checked but not used by the connector yet.
    pub rest_url: Option<String>,
    /// A file holding the app's SecretKey: when set, the bridge mints UserSigs itself for
    /// Matrix users of the homeserver's domain whose localpart is their Tencent user id (the
    /// `minted` login flow). The key can sign for every user of the app: keep the file
    /// readable by the bridge only. Relative paths are relative to the config file.
    pub secret_key_file: Option<std::path::PathBuf>,
    /// The REST admin identifier (console default `administrator`); for REST admin calls,
    /// not used by the connector yet.
    pub admin_identifier: String,
}

impl TencentConfig {
    /// Every key of the section.
    const KEYS: [&'static str; 5] = [
        "sdk_app_id",
        "websocket_url",
        "rest_url",
        "secret_key_file",
        "admin_identifier",
    ];

    fn read(s: &Section<'_>, base: &std::path::Path) -> Self {
        if !s.has("sdk_app_id") {
            let _ = s.required_string("sdk_app_id");
        }
        Self {
            sdk_app_id: s
                .int("sdk_app_id", 1, i128::from(u32::MAX))
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or_default(),
            websocket_url: s
                .required_string("websocket_url")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            rest_url: s
                .string("rest_url")
                .map(|u| u.trim().trim_end_matches('/').to_owned()),
            secret_key_file: s.string("secret_key_file").map(|p| base.join(p.trim())),
            admin_identifier: s
                .string("admin_identifier")
                .map(|a| a.trim().to_owned())
                .unwrap_or_else(|| "administrator".into()),
        }
    }

    fn check(&self, net: &NetworkConfig, c: &mut Checker<'_>) {
        if !self.websocket_url.is_empty() {
            c.url(
                &net.key_path("websocket_url"),
                &self.websocket_url,
                &["ws", "wss"],
            );
        }
        if let Some(u) = &self.rest_url {
            c.url(&net.key_path("rest_url"), u, &["http", "https"]);
        }
        if self.admin_identifier.is_empty() {
            c.report(&net.key_path("admin_identifier"), "must not be empty");
        }
        if let Some(file) = &self.secret_key_file {
            match std::fs::read_to_string(file) {
                Ok(key) if key.trim().is_empty() => c.report(
                    &net.key_path("secret_key_file"),
                    format!("{} is empty", file.display()),
                ),
                Ok(_) => {}
                Err(e) => c.report(
                    &net.key_path("secret_key_file"),
                    format!("cannot read {}: {e}", file.display()),
                ),
            }
        }
    }
}

/// The keys a network reads from its section (to recognise the flat form).
fn keys_of(kind: NetworkKind) -> &'static [&'static str] {
    match kind {
        NetworkKind::Easemob => &EasemobConfig::KEYS,
        NetworkKind::Tencent => &TencentConfig::KEYS,
        NetworkKind::Jmessage => &JmessageConfig::KEYS,
    }
}

/// Reads `network:`; the flat form adds a deprecation warning to `warnings`.
pub(super) fn read(
    s: Section<'_>,
    base: &std::path::Path,
    warnings: &mut Vec<Problem>,
) -> NetworkConfig {
    let kind = match s.required_string("type") {
        Some(t) => match NetworkKind::ALL.into_iter().find(|k| k.as_str() == t) {
            Some(kind) => kind,
            None => {
                let known: Vec<&str> = NetworkKind::ALL.iter().map(|k| k.as_str()).collect();
                s.problem(
                    "type",
                    format!("unknown network \"{t}\" (known: {})", known.join(", ")),
                );
                // Read the rest as Easemob's, so its problems are reported too.
                NetworkKind::Easemob
            }
        },
        None => NetworkKind::Easemob,
    };
    let name = kind.as_str();
    let flat_keys: Vec<&str> = keys_of(kind).iter().copied().filter(|k| s.has(k)).collect();
    let out = if s.has(name) || flat_keys.is_empty() {
        // One section per network; network keys right under `network:` do not belong there.
        let sub = s.section(name);
        let section = read_section(kind, &sub, base);
        let section_path = sub.path.clone();
        sub.finish();
        for key in flat_keys {
            let _ = s.get(key);
            s.problem(
                key,
                format!("belongs in the network's section: move it under network.{name}"),
            );
        }
        NetworkConfig {
            kind,
            section,
            section_path,
        }
    } else {
        // The flat form of earlier versions.
        let section = read_section(kind, &s, base);
        warnings.push(Problem {
            path: s.path.clone(),
            line: s.line,
            message: format!(
                "the network keys ({}) right under network: are deprecated: move them into \
                 a section network.{name}:",
                flat_keys.join(", ")
            ),
        });
        NetworkConfig {
            kind,
            section,
            section_path: s.path.clone(),
        }
    };
    s.finish();
    out
}

fn read_section(kind: NetworkKind, s: &Section<'_>, base: &std::path::Path) -> NetworkSection {
    match kind {
        NetworkKind::Easemob => NetworkSection::Easemob(EasemobConfig::read(s)),
        NetworkKind::Tencent => NetworkSection::Tencent(TencentConfig::read(s, base)),
        NetworkKind::Jmessage => NetworkSection::Jmessage(JmessageConfig::read(s, base)),
    }
}

/// The semantic checks of the network's section.
pub(super) fn check(net: &NetworkConfig, c: &mut Checker<'_>) {
    match &net.section {
        NetworkSection::Easemob(e) => e.check(net, c),
        NetworkSection::Tencent(t) => t.check(net, c),
        NetworkSection::Jmessage(j) => j.check(net, c),
    }
}
