//! The Tencent connector (the core's contract) against the in-process Tencent sandbox: the
//! `usersig` and `minted` login flows, text both ways, the user's own messages from another
//! instance, offline messages at login in order, the conversation list, and an expired or
//! refused UserSig seen as bad credentials.

#![cfg(feature = "tencent")]

use std::sync::Arc;
use std::time::Duration;

use imbridge::config::Secret;
use imbridge::core::connector::{
    ChatId, LoginData, LoginFailure, LoginInput, LoginState, LoginStep, MessageContent,
    NetworkConnector, NetworkLogin, RemoteEvent, RemoteEventReceiver, RemoteMessage,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::network::tencent::client::{unix_now, Client, ClientConfig, LinkState};
use imbridge::network::tencent::connector::{TencentConnector, TencentSettings};
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use imbridge::network::tencent::usersig;
use tokio::sync::mpsc;
use tokio::sync::oneshot;

const APP: u64 = 1_400_000_001;
const KEY: &str = "sandbox-secret-key";
const DOMAIN: &str = "example.org";

struct Env {
    sandbox: Arc<Sandbox>,
    addr: String,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sandbox = Arc::new(Sandbox::new(SandboxConfig::new(APP, KEY)));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
        let _ = stopped.await;
    }));
    Env {
        sandbox,
        addr: format!("ws://127.0.0.1:{}", addr.port()),
        _stop: stop,
    }
}

impl Env {
    fn connector(&self, with_key: bool) -> TencentConnector {
        TencentConnector::new(TencentSettings {
            sdk_app_id: APP,
            websocket_url: self.addr.clone(),
            secret_key: with_key.then(|| Secret::new(KEY)),
            homeserver_domain: DOMAIN.into(),
            backoff: Some((Duration::from_millis(50), Duration::from_millis(400))),
            mint_lifetime: imbridge::network::tencent::connector::DEFAULT_MINT_LIFETIME,
        })
    }

    /// A plain client of `user` (the other side, or the user's phone).
    async fn phone(&self, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
        let sig = self.sandbox.user_sig(user, 600);
        let mut cfg = ClientConfig::new(&self.addr, SessionConfig::new(APP, user, &sig));
        cfg.backoff = (Duration::from_millis(50), Duration::from_millis(400));
        let (client, events) = Client::start(cfg);
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await
        .expect("phone logs in");
        assert_eq!(state, LinkState::Connected);
        (client, events)
    }
}

/// alice logged in through the `usersig` flow as `matrix_user` and connected: her session and
/// its events (a channel of `capacity`).
async fn connect_alice(
    env: &Env,
    matrix_user: &str,
    capacity: usize,
) -> (Box<dyn NetworkLogin>, RemoteEventReceiver) {
    let c = env.connector(false);
    let sig = env.sandbox.user_sig("alice", 600);
    let data = login(
        &c,
        "usersig",
        matrix_user,
        &[("username", "alice"), ("usersig", &sig)],
    )
    .await
    .expect("logs in");
    let (tx, events) = boxed_channel(capacity);
    let session = c.connect(&data, tx).await.expect("connects");
    (session, events)
}

/// Runs flow `flow` for `matrix_user` with `values` and returns its outcome.
async fn login(
    c: &TencentConnector,
    flow: &str,
    matrix_user: &str,
    values: &[(&str, &str)],
) -> Result<LoginData, LoginFailure> {
    let mut p = c.create_login_for(flow, matrix_user)?;
    let mut step = p.start().await?;
    loop {
        match step {
            LoginStep::Complete { data, .. } => return Ok(data),
            LoginStep::UserInput { .. } => {
                let input: LoginInput = values.iter().copied().collect();
                step = p.submit_user_input(input).await?;
            }
            LoginStep::DisplayAndWait { .. } => panic!("no Tencent flow waits"),
        }
    }
}

async fn next_event(events: &mut RemoteEventReceiver) -> RemoteEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

async fn next_message(events: &mut RemoteEventReceiver) -> RemoteMessage {
    loop {
        if let RemoteEvent::Message(m) = next_event(events).await {
            return m;
        }
    }
}

async fn wait_state(events: &mut RemoteEventReceiver) -> LoginState {
    loop {
        if let RemoteEvent::State(s) = next_event(events).await {
            return s;
        }
    }
}

fn text_of(m: &RemoteMessage) -> &str {
    match &m.content {
        MessageContent::Text { body, .. } => body,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn usersig_login_and_text_both_ways() {
    let env = start().await;
    env.sandbox.import("bob");
    let c = env.connector(false);
    let sig = env.sandbox.user_sig("alice", 600);
    let data = login(
        &c,
        "usersig",
        "@matrix-alice:example.org",
        &[("username", "alice"), ("usersig", &sig)],
    )
    .await
    .expect("a live UserSig logs in");
    assert_eq!(data.remote_id, "alice");
    assert_eq!(data.secrets["user_sig"], sig.as_str());
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);

    let (bob, mut bob_events) = env.phone("bob").await;
    // Matrix → Tencent.
    let ids = session
        .send_message(
            &ChatId::direct("bob"),
            &MessageContent::text("hello bob"),
            None,
        )
        .await
        .expect("sent");
    assert_eq!(ids.len(), 1);
    let got = loop {
        match tokio::time::timeout(Duration::from_secs(10), bob_events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) => break m,
            Ok(Some(_)) => continue,
            other => panic!("bob got nothing: {other:?}"),
        }
    };
    assert_eq!(
        (got.from.as_str(), got.text().as_str()),
        ("alice", "hello bob")
    );
    assert_eq!(got.key, ids[0], "the id returned is the message's MsgKey");

    // Tencent → Matrix.
    bob.send_c2c_text("alice", "hi alice")
        .await
        .expect("bob sends");
    let m = next_message(&mut events).await;
    assert_eq!(m.chat, ChatId::direct("bob"));
    assert_eq!((m.sender.as_str(), m.from_self), ("bob", false));
    assert_eq!(text_of(&m), "hi alice");

    // The user's own message from another instance: from_self, in the chat with bob.
    let (phone, _phone_events) = env.phone("alice").await;
    phone
        .send_c2c_text("bob", "from my phone")
        .await
        .expect("phone sends");
    let m = next_message(&mut events).await;
    assert_eq!((m.chat.clone(), m.from_self), (ChatId::direct("bob"), true));
    assert_eq!(text_of(&m), "from my phone");

    // Groups are refused in words; the conversation list has bob.
    let refused = session
        .send_message(&ChatId::group("@TGS#1"), &MessageContent::text("x"), None)
        .await;
    assert!(refused.is_err());
    assert_eq!(
        session.list_chats().await.expect("listed"),
        [ChatId::direct("bob")]
    );
    assert_eq!(
        session
            .user_profile("bob")
            .await
            .expect("profile")
            .name
            .as_deref(),
        Some("bob")
    );

    // A REST kick ends the login as logged out.
    env.sandbox.kick("alice", 3);
    loop {
        match wait_state(&mut events).await {
            LoginState::LoggedOut { reason } => {
                assert!(reason.contains("REST kick"), "{reason}");
                break;
            }
            LoginState::TransientDisconnect { .. } => continue,
            other => panic!("not logged out: {other:?}"),
        }
    }
    session.disconnect(false).await;
    drop(bob);
}

#[tokio::test]
async fn offline_messages_arrive_in_order_then_catch_up_is_done() {
    let env = start().await;
    env.sandbox.import("alice");
    let (bob, _bob_events) = env.phone("bob").await;
    for i in 0..25 {
        bob.send_c2c_text("alice", &format!("offline {i}"))
            .await
            .expect("stored offline");
    }
    let (_session, mut events) = connect_alice(&env, "@a:example.org", 64).await;
    let mut texts = Vec::new();
    loop {
        match next_event(&mut events).await {
            RemoteEvent::Message(m) => texts.push(text_of(&m).to_owned()),
            RemoteEvent::CatchUpDone => break,
            _ => {}
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("offline {i}")).collect();
    assert_eq!(
        texts, want,
        "every offline message (two sync pages), in order, once"
    );
}

#[tokio::test]
async fn expired_or_foreign_usersig_is_bad_credentials() {
    let env = start().await;
    let c = env.connector(false);
    let past = unix_now() - 3600;
    let expired = usersig::sign(KEY, APP, "alice", past, 60);
    match login(
        &c,
        "usersig",
        "@a:example.org",
        &[("username", "alice"), ("usersig", &expired)],
    )
    .await
    {
        Err(LoginFailure::BadCredentials(why)) => {
            assert!(why.contains("relogin usersig"), "{why}");
        }
        other => panic!("expired UserSig accepted: {other:?}"),
    }
    // Signed for bob: refused before connecting.
    let bobs = env.sandbox.user_sig("bob", 600);
    assert!(matches!(
        login(
            &c,
            "usersig",
            "@a:example.org",
            &[("username", "alice"), ("usersig", &bobs)]
        )
        .await,
        Err(LoginFailure::BadCredentials(_))
    ));
    // Signed with another key: the server refuses it (70009).
    let forged = usersig::sign("not-the-key", APP, "alice", unix_now(), 600);
    match login(
        &c,
        "usersig",
        "@a:example.org",
        &[("username", "alice"), ("usersig", &forged)],
    )
    .await
    {
        Err(LoginFailure::BadCredentials(why)) => assert!(why.contains("70009"), "{why}"),
        other => panic!("forged UserSig accepted: {other:?}"),
    }
    // A stored UserSig that ran out: the session ends as bad credentials, with the way out.
    let short = usersig::sign(KEY, APP, "alice", unix_now() - 100, 50);
    let data = LoginData {
        remote_id: "alice".into(),
        secrets: serde_json::json!({ "user_sig": short }),
    };
    let (tx, mut events) = boxed_channel(64);
    let _session = c.connect(&data, tx).await.expect("the session starts");
    match wait_state(&mut events).await {
        LoginState::BadCredentials { reason } => {
            assert!(reason.contains("relogin usersig"), "{reason}")
        }
        other => panic!("not bad credentials: {other:?}"),
    }
}

#[tokio::test]
async fn minted_flow_only_for_the_own_localpart() {
    let env = start().await;
    // Without the SecretKey there is no such flow.
    let plain = env.connector(false);
    assert_eq!(plain.login_flows().len(), 1);
    assert!(plain
        .create_login_for("minted", "@alice:example.org")
        .is_err());

    let c = env.connector(true);
    assert_eq!(c.login_flows().len(), 2);
    // Another homeserver's user may not have a UserSig signed, whatever their localpart.
    match c.create_login_for("minted", "@alice:evil.example") {
        Err(LoginFailure::Refused(why)) => assert!(why.contains(DOMAIN), "{why}"),
        Err(other) => panic!("wrong failure: {other:?}"),
        Ok(_) => panic!("a foreign user got a minted login"),
    }
    // The own user gets exactly their localpart, nothing asked.
    let data = login(&c, "minted", "@alice:example.org", &[])
        .await
        .expect("minted login");
    assert_eq!(data.remote_id, "alice");
    assert_eq!(data.secrets, serde_json::json!({ "minted": true }));
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
    session.disconnect(true).await;
    // After a restart: a fresh UserSig is signed for the stored login.
    let (tx, mut events) = boxed_channel(64);
    let _again = c.connect(&data, tx).await.expect("resumes");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
}

#[tokio::test]
async fn minted_usersig_is_renewed_before_it_expires() {
    let env = start().await;
    // UserSigs of 6 s, renewed every 3 s.
    let c = TencentConnector::new(TencentSettings {
        sdk_app_id: APP,
        websocket_url: env.addr.clone(),
        secret_key: Some(Secret::new(KEY)),
        homeserver_domain: DOMAIN.into(),
        backoff: Some((Duration::from_millis(50), Duration::from_millis(400))),
        mint_lifetime: Duration::from_secs(6),
    });
    let data = login(&c, "minted", "@carol:example.org", &[])
        .await
        .expect("minted login");
    let (tx, mut events) = boxed_channel(64);
    let _session = c.connect(&data, tx).await.expect("connects");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
    // Past the first UserSig's expiry, the link drops: the reconnect logs in with the renewed
    // one (the first would be refused with 70001).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(env.sandbox.drop_connections("carol") >= 1);
    loop {
        match wait_state(&mut events).await {
            LoginState::TransientDisconnect { .. } => continue,
            LoginState::Connected => break,
            other => panic!("not reconnected with a renewed UserSig: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_push_is_acknowledged_only_once_stored() {
    let env = start().await;
    env.sandbox.import("alice");
    let (_session, mut events) = connect_alice(&env, "@a:example.org", 64).await;
    loop {
        if let RemoteEvent::CatchUpDone = next_event(&mut events).await {
            break;
        }
    }
    let (bob, _bob_events) = env.phone("bob").await;
    let before = env.sandbox.push_acks();
    bob.send_c2c_text("alice", "ack me later")
        .await
        .expect("sent");
    assert_eq!(text_of(&next_message(&mut events).await), "ack me later");
    let RemoteEvent::Checkpoint(checkpoint) = next_event(&mut events).await else {
        panic!("the push's checkpoint follows its message");
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.sandbox.push_acks(),
        before,
        "acknowledged before it was stored"
    );
    checkpoint.done();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while env.sandbox.push_acks() == before {
        assert!(tokio::time::Instant::now() < deadline, "never acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(env.sandbox.push_acks(), before + 1);
}

#[tokio::test]
async fn history_pages_back_oldest_first_in_dms_and_groups() {
    use imbridge::network::tencent::elem::Elem;
    let env = start().await;
    env.sandbox.import("alice");
    env.sandbox.import("bob");
    let gid = env
        .sandbox
        .create_group("Work", "", "history", "bob", &["alice".to_owned()])
        .expect("group created");
    let (bob, _bob_events) = env.phone("bob").await;
    let (phone, _phone_events) = env.phone("alice").await;
    // 25 of each, more than one page (20); the DM has one of alice's own from her phone.
    for i in 1..=25 {
        if i == 13 {
            phone.send_c2c_text("bob", "c 13").await.expect("sent");
        } else {
            bob.send_c2c_text("alice", &format!("c {i}"))
                .await
                .expect("sent");
        }
        bob.send_group(&gid, vec![Elem::text(format!("g {i}"))], Vec::new())
            .await
            .expect("sent");
    }
    let (session, mut events) = connect_alice(&env, "@matrix-alice:example.org", 256).await;
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
    let history = session.as_history().expect("Tencent has history");
    let texts = |ms: &[RemoteMessage]| ms.iter().map(|m| text_of(m).to_owned()).collect::<Vec<_>>();

    let dm = history
        .history(&ChatId::direct("bob"), 22)
        .await
        .expect("DM history");
    let want: Vec<String> = (4..=25).map(|i| format!("c {i}")).collect();
    assert_eq!(texts(&dm), want, "the latest 22, oldest first");
    let own = dm
        .iter()
        .find(|m| text_of(m) == "c 13")
        .expect("own message");
    assert!(own.from_self && own.sender == "alice");
    assert!(dm.iter().all(|m| m.chat == ChatId::direct("bob")));
    let all = history
        .history(&ChatId::direct("bob"), 100)
        .await
        .expect("DM history");
    assert_eq!(all.len(), 25, "the whole conversation, no more");

    let group = history
        .history(&ChatId::group(&gid), 22)
        .await
        .expect("group history");
    let want: Vec<String> = (4..=25).map(|i| format!("g {i}")).collect();
    assert_eq!(texts(&group), want, "the latest 22, oldest first");
    assert!(group.iter().all(|m| m.sender == "bob" && !m.from_self));
    let all = history
        .history(&ChatId::group(&gid), 100)
        .await
        .expect("group history");
    assert_eq!(all.len(), 25);
    // A chat with nothing in it has no history; an unknown group is a clear error.
    let empty = history.history(&ChatId::direct("carol"), 10).await;
    assert!(empty.map(|v| v.is_empty()).unwrap_or(true));
    assert!(history
        .history(&ChatId::group("@TGS#nope"), 10)
        .await
        .is_err());
    session.disconnect(false).await;
}
