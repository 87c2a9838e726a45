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
//! ```

use std::path::{Path, PathBuf};

use super::network::NetworkConfig;
use super::validate::Checker;
use super::yaml::Section;

/// The JMessage Web SDK's default server (reference §B1).
pub const DEFAULT_WEBSOCKET_URL: &str = "wss://ws.im.jiguang.cn";

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
}

impl JmessageConfig {
    /// Every key of the section.
    pub(super) const KEYS: [&'static str; 3] = ["app_key", "master_secret_file", "websocket_url"];

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
        }
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
