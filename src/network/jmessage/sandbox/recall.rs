//! The sandbox's recall: the ledger of sent messages (author, time, receivers, who has not
//! read them yet) and `msg_retract` (author only, within [`wire::RETRACT_WINDOW_MS`]; event
//! 55 to the receivers; the message leaves the offline hand-over).

use serde_json::json;

use super::groups::{refusal, Sent};
use super::state::{now_ms, Refusal, Sandbox};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{self, code, event_type, PushedMessage};

/// How many sent messages the ledger keeps for recall.
const LEDGER_CAPACITY: usize = 100_000;

/// Records a sent message for recall (called for single messages by the state, after its
/// lock is released).
pub(super) fn record_sent(sandbox: &Sandbox, msg: &PushedMessage, receivers: Vec<String>) {
    let mut book = sandbox.book.lock().unwrap_or_else(|p| p.into_inner());
    if book.sent.len() >= LEDGER_CAPACITY {
        // Drop the oldest (smallest ids) half; recall is only possible for a few minutes.
        let mut ids: Vec<i64> = book.sent.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids[..ids.len() / 2] {
            book.sent.remove(id);
        }
    }
    // The author as this app names them (a member of another app sends into our groups).
    let from = sandbox.name_of(
        &msg.content.from_id,
        msg.content
            .from_appkey
            .as_deref()
            .unwrap_or(&sandbox.cfg.app_key),
    );
    book.sent.insert(
        msg.msg_id,
        Sent {
            from,
            ctime_ms: msg.ctime_ms,
            gid: msg.from_gid,
            unread: receivers.clone(),
            receivers,
            content: Some(msg.content.clone()),
        },
    );
}

impl Sandbox {
    /// Retracts `msg_id` for its author `by`: only the author, within
    /// [`wire::RETRACT_WINDOW_MS`] of the send; the receivers get event 55 and the message is
    /// no longer handed over offline.
    pub fn retract(&self, by: &str, msg_id: i64) -> Result<(), Refusal> {
        self.retract_at(by, msg_id, now_ms())
    }

    /// [`Sandbox::retract`] as if the clock read `now` (tests of the window).
    pub fn retract_at(&self, by: &str, msg_id: i64, now: i64) -> Result<(), Refusal> {
        let sent = {
            let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            let sent = book
                .sent
                .get(&msg_id)
                .filter(|s| s.from == by)
                .cloned()
                .ok_or_else(|| refusal(code::RETRACT_REFUSED, "message not exist"))?;
            if now - sent.ctime_ms > wire::RETRACT_WINDOW_MS {
                return Err(refusal(
                    code::RETRACT_TOO_LATE,
                    "out of retract message time, the effective time is within 3 minutes",
                ));
            }
            book.sent.remove(&msg_id);
            sent
        };
        self.forget(msg_id);
        let note = json!({
            "event_id": self.next_id(),
            "event_type": event_type::MSG_RETRACTED,
            "from_username": across::split(by, &self.cfg.app_key).0,
            "from_appkey": across::split(by, &self.cfg.app_key).1,
            "gid": sent.gid,
            "from_gid": sent.gid,
            "msg_ids": [msg_id],
            "ctime_ms": now,
            "description": "",
        });
        self.notify(&sent.receivers, &note);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::network::jmessage::wire::Content;

    fn text(t: &str) -> Content {
        serde_json::from_value(json!({"target_type":"group","target_id":"0","from_id":"x",
            "msg_type":"text","msg_body":{"text": t}}))
        .unwrap()
    }

    fn sandbox() -> Sandbox {
        Sandbox::with_users_for_tests(&["alice", "bob", "carol"])
    }

    #[test]
    fn retract_is_for_the_author_within_the_window() {
        let sb = sandbox();
        let gid = sb.create_group("alice", "team", "").unwrap();
        sb.add_group_members("alice", gid, &["bob".into()]).unwrap();
        let (id, at) = sb.send_group("alice", gid, text("oops")).unwrap();
        assert_eq!(
            sb.retract("bob", id).unwrap_err().code,
            code::RETRACT_REFUSED
        );
        assert_eq!(
            sb.retract_at("alice", id, at + wire::RETRACT_WINDOW_MS + 1)
                .unwrap_err()
                .code,
            code::RETRACT_TOO_LATE
        );
        sb.retract("alice", id).unwrap();
        // Gone from bob's offline hand-over, and not retractable twice.
        assert!(sb.pending_conversations("bob").1.is_empty());
        assert_eq!(
            sb.retract("alice", id).unwrap_err().code,
            code::RETRACT_REFUSED
        );
    }
}
