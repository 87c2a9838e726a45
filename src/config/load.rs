//! Reading the config file into [`Config`]: every key, with defaults for the optional ones,
//! type checks, unknown-key reports, and the resolution of the appservice tokens (environment,
//! token files, inline, registration file). Semantic checks follow in `validate`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::registration::Registration;
use super::yaml::{self, Problems, Section};
use super::*;

/// Environment variable overriding `appservice.as_token`.
pub const AS_TOKEN_ENV: &str = "IMBRIDGE_AS_TOKEN";
/// Environment variable overriding `appservice.hs_token`.
pub const HS_TOKEN_ENV: &str = "IMBRIDGE_HS_TOKEN";

/// How to load: whether the tokens must be found, and how to read environment variables.
pub struct LoadOptions<'a> {
    /// False only for generating a registration (which creates the tokens).
    pub require_tokens: bool,
    /// Environment lookup (the process environment for the daemon; a closure in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl LoadOptions<'static> {
    /// For running the bridge: tokens required, process environment.
    pub fn daemon() -> Self {
        Self {
            require_tokens: true,
            env: &process_env,
        }
    }

    /// For `generate-registration`: tokens optional, process environment.
    pub fn registration() -> Self {
        Self {
            require_tokens: false,
            env: &process_env,
        }
    }
}

pub(super) fn load_file(path: &Path, opts: &LoadOptions<'_>) -> Result<Config, ConfigErrors> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::new(
            &source,
            vec![Problem {
                path: String::new(),
                line: None,
                message: format!("cannot read the config file: {e}"),
            }],
        )
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    load_str(&text, &source, &base, opts)
}

pub(super) fn load_str(
    text: &str,
    source: &str,
    base: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Config, ConfigErrors> {
    let root = yaml::parse(text).map_err(|p| ConfigErrors::new(source, vec![p]))?;
    let problems = Problems::default();
    let lines = RefCell::new(Vec::new());
    let mut warnings = Vec::new();
    let mut config = {
        let top = Section::root(&root, &problems, &lines);
        let config = Config {
            homeserver: homeserver(top.section("homeserver")),
            appservice: appservice(top.section("appservice"), base),
            bridge: bridge(top.section("bridge")),
            database: super::database::load(top.section("database"), base),
            logging: logging(top.section("logging")),
            network: super::network::read(top.section("network"), base, &mut warnings),
            metrics: metrics(top.section("metrics")),
            double_puppet: double_puppet(top.section("double_puppet")),
            provisioning: provisioning(top.section("provisioning")),
            source: source.to_owned(),
            base_dir: base.to_path_buf(),
            lines: BTreeMap::new(),
            warnings: Vec::new(),
        };
        top.finish();
        config
    };
    network_defaults(&mut config);
    config.lines = lines.into_inner().into_iter().collect();
    resolve_tokens(&mut config, &root, base, opts, &problems, &mut warnings);
    config.warnings = warnings;
    let mut all = problems.into_vec();
    // Semantic checks, except on paths that already have a problem (missing, wrong type).
    for p in super::validate::validate(&config) {
        if !all.iter().any(|q| q.path == p.path) {
            all.push(p);
        }
    }
    if all.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::new(source, all))
    }
}

/// The `bridge` defaults that name the network: `command_prefix` (`!em`, `!tc`, `!jm`) and
/// `displayname_template` (`{{.Nickname}} (Tencent)`), where the file does not set them.
fn network_defaults(config: &mut Config) {
    let kind = config.network.kind;
    if config.bridge.command_prefix.is_empty() {
        config.bridge.command_prefix = kind.command_prefix().to_owned();
    }
    if config.bridge.displayname_template.is_empty() {
        config.bridge.displayname_template =
            format!("{NICKNAME_PLACEHOLDER} ({})", kind.display_name());
    }
}

fn trim_url(url: String) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

fn homeserver(s: Section<'_>) -> HomeserverConfig {
    let out = HomeserverConfig {
        address: s
            .required_string("address")
            .map(trim_url)
            .unwrap_or_default(),
        domain: s.required_string("domain").unwrap_or_default(),
    };
    s.finish();
    out
}

fn appservice(s: Section<'_>, base: &Path) -> AppserviceConfig {
    let bot = s.section("bot");
    let bot_cfg = BotConfig {
        username: bot.required_string("username").unwrap_or_default(),
        displayname: bot.string("displayname").unwrap_or_default(),
        avatar: bot.string("avatar").unwrap_or_default(),
    };
    bot.finish();
    // Token keys are read by `resolve_tokens`; mark them used here.
    for key in ["as_token", "hs_token", "as_token_file", "hs_token_file"] {
        let _ = s.get(key);
    }
    let out = AppserviceConfig {
        address: s
            .required_string("address")
            .map(trim_url)
            .unwrap_or_default(),
        hostname: s.string("hostname").unwrap_or_else(|| "127.0.0.1".into()),
        port: s
            .required_int("port", 1, 65535)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        id: s.required_string("id").unwrap_or_default(),
        bot: bot_cfg,
        as_token: None,
        hs_token: None,
        as_token_source: TokenSource::Missing,
        hs_token_source: TokenSource::Missing,
        registration: s.string("registration").map(|p| base.join(p)),
        username_template: s.required_string("username_template").unwrap_or_default(),
        ephemeral_events: s.bool("ephemeral_events").unwrap_or(true),
    };
    s.finish();
    out
}

fn bridge(s: Section<'_>) -> BridgeConfig {
    let mut permissions = BTreeMap::new();
    for (key, value, line) in s.string_map("permissions") {
        match value.parse::<PermissionLevel>() {
            Ok(level) => {
                permissions.insert(key, level);
            }
            Err(message) => {
                let path = yaml::join_path(&s.child_path("permissions"), &key);
                s.problems().push(&path, Some(line), message);
            }
        }
    }
    let text = s.section("management_room_text");
    let management_room_text = ManagementRoomText {
        welcome: text.string("welcome").unwrap_or_else(|| {
            "Hello, I'm the bridge bot. Use `help` for a list of commands.".into()
        }),
        additional_help: text.string("additional_help").unwrap_or_default(),
    };
    text.finish();
    let out = BridgeConfig {
        // Empty: the network's default, filled in once `network.type` is read.
        command_prefix: s.string("command_prefix").unwrap_or_default(),
        permissions,
        displayname_template: s.string("displayname_template").unwrap_or_default(),
        management_room_text,
        max_initial_messages: s
            .int("max_initial_messages", 0, 10_000)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(50),
        max_catchup_messages: s
            .int("max_catchup_messages", 0, 100_000)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(500),
        profile_refresh_secs: s
            .int("profile_refresh_secs", 1, 7 * 24 * 3600)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(3600),
        message_status_events: s.bool("message_status_events").unwrap_or(false),
        message_error_notices: s.bool("message_error_notices").unwrap_or(true),
        delivery_receipts: s.bool("delivery_receipts").unwrap_or(false),
        relay: relay(s.section("relay")),
        personal_filtering_spaces: s.bool("personal_filtering_spaces").unwrap_or(false),
        private_chat_portal_meta: s.bool("private_chat_portal_meta").unwrap_or(true),
        presence: s.bool("presence").unwrap_or(true),
        settings_sync_secs: s
            .int("settings_sync_secs", 0, 24 * 3600)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(60),
        leave_on_part: s.bool("leave_on_part").unwrap_or(false),
        max_concurrent_connects: s
            .int("max_concurrent_connects", 1, 10_000)
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(32),
        channel_queue_depth: s
            .int("channel_queue_depth", 1, 1_000_000)
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(1000),
    };
    s.finish();
    out
}

fn relay(s: Section<'_>) -> RelayConfig {
    let default = RelayConfig::default();
    let out = RelayConfig {
        enabled: s.bool("enabled").unwrap_or(default.enabled),
        admin_only: s.bool("admin_only").unwrap_or(default.admin_only),
        message_format: s.string("message_format").unwrap_or(default.message_format),
    };
    s.finish();
    out
}

fn logging(s: Section<'_>) -> LoggingConfig {
    let format = match s.string("format").as_deref() {
        None | Some("auto") => LogFormat::Auto,
        Some("pretty") => LogFormat::Pretty,
        Some("journald") => LogFormat::Journald,
        Some("json") => LogFormat::Json,
        Some(other) => {
            s.problem(
                "format",
                format!("unknown format \"{other}\" (use auto, pretty, journald or json)"),
            );
            LogFormat::Auto
        }
    };
    let out = LoggingConfig {
        level: s.string("level").unwrap_or_else(|| "info".into()),
        format,
        modules: s
            .string_map("modules")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect(),
    };
    s.finish();
    out
}

fn double_puppet(s: Section<'_>) -> DoublePuppetConfig {
    let mut secrets = BTreeMap::new();
    for (domain, value, line) in s.string_map("secrets") {
        if value
            .strip_prefix(AS_TOKEN_SECRET_PREFIX)
            .is_some_and(|t| !t.is_empty())
        {
            secrets.insert(domain, Secret::new(value));
        } else {
            let path = yaml::join_path(&s.child_path("secrets"), &domain);
            s.problems().push(
                &path,
                Some(line),
                format!(
                    "must be `{AS_TOKEN_SECRET_PREFIX}` followed by the as_token of the double \
                     puppeting registration (the only method this bridge supports)"
                ),
            );
        }
    }
    let servers = s
        .string_map("servers")
        .into_iter()
        .map(|(domain, url, _)| (domain, trim_url(url)))
        .collect();
    s.finish();
    DoublePuppetConfig { secrets, servers }
}

fn provisioning(s: Section<'_>) -> ProvisioningConfig {
    let defaults = ProvisioningConfig::default();
    let out = ProvisioningConfig {
        shared_secret: s.string("shared_secret").map(Secret::new),
        allow_openid: s.bool("allow_openid").unwrap_or(defaults.allow_openid),
    };
    s.finish();
    out
}

fn metrics(s: Section<'_>) -> MetricsConfig {
    let defaults = MetricsConfig::default();
    let out = MetricsConfig {
        enabled: s.bool("enabled").unwrap_or(defaults.enabled),
        listen: s
            .string("listen")
            .map(|l| l.trim().to_owned())
            .unwrap_or(defaults.listen),
    };
    s.finish();
    out
}

impl Section<'_> {
    /// A required integer in `min..=max`.
    fn required_int(&self, key: &str, min: i128, max: i128) -> Option<i128> {
        if !self.has(key) {
            let _ = self.get(key);
            self.problems()
                .push(&self.child_path(key), self.line, "missing (required)");
            return None;
        }
        self.int(key, min, max)
    }
}

/// One token's candidate sources, read from the `appservice` section.
struct TokenKeys {
    inline: Option<(String, usize)>,
    file: Option<(String, usize)>,
}

fn token_keys(root: &yaml::Node, name: &str) -> TokenKeys {
    let mut out = TokenKeys {
        inline: None,
        file: None,
    };
    let yaml::Node::Map(top) = root else {
        return out;
    };
    let Some(yaml::Node::Map(entries)) =
        top.iter().find(|e| e.key == "appservice").map(|e| &e.value)
    else {
        return out;
    };
    for entry in entries {
        let text = match &entry.value {
            yaml::Node::Str(s) => s.clone(),
            yaml::Node::Int(i) => i.to_string(),
            _ => continue,
        };
        if entry.key == name {
            out.inline = Some((text, entry.line));
        } else if entry.key == format!("{name}_file") {
            out.file = Some((text, entry.line));
        }
    }
    out
}

/// Finds `as_token` and `hs_token`: environment, then `*_file`, then inline, then the
/// registration file.
fn resolve_tokens(
    config: &mut Config,
    root: &yaml::Node,
    base: &Path,
    opts: &LoadOptions<'_>,
    problems: &Problems,
    warnings: &mut Vec<Problem>,
) {
    let mut found: [(Option<Secret>, TokenSource); 2] = Default::default();
    for (slot, (name, env)) in [("as_token", AS_TOKEN_ENV), ("hs_token", HS_TOKEN_ENV)]
        .into_iter()
        .enumerate()
    {
        let keys = token_keys(root, name);
        let path = format!("appservice.{name}");
        if let (Some(_), Some((_, line))) = (&keys.inline, &keys.file) {
            problems.push(
                &format!("{path}_file"),
                Some(*line),
                format!("set either {path} or {path}_file, not both"),
            );
        }
        if let Some(value) = (opts.env)(env).map(|v| v.trim().to_owned()) {
            if !value.is_empty() {
                found[slot] = (Some(Secret::new(value)), TokenSource::Env(env.to_owned()));
                continue;
            }
        }
        if let Some((file, line)) = keys.file {
            let file = base.join(file);
            match read_secret_file(&file, warnings, &format!("{path}_file"), line) {
                Ok(value) => found[slot] = (Some(Secret::new(value)), TokenSource::File(file)),
                Err(message) => problems.push(&format!("{path}_file"), Some(line), message),
            }
            continue;
        }
        if let Some((value, line)) = keys.inline {
            if value.trim().is_empty() {
                problems.push(&path, Some(line), "is empty");
            } else {
                found[slot] = (Some(Secret::new(value.trim())), TokenSource::Inline);
            }
        }
    }
    let need_registration = found.iter().any(|(t, _)| t.is_none());
    if let (true, Some(reg_path)) = (need_registration, config.appservice.registration.clone()) {
        let line = config.lines.get("appservice.registration").copied();
        match Registration::load(&reg_path) {
            Ok(reg) => {
                warn_if_readable_by_others(&reg_path, warnings, "appservice.registration", line);
                if reg.id != config.appservice.id && opts.require_tokens {
                    problems.push(
                        "appservice.registration",
                        line,
                        format!(
                            "{} was generated for appservice id \"{}\", not \"{}\": run \
                             generate-registration again and give the homeserver the new file",
                            reg_path.display(),
                            reg.id,
                            config.appservice.id
                        ),
                    );
                }
                let source = TokenSource::Registration(reg_path.clone());
                if found[0].0.is_none() {
                    found[0] = (Some(reg.as_token.clone()), source.clone());
                }
                if found[1].0.is_none() {
                    found[1] = (Some(reg.hs_token.clone()), source);
                }
            }
            Err(e) if opts.require_tokens => {
                let hint = if e.is_not_found() {
                    format!(
                        "{} does not exist yet: run `imbridge -c {} generate-registration` \
                         and give the file to the homeserver",
                        reg_path.display(),
                        config.source
                    )
                } else {
                    e.to_string()
                };
                problems.push("appservice.registration", line, hint);
            }
            Err(_) => {}
        }
    }
    for (slot, name, env) in [(0, "as_token", AS_TOKEN_ENV), (1, "hs_token", HS_TOKEN_ENV)] {
        if found[slot].0.is_none()
            && opts.require_tokens
            && config.appservice.registration.is_none()
        {
            problems.push(
                &format!("appservice.{name}"),
                config.line_of("appservice"),
                format!(
                    "missing: set appservice.registration (and run generate-registration), \
                     appservice.{name}, appservice.{name}_file or {env}"
                ),
            );
        }
    }
    let [(as_token, as_source), (hs_token, hs_source)] = found;
    config.appservice.as_token = as_token;
    config.appservice.as_token_source = as_source;
    config.appservice.hs_token = hs_token;
    config.appservice.hs_token_source = hs_source;
}

/// Reads a token file (trimmed); warns when others may read it.
fn read_secret_file(
    path: &Path,
    warnings: &mut Vec<Problem>,
    key: &str,
    line: usize,
) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    warn_if_readable_by_others(path, warnings, key, Some(line));
    Ok(value.to_owned())
}

/// Adds a warning when a file holding secrets is readable by group or others.
pub(super) fn warn_if_readable_by_others(
    path: &Path,
    warnings: &mut Vec<Problem>,
    key: &str,
    line: Option<usize>,
) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            warnings.push(Problem {
                path: key.to_owned(),
                line,
                message: format!(
                    "{} holds a secret but has mode {:o}: chmod 600 it",
                    path.display(),
                    mode & 0o777
                ),
            });
        }
    }
}
