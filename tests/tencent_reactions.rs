//! Message reactions between the unmodified official `@tencentcloud/chat` 3.6.6
//! (tests/sdk/tencent-agent.js) and our Rust client, through the sandbox, C2C and in a Work
//! group, both ways: the SDK's `addMessageReaction` / `removeMessageReaction` reach our
//! client as reaction summaries naming the message; our client's `reaction_add` /
//! `group_reaction_add` reach the SDK's `onMessageReactionsUpdated` for its message, and the
//! reacting user's other instance hears its own reaction; the SDK's `getMessageReactions`
//! and our client read a message's reactions (`reaction_multi_stat` /
//! `group_reaction_multi_stat`). The SDK only offers reactions
//! once the app's purchase bits say so, which the sandbox's `fetch_imsdk_purchase_bitsv2`
//! does. Every run asserts the SDK raised no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use std::time::Duration;

use common::sdk_agent::SdkAgent;
use common::tencent_rig::{next, sdk_login, TestSandbox};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::reactions::{
    parse_stats, reaction_request, stats_request, ReactionCount, ReactionNotice, ReactionTarget,
    StatsQuery,
};
use imbridge::network::tencent::session::SessionEvent;
use serde_json::{json, Value};

fn reactions(e: SessionEvent) -> Option<ReactionNotice> {
    match e {
        SessionEvent::Reactions(r) => Some(r),
        _ => None,
    }
}

/// The SDK's `method` (add / remove) of `reaction` on its message `id`; retried while the
/// SDK has not yet read the app's purchase bits (it refuses with "not purchased" before).
async fn sdk_react(a: &mut SdkAgent, method: &str, id: &Value, reaction: &str) {
    for _ in 0..40 {
        match a
            .request(
                "onMessage",
                json!({"method": method, "messageID": id, "args": [reaction]}),
            )
            .await
        {
            Ok(_) => return,
            // 3122: the SDK's NO_USE, "feature not purchased".
            Err(e) if e["code"] == 3122 => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("{method} refused: {e}"),
        }
    }
    panic!("the SDK never offered reactions");
}

fn summary(n: ReactionNotice) -> (ReactionTarget, Vec<ReactionCount>) {
    match n {
        ReactionNotice::Summary {
            target, reactions, ..
        } => (target, reactions),
        other => panic!("a summary, not {other:?}"),
    }
}

#[tokio::test]
async fn c2c_reactions_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let (_bob2, mut bob2_events) = sb.client("bob").await;
    let mut alice = sdk_login(&sb, "alice").await;

    // SDK → Rust: alice reacts to her own message to bob.
    let sent = alice
        .ok("sendText", json!({"to": "bob", "text": "react to me"}))
        .await;
    let got = next(&mut bob_events, |e| match e {
        SessionEvent::Message(m) => Some(m),
        _ => None,
    })
    .await;
    sdk_react(&mut alice, "addMessageReaction", &sent["ID"], "👍").await;
    let (target, list) = summary(next(&mut bob_events, reactions).await);
    assert_eq!(
        target,
        ReactionTarget::C2c {
            from: "alice".into(),
            to: "bob".into(),
            msg_key: got.key.clone()
        }
    );
    assert_eq!(
        list,
        vec![ReactionCount {
            reaction: "👍".into(),
            users: vec!["alice".into()],
            count: 1
        }]
    );

    // Rust → SDK: bob adds ❤️ to the same message; the SDK updates its reactions of it, and
    // bob's other instance hears his own reaction.
    let (cmd, body) = reaction_request(&target, "❤️", "bob", true);
    bob.call(cmd, body).await.expect("reaction_add");
    let updated = alice
        .event("onMessageReactionsUpdated", |d| {
            d["reactionList"].to_string().contains("❤️")
        })
        .await;
    assert_eq!(updated["messageID"], sent["ID"], "{updated}");
    let heart = &updated["reactionList"][0];
    assert_eq!(heart["reactionID"], "❤️");
    assert_eq!(heart["totalUserCount"], 1);
    assert_eq!(heart["partialUserList"][0]["userID"], "bob");
    let own = next(&mut bob2_events, |e| match e {
        SessionEvent::Reactions(r @ ReactionNotice::Own { .. }) => Some(r),
        _ => None,
    })
    .await;
    assert!(
        matches!(&own, ReactionNotice::Own { reaction, added: true, .. } if reaction == "❤️"),
        "{own:?}"
    );

    // The SDK reads the message's reactions (`reaction_multi_stat`): 👍 by alice, ❤️ by bob.
    let read = alice
        .ok(
            "getMessageReactions",
            json!({"messageIDs": [sent["ID"]], "maxUserCountPerReaction": 10}),
        )
        .await;
    let result = &read["resultList"][0];
    assert_eq!(result["messageID"], sent["ID"], "{read}");
    let mut keys: Vec<(String, u64, bool)> = result["reactionList"]
        .as_array()
        .expect("reactionList")
        .iter()
        .map(|r| {
            (
                r["reactionID"].as_str().unwrap_or_default().to_owned(),
                r["totalUserCount"].as_u64().unwrap_or(0),
                r["reactedByMyself"] == true,
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [("❤️".to_owned(), 1, false), ("👍".to_owned(), 1, true)],
        "{read}"
    );
    // Our client reads the same (what the bridge does after a catch-up).
    let query = StatsQuery::C2c {
        from: "alice".into(),
        to: "bob".into(),
        keys: vec![got.key.clone()],
    };
    let (cmd, body) = stats_request(&query, 10);
    let reply = bob.call(cmd, body).await.expect("reaction_multi_stat");
    let (_, mut list) = summary(parse_stats(&query, &reply).remove(0));
    list.sort_by(|a, b| a.reaction.cmp(&b.reaction));
    assert_eq!(list.len(), 2, "{reply}");
    assert_eq!(list[1].users, ["alice"]);

    // SDK removes 👍: nobody has it any more.
    sdk_react(&mut alice, "removeMessageReaction", &sent["ID"], "👍").await;
    let (_, list) = summary(
        next(&mut bob_events, |e| match e {
            SessionEvent::Reactions(r @ ReactionNotice::Summary { .. })
                if format!("{r:?}").contains("👍") =>
            {
                Some(r)
            }
            _ => None,
        })
        .await,
    );
    assert_eq!((list[0].users.len(), list[0].count), (0, 0));

    // A reaction for someone else, or on a message that does not exist, is refused.
    let (cmd, mut body) = reaction_request(&target, "x", "bob", true);
    body["Add_Account"] = json!(["alice"]);
    assert!(bob.call(cmd, body).await.is_err());
    let nowhere = ReactionTarget::C2c {
        from: "alice".into(),
        to: "bob".into(),
        msg_key: "1_2_3".into(),
    };
    let (cmd, body) = reaction_request(&nowhere, "x", "bob", true);
    assert!(bob.call(cmd, body).await.is_err());

    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn group_reactions_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    let mut alice = sdk_login(&sb, "alice").await;
    let (bob, mut bob_events) = sb.client("bob").await;

    // Rust → SDK: bob reacts to his own group message, which alice received.
    let receipt = bob
        .send_group(&gid, vec![Elem::text("vote here")], vec![])
        .await
        .expect("group send");
    let m = common::tencent_rig::sdk_received(&mut alice, |m| m["payload"]["text"] == "vote here")
        .await;
    let target = ReactionTarget::Group {
        group_id: gid.clone(),
        topic_id: None,
        seq: u64::from(receipt.msg_seq),
    };
    let (cmd, body) = reaction_request(&target, "🎉", "bob", true);
    bob.call(cmd, body).await.expect("group_reaction_add");
    let updated = alice
        .event("onMessageReactionsUpdated", |d| {
            d["reactionList"].to_string().contains("🎉")
        })
        .await;
    assert_eq!(updated["messageID"], m["ID"], "{updated}");
    assert_eq!(updated["reactionList"][0]["totalUserCount"], 1);

    // SDK → Rust: alice adds 🎉 too; bob hears both users on it.
    sdk_react(&mut alice, "addMessageReaction", &m["ID"], "🎉").await;
    let (t, list) = summary(
        next(&mut bob_events, |e| match e {
            SessionEvent::Reactions(r @ ReactionNotice::Summary { .. })
                if format!("{r:?}").contains("alice") =>
            {
                Some(r)
            }
            _ => None,
        })
        .await,
    );
    assert_eq!(t, target);
    assert_eq!(list[0].users, vec!["bob".to_owned(), "alice".to_owned()]);
    assert_eq!(list[0].count, 2);

    // Both read the message's reactions (`group_reaction_multi_stat`), one user listed.
    let read = alice
        .ok(
            "getMessageReactions",
            json!({"messageIDs": [m["ID"]], "maxUserCountPerReaction": 1}),
        )
        .await;
    let r = &read["resultList"][0];
    assert_eq!(r["messageID"], m["ID"], "{read}");
    assert_eq!(r["reactionList"][0]["reactionID"], "🎉", "{read}");
    assert_eq!(r["reactionList"][0]["totalUserCount"], 2, "{read}");
    assert_eq!(r["reactionList"][0]["reactedByMyself"], true, "{read}");
    let query = StatsQuery::Group {
        group_id: gid.clone(),
        topic_id: None,
        seqs: vec![u64::from(receipt.msg_seq)],
    };
    let (cmd, body) = stats_request(&query, 1);
    let reply = bob
        .call(cmd, body)
        .await
        .expect("group_reaction_multi_stat");
    let (t, list) = summary(parse_stats(&query, &reply).remove(0));
    assert_eq!(t, target);
    assert_eq!((list[0].users.len(), list[0].count), (1, 2), "{reply}");
    // A non-member may not read them.
    let (carol, _) = sb.client("carol").await;
    assert!(carol.call(cmd, stats_request(&query, 1).1).await.is_err());

    alice.assert_no_crash();
    alice.exit().await;
}
