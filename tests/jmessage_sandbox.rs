//! Our JMessage client (EIO3 codec + sans-I/O session + tokio task) against our JMessage
//! sandbox (socketioxide serving Engine.IO v3) over loopback: login, typed refusals, single
//! text both ways with extras, offline messages at login in order, the `/v1` admin REST, and
//! a dropped link with a send waiting in the outbox.

#![cfg(feature = "jmessage")]

use std::sync::Arc;
use std::time::Duration;

use imbridge::network::jmessage::client::{Client, ClientConfig, LinkState};
use imbridge::network::jmessage::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::jmessage::session::{
    EndReason, IncomingMessage, SendError, SessionConfig, SessionEvent,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

const APP_KEY: &str = "sandboxappkey00000000000";
const SECRET: &str = "sandbox-master-secret";

struct TestSandbox {
    sandbox: Arc<Sandbox>,
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestSandbox {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sandbox = Arc::new(Sandbox::new(SandboxConfig::new(APP_KEY, SECRET)));
        for (u, p) in [
            ("alice", "alice-pw"),
            ("bob", "bob-pw"),
            ("carol", "carol-pw"),
        ] {
            sandbox.register(u, p);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            sandbox,
            addr,
            _stop: stop,
        }
    }

    fn server(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn config(&self, user: &str, password: &str, secret: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new(
            &self.server(),
            SessionConfig::new(APP_KEY, secret, user, password),
        );
        cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
        cfg
    }

    /// A Rust client logged in as `user` (password `<user>-pw`).
    async fn client(&self, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
        let (client, events) = Client::start(self.config(user, &format!("{user}-pw"), SECRET));
        let state = wait_state(&client).await;
        assert_eq!(state, LinkState::Connected);
        (client, events)
    }

    /// `POST /v1/...` with the app's Basic auth.
    async fn rest(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("http://{}{path}", self.addr))
            .basic_auth(APP_KEY, Some(SECRET))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn wait_state(client: &Client) -> LinkState {
    tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("login settles within 10 s")
}

/// The next message event (bounded wait).
async fn next_message(events: &mut mpsc::Receiver<SessionEvent>) -> IncomingMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) => return m,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("client task ended"),
            Err(_) => panic!("no message within 10 s"),
        }
    }
}

#[tokio::test]
async fn rust_clients_chat_both_ways_with_extras() {
    let sb = TestSandbox::start().await;
    let (alice, mut alice_events) = sb.client("alice").await;
    let (bob, mut bob_events) = sb.client("bob").await;

    let receipt = alice
        .send_text("bob", "hello bob 你好", Some(json!({"k": "v", "n": 1})))
        .await
        .expect("sent");
    assert!(receipt.msg_id > 0);
    let got = next_message(&mut bob_events).await;
    assert_eq!(got.msg_id, receipt.msg_id);
    assert_eq!(got.ctime_ms, receipt.ctime_ms);
    assert_eq!(
        (
            got.from.as_str(),
            got.target.as_str(),
            got.msg_type.as_str()
        ),
        ("alice", "bob", "text")
    );
    assert_eq!(got.text.as_deref(), Some("hello bob 你好"));
    assert_eq!(got.extras, Some(json!({"k": "v", "n": 1})));
    assert_eq!(got.from_appkey.as_deref(), Some(APP_KEY));
    assert!(!got.offline);

    bob.send_text("alice", "hi alice", None)
        .await
        .expect("sent");
    let got = next_message(&mut alice_events).await;
    assert_eq!(
        (got.from.as_str(), got.text.as_deref()),
        ("bob", Some("hi alice"))
    );
    assert_eq!(got.extras, None);

    // An unknown target is a typed refusal with the service's code.
    let err = bob.send_text("nobody", "x", None).await.unwrap_err();
    assert!(
        matches!(err, SendError::Rejected { code: 880203, .. }),
        "{err:?}"
    );
    alice.logout().await;
    bob.logout().await;
}

#[tokio::test]
async fn wrong_password_bad_signature_and_unknown_user_end_with_typed_reasons() {
    let sb = TestSandbox::start().await;
    let cases = [
        (
            sb.config("alice", "nope", SECRET),
            "wrong password",
            EndReason::WrongPassword,
        ),
        (
            sb.config("ghost", "x", SECRET),
            "unknown user",
            EndReason::UserNotFound,
        ),
        (
            sb.config("alice", "alice-pw", "not-the-secret"),
            "bad signature",
            EndReason::InitRefused {
                code: 880102,
                message: "signatu fail".into(),
            },
        ),
    ];
    for (cfg, what, want) in cases {
        let (client, _events) = Client::start(cfg);
        assert_eq!(wait_state(&client).await, LinkState::Ended(want), "{what}");
    }
    assert_eq!(sb.sandbox.sessions_of("alice"), 0);
}

#[tokio::test]
async fn offline_messages_arrive_at_login_in_order() {
    let sb = TestSandbox::start().await;
    // Sent while bob is offline: two by alice over the websocket, one by carol via the REST.
    let (alice, _a) = sb.client("alice").await;
    for text in ["one", "two"] {
        alice.send_text("bob", text, None).await.unwrap();
    }
    let (status, body) = sb
        .rest(
            "/v1/messages",
            json!({"version": 1, "target_type": "single", "from_type": "user",
                "from_id": "carol", "target_id": "bob", "msg_type": "text",
                "msg_body": {"text": "three", "extras": {"via": "rest"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["msg_id"].as_i64().is_some());
    alice.send_text("bob", "four", None).await.unwrap();

    let (_bob, mut events) = sb.client("bob").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = next_message(&mut events).await;
        assert!(m.offline);
        got.push((m.from, m.text.unwrap_or_default()));
    }
    // Grouped per conversation as the service does, each in sending order.
    let want = [
        ("alice", "one"),
        ("alice", "two"),
        ("alice", "four"),
        ("carol", "three"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, want);

    // Acknowledged: a second login of bob gets nothing again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_bob2, mut events2) = sb.client("bob").await;
    let again = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(SessionEvent::Message(m)) = events2.recv().await {
                return m;
            }
        }
    })
    .await;
    assert!(
        again.is_err(),
        "offline messages are delivered once: {again:?}"
    );
}

#[tokio::test]
async fn rest_registers_users_and_checks_basic_auth() {
    let sb = TestSandbox::start().await;
    let (status, body) = sb
        .rest(
            "/v1/users/",
            json!([{"username": "dave", "password": "dave-pw"},
                                   {"username": "alice", "password": "x"}]),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body[0], json!({"username": "dave"}));
    assert_eq!(body[1]["error"]["code"], 899001);
    let (_dave, _e) = sb.client("dave").await;

    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/users/", sb.addr))
        .basic_auth(APP_KEY, Some("wrong"))
        .json(&json!([{"username": "eve", "password": "p"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(!sb.sandbox.has_user("eve"));
}

#[tokio::test]
async fn a_dropped_link_reconnects_logs_in_again_and_sends_the_waiting_message() {
    let sb = TestSandbox::start().await;
    let (alice, _a) = sb.client("alice").await;
    let (_bob, mut bob_events) = sb.client("bob").await;
    let mut state = alice.wait_for(|_| true).await;
    assert_eq!(state, LinkState::Connected);
    assert_eq!(sb.sandbox.disconnect_user("alice"), 1);
    // The send waits in the outbox while the link is down, then goes after the new login.
    let send = tokio::spawn({
        let alice = alice.clone();
        async move { alice.send_text("bob", "after the drop", None).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut saw_reconnecting = false;
    while tokio::time::Instant::now() < deadline {
        state = alice.link_state();
        if matches!(state, LinkState::Reconnecting(_)) {
            saw_reconnecting = true;
        }
        if saw_reconnecting && state == LinkState::Connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_reconnecting, "the drop was noticed");
    assert_eq!(wait_state(&alice).await, LinkState::Connected);
    let receipt = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .unwrap()
        .unwrap()
        .expect("sent after the reconnect");
    let got = next_message(&mut bob_events).await;
    assert_eq!(got.msg_id, receipt.msg_id);
    assert_eq!(got.text.as_deref(), Some("after the drop"));
    assert_eq!(sb.sandbox.sessions_of("alice"), 1);
}

#[tokio::test]
async fn a_deferred_push_stays_on_the_server_until_the_owner_acks_it() {
    let sb = TestSandbox::start().await;
    let (alice, _a) = sb.client("alice").await;
    let mut cfg = sb.config("bob", "bob-pw", SECRET);
    cfg.session.defer_push_ack = true;
    let (bob, mut events) = Client::start(cfg);
    assert_eq!(wait_state(&bob).await, LinkState::Connected);

    let sent = alice.send_text("bob", "keep me", None).await.unwrap();
    let got = next_message(&mut events).await;
    assert_eq!(got.msg_id, sent.msg_id);
    let token = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(SessionEvent::PushBatch { token })) => break token,
            Ok(Some(_)) => continue,
            other => panic!("no PushBatch: {other:?}"),
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sb.sandbox.pending_conversations("bob").1,
        vec![sent.msg_id],
        "not receipted before the owner stored it"
    );
    bob.ack_push(token).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !sb.sandbox.pending_conversations("bob").1.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "receipt never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_hand_over_not_acknowledged_yet_is_not_repeated_on_the_next_sync_check() {
    let sb = TestSandbox::start().await;
    let (alice, _a) = sb.client("alice").await;
    let sent = alice.send_text("bob", "while away", None).await.unwrap();
    // bob checks every 300 ms and does not acknowledge what he got.
    let mut cfg = sb.config("bob", "bob-pw", SECRET);
    cfg.session.defer_push_ack = true;
    cfg.session.sync_interval = Duration::from_millis(300);
    let (bob, mut events) = Client::start(cfg);
    assert_eq!(wait_state(&bob).await, LinkState::Connected);
    let mut batches = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(e)) = tokio::time::timeout_at(until, events.recv()).await {
        if let SessionEvent::PushBatch { token } = e {
            batches.push(token);
        }
    }
    assert_eq!(batches.len(), 1, "handed over once in 2 s of sync_checks");
    assert_eq!(sb.sandbox.pending_conversations("bob").1, vec![sent.msg_id]);
    // A new connection gets it again (it was never acknowledged).
    drop(bob);
    drop(events);
    let (bob, mut events) = sb.client("bob").await;
    let got = next_message(&mut events).await;
    assert_eq!(got.msg_id, sent.msg_id);
    drop(bob);
}

#[tokio::test]
async fn a_password_change_ends_the_session_with_its_typed_reason() {
    let sb = TestSandbox::start().await;
    let (bob, _events) = sb.client("bob").await;
    let r = reqwest::Client::new()
        .put(format!("http://{}/v1/users/bob/password", sb.addr))
        .basic_auth(APP_KEY, Some(SECRET))
        .json(&json!({"new_password": "bob-new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        wait_state(&bob).await,
        LinkState::Ended(EndReason::PasswordChanged)
    );
    // The old password no longer logs in; the new one does.
    let (old, _e) = Client::start(sb.config("bob", "bob-pw", SECRET));
    assert_eq!(
        wait_state(&old).await,
        LinkState::Ended(EndReason::WrongPassword)
    );
    let (new, _e) = Client::start(sb.config("bob", "bob-new", SECRET));
    assert_eq!(wait_state(&new).await, LinkState::Connected);
}
