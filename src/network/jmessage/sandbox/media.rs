//! The sandbox's media, as the Web SDK 2.5.0 uploads and fetches it (reference §B1 "Media"):
//! - socket `get_upload_token {}` → `{uptoken}` (one per user, valid while the sandbox runs);
//! - `POST /resource?type=image|file` with `Authorization: Basic b64(username:uptoken)`,
//!   `X-App-Key` and `jm-channel: w` (the SDK's `__uploadFile0`; the body is the browser's
//!   `FormData` — multipart, its first part is the file — or raw bytes) → 200 `{media_id,
//!   media_crc32, width, height, format, fsize, hash, fname}`, the fields the SDK's message
//!   builder copies into an image (`media_id, media_crc32, width, height, format, fsize`) or
//!   file (`media_id, media_crc32, hash, fsize, fname`) body. Width and height are read from
//!   PNG, GIF and JPEG headers (0 otherwise). Refusals: 401 `{error:{code:899008}}` for bad
//!   auth, 413 `{error:{code:898061}}` over [`MAX_MEDIA_BYTES`] (the SDK maps it to 880210);
//! - socket `get_resource {media_id}` → `{url}`; `GET /resource/{media_id}` serves the bytes.
//!
//! In memory.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use rand::Rng;
use serde_json::{json, Value};

use super::state::Sandbox;
use crate::network::jmessage::wire::{code, event};

/// The largest upload the sandbox keeps (the service's limits are per type; 10 MiB here).
pub const MAX_MEDIA_BYTES: usize = 10 << 20;

/// One stored upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Media {
    /// Kept in its own file of the data dir, not in the snapshot ([`super::persist`]).
    #[serde(skip)]
    pub(super) bytes: Vec<u8>,
    pub(super) content_type: String,
}

pub use crate::network::image_header::image_size;

fn format_of(b: &[u8]) -> &'static str {
    if b.starts_with(b"\x89PNG") {
        "png"
    } else if b.starts_with(b"GIF8") {
        "gif"
    } else if b.starts_with(&[0xFF, 0xD8]) {
        "jpg"
    } else {
        ""
    }
}

impl Sandbox {
    /// The upload token of `username` (made on first use).
    pub fn upload_token(&self, username: &str) -> String {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.tokens
            .entry(username.to_owned())
            .or_insert_with(|| {
                let n: u128 = rand::rng().random();
                format!("{n:032x}")
            })
            .clone()
    }

    fn token_owner(&self, username: &str, token: &str) -> bool {
        let book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.tokens.get(username).is_some_and(|t| t == token)
    }

    /// The bytes and content type of `media_id` (uploaded to this app or, for a cross-app
    /// message's media, to another app of the federation).
    pub fn media(&self, media_id: &str) -> Option<(Vec<u8>, String)> {
        self.own_media(media_id)
            .or_else(|| self.peer_apps().iter().find_map(|p| p.own_media(media_id)))
    }

    fn own_media(&self, media_id: &str) -> Option<(Vec<u8>, String)> {
        let book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.media
            .get(media_id)
            .map(|m| (m.bytes.clone(), m.content_type.clone()))
    }

    pub(super) fn store_media(&self, kind: &str, bytes: Vec<u8>, content_type: String) -> String {
        let n = self.next_id();
        let media_id = format!("sandbox/{kind}/j/{n}");
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.media.insert(
            media_id.clone(),
            Media {
                bytes,
                content_type,
            },
        );
        media_id
    }
}

/// Answers `get_upload_token` / `get_resource` of logged-in `user`; `host` is the `Host`
/// the socket came in on (for the resource URL). `None` for other events.
pub(super) fn handle(
    sandbox: &Sandbox,
    user: &str,
    name: &str,
    data: &Value,
    host: &str,
) -> Option<Value> {
    match name {
        event::GET_UPLOAD_TOKEN => Some(json!({"code": 0, "message": "success",
            "uptoken": sandbox.upload_token(user)})),
        event::GET_RESOURCE => Some(match data["media_id"].as_str() {
            Some(id) if sandbox.media(id).is_some() => json!({"code": 0, "message": "success",
                "url": format!("http://{host}/resource/{id}")}),
            _ => json!({"code": code::INVALID_PARAMETER, "message": "invalid parameter"}),
        }),
        _ => None,
    }
}

fn refuse(status: StatusCode, c: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": c, "message": message}})),
    )
        .into_response()
}

/// The username of `Authorization: Basic b64(username:uptoken)` when the token is theirs.
fn uploader(sandbox: &Sandbox, headers: &HeaderMap) -> Option<String> {
    let b64 = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (user, token) = raw.split_once(':')?;
    sandbox.token_owner(user, token).then(|| user.to_owned())
}

/// `POST /resource?type=image|file`.
pub async fn upload(
    State(sandbox): State<Arc<Sandbox>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    // The uploader's app, named by `X-App-Key` (the SDK sends its own appkey).
    let sandbox = headers
        .get("x-app-key")
        .and_then(|v| v.to_str().ok())
        .and_then(|k| sandbox.app(k))
        .unwrap_or(sandbox);
    if uploader(&sandbox, &headers).is_none() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            899008,
            "Basic authentication failed",
        );
    }
    let kind = match query.get("type").map(String::as_str) {
        Some("image") => "image",
        Some("file") => "file",
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                899003,
                "type must be image or file",
            )
        }
    };
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (bytes, fname, content_type) = if is_multipart {
        let mut mp = match Multipart::from_request(req, &()).await {
            Ok(mp) => mp,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, 899003, &e.body_text()),
        };
        match mp.next_field().await {
            Ok(Some(field)) => {
                let fname = field
                    .file_name()
                    .or(field.name())
                    .unwrap_or_default()
                    .to_owned();
                let ct = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                match field.bytes().await {
                    Ok(b) => (b.to_vec(), fname, ct),
                    Err(e) => return refuse(StatusCode::BAD_REQUEST, 899003, &e.body_text()),
                }
            }
            _ => return refuse(StatusCode::BAD_REQUEST, 899003, "no file in the form"),
        }
    } else {
        match axum::body::to_bytes(req.into_body(), MAX_MEDIA_BYTES + 1).await {
            Ok(b) => (b.to_vec(), String::new(), "application/octet-stream".into()),
            Err(_) => {
                return refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    898061,
                    "file size exceed the limit",
                )
            }
        }
    };
    if bytes.len() > MAX_MEDIA_BYTES {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            898061,
            "file size exceed the limit",
        );
    }
    if bytes.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, 899003, "empty file");
    }
    let (width, height) = image_size(&bytes).unwrap_or((0, 0));
    let format = format_of(&bytes);
    let crc = crc32fast::hash(&bytes);
    let fsize = bytes.len();
    let hash = crate::network::jmessage::wire::md5_hex(&bytes);
    let media_id = sandbox.store_media(kind, bytes, content_type);
    Json(json!({
        "media_id": media_id, "media_crc32": crc, "width": width, "height": height,
        "format": format, "fsize": fsize, "hash": hash, "fname": fname,
    }))
    .into_response()
}

/// `GET /resource/{media_id}`.
pub async fn download(State(sandbox): State<Arc<Sandbox>>, Path(id): Path<String>) -> Response {
    match sandbox.media(&id) {
        Some((bytes, ct)) => ([(header::CONTENT_TYPE, ct)], bytes).into_response(),
        None => refuse(StatusCode::NOT_FOUND, 899003, "no such resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_come_from_the_headers_and_junk_is_none() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&3u32.to_be_bytes());
        png.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((3, 2)));
        assert_eq!(image_size(b"GIF89a\x05\x00\x07\x00"), Some((5, 7)));
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0, 9, 0, 12, 3, 0, 0, 0,
        ];
        assert_eq!(image_size(&jpeg), Some((12, 9)));
        for junk in [
            &b""[..],
            b"\xFF\xD8\x00",
            b"\x89PNG",
            &[0xFF, 0xD8, 0xFF, 0xC0, 0xFF, 0xFF],
        ] {
            assert_eq!(image_size(junk), None);
        }
    }
}
