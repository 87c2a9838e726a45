//! The Tencent test rig shared by the Tencent sandbox tests: an in-process sandbox on a
//! loopback port with REST admin calls, Rust clients logged in to it, the official SDK
//! logged in to it, and a bounded wait for session events.

use std::sync::Arc;
use std::time::Duration;

use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::sdk_agent::SdkAgent;

/// The sandbox's SDKAppID.
pub const APP: u64 = 1_400_000_001;
/// The sandbox's SecretKey.
pub const KEY: &str = "sandbox-secret-key";

/// An in-process sandbox on a free loopback port; stops when dropped.
pub struct TestSandbox {
    pub sandbox: Arc<Sandbox>,
    pub addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestSandbox {
    /// Starts it.
    pub async fn start() -> Self {
        Self::start_with(SandboxConfig::new(APP, KEY)).await
    }

    /// Starts it with `cfg` (made from [`SandboxConfig::new`]`(APP, KEY)`).
    pub async fn start_with(cfg: SandboxConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sandbox = Arc::new(Sandbox::new(cfg));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            sandbox,
            addr,
            _stop: stop,
        }
    }

    /// `ws://addr`.
    pub fn server(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A UserSig for `user`.
    pub fn sig(&self, user: &str) -> String {
        self.sandbox.user_sig(user, 3600)
    }

    /// `POST /v4/{service}/{command}` as the admin; the reply body.
    pub async fn rest(&self, path: &str, body: Value) -> Value {
        let url = format!(
            "http://{}/v4/{path}?sdkappid={APP}&identifier=administrator&usersig={}&random=1&contenttype=json",
            self.addr,
            self.sig("administrator")
        );
        reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("REST reachable")
            .json()
            .await
            .expect("REST JSON")
    }

    /// A Work group made over REST with `members`; its GroupId.
    pub async fn work_group(&self, name: &str, members: &[&str]) -> String {
        for m in members {
            self.sandbox.import(m);
        }
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({"Member_Account": m}))
            .collect();
        let r = self
            .rest(
                "group_open_http_svc/create_group",
                json!({"Type": "Work", "Name": name, "Owner_Account": members[0], "MemberList": list}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
        r["GroupId"].as_str().expect("GroupId").to_owned()
    }

    /// A Rust client logged in as `user`.
    pub async fn client(&self, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
        self.client_with(SessionConfig::new(APP, user, &self.sig(user)))
            .await
    }

    /// A Rust client logged in with `session`.
    pub async fn client_with(
        &self,
        session: SessionConfig,
    ) -> (Client, mpsc::Receiver<SessionEvent>) {
        self.client_cfg(ClientConfig::new(&self.server(), session))
            .await
    }

    /// A Rust client started with `cfg`, logged in.
    pub async fn client_cfg(&self, cfg: ClientConfig) -> (Client, mpsc::Receiver<SessionEvent>) {
        let (client, events) = Client::start(cfg);
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await
        .expect("client logs in");
        assert_eq!(state, LinkState::Connected);
        (client, events)
    }
}

impl TestSandbox {
    /// `user`'s bridge login (the connector with a stored UserSig), connected and past its
    /// catch-up; its events.
    #[allow(dead_code)]
    pub async fn connector_login(
        &self,
        user: &str,
    ) -> (
        Box<dyn imbridge::core::connector::NetworkLogin>,
        imbridge::core::connector::RemoteEventReceiver,
    ) {
        use imbridge::core::connector::{LoginData, NetworkConnector, RemoteEvent};
        use imbridge::network::tencent::connector::{TencentConnector, TencentSettings};
        let c = TencentConnector::new(TencentSettings {
            sdk_app_id: APP,
            websocket_url: self.server(),
            secret_key: None,
            homeserver_domain: "example.org".into(),
            backoff: Some((Duration::from_millis(50), Duration::from_millis(400))),
            mint_lifetime: imbridge::network::tencent::connector::DEFAULT_MINT_LIFETIME,
        });
        let data = LoginData {
            remote_id: user.into(),
            secrets: json!({"user_sig": self.sig(user)}),
        };
        let (tx, mut events) = imbridge::core::event_channel::boxed_channel(64);
        let login = c.connect(&data, tx).await.expect("connects");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(RemoteEvent::CatchUpDone)) => break,
                Ok(Some(_)) => {}
                other => panic!("{user}'s login did not finish its catch-up: {other:?}"),
            }
        }
        (login, events)
    }
}

/// The official SDK logged in as `user`, ready.
pub async fn sdk_login(sb: &TestSandbox, user: &str) -> SdkAgent {
    sdk_login_with(sb, user, &[]).await
}

/// [`sdk_login`] with more agent flags (`--upload-plugin`).
#[allow(dead_code)]
pub async fn sdk_login_with(sb: &TestSandbox, user: &str, flags: &[&str]) -> SdkAgent {
    let mut a = SdkAgent::spawn_tencent_with(APP, &sb.server(), flags).await;
    let r = a
        .ok("login", json!({"userID": user, "userSig": sb.sig(user)}))
        .await;
    assert_eq!(r["errorCode"], 0);
    a.event("sdkStateReady", |_| true).await;
    a
}

/// The next session event `pick` accepts (bounded wait; others are skipped).
pub async fn next<T>(
    events: &mut mpsc::Receiver<SessionEvent>,
    pick: impl Fn(SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(e) {
                    return t;
                }
            }
            Ok(None) => panic!("client task ended"),
            Err(_) => panic!("expected event did not arrive within 10 s"),
        }
    }
}

/// The SDK's next received message that `pick` accepts (from the `onMessageReceived`
/// batches; bounded by the agent's event wait).
#[allow(dead_code)]
pub async fn sdk_received(a: &mut SdkAgent, pick: impl Fn(&Value) -> bool) -> Value {
    let batch = a
        .event("onMessageReceived", |d| {
            d.as_array().is_some_and(|l| l.iter().any(&pick))
        })
        .await;
    batch
        .as_array()
        .and_then(|l| l.iter().find(|m| pick(m)).cloned())
        .expect("message in batch")
}

/// Makes, through the SDK `a`, a topic-enabled Community named `name` with `member` in it and
/// a first topic named `topic` (`createGroup` with `isSupportTopic`, then
/// `createTopicInCommunity`); their ids.
#[allow(dead_code)]
pub async fn sdk_community(
    a: &mut SdkAgent,
    name: &str,
    member: &str,
    topic: &str,
) -> (String, String) {
    let created = a
        .call(
            "createGroup",
            json!([{"type": "Community", "name": name, "isSupportTopic": true,
                    "memberList": [{"userID": member}]}]),
        )
        .await
        .expect("createGroup");
    assert_eq!(
        created["data"]["group"]["isSupportTopic"], true,
        "{created}"
    );
    let gid = created["data"]["group"]["groupID"]
        .as_str()
        .expect("groupID")
        .to_owned();
    let r = a
        .call(
            "createTopicInCommunity",
            json!([{"groupID": gid, "topicName": topic}]),
        )
        .await
        .expect("createTopicInCommunity");
    let topic = r["data"]["topicID"].as_str().expect("topicID").to_owned();
    (gid, topic)
}
