//! Easemob's login flows: `password` (user name and password; the password is stored and
//! exchanged for a fresh token whenever one expires) and `token` (user name and a user token
//! an app server issued, as `POST /token` returns it; only the token is stored, and once it
//! expires the login ends with bad credentials until a new token is given with
//! `login token`). Both check the credentials over REST before completing: the password by
//! the password grant, the token by `GET /sdk/users/{user}/token/expires` (the SDK's
//! `renewToken` check), which also tells an expired token.

use async_trait::async_trait;
use serde_json::json;

use super::device_resource;
use super::EasemobSettings;
use crate::core::connector::{
    LoginData, LoginFailure, LoginFlow, LoginInput, LoginInputField, LoginInputFieldType,
    LoginProcess, LoginStep,
};
use crate::network::easemob::client::{shared_http, Credential};
use crate::network::easemob::rest::{RestClient, RestError};

/// Flow id of the password login (the default).
pub const PASSWORD_FLOW: &str = "password";
/// Flow id of the user-token login.
pub const TOKEN_FLOW: &str = "token";

/// What a token login's end says once its token expired or was revoked.
pub(super) const TOKEN_EXPIRED: &str =
    "the user token has expired or was revoked: send `relogin token` with a new one";

/// Easemob user ids: 1 to 64 of a-z, A-Z, 0-9, `_`, `-`, `.` (case-insensitive).
const USERNAME_PATTERN: &str = "[A-Za-z0-9_.-]{1,64}";

/// What the password flow says about refused credentials.
const BAD_PASSWORD: &str = "wrong user name or password";
/// What the token flow says about a refused token.
const BAD_TOKEN: &str = "the user token is invalid or has expired: get a new one from your \
                         app server and send `login token` again";

/// The flows, password first (the default).
pub(super) fn flows() -> Vec<LoginFlow> {
    vec![
        LoginFlow {
            id: PASSWORD_FLOW.into(),
            name: "Password".into(),
            description: "Log in with your Easemob user name and password.".into(),
        },
        LoginFlow {
            id: TOKEN_FLOW.into(),
            name: "User token".into(),
            description: "Log in with your Easemob user name and a user token issued by your \
                          app server (no password is stored; send a new token when it expires)."
                .into(),
        },
    ]
}

/// A process for `flow_id`.
pub(super) fn create(
    settings: &EasemobSettings,
    flow_id: &str,
) -> Result<Box<dyn LoginProcess>, LoginFailure> {
    let by_token = match flow_id {
        PASSWORD_FLOW => false,
        TOKEN_FLOW => true,
        other => {
            return Err(LoginFailure::Refused(format!(
                "Easemob has no login flow `{other}` (use {PASSWORD_FLOW} or {TOKEN_FLOW})"
            )))
        }
    };
    Ok(Box::new(EasemobLoginProcess {
        settings: settings.clone(),
        by_token,
    }))
}

/// The stored credential of a login: its password or its token.
pub(super) fn stored_credential(data: &LoginData) -> Result<Credential, LoginFailure> {
    if let Some(password) = data.secrets["password"].as_str() {
        return Ok(Credential::Password(password.to_owned()));
    }
    if let Some(token) = data.secrets["token"].as_str() {
        return Ok(Credential::Token(token.to_owned()));
    }
    Err(LoginFailure::Refused(
        "the stored login has neither a password nor a token: log in again".into(),
    ))
}

/// One Easemob login in progress: a single `user_input` step, then `complete`.
struct EasemobLoginProcess {
    settings: EasemobSettings,
    by_token: bool,
}

fn username_field() -> LoginInputField {
    LoginInputField {
        field_type: LoginInputFieldType::Username,
        id: "username".into(),
        name: "IM user name".into(),
        description: String::new(),
        pattern: Some(USERNAME_PATTERN.into()),
    }
}

#[async_trait]
impl LoginProcess for EasemobLoginProcess {
    async fn start(&mut self) -> Result<LoginStep, LoginFailure> {
        let secret = if self.by_token {
            LoginInputField {
                field_type: LoginInputFieldType::Token,
                id: "token".into(),
                name: "user token".into(),
                description: "The access_token your app server got for this user from \
                              Easemob's `POST /token`."
                    .into(),
                pattern: None,
            }
        } else {
            LoginInputField {
                field_type: LoginInputFieldType::Password,
                id: "password".into(),
                name: "password".into(),
                description: String::new(),
                pattern: None,
            }
        };
        Ok(LoginStep::UserInput {
            step_id: format!(
                "easemob.{}",
                if self.by_token { "token" } else { "password" }
            ),
            instructions: String::new(),
            fields: vec![username_field(), secret],
        })
    }

    async fn submit_user_input(&mut self, input: LoginInput) -> Result<LoginStep, LoginFailure> {
        let user = input.require("username")?.trim().to_lowercase();
        let rest = RestClient::new(
            shared_http().map_err(|e| LoginFailure::Unreachable(e.to_string()))?,
            &self.settings.rest_url,
            &self.settings.app_key,
        )
        .map_err(|e| LoginFailure::Unreachable(e.to_string()))?;
        let resource = device_resource(&self.settings.app_key, &user);
        let secrets = if self.by_token {
            let token = input.require("token")?.trim();
            check_token(&rest, &user, token).await?;
            json!({ "token": token, "resource": resource })
        } else {
            let password = input.require("password")?;
            match rest.password_token(&user, password).await {
                Ok(_) => {}
                Err(RestError::InvalidPassword | RestError::UserNotFound) => {
                    return Err(LoginFailure::BadCredentials(BAD_PASSWORD.into()))
                }
                Err(e) => return Err(LoginFailure::Unreachable(e.to_string())),
            }
            json!({ "password": password, "resource": resource })
        };
        Ok(LoginStep::Complete {
            step_id: "easemob.complete".into(),
            instructions: String::new(),
            data: LoginData {
                remote_id: user,
                secrets,
            },
        })
    }
}

/// Checks that `token` is a live token of `user` (not expired, not another user's).
async fn check_token(rest: &RestClient, user: &str, token: &str) -> Result<(), LoginFailure> {
    match rest.with_token(user, token).token_expires().await {
        Ok(expires_ms) if expires_ms <= now_ms() => {
            Err(LoginFailure::BadCredentials(BAD_TOKEN.into()))
        }
        Ok(_) => Ok(()),
        Err(RestError::Unauthorized(_) | RestError::UserNotFound) => {
            Err(LoginFailure::BadCredentials(BAD_TOKEN.into()))
        }
        Err(RestError::Http { status: 403, .. }) => Err(LoginFailure::BadCredentials(format!(
            "that user token is not {user}'s"
        ))),
        Err(e) if e.is_transient() => Err(LoginFailure::Unreachable(e.to_string())),
        Err(e) => Err(LoginFailure::Refused(format!(
            "the IM service did not accept the token check: {e}"
        ))),
    }
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EasemobSettings {
        EasemobSettings {
            app_key: "org#app".into(),
            rest_url: "http://127.0.0.1:9".into(),
            websocket_url: "ws://127.0.0.1:9/websocket".into(),
        }
    }

    #[tokio::test]
    async fn each_flow_asks_user_name_then_its_secret() {
        for (flow, secret) in [
            (PASSWORD_FLOW, LoginInputFieldType::Password),
            (TOKEN_FLOW, LoginInputFieldType::Token),
        ] {
            let mut p = create(&settings(), flow).expect("known flow");
            let Ok(LoginStep::UserInput { fields, .. }) = p.start().await else {
                panic!("{flow}: first step is not user_input");
            };
            let types: Vec<_> = fields.iter().map(|f| f.field_type).collect();
            assert_eq!(types, [LoginInputFieldType::Username, secret], "{flow}");
            assert!(fields[0].check("Alice_1.x-y").is_ok());
            assert!(fields[0].check("alice bob").is_err());
        }
        assert!(create(&settings(), "qr").is_err());
    }

    #[test]
    fn stored_credentials() {
        let data = |secrets| LoginData {
            remote_id: "alice".into(),
            secrets,
        };
        assert!(matches!(
            stored_credential(&data(json!({"password": "p", "resource": "r"}))),
            Ok(Credential::Password(_))
        ));
        assert!(matches!(
            stored_credential(&data(json!({"token": "t"}))),
            Ok(Credential::Token(_))
        ));
        assert!(stored_credential(&data(json!({}))).is_err());
    }
}
