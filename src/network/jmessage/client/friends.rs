//! The [`Client`] methods for friends and the blacklist: each queues one session call
//! ([`crate::network::jmessage::session`]'s friend API) and awaits its answer. Errors are
//! [`SendError`]: `Rejected {code, message}` with the service's code (880103 no such user,
//! …), `Timeout`, `QueueTimeout`, `SessionEnded`.

use super::Client;
use crate::network::jmessage::session::{usernames, SendError};

impl Client {
    /// Invites `username` to be a friend, with `why` (`add_friend`, `from_type` 1).
    pub async fn add_friend(&self, username: &str, why: &str) -> Result<(), SendError> {
        let (username, why) = (username.to_owned(), why.to_owned());
        self.call(move |s, now| s.add_friend(&username, &why, now))
            .await
            .map(drop)
    }

    /// Accepts (`accept`) or refuses `username`'s friend invitation (`add_friend`,
    /// `from_type` 2).
    pub async fn answer_friend(&self, username: &str, accept: bool) -> Result<(), SendError> {
        let username = username.to_owned();
        self.call(move |s, now| s.answer_friend(&username, accept, now))
            .await
            .map(drop)
    }

    /// Removes `username` from our friends (`del_friend`).
    pub async fn del_friend(&self, username: &str) -> Result<(), SendError> {
        let username = username.to_owned();
        self.call(move |s, now| s.del_friend(&username, now))
            .await
            .map(drop)
    }

    /// Our friends' usernames (`get_friend_list`).
    pub async fn friend_list(&self) -> Result<Vec<String>, SendError> {
        let v = self.call(move |s, now| s.friend_list(now)).await?;
        Ok(usernames(&v["friend_list"], &self.app_key))
    }

    /// Puts `username` on our blacklist (`on`) or takes them off (`add|del_black_list`).
    pub async fn set_blacklisted(&self, username: &str, on: bool) -> Result<(), SendError> {
        let username = username.to_owned();
        self.call(move |s, now| s.set_blacklisted(&username, on, now))
            .await
            .map(drop)
    }

    /// The usernames on our blacklist (`get_black_list`).
    pub async fn black_list(&self) -> Result<Vec<String>, SendError> {
        let v = self.call(move |s, now| s.black_list(now)).await?;
        Ok(usernames(&v["black_list"], &self.app_key))
    }
}
