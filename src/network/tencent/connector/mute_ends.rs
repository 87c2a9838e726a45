//! Timed member mutes, which end on Tencent without a tip: a member muted for some seconds
//! (`ShutupTime` of the member-info tip, `OpType` 7) may speak again once they have passed,
//! and nothing tells the group. This module tells the core instead: the connector's event
//! loop keeps each running timed mute's end ([`MuteEnds`]), wakes at the earliest, and sends
//! the unmute ([`ChatInfoChange::muted_removed`]) unless a later tip changed that member's
//! mute first. A mute "for good" (`ShutupTime` 4294967295, the value the REST
//! `forbid_send_msg` docs give) has no end.
//!
//! The ends live with the session's event loop, so nothing outlives a logout; a mute that
//! ends while the bridge is stopped is unmuted only when its tip comes again with the
//! catch-up (then already over, see [`super::groups::translate_tip`]).

use std::collections::HashMap;

use crate::core::connector::{ChatId, ChatInfoChange, RemoteEvent};
use crate::network::tencent::session::group_admin::MUTED_FOR_GOOD;
use crate::network::tencent::session::group_wire::{GroupTip, GroupTipKind};

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

/// The running timed mutes' ends (unix seconds) by `(group id, member)`, owned by the
/// connector's event loop.
#[derive(Debug, Default)]
pub struct MuteEnds {
    ends: HashMap<(String, String), u64>,
}

impl MuteEnds {
    /// Notes the mutes tip `t` sets (nothing for other tips): a timed mute that ends after
    /// `now` (unix seconds) is kept, any other change of a member's mute forgets theirs.
    pub fn note(&mut self, t: &GroupTip, now: u64) {
        if t.kind != GroupTipKind::MemberInfoChanged {
            return;
        }
        for (user, secs) in &t.mute_times {
            let key = (t.group_id.clone(), user.clone());
            match mute_end(told_at(t, now), *secs).filter(|end| *end > now) {
                Some(end) => self.ends.insert(key, end),
                None => self.ends.remove(&key),
            };
        }
    }

    /// The earliest end kept, unix seconds; `None` when no timed mute runs.
    pub fn next_end(&self) -> Option<u64> {
        self.ends.values().copied().min()
    }

    /// The unmutes of the mutes over at `now` (unix seconds), which are forgotten; one event
    /// per group.
    pub fn due(&mut self, now: u64) -> Vec<RemoteEvent> {
        let mut over: Vec<(String, String)> = self
            .ends
            .iter()
            .filter(|(_, end)| **end <= now)
            .map(|(key, _)| key.clone())
            .collect();
        over.sort();
        let mut by_group: Vec<(String, Vec<String>)> = Vec::new();
        for key in over {
            self.ends.remove(&key);
            let (group, user) = key;
            match by_group.last_mut() {
                Some((g, users)) if *g == group => users.push(user),
                _ => by_group.push((group, vec![user])),
            }
        }
        by_group
            .into_iter()
            .map(|(group, users)| RemoteEvent::ChatInfoChange {
                chat: ChatId::group(group),
                sender: None,
                change: Box::new(ChatInfoChange {
                    muted_removed: users,
                    ..ChatInfoChange::default()
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mute_tip(group: &str, user: &str, secs: u64, time: u64) -> GroupTip {
        GroupTip {
            group_id: group.into(),
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

    #[test]
    fn a_timed_mute_is_lifted_at_its_end_unless_changed_before() {
        let mut ends = MuteEnds::default();
        ends.note(&mute_tip("g", "bob", 60, 1_000), 1_000);
        ends.note(&mute_tip("g", "erin", 60, 1_000), 1_000);
        ends.note(&mute_tip("h", "frank", 90, 1_000), 1_000);
        ends.note(&mute_tip("g", "carol", 30, 1_000), 1_000);
        // carol is unmuted by hand first: her end is forgotten.
        ends.note(&mute_tip("g", "carol", 0, 1_010), 1_010);
        // dave's mute is over already (a tip from the catch-up), gus's has no end.
        ends.note(&mute_tip("g", "dave", 10, 900), 1_000);
        ends.note(&mute_tip("g", "gus", MUTED_FOR_GOOD, 1_000), 1_000);
        assert_eq!(ends.next_end(), Some(1_060));
        assert!(ends.due(1_059).is_empty());
        let due = ends.due(1_060);
        let [RemoteEvent::ChatInfoChange { chat, change, .. }] = due.as_slice() else {
            panic!("one unmute for group g: {due:?}");
        };
        assert_eq!(*chat, ChatId::group("g"));
        assert_eq!(change.muted_removed, ["bob", "erin"]);
        assert_eq!(ends.next_end(), Some(1_090));
        assert_eq!(ends.due(2_000).len(), 1, "frank's");
        assert_eq!(ends.next_end(), None);
    }
}
