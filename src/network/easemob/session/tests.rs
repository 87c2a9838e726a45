//! Unit tests of the sans-I/O session: fed frames and time, checked on frames and events.

use super::*;
use crate::network::easemob::compression::{FrameCompressor, FrameDecompressor};
use crate::network::easemob::jid::{self, Conversation};
use crate::network::easemob::message::{Body, Content, OutgoingMessage};
use crate::network::easemob::proto::{
    message_body, meta, statistics_body, MessageBody, MetaQueue, StatisticsBody, Status,
};
use proptest::prelude::*;

const APP: &str = "demo#sandbox";

fn session() -> (Session, Instant) {
    let now = Instant::now();
    let cfg = SessionConfig::new(APP, "alice", "tok", "imbridge_dev1");
    (Session::new(cfg, now, 1_700_000_000_000), now)
}

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn transmitted(outputs: &[Output]) -> Vec<MSync> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(b) => Some(MSync::decode(b.as_slice()).expect("client frame decodes")),
            _ => None,
        })
        .collect()
}

fn events(outputs: &[Output]) -> Vec<SessionEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some((**e).clone()),
            _ => None,
        })
        .collect()
}

fn server_frame(command: m_sync::Command, payload: Vec<u8>) -> Vec<u8> {
    MSync {
        command: Some(command as i32),
        payload: Some(payload),
        ..Default::default()
    }
    .encode_to_vec()
}

fn ok() -> Option<Status> {
    Some(Status {
        error_code: Some(0),
        ..Default::default()
    })
}

fn provision_ok(compress: Option<provision::CompressDirection>) -> Vec<u8> {
    let mut p = Provision {
        status: ok(),
        resource: Some("imbridge_dev1".into()),
        auth_token: Some(r#"{"expires_in":4102444800000}"#.into()),
        ..Default::default()
    };
    if let Some(d) = compress {
        p.protocol_compress_type = vec![provision::CompressType::CompressLz4 as i32];
        p.protocol_compress_direction = Some(d as i32);
    }
    server_frame(m_sync::Command::Provision, p.encode_to_vec())
}

fn logged_in() -> (Session, Instant) {
    let (mut s, now) = session();
    s.on_connected(now, 1);
    s.on_frame(&provision_ok(None), now).expect("provision");
    drain(&mut s);
    (s, now)
}

fn text_meta(id: u64, from: &str, text: &str) -> Meta {
    let body = MessageBody {
        r#type: Some(message_body::Type::Chat as i32),
        from: Some(jid::name_only(from)),
        to: Some(jid::name_only("alice")),
        contents: vec![Content::Text { text: text.into() }.to_wire()],
        ..Default::default()
    };
    Meta {
        id: Some(id),
        from: Some(jid::user_jid(APP, from)),
        to: Some(jid::user_jid(APP, "alice")),
        ns: Some(meta::NameSpace::Chat as i32),
        timestamp: Some(1000 + id),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

fn dl(dl: CommSyncDl) -> Vec<u8> {
    server_frame(m_sync::Command::Sync, dl.encode_to_vec())
}

#[test]
fn provision_frame_matches_the_sdk_layout() {
    let (mut s, now) = session();
    s.on_connected(now, 1_795_300_787_446);
    let out = drain(&mut s);
    let Output::Transmit(bytes) = &out[0] else {
        panic!("first output is a frame")
    };
    let m = MSync::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(m.command, Some(m_sync::Command::Provision as i32));
    assert_eq!(m.auth.as_deref(), Some("$t$tok"));
    let guid = m.guid.expect("guid");
    assert_eq!(guid.name.as_deref(), Some("alice"));
    assert_eq!(guid.app_key.as_deref(), Some(APP));
    assert_eq!(guid.domain.as_deref(), Some("easemob.com"));
    let p = Provision::decode(m.payload.as_deref().expect("payload")).expect("provision");
    assert_eq!(p.resource.as_deref(), Some("imbridge_dev1"));
    assert_eq!(p.session_id.as_deref(), Some("1795300787446:"));
    assert_eq!(p.auth_token.as_deref(), Some(r#"{"token":"$t$tok"}"#));
    // protocolCompressType is packed on the wire, as the SDK sends it: b2 01 01 02.
    let payload = m.payload.expect("payload");
    assert!(payload.windows(4).any(|w| w == [0xb2, 0x01, 0x01, 0x02]));
}

#[test]
fn login_success_sends_unread_and_information() {
    let (mut s, now) = session();
    s.on_connected(now, 1);
    drain(&mut s);
    s.on_frame(&provision_ok(None), now).expect("provision");
    let out = drain(&mut s);
    assert!(matches!(
        &events(&out)[0],
        SessionEvent::Connected { resource, token_expires_at: Some(4102444800000) } if resource == "imbridge_dev1"
    ));
    let frames = transmitted(&out);
    assert_eq!(frames[0].command, Some(m_sync::Command::Unread as i32));
    assert_eq!(frames[1].command, Some(m_sync::Command::Sync as i32));
    assert!(s.is_ready());
}

#[test]
fn login_failure_is_typed_and_final() {
    let (mut s, now) = session();
    s.on_connected(now, 1);
    drain(&mut s);
    let p = Provision {
        status: Some(Status {
            error_code: Some(status::ErrorCode::Fail as i32),
            reason: Some("Sorry, token or password does not match login info".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    s.on_frame(
        &server_frame(m_sync::Command::Provision, p.encode_to_vec()),
        now,
    )
    .expect("frame");
    let out = drain(&mut s);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Ended(EndReason::LoginFailed(
            LoginError::InvalidToken
        ))]
    );
    assert_eq!(out.last(), Some(&Output::Close));
    assert!(s.is_ended());
}

#[test]
fn an_empty_first_unread_finishes_the_catch_up_at_once() {
    let (mut s, now) = logged_in();
    drain(&mut s);
    let empty = CommUnreadDl {
        status: ok(),
        unread: Vec::new(),
        timestamp: Some(1),
    };
    let frame = server_frame(m_sync::Command::Unread, empty.encode_to_vec());
    s.on_frame(&frame, now).expect("unread");
    assert_eq!(
        events(&drain(&mut s)),
        vec![SessionEvent::OfflineSyncFinished],
        "the owner learns there is nothing to catch up"
    );
    s.on_frame(&frame, now).expect("unread again");
    assert_eq!(
        events(&drain(&mut s)),
        vec![],
        "only the first UNREAD tells"
    );
}

#[test]
fn offline_sync_pulls_in_order_acks_and_drops_duplicates() {
    let (mut s, now) = logged_in();
    let bob = jid::user_jid(APP, "bob");
    let unread = CommUnreadDl {
        status: ok(),
        unread: vec![MetaQueue {
            queue: Some(bob.clone()),
            n: Some(2),
        }],
        timestamp: Some(1),
    };
    s.on_frame(
        &server_frame(m_sync::Command::Unread, unread.encode_to_vec()),
        now,
    )
    .expect("unread");
    let out = drain(&mut s);
    assert_eq!(events(&out), vec![SessionEvent::OfflineSyncStarted]);
    let pull = CommSyncUl::decode(transmitted(&out)[0].payload.as_deref().unwrap_or_default())
        .expect("pull");
    assert_eq!(
        pull.queue.as_ref().and_then(|q| q.name.as_deref()),
        Some("bob")
    );
    assert_eq!(pull.key, None);

    let batch = CommSyncDl {
        status: ok(),
        queue: Some(bob.clone()),
        metas: vec![
            text_meta(11, "bob", "one"),
            text_meta(12, "bob", "two"),
            text_meta(11, "bob", "one"),
        ],
        next_key: Some(12),
        ..Default::default()
    };
    s.on_frame(&dl(batch), now).expect("batch");
    let out = drain(&mut s);
    let texts: Vec<String> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => match m.body {
                Body::Content(Content::Text { text }) => Some(text),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["one", "two"]);
    let ack = CommSyncUl::decode(transmitted(&out)[0].payload.as_deref().unwrap_or_default())
        .expect("ack");
    assert_eq!(ack.key, Some(12));
    // The batch's events, then the checkpoint, then (and only then) the acknowledging pull:
    // a driver that waits at the checkpoint acks nothing its owner has not stored.
    let checkpoint = out
        .iter()
        .position(|o| *o == Output::Checkpoint)
        .expect("a checkpoint after the batch");
    let last_event = out
        .iter()
        .rposition(|o| matches!(o, Output::Event(_)))
        .expect("events");
    let first_transmit = out
        .iter()
        .position(|o| matches!(o, Output::Transmit(_)))
        .expect("the ack");
    assert!(last_event < checkpoint && checkpoint < first_transmit);

    let last = CommSyncDl {
        status: ok(),
        queue: Some(bob),
        is_last: Some(true),
        ..Default::default()
    };
    s.on_frame(&dl(last), now).expect("last");
    let out = drain(&mut s);
    assert_eq!(events(&out), vec![SessionEvent::OfflineSyncFinished]);
    assert!(
        !out.contains(&Output::Checkpoint),
        "an empty batch needs no checkpoint"
    );
}

#[test]
fn send_is_matched_to_its_ack_and_errors_are_typed() {
    let (mut s, now) = logged_in();
    let id = s
        .send(
            &OutgoingMessage::text(Conversation::single("bob"), "hi"),
            now,
        )
        .expect("send");
    let frames = transmitted(&drain(&mut s));
    let ul = CommSyncUl::decode(frames[0].payload.as_deref().unwrap_or_default()).expect("ul");
    assert_eq!(ul.meta.as_ref().and_then(|m| m.id), Some(id));
    let ack = CommSyncDl {
        status: ok(),
        meta_id: Some(id),
        server_id: Some(99),
        timestamp: Some(5),
        ..Default::default()
    };
    s.on_frame(&dl(ack), now).expect("ack");
    assert_eq!(
        events(&drain(&mut s)),
        vec![SessionEvent::SendAcked {
            local_id: id,
            server_id: 99,
            timestamp: 5
        }]
    );

    let id2 = s
        .send(&OutgoingMessage::text(Conversation::group("g1"), "x"), now)
        .expect("send");
    drain(&mut s);
    let refusal = CommSyncDl {
        status: Some(Status {
            error_code: Some(1),
            reason: Some("not in group or chatroom".into()),
            ..Default::default()
        }),
        meta_id: Some(id2),
        ..Default::default()
    };
    s.on_frame(&dl(refusal), now).expect("refusal");
    assert_eq!(
        events(&drain(&mut s)),
        vec![SessionEvent::SendFailed {
            local_id: id2,
            error: SendError::Rejected {
                code: 1,
                reason: "not in group or chatroom".into()
            }
        }]
    );
}

#[test]
fn unacked_send_times_out() {
    let (mut s, now) = logged_in();
    let id = s
        .send(
            &OutgoingMessage::text(Conversation::single("bob"), "hi"),
            now,
        )
        .expect("send");
    drain(&mut s);
    let later = now + Duration::from_secs(16);
    assert!(s.next_deadline().is_some_and(|d| d <= later));
    s.on_frame(
        &server_frame(
            m_sync::Command::Unread,
            CommUnreadDl::default().encode_to_vec(),
        ),
        later,
    )
    .expect("frame keeps the link alive");
    s.on_tick(later, 1);
    assert!(events(&drain(&mut s)).contains(&SessionEvent::SendFailed {
        local_id: id,
        error: SendError::Timeout
    }));
}

#[test]
fn messages_wait_for_the_connection_and_survive_a_drop() {
    let (mut s, now) = session();
    let queued = s
        .send(
            &OutgoingMessage::text(Conversation::single("bob"), "early"),
            now,
        )
        .expect("queued");
    assert_eq!(s.unacked(), 1);
    s.on_connected(now, 1);
    s.on_frame(&provision_ok(None), now).expect("provision");
    let sent: Vec<u64> = transmitted(&drain(&mut s))
        .iter()
        .filter_map(|f| CommSyncUl::decode(f.payload.as_deref().unwrap_or_default()).ok())
        .filter_map(|ul| ul.meta.and_then(|m| m.id))
        .collect();
    assert!(sent.contains(&queued));
    // The link drops before the ack: the message is sent again after the next login.
    s.on_disconnected(now);
    s.on_connected(now, 2);
    s.on_frame(&provision_ok(None), now).expect("provision");
    let resent: Vec<u64> = transmitted(&drain(&mut s))
        .iter()
        .filter_map(|f| CommSyncUl::decode(f.payload.as_deref().unwrap_or_default()).ok())
        .filter_map(|ul| ul.meta.and_then(|m| m.id))
        .collect();
    assert!(resent.contains(&queued));
}

#[test]
fn heartbeat_when_idle_and_dead_link_when_unanswered() {
    let (mut s, now) = logged_in();
    let t1 = now + Duration::from_secs(30);
    s.on_tick(t1, 1);
    let frames = transmitted(&drain(&mut s));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].command, Some(m_sync::Command::Unread as i32));
    s.on_tick(t1 + Duration::from_secs(16), 1);
    assert!(drain(&mut s)
        .iter()
        .any(|o| matches!(o, Output::Reconnect(_))));
    assert!(!s.is_ready());
}

#[test]
fn kick_notice_ends_the_session() {
    let (mut s, now) = logged_in();
    let body = StatisticsBody {
        operation: Some(statistics_body::Operation::UserLoginAnotherDevice as i32),
        reason: Some("ext".into()),
        ..Default::default()
    };
    let push = CommSyncDl {
        status: ok(),
        metas: vec![Meta {
            id: Some(7),
            ns: Some(meta::NameSpace::Statistic as i32),
            payload: Some(body.encode_to_vec()),
            ..Default::default()
        }],
        is_last: Some(true),
        ..Default::default()
    };
    s.on_frame(&dl(push), now).expect("push");
    let out = drain(&mut s);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Ended(EndReason::LoggedInElsewhere {
            custom_ext: "ext".into()
        })]
    );
    assert_eq!(out.last(), Some(&Output::Close));
}

#[test]
fn lz4_both_directions_after_provision() {
    let (mut s, now) = session();
    s.on_connected(now, 1);
    drain(&mut s);
    s.on_frame(&provision_ok(Some(provision::CompressDirection::Bi)), now)
        .expect("provision");
    let out = drain(&mut s);
    // The UNREAD after login is compressed: decode it with a server-side decompressor.
    let mut server_in = FrameDecompressor::new();
    let Some(Output::Transmit(first)) = out.iter().find(|o| matches!(o, Output::Transmit(_)))
    else {
        panic!("a frame")
    };
    let plain = server_in.decompress(first).expect("uplink is lz4");
    assert_eq!(
        MSync::decode(plain.as_slice()).expect("msync").command,
        Some(m_sync::Command::Unread as i32)
    );
    // And a compressed server frame is understood.
    let mut server_out = FrameCompressor::new();
    let batch = CommSyncDl {
        status: ok(),
        metas: vec![text_meta(21, "bob", "squeezed")],
        ..Default::default()
    };
    s.on_frame(&server_out.compress(&dl(batch)), now)
        .expect("lz4 frame");
    assert!(events(&drain(&mut s))
        .iter()
        .any(|e| matches!(e, SessionEvent::Message(m) if m.id == 21)));
}

#[test]
fn garbage_frames_are_reported_not_fatal() {
    let (mut s, now) = logged_in();
    assert!(s.on_frame(&[0xff, 0xff, 0xff], now).is_err());
    assert!(s.is_ready());
    let bad_payload = server_frame(m_sync::Command::Sync, vec![0x0a, 0xff]);
    assert!(s.on_frame(&bad_payload, now).is_err());
    assert!(s.is_ready());
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
        let (mut s, now) = logged_in();
        for f in &frames {
            let _ = s.on_frame(f, now);
            drain(&mut s);
        }
    }

    #[test]
    fn arbitrary_payloads_under_valid_envelopes_never_panic(cmd in 0i32..6, payload in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (mut s, now) = logged_in();
        let frame = MSync { command: Some(cmd), payload: Some(payload), ..Default::default() }.encode_to_vec();
        let _ = s.on_frame(&frame, now);
        drain(&mut s);
    }

    #[test]
    fn arbitrary_message_bodies_decode_without_panic(body in proptest::collection::vec(any::<u8>(), 0..400), ns in 0i32..8) {
        let meta = Meta { id: Some(1), ns: Some(ns), payload: Some(body), ..Default::default() };
        let _ = crate::network::easemob::events::decode_meta(&meta);
    }
}
