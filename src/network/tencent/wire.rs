//! The Tencent Cloud Chat websocket wire: JSON `{head, body}` envelopes, the `servcmd` names,
//! the `cs` checksum, `COMP`-prefixed compressed frames and the `ErrorCode`/`ErrorInfo` reply
//! convention.
//!
//! Facts from /work/shared/reference/tencent-jmessage-protocol.md §A1 ("The envelope",
//! "Framing"), read from the `@tencentcloud/chat` 3.6.6 bundle and checked against it in the
//! conformance tests.

use std::io::Read;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `servcmd` names: `"<service>.<command>"`, the same names as the REST paths
/// `/v4/<service>/<command>` (reference §A1 "The envelope").
pub mod servcmd {
    /// Login with identifier + UserSig; the reply carries A2Key, TinyId, HelloInterval.
    pub const WSLOGIN: &str = "im_open_status.wslogin";
    /// Logout of this instance.
    pub const WSLOGOUT: &str = "im_open_status.wslogout";
    /// Sent every `HelloInterval` seconds.
    pub const WSHELLO: &str = "im_open_status.wshello";
    /// The idle ping (after 10 s without traffic; reply due within 3 s).
    pub const ALIVE: &str = "heartbeat.alive";
    /// Server push of messages and notifications.
    pub const MSG_PUSH: &str = "im_open_push.msg_push";
    /// Server push in live rooms.
    pub const MULTI_MSG_PUSH: &str = "im_open_push.multi_msg_push_ws";
    /// The client's acknowledgement of a push (`{SessionData}`).
    pub const PUSH_ACK: &str = "openim.ws_msg_push_ack";
    /// Send a one-to-one (C2C) message.
    pub const SENDMSG: &str = "openim.sendmsg";
    /// C2C sync (offline messages, catch-up): `Cookie`/`SyncFlag` paging.
    pub const GETMSG: &str = "openim.getmsg";
    /// Profile fetch at login.
    pub const PORTRAIT_GET_ALL: &str = "profile.portrait_get_all";
    /// Block list at login.
    pub const BLACK_LIST_GET: &str = "sns.black_list_get";
    /// Conversation list (paged by `StartIndex`/`TopStartIndex`, ends with `CompleteFlag:1`).
    pub const RECENT_CONTACT_PAGE_GET: &str = "recentcontact.page_get";
    /// Send a group message.
    pub const SEND_GROUP_MSG: &str = "group_open_http_svc.send_group_msg";
    /// Group messages by `MsgSeq` (catch-up, history).
    pub const GROUP_MSG_GET: &str = "group_open_http_svc.group_msg_get";
    /// Joined groups.
    pub const GET_JOINED_GROUP_LIST: &str = "group_open_http_svc.get_joined_group_list";
    /// SDK configuration at login.
    pub const FETCH_CONFIG: &str = "im_sdk_config_mgr.fetch_config";
    /// Telemetry over the websocket.
    pub const REPORT: &str = "imopenstat.tim_web_report_v2";
}

/// Error codes of the service's public error table used by this crate.
pub mod code {
    /// UserSig expired (the SDK raises `onUserSigExpired`).
    pub const USERSIG_EXPIRED: i64 = 70001;
    /// UserSig malformed.
    pub const USERSIG_INVALID: i64 = 70003;
    /// UserSig signature check failed.
    pub const USERSIG_VERIFY_FAILED: i64 = 70009;
    /// Identifier in the request differs from the one in the UserSig.
    pub const IDENTIFIER_MISMATCH: i64 = 70013;
    /// SDKAppID in the request differs from the one in the UserSig.
    pub const SDKAPPID_MISMATCH: i64 = 70014;
    /// The A2Key ticket is invalid or expired: log in again.
    pub const A2_INVALID: i64 = 70052;
    /// Account not imported.
    pub const ACCOUNT_NOT_FOUND: i64 = 70107;
    /// Receiver account does not exist (C2C send).
    pub const TO_ACCOUNT_NOT_FOUND: i64 = 20003;
    /// Bad request body.
    pub const INVALID_REQUEST: i64 = 90001;
    /// REST call by an identifier that is not the app admin. The sandbox's choice: the real
    /// service's code for this case is not known.
    pub const ADMIN_REQUIRED: i64 = 60020;
}

/// How a history item says it stands for a recalled message. The 3.6.6 bundle's `Message`
/// reads `isRevoked = 2 === isPlaceMessage || 8 === msgFlagBits` (wire `IsPlaceMsg`,
/// `MsgFlagBits`), and the SDK docs ("Recalling Messages") say a recalled message comes
/// back from the roaming history with `isRevoked` set.
pub mod recalled {
    /// `MsgFlagBits` of a recalled C2C message in `openim.getroammsg`.
    pub const MSG_FLAG_BITS: u64 = 8;
    /// `IsPlaceMsg` of a recalled group message's placeholder in `group_msg_get`.
    pub const IS_PLACE_MSG: u64 = 2;
}

/// The `head` of every frame. Fields the SDK sends as numbers or strings alike are kept as
/// strings; anything not named here is kept in `extra` so a reply can echo it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Head {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<u32>,
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdkappid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contenttype: Option<String>,
    /// Unix seconds.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub reqtime: Option<u64>,
    /// Request counter; the reply echoes it (with `servcmd`) so the client can match.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub seq: Option<u64>,
    pub servcmd: String,
    /// CRC-32 of the body text; 0 for login, logout, alive.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cs: Option<u64>,
    /// Before login: the user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Before login: the UserSig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usersig: Option<String>,
    /// After login: the A2Key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2: Option<String>,
    /// After login: the TinyId.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tinyid: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub head: Head,
    pub body: Value,
}

/// A frame that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("COMP frame does not inflate: {0}")]
    Inflate(String),
    #[error("frame is not a JSON {{head, body}} envelope: {0}")]
    Envelope(String),
    #[error("frame is larger than {0} bytes after inflating")]
    TooLarge(usize),
}

/// Largest inflated frame accepted.
pub const MAX_FRAME: usize = 4 << 20;

/// The ASCII prefix of a compressed server frame.
pub const COMP_PREFIX: &[u8] = b"COMP";

/// `cs`: CRC-32/IEEE of the body's JSON text (UTF-8), as the SDK computes over
/// `JSON.stringify(body)`.
pub fn checksum(body_json: &str) -> u32 {
    crc32fast::hash(body_json.as_bytes())
}

/// The `servcmd`s whose `cs` is 0 (reference §A1).
pub fn zero_checksum(servcmd: &str) -> bool {
    matches!(
        servcmd,
        servcmd::WSLOGIN | servcmd::WSLOGOUT | servcmd::ALIVE
    )
}

/// Inflates a frame when it starts with `COMP` (the rest is zlib or gzip, as pako detects).
pub fn inflate_frame(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, WireError> {
    let Some(rest) = data.strip_prefix(COMP_PREFIX) else {
        return Ok(std::borrow::Cow::Borrowed(data));
    };
    let mut out = Vec::new();
    let limit = MAX_FRAME as u64 + 1;
    let read = if rest.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(rest)
            .take(limit)
            .read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(rest)
            .take(limit)
            .read_to_end(&mut out)
    };
    read.map_err(|e| WireError::Inflate(e.to_string()))?;
    if out.len() > MAX_FRAME {
        return Err(WireError::TooLarge(MAX_FRAME));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Compresses `json` into a `COMP` frame (zlib).
pub fn deflate_frame(json: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(COMP_PREFIX.to_vec(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(json);
    z.finish().unwrap_or_default()
}

/// Decodes one websocket message (text or binary, possibly `COMP`-compressed).
pub fn decode(data: &[u8]) -> Result<Frame, WireError> {
    let data = inflate_frame(data)?;
    #[derive(Deserialize)]
    struct Raw {
        head: Head,
        #[serde(default)]
        body: Value,
    }
    let raw: Raw = serde_json::from_slice(&data).map_err(|e| WireError::Envelope(e.to_string()))?;
    Ok(Frame {
        head: raw.head,
        body: raw.body,
    })
}

/// Encodes a frame, setting `head.cs` to the checksum of the body text exactly as sent
/// (0 for the commands that carry none).
pub fn encode(head: &Head, body: &Value) -> String {
    let body_json = body.to_string();
    let mut head = head.clone();
    head.cs = Some(if zero_checksum(&head.servcmd) {
        0
    } else {
        u64::from(checksum(&body_json))
    });
    let head_json = serde_json::to_string(&head).unwrap_or_else(|_| "{}".into());
    format!("{{\"head\":{head_json},\"body\":{body_json}}}")
}

/// The `ErrorCode`/`ErrorInfo` of a reply body, when it reports a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error {code}: {info}")]
pub struct ServerError {
    /// `ErrorCode` (see [`code`]).
    pub code: i64,
    /// `ErrorInfo`.
    pub info: String,
}

/// `Err` when the body carries a non-zero `ErrorCode`.
pub fn check_reply(body: &Value) -> Result<(), ServerError> {
    let code = body.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0);
    if code == 0 {
        return Ok(());
    }
    Err(ServerError {
        code,
        info: body
            .get("ErrorInfo")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

/// A reply body `{ActionStatus, ErrorCode, ErrorInfo}` for a failure.
pub fn error_body(code: i64, info: &str) -> Value {
    serde_json::json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_sets_checksum_of_body_text() {
        let head = Head {
            servcmd: servcmd::SENDMSG.into(),
            seq: Some(7),
            ..Default::default()
        };
        let body = json!({"To_Account": "bob"});
        let text = encode(&head, &body);
        let frame = decode(text.as_bytes()).expect("decodes");
        assert_eq!(frame.head.seq, Some(7));
        assert_eq!(
            frame.head.cs,
            Some(u64::from(checksum(r#"{"To_Account":"bob"}"#)))
        );
        assert_eq!(frame.body, body);
        let login = Head {
            servcmd: servcmd::WSLOGIN.into(),
            ..Default::default()
        };
        assert_eq!(
            decode(encode(&login, &body).as_bytes()).unwrap().head.cs,
            Some(0)
        );
    }

    #[test]
    fn checksum_is_crc32_ieee() {
        // The standard CRC-32 check value.
        assert_eq!(checksum("123456789"), 0xCBF4_3926);
    }

    #[test]
    fn comp_frames_inflate_zlib_and_gzip() {
        let json = br#"{"head":{"servcmd":"heartbeat.alive","seq":"3"},"body":{}}"#;
        let frame = decode(&deflate_frame(json)).expect("zlib COMP");
        assert_eq!(frame.head.servcmd, servcmd::ALIVE);
        assert_eq!(frame.head.seq, Some(3));
        use std::io::Write;
        let mut gz =
            flate2::write::GzEncoder::new(COMP_PREFIX.to_vec(), flate2::Compression::fast());
        gz.write_all(json).unwrap();
        assert!(decode(&gz.finish().unwrap()).is_ok());
        assert!(matches!(
            decode(b"COMPnot deflate"),
            Err(WireError::Inflate(_))
        ));
        assert!(matches!(decode(b"[1,2]"), Err(WireError::Envelope(_))));
    }

    #[test]
    fn error_replies_are_typed() {
        assert!(check_reply(&json!({"ErrorCode": 0})).is_ok());
        assert!(check_reply(&json!({})).is_ok());
        let e = check_reply(&error_body(code::USERSIG_EXPIRED, "expired")).unwrap_err();
        assert_eq!(e.code, 70001);
        assert_eq!(e.info, "expired");
    }
}
