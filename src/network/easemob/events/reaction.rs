//! Decoding of reaction `NOTIFY` metas (`{"type":"reaction", …}`, protocol reference §3.7).
//!
//! The server sends the message's whole reaction list; the reaction(s) that changed carry an
//! `op` list `[{operator, reactionType: "create" | "delete"}]`. Only the operations are turned
//! into [`ReactionChange`]s, so a notify yields exactly what changed. A removed reaction that
//! no one has any more is still listed (count 0) so that its `delete` op reaches the client.
//!
//! Example (what the sandbox sends for alice's 👍 on a message bob sent her):
//!
//! ```json
//! {"type":"reaction","data":[{"from":"bob","to":"alice","channel_type":"chat",
//!   "messageId":"1234","ts":1700000000000,"reactions":[{"reactionId":"r1","reaction":"👍",
//!   "count":1,"userList":["alice"],"op":[{"operator":"alice","reactionType":"create"}]}]}]}
//! ```

use serde_json::Value;

use crate::network::easemob::jid::ChatType;

/// One reaction added or removed by one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionChange {
    /// Who added or removed it.
    pub operator: String,
    /// The message's sender.
    pub from: String,
    /// The message's recipient: a user, or the group id.
    pub to: String,
    /// From `channel_type` (`"chat"` is a one-to-one chat; like the SDK, anything else but a
    /// chat room is a group).
    pub chat_type: ChatType,
    /// Server id of the message.
    pub message_id: String,
    /// The reaction (an emoji or an app-defined id).
    pub reaction: String,
    /// `true` when added, `false` when removed.
    pub added: bool,
}

/// A string or number field as text (ids come either way).
fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The conversation kind of a `channel_type`.
fn chat_type(channel_type: &str) -> ChatType {
    match channel_type {
        "chat" | "singleChat" | "single" => ChatType::Single,
        "chatroom" | "chatRoom" => ChatType::Chatroom,
        _ => ChatType::Group,
    }
}

/// Decodes the JSON of a `NOTIFY` meta ([`super::SessionEvent::Notify`]) if it is a reaction
/// notify: one [`ReactionChange`] per operation it carries (possibly none). `None` for
/// anything else: another notify type, or JSON that is not shaped like a reaction notify.
pub fn parse_reaction_notify(json: &str) -> Option<Vec<ReactionChange>> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v.get("type")?.as_str()? != "reaction" {
        return None;
    }
    let mut out = Vec::new();
    for item in v.get("data")?.as_array()? {
        let Some(message_id) = text(item, "messageId").filter(|s| !s.is_empty()) else {
            continue;
        };
        let from = text(item, "from").unwrap_or_default();
        let to = text(item, "to").unwrap_or_default();
        let kind = chat_type(
            item.get("channel_type")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        let reactions = item.get("reactions").and_then(Value::as_array);
        for reaction in reactions.into_iter().flatten() {
            let Some(name) = text(reaction, "reaction").filter(|s| !s.is_empty()) else {
                continue;
            };
            let ops = reaction.get("op").and_then(Value::as_array);
            for op in ops.into_iter().flatten() {
                let added = match op.get("reactionType").and_then(Value::as_str) {
                    Some("create") => true,
                    Some("delete") => false,
                    _ => continue,
                };
                let Some(operator) = text(op, "operator").filter(|s| !s.is_empty()) else {
                    continue;
                };
                out.push(ReactionChange {
                    operator,
                    from: from.clone(),
                    to: to.clone(),
                    chat_type: kind,
                    message_id: message_id.clone(),
                    reaction: name.clone(),
                    added,
                });
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exactly what the sandbox sends when alice adds 👍 to a message bob sent her
    /// (`sandbox/rest_reactions.rs`).
    const SANDBOX_ADD: &str = r#"{"type":"reaction","data":[{"from":"bob","to":"alice","channel_type":"chat","messageId":"1234567890","ts":1700000000000,"reactions":[{"reactionId":"1a2b","reaction":"👍","count":1,"userList":["alice"],"op":[{"operator":"alice","reactionType":"create"}]},{"reactionId":"3c4d","reaction":"❤️","count":2,"userList":["alice","bob"]}]}]}"#;

    fn change(operator: &str, reaction: &str, added: bool) -> ReactionChange {
        ReactionChange {
            operator: operator.into(),
            from: "bob".into(),
            to: "alice".into(),
            chat_type: ChatType::Single,
            message_id: "1234567890".into(),
            reaction: reaction.into(),
            added,
        }
    }

    #[test]
    fn the_sample_is_what_the_sandbox_emits() {
        use crate::network::easemob::sandbox::rest::reactions::notify_json;
        use crate::network::easemob::sandbox::state::ReactionEntry;
        let entry = |id: &str, reaction: &str, users: &[&str]| ReactionEntry {
            id: id.into(),
            reaction: reaction.into(),
            users: users.iter().map(|u| u.to_string()).collect(),
            created: 0,
        };
        let list = [
            entry("1a2b", "👍", &["alice"]),
            entry("3c4d", "❤️", &["alice", "bob"]),
        ];
        let json = notify_json(
            "bob",
            "alice",
            "chat",
            1234567890,
            1700000000000,
            &list,
            "👍",
            "alice",
            true,
        );
        assert_eq!(json, SANDBOX_ADD);
    }

    #[test]
    fn sandbox_add_yields_only_the_operation() {
        assert_eq!(
            parse_reaction_notify(SANDBOX_ADD),
            Some(vec![change("alice", "👍", true)])
        );
    }

    #[test]
    fn removal_of_the_last_user_is_a_delete() {
        let json = r#"{"type":"reaction","data":[{"from":"bob","to":"alice","channel_type":"chat","messageId":"1234567890","ts":1,"reactions":[{"reactionId":"1a2b","reaction":"👍","count":0,"userList":[],"op":[{"operator":"bob","reactionType":"delete"}]}]}]}"#;
        assert_eq!(
            parse_reaction_notify(json),
            Some(vec![change("bob", "👍", false)])
        );
    }

    #[test]
    fn group_notify_with_numeric_ids_and_several_ops() {
        // The shape the SDK's typings describe for the real server (`Reaction.op` is a list,
        // `state` per recipient); message ids may come as numbers.
        let json = r#"{"type":"reaction","data":[{"from":"carol","to":"200123","channel_type":"groupchat","messageId":998877,"ts":2,"reactions":[{"reaction":"emoji_1","count":2,"state":true,"userList":["a","b"],"op":[{"operator":"a","reactionType":"create"},{"operator":"c","reactionType":"delete"},{"operator":"x","reactionType":"weird"}]}]}]}"#;
        let got = parse_reaction_notify(json).expect("reaction notify");
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|c| c.chat_type == ChatType::Group
            && c.message_id == "998877"
            && c.to == "200123"
            && c.from == "carol"));
        assert_eq!((got[0].operator.as_str(), got[0].added), ("a", true));
        assert_eq!((got[1].operator.as_str(), got[1].added), ("c", false));
    }

    #[test]
    fn a_reaction_notify_without_ops_is_empty() {
        let json = r#"{"type":"reaction","data":[{"from":"a","to":"b","channel_type":"chat","messageId":"1","reactions":[{"reaction":"x","count":1,"userList":["a"]}]}]}"#;
        assert_eq!(parse_reaction_notify(json), Some(vec![]));
    }

    #[test]
    fn other_notifies_and_garbage_are_none() {
        for json in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"type":"presence","data":{"values":[]}}"#,
            r#"{"type":"reaction"}"#,
            r#"{"type":"reaction","data":{}}"#,
            r#"{"type":7,"data":[]}"#,
            "{\"type\":\"reaction\",\"data\":[",
        ] {
            assert_eq!(parse_reaction_notify(json), None, "{json}");
        }
        // Malformed items inside a well-formed notify are skipped, not fatal.
        let json = r#"{"type":"reaction","data":[1,"x",{"messageId":""},{"messageId":"5","reactions":[null,{"reaction":"r","op":[{"reactionType":"create"},{"operator":"u","reactionType":"create"}]}]}]}"#;
        let got = parse_reaction_notify(json).expect("reaction notify");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].operator, "u");
        assert_eq!(got[0].message_id, "5");
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in ".*") {
            let _ = parse_reaction_notify(&s);
        }

        #[test]
        fn arbitrary_reaction_shaped_json_never_panics(
            from in ".{0,8}", reaction in ".{0,8}", operator in ".{0,8}", kind in ".{0,10}",
            id in any::<i64>(), add in any::<bool>(),
        ) {
            let json = serde_json::json!({
                "type": "reaction",
                "data": [{ "from": from, "to": "t", "channel_type": kind, "messageId": id,
                           "reactions": [{ "reaction": reaction, "count": 1,
                                           "op": [{ "operator": operator,
                                                    "reactionType": if add { "create" } else { "delete" } }] }] }],
            })
            .to_string();
            let got = parse_reaction_notify(&json).expect("shape is a reaction notify");
            let expected = usize::from(!reaction.is_empty() && !operator.is_empty());
            prop_assert_eq!(got.len(), expected);
            if let Some(c) = got.first() {
                prop_assert_eq!(c.added, add);
                prop_assert_eq!(&c.message_id, &id.to_string());
            }
        }
    }
}
