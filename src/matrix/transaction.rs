//! Parsing of appservice transactions (`PUT /_matrix/app/v1/transactions/{txnId}`) into the
//! core's [`MatrixEvent`]s.
//!
//! The body is read as raw JSON so that one malformed event never costs the whole transaction:
//! a body that is not JSON, or whose top level is wrong, is rejected ([`TxnParseError`]); an
//! event inside a valid body that cannot be understood is skipped with a warning. Identifiers
//! are validated with ruma's types.
//!
//! Synapse puts ephemeral events under `ephemeral` and, when the registration also sets the
//! older `de.sorunome.msc2409.push_ephemeral`, again under `de.sorunome.msc2409.ephemeral`:
//! only one of the two lists is read (`ephemeral` when present).

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, warn};

use crate::core::matrix_api::MatrixEvent;

/// The stable key of the ephemeral list.
const EPHEMERAL: &str = "ephemeral";
/// The MSC2409 key Synapse also fills when `de.sorunome.msc2409.push_ephemeral` is set.
const EPHEMERAL_UNSTABLE: &str = "de.sorunome.msc2409.ephemeral";

/// Why a transaction body was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnParseError {
    /// Not JSON at all (`M_NOT_JSON`).
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a transaction (`M_BAD_JSON`).
    #[error("body is not a transaction: {0}")]
    BadJson(String),
}

impl TxnParseError {
    /// The Matrix error code for the response.
    pub fn errcode(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "M_NOT_JSON",
            Self::BadJson(_) => "M_BAD_JSON",
        }
    }
}

/// Parses a transaction body. `txn_id` is only used in log lines.
pub fn parse_transaction(txn_id: &str, body: &[u8]) -> Result<Vec<MatrixEvent>, TxnParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| TxnParseError::NotJson(e.to_string()))?;
    let Value::Object(top) = value else {
        return Err(TxnParseError::BadJson("top level is not an object".into()));
    };
    let events = match top.get("events") {
        Some(Value::Array(events)) => events.as_slice(),
        Some(_) => return Err(TxnParseError::BadJson("`events` is not an array".into())),
        None => return Err(TxnParseError::BadJson("`events` is missing".into())),
    };
    let ephemeral: &[Value] = match top.get(EPHEMERAL).or_else(|| top.get(EPHEMERAL_UNSTABLE)) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => {
            return Err(TxnParseError::BadJson(
                "ephemeral list is not an array".into(),
            ))
        }
    };

    let mut out = Vec::with_capacity(events.len() + ephemeral.len());
    for (i, raw) in events.iter().enumerate() {
        match parse_room_event(raw) {
            Ok(Some(event)) => out.push(event),
            Ok(None) => {}
            Err(e) => warn!(
                txn = txn_id,
                index = i,
                event_type = event_type_of(raw),
                event_id = raw.get("event_id").and_then(serde_json::Value::as_str).unwrap_or("?"),
                error = %e,
                "skipping malformed event in transaction"
            ),
        }
    }
    for (i, raw) in ephemeral.iter().enumerate() {
        if let Err(e) = parse_ephemeral(raw, &mut out) {
            warn!(
                txn = txn_id,
                index = i,
                event_type = event_type_of(raw),
                error = %e,
                "skipping malformed ephemeral event in transaction"
            );
        }
    }
    Ok(out)
}

fn event_type_of(raw: &Value) -> &str {
    raw.get("type").and_then(Value::as_str).unwrap_or("?")
}

/// The fields of a room (timeline) event that every kind needs.
#[derive(Deserialize)]
struct RoomEventHead {
    #[serde(rename = "type")]
    kind: String,
    room_id: OwnedRoomId,
    sender: OwnedUserId,
    event_id: OwnedEventId,
    #[serde(default)]
    origin_server_ts: u64,
    #[serde(default)]
    state_key: Option<String>,
    /// Top-level `redacts` (redactions in room versions before 11).
    #[serde(default)]
    redacts: Option<OwnedEventId>,
    #[serde(default)]
    content: Value,
}

/// `Ok(None)`: a well-formed event of a kind the core does not act on.
fn parse_room_event(raw: &Value) -> Result<Option<MatrixEvent>, String> {
    if !raw.is_object() {
        return Err("event is not an object".into());
    }
    let head = RoomEventHead::deserialize(raw).map_err(|e| e.to_string())?;
    if !head.content.is_object() {
        return Err("content is not an object".into());
    }
    if crate::core::double_puppet::is_marked(&head.content) {
        // Sent by this bridge as a real user (double puppeting): its own echo.
        return Ok(None);
    }
    let RoomEventHead {
        kind,
        room_id: room,
        sender,
        event_id,
        origin_server_ts,
        state_key,
        redacts,
        content,
    } = head;
    let event = match kind.as_str() {
        "m.room.message" => MatrixEvent::Message {
            room,
            sender,
            event_id,
            content,
            origin_server_ts,
        },
        // A sticker is an image (`url`, `info`, `body`) without a msgtype; the IM services have
        // no sticker type, so it goes out as an image.
        "m.sticker" => {
            let mut content = content;
            if let Some(map) = content.as_object_mut() {
                map.entry("msgtype").or_insert_with(|| "m.image".into());
            }
            MatrixEvent::Message {
                room,
                sender,
                event_id,
                content,
                origin_server_ts,
            }
        }
        "m.room.redaction" => {
            // Room v11 moved `redacts` into the content; older versions have it at the top.
            let redacts = match content.get("redacts") {
                Some(v) => Some(OwnedEventId::deserialize(v).map_err(|e| format!("redacts: {e}"))?),
                None => redacts,
            }
            .ok_or("redaction without `redacts`")?;
            MatrixEvent::Redaction {
                room,
                sender,
                event_id,
                redacts,
            }
        }
        "m.reaction" => {
            let Some(relates) = content.get("m.relates_to") else {
                return Err("reaction without m.relates_to".into());
            };
            let relation = Annotation::deserialize(relates).map_err(|e| e.to_string())?;
            if relation.rel_type != "m.annotation" {
                debug!(
                    rel_type = relation.rel_type,
                    "reaction with a non-annotation relation"
                );
                return Ok(None);
            }
            MatrixEvent::Reaction {
                room,
                sender,
                event_id,
                target: relation.event_id,
                key: relation.key,
            }
        }
        "m.room.encrypted" => MatrixEvent::Encrypted {
            room,
            sender,
            event_id,
            turned_on: false,
        },
        "m.room.encryption" if state_key.as_deref() == Some("") => MatrixEvent::Encrypted {
            room,
            sender,
            event_id,
            turned_on: true,
        },
        "m.room.tombstone" if state_key.as_deref() == Some("") => {
            let replacement = content
                .get("replacement_room")
                .ok_or("tombstone without replacement_room")?;
            let replacement_room = OwnedRoomId::deserialize(replacement)
                .map_err(|e| format!("replacement_room: {e}"))?;
            MatrixEvent::Tombstone {
                room,
                sender,
                event_id,
                replacement_room,
            }
        }
        // A missing or non-string value clears the name / topic (as clients show it).
        "m.room.name" if state_key.as_deref() == Some("") => MatrixEvent::RoomMeta {
            room,
            sender,
            event_id,
            name: Some(content["name"].as_str().unwrap_or_default().to_owned()),
            topic: None,
        },
        "m.room.topic" if state_key.as_deref() == Some("") => MatrixEvent::RoomMeta {
            room,
            sender,
            event_id,
            name: None,
            topic: Some(content["topic"].as_str().unwrap_or_default().to_owned()),
        },
        "m.room.pinned_events" if state_key.as_deref() == Some("") => MatrixEvent::PinnedEvents {
            room,
            sender,
            event_id,
            content,
            prev_content: prev_content(raw),
        },
        "m.room.power_levels" if state_key.as_deref() == Some("") => MatrixEvent::PowerLevels {
            room,
            sender,
            event_id,
            content,
            prev_content: prev_content(raw),
        },
        "m.room.member" => {
            let target = state_key.ok_or("member event without state_key")?;
            let target = OwnedUserId::try_from(target).map_err(|e| format!("state_key: {e}"))?;
            let member = MemberContent::deserialize(&content).map_err(|e| e.to_string())?;
            MatrixEvent::Membership {
                room,
                sender,
                event_id,
                target,
                membership: member.membership,
                is_direct: member.is_direct,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

#[derive(Deserialize)]
struct Annotation {
    rel_type: String,
    event_id: OwnedEventId,
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct MemberContent {
    membership: String,
    #[serde(default)]
    is_direct: bool,
}

#[derive(Deserialize)]
struct EphemeralHead {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    room_id: Option<OwnedRoomId>,
    /// The user of an `m.presence`.
    #[serde(default)]
    sender: Option<OwnedUserId>,
    #[serde(default)]
    content: Value,
}

/// Appends what the ephemeral event `raw` means; entries of a receipt that cannot be read are
/// skipped on their own.
fn parse_ephemeral(raw: &Value, out: &mut Vec<MatrixEvent>) -> Result<(), String> {
    if !raw.is_object() {
        return Err("event is not an object".into());
    }
    let head = EphemeralHead::deserialize(raw).map_err(|e| e.to_string())?;
    match head.kind.as_str() {
        "m.receipt" => {
            let room = head.room_id.ok_or("receipt without room_id")?;
            let Value::Object(by_event) = head.content else {
                return Err("receipt content is not an object".into());
            };
            for (event_id, by_type) in by_event {
                let Some(Value::Object(readers)) = by_type.get("m.read") else {
                    continue;
                };
                let Ok(event_id) = OwnedEventId::try_from(event_id.as_str()) else {
                    warn!(room = %room, event_id, "receipt for an invalid event id skipped");
                    continue;
                };
                for user in readers.keys() {
                    match OwnedUserId::try_from(user.as_str()) {
                        Ok(user) => out.push(MatrixEvent::Receipt {
                            room: room.clone(),
                            user,
                            event_id: event_id.clone(),
                        }),
                        Err(_) => warn!(room = %room, user, "receipt by an invalid user skipped"),
                    }
                }
            }
        }
        "m.typing" => {
            let room = head.room_id.ok_or("typing without room_id")?;
            let ids = head
                .content
                .get("user_ids")
                .and_then(Value::as_array)
                .ok_or("typing without user_ids")?;
            let users = ids
                .iter()
                .map(|v| OwnedUserId::deserialize(v).map_err(|e| format!("user_ids: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(MatrixEvent::Typing { room, users });
        }
        "m.presence" => {
            let user = head.sender.ok_or("presence without sender")?;
            let presence = head
                .content
                .get("presence")
                .and_then(Value::as_str)
                .ok_or("presence without a state")?
                .to_owned();
            let status_msg = head
                .content
                .get("status_msg")
                .and_then(Value::as_str)
                .map(str::to_owned);
            out.push(MatrixEvent::Presence {
                user,
                presence,
                status_msg,
            });
        }
        _ => {}
    }
    Ok(())
}

/// The content a state event replaced (`unsigned.prev_content`), when the homeserver gave it.
fn prev_content(raw: &Value) -> Option<Value> {
    raw["unsigned"]
        .get("prev_content")
        .filter(|v| v.is_object())
        .cloned()
}

#[cfg(test)]
mod tests {
    use ruma::owned_room_id;
    use serde_json::json;

    use super::*;

    #[test]
    fn unstable_ephemeral_key_alone_is_read() {
        let body = json!({
            "events": [],
            "de.sorunome.msc2409.ephemeral": [
                { "type": "m.typing", "room_id": "!room:hs", "content": { "user_ids": [] } },
            ],
        });
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![MatrixEvent::Typing {
                room: owned_room_id!("!room:hs"),
                users: vec![]
            }]
        );
    }

    #[test]
    fn stickers_become_images() {
        let body = json!({ "events": [{
            "type": "m.sticker", "room_id": "!r:hs", "sender": "@a:hs", "event_id": "$s",
            "content": { "body": "wave", "url": "mxc://hs/abc", "info": { "mimetype": "image/png" } },
        }]});
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        let [MatrixEvent::Message { content, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(content["msgtype"], "m.image");
        assert_eq!(content["url"], "mxc://hs/abc");
    }

    #[test]
    fn tombstones_are_parsed() {
        let body = json!({ "events": [
            { "type": "m.room.tombstone", "state_key": "", "room_id": "!old:hs",
              "sender": "@u:hs", "event_id": "$t",
              "content": { "body": "upgraded", "replacement_room": "!new:hs" } },
            { "type": "m.room.tombstone", "state_key": "", "room_id": "!old:hs",
              "sender": "@u:hs", "event_id": "$bad", "content": { "replacement_room": 5 } },
        ]});
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![MatrixEvent::Tombstone {
                room: owned_room_id!("!old:hs"),
                sender: ruma::owned_user_id!("@u:hs"),
                event_id: ruma::owned_event_id!("$t"),
                replacement_room: owned_room_id!("!new:hs"),
            }]
        );
    }

    #[test]
    fn room_names_and_topics_are_parsed() {
        let body = json!({ "events": [
            { "type": "m.room.name", "state_key": "", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$n", "content": { "name": "Team" } },
            { "type": "m.room.topic", "state_key": "", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$t", "content": {} },
            { "type": "m.room.name", "state_key": "x", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$ignored", "content": { "name": "No" } },
        ]});
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        let meta =
            |event_id: &str, name: Option<&str>, topic: Option<&str>| MatrixEvent::RoomMeta {
                room: owned_room_id!("!r:hs"),
                sender: ruma::owned_user_id!("@u:hs"),
                event_id: OwnedEventId::try_from(event_id).unwrap(),
                name: name.map(str::to_owned),
                topic: topic.map(str::to_owned),
            };
        assert_eq!(
            events,
            vec![meta("$n", Some("Team"), None), meta("$t", None, Some(""))]
        );
    }

    #[test]
    fn power_levels_keep_the_previous_content() {
        let body = json!({ "events": [
            { "type": "m.room.power_levels", "state_key": "", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$p", "content": { "users": { "@g:hs": 50 } },
              "unsigned": { "prev_content": { "users": {} } } },
            { "type": "m.room.power_levels", "state_key": "", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$q", "content": { "users": {} } },
        ]});
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        let levels =
            |event_id: &str, content: Value, prev: Option<Value>| MatrixEvent::PowerLevels {
                room: owned_room_id!("!r:hs"),
                sender: ruma::owned_user_id!("@u:hs"),
                event_id: OwnedEventId::try_from(event_id).unwrap(),
                content,
                prev_content: prev,
            };
        assert_eq!(
            events,
            vec![
                levels(
                    "$p",
                    json!({ "users": { "@g:hs": 50 } }),
                    Some(json!({ "users": {} }))
                ),
                levels("$q", json!({ "users": {} }), None),
            ]
        );
    }

    #[test]
    fn pinned_events_keep_the_previous_content() {
        let body = json!({ "events": [
            { "type": "m.room.pinned_events", "state_key": "", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$p", "content": { "pinned": ["$a", "$b"] },
              "unsigned": { "prev_content": { "pinned": ["$a"] } } },
            // Not the room's pins: a state key is not ours to read.
            { "type": "m.room.pinned_events", "state_key": "x", "room_id": "!r:hs",
              "sender": "@u:hs", "event_id": "$q", "content": { "pinned": [] } },
        ]});
        let events = parse_transaction("t", body.to_string().as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![MatrixEvent::PinnedEvents {
                room: owned_room_id!("!r:hs"),
                sender: ruma::owned_user_id!("@u:hs"),
                event_id: OwnedEventId::try_from("$p").unwrap(),
                content: json!({ "pinned": ["$a", "$b"] }),
                prev_content: Some(json!({ "pinned": ["$a"] })),
            }]
        );
    }

    #[test]
    fn top_level_shape_errors() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "M_NOT_JSON"),
            (b"{\"events\": [", "M_NOT_JSON"),
            (b"[]", "M_BAD_JSON"),
            (b"{}", "M_BAD_JSON"),
            (b"{\"events\": 5}", "M_BAD_JSON"),
            (b"{\"events\": [], \"ephemeral\": {}}", "M_BAD_JSON"),
        ];
        for (body, code) in cases {
            let err: TxnParseError = parse_transaction("t", body).unwrap_err();
            assert_eq!(err.errcode(), code, "{}", String::from_utf8_lossy(body));
        }
    }
}
