//! What the Matrix side needs to know about the homeserver and the appservice registration.
//! Built by `main` from the configuration; the tokens never appear in `Debug` output (and so
//! never in logs).

use std::fmt;
use std::net::SocketAddr;

use ruma::{OwnedUserId, UserId};

/// The appservice's view of its homeserver and registration.
#[derive(Clone)]
pub struct AppserviceSettings {
    /// Client-server API base URL, e.g. `https://matrix.example.org` (no trailing path).
    pub homeserver_url: String,
    /// The server name (the part after `:` in user ids), e.g. `example.org`.
    pub domain: String,
    /// The token the appservice sends to the homeserver (registration `as_token`).
    pub as_token: String,
    /// The token the homeserver sends to the appservice (registration `hs_token`).
    pub hs_token: String,
    /// The registration `id` (used by the ping endpoint).
    pub appservice_id: String,
    /// The bridge bot's localpart (registration `sender_localpart`).
    pub bot_localpart: String,
    /// Where the appservice HTTP listener binds.
    pub listen: SocketAddr,
}

impl AppserviceSettings {
    /// The bridge bot's full user id, `@{bot_localpart}:{domain}`.
    pub fn bot_user_id(&self) -> Result<OwnedUserId, String> {
        UserId::parse(format!("@{}:{}", self.bot_localpart, self.domain)).map_err(|e| {
            format!(
                "invalid bot user id @{}:{}: {e}",
                self.bot_localpart, self.domain
            )
        })
    }
}

impl fmt::Debug for AppserviceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppserviceSettings")
            .field("homeserver_url", &self.homeserver_url)
            .field("domain", &self.domain)
            .field("as_token", &"<redacted>")
            .field("hs_token", &"<redacted>")
            .field("appservice_id", &self.appservice_id)
            .field("bot_localpart", &self.bot_localpart)
            .field("listen", &self.listen)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_tokens() {
        let s = AppserviceSettings {
            homeserver_url: "http://127.0.0.1:8008".into(),
            domain: "example.org".into(),
            as_token: "AS_SECRET_VALUE".into(),
            hs_token: "HS_SECRET_VALUE".into(),
            appservice_id: "imbridge".into(),
            bot_localpart: "easemobbot".into(),
            listen: "127.0.0.1:29300".parse().unwrap(),
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(dbg.contains("easemobbot"));
        assert_eq!(s.bot_user_id().unwrap().as_str(), "@easemobbot:example.org");
    }
}
