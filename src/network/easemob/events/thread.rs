//! Decoding of thread `NOTIFY` metas (`{"type":"thread","data":{…}}`, protocol reference
//! §3.7; the SDK's handler, read in easemob-websdk 4.21.1, turns them into
//! `onChatThreadChange`): `data{id, name, muc_parent_id, msg_parent_id, operation, from,
//! timestamp}` with `operation` one of `create`, `update` (renamed), `update_msg` (a new
//! message in the thread: `message_count`, `last_message`) and `delete`.
//!
//! Also the thread facts a thread message carries in its `MessageBody.meta` JSON:
//! `{"thread":{"msg_parent_id","muc_parent_id","thread_name"}}` (the SDK's `chatThread`).

use serde_json::Value;

/// What happened to a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadOperation {
    Create,
    /// Renamed (`update`).
    Update,
    /// A message was added (`update_msg`).
    UpdateMessage,
    Delete,
}

/// One thread notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNotify {
    /// The thread id.
    pub id: String,
    pub name: String,
    /// The group it belongs to (`muc_parent_id`).
    pub group_id: String,
    /// The message it hangs on (`msg_parent_id`).
    pub message_id: String,
    /// Who did it (`from`), when said.
    pub operator: Option<String>,
    pub operation: ThreadOperation,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Decodes the JSON of a `NOTIFY` meta if it is a thread notify with a known operation;
/// `None` otherwise.
pub fn parse_thread_notify(json: &str) -> Option<ThreadNotify> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v["type"] != "thread" {
        return None;
    }
    let data = &v["data"];
    let operation = match data["operation"].as_str()? {
        "create" => ThreadOperation::Create,
        "update" => ThreadOperation::Update,
        "update_msg" => ThreadOperation::UpdateMessage,
        "delete" => ThreadOperation::Delete,
        _ => return None,
    };
    let id = text(data, "id");
    if id.is_empty() {
        return None;
    }
    Some(ThreadNotify {
        id,
        name: text(data, "name"),
        group_id: text(data, "muc_parent_id"),
        message_id: text(data, "msg_parent_id"),
        operator: Some(text(data, "from")).filter(|f| !f.is_empty()),
        operation,
    })
}

/// The thread facts of a message (from its `MessageBody.meta` JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageThread {
    /// The message the thread hangs on.
    pub message_id: String,
    /// The group.
    pub group_id: String,
    pub name: String,
}

/// The `thread` object of a message's meta JSON, when it has a non-empty one.
pub fn message_thread(meta_json: Option<&str>) -> Option<MessageThread> {
    let v: Value = serde_json::from_str(meta_json?).ok()?;
    let t = v.get("thread")?;
    let thread = MessageThread {
        message_id: text(t, "msg_parent_id"),
        group_id: text(t, "muc_parent_id"),
        name: text(t, "thread_name"),
    };
    (!thread.group_id.is_empty() && !thread.message_id.is_empty()).then_some(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_notifies_and_message_meta_decode() {
        let json = r#"{"type":"thread","data":{"id":"t1","name":"plans","muc_parent_id":"g1","msg_parent_id":"99","operation":"create","from":"bob","timestamp":1}}"#;
        let n = parse_thread_notify(json).expect("thread notify");
        assert_eq!(n.operation, ThreadOperation::Create);
        assert_eq!((n.id.as_str(), n.group_id.as_str()), ("t1", "g1"));
        assert_eq!(n.message_id, "99");
        assert_eq!(n.operator.as_deref(), Some("bob"));
        assert!(parse_thread_notify(&json.replace("create", "bogus")).is_none());
        assert!(parse_thread_notify(r#"{"type":"reaction","data":[]}"#).is_none());
        let meta =
            r#"{"thread":{"msg_parent_id":"99","muc_parent_id":"g1","thread_name":"plans"}}"#;
        assert_eq!(
            message_thread(Some(meta)),
            Some(MessageThread {
                message_id: "99".into(),
                group_id: "g1".into(),
                name: "plans".into()
            })
        );
        assert_eq!(message_thread(Some(r#"{"thread":{}}"#)), None);
        assert_eq!(message_thread(None), None);
    }
}
