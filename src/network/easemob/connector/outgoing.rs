//! Core → Easemob: message contents and ids in the form the Easemob client sends.

use crate::core::connector::{MessageContent, SendFailure};
use crate::network::easemob::message::Content;

pub(super) fn parse_id(id: &str) -> Result<u64, SendFailure> {
    id.parse()
        .map_err(|_| SendFailure::Permanent(format!("not an Easemob message id: {id}")))
}

/// `MessageContent` → Easemob content (text kinds only; media goes through upload first).
pub(super) fn outgoing_content(content: &MessageContent) -> Result<Content, SendFailure> {
    Ok(match content {
        MessageContent::Text { body, .. } => Content::Text { text: body.clone() },
        MessageContent::Emote { body } => Content::Text {
            text: format!("* {body}"),
        },
        MessageContent::Location {
            latitude,
            longitude,
            description,
        } => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            address: description.clone(),
            building: String::new(),
        },
        MessageContent::Media { .. } => {
            return Err(SendFailure::Permanent(
                "media from Matrix is not bridged yet".into(),
            ))
        }
        MessageContent::Unsupported { description } => {
            return Err(SendFailure::Permanent(format!(
                "unsupported: {description}"
            )))
        }
    })
}
