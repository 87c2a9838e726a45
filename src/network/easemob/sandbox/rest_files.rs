//! Attachments: `POST /chatfiles` (multipart `file`) and `GET /chatfiles/{uuid}` (reference §3.8).

use std::sync::Arc;

use axum::extract::{FromRequest, Multipart};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::state::{random_string, FileMeta};
use super::{random_uuid, ApiError, ApiResult, Ctx};

/// `POST /chatfiles?chat-type=&chat-target=`.
pub(crate) async fn upload(cx: &mut Ctx) -> ApiResult {
    cx.auth()?;
    let limit = cx.sb.cfg.max_upload_bytes;
    let req = cx.take_request()?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("expected a multipart/form-data body: {e}")))?;
    let mut file: Option<(String, String, Vec<u8>)> = None;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
        let Some(mut field) = field else { break };
        if field.name() != Some("file") {
            // thumbnail-width / thumbnail-height and anything else: drain and ignore.
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
            {
                if chunk.len() > 64 << 10 {
                    return Err(ApiError::bad_request("form field too large"));
                }
            }
            continue;
        }
        let name = clean_name(field.file_name().unwrap_or("file"));
        let content_type = field
            .content_type()
            .map(str::to_owned)
            .filter(|c| !c.is_empty() && c != "application/octet-stream")
            .unwrap_or_else(|| guess_type(&name).to_owned());
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "file_too_large",
                    format!("the file is larger than the limit of {limit} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some((name, content_type, bytes));
    }
    let (name, content_type, bytes) =
        file.ok_or_else(|| ApiError::bad_request("the multipart body has no 'file' field"))?;
    let uuid = random_uuid();
    let secret = random_string(48);
    let length = bytes.len() as u64;
    let content = match cx.sb.file_path(&uuid) {
        Some(path) => {
            tokio::fs::write(&path, &bytes).await.map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    format!("could not store the file: {e}"),
                )
            })?;
            None
        }
        None => Some(Arc::new(bytes)),
    };
    cx.sb.lock().data.files.insert(
        uuid.clone(),
        FileMeta {
            uuid: uuid.clone(),
            secret: secret.clone(),
            name,
            content_type: content_type.clone(),
            length,
            content,
        },
    );
    cx.sb.touch();
    cx.ok(json!({
        "path": "/chatfiles",
        "uri": cx.url("chatfiles"),
        "entities": [{
            "uuid": uuid,
            "type": "chatfile",
            "share-secret": secret,
            "file-metadata": {
                "content-type": content_type,
                "content-length": length,
            },
        }],
    }))
}

/// `GET /chatfiles/{uuid}`: needs a valid bearer token or the right `share-secret` (header or
/// query). `thumbnail=true` / `vframe=true` serve the same bytes.
pub(crate) async fn download(cx: &mut Ctx, uuid: &str) -> ApiResult {
    let meta = cx.sb.lock().data.files.get(uuid).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("file {uuid} not found"),
        )
    })?;
    let secret = cx
        .headers
        .get("share-secret")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| cx.query("share-secret").map(str::to_owned));
    let secret_ok = secret.as_deref() == Some(meta.secret.as_str());
    if !secret_ok && cx.token_user().is_none() {
        return Err(ApiError::unauthorized());
    }
    let bytes: Vec<u8> = match (&meta.content, cx.sb.file_path(uuid)) {
        (Some(content), _) => content.as_ref().clone(),
        (None, Some(path)) => tokio::fs::read(&path).await.map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "file_not_found",
                format!("the content of file {uuid} is gone"),
            )
        })?,
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "file_not_found",
                format!("the content of file {uuid} is gone"),
            ))
        }
    };
    let mut resp: Response = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        meta.name.replace(['"', '\\'], "_")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// A display name without directories or control characters, at most 200 bytes.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out: String = base.chars().filter(|c| !c.is_control()).collect();
    while out.len() > 200 {
        out.pop();
    }
    if out.is_empty() {
        "file".to_owned()
    } else {
        out
    }
}

/// A content type from the file extension.
fn guess_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}
