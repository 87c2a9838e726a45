//! Group announcements both ways (issue 13, item 1). A network group's announcement (a text
//! every member sees pinned) is a notice in the portal, sent by the ghost of whoever set it and
//! pinned with `m.room.pinned_events` (the older announcement unpinned); its removal unpins it.
//! From Matrix, a logged-in member pinning a message in a group portal makes that message's
//! text the group's announcement, and unpinning the announcement removes it, through the
//! member's own login (the network decides who may).
//!
//! What the portal shows is kept in the store (`announcement:<portal key>` → JSON
//! `{"text", "event_id"}`), so the same announcement told by several logins in the group, or
//! again after a reconnect, is posted once, and the network's echo of a change made from
//! Matrix posts nothing.

use std::collections::HashSet;
use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::group_admin::NOT_LOGGED_IN;
use super::PortalWorker;
use crate::core::convert::{escape_html, strip_reply_fallback};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::metrics::Direction;

/// What the portal shows of the group's announcement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Shown {
    /// The announcement's text; `""` when the group has none.
    text: String,
    /// The pinned event showing it, when there is one.
    event_id: Option<String>,
}

/// The store key of a portal's [`Shown`] announcement.
fn store_key(portal: &str) -> String {
    format!("announcement:{portal}")
}

/// `m.room.pinned_events` content `pinned`, as event ids (anything else left out).
fn pinned_ids(content: Option<&Value>) -> Vec<String> {
    content
        .and_then(|c| c["pinned"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The plain text of a message event's content (its reply fallback left out); `None` for
/// events without a text body.
fn message_text(event: &Value) -> Option<String> {
    let content = &event["content"];
    let body = content["body"].as_str()?;
    let is_reply = content["m.relates_to"]["m.in_reply_to"].is_object();
    let text = strip_reply_fallback(body, is_reply).trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The transaction id of the notice showing `text` in portal `portal`: the same for the same
/// announcement, so a retry after a crash posts it once.
fn announcement_txn(portal: &str, text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{portal}\n{text}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("imb-announce-{hex}")
}

impl PortalWorker {
    async fn shown_announcement(&self) -> Shown {
        match self.ctx.store.get_kv(&store_key(&self.key)).await {
            Ok(Some(raw)) => serde_json::from_str(&raw).unwrap_or_default(),
            _ => Shown::default(),
        }
    }

    async fn remember_announcement(&self, shown: &Shown) {
        let raw = serde_json::to_string(shown).unwrap_or_default();
        if let Err(e) = self.ctx.store.put_kv(&store_key(&self.key), &raw).await {
            warn!(portal = %self.key, error = %e, "announcement not remembered");
        }
    }

    /// Replaces `old` by `new` in the room's pinned events (as the bot), keeping the pins
    /// people made.
    async fn repin(
        &self,
        room: &RoomId,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), MatrixError> {
        let ctx = &self.ctx;
        let current = ctx
            .matrix
            .room_state(room, "m.room.pinned_events", "")
            .await?;
        let mut pinned = pinned_ids(current.as_ref());
        let before = pinned.clone();
        pinned.retain(|e| Some(e.as_str()) != old && Some(e.as_str()) != new);
        if let Some(new) = new {
            pinned.insert(0, new.to_owned());
        }
        if pinned != before {
            let bot = ctx.matrix.bot().to_owned();
            let content = json!({ "pinned": pinned });
            super::retry("pinned events", || {
                ctx.matrix
                    .send_state(room, &bot, "m.room.pinned_events", "", &content)
            })
            .await?;
        }
        Ok(())
    }

    /// The network group's announcement became `text` (`""`: removed), set by `sender`.
    pub(super) async fn remote_announcement(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        sender: Option<&str>,
        text: &str,
    ) -> Result<(), MatrixError> {
        let shown = self.shown_announcement().await;
        if shown.text == text {
            return Ok(()); // told by another login, again after a reconnect, or our own echo
        }
        if text.is_empty() {
            self.repin(room, shown.event_id.as_deref(), None).await?;
            self.remember_announcement(&Shown::default()).await;
            self.notice(room, "The group announcement was removed.")
                .await;
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let author = match sender {
            Some(s) if s != login.remote_id => {
                Some(self.ensure_ghost_in_room(login, room, s).await?)
            }
            _ => None,
        };
        let by = author.unwrap_or_else(|| ctx.matrix.bot().to_owned());
        let content = json!({
            "msgtype": "m.notice",
            "body": format!("📢 Group announcement:\n{text}"),
            "format": "org.matrix.custom.html",
            "formatted_body": format!(
                "<strong>📢 Group announcement</strong><br>{}",
                escape_html(text).replace('\n', "<br>")
            ),
        });
        let txn = announcement_txn(&self.key, text);
        let event = super::retry("announcement", || {
            ctx.matrix
                .send_event(room, &by, "m.room.message", &txn, &content)
        })
        .await?;
        self.repin(room, shown.event_id.as_deref(), Some(event.as_str()))
            .await?;
        self.remember_announcement(&Shown {
            text: text.to_owned(),
            event_id: Some(event.to_string()),
        })
        .await;
        ctx.metrics.bridged(Direction::ToMatrix, "announcement");
        Ok(())
    }

    /// `sender` changed the room's pinned events from `prev` to `content`. A newly pinned
    /// message becomes the group's announcement; unpinning the announcement removes it.
    pub(super) async fn matrix_pins(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        content: &Value,
        prev: Option<&Value>,
    ) -> Result<(), MatrixError> {
        let Some(chat) = self.group_chat() else {
            return Ok(());
        };
        let now = pinned_ids(Some(content));
        let before: HashSet<String> = pinned_ids(prev).into_iter().collect();
        let shown = self.shown_announcement().await;
        let added: Vec<&String> = now.iter().filter(|e| !before.contains(*e)).collect();
        let unpinned_announcement = shown
            .event_id
            .as_ref()
            .is_some_and(|e| before.contains(e) && !now.contains(e));
        // Clients add a pin at the end; the newest one is the announcement.
        let (text, event_id) = match added.last() {
            Some(event) => {
                let Ok(id) = EventId::parse(event.as_str()) else {
                    return Ok(());
                };
                match self.ctx.matrix.room_event(room, &id).await? {
                    Some(ev) if ev["type"] == "m.room.message" => match message_text(&ev) {
                        Some(text) => (text, Some(id.to_string())),
                        None => return Ok(()),
                    },
                    _ => return Ok(()), // not a text message: an ordinary pin
                }
            }
            None if unpinned_announcement => (String::new(), None),
            None => return Ok(()),
        };
        let Some(login) = self.ctx.login_of(sender).await else {
            self.ctx
                .metrics
                .failed(Direction::ToNetwork, "not_logged_in");
            let text = format!(
                "⚠️ The pinned message did not become the group announcement. {NOT_LOGGED_IN}"
            );
            self.notice(room, &text).await;
            return Ok(());
        };
        let Some(admin) = login.session.as_group_admin() else {
            return Ok(());
        };
        match admin.set_group_announcement(&chat, &text).await {
            Ok(()) => {
                info!(portal = %self.key, %sender, removed = text.is_empty(), "group announcement set from Matrix");
                self.remember_announcement(&Shown { text, event_id }).await;
                self.ctx
                    .metrics
                    .bridged(Direction::ToNetwork, "announcement");
            }
            Err(e) => {
                self.refused(&e);
                let what = if text.is_empty() {
                    "The group announcement was not removed"
                } else {
                    "The pinned message did not become the group announcement"
                };
                self.notice(room, &format!("⚠️ {what}: {e}")).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_ids_keep_only_strings() {
        let content = json!({ "pinned": ["$a", 3, "$b", null] });
        assert_eq!(pinned_ids(Some(&content)), vec!["$a", "$b"]);
        assert!(pinned_ids(Some(&json!({ "pinned": "x" }))).is_empty());
        assert!(pinned_ids(None).is_empty());
    }

    #[test]
    fn message_text_leaves_the_reply_fallback_out() {
        let reply = json!({ "content": {
            "body": "> <@a:hs> earlier\n\nthe plan",
            "m.relates_to": { "m.in_reply_to": { "event_id": "$e" } },
        }});
        assert_eq!(message_text(&reply).as_deref(), Some("the plan"));
        assert_eq!(message_text(&json!({ "content": { "body": "  " } })), None);
        assert_eq!(
            message_text(&json!({ "content": { "url": "mxc://x/y" } })),
            None
        );
    }
}
