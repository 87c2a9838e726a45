//! JMessage's login flow `password`: the user's JMessage username and password, checked by
//! logging in for real (`c_init` signed with the app's masterSecret, then `login` with the
//! md5 of the password) before the login completes. The first session is parked for
//! [`super::JmessageConnector::connect`], so nothing the server hands over at login is lost
//! to a trial connection. The password is stored (the service has no tokens a web client
//! could keep instead: every new connection logs in with it, reference §B1).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::mpsc;

use super::JmessageSettings;
use crate::core::connector::{
    LoginData, LoginFailure, LoginFlow, LoginInput, LoginInputField, LoginInputFieldType,
    LoginProcess, LoginStep,
};
use crate::network::jmessage::client::{Client, ClientConfig, LinkState};
use crate::network::jmessage::session::{EndReason, SessionConfig, SessionEvent};

/// JMessage usernames as the IM REST register rules have them: a letter or digit, then
/// letters, digits, `_ . - @` (at most 128 bytes; the 4-byte minimum is the connector's
/// `register` check, not the login's).
const USERNAME_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}";

/// Flow id of the password login (the only one).
pub const PASSWORD_FLOW: &str = "password";

/// How long the trial login may take.
const LOGIN_WAIT: Duration = Duration::from_secs(20);

/// How long a checked session waits for `connect` to take it.
const WARM_TTL: Duration = Duration::from_secs(120);

/// A session whose login succeeded in a login process, waiting for `connect`.
pub(super) struct Warm {
    pub client: Client,
    pub events: mpsc::Receiver<SessionEvent>,
    at: Instant,
}

/// Sessions checked by login processes, by username.
pub(super) type WarmSessions = Arc<Mutex<HashMap<String, Warm>>>;

/// Takes the checked session of `user`, if one is waiting.
pub(super) fn take_warm(warm: &WarmSessions, user: &str) -> Option<Warm> {
    let mut map = warm.lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, w| w.at.elapsed() < WARM_TTL);
    map.remove(user)
}

/// The flows: `password`.
pub(super) fn flows() -> Vec<LoginFlow> {
    vec![LoginFlow {
        id: PASSWORD_FLOW.into(),
        name: "Password".into(),
        description: "Log in with your JMessage username and password.".into(),
    }]
}

/// A process for `flow_id`.
pub(super) fn create(
    settings: &JmessageSettings,
    warm: &WarmSessions,
    flow_id: &str,
) -> Result<Box<dyn LoginProcess>, LoginFailure> {
    if flow_id != PASSWORD_FLOW {
        return Err(LoginFailure::Refused(format!(
            "JMessage has no login flow `{flow_id}` (use {PASSWORD_FLOW})"
        )));
    }
    Ok(Box::new(JmessageLoginProcess {
        settings: settings.clone(),
        warm: warm.clone(),
    }))
}

/// The stored password of a login.
pub(super) fn stored_password(data: &LoginData) -> Result<String, LoginFailure> {
    data.secrets["password"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            LoginFailure::Refused("the stored login has no password: log in again".into())
        })
}

/// What a login stores.
pub(super) fn login_data(user: &str, password: &str) -> LoginData {
    LoginData {
        remote_id: user.to_owned(),
        secrets: json!({ "password": password }),
    }
}

/// Starts a client for `user`, its pushes receipted only once the core stored them.
pub(super) fn start_client(
    settings: &JmessageSettings,
    user: &str,
    password: &str,
) -> (Client, mpsc::Receiver<SessionEvent>) {
    let mut session = SessionConfig::new(
        &settings.app_key,
        settings.master_secret.expose(),
        user,
        password,
    );
    session.defer_push_ack = true;
    let mut cfg = ClientConfig::new(&settings.websocket_url, session);
    if let Some(b) = settings.backoff {
        cfg.backoff = b;
    }
    Client::start(cfg)
}

/// The words of a session that ended while logging in.
pub(super) fn end_failure(reason: &EndReason) -> LoginFailure {
    match reason {
        EndReason::WrongPassword | EndReason::UserNotFound => {
            LoginFailure::BadCredentials("wrong JMessage username or password".into())
        }
        EndReason::InitRefused { code, message } => LoginFailure::Refused(format!(
            "JMessage refused the bridge's app credentials ({code} {message}): the bridge's \
             operator must check network.jmessage.app_key and master_secret_file"
        )),
        EndReason::LoginRefused { code, message } => {
            LoginFailure::Refused(format!("JMessage refused the login: {code} {message}"))
        }
        EndReason::LoggedInElsewhere => {
            LoginFailure::Refused("logged in elsewhere while logging in".into())
        }
        EndReason::PasswordChanged => {
            LoginFailure::BadCredentials("the password was changed while logging in".into())
        }
        EndReason::LoggedOut => LoginFailure::Refused("the session was closed".into()),
    }
}

/// Logs `user` in for real; on success parks the session for `connect`.
pub(super) async fn check(
    settings: &JmessageSettings,
    warm: &WarmSessions,
    user: &str,
    password: &str,
) -> Result<(), LoginFailure> {
    let (client, events) = start_client(settings, user, password);
    let state = tokio::time::timeout(
        LOGIN_WAIT,
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await;
    match state {
        Ok(LinkState::Connected) => {
            let mut map = warm.lock().unwrap_or_else(|p| p.into_inner());
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
                settings.websocket_url,
                LOGIN_WAIT.as_secs()
            )))
        }
    }
}

/// One JMessage login in progress.
struct JmessageLoginProcess {
    settings: JmessageSettings,
    warm: WarmSessions,
}

#[async_trait]
impl LoginProcess for JmessageLoginProcess {
    async fn start(&mut self) -> Result<LoginStep, LoginFailure> {
        Ok(LoginStep::UserInput {
            step_id: "jmessage.password".into(),
            instructions: String::new(),
            fields: vec![
                LoginInputField {
                    field_type: LoginInputFieldType::Username,
                    id: "username".into(),
                    name: "JMessage username".into(),
                    description: String::new(),
                    // The register rules' characters (`across::valid_username`), so a command
                    // typed at this prompt is not taken for a username.
                    pattern: Some(USERNAME_PATTERN.into()),
                },
                LoginInputField {
                    field_type: LoginInputFieldType::Password,
                    id: "password".into(),
                    name: "password".into(),
                    description: String::new(),
                    pattern: None,
                },
            ],
        })
    }

    async fn submit_user_input(&mut self, input: LoginInput) -> Result<LoginStep, LoginFailure> {
        let user = input.require("username")?.trim().to_owned();
        let password = input.require("password")?.to_owned();
        if user.is_empty() || password.is_empty() {
            return Err(LoginFailure::BadCredentials(
                "the username and the password must not be empty".into(),
            ));
        }
        check(&self.settings, &self.warm, &user, &password).await?;
        Ok(LoginStep::Complete {
            step_id: "jmessage.complete".into(),
            instructions: String::new(),
            data: login_data(&user, &password),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_username_prompt_takes_usernames_not_commands() {
        let field = LoginInputField {
            field_type: LoginInputFieldType::Username,
            id: "username".into(),
            name: "JMessage username".into(),
            description: String::new(),
            pattern: Some(USERNAME_PATTERN.into()),
        };
        for ok in ["alice", "bob", "dev_fang", "a.b-c@d.e"] {
            assert!(field.check(ok).is_ok(), "{ok}");
        }
        for bad in ["register alice whatever1", "_x", "bob/otherapp", "名字"] {
            assert!(field.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refused_logins_in_words() {
        assert!(matches!(
            end_failure(&EndReason::WrongPassword),
            LoginFailure::BadCredentials(_)
        ));
        let LoginFailure::Refused(words) = end_failure(&EndReason::InitRefused {
            code: 880102,
            message: "signature fail".into(),
        }) else {
            panic!("refused");
        };
        assert!(words.contains("master_secret_file"), "{words}");
    }

    #[test]
    fn stored_password_is_required() {
        assert_eq!(
            stored_password(&login_data("alice", "pw")).ok().as_deref(),
            Some("pw")
        );
        let data = LoginData {
            remote_id: "alice".into(),
            secrets: json!({}),
        };
        assert!(stored_password(&data).is_err());
    }
}
