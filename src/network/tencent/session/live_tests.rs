//! Tests of the session's live rooms, driven with hand-made server frames.

use super::super::test_frames::{drain, find, reply};
use super::*;

use super::super::super::elem::Elem;
use super::super::SessionConfig;
use crate::network::tencent::wire::{servcmd, Frame};

fn item(seq: u64, from: &str, random: u64) -> Value {
    json!({"Event": 3, "From_Account": from, "ToGroupId": "live", "MsgSeq": seq,
           "MsgRandom": random, "MsgTimeStamp": 100 + seq,
           "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("m{seq}")}}]})
}

fn live_texts(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::LiveMessage(m) => Some(m.text()),
            _ => None,
        })
        .collect()
}

fn login(s: &mut Session, now: Instant) -> Vec<Frame> {
    s.on_connected(now);
    let (frames, _) = drain(s);
    let body = json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "1", "HelloInterval": 30});
    s.on_frame(&reply(&frames[0], body), now).unwrap();
    drain(s).0
}

#[test]
fn join_polls_delivers_in_order_once_and_rejoins_after_a_reconnect() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::new(1, "alice", "sig"), now, 7);
    assert!(matches!(
        s.join_live("live", now),
        Err(SendError::QueueTimeout)
    ));
    login(&mut s, now);
    let id = s.join_live("live", now).expect("joins");
    let (frames, _) = drain(&mut s);
    let join = find(&frames, APPLY_JOIN_GROUP);
    assert_eq!(join.body["GroupId"], "live");
    let body = json!({"ErrorCode": 0, "JoinedStatus": "JoinedSuccess", "LongPollingKey": "K1",
                      "StartSeq": 5, "HugeGroupFlag": 1});
    s.on_frame(&reply(join, body), now).unwrap();
    let (frames, events) = drain(&mut s);
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::CallResult { id: i, result: Ok(_) } if *i == id)));
    let poll = find(&frames, GET_MSG);
    assert_eq!(poll.body["Key"], "K1");
    assert_eq!(poll.body["StartSeq"], 5);
    assert!(poll.body["HoldTime"].as_u64().unwrap() <= MAX_HOLD_SECS);

    // Our own send comes back in the poll and is passed over.
    let sent = s
        .send_group("live", vec![Elem::text("mine")], vec![], now)
        .expect("queued");
    let (frames, _) = drain(&mut s);
    let send = find(&frames, servcmd::SEND_GROUP_MSG);
    s.on_frame(
        &reply(send, json!({"ErrorCode": 0, "MsgSeq": 6, "MsgTime": 106})),
        now,
    )
    .unwrap();
    let (_, events) = drain(&mut s);
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::SendResult { id, result: Ok(_) } if *id == sent)));
    // Out of order, with a duplicate and one before StartSeq.
    let body = json!({"ErrorCode": 0, "Key": "K2", "NextSeq": 8,
                      "RspMsgList": [item(7, "bob", 1), item(5, "bob", 2), item(6, "alice", 3),
                                     item(4, "bob", 4), item(7, "bob", 1)]});
    s.on_frame(&reply(poll, body), now).unwrap();
    let (frames, events) = drain(&mut s);
    assert_eq!(live_texts(&events), ["m5", "m7"]);
    let poll = find(&frames, GET_MSG);
    assert_eq!(poll.body["Key"], "K2");
    assert_eq!(poll.body["StartSeq"], 8);
    // An empty answer (the hold ended): poll again at the same place.
    let body = json!({"ErrorCode": 0, "Key": "K2", "NextSeq": 8, "RspMsgList": []});
    s.on_frame(&reply(poll, body), now).unwrap();
    let (frames, events) = drain(&mut s);
    assert!(live_texts(&events).is_empty());
    assert_eq!(find(&frames, GET_MSG).body["StartSeq"], 8);

    // A reconnect: the login joins the room again.
    s.on_disconnected(now);
    let frames = login(&mut s, now);
    let join = find(&frames, APPLY_JOIN_GROUP);
    let body = json!({"ErrorCode": 0, "LongPollingKey": "K3", "StartSeq": 9});
    s.on_frame(&reply(join, body), now).unwrap();
    let (frames, events) = drain(&mut s);
    assert!(!events
        .iter()
        .any(|e| matches!(e, SessionEvent::CallResult { .. })));
    let poll = find(&frames, GET_MSG);
    assert_eq!(poll.body["Key"], "K3");

    // A failed poll: joined again after the pause.
    s.on_frame(&reply(poll, wire::error_body(10007, "key")), now)
        .unwrap();
    let (frames, _) = drain(&mut s);
    assert!(frames.is_empty());
    assert_eq!(s.next_deadline().map(|d| d <= now + RETRY), Some(true));
    s.on_tick(now + RETRY);
    let (frames, _) = drain(&mut s);
    find(&frames, APPLY_JOIN_GROUP);

    // Leaving stops polling: a late answer is ignored.
    s.leave_live("live", now).expect("quits");
    let (frames, _) = drain(&mut s);
    assert_eq!(find(&frames, QUIT_GROUP).body["GroupId"], "live");
    assert!(s.live_rooms().is_empty());
}

#[test]
fn a_group_that_is_not_a_live_room_fails_the_join() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::new(1, "alice", "sig"), now, 7);
    login(&mut s, now);
    let id = s.join_live("work", now).expect("asks");
    let (frames, _) = drain(&mut s);
    let join = find(&frames, APPLY_JOIN_GROUP);
    s.on_frame(
        &reply(
            join,
            json!({"ErrorCode": 0, "JoinedStatus": "JoinedSuccess"}),
        ),
        now,
    )
    .unwrap();
    let (frames, events) = drain(&mut s);
    assert!(frames.iter().all(|f| f.head.servcmd != GET_MSG));
    assert!(events.iter().any(|e| matches!(
        e,
        SessionEvent::CallResult { id: i, result: Err(SendError::Malformed(_)) } if *i == id
    )));
    assert!(s.live_rooms().is_empty());
    let id = s.join_live("gone", now).expect("asks");
    let (frames, _) = drain(&mut s);
    let join = find(&frames, APPLY_JOIN_GROUP);
    s.on_frame(&reply(join, wire::error_body(10010, "no such group")), now)
        .unwrap();
    let (_, events) = drain(&mut s);
    assert!(events.iter().any(|e| matches!(
        e,
        SessionEvent::CallResult { id: i, result: Err(SendError::Server(err)) }
            if *i == id && err.code == 10010
    )));
}

#[test]
fn pushed_live_messages_are_live_messages_delivered_once() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::new(1, "alice", "sig"), now, 7);
    login(&mut s, now);
    s.join_live("live", now).expect("joins");
    let (frames, _) = drain(&mut s);
    let join = find(&frames, APPLY_JOIN_GROUP);
    let body = json!({"ErrorCode": 0, "LongPollingKey": "K1", "StartSeq": 3});
    s.on_frame(&reply(join, body), now).unwrap();
    let (frames, _) = drain(&mut s);
    let poll = find(&frames, GET_MSG).clone();
    let mut pushed = item(3, "bob", 9);
    pushed["GroupInfo"] = json!({"GroupId": "live", "GroupType": "AVChatRoom"});
    let head = crate::network::tencent::wire::Head {
        servcmd: servcmd::MULTI_MSG_PUSH.into(),
        seq: Some(999_999),
        ..Default::default()
    };
    let push = json!({"eventArray": [{"event": 3, "GroupMsgArray": [pushed]}]});
    s.on_frame(wire::encode(&head, &push).as_bytes(), now)
        .unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(live_texts(&events), ["m3"]);
    assert!(!events
        .iter()
        .any(|e| matches!(e, SessionEvent::GroupMessage(_))));
    // The same message in the poll is not delivered again; the next one is.
    let body = json!({"ErrorCode": 0, "Key": "K1", "NextSeq": 5,
                      "RspMsgList": [item(3, "bob", 9), item(4, "bob", 10)]});
    s.on_frame(&reply(&poll, body), now).unwrap();
    let (frames, events) = drain(&mut s);
    assert_eq!(live_texts(&events), ["m4"]);
    assert_eq!(find(&frames, GET_MSG).body["StartSeq"], 5);
    // Tips of a live room (its audience coming and going) are not group tips.
    let tip = json!({"GroupInfo": {"GroupId": "live", "GroupType": "AVChatRoom"},
                     "ToGroupId": "live", "From_Account": "carol", "MsgSeq": 0,
                     "MsgBody": {"OpType": 1, "Operator_Account": "carol",
                                 "List_Account": ["carol"]}});
    let push = json!({"eventArray": [{"event": 4, "GroupTips": [tip]}]});
    s.on_frame(wire::encode(&head, &push).as_bytes(), now)
        .unwrap();
    let (_, events) = drain(&mut s);
    assert!(!events
        .iter()
        .any(|e| matches!(e, SessionEvent::GroupTip(_))));
    // A pushed message of a room not joined is dropped, not made a group message.
    let mut other = item(1, "bob", 11);
    other["ToGroupId"] = json!("elsewhere");
    other["GroupInfo"] = json!({"GroupId": "elsewhere", "GroupType": "AVChatRoom"});
    let push = json!({"eventArray": [{"event": 3, "GroupMsgArray": [other]}]});
    s.on_frame(wire::encode(&head, &push).as_bytes(), now)
        .unwrap();
    let (_, events) = drain(&mut s);
    assert!(events.iter().all(|e| !matches!(
        e,
        SessionEvent::GroupMessage(_) | SessionEvent::LiveMessage(_)
    )));
}
