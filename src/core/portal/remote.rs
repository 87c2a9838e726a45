//! Remote → Matrix: portal rooms created on demand (the user invited, ghosts joined),
//! messages (deduplicated through the message map: a group message seen by two logins is
//! bridged once, our own echoes are dropped), media and chat info (recalls, edits and typing:
//! [`super::remote_ops`]).

use std::sync::Arc;

use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde_json::{json, Value};
use tracing::{debug, warn};

use super::{content_kind, ignore_already_member, retry, PortalWorker, INITIAL_MEMBERS};
use crate::core::connector::{ChatId, ChatKind, MessageContent, RemoteMessage};
use crate::core::convert;
use crate::core::double_puppet;
use crate::core::ghosts::{escape_localpart, now_ms};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::{MatrixError, RoomSpec};
use crate::metrics::Direction;
use crate::store::{GhostRecord, MessageRecord, PortalRecord};

impl PortalWorker {
    /// The Matrix room and event a remote message was bridged to, if it was.
    pub(super) async fn mapped_event(
        &self,
        remote_id: &str,
    ) -> Option<(OwnedRoomId, ruma::OwnedEventId)> {
        let record = self
            .ctx
            .store
            .message_by_remote(&self.key, remote_id)
            .await
            .ok()
            .flatten()?;
        let room = RoomId::parse(record.room_id.as_str()).ok()?;
        let event = ruma::EventId::parse(record.event_id.as_str()).ok()?;
        Some((room, event))
    }

    /// The portal's room, created (and the login's user invited) when needed.
    async fn ensure_room(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
    ) -> Result<OwnedRoomId, MatrixError> {
        let ctx = self.ctx.clone();
        if let Some(record) = self.record().await {
            if let Ok(room) = RoomId::parse(record.room_id.as_str()) {
                if record.receivers.contains(&login.mxid.to_string()) {
                    return Ok(room);
                }
                // New to this chat, or left its room: invited (again) before anything is
                // posted, so nothing is written silently into a room its user left.
                match self.invite_receiver(login, &room, chat).await {
                    Ok(()) => return Ok(room),
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => {
                        warn!(portal = %self.key, %room, error = %e,
                            "the user cannot be invited back; a new room replaces this one");
                    }
                }
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
        let (dm_name, dm_avatar) = match is_direct {
            true => self.dm_meta().await.unwrap_or_default(),
            false => (None, None),
        };
        // A chat in a space chat: the space's room first, named as this room's parent.
        let space = match &info.parent {
            Some(parent) => super::space_rooms::ensure_space(&ctx, login, parent).await,
            None => None,
        };
        let mut initial_state = vec![
            super::bridge_state(&ctx, &self.key, chat),
            crate::core::room_features::initial_state(&ctx, &self.key, is_direct).await,
        ];
        if let Some(space) = &space {
            initial_state.push(super::space_rooms::parent_state(&ctx, space));
        }
        let spec = RoomSpec {
            name: if is_direct {
                dm_name.clone()
            } else {
                info.name.clone()
            },
            topic: info.topic.clone(),
            avatar: dm_avatar.clone(),
            is_direct,
            invite,
            admins: Vec::new(),
            levels: if is_direct {
                Vec::new()
            } else {
                self.group_levels(login, &info)
            },
            initial_state,
            room_type: super::space_rooms::room_type(&info),
        };
        let room = retry("create room", || ctx.matrix.create_room(&creator, &spec)).await?;
        // A new room: only its creator is in it so far.
        self.joined.clear();
        self.joined.insert(creator.clone());
        self.room = Some(room.to_string());
        let record = PortalRecord {
            key: self.key.clone(),
            room_id: room.to_string(),
            kind: format!("{:?}", chat.kind).to_lowercase(),
            name: if is_direct {
                dm_name
            } else {
                info.name.clone()
            },
            topic: info.topic.clone(),
            avatar_mxc: dm_avatar.map(|a| a.to_string()),
            receivers: vec![login.mxid.to_string()],
            is_direct,
            created_ms: now_ms(),
        };
        if let Err(e) = ctx.store.put_portal(&record).await {
            warn!(portal = %self.key, error = %e, "portal record not saved");
        }
        if let Some(space) = &space {
            super::space_rooms::add_child(&ctx, space, &room).await;
        }
        if is_direct {
            let _ = retry("bot join", || ctx.matrix.join(&room, ctx.matrix.bot())).await;
            let (ctx, login, peer) = (ctx.clone(), login.clone(), chat.id.clone());
            tokio::spawn(async move {
                crate::core::presence::dm_opened(&ctx, &login, &peer).await;
            });
        } else {
            if let Err(e) = self.open_group_roles(&room, login, &info).await {
                warn!(portal = %self.key, %room, error = %e, "group roles not set on the room");
            }
            // A channel's crowd comes and goes: its ghosts join when they speak. A space
            // carries no messages: its members' ghosts stay in its child rooms.
            let initial = match chat.kind {
                ChatKind::Channel => 0,
                _ if info.is_space => 0,
                _ => INITIAL_MEMBERS,
            };
            for member in info
                .members
                .iter()
                .filter(|m| **m != login.remote_id)
                .take(initial)
            {
                if let Err(e) = self.ensure_ghost_in_room(login, &room, member).await {
                    debug!(member, error = %e, "member ghost not joined");
                }
            }
        }
        self.backfill_pending = true;
        crate::core::spaces::add_portal(&ctx, login, &room).await;
        Ok(room)
    }

    /// The real Matrix user to show the login's own actions as (double puppeting), joined to
    /// the room through their puppet; `None` when double puppeting is off or the join failed,
    /// and the user's ghost stands in.
    pub(super) async fn own_puppet(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
    ) -> Option<OwnedUserId> {
        let ctx = self.ctx.clone();
        let user = login.mxid.clone();
        if !double_puppet::is_on(&ctx, &user) {
            return None;
        }
        if !self.joined.contains(&user) {
            if let Err(e) = retry("join", || ctx.matrix.join(room, &user)).await {
                debug!(%user, error = %e, "double puppet could not join the portal");
                return None;
            }
            self.joined.insert(user.clone());
        }
        Some(user)
    }

    /// Who shows `sender`'s action in the room: the real user for the login's own actions when
    /// double puppeting is on (with `true`), else the sender's ghost.
    pub(super) async fn actor(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        sender: &str,
    ) -> Result<(OwnedUserId, bool), MatrixError> {
        if sender == login.remote_id {
            if let Some(user) = self.own_puppet(login, room).await {
                return Ok((user, true));
            }
        }
        Ok((self.ensure_ghost_in_room(login, room, sender).await?, false))
    }

    pub(super) async fn ensure_ghost_in_room(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        remote: &str,
    ) -> Result<OwnedUserId, MatrixError> {
        self.ghost_in_room(login, room, remote)
            .await
            .map(|(ghost, _)| ghost)
    }

    /// [`Self::ensure_ghost_in_room`], also giving the ghost's record.
    pub(super) async fn ghost_in_room(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        remote: &str,
    ) -> Result<(OwnedUserId, GhostRecord), MatrixError> {
        let ctx = self.ctx.clone();
        let (ghost, record) = ctx
            .ghosts
            .ensure_record(remote, Some(login.session.as_ref()))
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
        Ok((ghost, record))
    }

    pub(super) async fn remote_message(
        &mut self,
        login: &Arc<UserLogin>,
        msg: RemoteMessage,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if ctx
            .store
            .message_by_remote(&self.key, &msg.id)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            debug!(portal = %self.key, id = %msg.id, "already bridged (echo or second login)");
            // A second login in the same group is one of the portal's receivers too: its
            // user is invited (once; `ensure_room` returns at once for a receiver).
            if msg.chat.kind != ChatKind::Direct && self.record().await.is_some() {
                self.ensure_room(login, &msg.chat).await?;
            }
            return Ok(());
        }
        let room = self.ensure_room(login, &msg.chat).await?;
        if std::mem::take(&mut self.backfill_pending) {
            // A new room: its history first, then this message (not twice).
            self.backfill(login, &msg.chat, Some(&msg)).await;
        }
        let (sender, puppeted) = if msg.from_self {
            self.actor(login, &room, &login.remote_id.clone()).await?
        } else {
            let (ghost, record) = self.ghost_in_room(login, &room, &msg.sender).await?;
            if msg.chat.kind == ChatKind::Direct {
                self.sync_dm_meta(&room, &record).await;
            }
            (ghost, false)
        };
        let mut content = self.to_matrix_content(login, &room, &msg.content).await;
        let reply_event = match msg.reply_to.as_deref() {
            Some(reply) => self.message_named(reply).await.map(|t| t.event_id),
            None => None,
        };
        let thread = match msg.thread_root.as_deref() {
            Some(root) => self.thread_relation(root, reply_event.as_deref()).await,
            None => None,
        };
        if let Some(relation) = thread.clone() {
            content["m.relates_to"] = relation;
        } else if let Some(event) = &reply_event {
            content["m.relates_to"] = json!({ "m.in_reply_to": { "event_id": event } });
        }
        if puppeted {
            double_puppet::mark(&mut content);
        } else if msg.from_self {
            // Without double puppeting the user's own messages from another device appear as
            // their ghost, marked as such.
            content["net.imbridge.from_other_device"] = json!(true);
        }
        content["net.imbridge.remote_id"] = json!(msg.id);
        convert::merge_extra(&mut content, &msg.extra);
        let txn = format!(
            "imb-{}-{}",
            escape_localpart(&self.key),
            escape_localpart(&msg.id)
        );
        // Dated as on the IM side (appservice timestamp massaging), which matters for history.
        let event_id = retry("send", || {
            ctx.matrix.send_event_at(
                &room,
                &sender,
                "m.room.message",
                &txn,
                &content,
                msg.timestamp_ms,
            )
        })
        .await?;
        let record = MessageRecord {
            room_id: room.to_string(),
            event_id: event_id.to_string(),
            remote_id: msg.id.clone(),
            sender: msg.sender.clone(),
            timestamp_ms: msg.timestamp_ms,
            part: 0,
            edit_count: msg.edit_count,
            alt_id: msg.alt_id.clone(),
        };
        if let Some(alt_id) = &msg.alt_id {
            self.remember_alt_id(alt_id, &msg.id).await;
        }
        if let Err(e) = ctx.store.put_message(&self.key, &record).await {
            warn!(portal = %self.key, error = %e, "message mapping not saved");
        }
        if let (Some(root), Some(_)) = (msg.thread_root.as_deref(), thread) {
            self.thread_advanced(root, None, event_id.as_str()).await;
            self.thread_messages(root, std::slice::from_ref(&msg.id))
                .await;
        }
        ctx.metrics
            .bridged(Direction::ToMatrix, content_kind(&msg.content));
        Ok(())
    }

    pub(super) async fn to_matrix_content(
        &self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        content: &MessageContent,
    ) -> Value {
        match content {
            MessageContent::Text {
                body,
                html,
                mentions,
                mentions_room,
            } => {
                if mentions.is_empty() && !mentions_room {
                    convert::text_content(body, html.as_deref())
                } else {
                    let mentions = self.mentions_of(login, mentions).await;
                    convert::text_with_mentions(body, html.as_deref(), &mentions, *mentions_room)
                }
            }
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
            MessageContent::Notice { body } => convert::notice_content(body),
            MessageContent::Unsupported { description } => convert::notice_content(&format!(
                "⚠️ Unsupported message ({description}); open the IM app to see it."
            )),
        }
    }

    /// The Matrix users behind mentioned remote ids: the logged-in user for their own IM id,
    /// ghosts for everyone else, shown by their display names.
    async fn mentions_of(
        &self,
        login: &Arc<UserLogin>,
        remote_ids: &[String],
    ) -> Vec<convert::Mention> {
        let mut out = Vec::with_capacity(remote_ids.len());
        for id in remote_ids {
            if *id == login.remote_id {
                out.push(convert::Mention {
                    remote_id: id.clone(),
                    mxid: login.mxid.to_string(),
                    display_name: login.mxid.localpart().to_owned(),
                });
            } else {
                let ghost = self.ctx.store.get_ghost(id).await.ok().flatten();
                out.push(convert::Mention {
                    remote_id: id.clone(),
                    mxid: self.ctx.ghosts.mxid(id).to_string(),
                    display_name: ghost.and_then(|g| g.displayname).unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Creates the room if needed (`sync`, `pm`), then applies name / topic / role / owner /
    /// announcement / member changes; `sender` is who made them, when the network tells.
    pub(super) async fn remote_info(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        sender: Option<&str>,
        change: crate::core::connector::ChatInfoChange,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let room = self.ensure_room(login, chat).await?;
        if std::mem::take(&mut self.backfill_pending) {
            self.backfill(login, chat, None).await;
        }
        let bot = ctx.matrix.bot().to_owned();
        // The network also reports changes made from Matrix: what the room shows already is
        // not set again.
        let name = match change.name {
            Some(name) if !self.room_text_is(&room, "m.room.name", "name", &name).await => {
                Some(name)
            }
            _ => None,
        };
        let topic = match change.topic {
            Some(topic)
                if !self
                    .room_text_is(&room, "m.room.topic", "topic", &topic)
                    .await =>
            {
                Some(topic)
            }
            _ => None,
        };
        if let Some(name) = &name {
            let content = json!({ "name": name });
            retry("name", || {
                ctx.matrix
                    .send_state(&room, &bot, "m.room.name", "", &content)
            })
            .await?;
        }
        if let Some(topic) = &topic {
            let content = json!({ "topic": topic });
            retry("topic", || {
                ctx.matrix
                    .send_state(&room, &bot, "m.room.topic", "", &content)
            })
            .await?;
        }
        let levels = self
            .remote_admins(&room, login, &change.admins_added, &change.admins_removed)
            .await?;
        if !levels.is_empty() {
            self.set_power_levels(&room, &levels).await?;
        }
        self.remote_mutes(&room, login, &change.muted_added, &change.muted_removed)
            .await?;
        for member in &change.members_added {
            if *member != login.remote_id {
                self.ensure_ghost_in_room(login, &room, member).await?;
            }
        }
        if let Some(owner) = &change.owner {
            self.remote_owner(login, &room, owner).await?;
        }
        if let Some(text) = &change.announcement {
            self.remote_announcement(login, &room, sender, text).await?;
        }
        self.remote_bans(
            login,
            &room,
            sender,
            &change.members_banned,
            &change.members_unbanned,
            change.reason.as_deref(),
        )
        .await;
        self.remote_members_removed(
            login,
            &room,
            sender,
            &change.members_removed,
            change.reason.as_deref(),
        )
        .await
    }
}
