//! Timed member mutes, which end on Tencent without a tip: a member muted for some seconds
//! (`ShutupTime` of the member-info tip, `OpType` 7) may speak again once they have passed,
//! and nothing tells the group. This module tells the core instead: at the mute's end, if no
//! later tip changed that member's mute, it sends the unmute
//! ([`ChatInfoChange::muted_removed`]). A mute "for good" (`ShutupTime` 4294967295, the
//! value the REST `forbid_send_msg` docs give) has no end.
//!
//! The timers live for the session: a mute that ends while the bridge is stopped is
//! unmuted only when its tip comes again with the catch-up (then already over, see
//! [`super::groups::translate_tip`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::connector::{ChatId, ChatInfoChange, RemoteEvent, RemoteEventSender};
use crate::network::tencent::session::group_admin::MUTED_FOR_GOOD;
use crate::network::tencent::session::group_wire::{GroupTip, GroupTipKind};

/// When each running timed mute ends (unix seconds), by `(group id, member)`.
#[derive(Clone, Default)]
pub struct MuteEnds {
    ends: Arc<Mutex<HashMap<(String, String), u64>>>,
}

/// When a mute of `secs` seconds told at `time` (unix seconds) ends; `None` for none
/// (unmuted, 0) or no end ([`MUTED_FOR_GOOD`]).
pub fn mute_end(time: u64, secs: u64) -> Option<u64> {
    (secs != 0 && secs < MUTED_FOR_GOOD).then(|| time.saturating_add(secs))
}

/// When tip `t` was told: its `MsgTimeStamp`, or `now` when it has none.
pub fn told_at(t: &GroupTip, now: u64) -> u64 {
    if t.time == 0 {
        now
    } else {
        t.time
    }
}

impl MuteEnds {
    /// Notes the mutes tip `t` sets (nothing for other tips) and, for each that ends after
    /// `now` (unix seconds), sends the member's unmute on `out` at its end unless a later
    /// tip changed their mute first.
    pub fn note(&self, t: &GroupTip, now: u64, out: &RemoteEventSender) {
        if t.kind != GroupTipKind::MemberInfoChanged {
            return;
        }
        for (user, secs) in &t.mute_times {
            let key = (t.group_id.clone(), user.clone());
            let end = mute_end(told_at(t, now), *secs).filter(|end| *end > now);
            let Ok(mut ends) = self.ends.lock() else {
                return;
            };
            match end {
                Some(end) => ends.insert(key.clone(), end),
                None => ends.remove(&key),
            };
            drop(ends);
            if let Some(end) = end {
                self.unmute_at(key, end, end - now, out.clone());
            }
        }
    }

    fn unmute_at(&self, key: (String, String), end: u64, wait: u64, out: RemoteEventSender) {
        let ends = self.ends.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let due = match ends.lock() {
                Ok(mut ends) if ends.get(&key) == Some(&end) => ends.remove(&key).is_some(),
                _ => false,
            };
            if !due {
                return; // changed since, or the lock poisoned: the next tip decides
            }
            let (group, user) = key;
            let change = ChatInfoChange {
                muted_removed: vec![user],
                ..ChatInfoChange::default()
            };
            let _ = out
                .send(RemoteEvent::ChatInfoChange {
                    chat: ChatId::group(group),
                    sender: None,
                    change: Box::new(change),
                })
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event_channel::boxed_channel;

    fn mute_tip(user: &str, secs: u64, time: u64) -> GroupTip {
        GroupTip {
            group_id: "g".into(),
            kind: GroupTipKind::MemberInfoChanged,
            operator: "alice".into(),
            users: vec![user.into()],
            member_num: None,
            profile: Default::default(),
            mute_times: vec![(user.into(), secs)],
            time,
            seq: 1,
        }
    }

    #[test]
    fn ends_of_timed_mutes_only() {
        assert_eq!(mute_end(100, 60), Some(160));
        assert_eq!(mute_end(100, 0), None);
        assert_eq!(mute_end(100, MUTED_FOR_GOOD), None);
        assert_eq!(mute_end(u64::MAX, 5), Some(u64::MAX));
    }

    /// Real time: mutes are counted in whole seconds, so this waits about one.
    #[tokio::test]
    async fn a_timed_mute_is_lifted_at_its_end_unless_changed_before() {
        let (tx, mut rx) = boxed_channel(8);
        let ends = MuteEnds::default();
        let now = crate::network::tencent::client::unix_now();
        ends.note(&mute_tip("bob", 1, now), now, &tx);
        ends.note(&mute_tip("carol", 1, now), now, &tx);
        // carol is unmuted by hand first: her timer finds the change and says nothing.
        ends.note(&mute_tip("carol", 0, now), now, &tx);
        // dave's mute is over already (a tip from the catch-up): no timer.
        ends.note(&mute_tip("dave", 10, now - 100), now, &tx);
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let Ok(Some(RemoteEvent::ChatInfoChange { chat, change, .. })) = first else {
            panic!("bob's unmute");
        };
        assert_eq!(chat, ChatId::group("g"));
        assert_eq!(change.muted_removed, vec!["bob".to_owned()]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err(), "nothing else");
    }
}
