//! Operations on group messages both ways: a recall (`GroupWithdrawInfoArray` notice ↔
//! [`RemoteEvent::Remove`] / `group_msg_recall`), an edit (`GroupMsgModNotifys` ↔
//! [`RemoteEvent::Edit`] / `modify_group_msg`, from the last `MsgVersion` seen, kept in the
//! login's [`super::fidelity::Memory`]) and the user's read marker
//! (`GroupReadInfoArray` notice ↔ [`RemoteEvent::ReadReceipt`] / `msg_read_report`).
//! A group message's network id is `GroupId#MsgSeq` ([`super::groups::group_message_id`]);
//! wire shapes: [`crate::network::tencent::session::group_wire`].

use super::fidelity::Memory;
use super::groups::group_message_id;
use super::incoming::content_of;
use super::{send_failure, TencentLogin};
use crate::core::connector::{ChatId, RemoteEvent, SendFailure};
use crate::network::tencent::client::unix_now;
use crate::network::tencent::elem::Elem;
use crate::network::tencent::session::group_wire::{
    modify_body, read_report_body, recall_body, recall_failures, GROUP_MSG_RECALL,
    MODIFY_GROUP_MSG, MSG_READ_REPORT,
};
use crate::network::tencent::session::ops::modified_version;
use crate::network::tencent::session::{GroupModified, GroupNotice, SendError};

/// An edited group message as a [`RemoteEvent::Edit`] from its author; its version is
/// remembered for the user's own next edit of it.
pub fn translate_modified(m: &GroupModified, memory: &Memory) -> RemoteEvent {
    let target = group_message_id(&m.group_id, m.seq);
    memory.remember_version(target.clone(), m.version);
    RemoteEvent::Edit {
        chat: ChatId::group(m.group_id.clone()),
        sender: m.from.clone(),
        target,
        content: content_of(&m.elems),
        timestamp_ms: unix_now().saturating_mul(1000),
        edit_count: Some(m.version),
    }
}

/// `modify_group_msg` of the user's own message `target` of group `chat`, from the last
/// version known (after a restart the first edit of a message edited before is refused as a
/// conflict, in words).
pub async fn edit(
    login: &TencentLogin,
    chat: &ChatId,
    target: &str,
    elems: &[Elem],
) -> Result<(), SendFailure> {
    let seq = seq_of(chat, target)?;
    let version = login.memory.version(target);
    let body = modify_body(&chat.id, seq, version, elems);
    match login.client.call(MODIFY_GROUP_MSG, body).await {
        Ok(reply) => {
            let now = modified_version(&reply).unwrap_or(version + 1);
            login.memory.remember_version(target.to_owned(), now);
            Ok(())
        }
        Err(SendError::Server(e)) if e.code == 20027 => Err(SendFailure::Permanent(
            "the message was edited elsewhere since the bridge last saw it".into(),
        )),
        Err(e) => Err(send_failure(e)),
    }
}

/// The events a group message notice becomes for the logged-in user `own`: one
/// [`RemoteEvent::Remove`] per recalled message, from the revoker; the user's own read
/// marker as a [`RemoteEvent::ReadReceipt`] of the user.
pub fn translate_notice(own: &str, n: &GroupNotice) -> Vec<RemoteEvent> {
    match n {
        GroupNotice::Recalled {
            group_id,
            seqs,
            revoker,
        } => seqs
            .iter()
            .map(|seq| RemoteEvent::Remove {
                chat: ChatId::group(group_id.clone()),
                sender: revoker.clone(),
                target: group_message_id(group_id, *seq),
            })
            .collect(),
        GroupNotice::Read { group_id, seq } => vec![RemoteEvent::ReadReceipt {
            chat: ChatId::group(group_id.clone()),
            sender: own.to_owned(),
            up_to: Some(group_message_id(group_id, *seq)),
        }],
    }
}

/// The `MsgSeq` of group message id `target` (`GroupId#MsgSeq`) of group chat `chat`.
pub(super) fn seq_of(chat: &ChatId, target: &str) -> Result<u64, SendFailure> {
    target
        .strip_prefix(chat.id.as_str())
        .and_then(|rest| rest.strip_prefix('#'))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            SendFailure::Permanent(format!("{target} is not a message of group {}", chat.id))
        })
}

/// `group_msg_recall` of message `target` of group `chat` (the user's own; owners and admins
/// may recall others').
pub async fn recall(login: &TencentLogin, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
    let seq = seq_of(chat, target)?;
    let reply = login
        .client
        .call(GROUP_MSG_RECALL, recall_body(&chat.id, &[seq]))
        .await
        .map_err(send_failure)?;
    match recall_failures(&reply).first() {
        None => Ok(()),
        Some((_, code)) => Err(SendFailure::Permanent(format!(
            "Tencent Cloud Chat refused the recall (RetCode {code})"
        ))),
    }
}

/// `msg_read_report`: group `chat` read up to `up_to` (a message id of the group; another id
/// is refused).
pub async fn mark_read(
    login: &TencentLogin,
    chat: &ChatId,
    up_to: &str,
) -> Result<(), SendFailure> {
    let seq = seq_of(chat, up_to)?;
    login
        .call_done(MSG_READ_REPORT, read_report_body(&chat.id, seq))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_become_removals_from_the_revoker_and_the_users_read_marker() {
        let n = GroupNotice::Recalled {
            group_id: "@TGS#1".into(),
            seqs: vec![3, 4],
            revoker: "bob".into(),
        };
        let events = translate_notice("alice", &n);
        assert_eq!(
            events,
            vec![
                RemoteEvent::Remove {
                    chat: ChatId::group("@TGS#1"),
                    sender: "bob".into(),
                    target: "@TGS#1#3".into(),
                },
                RemoteEvent::Remove {
                    chat: ChatId::group("@TGS#1"),
                    sender: "bob".into(),
                    target: "@TGS#1#4".into(),
                },
            ]
        );
        let read = GroupNotice::Read {
            group_id: "@TGS#1".into(),
            seq: 9,
        };
        assert_eq!(
            translate_notice("alice", &read),
            vec![RemoteEvent::ReadReceipt {
                chat: ChatId::group("@TGS#1"),
                sender: "alice".into(),
                up_to: Some("@TGS#1#9".into()),
            }]
        );
    }

    #[test]
    fn only_ids_of_the_chats_own_messages_name_a_seq() {
        let chat = ChatId::group("@TGS#1");
        assert_eq!(seq_of(&chat, "@TGS#1#12").ok(), Some(12));
        assert!(seq_of(&chat, "@TGS#2#12").is_err());
        assert!(seq_of(&chat, "@TGS#1#x").is_err());
        assert!(seq_of(&chat, "5_6_7").is_err());
        // A topic id starts with its group's id: its messages are not the group's.
        assert!(seq_of(&chat, "@TGS#1@TOPIC#_a#3").is_err());
    }
}
