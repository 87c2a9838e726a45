//! The sandbox's socket.io side: one task per connection that handles the client's events in
//! the order they arrived (socketioxide runs each handler in its own task, so events are
//! queued from the extractor, which runs in arrival order), answers every request with
//! `ack {rid}` then `<event> {rid, code, message, …}`, replays the cached response when a
//! `rid` comes again (the SDK resends after 5 s without `ack`), checks `c_init` and `login`,
//! relays single messages, and hands undelivered messages over in `sync_conversation` on
//! `sync_check` (then the events and receipt changes kept meanwhile, [`super::offline`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Data, Event, SocketRef};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use tokio::sync::mpsc;
use tracing::debug;

use super::state::{Refusal, Sandbox};
use crate::network::jmessage::wire::{self, event, Content};

/// How many responses a connection keeps for replay by `rid`.
const REPLAY_WINDOW: usize = 256;

/// What the connection task is told, in arrival order.
enum Inbound {
    Event(String, Value),
    Disconnected,
}

/// The queue of one connection (a socket extension).
#[derive(Clone)]
struct Queue(mpsc::UnboundedSender<Inbound>);

/// An extractor that queues the event for the connection task as it is extracted (in
/// arrival order); the handler itself does nothing.
pub struct Queued;

#[derive(Debug, thiserror::Error)]
#[error("no connection queue")]
pub struct NoQueue;

impl<A: Adapter> FromMessageParts<A> for Queued {
    type Error = NoQueue;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, NoQueue> {
        let queue = s.extensions.get::<Queue>().ok_or(NoQueue)?;
        let name = Event::from_message_parts(s, v, ack_id)
            .map(|e| e.0)
            .unwrap_or_default();
        // Events whose payload is not JSON are answered as bad parameters by the task.
        let data = Data::<Value>::from_message_parts(s, v, ack_id)
            .map(|d| d.0)
            .unwrap_or(Value::Null);
        let _ = queue.0.send(Inbound::Event(name, data));
        Ok(Queued)
    }
}

/// The connect handler of the default namespace.
pub async fn on_connect(socket: SocketRef, sandbox: Arc<Sandbox>) {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.extensions.insert(Queue(tx.clone()));
    socket.on_fallback(async |_: Queued| {});
    socket.on_disconnect(async move || {
        let _ = tx.send(Inbound::Disconnected);
    });
    let conn = Conn {
        socket,
        sandbox,
        inited: false,
        user: None,
        replay: HashMap::new(),
        replay_order: VecDeque::new(),
        sync_key: 0,
        synced: HashMap::new(),
        handed: super::offline::Handed::default(),
    };
    tokio::spawn(conn.run(rx));
}

struct Conn {
    socket: SocketRef,
    sandbox: Arc<Sandbox>,
    inited: bool,
    user: Option<String>,
    replay: HashMap<i64, (String, Value)>,
    replay_order: VecDeque<i64>,
    sync_key: i64,
    /// Message ids handed over in each `sync_conversation`, by its `sync_key`.
    synced: HashMap<i64, Vec<i64>>,
    /// Events and receipt changes handed over in `sync_event` / `sync_receipt`.
    handed: super::offline::Handed,
}

fn refused(r: Refusal) -> Value {
    json!({"code": r.code, "message": r.message})
}

fn ok() -> Value {
    json!({"code": 0, "message": "success"})
}

impl Conn {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Inbound>) {
        while let Some(inbound) = rx.recv().await {
            match inbound {
                Inbound::Disconnected => break,
                Inbound::Event(name, data) => self.on_event(&name, data),
            }
        }
        if let Some(user) = self.user.take() {
            self.sandbox.offline(&user, &self.socket);
        }
    }

    fn emit(&self, name: &str, data: &Value) {
        if let Err(e) = self.socket.emit(name, data) {
            debug!(error = %e, event = name, "emit failed");
        }
    }

    fn on_event(&mut self, name: &str, data: Value) {
        let rid = data.get("rid").and_then(Value::as_i64);
        let Some(rid) = rid else {
            // Nothing to answer (the SDK always sends a rid).
            debug!(event = name, "event without rid ignored");
            return;
        };
        self.emit(event::ACK, &json!({ "rid": rid }));
        if let Some(cached) = self.replayed(rid, name) {
            self.emit(name, &cached);
            return;
        }
        let mut response = self.handle(name, &data);
        response["rid"] = json!(rid);
        // A fault test may have the answer lost (it is still kept for a replayed `rid`).
        if !self.sandbox.withholds_answer_to(name, &data) {
            self.emit(name, &response);
        }
        self.remember(rid, name, response);
        if name == event::SYNC_CHECK {
            self.push_offline();
        }
    }

    /// A response already given to `rid`: per user once logged in (so a resend over a new
    /// connection is replayed too), per connection before.
    fn replayed(&self, rid: i64, name: &str) -> Option<Value> {
        if let Some(user) = &self.user {
            if let Some(v) = self.sandbox.replayed(user, rid, name) {
                return Some(v);
            }
        }
        match self.replay.get(&rid) {
            Some((n, v)) if n == name => Some(v.clone()),
            _ => None,
        }
    }

    fn remember(&mut self, rid: i64, name: &str, response: Value) {
        if let Some(user) = &self.user {
            if name != event::LOGIN {
                self.sandbox.remember(user, rid, name, &response);
                return;
            }
        }
        self.replay.insert(rid, (name.to_owned(), response));
        self.replay_order.push_back(rid);
        if self.replay_order.len() > REPLAY_WINDOW {
            if let Some(old) = self.replay_order.pop_front() {
                self.replay.remove(&old);
            }
        }
    }

    fn handle(&mut self, name: &str, data: &Value) -> Value {
        match name {
            event::INIT => match serde_json::from_value::<wire::Init>(data.clone()) {
                Err(_) => refused(Refusal {
                    code: wire::code::INVALID_PARAMETER,
                    message: "invalid parameter".into(),
                }),
                Ok(init) => {
                    // The connection belongs to the app it initialises with, once that app
                    // checked the signature (and not after a login: one user per connection).
                    let app = self
                        .sandbox
                        .app(&init.appkey)
                        .filter(|_| self.user.is_none())
                        .unwrap_or_else(|| self.sandbox.clone());
                    match app.check_init(&init) {
                        Ok(()) => {
                            self.sandbox = app;
                            self.inited = true;
                            ok()
                        }
                        Err(r) => {
                            self.inited = self.user.is_some();
                            refused(r)
                        }
                    }
                }
            },
            event::REGISTER | event::LOGIN if !self.inited => refused(Refusal {
                code: wire::code::APPKEY_NOT_EXIST,
                message: "init first".into(),
            }),
            event::REGISTER => {
                let username = data["username"].as_str().unwrap_or_default();
                let password = data["password"].as_str().unwrap_or_default();
                if username.is_empty() || password.is_empty() {
                    return refused(Refusal {
                        code: wire::code::INVALID_PARAMETER,
                        message: "invalid parameter".into(),
                    });
                }
                if !crate::network::jmessage::across::valid_username(username) {
                    return refused(Refusal {
                        code: wire::code::INVALID_PARAMETER,
                        message: "invalid username: letters, digits, _ . - @ only".into(),
                    });
                }
                if self.sandbox.register_md5(username, password) {
                    ok()
                } else {
                    json!({"code": 882002, "message": "user exist"})
                }
            }
            event::LOGIN => {
                if self.user.is_some() {
                    return refused(Refusal {
                        code: wire::code::ALREADY_LOGGED_IN,
                        message: "already login,please login out before login".into(),
                    });
                }
                let username = data["username"].as_str().unwrap_or_default().to_owned();
                let password = data["password"].as_str().unwrap_or_default();
                match self.sandbox.check_login(&username, password) {
                    Ok(()) => {
                        self.sandbox.online(&username, self.socket.clone());
                        self.user = Some(username);
                        ok()
                    }
                    Err(r) => refused(r),
                }
            }
            _ => match self.user.clone() {
                None => refused(Refusal {
                    code: wire::code::MISSING,
                    message: "not logged in".into(),
                }),
                Some(user) => self.logged_in(&user, name, data),
            },
        }
    }

    fn logged_in(&mut self, user: &str, name: &str, data: &Value) -> Value {
        match name {
            event::SYNC_CHECK => json!({
                "code": 0, "message": "success",
                "sync_key": self.sync_key,
                "sync_type": data["sync_type"].as_i64().unwrap_or(0),
                "sync_event_key": data["sync_event_key"].as_i64().unwrap_or(0),
                "msg_receipt_key": data["msg_receipt_key"].as_i64().unwrap_or(0),
            }),
            event::S_SINGLE_TEXT => {
                let content = data
                    .get("content")
                    .cloned()
                    .and_then(|c| serde_json::from_value::<Content>(c).ok());
                let Some(mut content) = content else {
                    return refused(Refusal {
                        code: wire::code::INVALID_PARAMETER,
                        message: "invalid parameter".into(),
                    });
                };
                // The SDK names the receiver's app in the request's `appkey` (and in the
                // content only when `appkey` was given to `sendSingleMsg`).
                if content.target_appkey.as_deref().is_none_or(str::is_empty) {
                    content.target_appkey = data["appkey"].as_str().map(str::to_owned);
                }
                match self.sandbox.send_single(user, content) {
                    Ok((msg_id, ctime_ms)) => json!({
                        "code": 0, "message": "success", "msg_id": msg_id, "ctime_ms": ctime_ms,
                    }),
                    Err(r) => refused(r),
                }
            }
            event::MSG_RECV_V2 | "msg_recv" => {
                if let Some(id) = data["msg_id"].as_i64() {
                    self.sandbox.delivered(user, id);
                }
                ok()
            }
            event::SYNC_CONVERSATION_ACK => {
                if let Some(key) = data["sync_key"].as_i64() {
                    if let Some(ids) = self.synced.remove(&key) {
                        self.sandbox.delivered_all(user, &ids);
                    }
                }
                ok()
            }
            event::SYNC_EVENT_ACK | event::SYNC_RECEIPT_ACK => {
                if let Some(key) = data["sync_key"].as_i64() {
                    let receipts = name == event::SYNC_RECEIPT_ACK;
                    self.handed.acked(&self.sandbox, user, receipts, key);
                }
                ok()
            }
            event::EVENT_NOTIFICATION => ok(),
            _ => super::group_calls::handle(&self.sandbox, user, name, data)
                .or_else(|| super::receipts::handle(&self.sandbox, user, name, data))
                .or_else(|| super::profiles::handle(&self.sandbox, user, name, data))
                .or_else(|| super::nodisturb::handle(&self.sandbox, user, name, data))
                .or_else(|| super::friends::handle(&self.sandbox, user, name, data))
                .or_else(|| {
                    let host = self
                        .socket
                        .req_parts()
                        .headers
                        .get(axum::http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1")
                        .to_owned();
                    super::media::handle(&self.sandbox, user, name, data, &host)
                })
                .unwrap_or_else(|| {
                json!({"code": wire::code::MISSING, "message": format!("{name} is not implemented by the sandbox")})
            }),
        }
    }

    /// After a `sync_check`: the messages still undelivered (less those handed over on this
    /// connection and not acknowledged yet), as one `sync_conversation`,
    /// then the events and receipt changes kept meanwhile (`sync_event`, `sync_receipt`).
    fn push_offline(&mut self) {
        let Some(user) = self.user.clone() else {
            return;
        };
        self.push_conversations(&user);
        for (name, body) in self.handed.pushes(&self.sandbox, &user) {
            self.emit(name, &body);
        }
    }

    fn push_conversations(&mut self, user: &str) {
        let handed: std::collections::HashSet<i64> =
            self.synced.values().flatten().copied().collect();
        let (conversations, ids) = self.sandbox.pending_conversations_except(user, &handed);
        if ids.is_empty() {
            return;
        }
        self.sync_key += 1;
        self.synced.insert(self.sync_key, ids);
        self.emit(
            event::SYNC_CONVERSATION,
            &json!({ "sync_key": self.sync_key, "messages": conversations }),
        );
    }
}
