//! The sandbox's REST admin API: `POST /v4/<service>/<command>?sdkappid=…&identifier=<admin>
//! &usersig=<admin UserSig>&random=…&contenttype=json`, answered with HTTP 200 and
//! `{ActionStatus, ErrorCode, ErrorInfo}` (reference §A2). Implemented: account import, kick
//! (`KickType` 3 to every instance), C2C send as any user (`From_Account`) and the group
//! calls of [`super::groups`] and the Community topic calls of [`super::topics`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use rand::Rng;
use serde_json::{json, Value};

use super::super::wire::{self, code};
use super::state::{Sandbox, SendMeta};
use super::ws::{c2c_fields, ok};

/// `POST /v4/{service}/{command}`.
pub async fn call(
    State(sandbox): State<Arc<Sandbox>>,
    Path((service, command)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Json<Value> {
    if let Err(e) = authenticate(&sandbox, &q) {
        return Json(e);
    }
    // The real service takes the JSON body whatever the Content-Type says.
    let body: Value = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Json(wire::error_body(
                code::INVALID_REQUEST,
                &format!("body is not JSON: {e}"),
            ))
        }
    };
    Json(match (service.as_str(), command.as_str()) {
        ("im_open_login_svc", "account_import") => {
            let user = body
                .get("UserID")
                .or_else(|| body.get("Identifier"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            match user {
                Some(u) => {
                    sandbox.import(u);
                    ok(json!({}))
                }
                None => wire::error_body(code::INVALID_REQUEST, "UserID is required"),
            }
        }
        ("im_open_login_svc", "multiaccount_import") => {
            let users = body
                .get("Accounts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for u in users.iter().filter_map(Value::as_str) {
                sandbox.import(u);
            }
            ok(json!({"FailAccounts": []}))
        }
        ("openim", "sendmsg") => sendmsg(&sandbox, &body),
        ("profile", "portrait_get") => sandbox.portrait_get(&body),
        ("profile", "portrait_set") => {
            let from = body
                .get("From_Account")
                .and_then(Value::as_str)
                .unwrap_or_default();
            sandbox.portrait_set(from, None, &body)
        }
        ("group_open_http_svc", cmd) => super::group_cmds::handle(&sandbox, cmd, None, &body)
            .unwrap_or_else(|| {
                wire::error_body(
                    code::INVALID_REQUEST,
                    &format!("{service}/{command} is not implemented by the sandbox"),
                )
            }),
        ("million_group_open_http_svc", cmd) => super::topics::handle(&sandbox, cmd, None, &body)
            .or_else(|| super::group_cmds::handle(&sandbox, cmd, None, &body))
            .unwrap_or_else(|| {
                wire::error_body(
                    code::INVALID_REQUEST,
                    &format!("{service}/{command} is not implemented by the sandbox"),
                )
            }),
        ("im_open_login_svc", "kick") => {
            match body
                .get("UserID")
                .or_else(|| body.get("Identifier"))
                .and_then(Value::as_str)
            {
                Some(u) => {
                    sandbox.kick(u, 3);
                    ok(json!({}))
                }
                None => wire::error_body(code::INVALID_REQUEST, "UserID is required"),
            }
        }
        _ => wire::error_body(
            code::INVALID_REQUEST,
            &format!("{service}/{command} is not implemented by the sandbox"),
        ),
    })
}

fn sendmsg(sandbox: &Sandbox, body: &Value) -> Value {
    let from = body
        .get("From_Account")
        .and_then(Value::as_str)
        .unwrap_or(&sandbox.cfg.admin)
        .to_owned();
    let (to, _, random, msg_body) = match c2c_fields(body) {
        Ok(f) => f,
        Err(e) => return wire::error_body(code::INVALID_REQUEST, &e),
    };
    if !sandbox.exists(&from) {
        return wire::error_body(code::ACCOUNT_NOT_FOUND, "From_Account does not exist");
    }
    // REST callers do not pick MsgSeq; the server does.
    let seq = u64::from(rand::rng().random::<u32>() | 1);
    let random = if random == 0 {
        u64::from(rand::rng().random::<u32>())
    } else {
        random
    };
    let meta = SendMeta {
        seq,
        random,
        ..SendMeta::of(body)
    };
    match sandbox.send_c2c(&from, &to, &msg_body, &meta, None) {
        None => wire::error_body(code::TO_ACCOUNT_NOT_FOUND, "To_Account does not exist"),
        Some(d) => ok(json!({"MsgTime": d.time, "MsgKey": d.key})),
    }
}

/// Admin check: `identifier` must be the configured admin and `usersig` valid for it.
fn authenticate(sandbox: &Sandbox, q: &HashMap<String, String>) -> Result<(), Value> {
    let identifier = q.get("identifier").map(String::as_str).unwrap_or_default();
    let sig = q.get("usersig").map(String::as_str).unwrap_or_default();
    if q.get("sdkappid").and_then(|s| s.parse::<u64>().ok()) != Some(sandbox.cfg.sdk_app_id) {
        return Err(wire::error_body(
            code::SDKAPPID_MISMATCH,
            "sdkappid does not match this app",
        ));
    }
    if identifier != sandbox.cfg.admin {
        return Err(wire::error_body(
            code::ADMIN_REQUIRED,
            "identifier is not the app admin",
        ));
    }
    sandbox
        .verify(identifier, sig)
        .map(|_| ())
        .map_err(|e| wire::error_body(e.code(), &e.to_string()))
}
