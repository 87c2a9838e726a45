//! Portals: one Matrix room per remote chat, and one ordered queue (one task) per portal that
//! handles both directions. Owns room creation, membership of the user and the ghosts,
//! remote → Matrix messages (deduplicated through the message map, so a group message seen by
//! two logins is bridged once and our own echoes are dropped), and Matrix → remote messages
//! (with the map written before the next queue item, so the echo finds it).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};
use tracing::{debug, warn};

use super::connector::{ChatId, ChatKind, MessageContent, RemoteEvent, RemoteMessage};
use super::convert;
use super::ghosts::{escape_localpart, now_ms, unescape_localpart};
use super::logins::UserLogin;
use super::matrix_api::{MatrixError, MatrixEvent, RoomSpec};
use super::{ack_inbox, Ctx};
use crate::store::{MessageRecord, PortalRecord};

/// Items a portal queue holds before producers wait (back-pressure, nothing dropped).
const QUEUE_DEPTH: usize = 256;
/// Ghosts joined to a new group portal at creation (the rest join when they speak).
const INITIAL_MEMBERS: usize = 50;

/// The portal key of a chat seen by `login_remote`. Direct chats are per login (each Matrix
/// user has their own DM room); groups and channels are shared.
pub fn portal_key(login_remote: &str, chat: &ChatId) -> String {
    match chat.kind {
        ChatKind::Direct => format!(
            "direct:{}:{}",
            escape_localpart(login_remote),
            escape_localpart(&chat.id)
        ),
        ChatKind::Group => format!("group:{}", escape_localpart(&chat.id)),
        ChatKind::Channel => format!("channel:{}", escape_localpart(&chat.id)),
    }
}

/// The chat behind a portal key.
pub fn chat_of_key(key: &str) -> Option<ChatId> {
    let mut parts = key.split(':');
    let kind = parts.next()?;
    let chat = match kind {
        "direct" => {
            let _own = parts.next()?;
            ChatId::direct(unescape_localpart(parts.next()?)?)
        }
        "group" => ChatId::group(unescape_localpart(parts.next()?)?),
        "channel" => ChatId {
            kind: ChatKind::Channel,
            id: unescape_localpart(parts.next()?)?,
        },
        _ => return None,
    };
    Some(chat)
}

enum Work {
    Remote {
        login: Arc<UserLogin>,
        event: RemoteEvent,
    },
    Matrix {
        event: MatrixEvent,
        seq: u64,
    },
}

/// The portal queues.
#[derive(Default)]
pub struct Portals {
    ctx: std::sync::OnceLock<Weak<Ctx>>,
    queues: Mutex<HashMap<String, mpsc::Sender<Work>>>,
}

impl Portals {
    pub(crate) fn bind(&self, ctx: Weak<Ctx>) {
        let _ = self.ctx.set(ctx);
    }

    async fn queue(&self, key: &str) -> Option<mpsc::Sender<Work>> {
        let mut queues = self.queues.lock().await;
        if let Some(q) = queues.get(key) {
            if !q.is_closed() {
                return Some(q.clone());
            }
        }
        let ctx = self.ctx.get()?.upgrade()?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        queues.insert(key.to_owned(), tx.clone());
        let worker = PortalWorker {
            ctx,
            key: key.to_owned(),
            joined: HashSet::new(),
        };
        tokio::spawn(worker.run(rx));
        Some(tx)
    }

    /// Queues a remote event for the portal `key`.
    pub async fn enqueue_remote(&self, key: &str, login: Arc<UserLogin>, event: RemoteEvent) {
        if let Some(q) = self.queue(key).await {
            let _ = q.send(Work::Remote { login, event }).await;
        }
    }

    /// Queues a Matrix event (inbox item `seq`) for the portal `key`.
    pub async fn enqueue_matrix(&self, key: &str, event: MatrixEvent, seq: u64) {
        if let Some(q) = self.queue(key).await {
            let _ = q.send(Work::Matrix { event, seq }).await;
        }
    }

    /// Waits (bounded) until every queue is empty.
    pub async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let busy = self
                .queues
                .lock()
                .await
                .values()
                .any(|q| q.capacity() < q.max_capacity());
            if !busy || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct PortalWorker {
    ctx: Arc<Ctx>,
    key: String,
    /// Ghosts known to be in the room.
    joined: HashSet<OwnedUserId>,
}

/// Retries a homeserver call on transient errors (bounded), so a busy homeserver delays
/// messages instead of losing them.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, MatrixError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MatrixError>>,
{
    let mut delay = Duration::from_millis(200);
    for attempt in 0..8 {
        match call().await {
            Err(e) if e.is_transient() && attempt < 7 => {
                debug!(what, error = %e, "transient homeserver error; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
    call().await
}

impl PortalWorker {
    async fn run(mut self, mut rx: mpsc::Receiver<Work>) {
        while let Some(work) = rx.recv().await {
            match work {
                Work::Remote { login, event } => self.remote(&login, event).await,
                Work::Matrix { event, seq } => {
                    self.matrix(event).await;
                    ack_inbox(&self.ctx, seq);
                }
            }
        }
    }

    fn record(&self) -> Option<PortalRecord> {
        self.ctx.store.get_portal(&self.key).ok().flatten()
    }

    async fn remote(&mut self, login: &Arc<UserLogin>, event: RemoteEvent) {
        let result = match event {
            RemoteEvent::Message(msg) => self.remote_message(login, msg).await,
            RemoteEvent::Remove { sender, target, .. } => {
                self.remote_remove(login, &sender, &target).await
            }
            RemoteEvent::Edit {
                sender,
                target,
                content,
                ..
            } => self.remote_edit(login, &sender, &target, content).await,
            RemoteEvent::ChatInfoChange { chat, change, .. } => {
                self.remote_info(login, &chat, change).await
            }
            RemoteEvent::ReadReceipt { sender, up_to, .. } => {
                self.remote_read(login, &sender, up_to.as_deref()).await
            }
            other => {
                debug!(portal = %self.key, event = ?other, "remote event not bridged yet");
                Ok(())
            }
        };
        if let Err(e) = result {
            warn!(portal = %self.key, error = %e, "remote event not bridged");
        }
    }

    /// The portal's room, created (and the login's user invited) when needed.
    async fn ensure_room(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
    ) -> Result<OwnedRoomId, MatrixError> {
        let ctx = self.ctx.clone();
        if let Some(mut record) = self.record() {
            if let Ok(room) = RoomId::parse(record.room_id.as_str()) {
                let user = login.mxid.to_string();
                if !record.receivers.contains(&user) {
                    retry("invite", || {
                        ctx.matrix.invite(&room, ctx.matrix.bot(), &login.mxid)
                    })
                    .await
                    .or_else(ignore_already_member)?;
                    record.receivers.push(user);
                    let _ = ctx.store.put_portal(&record);
                }
                return Ok(room);
            }
        }
        let is_direct = chat.kind == ChatKind::Direct;
        let info = login.session.chat_info(chat).await.unwrap_or_default();
        let creator: OwnedUserId = if is_direct {
            ctx.ghosts
                .ensure(&chat.id, Some(login.session.as_ref()))
                .await?
        } else {
            ctx.matrix.bot().to_owned()
        };
        let mut invite = vec![login.mxid.clone()];
        if is_direct {
            invite.push(ctx.matrix.bot().to_owned());
        }
        let spec = RoomSpec {
            name: if is_direct { None } else { info.name.clone() },
            topic: info.topic.clone(),
            avatar: None,
            is_direct,
            invite,
            admins: Vec::new(),
            initial_state: vec![(
                "m.bridge".into(),
                format!("net.imbridge://{}/{}", ctx.connector.name(), self.key),
                json!({
                    "bridgebot": ctx.matrix.bot().as_str(),
                    "protocol": { "id": ctx.connector.name(), "displayname": ctx.connector.name() },
                    "channel": { "id": chat.id },
                    "net.imbridge.capabilities": ctx.connector.capabilities(),
                }),
            )],
        };
        let room = retry("create room", || ctx.matrix.create_room(&creator, &spec)).await?;
        self.joined.insert(creator.clone());
        let record = PortalRecord {
            key: self.key.clone(),
            room_id: room.to_string(),
            kind: format!("{:?}", chat.kind).to_lowercase(),
            name: info.name.clone(),
            topic: info.topic.clone(),
            avatar_mxc: None,
            receivers: vec![login.mxid.to_string()],
            is_direct,
            created_ms: now_ms(),
        };
        if let Err(e) = ctx.store.put_portal(&record) {
            warn!(portal = %self.key, error = %e, "portal record not saved");
        }
        if is_direct {
            let _ = retry("bot join", || ctx.matrix.join(&room, ctx.matrix.bot())).await;
        } else {
            for member in info
                .members
                .iter()
                .filter(|m| **m != login.remote_id)
                .take(INITIAL_MEMBERS)
            {
                if let Err(e) = self.ensure_ghost_in_room(login, &room, member).await {
                    debug!(member, error = %e, "member ghost not joined");
                }
            }
        }
        Ok(room)
    }

    async fn ensure_ghost_in_room(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        remote: &str,
    ) -> Result<OwnedUserId, MatrixError> {
        let ctx = self.ctx.clone();
        let ghost = ctx
            .ghosts
            .ensure(remote, Some(login.session.as_ref()))
            .await?;
        if !self.joined.contains(&ghost) {
            let joined = retry("join", || ctx.matrix.join(room, &ghost)).await;
            if joined.is_err() {
                retry("invite", || {
                    ctx.matrix.invite(room, ctx.matrix.bot(), &ghost)
                })
                .await
                .or_else(ignore_already_member)?;
                retry("join", || ctx.matrix.join(room, &ghost)).await?;
            }
            self.joined.insert(ghost.clone());
        }
        Ok(ghost)
    }

    async fn remote_message(
        &mut self,
        login: &Arc<UserLogin>,
        msg: RemoteMessage,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if ctx
            .store
            .message_by_remote(&self.key, &msg.id)
            .ok()
            .flatten()
            .is_some()
        {
            debug!(portal = %self.key, id = %msg.id, "already bridged (echo or second login)");
            return Ok(());
        }
        let room = self.ensure_room(login, &msg.chat).await?;
        let sender = self.ensure_ghost_in_room(login, &room, &msg.sender).await?;
        let mut content = self.to_matrix_content(login, &room, &msg.content).await;
        if let Some(reply) = msg.reply_to.as_deref() {
            if let Ok(Some(target)) = ctx.store.message_by_remote(&self.key, reply) {
                content["m.relates_to"] =
                    json!({ "m.in_reply_to": { "event_id": target.event_id } });
            }
        }
        if msg.from_self {
            // Until double puppeting exists, the user's own messages from another device
            // appear as their ghost, marked as such.
            content["net.imbridge.from_other_device"] = json!(true);
        }
        content["net.imbridge.remote_id"] = json!(msg.id);
        let txn = format!(
            "imb-{}-{}",
            escape_localpart(&self.key),
            escape_localpart(&msg.id)
        );
        let event_id = retry("send", || {
            ctx.matrix
                .send_event(&room, &sender, "m.room.message", &txn, &content)
        })
        .await?;
        let record = MessageRecord {
            room_id: room.to_string(),
            event_id: event_id.to_string(),
            remote_id: msg.id.clone(),
            sender: msg.sender.clone(),
            timestamp_ms: msg.timestamp_ms,
            part: 0,
        };
        if let Err(e) = ctx.store.put_message(&self.key, &record) {
            warn!(portal = %self.key, error = %e, "message mapping not saved");
        }
        Ok(())
    }

    async fn to_matrix_content(
        &self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        content: &MessageContent,
    ) -> Value {
        match content {
            MessageContent::Text { body, html, .. } => convert::text_content(body, html.as_deref()),
            MessageContent::Emote { body } => json!({ "msgtype": "m.emote", "body": body }),
            MessageContent::Location {
                latitude,
                longitude,
                description,
            } => json!({
                "msgtype": "m.location", "body": format!("📍 {description}"),
                "geo_uri": format!("geo:{latitude},{longitude}"),
            }),
            MessageContent::Media { media, caption } => {
                self.media_content(login, room, media, caption.as_deref())
                    .await
            }
            MessageContent::Unsupported { description } => convert::notice_content(&format!(
                "⚠️ Unsupported message ({description}); open the IM app to see it."
            )),
        }
    }

    async fn media_content(
        &self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        media: &super::connector::RemoteMedia,
        caption: Option<&str>,
    ) -> Value {
        let ctx = &self.ctx;
        let limit = ctx.connector.capabilities().max_media_bytes.max(1);
        let fallback = |why: String| {
            convert::notice_content(&format!(
                "⚠️ {} ({}) could not be bridged: {why}",
                media.name,
                media_kind_word(media.kind)
            ))
        };
        let bytes = match login.session.download(media, limit).await {
            Ok(b) => b,
            Err(e) => return fallback(e.to_string()),
        };
        let size = bytes.len();
        let mime = media
            .mime
            .clone()
            .unwrap_or_else(|| super::ghosts::sniff_image_mime(&bytes).to_owned());
        let uploader = ctx.matrix.bot().to_owned();
        let _ = room;
        let mxc = match ctx
            .matrix
            .upload(&uploader, bytes, &mime, &media.name)
            .await
        {
            Ok(m) => m,
            Err(e) => return fallback(e.to_string()),
        };
        let msgtype = match media.kind {
            super::connector::MediaKind::Image => "m.image",
            super::connector::MediaKind::Video => "m.video",
            super::connector::MediaKind::Audio => "m.audio",
            super::connector::MediaKind::File => "m.file",
        };
        let mut info = json!({ "mimetype": mime, "size": size });
        if let (Some(w), Some(h)) = (media.width, media.height) {
            info["w"] = json!(w);
            info["h"] = json!(h);
        }
        if let Some(d) = media.duration_ms {
            info["duration"] = json!(d);
        }
        json!({
            "msgtype": msgtype, "body": caption.unwrap_or(&media.name), "filename": media.name,
            "url": mxc.to_string(), "info": info,
        })
    }

    /// Creates the room if needed (`sync`, `pm`), then applies name / topic / member changes.
    async fn remote_info(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        change: super::connector::ChatInfoChange,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let room = self.ensure_room(login, chat).await?;
        let bot = ctx.matrix.bot().to_owned();
        if let Some(name) = &change.name {
            let content = json!({ "name": name });
            retry("name", || {
                ctx.matrix
                    .send_state(&room, &bot, "m.room.name", "", &content)
            })
            .await?;
        }
        if let Some(topic) = &change.topic {
            let content = json!({ "topic": topic });
            retry("topic", || {
                ctx.matrix
                    .send_state(&room, &bot, "m.room.topic", "", &content)
            })
            .await?;
        }
        for member in &change.members_added {
            if *member != login.remote_id {
                self.ensure_ghost_in_room(login, &room, member).await?;
            }
        }
        for member in &change.members_removed {
            let ghost = ctx.ghosts.mxid(member);
            if self.joined.remove(&ghost) {
                let _ = ctx.matrix.leave(&room, &ghost).await;
            }
        }
        Ok(())
    }

    async fn remote_remove(
        &mut self,
        _login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(record) = ctx
            .store
            .message_by_remote(&self.key, target)
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        let (Ok(room), Ok(event)) = (
            RoomId::parse(record.room_id.as_str()),
            ruma::EventId::parse(record.event_id.as_str()),
        ) else {
            return Ok(());
        };
        let ghost = ctx.ghosts.mxid(sender);
        let txn = format!("imb-redact-{}", escape_localpart(target));
        let by_ghost = retry("redact", || {
            ctx.matrix
                .redact(&room, &ghost, &event, &txn, Some("Recalled on the IM side"))
        })
        .await;
        if by_ghost.is_err() {
            retry("redact", || {
                ctx.matrix.redact(
                    &room,
                    ctx.matrix.bot(),
                    &event,
                    &txn,
                    Some("Recalled on the IM side"),
                )
            })
            .await?;
        }
        let _ = ctx.store.delete_message(&self.key, target);
        Ok(())
    }

    async fn remote_edit(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
        content: MessageContent,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(record) = ctx
            .store
            .message_by_remote(&self.key, target)
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        let Ok(room) = RoomId::parse(record.room_id.as_str()) else {
            return Ok(());
        };
        let ghost = self.ensure_ghost_in_room(login, &room, sender).await?;
        let new_content = self.to_matrix_content(login, &room, &content).await;
        let mut body = new_content.clone();
        body["body"] = json!(format!(
            "* {}",
            new_content["body"].as_str().unwrap_or_default()
        ));
        body["m.new_content"] = new_content;
        body["m.relates_to"] = json!({ "rel_type": "m.replace", "event_id": record.event_id });
        let txn = format!("imb-edit-{}-{}", escape_localpart(target), now_ms());
        retry("edit", || {
            ctx.matrix
                .send_event(&room, &ghost, "m.room.message", &txn, &body)
        })
        .await?;
        Ok(())
    }

    async fn remote_read(
        &mut self,
        _login: &Arc<UserLogin>,
        sender: &str,
        up_to: Option<&str>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(target) = up_to else { return Ok(()) };
        let Some(record) = ctx
            .store
            .message_by_remote(&self.key, target)
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        let (Ok(room), Ok(event)) = (
            RoomId::parse(record.room_id.as_str()),
            ruma::EventId::parse(record.event_id.as_str()),
        ) else {
            return Ok(());
        };
        let ghost = ctx.ghosts.mxid(sender);
        ctx.matrix.read_receipt(&room, &ghost, &event).await
    }

    async fn matrix(&mut self, event: MatrixEvent) {
        let result = match event {
            MatrixEvent::Message {
                room,
                sender,
                event_id,
                content,
                ..
            } => {
                self.matrix_message(&room, &sender, event_id.as_str(), &content)
                    .await
            }
            MatrixEvent::Redaction {
                room,
                sender,
                redacts,
                ..
            } => {
                self.matrix_redaction(&room, &sender, redacts.as_str())
                    .await
            }
            MatrixEvent::Receipt {
                room,
                user,
                event_id,
            } => self.matrix_receipt(&room, &user, event_id.as_str()).await,
            MatrixEvent::Typing { .. }
            | MatrixEvent::Reaction { .. }
            | MatrixEvent::Membership { .. } => Ok(()),
        };
        if let Err(e) = result {
            warn!(portal = %self.key, error = %e, "Matrix event not bridged");
        }
    }

    async fn matrix_message(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        event_id: &str,
        content: &Value,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if ctx
            .store
            .message_by_event(event_id)
            .ok()
            .flatten()
            .is_some()
        {
            return Ok(()); // replayed after a restart: already sent
        }
        let Some(chat) = chat_of_key(&self.key) else {
            return Ok(());
        };
        let Some(login) = ctx.login_of(sender).await else {
            let text = "⚠️ You are not logged in to the IM service, so your message was not bridged. Send `login` to the bridge bot.";
            self.notice(room, text).await;
            return Ok(());
        };
        let relates = &content["m.relates_to"];
        if relates["rel_type"] == json!("m.replace") {
            return self.matrix_edit(room, &login, &chat, content).await;
        }
        let Some(converted) = self.convert_matrix_content(content) else {
            let kind = content["msgtype"].as_str().unwrap_or("unknown");
            self.notice(
                room,
                &format!("⚠️ {kind} messages are not bridged to the IM service yet."),
            )
            .await;
            return Ok(());
        };
        let reply_to = relates["m.in_reply_to"]["event_id"]
            .as_str()
            .and_then(|id| ctx.store.message_by_event(id).ok().flatten())
            .map(|(_, record)| record.remote_id);
        match login
            .session
            .send_message(&chat, &converted, reply_to.as_deref())
            .await
        {
            Ok(remote_id) => {
                let record = MessageRecord {
                    room_id: room.to_string(),
                    event_id: event_id.to_owned(),
                    remote_id: remote_id.clone(),
                    sender: login.remote_id.clone(),
                    timestamp_ms: now_ms(),
                    part: 0,
                };
                if let Err(e) = ctx.store.put_message(&self.key, &record) {
                    warn!(portal = %self.key, error = %e, "message mapping not saved");
                }
                Ok(())
            }
            Err(e) => {
                self.notice(room, &format!("⚠️ Your message was not delivered: {e}"))
                    .await;
                Ok(())
            }
        }
    }

    async fn matrix_edit(
        &mut self,
        room: &RoomId,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        content: &Value,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let target = content["m.relates_to"]["event_id"]
            .as_str()
            .unwrap_or_default();
        let Some(remote) = ctx
            .store
            .message_by_event(target)
            .ok()
            .flatten()
            .map(|(_, r)| r.remote_id)
        else {
            return Ok(());
        };
        let new_content = content.get("m.new_content").unwrap_or(content);
        let (Some(edit), Some(converted)) = (
            login.session.as_edit(),
            self.convert_matrix_content(new_content),
        ) else {
            self.notice(room, "⚠️ Edits are not bridged to this IM service.")
                .await;
            return Ok(());
        };
        if let Err(e) = edit.edit_message(chat, &remote, &converted).await {
            self.notice(room, &format!("⚠️ Your edit was not delivered: {e}"))
                .await;
        }
        Ok(())
    }

    async fn matrix_redaction(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        redacts: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(chat) = chat_of_key(&self.key) else {
            return Ok(());
        };
        let Some(remote) = ctx
            .store
            .message_by_event(redacts)
            .ok()
            .flatten()
            .map(|(_, r)| r.remote_id)
        else {
            return Ok(());
        };
        let Some(login) = ctx.login_of(sender).await else {
            return Ok(());
        };
        match login.session.as_recall() {
            Some(recall) => {
                if let Err(e) = recall.recall_message(&chat, &remote).await {
                    self.notice(
                        room,
                        &format!("⚠️ The message could not be recalled on the IM side: {e}"),
                    )
                    .await;
                } else {
                    let _ = ctx.store.delete_message(&self.key, &remote);
                }
            }
            None => {
                self.notice(room, "⚠️ Recall is not supported by this IM service.")
                    .await
            }
        }
        Ok(())
    }

    async fn matrix_receipt(
        &mut self,
        _room: &RoomId,
        user: &UserId,
        event_id: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let (Some(chat), Some(login)) = (chat_of_key(&self.key), ctx.login_of(user).await) else {
            return Ok(());
        };
        let Some(remote) = ctx
            .store
            .message_by_event(event_id)
            .ok()
            .flatten()
            .map(|(_, r)| r.remote_id)
        else {
            return Ok(());
        };
        if let Some(receipts) = login.session.as_receipts() {
            if let Err(e) = receipts.mark_read(&chat, &remote).await {
                debug!(error = %e, "read receipt not bridged");
            }
        }
        Ok(())
    }

    /// Matrix content → network content; `None` for kinds not bridged yet.
    fn convert_matrix_content(&self, content: &Value) -> Option<MessageContent> {
        let body = content["body"].as_str().unwrap_or_default();
        let ghosts = &self.ctx.ghosts;
        let text = |body: &str| -> (String, Vec<String>) {
            match (
                content["format"].as_str(),
                content["formatted_body"].as_str(),
            ) {
                (Some("org.matrix.custom.html"), Some(html)) => {
                    let mut remotes = Vec::new();
                    let (text, _) = convert::html_to_text(html, &|mxid| {
                        let id = UserId::parse(mxid).ok()?;
                        ghosts.remote_of(&id).map(|r| format!("@{r}"))
                    });
                    for m in html.split("https://matrix.to/#/").skip(1) {
                        let mxid: String =
                            m.chars().take_while(|c| !"\"'?>".contains(*c)).collect();
                        if let Some(r) = UserId::parse(mxid.replace("%40", "@").replace("%3A", ":"))
                            .ok()
                            .and_then(|id| ghosts.remote_of(&id))
                        {
                            remotes.push(r);
                        }
                    }
                    (text, remotes)
                }
                _ => (convert::strip_reply_fallback(body).to_owned(), Vec::new()),
            }
        };
        match content["msgtype"].as_str()? {
            "m.text" | "m.notice" => {
                let (body, mentions) = text(body);
                Some(MessageContent::Text {
                    body,
                    html: None,
                    mentions,
                })
            }
            "m.emote" => Some(MessageContent::Emote { body: text(body).0 }),
            _ => None,
        }
    }

    async fn notice(&self, room: &RoomId, text: &str) {
        let ctx = &self.ctx;
        let txn = format!("imb-notice-{}", now_ms());
        if let Err(e) = ctx
            .matrix
            .send_event(
                room,
                ctx.matrix.bot(),
                "m.room.message",
                &txn,
                &convert::notice_content(text),
            )
            .await
        {
            warn!(error = %e, "notice not sent");
        }
    }
}

fn media_kind_word(kind: super::connector::MediaKind) -> &'static str {
    match kind {
        super::connector::MediaKind::Image => "image",
        super::connector::MediaKind::Video => "video",
        super::connector::MediaKind::Audio => "voice message",
        super::connector::MediaKind::File => "file",
    }
}

fn ignore_already_member(e: MatrixError) -> Result<(), MatrixError> {
    match &e {
        MatrixError::Homeserver {
            status: 403,
            message,
            ..
        } if message.contains("already in the room") || message.contains("is already joined") => {
            Ok(())
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_keys_round_trip() {
        for chat in [
            ChatId::direct("bob"),
            ChatId::group("1234"),
            ChatId {
                kind: ChatKind::Channel,
                id: "Room:1".into(),
            },
        ] {
            let key = portal_key("alice", &chat);
            assert_eq!(chat_of_key(&key), Some(chat));
        }
        assert_ne!(
            portal_key("alice", &ChatId::direct("bob")),
            portal_key("carol", &ChatId::direct("bob"))
        );
    }
}
