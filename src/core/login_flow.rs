//! Login flows, the connector side of logging in (the mautrix bridgev2 `LoginProcess` shape):
//! a connector declares its [`LoginFlow`]s and creates a [`LoginProcess`] for one of them;
//! the process hands out [`LoginStep`]s (`user_input` with typed fields, `display_and_wait`
//! for QR-code style logins, `complete` with the [`LoginData`] to store) until it completes
//! or fails with a typed [`LoginFailure`]. The bot's `login` command and a provisioning API
//! drive any network's flow through these types alone.
//!
//! The core knows which field types are secret ([`LoginInputFieldType::is_secret`]): their
//! values are redacted from the room after being read and never logged ([`LoginInput`] prints
//! no values).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

use super::connector::{LoginData, LoginFailure};

/// One way of logging in that a connector offers (`password`, `token`, `qr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginFlow {
    /// Stable id, used in `login <id>` and the provisioning API (`password`).
    pub id: String,
    /// Short human name (`Password`).
    pub name: String,
    /// One sentence on what the user needs for it.
    pub description: String,
}

/// What a field asks for. Decides how a client shows it and whether its value is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginInputFieldType {
    /// A user name or id on the network.
    Username,
    /// A password (secret).
    Password,
    /// A phone number.
    PhoneNumber,
    /// An e-mail address.
    Email,
    /// A one-time code (secret), `2fa_code` in mautrix.
    #[serde(rename = "2fa_code")]
    TwoFactorCode,
    /// An access token or signature issued for the user (secret).
    Token,
    /// A URL.
    Url,
    /// A domain name.
    Domain,
}

impl LoginInputFieldType {
    /// True for values that must not stay in a room or reach a log: passwords, tokens, codes.
    pub fn is_secret(self) -> bool {
        matches!(self, Self::Password | Self::Token | Self::TwoFactorCode)
    }
}

/// One value a `user_input` step asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginInputField {
    /// What kind of value (`type` in the provisioning API).
    #[serde(rename = "type")]
    pub field_type: LoginInputFieldType,
    /// Key of the value in the submitted [`LoginInput`] (`username`).
    pub id: String,
    /// Human name, used in prompts ("Send your {name}") (`IM user name`).
    pub name: String,
    /// Help text shown with the prompt; may be empty.
    pub description: String,
    /// A regular expression the whole value must match, checked before submitting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl LoginInputField {
    /// Whether `value` is acceptable: not empty, and matching [`LoginInputField::pattern`]
    /// when there is one (an invalid pattern accepts everything: the connector checks anyway).
    /// `Err` says what is wrong, without repeating the value.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.trim().is_empty() {
            return Err(format!("the {} must not be empty", self.name));
        }
        let Some(pattern) = &self.pattern else {
            return Ok(());
        };
        match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(re) if !re.is_match(value) => Err(format!(
                "that is not a valid {} (it must match `{pattern}`)",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

/// What a `display_and_wait` step shows while the process waits for something to happen
/// elsewhere (a QR code scanned on the phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum LoginDisplay {
    /// Data to render as a QR code.
    Qr(String),
    /// An emoji sequence to compare.
    Emoji(String),
    /// A code to type in elsewhere.
    Code(String),
    /// Nothing to show, only wait.
    Nothing,
}

/// The next thing a login process needs (or its end).
#[derive(Debug, Clone, PartialEq)]
pub enum LoginStep {
    /// Ask the user for the `fields`, then call [`LoginProcess::submit_user_input`].
    UserInput {
        /// Stable id of the step (`easemob.password`), for clients and logs.
        step_id: String,
        /// Shown before the first field is asked for; may be empty.
        instructions: String,
        /// In the order they are asked for. Never empty.
        fields: Vec<LoginInputField>,
    },
    /// Show `display`, then call [`LoginProcess::wait`] for the next step.
    DisplayAndWait {
        step_id: String,
        instructions: String,
        display: LoginDisplay,
    },
    /// Logged in: the credentials were checked; `data` is stored and the session started.
    Complete {
        step_id: String,
        /// Shown once the login is started; may be empty.
        instructions: String,
        data: LoginData,
    },
}

impl LoginStep {
    /// The step's id.
    pub fn step_id(&self) -> &str {
        match self {
            Self::UserInput { step_id, .. }
            | Self::DisplayAndWait { step_id, .. }
            | Self::Complete { step_id, .. } => step_id,
        }
    }

    /// `user_input`, `display_and_wait` or `complete` (the provisioning API's `type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserInput { .. } => "user_input",
            Self::DisplayAndWait { .. } => "display_and_wait",
            Self::Complete { .. } => "complete",
        }
    }
}

/// The values submitted for a `user_input` step, by field id. Its `Debug` shows the field ids
/// only: values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginInput(BTreeMap<String, String>);

impl LoginInput {
    /// Empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value of field `id`.
    pub fn insert(&mut self, id: impl Into<String>, value: impl Into<String>) {
        self.0.insert(id.into(), value.into());
    }

    /// The value of field `id`.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// The value of field `id`, or [`LoginFailure::Refused`] naming the missing field.
    pub fn require(&self, id: &str) -> Result<&str, LoginFailure> {
        self.get(id)
            .ok_or_else(|| LoginFailure::Refused(format!("the field `{id}` is missing")))
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when it holds no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for LoginInput {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for LoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One login in progress, for one flow. Created by
/// [`NetworkConnector::create_login`](super::connector::NetworkConnector::create_login);
/// driven by the core: [`LoginProcess::start`] once, then, after a `user_input` step,
/// [`LoginProcess::submit_user_input`], after a `display_and_wait` step,
/// [`LoginProcess::wait`], until a `complete` step or an error (which ends the process).
/// [`LoginProcess::cancel`] when the user gives up.
#[async_trait]
pub trait LoginProcess: Send + Sync {
    /// The first step.
    async fn start(&mut self) -> Result<LoginStep, LoginFailure>;
    /// The values asked for by the current `user_input` step; returns the next step. Checks
    /// the credentials before returning `complete`.
    async fn submit_user_input(&mut self, input: LoginInput) -> Result<LoginStep, LoginFailure>;
    /// Waits for what the current `display_and_wait` step shows to be acted on; returns the
    /// next step. Default: refused (no flow of the connector waits).
    async fn wait(&mut self) -> Result<LoginStep, LoginFailure> {
        Err(LoginFailure::Refused(
            "this login step does not wait for anything".into(),
        ))
    }
    /// The user gave up: release what the process holds. Default: nothing to release.
    async fn cancel(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(pattern: Option<&str>) -> LoginInputField {
        LoginInputField {
            field_type: LoginInputFieldType::Username,
            id: "username".into(),
            name: "user name".into(),
            description: String::new(),
            pattern: pattern.map(str::to_owned),
        }
    }

    #[test]
    fn secret_types() {
        assert!(LoginInputFieldType::Password.is_secret());
        assert!(LoginInputFieldType::Token.is_secret());
        assert!(LoginInputFieldType::TwoFactorCode.is_secret());
        assert!(!LoginInputFieldType::Username.is_secret());
        assert!(!LoginInputFieldType::Email.is_secret());
    }

    #[test]
    fn pattern_is_anchored() {
        let f = field(Some("[a-z]+"));
        assert!(f.check("alice").is_ok());
        assert!(f.check("alice!").is_err());
        assert!(f.check("  ").is_err());
        assert!(field(None).check("anything at all").is_ok());
        // A broken pattern does not lock users out.
        assert!(field(Some("[")).check("x").is_ok());
    }

    #[test]
    fn input_debug_hides_values() {
        let input: LoginInput = [("username", "alice"), ("password", "hunter2")]
            .into_iter()
            .collect();
        let shown = format!("{input:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(input.require("username"), Ok("alice"));
        assert!(input.require("token").is_err());
    }

    #[test]
    fn field_types_serialise_as_mautrix_names() {
        let json = serde_json::to_value(LoginInputFieldType::TwoFactorCode).ok();
        assert_eq!(json, Some(serde_json::json!("2fa_code")));
        let json = serde_json::to_value(LoginInputFieldType::PhoneNumber).ok();
        assert_eq!(json, Some(serde_json::json!("phone_number")));
    }
}
