//! `network.jmessage:` — where the JiGuang JMessage (极光 IM) service of the app is, and the
//! app's masterSecret (read from a file; it signs every session's `c_init`, reference §B1):
//!
//! ```yaml
//! network:
//!   type: jmessage
//!   jmessage:
//!     app_key: 4f7aef34fb361292c566a1cd            # the console's AppKey (24 characters)
//!     master_secret_file: /etc/imbridge/jmessage.secret
//!     websocket_url: wss://ws.im.jiguang.cn        # optional (this is the default)
//!     report_url: https://report.im.jpush.cn       # optional: IM REST Report v2 host
//! ```

use std::path::{Path, PathBuf};

use super::network::NetworkConfig;
use super::validate::Checker;
use super::yaml::Section;

/// The JMessage Web SDK's default server (reference §B1).
pub const DEFAULT_WEBSOCKET_URL: &str = "wss://ws.im.jiguang.cn";

/// The IM REST Report v2 host of the real service (reference §B2; its docs' base
/// `https://report.im.jpush.cn/v2`, without the version).
pub const DEFAULT_REPORT_URL: &str = "https://report.im.jpush.cn";

/// The Report v2 host to use when `report_url` is not set: the real service's for its own
/// socket server, else the socket server's own address over HTTP(S) (a sandbox serves both).
pub fn report_url_for(websocket_url: &str) -> String {
    if websocket_url.contains("ws.im.jiguang.cn") {
        return DEFAULT_REPORT_URL.to_owned();
    }
    websocket_url
        .trim_end_matches('/')
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1)
}

/// `network.jmessage:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmessageConfig {
    /// The app's AppKey (console: "AppKey", 24 lower-case hex characters on the real
    /// service; any 1 to 64 letters and digits are taken, for sandboxes).
    pub app_key: String,
    /// A file holding the app's masterSecret, which signs `c_init` (only its md5 signature
    /// goes on the wire; never logged). It can act for the whole app: keep the file readable
    /// by the bridge only. Relative paths are relative to the config file.
    pub master_secret_file: PathBuf,
    /// The socket.io server without path (`wss://ws.im.jiguang.cn`; the client appends
    /// `/socket.io/?EIO=3&transport=websocket`).
    pub websocket_url: String,
    /// The IM REST Report v2 host (message history, read with the masterSecret): where a
    /// message replayed after a crash is looked up before it is sent again. Default: see
    /// [`report_url_for`].
    pub report_url: String,
}

impl JmessageConfig {
    /// Every key of the section.
    pub(super) const KEYS: [&'static str; 4] = [
        "app_key",
        "master_secret_file",
        "websocket_url",
        "report_url",
    ];

    pub(super) fn read(s: &Section<'_>, base: &Path) -> Self {
        Self {
            app_key: s
                .required_string("app_key")
                .map(|k| k.trim().to_owned())
                .unwrap_or_default(),
            master_secret_file: s
                .required_string("master_secret_file")
                .map(|p| base.join(p.trim()))
                .unwrap_or_default(),
            websocket_url: s
                .string("websocket_url")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| DEFAULT_WEBSOCKET_URL.to_owned()),
            report_url: String::new(),
        }
        .with_report_url(s.string("report_url").as_deref())
    }

    /// `report_url` as set, or the default for the socket server.
    fn with_report_url(mut self, set: Option<&str>) -> Self {
        self.report_url = match set {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => report_url_for(&self.websocket_url),
        };
        self
    }

    pub(super) fn check(&self, net: &NetworkConfig, c: &mut Checker<'_>) {
        let key_ok = (1..=64).contains(&self.app_key.len())
            && self.app_key.bytes().all(|b| b.is_ascii_alphanumeric());
        // An empty key was reported missing by `read`.
        if !self.app_key.is_empty() && !key_ok {
            c.report(
                &net.key_path("app_key"),
                format!(
                    "\"{}\" is not a JMessage AppKey (1 to 64 letters and digits)",
                    self.app_key
                ),
            );
        }
        c.url(
            &net.key_path("websocket_url"),
            &self.websocket_url,
            &["ws", "wss"],
        );
        // A default derived from a bad `websocket_url` is that key's problem, told above.
        if self.report_url != report_url_for(&self.websocket_url) {
            c.url(
                &net.key_path("report_url"),
                &self.report_url,
                &["http", "https"],
            );
        }
        if self.master_secret_file.as_os_str().is_empty() {
            return;
        }
        match std::fs::read_to_string(&self.master_secret_file) {
            Ok(secret) if secret.trim().is_empty() => c.report(
                &net.key_path("master_secret_file"),
                format!("{} is empty", self.master_secret_file.display()),
            ),
            Ok(_) => {}
            Err(e) => c.report(
                &net.key_path("master_secret_file"),
                format!("cannot read {}: {e}", self.master_secret_file.display()),
            ),
        }
    }
}
