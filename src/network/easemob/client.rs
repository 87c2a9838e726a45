//! The Easemob client: a thin tokio task that moves bytes between a websocket and the
//! sans-I/O [`Session`], reconnects with jittered backoff, refreshes the token of password
//! logins, and hands results back to callers (send → server ack) and events to the owner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{debug, info, warn};

use super::error::{EndReason, LoginError, SendError};
use super::events::SessionEvent;
use super::jid;
use super::message::OutgoingMessage;
use super::proto::{meta, muc_body, Meta, MucBody};
use super::rest::RestClient;
use super::session::{Output, Session, SessionConfig};
use crate::core::connector::Checkpoint;
use crate::core::event_channel::{boxed_channel, BoxedReceiver, BoxedSender};
use crate::network::websocket::{self, WsStream};

/// How the user proves who they are.
#[derive(Clone)]
pub enum Credential {
    /// A password: exchanged for a token over REST, again whenever the token expires.
    Password(String),
    /// A ready access token.
    Token(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(<redacted>)",
            Credential::Token(_) => "Token(<redacted>)",
        })
    }
}

/// Where and who.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `org#app`.
    pub app_key: String,
    /// REST base URL, e.g. `http://127.0.0.1:18080`.
    pub rest_url: String,
    /// Websocket URL, e.g. `ws://127.0.0.1:18080/websocket`.
    pub websocket_url: String,
    pub user: String,
    pub credential: Credential,
    /// Device resource; keep it stable so reconnects and restarts are the same device.
    pub resource: String,
    /// Smallest and largest reconnect delay.
    pub backoff: (Duration, Duration),
    /// Session tuning (heartbeat, timeouts); `None` for the defaults.
    pub tuning: Option<SessionConfig>,
    /// Acknowledge a pulled batch to the server only after the owner confirmed the
    /// [`SessionEvent::Checkpoint`] that follows it (the owner stores events durably first).
    /// Off: batches are acknowledged as soon as their events are handed over.
    pub await_persistence: bool,
}

impl ClientConfig {
    /// A config with default backoff and tuning.
    pub fn new(
        app_key: &str,
        rest_url: &str,
        websocket_url: &str,
        user: &str,
        credential: Credential,
        resource: &str,
    ) -> Self {
        Self {
            app_key: app_key.to_owned(),
            rest_url: rest_url.to_owned(),
            websocket_url: websocket_url.to_owned(),
            user: user.to_owned(),
            credential,
            resource: resource.to_owned(),
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            tuning: None,
            await_persistence: false,
        }
    }
}

/// The server's answer to a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReceipt {
    pub local_id: u64,
    pub server_id: u64,
    pub timestamp: u64,
}

/// Connection state, for status displays and metrics.
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
        msg: Box<OutgoingMessage>,
        reply: oneshot::Sender<Result<SendReceipt, SendError>>,
    },
    SendMeta {
        meta: Box<Meta>,
        reply: oneshot::Sender<Result<SendReceipt, SendError>>,
    },
    Logout(oneshot::Sender<()>),
    /// Stop without a LOGOUT frame: the server keeps what it holds for the next login.
    Close(oneshot::Sender<()>),
}

/// Handle to a running client. Dropping every handle stops the task without a logout frame
/// (what a restart wants); call [`EasemobClient::logout`] to log out for real.
#[derive(Clone)]
pub struct EasemobClient {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<LinkState>,
    rest: SharedRest,
    user: String,
    app_key: String,
    resource: String,
}

/// The REST client, re-authorised whenever the session's token is refreshed.
type SharedRest = Arc<std::sync::RwLock<RestClient>>;

/// One HTTP client (connection pool, TLS roots) shared by every session of the process.
pub(crate) fn shared_http() -> Result<reqwest::Client, LoginError> {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = HTTP.get() {
        return Ok(c.clone());
    }
    let client = super::rest::http_client().map_err(|e| LoginError::Transport(e.to_string()))?;
    Ok(HTTP.get_or_init(|| client).clone())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EasemobClient {
    /// Logs in and starts the session task. Returns once the first login succeeded, with the
    /// stream of events; fails with the typed reason otherwise (nothing keeps running then).
    pub async fn login(
        cfg: ClientConfig,
    ) -> Result<(Self, BoxedReceiver<SessionEvent>), LoginError> {
        let (client, mut events) = Self::start(cfg).await?;
        let mut state = client.state.clone();
        loop {
            match state.borrow_and_update().clone() {
                LinkState::Connected => return Ok((client, events)),
                LinkState::Ended(EndReason::LoginFailed(e)) => return Err(e),
                LinkState::Ended(other) => return Err(LoginError::Transport(other.to_string())),
                _ => {}
            }
            if state.changed().await.is_err() {
                // The task ended; its last event says why.
                while let Ok(e) = events.try_recv() {
                    if let SessionEvent::Ended(EndReason::LoginFailed(e)) = e {
                        return Err(e);
                    }
                }
                return Err(LoginError::Transport("client task stopped".into()));
            }
        }
    }

    /// Starts the session task without waiting for the login (restoring a session at start-up:
    /// a network that is down now just means reconnecting). A password is exchanged for a
    /// token first, so wrong passwords fail here.
    pub async fn start(
        cfg: ClientConfig,
    ) -> Result<(Self, BoxedReceiver<SessionEvent>), LoginError> {
        let mut rest = RestClient::new(shared_http()?, &cfg.rest_url, &cfg.app_key)
            .map_err(|e| LoginError::Transport(e.to_string()))?;
        let token = match &cfg.credential {
            Credential::Token(t) => t.clone(),
            Credential::Password(p) => fetch_token(&rest, &cfg.user, p).await?,
        };
        rest.set_token(&cfg.user, &token);
        let rest: SharedRest = Arc::new(std::sync::RwLock::new(rest));
        let mut scfg = cfg
            .tuning
            .clone()
            .unwrap_or_else(|| SessionConfig::new(&cfg.app_key, &cfg.user, &token, &cfg.resource));
        scfg.app_key = cfg.app_key.clone();
        scfg.user = cfg.user.clone();
        scfg.token = token;
        scfg.resource = cfg.resource.clone();
        let session = Session::new(scfg, Instant::now(), unix_ms());
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = boxed_channel(1024);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let driver = Driver {
            cfg: cfg.clone(),
            session,
            rest: rest.clone(),
            commands: cmd_rx,
            events: ev_tx,
            state: state_tx,
            waiting: HashMap::new(),
            attempt: 0,
        };
        tokio::spawn(Box::new(driver).run());
        Ok((
            Self {
                commands: cmd_tx,
                state: state_rx,
                rest,
                user: cfg.user,
                app_key: cfg.app_key,
                resource: cfg.resource,
            },
            ev_rx,
        ))
    }

    /// The logged-in user id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// This device's resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The REST client, authorised with the session's current token.
    pub fn rest(&self) -> RestClient {
        self.rest.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current link state.
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// A watch of the link state.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// Sends a message and waits for the server's ack (or the timeout). While disconnected the
    /// message waits in the outbox and goes out after the next login.
    pub async fn send(&self, msg: OutgoingMessage) -> Result<SendReceipt, SendError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Send {
            msg: Box::new(msg),
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Joins a chat room over the socket.
    pub async fn join_chatroom(&self, room: &str) -> Result<SendReceipt, SendError> {
        self.chatroom_op(room, muc_body::Operation::Join).await
    }

    /// Leaves a chat room over the socket.
    pub async fn leave_chatroom(&self, room: &str) -> Result<SendReceipt, SendError> {
        self.chatroom_op(room, muc_body::Operation::Leave).await
    }

    async fn chatroom_op(
        &self,
        room: &str,
        op: muc_body::Operation,
    ) -> Result<SendReceipt, SendError> {
        let body = MucBody {
            muc_id: Some(jid::conference_jid(&self.app_key, room)),
            operation: Some(op as i32),
            from: Some(jid::name_only(&self.user)),
            is_chatroom: Some(true),
            ..Default::default()
        };
        let meta = Meta {
            from: Some(jid::user_jid(&self.app_key, &self.user)),
            to: Some(super::proto::Jid {
                domain: Some(jid::USER_DOMAIN.into()),
                ..Default::default()
            }),
            ns: Some(meta::NameSpace::Muc as i32),
            payload: Some(prost::Message::encode_to_vec(&body)),
            ..Default::default()
        };
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::SendMeta {
                meta: Box::new(meta),
                reply,
            })
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Logs out for real (LOGOUT frame) and stops the task.
    pub async fn logout(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Logout(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }

    /// Stops the task without logging out, even while other handles exist: the websocket is
    /// closed, messages not yet acknowledged stay on the server (delivered at the next login),
    /// and the event stream ends. Waits (bounded, 5 s) for the task to take the command.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }
}

async fn fetch_token(rest: &RestClient, user: &str, password: &str) -> Result<String, LoginError> {
    use super::rest::RestError;
    match rest.password_token(user, password).await {
        Ok(grant) => Ok(grant.access_token),
        Err(RestError::InvalidPassword) => Err(LoginError::InvalidCredentials),
        Err(RestError::UserNotFound) => Err(LoginError::UserNotFound),
        Err(e) => Err(LoginError::Transport(e.to_string())),
    }
}

/// Why one websocket ended.
enum Outcome {
    Reconnect(String),
    Ended,
    /// Every handle was dropped.
    Dropped,
}

struct Driver {
    cfg: ClientConfig,
    session: Session,
    rest: SharedRest,
    commands: mpsc::Receiver<Command>,
    events: BoxedSender<SessionEvent>,
    state: watch::Sender<LinkState>,
    waiting: HashMap<u64, oneshot::Sender<Result<SendReceipt, SendError>>>,
    attempt: u32,
}

impl Driver {
    /// The session task. `self` comes boxed and the socket is lent to [`Driver::serve`]:
    /// an `async fn` keeps a by-value argument twice in its future (once as the argument,
    /// once as the local it moves into), and this task lives as long as the login
    /// (memory per idle login, issue 14).
    async fn run(mut self: Box<Self>) {
        loop {
            let outcome = match self.connect().await {
                Ok(mut ws) => {
                    self.session.on_connected(Instant::now(), unix_ms());
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
                    info!(user = %self.cfg.user, %reason, "easemob link lost; reconnecting");
                    let _ = self.state.send(LinkState::Reconnecting(reason.clone()));
                    self.emit(SessionEvent::Reconnecting { reason }).await;
                    if !self.backoff().await {
                        break;
                    }
                }
            }
        }
        for (_, w) in self.waiting.drain() {
            let _ = w.send(Err(SendError::SessionEnded));
        }
    }

    async fn connect(&mut self) -> Result<WsStream, String> {
        // Boxed: the handshake's state only lives while connecting; inline it would size
        // every login's driver task for good (memory per idle login, issue 14).
        Box::pin(websocket::connect(&self.cfg.websocket_url)).await
    }

    /// Sleeps before the next attempt, still taking commands (sends queue in the outbox).
    /// Returns false when every handle is gone.
    async fn backoff(&mut self) -> bool {
        let (min, max) = self.cfg.backoff;
        let delay = websocket::reconnect_delay(min, max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(cmd) => {
                        if self.on_command(cmd) {
                            self.drain_events().await;
                            return false;
                        }
                        self.drain_events().await;
                    }
                },
            }
        }
    }

    async fn serve(&mut self, ws: &mut WsStream) -> Outcome {
        loop {
            if let Some(outcome) = self.flush(ws).await {
                return outcome;
            }
            let deadline = self
                .session
                .next_deadline()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                frame = ws.next() => match frame {
                    None => return Outcome::Reconnect("connection closed by server".into()),
                    Some(Err(e)) => return Outcome::Reconnect(format!("websocket error: {e}")),
                    Some(Ok(WsMessage::Binary(data))) => {
                        if let Err(e) = self.session.on_frame(&data, Instant::now()) {
                            warn!(user = %self.cfg.user, error = %e, "bad frame from server");
                        }
                    }
                    Some(Ok(WsMessage::Close(_))) => {
                        // Drain what the session queued (a kick notice arrives just before).
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
                _ = tokio::time::sleep_until(deadline) => {
                    self.session.on_tick(Instant::now(), unix_ms());
                }
            }
        }
    }

    /// Applies a command; returns true when it ends the session (logout or close).
    fn on_command(&mut self, cmd: Command) -> bool {
        let now = Instant::now();
        match cmd {
            Command::Send { msg, reply } => match self.session.send(&msg, now) {
                Ok(id) => {
                    self.waiting.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::SendMeta { mut meta, reply } => {
                let id = self.session.allocate_id();
                meta.id = Some(id);
                match self.session.send_meta(*meta, now) {
                    Ok(()) => {
                        self.waiting.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Logout(done) => {
                self.session.logout("inner:logout");
                let _ = done.send(());
                return true;
            }
            Command::Close(done) => {
                let _ = done.send(());
                return true;
            }
        }
        false
    }

    /// Sends what the session produced and dispatches its events.
    async fn flush(&mut self, ws: &mut WsStream) -> Option<Outcome> {
        let mut outcome = None;
        // Set when the owner did not store a batch: its acknowledgement must not go out.
        let mut withhold = false;
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Transmit(_) if withhold => {}
                Output::Transmit(bytes) => {
                    if let Err(e) = ws.send(WsMessage::Binary(bytes.into())).await {
                        outcome.get_or_insert(Outcome::Reconnect(format!("send failed: {e}")));
                    }
                }
                Output::Event(event) => {
                    if let Some(o) = self.on_event(*event).await {
                        outcome.get_or_insert(o);
                    }
                }
                Output::Reconnect(reason) => {
                    outcome.get_or_insert(Outcome::Reconnect(reason));
                }
                Output::Close => {
                    let _ = ws.close(None).await;
                    outcome.get_or_insert(Outcome::Ended);
                }
                Output::Checkpoint if withhold => {}
                Output::Checkpoint => {
                    if self.checkpoint().await {
                        self.session.batch_stored();
                    } else {
                        self.session.batch_not_stored();
                        withhold = true;
                        outcome.get_or_insert(Outcome::Reconnect(
                            "the owner did not store a batch; it is fetched again".into(),
                        ));
                    }
                }
            }
        }
        outcome
    }

    /// Session events while no socket is open (send failures from the outbox).
    async fn drain_events(&mut self) {
        while let Some(out) = self.session.poll_output() {
            if let Output::Event(e) = out {
                let _ = self.on_event(*e).await;
            }
        }
    }

    async fn on_event(&mut self, event: SessionEvent) -> Option<Outcome> {
        match event {
            SessionEvent::SendAcked {
                local_id,
                server_id,
                timestamp,
            } => {
                if let Some(w) = self.waiting.remove(&local_id) {
                    let _ = w.send(Ok(SendReceipt {
                        local_id,
                        server_id,
                        timestamp,
                    }));
                }
                None
            }
            SessionEvent::SendFailed { local_id, error } => {
                if let Some(w) = self.waiting.remove(&local_id) {
                    let _ = w.send(Err(error));
                }
                None
            }
            SessionEvent::Connected { .. } => {
                self.attempt = 0;
                let _ = self.state.send(LinkState::Connected);
                self.emit(event).await;
                None
            }
            // Boxed: rare, and its token fetch would size every idle login's task.
            SessionEvent::Ended(reason) => Box::pin(self.on_ended(reason)).await,
            other => {
                self.emit(other).await;
                None
            }
        }
    }

    /// A token problem with a password credential: fetch a new token and log in again.
    async fn on_ended(&mut self, reason: EndReason) -> Option<Outcome> {
        let token_problem = matches!(&reason, EndReason::TokenExpired)
            || matches!(&reason, EndReason::LoginFailed(e) if e.is_token_problem());
        if let (true, Credential::Password(p)) = (token_problem, &self.cfg.credential) {
            let password = p.clone();
            let rest = self.rest.read().unwrap_or_else(|p| p.into_inner()).clone();
            match fetch_token(&rest, &self.cfg.user, &password).await {
                Ok(token) => {
                    debug!(user = %self.cfg.user, "token refreshed");
                    self.rest
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .set_token(&self.cfg.user, &token);
                    let mut scfg = self.session.config().clone();
                    scfg.token = token;
                    self.session = Session::new(scfg, Instant::now(), unix_ms());
                    return Some(Outcome::Reconnect("token refreshed".into()));
                }
                Err(e) => {
                    let reason = EndReason::LoginFailed(e);
                    let _ = self.state.send(LinkState::Ended(reason.clone()));
                    self.emit(SessionEvent::Ended(reason)).await;
                    return Some(Outcome::Ended);
                }
            }
        }
        let _ = self.state.send(LinkState::Ended(reason.clone()));
        self.emit(SessionEvent::Ended(reason)).await;
        Some(Outcome::Ended)
    }

    /// Hands the owner a checkpoint and waits until it stored what came before (when the
    /// config asks for it), so the batch's acknowledgement goes out only then. False when
    /// the owner dropped it unconfirmed (or is gone): the batch stays unacknowledged.
    async fn checkpoint(&self) -> bool {
        if !self.cfg.await_persistence {
            return true;
        }
        let (checkpoint, wait) = Checkpoint::new();
        self.emit(SessionEvent::Checkpoint(checkpoint)).await;
        let stored = wait.wait().await;
        if !stored {
            warn!(user = %self.cfg.user, "a pulled batch was not stored by the owner; not acknowledging it");
        }
        stored
    }

    /// Not `async fn`: the event is boxed before the first await, so the tasks awaiting this
    /// hold a pointer rather than a 376-byte event (memory per idle login, issue 14).
    fn emit(&self, event: SessionEvent) -> impl std::future::Future<Output = ()> + Send + '_ {
        // The owner's queue is bounded: a slow owner slows the session (back-pressure),
        // nothing is dropped.
        let send = self.events.send(event);
        async move {
            let _ = send.await;
        }
    }
}
