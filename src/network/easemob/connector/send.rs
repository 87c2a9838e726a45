//! Sending a core message as Easemob messages, at most once across crashes: each message
//! carries the core's transaction id in its `MessageBody.ext` under [`TXN_EXT_KEY`], and a
//! send the core replays after a crash first looks through this login's recent messages in
//! the chat's history (message roaming, reference §3.10, which keeps `ext`) for that id, and
//! sends only what it does not find. A message into a thread (the SDK's `isChatThread` send,
//! addressed to the thread id) carries the id the same way and is looked up in the thread's
//! own history: the service keeps a thread's messages under the thread id (reference §3.4,
//! §3.10; the SDK reads a thread's history with the thread id as `targetId`).

use tracing::{info, warn};

use super::{conversation, rest_failure, send_failure, EasemobLogin};
use crate::core::connector::{ChatId, MessageContent, SendFailure, SendOptions};
use crate::network::easemob::jid::Conversation;
use crate::network::easemob::message::{decode_incoming, Ext, ExtValue, OutgoingMessage};

/// The `MessageBody.ext` key carrying the bridge's transaction id (a string, `mx` and 32 hex
/// digits: [`SendOptions::txn_id_for`]). The official UIKit shows no ext key it does not
/// know, so users see nothing of it; apps that list a message's whole `ext` (the SDK hands
/// every key to the app in `message.ext`) show `imbridge_txn`.
pub const TXN_EXT_KEY: &str = SendOptions::TXN_KEY;
/// How far before the Matrix event's time a replayed message is looked for, in ms: the
/// homeserver's and the IM server's clocks may disagree.
const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// History pages looked through at most (of [`LOOKUP_PAGE`] messages of this login each).
const LOOKUP_PAGES: u32 = 4;
/// Messages per history page of the look-up (the most the server gives).
const LOOKUP_PAGE: u32 = 50;

/// The messages of this login found in history under one transaction id.
#[derive(Debug, Default, PartialEq)]
struct Found {
    /// The message itself (server id).
    main: Option<String>,
    /// The caption sent after it, for an attachment with one.
    caption: Option<String>,
}

/// Where a send goes: a chat, or a thread of a group (addressed to the thread id, with the
/// SDK's `isChatThread` meta).
#[derive(Debug, Clone)]
pub(super) struct SendTarget {
    conv: Conversation,
    in_thread: bool,
}

impl SendTarget {
    /// The chat itself.
    pub(super) fn chat(chat: &ChatId) -> Self {
        Self {
            conv: conversation(chat),
            in_thread: false,
        }
    }

    /// Thread `thread` (of a group).
    pub(super) fn thread(thread: &str) -> Self {
        Self {
            conv: Conversation::group(thread.to_owned()),
            in_thread: true,
        }
    }

    /// `msg` marked as a thread message when this target is a thread.
    fn prepare(&self, mut msg: OutgoingMessage) -> OutgoingMessage {
        msg.in_thread = self.in_thread;
        msg
    }
}

impl EasemobLogin {
    /// [`crate::core::connector::NetworkLogin::send_message_with`] for Easemob (and
    /// [`crate::core::connector::ThreadAbility::send_in_thread`], with a thread `target`): the
    /// content (and an attachment's caption after it) with the reply quote, the mentions and
    /// the transaction id in `ext`; with [`SendOptions::maybe_sent_since_ms`], what history
    /// shows this login sent under that id is taken instead of sending it again. A look-up
    /// that fails is logged and the message sent (at least once rather than lost).
    pub(super) async fn send_keyed(
        &self,
        target: &SendTarget,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        let found = match (options.txn_id, options.maybe_sent_since_ms) {
            (Some(txn), Some(since)) => match self.find_sent(&target.conv, txn, since).await {
                Ok(found) => found,
                Err(e) => {
                    warn!(user = %self.own, error = %e, "could not look up whether a replayed message went out; sending it");
                    Found::default()
                }
            },
            _ => Found::default(),
        };
        let main = match found.main {
            Some(id) => {
                info!(user = %self.own, id, "a replayed message had gone out before the restart; not sent again");
                id
            }
            None => {
                let msg = self.main_message(target, content, &options)?;
                let receipt = self.client.send(msg).await.map_err(send_failure)?;
                receipt.server_id.to_string()
            }
        };
        let mut ids = vec![main];
        if let MessageContent::Media {
            caption: Some(caption),
            ..
        } = content
        {
            let id = match found.caption {
                Some(id) => id,
                None => {
                    let mut text =
                        target.prepare(OutgoingMessage::text(target.conv.clone(), caption.clone()));
                    if let Some(txn) = options.txn_id {
                        text.ext.push(txn_ext(&SendOptions::caption_txn_id(txn)));
                    }
                    let sent = self.client.send(text).await.map_err(send_failure)?;
                    sent.server_id.to_string()
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// The message for `content`, its `ext` holding the mentions (the UIKit's `em_at_list`),
    /// the reply quote (`msgQuote`) and the transaction id.
    fn main_message(
        &self,
        target: &SendTarget,
        content: &MessageContent,
        options: &SendOptions<'_>,
    ) -> Result<OutgoingMessage, SendFailure> {
        let mut msg =
            target.prepare(self.outgoing(target.conv.clone(), content, options.reply_to)?);
        if let Some(txn) = options.txn_id {
            msg.ext.push(txn_ext(txn));
        }
        Ok(msg)
    }

    /// This login's messages in `conv` (a chat, or a thread by its id) sent under transaction
    /// id `txn` (and its caption), in history no older than `since_ms` (less
    /// [`CLOCK_SKEW_MS`]); newest pages first, at most [`LOOKUP_PAGES`] pages.
    async fn find_sent(
        &self,
        conv: &Conversation,
        txn: &str,
        since_ms: u64,
    ) -> Result<Found, SendFailure> {
        let rest = self.client.rest();
        let caption_txn = SendOptions::caption_txn_id(txn);
        let since = since_ms.saturating_sub(CLOCK_SKEW_MS);
        let mut found = Found::default();
        let mut cursor: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let page = rest
                .history_filtered(
                    conv,
                    cursor.as_deref(),
                    LOOKUP_PAGE,
                    Some(&self.own),
                    Some(since),
                )
                .await
                .map_err(rest_failure)?;
            for meta in &page.metas {
                let Ok(message) = decode_incoming(meta) else {
                    continue;
                };
                if message.from != self.own || message.timestamp < since {
                    continue;
                }
                let Some(id) = message.ext.iter().find_map(|e| match &e.value {
                    ExtValue::String(v) if e.key == TXN_EXT_KEY => Some(v.as_str()),
                    _ => None,
                }) else {
                    continue;
                };
                if id == txn {
                    found.main = Some(message.id.to_string());
                } else if id == caption_txn {
                    found.caption = Some(message.id.to_string());
                }
            }
            if found.main.is_some() {
                return Ok(found);
            }
            match page.next_key {
                Some(next) if !page.is_last && !page.metas.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        Ok(found)
    }
}

/// The `ext` entry carrying transaction id `txn`.
fn txn_ext(txn: &str) -> Ext {
    Ext {
        key: TXN_EXT_KEY.into(),
        value: ExtValue::String(txn.to_owned()),
    }
}
