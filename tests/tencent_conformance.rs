//! Conformance: the unmodified official Tencent Cloud Chat Web SDK (npm `@tencentcloud/chat`
//! 3.6.6, run in node by tests/sdk/tencent-agent.js) against our Tencent sandbox, with our Rust
//! client as the other party. Logins with good and bad UserSigs, C2C text both ways checked
//! field by field, offline messages in order at login, and UserSig interop with npm
//! `tls-sig-api-v2`.

#![cfg(feature = "tencent")]

mod common;

use std::time::{Duration, Instant};

use common::sdk_agent::SdkAgent;
use common::tencent_rig::{sdk_login, TestSandbox, APP, KEY};
use imbridge::network::tencent::client::{unix_now, LinkState};
use imbridge::network::tencent::sandbox::SandboxConfig;
use imbridge::network::tencent::session::{C2cMessage, SessionEvent};
use imbridge::network::tencent::usersig;
use serde_json::{json, Value};
use tokio::sync::mpsc;

async fn sdk(sb: &TestSandbox) -> SdkAgent {
    SdkAgent::spawn_tencent(APP, &sb.server()).await
}

/// The next C2C message event from a Rust client (bounded wait).
async fn next_message(events: &mut mpsc::Receiver<SessionEvent>) -> C2cMessage {
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

/// The messages of the SDK's next `onMessageReceived` events until `n` are collected.
async fn sdk_messages(a: &mut SdkAgent, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = a.event("onMessageReceived", |_| true).await;
        out.extend(batch.as_array().cloned().unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn sdk_login_with_valid_usersig_reaches_ready_and_bad_ones_are_refused() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    let mut a = sdk_login(&sb, "alice").await;
    a.assert_no_crash();
    a.exit().await;

    // Expired: issued an hour ago for ten minutes.
    let expired = usersig::sign(KEY, APP, "alice", unix_now() - 3600, 600);
    let mut a = sdk(&sb).await;
    let err = a
        .request("login", json!({"userID": "alice", "userSig": expired}))
        .await
        .expect_err("expired UserSig is refused");
    assert_eq!(err["code"], 70001, "{err}");
    // Signed for another app with the right key.
    let foreign = usersig::sign(KEY, APP + 1, "alice", unix_now(), 600);
    let err = a
        .request("login", json!({"userID": "alice", "userSig": foreign}))
        .await
        .expect_err("foreign-app UserSig is refused");
    assert_eq!(err["code"], 70014, "{err}");
    // Signed with another key.
    let forged = usersig::sign("not-the-key", APP, "alice", unix_now(), 600);
    let err = a
        .request("login", json!({"userID": "alice", "userSig": forged}))
        .await
        .expect_err("forged UserSig is refused");
    assert_eq!(err["code"], 70009, "{err}");
    assert!(a.seen("sdkStateReady").is_empty());
    a.assert_no_crash();
    a.exit().await;
    eprintln!("login test took {:?}", t0.elapsed());
}

#[tokio::test]
async fn c2c_text_between_sdk_and_rust_client_both_ways() {
    let t0 = Instant::now();
    // Every server frame `COMP`-compressed (both clients ask for it): the SDK's pako and our
    // flate2 must both read what the sandbox deflates.
    let mut cfg = SandboxConfig::new(APP, KEY);
    cfg.compress_over = Some(0);
    let sb = TestSandbox::start_with(cfg).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&sb, "alice").await;

    // SDK → Rust.
    let sent = alice
        .ok("sendText", json!({"to": "bob", "text": "hello bob 你好"}))
        .await;
    let got = next_message(&mut bob_events).await;
    assert_eq!(got.from, "alice");
    assert_eq!(got.to, "bob");
    assert_eq!(got.text(), "hello bob 你好");
    assert_eq!(Some(u64::from(got.seq)), sent["sequence"].as_u64());
    assert_eq!(Some(u64::from(got.random)), sent["random"].as_u64());
    assert_eq!(Some(got.time), sent["time"].as_u64());
    assert!(!got.offline && !got.is_sync);

    // Rust → SDK.
    let receipt = bob.send_c2c_text("alice", "hi alice").await.expect("sent");
    assert!(!receipt.msg_key.is_empty());
    let msgs = sdk_messages(&mut alice, 1).await;
    let m = &msgs[0];
    assert_eq!(m["from"], "bob");
    assert_eq!(m["to"], "alice");
    assert_eq!(m["flow"], "in");
    assert_eq!(m["conversationID"], "C2Cbob");
    assert_eq!(m["payload"]["text"], "hi alice");
    assert_eq!(m["sequence"].as_u64(), Some(u64::from(receipt.msg_seq)));
    assert_eq!(m["time"].as_u64(), Some(receipt.msg_time));
    assert!(receipt.msg_time.abs_diff(unix_now()) < 60);

    // A second Rust instance of bob sees bob's SDK-bound message as his own sync copy.
    let (_bob2, mut bob2_events) = sb.client("bob").await;
    bob.send_c2c_text("alice", "from my other device")
        .await
        .unwrap();
    let sync = next_message(&mut bob2_events).await;
    assert!(sync.is_sync);
    assert_eq!((sync.from.as_str(), sync.to.as_str()), ("bob", "alice"));
    sdk_messages(&mut alice, 1).await;

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
    eprintln!("c2c test took {:?}", t0.elapsed());
}

/// The SDK's re-login after its socket is dropped names itself by the A2Key and TinyId of its
/// login alone (no identifier, no UserSig): the sandbox takes it, and messages flow again.
#[tokio::test]
async fn the_sdk_logs_in_again_by_its_a2key_after_the_server_drops_its_socket() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    let (bob, _bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&sb, "alice").await;
    assert_eq!(sb.sandbox.drop_connections("alice"), 1);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut n = 0;
    loop {
        n += 1;
        let text = format!("after the drop {n}");
        bob.send_c2c_text("alice", &text).await.expect("sent");
        let got = alice
            .event_within("onMessageReceived", Duration::from_secs(1), |d| {
                d.to_string().contains(&text)
            })
            .await;
        if got.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the SDK got nothing after the drop"
        );
    }
    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
    eprintln!("the SDK was back after {:?} ({n} tries)", t0.elapsed());
}

#[tokio::test]
async fn offline_messages_arrive_at_login_in_order() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    sb.sandbox.import("alice");
    sb.sandbox.import("carol");
    let (bob, _bob_events) = sb.client("bob").await;
    // More than one getmsg page (20) so the SDK has to follow Cookie/SyncFlag.
    let n = 25;
    let mut receipts = Vec::new();
    for i in 0..n {
        receipts.push(
            bob.send_c2c_text("alice", &format!("offline {i}"))
                .await
                .unwrap(),
        );
    }
    // At login the SDK syncs them (openim.getmsg, two pages of 20) into its unread store;
    // the app sees the conversation and reads it with getMessageList (openim.getroammsg).
    let mut alice = sdk_login(&sb, "alice").await;
    let convs = alice
        .event("onConversationListUpdated", |d| {
            d.as_array()
                .is_some_and(|a| a.iter().any(|c| c["conversationID"] == "C2Cbob"))
        })
        .await;
    let conv = convs
        .as_array()
        .and_then(|a| a.iter().find(|c| c["conversationID"] == "C2Cbob"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        conv["lastMessage"]["lastSequence"].as_u64(),
        receipts.last().map(|r| u64::from(r.msg_seq))
    );
    assert_eq!(
        conv["lastMessage"]["payload"]["text"],
        format!("offline {}", n - 1)
    );
    assert_eq!(conv["lastMessage"]["fromAccount"], "bob");
    let mut msgs: Vec<Value> = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..5 {
        let mut q = json!({"conversationID": "C2Cbob"});
        if let Some(id) = &next {
            q["nextReqMessageID"] = json!(id);
        }
        let page = alice
            .call("getMessageList", json!([q]))
            .await
            .expect("getMessageList");
        let data = &page["data"];
        let mut older = data["messageList"].as_array().cloned().unwrap_or_default();
        older.extend(msgs);
        msgs = older;
        if data["isCompleted"] == true || msgs.len() >= n {
            break;
        }
        next = data["nextReqMessageID"].as_str().map(str::to_owned);
    }
    let texts: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m["payload"]["text"].as_str())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("offline {i}")).collect();
    assert_eq!(texts, want);
    for (m, r) in msgs.iter().zip(&receipts) {
        assert_eq!(m["from"], "bob");
        assert_eq!(m["to"], "alice");
        assert_eq!(m["sequence"].as_u64(), Some(u64::from(r.msg_seq)));
        assert_eq!(m["time"].as_u64(), Some(r.msg_time));
    }

    // The other way: the SDK writes to carol while carol is offline; our client syncs.
    for i in 0..3 {
        alice
            .ok(
                "sendText",
                json!({"to": "carol", "text": format!("to carol {i}")}),
            )
            .await;
    }
    let (carol, mut carol_events) = sb.client("carol").await;
    let mut texts = Vec::new();
    let mut completed = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while completed.is_none() {
        match tokio::time::timeout_at(deadline, carol_events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) => {
                assert!(m.offline);
                assert_eq!(m.from, "alice");
                texts.push(m.text());
            }
            Ok(Some(SessionEvent::SyncCompleted { count })) => completed = Some(count),
            Ok(Some(_)) => {}
            other => panic!("sync did not complete: {other:?}"),
        }
    }
    assert_eq!(texts, ["to carol 0", "to carol 1", "to carol 2"]);
    assert_eq!(completed, Some(3));

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
    carol.logout().await;
    eprintln!("offline test took {:?}", t0.elapsed());
}

#[tokio::test]
async fn usersig_interop_with_npm_tls_sig_api_v2() {
    let sb = TestSandbox::start().await;
    let mut a = sdk(&sb).await;
    // npm → Rust.
    let theirs = a
        .ok("sign", json!({"userID": "dave", "expire": 600, "key": KEY}))
        .await;
    let theirs = theirs.as_str().expect("a UserSig string");
    let doc = usersig::verify(KEY, APP, "dave", theirs, unix_now()).expect("npm UserSig verifies");
    assert_eq!(doc.expire, 600);
    assert!(usersig::verify("other", APP, "dave", theirs, unix_now()).is_err());
    // And it logs the SDK in through our sandbox.
    let r = a
        .ok("login", json!({"userID": "dave", "userSig": theirs}))
        .await;
    assert_eq!(r["errorCode"], 0);
    // Rust → npm.
    let ours = usersig::sign(KEY, APP, "erin", unix_now(), 900);
    let v = a.ok("verify", json!({"userSig": ours, "key": KEY})).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["doc"]["TLS.identifier"], "erin");
    let v = a
        .ok("verify", json!({"userSig": ours, "key": "other"}))
        .await;
    assert_eq!(v["ok"], false);
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn rest_kick_reaches_sdk_and_rust_client_as_kick_type_3() {
    let sb = TestSandbox::start().await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut sdk_bob = sdk_login(&sb, "bob").await;
    assert_eq!(sb.sandbox.kick("bob", 3), 2);
    let kicked = sdk_bob.event("kickedOut", |_| true).await;
    // TencentCloudChat.TYPES.KICKED_OUT_REST_API.
    assert_eq!(kicked["type"], "REST_API_Kick");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, bob_events.recv()).await {
            Ok(Some(SessionEvent::Ended(reason))) => {
                assert_eq!(
                    reason,
                    imbridge::network::tencent::session::EndReason::Kicked(
                        imbridge::network::tencent::session::KickType::RestApi
                    )
                );
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no kick: {other:?}"),
        }
    }
    assert!(matches!(bob.link_state(), LinkState::Ended(_)));
    sdk_bob.assert_no_crash();
    sdk_bob.exit().await;
}

/// The session's end, within 10 s (other events skipped).
async fn ended(
    events: &mut mpsc::Receiver<SessionEvent>,
) -> imbridge::network::tencent::session::EndReason {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Ended(reason))) => return reason,
            Ok(Some(_)) => {}
            other => panic!("no end: {other:?}"),
        }
    }
}

/// With one Web instance allowed (the console's multi-instance setting), the newest login
/// kicks the older instance out with kick type 1, whichever side is older: the SDK's
/// `kickedOut` says `multipleAccount`, our client ends as `Kicked(OtherAccount)` (which the
/// bridge reports as logged out elsewhere).
#[tokio::test]
async fn a_newer_web_instance_kicks_the_older_one_both_ways() {
    use imbridge::network::tencent::session::{EndReason, KickType};
    let mut cfg = SandboxConfig::new(APP, KEY);
    cfg.web_instances = Some(1);
    let sb = TestSandbox::start_with(cfg).await;

    // The SDK is older: our client's login kicks it.
    let mut sdk_bob = sdk_login(&sb, "bob").await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let kicked = sdk_bob.event("kickedOut", |_| true).await;
    // TencentCloudChat.TYPES.KICKED_OUT_MULT_ACCOUNT.
    assert_eq!(kicked["type"], "multipleAccount");
    sdk_bob.assert_no_crash();
    sdk_bob.exit().await;

    // Our client is older: the SDK's login kicks it, for good (no reconnect).
    let mut sdk_again = sdk_login(&sb, "bob").await;
    assert_eq!(
        ended(&mut bob_events).await,
        EndReason::Kicked(KickType::OtherAccount)
    );
    assert!(matches!(bob.link_state(), LinkState::Ended(_)));
    // The SDK's session goes on: bob's text reaches alice.
    let (_alice, mut alice_events) = sb.client("alice").await;
    sdk_again
        .ok("sendText", json!({"to": "alice", "text": "still here"}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, alice_events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) if m.text() == "still here" => break,
            Ok(Some(_)) => {}
            other => panic!("the newer instance's text did not arrive: {other:?}"),
        }
    }
    sdk_again.assert_no_crash();
    sdk_again.exit().await;
}

/// With the multi-device policy "one platform at a time" (the sandbox's `single_platform`),
/// a login on another platform kicks the account's instances out with kick type 2, whichever
/// side logs in last: the SDK (Web) hears `kickedOut` `multipleDevice` when our client logs
/// in as Android (platform 2), and that client ends as `Kicked(OtherDevice)` (which the
/// bridge reports as logged out elsewhere) when a Web instance logs in after it.
#[tokio::test]
async fn a_login_on_another_platform_kicks_with_type_2_both_ways() {
    use imbridge::network::tencent::session::{EndReason, KickType, SessionConfig};
    let mut cfg = SandboxConfig::new(APP, KEY);
    cfg.single_platform = true;
    let sb = TestSandbox::start_with(cfg).await;

    let mut sdk_bob = sdk_login(&sb, "bob").await;
    let mut android = SessionConfig::new(APP, "bob", &sb.sig("bob"));
    android.platform = 2;
    let (phone, mut phone_events) = sb.client_with(android).await;
    let kicked = sdk_bob.event("kickedOut", |_| true).await;
    // TencentCloudChat.TYPES.KICKED_OUT_MULT_DEVICE.
    assert_eq!(kicked["type"], "multipleDevice");
    sdk_bob.assert_no_crash();
    sdk_bob.exit().await;

    // A Web login (our client, as the bridge's session) kicks the Android one, for good.
    let (_web, _web_events) = sb.client("bob").await;
    assert_eq!(
        ended(&mut phone_events).await,
        EndReason::Kicked(KickType::OtherDevice)
    );
    assert!(matches!(phone.link_state(), LinkState::Ended(_)));
}
