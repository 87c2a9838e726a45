//! Reactions between the official SDK and our Rust client: the SDK's `addReaction` /
//! `deleteReaction` / `getReactionList` REST calls against the sandbox, the NOTIFY metas they
//! cause (decoded by our `parse_reaction_notify`), and our `RestClient` reactions reaching the
//! SDK's `onReactionChange`.

use imbridge::network::easemob::events::{parse_reaction_notify, ReactionChange, SessionEvent};
use imbridge::network::easemob::jid::{ChatType, Conversation};
use imbridge::network::easemob::message::OutgoingMessage;
use serde_json::{json, Value};

use super::common::{next_event, TestSandbox};
use super::{id_str, sdk_login, text_of};

/// The next reaction notify our client receives, decoded.
async fn reaction_changes(
    events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    what: &str,
) -> Vec<ReactionChange> {
    next_event(events, what, |e| match e {
        SessionEvent::Notify { json } => parse_reaction_notify(json),
        _ => None,
    })
    .await
}

/// The `op` entries of reaction `name` in an `onReactionChange` payload.
fn ops_of(data: &Value, name: &str) -> Vec<(String, String, u64)> {
    let empty = Vec::new();
    data["reactions"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter(|r| r["reaction"] == json!(name))
        .flat_map(|r| {
            let count = r["count"].as_u64().unwrap_or(u64::MAX);
            r["op"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |op| {
                    (
                        op["operator"].as_str().unwrap_or_default().to_owned(),
                        op["reactionType"].as_str().unwrap_or_default().to_owned(),
                        count,
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn sdk_reactions_reach_the_rust_client_and_list() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;

    let receipt = bob
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "react to me",
        ))
        .await
        .expect("acked");
    let id = receipt.server_id.to_string();
    a.event("onTextMessage", |d| d["msg"] == json!("react to me"))
        .await;

    a.call(
        "addReaction",
        json!([{ "messageId": id, "reaction": "👍" }]),
    )
    .await
    .expect("addReaction");
    let expected = ReactionChange {
        operator: "alice".into(),
        from: "bob".into(),
        to: "alice".into(),
        chat_type: ChatType::Single,
        message_id: id.clone(),
        reaction: "👍".into(),
        added: true,
    };
    assert_eq!(
        reaction_changes(&mut bob_events, "reaction added").await,
        vec![expected.clone()]
    );
    // The SDK hears of its own change too (its request names no device to leave out).
    let own = a
        .event("onReactionChange", |d| d["messageId"] == json!(id))
        .await;
    assert_eq!(own["chatType"], json!("singleChat"));
    assert_eq!(
        ops_of(&own, "👍"),
        vec![("alice".into(), "create".into(), 1)]
    );
    // A second add is refused with the SDK's REACTION_ALREADY_ADDED.
    let err = a
        .call(
            "addReaction",
            json!([{ "messageId": id, "reaction": "👍" }]),
        )
        .await
        .expect_err("second add refused");
    assert_eq!(err["type"], json!(1101), "{err}");

    // (c) getReactionList shows the state, for both sides.
    let list = a
        .call(
            "getReactionList",
            json!([{ "chatType": "singleChat", "messageId": id }]),
        )
        .await
        .expect("getReactionList");
    let item = &list["data"][0];
    assert_eq!(item["msgId"], json!(id), "{list}");
    let r = &item["reactionList"][0];
    assert_eq!(r["reaction"], json!("👍"), "{list}");
    assert_eq!(r["count"], json!(1));
    assert_eq!(r["isAddedBySelf"], json!(true));
    assert_eq!(r["userList"], json!(["alice"]));
    let ours = bob
        .rest()
        .reactions(&[id.as_str()], ChatType::Single, None)
        .await
        .expect("list");
    assert_eq!(ours[&id][0].users, vec!["alice"]);
    assert!(!ours[&id][0].added_by_me);

    a.call(
        "deleteReaction",
        json!([{ "messageId": id, "reaction": "👍" }]),
    )
    .await
    .expect("deleteReaction");
    assert_eq!(
        reaction_changes(&mut bob_events, "reaction removed").await,
        vec![ReactionChange {
            added: false,
            ..expected
        }]
    );
    let list = a
        .call(
            "getReactionList",
            json!([{ "chatType": "singleChat", "messageId": id }]),
        )
        .await
        .expect("getReactionList");
    assert_eq!(list["data"], json!([]), "{list}");
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn rust_reactions_reach_the_sdk() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;

    let sent = a
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "hi" } }),
        )
        .await;
    let id = id_str(&sent["serverMsgId"]);
    next_event(&mut bob_events, "text", text_of).await;

    bob.rest().add_reaction(&id, "🎉").await.expect("add");
    let got = a
        .event("onReactionChange", |d| d["messageId"] == json!(id))
        .await;
    assert_eq!(got["from"], json!("alice"), "{got}");
    assert_eq!(got["to"], json!("bob"));
    assert_eq!(got["chatType"], json!("singleChat"));
    assert!(got["ts"].as_u64().is_some_and(|t| t > 0), "{got}");
    assert_eq!(ops_of(&got, "🎉"), vec![("bob".into(), "create".into(), 1)]);
    assert_eq!(got["reactions"][0]["userList"], json!(["bob"]));
    // Our own device hears of it as well.
    let own = reaction_changes(&mut bob_events, "own reaction").await;
    assert_eq!(own.len(), 1);
    assert_eq!((own[0].operator.as_str(), own[0].added), ("bob", true));
    // Adding again is a no-op for our client.
    bob.rest().add_reaction(&id, "🎉").await.expect("again");

    bob.rest().remove_reaction(&id, "🎉").await.expect("remove");
    let got = a
        .event("onReactionChange", |d| {
            d["messageId"] == json!(id) && !ops_of(d, "🎉").iter().any(|o| o.1 == "create")
        })
        .await;
    assert_eq!(ops_of(&got, "🎉"), vec![("bob".into(), "delete".into(), 0)]);
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn group_reactions_with_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.user(u, "pw");
    }
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let created = a
        .call(
            "createGroup",
            json!([{ "data": { "groupname": "team", "desc": "", "members": ["bob", "carol"],
                               "public": false, "approval": false, "allowinvites": true, "inviteNeedConfirm": false } }]),
        )
        .await
        .expect("group created");
    let group = id_str(&created["data"]["groupid"]);
    let receipt = bob
        .send(OutgoingMessage::text(Conversation::group(&group), "vote"))
        .await
        .expect("acked");
    let id = receipt.server_id.to_string();
    a.event("onTextMessage", |d| d["msg"] == json!("vote"))
        .await;

    a.call(
        "addReaction",
        json!([{ "messageId": id, "reaction": "yes" }]),
    )
    .await
    .expect("addReaction");
    let changes = reaction_changes(&mut bob_events, "group reaction").await;
    assert_eq!(
        changes,
        vec![ReactionChange {
            operator: "alice".into(),
            from: "bob".into(),
            to: group.clone(),
            chat_type: ChatType::Group,
            message_id: id.clone(),
            reaction: "yes".into(),
            added: true,
        }]
    );
    bob.rest().add_reaction(&id, "yes").await.expect("add");
    let got = a
        .event("onReactionChange", |d| {
            ops_of(d, "yes").iter().any(|o| o.0 == "bob")
        })
        .await;
    assert_eq!(got["chatType"], json!("groupChat"));
    assert_eq!(got["to"], json!(group));
    let list = a
        .call(
            "getReactionList",
            json!([{ "chatType": "groupChat", "messageId": id, "groupId": group }]),
        )
        .await
        .expect("getReactionList");
    let r = &list["data"][0]["reactionList"][0];
    assert_eq!(r["count"], json!(2), "{list}");
    assert_eq!(r["userList"], json!(["alice", "bob"]));
    a.assert_no_crash();
    a.exit().await;
}
