//! The provisioning API's authentication: the shared secret with `?user_id=`, or a Matrix
//! OpenID token checked with the homeserver (cached by the token's SHA-256 for a few
//! minutes; the token itself is never stored or logged), then the permission check.

use super::*;

/// The `Authorization: Bearer` token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// A query parameter's value, decoded.
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Who a request acts for, as the API decides it before the permission check.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The shared secret with a valid `user_id`.
    Secret(OwnedUserId),
    /// An OpenID token: the caller verifies it (and compares the optional `user_id`).
    OpenId {
        token: String,
        user_id: Option<OwnedUserId>,
    },
}

/// An error answer before it becomes a response: status, errcode, message.
pub type Refusal = (StatusCode, &'static str, String);

/// Decides from the token and `user_id` alone (no network): `Err` is the error response's
/// status, errcode and message.
pub fn classify(
    secret: &Secret,
    allow_openid: bool,
    token: Option<&str>,
    user_id: Option<&str>,
) -> Result<AuthOutcome, Refusal> {
    let Some(token) = token else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing auth token".into(),
        ));
    };
    let user = match user_id.map(UserId::parse) {
        None => None,
        Some(Ok(user)) => Some(user),
        Some(Err(_)) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "M_INVALID_PARAM",
                "user_id is not a valid Matrix user id".into(),
            ))
        }
    };
    if secret.matches(token) {
        return match user {
            Some(user) => Ok(AuthOutcome::Secret(user)),
            None => Err((
                StatusCode::BAD_REQUEST,
                "M_MISSING_PARAM",
                "the user_id query parameter is required with the shared secret".into(),
            )),
        };
    }
    match token.strip_prefix("openid:") {
        Some(openid) if allow_openid && !openid.is_empty() => Ok(AuthOutcome::OpenId {
            token: openid.to_owned(),
            user_id: user,
        }),
        _ => Err((
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Invalid auth token".into(),
        )),
    }
}

pub(super) async fn authenticate(
    State(p): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = bearer(req.headers());
    let user_id = query_param(req.uri().query(), "user_id");
    let outcome = classify(
        &p.secret,
        p.allow_openid,
        token.as_deref(),
        user_id.as_deref(),
    );
    let user = match outcome {
        Ok(AuthOutcome::Secret(user)) => user,
        Ok(AuthOutcome::OpenId { token, user_id }) => match p.verify_openid(&token).await {
            Some(owner) if user_id.as_ref().is_none_or(|u| *u == owner) => owner,
            Some(_) => {
                return matrix_error(
                    StatusCode::FORBIDDEN,
                    "M_FORBIDDEN",
                    "the OpenID token belongs to another user",
                )
            }
            None => {
                warn!(
                    path = req.uri().path(),
                    "provisioning: OpenID token refused"
                );
                return matrix_error(
                    StatusCode::UNAUTHORIZED,
                    "M_UNKNOWN_TOKEN",
                    "Invalid auth token",
                );
            }
        },
        Err((status, errcode, message)) => {
            if errcode == "M_UNKNOWN_TOKEN" {
                warn!(path = req.uri().path(), "provisioning: wrong auth token");
            }
            return matrix_error(status, errcode, &message);
        }
    };
    if p.ctx.permission(&user) < PermissionLevel::User {
        return matrix_error(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "User does not have login permissions",
        );
    }
    req.extensions_mut().insert(Caller(user));
    next.run(req).await
}

#[derive(Deserialize)]
struct OpenIdUserInfo {
    sub: String,
}

impl Provisioning {
    /// The owner of an OpenID token, asking the homeserver (cached by the token's hash).
    pub(super) async fn verify_openid(&self, token: &str) -> Option<OwnedUserId> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Ok(cache) = self.openid_cache.lock() {
            if let Some((user, until)) = cache.get(&key) {
                if *until > now {
                    return Some(user.clone());
                }
            }
        }
        let url = format!(
            "{}/_matrix/federation/v1/openid/userinfo",
            self.homeserver_url
        );
        let response = self
            .http
            .get(url)
            .query(&[("access_token", token)])
            .send()
            .await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                warn!(status = %r.status(), "OpenID userinfo refused the token");
                return None;
            }
            Err(e) => {
                warn!(error = %e.without_url(), "OpenID userinfo unreachable");
                return None;
            }
        };
        let info: OpenIdUserInfo = response.json().await.ok()?;
        let user = UserId::parse(info.sub).ok()?;
        if user.server_name().as_str() != self.ctx.cfg.homeserver.domain {
            return None;
        }
        if let Ok(mut cache) = self.openid_cache.lock() {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() < 10_000 {
                cache.insert(key, (user.clone(), now + OPENID_CACHE_TTL));
            }
        }
        Some(user)
    }
}
