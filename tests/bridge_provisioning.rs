//! The provisioning API (issue 11 item 3) against the running bridge on a real Synapse, with
//! the in-process Easemob sandbox:
//!
//! * **auth**: no token 401 `M_MISSING_TOKEN`, a wrong secret 401 `M_UNKNOWN_TOKEN`, the
//!   secret without `user_id` 400 `M_MISSING_PARAM`, a user without permission 403
//!   `M_FORBIDDEN`; a Matrix OpenID token (from Synapse's `request_token`) acts for its owner
//!   and is refused for someone else;
//! * **logins**: `whoami`, `login/flows`, `login/start/password` → a `user_input` step, a wrong
//!   step id 400, a missing field 400, a wrong password 403, `login/cancel`, then alice's
//!   username and password → `complete` with `user_login_id` alice; `logins`, `whoami` list it;
//! * **chats**: `resolve_identifier/bob` (ghost MXID), an unknown user 404, `create_dm/bob`
//!   returns a room mx1 is invited to (and the same room again), `contacts`; `create_group`
//!   without a name 400, with a participant who is no ghost 400, then "prov group" with bob's
//!   ghost: the IM group exists (owner alice, bob a member) and mx1 is invited to its room;
//! * `logout/{id}` (wrong id 404), then `logins` is empty; no secret in the bridge log;
//! * **off** without `provisioning.shared_secret`: every path 404.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::service_env::{Env, IM_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "prov-Tk93-shared-secret-value";
const BOT: &str = "@easemobbot:localhost";
const MX: &str = "@mx1:localhost";

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(env: &Env) -> Self {
        Self {
            base: format!("http://127.0.0.1:{}/_matrix/provision/v3", env.as_port),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        }
    }

    /// One call: `auth` is the bearer token, `user` the `user_id` query parameter.
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        user: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(user) = user {
            req = req.query(&[("user_id", user)]);
        }
        if let Some(auth) = auth {
            req = req.bearer_auth(auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status();
        let v = resp.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// A call with the shared secret acting for mx1.
    async fn mx(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, path, Some(SECRET), Some(MX), body).await
    }
}

fn assert_error(got: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["errcode"], errcode, "{}", got.1);
    assert!(got.1["error"].is_string(), "{}", got.1);
}

/// The body for a `user_input` step: each field by its type.
fn fill(step: &Value, username: &str, password: &str) -> Value {
    let mut out = json!({});
    for field in step["user_input"]["fields"].as_array().expect("fields") {
        let id = field["id"].as_str().expect("field id");
        let value = match field["type"].as_str() {
            Some("username") => username,
            _ => password,
        };
        out[id] = json!(value);
    }
    out
}

fn step_path(step: &Value) -> String {
    format!(
        "/login/step/{}/{}/user_input",
        step["login_id"].as_str().expect("login_id"),
        step["step_id"].as_str().expect("step_id")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_api_end_to_end() {
    let extra = format!("provisioning:\n  shared_secret: {SECRET}\n");
    let mut env = Env::start("provisioning", &extra).await;
    let api = Api::new(&env);
    let t0 = env.t0;

    // Auth.
    let got = api.call(Method::GET, "/whoami", None, Some(MX), None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let wrong = format!("{SECRET}x");
    let got = api
        .call(Method::GET, "/whoami", Some(&wrong), Some(MX), None)
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    let got = api
        .call(Method::GET, "/whoami", Some(SECRET), None, None)
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let got = api
        .call(
            Method::GET,
            "/whoami",
            Some(SECRET),
            Some("@x:elsewhere.org"),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let got = api.mx(Method::GET, "/no_such_endpoint", None).await;
    assert_eq!(got.0, StatusCode::NOT_FOUND);
    say!(t0, "auth refusals as expected");

    // whoami and flows before logging in.
    let (status, who) = api.mx(Method::GET, "/whoami", None).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["network"]["network_id"], "easemob", "{who}");
    assert_eq!(who["bridge_bot"], BOT, "{who}");
    assert_eq!(who["homeserver"], "localhost", "{who}");
    assert_eq!(who["logins"], json!([]), "{who}");
    let (status, flows) = api.mx(Method::GET, "/login/flows", None).await;
    assert_eq!(status, StatusCode::OK, "{flows}");
    let ids: Vec<&str> = flows["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"password"), "{flows}");
    assert_eq!(who["login_flows"], flows["flows"]);
    let got = api
        .mx(Method::POST, "/login/start/carrier-pigeon", None)
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");

    // A wrong step id, a missing field, a wrong password.
    let (status, step) = api.mx(Method::POST, "/login/start/password", None).await;
    assert_eq!(status, StatusCode::OK, "{step}");
    assert_eq!(step["type"], "user_input", "{step}");
    let types: Vec<&str> = step["user_input"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["type"].as_str())
        .collect();
    assert_eq!(types, ["username", "password"], "{step}");
    let bad_step = format!(
        "/login/step/{}/not-the-step/user_input",
        step["login_id"].as_str().expect("login_id")
    );
    let got = api.mx(Method::POST, &bad_step, Some(json!({}))).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_BAD_STATE");
    let got = api
        .mx(
            Method::POST,
            &step_path(&step),
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let got = api
        .mx(
            Method::POST,
            &step_path(&step),
            Some(fill(&step, "alice", "wrong-password-1")),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    // The failed process is gone.
    let got = api
        .mx(
            Method::POST,
            &step_path(&step),
            Some(fill(&step, "alice", IM_PASSWORD)),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    // Cancel.
    let (_, step) = api.mx(Method::POST, "/login/start/password", None).await;
    let cancel = format!("/login/cancel/{}", step["login_id"].as_str().expect("id"));
    let (status, v) = api.mx(Method::POST, &cancel, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let got = api.mx(Method::POST, &cancel, None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    say!(t0, "login errors and cancel as expected");

    // Log in as alice.
    let (status, step) = api.mx(Method::POST, "/login/start/password", None).await;
    assert_eq!(status, StatusCode::OK, "{step}");
    let (status, done) = api
        .mx(
            Method::POST,
            &step_path(&step),
            Some(fill(&step, "alice", IM_PASSWORD)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["type"], "complete", "{done}");
    assert_eq!(done["complete"]["user_login_id"], "alice", "{done}");
    assert_eq!(done["login_id"], step["login_id"], "{done}");
    let (_, logins) = api.mx(Method::GET, "/logins", None).await;
    assert_eq!(logins, json!({"login_ids": ["alice"]}));
    let (_, who) = api.mx(Method::GET, "/whoami", None).await;
    assert_eq!(who["logins"][0]["id"], "alice", "{who}");
    let state = who["logins"][0]["state_event"].as_str().unwrap_or_default();
    assert!(["CONNECTING", "CONNECTED"].contains(&state), "{who}");
    say!(t0, "logged in as alice through the API");

    // Chats.
    let (status, bob) = api.mx(Method::GET, "/resolve_identifier/bob", None).await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    assert_eq!(bob["id"], "bob", "{bob}");
    assert_eq!(bob["mxid"], "@easemob_bob:localhost", "{bob}");
    assert!(bob.get("dm_room_mxid").is_none(), "{bob}");
    let got = api
        .mx(Method::GET, "/resolve_identifier/nobody-here-42", None)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, dm) = api.mx(Method::POST, "/create_dm/bob", None).await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    let room = dm["dm_room_mxid"].as_str().expect("dm room").to_owned();
    let mut invited = false;
    for _ in 0..75 {
        if env.mx.invites().await.contains(&room) {
            invited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(invited, "mx1 not invited to {room}");
    let (status, again) = api.mx(Method::POST, "/create_dm/bob", None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["dm_room_mxid"], json!(room));
    let (_, bob) = api.mx(Method::GET, "/resolve_identifier/bob", None).await;
    assert_eq!(bob["dm_room_mxid"], json!(room), "{bob}");
    let (status, contacts) = api.mx(Method::GET, "/contacts", None).await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    assert!(contacts["contacts"].is_array(), "{contacts}");
    say!(t0, "resolve, create_dm ({room}), contacts as expected");

    // create_group: a name is needed, participants are IM users or their ghosts.
    let got = api.mx(Method::POST, "/create_group", Some(json!({}))).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let not_ghost = json!({"name": "x", "participants": ["@someone:localhost"]});
    let got = api
        .mx(Method::POST, "/create_group/group", Some(not_ghost))
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let body = json!({"name": {"name": "prov group"}, "participants": ["@easemob_bob:localhost"]});
    let (status, created) = api
        .mx(Method::POST, "/create_group/group", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let group_room = created["mxid"].as_str().expect("room").to_owned();
    let group = created["id"].as_str().expect("group id").to_owned();
    let mut invited = false;
    for _ in 0..75 {
        if env.mx.invites().await.contains(&group_room) {
            invited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(invited, "mx1 not invited to {group_room}");
    let info = env.bob.rest().group_info(&group).await.expect("group info");
    assert_eq!(
        (info.name.as_str(), info.owner.as_str()),
        ("prov group", "alice")
    );
    assert!(info.members.iter().any(|m| m == "bob"), "{info:?}");
    say!(t0, "create_group made {group} and its room {group_room}");

    // OpenID: a token from Synapse acts for its owner.
    let openid = openid_token(&env).await;
    let auth = format!("openid:{openid}");
    let (status, logins) = api
        .call(Method::GET, "/logins", Some(&auth), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{logins}");
    assert_eq!(logins, json!({"login_ids": ["alice"]}));
    let got = api
        .call(
            Method::GET,
            "/logins",
            Some(&auth),
            Some("@someone:localhost"),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let got = api
        .call(
            Method::GET,
            "/logins",
            Some("openid:not-a-token"),
            None,
            None,
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    say!(t0, "OpenID auth as expected");

    // Logout.
    let got = api.mx(Method::POST, "/logout/carol", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, v) = api.mx(Method::POST, "/logout/alice", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, logins) = api.mx(Method::GET, "/logins", None).await;
    assert_eq!(logins, json!({"login_ids": []}));
    let got = api.mx(Method::GET, "/contacts", None).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "FI.MAU.NOT_LOGGED_IN");

    let mut leaks = env.stop_and_find_leaks();
    leaks.extend(common::bridge::log_leaks(
        &env.log,
        &[
            ("the provisioning secret", SECRET),
            ("the OpenID token", &openid),
        ],
    ));
    assert!(leaks.is_empty(), "secrets in the bridge log: {leaks:#?}");
}

/// An OpenID token for mx1 from Synapse.
async fn openid_token(env: &Env) -> String {
    let url = format!(
        "{}/_matrix/client/v3/user/{MX}/openid/request_token",
        env.synapse.url()
    );
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(env.mx.token())
        .json(&json!({}))
        .send()
        .await
        .expect("request_token");
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    v["access_token"].as_str().expect("openid token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_api_is_off_without_a_secret() {
    let env = Env::start("provisioning-off", "").await;
    let api = Api::new(&env);
    for (method, path) in [
        (Method::GET, "/whoami"),
        (Method::GET, "/login/flows"),
        (Method::POST, "/login/start/password"),
        (Method::GET, "/logins"),
    ] {
        let got = api.mx(method, path, None).await;
        assert_eq!(got.0, StatusCode::NOT_FOUND, "{path}: {}", got.1);
    }
}
