//! Presence between the official SDK and our Rust client (the presence REST calls and the
//! `"presence"` NOTIFY): the SDK's `subscribePresence` answers our client's state; our
//! `publish_presence` reaches the SDK as `onPresenceStatusChange` with the status text; our
//! client's device going offline reaches it too; the SDK's `publishPresence` reaches our
//! subscribed client as a presence notify; `getPresenceStatus` and the subscription list
//! agree.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::sdk_login;
use imbridge::network::easemob::events::{parse_presence_notify, PresenceStatus, SessionEvent};

#[tokio::test]
async fn presence_both_ways_with_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob"] {
        sb.user(u, "pw");
    }
    let mut alice = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;

    let answer = alice
        .call(
            "subscribePresence",
            json!([{ "usernames": ["bob"], "expiry": 3600 }]),
        )
        .await
        .expect("subscribePresence");
    let entry = &answer["data"]["result"][0];
    assert_eq!(entry["uid"], json!("bob"), "{answer}");
    assert_eq!(entry["status"]["imbridge_bob"], json!(1), "{answer}");

    bob.rest()
        .publish_presence(bob.resource(), "in a meeting")
        .await
        .expect("bob publishes");
    let change = alice
        .event("onPresenceStatusChange", |d| {
            d[0]["ext"] == json!("in a meeting")
        })
        .await;
    assert_eq!(change[0]["userId"], json!("bob"), "{change}");
    assert_eq!(
        change[0]["statusDetails"][0],
        json!({ "device": "imbridge_bob", "status": 1 }),
        "{change}"
    );

    // Our client subscribes to the SDK user, who publishes.
    let now = bob
        .rest()
        .subscribe_presence(&["alice"], 600)
        .await
        .expect("bob subscribes");
    assert_eq!(now.len(), 1);
    assert!(now[0].online(), "{now:?}");
    alice
        .call("publishPresence", json!([{ "description": "music" }]))
        .await
        .expect("publishPresence");
    let seen: PresenceStatus = next_event(&mut bob_events, "alice's presence", |e| match e {
        SessionEvent::Notify { json } => parse_presence_notify(json).and_then(|l| {
            l.into_iter()
                .find(|s| s.user == "alice" && s.ext == "music")
        }),
        _ => None,
    })
    .await;
    assert!(seen.online());

    let statuses = alice
        .call("getPresenceStatus", json!([{ "usernames": ["bob"] }]))
        .await
        .expect("getPresenceStatus");
    assert_eq!(
        statuses["data"]["result"][0]["ext"],
        json!("in a meeting"),
        "{statuses}"
    );
    let list = alice
        .call(
            "getSubscribedPresencelist",
            json!([{ "pageNum": 1, "pageSize": 20 }]),
        )
        .await
        .expect("getSubscribedPresencelist");
    assert_eq!(
        list["data"]["result"]["sublist"][0]["uid"],
        json!("bob"),
        "{list}"
    );

    bob.close().await;
    let gone = alice
        .event("onPresenceStatusChange", |d| {
            d[0]["userId"] == json!("bob") && d[0]["statusDetails"][0]["status"] == json!(0)
        })
        .await;
    assert_eq!(gone[0]["ext"], json!("in a meeting"), "{gone}");
    alice.assert_no_crash();
    alice.exit().await;
}
