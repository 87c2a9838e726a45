//! The sandbox's stand-in for Tencent COS, as the official SDK uploads with
//! `tim-upload-plugin` registered (`@tencentcloud/chat` 3.6.6 `_uploadWithPreSigUrl`, plugin
//! 1.4.3 `WebRequest`):
//! - websocket `im_cos_msg.simple_sig` `{uint32_sdkappid, str_user_id, uint32_upload_method,
//!   uint32_scene, rpt_upload_object:[{uint32_file_id, uint32_file_type, str_file_name}]}` →
//!   `{rpt_pre_sig:[{uint32_file_id, str_upload_url, str_download_url, str_file_key,
//!   uint32_exist_flag:0}], str_final_ip:""}` (the SDK's default, `isSimpleCos`);
//!   `im_cos_msg.pre_sig` `{file_type, file_name, upload_method}` → `{upload_url,
//!   download_url, expired_time, request_id}` (when the cloud config turns `simple_cos` off);
//! - `PUT {upload_url}` with the raw bytes (the plugin's XMLHttpRequest) → 200; the URL's
//!   `sign` must be the one handed out, and each URL takes one upload;
//! - `im_cos_msg.get_imageinfo {str_image_url}` → `{rpt_msg_image_info:[{uint32_image_type,
//!   str_url, uint32_width, uint32_height, str_image_format}]}` with types 1 (thumbnail),
//!   2 (large), 3 (original), the order the SDK's `_uploadImage` reads them in; the sandbox
//!   does not resize, so all three are the original;
//! - `GET {download_url}` → the bytes.
//!
//! URLs point at the sandbox's own listener (`http://{Host}/cos/{key}`), loopback in tests.
//! Uploads over [`MAX_UPLOAD_BYTES`] are refused with 413. Bytes live in memory and, with
//! `--data DIR`, in `DIR/media/{key}` (read back after a restart). Not reproduced: COS
//! signatures and expiry, regions, `authKey` download checks, thumbnails, video snapshots
//! (`video_cover`), the multipart POST of mini-program uploads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{json, Value};
use tracing::warn;

use super::state::Sandbox;
use super::ws::ok;
use crate::network::image_header::{image_format, image_size};
use crate::network::tencent::wire::{self, code};

/// The largest upload kept: 20 MiB, the SDK's own limit for images and voice
/// (`UPLOAD_SIZE_LIMIT` I / A; files and videos may be 100 MiB on the real service).
pub const MAX_UPLOAD_BYTES: usize = 20 << 20;

/// The URL path prefix of uploads and downloads.
pub const PATH_PREFIX: &str = "/cos/";

/// Uploaded files and the upload URLs handed out.
#[derive(Default)]
pub struct MediaStore {
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Key → `sign` of an upload URL not used yet.
    pending: Mutex<HashMap<String, String>>,
    next: std::sync::atomic::AtomicU64,
    /// `DIR/media` with `--data DIR`.
    dir: OnceLock<PathBuf>,
    /// The `RichMsgAuthKey` every login is given (one per sandbox run).
    auth_key: OnceLock<String>,
}

impl MediaStore {
    /// Keeps uploads in `dir` too (created on first use), and serves what is there.
    pub fn set_dir(&self, dir: PathBuf) {
        let _ = self.dir.set(dir);
    }

    /// The download key logins are given as `RichMsgAuthKey`, which the SDK appends to
    /// media URLs as `authKey` (made on first use, random, the same for every login of this
    /// run: whether the real key is per user or per login is not known).
    pub fn auth_key(&self) -> &str {
        self.auth_key
            .get_or_init(|| format!("{:032x}", rand::rng().random::<u128>()))
    }

    /// A new upload slot for `file_name`: its key and sign.
    fn slot(&self, file_name: &str) -> (String, String) {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let clean: String = file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(64)
            .collect();
        let stamp: u64 = rand::rng().random();
        let key = format!("{stamp:016x}{n}-{clean}");
        let sign = format!("{:032x}", rand::rng().random::<u128>());
        lock(&self.pending).insert(key.clone(), sign.clone());
        (key, sign)
    }

    /// The bytes of `key`, from memory or the data dir.
    pub fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        if let Some(b) = lock(&self.files).get(key) {
            return Some(b.clone());
        }
        if !valid_key(key) {
            return None;
        }
        let bytes = Arc::new(std::fs::read(self.dir.get()?.join(key)).ok()?);
        lock(&self.files).insert(key.to_owned(), bytes.clone());
        Some(bytes)
    }

    fn put(&self, key: &str, sign: &str, bytes: Vec<u8>) -> Result<(), StatusCode> {
        {
            let mut pending = lock(&self.pending);
            if pending.get(key).map(String::as_str) != Some(sign) {
                return Err(StatusCode::FORBIDDEN);
            }
            pending.remove(key);
        }
        if let Some(dir) = self.dir.get() {
            let written = std::fs::create_dir_all(dir).and_then(|()| {
                let tmp = dir.join(format!("{key}.tmp"));
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, dir.join(key))
            });
            if let Err(e) = written {
                warn!(error = %e, "tencent sandbox: upload not saved to the data dir");
            }
        }
        lock(&self.files).insert(key.to_owned(), Arc::new(bytes));
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keys the sandbox makes: `[0-9a-f]+[0-9]+-` and a cleaned name (no path separators).
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The key of a download URL of this sandbox (`…/cos/{key}[?…]`).
pub fn key_of(url: &str) -> Option<&str> {
    let rest = &url[url.find(PATH_PREFIX)? + PATH_PREFIX.len()..];
    let key = rest.split(['?', '#']).next()?;
    valid_key(key).then_some(key)
}

fn urls(host: &str, key: &str, sign: &str) -> (String, String) {
    let download = format!("http://{host}{PATH_PREFIX}{key}");
    (format!("{download}?sign={sign}"), download)
}

/// Answers the `im_cos_msg.*` commands; `None` for other commands. `host` is the `Host` the
/// websocket came in on.
pub(super) fn handle(sandbox: &Sandbox, command: &str, host: &str, b: &Value) -> Option<Value> {
    let media = &sandbox.media;
    Some(match command {
        "simple_sig" => {
            let objects = b["rpt_upload_object"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if objects.is_empty() {
                return Some(wire::error_body(
                    code::INVALID_REQUEST,
                    "rpt_upload_object is required",
                ));
            }
            let pre: Vec<Value> = objects
                .iter()
                .map(|o| {
                    let name = o["str_file_name"].as_str().unwrap_or("file");
                    let (key, sign) = media.slot(name);
                    let (upload, download) = urls(host, &key, &sign);
                    json!({"uint32_file_id": o["uint32_file_id"].as_u64().unwrap_or(1),
                        "str_upload_url": upload, "str_download_url": download,
                        "str_file_key": key, "uint32_exist_flag": 0})
                })
                .collect();
            ok(json!({"rpt_pre_sig": pre, "str_final_ip": ""}))
        }
        "pre_sig" => {
            let name = b["file_name"].as_str().unwrap_or("file");
            let (key, sign) = media.slot(name);
            let (upload, download) = urls(host, &key, &sign);
            ok(json!({"upload_url": upload, "download_url": download,
                "expired_time": super::state::unix_now() + 900, "request_id": key}))
        }
        "get_imageinfo" => {
            let url = b["str_image_url"].as_str().unwrap_or_default();
            let Some(bytes) = key_of(url).and_then(|k| media.get(k)) else {
                return Some(wire::error_body(
                    code::INVALID_REQUEST,
                    "no such image in this sandbox",
                ));
            };
            let (w, h) = image_size(&bytes).unwrap_or((0, 0));
            let format = image_format(&bytes).unwrap_or("unknown");
            let url = url.split('?').next().unwrap_or(url);
            let info: Vec<Value> = [1, 2, 3]
                .iter()
                .map(|t| {
                    json!({"uint32_image_type": t, "str_url": url, "uint32_width": w,
                        "uint32_height": h, "str_image_format": format})
                })
                .collect();
            ok(json!({"rpt_msg_image_info": info}))
        }
        _ => return None,
    })
}

/// `PUT /cos/{key}?sign=…`: stores the body under `key`.
pub async fn upload(
    State(sandbox): State<Arc<Sandbox>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_UPLOAD_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge").into_response();
    }
    let sign = q.get("sign").map(String::as_str).unwrap_or_default();
    match sandbox.media.put(&key, sign, body.to_vec()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(status) => (status, "AccessDenied").into_response(),
    }
}

/// `GET /cos/{key}[?authKey=…]`: the bytes. An `authKey` other than the logins'
/// `RichMsgAuthKey` is refused (403), and so is a download without one when the sandbox
/// requires it ([`super::SandboxConfig::require_auth_key`]).
pub async fn download(
    State(sandbox): State<Arc<Sandbox>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let allowed = match q.get("authKey") {
        Some(k) => k == sandbox.media.auth_key(),
        None => !sandbox.cfg.require_auth_key,
    };
    if !allowed {
        return (StatusCode::FORBIDDEN, "AccessDenied: authKey").into_response();
    }
    let Some(bytes) = sandbox.media.get(&key) else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    let mime = match image_format(&bytes) {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("jpg") => "image/jpeg",
        Some("bmp") => "image/bmp",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, mime)], Vec::clone(&bytes)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_urls_and_never_leave_the_dir() {
        assert_eq!(
            key_of("http://127.0.0.1:9/cos/ab1-x.png?sign=z"),
            Some("ab1-x.png")
        );
        assert_eq!(key_of("http://h/cos/../etc"), None);
        assert_eq!(key_of("http://h/other/x"), None);
        assert!(!valid_key(".."));
        assert!(!valid_key("a/b"));
    }

    #[test]
    fn an_upload_url_takes_one_upload_with_its_sign() {
        let store = MediaStore::default();
        let (key, sign) = store.slot("my pic.png");
        assert!(key.ends_with("-mypic.png"), "{key}");
        assert_eq!(
            store.put(&key, "wrong", vec![1]),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(store.put(&key, &sign, vec![1, 2, 3]), Ok(()));
        assert_eq!(store.get(&key).as_deref(), Some(&vec![1, 2, 3]));
        assert_eq!(store.put(&key, &sign, vec![9]), Err(StatusCode::FORBIDDEN));
    }

    #[test]
    fn uploads_in_the_data_dir_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("imbridge-tc-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = MediaStore::default();
        store.set_dir(dir.clone());
        let (key, sign) = store.slot("a.bin");
        assert_eq!(store.put(&key, &sign, vec![7; 300]), Ok(()));
        let again = MediaStore::default();
        again.set_dir(dir.clone());
        assert_eq!(again.get(&key).as_deref(), Some(&vec![7; 300]));
        assert!(again.get("missing").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
