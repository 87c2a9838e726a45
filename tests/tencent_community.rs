//! Tencent Community topics: the sandbox's topic-enabled Community (`createGroup` with
//! `isSupportTopic`, `million_group_open_http_svc.create_topic` / `get_topic` /
//! `modify_topic` / `destroy_topic`, a `MsgSeq` per topic, topic pushes and notices) and our
//! Rust session's topic support, proven against the unmodified official `@tencentcloud/chat`
//! 3.6.6 SDK (tests/sdk/tencent-agent.js) with our Rust client as the other member.

#![cfg(feature = "tencent")]

mod common;

use common::tencent_rig::{next, sdk_community, sdk_login, sdk_received, TestSandbox, APP};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::{GroupAt, SessionConfig, SessionEvent, TopicEvent};
use serde_json::json;

fn topic_event(e: SessionEvent) -> Option<TopicEvent> {
    match e {
        SessionEvent::Topic(t) => Some(t),
        _ => None,
    }
}

#[tokio::test]
async fn topics_between_the_sdk_and_our_client() {
    let sb = TestSandbox::start().await;
    sb.sandbox.import("bob");
    let mut alice = sdk_login(&sb, "alice").await;

    // The SDK makes a topic-enabled Community with bob in it, and a first topic.
    let (gid, general) = sdk_community(&mut alice, "Guild", "bob", "general").await;
    assert!(gid.starts_with("@TGS#_"), "a Community id: {gid}");
    assert!(
        general.starts_with(&format!("{gid}@TOPIC#_")),
        "a topic id: {general}"
    );

    // Two topic messages while bob is away: his login catches them up, per topic.
    for text in ["first", "second"] {
        let sent = alice
            .ok("sendGroupText", json!({"groupID": general, "text": text}))
            .await;
        assert_eq!(sent["status"], "success");
        assert_eq!(sent["to"], general);
    }
    let mut cfg = SessionConfig::new(APP, "bob", &sb.sig("bob"));
    cfg.group_catch_up = 50;
    let (bob, mut bob_events) = sb.client_with(cfg).await;
    // Two lists at login: the groups (none), then the Communities with topics.
    let list = next(&mut bob_events, |e| match e {
        SessionEvent::GroupList(l) if !l.is_empty() => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].group_id, gid);
    assert_eq!(list[0].kind, "Community");
    assert!(list[0].support_topic);
    let (listed_gid, topics) = next(&mut bob_events, |e| match e {
        SessionEvent::TopicList { group_id, topics } => Some((group_id, topics)),
        _ => None,
    })
    .await;
    assert_eq!(listed_gid, gid);
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].topic_id, general);
    assert_eq!(topics[0].profile.name.as_deref(), Some("general"));
    assert_eq!(topics[0].next_msg_seq, 3);
    for (seq, text) in [(1, "first"), (2, "second")] {
        let m = next(&mut bob_events, |e| match e {
            SessionEvent::GroupMessage(m) => Some(m),
            _ => None,
        })
        .await;
        assert_eq!(
            (m.group_id.as_str(), m.seq, m.text().as_str()),
            (general.as_str(), seq, text)
        );
        assert!(m.offline);
        assert_eq!(m.from, "alice");
    }

    // Our client -> the SDK, in the topic: the SDK files it under the topic.
    // With an @-mention of alice (`GroupAtInfo`), as in any group.
    let receipt = bob
        .send_group(
            &general,
            vec![Elem::text("from rust")],
            vec![GroupAt::User("alice".into())],
        )
        .await
        .expect("topic send");
    assert_eq!(receipt.msg_seq, 3, "the topic's own MsgSeq");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "from rust").await;
    assert_eq!(m["to"], general);
    assert_eq!(m["conversationID"], format!("GROUP{general}"));
    assert_eq!(m["conversationType"], "GROUP");
    assert_eq!(m["from"], "bob");
    assert_eq!(m["sequence"], 3);
    assert_eq!(m["type"], "TIMTextElem");
    assert_eq!(m["atUserList"], json!(["alice"]), "{m}");

    // The SDK -> our client, live, @-mentioning bob (`createTextAtMessage` in a topic).
    let sent = alice
        .ok(
            "sendGroupText",
            json!({"groupID": general, "text": "live", "atUserList": ["bob"]}),
        )
        .await;
    let m = next(&mut bob_events, |e| match e {
        SessionEvent::GroupMessage(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(m.group_id, general);
    assert_eq!(m.text(), "live");
    assert_eq!(m.mentions, vec![GroupAt::User("bob".into())]);
    assert_eq!(json!(m.seq), sent["sequence"]);
    assert_eq!(m.seq, 4);
    assert!(!m.offline);

    // A topic the SDK creates reaches our client typed; one we create reaches the SDK.
    let r = alice
        .call(
            "createTopicInCommunity",
            json!([{"groupID": gid, "topicName": "random"}]),
        )
        .await
        .expect("createTopicInCommunity");
    let random = r["data"]["topicID"].as_str().expect("topicID").to_owned();
    let ev = next(&mut bob_events, topic_event).await;
    assert_eq!(
        ev,
        TopicEvent::Created {
            group_id: gid.clone(),
            topic_id: random.clone(),
            operator: "alice".into()
        }
    );
    let ours = bob.create_topic(&gid, "rusty").await.expect("create_topic");
    // Every member is told, the creator too.
    assert_eq!(
        next(&mut bob_events, topic_event).await,
        TopicEvent::Created {
            group_id: gid.clone(),
            topic_id: ours.clone(),
            operator: "bob".into()
        }
    );
    let e = alice
        .event("onTopicCreated", |d| d["topicID"] == ours.as_str())
        .await;
    assert_eq!(e["groupID"], gid);
    let listed = alice
        .call("getTopicList", json!([{"groupID": gid}]))
        .await
        .expect("getTopicList");
    let mut names: Vec<String> = listed["data"]["successTopicList"]
        .as_array()
        .expect("successTopicList")
        .iter()
        .filter_map(|t| t["topicName"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, ["general", "random", "rusty"]);
    let mine = bob.topics(&gid).await.expect("get_topic");
    assert_eq!(mine.len(), 3);

    // Renames both ways.
    alice
        .call(
            "updateTopicProfile",
            json!([{"groupID": gid, "topicID": random, "topicName": "off-topic"}]),
        )
        .await
        .expect("updateTopicProfile");
    let TopicEvent::ProfileChanged {
        topic_id, profile, ..
    } = next(&mut bob_events, topic_event).await
    else {
        panic!("a profile change");
    };
    assert_eq!(topic_id, random);
    assert_eq!(profile.name.as_deref(), Some("off-topic"));
    assert_eq!(profile.introduction, None);
    bob.rename_topic(&general, "lobby").await.expect("rename");
    let TopicEvent::ProfileChanged {
        topic_id, operator, ..
    } = next(&mut bob_events, topic_event).await
    else {
        panic!("our own rename told back");
    };
    assert_eq!(
        (topic_id.as_str(), operator.as_str()),
        (general.as_str(), "bob")
    );
    // (The SDK also emits onTopicUpdated for new messages; wait for the rename.)
    let e = alice
        .event("onTopicUpdated", |d| {
            d["topic"]["topicID"] == general.as_str() && d["topic"]["topicName"] == "lobby"
        })
        .await;
    assert_eq!(e["groupID"], gid);
    assert_eq!(e["topic"]["topicName"], "lobby");

    // Deletes both ways.
    let r = alice
        .call(
            "deleteTopicFromCommunity",
            json!([{"groupID": gid, "topicIDList": [random]}]),
        )
        .await
        .expect("deleteTopicFromCommunity");
    assert_eq!(r["data"]["successTopicList"][0]["topicID"], random);
    assert_eq!(
        next(&mut bob_events, topic_event).await,
        TopicEvent::Deleted {
            group_id: gid.clone(),
            topic_ids: vec![random.clone()],
            operator: "alice".into()
        }
    );
    bob.delete_topic(&ours).await.expect("delete_topic");
    let e = alice
        .event("onTopicDeleted", |d| d["topicIDList"] == json!([ours]))
        .await;
    assert_eq!(e["groupID"], gid);
    // A deleted topic takes no more messages.
    let err = bob
        .send_group(&random, vec![Elem::text("too late")], vec![])
        .await
        .expect_err("the topic is gone");
    assert!(err.to_string().contains("topic"), "{err}");
    assert_eq!(bob.topics(&gid).await.expect("get_topic").len(), 1);
    alice.assert_no_crash();
    alice.exit().await;
}
