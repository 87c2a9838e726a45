//! Session state-machine tests: the session is driven with hand-made server frames.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::network::tencent::wire::ServerError;

fn session(now: Instant) -> Session {
    Session::new(SessionConfig::new(1_400_000_001, "alice", "SIG"), now, 7)
}

fn drain(s: &mut Session) -> (Vec<Frame>, Vec<SessionEvent>, Vec<Output>) {
    let (mut frames, mut events, mut other) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => {
                frames.push(wire::decode(t.as_bytes()).expect("own frame decodes"))
            }
            Output::Event(e) => events.push(*e),
            o => other.push(o),
        }
    }
    (frames, events, other)
}

fn reply(to: &Frame, body: Value) -> Vec<u8> {
    wire::encode(&to.head, &body).into_bytes()
}

fn push(body: Value) -> Vec<u8> {
    let head = Head {
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(999_999_999_999),
        ..Default::default()
    };
    wire::encode(&head, &body).into_bytes()
}

fn c2c(from: &str, seq: u32, random: u32, time: u64, text: &str) -> Value {
    json!({"From_Account": from, "To_Account": "alice", "MsgSeq": seq, "MsgRandom": random,
           "MsgTimeStamp": time, "MsgKey": format!("{seq}_{random}_{time}"),
           "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]})
}

/// Connects and answers `wslogin`; returns the pending `getmsg` request.
fn login(s: &mut Session, now: Instant) -> Frame {
    s.on_connected(now);
    let (frames, _, _) = drain(s);
    assert_eq!(frames.len(), 1);
    let login = &frames[0];
    assert_eq!(login.head.servcmd, servcmd::WSLOGIN);
    assert_eq!(login.head.identifier.as_deref(), Some("alice"));
    assert_eq!(login.head.usersig.as_deref(), Some("SIG"));
    assert_eq!(login.head.cs, Some(0));
    let body = json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "144115", "HelloInterval": 30,
                      "InstId": 5, "TimeStamp": 1_700_000_000, "RichMsgAuthKey": "AK"});
    s.on_frame(&reply(login, body), now).unwrap();
    let (frames, events, _) = drain(s);
    assert!(
        matches!(&events[0], SessionEvent::LoggedIn { tiny_id, inst_id: 5, hello_interval: 30, rich_msg_auth_key, .. }
            if tiny_id == "144115" && rich_msg_auth_key.expose() == "AK")
    );
    assert!(
        !format!("{:?}", events[0]).contains("AK\""),
        "the download key stays out of logs: {:?}",
        events[0]
    );
    let getmsg = frames
        .into_iter()
        .find(|f| f.head.servcmd == servcmd::GETMSG)
        .expect("sync starts");
    assert_eq!(getmsg.head.a2.as_deref(), Some("A2"));
    assert_eq!(getmsg.head.tinyid.as_deref(), Some("144115"));
    assert_eq!(getmsg.head.usersig, None);
    getmsg
}

#[test]
fn login_then_sync_pages_until_complete_in_order_without_duplicates() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let g1 = login(&mut s, t0);
    assert_eq!(g1.body["Cookie"], "");
    assert_eq!(g1.body["SyncFlag"], 0);
    let page1 = json!({"ErrorCode": 0, "Cookie": "c1", "SyncFlag": 1,
        "MsgList": [c2c("bob", 1, 10, 100, "one"), c2c("bob", 2, 20, 101, "two")]});
    s.on_frame(&reply(&g1, page1), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    let g2 = &frames[0];
    assert_eq!(g2.head.servcmd, servcmd::GETMSG);
    assert_eq!(g2.body["Cookie"], "c1");
    assert_eq!(g2.body["SyncFlag"], 1);
    // The second page repeats "two" (a server may overlap pages).
    let page2 = json!({"ErrorCode": 0, "Cookie": "c2", "SyncFlag": 2,
        "MsgList": [c2c("bob", 2, 20, 101, "two"), c2c("carol", 1, 30, 102, "three")]});
    s.on_frame(&reply(g2, page2), t0).unwrap();
    let (frames2, events2, _) = drain(&mut s);
    assert!(frames2.is_empty(), "sync ends at SyncFlag 2");
    let texts: Vec<String> = events
        .iter()
        .chain(&events2)
        .filter_map(|e| match e {
            SessionEvent::Message(m) => {
                assert!(m.offline);
                Some(m.text())
            }
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(events2.contains(&SessionEvent::SyncCompleted { count: 3 }));
}

#[test]
fn push_is_acked_and_delivered_once() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    let body = json!({"eventArray": [{"event": 9, "C2cMsgArray": [c2c("bob", 5, 55, 200, "live")]}],
                      "NeedAck": 1, "SessionData": "sess-1"});
    s.on_frame(&push(body.clone()), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].head.servcmd, servcmd::PUSH_ACK);
    assert_eq!(frames[0].body, json!({"SessionData": "sess-1"}));
    assert_ne!(frames[0].head.cs, Some(0), "acks carry the body checksum");
    assert!(
        matches!(&events[..], [SessionEvent::Message(m)] if m.text() == "live" && !m.offline && m.time == 200)
    );
    // The same push again (a retry): acked again, not delivered again.
    s.on_frame(&push(body), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    assert_eq!(frames.len(), 1);
    assert!(events.is_empty());
}

#[test]
fn send_reports_receipt_and_queues_while_disconnected() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let id = s.send_c2c("bob", vec![Elem::text("early")], t0).unwrap();
    assert!(drain(&mut s).0.is_empty(), "nothing is sent before login");
    login(&mut s, t0);
    // login() drained the send issued at login; send another to inspect.
    let id2 = s.send_c2c("bob", vec![Elem::text("hi")], t0).unwrap();
    let (frames, _, _) = drain(&mut s);
    let send = &frames[0];
    assert_eq!(send.head.servcmd, servcmd::SENDMSG);
    assert_eq!(send.body["To_Account"], "bob");
    assert_eq!(send.body["From_Account"], "alice");
    assert_eq!(send.body["MsgBody"][0]["MsgContent"]["Text"], "hi");
    let seq = send.body["MsgSeq"].as_u64().unwrap();
    s.on_frame(
        &reply(
            send,
            json!({"ErrorCode": 0, "MsgTime": 1234, "MsgKey": "k-1", "MsgSeq": seq}),
        ),
        t0,
    )
    .unwrap();
    let (_, events, _) = drain(&mut s);
    match &events[..] {
        [SessionEvent::SendResult {
            id: got,
            result: Ok(r),
        }] => {
            assert_eq!(*got, id2);
            assert_eq!(r.msg_key, "k-1");
            assert_eq!(r.msg_time, 1234);
            assert_eq!(u64::from(r.msg_seq), seq);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_ne!(id, id2);
}

#[test]
fn send_errors_and_timeouts_are_reported() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let g = login(&mut s, t0);
    let done = json!({"ErrorCode": 0, "Cookie": "c", "SyncFlag": 2});
    s.on_frame(&reply(&g, done), t0).unwrap();
    let a = s.send_c2c("nobody", vec![Elem::text("x")], t0).unwrap();
    let b = s.send_c2c("bob", vec![Elem::text("y")], t0).unwrap();
    let (frames, _, _) = drain(&mut s);
    s.on_frame(
        &reply(&frames[0], wire::error_body(20003, "no such user")),
        t0,
    )
    .unwrap();
    let (_, events, _) = drain(&mut s);
    assert!(
        matches!(&events[..], [SessionEvent::SendResult { id, result: Err(SendError::Server(e)) }] if *id == a && e.code == 20003)
    );
    // No reply: the send times out after 15 s.
    s.on_tick(t0 + Duration::from_secs(16));
    let (_, events, _) = drain(&mut s);
    assert!(events.iter().any(|e| matches!(e, SessionEvent::SendResult { id, result: Err(SendError::Timeout) } if *id == b)));
}

#[test]
fn heartbeat_after_idle_and_dead_link_after_three_seconds() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let g = login(&mut s, t0);
    s.on_frame(
        &reply(
            &g,
            json!({"ErrorCode": 0, "Cookie": "c", "SyncFlag": 2, "MsgList": []}),
        ),
        t0,
    )
    .unwrap();
    drain(&mut s);
    s.on_tick(t0 + Duration::from_secs(9));
    assert!(drain(&mut s).0.is_empty(), "not idle long enough");
    let t10 = t0 + Duration::from_secs(10);
    assert_eq!(s.next_deadline(), Some(t10));
    s.on_tick(t10);
    let (frames, _, _) = drain(&mut s);
    assert_eq!(frames[0].head.servcmd, servcmd::ALIVE);
    assert_eq!(frames[0].head.cs, Some(0));
    s.on_frame(
        &reply(&frames[0], json!({"ErrorCode": 0})),
        t10 + Duration::from_secs(1),
    )
    .unwrap();
    // Next idle period: no answer this time.
    let t21 = t10 + Duration::from_secs(11);
    s.on_tick(t21);
    let (frames, _, _) = drain(&mut s);
    assert_eq!(frames[0].head.servcmd, servcmd::ALIVE);
    s.on_tick(t21 + Duration::from_secs(3));
    let (_, events, other) = drain(&mut s);
    assert!(matches!(&events[..], [SessionEvent::LinkLost { .. }]));
    assert!(matches!(&other[..], [Output::Reconnect(_)]));
    assert!(!s.is_ready());
}

#[test]
fn hello_every_interval() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let g = login(&mut s, t0);
    s.on_frame(
        &reply(&g, json!({"ErrorCode": 0, "Cookie": "c", "SyncFlag": 2})),
        t0,
    )
    .unwrap();
    drain(&mut s);
    // Keep the link busy so no alive is due, then reach HelloInterval (30 s).
    for sec in [8, 16, 24] {
        s.on_frame(
            &push(json!({"eventArray": []})),
            t0 + Duration::from_secs(sec),
        )
        .unwrap();
    }
    s.on_tick(t0 + Duration::from_secs(30));
    let (frames, _, _) = drain(&mut s);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].head.servcmd, servcmd::WSHELLO);
}

#[test]
fn refused_logins_end_the_session_with_a_typed_reason() {
    let t0 = Instant::now();
    for (code, reason) in [
        (70001, EndReason::UserSigExpired),
        (
            70014,
            EndReason::LoginRefused(ServerError {
                code: 70014,
                info: "app".into(),
            }),
        ),
    ] {
        let mut s = session(t0);
        let id = s.send_c2c("bob", vec![Elem::text("queued")], t0).unwrap();
        s.on_connected(t0);
        let (frames, _, _) = drain(&mut s);
        s.on_frame(&reply(&frames[0], wire::error_body(code, "app")), t0)
            .unwrap();
        let (_, events, other) = drain(&mut s);
        assert!(events.contains(&SessionEvent::Ended(reason)));
        assert!(events.contains(&SessionEvent::SendResult {
            id,
            result: Err(SendError::SessionEnded)
        }));
        assert_eq!(other, [Output::Close]);
        assert!(s.is_ended());
        assert_eq!(s.send_c2c("bob", vec![], t0), Err(SendError::SessionEnded));
    }
}

#[test]
fn kick_out_is_typed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    let body = json!({"eventArray": [{"event": 7, "C2cNotifyMsgArray": [
        {"KickoutMsgNotify": {"KickType": 2, "NewInstInfo": {}}}]}]});
    s.on_frame(&push(body), t0).unwrap();
    let (_, events, other) = drain(&mut s);
    assert!(events.contains(&SessionEvent::Ended(EndReason::Kicked(
        KickType::OtherDevice
    ))));
    assert_eq!(other, [Output::Close]);
}

#[test]
fn in_flight_send_is_retried_with_same_ids_after_reconnect() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    s.send_c2c("bob", vec![Elem::text("retry me")], t0).unwrap();
    let (frames, _, _) = drain(&mut s);
    let first = frames[0].body.clone();
    s.on_disconnected(t0);
    let g = login(&mut s, t0);
    assert_eq!(g.body["Cookie"], "", "no cookie was ever received");
    // login() drained the frames; reconnect once more to see the retry.
    let _ = g;
    s.on_disconnected(t0);
    s.on_connected(t0);
    let (frames, _, _) = drain(&mut s);
    s.on_frame(
        &reply(
            &frames[0],
            json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "1", "HelloInterval": 30}),
        ),
        t0,
    )
    .unwrap();
    let (frames, _, _) = drain(&mut s);
    let retry = frames
        .iter()
        .find(|f| f.head.servcmd == servcmd::SENDMSG)
        .expect("resent");
    assert_eq!(retry.body["MsgSeq"], first["MsgSeq"]);
    assert_eq!(retry.body["MsgRandom"], first["MsgRandom"]);
}

#[test]
fn junk_frames_are_errors_not_panics() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    assert!(s.on_frame(b"", t0).is_err());
    assert!(s.on_frame(b"COMP\x00\x01", t0).is_err());
    assert!(s.on_frame(br#"{"head":{"servcmd":"im_open_push.msg_push"},"body":{"eventArray":[{"C2cMsgArray":[1,{"From_Account":5}]}]}}"#, t0).is_ok());
    assert!(drain(&mut s).1.is_empty());
}

#[test]
fn own_message_from_another_instance_is_marked_sync_with_from_and_to_restored() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    // The server sends the sync copy with From/To swapped (the SDK swaps them back).
    let mut m = c2c("bob", 8, 80, 300, "mine");
    m["To_Account"] = json!("alice");
    m["From_Account"] = json!("bob");
    m["IsSyncMsg"] = json!(1);
    s.on_frame(
        &push(json!({"eventArray": [{"event": 9, "C2cMsgArray": [m]}]})),
        t0,
    )
    .unwrap();
    let (_, events, _) = drain(&mut s);
    match &events[..] {
        [SessionEvent::Message(m)] => {
            assert!(m.is_sync);
            assert_eq!((m.from.as_str(), m.to.as_str()), ("alice", "bob"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn forced_offline_frame_is_a_kick() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    let head = Head {
        servcmd: "im_open_status.stat_forceoffline".into(),
        ..Default::default()
    };
    let body = json!({"C2cNotifyMsgArray": [{"KickoutMsgNotify": {"KickType": 1}}]});
    s.on_frame(wire::encode(&head, &body).as_bytes(), t0)
        .unwrap();
    let (_, events, _) = drain(&mut s);
    assert!(events.contains(&SessionEvent::Ended(EndReason::Kicked(
        KickType::OtherAccount
    ))));
}

#[test]
fn deferred_push_ack_waits_for_the_owner() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(1_400_000_001, "alice", "SIG");
    cfg.defer_push_ack = true;
    let mut s = Session::new(cfg, t0, 7);
    login(&mut s, t0);
    let body = json!({"eventArray": [{"event": 9, "C2cMsgArray": [c2c("bob", 5, 55, 200, "live")]}],
                      "NeedAck": 1, "SessionData": "sess-1"});
    s.on_frame(&push(body.clone()), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    assert!(
        frames.is_empty(),
        "no ack before the owner stored the message"
    );
    let token = match &events[..] {
        [SessionEvent::Message(m), SessionEvent::PushBatch { token }] if m.text() == "live" => {
            *token
        }
        other => panic!("message then batch expected: {other:?}"),
    };
    s.ack_push(token, t0);
    let (frames, _, _) = drain(&mut s);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].head.servcmd, servcmd::PUSH_ACK);
    assert_eq!(frames[0].body, json!({"SessionData": "sess-1"}));
    s.ack_push(token, t0);
    assert!(drain(&mut s).0.is_empty(), "acked once");
    // A push with nothing new (a retry) is acknowledged at once.
    s.on_frame(&push(body), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    assert_eq!(frames.len(), 1);
    assert!(events.is_empty());
}

#[test]
fn a_push_the_owner_did_not_store_is_fetched_again_and_delivered_again() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(1_400_000_001, "alice", "SIG");
    cfg.defer_push_ack = true;
    let mut s = Session::new(cfg, t0, 7);
    let g1 = login(&mut s, t0);
    let done = json!({"ErrorCode": 0, "Cookie": "c1", "SyncFlag": 2, "MsgList": []});
    s.on_frame(&reply(&g1, done), t0).unwrap();
    drain(&mut s);
    let live = c2c("bob", 5, 55, 200, "live");
    let body = json!({"eventArray": [{"event": 9, "C2cMsgArray": [live.clone()]}],
                      "NeedAck": 1, "SessionData": "sess-1"});
    s.on_frame(&push(body), t0).unwrap();
    let (_, events, _) = drain(&mut s);
    let token = match &events[..] {
        [SessionEvent::Message(_), SessionEvent::PushBatch { token }] => *token,
        other => panic!("message then batch expected: {other:?}"),
    };
    s.push_not_stored(token, t0);
    let (frames, _, _) = drain(&mut s);
    assert!(
        frames.iter().all(|f| f.head.servcmd != servcmd::PUSH_ACK),
        "not acknowledged"
    );
    let again = frames
        .iter()
        .find(|f| f.head.servcmd == servcmd::GETMSG)
        .expect("fetched again");
    assert_eq!(again.body["Cookie"], "c1");
    let page = json!({"ErrorCode": 0, "Cookie": "c2", "SyncFlag": 2, "MsgList": [live.clone()]});
    s.on_frame(&reply(again, page), t0).unwrap();
    let (_, events, _) = drain(&mut s);
    assert!(
        matches!(&events[..], [SessionEvent::Message(m)] if m.text() == "live"),
        "delivered again, not dropped as seen: {events:?}"
    );
    // Once stored, the same message again is a duplicate.
    let body = json!({"eventArray": [{"event": 9, "C2cMsgArray": [live]}],
                      "NeedAck": 1, "SessionData": "sess-2"});
    s.on_frame(&push(body), t0).unwrap();
    let (frames, events, _) = drain(&mut s);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        frames.len(),
        1,
        "a push with nothing new is acknowledged at once"
    );
}

#[test]
fn media_signing_goes_with_the_user_sig_not_the_a2_key() {
    let t0 = Instant::now();
    let mut s = session(t0);
    login(&mut s, t0);
    s.call("im_cos_msg.simple_sig", json!({}), t0).unwrap();
    s.call("profile.portrait_get_all", json!({}), t0).unwrap();
    let (frames, _, _) = drain(&mut s);
    let sig = frames
        .iter()
        .find(|f| f.head.servcmd == "im_cos_msg.simple_sig")
        .expect("signing request");
    // As the SDK's `genCosSpecifiedHead`: identifier + UserSig, no A2Key.
    assert_eq!(sig.head.identifier.as_deref(), Some("alice"));
    assert_eq!(sig.head.usersig.as_deref(), Some("SIG"));
    assert_eq!(sig.head.a2, None);
    let other = frames
        .iter()
        .find(|f| f.head.servcmd == "profile.portrait_get_all")
        .expect("other request");
    assert_eq!(other.head.a2.as_deref(), Some("A2"));
    assert_eq!(other.head.usersig, None);
}
