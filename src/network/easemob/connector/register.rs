//! `register` for Easemob: the SDK's `registerUser`, `POST /{org}/{app}/users` without a
//! token, which the server accepts only when the app's console has "open registration" on.
//! The server's refusals (developers' reports and the SDK's own checks, see the sandbox's
//! `rest_users`) become [`RegisterFailure`]s: 401 "Open registration doesn't allow…" →
//! closed; 400 `duplicate_unique_property_exists` → name taken; 400 `illegal_argument` "… is
//! not legal" → name invalid; 429 → quota (the free edition's user limit, or the rate limit).
//! The new account is then checked as the password login checks it and its login data made
//! the same way.

use async_trait::async_trait;
use serde_json::json;

use super::{device_resource, EasemobConnector};
use crate::core::connector::LoginData;
use crate::core::registration::{RegisterFailure, RegistrationAbility};
use crate::network::easemob::client::shared_http;
use crate::network::easemob::rest::{RestClient, RestError};

/// The longest password the server takes (characters).
const MAX_PASSWORD_CHARS: usize = 64;

#[async_trait]
impl RegistrationAbility for EasemobConnector {
    async fn register(&self, user: &str, password: &str) -> Result<LoginData, RegisterFailure> {
        // Easemob user ids are case-insensitive and stored in lower case.
        let user = user.trim().to_lowercase();
        if password.is_empty() || password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(RegisterFailure::Refused(format!(
                "the password must be 1 to {MAX_PASSWORD_CHARS} characters"
            )));
        }
        let settings = &self.settings;
        let unreachable = |e: String| RegisterFailure::Unreachable(e);
        let http = shared_http().map_err(|e| unreachable(e.to_string()))?;
        let rest = RestClient::new(http, &settings.rest_url, &settings.app_key)
            .map_err(|e| unreachable(e.to_string()))?;
        rest.register_user(&user, password, "")
            .await
            .map_err(|e| refusal(&user, e))?;
        rest.password_token(&user, password)
            .await
            .map_err(|e| RegisterFailure::Refused(format!("registered, but cannot log in: {e}")))?;
        let resource = device_resource(&settings.app_key, &user);
        Ok(LoginData {
            remote_id: user,
            secrets: json!({ "password": password, "resource": resource }),
        })
    }
}

/// The server's refusal of `user`'s registration, in the core's terms.
fn refusal(user: &str, e: RestError) -> RegisterFailure {
    match e {
        RestError::Unauthorized(_) => RegisterFailure::Closed,
        RestError::Http {
            status,
            error,
            description,
        } => match (status, error.as_str()) {
            (_, "duplicate_unique_property_exists") => RegisterFailure::NameTaken(user.to_owned()),
            _ if description.contains("username be unique") => {
                RegisterFailure::NameTaken(user.to_owned())
            }
            (400, "illegal_argument") | (400, _) if description.contains("is not legal") => {
                RegisterFailure::NameInvalid(
                    "1 to 64 characters of a-z, 0-9, `_`, `-` and `.`".into(),
                )
            }
            (401, _) => RegisterFailure::Closed,
            (429, _) => RegisterFailure::QuotaReached(description),
            _ => RegisterFailure::Refused(format!("{error}: {description}")),
        },
        RestError::Transport(t) => RegisterFailure::Unreachable(t),
        other => RegisterFailure::Refused(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, error: &str, description: &str) -> RestError {
        RestError::Http {
            status,
            error: error.into(),
            description: description.into(),
        }
    }

    #[test]
    fn refusals_in_the_core_terms() {
        assert_eq!(
            refusal("bob", http(400, "duplicate_unique_property_exists", "x")),
            RegisterFailure::NameTaken("bob".into())
        );
        assert!(matches!(
            refusal(
                "B b",
                http(400, "illegal_argument", "username [B b] is not legal")
            ),
            RegisterFailure::NameInvalid(_)
        ));
        assert_eq!(
            refusal(
                "bob",
                RestError::Unauthorized("Open registration doesn't allow".into())
            ),
            RegisterFailure::Closed
        );
        assert!(matches!(
            refusal(
                "bob",
                http(429, "exceeded_limit", "limit of the community edition")
            ),
            RegisterFailure::QuotaReached(_)
        ));
    }
}
