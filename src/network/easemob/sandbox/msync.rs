//! One msync websocket connection in the sandbox, read top to bottom: upgrade, Provision
//! (auth, device limits, kicks, LZ4), then a loop over client frames (UNREAD, SYNC send/pull/ack)
//! and commands from the shared state (NOTICE, kick). Every server frame is binary and every DL
//! carries a `status` (reference §5.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use prost::Message as _;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::chat::{handle_chat, Refusal, Sender};
use super::state::{now_ms, ConnCommand, Device, LiveConn, Sandbox};
use crate::network::easemob::compression::{FrameCompressor, FrameDecompressor};
use crate::network::easemob::jid;
use crate::network::easemob::proto::{
    m_sync, meta, muc_body, provision, statistics_body, status, CommNotice, CommSyncDl, CommSyncUl,
    CommUnreadDl, Jid, MSync, Meta, MetaQueue, MucBody, Provision, StatisticsBody, Status,
};

/// Largest frame the sandbox accepts from a client.
const MAX_FRAME: usize = 1 << 20;
/// A connection silent for this long is dropped (the SDK heartbeats every 30–60 s).
const IDLE_LIMIT: Duration = Duration::from_secs(180);

/// `GET /websocket`.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    ws.read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let mut conn = Connection::new(sandbox, socket, peer);
            conn.run().await;
            conn.unregister();
        })
}

struct Bound {
    user: String,
    resource: String,
    conn_id: u64,
    commands: mpsc::UnboundedReceiver<ConnCommand>,
}

struct Connection {
    sandbox: Arc<Sandbox>,
    socket: WebSocket,
    peer: SocketAddr,
    bound: Option<Bound>,
    /// Decodes what the client compressed.
    uplink: Option<FrameDecompressor>,
    /// Compresses what we send.
    downlink: Option<FrameCompressor>,
}

/// Why a connection loop stopped.
enum Stop {
    Closed,
    Error(String),
}

impl Connection {
    fn new(sandbox: Arc<Sandbox>, socket: WebSocket, peer: SocketAddr) -> Self {
        Self {
            sandbox,
            socket,
            peer,
            bound: None,
            uplink: None,
            downlink: None,
        }
    }

    async fn run(&mut self) {
        match self.serve().await {
            Stop::Closed => {
                debug!(peer = %self.peer, "msync connection closed");
                let _ = self.socket.send(Message::Close(None)).await;
            }
            Stop::Error(e) => info!(peer = %self.peer, error = %e, "msync connection dropped"),
        }
    }

    async fn serve(&mut self) -> Stop {
        loop {
            let command = async {
                match self.bound.as_mut() {
                    Some(b) => b.commands.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = tokio::time::timeout(IDLE_LIMIT, self.socket.recv()) => {
                    let data = match frame {
                        Err(_) => return Stop::Error("idle timeout".into()),
                        Ok(None) | Ok(Some(Ok(Message::Close(_)))) => return Stop::Closed,
                        Ok(Some(Err(e))) => return Stop::Error(e.to_string()),
                        Ok(Some(Ok(Message::Binary(b)))) => b,
                        Ok(Some(Ok(_))) => continue, // text, ping, pong
                    };
                    if let Err(stop) = self.on_frame(&data).await {
                        return stop;
                    }
                }
                cmd = command => match cmd {
                    Some(ConnCommand::Notice(queue)) => {
                        let notice = CommNotice { queue: Some(queue) };
                        if let Err(stop) = self.send(m_sync::Command::Notice, notice.encode_to_vec()).await {
                            return stop;
                        }
                    }
                    Some(ConnCommand::Kick { operation, reason }) => {
                        let _ = self.send_kick(operation, &reason).await;
                        return Stop::Closed;
                    }
                    Some(ConnCommand::Drop) => return Stop::Error("dropped on purpose".into()),
                    None => return Stop::Closed, // replaced by a newer connection of the same device
                }
            }
        }
    }

    fn unregister(&mut self) {
        let Some(b) = &self.bound else { return };
        let mut inner = self.sandbox.lock();
        let key = (b.user.clone(), b.resource.clone());
        if inner.live.get(&key).is_some_and(|c| c.conn_id == b.conn_id) {
            inner.live.remove(&key);
            let app_key = self.sandbox.cfg.app_key.clone();
            super::presence::notify_subscribers(&mut inner, &app_key, &b.user);
            super::chatrooms::drop_offline_member(&mut inner, &app_key, &b.user);
        }
    }

    async fn send(&mut self, command: m_sync::Command, payload: Vec<u8>) -> Result<(), Stop> {
        let msync = MSync {
            command: Some(command as i32),
            payload: Some(payload),
            ..Default::default()
        };
        let bytes = msync.encode_to_vec();
        let bytes = match self.downlink.as_mut() {
            Some(c) => c.compress(&bytes),
            None => bytes,
        };
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|e| Stop::Error(e.to_string()))
    }

    async fn send_dl(&mut self, dl: CommSyncDl) -> Result<(), Stop> {
        self.send(m_sync::Command::Sync, dl.encode_to_vec()).await
    }

    async fn on_frame(&mut self, data: &[u8]) -> Result<(), Stop> {
        let plain;
        let bytes = match self.uplink.as_mut() {
            Some(d) => {
                plain = d
                    .decompress(data)
                    .map_err(|e| Stop::Error(format!("bad compressed frame: {e}")))?;
                &plain[..]
            }
            None => data,
        };
        let msync = match MSync::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!(peer = %self.peer, error = %e, "undecodable frame skipped");
                return Ok(());
            }
        };
        let payload = msync.payload.clone().unwrap_or_default();
        let command = m_sync::Command::try_from(msync.command.unwrap_or(0));
        if self.bound.is_none() {
            return match command {
                Ok(m_sync::Command::Provision) => self.on_provision(&msync, &payload).await,
                _ => Err(Stop::Error("first frame is not a PROVISION".into())),
            };
        }
        match command {
            Ok(m_sync::Command::Unread) => self.on_unread().await,
            Ok(m_sync::Command::Sync) => match CommSyncUl::decode(payload.as_slice()) {
                Ok(ul) => self.on_sync(ul).await,
                Err(e) => {
                    warn!(error = %e, "undecodable SYNC skipped");
                    Ok(())
                }
            },
            Ok(m_sync::Command::Logout) => Err(Stop::Closed),
            Ok(m_sync::Command::Provision) => Ok(()), // already logged in
            _ => Ok(()),
        }
    }

    async fn on_provision(&mut self, msync: &MSync, payload: &[u8]) -> Result<(), Stop> {
        let p = Provision::decode(payload).map_err(|e| Stop::Error(e.to_string()))?;
        let guid = msync.guid.clone().unwrap_or_default();
        let user = guid.name.clone().unwrap_or_default();
        let resource = p
            .resource
            .clone()
            .or(guid.client_resource.clone())
            .unwrap_or_else(|| format!("anon_{}", now_ms()));
        let token = msync
            .auth
            .clone()
            .or_else(|| {
                p.auth_token
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                    .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        let os_type = p.os_type.unwrap_or(provision::OsType::OsOther as i32);
        let verdict = self.admit(&guid, &user, &resource, &token, os_type, &p);
        let reply = match verdict {
            Err((code, reason)) => {
                info!(%user, reason, "provision refused");
                Provision {
                    status: Some(Status {
                        error_code: Some(code),
                        reason: Some(reason.to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
            Ok(expires_at) => {
                info!(%user, %resource, "device logged in");
                let lz4 = p
                    .protocol_compress_type
                    .contains(&(provision::CompressType::CompressLz4 as i32));
                let dir = self.sandbox.cfg.compression;
                let mut reply = Provision {
                    status: Some(Status {
                        error_code: Some(0),
                        ..Default::default()
                    }),
                    resource: Some(resource.clone()),
                    auth_token: Some(format!("{{\"expires_in\":{expires_at}}}")),
                    ..Default::default()
                };
                if let (true, Some(dir)) = (lz4, dir) {
                    reply.protocol_compress_type =
                        vec![provision::CompressType::CompressLz4 as i32];
                    reply.protocol_compress_direction = Some(dir as i32);
                }
                reply
            }
        };
        let ok = verdict.is_ok();
        self.send(m_sync::Command::Provision, reply.encode_to_vec())
            .await?;
        if ok {
            use provision::CompressDirection as D;
            if let Some(dir) = reply.protocol_compress_direction {
                self.sandbox
                    .lz4_connections
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if dir == D::OnlyUp as i32 || dir == D::Bi as i32 {
                    self.uplink = Some(FrameDecompressor::new());
                }
                if dir == D::OnlyDown as i32 || dir == D::Bi as i32 {
                    self.downlink = Some(FrameCompressor::new());
                }
            }
            Ok(())
        } else {
            // Give the client a moment to read the refusal, then close.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(Stop::Closed)
        }
    }

    /// Checks the login and registers the connection; returns the token's expiry.
    fn admit(
        &mut self,
        guid: &Jid,
        user: &str,
        resource: &str,
        token: &str,
        os_type: i32,
        p: &Provision,
    ) -> Result<u64, (i32, &'static str)> {
        const FAIL: i32 = status::ErrorCode::Fail as i32;
        let cfg = &self.sandbox.cfg;
        let mut inner = self.sandbox.lock();
        if guid.app_key.as_deref() != Some(cfg.app_key.as_str()) {
            return Err((FAIL, "Sorry, user not found"));
        }
        if !inner.data.users.contains_key(user) {
            return Err((FAIL, "Sorry, user not found"));
        }
        let bare = token.strip_prefix("$t$").unwrap_or(token);
        let info = inner.data.tokens.get(bare).cloned();
        let expires_at = match info {
            Some(t) if t.user == user && t.expires_at > now_ms() => t.expires_at,
            Some(t) if t.user == user => return Err((FAIL, "Sorry, token expired")),
            _ => return Err((FAIL, "Sorry, token or password does not match login info")),
        };
        // The same device reconnecting replaces its old connection silently.
        inner.live.remove(&(user.to_owned(), resource.to_owned()));
        let mut same_platform: Vec<(u64, String)> = inner
            .live
            .iter()
            .filter(|((u, _), c)| u == user && c.os_type == os_type)
            .map(|((_, r), c)| (c.since, r.clone()))
            .collect();
        same_platform.sort();
        let excess = (same_platform.len() + 1).saturating_sub(cfg.max_devices_per_platform);
        let custom_ext = p.reason.clone().unwrap_or_default();
        for (_, old) in same_platform.into_iter().take(excess) {
            let op = statistics_body::Operation::UserLoginAnotherDevice as i32;
            inner.kick(user, Some(&old), op, &custom_ext);
            inner.live.remove(&(user.to_owned(), old));
        }
        let total = inner.live.keys().filter(|(u, _)| u == user).count();
        if total >= cfg.max_devices {
            return Err((status::ErrorCode::TooManyDevices as i32, "too many devices"));
        }
        let conn_id = inner.next_conn_id();
        let (tx, rx) = mpsc::unbounded_channel();
        inner.live.insert(
            (user.to_owned(), resource.to_owned()),
            LiveConn {
                conn_id,
                os_type,
                since: now_ms(),
                tx,
            },
        );
        if let Some(u) = inner.data.users.get_mut(user) {
            let first_device = u.devices.is_empty();
            let device = u
                .devices
                .entry(resource.to_owned())
                .or_insert_with(Device::default);
            device.os_type = os_type;
            device.last_login = now_ms();
            if first_device {
                device.queues = std::mem::take(&mut u.unclaimed);
            }
        }
        super::presence::notify_subscribers(&mut inner, &cfg.app_key, user);
        drop(inner);
        self.sandbox.touch();
        self.bound = Some(Bound {
            user: user.to_owned(),
            resource: resource.to_owned(),
            conn_id,
            commands: rx,
        });
        Ok(expires_at)
    }

    fn who(&self) -> (String, String) {
        self.bound
            .as_ref()
            .map(|b| (b.user.clone(), b.resource.clone()))
            .unwrap_or_default()
    }

    async fn on_unread(&mut self) -> Result<(), Stop> {
        let (user, resource) = self.who();
        let unread: Vec<MetaQueue> = {
            let inner = self.sandbox.lock();
            inner
                .data
                .users
                .get(&user)
                .and_then(|u| u.devices.get(&resource))
                .map(|d| {
                    d.queues
                        .iter()
                        .filter(|(_, q)| !q.is_empty())
                        .map(|(key, q)| MetaQueue {
                            queue: Some(queue_jid(&self.sandbox.cfg.app_key, key)),
                            n: Some(q.len() as u32),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let dl = CommUnreadDl {
            status: Some(ok_status()),
            unread,
            timestamp: Some(now_ms()),
        };
        self.send(m_sync::Command::Unread, dl.encode_to_vec()).await
    }

    async fn on_sync(&mut self, ul: CommSyncUl) -> Result<(), Stop> {
        if let Some(meta) = ul.meta {
            return self.on_meta(meta).await;
        }
        let Some(queue) = ul.queue else {
            return Ok(());
        };
        let (user, resource) = self.who();
        let key = jid::text_form(&queue);
        let batch: Vec<Meta> = {
            let mut inner = self.sandbox.lock();
            let pending = inner
                .data
                .users
                .get_mut(&user)
                .and_then(|u| u.devices.get_mut(&resource))
                .and_then(|d| d.queues.get_mut(&key));
            match pending {
                None => Vec::new(),
                Some(items) => {
                    if let Some(acked) = ul.key {
                        while items.front().is_some_and(|m| m.id <= acked) {
                            items.pop_front();
                        }
                    }
                    items
                        .iter()
                        .take(self.sandbox.cfg.pull_batch)
                        .filter_map(|m| Meta::decode(m.meta.as_slice()).ok())
                        .collect()
                }
            }
        };
        if ul.key.is_some() {
            self.sandbox.touch();
        }
        let mut queue = queue;
        queue.app_key = Some(self.sandbox.cfg.app_key.clone());
        let dl = if batch.is_empty() {
            CommSyncDl {
                status: Some(ok_status()),
                queue: Some(queue),
                is_last: Some(true),
                timestamp: Some(now_ms()),
                ..Default::default()
            }
        } else {
            CommSyncDl {
                status: Some(ok_status()),
                queue: Some(queue),
                next_key: batch.last().and_then(|m| m.id),
                metas: batch,
                timestamp: Some(now_ms()),
                ..Default::default()
            }
        };
        self.send_dl(dl).await
    }

    async fn on_meta(&mut self, meta: Meta) -> Result<(), Stop> {
        let meta_id = meta.id.unwrap_or(0);
        let (user, resource) = self.who();
        let sender = Sender {
            user: &user,
            resource: &resource,
        };
        let result = match meta::NameSpace::try_from(meta.ns.unwrap_or(0)) {
            Ok(meta::NameSpace::Chat) => {
                let mut inner = self.sandbox.lock();
                handle_chat(&mut inner, &self.sandbox.cfg, &sender, &meta)
            }
            Ok(meta::NameSpace::Muc) => self.on_muc(&sender, &meta),
            _ => Ok(Default::default()),
        };
        self.sandbox.touch();
        if result.is_ok() && self.sandbox.withholds_ack_of(&meta) {
            debug!(meta_id, "message taken; its ack withheld (fault injection)");
            return Ok(());
        }
        let dl = match result {
            Ok(acc) => CommSyncDl {
                status: Some(ok_status()),
                meta_id: Some(meta_id),
                server_id: Some(acc.server_id),
                timestamp: Some(acc.timestamp.max(1)),
                metas: acc.metas,
                ..Default::default()
            },
            Err(Refusal { code, reason }) => CommSyncDl {
                status: Some(Status {
                    error_code: Some(code),
                    reason: Some(reason),
                    ..Default::default()
                }),
                meta_id: Some(meta_id),
                timestamp: Some(now_ms()),
                ..Default::default()
            },
        };
        self.send_dl(dl).await
    }

    /// Chat room join / leave over the socket (reference §3.9).
    fn on_muc(&self, sender: &Sender<'_>, meta: &Meta) -> Result<super::chat::Accepted, Refusal> {
        let fail = |reason: &str| Refusal {
            code: status::ErrorCode::Fail as i32,
            reason: reason.to_owned(),
        };
        let body = MucBody::decode(meta.payload.as_deref().unwrap_or_default())
            .map_err(|_| fail("Sorry, format is incorrect"))?;
        let room = body
            .muc_id
            .as_ref()
            .and_then(|j| j.name.clone())
            .unwrap_or_default();
        let op = body.operation.unwrap_or(0);
        let app_key = &self.sandbox.cfg.app_key;
        let mut inner = self.sandbox.lock();
        let server_id = inner.next_id();
        let group = inner
            .data
            .groups
            .get_mut(&room)
            .filter(|g| g.is_chatroom)
            .ok_or_else(|| fail(&format!("grpID {room} does not exist!")))?;
        // Joining a room one is in, or leaving one one is not in, changes nothing and tells
        // nobody.
        let (presence, changed) = if op == muc_body::Operation::Join as i32 {
            let changed = group.members.insert(sender.user.to_owned());
            (muc_body::Operation::Presence, changed)
        } else if op == muc_body::Operation::Leave as i32 {
            let changed = group.members.remove(sender.user);
            (muc_body::Operation::Absence, changed)
        } else {
            return Err(fail("Sorry, edit is not available"));
        };
        let info = serde_json::json!({ sender.user: {
            "is_all_mute": false, "create_timestamp": group.created, "is_in_white_list": false,
            "member_count": group.members.len(), "mute_duration": 0,
        }});
        if changed {
            super::chatrooms::announce(&mut inner, app_key, &room, sender.user, presence);
        }
        let ack_meta = Meta {
            ns: Some(meta::NameSpace::Muc as i32),
            payload: Some(
                MucBody {
                    muc_id: body.muc_id.clone(),
                    operation: Some(op),
                    is_chatroom: Some(true),
                    status: Some(muc_body::Status {
                        error_code: Some(0),
                        chatroom_info: Some(info.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            ..Default::default()
        };
        Ok(super::chat::Accepted {
            server_id,
            timestamp: now_ms(),
            metas: vec![ack_meta],
        })
    }

    async fn send_kick(&mut self, operation: i32, reason: &str) -> Result<(), Stop> {
        let (user, resource) = self.who();
        info!(%user, %resource, operation, "device kicked");
        let body = StatisticsBody {
            operation: Some(operation),
            reason: Some(reason.to_owned()),
            ..Default::default()
        };
        let mut own = self.sandbox.user_jid(&user);
        own.client_resource = Some(resource);
        let dl = CommSyncDl {
            status: Some(ok_status()),
            metas: vec![Meta {
                id: Some(self.sandbox.lock().next_id()),
                ns: Some(meta::NameSpace::Statistic as i32),
                timestamp: Some(now_ms()),
                payload: Some(body.encode_to_vec()),
                ..Default::default()
            }],
            queue: Some(own),
            is_last: Some(true),
            timestamp: Some(now_ms()),
            ..Default::default()
        };
        self.send_dl(dl).await
    }
}

fn ok_status() -> Status {
    Status {
        error_code: Some(0),
        ..Default::default()
    }
}

/// The JID of a queue from its text key (`name@domain`).
fn queue_jid(app_key: &str, key: &str) -> Jid {
    let (name, domain) = key.split_once('@').unwrap_or((key, jid::USER_DOMAIN));
    Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(name.to_owned()),
        domain: Some(domain.to_owned()),
        client_resource: None,
    }
}
