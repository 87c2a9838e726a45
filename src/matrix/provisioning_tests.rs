//! Unit tests of the provisioning API's authentication decisions and JSON shapes (the routes
//! themselves are tested against the running bridge in `tests/bridge_provisioning.rs`).

use super::*;
use crate::core::connector::{LoginData, LoginDisplay, LoginInputField, LoginInputFieldType};

const SECRET: &str = "prov-secret-0123456789";

fn secret() -> Secret {
    Secret::new(SECRET)
}

#[test]
fn bearer_header_only() {
    let mut h = HeaderMap::new();
    assert_eq!(bearer(&h), None);
    h.insert(header::AUTHORIZATION, "Bearer  abc ".parse().unwrap());
    assert_eq!(bearer(&h).as_deref(), Some("abc"));
    h.insert(header::AUTHORIZATION, "bearer openid:xyz".parse().unwrap());
    assert_eq!(bearer(&h).as_deref(), Some("openid:xyz"));
    h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
    assert_eq!(bearer(&h), None);
    h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
    assert_eq!(bearer(&h), None);
}

#[test]
fn shared_secret_needs_a_valid_user_id() {
    let s = secret();
    let user = UserId::parse("@u:example.org").unwrap();
    assert_eq!(
        classify(&s, true, Some(SECRET), Some("@u:example.org")),
        Ok(AuthOutcome::Secret(user))
    );
    let missing = classify(&s, true, Some(SECRET), None).unwrap_err();
    assert_eq!(
        (missing.0, missing.1),
        (StatusCode::BAD_REQUEST, "M_MISSING_PARAM")
    );
    let bad = classify(&s, true, Some(SECRET), Some("not a user")).unwrap_err();
    assert_eq!((bad.0, bad.1), (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"));
}

#[test]
fn wrong_or_missing_tokens_are_refused() {
    let s = secret();
    let none = classify(&s, true, None, Some("@u:example.org")).unwrap_err();
    assert_eq!(
        (none.0, none.1),
        (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN")
    );
    for wrong in [
        "prov-secret-012345678",
        "prov-secret-01234567890",
        "x",
        "openid:",
    ] {
        let e = classify(&s, true, Some(wrong), Some("@u:example.org")).unwrap_err();
        assert_eq!(
            (e.0, e.1),
            (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
            "{wrong}"
        );
        assert!(!e.2.contains(wrong), "token echoed");
    }
}

#[test]
fn openid_tokens_only_when_allowed() {
    let s = secret();
    assert_eq!(
        classify(&s, true, Some("openid:tok"), None),
        Ok(AuthOutcome::OpenId {
            token: "tok".into(),
            user_id: None
        })
    );
    let e = classify(&s, false, Some("openid:tok"), None).unwrap_err();
    assert_eq!(e.1, "M_UNKNOWN_TOKEN");
}

fn field(t: LoginInputFieldType, id: &str) -> LoginInputField {
    LoginInputField {
        field_type: t,
        id: id.into(),
        name: id.into(),
        description: String::new(),
        pattern: None,
    }
}

#[test]
fn user_input_step_shape() {
    let step = LoginStep::UserInput {
        step_id: "easemob.password".into(),
        instructions: "Log in".into(),
        fields: vec![
            field(LoginInputFieldType::Username, "username"),
            field(LoginInputFieldType::Password, "password"),
        ],
    };
    let v = step_json("p1", &step, None);
    assert_eq!(v["login_id"], "p1");
    assert_eq!(v["type"], "user_input");
    assert_eq!(v["step_id"], "easemob.password");
    assert_eq!(v["instructions"], "Log in");
    assert_eq!(v["user_input"]["fields"][0]["id"], "username");
    assert_eq!(v["user_input"]["fields"][1]["type"], "password");
    assert!(v.get("complete").is_none() && v.get("display_and_wait").is_none());
}

#[test]
fn display_and_complete_step_shapes() {
    let step = LoginStep::DisplayAndWait {
        step_id: "qr".into(),
        instructions: "Scan".into(),
        display: LoginDisplay::Qr("data".into()),
    };
    let v = step_json("p", &step, None);
    assert_eq!(v["type"], "display_and_wait");
    assert_eq!(v["display_and_wait"], json!({"type": "qr", "data": "data"}));

    let step = LoginStep::Complete {
        step_id: "done".into(),
        instructions: String::new(),
        data: LoginData {
            remote_id: "alice".into(),
            secrets: json!({"password": "hunter2-secret"}),
        },
    };
    let v = step_json("p", &step, Some("alice"));
    assert_eq!(v["type"], "complete");
    assert_eq!(v["complete"], json!({"user_login_id": "alice"}));
    assert!(!v.to_string().contains("hunter2"), "credentials shown: {v}");
}

#[test]
fn login_failures_map_to_statuses() {
    let status = |e: LoginFailure| login_failure(&e).status();
    assert_eq!(
        status(LoginFailure::BadCredentials("no".into())),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(LoginFailure::Refused("no".into())),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(LoginFailure::Unreachable("no".into())),
        StatusCode::BAD_GATEWAY
    );
}

#[test]
fn process_ids_are_random_hex() {
    let (a, b) = (process_id(), process_id());
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}
