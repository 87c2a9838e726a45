//! Part of the connector contract: creating an IM account from the bridge (`register`), for
//! networks whose apps may allow open registration (Easemob / Agora `registerUser`, JMessage
//! `JIM.register`). A connector offers it through
//! [`NetworkConnector::as_registration`](super::connector::NetworkConnector::as_registration);
//! the bot's `register` command ([`super::commands`]) uses it and logs the new account in.

use async_trait::async_trait;

use super::connector::LoginData;

/// Why an account could not be created, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterFailure {
    /// Someone has that user name already.
    #[error("the user name {0} is taken: choose another one, or `login` if it is yours")]
    NameTaken(String),
    /// The name breaks the network's rules (the text says which).
    #[error("that user name cannot be used: {0}")]
    NameInvalid(String),
    /// The app does not let clients register (only its own server can).
    #[error(
        "this IM app does not allow registering from a client: ask its operator for an account"
    )]
    Closed,
    /// The app has as many accounts as its plan allows, or registers too fast right now.
    #[error("the IM app cannot take more accounts now ({0})")]
    QuotaReached(String),
    /// Refused for another reason (the text says why).
    #[error("{0}")]
    Refused(String),
    /// The network did not answer.
    #[error("the IM service cannot be reached: {0}")]
    Unreachable(String),
}

/// Creating accounts on the network.
#[async_trait]
pub trait RegistrationAbility: Send + Sync {
    /// Creates the account `user` with `password`, then checks the credentials as the
    /// password login would, and returns what the login stores (so the core can log in at
    /// once, exactly as after `login`).
    async fn register(&self, user: &str, password: &str) -> Result<LoginData, RegisterFailure>;
}
