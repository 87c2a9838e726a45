//! Conformance: the unmodified official JMessage Web SDK 2.5.0 (never on npm; loaded from
//! ../shared/vendor beside the repository, never copied into it; run in node by
//! tests/sdk/jmessage-agent.js with its bundled socket.io-client 2 / Engine.IO v3) against our
//! JMessage sandbox, with our Rust client as the other party: init + login, wrong password and
//! bad signature refusals with the service's codes, single text both ways with extras,
//! offline messages at login in order, and a password change (event type 2). Skipped
//! (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use std::time::Duration;

use common::jmessage_sdk::{bundle, init_args, message, sdk_login, JmSandbox, APP_KEY, SECRET};
use common::sdk_agent::SdkAgent;
use serde_json::json;

#[tokio::test]
async fn sdk_init_login_and_refusals_with_the_service_codes() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let mut a = sdk_login(&bundle, &sb, "alice").await;
    assert_eq!(sb.sandbox.sessions_of("alice"), 1);
    a.assert_no_crash();
    a.exit().await;

    // Wrong password: the SDK md5s it, the sandbox refuses with 880104.
    let mut a = SdkAgent::spawn_jmessage(&bundle, &sb.server()).await;
    a.ok("init", init_args(SECRET)).await;
    let err = a
        .request("login", json!({"username": "bob", "password": "wrong"}))
        .await
        .expect_err("wrong password is refused");
    assert_eq!(err["code"], 880104, "{err}");
    a.assert_no_crash();
    a.exit().await;

    // Signed with another masterSecret: c_init refused with 880102.
    let mut a = SdkAgent::spawn_jmessage(&bundle, &sb.server()).await;
    let err = a
        .request("init", init_args("not-the-secret"))
        .await
        .expect_err("bad signature is refused");
    assert_eq!(err["code"], 880102, "{err}");
    a.assert_no_crash();
    a.exit().await;
    assert_eq!(sb.sandbox.sessions_of("bob"), 0);
}

#[tokio::test]
async fn single_text_between_sdk_and_rust_client_both_ways_with_extras() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;

    // SDK → Rust.
    let sent = alice
        .ok(
            "sendSingleMsg",
            json!({"target_username": "bob", "content": "hello bob 你好",
                "extras": {"k": "v", "n": 1}}),
        )
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
    let got = message(&mut bob_events).await;
    assert_eq!(Some(got.msg_id), sent["msg_id"].as_i64());
    assert_eq!((got.from.as_str(), got.target.as_str()), ("alice", "bob"));
    assert_eq!(got.text.as_deref(), Some("hello bob 你好"));
    assert_eq!(got.extras, Some(json!({"k": "v", "n": 1})));
    assert!(!got.offline);

    // Rust → SDK.
    let receipt = bob
        .send_text("alice", "hi alice", Some(json!({"from": "rust"})))
        .await
        .expect("sent");
    let push = alice.event("msgReceive", |_| true).await;
    let m = &push["messages"][0];
    assert_eq!(m["msg_id"].as_i64(), Some(receipt.msg_id));
    assert_eq!(m["ctime_ms"].as_i64(), Some(receipt.ctime_ms));
    assert_eq!(m["msg_type"], 3);
    assert_eq!(m["from_username"], "bob");
    assert_eq!(m["from_appkey"], APP_KEY);
    assert_eq!(m["content"]["msg_type"], "text");
    assert_eq!(m["content"]["target_id"], "alice");
    assert_eq!(m["content"]["msg_body"]["text"], "hi alice");
    assert_eq!(m["content"]["msg_body"]["extras"], json!({"from": "rust"}));
    // The SDK receipted it (msg_recv_v2): the sandbox no longer holds it for alice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sb.sandbox.pending_conversations("alice").1.is_empty());

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}

#[tokio::test]
async fn offline_messages_reach_the_sdk_at_login_in_order() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let (bob, _e) = sb.client("bob").await;
    let texts = ["first", "second", "third"];
    let mut ids = Vec::new();
    for t in texts {
        ids.push(bob.send_text("alice", t, None).await.unwrap().msg_id);
    }
    let mut alice = sdk_login(&bundle, &sb, "alice").await;
    let convs = alice.event("syncConversation", |_| true).await;
    let conv = &convs[0];
    assert_eq!(conv["from_username"], "bob");
    assert_eq!(conv["msg_type"], 3);
    let got_ids: Vec<i64> = conv["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["msg_id"].as_i64())
        .collect();
    assert_eq!(got_ids, ids);
    let got_texts: Vec<&str> = conv["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"]["msg_body"]["text"].as_str())
        .collect();
    assert_eq!(got_texts, texts);
    // The SDK acknowledged the batch (sync_conversation_ack): nothing is pending any more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sb.sandbox.pending_conversations("alice").1.is_empty());
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn a_password_change_reaches_the_sdk_as_event_type_2() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;
    assert!(sb.sandbox.set_password("alice", "alice-new"));
    let note = alice.event("eventNotification", |_| true).await;
    assert_eq!(note["event_type"], 2, "{note}");
    alice.assert_no_crash();
    alice.exit().await;
    // The SDK logs in with the new password.
    let mut again = SdkAgent::spawn_jmessage(&bundle, &sb.server()).await;
    again.ok("init", init_args(SECRET)).await;
    let r = again
        .ok(
            "login",
            json!({"username": "alice", "password": "alice-new"}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    again.exit().await;
}

/// Registration as the SDK does it (`JIM.register`, the bot's `register` for JMessage): a new
/// name is taken and can log in; the same name again is refused with the service's "user
/// exist" code 882002, which the connector turns into "name taken".
#[tokio::test]
async fn sdk_register_new_name_then_the_taken_name_is_refused() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let mut a = SdkAgent::spawn_jmessage(&bundle, &sb.server()).await;
    let r = a.ok("init", init_args(SECRET)).await;
    assert_eq!(r["code"], 0, "{r}");
    let r = a
        .ok(
            "register",
            json!({"username": "carol", "password": "carol-pw"}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let err = a
        .request(
            "register",
            json!({"username": "carol", "password": "other-pw"}),
        )
        .await
        .expect_err("a taken name is refused");
    assert_eq!(err["code"], 882002, "{err}");
    a.assert_no_crash();
    a.exit().await;
    // The new account logs in with its own password (our client, the other party).
    let (client, _events) = sb.client("carol").await;
    client.logout().await;
}
