//! Group settings of the REST client that are neither membership nor roles: the group
//! announcement (`/chatgroups/{id}/announcement`, the SDK's `updateGroupAnnouncement` /
//! `fetchGroupAnnouncement`) and owner transfer (`PUT /chatgroups/{id}` `{"newowner"}`, the
//! SDK's `changeGroupOwner`). Rows of reference §5 (REST), `easemob-protocol.md`.

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
