//! Group invitations of the REST client (see the parent module): inviting users into a group
//! and answering an invitation, as the SDK's `inviteUsersToGroup`, `acceptGroupInvite` and
//! `rejectGroupInvite` do.

use serde_json::json;

use super::{seg, RestClient, RestError};

impl RestClient {
    /// `POST /chatgroups/{id}/invite` `{"usernames", "reason"}`: invites `users`. In a group
    /// created with `invite_need_confirm` each invitee gets INVITE and joins only when they
    /// accept; otherwise they are added at once.
    pub async fn invite_to_group(
        &self,
        id: &str,
        users: &[&str],
        reason: &str,
    ) -> Result<(), RestError> {
        self.post(
            &format!("chatgroups/{}/invite", seg(id)),
            json!({ "usernames": users, "reason": reason }),
        )
        .await
        .map(drop)
    }

    /// `POST /chatgroups/{id}/invite_verify` `{"invitee", "verifyResult"}`: the logged-in user
    /// accepts (`accept`, joining the group) or declines an invitation to group `id`. A
    /// missing invitation is the server's refusal ([`RestError`] with its description).
    pub async fn answer_group_invitation(&self, id: &str, accept: bool) -> Result<(), RestError> {
        let me = self
            .user
            .clone()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        self.post(
            &format!("chatgroups/{}/invite_verify", seg(id)),
            json!({ "invitee": me, "verifyResult": accept }),
        )
        .await
        .map(drop)
    }
}
