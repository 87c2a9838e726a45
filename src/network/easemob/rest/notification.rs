//! Do-not-disturb settings of the REST client (the SDK's silent mode): the batch read
//! `GET /users/{me}/notification?user=…&group=…` (`getSilentModeForConversations`) and the
//! per-conversation `PUT /users/{me}/notification/{user|chatgroup}/{id}`
//! (`setSilentModeForConversation`) with `{"type"}` or `{"ignoreDuration"}`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{seg, RestClient, RestError};
use crate::network::easemob::jid::ChatType;

/// One conversation's setting, as the server answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilentMode {
    /// `ALL`, `AT`, `NONE` or `DEFAULT` (the account-wide setting applies).
    pub remind_type: String,
    /// Muted until this time (ms since the epoch), when a duration is running.
    pub ignore_until_ms: Option<u64>,
}

fn silent_mode(v: &Value) -> SilentMode {
    SilentMode {
        remind_type: v["type"].as_str().unwrap_or("DEFAULT").to_owned(),
        ignore_until_ms: v["ignoreDuration"].as_u64().filter(|t| *t > 0),
    }
}

/// The path segment of a conversation type (`user` for one-to-one, else `chatgroup`).
fn kind(chat_type: ChatType) -> &'static str {
    match chat_type {
        ChatType::Single => "user",
        _ => "chatgroup",
    }
}

impl RestClient {
    /// The settings of the one-to-one chats with `users` and of the groups `groups` (at most
    /// 100 in all, the service's page): `(users, groups)` maps by id.
    pub async fn silent_modes(
        &self,
        users: &[&str],
        groups: &[&str],
    ) -> Result<(HashMap<String, SilentMode>, HashMap<String, SilentMode>), RestError> {
        let list = |ids: &[&str]| ids.iter().map(|i| seg(i)).collect::<Vec<_>>().join(",");
        let v = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "users/{}/notification?user={}&group={}",
                    self.me()?,
                    list(users),
                    list(groups)
                ),
                None,
            )
            .await?;
        let read = |key: &str| -> HashMap<String, SilentMode> {
            v["data"][key]
                .as_object()
                .map(|m| m.iter().map(|(k, s)| (k.clone(), silent_mode(s))).collect())
                .unwrap_or_default()
        };
        Ok((read("user"), read("group")))
    }

    /// Sets the remind type (`ALL`, `AT`, `NONE`, `DEFAULT`) of a conversation.
    pub async fn set_remind_type(
        &self,
        chat_type: ChatType,
        id: &str,
        remind_type: &str,
    ) -> Result<(), RestError> {
        self.put_silent_mode(chat_type, id, json!({ "type": remind_type }))
            .await
    }

    /// Mutes a conversation for `ms` milliseconds (0 ends a running duration).
    pub async fn set_ignore_duration(
        &self,
        chat_type: ChatType,
        id: &str,
        ms: u64,
    ) -> Result<(), RestError> {
        self.put_silent_mode(chat_type, id, json!({ "ignoreDuration": ms }))
            .await
    }

    async fn put_silent_mode(
        &self,
        chat_type: ChatType,
        id: &str,
        body: Value,
    ) -> Result<(), RestError> {
        self.call(
            reqwest::Method::PUT,
            &format!(
                "users/{}/notification/{}/{}",
                self.me()?,
                kind(chat_type),
                seg(id)
            ),
            Some(body),
        )
        .await
        .map(drop)
    }
}
