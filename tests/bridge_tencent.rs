//! The bridge on Tencent Cloud Chat, end to end: real Synapse, the bridge binary, and the
//! Tencent sandbox in this process. A Matrix user logs in through the bot with a UserSig
//! (`login usersig alice <UserSig>`), a Tencent user's message opens a DM portal, the Matrix
//! reply reaches the Tencent client, and a bridge restart (with messages sent meanwhile)
//! loses and duplicates nothing, nor does a SIGKILL in the middle of a burst. A DM opened
//! with `pm` starts with the chat's history (backfill). Replies to messages bridged before
//! the restarts carry their TUIKit quotes both ways, and what the user's phone took while the
//! bridge was away is caught up from the chat's history. The UserSig never reaches the log.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::{assert_log_free_of, registration_value, tail, wait_item, TencentTarget};
use common::bridge_rig::BridgeRig;
use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::ops;
use imbridge::network::tencent::session::{C2cMessage, SessionConfig, SessionEvent};
use tokio::sync::oneshot;

const APP: u64 = 1_400_000_001;
const KEY: &str = "sandbox-secret-key-for-e2e";
const BOB_GHOST: &str = "@tencent_bob:localhost";
/// Texts in the burst the bridge is SIGKILLed in.
const BURST: usize = 30;

/// A logged-in Tencent client of `user`, and its events.
async fn client_of(
    addr: &str,
    sandbox: &Sandbox,
    user: &str,
) -> (Client, tokio::sync::mpsc::Receiver<SessionEvent>) {
    let sig = sandbox.user_sig(user, 3600);
    let mut cfg = ClientConfig::new(addr, SessionConfig::new(APP, user, &sig));
    cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
    let (client, events) = Client::start(cfg);
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("the client logs in");
    assert_eq!(state, LinkState::Connected, "{user} logs in");
    (client, events)
}

/// What bob received from alice.
type Got = Arc<Mutex<Vec<C2cMessage>>>;

/// The texts of what bob received from alice.
fn texts(got: &Got) -> Vec<String> {
    got.lock()
        .map(|v| v.iter().map(C2cMessage::text).collect())
        .unwrap_or_default()
}

/// bob on the Tencent side: a client whose received messages from alice are collected.
async fn bob(addr: &str, sandbox: &Sandbox) -> (Client, Got) {
    let (client, mut events) = client_of(addr, sandbox, "bob").await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let SessionEvent::Message(m) = e {
                if m.from == "alice" {
                    if let Ok(mut v) = out.lock() {
                        v.push(m);
                    }
                }
            }
        }
    });
    (client, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_login_dm_both_ways_and_restart() {
    let t0 = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let ws = format!(
        "ws://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let sb = Arc::new(Sandbox::new(SandboxConfig::new(APP, KEY)));
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, sb.clone(), async {
        let _ = stopped.await;
    }));
    let target = TencentTarget {
        websocket_url: &ws,
        sdk_app_id: APP,
    };
    let mut rig = BridgeRig::start("tencent", &target).await;
    say!(t0, "Synapse and the bridge up");
    let (bob, bob_got) = bob(&ws, &sb).await;
    // Before alice uses the bridge, she and carol talk on her phone: delivered there, so
    // the bridge's session gets none of it at login; only the chat's history has it.
    sb.import("carol");
    let (carol, _carol_events) = client_of(&ws, &sb, "carol").await;
    let (phone, _phone_events) = client_of(&ws, &sb, "alice").await;
    let history = ["old 1", "old 2", "old 3 (alice)"];
    carol
        .send_c2c_text("alice", history[0])
        .await
        .expect("sent");
    carol
        .send_c2c_text("alice", history[1])
        .await
        .expect("sent");
    phone
        .send_c2c_text("carol", history[2])
        .await
        .expect("sent");
    // The phone goes offline (the sandbox would otherwise deliver later messages there
    // only, not to the bridge's session at its next login).
    phone.logout().await;

    // Log in through the bot with a UserSig from the sandbox.
    let sig = sb.user_sig("alice", 3600);
    rig.command(&format!("login usersig alice {sig}")).await;
    let (mgmt, log) = (rig.mgmt.clone(), rig.log.clone());
    rig.mx
        .wait_body(&mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    say!(t0, "mx1 logged in as alice");

    // Backfill: the DM with carol opens with its history, each message once, in order.
    rig.command("pm carol").await;
    let carol_dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    let old = |all: Vec<String>| -> Vec<String> {
        all.into_iter().filter(|b| b.starts_with("old ")).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && old(rig.mx.all_bodies(&carol_dm).await).len() < 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        old(rig.mx.all_bodies(&carol_dm).await),
        history,
        "the new portal's backfill\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "pm carol: the DM opened with its 3 messages of history");
    let mx = &mut rig.mx;

    // Tencent → Matrix: bob's message opens the DM portal.
    let hello = bob
        .send_c2c_text("alice", "hello alice")
        .await
        .expect("bob sends");
    let dm = mx
        .accept_new_invite(&[mgmt.clone(), carol_dm.clone()])
        .await;
    mx.wait_bodies_steady(&dm, BOB_GHOST, &["hello alice"], &log)
        .await;
    say!(t0, "DM portal {dm} has bob's text");

    // Matrix → Tencent.
    mx.send_text(&dm, "hi bob").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while bob_got.lock().map(|v| v.is_empty()).unwrap_or(true) {
        assert!(
            Instant::now() < deadline,
            "bob got nothing\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(t0, "bob got the Matrix reply");

    // Restart, with bob writing while the bridge is down.
    assert!(
        rig.bridge.terminate().is_some(),
        "the bridge stops on SIGTERM"
    );
    for text in ["while away 1", "while away 2"] {
        bob.send_c2c_text("alice", text).await.expect("bob sends");
    }
    rig.restart();
    say!(t0, "bridge restarted");
    let mx = &mut rig.mx;
    mx.wait_bodies_steady(
        &dm,
        BOB_GHOST,
        &["hello alice", "while away 1", "while away 2"],
        &log,
    )
    .await;
    bob.send_c2c_text("alice", "after restart")
        .await
        .expect("bob sends");
    mx.wait_bodies_steady(
        &dm,
        BOB_GHOST,
        &[
            "hello alice",
            "while away 1",
            "while away 2",
            "after restart",
        ],
        &log,
    )
    .await;
    assert_eq!(
        texts(&bob_got),
        ["hi bob"],
        "bob got the reply once, nothing repeated"
    );
    say!(t0, "restart lost and repeated nothing");

    // SIGKILL in the middle of a burst from bob: pushes are acknowledged to the server only
    // once stored, so what the killed bridge had not stored comes again; nothing twice.
    let numbered = |all: Vec<String>| -> Vec<String> {
        all.into_iter()
            .filter(|b| b.starts_with("burst "))
            .collect()
    };
    let sender = {
        let client = bob.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..BURST {
                if let Err(e) = client.send_c2c_text("alice", &format!("burst {i}")).await {
                    failed.push(format!("burst {i}: {e}"));
                }
            }
            failed
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    while Instant::now() < deadline && before.len() < 3 {
        before = numbered(rig.mx.all_bodies(&dm).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        before.len() >= 3,
        "the burst did not start arriving\n{}",
        tail(&log, 30)
    );
    rig.bridge.kill();
    say!(t0, "{} of the burst in the room: SIGKILL", before.len());
    let failed = tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("bob's burst finishes")
        .expect("sender task");
    assert!(failed.is_empty(), "bob's sends failed: {failed:?}");
    let at_kill = numbered(rig.mx.all_bodies(&dm).await).len();
    rig.restart();
    let want: Vec<String> = (0..BURST).map(|i| format!("burst {i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && numbered(rig.mx.all_bodies(&dm).await).len() < BURST {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        numbered(rig.mx.all_bodies(&dm).await),
        want,
        "after the SIGKILL ({at_kill} in the room then): lost, repeated or reordered\n{}",
        tail(&log, 40)
    );
    say!(
        t0,
        "all {BURST} burst texts once and in order ({at_kill} before the kill)"
    );
    rig.mx.send_text(&dm, "after the kill").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !texts(&bob_got).iter().any(|t| t == "after the kill") {
        assert!(
            Instant::now() < deadline,
            "Matrix → Tencent broken after the kill\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        texts(&bob_got),
        ["hi bob", "after the kill"],
        "bob got each Matrix text once"
    );

    // Replies across restarts, both ways: a TUIKit quote names a message by the SDK's `ID`,
    // which the bridge keeps in its store (its memory of them starts empty at each start).
    // bob quotes alice's "hi bob", bridged two starts ago; it becomes an `m.in_reply_to`.
    let hi = bob_got
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|m| m.text() == "hi bob").cloned())
        .expect("bob has alice's message");
    let hi_event = rig.mx.event_id_of(&dm, "hi bob").await;
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: ops::sdk_message_id(&hi.tiny_id, hi.client_time, hi.random),
        message_abstract: "hi bob".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    bob.send_c2c_with("alice", vec![Elem::text("quoting you")], quote)
        .await
        .expect("bob replies");
    rig.mx
        .wait_event(
            &dm,
            "bob's reply to a message from before the restarts",
            |e| {
                e["sender"] == BOB_GHOST
                    && e["content"]["body"] == "quoting you"
                    && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
                        == hi_event.as_str()
            },
        )
        .await;
    // alice's Element reply to bob's first message reaches him quoting it by its SDK id.
    let hello_event = rig.mx.event_id_of(&dm, "hello alice").await;
    rig.mx
        .send_content(
            &dm,
            serde_json::json!({"msgtype": "m.text", "body": "answering hello",
                "m.relates_to": {"m.in_reply_to": {"event_id": hello_event}}}),
        )
        .await;
    let answer = wait_item(&bob_got, "bob's answer", &log, |m| {
        m.text() == "answering hello"
    })
    .await;
    let r = ops::parse_reply(&answer.cloud_custom_data).expect("a reply quote");
    assert!(
        r.message_id
            .ends_with(&format!("-{}-{}", hello.msg_time, hello.msg_random))
            && !r.message_id.starts_with('-'),
        "the quote names bob's message by its SDK id: {r:?}"
    );
    say!(
        t0,
        "replies to messages bridged before the restarts, both ways"
    );

    // What alice's phone took while the bridge was away: the service hands a C2C offline
    // message to the first instance that syncs, so the bridge's catch-up does not get it;
    // the conversation list names the chat's newest message, which the bridge then reads
    // from the chat's history.
    assert!(
        rig.bridge.terminate().is_some(),
        "the bridge stops on SIGTERM"
    );
    let (phone, mut phone_events) = client_of(&ws, &sb, "alice").await;
    let took = ["the phone took 1", "the phone took 2"];
    for text in took {
        bob.send_c2c_text("alice", text).await.expect("bob sends");
    }
    let mut on_phone = Vec::new();
    while on_phone.len() < took.len() {
        match tokio::time::timeout(Duration::from_secs(10), phone_events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) if m.from == "bob" => on_phone.push(m.text()),
            Ok(Some(_)) => {}
            other => panic!("the phone did not get bob's messages: {other:?}, {on_phone:?}"),
        }
    }
    assert_eq!(on_phone, took, "the phone got bob's messages");
    rig.restart();
    let phone_took = |all: Vec<String>| -> Vec<String> {
        all.into_iter()
            .filter(|b| b.starts_with("the phone took"))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && phone_took(rig.mx.all_bodies(&dm).await).len() < took.len() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        phone_took(rig.mx.all_bodies(&dm).await),
        took,
        "what the phone took while the bridge was away, once each and in order\n{}",
        tail(&log, 40)
    );
    phone.logout().await;
    say!(
        t0,
        "what the phone took while the bridge was away was caught up from history"
    );

    rig.bridge.stop();
    let mx = &rig.mx;
    let secrets = [
        ("the UserSig", sig.as_str()),
        ("as_token", &registration_value(&rig.reg, "as_token")),
        ("the Matrix access token", mx.token()),
    ];
    assert_log_free_of(&log, &secrets);
    // The UserSig was redacted from the management room.
    let bodies = mx.all_bodies(&mgmt).await;
    assert!(
        bodies.iter().all(|b| !b.contains(&sig)),
        "the UserSig is still readable in the room"
    );
}
