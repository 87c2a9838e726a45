//! Per-message read receipts in a Tencent Work group, end to end: real Synapse, the bridge
//! binary, the Tencent sandbox in this process. bob (on the IM side) sends a message asking
//! for receipts; alice's Matrix read receipt on it reaches bob as her per-message receipt
//! (besides her read marker). alice's Matrix message goes out asking for receipts (the
//! bridge's choice for groups); bob's receipt for it shows in Matrix as his ghost's read
//! receipt on that event. A message that asked for none gets no receipt from the bridge. A
//! message bridged before a bridge restart and read in Matrix after it gets its receipt (the
//! restart's catch-up reads the group's newest messages again, which tells the connector
//! again that it asked; older ones take the connector's fallback, unit-tested in
//! `connector/receipts.rs`).

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::tail;
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::receipts::{group_receipt_request, ReceiptNotice};
use imbridge::network::tencent::session::{GroupMessage, SessionEvent};

const BOB_GHOST: &str = "@tencent_bob:localhost";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_group_receipts_both_ways_on_synapse() {
    let t0 = Instant::now();
    let (bed, mut bridge) = TencentBed::start("tencent-receipts", &["alice", "bob"]).await;
    let sb = bed.sb.clone();
    let log = bed.log.clone();
    let gid = sb
        .create_group("Work", "", "Team", "bob", &["alice".to_owned()])
        .expect("group");
    let mut mx1 = bed.matrix_user("mx1", "mxpw-Rc41-matrix-secret");
    let (bob, mut events) = bed.im_client("bob", |c| c.group_read_receipts = true).await;
    let msgs: Arc<Mutex<Vec<GroupMessage>>> = Arc::default();
    let receipts: Arc<Mutex<Vec<ReceiptNotice>>> = Arc::default();
    let (out_msgs, out_receipts) = (msgs.clone(), receipts.clone());
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                SessionEvent::GroupMessage(m) => {
                    if let Ok(mut v) = out_msgs.lock() {
                        v.push(m);
                    }
                }
                SessionEvent::ReadReceipts(r) => {
                    if let Ok(mut v) = out_receipts.lock() {
                        v.push(r);
                    }
                }
                _ => {}
            }
        }
    });
    let mgmt1 = bed.login(&mut mx1, "alice").await;
    say!(t0, "Synapse, the bridge and alice's login up");

    // IM → Matrix: bob's message asks for receipts; alice reads it in Matrix.
    // A message that asks for none (sent as a bare `send_group_msg`).
    let plain = bob
        .call(
            imbridge::network::tencent::wire::servcmd::SEND_GROUP_MSG,
            serde_json::json!({"GroupId": gid, "Random": 4711,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "no receipt wanted"}}]}),
        )
        .await
        .expect("bob sends");
    let plain_seq = plain["MsgSeq"].as_u64().expect("MsgSeq");
    let room = mx1.accept_new_invite(std::slice::from_ref(&mgmt1)).await;
    mx1.wait_body(&room, |b| b == "no receipt wanted").await;
    // bob's session asks for receipts on its group sends (`group_read_receipts`).
    let asked = bob
        .send_group(&gid, vec![Elem::text("please ack")], vec![])
        .await
        .expect("bob sends");
    let seq = u64::from(asked.msg_seq);
    mx1.wait_body(&room, |b| b == "please ack").await;
    let event = mx1.event_id_of(&room, "please ack").await;
    mx1.send_read_receipt(&room, &event).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = receipts.lock().map(|v| v.clone()).unwrap_or_default();
        let hit = got.iter().any(|r| {
            matches!(r, ReceiptNotice::Group { group_id, reader, messages }
                if *group_id == gid && reader.as_deref() == Some("alice")
                    && messages.iter().any(|m| m.seq == Some(seq)))
        });
        if hit {
            // Only the message that asked: never the earlier plain one.
            assert!(
                !got.iter()
                    .any(|r| matches!(r, ReceiptNotice::Group { messages, .. }
                    if messages.iter().any(|m| m.seq == Some(plain_seq)))),
                "{got:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob heard no receipt from alice: {got:?}\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(
        t0,
        "alice's Matrix read receipt reached bob as her per-message receipt"
    );

    // Matrix → IM: alice's message asks for receipts; bob's receipt is his ghost's.
    let mine = mx1.send_text(&room, "did bob read this").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let found = msgs
            .lock()
            .ok()
            .and_then(|v| v.iter().find(|m| m.text() == "did bob read this").cloned());
        if let Some(m) = found {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "bob got nothing\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        m.need_receipt,
        "the bridge's group message asks for receipts"
    );
    let (cmd, body) = group_receipt_request(&gid, &[m.seq]);
    bob.call(cmd, body).await.expect("bob's receipt");
    mx1.wait_read_receipt(&room, BOB_GHOST, &mine).await;
    say!(t0, "bob's receipt is his ghost's Matrix read receipt");

    // A message bridged before a restart, read after it: its receipt still goes out.
    let before = bob
        .send_group(&gid, vec![Elem::text("ack me after the restart")], vec![])
        .await
        .expect("bob sends");
    let before_seq = u64::from(before.msg_seq);
    mx1.wait_body(&room, |b| b == "ack me after the restart")
        .await;
    let before_event = mx1.event_id_of(&room, "ack me after the restart").await;
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    let mut bridge = bed.restart();
    mx1.send_read_receipt(&room, &before_event).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = receipts.lock().map(|v| v.clone()).unwrap_or_default();
        if got.iter().any(|r| {
            matches!(r, ReceiptNotice::Group { reader, messages, .. }
                if reader.as_deref() == Some("alice")
                    && messages.iter().any(|m| m.seq == Some(before_seq)))
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no receipt for a message bridged before the restart: {got:?}\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(
        t0,
        "a message bridged before a restart gets its receipt after it"
    );
    bridge.stop();
}
