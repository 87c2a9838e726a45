//! JMessage sends from the core, at the connector level against the in-process sandbox, our
//! Rust client as bob:
//! - a message replayed after a crash (same transaction id, `maybe_sent_since_ms`) is found
//!   in the IM REST Report v2 history (`extras.imbridge_txn`) and its id returned instead of
//!   sending it again, in a single chat, in a group and for an attachment with its caption;
//!   a replay of what never went out is sent; a look-up that cannot be made (nothing at the
//!   report address) sends rather than loses; a replay to another app's user is found too;
//! - message `extras` both ways through the contract (`net.imbridge.jmessage.extras`);
//! - the sandbox's Report v2 itself: Basic auth, the window rules, paging by cursor.

#![cfg(feature = "jmessage")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::jmessage::{JmPeer, JmSandbox, APP_KEY, MASTER_SECRET, OTHER_APP_KEY, OTHER_SECRET};
use common::jmessage_connector::{
    connector, login, next_message, png, uploaded_image, wait_catch_up,
};
use imbridge::config::{jmessage_report_url_for, Secret};
use imbridge::core::connector::{
    ChatId, MessageContent, NetworkConnector, NetworkLogin, SendOptions,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::network::jmessage::client::unix_ms;
use imbridge::network::jmessage::connector::{JmessageConnector, JmessageSettings, EXTRAS_FIELD};
use imbridge::network::jmessage::report::{beijing_time, ReportApi, ReportError};
use imbridge::network::jmessage::session::Target;
use serde_json::{json, Value};

const ALICE_PW: &str = "alice-pw-5521";
const BOB_PW: &str = "bob-pw-5522";
const WAIT: Duration = Duration::from_secs(10);

/// alice's connector login to `sb` (its catch-up done), reading the Report v2 at
/// `report_url` (the sandbox's when `None`).
async fn alice(sb: &JmSandbox, report_url: Option<&str>) -> Box<dyn NetworkLogin> {
    let c = JmessageConnector::new(JmessageSettings {
        app_key: APP_KEY.into(),
        master_secret: Secret::new(MASTER_SECRET),
        websocket_url: sb.url.clone(),
        report_url: report_url.map_or_else(|| jmessage_report_url_for(&sb.url), str::to_owned),
        backoff: Some((Duration::from_millis(50), Duration::from_millis(400))),
    });
    let data = login(&c, "alice", ALICE_PW).await.expect("alice logs in");
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    wait_catch_up(&mut events).await;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    session
}

/// The messages alice sent to `target` as the Report v2 lists them: (msgid, text, txn).
async fn sent_by_alice(sb: &JmSandbox, target: &str) -> Vec<(i64, String, Option<String>)> {
    let api = ReportApi::new(
        &jmessage_report_url_for(&sb.url),
        APP_KEY,
        &Secret::new(MASTER_SECRET),
    );
    let now = unix_ms();
    api.user_messages("alice", now - 600_000, now, 5)
        .await
        .expect("the report answers")
        .into_iter()
        .filter(|m| m.from_id == "alice" && m.target_id == target)
        .map(|m| {
            let text = m.msg_body["text"]
                .as_str()
                .unwrap_or(&m.msg_type)
                .to_owned();
            let txn = m.extra_str(SendOptions::TXN_KEY).map(str::to_owned);
            (m.msg_id, text, txn)
        })
        .collect()
}

fn options<'a>(txn: &'a str, since: Option<u64>, content: Option<&'a Value>) -> SendOptions<'a> {
    SendOptions {
        txn_id: Some(txn),
        maybe_sent_since_ms: since,
        matrix_content: content,
        ..SendOptions::default()
    }
}

/// A replay to a user of another app: the Report names him by username and `target_appkey`,
/// the chat by `bob/<appkey>`; found all the same, not sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_send_to_another_apps_user_is_found_too() {
    let sb = JmSandbox::start_cross(&[("alice", ALICE_PW)], &[("bob", BOB_PW)]).await;
    let session = alice(&sb, None).await;
    let bob = JmPeer::login_to(&sb.url, OTHER_APP_KEY, OTHER_SECRET, "bob", BOB_PW).await;
    let chat = ChatId::direct(format!("bob/{OTHER_APP_KEY}"));
    let since = u64::try_from(unix_ms()).expect("a time after 1970");
    let txn = SendOptions::txn_id_for("$across", 0);
    let text = MessageContent::text("across apps");
    let first = session
        .send_message_with(&chat, &text, options(&txn, None, None))
        .await
        .expect("sent");
    let alice_there = format!("alice/{APP_KEY}");
    assert!(bob.wait(&alice_there, |t| t == "across apps", WAIT).await);
    let again = session
        .send_message_with(&chat, &text, options(&txn, Some(since), None))
        .await
        .expect("replayed");
    assert_eq!(again, first, "found in the history");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bob.texts_from(&alice_there), ["across apps"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_send_is_found_in_the_history_instead_of_sent_twice() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let session = alice(&sb, None).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let bob_chat = ChatId::direct("bob");
    let since = u64::try_from(unix_ms()).expect("a time after 1970");

    // The send before the crash, keyed, with the Matrix event's extras.
    let matrix = json!({"msgtype": "m.text", "body": "first", EXTRAS_FIELD: {"order": 7}});
    let txn = SendOptions::txn_id_for("$first", 0);
    let text = MessageContent::text("first");
    let first = session
        .send_message_with(&bob_chat, &text, options(&txn, None, Some(&matrix)))
        .await
        .expect("sent");
    let got = bob
        .wait_message(|m| m.text.as_deref() == Some("first"), WAIT)
        .await
        .expect("bob gets it");
    assert_eq!(got.extras, Some(json!({"order": 7, "imbridge_txn": txn})));
    say!(t0, "sent {first:?} with extras {:?}", got.extras);

    // The replay after the restart: found, the same id, not sent again.
    let again = session
        .send_message_with(&bob_chat, &text, options(&txn, Some(since), Some(&matrix)))
        .await
        .expect("replayed");
    assert_eq!(again, first);

    // A replay of what never went out is sent.
    let txn_late = SendOptions::txn_id_for("$late", 0);
    let late = session
        .send_message_with(
            &bob_chat,
            &MessageContent::text("late"),
            options(&txn_late, Some(since), None),
        )
        .await
        .expect("sent late");
    assert_ne!(late, first);
    assert!(bob.wait("alice", |t| t == "late", WAIT).await);
    assert_eq!(bob.texts_from("alice"), ["first", "late"]);
    let history = sent_by_alice(&sb, "bob").await;
    assert_eq!(
        history
            .iter()
            .map(|(_, t, x)| (t.as_str(), x.clone()))
            .collect::<Vec<_>>(),
        [("first", Some(txn.clone())), ("late", Some(txn_late))]
    );
    say!(t0, "single chat: once each");

    // An attachment and its caption, both found on replay.
    let media = uploaded_image(session.as_ref(), &bob_chat, png(500), "look").await;
    let txn_media = SendOptions::txn_id_for("$media", 0);
    let sent = session
        .send_message_with(&bob_chat, &media, options(&txn_media, None, None))
        .await
        .expect("media sent");
    assert_eq!(sent.len(), 2, "the image and its caption: {sent:?}");
    let replayed = session
        .send_message_with(&bob_chat, &media, options(&txn_media, Some(since), None))
        .await
        .expect("media replayed");
    assert_eq!(replayed, sent);
    assert_eq!(sent_by_alice(&sb, "bob").await.len(), 4);
    say!(t0, "attachment and caption: once each");

    // A group.
    let gid = sb
        .state
        .create_group("alice", "crew", "")
        .expect("group created");
    sb.state
        .add_group_members("alice", gid, &["bob".to_owned()])
        .expect("bob added");
    let group = ChatId::group(gid.to_string());
    let txn_group = SendOptions::txn_id_for("$group", 0);
    let hello = MessageContent::text("hello crew");
    let in_group = session
        .send_message_with(&group, &hello, options(&txn_group, None, None))
        .await
        .expect("group send");
    let replayed = session
        .send_message_with(&group, &hello, options(&txn_group, Some(since), None))
        .await
        .expect("group replay");
    assert_eq!(replayed, in_group);
    assert_eq!(sent_by_alice(&sb, &gid.to_string()).await.len(), 1);
    say!(t0, "group: once");

    // A look-up that cannot be made (nothing answers at the report address) sends rather
    // than loses: at least once.
    let blind = alice(&sb, Some("http://127.0.0.1:9")).await;
    let resent = blind
        .send_message_with(&bob_chat, &text, options(&txn, Some(since), None))
        .await
        .expect("sent without a look-up");
    assert_ne!(resent, first);
    say!(t0, "no look-up: sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_come_to_the_core_as_extra_content() {
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let c = connector(&sb, MASTER_SECRET);
    let data = login(&c, "alice", ALICE_PW).await.expect("logs in");
    let (tx, mut events) = boxed_channel(64);
    let _session = c.connect(&data, tx).await.expect("connects");
    wait_catch_up(&mut events).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    bob.client
        .send_text(
            "alice",
            "with extras",
            Some(json!({"k": "v", "imbridge_txn": "mx0"})),
        )
        .await
        .expect("sent");
    let m = next_message(&mut events).await;
    assert_eq!(Value::Object(m.extra), json!({EXTRAS_FIELD: {"k": "v"}}));
    bob.client
        .send_text("alice", "plain", None)
        .await
        .expect("sent");
    let m = next_message(&mut events).await;
    assert!(m.extra.is_empty(), "{:?}", m.extra);
    let picture = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x02\x00\x00\x00\x02".to_vec();
    bob.client
        .send_image(
            Target::User("alice".into()),
            picture,
            "p.png",
            Some(json!({"album": 3})),
        )
        .await
        .expect("image sent");
    let m = next_message(&mut events).await;
    assert!(matches!(m.content, MessageContent::Media { .. }), "{m:?}");
    assert_eq!(Value::Object(m.extra), json!({EXTRAS_FIELD: {"album": 3}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_report_checks_credentials_windows_and_pages() {
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    for i in 0..3 {
        bob.send("alice", &format!("m{i}")).await;
    }
    let base = jmessage_report_url_for(&sb.url);
    let wrong = ReportApi::new(&base, APP_KEY, &Secret::new("nope"));
    let now = unix_ms();
    match wrong.user_messages("alice", now - 60_000, now, 1).await {
        Err(ReportError::Refused { status: 401, .. }) => {}
        other => panic!("a wrong masterSecret: {other:?}"),
    }
    let api = ReportApi::new(&base, APP_KEY, &Secret::new(MASTER_SECRET));
    let all = api
        .user_messages("alice", now - 60_000, now, 5)
        .await
        .expect("answers");
    let texts: Vec<&str> = all
        .iter()
        .map(|m| m.msg_body["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2"]);
    assert!(all
        .iter()
        .all(|m| m.from_id == "bob" && m.target_id == "alice"));
    match api.user_messages("nobody42", now - 60_000, now, 1).await {
        Err(ReportError::Refused { status: 403, .. }) => {}
        other => panic!("an unknown user: {other:?}"),
    }

    // Paging by cursor, and the window rules, on the wire.
    let http = reqwest::Client::new();
    let url = format!("{base}/v2/users/alice/messages");
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{APP_KEY}:{MASTER_SECRET}")
        )
    );
    let get = |query: Vec<(&'static str, String)>| {
        http.get(&url)
            .header("Authorization", &auth)
            .query(&query)
            .send()
    };
    let page: Value = get(vec![
        ("count", "2".into()),
        ("begin_time", beijing_time(now - 60_000)),
        ("end_time", beijing_time(now + 60_000)),
    ])
    .await
    .expect("first page")
    .json()
    .await
    .expect("JSON");
    assert_eq!(page["total"], 3);
    assert_eq!(page["count"], 2);
    let cursor = page["cursor"].as_str().expect("a cursor").to_owned();
    let rest: Value = get(vec![("cursor", cursor)])
        .await
        .expect("next page")
        .json()
        .await
        .expect("JSON");
    assert_eq!(rest["count"], 1);
    assert_eq!(rest["messages"][0]["msg_body"]["text"], "m2");
    assert!(rest.get("cursor").is_none(), "{rest}");
    let too_wide = get(vec![
        ("count", "2".into()),
        ("begin_time", beijing_time(now - 8 * 24 * 3600 * 1000)),
        ("end_time", beijing_time(now)),
    ])
    .await
    .expect("answers");
    assert_eq!(too_wide.status(), 400);
    let body: Value = too_wide.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], 899003);
}
