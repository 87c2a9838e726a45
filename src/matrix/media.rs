//! Media downloads for [`HomeserverClient`]: authenticated media
//! (`/_matrix/client/v1/media/download/...`, Matrix 1.11) first, then the legacy unauthenticated
//! `/_matrix/media/v3/download/...` for servers without it. Downloads are bounded by size and by
//! [`MEDIA_TIMEOUT`].

use ruma::MxcUri;
use tracing::debug;

use super::client::{HomeserverClient, MEDIA_TIMEOUT};
use super::wire::{homeserver_error, read_limited, transport_error};
use crate::core::matrix_api::MatrixError;

/// Largest error body read from a failed download.
const MAX_ERROR_BYTES: u64 = 64 * 1024;

impl HomeserverClient {
    /// Downloads `mxc` (at most `max_bytes`), returning the bytes and their content type.
    pub(super) async fn download_media(
        &self,
        mxc: &str,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, String), MatrixError> {
        let uri = <&MxcUri>::from(mxc);
        let (server, media_id) = uri
            .parts()
            .map_err(|e| MatrixError::Other(format!("invalid media URI {mxc}: {e}")))?;
        let authenticated = self.media_url(
            &["_matrix", "client", "v1", "media", "download"],
            server.as_str(),
            media_id,
        )?;
        match self.fetch(authenticated, max_bytes).await {
            Ok(found) => Ok(found),
            Err(first @ MatrixError::Homeserver { .. }) if !first.is_transient() => {
                debug!(mxc, error = %first, "authenticated media failed; trying the legacy endpoint");
                let legacy = self.media_url(
                    &["_matrix", "media", "v3", "download"],
                    server.as_str(),
                    media_id,
                )?;
                match self.fetch(legacy, max_bytes).await {
                    Ok(found) => Ok(found),
                    // The server lacks authenticated media: its legacy answer is the one that counts.
                    Err(second) if unsupported(&first) => Err(second),
                    Err(_) => Err(first),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn media_url(
        &self,
        prefix: &[&str],
        server: &str,
        media_id: &str,
    ) -> Result<url::Url, MatrixError> {
        let mut url = url::Url::parse(&self.base)
            .map_err(|e| MatrixError::Other(format!("homeserver URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| MatrixError::Other("homeserver URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(prefix)
            .push(server)
            .push(media_id);
        url.query_pairs_mut().append_pair("allow_redirect", "true");
        Ok(url)
    }

    async fn fetch(&self, url: url::Url, max_bytes: u64) -> Result<(Vec<u8>, String), MatrixError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.as_token)
            .timeout(MEDIA_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport_error(&e, MEDIA_TIMEOUT))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_limited(response, MAX_ERROR_BYTES, MEDIA_TIMEOUT)
                .await
                .unwrap_or_default();
            return Err(homeserver_error(status.as_u16(), &body));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = read_limited(response, max_bytes, MEDIA_TIMEOUT).await?;
        Ok((bytes, content_type))
    }
}

/// The homeserver does not know the endpoint at all.
fn unsupported(e: &MatrixError) -> bool {
    matches!(e, MatrixError::Homeserver { status, errcode, .. }
        if *status == 405 || errcode == "M_UNRECOGNIZED")
}
