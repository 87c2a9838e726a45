//! Presence of the REST client (see the parent module), as the SDK's presence API calls it:
//! `POST /users/{me}/presence/{resource}/1` `{"ext"}` (publishPresence) and
//! `POST /users/{me}/presence/{expiry}` `{"usernames"}` (subscribePresence, which answers the
//! current statuses under `result`).

use serde_json::{json, Value};

use super::{seg, RestClient, RestError};
use crate::network::easemob::events::{parse_presence_list, PresenceStatus};

impl RestClient {
    /// Publishes the user's custom presence status `ext` for device `resource`.
    pub async fn publish_presence(&self, resource: &str, ext: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/presence/{}/1", self.me()?, seg(resource)),
            json!({ "ext": ext }),
        )
        .await
        .map(drop)
    }

    /// Subscribes to `users`' presence for `expiry_secs` seconds (the service takes at most
    /// 100 users per call); returns their current presence.
    pub async fn subscribe_presence(
        &self,
        users: &[&str],
        expiry_secs: u64,
    ) -> Result<Vec<PresenceStatus>, RestError> {
        let v = self
            .post(
                &format!("users/{}/presence/{expiry_secs}", self.me()?),
                json!({ "usernames": users }),
            )
            .await?;
        Ok(parse_presence_list(v.get("result").unwrap_or(&Value::Null)))
    }
}
