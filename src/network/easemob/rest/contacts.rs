//! User profiles and contacts of the REST client (see the parent module).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{seg, RestClient, RestError, UserProfile, REQUEST_TIMEOUT};

impl RestClient {
    /// `POST /metadata/user/get`: profiles of `ids` (unknown users are left out).
    pub async fn user_info(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RestError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(100) {
            let v = self
                .post(
                    "metadata/user/get",
                    json!({ "targets": chunk, "properties": [] }),
                )
                .await?;
            let Some(data) = v.get("data").and_then(Value::as_object) else {
                continue;
            };
            for (user, fields) in data {
                let fields: HashMap<String, String> = fields
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                let pick = |k: &str| fields.get(k).filter(|s| !s.is_empty()).cloned();
                out.insert(
                    user.clone(),
                    UserProfile {
                        nickname: pick("nickname"),
                        avatar_url: pick("avatarurl"),
                        fields: fields.clone(),
                    },
                );
            }
        }
        Ok(out)
    }

    /// `PUT /metadata/user/{user}` (form-urlencoded, as the SDK's `updateOwnUserInfo`).
    pub async fn set_own_info(
        &self,
        nickname: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<(), RestError> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            if let Some(n) = nickname {
                form.append_pair("nickname", n);
            }
            if let Some(a) = avatar_url {
                form.append_pair("avatarurl", a);
            }
            form.finish()
        };
        let resp = self
            .http
            .put(self.url(&format!("metadata/user/{}", self.me()?)))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        Self::check::<Value>(resp).await.map(drop)
    }

    /// `GET /users/{user}/contacts/users`.
    pub async fn contacts(&self) -> Result<Vec<String>, RestError> {
        let v = self
            .get(&format!("users/{}/contacts/users", self.me()?))
            .await?;
        Ok(super::strings_of(v.get("data")))
    }

    /// `GET /sdk/user/{user}/user_channels/list` (the SDK's `getServerConversations`): the
    /// user's conversations, most recent first, at most `max` (pages of 50 followed by their
    /// `cursor`). Each is `(id, is_group)`: a user id for `session_type` `chat`, a group id for
    /// `groupchat`; other types are skipped.
    pub async fn conversations(&self, max: usize) -> Result<Vec<(String, bool)>, RestError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        while out.len() < max {
            let tail = format!(
                "sdk/user/{}/user_channels/list?limit=50&cursor={}&need_mark=false",
                self.me()?,
                seg(&cursor)
            );
            let v = self.get(&tail).await?;
            let data = &v["data"];
            let page = data["channel_infos"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for c in &page {
                let Some(id) = c["session_to"].as_str() else {
                    continue;
                };
                match c["session_type"].as_str() {
                    Some("chat") => out.push((id.to_owned(), false)),
                    Some("groupchat") => out.push((id.to_owned(), true)),
                    _ => {}
                }
            }
            cursor = data["cursor"].as_str().unwrap_or_default().to_owned();
            if page.is_empty() || cursor.is_empty() {
                break;
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// `POST /users/{user}/contacts/apply`: asks `user` to become a contact.
    pub async fn add_contact(&self, user: &str, reason: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/apply", self.me()?),
            json!({ "usernames": [user], "reason": reason }),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{user}/contacts/accept/users/{from}`.
    pub async fn accept_contact(&self, from: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/accept/users/{}", self.me()?, seg(from)),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{user}/contacts/decline/users/{from}`.
    pub async fn decline_contact(&self, from: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/decline/users/{}", self.me()?, seg(from)),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{user}/blocks/users` `{"usernames"}`: blocks `users` (their messages no
    /// longer reach this user).
    pub async fn block_users(&self, users: &[&str]) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/blocks/users", self.me()?),
            json!({ "usernames": users }),
        )
        .await
        .map(drop)
    }

    /// `DELETE /users/{user}/blocks/users/{other}`: unblocks `other`.
    pub async fn unblock_user(&self, other: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("users/{}/blocks/users/{}", self.me()?, seg(other)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /users/{user}/blocks/users`: the blocked users (`data`, a list of names).
    pub async fn blocked_users(&self) -> Result<Vec<String>, RestError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("users/{}/blocks/users", self.me()?),
                None,
            )
            .await?;
        Ok(super::strings_of(v.get("data")))
    }

    /// `DELETE /users/{user}/contacts/users/{other}`.
    pub async fn remove_contact(&self, other: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("users/{}/contacts/users/{}", self.me()?, seg(other)),
            None,
        )
        .await
        .map(drop)
    }
}
