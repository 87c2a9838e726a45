//! A Tencent Work group on the bridge, end to end: real Synapse, the bridge binary, the
//! Tencent sandbox in this process. Two Matrix users log in (alice and dave, both members);
//! the group is bridged once (one portal both are in), bob's group message reaches Matrix
//! once, a Matrix message reaches bob once, a member added over REST joins the room as a
//! ghost, a rename on the IM side renames the room, and a bridge restart (bob writing meanwhile) loses and repeats nothing.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::{
    generate_registration, tail, write_tencent_config_with, BridgeProcess, TencentTarget,
};
use common::matrix_user::MatrixUser;
use common::service_env::TempDir;
use common::synapse::{free_port, Synapse};
use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{GroupAt, SessionConfig, SessionEvent};
use tokio::sync::oneshot;

const APP: u64 = 1_400_000_001;
const KEY: &str = "sandbox-secret-key-for-e2e";
const BOT: &str = "@tencentbot:localhost";
const BOB_GHOST: &str = "@tencent_bob:localhost";
const CAROL_GHOST: &str = "@tencent_carol:localhost";

type Got = Arc<Mutex<Vec<(String, String, Vec<GroupAt>)>>>;

/// bob on the Tencent side: a client whose received group texts are collected as
/// `(from, text, mentions)`.
async fn bob(addr: &str, sandbox: &Sandbox) -> (Client, Got) {
    let sig = sandbox.user_sig("bob", 3600);
    let mut cfg = ClientConfig::new(addr, SessionConfig::new(APP, "bob", &sig));
    cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
    let (client, mut events) = Client::start(cfg);
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("bob logs in");
    assert_eq!(state, LinkState::Connected);
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let SessionEvent::GroupMessage(m) = e {
                if let Ok(mut v) = out.lock() {
                    v.push((m.from.clone(), m.text(), m.mentions.clone()));
                }
            }
        }
    });
    (client, got)
}

/// Logs `mx` in as `user` through the bot.
async fn login(mx: &mut MatrixUser, sb: &Sandbox, user: &str) -> String {
    let mgmt = mx.create_dm(BOT).await;
    for _ in 0..100 {
        if mx.members(&mgmt).await.iter().any(|m| m == BOT) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sig = sb.user_sig(user, 3600);
    mx.send_text(&mgmt, &format!("login usersig {user} {sig}"))
        .await;
    mx.wait_body(&mgmt, |b| b.starts_with(&format!("Logged in as {user}")))
        .await;
    mgmt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_work_group_bridged_once_both_ways_and_restart() {
    let t0 = Instant::now();
    let dir = TempDir::new("tencent-groups");
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
    for u in ["alice", "dave", "bob", "carol"] {
        sb.import(u);
    }
    let gid = sb
        .create_group(
            "Work",
            "",
            "Team",
            "bob",
            &["alice".to_owned(), "dave".to_owned()],
        )
        .expect("group");
    let target = TencentTarget {
        websocket_url: &ws,
        sdk_app_id: APP,
    };
    let as_port = free_port();
    let hint = format!("http://127.0.0.1:{}", free_port());
    let config = write_tencent_config_with(&dir.0, &hint, as_port, &target, "");
    let reg = generate_registration(&config, &dir.0);
    let synapse = Synapse::start(&dir.0.join("synapse"), &[&reg]);
    let config = write_tencent_config_with(&dir.0, &synapse.url(), as_port, &target, "");
    let log = dir.0.join("bridge.log");
    let mut bridge = BridgeProcess::start(&config, &log, as_port);
    say!(t0, "Synapse and the bridge up");
    let token1 = synapse.register("mx1", "mxpw-Tg41-matrix-secret");
    let token2 = synapse.register("mx2", "mxpw-Tg42-matrix-secret");
    let mut mx1 = MatrixUser::new(&synapse.url(), "@mx1:localhost", &token1);
    let mut mx2 = MatrixUser::new(&synapse.url(), "@mx2:localhost", &token2);
    let (bob, bob_got) = bob(&ws, &sb).await;
    let mgmt1 = login(&mut mx1, &sb, "alice").await;
    let mgmt2 = login(&mut mx2, &sb, "dave").await;
    say!(t0, "mx1 = alice, mx2 = dave logged in");

    // IM → Matrix: bob's group message; one portal, both Matrix users in it.
    bob.send_group(&gid, vec![Elem::text("hello team")], vec![])
        .await
        .expect("bob sends");
    let room1 = mx1.accept_new_invite(std::slice::from_ref(&mgmt1)).await;
    let room2 = mx2.accept_new_invite(std::slice::from_ref(&mgmt2)).await;
    assert_eq!(room1, room2, "the group is bridged once");
    mx1.wait_bodies_steady(&room1, BOB_GHOST, &["hello team"], &log)
        .await;
    say!(t0, "portal {room1} has bob's message once");

    // Matrix → IM, mentioning bob (`m.mentions`) and the room (@all).
    mx1.send_content(
        &room1,
        serde_json::json!({"msgtype": "m.text", "body": "hi from matrix",
            "m.mentions": {"user_ids": [BOB_GHOST], "room": true}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while bob_got.lock().map(|v| v.is_empty()).unwrap_or(true) {
        assert!(
            Instant::now() < deadline,
            "bob got nothing\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(t0, "bob got the Matrix message");

    // A member added on the IM side joins the room as a ghost.
    sb.add_group_members("administrator", &gid, &["carol".to_owned()], false)
        .expect("add carol");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mx1.members(&room1).await.iter().any(|m| m == CAROL_GHOST) {
        assert!(
            Instant::now() < deadline,
            "carol's ghost did not join\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(t0, "carol's ghost joined");

    // A name change on the IM side renames the room.
    sb.modify_group(
        "administrator",
        &gid,
        &sandbox::groups::ProfileChange {
            name: Some("Team 2".into()),
            ..Default::default()
        },
    )
    .expect("rename");
    let deadline = Instant::now() + Duration::from_secs(20);
    while mx1.state(&room1, "m.room.name").await["name"] != "Team 2" {
        assert!(
            Instant::now() < deadline,
            "the room was not renamed\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(t0, "the room follows the group's new name");

    // Restart, with bob writing while the bridge is down.
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    bob.send_group(&gid, vec![Elem::text("while away")], vec![])
        .await
        .expect("bob sends");
    let mut bridge = BridgeProcess::start(&config, &log, as_port);
    say!(t0, "bridge restarted");
    mx1.wait_bodies_steady(&room1, BOB_GHOST, &["hello team", "while away"], &log)
        .await;
    bob.send_group(&gid, vec![Elem::text("after restart")], vec![])
        .await
        .expect("bob sends");
    mx1.wait_bodies_steady(
        &room1,
        BOB_GHOST,
        &["hello team", "while away", "after restart"],
        &log,
    )
    .await;
    let got = bob_got.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        got,
        [(
            "alice".to_owned(),
            "hi from matrix".to_owned(),
            vec![GroupAt::All, GroupAt::User("bob".into())]
        )],
        "bob got the Matrix message once, from alice, with its mentions, nothing repeated"
    );
    say!(t0, "restart lost and repeated nothing");
    bridge.stop();
}
