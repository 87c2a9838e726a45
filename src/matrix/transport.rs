//! The transport under [`HomeserverClient`]: one ruma request sent over the shared reqwest
//! client with the `as_token` and the appservice identity assertion (`?user_id=`), or, for a
//! real user with a double puppet, with that puppet's token and homeserver; its size and time
//! bounded, its latency and failures counted per endpoint.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use axum::http;
use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::path_builder::PathBuilder;
use ruma::api::{
    AppserviceUserIdentity, IncomingResponse, OutgoingRequest, OutgoingRequestAppserviceExt,
    SupportedVersions,
};
use ruma::UserId;
use tracing::debug;

use super::client::{HomeserverClient, MAX_RESPONSE_BYTES};
use super::wire::{homeserver_error, read_limited, transport_error};
use crate::core::matrix_api::{MatrixError, PuppetAuth};

impl HomeserverClient {
    /// Sends a ruma request with the `as_token`, as `user` (identity assertion) or, with
    /// `None`, as the registration's sender; a real user with a double puppet is reached with
    /// the puppet's credentials instead.
    pub(super) async fn send<R>(
        &self,
        request: R,
        user: Option<&UserId>,
        timeout: Duration,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let puppet = user.and_then(|u| self.puppet(u));
        self.send_as(request, user, puppet.as_ref(), timeout).await
    }

    /// [`Self::send`] with explicit puppet credentials for `user` (`None`: the `as_token`).
    pub(super) async fn send_as<R>(
        &self,
        request: R,
        user: Option<&UserId>,
        puppet: Option<&PuppetAuth>,
        timeout: Duration,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        // A real user with a double puppet: their token (and their homeserver); the identity
        // is asserted only with the appservice method.
        let (base, token, identity) = match puppet {
            Some(p) => (
                p.homeserver.as_deref().unwrap_or(&self.base),
                p.token.as_str(),
                user.filter(|_| p.appservice)
                    .map(AppserviceUserIdentity::new)
                    .unwrap_or_default(),
            ),
            None => (
                self.base.as_str(),
                self.as_token.as_str(),
                user.map(AppserviceUserIdentity::new).unwrap_or_default(),
            ),
        };
        let http_request = request
            .try_into_http_request_with_identity::<Vec<u8>>(
                base,
                SendAccessToken::Always(token),
                identity,
                Cow::Borrowed(&self.versions),
            )
            .map_err(|e| MatrixError::Other(format!("building request: {e}")))?;
        let method = http_request.method().clone();
        let path = http_request.uri().path().to_owned();
        let mut request = reqwest::Request::try_from(http_request)
            .map_err(|e| MatrixError::Other(format!("building request: {e}")))?;
        *request.timeout_mut() = Some(timeout);
        let endpoint = endpoint_name(std::any::type_name::<R>());
        let started = Instant::now();
        let response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                let reason = if e.is_timeout() {
                    "timeout"
                } else {
                    "unreachable"
                };
                self.record(endpoint, started, Some(reason));
                return Err(transport_error(&e, timeout));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_limited(response, MAX_RESPONSE_BYTES, timeout).await;
        let failure = (!status.is_success()).then(|| status.as_str().to_owned());
        self.record(endpoint, started, failure.as_deref());
        let body = body?;
        debug!(%method, path, status = status.as_u16(), as_user = ?user.map(UserId::as_str), "homeserver request");
        if !status.is_success() {
            return Err(homeserver_error(status.as_u16(), &body));
        }
        let mut builder = http::Response::builder().status(status);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        let http_response = builder
            .body(body)
            .map_err(|e| MatrixError::Other(format!("response: {e}")))?;
        R::IncomingResponse::try_from_http_response(http_response)
            .map_err(|e| MatrixError::Other(format!("unexpected response to {method} {path}: {e}")))
    }
}

impl HomeserverClient {
    /// Records one request's latency (and its failure reason, if it failed).
    fn record(&self, endpoint: &str, started: Instant, failure: Option<&str>) {
        if let Some(metrics) = &self.metrics {
            metrics
                .homeserver_seconds
                .observe(&[endpoint], started.elapsed());
            if let Some(reason) = failure {
                metrics.homeserver_failures.inc(&[endpoint, reason]);
            }
        }
    }
}

/// The metrics name of a ruma request type: the module naming the endpoint, the one before
/// its version module (`ruma_client_api::message::send_message_event::v3::Request` →
/// `send_message_event`). A fixed set, unlike paths (which hold room and event ids).
fn endpoint_name(type_name: &'static str) -> &'static str {
    let parts: Vec<&'static str> = type_name.split("::").collect();
    let is_version = |p: &str| {
        p == "unstable"
            || (p.starts_with('v') && p.len() > 1 && p[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    parts
        .iter()
        .position(|p| is_version(p))
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| parts.get(i).copied())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_come_from_the_request_type() {
        assert_eq!(
            endpoint_name(std::any::type_name::<
                ruma::api::client::message::send_message_event::v3::Request,
            >()),
            "send_message_event"
        );
        assert_eq!(
            endpoint_name("x::appservice::ping::send_ping::v1::Request"),
            "send_ping"
        );
        assert_eq!(endpoint_name("no_version::Request"), "other");
    }
}
