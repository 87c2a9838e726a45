//! JMessage group events → core: members added, removed or leaving become
//! [`RemoteEvent::ChatInfoChange`] on `ChatId::group(<gid>)`, a name/description change
//! carries the group's fresh info, and the logged-in user's own removal or exit becomes
//! [`RemoteEvent::ChatDelete`] (as the Tencent connector does). Also retractions (event 55),
//! which name a group or, in single chat, only the author.

use crate::core::connector::{ChatId, ChatInfoChange, RemoteEvent};
use crate::network::jmessage::session::{GroupEvent, GroupEventKind, GroupInfo, Retraction};

/// One group event seen by the logged-in user `own`; `fresh` is the group's info read after an
/// `InfoUpdated` event (the notification itself names at most the new name). `None` for events
/// with nothing to bridge (the creator's own `Created`: the portal opens from `sync` or the
/// first message).
pub fn translate_group_event(
    own: &str,
    e: &GroupEvent,
    fresh: Option<&GroupInfo>,
) -> Option<RemoteEvent> {
    let chat = ChatId::group(e.gid.to_string());
    let mut change = ChatInfoChange::default();
    match e.kind {
        GroupEventKind::Created => return None,
        GroupEventKind::MembersAdded => change.members_added = e.to_usernames.clone(),
        GroupEventKind::MembersRemoved => {
            if e.to_usernames.iter().any(|u| u == own) {
                return Some(RemoteEvent::ChatDelete { chat });
            }
            change.members_removed = e.to_usernames.clone();
        }
        GroupEventKind::Exited => {
            if e.from_username == own {
                return Some(RemoteEvent::ChatDelete { chat });
            }
            change.members_removed = vec![e.from_username.clone()];
        }
        GroupEventKind::InfoUpdated => match fresh {
            Some(info) => {
                change.name = Some(info.name.clone()).filter(|n| !n.is_empty());
                change.topic = Some(info.description.clone());
            }
            None => change.name = e.group_name.clone().filter(|n| !n.is_empty()),
        },
    }
    if change == ChatInfoChange::default() {
        return None;
    }
    Some(RemoteEvent::ChatInfoChange {
        chat,
        sender: Some(e.from_username.clone()).filter(|s| !s.is_empty()),
        change: Box::new(change),
    })
}

/// A retraction seen by `own`: one [`RemoteEvent::Remove`] per retracted message. In single
/// chat the event names only the author, so the user's own retraction from another device
/// (whose peer it does not name) is not bridged: empty.
pub fn translate_retraction(own: &str, r: &Retraction) -> Vec<RemoteEvent> {
    let chat = match r.gid {
        Some(gid) => ChatId::group(gid.to_string()),
        None if r.from_username != own && !r.from_username.is_empty() => {
            ChatId::direct(r.from_username.clone())
        }
        None => return Vec::new(),
    };
    r.msg_ids
        .iter()
        .map(|id| RemoteEvent::Remove {
            chat: chat.clone(),
            sender: r.from_username.clone(),
            target: id.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: GroupEventKind, from: &str, to: &[&str]) -> GroupEvent {
        GroupEvent {
            kind,
            event_id: 7,
            gid: 10001,
            from_username: from.into(),
            to_usernames: to.iter().map(|s| s.to_string()).collect(),
            group_name: None,
            ctime_ms: 1,
        }
    }

    #[test]
    fn members_join_and_leave() {
        let Some(RemoteEvent::ChatInfoChange {
            chat,
            sender,
            change,
        }) = translate_group_event(
            "alice",
            &event(GroupEventKind::MembersAdded, "bob", &["carol"]),
            None,
        )
        else {
            panic!("a change");
        };
        assert_eq!(chat, ChatId::group("10001"));
        assert_eq!(sender.as_deref(), Some("bob"));
        assert_eq!(change.members_added, vec!["carol".to_string()]);
        let Some(RemoteEvent::ChatInfoChange { change, .. }) =
            translate_group_event("alice", &event(GroupEventKind::Exited, "carol", &[]), None)
        else {
            panic!("a change");
        };
        assert_eq!(change.members_removed, vec!["carol".to_string()]);
        let Some(RemoteEvent::ChatInfoChange { change, .. }) = translate_group_event(
            "alice",
            &event(GroupEventKind::MembersRemoved, "bob", &["carol"]),
            None,
        ) else {
            panic!("a change");
        };
        assert_eq!(change.members_removed, vec!["carol".to_string()]);
    }

    #[test]
    fn own_removal_or_exit_deletes_the_chat() {
        for e in [
            event(GroupEventKind::MembersRemoved, "bob", &["alice"]),
            event(GroupEventKind::Exited, "alice", &[]),
        ] {
            assert!(matches!(
                translate_group_event("alice", &e, None),
                Some(RemoteEvent::ChatDelete { .. })
            ));
        }
        assert!(translate_group_event(
            "alice",
            &event(GroupEventKind::Created, "alice", &[]),
            None
        )
        .is_none());
    }

    #[test]
    fn retractions_remove_in_the_right_chat() {
        let r = |from: &str, gid: Option<i64>| Retraction {
            event_id: 1,
            from_username: from.into(),
            gid,
            msg_ids: vec![42, 43],
            ctime_ms: 1,
        };
        let out = translate_retraction("alice", &r("bob", None));
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], RemoteEvent::Remove { chat, sender, target }
            if *chat == ChatId::direct("bob") && sender == "bob" && target == "42")
        );
        let out = translate_retraction("alice", &r("alice", Some(10001)));
        assert!(matches!(&out[1], RemoteEvent::Remove { chat, target, .. }
            if *chat == ChatId::group("10001") && target == "43"));
        assert!(translate_retraction("alice", &r("alice", None)).is_empty());
    }

    #[test]
    fn info_updates_carry_the_fresh_name_and_topic() {
        let info = GroupInfo {
            gid: 10001,
            name: "New name".into(),
            description: "New topic".into(),
            owner: Some("bob".into()),
            mtime: 0,
        };
        let Some(RemoteEvent::ChatInfoChange { change, .. }) = translate_group_event(
            "alice",
            &event(GroupEventKind::InfoUpdated, "bob", &[]),
            Some(&info),
        ) else {
            panic!("a change");
        };
        assert_eq!(change.name.as_deref(), Some("New name"));
        assert_eq!(change.topic.as_deref(), Some("New topic"));
    }
}
