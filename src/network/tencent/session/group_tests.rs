//! Tests of the session's group support, driven with hand-made server frames.

use super::super::test_frames::{drain, find, reply};
use super::*;

use super::super::SessionConfig;
use crate::network::tencent::wire::{Frame, Head};

/// A `msg_push` frame with one `event` item holding `item` under `key`.
fn push_event(event: u32, key: &str, item: Value) -> Vec<u8> {
    let head = Head {
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(999_999_999_999),
        ..Default::default()
    };
    let body = json!({"eventArray": [{"event": event, key: [item]}],
                      "NeedAck": 1, "SessionData": "sd"});
    wire::encode(&head, &body).into_bytes()
}

/// A group message push (event 3).
fn push(item: Value) -> Vec<u8> {
    push_event(3, "GroupMsgArray", item)
}

fn msg(seq: u64) -> Value {
    json!({"From_Account": "bob", "GroupInfo": {"GroupId": "g"}, "MsgSeq": seq,
           "MsgRandom": seq, "MsgTimeStamp": 100 + seq,
           "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("m{seq}")}}]})
}

fn seqs(events: &[SessionEvent]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::GroupMessage(m) => Some((m.seq, m.offline)),
            _ => None,
        })
        .collect()
}

/// The group notices among `events`.
fn notices(events: &[SessionEvent]) -> Vec<&GroupNotice> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::GroupNotice(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Connects, logs in, and answers the joined list with `g` at `next_seq`; the frames
/// and events that follow.
fn login(s: &mut Session, now: Instant, next_seq: u64) -> (Vec<Frame>, Vec<SessionEvent>) {
    s.on_connected(now);
    let (frames, _) = drain(s);
    let body = json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "1", "HelloInterval": 30});
    s.on_frame(&reply(&frames[0], body), now).unwrap();
    let (frames, _) = drain(s);
    let list = find(&frames, servcmd::GET_JOINED_GROUP_LIST);
    assert_eq!(list.body["Member_Account"], "alice");
    let body = json!({"ErrorCode": 0, "GroupIdList": [
        {"GroupId": "g", "Type": "Work", "Name": "T", "NextMsgSeq": next_seq}]});
    s.on_frame(&reply(list, body), now).unwrap();
    // The Communities with topics are listed by their own service: none here.
    let communities = find(&frames, super::super::topics::GET_JOINED_COMMUNITY_LIST);
    assert_eq!(communities.body["SupportTopic"], 1);
    let body = json!({"ErrorCode": 0, "GroupIdList": []});
    s.on_frame(&reply(communities, body), now).unwrap();
    drain(s)
}

#[test]
fn catch_up_and_gaps_deliver_in_order_once_across_reconnects() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(1_400_000_001, "alice", "SIG");
    cfg.group_cursors.insert("g".into(), 5);
    let mut s = Session::new(cfg, t0, 7);
    let (frames, events) = login(&mut s, t0, 8);
    assert!(matches!(&events[0], SessionEvent::GroupList(l) if l[0].next_msg_seq == 8));
    let get = find(&frames, servcmd::GROUP_MSG_GET);
    assert_eq!(
        (&get.body["ReqMsgSeq"], &get.body["ReqMsgNumber"]),
        (&json!(7), &json!(2))
    );
    // A live push beyond the fetch waits for it.
    s.on_frame(&push(msg(9)), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert!(seqs(&events).is_empty());
    let body = json!({"ErrorCode": 0, "RspMsgList": [msg(7), msg(6)]});
    s.on_frame(&reply(get, body), t0).unwrap();
    let (frames, events) = drain(&mut s);
    assert_eq!(seqs(&events), [(6, true), (7, true)]);
    let get = find(&frames, servcmd::GROUP_MSG_GET);
    assert_eq!(
        (&get.body["ReqMsgSeq"], &get.body["ReqMsgNumber"]),
        (&json!(9), &json!(2))
    );
    let body = json!({"ErrorCode": 0, "RspMsgList": [msg(9), msg(8), msg(7)]});
    s.on_frame(&reply(get, body), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(seqs(&events), [(8, true), (9, true)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::GroupSyncCompleted { count: 4 })));
    // Duplicates are dropped; the next one is delivered live.
    s.on_frame(&push(msg(9)), t0).unwrap();
    s.on_frame(&push(msg(10)), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(seqs(&events), [(10, false)]);
    // Our own send takes seq 11: the next push (12) is not a gap.
    let id = s
        .send_group("g", vec![Elem::text("mine")], vec![GroupAt::All], t0)
        .unwrap();
    let (frames, _) = drain(&mut s);
    let send = find(&frames, servcmd::SEND_GROUP_MSG);
    assert_eq!(send.body["GroupId"], "g");
    assert_eq!(send.body["GroupAtInfo"][0]["GroupAtAllFlag"], 1);
    s.on_frame(
        &reply(send, json!({"ErrorCode": 0, "MsgSeq": 11, "MsgTime": 111})),
        t0,
    )
    .unwrap();
    let (_, events) = drain(&mut s);
    assert!(events.iter().any(
        |e| matches!(e, SessionEvent::SendResult { id: i, result: Ok(r) } if *i == id && r.msg_seq == 11)
    ));
    s.on_frame(&push(msg(12)), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(seqs(&events), [(12, false)]);
    // A reconnect with nothing new fetches nothing.
    s.on_disconnected(t0);
    let (frames, events) = login(&mut s, t0, 13);
    assert!(frames
        .iter()
        .all(|f| f.head.servcmd != servcmd::GROUP_MSG_GET));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::GroupSyncCompleted { count: 0 })));
    assert_eq!(s.group_cursors().get("g"), Some(&12));
}

#[test]
fn mentions_round_trip() {
    for at in [GroupAt::All, GroupAt::User("bob".into())] {
        assert_eq!(GroupAt::from_wire(&at.to_wire()), Some(at));
    }
    assert_eq!(GroupAt::from_wire(&json!({"GroupAt_Account": ""})), None);
}

#[test]
fn tip_parses_profile_change() {
    let t = parse_tip(&json!({"GroupInfo": {"GroupId": "g"}, "MsgTimeStamp": 5,
        "MsgBody": {"OpType": 6, "Operator_Account": "admin", "List_Account": [],
                    "MsgGroupNewInfo": {"GroupName": "New"}}}))
    .expect("tip");
    assert_eq!(t.kind, GroupTipKind::ProfileChanged);
    assert_eq!(t.profile.name.as_deref(), Some("New"));
    assert_eq!(t.profile.introduction, None);
    assert!(parse_tip(&json!({"MsgBody": {"OpType": 1}})).is_none());
}

fn notice_push(body: Value, extra: Value) -> Vec<u8> {
    let head = Head {
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(999_999_999_998),
        ..Default::default()
    };
    let mut item = json!({"GroupInfo": {"GroupId": "g"}, "ToGroupId": "g",
                          "From_Account": "carol", "MsgSeq": 0, "MsgBody": body});
    if let (Some(i), Some(e)) = (item.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    let body = json!({"eventArray": [{"event": 5, "GroupTips": [item]}],
                      "NeedAck": 1, "SessionData": "sd"});
    wire::encode(&head, &body).into_bytes()
}

#[test]
fn recall_and_read_notices_and_recalled_placeholders() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(1_400_000_001, "alice", "SIG");
    cfg.group_cursors.insert("g".into(), 1);
    let mut s = Session::new(cfg, t0, 7);
    let (frames, _) = login(&mut s, t0, 4);
    // Seq 2 was recalled while we were away: a placeholder (`IsPlaceMsg: 2`), no message but
    // a recall notice, by the author unless `RevokerInfo` says who (an admin, here for 1).
    let get = find(&frames, servcmd::GROUP_MSG_GET);
    assert_eq!(get.body["WithRecalledMsg"], 1);
    let mut placeholder = msg(2);
    placeholder["IsPlaceMsg"] = json!(2);
    let mut by_admin = msg(1);
    by_admin["IsPlaceMsg"] = json!(2);
    by_admin["RevokerInfo"] = json!({"Revoker_Account": "carol"});
    let body = json!({"ErrorCode": 0, "RspMsgList": [msg(3), placeholder, by_admin]});
    s.on_frame(&reply(get, body), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(seqs(&events), [(3, true)]);
    assert_eq!(s.group_cursors().get("g"), Some(&3));
    let recalled = |group: &str, seqs: Vec<u64>, revoker: &str| GroupNotice::Recalled {
        group_id: group.into(),
        seqs,
        revoker: revoker.into(),
    };
    assert_eq!(
        notices(&events),
        [
            &recalled("g", vec![2], "bob"),
            &recalled("g", vec![1], "carol")
        ]
    );
    // A recall notice names the revoker and the seqs, per conversation (a topic's own).
    let withdraw = json!({"GroupWithdrawInfoArray": [
        {"GroupId": "g", "MsgSeq": 3, "MsgRandom": 3},
        {"GroupId": "g", "MsgSeq": 1, "MsgRandom": 1},
        {"GroupId": "g", "TopicId": "g@TOPIC#_t", "MsgSeq": 5},
        {"GroupId": "g"}]});
    let revoker = json!({"RevokerInfo": {"Revoker_Account": "bob", "Reason": ""}});
    s.on_frame(&notice_push(withdraw, revoker), t0).unwrap();
    // A read notice: our read marker moved on another device.
    let read = json!({"GroupReadInfoArray": [{"GroupId": "g", "LastReadMsgSeq": 3}]});
    s.on_frame(&notice_push(read, json!({})), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(
        notices(&events),
        [
            &recalled("g", vec![3, 1], "bob"),
            &recalled("g@TOPIC#_t", vec![5], "bob"),
            &GroupNotice::Read {
                group_id: "g".into(),
                seq: 3
            },
        ]
    );
}

#[test]
fn recall_and_read_bodies_address_groups_and_topics() {
    use super::super::group_wire::{read_report_body, recall_body, recall_failures};
    let b = recall_body("g", &[4]);
    assert_eq!(b, json!({"GroupId": "g", "MsgSeqList": [{"MsgSeq": 4}]}));
    let b = recall_body("@TGS#_g@TOPIC#_t", &[4]);
    assert_eq!(b["GroupId"], "@TGS#_g");
    assert_eq!(b["TopicId"], "@TGS#_g@TOPIC#_t");
    assert_eq!(
        read_report_body("g", 9),
        json!({"GroupId": "g", "MsgReadedSeq": 9})
    );
    let reply =
        json!({"RecallRetList": [{"MsgSeq": 4, "RetCode": 0}, {"MsgSeq": 5, "RetCode": 10030}]});
    assert_eq!(recall_failures(&reply), [(5, 10030)]);
}

/// A join tip at `seq` as the history keeps it (`Event` 4) or as it is pushed.
fn tip(seq: u64, user: &str) -> Value {
    json!({"GroupInfo": {"GroupId": "g"}, "ToGroupId": "g", "From_Account": "bob",
           "MsgSeq": seq, "MsgTimeStamp": 100 + seq, "Event": 4,
           "MsgBody": {"OpType": 1, "Operator_Account": "bob", "List_Account": [user]}})
}

/// A group tip push (event 4).
fn tip_push(item: Value) -> Vec<u8> {
    push_event(4, "GroupTips", item)
}

/// The group messages and tips among `events`, in order: `m<seq>` / `tip<seq>:<user>`.
fn sequence(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::GroupMessage(m) => Some(format!("m{}", m.seq)),
            SessionEvent::GroupTip(t) => Some(format!("tip{}:{}", t.seq, t.users.join(","))),
            _ => None,
        })
        .collect()
}

#[test]
fn tips_missed_while_away_come_with_the_catch_up_in_order_once() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(1_400_000_001, "alice", "SIG");
    cfg.group_cursors.insert("g".into(), 5);
    let mut s = Session::new(cfg, t0, 7);
    let (frames, _) = login(&mut s, t0, 9);
    let get = find(&frames, servcmd::GROUP_MSG_GET);
    // Seqs 6..8: a message, carol's join tip, a message.
    let body = json!({"ErrorCode": 0, "RspMsgList": [msg(8), tip(7, "carol"), msg(6)]});
    s.on_frame(&reply(get, body), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(sequence(&events), ["m6", "tip7:carol", "m8"]);
    let Some(SessionEvent::GroupTip(t)) = events
        .iter()
        .find(|e| matches!(e, SessionEvent::GroupTip(_)))
    else {
        panic!("no tip: {events:?}");
    };
    assert_eq!(t.kind, GroupTipKind::MemberJoined);
    assert_eq!(t.operator, "bob");
    // The same tip pushed again is a duplicate; the next one is delivered live.
    s.on_frame(&tip_push(tip(7, "carol")), t0).unwrap();
    s.on_frame(&tip_push(tip(9, "dave")), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(sequence(&events), ["tip9:dave"]);
    // A tip past a gap waits for the fetch of what it skipped, then comes in order.
    s.on_frame(&tip_push(tip(11, "erin")), t0).unwrap();
    let (frames, events) = drain(&mut s);
    assert!(sequence(&events).is_empty(), "{events:?}");
    let get = find(&frames, servcmd::GROUP_MSG_GET);
    assert_eq!(get.body["ReqMsgSeq"], 11);
    let body = json!({"ErrorCode": 0, "RspMsgList": [tip(11, "erin"), msg(10)]});
    s.on_frame(&reply(get, body), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(sequence(&events), ["m10", "tip11:erin"]);
    // A tip without a seq (an online-only notice) is delivered as it comes.
    let mut loose = tip(0, "frank");
    loose["MsgSeq"] = json!(0);
    s.on_frame(&tip_push(loose), t0).unwrap();
    let (_, events) = drain(&mut s);
    assert_eq!(sequence(&events), ["tip0:frank"]);
}
