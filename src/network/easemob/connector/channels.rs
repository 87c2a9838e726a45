//! Chat rooms as the core's channels (`ChannelAbility`): joining and leaving over the socket,
//! as the SDK's `joinChatRoom` / `leaveChatRoom` do (a SYNC frame carrying a MUC body with
//! `isChatroom: true`, reference §3.9), after checking over REST (`GET /chatrooms/{id}`) that
//! the room exists, so a wrong id gets a clear answer. The server drops chat-room membership
//! when the connection ends and keeps no offline messages of chat rooms for absent members:
//! the core joins again after each reconnection, and what was said meanwhile is not caught up.

use async_trait::async_trait;

use super::{send_failure, EasemobLogin};
use crate::core::connector::{ChannelAbility, ChatId, ChatKind, SendFailure};
use crate::network::easemob::rest::RestError;

/// The chat-room id of `chat`; other chats are refused.
fn room_id(chat: &ChatId) -> Result<&str, SendFailure> {
    match chat.kind {
        ChatKind::Channel => Ok(&chat.id),
        _ => Err(SendFailure::Permanent("not an IM chat room".into())),
    }
}

/// A chat-room id as the service spells them: digits (and letters, in the sandbox), no
/// separators or spaces.
fn valid_room_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[async_trait]
impl ChannelAbility for EasemobLogin {
    async fn join_channel(&self, id: &str) -> Result<ChatId, SendFailure> {
        if !valid_room_id(id) {
            return Err(SendFailure::Permanent(format!(
                "`{id}` is not an IM chat-room id (digits)"
            )));
        }
        match self.client.rest().chatroom_info(id).await {
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(SendFailure::Retriable(e.to_string())),
            Err(RestError::NotFound(_))
            | Err(RestError::Http {
                status: 400 | 404, ..
            }) => {
                return Err(SendFailure::Permanent(format!(
                    "there is no IM chat room `{id}`"
                )))
            }
            Err(e) => return Err(SendFailure::Permanent(e.to_string())),
        }
        self.client.join_chatroom(id).await.map_err(send_failure)?;
        Ok(ChatId::channel(id))
    }

    async fn leave_channel(&self, chat: &ChatId) -> Result<(), SendFailure> {
        let id = room_id(chat)?;
        self.client
            .leave_chatroom(id)
            .await
            .map(|_| ())
            .map_err(send_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_checked_before_asking_the_server() {
        assert!(valid_room_id("278567437615105"));
        assert!(!valid_room_id(""));
        assert!(!valid_room_id("12 34"));
        assert!(!valid_room_id("../x"));
        assert!(room_id(&ChatId::group("1")).is_err());
        assert_eq!(room_id(&ChatId::channel("7")).ok(), Some("7"));
    }
}
