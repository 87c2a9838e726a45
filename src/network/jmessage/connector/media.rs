//! JMessage attachments both ways.
//!
//! * JMessage → core: `image` (`{media_id, media_crc32, width, height, format, fsize}`),
//!   `file` (`{media_id, media_crc32, hash, fsize, fname}`), `voice` (`{media_id,
//!   media_crc32, duration, format, fsize}`, sent by the mobile SDKs; `duration` in seconds)
//!   and `video` (`{media_id, duration, format, fsize, …}`, mobile SDKs, inferred) become
//!   [`MessageContent::Media`] whose [`RemoteMedia::url`] is the `media_id`; the core fetches
//!   the bytes through [`NetworkLogin::download`](crate::core::connector::NetworkLogin::download)
//!   (`get_resource` and a GET).
//! * core → JMessage: [`MediaAbility::upload_media`] uploads the bytes (`get_upload_token`,
//!   `POST /resource?type=image|file`) as an `image` when they are PNG, GIF or JPEG (what
//!   the Web SDK sends as pictures) and as a `file` otherwise (audio and video too: the Web
//!   SDK sends no `voice` or `video`), and hands back the message body to send, wrapped in a
//!   URL ([`UPLOADED`]); `send_message` sends it, then a caption as a text of its own.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{send_failure, target_of, ChatTarget, JmessageLogin};
use crate::core::connector::{ChatId, MediaAbility, MediaKind, RemoteMedia, SendFailure};
use crate::network::jmessage::client::{Client, MediaError};
use crate::network::jmessage::session::{IncomingMessage, Target};

/// The largest attachment bridged, bytes: the sandbox's upload limit (10 MiB). The
/// service's own limits are per type and not documented in the SDK; a larger upload is
/// refused by the server with 880210, told to the Matrix user.
pub const MAX_MEDIA_BYTES: u64 = 10 << 20;

/// The scheme of the [`RemoteMedia::url`] [`MediaAbility::upload_media`] returns:
/// `jmessage-upload:{"msg_type": "image"|"file", "body": {…}}`, the message to send.
pub const UPLOADED: &str = "jmessage-upload:";

/// The attachment a JMessage message carries, if it is an image, file, voice or video
/// message with a `media_id`.
pub fn media_of(m: &IncomingMessage) -> Option<RemoteMedia> {
    let b = &m.body;
    let media_id = b["media_id"].as_str().filter(|id| !id.is_empty())?;
    let format = b["format"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let size = b["fsize"].as_u64();
    let dimension = |k: &str| {
        b[k].as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    let named = |stem: &str| {
        if format.is_empty() {
            stem.to_owned()
        } else {
            format!("{stem}.{format}")
        }
    };
    let seconds = b["duration"]
        .as_f64()
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| (d * 1000.0).round() as u64);
    let (kind, name, mime, width, height, duration_ms) = match m.msg_type.as_str() {
        "image" => (
            MediaKind::Image,
            named("image"),
            image_mime(&format),
            dimension("width"),
            dimension("height"),
            None,
        ),
        "file" => (
            MediaKind::File,
            b["fname"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| named("file")),
            None,
            None,
            None,
            None,
        ),
        "voice" => (
            MediaKind::Audio,
            named("voice"),
            audio_mime(&format),
            None,
            None,
            seconds,
        ),
        "video" => (
            MediaKind::Video,
            b["fname"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| named("video")),
            (format == "mp4").then(|| "video/mp4".to_owned()),
            dimension("width"),
            dimension("height"),
            seconds,
        ),
        _ => return None,
    };
    Some(RemoteMedia {
        kind,
        url: media_id.to_owned(),
        name,
        mime,
        size,
        width,
        height,
        duration_ms,
        thumbnail: None,
    })
}

/// The MIME type of an image `format` (`png`, `jpg`, …); `None` when unknown (the core then
/// sniffs the bytes).
fn image_mime(format: &str) -> Option<String> {
    Some(
        match format {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "bmp" => "image/bmp",
            _ => return None,
        }
        .to_owned(),
    )
}

/// The MIME type of a voice `format` (the mobile SDKs record AMR or AAC/M4A).
fn audio_mime(format: &str) -> Option<String> {
    Some(
        match format {
            "amr" => "audio/amr",
            "mp3" => "audio/mpeg",
            "m4a" | "aac" => "audio/mp4",
            "ogg" => "audio/ogg",
            "wav" => "audio/wav",
            _ => return None,
        }
        .to_owned(),
    )
}

/// How bytes of `mime` are uploaded and sent: `image` for PNG, GIF and JPEG (the picture
/// formats of the Web SDK's `sendSinglePic`), `file` for everything else.
pub fn upload_kind(mime: &str) -> &'static str {
    match mime.to_ascii_lowercase().as_str() {
        "image/png" | "image/gif" | "image/jpeg" | "image/jpg" => "image",
        _ => "file",
    }
}

/// The [`UPLOADED`] URL of a message of `msg_type` with `body`.
pub fn uploaded_url(msg_type: &str, body: &Value) -> String {
    format!(
        "{UPLOADED}{}",
        json!({ "msg_type": msg_type, "body": body })
    )
}

/// The message an [`UPLOADED`] URL names: `(msg_type, body)`; `None` for anything else.
pub fn parse_uploaded(url: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(url.strip_prefix(UPLOADED)?).ok()?;
    let msg_type = v["msg_type"]
        .as_str()
        .filter(|t| matches!(*t, "image" | "file"))?;
    let body = v.get("body").filter(|b| b.is_object())?.clone();
    Some((msg_type.to_owned(), body))
}

/// A media error in words for the Matrix side.
pub fn media_failure(e: MediaError) -> SendFailure {
    match e {
        MediaError::Call(e) => send_failure(e),
        MediaError::Http(e) => SendFailure::Permanent(format!("the JMessage media server: {e}")),
        MediaError::TooLarge(max) => {
            SendFailure::Permanent(format!("the attachment is larger than {max} bytes"))
        }
    }
}

/// Where a core chat's messages go, as the session names it.
pub(super) fn session_target(chat: &ChatId) -> Result<Target, SendFailure> {
    Ok(match target_of(chat)? {
        ChatTarget::User(u) => Target::User(u.to_owned()),
        ChatTarget::Group(g) => Target::Group(g),
    })
}

#[async_trait]
impl MediaAbility for JmessageLogin {
    /// Uploads `data` as an image (PNG, GIF, JPEG) or a file named `name`; returns the
    /// [`UPLOADED`] URL of the message to send.
    async fn upload_media(
        &self,
        chat: &ChatId,
        data: Vec<u8>,
        name: &str,
        mime: &str,
    ) -> Result<String, SendFailure> {
        target_of(chat)?;
        let kind = upload_kind(mime);
        let up = self
            .client
            .upload(kind, data, name)
            .await
            .map_err(media_failure)?;
        let mut body = Client::body_of_upload(kind, &up);
        if kind == "file" && body["fname"].as_str().is_none_or(str::is_empty) {
            body["fname"] = json!(name);
        }
        Ok(uploaded_url(kind, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_type: &str, body: Value) -> IncomingMessage {
        IncomingMessage {
            msg_id: 7,
            from: "bob".into(),
            from_appkey: None,
            target: "alice".into(),
            gid: None,
            ctime_ms: 0,
            msg_type: msg_type.into(),
            text: None,
            extras: None,
            body,
            offline: false,
            sui_mtime: None,
        }
    }

    #[test]
    fn images_files_and_voices_become_media() {
        let img = media_of(&message(
            "image",
            json!({"media_id": "qiniu/image/j/A1", "media_crc32": 1, "width": 40,
                "height": 30, "format": "png", "fsize": 3000}),
        ))
        .expect("an image");
        assert_eq!(img.kind, MediaKind::Image);
        assert_eq!(img.url, "qiniu/image/j/A1");
        assert_eq!(img.name, "image.png");
        assert_eq!(img.mime.as_deref(), Some("image/png"));
        assert_eq!(
            (img.width, img.height, img.size),
            (Some(40), Some(30), Some(3000))
        );
        let file = media_of(&message(
            "file",
            json!({"media_id": "f/1", "hash": "h", "fsize": 5, "fname": "notes.txt"}),
        ))
        .expect("a file");
        assert_eq!(
            (file.kind, file.name.as_str()),
            (MediaKind::File, "notes.txt")
        );
        let voice = media_of(&message(
            "voice",
            json!({"media_id": "v/1", "duration": 3, "format": "amr", "fsize": 9}),
        ))
        .expect("a voice");
        assert_eq!(voice.kind, MediaKind::Audio);
        assert_eq!(voice.duration_ms, Some(3000));
        assert_eq!(voice.mime.as_deref(), Some("audio/amr"));
        assert_eq!(voice.name, "voice.amr");
        // No media id, or not a media kind: not media.
        assert!(media_of(&message("image", json!({"width": 1}))).is_none());
        assert!(media_of(&message("image", json!({"media_id": 5}))).is_none());
        assert!(media_of(&message("text", json!({"media_id": "x"}))).is_none());
        // Junk numbers are left out, not trusted.
        let odd = media_of(&message(
            "voice",
            json!({"media_id": "v", "duration": -1, "fsize": "9"}),
        ))
        .expect("a voice");
        assert_eq!((odd.duration_ms, odd.size), (None, None));
    }

    #[test]
    fn uploads_pick_image_or_file_and_round_trip() {
        assert_eq!(upload_kind("image/png"), "image");
        assert_eq!(upload_kind("IMAGE/JPEG"), "image");
        assert_eq!(upload_kind("image/webp"), "file");
        assert_eq!(upload_kind("audio/ogg"), "file");
        let body = json!({"media_id": "m", "fsize": 3});
        let url = uploaded_url("image", &body);
        assert!(url.starts_with(UPLOADED));
        assert_eq!(parse_uploaded(&url), Some(("image".to_owned(), body)));
        assert_eq!(parse_uploaded("mxc://x/y"), None);
        assert_eq!(parse_uploaded("jmessage-upload:{nope"), None);
        assert_eq!(
            parse_uploaded(r#"jmessage-upload:{"msg_type":"custom","body":{}}"#),
            None
        );
    }
}
