//! Engine.IO v3 + socket.io protocol 4 (the wire of socket.io-client 1.x/2.x, which the
//! JMessage Web SDK bundles) as a sans-I/O text codec: one websocket text frame in, one
//! [`EioPacket`] out, and the few frames a client writes.
//!
//! No Rust socket.io client speaks Engine.IO v3 (`rust_socketio` is v4 only, its issue
//! #132; reference part B3), so this is the small subset a websocket-only client needs:
//! - Engine.IO packet = one type digit + payload: `0` open `{sid, upgrades, pingInterval,
//!   pingTimeout}` (milliseconds), `1` close, `2` ping, `3` pong, `4` message, `5` upgrade,
//!   `6` noop. In v3 the CLIENT sends `2` every `pingInterval` and the server answers `3`.
//! - socket.io packet inside a `4` message = one type digit, then an optional `/nsp,`, an
//!   optional decimal ack id, then a JSON payload: `0` connect (the server sends `40` for the
//!   default namespace without being asked), `1` disconnect, `2` event `["name", args…]`,
//!   `3` ack `[args…]`, `4` error, `5`/`6` binary event / ack (not used by JMessage:
//!   refused).
//!
//! Decoding never panics: any text gives a packet or an [`EioError`] (fuzzed by proptest).

use serde::Deserialize;
use serde_json::Value;

/// The Engine.IO protocol revision in the connection URL (`EIO=3`).
pub const EIO_VERSION: u32 = 3;

/// The client's ping frame (Engine.IO v3: the client pings).
pub const PING: &str = "2";

/// The path socket.io serves by default.
pub const DEFAULT_PATH: &str = "/socket.io/";

/// Largest ack id accepted (socket.io-client counts from 0 upwards; anything longer than this
/// many digits is not an id we sent).
const MAX_ID_DIGITS: usize = 15;

/// The `0` open packet's handshake (durations in milliseconds, as on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The Engine.IO session id.
    pub sid: String,
    /// Transports the server offers to upgrade to (empty on a websocket).
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// How often the client must ping, in ms.
    pub ping_interval: u64,
    /// How long the client waits for the pong, in ms.
    pub ping_timeout: u64,
}

/// One socket.io packet (carried in an Engine.IO `4` message).
#[derive(Debug, Clone, PartialEq)]
pub enum SioPacket {
    /// `0`: the namespace is connected.
    Connect { nsp: String },
    /// `1`: the namespace is disconnected.
    Disconnect { nsp: String },
    /// `2`: an event `name` with its arguments, and the ack id when the sender wants an ack.
    Event {
        nsp: String,
        id: Option<u64>,
        name: String,
        args: Vec<Value>,
    },
    /// `3`: the answer to the event we sent with ack id `id`.
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// `4`: an error (e.g. a refused namespace), with its payload.
    Error { nsp: String, data: Value },
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum EioPacket {
    Open(Handshake),
    Close,
    Ping(String),
    Pong(String),
    Message(SioPacket),
    Upgrade,
    Noop,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EioError {
    #[error("empty engine.io packet")]
    Empty,
    #[error("unknown engine.io packet type {0:?}")]
    UnknownType(char),
    #[error("bad open packet: {0}")]
    BadOpen(String),
    #[error("empty socket.io packet")]
    EmptyMessage,
    #[error("unknown socket.io packet type {0:?}")]
    UnknownSioType(char),
    #[error("binary socket.io packets are not supported")]
    Binary,
    #[error("bad ack id")]
    BadId,
    #[error("bad socket.io payload: {0}")]
    BadPayload(String),
}

/// Decodes one websocket text frame.
pub fn decode(frame: &str) -> Result<EioPacket, EioError> {
    let mut chars = frame.chars();
    let kind = chars.next().ok_or(EioError::Empty)?;
    let rest = chars.as_str();
    match kind {
        '0' => serde_json::from_str(rest)
            .map(EioPacket::Open)
            .map_err(|e| EioError::BadOpen(e.to_string())),
        '1' => Ok(EioPacket::Close),
        '2' => Ok(EioPacket::Ping(rest.to_owned())),
        '3' => Ok(EioPacket::Pong(rest.to_owned())),
        '4' => decode_sio(rest).map(EioPacket::Message),
        '5' => Ok(EioPacket::Upgrade),
        '6' => Ok(EioPacket::Noop),
        other => Err(EioError::UnknownType(other)),
    }
}

/// Decodes the socket.io packet inside an Engine.IO message.
pub fn decode_sio(text: &str) -> Result<SioPacket, EioError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(EioError::EmptyMessage)?;
    let mut rest = chars.as_str();
    if matches!(kind, '5' | '6') {
        return Err(EioError::Binary);
    }
    if !matches!(kind, '0'..='4') {
        return Err(EioError::UnknownSioType(kind));
    }
    // Namespace: "/name," (the default namespace "/" is written as nothing).
    let mut nsp = "/".to_owned();
    if rest.starts_with('/') {
        match rest.find(',') {
            Some(i) => {
                nsp = rest[..i].to_owned();
                rest = &rest[i + 1..];
            }
            None => {
                // "0/chat" — a namespace and nothing after it.
                nsp = rest.to_owned();
                rest = "";
            }
        }
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits == 0 {
        None
    } else if digits > MAX_ID_DIGITS {
        return Err(EioError::BadId);
    } else {
        Some(rest[..digits].parse::<u64>().map_err(|_| EioError::BadId)?)
    };
    let payload = &rest[digits..];
    let data = || -> Result<Value, EioError> {
        if payload.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_str(payload).map_err(|e| EioError::BadPayload(e.to_string()))
        }
    };
    match kind {
        '0' => Ok(SioPacket::Connect { nsp }),
        '1' => Ok(SioPacket::Disconnect { nsp }),
        '2' => {
            let Value::Array(mut items) = data()? else {
                return Err(EioError::BadPayload("an event is not an array".into()));
            };
            if items.is_empty() {
                return Err(EioError::BadPayload("an event without a name".into()));
            }
            let Value::String(name) = items.remove(0) else {
                return Err(EioError::BadPayload("an event name is not a string".into()));
            };
            Ok(SioPacket::Event {
                nsp,
                id,
                name,
                args: items,
            })
        }
        '3' => {
            let id = id.ok_or(EioError::BadId)?;
            let args = match data()? {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                _ => return Err(EioError::BadPayload("ack data is not an array".into())),
            };
            Ok(SioPacket::Ack { nsp, id, args })
        }
        _ => Ok(SioPacket::Error { nsp, data: data()? }),
    }
}

/// The frame of an event on the default namespace: `42["name",arg]`, or `42<id>[…]` when the
/// sender wants an ack with that id.
pub fn encode_event(name: &str, arg: &Value, id: Option<u64>) -> String {
    let body = Value::Array(vec![Value::String(name.to_owned()), arg.clone()]);
    match id {
        Some(id) => format!("42{id}{body}"),
        None => format!("42{body}"),
    }
}

/// The frame acknowledging event `id` with `args`: `43<id>[…]`.
pub fn encode_ack(id: u64, args: &[Value]) -> String {
    format!("43{id}{}", Value::Array(args.to_vec()))
}

/// The client's Engine.IO connection path and query for a websocket (`EIO=3`), appended to
/// a `ws://host:port` base.
pub fn websocket_url(base: &str) -> String {
    format!(
        "{}{DEFAULT_PATH}?EIO={EIO_VERSION}&transport=websocket",
        base.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn decodes_the_handshake_and_the_default_connect() {
        let open =
            decode(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#)
                .unwrap();
        assert_eq!(
            open,
            EioPacket::Open(Handshake {
                sid: "abc".into(),
                upgrades: vec![],
                ping_interval: 25000,
                ping_timeout: 5000
            })
        );
        assert_eq!(
            decode("40").unwrap(),
            EioPacket::Message(SioPacket::Connect { nsp: "/".into() })
        );
        assert_eq!(decode("3").unwrap(), EioPacket::Pong(String::new()));
        assert_eq!(decode("3probe").unwrap(), EioPacket::Pong("probe".into()));
        assert_eq!(decode("1").unwrap(), EioPacket::Close);
    }

    #[test]
    fn decodes_events_with_and_without_ack_ids_and_namespaces() {
        assert_eq!(
            decode(r#"42["ack",{"rid":7}]"#).unwrap(),
            EioPacket::Message(SioPacket::Event {
                nsp: "/".into(),
                id: None,
                name: "ack".into(),
                args: vec![json!({"rid":7})]
            })
        );
        assert_eq!(
            decode(r#"42/chat,12["x",1,2]"#).unwrap(),
            EioPacket::Message(SioPacket::Event {
                nsp: "/chat".into(),
                id: Some(12),
                name: "x".into(),
                args: vec![json!(1), json!(2)]
            })
        );
        assert_eq!(
            decode(r#"4312["ok"]"#).unwrap(),
            EioPacket::Message(SioPacket::Ack {
                nsp: "/".into(),
                id: 12,
                args: vec![json!("ok")]
            })
        );
        assert_eq!(
            decode(r#"44"Invalid namespace""#).unwrap(),
            EioPacket::Message(SioPacket::Error {
                nsp: "/".into(),
                data: json!("Invalid namespace")
            })
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(decode(""), Err(EioError::Empty));
        assert_eq!(decode("9"), Err(EioError::UnknownType('9')));
        assert_eq!(decode("4"), Err(EioError::EmptyMessage));
        assert_eq!(decode("451-[\"x\",{}]"), Err(EioError::Binary));
        assert!(matches!(decode("42[]"), Err(EioError::BadPayload(_))));
        assert!(matches!(decode("42[1]"), Err(EioError::BadPayload(_))));
        assert!(matches!(decode("42{}"), Err(EioError::BadPayload(_))));
        assert_eq!(decode("43[1]"), Err(EioError::BadId));
        assert_eq!(decode("429999999999999999999[\"x\"]"), Err(EioError::BadId));
        assert!(matches!(decode("0{}"), Err(EioError::BadOpen(_))));
    }

    #[test]
    fn encodes_what_socket_io_client_2_writes() {
        assert_eq!(
            encode_event("c_init", &json!({"rid": 1}), None),
            r#"42["c_init",{"rid":1}]"#
        );
        assert_eq!(encode_event("x", &json!(null), Some(3)), r#"423["x",null]"#);
        assert_eq!(encode_ack(3, &[json!("a")]), r#"433["a"]"#);
        assert_eq!(
            websocket_url("ws://127.0.0.1:9/"),
            "ws://127.0.0.1:9/socket.io/?EIO=3&transport=websocket"
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,64}") {
            let _ = decode(&s);
        }

        #[test]
        fn decode_never_panics_on_socket_io_lookalikes(
            head in "[0-6]{1,2}(/[a-z]{0,3},?)?[0-9]{0,20}",
            tail in "[\\[\\]{}\",:a-z0-9 ]{0,24}",
        ) {
            let _ = decode(&format!("{head}{tail}"));
        }

        #[test]
        fn events_round_trip(name in "[a-z_]{1,12}", n in any::<i64>(), id in proptest::option::of(0u64..1_000_000)) {
            let frame = encode_event(&name, &json!({"n": n}), id);
            let got = decode(&frame).unwrap();
            prop_assert_eq!(got, EioPacket::Message(SioPacket::Event {
                nsp: "/".into(), id, name, args: vec![json!({"n": n})]
            }));
        }
    }
}
