//! The sandbox's single-chat send (`s_across_single_text`): to a user of this app or, with
//! `target_appkey`, of another app of the federation ([`super::apps`]), refused when the
//! receiver does not exist or blacklisted the sender; the message is kept for the receiver
//! until acknowledged and recorded for recall and receipts ([`super::recall`]).

use super::apps::Whose;
use super::state::{now_ms, Refusal, Sandbox};
use crate::network::jmessage::wire::{self, Content, PushedMessage};

impl Sandbox {
    /// Sends a single-chat message from `from` (whose content is `content`): assigns the id
    /// and time, keeps it in the receiver's inbox and pushes it to the receiver's sockets
    /// (`msg_sync`). The receiver is `target_id` of app `target_appkey` (this app when unset;
    /// another app of the federation for a cross-app message, [`super::apps`]). Returns
    /// `(msg_id, ctime_ms)`.
    pub fn send_single(&self, from: &str, mut content: Content) -> Result<(i64, i64), Refusal> {
        let body_len = content.msg_body.to_string().len();
        if body_len > wire::MAX_CONTENT_BYTES {
            return Err(Refusal::new(
                wire::code::MESSAGE_TOO_LONG,
                "length of message exceed limit",
            ));
        }
        content.sui_mtime = self.profile_mtime(from);
        // `from` is the logged-in user (or a REST `from_id`): this app's, never another's.
        let from_uid = self
            .own_uid(from)
            .ok_or_else(|| Refusal::new(wire::code::USER_NOT_EXIST, "user not exist"))?;
        let own = self.cfg.app_key.clone();
        let target_app = content
            .target_appkey
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| own.clone());
        let target = self.name_of(&content.target_id, &target_app);
        if !self.has_user(&target) {
            return Err(Refusal::new(
                wire::code::TARGET_USER_NOT_EXIST,
                "target user not exist",
            ));
        }
        // The blacklist is the receiver's, naming the sender as the receiver's app does.
        let blocked = match self.whose(&target) {
            Whose::Here => self.blacklisted_by(&target, from),
            Whose::There(app, user) => app.blacklisted_by(user, &app.name_of(from, &own)),
            Whose::Nowhere => false,
        };
        if blocked {
            return Err(Refusal::new(
                wire::code::SENDER_BLACKLISTED,
                "sender is in the target's blacklist",
            ));
        }
        let msg_id = self.next_id();
        let ctime_ms = now_ms();
        content.from_id = from.to_owned();
        content.target_type = "single".into();
        content.from_appkey = Some(own);
        content.target_appkey = Some(target_app);
        if content.create_time == 0 {
            content.create_time = ctime_ms;
        }
        let msg = PushedMessage {
            msg_id,
            msg_type: wire::MSG_TYPE_SINGLE,
            from_uid,
            from_gid: 0,
            ctime_ms,
            msg_level: 0,
            content,
        };
        self.deliver(std::slice::from_ref(&target), &msg);
        super::recall::record_sent(self, &msg, vec![target]);
        Ok((msg_id, ctime_ms))
    }
}
