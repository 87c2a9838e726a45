//! The JMessage sandbox's transport (socketioxide serving Engine.IO v3) driven by npm
//! `socket.io-client` 2.5.0 alone — the client library the JMessage Web SDK bundles — so the
//! transport is proven even without the SDK bundle: connect, JMessage framing (`ack {rid}`
//! then the response), client pings, a silent link noticed by ping timeout, a cut link, and
//! reconnects. Our Rust client goes through the same faults.

#![cfg(feature = "jmessage")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::relay::Relay;
use common::sdk_agent::SdkAgent;
use imbridge::network::jmessage::client::{unix_ms, Client, ClientConfig, LinkState};
use imbridge::network::jmessage::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::jmessage::session::SessionConfig;
use imbridge::network::jmessage::wire;
use serde_json::json;
use tokio::sync::oneshot;

const APP_KEY: &str = "sandboxappkey00000000000";
const SECRET: &str = "sandbox-master-secret";
const PING_INTERVAL: Duration = Duration::from_millis(300);
const PING_TIMEOUT: Duration = Duration::from_millis(1000);

/// A sandbox with fast heartbeats (300 ms interval, 1 s timeout) behind a fault relay.
async fn start() -> (Arc<Sandbox>, Relay, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = SandboxConfig::new(APP_KEY, SECRET);
    cfg.ping_interval = PING_INTERVAL;
    cfg.ping_timeout = PING_TIMEOUT;
    let sandbox = Arc::new(Sandbox::new(cfg));
    sandbox.register("alice", "alice-pw");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
        let _ = stopped.await;
    }));
    let relay = Relay::start(addr).await;
    (sandbox, relay, stop)
}

#[tokio::test]
async fn socket_io_client_2_connects_pings_and_gets_ack_then_response() {
    let (_sb, relay, _stop) = start().await;
    let mut a = SdkAgent::spawn_sio2(&format!("ws://{}", relay.addr), 200).await;
    a.ok("connect", json!({})).await;
    a.event("connect", |_| true).await;
    let state = a.ok("state", json!({})).await;
    assert_eq!(state["connected"], true);
    assert_eq!(state["transport"], "websocket");
    assert_eq!(state["eio"], "3", "Engine.IO v3: {state}");

    let ts = unix_ms();
    let rs = "abcdefghij0123456789xyz";
    let init = json!({"appkey": APP_KEY, "random_str": rs, "timestamp": ts, "flag": 0,
        "signature": wire::signature(APP_KEY, ts, rs, SECRET), "rid": 4242});
    a.ok("emit", json!({"name": "c_init", "data": init})).await;
    let ack = a.event("server", |d| d["name"] == "ack").await;
    assert_eq!(ack["data"], json!({"rid": 4242}));
    let resp = a.event("server", |d| d["name"] == "c_init").await;
    assert_eq!(resp["data"]["rid"], 4242);
    assert_eq!(resp["data"]["code"], 0);
    // A resent rid gets the same response again (idempotent), after a new ack.
    a.ok("emit", json!({"name": "c_init", "data": init})).await;
    let again = a.event("server", |d| d["name"] == "c_init").await;
    assert_eq!(again, resp);

    // The client pings every pingInterval and the server answers.
    for _ in 0..3 {
        let pong = a.event("pong", |_| true).await;
        assert!(pong["latency"].as_u64().is_some());
    }
    assert!(a.seen("disconnect").is_empty());
    a.exit().await;
}

#[tokio::test]
async fn socket_io_client_2_notices_a_silent_link_and_a_cut_one_and_reconnects() {
    let (_sb, relay, _stop) = start().await;
    let mut a = SdkAgent::spawn_sio2(&format!("ws://{}", relay.addr), 200).await;
    a.ok("connect", json!({})).await;
    a.event("connect", |_| true).await;
    let first = a.ok("state", json!({})).await["engineId"].clone();

    // Silent link: pings go unanswered.
    relay.freeze();
    let t = std::time::Instant::now();
    let gone = a
        .event_within("disconnect", Duration::from_secs(5), |_| true)
        .await
        .expect("the silent link is noticed");
    assert_eq!(gone["reason"], "ping timeout");
    let noticed = t.elapsed();
    assert!(
        noticed <= PING_INTERVAL + PING_TIMEOUT + Duration::from_millis(1500),
        "{noticed:?}"
    );
    relay.cut();
    relay.thaw();
    a.event("reconnect", |_| true).await;
    a.event("connect", |_| true).await;
    let second = a.ok("state", json!({})).await["engineId"].clone();
    assert_ne!(first, second, "a new Engine.IO session");

    // Cut link: the transport closes and the client comes back.
    relay.cut();
    let gone = a.event("disconnect", |_| true).await;
    assert_eq!(gone["reason"], "transport close");
    a.event("reconnect", |_| true).await;
    assert_eq!(a.ok("state", json!({})).await["connected"], true);
    a.exit().await;
    eprintln!("silent link noticed after {noticed:?}");
}

#[tokio::test]
async fn rust_client_notices_a_silent_link_by_ping_timeout_and_logs_in_again() {
    let (sb, relay, _stop) = start().await;
    let mut cfg = ClientConfig::new(
        &format!("ws://{}", relay.addr),
        SessionConfig::new(APP_KEY, SECRET, "alice", "alice-pw"),
    );
    cfg.backoff = (Duration::from_millis(100), Duration::from_millis(300));
    let (client, _events) = Client::start(cfg);
    let connected = |s: &LinkState| *s == LinkState::Connected;
    tokio::time::timeout(Duration::from_secs(10), client.wait_for(connected))
        .await
        .expect("logs in");

    relay.freeze();
    let t = std::time::Instant::now();
    let state = tokio::time::timeout(
        Duration::from_secs(5),
        client.wait_for(|s| matches!(s, LinkState::Reconnecting(_))),
    )
    .await
    .expect("the silent link is noticed");
    let noticed = t.elapsed();
    assert_eq!(state, LinkState::Reconnecting("ping timeout".into()));
    assert!(
        noticed <= PING_INTERVAL + PING_TIMEOUT + Duration::from_millis(1500),
        "{noticed:?}"
    );
    relay.cut();
    relay.thaw();
    tokio::time::timeout(Duration::from_secs(10), client.wait_for(connected))
        .await
        .expect("logs in again");
    // The server dropped the frozen socket by its own timeout; only the new one is left.
    tokio::time::sleep(PING_INTERVAL + PING_TIMEOUT).await;
    assert_eq!(sb.sessions_of("alice"), 1);
    client.logout().await;
    eprintln!("rust client noticed the silent link after {noticed:?}");
}
