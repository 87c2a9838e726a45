//! The `wslogin` reply: a refusal ends the session (an expired UserSig apart from other
//! refusals); a success keeps the A2Key, TinyId, InstId and `HelloInterval`, reports
//! [`SessionEvent::LoggedIn`] and starts the catch-up (C2C `getmsg`, groups, live rooms)
//! and the sends queued while logged out.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{EndReason, Phase, Session, SessionEvent};
use crate::config::Secret;
use crate::network::tencent::wire::{self, code, ServerError};

impl Session {
    pub(super) fn on_login_reply(&mut self, body: &Value, now: Instant) {
        if let Err(e) = wire::check_reply(body) {
            let reason = if e.code == code::USERSIG_EXPIRED {
                EndReason::UserSigExpired
            } else {
                EndReason::LoginRefused(e)
            };
            self.end(reason);
            return;
        }
        let str_field = |k: &str| match body.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (Some(a2), Some(tiny_id)) = (str_field("A2Key"), str_field("TinyId")) else {
            self.end(EndReason::LoginRefused(ServerError {
                code: code::INVALID_REQUEST,
                info: "wslogin reply without A2Key/TinyId".into(),
            }));
            return;
        };
        let hello = body
            .get("HelloInterval")
            .and_then(Value::as_u64)
            .unwrap_or(120)
            .max(1);
        self.inst_id = body.get("InstId").and_then(Value::as_u64).unwrap_or(0);
        self.a2 = Some(a2);
        self.tiny_id = Some(tiny_id.clone());
        self.hello_interval = Some(Duration::from_secs(hello));
        self.next_hello = Some(now + Duration::from_secs(hello));
        self.phase = Phase::Ready;
        self.event(SessionEvent::LoggedIn {
            tiny_id,
            inst_id: self.inst_id,
            hello_interval: hello,
            server_time: body.get("TimeStamp").and_then(Value::as_u64).unwrap_or(0),
            rich_msg_auth_key: Secret::new(str_field("RichMsgAuthKey").unwrap_or_default()),
        });
        self.syncing = Some(0);
        self.getmsg(0, now);
        self.group_login_sync(now);
        self.live_rejoin(now);
        while let Some(q) = self.outbox.pop_front() {
            self.transmit_send(q, now);
        }
    }
}
