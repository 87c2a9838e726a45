//! Threads of the REST client (protocol reference §4, the SDK's `createChatThread`,
//! `getChatThreadDetail`, `joinChatThread`, `changeChatThreadName`, `destroyChatThread`, read
//! in easemob-websdk 4.21.1): `POST /thread` `{"name","msg_id","group_id","owner"}` answers
//! `data.thread_id`; `GET /thread/{id}` answers `data{id,name,owner,msgId,groupId,
//! affiliations_count,created}`; `POST /thread/{id}/user/{user}/join`; `PUT /thread/{id}`
//! `{"name"}`; `DELETE /thread/{id}`. Changes reach the group's members as `"thread"` NOTIFY
//! metas (see [`crate::network::easemob::events::parse_thread_notify`]).

use serde_json::{json, Value};

use super::{seg, str_of, RestClient, RestError};

/// The longest thread name the service takes, in characters (Easemob docs: 64).
pub const MAX_THREAD_NAME_CHARS: usize = 64;

/// The most threads one page of [`RestClient::group_threads`] holds (the SDK's `pageSize`
/// limit).
pub const MAX_THREADS_PAGE: u32 = 50;

/// A thread, as `GET /thread/{id}` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The server id of the message the thread hangs on.
    pub message_id: String,
    /// The group the thread belongs to.
    pub group_id: String,
}

fn thread_info(v: &Value) -> ThreadInfo {
    ThreadInfo {
        id: str_of(v, "id"),
        name: str_of(v, "name"),
        owner: str_of(v, "owner"),
        message_id: str_of(v, "msgId"),
        group_id: str_of(v, "groupId"),
    }
}

impl RestClient {
    /// `POST /thread`: creates thread `name` on message `message_id` of group `group_id`,
    /// owned by this client's user (who is its first member); returns the thread id.
    pub async fn create_thread(
        &self,
        group_id: &str,
        message_id: &str,
        name: &str,
    ) -> Result<String, RestError> {
        let owner = self.me()?;
        let v = self
            .post(
                "thread",
                json!({ "name": name, "msg_id": message_id, "group_id": group_id, "owner": owner }),
            )
            .await?;
        let id = str_of(&v["data"], "thread_id");
        if id.is_empty() {
            return Err(RestError::Decode("no thread_id in the answer".into()));
        }
        Ok(id)
    }

    /// `GET /thread/{id}`: the thread's details.
    pub async fn thread_info(&self, thread_id: &str) -> Result<ThreadInfo, RestError> {
        let v = self.get(&format!("thread/{}", seg(thread_id))).await?;
        Ok(thread_info(&v["data"]))
    }

    /// `POST /thread/{id}/user/{user}/join`: this client's user joins the thread (and then
    /// receives its messages); returns its details.
    pub async fn join_thread(&self, thread_id: &str) -> Result<ThreadInfo, RestError> {
        let v = self
            .post(
                &format!("thread/{}/user/{}/join", seg(thread_id), seg(&self.me()?)),
                json!({}),
            )
            .await?;
        Ok(thread_info(&v["data"]["detail"]))
    }

    /// `PUT /thread/{id}` `{"name"}`: renames the thread.
    pub async fn rename_thread(&self, thread_id: &str, name: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::PUT,
            &format!("thread/{}", seg(thread_id)),
            Some(json!({ "name": name })),
        )
        .await
        .map(|_| ())
    }

    /// `GET /threads/chatgroups/{group}?limit=&cursor=` (the SDK's `getChatThreads`): one
    /// page of the group's threads, `entities[{id,name,owner,msgId,groupId,created}]`, and the
    /// cursor of the next page (`properties.cursor`, `None` after the last). `limit` is at
    /// most [`MAX_THREADS_PAGE`].
    pub async fn group_threads(
        &self,
        group_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<ThreadInfo>, Option<String>), RestError> {
        let v = self
            .get(&format!(
                "threads/chatgroups/{}?limit={}&cursor={}",
                seg(group_id),
                limit.clamp(1, MAX_THREADS_PAGE),
                seg(cursor.unwrap_or_default())
            ))
            .await?;
        let threads = v["entities"]
            .as_array()
            .map(|list| list.iter().map(thread_info).collect())
            .unwrap_or_default();
        let next = Some(str_of(&v["properties"], "cursor")).filter(|c| !c.is_empty());
        Ok((threads, next))
    }

    /// `DELETE /thread/{id}`: deletes the thread (its owner or a group admin).
    pub async fn destroy_thread(&self, thread_id: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("thread/{}", seg(thread_id)),
            None,
        )
        .await
        .map(|_| ())
    }
}
