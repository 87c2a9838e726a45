//! The stand-in homeserver: an axum server answering, at once, the client-server API calls
//! the bridge makes (register, profile, capabilities, create room, send, state, membership,
//! redact, receipts, typing, presence, media upload, ping), and a pusher that delivers appservice
//! transactions to the bridge as Synapse does: `PUT /_matrix/app/v1/transactions/{txnId}`,
//! at most 100 events each, one in flight, the same transaction retried (with backoff) until
//! the bridge answers 200.
//!
//! Events the bridge sends as its own users come back to it in later transactions (Synapse
//! pushes every event of the appservice's namespace), unless echoes are turned off.
//! Every request is counted by endpoint, so a phase can report requests per message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::tracker::Tracker;

/// The homeserver's server name.
pub const DOMAIN: &str = "bench";
/// Most events in one transaction (Synapse's limit).
const MAX_TXN_EVENTS: usize = 100;
/// Attempts at one transaction before it is given up (reported as a failure).
const MAX_ATTEMPTS: u32 = 30;
/// Most non-benchmark messages kept in [`Homeserver::notices`].
const MAX_NOTICES: usize = 200_000;

/// Locks a mutex, surviving poisoning (a panicked task must not stop the benchmark).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The users a room was created with (its creator and invitees).
#[derive(Debug, Clone, Default)]
pub struct RoomInfo {
    pub members: Vec<String>,
}

/// A notice or other non-benchmark message the bridge sent (room, body).
pub type Notice = (String, String);

/// State shared by the HTTP handlers, the pusher and the benchmark.
pub struct Homeserver {
    hs_token: String,
    as_url: String,
    echo: bool,
    counter: AtomicU64,
    /// Rooms made through `createRoom`, by id.
    pub rooms: Mutex<HashMap<String, RoomInfo>>,
    /// Rooms the bot joined.
    pub bot_joined: Mutex<HashSet<String>>,
    /// Who sent the first benchmark message in each room (its ghost).
    pub senders: Mutex<HashMap<String, String>>,
    /// Other messages the bridge sent (bounded).
    pub notices: Mutex<Vec<Notice>>,
    /// Requests by endpoint.
    requests: Mutex<HashMap<&'static str, u64>>,
    /// Arrivals of IM → Matrix benchmark messages.
    pub to_matrix: Tracker,
    queue: Mutex<VecDeque<Value>>,
    queued: Notify,
    /// Transactions answered 200, and attempts that failed.
    pub txns_ok: AtomicU64,
    pub txn_failures: AtomicU64,
    pub events_pushed: AtomicU64,
    /// While set, the homeserver is "restarting": every request is answered 502 and the
    /// pusher holds its transaction (as Synapse resumes its queue after a restart).
    pub down: AtomicBool,
    /// Event id by (user, transaction id) of `PUT …/send/…`: a retried send gets the first
    /// answer and is not recorded again (Synapse's idempotency).
    sent_txns: Mutex<HashMap<(String, String), String>>,
}

impl Homeserver {
    /// A stand-in pushing to the appservice at `as_url` with `hs_token`.
    pub fn new(hs_token: &str, as_url: &str, echo: bool) -> Arc<Self> {
        Arc::new(Self {
            hs_token: hs_token.to_owned(),
            as_url: as_url.trim_end_matches('/').to_owned(),
            echo,
            counter: AtomicU64::new(0),
            rooms: Mutex::default(),
            bot_joined: Mutex::default(),
            senders: Mutex::default(),
            notices: Mutex::default(),
            requests: Mutex::default(),
            to_matrix: Tracker::default(),
            queue: Mutex::default(),
            queued: Notify::new(),
            txns_ok: AtomicU64::new(0),
            txn_failures: AtomicU64::new(0),
            events_pushed: AtomicU64::new(0),
            down: AtomicBool::new(false),
            sent_txns: Mutex::default(),
        })
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn event_id(&self) -> String {
        format!("$s{}", self.next())
    }

    /// Queues events for the bridge (pushed in order, ≤ 100 per transaction).
    pub fn push_events(&self, events: impl IntoIterator<Item = Value>) {
        lock(&self.queue).extend(events);
        self.queued.notify_one();
    }

    /// A room event from `sender` as the homeserver would deliver it.
    pub fn room_event(&self, room: &str, sender: &str, kind: &str, content: Value) -> Value {
        json!({
            "type": kind,
            "room_id": room,
            "sender": sender,
            "event_id": self.event_id(),
            "origin_server_ts": now_ms(),
            "content": content,
        })
    }

    /// A membership event (`target` is the state key).
    pub fn member_event(&self, room: &str, sender: &str, target: &str, content: Value) -> Value {
        let mut event = self.room_event(room, sender, "m.room.member", content);
        event["state_key"] = json!(target);
        event
    }

    /// Requests counted so far, all endpoints together and by endpoint.
    pub fn request_counts(&self) -> (u64, HashMap<&'static str, u64>) {
        let map = lock(&self.requests).clone();
        (map.values().sum(), map)
    }

    /// Events still waiting to be pushed.
    pub fn queue_len(&self) -> usize {
        lock(&self.queue).len()
    }

    fn count(&self, endpoint: &'static str) {
        *lock(&self.requests).entry(endpoint).or_default() += 1;
    }

    /// Pushes queued events to the bridge forever: one transaction in flight, ≤ 100 events.
    pub async fn run_pusher(self: Arc<Self>) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let mut txn = 0u64;
        loop {
            let batch: Vec<Value> = {
                let mut queue = lock(&self.queue);
                let n = queue.len().min(MAX_TXN_EVENTS);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                self.queued.notified().await;
                continue;
            }
            txn += 1;
            let url = format!("{}/_matrix/app/v1/transactions/bench{txn}", self.as_url);
            let body = json!({ "events": batch }).to_string();
            let count = batch.len() as u64;
            let mut delay = Duration::from_millis(20);
            for attempt in 1..=MAX_ATTEMPTS {
                while self.down.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let sent = http
                    .put(&url)
                    .bearer_auth(&self.hs_token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if sent.as_ref().is_ok_and(|r| r.status().is_success()) {
                    self.txns_ok.fetch_add(1, Ordering::Relaxed);
                    self.events_pushed.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                self.txn_failures.fetch_add(1, Ordering::Relaxed);
                if attempt == MAX_ATTEMPTS {
                    eprintln!("stand-in: transaction {txn} given up after {attempt} attempts");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The router answering every client-server API call.
pub fn router(hs: Arc<Homeserver>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(hs)
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn not_found(errcode: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "errcode": errcode, "error": "stand-in" })),
    )
        .into_response()
}

/// The `user_id` query parameter (the appservice's identity assertion), else the bot.
fn acting_user(uri: &Uri) -> String {
    uri.query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "user_id")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| format!("@bot:{DOMAIN}"))
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn handle(
    State(hs): State<Arc<Homeserver>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let segments: Vec<String> = path.split('/').skip(1).map(decode).collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let user = acting_user(&uri);
    if hs.down.load(Ordering::Relaxed) {
        return (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "errcode": "M_UNKNOWN", "error": "stand-in restarting" })),
        )
            .into_response();
    }
    let json_body = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    match (method.as_str(), s.as_slice()) {
        ("POST", ["_matrix", "client", _, "register"]) => {
            hs.count("register");
            let name = json_body()["username"].as_str().unwrap_or("x").to_owned();
            ok(json!({ "user_id": format!("@{name}:{DOMAIN}") }))
        }
        ("PUT", ["_matrix", "client", _, "profile", ..]) => {
            hs.count("profile");
            ok(json!({}))
        }
        ("GET", ["_matrix", "client", _, "capabilities"]) => {
            hs.count("capabilities");
            ok(json!({ "capabilities": { "m.room_versions": {
                "default": "10", "available": { "10": "stable", "11": "stable" } } } }))
        }
        ("POST", ["_matrix", "client", _, "createRoom"]) => {
            hs.count("createRoom");
            let room = format!("!r{}:{DOMAIN}", hs.next());
            let mut members = vec![user];
            if let Some(invite) = json_body()["invite"].as_array() {
                members.extend(invite.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
            lock(&hs.rooms).insert(room.clone(), RoomInfo { members });
            ok(json!({ "room_id": room }))
        }
        ("PUT", ["_matrix", "client", _, "rooms", room, "send", kind, txn]) => {
            hs.count("send");
            let key = (user.clone(), (*txn).to_owned());
            if let Some(event_id) = lock(&hs.sent_txns).get(&key) {
                return ok(json!({ "event_id": event_id }));
            }
            let content = json_body();
            on_sent(&hs, room, &user, kind, &content);
            let event_id = hs.event_id();
            lock(&hs.sent_txns).insert(key, event_id.clone());
            if hs.echo {
                let mut echo = hs.room_event(room, &user, kind, content);
                echo["event_id"] = json!(event_id);
                hs.push_events([echo]);
            }
            ok(json!({ "event_id": event_id }))
        }
        ("PUT", ["_matrix", "client", _, "rooms", _, "state", ..]) => {
            hs.count("state_put");
            ok(json!({ "event_id": hs.event_id() }))
        }
        ("GET", ["_matrix", "client", _, "rooms", _, "state", ..]) => {
            hs.count("state_get");
            not_found("M_NOT_FOUND")
        }
        ("POST", ["_matrix", "client", _, "rooms", room, "join"])
        | ("POST", ["_matrix", "client", _, "join", room]) => {
            hs.count("join");
            if user == format!("@bot:{DOMAIN}") {
                lock(&hs.bot_joined).insert((*room).to_owned());
            }
            ok(json!({ "room_id": room }))
        }
        ("POST", ["_matrix", "client", _, "rooms", _, "invite" | "leave" | "kick" | "ban"]) => {
            hs.count("membership");
            ok(json!({}))
        }
        ("GET", ["_matrix", "client", _, "rooms", _, "joined_members"]) => {
            hs.count("joined_members");
            ok(json!({ "joined": {} }))
        }
        ("PUT", ["_matrix", "client", _, "rooms", _, "redact", ..]) => {
            hs.count("redact");
            ok(json!({ "event_id": hs.event_id() }))
        }
        ("POST", ["_matrix", "client", _, "rooms", _, "receipt", ..]) => {
            hs.count("receipt");
            ok(json!({}))
        }
        ("PUT", ["_matrix", "client", _, "rooms", _, "typing", _]) => {
            hs.count("typing");
            ok(json!({}))
        }
        ("GET", ["_matrix", "client", _, "rooms", _, "event", _]) => {
            hs.count("event_get");
            not_found("M_NOT_FOUND")
        }
        ("POST", ["_matrix", "client", _, "appservice", _, "ping"]) => {
            hs.count("ping");
            ok(json!({ "duration_ms": 0 }))
        }
        ("POST", ["_matrix", "media", _, "upload"]) => {
            hs.count("upload");
            ok(json!({ "content_uri": format!("mxc://{DOMAIN}/m{}", hs.next()) }))
        }
        ("PUT", ["_matrix", "client", _, "presence", _, "status"]) => {
            hs.count("presence");
            ok(json!({}))
        }
        ("GET", ["_matrix", "client", _, "account", "whoami"]) => {
            hs.count("whoami");
            ok(json!({ "user_id": user }))
        }
        _ => {
            hs.count("unknown");
            eprintln!("stand-in: unanswered {method} {path}");
            not_found("M_UNRECOGNIZED")
        }
    }
}

/// Records a message the bridge sent: a benchmark body (`bench <seq>`) arrives in the
/// tracker, anything else is kept as a notice.
fn on_sent(hs: &Homeserver, room: &str, user: &str, kind: &str, content: &Value) {
    if kind != "m.room.message" {
        return;
    }
    let body = content["body"].as_str().unwrap_or_default();
    if let Some(seq) = body.strip_prefix("bench ").and_then(|s| s.parse().ok()) {
        hs.to_matrix.arrive(seq, Instant::now());
        let mut senders = lock(&hs.senders);
        if !senders.contains_key(room) {
            senders.insert(room.to_owned(), user.to_owned());
        }
        return;
    }
    let mut notices = lock(&hs.notices);
    if notices.len() < MAX_NOTICES {
        notices.push((room.to_owned(), body.to_owned()));
    }
}
