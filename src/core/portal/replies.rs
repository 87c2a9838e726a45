//! Matrix replies → what the network's reply quote needs: the replied-to message's remote id
//! (an edit event resolves to the message it edits, since clients let users reply to the
//! edited version), its remote sender, a short preview and its kind, read from the Matrix
//! event (`m.new_content` of the latest known edit is not looked up: the original is quoted).

use ruma::{EventId, RoomId};
use serde_json::Value;

use super::PortalWorker;
use crate::core::connector::{QuotedKind, ReplyTo};
use crate::core::convert;

/// The quoted kind of a Matrix message content (`msgtype`; a sticker counts as an image).
pub fn quoted_kind(content: &Value) -> QuotedKind {
    match content["msgtype"].as_str() {
        Some("m.text" | "m.notice" | "m.emote") => QuotedKind::Text,
        Some("m.image") => QuotedKind::Image,
        Some("m.video") => QuotedKind::Video,
        Some("m.audio") => QuotedKind::Audio,
        Some("m.file") => QuotedKind::File,
        Some("m.location") => QuotedKind::Location,
        None if content["url"].is_string() => QuotedKind::Image,
        _ => QuotedKind::Other,
    }
}

/// A one-line preview of a Matrix message content: its body without a reply fallback, lines
/// joined, cut at [`ReplyTo::PREVIEW_CHARS`] characters (with `…`).
pub fn preview(content: &Value) -> Option<String> {
    let body = content["body"].as_str()?;
    let is_reply = content["m.relates_to"]["m.in_reply_to"].is_object();
    let body = convert::strip_reply_fallback(body, is_reply);
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    let mut chars = line.chars();
    let cut: String = chars.by_ref().take(ReplyTo::PREVIEW_CHARS).collect();
    Some(if chars.next().is_some() {
        format!("{cut}…")
    } else {
        cut
    })
}

impl PortalWorker {
    /// The reply quote for a Matrix reply to `event_id` in `room`; `None` when the event is
    /// not a bridged message (nor an edit of one).
    pub(super) async fn reply_to(&self, room: &RoomId, event_id: &str) -> Option<ReplyTo> {
        let ctx = &self.ctx;
        let event = EventId::parse(event_id).ok()?;
        let fetched = ctx.matrix.room_event(room, &event).await.ok().flatten();
        let (record, content) = match ctx.store.message_by_event(event_id).await.ok().flatten() {
            Some((_, record)) => (record, fetched.map(|e| e["content"].clone())),
            None => {
                // A reply to an edit: quote the message it edits.
                let fetched = fetched?;
                let relates = &fetched["content"]["m.relates_to"];
                if relates["rel_type"] != "m.replace" {
                    return None;
                }
                let original_id = relates["event_id"].as_str()?;
                let (_, record) = ctx
                    .store
                    .message_by_event(original_id)
                    .await
                    .ok()
                    .flatten()?;
                let original = EventId::parse(original_id).ok()?;
                let content = ctx
                    .matrix
                    .room_event(room, &original)
                    .await
                    .ok()
                    .flatten()
                    .map(|e| e["content"].clone())
                    .or_else(|| fetched["content"].get("m.new_content").cloned());
                (record, content)
            }
        };
        let content = content.unwrap_or(Value::Null);
        Some(ReplyTo {
            alt_id: record.alt_id,
            id: record.remote_id,
            sender: Some(record.sender).filter(|s| !s.is_empty()),
            preview: preview(&content),
            kind: if content.is_null() {
                QuotedKind::Text
            } else {
                quoted_kind(&content)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_and_previews() {
        assert_eq!(
            quoted_kind(&json!({"msgtype": "m.image"})),
            QuotedKind::Image
        );
        assert_eq!(quoted_kind(&json!({"url": "mxc://a/b"})), QuotedKind::Image);
        assert_eq!(
            quoted_kind(&json!({"msgtype": "m.poll"})),
            QuotedKind::Other
        );
        let reply = json!({
            "body": "> <@a:b> old\n\nnew\ntext",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}
        });
        assert_eq!(preview(&reply).as_deref(), Some("new text"));
        let long = json!({"body": "x".repeat(150)});
        let p = preview(&long).unwrap_or_default();
        assert_eq!(p.chars().count(), ReplyTo::PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
        assert_eq!(preview(&json!({"body": "  "})), None);
    }
}
