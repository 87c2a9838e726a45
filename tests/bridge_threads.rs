//! Threads both ways (issue 15, item 1), end to end on a real Synapse with the bridge binary,
//! the in-process Easemob sandbox and bob's Rust IM client. bob owns the group "project" with
//! alice; mx1 is logged in as alice.
//!
//! * the group portal says threads are supported (`com.beeper.room_features`);
//! * **IM thread → Matrix thread**: bob starts the thread "plans" on his group message: a
//!   bot notice with the name appears in the Matrix thread rooted at that message's event (the
//!   bridge's login joins the thread); bob's thread message arrives as `m.thread` with the
//!   reply fallback (`is_falling_back: true`); his reply inside the thread has
//!   `is_falling_back: false` and the real `m.in_reply_to`; his reaction to and recall of a
//!   thread message reach the Matrix events;
//! * **Matrix thread → IM thread created on the fly**: mx1 answers bob's second message in a
//!   Matrix thread (as Element sends it): the IM server now has a thread on that message, named
//!   after mx1's text, holding it; bob joins it and mx1's next thread message reaches bob with
//!   the thread's facts; bob's thread message comes back into the same Matrix thread; mx1's
//!   edit and redaction of a thread message reach bob as an edit and a recall addressed to
//!   the thread (the thread id as `to`, the thread's facts in the meta), and mx1's reaction to
//!   a thread message reaches the IM side;
//! * **thread renamed**: bob renames "plans": a notice with the new name appears in the
//!   Matrix thread, rooted at the parent message's event;
//! * **thread deleted**: bob deletes it: a notice says so in its Matrix thread;
//! * **send once in a thread**: the bridge is SIGKILLed after the IM server took the first
//!   message of a thread created on the fly from Matrix but before it acked it; after the
//!   restart the replayed event is found in the thread's history, not sent again.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::Env;
use imbridge::network::easemob::connector::TXN_EXT_KEY;
use imbridge::network::easemob::events::message_thread;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{
    decode_incoming, Body, Content, Ext, ExtValue, IncomingMessage, OutgoingMessage,
};
use imbridge::network::easemob::proto::Meta;
use imbridge::network::easemob::rest::NewGroup;
use prost::Message as _;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);
const BOT: &str = "@easemobbot:localhost";

/// The newest event in `room` matching `pick` (bounded wait), whole.
async fn event_where(
    mx: &MatrixUser,
    room: &str,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    let id = mx.wait_event(room, what, &pick).await;
    mx.raw_events(room)
        .await
        .into_iter()
        .find(|e| e["event_id"] == id.as_str())
        .unwrap_or(Value::Null)
}

fn body_is(e: &Value, body: &str) -> bool {
    e["type"] == "m.room.message" && e["content"]["body"] == body
}

fn text_of(m: &IncomingMessage) -> Option<&str> {
    match &m.body {
        Body::Content(Content::Text { text }) => Some(text),
        _ => None,
    }
}

/// bob's message into `thread`.
fn in_thread(thread: &str, text: &str) -> OutgoingMessage {
    let mut msg = OutgoingMessage::text(Conversation::group(thread), text);
    msg.in_thread = true;
    msg
}

/// Asserts that `m` is addressed to thread `thread` (on message `root` of `group`), with the
/// thread's facts in its meta, as the SDK's `isChatThread` frames are.
fn assert_in_thread(m: &IncomingMessage, thread: &str, root: &str, group: &str) {
    assert_eq!(m.to, thread, "addressed to the thread: {m:?}");
    let facts = message_thread(m.meta_json.as_deref()).expect("thread facts");
    assert_eq!(
        (facts.message_id.as_str(), facts.group_id.as_str()),
        (root, group),
        "{m:?}"
    );
}

/// Waits (bounded) until the sandbox's thread `thread` has `user` among its members.
async fn wait_thread_member(env: &Env, thread: &str, user: &str) {
    for _ in 0..150 {
        let joined = env
            .sandbox
            .state
            .lock()
            .data
            .threads
            .get(thread)
            .is_some_and(|t| t.members.contains(user));
        if joined {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{user} never joined thread {thread}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_both_ways_end_to_end() {
    let mut env = Env::start("threads", "").await;
    env.login().await;
    let t0 = env.t0;
    let rest = env.bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    let root = env
        .bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "root one",
        ))
        .await
        .expect("group message")
        .server_id
        .to_string();
    let mgmt = env.mgmt.clone();
    let room = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    let root_event = env.mx.event_id_of(&room, "root one").await;
    let features = env.mx.state(&room, "com.beeper.room_features").await;
    assert_eq!(features["thread"], json!(2), "threads offered: {features}");
    say!(t0, "group portal {room} open");

    // IM thread → Matrix thread.
    let thread = rest
        .create_thread(&group, &root, "plans")
        .await
        .expect("thread created");
    let notice = event_where(&env.mx, &room, "thread created notice", |e| {
        e["sender"] == BOT && e["content"]["body"] == "🧵 Thread \"plans\" started on the IM side"
    })
    .await;
    let rel = &notice["content"]["m.relates_to"];
    assert_eq!(rel["rel_type"], json!("m.thread"), "{notice}");
    assert_eq!(rel["event_id"], json!(root_event), "{notice}");
    wait_thread_member(&env, &thread, "alice").await;
    let first = env
        .bob
        .send(in_thread(&thread, "first in thread"))
        .await
        .expect("thread message")
        .server_id;
    let got = event_where(&env.mx, &room, "thread message", |e| {
        body_is(e, "first in thread")
    })
    .await;
    let rel = &got["content"]["m.relates_to"];
    assert_eq!(rel["rel_type"], json!("m.thread"), "{got}");
    assert_eq!(rel["event_id"], json!(root_event), "{got}");
    assert_eq!(rel["is_falling_back"], json!(true), "{got}");
    assert_eq!(
        rel["m.in_reply_to"]["event_id"], notice["event_id"],
        "the fallback points at the thread's latest event: {got}"
    );
    let first_event = got["event_id"].as_str().unwrap_or_default().to_owned();
    let mut reply = in_thread(&thread, "a reply inside");
    reply.ext.push(Ext {
        key: "msgQuote".into(),
        value: ExtValue::Json(
            json!({ "msgID": first.to_string(), "msgPreview": "first in thread",
                    "msgSender": "bob", "msgType": "txt" })
            .to_string(),
        ),
    });
    env.bob.send(reply).await.expect("reply in thread");
    let got = event_where(&env.mx, &room, "reply in thread", |e| {
        body_is(e, "a reply inside")
    })
    .await;
    let rel = &got["content"]["m.relates_to"];
    assert_eq!(rel["rel_type"], json!("m.thread"), "{got}");
    assert_eq!(rel["is_falling_back"], json!(false), "{got}");
    assert_eq!(
        rel["m.in_reply_to"]["event_id"],
        json!(first_event),
        "{got}"
    );
    rest.add_reaction(&first.to_string(), "👍")
        .await
        .expect("bob reacts in the thread");
    env.mx
        .wait_event(&room, "reaction on the thread message", |e| {
            e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["event_id"] == first_event.as_str()
                && e["content"]["m.relates_to"]["key"] == "👍"
        })
        .await;
    let recalled = env
        .bob
        .send(in_thread(&thread, "to be recalled"))
        .await
        .expect("thread message")
        .server_id;
    let recalled_event = env.mx.event_id_of(&room, "to be recalled").await;
    env.bob
        .send(OutgoingMessage::new(
            Conversation::group(&thread),
            Body::Recall {
                message_id: recalled,
                ext: String::new(),
            },
        ))
        .await
        .expect("recall in thread");
    for _ in 0..150 {
        let e = env.mx.event(&room, &recalled_event).await;
        if e["unsigned"]["redacted_because"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = env.mx.event(&room, &recalled_event).await;
    assert!(
        e["unsigned"]["redacted_because"].is_object(),
        "recalled: {e}"
    );
    say!(
        t0,
        "IM thread → Matrix thread: notice, messages, reply, reaction, recall"
    );

    // Matrix thread → IM thread created on the fly (what Element sends).
    let root2 = env
        .bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "root two",
        ))
        .await
        .expect("group message")
        .server_id
        .to_string();
    let root2_event = env.mx.event_id_of(&room, "root two").await;
    let thread_rel = json!({
        "rel_type": "m.thread", "event_id": root2_event, "is_falling_back": true,
        "m.in_reply_to": { "event_id": root2_event },
    });
    env.mx
        .send_content(
            &room,
            json!({ "msgtype": "m.text", "body": "matrix starts a thread\nsecond line",
                    "m.relates_to": thread_rel }),
        )
        .await;
    let mut created = None;
    for _ in 0..150 {
        created = env
            .sandbox
            .state
            .lock()
            .data
            .threads
            .values()
            .find(|t| t.msg_id == root2)
            .cloned();
        if created.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = created.expect("the IM thread was created on the fly");
    assert_eq!(created.name, "matrix starts a thread");
    assert_eq!(
        (created.owner.as_str(), created.group_id.as_str()),
        ("alice", group.as_str())
    );
    // mx1's message is in the IM thread, keyed for the send-once look-up (`imbridge_txn`).
    let held: Vec<bool> = env
        .sandbox
        .state
        .lock()
        .data
        .history
        .values()
        .filter(|h| h.conversation.id == created.id && h.from == "alice")
        .map(|h| {
            Meta::decode(h.meta.as_slice())
                .ok()
                .and_then(|m| decode_incoming(&m).ok())
                .is_some_and(|m| m.ext.iter().any(|e| e.key == TXN_EXT_KEY))
        })
        .collect();
    assert_eq!(held, vec![true], "the IM thread holds mx1's message, keyed");
    rest.join_thread(&created.id).await.expect("bob joins");
    env.mx
        .send_content(
            &room,
            json!({ "msgtype": "m.text", "body": "more from matrix",
                    "m.relates_to": { "rel_type": "m.thread", "event_id": root2_event,
                                      "is_falling_back": true,
                                      "m.in_reply_to": { "event_id": root2_event } } }),
        )
        .await;
    let m = env
        .bob_inbox
        .wait_message(|m| text_of(m) == Some("more from matrix"), DEADLINE)
        .await
        .expect("bob gets mx1's thread message");
    assert_eq!(m.to, created.id);
    let more_id = m.id;
    let facts = message_thread(m.meta_json.as_deref()).expect("thread facts");
    assert_eq!(
        (facts.message_id.as_str(), facts.group_id.as_str()),
        (root2.as_str(), group.as_str())
    );
    let answer_id = env
        .bob
        .send(in_thread(&created.id, "bob answers in it"))
        .await
        .expect("thread message")
        .server_id;
    let got = event_where(&env.mx, &room, "bob's answer", |e| {
        body_is(e, "bob answers in it")
    })
    .await;
    assert_eq!(
        got["content"]["m.relates_to"]["rel_type"],
        json!("m.thread"),
        "{got}"
    );
    assert_eq!(
        got["content"]["m.relates_to"]["event_id"],
        json!(root2_event),
        "{got}"
    );
    // Matrix edits of and reactions to thread messages reach the IM side by message id.
    let more_event = env.mx.event_id_of(&room, "more from matrix").await;
    env.mx
        .send_content(
            &room,
            json!({ "msgtype": "m.text", "body": "* more, edited",
                    "m.new_content": { "msgtype": "m.text", "body": "more, edited" },
                    "m.relates_to": { "rel_type": "m.replace", "event_id": more_event } }),
        )
        .await;
    let edit = env
        .bob_inbox
        .wait_message(
            |e| matches!(&e.body, Body::Edit { message_id, .. } if *message_id == more_id),
            DEADLINE,
        )
        .await
        .expect("bob gets mx1's edit of the thread message");
    assert_in_thread(&edit, &created.id, &root2, &group);
    assert!(
        matches!(&edit.body, Body::Edit { content: Content::Text { text }, .. } if text == "more, edited"),
        "{edit:?}"
    );
    let stored = env
        .sandbox
        .state
        .lock()
        .data
        .history
        .get(&more_id)
        .map(|h| h.conversation.id.clone());
    assert_eq!(stored.as_deref(), Some(created.id.as_str()));
    say!(
        t0,
        "Matrix edit of a thread message → IM edit in the thread"
    );
    let answer_event = got["event_id"].as_str().unwrap_or_default().to_owned();
    env.mx.send_reaction(&room, &answer_event, "👍").await;
    let mut reacted = false;
    for _ in 0..150 {
        reacted = env
            .sandbox
            .state
            .lock()
            .data
            .reactions
            .iter()
            .any(|(id, list)| {
                *id == answer_id
                    && list
                        .iter()
                        .any(|r| r.reaction == "👍" && r.users.iter().any(|u| u == "alice"))
            });
        if reacted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reacted,
        "mx1's reaction on the thread message reached the IM server"
    );
    // mx1 redacts their thread message: the IM side sees the recall in the thread.
    env.mx.redact(&room, &more_event).await;
    let recall = env
        .bob_inbox
        .wait_message(
            |e| matches!(&e.body, Body::Recall { message_id, .. } if *message_id == more_id),
            DEADLINE,
        )
        .await
        .expect("bob gets mx1's recall of the thread message");
    assert_in_thread(&recall, &created.id, &root2, &group);
    let recalled = env
        .sandbox
        .state
        .lock()
        .data
        .history
        .get(&more_id)
        .is_some_and(|h| h.recalled);
    assert!(recalled, "the IM server recalled the thread message");
    say!(
        t0,
        "Matrix redaction of a thread message → IM recall in the thread"
    );
    let announced = env.mx.all_bodies(&room).await;
    assert!(
        !announced
            .iter()
            .any(|b| b.contains("matrix starts a thread\" started")),
        "a thread made from Matrix is not announced back: {announced:?}"
    );
    say!(
        t0,
        "Matrix thread → IM thread created on the fly, both ways inside it"
    );

    // Thread renamed on the IM side → notice in the Matrix thread.
    rest.rename_thread(&thread, "new plans")
        .await
        .expect("thread renamed");
    let renamed = event_where(&env.mx, &room, "thread renamed notice", |e| {
        e["sender"] == BOT && e["content"]["body"] == "🧵 Thread renamed to \"new plans\""
    })
    .await;
    let rel = &renamed["content"]["m.relates_to"];
    assert_eq!(rel["rel_type"], json!("m.thread"), "{renamed}");
    assert_eq!(rel["event_id"], json!(root_event), "{renamed}");
    say!(t0, "thread renamed → notice in the Matrix thread");

    // Thread deleted → notice.
    rest.destroy_thread(&thread).await.expect("thread deleted");
    let gone = event_where(&env.mx, &room, "thread deleted notice", |e| {
        e["sender"] == BOT
            && e["content"]["body"] == "🧵 Thread \"new plans\" was deleted on the IM side"
    })
    .await;
    assert_eq!(
        gone["content"]["m.relates_to"]["event_id"],
        json!(root_event),
        "{gone}"
    );
    say!(t0, "thread deleted → notice");
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}

/// alice's texts in thread `thread`, as the IM server stored them, oldest first.
fn alice_texts_in(env: &Env, thread: &str) -> Vec<String> {
    let inner = env.sandbox.state.lock();
    inner
        .history_of("alice", &Conversation::group(thread))
        .into_iter()
        .filter(|h| h.from == "alice")
        .filter_map(|h| {
            let m = decode_incoming(&Meta::decode(h.meta.as_slice()).ok()?).ok()?;
            text_of(&m).map(str::to_owned)
        })
        .collect()
}

/// Send once in a thread (issue 15): mx1 starts a thread on bob's message from Matrix; the IM
/// server creates the thread and takes mx1's message but withholds its ack, and the bridge is
/// SIGKILLed. After the restart the replayed Matrix event is found in the thread's history
/// (`imbridge_txn`) instead of sent again: the IM thread holds it once, and mx1's next thread
/// message goes into the same thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_im_server_took_a_thread_message_does_not_send_it_again() {
    let mut env = Env::start("threadonce", "").await;
    env.login().await;
    let t0 = env.t0;
    let group = env
        .bob
        .rest()
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    let root = env
        .bob
        .send(OutgoingMessage::text(Conversation::group(&group), "root"))
        .await
        .expect("group message")
        .server_id
        .to_string();
    let mgmt = env.mgmt.clone();
    let room = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    let root_event = env.mx.event_id_of(&room, "root").await;
    let in_thread_of_root = json!({
        "rel_type": "m.thread", "event_id": root_event, "is_falling_back": true,
        "m.in_reply_to": { "event_id": root_event },
    });

    let held = "held in the new thread";
    env.sandbox.state.withhold_acks(held);
    env.mx
        .send_content(
            &room,
            json!({ "msgtype": "m.text", "body": held, "m.relates_to": in_thread_of_root }),
        )
        .await;
    let mut thread = None;
    for _ in 0..300 {
        thread = env
            .sandbox
            .state
            .lock()
            .data
            .threads
            .values()
            .find(|t| t.msg_id == root)
            .map(|t| t.id.clone());
        if let Some(t) = &thread {
            if alice_texts_in(&env, t).iter().any(|x| x == held) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let thread = thread.expect("the IM thread was created");
    assert_eq!(alice_texts_in(&env, &thread), vec![held.to_owned()]);
    say!(t0, "the IM server took the thread message, no ack: SIGKILL");
    env.bridge().kill();
    env.sandbox.state.stop_withholding_acks();
    env.restart();
    env.mx
        .send_content(
            &room,
            json!({ "msgtype": "m.text", "body": "after the crash", "m.relates_to": in_thread_of_root }),
        )
        .await;
    for _ in 0..600 {
        if alice_texts_in(&env, &thread)
            .iter()
            .any(|t| t == "after the crash")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a (wrong) second copy to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let texts = alice_texts_in(&env, &thread);
    say!(t0, "the IM thread holds {texts:?}");
    assert_eq!(
        texts,
        vec![held.to_owned(), "after the crash".to_owned()],
        "one IM message per Matrix event, in the one thread"
    );
    let threads_on_root = env
        .sandbox
        .state
        .lock()
        .data
        .threads
        .values()
        .filter(|t| t.msg_id == root)
        .count();
    assert_eq!(threads_on_root, 1);
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(
        log.contains("a replayed message had gone out before the restart"),
        "the replayed thread message was not found in the thread's history"
    );
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
