//! A Tencent Work group on the bridge, end to end: real Synapse, the bridge binary, the
//! Tencent sandbox in this process. Two Matrix users log in (alice and dave, both members);
//! the group is bridged once (one portal both are in), bob's group message reaches Matrix
//! once, a Matrix message reaches bob once, a member added over REST joins the room as a
//! ghost, a rename on the IM side renames the room, and a bridge restart (bob writing meanwhile) loses and repeats nothing, a recall made while it was down redacts the event, and a removal and a rename made while it was down reach the room, and so does an edit (once; edits bridged before are not repeated).
//! Then replies both ways as TUIKit quotes, recall both ways (bob's recall redacts the event; a Matrix redaction recalls the
//! message for bob), a Matrix read receipt moving alice's read marker (heard by another
//! instance of alice), edits both ways, bob's nickname naming his ghost, and `sync-profile`
//! setting alice's nickname from her Matrix display name.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;
#[path = "bridge_tencent_groups/im_side.rs"]
mod im_side;

use std::time::{Duration, Instant};

use common::bridge::{tail, wait_item};
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::sandbox;
use imbridge::network::tencent::session::group_wire::{
    modify_body, recall_body, GROUP_MSG_RECALL, MODIFY_GROUP_MSG,
};
use imbridge::network::tencent::session::ops;
use imbridge::network::tencent::session::profile::TAG_NICK;
use imbridge::network::tencent::session::reactions::{
    reaction_request, ReactionNotice, ReactionTarget,
};
use imbridge::network::tencent::session::{GroupAt, GroupNotice};

const BOB_GHOST: &str = "@tencent_bob:localhost";
const CAROL_GHOST: &str = "@tencent_carol:localhost";

use im_side::{im_user, wait_notice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_work_group_bridged_once_both_ways_and_restart() {
    let t0 = Instant::now();
    let (bed, mut bridge) =
        TencentBed::start("tencent-groups", &["alice", "dave", "bob", "carol"]).await;
    let sb = bed.sb.clone();
    let log = bed.log.clone();
    let gid = sb
        .create_group(
            "Work",
            "",
            "Team",
            "bob",
            &["alice".to_owned(), "dave".to_owned()],
        )
        .expect("group");
    say!(t0, "Synapse and the bridge up");
    let mut mx1 = bed.matrix_user("mx1", "mxpw-Tg41-matrix-secret");
    let mut mx2 = bed.matrix_user("mx2", "mxpw-Tg42-matrix-secret");
    let (bob, bob_got, bob_notices, bob_edits, bob_reacts, bob_msgs) = im_user(&bed, "bob").await;
    // bob has a nickname: his ghost is named by it.
    let r = sb.portrait_set(
        "bob",
        None,
        &serde_json::json!({"ProfileItem": [{"Tag": TAG_NICK, "Value": "Bob B."}]}),
    );
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let mgmt1 = bed.login(&mut mx1, "alice").await;
    let mgmt2 = bed.login(&mut mx2, "dave").await;
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
    assert_eq!(
        mx1.profile(BOB_GHOST).await["displayname"],
        "Bob B. (Tencent)",
        "the ghost is named by bob's nickname, with the network's default template"
    );

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

    // Restart, with bob writing while the bridge is down, and recalling a bridged message.
    let recalled = bob
        .send_group(&gid, vec![Elem::text("recalled while away")], vec![])
        .await
        .expect("bob sends");
    mx1.wait_body(&room1, |b| b == "recalled while away").await;
    let recalled_event = mx1.event_id_of(&room1, "recalled while away").await;
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    let reply = bob
        .call(
            GROUP_MSG_RECALL,
            recall_body(&gid, &[u64::from(recalled.msg_seq)]),
        )
        .await
        .expect("recall answered");
    assert_eq!(reply["RecallRetList"][0]["RetCode"], 0, "{reply}");
    bob.send_group(&gid, vec![Elem::text("while away")], vec![])
        .await
        .expect("bob sends");
    // Group changes while the bridge is down: carol removed, the group renamed (tips kept
    // in the group's history, read by the catch-up).
    sb.remove_group_members("administrator", &gid, &["carol".to_owned()], false)
        .expect("remove carol");
    sb.modify_group(
        "administrator",
        &gid,
        &sandbox::groups::ProfileChange {
            name: Some("Team 3".into()),
            ..Default::default()
        },
    )
    .expect("rename");
    let mut bridge = bed.restart();
    say!(t0, "bridge restarted");
    mx1.wait_bodies_steady(&room1, BOB_GHOST, &["hello team", "while away"], &log)
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while mx1.state(&room1, "m.room.name").await["name"] != "Team 3"
        || mx1.members(&room1).await.iter().any(|m| m == CAROL_GHOST)
    {
        assert!(
            Instant::now() < deadline,
            "the rename and carol's removal made while the bridge was down were not bridged\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(
        t0,
        "group changes made while the bridge was down were bridged"
    );
    // The catch-up's placeholder tells the recall the bridge missed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mx1.event(&room1, &recalled_event).await["content"]["body"].is_null() {
        assert!(
            Instant::now() < deadline,
            "the recall made while the bridge was down was not bridged\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(
        t0,
        "a recall made while the bridge was down redacted the event"
    );
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

    // Replies both ways, as TUIKit quotes (`CloudCustomData.messageReply` naming the SDK's
    // message `ID`): bob quotes alice's Matrix message, which becomes an `m.in_reply_to`;
    // alice's Element reply to bob's message reaches him quoting it.
    let hi = bob_msgs
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|m| m.text() == "hi from matrix").cloned())
        .expect("bob has the Matrix message");
    let hi_event = mx1.event_id_of(&room1, "hi from matrix").await;
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: ops::sdk_message_id(&hi.tiny_id, hi.client_time, hi.random),
        message_abstract: "hi from matrix".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    bob.send_group_with(&gid, vec![Elem::text("quoting you")], vec![], quote)
        .await
        .expect("bob replies");
    mx1.wait_event(&room1, "bob's reply", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["body"] == "quoting you"
            && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == hi_event.as_str()
    })
    .await;
    let asked = bob
        .send_group(&gid, vec![Elem::text("question?")], vec![])
        .await
        .expect("bob sends");
    mx1.wait_body(&room1, |b| b == "question?").await;
    let asked_event = mx1.event_id_of(&room1, "question?").await;
    mx1.send_content(
        &room1,
        serde_json::json!({"msgtype": "m.text",
            "body": format!("> <{BOB_GHOST}> question?\n\nthe answer"),
            "format": "org.matrix.custom.html",
            "formatted_body": format!("<mx-reply><blockquote><a href=\"https://matrix.to/#/!r/{asked_event}\">In reply to</a> <a href=\"https://matrix.to/#/{BOB_GHOST}\">{BOB_GHOST}</a><br>question?</blockquote></mx-reply>the answer"),
            "m.relates_to": {"m.in_reply_to": {"event_id": asked_event}}}),
    )
    .await;
    let answer = wait_item(&bob_msgs, "bob's answer", &log, |m| {
        m.text() == "the answer"
    })
    .await;
    let r = ops::parse_reply(&answer.cloud_custom_data).expect("a reply quote");
    assert!(
        r.message_id
            .ends_with(&format!("-{}-{}", asked.msg_time, asked.msg_random))
            && !r.message_id.starts_with('-'),
        "the quote names bob's message by its SDK id: {r:?}"
    );
    assert_eq!(
        (r.message_sender.as_str(), r.message_abstract.as_str()),
        ("bob", "question?"),
        "{r:?}"
    );
    say!(t0, "group replies both ways");

    // Recall on the IM side: the event is redacted.
    let sent = bob
        .send_group(&gid, vec![Elem::text("to recall")], vec![])
        .await
        .expect("bob sends");
    mx1.wait_body(&room1, |b| b == "to recall").await;
    let event = mx1.event_id_of(&room1, "to recall").await;
    let reply = bob
        .call(
            GROUP_MSG_RECALL,
            recall_body(&gid, &[u64::from(sent.msg_seq)]),
        )
        .await
        .expect("recall answered");
    assert_eq!(reply["RecallRetList"][0]["RetCode"], 0, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mx1.event(&room1, &event).await["content"]["body"].is_null() {
        assert!(
            Instant::now() < deadline,
            "bob's recall was not bridged\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(t0, "bob's recall redacted the event");

    // A Matrix redaction recalls the message for bob, as alice's recall.
    let event = mx1.send_text(&room1, "matrix oops").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let seq = loop {
        let seq = bob_got
            .lock()
            .map(|v| v.iter().position(|m| m.1 == "matrix oops"))
            .unwrap_or(None);
        if seq.is_some() {
            break sb
                .group_msg_get("bob", &gid, 0, 20)
                .expect("history")
                .0
                .iter()
                .find(|m| m["MsgBody"][0]["MsgContent"]["Text"] == "matrix oops")
                .and_then(|m| m["MsgSeq"].as_u64())
                .expect("stored");
        }
        assert!(
            Instant::now() < deadline,
            "bob got nothing\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    mx1.redact(&room1, &event).await;
    let recalled = GroupNotice::Recalled {
        group_id: gid.clone(),
        seqs: vec![seq],
        revoker: "alice".into(),
    };
    wait_notice(&bob_notices, &recalled, &log).await;
    say!(t0, "the Matrix redaction recalled the message for bob");

    // A Matrix read receipt moves alice's read marker (alice's other instance hears it).
    let (_alice2, _, alice2_notices, _, _, _) = im_user(&bed, "alice").await;
    let sent = bob
        .send_group(&gid, vec![Elem::text("read me")], vec![])
        .await
        .expect("bob sends");
    mx1.wait_body(&room1, |b| b == "read me").await;
    let event = mx1.event_id_of(&room1, "read me").await;
    mx1.send_read_receipt(&room1, &event).await;
    let read = GroupNotice::Read {
        group_id: gid.clone(),
        seq: u64::from(sent.msg_seq),
    };
    wait_notice(&alice2_notices, &read, &log).await;
    say!(t0, "the Matrix read receipt reached alice's read marker");

    // An edit on the IM side arrives as `m.replace`; a Matrix edit reaches bob as an edit.
    let seq = u64::from(sent.msg_seq);
    let (read_me, read_me_seq) = (event.clone(), seq);
    let reply = bob
        .call(
            MODIFY_GROUP_MSG,
            modify_body(&gid, seq, 0, &[Elem::text("read me, edited")]),
        )
        .await
        .expect("edit answered");
    assert_eq!(reply["MsgVersion"], 1, "{reply}");
    mx1.wait_event(&room1, "bob's edit", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == event.as_str()
            && e["content"]["m.new_content"]["body"] == "read me, edited"
    })
    .await;
    let mine = mx1.send_text(&room1, "typo here").await;
    mx1.wait_body(&room1, |b| b == "typo here").await;
    let seq = sb
        .group_msg_get("bob", &gid, 0, 20)
        .expect("history")
        .0
        .iter()
        .find(|m| m["MsgBody"][0]["MsgContent"]["Text"] == "typo here")
        .and_then(|m| m["MsgSeq"].as_u64())
        .expect("stored");
    mx1.send_content(
        &room1,
        serde_json::json!({"msgtype": "m.text", "body": "* no typo",
            "m.new_content": {"msgtype": "m.text", "body": "no typo"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bob_edits
        .lock()
        .map(|v| v.contains(&(seq, "no typo".to_owned(), 1)))
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "bob did not get the edit: {:?}\n{}",
            bob_edits.lock().map(|v| v.clone()).unwrap_or_default(),
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(t0, "edits both ways");

    // Reactions both ways, bridged once although two logins hear each summary: bob's 👍 on
    // alice's message is one reaction of his ghost; alice's Matrix 🎉 on it reaches bob.
    let target = ReactionTarget::Group {
        group_id: gid.clone(),
        topic_id: None,
        seq,
    };
    let (cmd, body) = reaction_request(&target, "👍", "bob", true);
    bob.call(cmd, body).await.expect("bob reacts");
    let is_thumbs = |e: &serde_json::Value| {
        e["type"] == "m.reaction"
            && e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["event_id"] == mine.as_str()
            && e["content"]["m.relates_to"]["key"] == "👍"
    };
    mx1.wait_event(&room1, "bob's reaction", is_thumbs).await;
    mx1.send_reaction(&room1, &mine, "🎉").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bob_reacts.lock().is_ok_and(|v| {
        v.iter().any(|r| {
            matches!(r, ReactionNotice::Summary { target: t, reactions, .. }
                if *t == target && reactions.iter().any(|c| c.reaction == "🎉" && c.users == ["alice"]))
        })
    }) {
        assert!(Instant::now() < deadline, "bob did not hear alice's 🎉\n{}", tail(&log, 40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let thumbs = mx1
        .raw_events(&room1)
        .await
        .into_iter()
        .filter(|e| is_thumbs(e))
        .count();
    assert_eq!(
        thumbs, 1,
        "bob's reaction bridged once with two logins in the group"
    );
    say!(t0, "group reactions both ways, once");

    // Reactions changed while the bridge is down are pushed live only; the catch-up reads
    // them (`group_reaction_multi_stat`): bob's 👍 goes, his 😂 comes.
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    let (cmd, body) = reaction_request(&target, "👍", "bob", false);
    bob.call(cmd, body).await.expect("bob removes 👍");
    let (cmd, body) = reaction_request(&target, "😂", "bob", true);
    bob.call(cmd, body).await.expect("bob adds 😂");
    // An edit made while the bridge is down comes with the catch-up (the message read again
    // with `MsgVersion` 2): one more `m.replace`, and neither the edit bridged before nor
    // alice's Matrix edit (version 1 of "typo here") comes back.
    let reply = bob
        .call(
            MODIFY_GROUP_MSG,
            modify_body(&gid, read_me_seq, 1, &[Elem::text("read me, edited twice")]),
        )
        .await
        .expect("edit answered");
    assert_eq!(reply["MsgVersion"], 2, "{reply}");
    let mut bridge = bed.restart();
    let is_laugh = |e: &serde_json::Value| {
        e["type"] == "m.reaction"
            && e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["event_id"] == mine.as_str()
            && e["content"]["m.relates_to"]["key"] == "😂"
    };
    mx1.wait_event(&room1, "bob's 😂 made while away", is_laugh)
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while mx1.raw_events(&room1).await.iter().any(&is_thumbs) {
        assert!(
            Instant::now() < deadline,
            "bob's 👍 removed while away is still in the room\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let laughs = mx1
        .raw_events(&room1)
        .await
        .into_iter()
        .filter(|e| is_laugh(e))
        .count();
    assert_eq!(laughs, 1, "the 😂 bridged once with two logins");
    say!(
        t0,
        "reactions changed while the bridge was down: 👍 removed, 😂 added"
    );
    mx1.wait_event(&room1, "bob's edit made while away", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["event_id"] == read_me.as_str()
            && e["content"]["m.new_content"]["body"] == "read me, edited twice"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let edits_of = |events: &[serde_json::Value], target: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| {
                e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                    && e["content"]["m.relates_to"]["event_id"] == target
            })
            .map(|e| {
                e["content"]["m.new_content"]["body"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let events = mx1.raw_events(&room1).await;
    assert_eq!(
        edits_of(&events, &read_me),
        ["read me, edited", "read me, edited twice"],
        "each of bob's edits bridged once"
    );
    assert_eq!(
        edits_of(&events, &mine),
        ["no typo"],
        "alice's Matrix edit not bridged back"
    );
    say!(t0, "an edit made while the bridge was down bridged once");

    // `sync-profile`: alice's Matrix display name becomes her Tencent nickname.
    mx1.set_displayname("Alice from Matrix").await;
    mx1.send_text(&mgmt1, "sync-profile").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = sb.portrait_get(&serde_json::json!({"To_Account": ["alice"]}));
        if p["UserProfileItem"][0]["ProfileItem"][0]["Value"] == "Alice from Matrix" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nickname was not set: {p}\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(t0, "sync-profile set alice's nickname");
    bridge.stop();
}
