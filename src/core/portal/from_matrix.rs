//! Matrix → remote: messages sent through the sender's login, or through the portal's relay
//! for users without one ([`super::relay`]) (the mapping written before the next queue item,
//! so the remote echo finds it), edits, redactions as recalls, read receipts, and notices in
//! the room when something cannot be bridged.

use ruma::{RoomId, UserId};
use serde_json::{json, Value};
use tracing::{debug, warn};

use super::media_out::attachment_kind;
use super::threads::ThreadTarget;
use super::{chat_of_key, content_kind, PortalWorker};
use crate::core::connector::{ChatId, MessageContent, ReplyTo, SendFailure, SendOptions};
use crate::core::convert;
use crate::core::ghosts::now_ms;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::core::send_status::{self, Reason, Status};
use crate::metrics::Direction;
use crate::store::MessageRecord;
use std::sync::Arc;

/// The `reason` label of a failed send to the network.
pub(super) fn send_failure_reason(e: &SendFailure) -> &'static str {
    match e {
        SendFailure::Retriable(_) => "network_temporary",
        SendFailure::Permanent(_) => "network_refused",
    }
}

/// A Matrix message on its way to the network.
struct Outgoing<'a> {
    /// The Matrix event it comes from.
    event_id: &'a str,
    /// Its content, converted for the network.
    converted: MessageContent,
    /// Replayed from the inbox after a crash: it may have been sent since this time (ms, the
    /// event's `origin_server_ts`); see [`SendOptions::maybe_sent_since_ms`].
    maybe_sent_since: Option<u64>,
    /// The event's content as the client sent it ([`SendOptions::matrix_content`]).
    raw: &'a Value,
}

/// How often a message mapping write is tried before giving up (the store may be away for a
/// moment: a database restart, a failover).
const MAPPING_ATTEMPTS: u32 = 5;
/// The wait after the first failed mapping write; doubled after each further one (0.1 + 0.2 +
/// 0.4 + 0.8 s in all).
const MAPPING_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl PortalWorker {
    /// Writes the mapping of a message just sent, retrying (bounded by [`MAPPING_ATTEMPTS`])
    /// while the store fails: a mapping not written makes the echo of the message look new
    /// and, if the inbox item is not acknowledged either, a replay after a restart has to look
    /// it up on the network. `part`: for the log.
    async fn put_mapping(&self, record: &MessageRecord, part: usize) {
        let mut delay = MAPPING_RETRY_DELAY;
        for attempt in 1..=MAPPING_ATTEMPTS {
            match self.ctx.store.put_message(&self.key, record).await {
                Ok(()) => return,
                Err(e) if attempt < MAPPING_ATTEMPTS && !self.ctx.portals.is_stopping() => {
                    debug!(portal = %self.key, part, attempt, error = %e, "message mapping not saved; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    warn!(portal = %self.key, part, error = %e, "message mapping not saved");
                    return;
                }
            }
        }
    }

    pub(super) async fn matrix_message(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        event_id: &str,
        content: &Value,
        maybe_sent_since: Option<u64>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if ctx
            .store
            .message_by_event(event_id)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return Ok(()); // replayed after a restart: already sent
        }
        let Some(chat) = chat_of_key(&self.key) else {
            return Ok(());
        };
        if content["msgtype"] == "m.text" {
            let body = content["body"].as_str().unwrap_or_default();
            if self.room_command(room, sender, body).await {
                return Ok(());
            }
        }
        let (login, relayed) = match ctx.login_of(sender).await {
            Some(login) => (Some(login), None),
            None => match self.relay_for(sender).await {
                Some(relay) => {
                    let relayed = self.relayed_content(room, sender, content).await;
                    (Some(relay), Some(relayed))
                }
                None => (None, None),
            },
        };
        let content = relayed.as_ref().unwrap_or(content);
        if relayed.is_some() && content["m.relates_to"]["rel_type"] == json!("m.replace") {
            let target = content["m.relates_to"]["event_id"]
                .as_str()
                .unwrap_or_default();
            if !self.sent_by(room, target, sender).await {
                debug!(portal = %self.key, event_id, "relayed edit of another's message ignored");
                return Ok(());
            }
        }
        let Some(login) = login else {
            ctx.metrics.failed(Direction::ToNetwork, "not_logged_in");
            // Never answer a notice (spec: bots do not respond to m.notice), and hint at most
            // once per user per portal in a while, so two bots cannot feed each other.
            let now = std::time::Instant::now();
            let recently = self
                .hinted
                .get(sender)
                .is_some_and(|t| now.duration_since(*t) < super::HINT_EVERY);
            if content["msgtype"] != "m.notice" && !recently {
                self.hinted.insert(sender.to_owned(), now);
                let text = "⚠️ You are not logged in to the IM service, so your message was not bridged. Send `login` to the bridge bot.";
                self.error_notice(room, text).await;
            }
            let why = "You are not logged in to the IM service.";
            self.failed_permanently(room, event_id, Reason::NoPermission, why)
                .await;
            return Ok(());
        };
        if let Some(owner) = super::direct_owner_of_key(&self.key) {
            if owner != login.remote_id {
                ctx.metrics.failed(Direction::ToNetwork, "not_logged_in");
                let text = format!(
                    "⚠️ This chat belongs to your IM account {owner}, and you are logged in as {} now, so your message was not sent. Log in as {owner} again to chat here.",
                    login.remote_id
                );
                self.error_notice(room, &text).await;
                let why = format!("This chat belongs to the IM account {owner}.");
                self.failed_permanently(room, event_id, Reason::NoPermission, &why)
                    .await;
                return Ok(());
            }
        }
        let relates = &content["m.relates_to"];
        if relates["rel_type"] == json!("m.replace") {
            return self
                .matrix_edit(room, event_id, &login, &chat, content)
                .await;
        }
        if let Some(kind) = attachment_kind(content) {
            match self
                .attachment_to_remote(&login, &chat, kind, content)
                .await
            {
                Ok(converted) => {
                    let out = Outgoing {
                        event_id,
                        converted,
                        maybe_sent_since,
                        raw: content,
                    };
                    return self.send_to_remote(room, &login, &chat, out, relates).await;
                }
                Err(why) => {
                    ctx.metrics.failed(Direction::ToNetwork, "attachment");
                    let word = super::media_kind_word(kind);
                    self.error_notice(room, &format!("⚠️ Your {word} was not delivered: {why}."))
                        .await;
                    let why = format!("The {word} was not delivered: {why}.");
                    self.failed_permanently(room, event_id, Reason::GenericError, &why)
                        .await;
                    return Ok(());
                }
            }
        }
        let Some(converted) = self.convert_matrix_content(content, &login, false) else {
            ctx.metrics.failed(Direction::ToNetwork, "unsupported_kind");
            let kind = content["msgtype"].as_str().unwrap_or("unknown");
            self.error_notice(
                room,
                &format!("⚠️ {kind} messages are not bridged to the IM service yet."),
            )
            .await;
            let why = format!("{kind} messages are not bridged.");
            self.failed_permanently(room, event_id, Reason::Unsupported, &why)
                .await;
            return Ok(());
        };
        if let MessageContent::Text { body, .. } | MessageContent::Emote { body } = &converted {
            if body.trim().is_empty() {
                // Never send an empty message (a body that was only a reply fallback, say);
                // the send status says so (no notice: nothing was lost).
                debug!(portal = %self.key, event_id, "empty text not sent");
                let why = "The message is empty: nothing was sent.";
                self.failed_permanently(room, event_id, Reason::Unsupported, why)
                    .await;
                return Ok(());
            }
        }
        let out = Outgoing {
            event_id,
            converted,
            maybe_sent_since,
            raw: content,
        };
        self.send_to_remote(room, &login, &chat, out, relates).await
    }

    /// Sends converted content through `login` and maps the Matrix event to the remote id.
    async fn send_to_remote(
        &mut self,
        room: &RoomId,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        out: Outgoing<'_>,
        relates: &Value,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let event_id = out.event_id;
        let converted = &out.converted;
        // In a thread, `m.in_reply_to` with `is_falling_back` is only the fallback for clients
        // without threads, not a reply.
        let fallback = relates["rel_type"] == json!("m.thread")
            && relates["is_falling_back"].as_bool().unwrap_or(false);
        let reply_to = match relates["m.in_reply_to"]["event_id"].as_str() {
            Some(id) if !fallback => self.reply_to(room, id).await,
            _ => None,
        };
        let started = std::time::Instant::now();
        let sent = match self.thread_target(login, chat, relates, converted).await {
            Ok(ThreadTarget::Main) => {
                self.send_parts(login, chat, None, &out, reply_to.as_ref())
                    .await
            }
            Ok(ThreadTarget::Thread(thread)) => {
                self.send_parts(login, chat, Some(&thread), &out, reply_to.as_ref())
                    .await
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        ctx.metrics.im_send_seconds.observe(&[], started.elapsed());
        let (ids, failure) = sent;
        if let Some((main, extra)) = ids.split_first() {
            // Every remote message this event became is mapped, the extra ones first, so the
            // event points at the main one and no echo is taken for a new message.
            for (i, remote_id) in extra.iter().chain(std::iter::once(main)).enumerate() {
                let alt_id = login.session.sent_alt_id(chat, remote_id);
                if let Some(alt_id) = &alt_id {
                    self.remember_alt_id(alt_id, remote_id).await;
                }
                let record = MessageRecord {
                    room_id: room.to_string(),
                    event_id: event_id.to_owned(),
                    remote_id: remote_id.clone(),
                    sender: login.remote_id.clone(),
                    timestamp_ms: now_ms(),
                    part: 0,
                    edit_count: 0,
                    alt_id,
                };
                self.put_mapping(&record, i).await;
            }
            if relates["rel_type"] == json!("m.thread") {
                self.thread_sent(relates, event_id, &ids).await;
            }
            // On disk before the inbox item is acked: a crash now must not send it twice.
            if let Err(e) = ctx.store.flush().await {
                warn!(portal = %self.key, error = %e, "store flush failed");
            }
            ctx.metrics
                .bridged(Direction::ToNetwork, content_kind(converted));
        }
        match &failure {
            None => {
                send_status::report(&ctx, room, event_id, Status::Success, None).await;
            }
            Some(e) => {
                let status = match e {
                    SendFailure::Retriable(_) => Status::FailRetriable,
                    SendFailure::Permanent(_) => Status::FailPermanent,
                };
                let why = e.to_string();
                let failure = Some((Reason::ForeignError, why.as_str()));
                send_status::report(&ctx, room, event_id, status, failure).await;
            }
        }
        if let Some(e) = failure {
            ctx.metrics
                .failed(Direction::ToNetwork, send_failure_reason(&e));
            let text = if ids.is_empty() {
                format!("⚠️ Your message was not delivered: {e}")
            } else {
                format!(
                    "⚠️ Only the first {} parts of your long message were delivered: {e}",
                    ids.len()
                )
            };
            self.error_notice(room, &text).await;
        }
        Ok(())
    }

    /// Sends `converted`, split into several messages when it is a text longer than the
    /// network takes ([`Capabilities::max_text_bytes`](crate::core::connector::Capabilities));
    /// the reply and mentions go with the first part. Returns the remote ids sent (the first
    /// part's main id first) and the failure that stopped it, if any.
    ///
    /// Each part goes with its transaction id ([`SendOptions::txn_id_for`] of the event and
    /// the part's index), and, when the event is replayed after a crash, with the time since
    /// when it may have been sent, so the connector sends only what did not go out before.
    async fn send_parts(
        &self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        thread: Option<&str>,
        out: &Outgoing<'_>,
        reply_to: Option<&ReplyTo>,
    ) -> (Vec<String>, Option<SendFailure>) {
        let converted = &out.converted;
        let limit = self.ctx.connector.capabilities().max_text_bytes;
        let parts: Vec<MessageContent> = match converted {
            MessageContent::Text {
                body,
                mentions,
                mentions_room,
                ..
            } if limit > 0 && body.len() > limit => convert::split_text(body, limit)
                .into_iter()
                .enumerate()
                .map(|(i, part)| MessageContent::Text {
                    body: part,
                    html: None,
                    mentions: if i == 0 { mentions.clone() } else { Vec::new() },
                    mentions_room: i == 0 && *mentions_room,
                })
                .collect(),
            other => vec![other.clone()],
        };
        let mut ids = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let reply = if i == 0 { reply_to } else { None };
            let txn_id = SendOptions::txn_id_for(out.event_id, i);
            let options = SendOptions {
                reply_to: reply,
                txn_id: Some(&txn_id),
                maybe_sent_since_ms: out.maybe_sent_since,
                matrix_content: Some(out.raw),
            };
            let sent = match (thread, login.session.as_threads()) {
                (Some(thread), Some(threads)) => {
                    threads.send_in_thread(chat, thread, part, options).await
                }
                _ => login.session.send_message_with(chat, part, options).await,
            };
            match sent {
                Ok(sent) => ids.extend(sent),
                Err(e) => return (ids, Some(e)),
            }
        }
        (ids, None)
    }

    async fn matrix_edit(
        &mut self,
        room: &RoomId,
        event_id: &str,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        content: &Value,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let target = content["m.relates_to"]["event_id"]
            .as_str()
            .unwrap_or_default();
        let Some(remote) = self.remote_of_event(target).await else {
            return Ok(());
        };
        let new_content = content.get("m.new_content").unwrap_or(content);
        let (Some(edit), Some(converted)) = (
            login.session.as_edit(),
            // An edit's new content has no relation of its own; a reply's fallback in it
            // (some clients keep it) is stripped when it has the fallback's exact shape.
            self.convert_matrix_content(new_content, login, true),
        ) else {
            ctx.metrics.failed(Direction::ToNetwork, "unsupported_edit");
            self.error_notice(room, "⚠️ Edits are not bridged to this IM service.")
                .await;
            let why = "Edits are not bridged to this IM service.";
            self.failed_permanently(room, event_id, Reason::Unsupported, why)
                .await;
            return Ok(());
        };
        // A message in a thread is edited in the thread (where the network keeps it).
        let outcome = match (
            self.thread_of_message(&remote).await,
            login.session.as_threads(),
        ) {
            (Some(thread), Some(threads)) => {
                threads
                    .edit_in_thread(chat, &thread, &remote, &converted)
                    .await
            }
            _ => edit.edit_message(chat, &remote, &converted).await,
        };
        match &outcome {
            Ok(()) => {
                ctx.metrics.bridged(Direction::ToNetwork, "edit");
                self.count_edit(&remote, None).await;
            }
            Err(e) => {
                ctx.metrics
                    .failed(Direction::ToNetwork, send_failure_reason(e));
                self.error_notice(room, &format!("⚠️ Your edit was not delivered: {e}"))
                    .await;
            }
        }
        self.report_sent(room, event_id, outcome.as_ref().err())
            .await;
        Ok(())
    }

    pub(super) async fn matrix_redaction(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        event_id: &str,
        redacts: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if let Ok(Some((_, reaction))) = ctx.store.reaction_by_event(redacts).await {
            return self.matrix_unreact(room, sender, reaction).await;
        }
        let Some(chat) = chat_of_key(&self.key) else {
            return Ok(());
        };
        let Some(remote) = self.remote_of_event(redacts).await else {
            return Ok(());
        };
        let login = match ctx.login_of(sender).await {
            Some(login) => login,
            // A relayed user recalls their own relayed message through the relay.
            None => match self.relay_for(sender).await {
                Some(relay) if self.sent_by(room, redacts, sender).await => relay,
                _ => return Ok(()),
            },
        };
        match login.session.as_recall() {
            Some(recall) => {
                let thread = self.thread_of_message(&remote).await;
                let outcome = match (&thread, login.session.as_threads()) {
                    (Some(thread), Some(threads)) => {
                        threads.recall_in_thread(&chat, thread, &remote).await
                    }
                    _ => recall.recall_message(&chat, &remote).await,
                };
                if let Err(e) = &outcome {
                    ctx.metrics
                        .failed(Direction::ToNetwork, send_failure_reason(e));
                    self.error_notice(
                        room,
                        &format!("⚠️ The message could not be recalled on the IM side: {e}"),
                    )
                    .await;
                } else {
                    self.forget_message(&remote).await;
                    if thread.is_some() {
                        self.forget_thread_message(&remote).await;
                    }
                    ctx.metrics.bridged(Direction::ToNetwork, "redaction");
                }
                self.report_sent(room, event_id, outcome.as_ref().err())
                    .await;
            }
            None => {
                ctx.metrics
                    .failed(Direction::ToNetwork, "unsupported_recall");
                self.error_notice(room, "⚠️ Recall is not supported by this IM service.")
                    .await;
                let why = "Recall is not supported by this IM service.";
                self.failed_permanently(room, event_id, Reason::Unsupported, why)
                    .await;
            }
        }
        Ok(())
    }

    /// A room's typing list changed: tells the network, through each logged-in user's own
    /// login, who started and who stopped (ghosts and users without a login are skipped).
    pub(super) async fn matrix_typing(&mut self, users: Vec<ruma::OwnedUserId>) {
        let ctx = self.ctx.clone();
        let Some(chat) = chat_of_key(&self.key) else {
            return;
        };
        let now: std::collections::HashSet<ruma::OwnedUserId> = users
            .into_iter()
            .filter(|u| !ctx.ghosts.is_ours(u))
            .collect();
        let started: Vec<_> = now.difference(&self.typing).cloned().collect();
        let stopped: Vec<_> = self.typing.difference(&now).cloned().collect();
        self.typing = now;
        for (user, active) in started
            .into_iter()
            .map(|u| (u, true))
            .chain(stopped.into_iter().map(|u| (u, false)))
        {
            let Some(login) = ctx.login_of(&user).await else {
                continue;
            };
            let Some(typing) = login.session.as_typing() else {
                continue;
            };
            match typing.set_typing(&chat, active).await {
                Ok(()) => ctx.metrics.bridged(Direction::ToNetwork, "typing"),
                Err(e) => debug!(user = %user, error = %e, "typing not bridged"),
            }
        }
    }

    /// Matrix content → network content; `None` for kinds not bridged yet. Mentions are the
    /// pills in the HTML (both `matrix.to` and `matrix:u/` forms) and the users and `@room` of
    /// `m.mentions`, mapped to remote ids (ghosts) — the user's own MXID is their own IM id.
    /// `edit`: `content` is an edit's `m.new_content`.
    fn convert_matrix_content(
        &self,
        content: &Value,
        own: &UserLogin,
        edit: bool,
    ) -> Option<MessageContent> {
        let ghosts = &self.ctx.ghosts;
        let remote_of = |mxid: &str| -> Option<String> {
            let id = UserId::parse(mxid).ok()?;
            if id == own.mxid {
                return Some(own.remote_id.clone());
            }
            ghosts.remote_of(&id)
        };
        convert::matrix_text_content(content, edit, &remote_of)
    }

    /// Reports how sending `event_id` to the network ended (a send status event, when on):
    /// SUCCESS, or the failure with the network's words.
    pub(super) async fn report_sent(
        &self,
        room: &RoomId,
        event_id: &str,
        failure: Option<&SendFailure>,
    ) {
        let Some(e) = failure else {
            send_status::report(&self.ctx, room, event_id, Status::Success, None).await;
            return;
        };
        let status = match e {
            SendFailure::Retriable(_) => Status::FailRetriable,
            SendFailure::Permanent(_) => Status::FailPermanent,
        };
        let why = e.to_string();
        let failure = Some((Reason::ForeignError, why.as_str()));
        send_status::report(&self.ctx, room, event_id, status, failure).await;
    }

    /// Reports that `event_id` will not reach the network (a send status event, when on).
    pub(super) async fn failed_permanently(
        &self,
        room: &RoomId,
        event_id: &str,
        reason: Reason,
        why: &str,
    ) {
        let failure = Some((reason, why));
        send_status::report(&self.ctx, room, event_id, Status::FailPermanent, failure).await;
    }

    /// A notice about a Matrix event that could not be bridged, unless the config turned them
    /// off (`bridge.message_error_notices: false`; send status events still say it).
    pub(super) async fn error_notice(&self, room: &RoomId, text: &str) {
        if self.ctx.cfg.bridge.message_error_notices {
            self.notice(room, text).await;
        }
    }

    pub(super) async fn notice(&self, room: &RoomId, text: &str) {
        let txn = crate::core::fresh_txn("imb-notice");
        crate::core::send_bot_notice(&self.ctx, room, &txn, &convert::notice_content(text)).await;
    }
}
