//! Network attachments to Matrix: a [`RemoteMedia`] is fetched through the login
//! ([`crate::core::connector::NetworkLogin::download`], bounded by the connector's size
//! limit), uploaded to the homeserver's media repository and becomes an `m.image` /
//! `m.video` / `m.audio` / `m.file` with its `info` (mimetype, size, `w` / `h`, duration
//! and, when the network gave one, `thumbnail_url` / `thumbnail_info`). An attachment that
//! cannot be fetched or uploaded becomes a notice saying so; a thumbnail that cannot is left
//! out.

use std::sync::Arc;

use ruma::RoomId;
use serde_json::{json, Value};
use tracing::debug;

use super::{media_kind_word, PortalWorker};
use crate::core::connector::{MediaKind, RemoteMedia, RemoteThumbnail};
use crate::core::convert;
use crate::core::logins::UserLogin;

impl PortalWorker {
    /// The Matrix content of `media` with `caption` as its body.
    pub(super) async fn media_content(
        &self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        media: &RemoteMedia,
        caption: Option<&str>,
    ) -> Value {
        let ctx = &self.ctx;
        let limit = ctx.connector.capabilities().max_media_bytes.max(1);
        let fallback = |why: String| {
            convert::notice_content(&format!(
                "⚠️ {} ({}) could not be bridged: {why}",
                media.name,
                media_kind_word(media.kind)
            ))
        };
        let bytes = match login.session.download(media, limit).await {
            Ok(b) => b,
            Err(e) => return fallback(e.to_string()),
        };
        let size = bytes.len();
        let mime = media
            .mime
            .clone()
            .unwrap_or_else(|| crate::core::ghosts::sniff_image_mime(&bytes).to_owned());
        let uploader = ctx.matrix.bot().to_owned();
        let mxc = match ctx
            .matrix
            .upload(&uploader, bytes, &mime, &media.name)
            .await
        {
            Ok(m) => m,
            Err(e) => return fallback(e.to_string()),
        };
        let msgtype = match media.kind {
            MediaKind::Image => "m.image",
            MediaKind::Video => "m.video",
            MediaKind::Audio => "m.audio",
            MediaKind::File => "m.file",
        };
        let mut info = json!({ "mimetype": mime, "size": size });
        if let (Some(w), Some(h)) = (media.width, media.height) {
            info["w"] = json!(w);
            info["h"] = json!(h);
        }
        if let Some(d) = media.duration_ms {
            info["duration"] = json!(d);
        }
        if let Some(thumb) = &media.thumbnail {
            if let Some((url, thumb_info)) = self.thumbnail_to_matrix(login, room, thumb).await {
                info["thumbnail_url"] = json!(url);
                info["thumbnail_info"] = thumb_info;
            }
        }
        json!({
            "msgtype": msgtype, "body": caption.unwrap_or(&media.name), "filename": media.name,
            "url": mxc.to_string(), "info": info,
        })
    }

    /// Fetches and uploads a thumbnail: its `mxc://` URL and `thumbnail_info`, or `None`
    /// (logged) when either step fails.
    async fn thumbnail_to_matrix(
        &self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        thumb: &RemoteThumbnail,
    ) -> Option<(String, Value)> {
        let ctx = &self.ctx;
        let limit = ctx
            .connector
            .capabilities()
            .max_media_bytes
            .clamp(1, MAX_THUMBNAIL_BYTES);
        let bytes = match login.session.download(&thumb.as_media(), limit).await {
            Ok(b) => b,
            Err(e) => {
                debug!(%room, error = %e, "thumbnail not fetched");
                return None;
            }
        };
        let mime = thumb
            .mime
            .clone()
            .unwrap_or_else(|| crate::core::ghosts::sniff_image_mime(&bytes).to_owned());
        let size = bytes.len();
        let uploader = ctx.matrix.bot().to_owned();
        let mxc = match ctx
            .matrix
            .upload(&uploader, bytes, &mime, "thumbnail")
            .await
        {
            Ok(m) => m,
            Err(e) => {
                debug!(%room, error = %e, "thumbnail not uploaded");
                return None;
            }
        };
        let mut info = json!({ "mimetype": mime, "size": size });
        if let (Some(w), Some(h)) = (thumb.width, thumb.height) {
            info["w"] = json!(w);
            info["h"] = json!(h);
        }
        Some((mxc.to_string(), info))
    }
}

/// The largest thumbnail fetched, in bytes: a still image, small next to the attachment.
pub(super) const MAX_THUMBNAIL_BYTES: u64 = 5 * 1024 * 1024;
