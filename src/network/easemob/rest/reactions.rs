//! Message reactions of the REST client (see the parent module; protocol reference §3.7):
//! `POST /reaction/user/{user}` adds, `DELETE /reaction/user/{user}?msgId=&message=` removes,
//! `GET /reaction/user/{user}?msgIdList=&msgType=[&groupId=]` lists. Changes come back to every
//! device of the conversation as `NOTIFY` metas (see [`crate::network::easemob::events::parse_reaction_notify`]).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{str_of, RestClient, RestError};
use crate::network::easemob::jid::ChatType;

/// The server's answer to a second add of the same reaction by the same user.
const ALREADY_ADDED: &str = "the user is already operation this message";

/// Message ids per list request.
const LIST_CHUNK: usize = 20;

/// One reaction on a message, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionSummary {
    pub reaction: String,
    /// How many users added it.
    pub count: u64,
    /// Whether this client's user is among them.
    pub added_by_me: bool,
    /// Some of those users: the server lists only the first few (three), `count` is the total.
    pub users: Vec<String>,
}

fn summary(v: &Value) -> Option<ReactionSummary> {
    let reaction = str_of(v, "reaction");
    if reaction.is_empty() {
        return None;
    }
    let users: Vec<String> = super::strings_of(v.get("userList"));
    let count = match super::u64_of(v, "count") {
        0 => users.len() as u64,
        n => n,
    };
    // `state` as the server sends it; `isAddedBySelf` as the SDK renames it.
    let added_by_me = super::bool_of(v, "state") || super::bool_of(v, "isAddedBySelf");
    Some(ReactionSummary {
        reaction,
        count,
        added_by_me,
        users,
    })
}

impl RestClient {
    /// `POST /reaction/user/{user}` `{"msgId","message"}`: adds `reaction` to message
    /// `message_id` (server id) as this client's user. Adding a reaction the user already added
    /// succeeds without a change (the server refuses it with "already operation"; that is
    /// mapped to `Ok`).
    pub async fn add_reaction(&self, message_id: &str, reaction: &str) -> Result<(), RestError> {
        let result = self
            .post(
                &format!("reaction/user/{}", self.me()?),
                json!({ "msgId": message_id, "message": reaction }),
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(RestError::Http {
                status: 400,
                description,
                ..
            }) if description == ALREADY_ADDED => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /reaction/user/{user}?msgId=&message=`: removes this user's `reaction` from
    /// message `message_id`. Removing a reaction the user has not added is an error from the
    /// server (HTTP 400 "the user operation is illegal!").
    pub async fn remove_reaction(&self, message_id: &str, reaction: &str) -> Result<(), RestError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("msgId", message_id)
            .append_pair("message", reaction)
            .finish();
        self.call(
            reqwest::Method::DELETE,
            &format!("reaction/user/{}?{query}", self.me()?),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /reaction/user/{user}?msgIdList=&msgType=chat|groupchat[&groupId=]`: the reactions
    /// of messages `message_ids` (server ids) of one conversation, by message id; messages
    /// without reactions are absent. A group (or chat room) conversation needs `group`, its
    /// id. Asks in batches of 20 ids.
    pub async fn reactions(
        &self,
        message_ids: &[&str],
        chat_type: ChatType,
        group: Option<&str>,
    ) -> Result<HashMap<String, Vec<ReactionSummary>>, RestError> {
        let msg_type = match chat_type {
            ChatType::Single => "chat",
            ChatType::Group | ChatType::Chatroom => "groupchat",
        };
        let me = self.me()?;
        let mut out = HashMap::new();
        for chunk in message_ids.chunks(LIST_CHUNK) {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("msgIdList", &chunk.join(","))
                .append_pair("msgType", msg_type);
            if let Some(g) = group {
                query.append_pair("groupId", g);
            }
            let v = self
                .get(&format!("reaction/user/{me}?{}", query.finish()))
                .await?;
            for item in v
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = str_of(item, "msgId");
                if id.is_empty() {
                    continue;
                }
                let list: Vec<ReactionSummary> = item
                    .get("reactionList")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(summary).collect())
                    .unwrap_or_default();
                if !list.is_empty() {
                    out.insert(id, list);
                }
            }
        }
        Ok(out)
    }
}
