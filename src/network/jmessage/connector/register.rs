//! `register` for JMessage: the Web SDK's `JIM.register`, on a connection of its own:
//! `c_init` signed with the app's masterSecret, then `register {username, password:
//! md5hex(password)}` (reference §B1). Then the account is logged in as the password login
//! does ([`super::login::check`]), and the session parked for `connect`.
//!
//! Refusals, from the public "IM Web ErrorCode" table (docs.jiguang.cn/jmessage/client/
//! im_errorcode_js) and the server table (im_errorcode_server): `882002` "user exist" (what the
//! Web SDK's register answers; the server's own `898001` / `899001` "User exist" too) → name
//! taken; `880002` / `898003` / `899003` invalid parameter → name invalid; `880007` "register
//! limit" (被限制注册) → registration closed; `880101` / `880102` / `880106` → the bridge's app
//! credentials are wrong. Names and passwords are first checked against the documented rules
//! (username 4 to 128 bytes starting with a letter or digit, of letters, digits, `_ . - @`;
//! password 4 to 128 bytes: "字符串规范", docs.jiguang.cn/jmessage/server/rest_api_im).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::JmessageConnector;
use crate::core::connector::{LoginData, LoginFailure};
use crate::core::registration::{RegisterFailure, RegistrationAbility};
use crate::network::jmessage::client::unix_ms;
use crate::network::jmessage::eio::{self, EioPacket, SioPacket};
use crate::network::jmessage::wire::{self, event};
use crate::network::websocket;

/// How long the whole exchange (connect, `c_init`, `register`) may take.
const REGISTER_WAIT: Duration = Duration::from_secs(20);

/// The register answer's "user exist" (Web SDK).
const USER_EXIST: i64 = 882002;
/// "register limit": the app restricts registration.
const REGISTER_LIMIT: i64 = 880007;

/// Whether `user` follows JMessage's username rules; the words of the rule when not.
pub fn check_username(user: &str) -> Result<(), String> {
    if user.len() >= 4 && crate::network::jmessage::across::valid_username(user) {
        Ok(())
    } else {
        Err(
            "a JMessage username is 4 to 128 characters of letters, digits, `_`, `.`, `-` and \
             `@`, starting with a letter or digit"
                .into(),
        )
    }
}

/// A refused `register` (code and message) in the core's terms.
pub fn refusal(user: &str, code: i64, message: &str) -> RegisterFailure {
    match code {
        USER_EXIST | 898001 | 899001 => RegisterFailure::NameTaken(user.to_owned()),
        wire::code::INVALID_PARAMETER | 898003 | 899003 => {
            RegisterFailure::NameInvalid(format!("JMessage says: {message}"))
        }
        REGISTER_LIMIT => RegisterFailure::Closed,
        wire::code::APPKEY_NOT_EXIST
        | wire::code::SIGNATURE_FAIL
        | wire::code::SIGNATURE_EXPIRED => RegisterFailure::Refused(format!(
            "JMessage refused the bridge's app credentials ({code} {message}): the bridge's \
                 operator must check network.jmessage"
        )),
        _ => RegisterFailure::Refused(format!("JMessage refused it: {code} {message}")),
    }
}

/// Opens a connection, signs in the app and asks to register `user`.
async fn register_on_server(
    connector: &JmessageConnector,
    user: &str,
    password: &str,
) -> Result<(), RegisterFailure> {
    let settings = &connector.settings;
    let url = eio::websocket_url(&settings.websocket_url);
    let mut ws = websocket::connect(&url)
        .await
        .map_err(RegisterFailure::Unreachable)?;
    let init_rid: i64 = rand::rng().random_range(1..i64::from(i32::MAX));
    let register_rid = init_rid % (i64::from(i32::MAX) - 1) + 1;
    let outcome = loop {
        let Some(frame) = ws.next().await else {
            break Err(RegisterFailure::Unreachable(
                "the server closed the connection".into(),
            ));
        };
        let text = match frame {
            Ok(WsMessage::Text(t)) => t,
            Ok(WsMessage::Close(_)) => {
                break Err(RegisterFailure::Unreachable(
                    "the server closed the connection".into(),
                ))
            }
            Ok(_) => continue,
            Err(e) => break Err(RegisterFailure::Unreachable(e.to_string())),
        };
        let reply = match eio::decode(text.as_str()) {
            Ok(EioPacket::Ping(data)) => Some(format!("3{data}")),
            Ok(EioPacket::Message(SioPacket::Connect { .. })) => {
                let random_str: String = rand::rng()
                    .sample_iter(Alphanumeric)
                    .take(24)
                    .map(char::from)
                    .collect();
                let timestamp = unix_ms();
                let signature = wire::signature(
                    &settings.app_key,
                    timestamp,
                    &random_str,
                    settings.master_secret.expose(),
                );
                let mut body = serde_json::to_value(wire::Init {
                    appkey: settings.app_key.clone(),
                    random_str,
                    timestamp,
                    signature,
                    flag: 0,
                    from_platform: Some(wire::FROM_PLATFORM.to_owned()),
                })
                .unwrap_or(Value::Null);
                body["rid"] = json!(init_rid);
                Some(eio::encode_event(event::INIT, &body, None))
            }
            Ok(EioPacket::Message(SioPacket::Event { name, args, .. })) => {
                let data = args.into_iter().next().unwrap_or(Value::Null);
                let rid = data["rid"].as_i64();
                let code = data["code"].as_i64().unwrap_or(0);
                let message = data["message"].as_str().unwrap_or_default();
                if name == event::INIT && rid == Some(init_rid) {
                    if code != 0 {
                        break Err(refusal(user, code, message));
                    }
                    let body = json!({
                        "username": user,
                        "password": wire::md5_hex(password.as_bytes()),
                        "rid": register_rid,
                    });
                    Some(eio::encode_event(event::REGISTER, &body, None))
                } else if name == event::REGISTER && rid == Some(register_rid) {
                    break if code == 0 {
                        Ok(())
                    } else {
                        Err(refusal(user, code, message))
                    };
                } else {
                    None
                }
            }
            Ok(EioPacket::Close) => {
                break Err(RegisterFailure::Unreachable(
                    "the server closed the connection".into(),
                ))
            }
            Ok(_) => None,
            Err(e) => break Err(RegisterFailure::Unreachable(format!("bad frame: {e}"))),
        };
        if let Some(frame) = reply {
            if let Err(e) = ws.send(WsMessage::Text(frame.into())).await {
                break Err(RegisterFailure::Unreachable(e.to_string()));
            }
        }
    };
    let _ = ws.close(None).await;
    outcome
}

#[async_trait]
impl RegistrationAbility for JmessageConnector {
    async fn register(&self, user: &str, password: &str) -> Result<LoginData, RegisterFailure> {
        let user = user.trim();
        check_username(user).map_err(RegisterFailure::NameInvalid)?;
        if !(4..=128).contains(&password.len()) {
            return Err(RegisterFailure::Refused(
                "the password must be 4 to 128 bytes".into(),
            ));
        }
        tokio::time::timeout(REGISTER_WAIT, register_on_server(self, user, password))
            .await
            .map_err(|_| {
                RegisterFailure::Unreachable(format!(
                    "no answer from {} within {} s",
                    self.settings.websocket_url,
                    REGISTER_WAIT.as_secs()
                ))
            })??;
        super::login::check(&self.settings, &self.warm, user, password)
            .await
            .map_err(|e| match e {
                LoginFailure::Unreachable(w) => RegisterFailure::Unreachable(w),
                other => {
                    RegisterFailure::Refused(format!("registered, but cannot log in: {other}"))
                }
            })?;
        Ok(super::login::login_data(user, password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_rules() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("a.b-c_d@e").is_ok());
        assert!(check_username("bob").is_err(), "too short");
        assert!(check_username("_alice").is_err(), "starts with _");
        assert!(check_username("al ice").is_err());
        assert!(check_username(&"a".repeat(129)).is_err());
    }

    #[test]
    fn refusals_in_the_core_terms() {
        assert_eq!(
            refusal("alice", 882002, "user exist"),
            RegisterFailure::NameTaken("alice".into())
        );
        assert!(matches!(
            refusal("alice", 880002, "invalid parameter"),
            RegisterFailure::NameInvalid(_)
        ));
        assert_eq!(
            refusal("alice", 880007, "register limit"),
            RegisterFailure::Closed
        );
        let RegisterFailure::Refused(words) = refusal("alice", 880102, "signatu fail") else {
            panic!("refused");
        };
        assert!(words.contains("network.jmessage"), "{words}");
    }
}
