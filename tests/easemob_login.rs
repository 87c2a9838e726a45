//! Easemob's login flows against the in-process sandbox, through the core's step driver:
//! `password` and `token` both check the credentials before completing (wrong password,
//! unknown or another user's token, expired token: bad credentials in the flow's words); a
//! token login stores the token and no password, connects with it, and ends as bad
//! credentials asking for a new token once the token expires (noticed at the session's next
//! heartbeat, so that test takes half a minute).

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{TestSandbox, APP_KEY};
use imbridge::core::connector::{
    LoginData, LoginFailure, LoginState, NetworkConnector, RemoteEvent,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::core::login_steps::{NextStep, PendingLogin};
use imbridge::network::easemob::connector::{
    EasemobConnector, EasemobSettings, PASSWORD_FLOW, TOKEN_FLOW,
};
use imbridge::network::easemob::rest::{http_client, RestClient};
use imbridge::network::easemob::sandbox::SandboxConfig;

fn connector(sb: &TestSandbox) -> EasemobConnector {
    EasemobConnector::new(EasemobSettings {
        app_key: APP_KEY.into(),
        rest_url: sb.rest_url(),
        websocket_url: sb.ws_url(),
    })
}

/// Follows `flow` with `values`; the login data once complete.
async fn login(
    c: &EasemobConnector,
    flow: &str,
    values: &[&str],
) -> Result<LoginData, LoginFailure> {
    let mut pending = PendingLogin::begin(c, flow, "@mx:example.org").await?;
    pending.fill_all(values).map_err(LoginFailure::Refused)?;
    match pending.advance().await? {
        NextStep::Complete { data, .. } => Ok(data),
        other => panic!("{flow}: not complete after all values: {other:?}"),
    }
}

/// A user token as an app server gets it (password grant).
async fn token_of(sb: &TestSandbox, user: &str, password: &str) -> String {
    let rest = RestClient::new(http_client().expect("http"), &sb.rest_url(), APP_KEY)
        .expect("rest client");
    rest.password_token(user, password)
        .await
        .expect("token issued")
        .access_token
}

fn bad_credentials(r: &Result<LoginData, LoginFailure>) -> String {
    match r {
        Err(LoginFailure::BadCredentials(why)) => why.clone(),
        other => panic!("expected bad credentials, got {other:?}"),
    }
}

#[tokio::test]
async fn both_flows_check_the_credentials_first() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    sb.user("bob", "bob-pw");
    let c = connector(&sb);
    let ids: Vec<String> = c.login_flows().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, [PASSWORD_FLOW, TOKEN_FLOW]);

    let data = login(&c, PASSWORD_FLOW, &["Alice", "alice-pw"])
        .await
        .expect("password login");
    assert_eq!(data.remote_id, "alice");
    assert_eq!(data.secrets["password"], "alice-pw");
    let why = bad_credentials(&login(&c, PASSWORD_FLOW, &["alice", "nope"]).await);
    assert!(why.contains("password"), "{why}");

    let token = token_of(&sb, "alice", "alice-pw").await;
    let data = login(&c, TOKEN_FLOW, &["alice", &token])
        .await
        .expect("token login");
    assert_eq!(data.remote_id, "alice");
    assert_eq!(data.secrets["token"], token.as_str());
    assert!(data.secrets.get("password").is_none(), "no password stored");
    let why = bad_credentials(&login(&c, TOKEN_FLOW, &["alice", "not-a-token"]).await);
    assert!(why.contains("login token"), "{why}");
    let bobs = token_of(&sb, "bob", "bob-pw").await;
    let why = bad_credentials(&login(&c, TOKEN_FLOW, &["alice", &bobs]).await);
    assert!(why.contains("alice"), "{why}");
    // The Debug of login data never shows the token.
    assert!(!format!("{data:?}").contains(&token));
}

#[tokio::test]
async fn a_token_login_connects_and_its_expiry_asks_for_a_new_token() {
    let mut cfg = SandboxConfig::new(APP_KEY);
    cfg.token_ttl_ms = 6_000;
    let sb = TestSandbox::start_with(cfg).await;
    sb.user("alice", "alice-pw");
    let c = connector(&sb);
    let token = token_of(&sb, "alice", "alice-pw").await;
    let data = login(&c, TOKEN_FLOW, &["alice", &token])
        .await
        .expect("token login");
    let (tx, mut rx) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects with the token");
    let t0 = Instant::now();
    let mut states = Vec::new();
    // The session checks the expiry at its next heartbeat (every 30 s).
    while t0.elapsed() < Duration::from_secs(50) {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some(RemoteEvent::State(state))) => {
                say!(t0, "state {state:?}");
                let end = matches!(state, LoginState::BadCredentials { .. });
                states.push(state);
                if end {
                    break;
                }
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    assert_eq!(states.first(), Some(&LoginState::Connected), "{states:?}");
    match states.last() {
        Some(LoginState::BadCredentials { reason }) => {
            assert!(reason.contains("login token"), "{reason}")
        }
        other => panic!("the expired token did not end the login: {other:?} in {states:?}"),
    }
    session.disconnect(false).await;
    // An expired token is refused when logging in, too.
    let why = bad_credentials(&login(&c, TOKEN_FLOW, &["alice", &token]).await);
    assert!(why.contains("expired"), "{why}");
}

/// `register` through the connector against the sandbox: a new account comes back as login
/// data that connects; a taken name, an illegal one, a closed app and a full one are told
/// apart.
#[tokio::test]
async fn registration_creates_accounts_and_names_each_refusal() {
    use imbridge::core::registration::RegisterFailure;

    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    let c = connector(&sb);
    let reg = c.as_registration().expect("Easemob registers");
    let data = reg
        .register("Newcomer", "newcomer-pw")
        .await
        .expect("registered");
    assert_eq!(data.remote_id, "newcomer");
    let (events, _rx) = boxed_channel(64);
    let session = c
        .connect(&data, events)
        .await
        .expect("the new account connects");
    session.disconnect(false).await;
    assert_eq!(
        reg.register("alice", "x").await.expect_err("taken"),
        RegisterFailure::NameTaken("alice".into())
    );
    assert!(matches!(
        reg.register("no spaces", "x").await.expect_err("illegal"),
        RegisterFailure::NameInvalid(_)
    ));

    let mut cfg = SandboxConfig::new(APP_KEY);
    cfg.open_registration = false;
    let closed = TestSandbox::start_with(cfg).await;
    let c = connector(&closed);
    let err = c
        .as_registration()
        .expect("Easemob registers")
        .register("someone", "pw")
        .await
        .expect_err("closed");
    assert_eq!(err, RegisterFailure::Closed);
    assert!(
        err.to_string().contains("does not allow registering"),
        "{err}"
    );

    let mut cfg = SandboxConfig::new(APP_KEY);
    cfg.max_users = Some(0);
    let full = TestSandbox::start_with(cfg).await;
    let c = connector(&full);
    assert!(matches!(
        c.as_registration()
            .expect("Easemob registers")
            .register("someone", "pw")
            .await
            .expect_err("full"),
        RegisterFailure::QuotaReached(_)
    ));
}
