//! Tencent Community topics on the core's contract: a Community with topics is a space chat
//! ([`ChatInfo::is_space`], id = its `GroupId`), each topic a group chat (id = the topic id,
//! `@TGS#_…@TOPIC#_…`) whose [`ChatInfo::parent`] is the Community, so the core makes the
//! Community a Matrix space and each topic a room in it. Rooms rather than Matrix threads: a
//! topic is a named, lasting conversation with its own history, created and renamed on its
//! own, where a Matrix thread hangs on one message, has no name and is folded away by
//! clients. Topic messages travel as group messages ([`super::groups`]); topic pushes become
//! core events: created → [`RemoteEvent::ChatInfoChange`] (the core makes the room), renamed
//! → a name / topic change, deleted → [`RemoteEvent::ChatDelete`]; the topic list read at
//! every login opens the rooms of topics not bridged yet.

use super::groups;
use super::send_failure;
use crate::core::connector::{ChatId, ChatInfo, ChatInfoChange, RemoteEvent, SendFailure};
use crate::network::tencent::client::Client;
use crate::network::tencent::session::{topic_group, TopicEvent, TopicInfo};

/// The info of topic `topic_id`: its name, introduction and avatar; the Community's members,
/// admins and owner; the Community as its parent. `None` for an id that is not a topic's.
pub async fn chat_info(client: &Client, topic_id: &str) -> Option<Result<ChatInfo, SendFailure>> {
    let group_id = topic_group(topic_id)?;
    Some(info(client, group_id, topic_id).await)
}

async fn info(client: &Client, group_id: &str, topic_id: &str) -> Result<ChatInfo, SendFailure> {
    let topics = client.topics(group_id).await.map_err(send_failure)?;
    let topic = topics
        .into_iter()
        .find(|t| t.topic_id == topic_id)
        .ok_or_else(|| SendFailure::Permanent("Tencent Cloud Chat: no such topic".into()))?;
    let group = groups::chat_info(client, group_id).await?;
    Ok(ChatInfo {
        name: topic.profile.name.filter(|n| !n.is_empty()),
        topic: topic.profile.introduction.filter(|n| !n.is_empty()),
        avatar_url: topic.profile.face_url.filter(|n| !n.is_empty()),
        parent: Some(ChatId::group(group_id)),
        is_space: false,
        ..group
    })
}

fn opened(topic: &TopicInfo) -> RemoteEvent {
    RemoteEvent::ChatInfoChange {
        chat: ChatId::group(&topic.topic_id),
        sender: None,
        change: Box::new(ChatInfoChange {
            name: topic.profile.name.clone(),
            ..ChatInfoChange::default()
        }),
    }
}

/// The core events of a topic push.
pub fn translate(ev: &TopicEvent) -> Vec<RemoteEvent> {
    match ev {
        TopicEvent::Created {
            topic_id, operator, ..
        } => vec![RemoteEvent::ChatInfoChange {
            chat: ChatId::group(topic_id),
            sender: Some(operator.clone()).filter(|o| !o.is_empty()),
            change: Box::default(),
        }],
        TopicEvent::ProfileChanged {
            topic_id,
            operator,
            profile,
            ..
        } => vec![RemoteEvent::ChatInfoChange {
            chat: ChatId::group(topic_id),
            sender: Some(operator.clone()).filter(|o| !o.is_empty()),
            change: Box::new(ChatInfoChange {
                name: profile.name.clone(),
                topic: profile.introduction.clone(),
                ..ChatInfoChange::default()
            }),
        }],
        TopicEvent::Deleted { topic_ids, .. } => topic_ids
            .iter()
            .map(|t| RemoteEvent::ChatDelete {
                chat: ChatId::group(t),
            })
            .collect(),
    }
}

/// The topics of a Community read at login: each topic's room is opened (made if missing).
pub fn listed(topics: &[TopicInfo]) -> Vec<RemoteEvent> {
    topics.iter().map(opened).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::session::TopicProfile;

    #[test]
    fn topic_pushes_become_core_events() {
        let t = "@TGS#_g@TOPIC#_t".to_owned();
        let created = translate(&TopicEvent::Created {
            group_id: "@TGS#_g".into(),
            topic_id: t.clone(),
            operator: "alice".into(),
        });
        assert!(
            matches!(&created[..], [RemoteEvent::ChatInfoChange { chat, sender, .. }]
            if chat.id == t && sender.as_deref() == Some("alice"))
        );
        let renamed = translate(&TopicEvent::ProfileChanged {
            group_id: "@TGS#_g".into(),
            topic_id: t.clone(),
            operator: "alice".into(),
            profile: TopicProfile {
                name: Some("news".into()),
                ..TopicProfile::default()
            },
        });
        assert!(
            matches!(&renamed[..], [RemoteEvent::ChatInfoChange { change, .. }]
            if change.name.as_deref() == Some("news") && change.topic.is_none())
        );
        let deleted = translate(&TopicEvent::Deleted {
            group_id: "@TGS#_g".into(),
            topic_ids: vec![t.clone(), "@TGS#_g@TOPIC#_u".into()],
            operator: "alice".into(),
        });
        assert_eq!(deleted.len(), 2);
        assert!(matches!(&deleted[0], RemoteEvent::ChatDelete { chat } if chat.id == t));
    }
}
