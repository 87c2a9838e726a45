//! The [`Client`] methods for groups, group sends, recall, read reports, profiles and
//! no-disturb: each queues one session call
//! ([`crate::network::jmessage::session`]'s group API) in the task and awaits its answer,
//! typed. Errors are [`SendError`]: `Rejected {code, message}` with the service's code
//! (e.g. 880204 no such group, 880205 not a member, 855001 too late to retract), `Timeout`,
//! `QueueTimeout`, `SessionEnded`.

use std::time::Instant;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{Client, Command, Driver};
use crate::network::jmessage::session::{
    GroupInfo, GroupMember, MsgReaders, NoDisturb, SendError, SendReceipt, Session, UserInfo,
};

type Start = Box<dyn FnOnce(&mut Session, Instant) -> Result<u64, SendError> + Send>;

/// Where the answer goes.
enum Reply {
    Send(oneshot::Sender<Result<SendReceipt, SendError>>),
    Call(oneshot::Sender<Result<Value, SendError>>),
}

/// One queued operation: how to start it on the session, and who waits.
pub(super) struct Op {
    start: Start,
    reply: Reply,
}

impl Op {
    /// Starts the operation and files the caller under its id (or answers at once).
    pub(super) fn apply(self, driver: &mut Driver) {
        let started = (self.start)(&mut driver.session, Instant::now());
        match (started, self.reply) {
            (Ok(id), Reply::Send(r)) => {
                driver.waiting.insert(id, r);
            }
            (Ok(id), Reply::Call(r)) => {
                driver.calls.insert(id, r);
            }
            (Err(e), Reply::Send(r)) => {
                let _ = r.send(Err(e));
            }
            (Err(e), Reply::Call(r)) => {
                let _ = r.send(Err(e));
            }
        }
    }
}

/// A response without the field a caller needs.
fn malformed(what: &str) -> SendError {
    SendError::Rejected {
        code: crate::network::jmessage::wire::code::INVALID_PARAMETER,
        message: format!("response without {what}"),
    }
}

impl Client {
    /// Starts a send in the task and awaits its receipt.
    pub(super) async fn send_op(
        &self,
        start: impl FnOnce(&mut Session, Instant) -> Result<u64, SendError> + Send + 'static,
    ) -> Result<SendReceipt, SendError> {
        let (tx, rx) = oneshot::channel();
        let op = Op {
            start: Box::new(start),
            reply: Reply::Send(tx),
        };
        self.commands
            .send(Command::Op(op))
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Starts a call in the task and awaits its answer's fields.
    pub(super) async fn call(
        &self,
        start: impl FnOnce(&mut Session, Instant) -> Result<u64, SendError> + Send + 'static,
    ) -> Result<Value, SendError> {
        let (tx, rx) = oneshot::channel();
        let op = Op {
            start: Box::new(start),
            reply: Reply::Call(tx),
        };
        self.commands
            .send(Command::Op(op))
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Creates a group we own (`create_group`); resolves with its gid.
    pub async fn create_group(&self, name: &str, description: &str) -> Result<i64, SendError> {
        let (name, description) = (name.to_owned(), description.to_owned());
        let v = self
            .call(move |s, now| s.create_group(&name, &description, now))
            .await?;
        v["gid"].as_i64().ok_or_else(|| malformed("gid"))
    }

    /// The group `gid` (`get_group_info`; we must be a member).
    pub async fn group_info(&self, gid: i64) -> Result<GroupInfo, SendError> {
        let v = self.call(move |s, now| s.group_info(gid, now)).await?;
        GroupInfo::from_value(&v["group_info"], &self.app_key)
            .ok_or_else(|| malformed("group_info"))
    }

    /// The groups we are in (`get_groups_list`).
    pub async fn group_list(&self) -> Result<Vec<GroupInfo>, SendError> {
        let v = self.call(move |s, now| s.group_list(now)).await?;
        let list = v["group_list"]
            .as_array()
            .ok_or_else(|| malformed("group_list"))?;
        Ok(list
            .iter()
            .filter_map(|g| GroupInfo::from_value(g, &self.app_key))
            .collect())
    }

    /// The members of `gid` (`get_group_members`), the owner flagged.
    pub async fn group_members(&self, gid: i64) -> Result<Vec<GroupMember>, SendError> {
        let v = self.call(move |s, now| s.group_members(gid, now)).await?;
        let list = v["member_list"]
            .as_array()
            .ok_or_else(|| malformed("member_list"))?;
        Ok(list
            .iter()
            .filter_map(|m| GroupMember::from_value(m, &self.app_key))
            .collect())
    }

    /// Adds users (named as [`crate::network::jmessage::across`] does: another app's as
    /// `username/appkey`) to `gid` (`add_across_group_member`).
    pub async fn add_group_members(&self, gid: i64, usernames: &[&str]) -> Result<(), SendError> {
        let names: Vec<String> = usernames.iter().map(|u| (*u).to_owned()).collect();
        self.call(move |s, now| s.add_group_members(gid, &names, now))
            .await
            .map(drop)
    }

    /// Removes users from `gid` (`del_across_group_member`; the owner only).
    pub async fn del_group_members(&self, gid: i64, usernames: &[&str]) -> Result<(), SendError> {
        let names: Vec<String> = usernames.iter().map(|u| (*u).to_owned()).collect();
        self.call(move |s, now| s.del_group_members(gid, &names, now))
            .await
            .map(drop)
    }

    /// Renames `gid` and/or changes its description (`update_group_info`).
    pub async fn update_group_info(
        &self,
        gid: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), SendError> {
        let name = name.map(str::to_owned);
        let description = description.map(str::to_owned);
        self.call(move |s, now| {
            s.update_group_info(gid, name.as_deref(), description.as_deref(), now)
        })
        .await
        .map(drop)
    }

    /// Leaves `gid` (`exit_group`).
    pub async fn exit_group(&self, gid: i64) -> Result<(), SendError> {
        self.call(move |s, now| s.exit_group(gid, now))
            .await
            .map(drop)
    }

    /// The profile of `username`, a user of our app (`get_across_user_info`).
    pub async fn user_info(&self, username: &str) -> Result<UserInfo, SendError> {
        let username = username.to_owned();
        let v = self.call(move |s, now| s.user_info(&username, now)).await?;
        UserInfo::from_value(&v["user_info"], &self.app_key).ok_or_else(|| malformed("user_info"))
    }

    /// Changes our nickname and/or avatar (a `media_id` of an `image` upload;
    /// `update_self_info`).
    pub async fn update_self_info(
        &self,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> Result<(), SendError> {
        let nickname = nickname.map(str::to_owned);
        let avatar = avatar.map(str::to_owned);
        self.call(move |s, now| s.update_self_info(nickname.as_deref(), avatar.as_deref(), now))
            .await
            .map(drop)
    }

    /// The user's no-disturb settings (`no_disturb`).
    pub async fn no_disturb(&self) -> Result<NoDisturb, SendError> {
        let v = self.call(move |s, now| s.no_disturb(now)).await?;
        NoDisturb::from_value(&v["no_disturb"], &self.app_key)
            .ok_or_else(|| malformed("no_disturb"))
    }

    /// Puts the single chat with `username` on no-disturb (`on`) or takes it off
    /// (`add|delete_msg_no_disturb_single`).
    pub async fn set_single_no_disturb(&self, username: &str, on: bool) -> Result<(), SendError> {
        let username = username.to_owned();
        self.call(move |s, now| s.set_single_no_disturb(&username, on, now))
            .await
            .map(drop)
    }

    /// Puts group `gid` on no-disturb (`on`) or takes it off
    /// (`add|delete_msg_no_disturb_group`).
    pub async fn set_group_no_disturb(&self, gid: i64, on: bool) -> Result<(), SendError> {
        self.call(move |s, now| s.set_group_no_disturb(gid, on, now))
            .await
            .map(drop)
    }

    /// Switches account-wide no-disturb on (`on`) or off
    /// (`add|delete_msg_no_disturb_global`).
    pub async fn set_global_no_disturb(&self, on: bool) -> Result<(), SendError> {
        self.call(move |s, now| s.set_global_no_disturb(on, now))
            .await
            .map(drop)
    }

    /// Retracts our message `msg_id` (`msg_retract`; within 3 minutes of sending).
    pub async fn retract(&self, msg_id: i64) -> Result<(), SendError> {
        self.call(move |s, now| s.retract(msg_id, now))
            .await
            .map(drop)
    }

    /// Reports `msg_ids` (received from `username`) read (`receipt_report` type 3); the
    /// author gets `receipt_change`.
    pub async fn report_read_single(
        &self,
        username: &str,
        msg_ids: &[i64],
    ) -> Result<(), SendError> {
        let (username, ids) = (username.to_owned(), msg_ids.to_vec());
        self.call(move |s, now| s.report_read_single(&username, &ids, now))
            .await
            .map(drop)
    }

    /// Reports `msg_ids` of group `gid` read (`receipt_report` type 4).
    pub async fn report_read_group(&self, gid: i64, msg_ids: &[i64]) -> Result<(), SendError> {
        let ids = msg_ids.to_vec();
        self.call(move |s, now| s.report_read_group(gid, &ids, now))
            .await
            .map(drop)
    }

    /// Who has read our message `msg_id` and who has not (`msg_unread_list`).
    pub async fn msg_readers(&self, msg_id: i64) -> Result<MsgReaders, SendError> {
        let v = self
            .call(move |s, now| s.msg_unread_list(msg_id, now))
            .await?;
        MsgReaders::from_value(&v, &self.app_key).ok_or_else(|| malformed("msg_unread_list"))
    }

    /// Sends a text (with `extras`, a JSON object, when given) to group `gid`
    /// (`send_group_msg`); resolves with the server's `msg_id` and time.
    pub async fn send_group_text(
        &self,
        gid: i64,
        text: &str,
        extras: Option<Value>,
    ) -> Result<SendReceipt, SendError> {
        let text = text.to_owned();
        let (tx, rx) = oneshot::channel();
        let op = Op {
            start: Box::new(move |s, now| s.send_group_text(gid, &text, extras, now)),
            reply: Reply::Send(tx),
        };
        self.commands
            .send(Command::Op(op))
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }
}
