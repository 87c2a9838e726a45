//! Tencent Cloud Chat's login flows:
//!
//! - `usersig`: the user's Tencent user id and a UserSig their app server issued (the
//!   console or `TLSSigAPIv2`). Only the UserSig is stored; once it expires the login ends
//!   with bad credentials until a new one is given with `relogin usersig`.
//! - `minted` (only with `network.tencent.secret_key_file`): the bridge signs UserSigs itself
//!   with the app's SecretKey, and renews them, for one identity rule only: a Matrix user of
//!   the bridge's own homeserver logs in as the Tencent user whose id equals their Matrix
//!   localpart (`@alice:example.org` → `alice`). Nobody can ask for another id. The
//!   UserSigs last [`super::TencentSettings::mint_lifetime`] and are renewed at half of it.
//!
//! Both check the credentials by logging in for real before completing; that first session
//! is handed to [`super::TencentConnector::connect`] (so nothing the server delivers at login
//! is lost to a trial connection).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::mpsc;

use super::TencentSettings;
use crate::core::connector::{
    LoginData, LoginFailure, LoginFlow, LoginInput, LoginInputField, LoginInputFieldType,
    LoginProcess, LoginStep,
};
use crate::network::tencent::client::{unix_now, Client, ClientConfig, LinkState};
use crate::network::tencent::session::{EndReason, SessionConfig, SessionEvent};
use crate::network::tencent::usersig;

/// Flow id of the UserSig login (the default).
pub const USERSIG_FLOW: &str = "usersig";
/// Flow id of the login whose UserSigs the bridge signs (needs `secret_key_file`).
pub const MINTED_FLOW: &str = "minted";

/// What an expired UserSig says, at login and when a running login's UserSig runs out.
pub const USERSIG_EXPIRED: &str = "the UserSig has expired: get a new one from your app \
     server and send `relogin usersig <user id> <UserSig>`";

/// Tencent user ids: 1 to 32 bytes without spaces (the console's limit).
const USER_ID_PATTERN: &str = "[^\\s]{1,32}";

/// How long the trial login may take.
const LOGIN_WAIT: Duration = Duration::from_secs(20);

/// How long a checked session waits for [`super::TencentConnector::connect`] to take it.
const WARM_TTL: Duration = Duration::from_secs(120);

/// A session whose login succeeded in a login process, waiting for `connect`.
pub(super) struct Warm {
    pub client: Client,
    pub events: mpsc::Receiver<SessionEvent>,
    at: Instant,
}

/// Sessions checked by login processes, by Tencent user id.
pub(super) type WarmSessions = Arc<Mutex<HashMap<String, Warm>>>;

/// Takes the checked session of `user`, if one is waiting.
pub(super) fn take_warm(warm: &WarmSessions, user: &str) -> Option<Warm> {
    let mut map = warm.lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, w| w.at.elapsed() < WARM_TTL);
    map.remove(user)
}

/// The flows: `usersig` first (the default), `minted` when the bridge holds the SecretKey.
pub(super) fn flows(settings: &TencentSettings) -> Vec<LoginFlow> {
    let mut flows = vec![LoginFlow {
        id: USERSIG_FLOW.into(),
        name: "UserSig".into(),
        description: "Log in with your Tencent Cloud Chat user id and a UserSig issued by \
                      your app server (send a new one when it expires)."
            .into(),
    }];
    if settings.secret_key.is_some() {
        flows.push(LoginFlow {
            id: MINTED_FLOW.into(),
            name: "Signed by the bridge".into(),
            description: format!(
                "Log in as the Tencent user whose id is your Matrix localpart (users of {} \
                 only); the bridge signs and renews the UserSig.",
                settings.homeserver_domain
            ),
        });
    }
    flows
}

/// A process for `flow_id`, started by `matrix_user` (`None`: not known, which the minted
/// flow refuses).
pub(super) fn create(
    settings: &TencentSettings,
    warm: &WarmSessions,
    flow_id: &str,
    matrix_user: Option<&str>,
) -> Result<Box<dyn LoginProcess>, LoginFailure> {
    let minted_for = match flow_id {
        USERSIG_FLOW => None,
        MINTED_FLOW => {
            if settings.secret_key.is_none() {
                return Err(LoginFailure::Refused(
                    "this bridge does not sign UserSigs (no secret_key_file): use `login \
                     usersig`"
                        .into(),
                ));
            }
            let user = matrix_user.ok_or_else(|| {
                LoginFailure::Refused("the minted login needs to know who asks".into())
            })?;
            Some(minted_identity(user, &settings.homeserver_domain)?)
        }
        other => {
            return Err(LoginFailure::Refused(format!(
                "Tencent Cloud Chat has no login flow `{other}` (use {USERSIG_FLOW}{})",
                if settings.secret_key.is_some() {
                    format!(" or {MINTED_FLOW}")
                } else {
                    String::new()
                }
            )))
        }
    };
    Ok(Box::new(TencentLoginProcess {
        settings: settings.clone(),
        warm: warm.clone(),
        minted_for,
    }))
}

/// The Tencent user id the minted flow allows for Matrix user `matrix_user`: its localpart,
/// for users of `domain` only.
pub fn minted_identity(matrix_user: &str, domain: &str) -> Result<String, LoginFailure> {
    let (local, server) = matrix_user
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(|| LoginFailure::Refused(format!("{matrix_user} is not a Matrix user id")))?;
    if server != domain {
        return Err(LoginFailure::Refused(format!(
            "the bridge signs UserSigs only for users of {domain}, as the Tencent user of \
             their localpart: log in with `login usersig` instead"
        )));
    }
    if local.is_empty() || local.len() > 32 {
        return Err(LoginFailure::Refused(format!(
            "the localpart `{local}` cannot be a Tencent user id (1 to 32 bytes)"
        )));
    }
    Ok(local.to_owned())
}

/// The stored UserSig of a `usersig` login, or `None` for a minted one.
pub(super) fn stored_user_sig(data: &LoginData) -> Result<Option<String>, LoginFailure> {
    if data.secrets["minted"].as_bool() == Some(true) {
        return Ok(None);
    }
    data.secrets["user_sig"]
        .as_str()
        .map(|s| Some(s.to_owned()))
        .ok_or_else(|| {
            LoginFailure::Refused("the stored login has no UserSig: log in again".into())
        })
}

/// A UserSig the bridge signs for `user` now.
pub(super) fn mint(settings: &TencentSettings, user: &str) -> Option<String> {
    let key = settings.secret_key.as_ref()?;
    Some(usersig::sign(
        key.expose(),
        settings.sdk_app_id,
        user,
        unix_now(),
        settings.mint_lifetime.as_secs().max(1),
    ))
}

/// Starts a client for `user` with `user_sig`.
pub(super) fn start_client(
    settings: &TencentSettings,
    user: &str,
    user_sig: &str,
) -> (Client, mpsc::Receiver<SessionEvent>) {
    let mut session = SessionConfig::new(settings.sdk_app_id, user, user_sig);
    // A push is acknowledged only once the core stored its messages.
    session.defer_push_ack = true;
    // Groups without a cursor (every group after a restart) fetch their newest messages;
    // the core drops what it bridged already.
    session.group_catch_up = super::groups::CATCH_UP_PER_GROUP;
    session.group_read_receipts = super::receipts::REQUEST_GROUP_RECEIPTS;
    let mut cfg = ClientConfig::new(&settings.websocket_url, session);
    if let Some(b) = settings.backoff {
        cfg.backoff = b;
    }
    Client::start(cfg)
}

/// The words of a refused login.
pub(super) fn end_failure(reason: &EndReason) -> LoginFailure {
    match reason {
        EndReason::UserSigExpired => LoginFailure::BadCredentials(USERSIG_EXPIRED.into()),
        EndReason::LoginRefused(e) => LoginFailure::BadCredentials(format!(
            "Tencent Cloud Chat refused the UserSig ({e}): check the user id and get a new \
             UserSig"
        )),
        EndReason::LoginTimeout => LoginFailure::Unreachable("the login got no answer".into()),
        EndReason::Kicked(_) => LoginFailure::Refused("kicked out while logging in".into()),
        EndReason::LoggedOut => LoginFailure::Refused("the session was closed".into()),
    }
}

/// One Tencent login in progress.
struct TencentLoginProcess {
    settings: TencentSettings,
    warm: WarmSessions,
    /// The user id of a minted login (already checked against the Matrix user).
    minted_for: Option<String>,
}

impl TencentLoginProcess {
    /// Logs `user` in for real; on success parks the session for `connect`.
    async fn check(&self, user: &str, user_sig: &str) -> Result<(), LoginFailure> {
        let (client, events) = start_client(&self.settings, user, user_sig);
        let state = tokio::time::timeout(
            LOGIN_WAIT,
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await;
        match state {
            Ok(LinkState::Connected) => {
                let mut map = self.warm.lock().unwrap_or_else(|p| p.into_inner());
                // Sessions nobody took (a login the core refused after all) are closed.
                map.retain(|_, w| w.at.elapsed() < WARM_TTL);
                map.insert(
                    user.to_owned(),
                    Warm {
                        client,
                        events,
                        at: Instant::now(),
                    },
                );
                Ok(())
            }
            Ok(LinkState::Ended(reason)) => Err(end_failure(&reason)),
            Ok(_) => Err(LoginFailure::Unreachable("the login did not finish".into())),
            Err(_) => {
                client.logout().await;
                Err(LoginFailure::Unreachable(format!(
                    "no login answer from {} within {} s",
                    self.settings.websocket_url,
                    LOGIN_WAIT.as_secs()
                )))
            }
        }
    }

    fn complete(user: String, secrets: serde_json::Value) -> LoginStep {
        LoginStep::Complete {
            step_id: "tencent.complete".into(),
            instructions: String::new(),
            data: LoginData {
                remote_id: user,
                secrets,
            },
        }
    }
}

#[async_trait]
impl LoginProcess for TencentLoginProcess {
    async fn start(&mut self) -> Result<LoginStep, LoginFailure> {
        if let Some(user) = self.minted_for.clone() {
            let sig = mint(&self.settings, &user)
                .ok_or_else(|| LoginFailure::Refused("no SecretKey to sign with".into()))?;
            self.check(&user, &sig).await?;
            return Ok(Self::complete(user, json!({ "minted": true })));
        }
        Ok(LoginStep::UserInput {
            step_id: "tencent.usersig".into(),
            instructions: String::new(),
            fields: vec![
                LoginInputField {
                    field_type: LoginInputFieldType::Username,
                    id: "username".into(),
                    name: "Tencent user id".into(),
                    description: String::new(),
                    pattern: Some(USER_ID_PATTERN.into()),
                },
                LoginInputField {
                    field_type: LoginInputFieldType::Token,
                    id: "usersig".into(),
                    name: "UserSig".into(),
                    description: "The UserSig your app server signed for this user id \
                                  (TLSSigAPIv2)."
                        .into(),
                    pattern: None,
                },
            ],
        })
    }

    async fn submit_user_input(&mut self, input: LoginInput) -> Result<LoginStep, LoginFailure> {
        let user = input.require("username")?.trim().to_owned();
        let sig = input.require("usersig")?.trim().to_owned();
        let doc = usersig::decode(&sig)
            .map_err(|e| LoginFailure::BadCredentials(format!("that is not a UserSig ({e})")))?;
        if doc.identifier != user {
            return Err(LoginFailure::BadCredentials(format!(
                "that UserSig is for the user id `{}`, not `{user}`",
                doc.identifier
            )));
        }
        if doc.sdkappid != self.settings.sdk_app_id {
            return Err(LoginFailure::BadCredentials(format!(
                "that UserSig is for the app {}, not this bridge's app {}",
                doc.sdkappid, self.settings.sdk_app_id
            )));
        }
        if doc.expires_at() <= unix_now() {
            return Err(LoginFailure::BadCredentials(USERSIG_EXPIRED.into()));
        }
        self.check(&user, &sig).await?;
        Ok(Self::complete(user, json!({ "user_sig": sig })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_identity_is_the_localpart_of_own_users_only() {
        assert_eq!(
            minted_identity("@alice:example.org", "example.org").ok(),
            Some("alice".into())
        );
        assert!(matches!(
            minted_identity("@alice:evil.example", "example.org"),
            Err(LoginFailure::Refused(_))
        ));
        assert!(minted_identity("alice", "example.org").is_err());
        assert!(
            minted_identity(&format!("@{}:example.org", "a".repeat(33)), "example.org").is_err()
        );
    }
}
