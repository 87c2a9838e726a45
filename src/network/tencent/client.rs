//! The Tencent Cloud Chat client: a thin tokio task that moves frames between a websocket
//! and the sans-I/O [`Session`], reconnects with jittered backoff (sends wait in the
//! session's outbox meanwhile), and hands send results back to callers and events to the
//! owner.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};

use super::elem::Elem;
use super::session::topics;
use super::session::{
    EndReason, GroupAt, SendError, SendReceipt, Session, SessionConfig, SessionEvent, Target,
};
mod driver;
use driver::Driver;

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
    /// Media hosts whose downloads carry the login's `RichMsgAuthKey` as `authKey`
    /// ([`super::cos::with_auth_key`]); default [`super::cos::FILE_DN_LIST`].
    pub file_dn_list: Vec<String>,
}

impl ClientConfig {
    /// A config with the default backoff (1 s … 60 s).
    pub fn new(server: &str, session: SessionConfig) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            session,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            file_dn_list: super::cos::FILE_DN_LIST.map(str::to_owned).to_vec(),
        }
    }
}

/// How long [`Client::call`] waits for the link to be logged in.
pub const CALL_LOGIN_WAIT: Duration = Duration::from_secs(30);

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
            cfg.file_dn_list.clone(),
        ));
        let driver = Driver {
            media: media.clone(),
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
        self.send_group_with(group_id, elems, mentions, String::new())
            .await
    }

    /// [`Client::send_group`] with `CloudCustomData` (a TUIKit reply quote,
    /// [`super::session::ops::reply_data`]; `""` for none).
    pub async fn send_group_with(
        &self,
        group_id: &str,
        elems: Vec<Elem>,
        mentions: Vec<GroupAt>,
        cloud_custom_data: String,
    ) -> Result<SendReceipt, SendError> {
        let to = Target::Group {
            group_id: group_id.to_owned(),
            mentions,
        };
        self.send_to(to, elems, cloud_custom_data).await
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

    /// Sends request `servcmd` with `body` and resolves with the reply body. A call made
    /// while the link is (re)connecting waits for the login, at most [`CALL_LOGIN_WAIT`]
    /// ([`SendError::QueueTimeout`] then; [`SendError::SessionEnded`] when the session
    /// ends meanwhile), so a read receipt or an edit made in Matrix while the bridge
    /// reconnects is not lost; a call in flight is not retried over a reconnect.
    pub async fn call(
        &self,
        servcmd: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, SendError> {
        let ready = |s: &LinkState| matches!(s, LinkState::Connected | LinkState::Ended(_));
        match tokio::time::timeout(CALL_LOGIN_WAIT, self.wait_for(ready)).await {
            Ok(LinkState::Ended(_)) => return Err(SendError::SessionEnded),
            Ok(_) => {}
            Err(_) => return Err(SendError::QueueTimeout),
        }
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

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
