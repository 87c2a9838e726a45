//! The [`Client`] media methods, as the Web SDK 2.5.0 does it (`__uploadFile`,
//! `__uploadFile0`, `getResource`): a `get_upload_token` call, then `POST {upload_url}?type=
//! image|file` (multipart, `Authorization: Basic b64(username:uptoken)`, `X-App-Key`,
//! `jm-channel: w`) answering `{media_id, media_crc32, width, height, format, fsize, hash,
//! fname}`, then an `image` / `file` message with those fields; downloads ask `get_resource`
//! for a URL and fetch it.

use base64::Engine as _;
use serde_json::{json, Value};

use super::Client;
use crate::network::jmessage::session::{SendError, SendReceipt, Target};

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A socket call (token, resource URL, the message send) failed.
    #[error(transparent)]
    Call(#[from] SendError),
    /// The HTTP upload or download failed (status and body, or the transport error).
    #[error("media HTTP: {0}")]
    Http(String),
    /// The download is larger than the limit given (bytes).
    #[error("larger than {0} bytes")]
    TooLarge(u64),
}

fn http(e: impl std::fmt::Display) -> MediaError {
    MediaError::Http(e.to_string())
}

/// The image body fields the SDK's `setImage` copies from the upload answer.
const IMAGE_FIELDS: [&str; 6] = [
    "media_id",
    "media_crc32",
    "width",
    "height",
    "format",
    "fsize",
];
/// The file body fields the SDK's `setFile` copies.
const FILE_FIELDS: [&str; 5] = ["media_id", "media_crc32", "hash", "fsize", "fname"];

impl Client {
    /// Uploads `bytes` as `kind` (`image` or `file`) named `fname`; resolves with the upload
    /// answer (`{media_id, media_crc32, width, height, format, fsize, hash, fname}`).
    pub async fn upload(
        &self,
        kind: &str,
        bytes: Vec<u8>,
        fname: &str,
    ) -> Result<Value, MediaError> {
        let token = self.call(|s, now| s.upload_token(now)).await?;
        let token = token["uptoken"]
            .as_str()
            .ok_or_else(|| http("no uptoken in the answer"))?
            .to_owned();
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{token}", self.username));
        let part = reqwest::multipart::Part::bytes(bytes).file_name(fname.to_owned());
        let form = reqwest::multipart::Form::new().part(fname.to_owned(), part);
        let resp = reqwest::Client::new()
            .post(format!("{}?type={kind}", self.upload_url))
            .header("Authorization", format!("Basic {auth}"))
            .header("X-App-Key", &self.app_key)
            .header("jm-channel", "w")
            .multipart(form)
            .send()
            .await
            .map_err(http)?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(http)?;
        if !status.is_success() || body["media_id"].as_str().is_none() {
            return Err(MediaError::Http(format!("upload refused: {status} {body}")));
        }
        Ok(body)
    }

    /// Uploads an image (PNG, GIF or JPEG) and sends it to `target` (with `extras` when
    /// given), as `sendSinglePic` / `sendGroupPic`.
    pub async fn send_image(
        &self,
        target: Target,
        bytes: Vec<u8>,
        fname: &str,
        extras: Option<Value>,
    ) -> Result<SendReceipt, MediaError> {
        let up = self.upload("image", bytes, fname).await?;
        let mut body = json!({});
        for f in IMAGE_FIELDS {
            body[f] = up[f].clone();
        }
        if let Some(extras) = extras {
            body["extras"] = extras;
        }
        Ok(self
            .send_op(move |s, now| s.send_body(&target, "image", body, now))
            .await?)
    }

    /// Uploads a file and sends it to `target`, as `sendSingleFile` / `sendGroupFile`.
    pub async fn send_file(
        &self,
        target: Target,
        bytes: Vec<u8>,
        fname: &str,
    ) -> Result<SendReceipt, MediaError> {
        let up = self.upload("file", bytes, fname).await?;
        let mut body = json!({});
        for f in FILE_FIELDS {
            body[f] = up[f].clone();
        }
        Ok(self
            .send_op(move |s, now| s.send_body(&target, "file", body, now))
            .await?)
    }

    /// Sends a message of `msg_type` with `body` to `target`: a body built from an earlier
    /// [`Client::upload`] answer (`image`: `{media_id, media_crc32, width, height, format,
    /// fsize}`; `file`: `{media_id, media_crc32, hash, fsize, fname}`), or any other kind's
    /// (`location`: `{latitude, longitude, scale, label}`); resolves with the server's `msg_id`
    /// and time.
    pub async fn send_uploaded(
        &self,
        target: Target,
        msg_type: &str,
        body: Value,
    ) -> Result<SendReceipt, SendError> {
        let msg_type = msg_type.to_owned();
        self.send_op(move |s, now| s.send_body(&target, &msg_type, body, now))
            .await
    }

    /// The message body of `msg_type` (`image` or `file`) from an upload answer: the fields
    /// the SDK's `setImage` / `setFile` copy.
    pub fn body_of_upload(msg_type: &str, upload: &Value) -> Value {
        let fields: &[&str] = if msg_type == "image" {
            &IMAGE_FIELDS
        } else {
            &FILE_FIELDS
        };
        let mut body = json!({});
        for f in fields {
            body[*f] = upload[*f].clone();
        }
        body
    }

    /// The bytes of `media_id` (`get_resource` for the URL, then a GET).
    pub async fn download(&self, media_id: &str) -> Result<Vec<u8>, MediaError> {
        self.download_bounded(media_id, u64::MAX).await
    }

    /// The bytes of `media_id`, refused (a [`MediaError::TooLarge`]) once more than
    /// `max_bytes` arrived or were announced.
    pub async fn download_bounded(
        &self,
        media_id: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, MediaError> {
        let id = media_id.to_owned();
        let v = self.call(move |s, now| s.resource(&id, now)).await?;
        let url = v["url"]
            .as_str()
            .ok_or_else(|| http("no url in the answer"))?;
        let mut resp = reqwest::get(url).await.map_err(http)?;
        if !resp.status().is_success() {
            return Err(MediaError::Http(format!("download: {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(MediaError::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}
