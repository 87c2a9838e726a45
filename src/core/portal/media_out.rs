//! Matrix attachments to the network: an `m.image` / `m.video` / `m.audio` / `m.file` is
//! downloaded from the homeserver's media repository (bounded by the connector's size limit),
//! uploaded through the sender's login ([`MediaAbility`]) and becomes a
//! [`MessageContent::Media`] for `send_message`; a video's thumbnail (`info.thumbnail_url`,
//! which Element makes) goes the same way, as [`RemoteMedia::thumbnail`].

use serde_json::Value;

use tracing::debug;

use super::media_in::MAX_THUMBNAIL_BYTES;
use super::PortalWorker;
use crate::core::connector::{
    ChatId, MediaAbility, MediaKind, MessageContent, RemoteMedia, RemoteThumbnail,
};
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
        let thumbnail = match kind {
            MediaKind::Video => self.thumbnail_to_remote(upload, chat, info).await,
            _ => None,
        };
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
                thumbnail,
            },
            caption,
        })
    }

    /// A video's Matrix thumbnail (`info.thumbnail_url`, unencrypted) downloaded and uploaded
    /// through the login, for the network's snapshot; `None` (logged) without one or when a
    /// step fails: the video goes without it.
    async fn thumbnail_to_remote(
        &self,
        upload: &dyn MediaAbility,
        chat: &ChatId,
        info: &Value,
    ) -> Option<RemoteThumbnail> {
        let mxc = info["thumbnail_url"].as_str()?;
        let limit = self
            .ctx
            .connector
            .capabilities()
            .max_media_bytes
            .clamp(1, MAX_THUMBNAIL_BYTES);
        let (data, served_type) = match self.ctx.matrix.download(mxc, limit).await {
            Ok(d) => d,
            Err(e) => {
                debug!(portal = %self.key, error = %e, "video thumbnail not fetched");
                return None;
            }
        };
        let thumb_info = &info["thumbnail_info"];
        let mime = thumb_info["mimetype"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(served_type);
        let name = match mime.as_str() {
            "image/png" => "thumbnail.png",
            "image/gif" => "thumbnail.gif",
            "image/webp" => "thumbnail.webp",
            _ => "thumbnail.jpg",
        };
        let size = data.len() as u64;
        match upload.upload_media(chat, data, name, &mime).await {
            Ok(url) => Some(RemoteThumbnail {
                url,
                mime: Some(mime),
                size: Some(size),
                width: dimension(&thumb_info["w"]),
                height: dimension(&thumb_info["h"]),
            }),
            Err(e) => {
                debug!(portal = %self.key, error = %e, "video thumbnail not uploaded");
                None
            }
        }
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
