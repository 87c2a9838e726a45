//! The Tencent sandbox with our Rust client only: REST admin calls (authenticated by the
//! admin's UserSig), messages sent as any user, reconnects with the outbox, and refused
//! logins seen from the client.

#![cfg(feature = "tencent")]

use std::sync::Arc;
use std::time::Duration;

use imbridge::network::tencent::client::{unix_now, Client, ClientConfig, LinkState};
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{
    C2cMessage, EndReason, KickType, SessionConfig, SessionEvent,
};
use imbridge::network::tencent::usersig;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

const APP: u64 = 1_400_000_001;
const KEY: &str = "sandbox-secret-key";

async fn start() -> (Arc<Sandbox>, String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sandbox = Arc::new(Sandbox::new(SandboxConfig::new(APP, KEY)));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
        let _ = stopped.await;
    }));
    (sandbox, format!("127.0.0.1:{}", addr.port()), stop)
}

fn config(addr: &str, user: &str, sig: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(&format!("ws://{addr}"), SessionConfig::new(APP, user, sig));
    cfg.backoff = (Duration::from_millis(50), Duration::from_millis(400));
    cfg
}

async fn connected(client: &Client) -> LinkState {
    tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("login finishes")
}

/// Drops `user`'s websocket at the sandbox and waits (5 s) until `client` notices.
async fn drop_link(sb: &Sandbox, client: &Client, user: &str) {
    assert_eq!(sb.drop_connections(user), 1);
    tokio::time::timeout(
        Duration::from_secs(5),
        client.wait_for(|s| matches!(s, LinkState::Reconnecting(_))),
    )
    .await
    .expect("the client notices the dropped link");
}

async fn next_message(events: &mut mpsc::Receiver<SessionEvent>) -> C2cMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) => return m,
            Ok(Some(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

async fn rest(addr: &str, path: &str, identifier: &str, sig: &str, body: Value) -> Value {
    let url = format!(
        "http://{addr}/v4/{path}?sdkappid={APP}&identifier={identifier}&usersig={sig}&random=7&contenttype=json"
    );
    reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("REST reachable")
        .json()
        .await
        .expect("JSON reply")
}

#[tokio::test]
async fn rest_admin_imports_accounts_and_sends_as_any_user() {
    let (sb, addr, _stop) = start().await;
    let admin_sig = sb.user_sig("administrator", 600);
    let body = json!({"UserID": "bob"});
    // Not the admin, or the admin with a forged or expired UserSig: refused.
    let r = rest(
        &addr,
        "im_open_login_svc/account_import",
        "alice",
        &sb.user_sig("alice", 600),
        body.clone(),
    )
    .await;
    assert_eq!(r["ActionStatus"], "FAIL");
    assert_eq!(r["ErrorCode"], 60020);
    let forged = usersig::sign("wrong", APP, "administrator", unix_now(), 600);
    let r = rest(
        &addr,
        "im_open_login_svc/account_import",
        "administrator",
        &forged,
        body.clone(),
    )
    .await;
    assert_eq!(r["ErrorCode"], 70009);
    let expired = usersig::sign(KEY, APP, "administrator", unix_now() - 100, 10);
    let r = rest(
        &addr,
        "im_open_login_svc/account_import",
        "administrator",
        &expired,
        body.clone(),
    )
    .await;
    assert_eq!(r["ErrorCode"], 70001);
    assert!(!sb.exists("bob"));
    let r = rest(
        &addr,
        "im_open_login_svc/account_import",
        "administrator",
        &admin_sig,
        body,
    )
    .await;
    assert_eq!(
        r,
        json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    );
    assert!(sb.exists("bob"));

    let (alice, mut events) = Client::start(config(&addr, "alice", &sb.user_sig("alice", 600)));
    assert_eq!(connected(&alice).await, LinkState::Connected);
    let send = json!({"SyncOtherMachine": 2, "From_Account": "bob", "To_Account": "alice",
        "MsgRandom": 42, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "as bob"}},
                                     {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 3, "Data": "smile"}}]});
    let r = rest(&addr, "openim/sendmsg", "administrator", &admin_sig, send).await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.random),
        ("bob", "alice", 42)
    );
    assert_eq!(m.text(), "as bob");
    assert_eq!(m.elems.len(), 2);
    assert_eq!(Some(m.key.as_str()), r["MsgKey"].as_str());
    assert_eq!(Some(m.time), r["MsgTime"].as_u64());
    // To an account that does not exist.
    let r = rest(&addr, "openim/sendmsg", "administrator", &admin_sig,
        json!({"From_Account": "bob", "To_Account": "nobody", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]})).await;
    assert_eq!(r["ErrorCode"], 20003);
    // REST kick ends the client's session with KickType 3.
    let r = rest(
        &addr,
        "im_open_login_svc/kick",
        "administrator",
        &admin_sig,
        json!({"UserID": "alice"}),
    )
    .await;
    assert_eq!(r["ErrorCode"], 0);
    assert_eq!(
        tokio::time::timeout(
            Duration::from_secs(5),
            alice.wait_for(|s| matches!(s, LinkState::Ended(_)))
        )
        .await
        .unwrap(),
        LinkState::Ended(EndReason::Kicked(KickType::RestApi))
    );
    let (alice, _events) = Client::start(config(&addr, "alice", &sb.user_sig("alice", 600)));
    assert_eq!(connected(&alice).await, LinkState::Connected);
    let err = alice.send_c2c_text("nobody", "x").await.unwrap_err();
    assert!(err.to_string().contains("20003"), "{err}");
    alice.logout().await;
}

#[tokio::test]
async fn client_reconnects_and_sends_what_waited_in_the_outbox_once() {
    let (sb, addr, _stop) = start().await;
    sb.import("bob");
    let (alice, _alice_events) = Client::start(config(&addr, "alice", &sb.user_sig("alice", 600)));
    let (bob, mut bob_events) = Client::start(config(&addr, "bob", &sb.user_sig("bob", 600)));
    assert_eq!(connected(&alice).await, LinkState::Connected);
    assert_eq!(connected(&bob).await, LinkState::Connected);
    alice.send_c2c_text("bob", "before").await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.text(), "before");

    drop_link(&sb, &alice, "alice").await;
    // Sent while the link is down: waits in the outbox, goes out after the next login.
    let receipt = alice
        .send_c2c_text("bob", "while down")
        .await
        .expect("delivered after reconnect");
    assert_eq!(alice.link_state(), LinkState::Connected);
    let m = next_message(&mut bob_events).await;
    assert_eq!(m.text(), "while down");
    assert_eq!(m.seq, receipt.msg_seq);
    alice.send_c2c_text("bob", "after").await.unwrap();
    assert_eq!(
        next_message(&mut bob_events).await.text(),
        "after",
        "no duplicate in between"
    );

    // A call made while the link is down (a Matrix read receipt during a reconnect) waits
    // for the next login instead of failing.
    drop_link(&sb, &alice, "alice").await;
    alice
        .call(
            imbridge::network::tencent::session::ops::MSGREADED,
            imbridge::network::tencent::session::ops::read_body("bob", 0),
        )
        .await
        .expect("the read marker goes out after the reconnect");
    alice.logout().await;
    bob.logout().await;
}

#[tokio::test]
async fn refused_logins_end_the_client_with_a_typed_reason() {
    let (sb, addr, _stop) = start().await;
    let expired = usersig::sign(KEY, APP, "alice", unix_now() - 100, 10);
    let (c, _e) = Client::start(config(&addr, "alice", &expired));
    assert_eq!(
        connected(&c).await,
        LinkState::Ended(EndReason::UserSigExpired)
    );
    let other_app = usersig::sign(KEY, APP + 1, "alice", unix_now(), 600);
    let (c, _e) = Client::start(config(&addr, "alice", &other_app));
    match connected(&c).await {
        LinkState::Ended(EndReason::LoginRefused(e)) => assert_eq!(e.code, 70014),
        other => panic!("unexpected {other:?}"),
    }
    let (c, _e) = Client::start(config(&addr, "alice", &sb.user_sig("mallory", 600)));
    match connected(&c).await {
        LinkState::Ended(EndReason::LoginRefused(e)) => assert_eq!(e.code, 70013),
        other => panic!("unexpected {other:?}"),
    }
}
