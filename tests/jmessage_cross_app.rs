//! Cross-app users ("跨应用"), proven by the unmodified official JMessage Web SDK 2.5.0 (from
//! ../shared/vendor, run in node by tests/sdk/jmessage-agent.js) logged in to a second app of
//! the sandbox, with our Rust client in the first: single text both ways (the SDK's
//! `sendSingleMsg` with `appkey`), the other app's `bob` told apart from ours, read receipts
//! and profiles across apps, a group of one app with a member of the other (events, member
//! list, text both ways), friends, no-disturb and the blacklist across apps, and recall both
//! ways. Skipped (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use common::jmessage_sdk::{
    bundle, message, next, sdk_login_of, JmSandbox, APP_KEY, OTHER_APP_KEY, OTHER_SECRET, SECRET,
};
use common::sdk_agent::SdkAgent;
use imbridge::network::jmessage::client::unix_ms;
use imbridge::network::jmessage::session::{GroupEventKind, SessionEvent};
use imbridge::network::jmessage::wire;
use serde_json::json;

/// The usernames of `gid`'s members as `client` reads them.
async fn member_names(
    client: &imbridge::network::jmessage::client::Client,
    gid: i64,
) -> Vec<String> {
    let members = client.group_members(gid).await.expect("the member list");
    members.into_iter().map(|m| m.username).collect()
}

#[tokio::test]
async fn users_of_two_apps_chat_group_read_and_recall_across_apps() {
    let Some(bundle) = bundle() else { return };
    // `bob` exists in both apps: the other app's is another person.
    let sb = JmSandbox::start_cross(&["alice", "bob", "carol"], &["bob", "carol"]).await;
    let (alice, mut alice_events) = sb.client("alice").await;
    let mut bob_b = sdk_login_of(&bundle, &sb, OTHER_APP_KEY, OTHER_SECRET, "bob").await;
    let bob_b_name = format!("bob/{OTHER_APP_KEY}");

    // SDK (app B) → Rust (app A): the SDK names our app in `appkey`.
    let sent = bob_b
        .ok(
            "sendSingleMsg",
            json!({"target_username": "alice", "appkey": APP_KEY, "content": "hi from B"}),
        )
        .await;
    let got = message(&mut alice_events).await;
    assert_eq!(Some(got.msg_id), sent["msg_id"].as_i64());
    assert_eq!(
        got.from, bob_b_name,
        "the other app's bob is named with his app"
    );
    assert_eq!(got.from_appkey.as_deref(), Some(OTHER_APP_KEY));
    assert_eq!(got.target, "alice");
    assert_eq!(got.text.as_deref(), Some("hi from B"));
    assert!(
        sb.sandbox.pending_conversations("bob").1.is_empty(),
        "our app's bob got nothing"
    );

    // Rust → SDK: addressed to the other app.
    let receipt = alice.send_text(&bob_b_name, "hi B", None).await.unwrap();
    let push = bob_b.event("msgReceive", |_| true).await;
    let m = &push["messages"][0];
    assert_eq!(m["msg_id"].as_i64(), Some(receipt.msg_id));
    assert_eq!(m["from_username"], "alice");
    assert_eq!(m["from_appkey"], APP_KEY);
    assert_eq!(m["content"]["target_id"], "bob");
    assert_eq!(m["content"]["target_appkey"], OTHER_APP_KEY);
    assert_eq!(m["content"]["msg_body"]["text"], "hi B");

    // The SDK reports it read across apps; our client learns who read it.
    bob_b
        .ok(
            "addSingleReceiptReport",
            json!({"username": "alice", "appkey": APP_KEY, "msg_ids": [receipt.msg_id]}),
        )
        .await;
    let change = next(&mut alice_events, |e| match e {
        SessionEvent::ReceiptChange(c) => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(change.username.as_deref(), Some(bob_b_name.as_str()));
    assert_eq!(change.receipts[0].msg_id, receipt.msg_id);
    assert_eq!(change.receipts[0].unread_count, 0);

    // Profiles across apps, both ways.
    sb.other
        .as_ref()
        .expect("two apps")
        .update_profile("bob", Some("Bob of B"), None, None);
    let info = alice.user_info(&bob_b_name).await.unwrap();
    assert_eq!(
        (info.username.as_str(), info.nickname.as_deref()),
        (bob_b_name.as_str(), Some("Bob of B"))
    );
    let theirs = bob_b
        .ok(
            "getUserInfo",
            json!({"username": "alice", "appkey": APP_KEY}),
        )
        .await;
    assert_eq!(theirs["user_info"]["appkey"], APP_KEY);

    // A group of app A with the other app's bob: he gets event 10, sees the members with
    // their apps, and text goes both ways.
    let gid = alice.create_group("A and B", "").await.unwrap();
    alice
        .add_group_members(gid, &[bob_b_name.as_str()])
        .await
        .unwrap();
    let note = bob_b
        .event("eventNotification", |n| n["event_type"] == 10)
        .await;
    assert_eq!(note["gid"], gid);
    assert_eq!(
        note["to_usernames"][0],
        json!({"username": "bob", "appkey": OTHER_APP_KEY})
    );
    let added = next(&mut alice_events, |e| match e {
        SessionEvent::Group(g) if g.kind == GroupEventKind::MembersAdded => Some(g),
        _ => None,
    })
    .await;
    assert_eq!(added.to_usernames, vec![bob_b_name.clone()]);
    let members = bob_b.ok("getGroupMembers", json!({"gid": gid})).await;
    let list = members["member_list"].as_array().expect("members");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (&list[1]["username"], &list[1]["appkey"]),
        (&json!("bob"), &json!(OTHER_APP_KEY))
    );
    let names = member_names(&alice, gid).await;
    assert_eq!(names, vec!["alice".to_owned(), bob_b_name.clone()]);
    let groups = bob_b.ok("getGroups", json!({})).await;
    assert_eq!(groups["group_list"][0]["gid"], gid);
    // A member the other app's bob names bare is a user of his app, not of the group's.
    bob_b
        .ok(
            "addGroupMembers",
            json!({"gid": gid, "member_usernames": [{"username": "carol"}]}),
        )
        .await;
    let names = member_names(&alice, gid).await;
    assert_eq!(
        names.last(),
        Some(&format!("carol/{OTHER_APP_KEY}")),
        "{names:?}"
    );
    assert!(!names.contains(&"carol".to_owned()), "{names:?}");

    let to_group = bob_b
        .ok(
            "sendGroupMsg",
            json!({"target_gid": gid, "target_gname": "A and B", "content": "B in A's group"}),
        )
        .await;
    let got = message(&mut alice_events).await;
    assert_eq!(Some(got.msg_id), to_group["msg_id"].as_i64());
    assert_eq!(
        (got.gid, got.from.as_str()),
        (Some(gid), bob_b_name.as_str())
    );
    let from_alice = alice
        .send_group_text(gid, "A to the group", None)
        .await
        .unwrap();
    let push = bob_b
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"].as_i64() == Some(from_alice.msg_id)
        })
        .await;
    assert_eq!(push["messages"][0]["from_gid"], gid);

    // No-disturb across apps, both sides.
    bob_b
        .ok(
            "addSingleNoDisturb",
            json!({"target_name": "alice", "appkey": APP_KEY}),
        )
        .await;
    let nd = bob_b.ok("getNoDisturb", json!({})).await;
    assert_eq!(nd["no_disturb"]["users"][0]["username"], "alice", "{nd}");
    assert_eq!(nd["no_disturb"]["users"][0]["appkey"], APP_KEY, "{nd}");
    alice
        .set_single_no_disturb(&bob_b_name, true)
        .await
        .unwrap();
    assert_eq!(
        alice.no_disturb().await.unwrap().users,
        vec![bob_b_name.clone()]
    );

    // The other app's bob blacklists alice: her texts to him are refused (880207), and our
    // app's bob still gets hers.
    let alice_of_a = json!([{"username": "alice", "appkey": APP_KEY}]);
    bob_b
        .ok("addSingleBlacks", json!({"member_usernames": alice_of_a}))
        .await;
    let blacks = bob_b.ok("getBlacks", json!({})).await;
    assert_eq!(blacks["black_list"][0]["appkey"], APP_KEY, "{blacks}");
    match alice.send_text(&bob_b_name, "blocked?", None).await {
        Err(imbridge::network::jmessage::session::SendError::Rejected { code, .. }) => {
            assert_eq!(code, 880207)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    alice.send_text("bob", "to our bob", None).await.unwrap();
    bob_b
        .ok("delSingleBlacks", json!({"member_usernames": alice_of_a}))
        .await;

    // Friends across apps: our invitation reaches him (not our bob), his accept makes both
    // friend lists name the other with his app.
    alice.add_friend(&bob_b_name, "hi B").await.unwrap();
    let invited = bob_b
        .event("eventNotification", |n| n["event_type"] == 5)
        .await;
    assert_eq!(
        (
            &invited["from_username"],
            &invited["from_appkey"],
            &invited["description"]
        ),
        (&json!("alice"), &json!(APP_KEY), &json!("hi B")),
        "{invited}"
    );
    assert!(sb.sandbox.friend_invitations_of("bob").is_empty());
    bob_b
        .ok(
            "acceptFriend",
            json!({"target_name": "alice", "appkey": APP_KEY}),
        )
        .await;
    let accepted = next(&mut alice_events, |e| match e {
        SessionEvent::Friend(f) => Some(f),
        _ => None,
    })
    .await;
    assert_eq!(accepted.from, bob_b_name);
    assert_eq!(alice.friend_list().await.unwrap(), vec![bob_b_name.clone()]);
    let theirs = bob_b.ok("getFriendList", json!({})).await;
    assert_eq!(
        (
            &theirs["friend_list"][0]["username"],
            &theirs["friend_list"][0]["appkey"]
        ),
        (&json!("alice"), &json!(APP_KEY)),
        "{theirs}"
    );

    // Recall both ways: ours of the cross-app single message, theirs in our group.
    alice.retract(receipt.msg_id).await.unwrap();
    let note = bob_b
        .event("eventNotification", |n| n["event_type"] == 55)
        .await;
    assert_eq!(note["msg_ids"][0].as_i64(), Some(receipt.msg_id));
    assert_eq!(note["from_appkey"], APP_KEY);
    bob_b
        .ok("msgRetract", json!({"msg_id": to_group["msg_id"]}))
        .await;
    let gone = next(&mut alice_events, |e| match e {
        SessionEvent::Retracted(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(gone.from_username, bob_b_name);
    assert_eq!(gone.gid, Some(gid));

    bob_b.assert_no_crash();
    bob_b.exit().await;
    alice.logout().await;
}

/// A connection belongs to the app whose `c_init` it passed: a refused `c_init` of another
/// app (a wrong masterSecret) leaves it where it was, so it cannot log in to that app's users.
/// npm `socket.io-client` 2 alone, so no SDK bundle is needed.
#[tokio::test]
async fn a_connection_switches_app_only_with_that_apps_signature() {
    let sb = JmSandbox::start_cross(&["alice"], &["bob"]).await;
    let mut a = SdkAgent::spawn_sio2(&sb.server(), 200).await;
    a.ok("connect", json!({})).await;
    a.event("connect", |_| true).await;
    let init = |app: &str, secret: &str, rid: i64| {
        let (ts, rs) = (unix_ms(), "abcdefghij0123456789xyz");
        json!({"appkey": app, "random_str": rs, "timestamp": ts, "flag": 0,
            "signature": wire::signature(app, ts, rs, secret), "rid": rid})
    };
    let mut ask = async |name: &str, data: serde_json::Value| {
        let rid = data["rid"].clone();
        a.ok("emit", json!({"name": name, "data": data})).await;
        a.event("server", |d| d["name"] == name && d["data"]["rid"] == rid)
            .await["data"]
            .clone()
    };
    assert_eq!(ask("c_init", init(APP_KEY, SECRET, 1)).await["code"], 0);
    let refused = ask("c_init", init(OTHER_APP_KEY, "not-the-secret", 2)).await;
    assert_eq!(refused["code"], wire::code::SIGNATURE_FAIL, "{refused}");
    let pw = wire::md5_hex(b"bob-pw");
    let login = ask(
        "login",
        json!({"username": "bob", "password": pw, "rid": 3}),
    )
    .await;
    assert_ne!(login["code"], 0, "no login to the other app's bob: {login}");
    assert_eq!(
        ask("c_init", init(OTHER_APP_KEY, OTHER_SECRET, 4)).await["code"],
        0
    );
    let login = ask(
        "login",
        json!({"username": "bob", "password": pw, "rid": 5}),
    )
    .await;
    assert_eq!(login["code"], 0, "{login}");
    a.exit().await;
}
