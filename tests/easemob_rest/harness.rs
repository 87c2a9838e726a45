//! Fixtures: a sandbox on a loopback port and readers of the metas it queued for a user.

use std::sync::Arc;
use std::time::Duration;

use imbridge::network::easemob::proto::{meta::NameSpace, Meta, MucBody, RosterBody};
use imbridge::network::easemob::rest::{http_client, RestClient, RestError};
use imbridge::network::easemob::sandbox::{self, Sandbox, SandboxConfig};
use prost::Message as _;
use tokio::sync::oneshot;

pub const APP_KEY: &str = "rest#sandbox";

/// A sandbox on a loopback port.
pub struct Server {
    pub url: String,
    pub state: Arc<Sandbox>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(cfg: SandboxConfig) -> Self {
        let state = Sandbox::open(cfg).expect("sandbox state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let st = state.clone();
        let task = tokio::spawn(async move {
            let _ = sandbox::serve(listener, st, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            url,
            state,
            stop: Some(stop),
            task,
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }

    pub fn client(&self) -> RestClient {
        RestClient::new(http_client().expect("http"), &self.url, APP_KEY).expect("client")
    }

    /// Registers `name` and returns a client logged in as it.
    pub async fn user(&self, name: &str) -> RestClient {
        let c = self.client();
        c.register_user(name, "pw-1", &format!("{name} nick"))
            .await
            .expect("register");
        let grant = c.password_token(name, "pw-1").await.expect("token");
        c.with_token(name, &grant.access_token)
    }

    /// Every meta waiting for `user` (never logged in: its unclaimed queues).
    pub fn queued(&self, user: &str) -> Vec<Meta> {
        let inner = self.state.lock();
        let u = inner.data.users.get(user).expect("user");
        let mut metas: Vec<Meta> = u
            .unclaimed
            .values()
            .chain(u.devices.values().flat_map(|d| d.queues.values()))
            .flatten()
            .map(|s| Meta::decode(s.meta.as_slice()).expect("meta"))
            .collect();
        metas.sort_by_key(|m| m.id);
        metas
    }

    /// The MUC events waiting for `user`: (operation, from, to, is_chatroom).
    pub fn muc_events(&self, user: &str) -> Vec<(i32, String, Vec<String>, bool)> {
        self.queued(user)
            .into_iter()
            .filter(|m| m.ns == Some(NameSpace::Muc as i32))
            .map(|m| {
                let b = MucBody::decode(m.payload.as_deref().unwrap_or_default()).expect("muc");
                (
                    b.operation.unwrap_or(-1),
                    b.from.and_then(|j| j.name).unwrap_or_default(),
                    b.to.into_iter().filter_map(|j| j.name).collect(),
                    b.is_chatroom.unwrap_or(false),
                )
            })
            .collect()
    }

    /// The roster events waiting for `user`: (operation, from, to).
    pub fn roster_events(&self, user: &str) -> Vec<(i32, String, Vec<String>)> {
        self.queued(user)
            .into_iter()
            .filter(|m| m.ns == Some(NameSpace::Roster as i32))
            .map(|m| {
                let b =
                    RosterBody::decode(m.payload.as_deref().unwrap_or_default()).expect("roster");
                (
                    b.operation.unwrap_or(-1),
                    b.from.and_then(|j| j.name).unwrap_or_default(),
                    b.to.into_iter().filter_map(|j| j.name).collect(),
                )
            })
            .collect()
    }
}

pub fn config() -> SandboxConfig {
    SandboxConfig::new(APP_KEY)
}

pub fn http_status(e: &RestError) -> Option<(u16, &str)> {
    match e {
        RestError::Http { status, error, .. } => Some((*status, error.as_str())),
        _ => None,
    }
}
