//! The Tencent side of the group test: an IM user's client whose group messages, notices,
//! edits and reaction pushes are collected for the test to wait on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::bridge::tail;
use crate::common::tencent_bed::TencentBed;
use imbridge::network::tencent::client::Client;
use imbridge::network::tencent::session::reactions::ReactionNotice;
use imbridge::network::tencent::session::{GroupAt, GroupMessage, GroupNotice, SessionEvent};

pub type Got = Arc<Mutex<Vec<(String, String, Vec<GroupAt>)>>>;
pub type Notices = Arc<Mutex<Vec<GroupNotice>>>;
/// Group edits heard: `(MsgSeq, text now, MsgVersion)`.
pub type Edits = Arc<Mutex<Vec<(u64, String, u64)>>>;
/// Reaction pushes heard.
pub type Reacts = Arc<Mutex<Vec<ReactionNotice>>>;
/// Group messages received, whole.
pub type Msgs = Arc<Mutex<Vec<GroupMessage>>>;

/// `user` on the Tencent side: a client whose received group texts are collected as
/// `(from, text, mentions)`, and its group notices (recalls, read markers).
pub async fn im_user(bed: &TencentBed, user: &str) -> (Client, Got, Notices, Edits, Reacts, Msgs) {
    let (client, mut events) = bed.im_client(user, |_| {}).await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let msgs = Msgs::default();
    let out_msgs = msgs.clone();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let edits = Arc::new(Mutex::new(Vec::new()));
    let reacts = Reacts::default();
    let (out, out_notices, out_edits) = (got.clone(), notices.clone(), edits.clone());
    let out_reacts = reacts.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                SessionEvent::GroupMessage(m) => {
                    if let Ok(mut v) = out.lock() {
                        v.push((m.from.clone(), m.text(), m.mentions.clone()));
                    }
                    if let Ok(mut v) = out_msgs.lock() {
                        v.push(m);
                    }
                }
                SessionEvent::GroupNotice(n) => {
                    if let Ok(mut v) = out_notices.lock() {
                        v.push(n);
                    }
                }
                SessionEvent::GroupModified(m) => {
                    if let Ok(mut v) = out_edits.lock() {
                        let text = m
                            .elems
                            .iter()
                            .filter_map(|e| match e {
                                imbridge::network::tencent::elem::Elem::Text(t) => {
                                    Some(t.text.as_str())
                                }
                                _ => None,
                            })
                            .collect();
                        v.push((m.seq, text, m.version));
                    }
                }
                SessionEvent::Reactions(r) => {
                    if let Ok(mut v) = out_reacts.lock() {
                        v.push(r);
                    }
                }
                _ => {}
            }
        }
    });
    (client, got, notices, edits, reacts, msgs)
}

/// Waits (20 s at most) until `notices` holds `want`.
pub async fn wait_notice(notices: &Notices, want: &GroupNotice, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !notices.lock().map(|v| v.contains(want)).unwrap_or(false) {
        assert!(Instant::now() < deadline, "no {want:?}\n{}", tail(log, 40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
