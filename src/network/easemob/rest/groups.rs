//! Groups, chat rooms and message history of the REST client (see the parent module).

use base64::Engine as _;
use prost::Message as _;
use serde_json::{json, Value};

use super::{bool_of, seg, str_of, u64_of, RestClient, RestError};
use crate::network::easemob::jid::{self, Conversation};
use crate::network::easemob::proto::Meta;

/// A group or chat room in a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSummary {
    pub id: String,
    pub name: String,
    /// `owner`, `admin` or `member` when the server tells.
    pub role: Option<String>,
}

/// Details of a group or chat room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub admins: Vec<String>,
    /// Members including the owner.
    pub members: Vec<String>,
    pub member_count: u64,
    pub public: bool,
    pub max_users: u64,
    pub created: u64,
    pub custom: String,
}

/// One member and role (`owner`, `admin`, `member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user: String,
    pub role: String,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
    pub public: bool,
    pub max_users: u32,
    pub allow_invites: bool,
    /// Invitees must accept before they join (`invite_need_confirm`).
    pub invite_need_confirm: bool,
    pub custom: String,
}

impl Default for NewGroup {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            members: Vec::new(),
            public: false,
            max_users: 200,
            allow_invites: true,
            invite_need_confirm: false,
            custom: String::new(),
        }
    }
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryPage {
    pub metas: Vec<Meta>,
    /// Pass back as `start_cursor` for the next (older) page.
    pub next_key: Option<String>,
    pub is_last: bool,
}

impl RestClient {
    /// `GET /chatgroups/user/{user}` (v3, all pages): the groups this user is in.
    pub async fn joined_groups(&self) -> Result<Vec<GroupSummary>, RestError> {
        const PAGE: usize = 20;
        let me = self.me()?;
        let mut out = Vec::new();
        for page in 1..=500 {
            let v = self
                .get(&format!(
                    "chatgroups/user/{me}?pagenum={page}&pagesize={PAGE}&needAffiliations=true&needRole=true&version=v3"
                ))
                .await?;
            let entities = v
                .get("entities")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = entities.len();
            out.extend(entities.iter().map(|e| GroupSummary {
                id: str_of(e, "groupId"),
                name: str_of(e, "name"),
                role: Some(str_of(e, "permission")).filter(|r| !r.is_empty()),
            }));
            if n < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /{kind}/{id}` plus the admin list.
    async fn details(&self, kind: &str, id: &str) -> Result<GroupInfo, RestError> {
        let v = self.get(&format!("{kind}/{}", seg(id))).await?;
        let d = v
            .get("data")
            .and_then(|d| d.get(0))
            .ok_or_else(|| RestError::Decode(format!("{kind} details without data")))?;
        let mut members = Vec::new();
        for a in d
            .get("affiliations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for role in ["owner", "admin", "member"] {
                if let Some(u) = a.get(role).and_then(Value::as_str) {
                    members.push(u.to_owned());
                }
            }
        }
        let admins_answer = self.get(&format!("{kind}/{}/admin", seg(id))).await?;
        let admins = super::strings_of(admins_answer.get("data"));
        Ok(GroupInfo {
            id: str_of(d, "id"),
            name: str_of(d, "name"),
            description: str_of(d, "description"),
            owner: str_of(d, "owner"),
            admins,
            member_count: match u64_of(d, "affiliations_count") {
                0 => members.len() as u64,
                n => n,
            },
            members,
            public: bool_of(d, "public"),
            max_users: u64_of(d, "maxusers"),
            created: u64_of(d, "created"),
            custom: str_of(d, "custom"),
        })
    }

    /// `GET /chatgroups/{id}` and `GET /chatgroups/{id}/admin`.
    pub async fn group_info(&self, id: &str) -> Result<GroupInfo, RestError> {
        self.details("chatgroups", id).await
    }

    /// `GET /chatrooms/{id}` and `GET /chatrooms/{id}/admin`.
    pub async fn chatroom_info(&self, id: &str) -> Result<GroupInfo, RestError> {
        self.details("chatrooms", id).await
    }

    async fn members_of(&self, kind: &str, id: &str) -> Result<Vec<GroupMember>, RestError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut tail = format!("{kind}/{}/users?limit=200", seg(id));
            if let Some(c) = &cursor {
                tail.push_str(&format!("&cursor={}", seg(c)));
            }
            let v = self.get(&tail).await?;
            for m in v
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for role in ["owner", "admin", "member"] {
                    if let Some(u) = m.get(role).and_then(Value::as_str) {
                        out.push(GroupMember {
                            user: u.to_owned(),
                            role: role.to_owned(),
                        });
                    }
                }
            }
            cursor = Some(str_of(&v, "cursor")).filter(|c| !c.is_empty());
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /chatgroups/{id}/users` (all pages).
    pub async fn group_members(&self, id: &str) -> Result<Vec<GroupMember>, RestError> {
        self.members_of("chatgroups", id).await
    }

    /// `GET /chatrooms/{id}/users` (all pages).
    pub async fn chatroom_members(&self, id: &str) -> Result<Vec<GroupMember>, RestError> {
        self.members_of("chatrooms", id).await
    }

    /// `POST /chatgroups`: returns the new group id.
    pub async fn create_group(&self, group: &NewGroup) -> Result<String, RestError> {
        let owner = self
            .user
            .clone()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let v = self
            .post(
                "chatgroups",
                json!({
                    "owner": owner,
                    "groupname": group.name,
                    "desc": group.description,
                    "members": group.members,
                    "public": group.public,
                    "approval": false,
                    "allowinvites": group.allow_invites,
                    "invite_need_confirm": group.invite_need_confirm,
                    "maxusers": group.max_users,
                    "custom": group.custom,
                }),
            )
            .await?;
        let id = v
            .get("data")
            .map(|d| str_of(d, "groupid"))
            .unwrap_or_default();
        if id.is_empty() {
            return Err(RestError::Decode(
                "group creation answer without groupid".into(),
            ));
        }
        Ok(id)
    }

    /// `POST /chatgroups/{id}/users` `{"usernames"}`: returns who was added.
    pub async fn add_group_members(
        &self,
        id: &str,
        users: &[&str],
    ) -> Result<Vec<String>, RestError> {
        let v = self
            .post(
                &format!("chatgroups/{}/users", seg(id)),
                json!({ "usernames": users }),
            )
            .await?;
        Ok(super::strings_of(
            v.get("data").and_then(|d| d.get("newmembers")),
        ))
    }

    /// `DELETE /chatgroups/{id}/users/{u1,u2}`.
    pub async fn remove_group_members(&self, id: &str, users: &[&str]) -> Result<(), RestError> {
        let list: Vec<String> = users.iter().map(|u| seg(u)).collect();
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/users/{}", seg(id), list.join(",")),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /chatgroups/{id}/admin` `{"newadmin"}` (owner only): makes `user` an admin.
    pub async fn add_group_admin(&self, id: &str, user: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::POST,
            &format!("chatgroups/{}/admin", seg(id)),
            Some(json!({ "newadmin": user })),
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}/admin/{user}` (owner only): `user` is an admin no more.
    pub async fn remove_group_admin(&self, id: &str, user: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/admin/{}", seg(id), seg(user)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /chatgroups/{id}/mute`: the users muted in the group.
    pub async fn group_mutes(&self, id: &str) -> Result<Vec<String>, RestError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("chatgroups/{}/mute", seg(id)),
                None,
            )
            .await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| str_of(m, "user"))
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /chatgroups/{id}/mute` `{"usernames", "mute_duration": -1}` (owner and admins):
    /// mutes `users` until unmuted.
    pub async fn mute_group_members(&self, id: &str, users: &[&str]) -> Result<(), RestError> {
        self.call(
            reqwest::Method::POST,
            &format!("chatgroups/{}/mute", seg(id)),
            Some(json!({ "usernames": users, "mute_duration": -1 })),
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}/mute/{u1,u2}` (owner and admins).
    pub async fn unmute_group_members(&self, id: &str, users: &[&str]) -> Result<(), RestError> {
        let list: Vec<String> = users.iter().map(|u| seg(u)).collect();
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/mute/{}", seg(id), list.join(",")),
            None,
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}/quit`.
    pub async fn leave_group(&self, id: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/quit", seg(id)),
            None,
        )
        .await
        .map(drop)
    }

    /// `PUT /chatgroups/{id}`: new name and / or description.
    pub async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), RestError> {
        let mut body = serde_json::Map::new();
        if let Some(n) = name {
            body.insert("groupname".into(), n.into());
        }
        if let Some(d) = description {
            body.insert("description".into(), d.into());
        }
        self.call(
            reqwest::Method::PUT,
            &format!("chatgroups/{}", seg(id)),
            Some(Value::Object(body)),
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}` (owner only).
    pub async fn destroy_group(&self, id: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}", seg(id)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /users/{user}/joined_chatrooms` (all pages).
    pub async fn joined_chatrooms(&self) -> Result<Vec<GroupSummary>, RestError> {
        const PAGE: usize = 100;
        let me = self.me()?;
        let mut out = Vec::new();
        for page in 1..=100 {
            let v = self
                .get(&format!(
                    "users/{me}/joined_chatrooms?pagenum={page}&pagesize={PAGE}&detail=true"
                ))
                .await?;
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = data.len();
            out.extend(data.iter().map(|d| {
                GroupSummary {
                    id: str_of(d, "id"),
                    name: Some(str_of(d, "name"))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| str_of(d, "title")),
                    role: None,
                }
            }));
            if n < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /chatrooms?pagenum=&pagesize=`: one page of the app's chat rooms.
    pub async fn chatrooms(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Vec<GroupSummary>, RestError> {
        let v = self
            .get(&format!("chatrooms?pagenum={page}&pagesize={page_size}"))
            .await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|d| GroupSummary {
                        id: str_of(d, "id"),
                        name: str_of(d, "name"),
                        role: None,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /chatrooms`: returns the new room id.
    pub async fn create_chatroom(
        &self,
        name: &str,
        description: &str,
        members: &[&str],
    ) -> Result<String, RestError> {
        let owner = self
            .user
            .clone()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let v = self
            .post(
                "chatrooms",
                json!({ "name": name, "description": description, "owner": owner, "members": members }),
            )
            .await?;
        let id = v.get("data").map(|d| str_of(d, "id")).unwrap_or_default();
        if id.is_empty() {
            return Err(RestError::Decode(
                "chat room creation answer without id".into(),
            ));
        }
        Ok(id)
    }

    /// `POST /users/{user}/messageroaming`: one page of `conv`'s history, newest first, older
    /// than `start_cursor` (a previous page's `next_key`; `None` = from the newest).
    pub async fn history(
        &self,
        conv: &Conversation,
        start_cursor: Option<&str>,
        limit: u32,
    ) -> Result<HistoryPage, RestError> {
        self.history_filtered(conv, start_cursor, limit, None, None)
            .await
    }

    /// [`RestClient::history`] narrowed as the SDK's `getHistoryMessages` search options do
    /// (reference §3.10): only messages sent by `from` (`userId`) and no older than
    /// `since_ms` (`startTime`, ms since the epoch).
    pub async fn history_filtered(
        &self,
        conv: &Conversation,
        start_cursor: Option<&str>,
        limit: u32,
        from: Option<&str>,
        since_ms: Option<u64>,
    ) -> Result<HistoryPage, RestError> {
        let mut body = json!({
            "queue": jid::conversation_text(conv),
            "start": start_cursor.unwrap_or("-1"),
            "end": -1,
            "pull_number": limit,
            "is_positive": false,
            "msgType": "",
        });
        if let Some(from) = from {
            body["userId"] = json!(from);
        }
        if let Some(since) = since_ms {
            body["startTime"] = json!(since);
        }
        let v = self
            .post(&format!("users/{}/messageroaming", self.me()?), body)
            .await?;
        let data = v.get("data").cloned().unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut metas = Vec::new();
        for m in data
            .get("msgs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = m.get("msg").and_then(Value::as_str).unwrap_or_default();
            let bytes = b64
                .decode(text)
                .map_err(|e| RestError::Decode(format!("history message is not base64: {e}")))?;
            metas.push(
                Meta::decode(bytes.as_slice()).map_err(|e| {
                    RestError::Decode(format!("history message is not a Meta: {e}"))
                })?,
            );
        }
        Ok(HistoryPage {
            metas,
            next_key: Some(str_of(&data, "next_key")).filter(|k| !k.is_empty()),
            is_last: bool_of(&data, "is_last"),
        })
    }
}
