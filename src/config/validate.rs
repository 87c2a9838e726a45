//! Semantic checks of a loaded [`Config`]: URLs, names, templates, permissions. Every problem
//! is collected with its YAML path and line (from the line map the loader kept).

use super::ids::{is_valid_localpart, is_valid_mxid, is_valid_server_name};
use super::{yaml, Config, Problem, ID_PLACEHOLDER, NICKNAME_PLACEHOLDER};

const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

pub(super) struct Checker<'a> {
    config: &'a Config,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn report(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            line: self.config.line_of(path),
            message: message.into(),
        });
    }

    /// `value` must be an absolute URL with a host and one of `schemes`.
    pub(super) fn url(&mut self, path: &str, value: &str, schemes: &[&str]) {
        let wanted = schemes.join(" or ");
        let ok = url::Url::parse(value).is_ok_and(|u| {
            schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            self.report(
                path,
                format!("\"{value}\" is not a URL with scheme {wanted} and a host"),
            );
        }
    }
}

/// Every semantic problem of `config`.
pub(super) fn validate(config: &Config) -> Vec<Problem> {
    let mut c = Checker {
        config,
        problems: Vec::new(),
    };
    let hs = &config.homeserver;
    c.url("homeserver.address", &hs.address, &["http", "https"]);
    if !config
        .bridge
        .relay
        .message_format
        .contains(super::RELAY_MESSAGE_PLACEHOLDER)
    {
        c.report(
            "bridge.relay.message_format",
            format!(
                "must contain {} (where the relayed text goes)",
                super::RELAY_MESSAGE_PLACEHOLDER
            ),
        );
    }
    for (domain, url) in &config.double_puppet.servers {
        c.url(
            &yaml::join_path("double_puppet.servers", domain),
            url,
            &["http", "https"],
        );
    }
    if hs.domain.trim().is_empty() {
        c.report("homeserver.domain", "must not be empty");
    } else if !is_valid_server_name(&hs.domain) {
        c.report(
            "homeserver.domain",
            format!(
                "\"{}\" is not a server name (like example.org, no scheme)",
                hs.domain
            ),
        );
    }

    let asv = &config.appservice;
    c.url("appservice.address", &asv.address, &["http", "https"]);
    if asv.hostname.trim().is_empty() {
        c.report("appservice.hostname", "must not be empty");
    }
    if asv.port == 0 {
        c.report("appservice.port", "must be between 1 and 65535");
    }
    if asv.id.is_empty()
        || !asv
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        c.report(
            "appservice.id",
            "must be a non-empty name of letters, digits, '.', '_' or '-'",
        );
    }
    if !is_valid_localpart(&asv.bot.username) {
        c.report(
            "appservice.bot.username",
            format!(
                "\"{}\" is not a valid Matrix localpart (a-z, 0-9, . _ = - / +)",
                asv.bot.username
            ),
        );
    } else if config.remote_id_from_localpart(&asv.bot.username).is_some() {
        c.report(
            "appservice.bot.username",
            "falls inside the ghost namespace of appservice.username_template",
        );
    }
    if !asv.bot.avatar.is_empty() && !asv.bot.avatar.starts_with("mxc://") {
        c.report("appservice.bot.avatar", "must be an mxc:// URI or empty");
    }
    let template = &asv.username_template;
    match template.matches(ID_PLACEHOLDER).count() {
        1 => {
            let rest = template.replacen(ID_PLACEHOLDER, "", 1);
            if rest.is_empty() {
                c.report(
                    "appservice.username_template",
                    "needs a prefix or suffix around {{.}} (e.g. easemob_{{.}}), or the bridge \
                     would claim every user",
                );
            } else if !is_valid_localpart(&rest) {
                c.report(
                    "appservice.username_template",
                    "may only contain localpart characters (a-z, 0-9, . _ = - / +) around {{.}}",
                );
            }
        }
        0 => c.report(
            "appservice.username_template",
            "must contain {{.}} where the remote user id goes (e.g. easemob_{{.}})",
        ),
        _ => c.report(
            "appservice.username_template",
            "must contain {{.}} only once",
        ),
    }

    let br = &config.bridge;
    if br.command_prefix.is_empty() || br.command_prefix.chars().any(char::is_whitespace) {
        c.report(
            "bridge.command_prefix",
            "must be a non-empty word without spaces",
        );
    }
    for key in br.permissions.keys() {
        let ok = key == "*"
            || (key.starts_with('@') && is_valid_mxid(key))
            || (!key.starts_with('@') && is_valid_server_name(key));
        if !ok {
            let path = super::yaml::join_path("bridge.permissions", key);
            c.report(
                &path,
                format!("\"{key}\" is not \"*\", a server name or a full user id (@user:server)"),
            );
        }
    }
    if br
        .displayname_template
        .matches(NICKNAME_PLACEHOLDER)
        .count()
        != 1
    {
        c.report(
            "bridge.displayname_template",
            "must contain {{.Nickname}} exactly once",
        );
    }

    let log = &config.logging;
    if !LOG_LEVELS.contains(&log.level.as_str()) {
        c.report(
            "logging.level",
            format!(
                "unknown level \"{}\" (use {})",
                log.level,
                LOG_LEVELS.join(", ")
            ),
        );
    }
    for (module, level) in &log.modules {
        let path = super::yaml::join_path("logging.modules", module);
        if module.is_empty()
            || !module
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
        {
            c.report(
                &path,
                format!("\"{module}\" is not a module path (like imbridge::network)"),
            );
        } else if !LOG_LEVELS.contains(&level.as_str()) {
            c.report(
                &path,
                format!("unknown level \"{level}\" (use {})", LOG_LEVELS.join(", ")),
            );
        }
    }

    super::network::check(&config.network, &mut c);
    if let Some(secret) = &config.provisioning.shared_secret {
        let len = secret.expose().trim().chars().count();
        if len < super::MIN_PROVISIONING_SECRET {
            c.report(
                "provisioning.shared_secret",
                format!(
                    "must be at least {} characters (it has {len}); remove the key to turn \
                     the provisioning API off",
                    super::MIN_PROVISIONING_SECRET
                ),
            );
        }
    }
    let metrics = &config.metrics;
    if metrics.listen.parse::<std::net::SocketAddr>().is_err() {
        c.report(
            "metrics.listen",
            format!(
                "\"{}\" is not an IP address and port (like 127.0.0.1:9090 or [::1]:9090)",
                metrics.listen
            ),
        );
    }
    c.problems
}
