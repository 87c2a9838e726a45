//! Sending a core message as JMessage messages, with its `extras`, at most once across
//! crashes.
//!
//! - **Extras.** A message's `msg_body.extras` (a JSON object the Web SDK's message builder
//!   takes for every kind) comes to Matrix under [`EXTRAS_FIELD`] in the event's content
//!   ([`crate::core::connector::RemoteMessage::extra`]), and a Matrix message that has that
//!   field (an app or bot that speaks it, or a message forwarded with its content) takes it
//!   back to JMessage.
//! - **At most once.** Each message carries the core's transaction id in its extras under
//!   [`SendOptions::TXN_KEY`]. A send the core replays after a crash first looks through what
//!   this login sent since the Matrix event's time, in the service's message history (IM REST
//!   Report v2, [`crate::network::jmessage::report`]: the Web SDK has no history call), and
//!   sends only what it does not find. An attachment's caption goes as a second text keyed
//!   [`SendOptions::caption_txn_id`].

use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::media::{parse_uploaded, session_target};
use super::{outgoing_text, send_failure, target_of, ChatTarget, JmessageLogin, LOCATION_SCALE};
use crate::core::connector::{ChatId, MessageContent, RemoteMedia, SendFailure, SendOptions};
use crate::network::jmessage::across;
use crate::network::jmessage::report::ReportError;

/// The Matrix content field a JMessage message's `extras` object is carried in, both ways.
pub const EXTRAS_FIELD: &str = "net.imbridge.jmessage.extras";
/// Report pages (of 1000 messages of this login, oldest first from 8 hours before the
/// event: [`crate::network::jmessage::report::ZONE_DOUBT_MS`]) looked through at most per
/// look-up.
const LOOKUP_PAGES: usize = 10;

/// The messages of this login found in history under one transaction id.
#[derive(Debug, Default, PartialEq)]
struct Found {
    /// The message itself (`msgid`).
    main: Option<i64>,
    /// The caption sent after it, for an attachment with one.
    caption: Option<i64>,
}

/// The `extras` a message goes out with: the Matrix event's [`EXTRAS_FIELD`] object when it
/// has one, with the transaction id `txn` set; `None` when both are absent.
pub fn outgoing_extras(matrix_content: Option<&Value>, txn: Option<&str>) -> Option<Value> {
    let mut extras: Map<String, Value> = matrix_content
        .and_then(|c| c.get(EXTRAS_FIELD))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    extras.remove(SendOptions::TXN_KEY);
    if let Some(txn) = txn {
        extras.insert(SendOptions::TXN_KEY.to_owned(), json!(txn));
    }
    (!extras.is_empty()).then_some(Value::Object(extras))
}

/// A received message's `extras` as the core's extra content fields: the object (without the
/// bridge's own [`SendOptions::TXN_KEY`]) under [`EXTRAS_FIELD`]; empty when there is none.
pub fn incoming_extra(extras: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(fields)) = extras {
        let mut fields = fields.clone();
        fields.remove(SendOptions::TXN_KEY);
        if !fields.is_empty() {
            out.insert(EXTRAS_FIELD.to_owned(), Value::Object(fields));
        }
    }
    out
}

impl JmessageLogin {
    /// [`crate::core::connector::NetworkLogin::send_message_with`] for JMessage: uploaded
    /// attachments and locations as such, everything else as a text ([`outgoing_text`]),
    /// each with its extras ([`outgoing_extras`]); with [`SendOptions::maybe_sent_since_ms`],
    /// what the history shows this login sent under the transaction id is taken instead of
    /// sending it again. A look-up that fails is logged and the message sent (at least once
    /// rather than lost).
    pub(super) async fn send_keyed(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        target_of(chat)?;
        let found = match (options.txn_id, options.maybe_sent_since_ms) {
            (Some(txn), Some(since)) => match self.find_sent(chat, txn, since).await {
                Ok(found) => found,
                Err(e) => {
                    warn!(user = %self.own, error = %e, "could not look up whether a replayed message went out; sending it");
                    Found::default()
                }
            },
            _ => Found::default(),
        };
        let extras = outgoing_extras(options.matrix_content, options.txn_id);
        let quoted = options.reply_to.map(|r| r.quoted(content));
        let content = quoted.as_ref().unwrap_or(content);
        let main = match found.main {
            Some(id) => {
                info!(user = %self.own, id, "a replayed message had gone out before the restart; not sent again");
                id
            }
            None => self.send_one(chat, content, extras).await?,
        };
        let mut ids = vec![main.to_string()];
        if let MessageContent::Media {
            media,
            caption: Some(caption),
        } = content
        {
            if media_uploaded(media) && !caption.is_empty() && *caption != media.name {
                let id = match found.caption {
                    Some(id) => id,
                    None => {
                        let txn = options.txn_id.map(SendOptions::caption_txn_id);
                        let extras = outgoing_extras(None, txn.as_deref());
                        let text = MessageContent::text(caption.clone());
                        self.send_one(chat, &text, extras).await?
                    }
                };
                ids.push(id.to_string());
            }
        }
        Ok(ids)
    }

    /// Sends one message for `content` with `extras`; its `msg_id`.
    async fn send_one(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        extras: Option<Value>,
    ) -> Result<i64, SendFailure> {
        let with_extras = |mut body: Value| {
            if let Some(extras) = extras.clone() {
                body["extras"] = extras;
            }
            body
        };
        let receipt = match content {
            MessageContent::Media { media, .. } if media_uploaded(media) => {
                let Some((msg_type, body)) = parse_uploaded(&media.url) else {
                    return Err(SendFailure::Permanent(format!(
                        "{} was not uploaded to JMessage",
                        media.name
                    )));
                };
                self.client
                    .send_uploaded(session_target(chat)?, &msg_type, with_extras(body))
                    .await
            }
            MessageContent::Location {
                latitude,
                longitude,
                description,
            } => {
                let body = json!({"latitude": latitude, "longitude": longitude,
                    "scale": LOCATION_SCALE, "label": description});
                self.client
                    .send_uploaded(session_target(chat)?, "location", with_extras(body))
                    .await
            }
            _ => {
                let text = outgoing_text(content);
                match target_of(chat)? {
                    ChatTarget::User(peer) => self.client.send_text(peer, &text, extras).await,
                    ChatTarget::Group(gid) => self.client.send_group_text(gid, &text, extras).await,
                }
            }
        }
        .map_err(send_failure)?;
        Ok(receipt.msg_id)
    }

    /// This login's messages to `chat` sent under transaction id `txn` (and its caption)
    /// since `since_ms`, from the Report v2 history (at most [`LOOKUP_PAGES`] pages).
    async fn find_sent(
        &self,
        chat: &ChatId,
        txn: &str,
        since_ms: u64,
    ) -> Result<Found, ReportError> {
        let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
        let now = crate::network::jmessage::client::unix_ms();
        let messages = self
            .report
            .user_messages(&self.own, since.min(now), now, LOOKUP_PAGES)
            .await?;
        let caption_txn = SendOptions::caption_txn_id(txn);
        let mut found = Found::default();
        // A single chat's id names another app's user `username/appkey` (`across`).
        let own_app = self.client.app_key();
        let target_of = |m: &crate::network::jmessage::report::ReportedMessage| {
            if m.target_type == "group" {
                m.target_id.clone()
            } else {
                across::name(&m.target_id, m.target_appkey.as_deref(), own_app)
            }
        };
        for m in messages
            .iter()
            .filter(|m| m.from_id == self.own && target_of(m) == chat.id)
        {
            match m.extra_str(SendOptions::TXN_KEY) {
                Some(t) if t == txn => found.main = Some(m.msg_id),
                Some(t) if t == caption_txn => found.caption = Some(m.msg_id),
                _ => {}
            }
        }
        Ok(found)
    }
}

/// Whether `media` was uploaded to JMessage by [`crate::core::connector::MediaAbility`]
/// (else it goes out described in a text).
fn media_uploaded(media: &RemoteMedia) -> bool {
    media.url.starts_with(super::UPLOADED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_carry_the_matrix_field_and_the_transaction_id() {
        let content = json!({"body": "hi", EXTRAS_FIELD: {"k": 1, "imbridge_txn": "forged"}});
        assert_eq!(
            outgoing_extras(Some(&content), Some("mx1")),
            Some(json!({"k": 1, "imbridge_txn": "mx1"}))
        );
        assert_eq!(outgoing_extras(Some(&content), None), Some(json!({"k": 1})));
        assert_eq!(outgoing_extras(Some(&json!({"body": "hi"})), None), None);
        assert_eq!(
            outgoing_extras(Some(&json!({EXTRAS_FIELD: "not an object"})), Some("mx2")),
            Some(json!({"imbridge_txn": "mx2"}))
        );
    }

    #[test]
    fn incoming_extras_leave_out_the_transaction_id() {
        let extra = incoming_extra(Some(&json!({"k": "v", "imbridge_txn": "mx1"})));
        assert_eq!(Value::Object(extra), json!({EXTRAS_FIELD: {"k": "v"}}));
        assert!(incoming_extra(Some(&json!({"imbridge_txn": "mx1"}))).is_empty());
        assert!(incoming_extra(Some(&json!("text"))).is_empty());
        assert!(incoming_extra(None).is_empty());
    }
}
