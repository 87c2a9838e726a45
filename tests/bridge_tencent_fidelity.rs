//! The bridge on Tencent Cloud Chat, C2C fidelity end to end: real Synapse, the bridge
//! binary, the Tencent sandbox in this process and bob's Rust client. In one DM, each both
//! ways: a Matrix edit (`m.replace`) ↔ `modify_c2c_msg`, a redaction ↔ recall
//! (`msgwithdraw`), a Matrix read receipt ↔ the C2C read marker (`msgreaded`), and Matrix
//! typing ↔ the TUIKit typing notice, a Matrix reply ↔ the TUIKit quote
//! (`CloudCustomData.messageReply`), reactions (`reaction_add` / `reaction_del` ↔
//! `m.reaction` and its redaction), and a custom element shown as a notice. An edit and a
//! reaction bob makes while the bridge is stopped reach Matrix after its restart, once, and
//! his recall then as a redaction.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::tail;
use common::tencent_bed::{TencentBed, APP};
use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::elem::{CustomElem, Elem};
use imbridge::network::tencent::sandbox::Sandbox;
use imbridge::network::tencent::session::ops::{self, C2cRef};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use imbridge::network::tencent::wire::servcmd;
use serde_json::json;

const BOB_GHOST: &str = "@tencent_bob:localhost";

type Seen = Arc<Mutex<Vec<SessionEvent>>>;

/// bob on the Tencent side, with every session event he gets collected.
async fn bob(addr: &str, sandbox: &Sandbox) -> (Client, Seen) {
    let sig = sandbox.user_sig("bob", 3600);
    let (client, mut events) = Client::start(ClientConfig::new(
        addr,
        SessionConfig::new(APP, "bob", &sig),
    ));
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("bob logs in");
    assert_eq!(state, LinkState::Connected);
    let seen = Seen::default();
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let Ok(mut v) = out.lock() {
                v.push(e);
            }
        }
    });
    (client, seen)
}

/// Waits (bounded) until bob has an event `pick` accepts, and takes it (and all before it).
async fn bob_gets<T>(
    seen: &Seen,
    what: &str,
    log: &std::path::Path,
    pick: impl Fn(&SessionEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut v) = seen.lock() {
            if let Some(i) = v.iter().position(|e| pick(e).is_some()) {
                let found = pick(&v[i]);
                v.drain(..=i);
                if let Some(t) = found {
                    return t;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "bob never got {what}\n{}",
            tail(log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_dm_edits_recalls_receipts_typing_and_replies_both_ways() {
    let t0 = Instant::now();
    let (bed, mut bridge) = TencentBed::start("tencent-fidelity", &["alice", "bob"]).await;
    let (sb, log) = (bed.sb.clone(), bed.log.clone());
    let mut mx = bed.matrix_user("mx1", "mxpw-Tc42-matrix-secret");
    let (bob, seen) = bob(&bed.ws, &sb).await;
    let bob_tiny = bob_gets(&seen, "bob's login", &log, |e| match e {
        SessionEvent::LoggedIn { tiny_id, .. } => Some(tiny_id.clone()),
        _ => None,
    })
    .await;
    let mgmt = bed.login(&mut mx, "alice").await;
    let hello = bob.send_c2c_text("alice", "hello alice").await.unwrap();
    let dm = mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    let hello_event = mx.event_id_of(&dm, "hello alice").await;
    say!(t0, "DM portal {dm} is up");

    // Matrix edit → Tencent modify.
    let mine = mx.send_text(&dm, "typo").await;
    let sent = bob_gets(&seen, "mx1's text", &log, |e| match e {
        SessionEvent::Message(m) if m.text() == "typo" => Some(m.clone()),
        _ => None,
    })
    .await;
    mx.send_content(
        &dm,
        json!({
            "msgtype": "m.text", "body": "* fixed",
            "m.new_content": {"msgtype": "m.text", "body": "fixed"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": mine},
        }),
    )
    .await;
    let edit = bob_gets(&seen, "the edit", &log, |e| match e {
        SessionEvent::Modified(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(edit.target.msg_key(), sent.key);
    assert_eq!(edit.elems, vec![Elem::text("fixed")]);
    say!(t0, "Matrix edit reached bob as a modify");

    // Matrix redaction → Tencent recall.
    mx.redact(&dm, &mine).await;
    let recalled = bob_gets(&seen, "the recall", &log, |e| match e {
        SessionEvent::Recalled(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(recalled.msg_key(), sent.key);
    say!(t0, "Matrix redaction reached bob as a recall");

    // Tencent modify → Matrix edit.
    let hello_ref = C2cRef::from_key("bob", "alice", &hello.msg_key).unwrap();
    bob.call(
        ops::MODIFY_C2C_MSG,
        ops::modify_body(&hello_ref, 0, &[Elem::text("hello alice!")], None),
    )
    .await
    .expect("bob edits");
    mx.wait_event(&dm, "the ghost's edit", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == hello_event.as_str()
            && e["content"]["m.new_content"]["body"] == "hello alice!"
    })
    .await;
    say!(t0, "bob's modify is a Matrix edit");

    // Tencent recall → Matrix redaction.
    bob.call(ops::MSGWITHDRAW, ops::withdraw_body(&hello_ref))
        .await
        .expect("bob recalls");
    mx.wait_event(&dm, "the redacted original", |e| {
        e["event_id"] == hello_event.as_str()
            && e["content"].as_object().is_some_and(|c| c.is_empty())
    })
    .await;
    say!(t0, "bob's recall redacted the Matrix event");

    // Matrix read receipt → Tencent read marker.
    bob.send_c2c_text("alice", "did you read this?")
        .await
        .unwrap();
    let question = mx.event_id_of(&dm, "did you read this?").await;
    mx.send_read_receipt(&dm, &question).await;
    let (peer, _) = bob_gets(&seen, "alice's read marker", &log, |e| match e {
        SessionEvent::PeerRead { peer, time } => Some((peer.clone(), *time)),
        _ => None,
    })
    .await;
    assert_eq!(peer, "alice");
    say!(t0, "Matrix read receipt reached bob");

    // Tencent read marker → Matrix read receipt of the ghost.
    let answer = mx.send_text(&dm, "yes I did").await;
    bob_gets(&seen, "the answer", &log, |e| match e {
        SessionEvent::Message(m) if m.text() == "yes I did" => Some(()),
        _ => None,
    })
    .await;
    bob.call(ops::MSGREADED, ops::read_body("alice", 0))
        .await
        .expect("bob reads");
    mx.wait_read_receipt(&dm, BOB_GHOST, &answer).await;
    say!(t0, "bob's read marker is the ghost's read receipt");

    // Typing both ways.
    mx.set_typing(&dm, true).await;
    let typing = bob_gets(&seen, "alice typing", &log, |e| match e {
        SessionEvent::Message(m) => ops::typing_status(&m.elems),
        _ => None,
    })
    .await;
    assert!(typing);
    bob.call(
        servcmd::SENDMSG,
        ops::typing_body("bob", "alice", true, 1, 2),
    )
    .await
    .expect("bob types");
    mx.wait_typing(&dm, BOB_GHOST, true).await;
    bob.call(
        servcmd::SENDMSG,
        ops::typing_body("bob", "alice", false, 3, 4),
    )
    .await
    .expect("bob stops");
    mx.wait_typing(&dm, BOB_GHOST, false).await;
    say!(t0, "typing both ways");
    // No typing notice became a message in the room.
    let bodies = mx.bodies(&dm, Some(BOB_GHOST)).await;
    assert!(
        bodies.iter().all(|b| !b.contains("custom")),
        "a typing notice shows as a message: {bodies:?}"
    );

    // Matrix reply → a TUIKit quote naming bob's message by the id his SDK knows.
    let question = bob.send_c2c_text("alice", "coffee?").await.unwrap();
    let coffee = mx.event_id_of(&dm, "coffee?").await;
    mx.send_content(
        &dm,
        json!({"msgtype": "m.text", "body": "sure",
               "m.relates_to": {"m.in_reply_to": {"event_id": coffee}}}),
    )
    .await;
    let sure = bob_gets(&seen, "the Matrix reply", &log, |e| match e {
        SessionEvent::Message(m) if m.text() == "sure" => Some(m.clone()),
        _ => None,
    })
    .await;
    let quote = ops::parse_reply(&sure.cloud_custom_data).expect("a reply quote");
    assert_eq!(
        quote.message_id,
        ops::sdk_message_id(&bob_tiny, question.msg_time, question.msg_random)
    );
    assert_eq!(
        (
            quote.message_sender.as_str(),
            quote.message_abstract.as_str()
        ),
        ("bob", "coffee?")
    );
    // bob's quote of alice's message → a Matrix reply to it.
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: ops::sdk_message_id(&sure.tiny_id, sure.client_time, sure.random),
        message_abstract: "sure".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    bob.send_c2c_with("alice", vec![Elem::text("see you")], quote)
        .await
        .unwrap();
    let sure_event = mx.event_id_of(&dm, "sure").await;
    mx.wait_event(&dm, "the ghost's reply", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == sure_event.as_str()
    })
    .await;
    say!(t0, "replies both ways");

    // A custom element shows as a notice in words.
    bob.send_c2c(
        "alice",
        vec![Elem::Custom(CustomElem {
            desc: "a poll".into(),
            ..CustomElem::default()
        })],
    )
    .await
    .unwrap();
    mx.wait_event(&dm, "the custom message's notice", |e| {
        e["sender"] == BOB_GHOST
            && e["content"]["msgtype"] == "m.notice"
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b == "sent a custom message: a poll")
    })
    .await;

    // Reactions both ways (the service reports who has each reaction of a message).
    use imbridge::network::tencent::session::reactions::{
        reaction_request, ReactionNotice, ReactionTarget,
    };
    let sure_target = ReactionTarget::C2c {
        from: "alice".into(),
        to: "bob".into(),
        msg_key: sure.key.clone(),
    };
    let (cmd, body) = reaction_request(&sure_target, "👍", "bob", true);
    bob.call(cmd, body).await.expect("bob reacts");
    let thumbs_id = mx
        .wait_event(&dm, "bob's reaction", |e| {
            e["sender"] == BOB_GHOST
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["event_id"] == sure_event.as_str()
                && e["content"]["m.relates_to"]["key"] == "👍"
        })
        .await;
    mx.send_reaction(&dm, &coffee, "❤️").await;
    let heart = bob_gets(&seen, "alice's reaction", &log, |e| match e {
        SessionEvent::Reactions(ReactionNotice::Summary {
            target: ReactionTarget::C2c { msg_key, .. },
            reactions,
            ..
        }) if *msg_key == question.msg_key => reactions.first().cloned(),
        _ => None,
    })
    .await;
    assert_eq!(
        (heart.reaction.as_str(), heart.users.as_slice()),
        ("❤️", ["alice".to_owned()].as_slice())
    );
    say!(t0, "reactions both ways");
    let (cmd, body) = reaction_request(&sure_target, "👍", "bob", false);
    bob.call(cmd, body).await.expect("bob takes it back");
    mx.wait_event(&dm, "bob's reaction redacted", |e| {
        e["event_id"] == thumbs_id.as_str()
            && e["content"].as_object().is_some_and(|c| c.is_empty())
    })
    .await;
    say!(t0, "bob's removed reaction redacted in Matrix");

    // While the bridge is away bob edits his "coffee?", reacts to alice's "sure" and
    // recalls "never mind": all are pushed live only, so the bridge reads the newest
    // messages of its newest chats again after the catch-up (the history keeps a recalled
    // message marked); the edit and the reaction reach Matrix once each, the recall as a
    // redaction. bob's "hello" recalled before is in that history too, and stays one
    // redaction.
    let never = bob.send_c2c_text("alice", "never mind").await.unwrap();
    let never_event = mx.event_id_of(&dm, "never mind").await;
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    let never_ref = C2cRef::from_key("bob", "alice", &never.msg_key).unwrap();
    bob.call(ops::MSGWITHDRAW, ops::withdraw_body(&never_ref))
        .await
        .expect("bob recalls while the bridge is away");
    let coffee_ref = C2cRef::from_key("bob", "alice", &question.msg_key).unwrap();
    bob.call(
        ops::MODIFY_C2C_MSG,
        ops::modify_body(&coffee_ref, 0, &[Elem::text("tea?")], None),
    )
    .await
    .expect("bob edits while the bridge is away");
    let (cmd, body) = reaction_request(&sure_target, "🎉", "bob", true);
    bob.call(cmd, body)
        .await
        .expect("bob reacts while the bridge is away");
    let mut bridge = bed.restart();
    let is_tea_edit = |e: &serde_json::Value| {
        e["sender"] == BOB_GHOST
            && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == coffee.as_str()
            && e["content"]["m.new_content"]["body"] == "tea?"
    };
    let is_party = |e: &serde_json::Value| {
        e["sender"] == BOB_GHOST
            && e["type"] == "m.reaction"
            && e["content"]["m.relates_to"]["event_id"] == sure_event.as_str()
            && e["content"]["m.relates_to"]["key"] == "🎉"
    };
    mx.wait_event(&dm, "the edit made while the bridge was away", is_tea_edit)
        .await;
    mx.wait_event(&dm, "the reaction made while the bridge was away", is_party)
        .await;
    mx.wait_event(&dm, "the recall made while the bridge was away", |e| {
        e["event_id"] == never_event.as_str()
            && e["content"].as_object().is_some_and(|c| c.is_empty())
    })
    .await;
    // Read again at the next start, they are not bridged twice.
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    let mut bridge = bed.restart();
    bob.send_c2c_text("alice", "after two restarts")
        .await
        .unwrap();
    mx.wait_body(&dm, |b| b == "after two restarts").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = mx.raw_events(&dm).await;
    let redactions = events
        .iter()
        .filter(|e| e["type"] == "m.room.redaction")
        .count();
    assert_eq!(
        (
            events.iter().filter(|e| is_tea_edit(e)).count(),
            events.iter().filter(|e| is_party(e)).count(),
        ),
        (1, 1),
        "the edit and the reaction made while away, once each\n{}",
        tail(&log, 40)
    );
    // alice's own redaction, bob's "hello" recall, his reaction taken back and "never
    // mind": the first two are in the history read again, marked, and not redacted twice.
    assert_eq!(
        redactions,
        4,
        "one redaction per recall\n{}",
        tail(&log, 40)
    );
    say!(
        t0,
        "an edit, a reaction and a recall made while the bridge was away, bridged once"
    );
    bridge.stop();

    // A recalled message's other id (the SDK's message `ID`, kept for quotes) went with it;
    // a message still there keeps its own.
    let cfg = imbridge::config::Config::load(&bed.config).expect("the bridge's config");
    let store = imbridge::store::Store::connect(&cfg.database)
        .await
        .expect("the bridge's store");
    let named: Vec<String> = store
        .list_kv("message_alt:")
        .await
        .expect("kv listed")
        .into_iter()
        .map(|(_, remote)| remote)
        .collect();
    assert!(named.contains(&question.msg_key), "{named:?}");
    for gone in [&hello.msg_key, &never.msg_key] {
        assert!(!named.contains(gone), "{gone} in {named:?}");
    }
    say!(t0, "recalled messages' other ids went with them");
}
