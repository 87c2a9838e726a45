//! The sandbox's shared state: users, tokens, devices and their per-conversation queues,
//! groups and chat rooms, files, message history; plus the routing of a stored item to every
//! device that must receive it. Persisted as one JSON snapshot when `--data` is given.
//!
//! Live connections are not persisted: each registers a channel here so routing can push
//! NOTICEs and kick notices to it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};

use crate::network::easemob::jid::{self, ChatType, Conversation};
use crate::network::easemob::proto::provision::CompressDirection;
use crate::network::easemob::proto::{Jid, Meta};

/// Sandbox settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// `org#app`.
    pub app_key: String,
    /// Where to keep state across restarts; in memory only when `None`.
    pub data_dir: Option<PathBuf>,
    /// Lifetime of issued tokens.
    pub token_ttl_ms: u64,
    /// Connections per user and OS type; a newer login kicks the oldest (206).
    pub max_devices_per_platform: usize,
    /// Connections per user in total; more are refused with TOO_MANY_DEVICES.
    pub max_devices: usize,
    /// How long after sending a message may be recalled.
    pub recall_limit_ms: u64,
    /// Largest accepted upload.
    pub max_upload_bytes: usize,
    /// Metas per pull answer.
    pub pull_batch: usize,
    /// LZ4 direction granted to clients that offer it; `None` answers without compression.
    pub compression: Option<CompressDirection>,
    /// Anyone may register with `POST /users` without a token (the console's "open
    /// registration"); when false, registering needs a token, as with "authorized
    /// registration" (the sandbox takes any valid token, having no app tokens).
    pub open_registration: bool,
    /// How many users the app may have (the free edition's quota); `None` for no limit.
    pub max_users: Option<usize>,
}

impl SandboxConfig {
    /// Defaults for `app_key`.
    pub fn new(app_key: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            data_dir: None,
            token_ttl_ms: 7 * 24 * 3600 * 1000,
            max_devices_per_platform: 1,
            max_devices: 8,
            recall_limit_ms: 120_000,
            max_upload_bytes: 32 << 20,
            pull_batch: 50,
            compression: Some(CompressDirection::Bi),
            open_registration: true,
            max_users: None,
        }
    }

    /// `(org, app)` from the app key.
    pub fn org_app(&self) -> (&str, &str) {
        self.app_key.split_once('#').unwrap_or((&self.app_key, ""))
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A registered user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub password: String,
    pub nickname: String,
    pub created: u64,
    /// Contacts (both directions are stored on both users).
    pub contacts: BTreeSet<String>,
    /// Pending contact requests received: requester → reason.
    pub contact_requests: BTreeMap<String, String>,
    /// Blocked users.
    pub blocks: BTreeSet<String>,
    /// User metadata (`nickname`, `avatarurl`, `mail`, `phone`, `gender`, `sign`, `birth`, `ext`).
    pub metadata: BTreeMap<String, String>,
    /// Devices that have logged in, by resource.
    pub devices: BTreeMap<String, Device>,
    /// Items for a user who has never logged in; the first device adopts them.
    pub unclaimed: BTreeMap<String, VecDeque<StoredMeta>>,
    /// What the user published of their presence, and who subscribed to it.
    #[serde(default)]
    pub presence: Presence,
    /// Do-not-disturb settings by conversation (`user:<id>`, `chatgroup:<id>`), as set.
    #[serde(default)]
    pub notification: BTreeMap<String, serde_json::Value>,
}

/// One user's published presence (`publishPresence`) and its subscribers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Presence {
    /// The custom status (`ext`).
    pub ext: String,
    /// When it last changed (publish, a device online or offline), unix ms.
    pub last_time: u64,
    /// Subscriber → when the subscription ends, unix ms.
    pub subscribers: BTreeMap<String, u64>,
}

/// One device (resource) of a user and its pending queues.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Device {
    pub os_type: i32,
    pub last_login: u64,
    /// Pending items per queue (queue text form, e.g. `bob@easemob.com`).
    pub queues: BTreeMap<String, VecDeque<StoredMeta>>,
}

/// One item waiting in a queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMeta {
    pub id: u64,
    /// The encoded `Meta`.
    pub meta: Vec<u8>,
}

/// A group or chat room.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub admins: BTreeSet<String>,
    /// Members including the owner.
    pub members: BTreeSet<String>,
    pub muted: BTreeSet<String>,
    pub public: bool,
    pub max_users: u32,
    pub created: u64,
    pub announcement: String,
    pub custom: String,
    pub is_chatroom: bool,
    /// Invitations need the invitee's consent (`invite_need_confirm` at creation): an invite
    /// records the invitee here and sends them INVITE instead of adding them.
    #[serde(default)]
    pub invite_need_confirm: bool,
    /// Pending invitations: invitee → inviter.
    #[serde(default)]
    pub invitations: BTreeMap<String, String>,
    /// The group's block list (`blockGroupMember`): removed, and kept out until unblocked.
    #[serde(default)]
    pub blocked: BTreeSet<String>,
}

/// An uploaded file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileMeta {
    pub uuid: String,
    pub secret: String,
    pub name: String,
    pub content_type: String,
    pub length: u64,
    /// Content when there is no data dir.
    #[serde(skip)]
    pub content: Option<Arc<Vec<u8>>>,
}

/// A message kept for history, recall and edit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: u64,
    pub from: String,
    pub conversation: Conversation,
    pub timestamp: u64,
    /// The encoded `Meta` as delivered.
    pub meta: Vec<u8>,
    pub recalled: bool,
}

/// One reaction on a message and who added it (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReactionEntry {
    /// Server-side id of this reaction on this message.
    pub id: String,
    pub reaction: String,
    pub users: Vec<String>,
    pub created: u64,
}

/// Issued access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    pub user: String,
    pub expires_at: u64,
}

/// Everything the sandbox persists.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Data {
    pub users: BTreeMap<String, User>,
    pub tokens: HashMap<String, TokenInfo>,
    pub groups: BTreeMap<String, Group>,
    pub files: BTreeMap<String, FileMeta>,
    /// Message history by server id.
    pub history: BTreeMap<u64, HistoryEntry>,
    pub last_id: u64,
    /// Reactions by message server id, in the order they were first added.
    #[serde(default)]
    pub reactions: BTreeMap<u64, Vec<ReactionEntry>>,
    /// Threads by id.
    #[serde(default)]
    pub threads: BTreeMap<String, Thread>,
}

/// A thread: a side conversation on one message of a group. Messages to it are addressed to
/// its id (a conference JID, as a group) and go to its members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thread {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The group it belongs to.
    pub group_id: String,
    /// The server id of the message it hangs on.
    pub msg_id: String,
    /// Who receives its messages (the owner, then whoever joins or sends in it).
    pub members: BTreeSet<String>,
    pub created: u64,
}

impl Thread {
    /// The `thread` object a thread message's `MessageBody.meta` JSON carries (the SDK's
    /// `chatThread`: `msg_parent_id`, `muc_parent_id`, `thread_name`).
    pub fn message_meta(&self) -> serde_json::Value {
        serde_json::json!({
            "msg_parent_id": self.msg_id, "muc_parent_id": self.group_id, "thread_name": self.name,
        })
    }
}

/// What the sandbox tells a live connection.
#[derive(Debug, Clone)]
pub enum ConnCommand {
    /// New data in this queue.
    Notice(Jid),
    /// Kick with a `StatisticsBody.Operation` and reason, then close.
    Kick { operation: i32, reason: String },
    /// Drop the socket abruptly, as a network failure would (clients reconnect).
    Drop,
}

/// A live connection.
#[derive(Debug, Clone)]
pub struct LiveConn {
    pub conn_id: u64,
    pub os_type: i32,
    pub since: u64,
    pub tx: mpsc::UnboundedSender<ConnCommand>,
}

/// State guarded by one mutex (critical sections are short and never await).
#[derive(Debug, Default)]
pub struct Inner {
    pub data: Data,
    /// (user, resource) → live connection.
    pub live: HashMap<(String, String), LiveConn>,
    next_conn: u64,
    /// Texts whose messages are taken but never acknowledged (fault injection, see
    /// `Sandbox::withhold_acks`).
    pub withheld_acks: Vec<String>,
}

/// The sandbox's shared state handle.
#[derive(Debug)]
pub struct Sandbox {
    pub cfg: SandboxConfig,
    inner: Mutex<Inner>,
    dirty: Notify,
    /// Connections that negotiated LZ4 (for tests and diagnostics).
    pub lz4_connections: std::sync::atomic::AtomicU64,
}

impl Sandbox {
    /// Opens the state (loading the snapshot from the data dir if there is one).
    pub fn open(cfg: SandboxConfig) -> anyhow::Result<Arc<Self>> {
        let mut data = Data::default();
        if let Some(dir) = &cfg.data_dir {
            std::fs::create_dir_all(dir.join("files"))?;
            let path = dir.join("state.json");
            if path.exists() {
                let text = std::fs::read(&path)?;
                data = serde_json::from_slice(&text).map_err(|e| {
                    anyhow::anyhow!("sandbox state {} is corrupt: {e}", path.display())
                })?;
                info!(users = data.users.len(), "sandbox state loaded");
            }
        }
        if data.last_id == 0 {
            // Server ids look like the real ones: large and increasing.
            data.last_id = now_ms() << 12;
        }
        Ok(Arc::new(Self {
            cfg,
            inner: Mutex::new(Inner {
                data,
                ..Default::default()
            }),
            dirty: Notify::new(),
            lz4_connections: Default::default(),
        }))
    }

    /// Locks the state. Never hold the guard across an await.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the state as changed, for the persister.
    pub fn touch(&self) {
        self.dirty.notify_one();
    }

    /// Writes the snapshot now (atomic rename).
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(dir) = &self.cfg.data_dir else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&self.lock().data)?;
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join("state.json"))?;
        Ok(())
    }

    /// Saves whenever the state changed, at most every 200 ms, until the task is dropped.
    pub async fn persist_loop(self: Arc<Self>) {
        if self.cfg.data_dir.is_none() {
            return;
        }
        loop {
            self.dirty.notified().await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if let Err(e) = self.save() {
                warn!(error = %e, "sandbox state not saved");
            }
        }
    }

    /// Path of a stored file's content, when there is a data dir.
    pub fn file_path(&self, uuid: &str) -> Option<PathBuf> {
        self.cfg
            .data_dir
            .as_ref()
            .map(|d| d.join("files").join(uuid))
    }

    /// A user JID of this app.
    pub fn user_jid(&self, name: &str) -> Jid {
        jid::user_jid(&self.cfg.app_key, name)
    }
}

impl Inner {
    /// A new server message id.
    pub fn next_id(&mut self) -> u64 {
        self.data.last_id += 1;
        self.data.last_id
    }

    /// A new connection id.
    pub fn next_conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// Issues a token for `user`.
    pub fn issue_token(&mut self, user: &str, ttl_ms: u64) -> (String, u64) {
        let token = format!("YWMt{}", random_string(40));
        let expires_at = now_ms() + ttl_ms;
        self.data.tokens.insert(
            token.clone(),
            TokenInfo {
                user: user.to_owned(),
                expires_at,
            },
        );
        (token, expires_at)
    }

    /// The user a bearer token belongs to, if it is valid now.
    pub fn token_user(&self, token: &str) -> Option<&str> {
        let token = token.strip_prefix("$t$").unwrap_or(token);
        self.data
            .tokens
            .get(token)
            .filter(|t| t.expires_at > now_ms())
            .map(|t| t.user.as_str())
    }

    /// Removes every token of `user`.
    pub fn revoke_tokens(&mut self, user: &str) {
        self.data.tokens.retain(|_, t| t.user != user);
    }

    /// Stores `meta` for `recipient` in queue `queue` on every device except `except_resource`,
    /// and tells the live ones. Returns how many devices got it.
    pub fn route(
        &mut self,
        app_key: &str,
        recipient: &str,
        queue: &Jid,
        meta: &Meta,
        except_resource: Option<&str>,
    ) -> usize {
        let Some(user) = self.data.users.get_mut(recipient) else {
            return 0;
        };
        let key = jid::text_form(queue);
        let item = StoredMeta {
            id: meta.id.unwrap_or(0),
            meta: meta.encode_to_vec(),
        };
        let mut count = 0;
        if user.devices.is_empty() {
            user.unclaimed.entry(key).or_default().push_back(item);
            return 1;
        }
        for (resource, device) in user.devices.iter_mut() {
            if Some(resource.as_str()) == except_resource {
                continue;
            }
            device
                .queues
                .entry(key.clone())
                .or_default()
                .push_back(item.clone());
            count += 1;
            if let Some(conn) = self.live.get(&(recipient.to_owned(), resource.clone())) {
                let mut q = queue.clone();
                q.app_key = Some(app_key.to_owned());
                let _ = conn.tx.send(ConnCommand::Notice(q));
            }
        }
        count
    }

    /// Stores `meta` for `recipient`'s device `resource` in queue `queue` and tells it when it
    /// is connected. Returns 1, or 0 when there is no such user or device.
    pub fn route_to_device(
        &mut self,
        app_key: &str,
        recipient: &str,
        resource: &str,
        queue: &Jid,
        meta: &Meta,
    ) -> usize {
        let Some(device) = self
            .data
            .users
            .get_mut(recipient)
            .and_then(|u| u.devices.get_mut(resource))
        else {
            return 0;
        };
        device
            .queues
            .entry(jid::text_form(queue))
            .or_default()
            .push_back(StoredMeta {
                id: meta.id.unwrap_or(0),
                meta: meta.encode_to_vec(),
            });
        if let Some(conn) = self.live.get(&(recipient.to_owned(), resource.to_owned())) {
            let mut q = queue.clone();
            q.app_key = Some(app_key.to_owned());
            let _ = conn.tx.send(ConnCommand::Notice(q));
        }
        1
    }

    /// Members of a group, room or thread, empty when it does not exist.
    pub fn members(&self, id: &str) -> Vec<String> {
        if let Some(thread) = self.data.threads.get(id) {
            return thread.members.iter().cloned().collect();
        }
        self.data
            .groups
            .get(id)
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Routes a group/room item to every member (the sender's sending device excepted).
    pub fn route_to_group(
        &mut self,
        app_key: &str,
        group: &str,
        meta: &Meta,
        sender: &str,
        sender_resource: &str,
    ) {
        let queue = jid::conference_jid(app_key, group);
        // Chat rooms keep nothing for members who are away.
        let live_only = self.data.groups.get(group).is_some_and(|g| g.is_chatroom);
        for member in self.members(group) {
            let except = (member == sender).then_some(sender_resource);
            if live_only {
                super::chatrooms::route_live(self, app_key, &member, &queue, meta, except);
            } else {
                self.route(app_key, &member, &queue, meta, except);
            }
        }
    }

    /// Kicks every live connection of `user` (optionally only one resource).
    pub fn kick(&mut self, user: &str, resource: Option<&str>, operation: i32, reason: &str) {
        for ((u, r), conn) in &self.live {
            if u == user && resource.is_none_or(|x| x == r) {
                let _ = conn.tx.send(ConnCommand::Kick {
                    operation,
                    reason: reason.to_owned(),
                });
            }
        }
    }

    /// Records a message in history.
    pub fn remember(&mut self, entry: HistoryEntry) {
        self.data.history.insert(entry.id, entry);
    }

    /// History of one conversation as seen by `user`, oldest first.
    pub fn history_of(&self, user: &str, conv: &Conversation) -> Vec<&HistoryEntry> {
        self.data
            .history
            .values()
            .filter(|h| !h.recalled)
            .filter(|h| match conv.kind {
                ChatType::Single => {
                    h.conversation.kind == ChatType::Single
                        && ((h.from == user && h.conversation.id == conv.id)
                            || (h.from == conv.id && h.conversation.id == user))
                }
                _ => h.conversation == *conv,
            })
            .collect()
    }
}

/// A random alphanumeric string.
pub fn random_string(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

impl Sandbox {
    /// Drops every live connection abruptly (tests of reconnection).
    pub fn drop_connections(&self) {
        for conn in self.lock().live.values() {
            let _ = conn.tx.send(ConnCommand::Drop);
        }
    }

    /// Drops up to `count` live connections abruptly (as a network failure would; clients
    /// reconnect), only those of `users` when it is not empty, in a random order. Returns how
    /// many were dropped (fault injection: the chaos run).
    pub fn drop_some_connections(&self, count: usize, users: &[String]) -> usize {
        use rand::seq::SliceRandom;
        let inner = self.lock();
        let mut conns: Vec<&LiveConn> = inner
            .live
            .iter()
            .filter(|((u, _), _)| users.is_empty() || users.contains(u))
            .map(|(_, c)| c)
            .collect();
        conns.shuffle(&mut rand::rng());
        conns
            .into_iter()
            .take(count)
            .filter(|c| c.tx.send(ConnCommand::Drop).is_ok())
            .count()
    }

    /// Makes every token of `user` expire now and drops the user's live connections, so
    /// each device reconnects and is refused with "Sorry, token expired" (a login by token
    /// then needs a new one). Returns how many tokens expired.
    pub fn expire_tokens(&self, user: &str) -> usize {
        let mut inner = self.lock();
        let now = now_ms();
        let mut expired = 0;
        for t in inner.data.tokens.values_mut() {
            if t.user == user && t.expires_at > now {
                t.expires_at = now.saturating_sub(1);
                expired += 1;
            }
        }
        for ((u, _), conn) in &inner.live {
            if u == user {
                let _ = conn.tx.send(ConnCommand::Drop);
            }
        }
        drop(inner);
        self.touch();
        expired
    }

    /// Creates `name` with `password` unless it exists (demo users, test fixtures).
    pub fn ensure_user(&self, name: &str, password: &str) -> anyhow::Result<()> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            anyhow::bail!("invalid user name {name:?}");
        }
        let mut inner = self.lock();
        inner
            .data
            .users
            .entry(name.to_lowercase())
            .or_insert_with(|| User {
                username: name.to_lowercase(),
                password: password.to_owned(),
                nickname: name.to_owned(),
                created: now_ms(),
                ..Default::default()
            });
        drop(inner);
        self.touch();
        Ok(())
    }

    /// Makes every two of `names` contacts of each other (users that do not exist are an
    /// error). For demos and tests: no roster events are sent.
    pub fn ensure_contacts(&self, names: &[&str]) -> anyhow::Result<()> {
        let names: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let mut inner = self.lock();
        if let Some(missing) = names.iter().find(|n| !inner.data.users.contains_key(*n)) {
            anyhow::bail!("no sandbox user {missing:?} to make a contact");
        }
        for a in &names {
            if let Some(user) = inner.data.users.get_mut(a) {
                user.contacts
                    .extend(names.iter().filter(|b| *b != a).cloned());
            }
        }
        drop(inner);
        self.touch();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Event helpers used by the REST API (`rest.rs`): group / chat room (`MUCBody`) and contact
// (`RosterBody`) notifications.
// ---------------------------------------------------------------------------------------------

impl Inner {
    /// Builds a `ns = MUC` meta carrying `body`, sent on behalf of `operator`.
    pub fn muc_meta(
        &mut self,
        app_key: &str,
        operator: &str,
        group: &str,
        body: &crate::network::easemob::proto::MucBody,
    ) -> Meta {
        use crate::network::easemob::proto::meta::NameSpace;
        Meta {
            id: Some(self.next_id()),
            from: Some(jid::user_jid(app_key, operator)),
            to: Some(jid::conference_jid(app_key, group)),
            timestamp: Some(now_ms()),
            ns: Some(NameSpace::Muc as i32),
            payload: Some(body.encode_to_vec()),
            ..Default::default()
        }
    }

    /// Routes a MUC event to `recipients` in the group's queue; `except` = `(user, resource)`
    /// leaves out the device the operation came from.
    pub fn send_muc(
        &mut self,
        app_key: &str,
        group: &str,
        meta: &Meta,
        recipients: &[String],
        except: Option<(&str, &str)>,
    ) {
        let queue = jid::conference_jid(app_key, group);
        for user in recipients {
            let skip = except.and_then(|(u, r)| (u == user).then_some(r));
            self.route(app_key, user, &queue, meta, skip);
        }
    }

    /// Sends a contact event (`RosterBody`) from `from` to every device of `to` (in the queue of
    /// `from`), except `except_resource`.
    pub fn send_roster(
        &mut self,
        app_key: &str,
        operation: i32,
        from: &str,
        to: &str,
        reason: &str,
        except_resource: Option<&str>,
    ) -> usize {
        use crate::network::easemob::proto::{meta::NameSpace, RosterBody};
        let body = RosterBody {
            operation: Some(operation),
            from: Some(jid::user_jid(app_key, from)),
            to: vec![jid::user_jid(app_key, to)],
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
            ..Default::default()
        };
        let meta = Meta {
            id: Some(self.next_id()),
            from: Some(jid::user_jid(app_key, from)),
            to: Some(jid::user_jid(app_key, to)),
            timestamp: Some(now_ms()),
            ns: Some(NameSpace::Roster as i32),
            payload: Some(body.encode_to_vec()),
            ..Default::default()
        };
        let queue = jid::user_jid(app_key, from);
        self.route(app_key, to, &queue, &meta, except_resource)
    }
}
