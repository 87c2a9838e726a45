//! Matrix attachments to the network: an `m.image` / `m.video` / `m.audio` / `m.file` is
//! downloaded from the homeserver's media repository (bounded by the connector's size limit),
//! uploaded through the sender's login ([`MediaAbility`]) and becomes a
//! [`MessageContent::Media`] for `send_message`.

use serde_json::Value;

use super::PortalWorker;
use crate::core::connector::{ChatId, MediaKind, MessageContent, RemoteMedia};
use crate::core::logins::UserLogin;

/// The media kind of a Matrix `msgtype`, if it is an attachment.
pub(super) fn attachment_kind(content: &Value) -> Option<MediaKind> {
    match content["msgtype"].as_str()? {
        "m.image" => Some(MediaKind::Image),
        "m.video" => Some(MediaKind::Video),
        "m.audio" => Some(MediaKind::Audio),
        "m.file" => Some(MediaKind::File),
        _ => None,
    }
}

/// Reads a JSON number as `u32` (Matrix `info.w` / `info.h`).
fn dimension(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

impl PortalWorker {
    /// Downloads and uploads the attachment in `content`; the error says why in words.
    pub(super) async fn attachment_to_remote(
        &self,
        login: &UserLogin,
        chat: &ChatId,
        kind: MediaKind,
        content: &Value,
    ) -> Result<MessageContent, String> {
        let ctx = &self.ctx;
        let Some(upload) = login.session.as_media() else {
            return Err("this IM service does not take attachments from the bridge".into());
        };
        if content.get("file").is_some() {
            return Err("encrypted attachments are not supported".into());
        }
        let mxc = content["url"].as_str().ok_or("the attachment has no URL")?;
        let info = &content["info"];
        let limit = ctx.connector.capabilities().max_media_bytes.max(1);
        if let Some(size) = info["size"].as_u64().filter(|s| *s > limit) {
            return Err(format!(
                "it is too large ({size} bytes; the IM service takes up to {limit})"
            ));
        }
        let (data, served_type) = ctx
            .matrix
            .download(mxc, limit)
            .await
            .map_err(|e| format!("it could not be fetched from the homeserver: {e}"))?;
        let body = content["body"].as_str().unwrap_or_default();
        let (name, caption) = match content["filename"].as_str() {
            Some(file) if !file.is_empty() && file != body => (
                file.to_owned(),
                Some(body.to_owned()).filter(|b| !b.is_empty()),
            ),
            _ if !body.is_empty() => (body.to_owned(), None),
            _ => ("attachment".to_owned(), None),
        };
        let mime = info["mimetype"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(served_type);
        let size = data.len() as u64;
        let url = upload
            .upload_media(chat, data, &name, &mime)
            .await
            .map_err(|e| format!("the upload failed: {e}"))?;
        Ok(MessageContent::Media {
            media: RemoteMedia {
                kind,
                url,
                name,
                mime: Some(mime),
                size: Some(size),
                width: dimension(&info["w"]),
                height: dimension(&info["h"]),
                duration_ms: info["duration"].as_u64(),
            },
            caption,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attachment_kinds_follow_the_msgtype() {
        assert_eq!(
            attachment_kind(&json!({"msgtype": "m.image"})),
            Some(MediaKind::Image)
        );
        assert_eq!(
            attachment_kind(&json!({"msgtype": "m.audio"})),
            Some(MediaKind::Audio)
        );
        assert_eq!(attachment_kind(&json!({"msgtype": "m.text"})), None);
        assert_eq!(attachment_kind(&json!({})), None);
        assert_eq!(dimension(&json!(640)), Some(640));
        assert_eq!(dimension(&json!(-1)), None);
    }
}
