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
        let (mxc, mime, size) = match self.to_media_repo(login, media, limit).await {
            Ok(uploaded) => uploaded,
            Err(why) => return fallback(why),
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
            "url": mxc, "info": info,
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
        let limit = self
            .ctx
            .connector
            .capabilities()
            .max_media_bytes
            .clamp(1, MAX_THUMBNAIL_BYTES);
        let (mxc, mime, size) = match self.to_media_repo(login, &thumb.as_media(), limit).await {
            Ok(uploaded) => uploaded,
            Err(why) => {
                debug!(%room, error = %why, "thumbnail not bridged");
                return None;
            }
        };
        let mut info = json!({ "mimetype": mime, "size": size });
        if let (Some(w), Some(h)) = (thumb.width, thumb.height) {
            info["w"] = json!(w);
            info["h"] = json!(h);
        }
        Some((mxc, info))
    }

    /// Downloads `media` through the login (at most `limit` bytes) and uploads it to the
    /// homeserver's media repository as the bot: its `mxc://` URL, mimetype (the network's,
    /// else sniffed) and size in bytes; the error in words.
    async fn to_media_repo(
        &self,
        login: &Arc<UserLogin>,
        media: &RemoteMedia,
        limit: u64,
    ) -> Result<(String, String, usize), String> {
        let ctx = &self.ctx;
        let bytes = login
            .session
            .download(media, limit)
            .await
            .map_err(|e| e.to_string())?;
        let size = bytes.len();
        let mime = media
            .mime
            .clone()
            .unwrap_or_else(|| crate::core::ghosts::sniff_image_mime(&bytes).to_owned());
        let uploader = ctx.matrix.bot().to_owned();
        let mxc = ctx
            .matrix
            .upload(&uploader, bytes, &mime, &media.name)
            .await
            .map_err(|e| e.to_string())?;
        Ok((mxc.to_string(), mime, size))
    }
}

/// The largest thumbnail fetched, in bytes: a still image, small next to the attachment.
pub(super) const MAX_THUMBNAIL_BYTES: u64 = 5 * 1024 * 1024;
