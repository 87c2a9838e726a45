//! The provisioning API's chat endpoints: `contacts`, `resolve_identifier/{id}`,
//! `create_dm/{id}` (the bot's `pm`: creates the portal or returns the existing room) and
//! `create_group` (the bot's `create-group`: creates the group and its portal). Auth and logins are in the parent
//! module.

use super::*;
use crate::core::commands::groups::{
    create_group as create_remote_group, remote_members, wait_portal_room,
};

/// A remote user as `resolve_identifier`, `contacts` and `create_dm` show them.
async fn user_json(ctx: &Ctx, login: &UserLogin, id: &str, profile: &UserProfile) -> Value {
    let mut out = json!({
        "id": id,
        "identifiers": [id],
        "mxid": ctx.cfg.ghost_mxid(id),
    });
    if let Some(name) = profile.name.as_deref().filter(|n| !n.is_empty()) {
        out["name"] = json!(name);
    }
    if let Some(room) = existing_room(ctx, &portal_key(&login.remote_id, &ChatId::direct(id))).await
    {
        out["dm_room_mxid"] = json!(room);
    }
    out
}

fn not_logged_in() -> Response {
    matrix_error(
        StatusCode::BAD_REQUEST,
        "FI.MAU.NOT_LOGGED_IN",
        "Not logged in",
    )
}

/// `?login_id=` of the chat endpoints.
#[derive(Deserialize)]
pub(super) struct LoginQuery {
    login_id: Option<String>,
}

/// The caller's login the request names (`?login_id=`), or their only one.
async fn login_for(
    ctx: &Ctx,
    user: &UserId,
    wanted: Option<&str>,
) -> Result<Arc<UserLogin>, Response> {
    let login = ctx.login_of(user).await;
    match (login, wanted) {
        (Some(login), None) => Ok(login),
        (Some(login), Some(id)) if login.remote_id == id => Ok(login),
        (_, Some(_)) => Err(matrix_error(
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
            "Login not found",
        )),
        (None, None) => Err(not_logged_in()),
    }
}

pub(super) async fn contacts(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let login = match login_for(&p.ctx, &user, q.login_id.as_deref()).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    let chats = match login.session.list_chats().await {
        Ok(chats) => chats,
        Err(e) => {
            let message = format!("could not list the chats: {e}");
            return matrix_error(StatusCode::BAD_GATEWAY, "M_UNKNOWN", &message);
        }
    };
    let mut out = Vec::new();
    for chat in chats.iter().filter(|c| c.kind == ChatKind::Direct) {
        if chat.id == login.remote_id {
            continue;
        }
        let profile = login
            .session
            .user_profile(&chat.id)
            .await
            .unwrap_or_default();
        out.push(user_json(&p.ctx, &login, &chat.id, &profile).await);
    }
    ok(json!({ "contacts": out }))
}

/// Resolves `identifier` for `login`: its profile, or the error response.
async fn resolve(login: &UserLogin, identifier: &str) -> Result<UserProfile, Response> {
    let id = identifier.trim();
    if id.is_empty() {
        return Err(matrix_error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "empty identifier",
        ));
    }
    if id == login.remote_id {
        return Err(matrix_error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "that is your own account",
        ));
    }
    match login.session.resolve_user(id).await {
        Ok(Some(profile)) => Ok(profile),
        Ok(None) => Err(matrix_error(
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
            "User not found",
        )),
        Err(e) => {
            let message = format!("could not look the user up: {e}");
            Err(matrix_error(StatusCode::BAD_GATEWAY, "M_UNKNOWN", &message))
        }
    }
}

pub(super) async fn resolve_identifier(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path(identifier): Path<String>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let login = match login_for(&p.ctx, &user, q.login_id.as_deref()).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    match resolve(&login, &identifier).await {
        Ok(profile) => ok(user_json(&p.ctx, &login, identifier.trim(), &profile).await),
        Err(response) => response,
    }
}

pub(super) async fn create_dm(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path(identifier): Path<String>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let ctx = &p.ctx;
    let login = match login_for(ctx, &user, q.login_id.as_deref()).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    let profile = match resolve(&login, &identifier).await {
        Ok(profile) => profile,
        Err(response) => return response,
    };
    let id = identifier.trim();
    let key = portal_key(&login.remote_id, &ChatId::direct(id));
    match existing_room(ctx, &key).await {
        // Invites the user again when they left it.
        Some(room) => {
            point_to_chat(ctx, &user, id, &room).await;
        }
        None => {
            open_portal(ctx, &login, ChatId::direct(id)).await;
            let until = Instant::now() + CREATE_DM_WAIT;
            while existing_room(ctx, &key).await.is_none() {
                if Instant::now() >= until {
                    return matrix_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "M_UNKNOWN",
                        "the chat's room was not created in time; it arrives as an invite",
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    ok(user_json(ctx, &login, id, &profile).await)
}

/// `create_group` (and `create_group/{type}`): `{"name": "…" or {"name": "…"},
/// "participants": [remote ids or ghost MXIDs]}` creates the network group through the
/// caller's login (the bot's `create-group`) and waits for its portal room; answers
/// `{"id": group id, "mxid": room id}`.
pub(super) async fn create_group(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Query(q): Query<LoginQuery>,
    body: Bytes,
) -> Response {
    let ctx = &p.ctx;
    let login = match login_for(ctx, &user, q.login_id.as_deref()).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return matrix_error(
            StatusCode::BAD_REQUEST,
            "M_NOT_JSON",
            "the body is not JSON",
        );
    };
    let name = body["name"]
        .as_str()
        .or_else(|| body["name"]["name"].as_str())
        .map(str::trim)
        .unwrap_or_default();
    if name.is_empty() {
        return matrix_error(
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
            "the group needs a name",
        );
    }
    let participants: Vec<String> = body["participants"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let members = match remote_members(ctx, &login, &participants) {
        Ok(members) => members,
        Err(e) => return matrix_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", &e),
    };
    let chat = match create_remote_group(ctx, &login, name, &members).await {
        Ok(chat) => chat,
        Err(e) => return matrix_error(StatusCode::BAD_GATEWAY, "M_UNKNOWN", &e),
    };
    match wait_portal_room(ctx, &login, &chat, CREATE_DM_WAIT).await {
        Some(room) => ok(json!({ "id": chat.id, "mxid": room })),
        None => matrix_error(
            StatusCode::GATEWAY_TIMEOUT,
            "M_UNKNOWN",
            "the group was created but its room was not in time; it arrives as an invite",
        ),
    }
}
