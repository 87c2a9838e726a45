//! The Tencent Cloud Chat client: a thin tokio task that moves frames between a websocket
//! and the sans-I/O [`Session`], reconnects with jittered backoff (sends wait in the
//! session's outbox meanwhile), and hands send results back to callers and events to the
//! owner.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{debug, info, warn};

use super::elem::Elem;
use super::session::topics;
use super::session::{
    EndReason, GroupAt, Output, SendError, SendReceipt, Session, SessionConfig, SessionEvent,
    Target, SDK_VERSION,
};
use crate::network::websocket::{self, WsStream};

/// Where and who.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server, e.g. `ws://127.0.0.1:18090` or `wss://wss.im.qcloud.com`; `/binfo?…` is
    /// appended (the connection URL of reference §A1).
    pub server: String,
    /// Session settings (SDKAppID, identifier, UserSig, timings).
    pub session: SessionConfig,
    /// Smallest and largest reconnect delay.
    pub backoff: (Duration, Duration),
}

impl ClientConfig {
    /// A config with the default backoff (1 s … 60 s).
    pub fn new(server: &str, session: SessionConfig) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            session,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
        }
    }
}

/// Connection state, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// Lost; reconnecting (with the reason).
    Reconnecting(String),
    Ended(EndReason),
}

enum Command {
    Send {
        to: Target,
        elems: Vec<Elem>,
        cloud_custom_data: String,
        reply: oneshot::Sender<Result<SendReceipt, SendError>>,
    },
    Call {
        servcmd: String,
        body: serde_json::Value,
        reply: oneshot::Sender<Result<serde_json::Value, SendError>>,
    },
    /// Join (`true`) or leave a live room.
    Live {
        group_id: String,
        join: bool,
        reply: oneshot::Sender<Result<serde_json::Value, SendError>>,
    },
    SetUserSig(String),
    AckPush(u64),
    PushNotStored(u64),
    Logout(oneshot::Sender<()>),
}

/// A handle on a running client task. Dropping every handle closes the connection.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<LinkState>,
    /// Who and where, for uploads and downloads ([`super::cos`]).
    media: std::sync::Arc<super::cos::MediaContext>,
}

impl Client {
    /// Starts the task; events (messages, logins, the end) arrive on the returned receiver.
    /// Send results are not repeated there: they are the return value of the send calls.
    pub fn start(cfg: ClientConfig) -> (Client, mpsc::Receiver<SessionEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let seed = rand::rng().random();
        let session = Session::new(cfg.session.clone(), Instant::now(), seed);
        let instance_id = format!("{:032x}", rand::rng().random::<u128>());
        let media = std::sync::Arc::new(super::cos::MediaContext::new(
            &cfg.server,
            cfg.session.sdk_app_id,
            &cfg.session.identifier,
            cfg.session.platform,
        ));
        let driver = Driver {
            cfg,
            session,
            instance_id,
            commands: cmd_rx,
            events: ev_tx,
            state: state_tx,
            waiting: HashMap::new(),
            calls: HashMap::new(),
            attempt: 0,
        };
        tokio::spawn(Box::new(driver).run());
        (
            Client {
                commands: cmd_tx,
                state: state_rx,
                media,
            },
            ev_rx,
        )
    }

    /// Sends a C2C text message to `to`; resolves with the server's `MsgSeq`/`MsgKey`/`MsgTime`.
    pub async fn send_c2c_text(&self, to: &str, text: &str) -> Result<SendReceipt, SendError> {
        self.send_c2c(to, vec![Elem::text(text)]).await
    }

    /// Sends a C2C message made of `elems` to `to`.
    pub async fn send_c2c(&self, to: &str, elems: Vec<Elem>) -> Result<SendReceipt, SendError> {
        self.send_c2c_with(to, elems, String::new()).await
    }

    /// Sends a C2C message with `CloudCustomData` (a reply's quote:
    /// [`super::session::ops::reply_data`]).
    pub async fn send_c2c_with(
        &self,
        to: &str,
        elems: Vec<Elem>,
        cloud_custom_data: String,
    ) -> Result<SendReceipt, SendError> {
        self.send_to(Target::C2c(to.to_owned()), elems, cloud_custom_data)
            .await
    }

    /// Sends a group message made of `elems` to `group_id`, mentioning `mentions`; the
    /// receipt's `msg_seq` is the group's `MsgSeq`.
    pub async fn send_group(
        &self,
        group_id: &str,
        elems: Vec<Elem>,
        mentions: Vec<GroupAt>,
    ) -> Result<SendReceipt, SendError> {
        let to = Target::Group {
            group_id: group_id.to_owned(),
            mentions,
        };
        self.send_to(to, elems, String::new()).await
    }

    async fn send_to(
        &self,
        to: Target,
        elems: Vec<Elem>,
        cloud_custom_data: String,
    ) -> Result<SendReceipt, SendError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Send {
            to,
            elems,
            cloud_custom_data,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Sends request `servcmd` with `body` and resolves with the reply body (only while
    /// logged in; not retried over a reconnect).
    pub async fn call(
        &self,
        servcmd: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, SendError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Call {
            servcmd: servcmd.to_owned(),
            body,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Who and where this client is, for [`super::cos`].
    pub(super) fn media_context(&self) -> &super::cos::MediaContext {
        &self.media
    }

    /// Joins live room (`AVChatRoom`) `group_id` and polls it; its messages arrive as
    /// [`SessionEvent::LiveMessage`]. The room is joined again after every reconnect.
    pub async fn join_live(&self, group_id: &str) -> Result<(), SendError> {
        self.live(group_id, true).await
    }

    /// Leaves live room `group_id`.
    pub async fn leave_live(&self, group_id: &str) -> Result<(), SendError> {
        self.live(group_id, false).await
    }

    async fn live(&self, group_id: &str, join: bool) -> Result<(), SendError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Live {
            group_id: group_id.to_owned(),
            join,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SendError::SessionEnded)?;
        let body = rx.await.unwrap_or(Err(SendError::SessionEnded))?;
        super::wire::check_reply(&body).map_err(SendError::Server)
    }

    /// A call whose reply must be a success; the reply body.
    async fn call_ok(
        &self,
        servcmd: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, SendError> {
        let reply = self.call(servcmd, body).await?;
        super::wire::check_reply(&reply).map_err(SendError::Server)?;
        Ok(reply)
    }

    /// Creates a topic named `name` in Community `group_id`
    /// (`million_group_open_http_svc.create_topic`); its topic id.
    pub async fn create_topic(&self, group_id: &str, name: &str) -> Result<String, SendError> {
        let body = serde_json::json!({"GroupId": group_id, "TopicName": name});
        let reply = self.call_ok(topics::CREATE_TOPIC, body).await?;
        reply
            .get("TopicId")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SendError::Malformed("create_topic reply without TopicId".into()))
    }

    /// Renames topic `topic_id` (`modify_topic` with `TopicName`).
    pub async fn rename_topic(&self, topic_id: &str, name: &str) -> Result<(), SendError> {
        let group_id = topics::topic_group(topic_id).unwrap_or_default();
        let body = serde_json::json!({"GroupId": group_id, "TopicId": topic_id, "TopicName": name});
        self.call_ok(topics::MODIFY_TOPIC, body).await.map(|_| ())
    }

    /// Deletes topic `topic_id` (`destroy_topic`).
    pub async fn delete_topic(&self, topic_id: &str) -> Result<(), SendError> {
        let group_id = topics::topic_group(topic_id).unwrap_or_default();
        let body = serde_json::json!({"GroupId": group_id, "TopicIdList": [topic_id]});
        let reply = self.call_ok(topics::DESTROY_TOPIC, body).await?;
        let item = reply
            .get("DestroyResultItem")
            .and_then(serde_json::Value::as_array)
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        super::wire::check_reply(&item).map_err(SendError::Server)
    }

    /// The topics of Community `group_id` (`get_topic`).
    pub async fn topics(&self, group_id: &str) -> Result<Vec<topics::TopicInfo>, SendError> {
        let body = serde_json::json!({"GroupId": group_id});
        let reply = self.call_ok(topics::GET_TOPIC, body).await?;
        Ok(topics::parse_topic_list(&reply))
    }

    /// Replaces the UserSig used by the next `wslogin` (a renewed ticket).
    pub async fn set_user_sig(&self, user_sig: &str) {
        let _ = self
            .commands
            .send(Command::SetUserSig(user_sig.to_owned()))
            .await;
    }

    /// Acknowledges push `token` ([`SessionEvent::PushBatch`]) once its messages are stored.
    pub async fn ack_push(&self, token: u64) {
        let _ = self.commands.send(Command::AckPush(token)).await;
    }

    /// Push `token`'s messages were not stored: they are fetched again
    /// ([`Session::push_not_stored`](super::session::Session::push_not_stored)).
    pub async fn push_not_stored(&self, token: u64) {
        let _ = self.commands.send(Command::PushNotStored(token)).await;
    }

    /// A receiver of the link state, to follow its changes.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// Logs out and stops the task.
    pub async fn logout(&self) {
        let (done, rx) = oneshot::channel();
        if self.commands.send(Command::Logout(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The current link state.
    pub fn link_state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// Waits until the link state satisfies `pred` (or the task is gone).
    pub async fn wait_for(&self, pred: impl Fn(&LinkState) -> bool) -> LinkState {
        let mut rx = self.state.clone();
        let found = rx.wait_for(|s| pred(s)).await.map(|s| s.clone());
        found.unwrap_or_else(|_| rx.borrow().clone())
    }
}

enum Outcome {
    Reconnect(String),
    Ended,
    Dropped,
}

struct Driver {
    cfg: ClientConfig,
    session: Session,
    instance_id: String,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    state: watch::Sender<LinkState>,
    waiting: HashMap<u64, oneshot::Sender<Result<SendReceipt, SendError>>>,
    calls: HashMap<u64, oneshot::Sender<Result<serde_json::Value, SendError>>>,
    attempt: u32,
}

impl Driver {
    /// The session task. `self` comes boxed and the socket is lent to [`Driver::serve`]:
    /// an `async fn` keeps a by-value argument twice in its future, and this task lives as
    /// long as the session (memory per idle session, issue 14).
    async fn run(mut self: Box<Self>) {
        loop {
            let outcome = match self.connect().await {
                Ok(mut ws) => {
                    self.session.on_connected(Instant::now());
                    self.serve(&mut ws).await
                }
                Err(e) => Outcome::Reconnect(e),
            };
            match outcome {
                Outcome::Ended | Outcome::Dropped => break,
                Outcome::Reconnect(reason) => {
                    self.session.on_disconnected(Instant::now());
                    if self.session.is_ended() {
                        break;
                    }
                    info!(user = %self.cfg.session.identifier, %reason, "tencent link lost; reconnecting");
                    let _ = self.state.send(LinkState::Reconnecting(reason));
                    if !self.backoff().await {
                        break;
                    }
                }
            }
        }
        for (_, w) in self.waiting.drain() {
            let _ = w.send(Err(SendError::SessionEnded));
        }
        for (_, w) in self.calls.drain() {
            let _ = w.send(Err(SendError::SessionEnded));
        }
    }

    fn url(&self) -> String {
        let random: f64 = rand::rng().random();
        format!(
            "{}/binfo?sdkappid={}&instanceid={}&random={random}&platform={}&host=unknown&version=-1&sdkversion={SDK_VERSION}&compress=gzip",
            self.cfg.server, self.cfg.session.sdk_app_id, self.instance_id, self.cfg.session.platform
        )
    }

    async fn connect(&mut self) -> Result<WsStream, String> {
        let url = self.url();
        // Boxed: the handshake's state only lives while connecting; inline it would size the
        // session's task for good.
        Box::pin(websocket::connect(&url)).await
    }

    /// Sleeps before the next attempt, still taking commands (sends wait in the outbox).
    /// Returns false when the task should stop.
    async fn backoff(&mut self) -> bool {
        let (min, max) = self.cfg.backoff;
        let delay = websocket::reconnect_delay(min, max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                _ = tokio::time::sleep_until(self.deadline()) => {
                    self.session.on_tick(Instant::now());
                    self.drain_outputs_offline().await;
                }
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(cmd) => {
                        let ends = self.on_command(cmd);
                        self.drain_outputs_offline().await;
                        if ends {
                            return false;
                        }
                    }
                },
            }
        }
    }

    fn deadline(&self) -> tokio::time::Instant {
        self.session
            .next_deadline()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))
    }

    async fn serve(&mut self, ws: &mut WsStream) -> Outcome {
        loop {
            if let Some(outcome) = self.flush(ws).await {
                return outcome;
            }
            let deadline = self.deadline();
            tokio::select! {
                frame = ws.next() => match frame {
                    None => return Outcome::Reconnect("connection closed by server".into()),
                    Some(Err(e)) => return Outcome::Reconnect(format!("websocket error: {e}")),
                    Some(Ok(WsMessage::Binary(data))) => self.on_frame(&data),
                    Some(Ok(WsMessage::Text(text))) => self.on_frame(text.as_bytes()),
                    Some(Ok(WsMessage::Close(_))) => {
                        if let Some(outcome) = self.flush(ws).await {
                            return outcome;
                        }
                        return Outcome::Reconnect("closed by server".into());
                    }
                    Some(Ok(_)) => {}
                },
                cmd = self.commands.recv() => match cmd {
                    None => return Outcome::Dropped,
                    Some(cmd) => {
                        if self.on_command(cmd) {
                            let _ = self.flush(ws).await;
                            let _ = ws.close(None).await;
                            return Outcome::Ended;
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline) => self.session.on_tick(Instant::now()),
            }
        }
    }

    fn on_frame(&mut self, data: &[u8]) {
        if let Err(e) = self.session.on_frame(data, Instant::now()) {
            warn!(user = %self.cfg.session.identifier, error = %e, "bad frame from server");
        }
    }

    /// Applies a command; true when it ends the session.
    fn on_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Send {
                to,
                elems,
                cloud_custom_data,
                reply,
            } => {
                match self
                    .session
                    .send_to_with(to, elems, cloud_custom_data, Instant::now())
                {
                    Ok(id) => {
                        self.waiting.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                false
            }
            Command::Call {
                servcmd,
                body,
                reply,
            } => {
                match self.session.call(&servcmd, body, Instant::now()) {
                    Ok(id) => {
                        self.calls.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                false
            }
            Command::Live {
                group_id,
                join,
                reply,
            } => {
                let now = Instant::now();
                let id = if join {
                    self.session.join_live(&group_id, now)
                } else {
                    self.session.leave_live(&group_id, now)
                };
                match id {
                    Ok(id) => {
                        self.calls.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                false
            }
            Command::SetUserSig(sig) => {
                self.session.set_user_sig(&sig);
                false
            }
            Command::AckPush(token) => {
                self.session.ack_push(token, Instant::now());
                false
            }
            Command::PushNotStored(token) => {
                self.session.push_not_stored(token, Instant::now());
                false
            }
            Command::Logout(done) => {
                self.session.logout(Instant::now());
                let _ = done.send(());
                true
            }
        }
    }

    /// Handles one non-transmit output; returns the outcome when it ends this websocket.
    async fn handle(&mut self, out: Output) -> Option<Outcome> {
        match out {
            Output::Transmit(_) => None,
            Output::Event(e) => {
                self.on_event(*e).await;
                None
            }
            Output::Reconnect(reason) => Some(Outcome::Reconnect(reason)),
            Output::Close => Some(Outcome::Ended),
        }
    }

    async fn on_event(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::SendResult { id, result } => {
                if let Some(w) = self.waiting.remove(&id) {
                    let _ = w.send(result);
                }
            }
            SessionEvent::CallResult { id, result } => {
                if let Some(w) = self.calls.remove(&id) {
                    let _ = w.send(result);
                }
            }
            e => {
                match &e {
                    SessionEvent::LoggedIn { .. } => {
                        self.attempt = 0;
                        let _ = self.state.send(LinkState::Connected);
                    }
                    SessionEvent::Ended(reason) => {
                        let _ = self.state.send(LinkState::Ended(reason.clone()));
                    }
                    _ => {}
                }
                if self.events.send(e).await.is_err() {
                    debug!("tencent event receiver dropped");
                }
            }
        }
    }

    /// Writes what the session queued and handles its events.
    async fn flush(&mut self, ws: &mut WsStream) -> Option<Outcome> {
        let mut outcome = None;
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Transmit(text) => {
                    if outcome.is_some() {
                        continue;
                    }
                    let msg = WsMessage::Binary(text.into_bytes().into());
                    if let Err(e) = ws.send(msg).await {
                        outcome = Some(Outcome::Reconnect(format!("write failed: {e}")));
                    }
                }
                other => {
                    if let Some(o) = self.handle(other).await {
                        outcome.get_or_insert(o);
                    }
                }
            }
        }
        if matches!(outcome, Some(Outcome::Ended)) {
            let _ = ws.close(None).await;
        }
        outcome
    }

    /// Handles outputs while no websocket is open (frames are dropped; the session resends
    /// what matters after the next login).
    async fn drain_outputs_offline(&mut self) {
        while let Some(out) = self.session.poll_output() {
            let _ = self.handle(out).await;
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
