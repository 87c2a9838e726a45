//! Reactions both ways: the service's reaction pushes ([`ReactionNotice`]) as the core's
//! [`RemoteEvent::ReactionSync`] (who has each reaction of a message now: the core adds and
//! removes what differs) or, for the user's own reaction made on another instance,
//! [`RemoteEvent::Reaction`] / [`RemoteEvent::ReactionRemove`]; a Matrix reaction and its
//! redaction as `addMessageReaction` / `removeMessageReaction`
//! ([`ReactionAbility`]). Wire shapes: [`crate::network::tencent::session::reactions`].
//!
//! The reaction id is the Matrix key as it is (an emoji), and an id received is used as the
//! Matrix key as it is: an app whose clients use other ids (names of the TUIKit's emoji
//! images, say) shows those names in Matrix.

use async_trait::async_trait;

use super::fidelity::Memory;
use super::groups::group_message_id;
use super::{direct_peer, TencentLogin};
use crate::core::connector::{
    ChatId, ChatKind, ReactionAbility, ReactionUsers, RemoteEvent, SendFailure,
};
use crate::network::tencent::session::reactions::{
    reaction_request, ReactionNotice, ReactionTarget,
};
use crate::network::tencent::session::topic_group;

/// The chat and network message id of `target`, seen by `own`; `None` when the push names
/// the message in a way this login cannot place.
fn locate(
    own: &str,
    target: &ReactionTarget,
    sdk_id: Option<&str>,
    memory: &Memory,
) -> Option<(ChatId, String)> {
    match target {
        ReactionTarget::C2c { from, to, msg_key } => {
            let peer = if from == own { to } else { from };
            if peer.is_empty() {
                return None;
            }
            let id = match msg_key.is_empty() {
                false => msg_key.clone(),
                true => memory.key_of(sdk_id?)?,
            };
            Some((ChatId::direct(peer.clone()), id))
        }
        ReactionTarget::Group {
            group_id,
            topic_id,
            seq,
        } => {
            let chat = topic_id.as_deref().unwrap_or(group_id);
            Some((ChatId::group(chat.to_owned()), group_message_id(chat, *seq)))
        }
    }
}

/// The core events a reaction push becomes for the logged-in user `own`.
pub fn translate(own: &str, notice: &ReactionNotice, memory: &Memory) -> Option<RemoteEvent> {
    match notice {
        ReactionNotice::Summary {
            target,
            sdk_id,
            reactions,
            all,
        } => {
            let (chat, target) = locate(own, target, sdk_id.as_deref(), memory)?;
            let reactions = reactions
                .iter()
                .map(|r| ReactionUsers {
                    key: r.reaction.clone(),
                    senders: r.users.clone(),
                    complete: r.count <= r.users.len() as u64,
                })
                .collect();
            Some(RemoteEvent::ReactionSync {
                chat,
                target,
                reactions,
                all_keys: *all,
            })
        }
        ReactionNotice::Own {
            target,
            sdk_id,
            reaction,
            added,
        } => {
            let (chat, target) = locate(own, target, sdk_id.as_deref(), memory)?;
            let (sender, key) = (own.to_owned(), reaction.clone());
            Some(match added {
                true => RemoteEvent::Reaction {
                    chat,
                    sender,
                    target,
                    key,
                },
                false => RemoteEvent::ReactionRemove {
                    chat,
                    sender,
                    target,
                    key,
                },
            })
        }
    }
}

/// The service's name of message `target` of `chat`.
fn target_of(
    login: &TencentLogin,
    chat: &ChatId,
    target: &str,
) -> Result<ReactionTarget, SendFailure> {
    if chat.kind == ChatKind::Group {
        let seq = super::group_ops::seq_of(chat, target)?;
        let (group_id, topic_id) = match topic_group(&chat.id) {
            Some(g) => (g.to_owned(), Some(chat.id.clone())),
            None => (chat.id.clone(), None),
        };
        return Ok(ReactionTarget::Group {
            group_id,
            topic_id,
            seq,
        });
    }
    let peer = direct_peer(chat)?;
    // The message's author: remembered from the messages seen; else (after a restart) the
    // peer, whose messages are the ones usually reacted to.
    let from = login
        .memory
        .author_of(target)
        .unwrap_or_else(|| peer.to_owned());
    let to = if from == login.own {
        peer
    } else {
        login.own.as_str()
    };
    Ok(ReactionTarget::C2c {
        from,
        to: to.to_owned(),
        msg_key: target.to_owned(),
    })
}

async fn request(
    login: &TencentLogin,
    chat: &ChatId,
    target: &str,
    key: &str,
    add: bool,
) -> Result<(), SendFailure> {
    let t = target_of(login, chat, target)?;
    let (servcmd, body) = reaction_request(&t, key, &login.own, add);
    login.call_done(servcmd, body).await
}

#[async_trait]
impl ReactionAbility for TencentLogin {
    /// `reaction_add` / `group_reaction_add` (adding one already there changes nothing).
    async fn react(&self, chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure> {
        request(self, chat, target, key, true).await
    }

    /// `reaction_del` / `group_reaction_del`.
    async fn unreact(&self, chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure> {
        request(self, chat, target, key, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::session::reactions::ReactionCount;

    #[test]
    fn pushes_become_a_sync_or_the_users_own_reaction() {
        let memory = Memory::default();
        let summary = ReactionNotice::Summary {
            target: ReactionTarget::C2c {
                from: "bob".into(),
                to: "alice".into(),
                msg_key: "1_2_3".into(),
            },
            sdk_id: None,
            reactions: vec![
                ReactionCount {
                    reaction: "👍".into(),
                    users: vec!["bob".into()],
                    count: 1,
                },
                ReactionCount {
                    reaction: "❤️".into(),
                    users: vec!["carol".into()],
                    count: 250,
                },
            ],
            all: false,
        };
        let Some(RemoteEvent::ReactionSync {
            chat,
            target,
            reactions,
            all_keys: false,
        }) = translate("alice", &summary, &memory)
        else {
            panic!("a sync");
        };
        assert_eq!((chat, target.as_str()), (ChatId::direct("bob"), "1_2_3"));
        assert!(reactions[0].complete && !reactions[1].complete);

        let own = ReactionNotice::Own {
            target: ReactionTarget::Group {
                group_id: "g".into(),
                topic_id: Some("g@TOPIC#_t".into()),
                seq: 3,
            },
            sdk_id: None,
            reaction: "👍".into(),
            added: false,
        };
        assert_eq!(
            translate("alice", &own, &memory),
            Some(RemoteEvent::ReactionRemove {
                chat: ChatId::group("g@TOPIC#_t"),
                sender: "alice".into(),
                target: "g@TOPIC#_t#3".into(),
                key: "👍".into(),
            })
        );
        // A C2C message named only by its SDK id that this login never saw: not placed.
        let unknown = ReactionNotice::Own {
            target: ReactionTarget::C2c {
                from: "bob".into(),
                to: "alice".into(),
                msg_key: String::new(),
            },
            sdk_id: Some("1-2-3".into()),
            reaction: "👍".into(),
            added: true,
        };
        assert_eq!(translate("alice", &unknown, &memory), None);
    }
}
