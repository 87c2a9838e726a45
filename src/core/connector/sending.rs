//! How the core hands a message to a connector besides its content: the reply it answers
//! ([`ReplyTo`]) and the send's options ([`SendOptions`]: the transaction id that makes a send
//! replayed after a crash recognisable, and the Matrix event's own content).

use super::MessageContent;
/// What kind of message a reply quotes (for networks whose replies show the quoted kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QuotedKind {
    #[default]
    Text,
    Image,
    Video,
    Audio,
    File,
    Location,
    Other,
}

/// The message a reply answers, with what a network's reply quote shows of it (the Easemob
/// UIKit's `msgQuote` carries id, preview, sender and type).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyTo {
    /// The network id of the message replied to (an edited message's original id).
    pub id: String,
    /// Its sender's network id, when known.
    pub sender: Option<String>,
    /// A short plain-text preview (at most [`ReplyTo::PREVIEW_CHARS`] characters).
    pub preview: Option<String>,
    /// What kind of message it is.
    pub kind: QuotedKind,
    /// Its other id, when the network gave it one ([`super::RemoteMessage::alt_id`]).
    pub alt_id: Option<String>,
}

impl ReplyTo {
    /// The longest preview, in characters.
    pub const PREVIEW_CHARS: usize = 100;

    /// The quote as a line of text, for networks that carry no reply quote:
    /// `> {sender}: {preview}` (`> {sender}` or `> {preview}` when only one is known); `None`
    /// when neither is.
    pub fn text_quote(&self) -> Option<String> {
        match (self.sender.as_deref(), self.preview.as_deref()) {
            (Some(s), Some(p)) => Some(format!("> {s}: {p}")),
            (Some(one), None) | (None, Some(one)) => Some(format!("> {one}")),
            (None, None) => None,
        }
    }

    /// `content` with [`ReplyTo::text_quote`] as its first line when it is a text, so the
    /// reply keeps its context where the network has no quotes; any other content as it is.
    pub fn quoted(&self, content: &MessageContent) -> MessageContent {
        match (content, self.text_quote()) {
            (
                MessageContent::Text {
                    body,
                    mentions,
                    mentions_room,
                    ..
                },
                Some(quote),
            ) => MessageContent::Text {
                body: format!("{quote}\n{body}"),
                html: None,
                mentions: mentions.clone(),
                mentions_room: *mentions_room,
            },
            _ => content.clone(),
        }
    }
}

/// How one message is sent, besides its content: what [`super::NetworkLogin::send_message_with`]
/// takes. `Default` is a plain send (no reply, no key).
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions<'a> {
    /// The message this one answers.
    pub reply_to: Option<&'a ReplyTo>,
    /// A key naming this message for good: the same every time the bridge sends it again
    /// (after a crash), different for every other message. The core derives it from the Matrix
    /// event id (and the part, for a text split in several messages): see
    /// [`SendOptions::txn_id_for`]. A connector that can carry it with the message (a client
    /// message id the network de-duplicates, or a field kept in the network's history) does,
    /// so a message sent before a crash can be recognised instead of sent twice.
    pub txn_id: Option<&'a str>,
    /// This message may have been sent already, by an earlier run of the bridge that stopped
    /// before it recorded the send (the Matrix event is replayed from the durable inbox after
    /// a crash or a lost database); the value is the earliest time it can have been sent, in
    /// ms since the epoch (the Matrix event's `origin_server_ts`). A connector that can look up
    /// what this login sent under [`SendOptions::txn_id`] since then sends only what it does
    /// not find, and returns the ids of what it found as if it had sent it. `None` (normal
    /// traffic): send without looking. Connectors that cannot look send anyway, so delivery
    /// is at least once.
    pub maybe_sent_since_ms: Option<u64>,
    /// The Matrix event's content as the client sent it (a relayed message: as the relay
    /// rewrote it), for connectors that carry fields the core does not read, such as the keys
    /// they put in [`super::RemoteMessage::extra`] coming back. `None` when the message does not come
    /// from a Matrix event.
    pub matrix_content: Option<&'a serde_json::Value>,
}

impl SendOptions<'_> {
    /// The key networks that keep a free-form map with each message (Easemob `ext`, JMessage
    /// `extras`) carry [`SendOptions::txn_id`] under. Apps that show a message's whole map
    /// show it; the vendors' UIs show no key they do not know.
    pub const TXN_KEY: &'static str = "imbridge_txn";

    /// The transaction id of the caption an attachment is followed by, on networks whose
    /// attachments have no caption of their own (a second text): `txn` and `#caption`.
    pub fn caption_txn_id(txn: &str) -> String {
        format!("{txn}#caption")
    }

    /// The core's transaction id for part `part` of Matrix event `event_id`: `mx` and 32 hex
    /// digits of SHA-256 over both, so it is stable across restarts and says nothing of the
    /// Matrix side to the network (the event id itself would show the homeserver's name in
    /// old room versions).
    pub fn txn_id_for(event_id: &str, part: usize) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"imbridge txn v1\0")
            .chain_update(event_id.as_bytes())
            .chain_update(b"\0")
            .chain_update(part.to_string().as_bytes())
            .finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("mx{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::{MessageContent, ReplyTo, SendOptions};

    #[test]
    fn a_quote_as_text_leads_a_reply_where_the_network_has_none() {
        let to = |sender: Option<&str>, preview: Option<&str>| ReplyTo {
            id: "1".into(),
            sender: sender.map(str::to_owned),
            preview: preview.map(str::to_owned),
            ..ReplyTo::default()
        };
        let reply = MessageContent::Text {
            body: "the answer".into(),
            html: Some("<b>the answer</b>".into()),
            mentions: vec!["bob".into()],
            mentions_room: false,
        };
        assert_eq!(
            to(Some("bob"), Some("question?")).quoted(&reply),
            MessageContent::Text {
                body: "> bob: question?\nthe answer".into(),
                html: None,
                mentions: vec!["bob".into()],
                mentions_room: false,
            }
        );
        assert_eq!(
            to(None, Some("question?")).text_quote().as_deref(),
            Some("> question?")
        );
        assert_eq!(to(None, None).quoted(&reply), reply);
        let other = MessageContent::Emote {
            body: "waves".into(),
        };
        assert_eq!(to(Some("bob"), None).quoted(&other), other);
    }

    #[test]
    fn transaction_ids_are_stable_opaque_and_per_event_and_part() {
        let id = SendOptions::txn_id_for("$abc:example.org", 0);
        assert_eq!(id, SendOptions::txn_id_for("$abc:example.org", 0));
        assert_eq!(id.len(), 34);
        assert!(id.starts_with("mx"));
        assert!(id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!id.contains("example"));
        assert_ne!(id, SendOptions::txn_id_for("$abc:example.org", 1));
        assert_ne!(id, SendOptions::txn_id_for("$abd:example.org", 0));
        // The part is not simply appended to the event id.
        assert_ne!(
            SendOptions::txn_id_for("$a1", 0),
            SendOptions::txn_id_for("$a", 10)
        );
    }
}
