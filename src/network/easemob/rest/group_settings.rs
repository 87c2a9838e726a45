//! Group settings of the REST client beyond plain membership and roles: the group
//! announcement (`/chatgroups/{id}/announcement`, the SDK's `updateGroupAnnouncement` /
//! `fetchGroupAnnouncement`), owner transfer (`PUT /chatgroups/{id}` `{"newowner"}`, the
//! SDK's `changeGroupOwner`) and the group's block list (`/chatgroups/{id}/blocks/users`, the
//! SDK's `blockGroupMember`, `unblockGroupMember`, `getGroupBlocklist`). Rows of reference §5 (REST), `easemob-protocol.md`.

use serde_json::json;

use super::{seg, str_of, RestClient, RestError};

/// The longest group announcement the service takes, in bytes (the SDK docs' 512).
pub const MAX_ANNOUNCEMENT_BYTES: usize = 512;

impl RestClient {
    /// `GET /chatgroups/{id}/announcement?version=v3`: the group's announcement (`""` when it
    /// has none).
    pub async fn group_announcement(&self, id: &str) -> Result<String, RestError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("chatgroups/{}/announcement?version=v3", seg(id)),
                None,
            )
            .await?;
        Ok(str_of(&v["data"], "announcement"))
    }

    /// `POST /chatgroups/{id}/announcement?version=v3` `{"announcement"}` (owner and admins);
    /// an empty text removes it. The members are told (MUC `updateAnnouncement` /
    /// `deleteAnnouncement`).
    pub async fn set_group_announcement(&self, id: &str, text: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::POST,
            &format!("chatgroups/{}/announcement?version=v3", seg(id)),
            Some(json!({ "announcement": text })),
        )
        .await
        .map(drop)
    }

    /// `POST /chatgroups/{id}/blocks/users/{user}` (owner and admins): removes `user` and
    /// keeps them out until unblocked; `reason` is told to them.
    pub async fn block_group_member(
        &self,
        id: &str,
        user: &str,
        reason: Option<&str>,
    ) -> Result<(), RestError> {
        let body = reason.map(|r| json!({ "reason": r }));
        self.call(
            reqwest::Method::POST,
            &format!("chatgroups/{}/blocks/users/{}", seg(id), seg(user)),
            body,
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}/blocks/users/{user}`.
    pub async fn unblock_group_member(&self, id: &str, user: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/blocks/users/{}", seg(id), seg(user)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /chatgroups/{id}/blocks/users`: the group's blocked users.
    pub async fn group_blocklist(&self, id: &str) -> Result<Vec<String>, RestError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("chatgroups/{}/blocks/users", seg(id)),
                None,
            )
            .await?;
        Ok(v["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `PUT /chatgroups/{id}` `{"newowner"}`: hands the group to member `new_owner` (owner
    /// only; the old owner stays a plain member). The members are told (MUC `changeOwner`).
    pub async fn change_group_owner(&self, id: &str, new_owner: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::PUT,
            &format!("chatgroups/{}", seg(id)),
            Some(json!({ "newowner": new_owner })),
        )
        .await
        .map(drop)
    }
}
