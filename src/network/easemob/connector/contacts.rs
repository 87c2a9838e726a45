//! Contacts and the block list as the logged-in user (the core's `ContactsAbility`), over
//! the REST client: `POST /users/{me}/contacts/apply` (the SDK's `addContact`),
//! `…/contacts/{accept|decline}/users/{from}`, `DELETE …/contacts/users/{user}`, and
//! `POST /users/{me}/blocks/users` / `DELETE …/blocks/users/{user}` / `GET …/blocks/users`
//! (the SDK's `addUsersToBlocklist`, `removeUserFromBlocklist`, `getBlocklist`). The server
//! tells the other side (ROSTER metas), whose answers come back as contact events.

use async_trait::async_trait;

use super::group_admin::admin_failure;
use super::EasemobLogin;
use crate::core::connector::{ContactsAbility, SendFailure};

#[async_trait]
impl ContactsAbility for EasemobLogin {
    async fn add_contact(&self, user: &str, message: Option<&str>) -> Result<(), SendFailure> {
        self.client
            .rest()
            .add_contact(user, message.unwrap_or_default())
            .await
            .map_err(admin_failure)
    }

    async fn answer_contact_request(&self, from: &str, accept: bool) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        match accept {
            true => rest.accept_contact(from).await,
            false => rest.decline_contact(from).await,
        }
        .map_err(admin_failure)
    }

    async fn remove_contact(&self, user: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .remove_contact(user)
            .await
            .map_err(admin_failure)
    }

    async fn set_blocked(&self, user: &str, blocked: bool) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        match blocked {
            true => rest.block_users(&[user]).await,
            false => rest.unblock_user(user).await,
        }
        .map_err(admin_failure)
    }

    async fn blocked_users(&self) -> Result<Vec<String>, SendFailure> {
        self.client
            .rest()
            .blocked_users()
            .await
            .map_err(admin_failure)
    }
}
