//! Media messages in the session: `get_upload_token` and `get_resource` as calls, and image /
//! file messages (single `s_across_single_text` or group `send_group_msg`, as the SDK's
//! `sendSinglePic` / `sendGroupPic` / `sendSingleFile` build them) from the fields the
//! upload answered. The HTTP upload itself is the client task's ([`crate::network::jmessage::client`]).

use std::time::Instant;

use serde_json::{json, Value};

use super::{Phase, SendError, Session};
use crate::network::jmessage::wire::event;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A user of our app (single chat).
    User(String),
    /// A group (by gid).
    Group(i64),
}

impl Session {
    /// `get_upload_token {}` → `{uptoken}` (for `Authorization: Basic b64(username:uptoken)`).
    pub fn upload_token(&mut self, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_UPLOAD_TOKEN, json!({}), now)
    }

    /// `get_resource {media_id}` → `{url}` (a temporary download URL).
    pub fn resource(&mut self, media_id: &str, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_RESOURCE, json!({ "media_id": media_id }), now)
    }

    /// Sends a message of `msg_type` (`image`: `{media_id, media_crc32, width, height, format,
    /// fsize}`; `file`: `{media_id, media_crc32, hash, fsize, fname}`; any other type the
    /// service takes) with `msg_body` to `target`; the result comes as
    /// [`super::SessionEvent::SendResult`].
    pub fn send_body(
        &mut self,
        target: &Target,
        msg_type: &str,
        msg_body: Value,
        now: Instant,
    ) -> Result<u64, SendError> {
        if self.phase == Phase::Ended {
            return Err(SendError::SessionEnded);
        }
        let (target_type, target_id) = match target {
            Target::User(u) => ("single", u.clone()),
            Target::Group(g) => ("group", g.to_string()),
        };
        let mut body = json!({
            "content": {
                "version": 1,
                "target_type": target_type,
                "from_platform": "web",
                "target_id": target_id,
                "from_id": self.cfg.username,
                "create_time": self.unix_ms(now),
                "msg_type": msg_type,
                "msg_body": msg_body,
            },
            "appkey": self.cfg.app_key,
            "no_offline": false,
            "no_notification": false,
        });
        let name = match target {
            Target::User(to) => {
                self.address_single(&mut body, to);
                event::S_SINGLE_TEXT
            }
            Target::Group(_) => {
                body["target_gid"] = json!(target_id);
                event::SEND_GROUP_MSG
            }
        };
        Ok(self.enqueue(name, body, false, now))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::super::tests::{drain, logged_in};
    use super::*;

    #[test]
    fn image_messages_are_built_as_the_sdk_builds_them() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let body = json!({"media_id": "m/1", "media_crc32": 7, "width": 3, "height": 2,
            "format": "png", "fsize": 99});
        s.send_body(&Target::User("bob".into()), "image", body.clone(), now)
            .unwrap();
        s.send_body(&Target::Group(42), "image", body.clone(), now)
            .unwrap();
        let (sent, _, _) = drain(&mut s);
        assert_eq!(sent[0].0, "s_across_single_text");
        assert_eq!(sent[0].1["target_id"], "bob");
        assert_eq!(sent[0].1["content"]["msg_type"], "image");
        assert_eq!(sent[0].1["content"]["msg_body"], body);
        assert_eq!(sent[1].0, "send_group_msg");
        assert_eq!(sent[1].1["target_gid"], "42");
        assert_eq!(sent[1].1["content"]["target_type"], "group");
    }
}
