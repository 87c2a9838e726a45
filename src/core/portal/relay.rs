//! Relay mode (mautrix's term, config `bridge.relay`): in a portal where a logged-in user sent
//! `<prefix> set-relay`, messages of Matrix users without a login of their own (permission
//! `relay` or more) go out through that user's login as `bridge.relay.message_format` says
//! ("Name: text"); media carry the name as their caption. A relayed user's edits and
//! redactions of their own relayed messages follow (the original event's sender is checked).
//! The relay is kept in the store's key-value table under `relay:{portal key}` (the Matrix
//! user whose login relays); `unset-relay` removes it.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::media_out::attachment_kind;
use super::PortalWorker;
use crate::config::PermissionLevel;
use crate::core::logins::UserLogin;

fn kv_key(portal: &str) -> String {
    format!("relay:{portal}")
}

impl PortalWorker {
    /// The login relaying for `sender` (who has no login) in this portal: relay mode on, a
    /// relay set and logged in, and `sender` allowed to be relayed.
    pub(super) async fn relay_for(&self, sender: &UserId) -> Option<Arc<UserLogin>> {
        let ctx = &self.ctx;
        if !ctx.cfg.bridge.relay.enabled || ctx.permission(sender) < PermissionLevel::Relay {
            return None;
        }
        let relay = ctx.store.get_kv(&kv_key(&self.key)).await.ok().flatten()?;
        let relay = UserId::parse(relay.as_str()).ok()?;
        ctx.login_of(&relay).await
    }

    /// True when `event` in `room` was sent by `sender` (a relayed user may edit or redact
    /// only their own messages).
    pub(super) async fn sent_by(&self, room: &RoomId, event: &str, sender: &UserId) -> bool {
        let Ok(event) = ruma::EventId::parse(event) else {
            return false;
        };
        match self.ctx.matrix.room_event(room, &event).await {
            Ok(Some(e)) => e["sender"].as_str() == Some(sender.as_str()),
            _ => false,
        }
    }

    /// `sender`'s display name in `room` (their localpart when they have none).
    async fn display_name(&self, room: &RoomId, sender: &UserId) -> String {
        let member = self
            .ctx
            .matrix
            .room_state(room, "m.room.member", sender.as_str())
            .await;
        match member {
            Ok(Some(m)) => m["displayname"]
                .as_str()
                .filter(|n| !n.trim().is_empty())
                .map(str::to_owned),
            _ => None,
        }
        .unwrap_or_else(|| sender.localpart().to_owned())
    }

    /// `content` as it goes out through the relay: texts in the relay format (the HTML
    /// dropped, so the name cannot be lost in conversion), media with the name as caption;
    /// an edit's new content the same way.
    pub(super) async fn relayed_content(
        &self,
        room: &RoomId,
        sender: &UserId,
        content: &Value,
    ) -> Value {
        let name = self.display_name(room, sender).await;
        let relay = &self.ctx.cfg.bridge.relay;
        let rewrite = |c: &Value| -> Value {
            let mut c = c.clone();
            let body = c["body"].as_str().unwrap_or_default().to_owned();
            if attachment_kind(&c).is_some() {
                let file = c["filename"].as_str().unwrap_or(&body).to_owned();
                let caption = if body.is_empty() || body == file {
                    format!("sent {file}")
                } else {
                    body
                };
                if c["filename"].is_null() {
                    c["filename"] = json!(file);
                }
                c["body"] = json!(relay.format(&name, &caption));
            } else {
                c["body"] = json!(relay.format(&name, &body));
                if let Some(o) = c.as_object_mut() {
                    o.remove("formatted_body");
                    o.remove("format");
                }
            }
            c
        };
        let mut out = rewrite(content);
        if let Some(new) = content.get("m.new_content") {
            out["m.new_content"] = rewrite(new);
        }
        out
    }

    /// `set-relay` / `unset-relay` (`command`) typed in this portal, answered with a notice.
    pub(super) async fn relay_command(&mut self, room: &RoomId, sender: &UserId, command: &str) {
        let ctx = self.ctx.clone();
        let set = command == "set-relay";
        let relay = &ctx.cfg.bridge.relay;
        let level = ctx.permission(sender);
        let login = ctx.login_of(sender).await;
        let refusal = if !relay.enabled {
            Some("Relay mode is off on this bridge (bridge.relay.enabled).".to_owned())
        } else if relay.admin_only && level < PermissionLevel::Admin {
            Some("Only bridge admins may change the relay here.".to_owned())
        } else if level < PermissionLevel::User || login.is_none() {
            Some("Log in to the IM service first: the relay sends through your login.".to_owned())
        } else if !self.login_reaches_portal(sender, login.as_deref()).await {
            Some("Your IM account is not in this chat, so it cannot relay here.".to_owned())
        } else {
            None
        };
        if let Some(why) = refusal {
            self.notice(room, &format!("⚠️ {why}")).await;
            return;
        }
        let key = kv_key(&self.key);
        let text = if set {
            match ctx.store.put_kv(&key, sender.as_str()).await {
                Ok(()) => {
                    info!(portal = %self.key, relay = %sender, "relay set");
                    let remote = login.map(|l| l.remote_id.clone()).unwrap_or_default();
                    format!(
                        "Messages of Matrix users without a login now go out through {remote}, \
                         with their names."
                    )
                }
                Err(e) => {
                    warn!(portal = %self.key, error = %e, "relay not saved");
                    "⚠️ The relay could not be saved.".to_owned()
                }
            }
        } else {
            match ctx.store.delete_kv(&key).await {
                Ok(true) => "The relay is off: only logged-in users' messages are bridged.".into(),
                Ok(false) => "This room has no relay.".into(),
                Err(e) => format!("⚠️ The relay could not be removed: {e}"),
            }
        };
        self.notice(room, &text).await;
    }

    /// True when `login` (of `user`) is one of this portal's own: the DM's account, or a
    /// receiver of the group portal.
    pub(super) async fn login_reaches_portal(
        &self,
        user: &UserId,
        login: Option<&UserLogin>,
    ) -> bool {
        let Some(login) = login else { return false };
        if let Some(owner) = super::direct_owner_of_key(&self.key) {
            return owner == login.remote_id;
        }
        self.record()
            .await
            .is_some_and(|r| r.receivers.iter().any(|m| m == user.as_str()))
    }
}
