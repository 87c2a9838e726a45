//! JMessage group events → core: members added, removed or leaving become
//! [`RemoteEvent::ChatInfoChange`] on `ChatId::group(<gid>)`, a name/description change
//! carries the group's fresh info, and the logged-in user's own removal or exit becomes
//! [`RemoteEvent::ChatDelete`] (as the Tencent connector does).

use crate::core::connector::{ChatId, ChatInfoChange, RemoteEvent};
use crate::network::jmessage::session::{GroupEvent, GroupEventKind, GroupInfo};

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
