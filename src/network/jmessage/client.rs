//! The JMessage client: a thin tokio task that moves websocket text frames between
//! `ws(s)://host/socket.io/?EIO=3&transport=websocket` and the sans-I/O [`Session`],
//! reconnects with jittered backoff (sends wait in the session's outbox meanwhile; the
//! session runs `c_init` + `login` again on every new link), and hands send results back to
//! callers and events to the owner.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{debug, info, warn};

use super::eio;
use super::session::{
    EndReason, Output, SendError, SendReceipt, Session, SessionConfig, SessionEvent,
};
use crate::network::websocket::{self, WsStream};

mod friends;
mod media;
mod ops;

pub use media::MediaError;

/// Where and who.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server, e.g. `ws://127.0.0.1:18100` or `wss://ws.im.jiguang.cn`; the Engine.IO
    /// path and query are appended.
    pub server: String,
    /// Session settings (appkey, masterSecret, user, timings).
    pub session: SessionConfig,
    /// Smallest and largest reconnect delay.
    pub backoff: (Duration, Duration),
    /// Where media is uploaded (`POST {upload_url}?type=image|file`): the SDK's
    /// `https://sdk.im.jiguang.cn/resource` for the service's own server, else
    /// `http(s)://<server host>/resource` (the sandbox).
    pub upload_url: String,
}

impl ClientConfig {
    /// A config with the default backoff (1 s … 60 s).
    pub fn new(server: &str, session: SessionConfig) -> Self {
        let server = server.trim_end_matches('/').to_owned();
        let upload_url = if server.contains("ws.im.jiguang.cn") {
            "https://sdk.im.jiguang.cn/resource".to_owned()
        } else {
            let http = server
                .replacen("wss://", "https://", 1)
                .replacen("ws://", "http://", 1);
            format!("{http}/resource")
        };
        Self {
            server,
            session,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            upload_url,
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
        to: String,
        text: String,
        extras: Option<Value>,
        reply: oneshot::Sender<Result<SendReceipt, SendError>>,
    },
    AckPush(u64),
    /// A group call, group send or recall ([`ops`]).
    Op(ops::Op),
    Logout(oneshot::Sender<()>),
}

/// A handle on a running client task. Dropping every handle closes the connection.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    /// The username and the upload URL, for media uploads.
    username: String,
    app_key: String,
    upload_url: String,
    state: watch::Receiver<LinkState>,
}

impl Client {
    /// Starts the task; events (messages, logins, the end) arrive on the returned receiver.
    /// Send results are not repeated there: they are the return value of the send calls.
    pub fn start(cfg: ClientConfig) -> (Client, mpsc::Receiver<SessionEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let session = Session::new(cfg.session.clone(), rand::rng().random());
        let (cfg_username, cfg_upload_url) = (cfg.session.username.clone(), cfg.upload_url.clone());
        let cfg_app_key = cfg.session.app_key.clone();
        let driver = Driver {
            cfg,
            session,
            commands: cmd_rx,
            events: ev_tx,
            state: state_tx,
            waiting: HashMap::new(),
            calls: HashMap::new(),
            attempt: 0,
        };
        tokio::spawn(driver.run());
        (
            Client {
                commands: cmd_tx,
                username: cfg_username,
                app_key: cfg_app_key,
                upload_url: cfg_upload_url,
                state: state_rx,
            },
            ev_rx,
        )
    }

    /// Sends a single-chat text (with `extras`, a JSON object, when given) to `to`; resolves
    /// with the server's `msg_id` and time.
    pub async fn send_text(
        &self,
        to: &str,
        text: &str,
        extras: Option<Value>,
    ) -> Result<SendReceipt, SendError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Send {
            to: to.to_owned(),
            text: text.to_owned(),
            extras,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SendError::SessionEnded)?;
        rx.await.unwrap_or(Err(SendError::SessionEnded))
    }

    /// Receipts push `token` ([`SessionEvent::PushBatch`]) once its messages are stored.
    pub async fn ack_push(&self, token: u64) {
        let _ = self.commands.send(Command::AckPush(token)).await;
    }

    /// Logs out and stops the task.
    pub async fn logout(&self) {
        let (done, rx) = oneshot::channel();
        if self.commands.send(Command::Logout(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The appkey of the app this client logs in to (users of other apps are named
    /// `username/appkey`, [`super::across`]).
    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// The current link state.
    pub fn link_state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// A receiver of the link state's changes (for owners that report link losses).
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
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
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    state: watch::Sender<LinkState>,
    waiting: HashMap<u64, oneshot::Sender<Result<SendReceipt, SendError>>>,
    /// Callers waiting for a [`SessionEvent::CallResult`].
    calls: HashMap<u64, oneshot::Sender<Result<Value, SendError>>>,
    attempt: u32,
}

impl Driver {
    async fn run(mut self) {
        loop {
            let url = eio::websocket_url(&self.cfg.server);
            let outcome = match websocket::connect(&url).await {
                Ok(ws) => {
                    self.session.on_connected(Instant::now(), unix_ms());
                    self.serve(ws).await
                }
                Err(e) => Outcome::Reconnect(e),
            };
            match outcome {
                Outcome::Ended | Outcome::Dropped => break,
                Outcome::Reconnect(reason) => {
                    self.session.on_disconnected(Instant::now());
                    self.drain_outputs_offline().await;
                    if self.session.is_ended() {
                        break;
                    }
                    info!(user = %self.session.username(), %reason, "jmessage link lost; reconnecting");
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

    async fn serve(&mut self, mut ws: WsStream) -> Outcome {
        loop {
            if let Some(outcome) = self.flush(&mut ws).await {
                return outcome;
            }
            let deadline = self.deadline();
            tokio::select! {
                frame = ws.next() => match frame {
                    None => return Outcome::Reconnect("connection closed by server".into()),
                    Some(Err(e)) => return Outcome::Reconnect(format!("websocket error: {e}")),
                    Some(Ok(WsMessage::Text(text))) => self.on_frame(text.as_str()),
                    Some(Ok(WsMessage::Binary(_))) => {
                        warn!(user = %self.session.username(), "binary socket.io frame ignored");
                    }
                    Some(Ok(WsMessage::Close(_))) => {
                        return Outcome::Reconnect("closed by server".into());
                    }
                    Some(Ok(_)) => {}
                },
                cmd = self.commands.recv() => match cmd {
                    None => return Outcome::Dropped,
                    Some(cmd) => {
                        if self.on_command(cmd) {
                            let _ = self.flush(&mut ws).await;
                            let _ = ws.close(None).await;
                            return Outcome::Ended;
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline) => self.session.on_tick(Instant::now()),
            }
        }
    }

    fn on_frame(&mut self, text: &str) {
        if let Err(e) = self.session.on_frame(text, Instant::now()) {
            warn!(user = %self.session.username(), error = %e, "bad frame from server");
        }
    }

    /// Applies a command; true when it ends the session.
    fn on_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Send {
                to,
                text,
                extras,
                reply,
            } => {
                match self
                    .session
                    .send_single_text(&to, &text, extras, Instant::now())
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
            Command::Op(op) => {
                op.apply(self);
                false
            }
            Command::AckPush(token) => {
                self.session.ack_push(token, Instant::now());
                false
            }
            Command::Logout(done) => {
                self.session.logout();
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
                    debug!("jmessage event receiver dropped");
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
                    if let Err(e) = ws.send(WsMessage::Text(text.into())).await {
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

/// Milliseconds since the Unix epoch now.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
