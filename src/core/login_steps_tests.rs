//! The login state machine against a scripted connector: fields asked in order, patterns,
//! values given up front, a second step, failures, display-and-wait, unknown flows, cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::core::connector::{Capabilities, LoginInputFieldType, NetworkLogin, RemoteEventSender};

fn field(t: LoginInputFieldType, id: &str, pattern: Option<&str>) -> LoginInputField {
    LoginInputField {
        field_type: t,
        id: id.into(),
        name: id.replace('_', " "),
        description: String::new(),
        pattern: pattern.map(str::to_owned),
    }
}

/// `two_step`: username + password, then a 2FA code ("123456" is right);
/// `qr`: shows a code, then completes on wait.
struct Scripted {
    cancelled: Arc<AtomicBool>,
}

struct Process {
    flow: String,
    stage: u8,
    user: String,
    cancelled: Arc<AtomicBool>,
}

#[async_trait]
impl LoginProcess for Process {
    async fn start(&mut self) -> Result<LoginStep, LoginFailure> {
        if self.flow == "qr" {
            return Ok(LoginStep::DisplayAndWait {
                step_id: "qr".into(),
                instructions: "Scan it".into(),
                display: LoginDisplay::Qr("qr-data".into()),
            });
        }
        Ok(LoginStep::UserInput {
            step_id: "creds".into(),
            instructions: "Your account".into(),
            fields: vec![
                field(LoginInputFieldType::Username, "username", Some("[a-z]+")),
                field(LoginInputFieldType::Password, "password", None),
            ],
        })
    }

    async fn submit_user_input(&mut self, input: LoginInput) -> Result<LoginStep, LoginFailure> {
        self.stage += 1;
        match self.stage {
            1 => {
                if input.require("password")? != "pw" {
                    return Err(LoginFailure::BadCredentials("wrong password".into()));
                }
                self.user = input.require("username")?.to_owned();
                Ok(LoginStep::UserInput {
                    step_id: "2fa".into(),
                    instructions: String::new(),
                    fields: vec![field(LoginInputFieldType::TwoFactorCode, "code", None)],
                })
            }
            _ if input.require("code")? == "123456" => Ok(complete(&self.user)),
            _ => Err(LoginFailure::BadCredentials("wrong code".into())),
        }
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginFailure> {
        Ok(complete("scanner"))
    }

    async fn cancel(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

fn complete(user: &str) -> LoginStep {
    LoginStep::Complete {
        step_id: "done".into(),
        instructions: String::new(),
        data: LoginData {
            remote_id: user.into(),
            secrets: serde_json::json!({}),
        },
    }
}

#[async_trait]
impl NetworkConnector for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn login_flows(&self) -> Vec<LoginFlow> {
        ["two_step", "qr"]
            .into_iter()
            .map(|id| LoginFlow {
                id: id.into(),
                name: id.into(),
                description: String::new(),
            })
            .collect()
    }
    fn create_login(&self, flow_id: &str) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        Ok(Box::new(Process {
            flow: flow_id.into(),
            stage: 0,
            user: String::new(),
            cancelled: self.cancelled.clone(),
        }))
    }
    async fn connect(
        &self,
        _data: &LoginData,
        _events: RemoteEventSender,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure> {
        Err(LoginFailure::Refused("not in this test".into()))
    }
}

fn connector() -> Scripted {
    Scripted {
        cancelled: Arc::new(AtomicBool::new(false)),
    }
}

fn asked(next: &Result<NextStep, LoginFailure>) -> Option<(&str, bool)> {
    match next {
        Ok(NextStep::Ask { field, first, .. }) => Some((field.id.as_str(), *first)),
        _ => None,
    }
}

#[tokio::test]
async fn fields_are_asked_in_turn_then_the_next_step() {
    let c = connector();
    let mut login = PendingLogin::begin(&c, "two_step", "@u:example.org")
        .await
        .expect("begins");
    let next = login.advance().await;
    assert_eq!(asked(&next), Some(("username", true)));
    assert!(
        matches!(&next, Ok(NextStep::Ask { instructions, .. }) if instructions == "Your account")
    );
    // A value not matching the pattern is refused without being repeated; asked again.
    let err = login.fill("Alice!").expect_err("pattern");
    assert!(!err.contains("Alice!"), "{err}");
    assert_eq!(asked(&login.advance().await), Some(("username", true)));
    login.fill("alice").expect("fits");
    let next = login.advance().await;
    assert_eq!(asked(&next), Some(("password", false)));
    assert!(matches!(&next, Ok(NextStep::Ask { instructions, .. }) if instructions.is_empty()));
    login.fill("pw").expect("fits");
    assert_eq!(asked(&login.advance().await), Some(("code", true)));
    login.fill("123456").expect("fits");
    match login.advance().await {
        Ok(NextStep::Complete { data, .. }) => assert_eq!(data.remote_id, "alice"),
        other => panic!("not complete: {other:?}"),
    }
}

#[tokio::test]
async fn values_given_up_front() {
    let c = connector();
    let mut login = PendingLogin::begin(&c, "two_step", "@u:example.org")
        .await
        .expect("begins");
    assert!(login.fill_all(&["alice", "pw", "extra"]).is_err());
    assert_eq!(login.next_field().map(|f| f.id.as_str()), Some("username"));
    login.fill_all(&["alice"]).expect("one value");
    assert_eq!(login.next_field().map(|f| f.id.as_str()), Some("password"));
    login.fill_all(&["pw"]).expect("the other");
    assert_eq!(asked(&login.advance().await), Some(("code", true)));
}

#[tokio::test]
async fn failures_are_typed() {
    let c = connector();
    let mut login = PendingLogin::begin(&c, "two_step", "@u:example.org")
        .await
        .expect("begins");
    login.fill_all(&["alice", "wrong"]).expect("fits");
    assert_eq!(
        login.advance().await,
        Err(LoginFailure::BadCredentials("wrong password".into()))
    );
    match PendingLogin::begin(&c, "carrier_pigeon", "@u:example.org").await {
        Err(LoginFailure::Refused(why)) => assert!(why.contains("two_step, qr"), "{why}"),
        other => panic!("unknown flow accepted: {other:?}"),
    }
}

#[tokio::test]
async fn display_then_wait() {
    let c = connector();
    let mut login = PendingLogin::begin(&c, "qr", "@u:example.org")
        .await
        .expect("begins");
    assert_eq!(
        login.advance().await,
        Ok(NextStep::Display {
            instructions: "Scan it".into(),
            display: LoginDisplay::Qr("qr-data".into()),
        })
    );
    assert!(
        login.fill("x").is_err(),
        "nothing is asked while displaying"
    );
    match login.advance().await {
        Ok(NextStep::Complete { data, .. }) => assert_eq!(data.remote_id, "scanner"),
        other => panic!("not complete: {other:?}"),
    }
}

#[tokio::test]
async fn cancel_reaches_the_process() {
    let c = connector();
    let login = PendingLogin::begin(&c, "two_step", "@u:example.org")
        .await
        .expect("begins");
    login.cancel().await;
    assert!(c.cancelled.load(Ordering::SeqCst));
}
