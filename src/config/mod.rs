//! The bridge's configuration: one YAML file (see `bridge.yaml.example` at the top of the
//! repository, which documents every key).
//!
//! This module owns the config types, loading ([`Config::load`]: parse, read every key, resolve
//! the appservice tokens, then [`Config::validate`]), the error report ([`ConfigErrors`]: every
//! problem at once, each as `file:line: yaml.path: message`), permission resolution, the ghost
//! naming rules (username template, localpart escaping) and the appservice registration file
//! ([`Registration`]).
//!
//! Token flow: `as_token` / `hs_token` come from, in this order, the environment variables
//! `IMBRIDGE_AS_TOKEN` / `IMBRIDGE_HS_TOKEN`, the `appservice.as_token_file` / `hs_token_file`
//! files, the inline `appservice.as_token` / `hs_token` keys, and last the registration file
//! named by `appservice.registration` — the one `generate-registration` writes
//! ([`generate_registration`]: to `-o FILE`, else to `appservice.registration`, else to
//! `registration.yaml` next to the config, with notes when the config would not find it), so
//! `imbridge -c bridge.yaml generate-registration` followed by `imbridge -c bridge.yaml`
//! works without copying tokens by hand.

mod database;
mod ids;
mod jmessage;
mod load;
mod network;
mod registration;
mod secret;
mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use database::{
    redact_uri, DatabaseConfig, DatabaseKind, DatabaseUri, DEFAULT_MAX_CONNECTIONS,
};
pub use ids::{
    escape_localpart, is_valid_localpart, is_valid_mxid, is_valid_server_name, split_mxid,
    unescape_localpart, PermissionLevel,
};
pub use jmessage::{
    report_url_for as jmessage_report_url_for, JmessageConfig,
    DEFAULT_REPORT_URL as JMESSAGE_DEFAULT_REPORT_URL,
    DEFAULT_WEBSOCKET_URL as JMESSAGE_DEFAULT_WEBSOCKET_URL,
};
pub use load::{LoadOptions, AS_TOKEN_ENV, HS_TOKEN_ENV};
pub use network::{EasemobConfig, NetworkConfig, NetworkKind, NetworkSection, TencentConfig};
pub use registration::{
    generate_double_puppet_registration, generate_registration, GeneratedRegistration, Namespace,
    Namespaces, Registration, RegistrationError,
};
pub use secret::{Secret, TokenSource};

/// The placeholder for the escaped remote id in `appservice.username_template`.
pub const ID_PLACEHOLDER: &str = "{{.}}";
/// The placeholder for the remote display name in `bridge.displayname_template`.
pub const NICKNAME_PLACEHOLDER: &str = "{{.Nickname}}";

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub homeserver: HomeserverConfig,
    pub appservice: AppserviceConfig,
    pub bridge: BridgeConfig,
    pub database: DatabaseConfig,
    pub logging: LoggingConfig,
    pub network: NetworkConfig,
    pub metrics: MetricsConfig,
    pub double_puppet: DoublePuppetConfig,
    pub provisioning: ProvisioningConfig,
    /// The config file as named when loading (used in error messages).
    source: String,
    /// The folder relative paths are resolved against (the config file's folder).
    base_dir: PathBuf,
    /// YAML path → line of every key read, for locating problems.
    lines: BTreeMap<String, usize>,
    /// Non-fatal remarks (e.g. a token file others can read).
    warnings: Vec<Problem>,
}

/// `homeserver:` — the Matrix server this bridge belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeserverConfig {
    /// Client-server API base URL, without trailing slash (`http://127.0.0.1:8008`).
    pub address: String,
    /// The server name in user ids (`example.org`).
    pub domain: String,
}

/// `appservice:` — how the homeserver reaches the bridge and who the bridge is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppserviceConfig {
    /// The URL the homeserver pushes transactions to (goes into the registration).
    pub address: String,
    /// Address to listen on.
    pub hostname: String,
    /// Port to listen on.
    pub port: u16,
    /// Appservice id (unique per homeserver).
    pub id: String,
    /// The bridge bot.
    pub bot: BotConfig,
    /// Token the bridge presents to the homeserver (`None` only when loaded for generating
    /// a registration).
    pub as_token: Option<Secret>,
    /// Token the homeserver presents to the bridge.
    pub hs_token: Option<Secret>,
    /// Where `as_token` came from.
    pub as_token_source: TokenSource,
    /// Where `hs_token` came from.
    pub hs_token_source: TokenSource,
    /// The registration file (resolved against the config file's folder), if configured.
    pub registration: Option<PathBuf>,
    /// Ghost localpart template with `{{.}}` for the escaped remote id (`easemob_{{.}}`).
    pub username_template: String,
    /// Ask for typing notifications, receipts and presence (MSC2409).
    pub ephemeral_events: bool,
}

/// `appservice.bot:` — the bridge bot's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotConfig {
    pub username: String,
    pub displayname: String,
    /// `mxc://` URI, or empty for none.
    pub avatar: String,
}

/// `bridge:` — behaviour of the bridge core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Prefix of bot commands outside the management room; by default the network's
    /// ([`NetworkKind::command_prefix`]: `!em`, `!tc`, `!jm`).
    pub command_prefix: String,
    /// `*`, a server name or an MXID → level.
    pub permissions: BTreeMap<String, PermissionLevel>,
    /// Ghost display names, with `{{.Nickname}}`; by default `{{.Nickname}} (<network>)`
    /// ([`NetworkKind::display_name`]: `(Easemob)`, `(Tencent)`, …).
    pub displayname_template: String,
    pub management_room_text: ManagementRoomText,
    /// Messages fetched from history when a portal is created.
    pub max_initial_messages: u32,
    /// Messages fetched per chat to fill in what was missed while the bridge was down.
    pub max_catchup_messages: u32,
    /// Seconds a ghost's profile (name, avatar) is trusted before its next use fetches it
    /// again (for networks that do not report profile changes). Default 3600.
    pub profile_refresh_secs: u64,
    /// Send `com.beeper.message_send_status` events for Matrix messages (see
    /// [`crate::core::send_status`]). Default off, as in mautrix bridges.
    pub message_status_events: bool,
    /// Tell the sender in the room (a notice) when their message, edit, recall or reaction
    /// could not be bridged. Default on, as in mautrix bridges.
    pub message_error_notices: bool,
    /// The bot sends a read receipt for each Matrix message once the network accepted it.
    /// Default off, as in mautrix bridges.
    pub delivery_receipts: bool,
    /// `bridge.relay`: relay mode.
    pub relay: RelayConfig,
    /// A Matrix space per login holding its portals ([`crate::core::spaces`]). Default off.
    pub personal_filtering_spaces: bool,
    /// DM rooms get the peer's name and avatar as room name and avatar, kept current
    /// (mautrix's key; [`crate::core::portal`]). Default on.
    pub private_chat_portal_meta: bool,
    /// IM users' presence shown on their ghosts (the logins subscribe to their direct chats'
    /// peers; [`crate::core::presence`]). Default on.
    pub presence: bool,
    /// Seconds between two comparisons of each double-puppeted user's per-room notification
    /// settings (Matrix push rules) with their IM do-not-disturb settings
    /// ([`crate::core::settings_sync`]); 0 turns it off. Default 60.
    pub settings_sync_secs: u64,
    /// A logged-in user leaving a group portal also leaves the network group. Default off:
    /// leaving the room only hides it on Matrix.
    pub leave_on_part: bool,
    /// At most this many stored logins connect at once when the bridge starts (each after a
    /// random delay of up to 20 ms), so thousands of logins do not hit the IM service in one
    /// burst. Default 32.
    pub max_concurrent_connects: usize,
    /// IM → Matrix events a channel portal (a public chat room) holds while it is busy; when
    /// full, its oldest are dropped (and counted), so a busy channel never delays the other
    /// chats. Default 1000.
    pub channel_queue_depth: usize,
}

/// `bridge.relay:` — relay mode (mautrix's term): in a portal where a logged-in user ran
/// `set-relay`, messages of Matrix users without a login (permission `relay` or more) go out
/// through that user's login, prefixed by the sender's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Whether relay mode can be used at all. Default false.
    pub enabled: bool,
    /// Only bridge admins may `set-relay` (else any logged-in user of the portal). Default
    /// true, as in mautrix.
    pub admin_only: bool,
    /// How a relayed text reads: `{{.DisplayName}}` is the sender's display name in the room,
    /// `{{.Message}}` the text. Default `{{.DisplayName}}: {{.Message}}`.
    pub message_format: String,
}

/// The sender's name in [`RelayConfig::message_format`].
pub const RELAY_NAME_PLACEHOLDER: &str = "{{.DisplayName}}";
/// The text in [`RelayConfig::message_format`].
pub const RELAY_MESSAGE_PLACEHOLDER: &str = "{{.Message}}";

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            admin_only: true,
            message_format: format!("{RELAY_NAME_PLACEHOLDER}: {RELAY_MESSAGE_PLACEHOLDER}"),
        }
    }
}

impl RelayConfig {
    /// A relayed text: the format with the name and message filled in.
    pub fn format(&self, name: &str, message: &str) -> String {
        self.message_format
            .replace(RELAY_NAME_PLACEHOLDER, name)
            .replace(RELAY_MESSAGE_PLACEHOLDER, message)
    }
}

/// `bridge.management_room_text:` — what the bot says in management rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementRoomText {
    /// Sent when a management room is created.
    pub welcome: String,
    /// Appended to `help`.
    pub additional_help: String,
}

/// `logging:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// Default level: `trace`, `debug`, `info`, `warn`, `error` or `off`.
    pub level: String,
    pub format: LogFormat,
    /// Module path → level (`imbridge::network: debug`).
    pub modules: BTreeMap<String, String>,
}

/// Log line format (see [`crate::logging`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `journald` when stderr is the systemd journal, else `pretty`.
    #[default]
    Auto,
    /// Human-readable lines (coloured on a terminal).
    Pretty,
    /// `<priority>target: message` lines for the journal (it adds the timestamp).
    Journald,
    /// One JSON object a line.
    Json,
}

impl LoggingConfig {
    /// The filter as a `tracing_subscriber::EnvFilter` directive (`info,imbridge::network=debug`).
    pub fn env_filter(&self) -> String {
        let mut out = self.level.clone();
        for (module, level) in &self.modules {
            out.push_str(&format!(",{module}={level}"));
        }
        out
    }
}

/// `double_puppet:` — making the user's own IM actions appear as their real Matrix user
/// (mautrix's double puppeting). Empty by default: own actions then show as the user's ghost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoublePuppetConfig {
    /// `secrets`: homeserver domain → `as_token:TOKEN`, the `as_token` of a second appservice
    /// registration (`url: null`, non-exclusive `@.*:domain`) that lets the bridge act as that
    /// domain's users (the appservice method). Users of such a domain get double puppeting
    /// automatically at login.
    pub secrets: BTreeMap<String, Secret>,
    /// `servers`: homeserver domain → client-server API base URL, for users of other
    /// homeservers who give the bridge an access token (`login-matrix`). The bridge's own
    /// domain needs no entry.
    pub servers: BTreeMap<String, String>,
}

/// `provisioning:` — the provisioning HTTP API (mautrix bridgev2 paths under
/// `/_matrix/provision/v3`) on the appservice listener. Off unless `shared_secret` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningConfig {
    /// `shared_secret`: what integrations present as `Authorization: Bearer` (with
    /// `?user_id=`). `None` turns the API off.
    pub shared_secret: Option<Secret>,
    /// `allow_openid`: also accept `Authorization: Bearer openid:<token>`, a Matrix OpenID
    /// token verified against the homeserver. Default true.
    pub allow_openid: bool,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            shared_secret: None,
            allow_openid: true,
        }
    }
}

/// The shortest `provisioning.shared_secret` accepted (as in mautrix).
pub const MIN_PROVISIONING_SECRET: usize = 16;

/// The prefix of a `double_puppet.secrets` value using the appservice method (mautrix's form).
pub const AS_TOKEN_SECRET_PREFIX: &str = "as_token:";

/// `metrics:` — the optional health and metrics listener (`/health/live`, `/health/ready`,
/// `/metrics`), separate from the appservice listener. Off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether to run the listener.
    pub enabled: bool,
    /// `host:port` to listen on (`127.0.0.1:9090`).
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9090".into(),
        }
    }
}

impl BridgeConfig {
    /// What `displayname_template` puts after the nickname (` (Easemob)`).
    pub fn ghost_name_suffix(&self) -> String {
        match self.displayname_template.split_once(NICKNAME_PLACEHOLDER) {
            Some((_, suffix)) => suffix.to_owned(),
            None => String::new(),
        }
    }

    /// A ghost's display name for a remote nickname.
    pub fn format_displayname(&self, nickname: &str) -> String {
        self.displayname_template
            .replacen(NICKNAME_PLACEHOLDER, nickname, 1)
    }
}

impl AppserviceConfig {
    /// The `(prefix, suffix)` around `{{.}}` in the username template.
    fn template_parts(&self) -> (&str, &str) {
        self.username_template
            .split_once(ID_PLACEHOLDER)
            .unwrap_or((self.username_template.as_str(), ""))
    }
}

impl Config {
    /// Loads, resolves tokens (required) and validates the config file, reading the token
    /// environment variables. Every problem is reported, not just the first.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        Self::load_with(path, &LoadOptions::daemon())
    }

    /// Like [`Config::load`], but tokens may be missing: for `generate-registration`.
    pub fn load_for_registration(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        Self::load_with(path, &LoadOptions::registration())
    }

    /// Loads with explicit options (environment lookup, whether tokens are required).
    pub fn load_with(
        path: impl AsRef<Path>,
        opts: &LoadOptions<'_>,
    ) -> Result<Config, ConfigErrors> {
        load::load_file(path.as_ref(), opts)
    }

    /// Parses config text. Relative paths in it are resolved against `base_dir`; `source`
    /// names the text in error messages.
    pub fn from_yaml_str(
        text: &str,
        source: &str,
        base_dir: &Path,
        opts: &LoadOptions<'_>,
    ) -> Result<Config, ConfigErrors> {
        load::load_str(text, source, base_dir, opts)
    }

    /// Checks every value (URLs, names, templates, permissions, tokens); lists every problem.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let problems = validate::validate(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors::new(&self.source, problems))
        }
    }

    /// The file (or name) the config was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The folder relative paths in the file are resolved against (the file's folder).
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Non-fatal remarks found while loading; log them at start-up.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The line of a YAML path (or of its nearest ancestor present in the file).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            p = &p[..parent_split(p)?];
        }
    }

    /// The permission level of a Matrix user: an MXID entry beats a server-name entry, which
    /// beats `*`; nothing matching means [`PermissionLevel::Block`].
    pub fn permission_for(&self, mxid: &str) -> PermissionLevel {
        let perms = &self.bridge.permissions;
        if let Some(level) = perms.get(mxid) {
            return *level;
        }
        if let Some((_, server)) = split_mxid(mxid) {
            if let Some(level) = perms.get(server) {
                return *level;
            }
            let lower = server.to_ascii_lowercase();
            if let Some(level) = perms.get(&lower) {
                return *level;
            }
        }
        perms.get("*").copied().unwrap_or_default()
    }

    /// The bot's MXID (`@easemobbot:example.org`).
    pub fn bot_mxid(&self) -> String {
        format!(
            "@{}:{}",
            self.appservice.bot.username, self.homeserver.domain
        )
    }

    /// The ghost localpart of a remote user id (`easemob_alice`); see [`escape_localpart`].
    pub fn ghost_localpart(&self, remote_id: &str) -> String {
        let (prefix, suffix) = self.appservice.template_parts();
        format!("{prefix}{}{suffix}", escape_localpart(remote_id))
    }

    /// The ghost MXID of a remote user id.
    pub fn ghost_mxid(&self, remote_id: &str) -> String {
        format!(
            "@{}:{}",
            self.ghost_localpart(remote_id),
            self.homeserver.domain
        )
    }

    /// The remote user id behind a ghost localpart, or `None` if it is not a ghost's.
    pub fn remote_id_from_localpart(&self, localpart: &str) -> Option<String> {
        let (prefix, suffix) = self.appservice.template_parts();
        let inner = localpart.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if inner.is_empty() {
            return None;
        }
        unescape_localpart(inner)
    }

    /// The remote user id behind a ghost MXID on our domain.
    pub fn remote_id_from_mxid(&self, mxid: &str) -> Option<String> {
        let (local, server) = split_mxid(mxid)?;
        if server != self.homeserver.domain {
            return None;
        }
        self.remote_id_from_localpart(local)
    }

    /// True for the bot and for every ghost: users in this appservice's namespace, whose
    /// events coming back from the homeserver are the bridge's own echoes.
    pub fn is_ghost_or_bot(&self, mxid: &str) -> bool {
        mxid == self.bot_mxid() || self.remote_id_from_mxid(mxid).is_some()
    }
}

/// The byte offset where the parent of a YAML path ends (`a.b."c.d"` → 3), if it has one.
fn parent_split(path: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut last = None;
    let mut escaped = false;
    for (i, c) in path.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => last = Some(i),
            _ => {}
        }
    }
    last
}

/// One problem in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// YAML path (`appservice.port`); empty for the whole document.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    /// `file:line: path: message`.
    pub fn display_in(&self, file: &str) -> String {
        let mut out = file.to_owned();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Every problem found in a config file. `Display` prints one per line:
/// `bridge.yaml:12: appservice.port: must be between 1 and 65535`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file as named when loading.
    pub file: String,
    /// In file order (problems without a line last).
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    fn new(file: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Self {
            file: file.to_owned(),
            problems,
        }
    }

    /// The problem about a YAML path, if any.
    pub fn find(&self, path: &str) -> Option<&Problem> {
        self.problems.iter().find(|p| p.path == path)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&p.display_in(&self.file))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests;
