//! The client's session task ([`Driver`]): connects, logs in, moves frames between the
//! websocket and the sans-I/O session, matches replies to waiting callers, and reconnects with
//! jittered backoff until the session ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{debug, info, warn};

use super::{ClientConfig, Command, LinkState};
use crate::network::tencent::session::{
    Output, SendError, SendReceipt, Session, SessionEvent, SDK_VERSION,
};
use crate::network::websocket::{self, WsStream};

enum Outcome {
    Reconnect(String),
    Ended,
    Dropped,
}

pub(super) struct Driver {
    /// Where the login's download key goes for the media calls.
    pub(super) media: std::sync::Arc<crate::network::tencent::cos::MediaContext>,
    pub(super) cfg: ClientConfig,
    pub(super) session: Session,
    pub(super) instance_id: String,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) events: mpsc::Sender<SessionEvent>,
    pub(super) state: watch::Sender<LinkState>,
    pub(super) waiting: HashMap<u64, oneshot::Sender<Result<SendReceipt, SendError>>>,
    pub(super) calls: HashMap<u64, oneshot::Sender<Result<serde_json::Value, SendError>>>,
    pub(super) attempt: u32,
}

impl Driver {
    /// The session task. `self` comes boxed and the socket is lent to [`Driver::serve`]:
    /// an `async fn` keeps a by-value argument twice in its future, and this task lives as
    /// long as the session (memory per idle session, issue 14).
    pub(super) async fn run(mut self: Box<Self>) {
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
                    SessionEvent::LoggedIn {
                        rich_msg_auth_key, ..
                    } => {
                        self.media.set_auth_key(rich_msg_auth_key.clone());
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
