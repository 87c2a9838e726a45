//! Typed Easemob message model and its conversion to and from the wire (`Meta` + `MessageBody`).
//!
//! This module owns the mapping described in the protocol reference §3.2–§3.6: every
//! `MessageBody.Content` kind, receipts, recall and edit, and the `KeyValue` extension list.
//! Decoding never fails on unknown values: they surface as `Unknown` variants.

use prost::Message as _;

use super::jid::{self, ChatType, Conversation};
use super::proto::{
    self, key_value, message_body, message_body::content, meta, KeyValue, MessageBody, Meta,
};

/// A reference to an uploaded file, as carried in a message body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileRef {
    /// Download URL (`{rest}/{org}/{app}/chatfiles/{uuid}`).
    pub url: String,
    /// The `share-secret` needed to download it.
    pub secret: String,
    /// File name shown to users.
    pub name: String,
    /// Size in bytes, when the sender told it.
    pub length: Option<u64>,
}

/// The payload of one ordinary message.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Plain text.
    Text { text: String },
    /// An image; `width`/`height` in pixels when known.
    Image {
        file: FileRef,
        width: Option<f64>,
        height: Option<f64>,
        is_gif: bool,
        thumbnail: Option<FileRef>,
    },
    /// A video clip; `duration` in seconds.
    Video {
        file: FileRef,
        duration: Option<i32>,
        thumbnail: Option<FileRef>,
    },
    /// A voice clip; `duration` in seconds.
    Voice {
        file: FileRef,
        duration: Option<i32>,
    },
    /// Any other file.
    File { file: FileRef },
    /// A location.
    Location {
        latitude: f64,
        longitude: f64,
        address: String,
        building: String,
    },
    /// A command message (app-defined `action`, also used for typing indicators).
    Command { action: String, params: Vec<Ext> },
    /// An app-defined custom message.
    Custom { event: String, exts: Vec<Ext> },
    /// A forwarded bundle of messages ("combine"); the bundle itself is an uploaded file.
    Combine {
        compatible_text: String,
        title: String,
        summary: String,
        level: i32,
        file: FileRef,
    },
    /// A content type this schema does not know; kept, not dropped.
    Unknown { type_code: i32 },
}

/// One `KeyValue` extension entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Ext {
    pub key: String,
    pub value: ExtValue,
}

/// The typed value of an extension entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtValue {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    String(String),
    /// A JSON document, kept as text.
    Json(String),
}

/// What a chat message carries: ordinary content, or one of the control kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// An ordinary message.
    Content(Content),
    /// "I have read message `message_id`" (`READ_ACK`).
    ReadAck {
        message_id: u64,
        ack_content: String,
    },
    /// "Message `message_id` reached my device" (`DELIVER_ACK`).
    DeliveryAck { message_id: u64 },
    /// "I have read the whole conversation" (`CHANNEL_ACK`).
    ChannelAck,
    /// Recall (unsend) of `message_id`; `ext` is the optional recall extension text.
    Recall { message_id: u64, ext: String },
    /// Edit of `message_id`: the new content replaces the old body.
    Edit {
        message_id: u64,
        content: Content,
        with_ext: bool,
    },
    /// A body type this schema does not know.
    Unknown { type_code: i32 },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Where it goes.
    pub to: Conversation,
    /// What it is.
    pub body: Body,
    /// Extension entries (`MessageBody.ext`).
    pub ext: Vec<Ext>,
    /// Deliver only to devices that are online now (`ROUTE_ONLINE`).
    pub online_only: bool,
    /// `to` is a thread (the SDK's `isChatThread`): the body's meta says `{"thread":{}}`.
    pub in_thread: bool,
}

impl OutgoingMessage {
    /// A message with the given body and no extensions.
    pub fn new(to: Conversation, body: Body) -> Self {
        Self {
            to,
            body,
            ext: Vec::new(),
            online_only: false,
            in_thread: false,
        }
    }

    /// A plain text message.
    pub fn text(to: Conversation, text: impl Into<String>) -> Self {
        Self::new(to, Body::Content(Content::Text { text: text.into() }))
    }
}

/// A chat message received from the server (any `ns = CHAT` meta).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    /// Server message id (`Meta.id`).
    pub id: u64,
    /// Server timestamp, ms since the epoch.
    pub timestamp: u64,
    /// Sender user id.
    pub from: String,
    /// The sender's device resource, when the server says it (own messages from other devices).
    pub from_resource: Option<String>,
    /// Recipient: a user id for single chats, the group or room id otherwise.
    pub to: String,
    /// Single chat, group or chat room.
    pub chat_type: ChatType,
    /// What it carries.
    pub body: Body,
    /// Extension entries.
    pub ext: Vec<Ext>,
    /// `MessageBody.meta` JSON (reactions, edit info, thread info), when present.
    pub meta_json: Option<String>,
}

impl IncomingMessage {
    /// The conversation this message belongs to, seen from `own_user`.
    pub fn conversation(&self, own_user: &str) -> Conversation {
        match self.chat_type {
            ChatType::Single => {
                let peer = if self.from == own_user {
                    &self.to
                } else {
                    &self.from
                };
                Conversation::single(peer.clone())
            }
            kind => Conversation {
                kind,
                id: self.to.clone(),
            },
        }
    }
}

/// Error decoding a message body.
#[derive(Debug, thiserror::Error)]
pub enum MessageDecodeError {
    #[error("message body is not valid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("message body has no content")]
    NoContent,
}

fn opt_string(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|v| !v.is_empty()).cloned()
}

impl Ext {
    /// A string extension entry.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: ExtValue::String(value.into()),
        }
    }

    fn from_wire(kv: &KeyValue) -> Self {
        use key_value::{Value, ValueType};
        let key = opt_string(&kv.key);
        let int = match kv.value {
            Some(Value::VarintValue(v)) => v,
            _ => 0,
        };
        let string = match &kv.value {
            Some(Value::StringValue(s)) => s.clone(),
            _ => String::new(),
        };
        let value = match ValueType::try_from(kv.r#type.unwrap_or(0)) {
            Ok(ValueType::Bool) => ExtValue::Bool(int != 0),
            Ok(ValueType::Int) => ExtValue::Int(int),
            Ok(ValueType::Uint) | Ok(ValueType::Llint) => ExtValue::UInt(int as u64),
            Ok(ValueType::Float) => ExtValue::Float(match kv.value {
                Some(Value::FloatValue(f)) => f,
                _ => 0.0,
            }),
            Ok(ValueType::Double) => ExtValue::Double(match kv.value {
                Some(Value::DoubleValue(f)) => f,
                _ => 0.0,
            }),
            Ok(ValueType::JsonString) => ExtValue::Json(string),
            _ => ExtValue::String(string),
        };
        Self { key, value }
    }

    fn to_wire(&self) -> KeyValue {
        use key_value::{Value, ValueType};
        let (ty, value) = match &self.value {
            ExtValue::Bool(b) => (ValueType::Bool, Value::VarintValue(i64::from(*b))),
            ExtValue::Int(i) => (ValueType::Int, Value::VarintValue(*i)),
            ExtValue::UInt(u) => (ValueType::Uint, Value::VarintValue(*u as i64)),
            ExtValue::Float(f) => (ValueType::Float, Value::FloatValue(*f)),
            ExtValue::Double(f) => (ValueType::Double, Value::DoubleValue(*f)),
            ExtValue::String(s) => (ValueType::String, Value::StringValue(s.clone())),
            ExtValue::Json(s) => (ValueType::JsonString, Value::StringValue(s.clone())),
        };
        KeyValue {
            key: Some(self.key.clone()),
            r#type: Some(ty as i32),
            value: Some(value),
        }
    }
}

fn file_from_wire(c: &message_body::Content) -> FileRef {
    FileRef {
        url: opt_string(&c.remote_path),
        secret: opt_string(&c.secret_key),
        name: opt_string(&c.display_name),
        length: c.file_length.and_then(|l| u64::try_from(l).ok()),
    }
}

fn thumbnail_from_wire(c: &message_body::Content) -> Option<FileRef> {
    let url = non_empty(&c.thumbnail_remote_path)?;
    Some(FileRef {
        url,
        secret: opt_string(&c.thumbnail_secret_key),
        name: opt_string(&c.thumbnail_display_name),
        length: c.thumbnail_file_length.and_then(|l| u64::try_from(l).ok()),
    })
}

impl Content {
    /// Decodes one wire content entry.
    pub fn from_wire(c: &message_body::Content) -> Self {
        use content::{SubType, Type};
        let ty = c.r#type.unwrap_or(0);
        match Type::try_from(ty) {
            Ok(Type::Text) => {
                // A combine message travels as TEXT with subType COMBINE and a remote file.
                if c.sub_type == Some(SubType::Combine as i32) && c.remote_path.is_some() {
                    Content::Combine {
                        compatible_text: opt_string(&c.text),
                        title: opt_string(&c.title),
                        summary: opt_string(&c.summary),
                        level: c.combine_level.unwrap_or(0),
                        file: file_from_wire(c),
                    }
                } else {
                    Content::Text {
                        text: opt_string(&c.text),
                    }
                }
            }
            Ok(Type::Image) => Content::Image {
                file: file_from_wire(c),
                width: c.size.as_ref().and_then(|s| s.width),
                height: c.size.as_ref().and_then(|s| s.height),
                is_gif: c.sub_type == Some(SubType::Gif as i32),
                thumbnail: thumbnail_from_wire(c),
            },
            Ok(Type::Video) => Content::Video {
                file: file_from_wire(c),
                duration: c.duration,
                thumbnail: thumbnail_from_wire(c),
            },
            Ok(Type::Voice) => Content::Voice {
                file: file_from_wire(c),
                duration: c.duration,
            },
            Ok(Type::File) => Content::File {
                file: file_from_wire(c),
            },
            Ok(Type::Location) => Content::Location {
                latitude: c.latitude.unwrap_or(0.0),
                longitude: c.longitude.unwrap_or(0.0),
                address: opt_string(&c.address),
                building: opt_string(&c.building_name),
            },
            Ok(Type::Command) => Content::Command {
                action: opt_string(&c.action),
                params: c.params.iter().map(Ext::from_wire).collect(),
            },
            Ok(Type::Custom) => Content::Custom {
                event: opt_string(&c.custom_event),
                exts: c.custom_exts.iter().map(Ext::from_wire).collect(),
            },
            Ok(Type::Combine) => Content::Combine {
                compatible_text: opt_string(&c.text),
                title: opt_string(&c.title),
                summary: opt_string(&c.summary),
                level: c.combine_level.unwrap_or(0),
                file: file_from_wire(c),
            },
            Err(_) => Content::Unknown { type_code: ty },
        }
    }

    /// Encodes this content as the SDK does (`xr()` in the bundle).
    pub fn to_wire(&self) -> message_body::Content {
        use content::{SubType, Type};
        let mut c = message_body::Content::default();
        let set_file = |c: &mut message_body::Content, f: &FileRef| {
            c.remote_path = Some(f.url.clone());
            c.secret_key = Some(f.secret.clone());
            c.display_name = Some(f.name.clone());
            c.thumbnail_display_name = Some(f.name.clone());
            c.file_length = f.length.and_then(|l| i32::try_from(l).ok());
        };
        let set_thumb = |c: &mut message_body::Content, t: &Option<FileRef>| {
            if let Some(t) = t {
                c.thumbnail_remote_path = Some(t.url.clone());
                c.thumbnail_secret_key = Some(t.secret.clone());
                c.thumbnail_display_name = Some(t.name.clone());
            }
        };
        match self {
            Content::Text { text } => {
                c.r#type = Some(Type::Text as i32);
                c.text = Some(text.clone());
            }
            Content::Image {
                file,
                width,
                height,
                is_gif,
                thumbnail,
            } => {
                c.r#type = Some(Type::Image as i32);
                set_file(&mut c, file);
                set_thumb(&mut c, thumbnail);
                if width.is_some() || height.is_some() {
                    c.size = Some(content::Size {
                        width: *width,
                        height: *height,
                    });
                }
                if *is_gif {
                    c.sub_type = Some(SubType::Gif as i32);
                }
            }
            Content::Video {
                file,
                duration,
                thumbnail,
            } => {
                c.r#type = Some(Type::Video as i32);
                set_file(&mut c, file);
                set_thumb(&mut c, thumbnail);
                c.duration = *duration;
            }
            Content::Voice { file, duration } => {
                c.r#type = Some(Type::Voice as i32);
                set_file(&mut c, file);
                c.duration = *duration;
            }
            Content::File { file } => {
                c.r#type = Some(Type::File as i32);
                set_file(&mut c, file);
            }
            Content::Location {
                latitude,
                longitude,
                address,
                building,
            } => {
                c.r#type = Some(Type::Location as i32);
                c.latitude = Some(*latitude);
                c.longitude = Some(*longitude);
                c.address = Some(address.clone());
                c.building_name = Some(building.clone());
            }
            Content::Command { action, params } => {
                c.r#type = Some(Type::Command as i32);
                c.action = Some(action.clone());
                c.params = params.iter().map(Ext::to_wire).collect();
            }
            Content::Custom { event, exts } => {
                c.r#type = Some(Type::Custom as i32);
                c.custom_event = Some(event.clone());
                c.custom_exts = exts.iter().map(Ext::to_wire).collect();
            }
            Content::Combine {
                compatible_text,
                title,
                summary,
                level,
                file,
            } => {
                c.r#type = Some(Type::Text as i32);
                c.sub_type = Some(SubType::Combine as i32);
                c.text = Some(compatible_text.clone());
                c.title = Some(title.clone());
                c.summary = Some(summary.clone());
                c.combine_level = Some(*level);
                set_file(&mut c, file);
            }
            Content::Unknown { type_code } => c.r#type = Some(*type_code),
        }
        c
    }
}

fn body_type(chat: ChatType) -> message_body::Type {
    match chat {
        ChatType::Single => message_body::Type::Chat,
        ChatType::Group => message_body::Type::Groupchat,
        ChatType::Chatroom => message_body::Type::Chatroom,
    }
}

/// Builds the `Meta` the SDK would send for `msg` from `own_user`, with client id `local_id`.
pub fn encode_outgoing(
    app_key: &str,
    own_user: &str,
    local_id: u64,
    msg: &OutgoingMessage,
) -> Meta {
    let mut body = MessageBody {
        from: Some(jid::name_only(own_user)),
        to: Some(jid::name_only(&msg.to.id)),
        ext: msg.ext.iter().map(Ext::to_wire).collect(),
        ..Default::default()
    };
    let mut meta_ext = Vec::new();
    let empty = || vec![message_body::Content::default()];
    match &msg.body {
        Body::Content(content) => {
            body.r#type = Some(body_type(msg.to.kind) as i32);
            body.contents = vec![content.to_wire()];
        }
        Body::ReadAck {
            message_id,
            ack_content,
        } => {
            body.r#type = Some(message_body::Type::ReadAck as i32);
            body.ack_message_id = Some(*message_id);
            body.contents = empty();
            if msg.to.kind != ChatType::Single {
                body.msg_config = Some(message_body::MessageConfig {
                    allow_group_ack: Some(true),
                });
                body.ack_content = Some(ack_content.clone());
            }
        }
        Body::DeliveryAck { message_id } => {
            body.r#type = Some(message_body::Type::DeliverAck as i32);
            body.ack_message_id = Some(*message_id);
            body.contents = empty();
        }
        Body::ChannelAck => {
            body.r#type = Some(message_body::Type::ChannelAck as i32);
            body.contents = empty();
        }
        Body::Recall { message_id, ext } => {
            body.r#type = Some(message_body::Type::Recall as i32);
            body.ack_message_id = Some(*message_id);
            body.contents = empty();
            meta_ext.push(Ext::string("recallMessageExtensionInfo", ext.clone()).to_wire());
        }
        Body::Edit {
            message_id,
            content,
            with_ext,
        } => {
            body.r#type = Some(message_body::Type::Edit as i32);
            body.edit_message_id = Some(*message_id);
            body.edit_scope = Some(if *with_ext {
                message_body::EditScope::BodyAndExt as i32
            } else {
                message_body::EditScope::Body as i32
            });
            body.contents = vec![content.to_wire()];
        }
        Body::Unknown { type_code } => body.r#type = Some(*type_code),
    }
    if msg.in_thread {
        // What the SDK writes for `isChatThread: true` (reference §3.4).
        body.meta = Some(r#"{"thread":{}}"#.to_owned());
    }
    if msg.to.kind == ChatType::Chatroom && matches!(msg.body, Body::Content(_)) {
        meta_ext.push(
            Ext {
                key: "chatroom_msg_tag".into(),
                value: ExtValue::Int(1),
            }
            .to_wire(),
        );
    }
    Meta {
        id: Some(local_id),
        to: Some(jid::conversation_jid(app_key, &msg.to)),
        ns: Some(meta::NameSpace::Chat as i32),
        routetype: Some(if msg.online_only {
            meta::RouteType::RouteOnline as i32
        } else {
            meta::RouteType::RouteAll as i32
        }),
        ext: meta_ext,
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

/// Decodes an `ns = CHAT` meta into a typed message.
pub fn decode_incoming(meta: &Meta) -> Result<IncomingMessage, MessageDecodeError> {
    let body = MessageBody::decode(meta.payload.as_deref().unwrap_or_default())?;
    let body_type = body.r#type.unwrap_or(0);
    let chat_type = match message_body::Type::try_from(body_type) {
        Ok(message_body::Type::Groupchat) => ChatType::Group,
        Ok(message_body::Type::Chatroom) => ChatType::Chatroom,
        // Receipts and edits of group messages carry the conference domain in Meta.to.
        _ => match &meta.to {
            Some(to) if jid::is_conference(to) => {
                if body_type == message_body::Type::Chatroom as i32 {
                    ChatType::Chatroom
                } else {
                    ChatType::Group
                }
            }
            _ => ChatType::Single,
        },
    };
    let first_content = body.contents.first();
    let content = || first_content.map(Content::from_wire);
    let meta_ext: Vec<Ext> = meta.ext.iter().map(Ext::from_wire).collect();
    let parsed = match message_body::Type::try_from(body_type) {
        Ok(message_body::Type::Normal)
        | Ok(message_body::Type::Chat)
        | Ok(message_body::Type::Groupchat)
        | Ok(message_body::Type::Chatroom) => {
            Body::Content(content().ok_or(MessageDecodeError::NoContent)?)
        }
        Ok(message_body::Type::ReadAck) => Body::ReadAck {
            message_id: body.ack_message_id.unwrap_or(0),
            ack_content: opt_string(&body.ack_content),
        },
        Ok(message_body::Type::DeliverAck) => Body::DeliveryAck {
            message_id: body.ack_message_id.unwrap_or(0),
        },
        Ok(message_body::Type::ChannelAck) => Body::ChannelAck,
        Ok(message_body::Type::Recall) => Body::Recall {
            message_id: body.ack_message_id.unwrap_or(0),
            ext: meta_ext
                .iter()
                .find(|e| e.key == "recallMessageExtensionInfo")
                .and_then(|e| match &e.value {
                    ExtValue::String(s) | ExtValue::Json(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
        },
        Ok(message_body::Type::Edit) => Body::Edit {
            message_id: body.edit_message_id.unwrap_or(0),
            content: content().ok_or(MessageDecodeError::NoContent)?,
            with_ext: body.edit_scope == Some(message_body::EditScope::BodyAndExt as i32),
        },
        Err(_) => Body::Unknown {
            type_code: body_type,
        },
    };
    let from_name = body
        .from
        .as_ref()
        .and_then(|j| j.name.clone())
        .or_else(|| meta.from.as_ref().and_then(|j| j.name.clone()))
        .unwrap_or_default();
    let to_name = body
        .to
        .as_ref()
        .and_then(|j| j.name.clone())
        .or_else(|| meta.to.as_ref().and_then(|j| j.name.clone()))
        .unwrap_or_default();
    Ok(IncomingMessage {
        id: meta.id.unwrap_or(0),
        timestamp: meta.timestamp.unwrap_or(0),
        from: from_name,
        from_resource: meta
            .from
            .as_ref()
            .and_then(|j| non_empty(&j.client_resource)),
        to: to_name,
        chat_type,
        body: parsed,
        ext: body.ext.iter().map(Ext::from_wire).collect(),
        meta_json: non_empty(&body.meta),
    })
}

/// Re-exported so callers can name the namespace without reaching into `proto`.
pub use proto::meta::NameSpace;
