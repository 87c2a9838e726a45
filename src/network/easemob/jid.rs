//! Easemob addressing: `JID`s on the wire, their text form (`name@easemob.com`), and the
//! conversation a message belongs to (protocol reference §3.1).

use super::proto::Jid;

/// Domain of user JIDs.
pub const USER_DOMAIN: &str = "easemob.com";
/// Domain of group and chat room JIDs.
pub const CONFERENCE_DOMAIN: &str = "conference.easemob.com";

/// The kind of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// One-to-one chat.
    Single,
    /// A group (`chatgroups`).
    Group,
    /// A chat room (`chatrooms`): members join and leave at will.
    Chatroom,
}

impl ChatType {
    /// The `chat-type` value of the REST upload endpoint.
    pub fn upload_name(self) -> &'static str {
        match self {
            ChatType::Single => "CHAT",
            ChatType::Group => "GROUP",
            ChatType::Chatroom => "ROOM",
        }
    }
}

/// A conversation: a peer user, a group or a chat room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Conversation {
    pub kind: ChatType,
    pub id: String,
}

impl Conversation {
    /// A one-to-one chat with `user`.
    pub fn single(user: impl Into<String>) -> Self {
        Self {
            kind: ChatType::Single,
            id: user.into(),
        }
    }
    /// A group chat.
    pub fn group(id: impl Into<String>) -> Self {
        Self {
            kind: ChatType::Group,
            id: id.into(),
        }
    }
    /// A chat room.
    pub fn chatroom(id: impl Into<String>) -> Self {
        Self {
            kind: ChatType::Chatroom,
            id: id.into(),
        }
    }
}

/// A full user JID.
pub fn user_jid(app_key: &str, name: &str) -> Jid {
    Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(name.to_owned()),
        domain: Some(USER_DOMAIN.to_owned()),
        client_resource: None,
    }
}

/// A full group / chat room JID.
pub fn conference_jid(app_key: &str, name: &str) -> Jid {
    Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(name.to_owned()),
        domain: Some(CONFERENCE_DOMAIN.to_owned()),
        client_resource: None,
    }
}

/// The `Meta.to` JID of a conversation.
pub fn conversation_jid(app_key: &str, conv: &Conversation) -> Jid {
    match conv.kind {
        ChatType::Single => user_jid(app_key, &conv.id),
        ChatType::Group | ChatType::Chatroom => conference_jid(app_key, &conv.id),
    }
}

/// A JID with only a name, as `MessageBody.from`/`to` carry it.
pub fn name_only(name: &str) -> Jid {
    Jid {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// True when the JID is a group or chat room.
pub fn is_conference(jid: &Jid) -> bool {
    jid.domain.as_deref() == Some(CONFERENCE_DOMAIN)
}

/// The text form used in REST bodies and history queues: `name@domain`.
pub fn text_form(jid: &Jid) -> String {
    format!(
        "{}@{}",
        jid.name.as_deref().unwrap_or_default(),
        jid.domain.as_deref().unwrap_or(USER_DOMAIN)
    )
}

/// The text form of a conversation's queue.
pub fn conversation_text(conv: &Conversation) -> String {
    match conv.kind {
        ChatType::Single => format!("{}@{USER_DOMAIN}", conv.id),
        _ => format!("{}@{CONFERENCE_DOMAIN}", conv.id),
    }
}

/// The same queue? Compares name and domain, ignoring app key and resource.
pub fn same_queue(a: &Jid, b: &Jid) -> bool {
    a.name == b.name
        && a.domain.as_deref().unwrap_or(USER_DOMAIN) == b.domain.as_deref().unwrap_or(USER_DOMAIN)
}
