//! The session driven frame by frame: handshake, c_init signature, login, pushes and their
//! receipts, resends with the same rid, typed errors, the ping cadence, and the outbox across
//! a reconnect.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::network::jmessage::eio;

pub(super) const OPEN: &str =
    r#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#;

pub(super) fn cfg() -> SessionConfig {
    SessionConfig::new("appkey", "secret", "alice", "pw")
}

/// Drains the outputs: (events sent as (name, data), session events, other outputs).
pub(super) fn drain(s: &mut Session) -> (Vec<(String, Value)>, Vec<SessionEvent>, Vec<Output>) {
    let (mut sent, mut events, mut other) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => match eio::decode(&t) {
                Ok(eio::EioPacket::Message(eio::SioPacket::Event { name, args, .. })) => {
                    sent.push((name, args.into_iter().next().unwrap_or(Value::Null)))
                }
                _ => other.push(Output::Transmit(t)),
            },
            Output::Event(e) => events.push(*e),
            o => other.push(o),
        }
    }
    (sent, events, other)
}

pub(super) fn respond(s: &mut Session, name: &str, data: Value, now: Instant) {
    s.on_frame(&eio::encode_event(name, &data, None), now)
        .unwrap();
}

pub(super) fn rid(v: &Value) -> i64 {
    v["rid"].as_i64().unwrap()
}

/// A session logged in at `now` (outputs drained).
pub(super) fn logged_in(now: Instant) -> Session {
    let mut s = Session::new(cfg(), 7);
    s.on_connected(now, 1_700_000_000_000);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    let init = &sent[0].1;
    respond(&mut s, "c_init", json!({"rid": rid(init), "code": 0}), now);
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "login",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, events, _) = drain(&mut s);
    assert_eq!(
        events,
        vec![SessionEvent::LoggedIn {
            username: "alice".into()
        }]
    );
    assert_eq!(sent[0].0, "sync_check");
    respond(
        &mut s,
        "sync_check",
        json!({"rid": rid(&sent[0].1), "code": 0, "sync_key": 3}),
        now,
    );
    s
}

#[test]
fn init_is_signed_and_login_sends_the_md5_password() {
    let now = Instant::now();
    let mut s = Session::new(cfg(), 1);
    s.on_connected(now, 1_700_000_000_000);
    s.on_frame(OPEN, now).unwrap();
    assert!(drain(&mut s).0.is_empty(), "nothing before 40");
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    assert_eq!(sent.len(), 1);
    let (name, init) = &sent[0];
    assert_eq!(name, "c_init");
    assert_eq!(init["appkey"], "appkey");
    assert_eq!(init["timestamp"], 1_700_000_000_000i64);
    let rs = init["random_str"].as_str().unwrap();
    assert!((20..=36).contains(&rs.len()));
    assert_eq!(
        init["signature"],
        wire::signature("appkey", 1_700_000_000_000, rs, "secret")
    );
    assert!(
        !init.to_string().contains("secret"),
        "the secret never goes on the wire"
    );
    respond(&mut s, "c_init", json!({"rid": rid(init), "code": 0}), now);
    let (sent, _, _) = drain(&mut s);
    assert_eq!(sent[0].0, "login");
    assert_eq!(sent[0].1["password"], wire::md5_hex(b"pw"));
    assert_eq!(sent[0].1["version"], "2.5.0");
}

#[test]
fn refused_init_and_login_end_with_typed_reasons() {
    let now = Instant::now();
    let mut s = Session::new(cfg(), 1);
    s.on_connected(now, 0);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "c_init",
        json!({"rid": rid(&sent[0].1), "code": 880102, "message": "signatu fail"}),
        now,
    );
    let (_, events, other) = drain(&mut s);
    assert_eq!(
        events,
        vec![SessionEvent::Ended(EndReason::InitRefused {
            code: 880102,
            message: "signatu fail".into()
        })]
    );
    assert_eq!(other, vec![Output::Close]);

    let mut s = Session::new(cfg(), 1);
    s.on_connected(now, 0);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "c_init",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "login",
        json!({"rid": rid(&sent[0].1), "code": 880104, "message": "invalid password"}),
        now,
    );
    let (_, events, _) = drain(&mut s);
    assert_eq!(events, vec![SessionEvent::Ended(EndReason::WrongPassword)]);
    assert!(s.is_ended());
}

#[test]
fn pushed_messages_are_delivered_once_and_receipted() {
    let now = Instant::now();
    let mut s = logged_in(now);
    let msg = json!({"msg_id": 42, "msg_type": 3, "from_uid": 9, "from_gid": 0, "ctime_ms": 5,
        "content": {"version": 1, "target_type": "single", "from_platform": "web",
            "target_id": "alice", "from_id": "bob", "create_time": 4, "msg_type": "text",
            "msg_body": {"text": "hi", "extras": {"k": 1}}}});
    respond(&mut s, "msg_sync", json!({"messages": [msg.clone()]}), now);
    respond(&mut s, "msg_sync", json!({"messages": [msg]}), now);
    let (sent, events, _) = drain(&mut s);
    let receipts: Vec<_> = sent.iter().filter(|(n, _)| n == "msg_recv_v2").collect();
    assert_eq!(receipts.len(), 2, "every push is receipted, duplicates too");
    assert_eq!(receipts[0].1["msg_id"], 42);
    assert_eq!(receipts[0].1["from_uid"], 9);
    assert_eq!(events.len(), 1, "the duplicate is dropped");
    let SessionEvent::Message(m) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (m.from.as_str(), m.text.as_deref(), m.offline),
        ("bob", Some("hi"), false)
    );
    assert_eq!(m.extras, Some(json!({"k": 1})));

    let offline = json!({"sync_key": 4, "messages": [{"msg_type": 3, "from_username": "carol",
    "msgs": [
        {"msg_id": 50, "msg_type": 3, "ctime_ms": 1, "content": {"target_type": "single",
         "target_id": "alice", "from_id": "carol", "msg_type": "text", "msg_body": {"text": "1"}}},
        {"msg_id": 51, "msg_type": 3, "ctime_ms": 2, "content": {"target_type": "single",
         "target_id": "alice", "from_id": "carol", "msg_type": "text", "msg_body": {"text": "2"}}}
    ]}]});
    respond(&mut s, "sync_conversation", offline, now);
    let (sent, events, _) = drain(&mut s);
    assert_eq!(sent[0].0, "sync_conversation_ack");
    assert_eq!(sent[0].1["sync_key"], 4);
    let texts: Vec<_> = events
        .iter()
        .map(|e| match e {
            SessionEvent::Message(m) if m.offline => m.text.clone().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["1", "2"]);
}

#[test]
fn a_request_without_ack_is_resent_with_the_same_rid_then_times_out() {
    let now = Instant::now();
    let mut s = logged_in(now);
    let id = s.send_single_text("bob", "hello", None, now).unwrap();
    let (sent, _, _) = drain(&mut s);
    let first = rid(&sent[0].1);
    assert_eq!(sent[0].0, "s_across_single_text");
    assert_eq!(sent[0].1["content"]["msg_body"]["text"], "hello");
    let mut t = now;
    for _ in 0..5 {
        t += Duration::from_secs(5);
        s.on_tick(t);
        s.on_frame("3", t).unwrap(); // the link itself is alive: pings are answered
        let (sent, events, _) = drain(&mut s);
        let resend: Vec<_> = sent
            .iter()
            .filter(|(n, _)| n == "s_across_single_text")
            .collect();
        assert_eq!(resend.len(), 1);
        assert_eq!(rid(&resend[0].1), first, "same rid: idempotent");
        assert!(events.is_empty());
    }
    t += Duration::from_secs(5);
    s.on_tick(t);
    let (_, events, _) = drain(&mut s);
    assert!(events.contains(&SessionEvent::SendResult {
        id,
        result: Err(SendError::Timeout)
    }));
}

#[test]
fn ack_then_response_resolves_the_send() {
    let now = Instant::now();
    let mut s = logged_in(now);
    let id = s.send_single_text("bob", "hello", None, now).unwrap();
    let (sent, _, _) = drain(&mut s);
    let r = rid(&sent[0].1);
    respond(&mut s, "ack", json!({"rid": r}), now);
    // Acked: no resend after the ack timeout, only after the response timeout.
    s.on_tick(now + Duration::from_secs(6));
    assert!(drain(&mut s).0.is_empty());
    respond(
        &mut s,
        "s_across_single_text",
        json!({"rid": r, "code": 0, "msg_id": 77, "ctime_ms": 9}),
        now,
    );
    let (_, events, _) = drain(&mut s);
    assert_eq!(
        events,
        vec![SessionEvent::SendResult {
            id,
            result: Ok(SendReceipt {
                msg_id: 77,
                ctime_ms: 9
            })
        }]
    );
}

#[test]
fn pings_every_interval_and_reconnects_without_pong() {
    let now = Instant::now();
    let mut s = logged_in(now);
    let t = now + Duration::from_secs(25);
    assert!(s.next_deadline().unwrap() <= t);
    s.on_tick(t);
    let (_, _, other) = drain(&mut s);
    assert_eq!(other, vec![Output::Transmit("2".into())]);
    // One ping in flight: nothing more until its pong.
    s.on_tick(t + Duration::from_secs(4));
    assert!(drain(&mut s).2.is_empty());
    let t = t + Duration::from_secs(4);
    s.on_frame("3", t).unwrap();
    s.on_tick(t + Duration::from_secs(24));
    assert!(
        drain(&mut s).2.is_empty(),
        "the next ping is due 25 s after the pong"
    );
    let t = t + Duration::from_secs(25);
    s.on_tick(t);
    let (_, _, other) = drain(&mut s);
    assert_eq!(other, vec![Output::Transmit("2".into())]);
    s.on_tick(t + Duration::from_secs(5));
    let (_, _, other) = drain(&mut s);
    assert_eq!(other, vec![Output::Reconnect("ping timeout".into())]);
}

#[test]
fn sends_wait_across_a_reconnect_and_keep_their_rid() {
    let now = Instant::now();
    let mut s = logged_in(now);
    let id = s.send_single_text("bob", "one", None, now).unwrap();
    let (sent, _, _) = drain(&mut s);
    let r = rid(&sent[0].1);
    s.on_disconnected(now);
    let id2 = s.send_single_text("bob", "two", None, now).unwrap();
    assert!(
        drain(&mut s).0.is_empty(),
        "nothing is written while disconnected"
    );
    s.on_connected(now, 1_700_000_000_000);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "c_init",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "login",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, _, _) = drain(&mut s);
    let sends: Vec<_> = sent
        .iter()
        .filter(|(n, _)| n == "s_across_single_text")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(rid(&sends[0].1), r, "the first send keeps its rid");
    assert_eq!(sends[0].1["content"]["msg_body"]["text"], "one");
    assert_eq!(sends[1].1["content"]["msg_body"]["text"], "two");
    assert!(id2 > id);
}

#[test]
fn logged_in_elsewhere_is_answered_and_ends_the_session() {
    let now = Instant::now();
    let mut s = logged_in(now);
    respond(
        &mut s,
        "event_notification",
        json!({"event_id": 5, "event_type": 1, "from_uid": 0, "gid": 0}),
        now,
    );
    let (sent, events, other) = drain(&mut s);
    assert_eq!(sent[0].0, "event_notification");
    assert_eq!(sent[0].1["event_id"], 5);
    assert_eq!(
        events,
        vec![SessionEvent::Ended(EndReason::LoggedInElsewhere)]
    );
    assert_eq!(other, vec![Output::Close]);
}

#[test]
fn garbage_frames_are_errors_not_panics() {
    let now = Instant::now();
    let mut s = logged_in(now);
    for frame in [
        "",
        "x",
        "42",
        "42[",
        r#"42["msg_sync",{"messages":[1,{}]}]"#,
        r#"42["ack",null]"#,
    ] {
        let _ = s.on_frame(frame, now);
    }
    assert!(s.is_ready());
}

/// The `msg_id`s of the `msg_recv_v2` receipts the session sends now, in order.
fn receipts_sent(s: &mut Session) -> Vec<Value> {
    let (sent, _, _) = drain(s);
    sent.iter()
        .filter(|(n, _)| n == "msg_recv_v2")
        .map(|(_, b)| b["msg_id"].clone())
        .collect()
}

#[test]
fn deferred_receipts_wait_for_the_owner_and_die_with_the_link() {
    let now = Instant::now();
    let mut cfg = cfg();
    cfg.defer_push_ack = true;
    let mut s = Session::new(cfg, 7);
    s.on_connected(now, 1_700_000_000_000);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "c_init",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "login",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    drain(&mut s);
    let msg = |id: i64| {
        json!({"msg_id": id, "msg_type": 3, "from_uid": 9, "ctime_ms": 5,
            "content": {"target_type": "single", "target_id": "alice", "from_id": "bob",
                "msg_type": "text", "msg_body": {"text": "hi"}}})
    };
    respond(
        &mut s,
        "msg_sync",
        json!({"messages": [msg(1), msg(2)]}),
        now,
    );
    let (sent, events, _) = drain(&mut s);
    assert!(
        sent.is_empty(),
        "no receipt before the owner stored the batch"
    );
    let token = match events.as_slice() {
        [SessionEvent::Message(_), SessionEvent::Message(_), SessionEvent::PushBatch { token }] => {
            *token
        }
        other => panic!("{other:?}"),
    };
    s.ack_push(token, now);
    assert_eq!(receipts_sent(&mut s), [json!(1), json!(2)]);

    // A push of duplicates only is receipted at once; a batch held over a drop is forgotten.
    respond(&mut s, "msg_sync", json!({"messages": [msg(2)]}), now);
    assert_eq!(drain(&mut s).0.len(), 1);
    // But while a batch awaits the owner, a push repeating it waits with it (its receipt
    // would say the messages are stored before they are), and both go out in order.
    respond(&mut s, "msg_sync", json!({"messages": [msg(4)]}), now);
    let token = match drain(&mut s).1.last() {
        Some(SessionEvent::PushBatch { token }) => *token,
        other => panic!("{other:?}"),
    };
    respond(&mut s, "msg_sync", json!({"messages": [msg(4)]}), now);
    let (sent, events, _) = drain(&mut s);
    assert!(sent.is_empty() && events.is_empty(), "{sent:?} {events:?}");
    s.ack_push(token, now);
    assert_eq!(receipts_sent(&mut s), [json!(4), json!(4)]);
    respond(&mut s, "msg_sync", json!({"messages": [msg(3)]}), now);
    let token = match drain(&mut s).1.last() {
        Some(SessionEvent::PushBatch { token }) => *token,
        other => panic!("{other:?}"),
    };
    s.on_disconnected(now);
    s.ack_push(token, now);
    assert!(drain(&mut s).0.is_empty());
}

#[test]
fn offline_events_and_receipts_are_typed_deduplicated_and_acked_when_stored() {
    let now = Instant::now();
    let mut cfg = cfg();
    cfg.defer_push_ack = true;
    let mut s = Session::new(cfg, 9);
    s.on_connected(now, 1_700_000_000_000);
    s.on_frame(OPEN, now).unwrap();
    s.on_frame("40", now).unwrap();
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "c_init",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    let (sent, _, _) = drain(&mut s);
    respond(
        &mut s,
        "login",
        json!({"rid": rid(&sent[0].1), "code": 0}),
        now,
    );
    drain(&mut s);
    // A live event, then the hand-over repeating it with a retraction and a logout event.
    let added = json!({"event_id": 70, "event_type": 10, "gid": 5, "from_username": "bob",
        "to_usernames": [{"username": "carol"}]});
    respond(&mut s, "event_notification", added.clone(), now);
    assert_eq!(drain(&mut s).1.len(), 1);
    let retracted = json!({"event_id": 71, "event_type": 55, "from_gid": 5,
        "from_username": "bob", "msg_ids": [9]});
    let elsewhere = json!({"event_id": 72, "event_type": 1});
    respond(
        &mut s,
        "sync_event",
        json!({"sync_key": 4, "events": [added, retracted, elsewhere]}),
        now,
    );
    let (sent, events, _) = drain(&mut s);
    assert!(sent.is_empty(), "no ack before the owner stored it");
    let token = match events.as_slice() {
        [SessionEvent::Retracted(r), SessionEvent::PushBatch { token }] => {
            assert_eq!((r.gid, r.msg_ids.clone()), (Some(5), vec![9]));
            *token
        }
        other => panic!("{other:?}"),
    };
    assert!(!s.is_ended(), "a handed-over logout event ends nothing");
    s.ack_push(token, now);
    let (sent, _, _) = drain(&mut s);
    assert_eq!(sent[0].0, "sync_event_ack");
    assert_eq!(sent[0].1["sync_key"], 4);
    // Receipt changes; an empty hand-over is acked at once.
    let change = json!({"type": 3, "username": "bob", "receipt_msgs": [{"msg_id": 3}]});
    respond(
        &mut s,
        "sync_receipt",
        json!({"sync_key": 2, "receipts": [change]}),
        now,
    );
    let (sent, events, _) = drain(&mut s);
    assert!(sent.is_empty());
    assert!(
        matches!(events[0], SessionEvent::ReceiptChange(_)),
        "{events:?}"
    );
    let Some(SessionEvent::PushBatch { token }) = events.last() else {
        panic!("{events:?}");
    };
    s.ack_push(*token, now);
    assert_eq!(drain(&mut s).0[0].0, "sync_receipt_ack");
    respond(
        &mut s,
        "sync_receipt",
        json!({"sync_key": 3, "receipts": 7}),
        now,
    );
    let (sent, events, _) = drain(&mut s);
    assert_eq!((sent.len(), events.len()), (1, 0));
    assert_eq!(sent[0].1["sync_key"], 3);
}
