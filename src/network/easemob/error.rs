//! Typed errors of the Easemob client: login (REST token and Provision), sending, and the
//! reasons a session ends for good. The mapping follows the protocol reference §1.7, §1.9, §3.2.

use super::proto::status::ErrorCode;

/// Why logging in failed. None of these is retried automatically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("the token does not match the user or is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("user not found")]
    UserNotFound,
    #[error("too many devices are logged in for this user")]
    TooManyDevices,
    #[error("the IM service is disabled for this app")]
    ServiceDisabled,
    #[error("a limit of the app was reached: {0}")]
    LimitReached(String),
    #[error("the device was changed")]
    DeviceChanged,
    #[error("the server did not answer the login in time")]
    Timeout,
    #[error("login refused (code {code}): {reason}")]
    Other { code: i32, reason: String },
    #[error("transport error: {0}")]
    Transport(String),
}

impl LoginError {
    /// Maps a Provision reply status to an error (reference §1.7).
    pub fn from_provision_status(code: i32, reason: &str) -> Self {
        match ErrorCode::try_from(code) {
            Ok(ErrorCode::Fail) => match reason {
                "Sorry, token or password does not match login info" => Self::InvalidToken,
                "Sorry, token expired" => Self::TokenExpired,
                "Sorry, user not found" => Self::UserNotFound,
                "Sorry, user register limit" | "Sorry, user register rate limit" => {
                    Self::LimitReached(reason.to_owned())
                }
                _ => Self::Other {
                    code,
                    reason: reason.to_owned(),
                },
            },
            Ok(ErrorCode::TokenExpired) => Self::TokenExpired,
            Ok(ErrorCode::PermissionDenied) if reason.contains("count limit") => {
                Self::LimitReached(reason.to_owned())
            }
            Ok(ErrorCode::ImForbidden) => Self::ServiceDisabled,
            Ok(ErrorCode::TooManyDevices) => Self::TooManyDevices,
            _ if code == 20 => Self::DeviceChanged,
            _ => Self::Other {
                code,
                reason: reason.to_owned(),
            },
        }
    }

    /// True when a fresh token (password login) could fix it.
    pub fn is_token_problem(&self) -> bool {
        matches!(self, Self::InvalidToken | Self::TokenExpired)
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the server did not acknowledge the message in time")]
    Timeout,
    #[error("the message waited too long for a connection")]
    QueueTimeout,
    #[error("the server refused the message (code {code}): {reason}")]
    Rejected { code: i32, reason: String },
    #[error("the session has ended")]
    SessionEnded,
}

/// Why a session ended for good (no reconnect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndReason {
    #[error("logged in on another device")]
    LoggedInElsewhere { custom_ext: String },
    #[error("the user was removed")]
    UserRemoved,
    #[error("the password was changed")]
    PasswordChanged,
    #[error("kicked by another device of the same user")]
    KickedByOtherDevice,
    #[error("the token expired")]
    TokenExpired,
    #[error("login failed: {0}")]
    LoginFailed(LoginError),
    #[error("logged out")]
    LoggedOut,
}

impl EndReason {
    /// The SDK's numeric error code for this reason (206, 207, 216, 217, 56), for logs and tests.
    pub fn sdk_code(&self) -> Option<u32> {
        match self {
            Self::LoggedInElsewhere { .. } => Some(206),
            Self::UserRemoved => Some(207),
            Self::PasswordChanged => Some(216),
            Self::KickedByOtherDevice => Some(217),
            Self::TokenExpired => Some(56),
            _ => None,
        }
    }
}
