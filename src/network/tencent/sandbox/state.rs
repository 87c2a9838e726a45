//! The sandbox's shared state: accounts, online instances, C2C delivery (live push to every
//! online instance of the receiver and to the sender's other instances) and the offline
//! store that `openim.getmsg` pages through. In memory, saved to a data dir by
//! [`super::persist`] when the sandbox has one.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::info;

use super::super::usersig::{self, UserSigDoc, UserSigError};

pub mod c2c_ops;
pub mod notify;
pub mod reactions;
pub mod receipts;
pub use c2c_ops::{SendMeta, MODIFY_CONFLICT, MSG_NOT_FOUND};

/// Sandbox settings.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The app's SDKAppID.
    pub sdk_app_id: u64,
    /// The app's SecretKey (signs and verifies UserSigs).
    pub secret_key: String,
    /// The REST admin identifier (the console's default is `administrator`).
    pub admin: String,
    /// `HelloInterval` given at login, seconds.
    pub hello_interval: u64,
    /// Messages per `openim.getmsg` page.
    pub getmsg_page: usize,
    /// Send frames longer than this many bytes `COMP`-compressed (zlib) to binary
    /// connections that asked for `compress=gzip`; `None` (the default) never compresses.
    /// The real server's threshold is not known.
    pub compress_over: Option<usize>,
    /// How many Web instances of one account may be online at once (the console's
    /// multi-instance setting for Web); a login past it kicks the oldest instance out with
    /// `KickType` 1 (the SDK's `KICKED_OUT_MULT_ACCOUNT`). `None` (the default): no limit.
    pub web_instances: Option<usize>,
    /// The console's multi-device policy "one platform at a time" (单平台登录): a login on
    /// one platform (the `platform` of its `wslogin` head: 7 Web, 2 Android, 1 iOS …) kicks
    /// the account's instances on every other platform out with `KickType` 2 (the SDK's
    /// `KICKED_OUT_MULT_DEVICE`). Off by default (any platforms at once).
    pub single_platform: bool,
    /// Refuse media downloads that carry no `authKey` (the login's `RichMsgAuthKey`, which
    /// the SDK appends to URLs of the service's media hosts). Off by default: the SDK adds it
    /// only for those hosts or a `fileDownloadProxy`, so its private-network path downloads
    /// from the sandbox without one. A wrong `authKey` is refused either way.
    pub require_auth_key: bool,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("secret_key", &"<redacted>")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl SandboxConfig {
    /// Defaults: admin `administrator`, HelloInterval 120 s, 20 messages per sync page.
    pub fn new(sdk_app_id: u64, secret_key: &str) -> Self {
        Self {
            sdk_app_id,
            secret_key: secret_key.to_owned(),
            admin: "administrator".into(),
            hello_interval: 120,
            getmsg_page: 20,
            compress_over: None,
            web_instances: None,
            single_platform: false,
            require_auth_key: false,
        }
    }
}

/// What a connection's writer is told.
#[derive(Debug, Clone)]
pub enum Out {
    /// Send this JSON frame.
    Frame(String),
    /// Close the websocket (a dropped link, as a network failure would).
    Close,
}

/// The sending side of one connection's writer.
pub type Outbound = mpsc::UnboundedSender<Out>;

struct Instance {
    conn_id: u64,
    tx: Outbound,
    /// The `platform` of its `wslogin` head.
    platform: u32,
}

/// A message waiting in a user's offline store.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// Position in the user's log (the sync cookie counts these).
    index: u64,
    msg: Value,
}

#[derive(Default, Serialize, Deserialize)]
struct Account {
    tiny_id: u64,
    /// Not persisted: a restarted sandbox has no one online.
    #[serde(skip)]
    online: Vec<Instance>,
    offline: Vec<Stored>,
    next_index: u64,
    /// Peer → the C2C message receive option set for them (1 or 2; 0 is not kept):
    /// [`notify`].
    #[serde(default)]
    c2c_mute: HashMap<String, u64>,
    /// The account-wide option (`{Level, StartTime, EndTime, IsRepeated}`): [`notify`].
    #[serde(default)]
    dnd: Option<Value>,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    accounts: HashMap<String, Account>,
    next_tiny: u64,
    next_conn: u64,
    /// `(From_Account, MsgSeq, MsgRandom)` → the reply already given (a retried send).
    #[serde(with = "crate::network::sandbox_store::pairs")]
    sent: HashMap<(String, u64, u64), (u64, String)>,
    a2: HashSet<String>,
    /// A2Key → the account it was issued to (for the SDK's re-login by A2Key and TinyId).
    #[serde(default)]
    a2_users: HashMap<String, String>,
    /// C2C history per conversation (key: the two accounts, sorted), oldest first.
    #[serde(with = "crate::network::sandbox_store::pairs")]
    history: HashMap<(String, String), Vec<Value>>,
    /// Unread count per (reader, peer), cleared by `openim.msgreaded`.
    #[serde(with = "crate::network::sandbox_store::pairs")]
    unread: HashMap<(String, String), u64>,
    /// When (reader, peer) last read the peer's messages, unix seconds (`openim.msgreaded`).
    #[serde(with = "crate::network::sandbox_store::pairs")]
    read_time: HashMap<(String, String), u64>,
    /// Message reactions ([`reactions`]) by message (`c2c:{MsgKey}` or
    /// `group:{GroupId}:{TopicId}:{MsgSeq}`), then by reaction id.
    #[serde(default)]
    reactions: HashMap<String, std::collections::BTreeMap<String, reactions::Reacted>>,
    /// Group messages that asked for read receipts ([`receipts`]), by
    /// `group:{GroupId}:{TopicId}:{MsgSeq}`.
    #[serde(default)]
    receipts: HashMap<String, receipts::Receipt>,
}

/// The persisted part of the state, as JSON ([`super::persist`]).
pub(super) type StateData = Value;

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// `KickType` of an instance kicked by a newer login past the Web instance limit.
pub const KICK_MULTI_INSTANCE: i64 = 1;
/// `KickType` of an instance kicked by a login on another platform
/// ([`SandboxConfig::single_platform`]).
pub const KICK_OTHER_PLATFORM: i64 = 2;

/// Kicks `instances` of `user` out with `kick_type`: the push, then the socket closes.
fn kick_out(user: &str, instances: impl IntoIterator<Item = Instance>, kick_type: i64) {
    let frame = kick_frame(kick_type);
    for i in instances {
        info!(
            user,
            conn_id = i.conn_id,
            kick_type,
            "tencent sandbox: instance kicked out"
        );
        let _ = i.tx.send(Out::Frame(frame.clone()));
        let _ = i.tx.send(Out::Close);
    }
}

/// The `KickoutMsgNotify` push of a kick with `kick_type`.
fn kick_frame(kick_type: i64) -> String {
    use super::super::wire::{self, servcmd, Head};
    let head = Head {
        ver: Some("v4".into()),
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(0),
        ..Default::default()
    };
    let body = json!({"eventArray": [{"event": 7, "C2cNotifyMsgArray": [
        {"KickoutMsgNotify": {"KickType": kick_type, "NewInstInfo": {}}}]}]});
    wire::encode(&head, &body)
}

/// The outcome of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `MsgTime`, unix seconds.
    pub time: u64,
    /// `MsgKey`.
    pub key: String,
}

/// The whole sandbox.
pub struct Sandbox {
    /// Settings.
    pub cfg: SandboxConfig,
    state: Mutex<State>,
    /// `ws_msg_push_ack`s received (for tests of when clients acknowledge).
    push_acks: std::sync::atomic::AtomicU64,
    /// Groups ([`super::groups`]); locked before `state` when both are needed.
    pub(super) groups: super::groups::Groups,
    /// User profiles ([`super::profiles`]).
    pub(super) profiles: super::profiles::Profiles,
    /// Live rooms' polling keys ([`super::live`]).
    pub(super) live: super::live::LiveRooms,
    /// Uploads ([`super::media`]).
    pub(super) media: super::media::MediaStore,
}

impl Sandbox {
    /// The `TinyId` of account `user` (0 for none, as the admin).
    pub(super) fn tiny_id_of(&self, user: &str) -> u64 {
        self.lock().accounts.get(user).map_or(0, |a| a.tiny_id)
    }

    /// The `RichMsgAuthKey` logins are given, which media downloads may carry as `authKey`.
    pub fn rich_msg_auth_key(&self) -> &str {
        self.media.auth_key()
    }

    /// The persisted part of the state (not the online instances).
    pub(super) fn state_data(&self) -> serde_json::Result<StateData> {
        serde_json::to_value(&*self.lock())
    }

    /// Replaces the state with a persisted one.
    pub(super) fn restore_state(&self, data: StateData) -> serde_json::Result<()> {
        let st: State = serde_json::from_value(data)?;
        *self.lock() = st;
        Ok(())
    }

    /// An empty sandbox.
    pub fn new(cfg: SandboxConfig) -> Self {
        Self {
            cfg,
            state: Mutex::new(State {
                next_tiny: 144_115_200_000_000_000,
                ..Default::default()
            }),
            push_acks: Default::default(),
            groups: Default::default(),
            profiles: Default::default(),
            live: Default::default(),
            media: Default::default(),
        }
    }

    /// Sends `frame` to every online instance of `user` but `except_conn`; false when
    /// none was online.
    pub fn push_to(&self, user: &str, frame: &str, except_conn: Option<u64>) -> bool {
        let mut st = self.lock();
        let Some(acc) = st.accounts.get_mut(user) else {
            return false;
        };
        acc.online.retain(|i| !i.tx.is_closed());
        let mut any = false;
        for i in acc.online.iter().filter(|i| Some(i.conn_id) != except_conn) {
            any |= i.tx.send(Out::Frame(frame.to_owned())).is_ok();
        }
        any
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs a UserSig for `identifier` valid for `expire` seconds from now.
    pub fn user_sig(&self, identifier: &str, expire: u64) -> String {
        usersig::sign(
            &self.cfg.secret_key,
            self.cfg.sdk_app_id,
            identifier,
            unix_now(),
            expire,
        )
    }

    /// Verifies a UserSig for `identifier` against this app.
    pub fn verify(&self, identifier: &str, sig: &str) -> Result<UserSigDoc, UserSigError> {
        usersig::verify(
            &self.cfg.secret_key,
            self.cfg.sdk_app_id,
            identifier,
            sig,
            unix_now(),
        )
    }

    /// Counts one `ws_msg_push_ack`.
    pub fn count_push_ack(&self) {
        self.push_acks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many `ws_msg_push_ack`s clients sent so far.
    pub fn push_acks(&self) -> u64 {
        self.push_acks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Imports an account (REST `account_import`); idempotent. Returns its TinyId.
    pub fn import(&self, user: &str) -> u64 {
        let mut st = self.lock();
        let next = st.next_tiny;
        let acc = st.accounts.entry(user.to_owned()).or_default();
        if acc.tiny_id == 0 {
            acc.tiny_id = next;
            st.next_tiny += 1;
        }
        st.accounts.get(user).map_or(0, |a| a.tiny_id)
    }

    /// True when the account exists.
    pub fn exists(&self, user: &str) -> bool {
        self.lock().accounts.contains_key(user)
    }

    /// Registers an online instance after `wslogin` (the account is created on first login,
    /// as with a valid UserSig on the real service). Returns (conn id, TinyId, A2Key): a new
    /// A2Key, or `resumed`, the one a re-login came with (the SDK keeps using its first).
    /// `platform` is the login head's (7: Web).
    pub fn login(
        &self,
        user: &str,
        tx: Outbound,
        resumed: Option<&str>,
        platform: u32,
    ) -> (u64, u64, String) {
        let tiny = self.import(user);
        let a2: String = match resumed {
            Some(a2) => a2.to_owned(),
            None => format!(
                "{:032x}{:032x}",
                rand::rng().random::<u128>(),
                rand::rng().random::<u128>()
            ),
        };
        let mut st = self.lock();
        st.next_conn += 1;
        let conn_id = st.next_conn;
        st.a2.insert(a2.clone());
        st.a2_users.insert(a2.clone(), user.to_owned());
        let limit = self.cfg.web_instances;
        let single_platform = self.cfg.single_platform;
        if let Some(acc) = st.accounts.get_mut(user) {
            acc.online.retain(|i| !i.tx.is_closed());
            if single_platform {
                let (others, same): (Vec<Instance>, Vec<Instance>) =
                    acc.online.drain(..).partition(|i| i.platform != platform);
                acc.online = same;
                kick_out(user, others, KICK_OTHER_PLATFORM);
            }
            if let Some(max) = limit {
                // The newest login wins: the oldest instances past the limit are kicked.
                let over = (acc.online.len() + 1).saturating_sub(max.max(1));
                kick_out(user, acc.online.drain(..over), KICK_MULTI_INSTANCE);
            }
            acc.online.push(Instance {
                conn_id,
                tx,
                platform,
            });
        }
        (conn_id, tiny, a2)
    }

    /// Closes every websocket of `user` (for tests and demos of reconnects); returns how many.
    pub fn drop_connections(&self, user: &str) -> usize {
        let mut st = self.lock();
        let Some(acc) = st.accounts.get_mut(user) else {
            return 0;
        };
        let n = acc.online.len();
        for i in acc.online.drain(..) {
            let _ = i.tx.send(Out::Close);
        }
        n
    }

    /// Kicks every instance of `user` out: a `KickoutMsgNotify` push with `kick_type`
    /// (3 = REST `kick`), then the websocket closes. Returns how many instances.
    pub fn kick(&self, user: &str, kick_type: i64) -> usize {
        let frame = kick_frame(kick_type);
        let mut st = self.lock();
        let Some(acc) = st.accounts.get_mut(user) else {
            return 0;
        };
        let n = acc.online.len();
        for i in acc.online.drain(..) {
            let _ = i.tx.send(Out::Frame(frame.clone()));
            let _ = i.tx.send(Out::Close);
        }
        n
    }

    /// True when `a2` was issued by a login.
    pub fn a2_valid(&self, a2: &str) -> bool {
        self.lock().a2.contains(a2)
    }

    /// The account an A2Key was issued to, when `a2` was issued to the account of TinyId
    /// `tiny_id` (the SDK's re-login after a reconnection names itself by these two alone).
    pub fn a2_user(&self, a2: &str, tiny_id: &str) -> Option<String> {
        let st = self.lock();
        let user = st.a2_users.get(a2)?;
        let acc = st.accounts.get(user)?;
        (acc.tiny_id.to_string() == tiny_id).then(|| user.clone())
    }

    /// Removes an instance (logout or closed socket).
    pub fn logout(&self, user: &str, conn_id: u64) {
        if let Some(acc) = self.lock().accounts.get_mut(user) {
            acc.online.retain(|i| i.conn_id != conn_id);
        }
    }

    /// Sends a C2C message: pushes it to every online instance of `to` (or stores it
    /// offline), and a copy marked `IsSyncMsg:1` to the sender's other instances
    /// (`except_conn`). A retry with the same `(from, MsgSeq, MsgRandom)` returns the first
    /// answer without delivering twice. `None` when `to` does not exist.
    pub fn send_c2c(
        &self,
        from: &str,
        to: &str,
        body: &Value,
        meta: &SendMeta,
        except_conn: Option<u64>,
    ) -> Option<Delivered> {
        let (seq, random) = (meta.seq, meta.random);
        let mut st = self.lock();
        if !st.accounts.contains_key(to) {
            return None;
        }
        let tiny_id = st.accounts.get(from).map_or(0, |a| a.tiny_id);
        let dedup = (from.to_owned(), seq, random);
        if let Some((time, key)) = st.sent.get(&dedup) {
            return Some(Delivered {
                time: *time,
                key: key.clone(),
            });
        }
        let time = unix_now();
        let key = format!("{seq}_{random}_{time}");
        st.sent.insert(dedup, (time, key.clone()));
        let msg = |is_sync: u8| {
            // A sync copy comes with From/To swapped; the SDK swaps them back (reference
            // §A1, `_onC2CMsgArray`).
            let (f, t) = if is_sync == 1 { (to, from) } else { (from, to) };
            let mut m = json!({
                "From_Account": f, "To_Account": t, "MsgSeq": seq, "MsgRandom": random,
                "ClientSeq": seq, "MsgTimeStamp": time, "MsgKey": key, "MsgBody": body,
                "IsSyncMsg": is_sync, "CloudCustomData": meta.cloud_custom_data, "MsgFlagBits": 0,
                "TinyId": tiny_id.to_string(),
                "MsgClientTime": if meta.client_time == 0 { time } else { meta.client_time },
                "From_AccountNick": "", "From_AccountHeadurl": "",
            });
            if meta.need_receipt {
                m["IsNeedReadReceipt"] = json!(1);
            }
            m
        };
        let live = msg(0);
        st.history
            .entry(pair(from, to))
            .or_default()
            .push(live.clone());
        if from != to {
            *st.unread
                .entry((to.to_owned(), from.to_owned()))
                .or_default() += 1;
        }
        if let Some(acc) = st.accounts.get_mut(to) {
            acc.online.retain(|i| !i.tx.is_closed());
            if acc.online.is_empty() {
                let index = acc.next_index;
                acc.next_index += 1;
                acc.offline.push(Stored {
                    index,
                    msg: live.clone(),
                });
            } else {
                let frame = push_frame(&live);
                for i in &acc.online {
                    let _ = i.tx.send(Out::Frame(frame.clone()));
                }
            }
        }
        if from != to {
            if let Some(acc) = st.accounts.get_mut(from) {
                let frame = push_frame(&msg(1));
                for i in acc.online.iter().filter(|i| Some(i.conn_id) != except_conn) {
                    let _ = i.tx.send(Out::Frame(frame.clone()));
                }
            }
        }
        Some(Delivered { time, key })
    }

    /// `openim.getroammsg`: up to `max` messages of the `user`–`peer` conversation older than
    /// the one with `before_key` (all when empty), oldest first; and whether that reached
    /// the beginning.
    pub fn roam(&self, user: &str, peer: &str, before_key: &str, max: usize) -> (Vec<Value>, bool) {
        let st = self.lock();
        let Some(all) = st.history.get(&pair(user, peer)) else {
            return (Vec::new(), true);
        };
        let end = if before_key.is_empty() {
            all.len()
        } else {
            all.iter()
                .position(|m| m["MsgKey"] == before_key)
                .unwrap_or(all.len())
        };
        let start = end.saturating_sub(max.max(1));
        (all[start..end].to_vec(), start == 0)
    }

    /// The conversations of `user` (`recentcontact.page_get` `SessionItem`s), newest first.
    pub fn conversations(&self, user: &str) -> Vec<Value> {
        let st = self.lock();
        let mut items: Vec<(u64, Value)> = st
            .history
            .iter()
            .filter(|((a, b), _)| a == user || b == user)
            .filter_map(|((a, b), msgs)| {
                let peer = if a == user { b } else { a };
                let last = msgs.last()?;
                let time = last["MsgTimeStamp"].as_u64().unwrap_or(0);
                let unread = st
                    .unread
                    .get(&(user.to_owned(), peer.clone()))
                    .copied()
                    .unwrap_or(0);
                Some((
                    time,
                    json!({
                        "Type": 1, "To_Account": peer, "MsgTimeStamp": time,
                        "MsgSeq": last["MsgSeq"], "MsgRandom": last["MsgRandom"],
                        "MsgKey": last["MsgKey"], "UnreadMsgCount": unread,
                        "LastMsg": {"MsgBody": last["MsgBody"], "CloudCustomData": ""},
                        "LastC2CMsgFromAccount": last["From_Account"],
                    }),
                ))
            })
            .collect();
        items.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `openim.msgreaded`: `user` has read everything from `peer`.
    pub fn mark_read(&self, user: &str, peer: &str) {
        self.lock()
            .unread
            .remove(&(user.to_owned(), peer.to_owned()));
    }

    /// One `openim.getmsg` page for `user` after `cookie`: (messages, next cookie, more?).
    /// Returned messages leave the offline store.
    pub fn getmsg(&self, user: &str, cookie: &str) -> (Vec<Value>, String, bool) {
        let after: u64 = cookie.parse().unwrap_or(0);
        let page = self.cfg.getmsg_page.max(1);
        let mut st = self.lock();
        let Some(acc) = st.accounts.get_mut(user) else {
            return (Vec::new(), after.to_string(), false);
        };
        let mut out = Vec::new();
        let mut last = after;
        acc.offline.retain(|s| {
            if out.len() < page {
                out.push(s.msg.clone());
                last = last.max(s.index + 1);
                false
            } else {
                true
            }
        });
        let more = !acc.offline.is_empty();
        (out, last.to_string(), more)
    }
}

/// A `msg_push` frame carrying one C2C message.
fn push_frame(msg: &Value) -> String {
    use super::super::wire::{self, servcmd, Head};
    let head = Head {
        ver: Some("v4".into()),
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(0),
        contenttype: Some("json".into()),
        ..Default::default()
    };
    let session_data = format!("{:016x}", rand::rng().random::<u64>());
    let body = json!({
        "eventArray": [{"event": 9, "C2cMsgArray": [msg]}],
        "NeedAck": 1, "SessionData": session_data,
    });
    wire::encode(&head, &body)
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
