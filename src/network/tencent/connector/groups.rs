//! Tencent groups on the core's contract: a joined Work/Public/Meeting group is a group chat
//! ([`ChatKind::Group`], id = `GroupId`); its info comes from `get_group_info`, its messages
//! both ways with @-mentions (`GroupAtInfo` ↔ [`MessageContent::Text`] `mentions` /
//! `mentions_room`), and its tips become [`RemoteEvent::ChatInfoChange`] (members joined,
//! left, removed, admins, name / introduction → topic / notification → announcement /
//! avatar), or [`RemoteEvent::ChatDelete`] when the logged-in user is the one removed.

use serde_json::{json, Value};

use super::incoming::content_of;
use super::{outgoing_elems, send_failure};
use crate::core::connector::{
    ChatId, ChatInfo, ChatInfoChange, MessageContent, RemoteEvent, RemoteMessage, SendFailure,
};
use crate::network::tencent::client::Client;
use crate::network::tencent::session::{
    GroupAt, GroupMessage, GroupTip, GroupTipKind, SendReceipt,
};
use crate::network::tencent::wire::servcmd;

/// How many of a group's newest messages a login fetches for a group it has no cursor for
/// (after a bridge restart): the core drops those it bridged already, so messages sent while
/// the bridge was down are not lost, up to this many per group.
pub const CATCH_UP_PER_GROUP: u64 = 50;

/// The network id of a group message: `GroupId` and `MsgSeq` (unique per group).
pub fn group_message_id(group_id: &str, seq: u64) -> String {
    format!("{group_id}#{seq}")
}

/// One group message, seen by the logged-in user `own`.
pub fn translate_group_message(own: &str, m: &GroupMessage) -> RemoteMessage {
    let mut content = content_of(&m.elems);
    if let MessageContent::Text {
        mentions,
        mentions_room,
        ..
    } = &mut content
    {
        for at in &m.mentions {
            match at {
                GroupAt::All => *mentions_room = true,
                GroupAt::User(u) => mentions.push(u.clone()),
            }
        }
    }
    RemoteMessage {
        id: group_message_id(&m.group_id, m.seq),
        chat: ChatId::group(m.group_id.clone()),
        sender: m.from.clone(),
        from_self: m.from == own,
        timestamp_ms: m.time.saturating_mul(1000),
        content,
        reply_to: None,
        thread_root: None,
        droppable: false,
        edit_count: m.version,
        alt_id: None,
        extra: Default::default(),
    }
}

/// The events a group message becomes: the message, and for an edited one read by the
/// catch-up ([`GroupMessage::offline`], `MsgVersion` above 0) its edit as well, numbered by
/// its version. The core drops whichever of the two Matrix has already (the message bridged
/// before, or its edit), so an edit made while the bridge was away reaches Matrix once, and a
/// message first seen edited is bridged with its new text and no edit event.
pub fn translate_group_events(own: &str, m: &GroupMessage) -> Vec<RemoteEvent> {
    let message = translate_group_message(own, m);
    let edit = (m.offline && m.version > 0).then(|| RemoteEvent::Edit {
        chat: message.chat.clone(),
        sender: message.sender.clone(),
        target: message.id.clone(),
        content: message.content.clone(),
        timestamp_ms: message.timestamp_ms,
        edit_count: Some(m.version),
    });
    std::iter::once(RemoteEvent::Message(message))
        .chain(edit)
        .collect()
}

/// The event a tip becomes for the logged-in user `own` at `now` (unix seconds); `None` for
/// tips not bridged. A mute already over at `now` (a tip the catch-up brought again) is an
/// unmute.
pub fn translate_tip(own: &str, t: &GroupTip, now: u64) -> Option<RemoteEvent> {
    let chat = ChatId::group(t.group_id.clone());
    let mut change = ChatInfoChange::default();
    match t.kind {
        GroupTipKind::MemberJoined => change.members_added = t.users.clone(),
        GroupTipKind::MemberQuit | GroupTipKind::MemberKicked => {
            if t.users.iter().any(|u| u == own) {
                return Some(RemoteEvent::ChatDelete { chat });
            }
            change.members_removed = t.users.clone();
        }
        GroupTipKind::AdminSet => change.admins_added = t.users.clone(),
        GroupTipKind::AdminCancelled => change.admins_removed = t.users.clone(),
        GroupTipKind::ProfileChanged => {
            change.name = t.profile.name.clone();
            change.topic = t.profile.introduction.clone();
            change.announcement = t.profile.notification.clone();
            change.avatar_url = t.profile.face_url.clone();
        }
        // A member muted for some seconds (`ShutupTime`), or unmuted (0).
        GroupTipKind::MemberInfoChanged => {
            for (user, secs) in &t.mute_times {
                let told = super::mute_ends::told_at(t, now);
                let over = *secs == 0
                    || super::mute_ends::mute_end(told, *secs).is_some_and(|end| end <= now);
                match over {
                    true => change.muted_removed.push(user.clone()),
                    false => change.muted_added.push(user.clone()),
                }
            }
        }
        GroupTipKind::Other(_) => return None,
    }
    if change == ChatInfoChange::default() {
        return None;
    }
    Some(RemoteEvent::ChatInfoChange {
        chat,
        sender: Some(t.operator.clone()).filter(|o| !o.is_empty()),
        change: Box::new(change),
    })
}

/// Sends `content` to group `group_id`; the message's network id.
pub async fn send(
    client: &Client,
    group_id: &str,
    content: &MessageContent,
    cloud_custom_data: String,
) -> Result<SendReceipt, SendFailure> {
    let mentions = match content {
        MessageContent::Text {
            mentions,
            mentions_room,
            ..
        } => {
            let mut at: Vec<GroupAt> = mentions.iter().cloned().map(GroupAt::User).collect();
            if *mentions_room {
                at.insert(0, GroupAt::All);
            }
            at
        }
        _ => Vec::new(),
    };
    client
        .send_group_with(
            group_id,
            outgoing_elems(content),
            mentions,
            cloud_custom_data,
        )
        .await
        .map_err(send_failure)
}

/// A group's info (`get_group_info` with its member list).
pub async fn chat_info(client: &Client, group_id: &str) -> Result<ChatInfo, SendFailure> {
    let reply = client
        .call(
            "group_open_http_svc.get_group_info",
            json!({"GroupIdList": [group_id]}),
        )
        .await
        .map_err(send_failure)?;
    let info = reply
        .get("GroupInfo")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .ok_or_else(|| SendFailure::Permanent("get_group_info: no GroupInfo".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    info_of(info, now)
}

/// A `GroupInfo` item read at `now` (unix seconds): members muted are those whose
/// `ShutUpUntil` (unix seconds, the REST `get_group_info` member field) is still ahead, so a
/// timed mute that ended while the bridge was away is not shown again.
fn info_of(info: &Value, now: u64) -> Result<ChatInfo, SendFailure> {
    let code = info.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0);
    if code != 0 {
        return Err(SendFailure::Permanent(format!(
            "Tencent Cloud Chat: group info refused (error {code})"
        )));
    }
    let s = |k: &str| {
        info.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let list = info
        .get("MemberList")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let members: Vec<(String, String)> = list
        .iter()
        .filter_map(|m| {
            let account = m.get("Member_Account").and_then(Value::as_str)?;
            let role = m.get("Role").and_then(Value::as_str).unwrap_or("Member");
            Some((account.to_owned(), role.to_owned()))
        })
        .collect();
    let muted: Vec<String> = list
        .iter()
        .filter(|m| m.get("ShutUpUntil").and_then(Value::as_u64).unwrap_or(0) > now)
        .filter_map(|m| m.get("Member_Account").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    Ok(ChatInfo {
        name: s("Name"),
        topic: s("Introduction"),
        avatar_url: s("FaceUrl"),
        members: members.iter().map(|(a, _)| a.clone()).collect(),
        admins: members
            .iter()
            .filter(|(_, r)| r == "Admin")
            .map(|(a, _)| a.clone())
            .collect(),
        owner: s("Owner_Account"),
        muted,
        // A Community with topics holds its topics' rooms: it is a space.
        is_space: info.get("SupportTopic").and_then(Value::as_u64) == Some(1),
        ..ChatInfo::default()
    })
}

/// The joined groups (`get_joined_group_list`), as group chats.
pub async fn joined(client: &Client, own: &str) -> Result<Vec<ChatId>, SendFailure> {
    let reply = client
        .call(
            servcmd::GET_JOINED_GROUP_LIST,
            json!({"Member_Account": own, "Limit": 1000, "Offset": 0}),
        )
        .await
        .map_err(send_failure)?;
    Ok(reply
        .get("GroupIdList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|g| g.get("Type").and_then(Value::as_str) != Some("AVChatRoom"))
        .filter_map(|g| g.get("GroupId").and_then(Value::as_str))
        .map(ChatId::group)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::Elem;
    use crate::network::tencent::session::GroupProfile;

    #[test]
    fn mentions_map_both_ways() {
        let m = GroupMessage {
            group_id: "g".into(),
            from: "bob".into(),
            seq: 3,
            random: 1,
            time: 2,
            elems: vec![Elem::text("hi @alice")],
            mentions: vec![GroupAt::All, GroupAt::User("alice".into())],
            offline: false,
            need_receipt: false,
            version: 0,
            cloud_custom_data: String::new(),
            tiny_id: String::new(),
            client_time: 0,
        };
        let r = translate_group_message("alice", &m);
        assert_eq!(r.id, "g#3");
        assert_eq!(r.chat, ChatId::group("g"));
        assert!(!r.from_self);
        assert_eq!(r.timestamp_ms, 2000);
        let MessageContent::Text {
            mentions,
            mentions_room,
            ..
        } = r.content
        else {
            panic!("text");
        };
        assert_eq!(mentions, vec!["alice".to_owned()]);
        assert!(mentions_room);
    }

    #[test]
    fn an_edited_message_from_the_catch_up_carries_its_edit_numbered() {
        let m = |offline, version| GroupMessage {
            group_id: "g".into(),
            from: "bob".into(),
            seq: 3,
            random: 1,
            time: 2,
            elems: vec![Elem::text("fixed")],
            mentions: Vec::new(),
            offline,
            need_receipt: false,
            version,
            cloud_custom_data: String::new(),
            tiny_id: String::new(),
            client_time: 0,
        };
        let events = translate_group_events("alice", &m(true, 2));
        let [RemoteEvent::Message(msg), RemoteEvent::Edit {
            target,
            content,
            edit_count,
            sender,
            ..
        }] = events.as_slice()
        else {
            panic!("message and edit: {events:?}");
        };
        assert_eq!((msg.edit_count, target.as_str()), (2, "g#3"));
        assert_eq!((sender.as_str(), *edit_count), ("bob", Some(2)));
        assert_eq!(content, &MessageContent::text("fixed"));
        // Live, or never edited: the message alone (a live edit comes as its own push).
        for (offline, version) in [(false, 2), (true, 0)] {
            let events = translate_group_events("alice", &m(offline, version));
            assert!(
                matches!(events.as_slice(), [RemoteEvent::Message(_)]),
                "{events:?}"
            );
        }
    }

    #[test]
    fn tips_become_info_changes() {
        let tip = |kind, users: &[&str]| GroupTip {
            group_id: "g".into(),
            kind,
            operator: "admin".into(),
            users: users.iter().map(|u| u.to_string()).collect(),
            member_num: None,
            profile: GroupProfile {
                name: Some("N".into()),
                notification: Some("read me".into()),
                ..Default::default()
            },
            time: 0,
            seq: 0,
            mute_times: vec![],
        };
        let Some(RemoteEvent::ChatInfoChange { change, sender, .. }) =
            translate_tip("me", &tip(GroupTipKind::MemberJoined, &["carol"]), 0)
        else {
            panic!("change");
        };
        assert_eq!(change.members_added, vec!["carol".to_owned()]);
        assert_eq!(sender.as_deref(), Some("admin"));
        let Some(RemoteEvent::ChatInfoChange { change, .. }) =
            translate_tip("me", &tip(GroupTipKind::ProfileChanged, &[]), 0)
        else {
            panic!("change");
        };
        assert_eq!(change.name.as_deref(), Some("N"));
        assert_eq!(change.announcement.as_deref(), Some("read me"));
        assert!(matches!(
            translate_tip("me", &tip(GroupTipKind::MemberKicked, &["me"]), 0),
            Some(RemoteEvent::ChatDelete { .. })
        ));
        assert!(translate_tip("me", &tip(GroupTipKind::MemberInfoChanged, &[]), 0).is_none());
        let mutes = GroupTip {
            mute_times: vec![("bob".into(), 600), ("carol".into(), 0)],
            time: 1_000,
            ..tip(GroupTipKind::MemberInfoChanged, &[])
        };
        let Some(RemoteEvent::ChatInfoChange { change, .. }) = translate_tip("me", &mutes, 1_000)
        else {
            panic!("a change");
        };
        assert_eq!(
            (change.muted_added, change.muted_removed),
            (vec!["bob".to_owned()], vec!["carol".to_owned()])
        );
        // Read again after bob's 600 s passed (the catch-up): an unmute.
        let later = mutes.time + 600;
        let Some(RemoteEvent::ChatInfoChange { change, .. }) = translate_tip("me", &mutes, later)
        else {
            panic!("a change");
        };
        assert_eq!(
            change.muted_removed,
            vec!["bob".to_owned(), "carol".to_owned()]
        );
    }

    #[test]
    fn group_info_reads_roles() {
        let info = info_of(
            &json!({"Name": "T", "Introduction": "", "Owner_Account": "a",
            "MemberList": [{"Member_Account": "a", "Role": "Owner"},
                           {"Member_Account": "b", "Role": "Admin"},
                           {"Member_Account": "c", "Role": "Member", "ShutUpUntil": 2000},
                           {"Member_Account": "d", "Role": "Member", "ShutUpUntil": 900}]}),
            1000,
        )
        .expect("info");
        assert_eq!(info.name.as_deref(), Some("T"));
        assert_eq!(info.topic, None);
        assert_eq!(info.members, ["a", "b", "c", "d"]);
        assert_eq!(info.admins, vec!["b".to_owned()]);
        assert_eq!(info.muted, ["c"], "d's mute is over");
        assert!(info_of(&json!({"ErrorCode": 10010}), 1000).is_err());
    }
}
