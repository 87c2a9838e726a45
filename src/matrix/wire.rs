//! HTTP plumbing shared by the client and media code: bounded body reads and the mapping of
//! homeserver, transport and matrix-sdk failures to [`MatrixError`].

use std::time::Duration;

use ruma::serde::Raw;
use serde_json::Value;

use crate::core::matrix_api::MatrixError;

/// Reads a response body, failing when it exceeds `max` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: u64,
    timeout: Duration,
) -> Result<Vec<u8>, MatrixError> {
    if let Some(len) = response.content_length() {
        if len > max {
            return Err(too_large(len, max));
        }
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, timeout))?
    {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(too_large(body.len() as u64 + chunk.len() as u64, max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(len: u64, max: u64) -> MatrixError {
    MatrixError::Other(format!(
        "response of {len}+ bytes exceeds the limit of {max} bytes"
    ))
}

/// A homeserver error from its status and (Matrix error JSON) body.
pub(crate) fn homeserver_error(status: u16, body: &[u8]) -> MatrixError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let errcode = field("errcode").unwrap_or_else(|| "M_UNKNOWN".to_owned());
    let message = field("error").unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.chars().take(200).collect()
    });
    MatrixError::Homeserver {
        status,
        errcode,
        message,
    }
}

/// A transport error, with its cause chain (reqwest's top-level message is vague).
pub(crate) fn transport_error(e: &reqwest::Error, timeout: Duration) -> MatrixError {
    if e.is_timeout() {
        return MatrixError::Transport(format!("no answer within {} s", timeout.as_secs()));
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    MatrixError::Transport(message)
}

pub(crate) fn sdk_error(e: matrix_sdk::HttpError) -> MatrixError {
    if let Some(api) = e.as_client_api_error() {
        let message = match &api.body {
            ruma::api::error::ErrorBody::Standard(body) => body.message.clone(),
            other => format!("{other:?}").chars().take(200).collect(),
        };
        return MatrixError::Homeserver {
            status: api.status_code.as_u16(),
            errcode: api
                .error_kind()
                .map(|k| k.errcode().to_string())
                .unwrap_or_else(|| "M_UNKNOWN".to_owned()),
            message,
        };
    }
    MatrixError::Transport(e.to_string())
}

/// Wraps JSON as a ruma `Raw<T>` (the homeserver validates the content).
pub(crate) fn raw<T>(value: &Value) -> Result<Raw<T>, MatrixError> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| MatrixError::Other(format!("serialising content: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let e = homeserver_error(400, br#"{"errcode":"M_USER_IN_USE","error":"taken"}"#);
        assert!(
            matches!(e, MatrixError::Homeserver { status: 400, ref errcode, ref message }
            if errcode == "M_USER_IN_USE" && message == "taken")
        );
        let e = homeserver_error(502, b"<html>bad gateway</html>");
        assert!(matches!(e, MatrixError::Homeserver { ref errcode, .. } if errcode == "M_UNKNOWN"));
        assert!(e.is_transient());
    }
}
