//! Group management through the connector's `GroupAdminAbility` against the unmodified
//! official `@tencentcloud/chat` 3.6.6 (tests/sdk/tencent-agent.js) on our sandbox: what
//! alice's connector does (create a Work group, rename it, introduce it, add and remove a
//! member, make bob an admin, mute and unmute him, rename a Community topic) reaches bob's
//! SDK as its own group tips and topic
//! events, field by field; what the service refuses (an admin in a Work group) is told in
//! its words; and the SDK's own `updateGroupProfile` reaches the connector as the core's
//! chat change, so both send the same shapes. Every run asserts the SDK raised no unhandled
//! error.

#![cfg(feature = "tencent")]

mod common;

use std::time::Duration;

use common::tencent_rig::{sdk_community, sdk_login, sdk_received, TestSandbox};
use imbridge::core::connector::{ChatId, RemoteEvent};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_management_through_the_connector_reaches_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.sandbox.import(u);
    }
    let mut bob = sdk_login(&sb, "bob").await;
    let (login, mut events) = sb.connector_login("alice").await;
    let admin = login.as_group_admin().expect("Tencent manages groups");

    // A Work group owned by alice, with bob.
    let chat = admin
        .create_group("plan", &["bob".to_owned()])
        .await
        .expect("created");
    let profile = bob
        .call("getGroupProfile", json!([{"groupID": chat.id}]))
        .await
        .expect("getGroupProfile");
    let g = &profile["data"]["group"];
    assert_eq!(
        (g["name"].clone(), g["type"].clone(), g["ownerID"].clone()),
        (json!("plan"), json!("Work"), json!("alice")),
        "{g}"
    );

    // Name and introduction: bob's SDK hears each as a profile tip (operationType 6).
    admin
        .set_group_name(&chat, "plan B")
        .await
        .expect("renamed");
    let m = sdk_received(&mut bob, |m| m["payload"]["operationType"] == 6).await;
    assert_eq!(
        m["payload"]["newGroupProfile"]["groupName"], "plan B",
        "{m}"
    );
    assert_eq!(m["payload"]["operatorID"], "alice", "{m}");
    admin
        .set_group_description(&chat, "what we do next")
        .await
        .expect("introduced");
    let m = sdk_received(&mut bob, |m| {
        m["payload"]["newGroupProfile"]["introduction"] == "what we do next"
    })
    .await;
    assert_eq!(m["to"], chat.id.as_str());

    // A member added (operationType 1) and removed (3).
    admin.add_group_member(&chat, "carol").await.expect("added");
    let m = sdk_received(&mut bob, |m| m["payload"]["operationType"] == 1).await;
    assert_eq!(m["payload"]["userIDList"], json!(["carol"]), "{m}");
    admin
        .remove_group_member(&chat, "carol")
        .await
        .expect("removed");
    let m = sdk_received(&mut bob, |m| m["payload"]["operationType"] == 3).await;
    assert_eq!(m["payload"]["userIDList"], json!(["carol"]), "{m}");
    let refused = admin
        .add_group_member(&chat, "nobody")
        .await
        .expect_err("no such account");
    assert!(refused.to_string().contains("nobody"), "{refused}");

    // A Work group has no admins: refused in the service's words.
    let refused = admin
        .set_group_admin(&chat, "bob", true)
        .await
        .expect_err("no admins in a Work group");
    assert!(refused.to_string().contains("10004"), "{refused}");
    // Nor mutes.
    let refused = admin
        .set_group_muted(&chat, "bob", true)
        .await
        .expect_err("no mutes in a Work group");
    assert!(refused.to_string().contains("Work"), "{refused}");

    // In a Public group alice owns, bob is made an admin (tip 4), muted (tip 7 with his
    // muteTime) and unmuted (muteTime 0).
    let pid = sb
        .sandbox
        .create_group("Public", "", "Town hall", "alice", &["bob".to_owned()])
        .expect("public group");
    let public = ChatId::group(pid.clone());
    admin
        .set_group_admin(&public, "bob", true)
        .await
        .expect("bob an admin");
    let m = sdk_received(&mut bob, |m| {
        m["to"] == pid.as_str() && m["payload"]["operationType"] == 4
    })
    .await;
    assert_eq!(m["payload"]["userIDList"], json!(["bob"]), "{m}");
    admin
        .set_group_admin(&public, "bob", false)
        .await
        .expect("bob a member again");
    admin
        .set_group_muted(&public, "bob", true)
        .await
        .expect("bob muted");
    let m = sdk_received(&mut bob, |m| {
        m["to"] == pid.as_str() && m["payload"]["operationType"] == 7
    })
    .await;
    let muted = &m["payload"]["memberList"][0];
    assert_eq!(muted["userID"], "bob", "{m}");
    assert!(muted["muteTime"].as_u64().is_some_and(|t| t > 0), "{m}");
    // A muted member's send is refused, as the SDK hears it (10017).
    let refused = bob
        .request(
            "sendGroupText",
            json!({"groupID": pid, "text": "let me speak"}),
        )
        .await
        .expect_err("bob is muted");
    assert_eq!(refused["code"], 10017, "{refused}");
    admin
        .set_group_muted(&public, "bob", false)
        .await
        .expect("bob unmuted");
    let m = sdk_received(&mut bob, |m| {
        m["to"] == pid.as_str()
            && m["payload"]["operationType"] == 7
            && m["payload"]["memberList"][0]["muteTime"] == 0
    })
    .await;
    assert_eq!(m["payload"]["memberList"][0]["userID"], "bob", "{m}");

    // The SDK's own profile change reaches the connector as the core's chat change.
    bob.call(
        "updateGroupProfile",
        json!([{"groupID": chat.id, "notification": "read me"}]),
    )
    .await
    .expect("updateGroupProfile");
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(RemoteEvent::ChatInfoChange {
                    chat: c, change, ..
                }) if c == chat && change.announcement.is_some() => {
                    break change.announcement;
                }
                Some(_) => continue,
                None => break None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    assert_eq!(change.as_deref(), Some("read me"));

    // A Community topic's name is the topic's own (`modify_topic`).
    let (gid, topic) = sdk_community(&mut bob, "Guild", "alice", "general").await;
    admin
        .set_group_name(&ChatId::group(topic.clone()), "news")
        .await
        .expect("topic renamed");
    let listed = bob
        .call(
            "getTopicList",
            json!([{"groupID": gid, "topicIDList": [topic]}]),
        )
        .await
        .expect("getTopicList");
    let names: Vec<&str> = listed["data"]["successTopicList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["topicName"].as_str())
        .collect();
    assert_eq!(names, ["news"], "{listed}");

    bob.assert_no_crash();
    bob.exit().await;
}
