//! The sandbox's data: the app (appkey, masterSecret), users with md5 passwords and uids,
//! each user's undelivered messages (pushed live when online, kept until the receiver's
//! `msg_recv_v2` or `sync_conversation_ack`), and the sockets logged in as each user. In
//! memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;
use tracing::debug;

use super::apps::Whose;
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{self, event, PushedMessage};

/// The sandbox app and its timings.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The appkey clients must `c_init` with.
    pub app_key: String,
    /// The masterSecret the `c_init` signature and the REST Basic auth are checked with.
    pub master_secret: String,
    /// Engine.IO `pingInterval` (socket.io 2 servers default to 25 s).
    pub ping_interval: Duration,
    /// Engine.IO `pingTimeout` (socket.io 2 servers default to 5 s; 60 s from socket.io 2.1).
    pub ping_timeout: Duration,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("app_key", &self.app_key)
            .field("master_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SandboxConfig {
    /// The app `app_key` with `master_secret` and the socket.io 2 timings (25 s / 20 s).
    pub fn new(app_key: &str, master_secret: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            master_secret: master_secret.to_owned(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct User {
    uid: i64,
    password_md5: String,
    /// Messages not yet acknowledged by the user, oldest first.
    inbox: VecDeque<PushedMessage>,
    /// Responses to the user's recent requests by `rid` (with the event name), so a request
    /// resent over a new connection is answered again instead of done twice.
    replay: HashMap<i64, (String, Value)>,
    replay_order: VecDeque<i64>,
}

/// How many responses per user are kept for replay by `rid`.
const REPLAY_WINDOW: usize = 256;

#[derive(Default, Serialize, Deserialize)]
struct Inner {
    users: HashMap<String, User>,
    next_uid: i64,
    next_msg_id: i64,
    /// Sockets logged in, by username (not persisted).
    #[serde(skip)]
    online: HashMap<String, Vec<SocketRef>>,
}

/// Why a send was refused: a JMessage error code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i64,
    pub message: String,
}

impl Refusal {
    pub(super) fn new(code: i64, message: &str) -> Self {
        Self {
            code,
            message: message.to_owned(),
        }
    }
}

/// One sandbox app.
pub struct Sandbox {
    pub cfg: SandboxConfig,
    inner: Mutex<Inner>,
    /// Groups and the sent-message ledger (recall); never locked together with `inner`.
    pub(super) book: Mutex<super::groups::Book>,
    /// Users' nicknames and avatars ([`super::profiles`]); locked alone.
    pub(super) profiles: Mutex<HashMap<String, super::profiles::Profile>>,
    /// The other apps of the same service ([`super::apps`]); empty for a lone app.
    pub(super) peers: std::sync::RwLock<Vec<std::sync::Weak<Sandbox>>>,
    /// This app's place in the federation: its ids start `space` × [`super::apps::ID_SPACE`]
    /// (gids × [`super::apps::GID_SPACE`]) above a lone app's.
    pub(super) space: std::sync::atomic::AtomicI64,
    /// Markers of sends whose answers are withheld ([`super::faults`]); locked alone.
    pub(super) withheld: Mutex<Vec<String>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a fresh sandbox starts numbering messages and events: a thousand ids per
/// millisecond of the clock, so a sandbox restarted without `--data` never hands out an id
/// of an earlier run (a client keeps the ids it saw, and a repeated one reads as a duplicate,
/// which the real service never sends). Below 2^53, so the SDK's JavaScript numbers hold it.
fn first_msg_id(now_ms: i64) -> i64 {
    now_ms.max(1_000).saturating_mul(1_000)
}

impl Sandbox {
    pub fn new(cfg: SandboxConfig) -> Self {
        Self {
            cfg,
            inner: Mutex::new(Inner {
                next_uid: 10_000,
                next_msg_id: first_msg_id(now_ms()),
                ..Inner::default()
            }),
            book: Mutex::new(super::groups::Book::default()),
            profiles: Mutex::new(HashMap::new()),
            peers: std::sync::RwLock::new(Vec::new()),
            space: std::sync::atomic::AtomicI64::new(0),
            withheld: Mutex::new(Vec::new()),
        }
    }

    /// The user's uid.
    pub(super) fn uid_of(&self, username: &str) -> Option<i64> {
        if let Whose::There(app, user) = self.whose(username) {
            return app.uid_of(user);
        }
        self.own_uid(username)
    }

    /// The uid of `username` of this app only (a sender, who must be this app's user).
    pub(super) fn own_uid(&self, username: &str) -> Option<i64> {
        let uid = self.lock().users.get(username).map(|u| u.uid)?;
        Some(uid + self.id_space() * super::apps::UID_SPACE)
    }

    /// A fresh id from the message/event sequence (in this app's id space).
    pub(super) fn next_id(&self) -> i64 {
        let mut inner = self.lock();
        self.bump(&mut inner)
    }

    fn bump(&self, inner: &mut Inner) -> i64 {
        inner.next_msg_id += 1;
        inner.next_msg_id + self.id_space() * super::apps::ID_SPACE
    }

    /// Keeps `msg` in the inbox of each of `to` and pushes it (`msg_sync`) to their sockets.
    pub(super) fn deliver(&self, to: &[String], msg: &PushedMessage) {
        let to = self.route_names(to, |app, users| app.deliver(users, msg));
        let mut inner = self.lock();
        let mut sockets = Vec::new();
        for name in &to {
            if let Some(user) = inner.users.get_mut(name) {
                user.inbox.push_back(msg.clone());
            }
            sockets.extend(inner.online.get(name).cloned().unwrap_or_default());
        }
        drop(inner);
        let push = json!({ "messages": [msg] });
        for s in sockets {
            if let Err(e) = s.emit(event::MSG_SYNC, &push) {
                debug!(error = %e, "msg_sync push failed");
            }
        }
    }

    /// Pushes `event_notification` `note` to every socket of each of `to`; those of `to`
    /// with no socket get it in `sync_event` at their next login ([`super::offline`]).
    pub(super) fn notify(&self, to: &[String], note: &Value) {
        let to = self.route_names(to, |app, users| app.notify(users, note));
        let inner = self.lock();
        let mut sockets: Vec<SocketRef> = Vec::new();
        let mut away: Vec<String> = Vec::new();
        for n in &to {
            match inner.online.get(n) {
                Some(list) if !list.is_empty() => sockets.extend(list.iter().cloned()),
                _ if inner.users.contains_key(n) => away.push(n.clone()),
                _ => {}
            }
        }
        drop(inner);
        self.keep_events(&away, note);
        for s in sockets {
            if let Err(e) = s.emit(event::EVENT_NOTIFICATION, note) {
                debug!(error = %e, "event_notification push failed");
            }
        }
    }

    /// Emits `name` with `data` to every socket of `username`.
    pub(super) fn push_to(&self, username: &str, name: &str, data: &Value) {
        if let Whose::There(app, user) = self.whose(username) {
            return app.push_to(user, name, data);
        }
        let sockets = self
            .lock()
            .online
            .get(username)
            .cloned()
            .unwrap_or_default();
        for s in sockets {
            if let Err(e) = s.emit(name, data) {
                debug!(error = %e, event = name, "push failed");
            }
        }
    }

    /// Drops `msg_id` from every inbox (a retracted message is not handed over later).
    pub(super) fn forget(&self, msg_id: i64) {
        for user in self.lock().users.values_mut() {
            user.inbox.retain(|m| m.msg_id != msg_id);
        }
        // A cross-app message waits in the other app's inboxes.
        for app in self.peer_apps() {
            for user in app.lock().users.values_mut() {
                user.inbox.retain(|m| m.msg_id != msg_id);
            }
        }
    }

    /// The persisted part of the users' state (not the sockets), as JSON.
    pub(super) fn users_data(&self) -> serde_json::Result<Value> {
        serde_json::to_value(&*self.lock())
    }

    /// Replaces the users' state with a persisted one.
    pub(super) fn restore_users(&self, data: Value) -> serde_json::Result<()> {
        let inner: Inner = serde_json::from_value(data)?;
        *self.lock() = inner;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `username` with the plaintext `password`; false when the name is taken or
    /// breaks the service's username rules ([`across::valid_username`]).
    pub fn register(&self, username: &str, password: &str) -> bool {
        self.register_md5(username, &wire::md5_hex(password.as_bytes()))
    }

    /// Registers `username` with an md5 password (as the SDK's `register` sends it).
    pub fn register_md5(&self, username: &str, password_md5: &str) -> bool {
        let mut inner = self.lock();
        if inner.users.contains_key(username) || !across::valid_username(username) {
            return false;
        }
        inner.next_uid += 1;
        let uid = inner.next_uid;
        inner.users.insert(
            username.to_owned(),
            User {
                uid,
                password_md5: password_md5.to_ascii_lowercase(),
                inbox: VecDeque::new(),
                replay: HashMap::new(),
                replay_order: VecDeque::new(),
            },
        );
        true
    }

    /// Sets `username`'s password (plaintext) and tells every socket logged in as them
    /// (`event_notification` type 2, "password changed": the clients log out); false for an
    /// unknown user.
    pub fn set_password(&self, username: &str, password: &str) -> bool {
        let mut inner = self.lock();
        let Some(user) = inner.users.get_mut(username) else {
            return false;
        };
        user.password_md5 = wire::md5_hex(password.as_bytes());
        let event_id = self.bump(&mut inner);
        let sockets = inner.online.remove(username).unwrap_or_default();
        drop(inner);
        let note = json!({
            "event_id": event_id,
            "event_type": wire::event_type::PASSWORD_CHANGED,
            "from_username": "",
            "from_uid": 0,
            "gid": 0,
            "to_usernames": [username],
            "ctime_ms": now_ms(),
            "description": "password changed",
        });
        for s in sockets {
            if let Err(e) = s.emit(event::EVENT_NOTIFICATION, &note) {
                debug!(error = %e, "event_notification push failed");
            }
        }
        true
    }

    /// Whether `username` exists.
    pub fn has_user(&self, username: &str) -> bool {
        match self.whose(username) {
            Whose::Here => self.lock().users.contains_key(username),
            Whose::There(app, user) => app.has_user(user),
            Whose::Nowhere => false,
        }
    }

    /// Checks a `c_init`: the appkey, the 10-minute window and the signature.
    pub fn check_init(&self, init: &wire::Init) -> Result<(), Refusal> {
        if init.appkey != self.cfg.app_key {
            return Err(Refusal::new(
                wire::code::APPKEY_NOT_EXIST,
                "appkey not exist",
            ));
        }
        if (now_ms() - init.timestamp).abs() > wire::SIGNATURE_TTL_MS {
            return Err(Refusal::new(
                wire::code::SIGNATURE_EXPIRED,
                "signatu is expire",
            ));
        }
        let expected = wire::signature(
            &init.appkey,
            init.timestamp,
            &init.random_str,
            &self.cfg.master_secret,
        );
        if !expected.eq_ignore_ascii_case(&init.signature) {
            return Err(Refusal::new(wire::code::SIGNATURE_FAIL, "signatu fail"));
        }
        Ok(())
    }

    /// Checks a login (md5 password).
    pub fn check_login(&self, username: &str, password_md5: &str) -> Result<(), Refusal> {
        let inner = self.lock();
        let user = inner
            .users
            .get(username)
            .ok_or_else(|| Refusal::new(wire::code::USER_NOT_EXIST, "user not exist"))?;
        if !user.password_md5.eq_ignore_ascii_case(password_md5) {
            return Err(Refusal::new(
                wire::code::INVALID_PASSWORD,
                "invalid password",
            ));
        }
        Ok(())
    }

    /// Marks `socket` as logged in as `username`.
    pub fn online(&self, username: &str, socket: SocketRef) {
        self.lock()
            .online
            .entry(username.to_owned())
            .or_default()
            .push(socket);
    }

    /// Forgets `socket` (disconnected).
    pub fn offline(&self, username: &str, socket: &SocketRef) {
        let mut inner = self.lock();
        if let Some(list) = inner.online.get_mut(username) {
            list.retain(|s| s.id != socket.id);
            if list.is_empty() {
                inner.online.remove(username);
            }
        }
    }

    /// Closes every socket logged in as `username` (a dropped link, for reconnect tests);
    /// returns how many.
    pub fn disconnect_user(&self, username: &str) -> usize {
        let sockets = self.lock().online.remove(username).unwrap_or_default();
        let n = sockets.len();
        for s in sockets {
            let _ = s.disconnect();
        }
        n
    }

    /// How many sockets are logged in as `username`.
    pub fn sessions_of(&self, username: &str) -> usize {
        self.lock().online.get(username).map_or(0, Vec::len)
    }

    /// The response `username` already got for request `rid` of event `name`, if any.
    pub fn replayed(&self, username: &str, rid: i64, name: &str) -> Option<Value> {
        let inner = self.lock();
        let (event, response) = inner.users.get(username)?.replay.get(&rid)?;
        (event == name).then(|| response.clone())
    }

    /// Keeps the response to `username`'s request `rid` for replay.
    pub fn remember(&self, username: &str, rid: i64, name: &str, response: &Value) {
        let mut inner = self.lock();
        let Some(user) = inner.users.get_mut(username) else {
            return;
        };
        if user
            .replay
            .insert(rid, (name.to_owned(), response.clone()))
            .is_none()
        {
            user.replay_order.push_back(rid);
        }
        if user.replay_order.len() > REPLAY_WINDOW {
            if let Some(old) = user.replay_order.pop_front() {
                user.replay.remove(&old);
            }
        }
    }

    /// The receiver acknowledged `msg_id`.
    pub fn delivered(&self, username: &str, msg_id: i64) {
        if let Some(user) = self.lock().users.get_mut(username) {
            user.inbox.retain(|m| m.msg_id != msg_id);
        }
    }

    /// The undelivered messages of `username`, oldest first, as `sync_conversation`
    /// conversations (one per peer, in the order of each peer's first message), with the
    /// ids they hold.
    pub fn pending_conversations(&self, username: &str) -> (Vec<Value>, Vec<i64>) {
        self.pending_conversations_except(username, &HashSet::new())
    }

    /// [`Sandbox::pending_conversations`] less the messages in `handed` (handed over on this
    /// connection already and not acknowledged yet: a second `sync_check` before the
    /// `sync_conversation_ack` does not hand them over twice).
    pub fn pending_conversations_except(
        &self,
        username: &str,
        handed: &HashSet<i64>,
    ) -> (Vec<Value>, Vec<i64>) {
        let inner = self.lock();
        let Some(user) = inner.users.get(username) else {
            return (Vec::new(), Vec::new());
        };
        // A conversation is a peer (single) or a group (`from_gid`).
        let mut order: Vec<(i64, String)> = Vec::new();
        let mut by_peer: HashMap<(i64, String), Vec<&PushedMessage>> = HashMap::new();
        let inbox: Vec<&PushedMessage> = user
            .inbox
            .iter()
            .filter(|m| !handed.contains(&m.msg_id))
            .collect();
        for m in inbox.iter().copied() {
            let peer = if m.msg_type == wire::MSG_TYPE_GROUP {
                (m.from_gid, String::new())
            } else {
                let app = m.content.from_appkey.as_deref().unwrap_or_default();
                (
                    0,
                    across::name(&m.content.from_id, Some(app), &self.cfg.app_key),
                )
            };
            if !by_peer.contains_key(&peer) {
                order.push(peer.clone());
            }
            by_peer.entry(peer).or_default().push(m);
        }
        let ids = inbox.iter().map(|m| m.msg_id).collect();
        let conversations = order
            .into_iter()
            .map(|peer| {
                let msgs = &by_peer[&peer];
                let from_appkey = msgs[0]
                    .content
                    .from_appkey
                    .clone()
                    .unwrap_or_else(|| self.cfg.app_key.clone());
                let from_username = across::split(&peer.1, &self.cfg.app_key).0;
                json!({
                    "msg_type": if peer.0 != 0 { wire::MSG_TYPE_GROUP } else { wire::MSG_TYPE_SINGLE },
                    "from_appkey": from_appkey,
                    "from_username": from_username,
                    "from_gid": peer.0,
                    "unsync_count": msgs.len(),
                    "msgs": msgs,
                })
            })
            .collect();
        (conversations, ids)
    }

    /// Drops `ids` from the inbox of `username` (a `sync_conversation_ack`).
    pub fn delivered_all(&self, username: &str, ids: &[i64]) {
        if let Some(user) = self.lock().users.get_mut(username) {
            user.inbox.retain(|m| !ids.contains(&m.msg_id));
        }
    }
}

/// A lone app `key` (masterSecret `secret`) with `users` registered (password `pw`), for
/// the sandbox's unit tests.
#[cfg(test)]
impl Sandbox {
    pub(super) fn with_users_for_tests(users: &[&str]) -> Self {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        for u in users {
            sb.register(u, "pw");
        }
        sb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(sb: &Sandbox, secret: &str, ts: i64) -> wire::Init {
        let rs = "abcdefghij0123456789xyz".to_owned();
        wire::Init {
            appkey: sb.cfg.app_key.clone(),
            signature: wire::signature(&sb.cfg.app_key, ts, &rs, secret),
            random_str: rs,
            timestamp: ts,
            flag: 0,
            from_platform: None,
        }
    }

    #[test]
    fn init_checks_appkey_window_and_signature() {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        assert_eq!(sb.check_init(&init(&sb, "secret", now_ms())), Ok(()));
        assert_eq!(
            sb.check_init(&init(&sb, "wrong", now_ms()))
                .unwrap_err()
                .code,
            wire::code::SIGNATURE_FAIL
        );
        assert_eq!(
            sb.check_init(&init(&sb, "secret", now_ms() - 11 * 60 * 1000))
                .unwrap_err()
                .code,
            wire::code::SIGNATURE_EXPIRED
        );
        let mut other = init(&sb, "secret", now_ms());
        other.appkey = "nope".into();
        assert_eq!(
            sb.check_init(&other).unwrap_err().code,
            wire::code::APPKEY_NOT_EXIST
        );
    }

    #[test]
    fn login_checks_user_and_md5_password() {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        assert!(sb.register("alice", "pw"));
        assert!(!sb.register("alice", "other"));
        assert_eq!(sb.check_login("alice", &wire::md5_hex(b"pw")), Ok(()));
        assert_eq!(
            sb.check_login("alice", &wire::md5_hex(b"x"))
                .unwrap_err()
                .code,
            wire::code::INVALID_PASSWORD
        );
        assert_eq!(
            sb.check_login("bob", "x").unwrap_err().code,
            wire::code::USER_NOT_EXIST
        );
    }
}
