//! The Matrix side against a real Synapse (scripts/synapse/*): the appservice listener receives
//! transactions, and `HomeserverClient` acts as the bot and as ghosts.
//!
//! Runs by default. `IMBRIDGE_SKIP_SYNAPSE=1` skips it, for machines where Synapse cannot be
//! installed. `IMBRIDGE_KEEP_SYNAPSE=1` keeps the temporary directory (logs) afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imbridge::core::matrix_api::{MatrixApi, MatrixError, MatrixEvent, MatrixEventSink, RoomSpec};
use imbridge::matrix::{
    router, serve, AppserviceSettings, AppserviceState, HomeserverClient, MemoryTxnDedup,
};
use rand::distr::{Alphanumeric, SampleString};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, UserId};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const DOMAIN: &str = "localhost";
const BOT: &str = "testbridgebot";
/// How long any one expected event may take to reach the appservice.
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// Stops Synapse (and removes its directory) however the test ends.
struct SynapseGuard {
    root: PathBuf,
}

impl Drop for SynapseGuard {
    fn drop(&mut self) {
        let status = Command::new(script("stop.sh"))
            .arg("--dir")
            .arg(self.root.join("hs"))
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("stop.sh failed: {status:?}");
        }
        if std::env::var_os("IMBRIDGE_KEEP_SYNAPSE").is_some() {
            eprintln!("kept {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/synapse")
        .join(name)
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 64)
}

/// Forwards every event to a channel.
struct ChannelSink(mpsc::UnboundedSender<MatrixEvent>);

#[async_trait]
impl MatrixEventSink for ChannelSink {
    async fn enqueue(&self, events: Vec<MatrixEvent>) -> Result<(), String> {
        for event in events {
            self.0.send(event).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Waits (bounded) for the first event matching `pred`, dropping the others.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<MatrixEvent>,
    what: &str,
    pred: impl Fn(&MatrixEvent) -> bool,
) -> MatrixEvent {
    let deadline = tokio::time::Instant::now() + EVENT_WAIT;
    let mut skipped = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) if pred(&event) => return event,
            Ok(Some(event)) => skipped.push(event),
            Ok(None) => panic!("sink closed while waiting for {what}"),
            Err(_) => panic!("no {what} within {EVENT_WAIT:?}; got instead: {skipped:#?}"),
        }
    }
}

/// A real Matrix user, over plain HTTP.
struct User {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl User {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }
}

fn event_id(v: &Value) -> OwnedEventId {
    OwnedEventId::try_from(v["event_id"].as_str().unwrap()).unwrap()
}

/// A running Synapse with our appservice listener registered.
struct Env {
    settings: AppserviceSettings,
    client: HomeserverClient,
    rx: mpsc::UnboundedReceiver<MatrixEvent>,
    bob: User,
    bob_id: OwnedUserId,
    started: Instant,
    synapse_up: Duration,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Last: Synapse stops after the listener.
    guard: Option<SynapseGuard>,
}

impl Env {
    /// `None` when the test is to be skipped (`IMBRIDGE_SKIP_SYNAPSE=1`).
    async fn start(extra_config: Option<&str>) -> Option<Env> {
        if std::env::var("IMBRIDGE_SKIP_SYNAPSE").is_ok_and(|v| v == "1") {
            eprintln!(
                "skipping the Synapse test: IMBRIDGE_SKIP_SYNAPSE=1 (Synapse not installable here)"
            );
            return None;
        }
        let started = Instant::now();
        let root = std::env::temp_dir().join(format!(
            "imbridge-matrix-synapse-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&root).unwrap();
        let guard = SynapseGuard { root: root.clone() };

        // The appservice listener, up before Synapse so that nothing it sends is lost.
        let as_port = free_port();
        let hs_port = free_port();
        let settings = AppserviceSettings {
            homeserver_url: format!("http://127.0.0.1:{hs_port}"),
            domain: DOMAIN.into(),
            as_token: token(),
            hs_token: token(),
            appservice_id: "imbridge-test".into(),
            bot_localpart: BOT.into(),
            listen: format!("127.0.0.1:{as_port}").parse().unwrap(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let is_ours = Arc::new(|u: &UserId| {
            u.server_name() == DOMAIN
                && (u.localpart() == BOT || u.localpart().starts_with("testghost_"))
        });
        let state = AppserviceState::new(
            settings.hs_token.clone(),
            Arc::new(ChannelSink(tx)),
            Arc::new(MemoryTxnDedup::default()),
            is_ours,
        );
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router(state), async move {
            let _ = stop_rx.await;
        }));

        let registration = format!(
            "id: {id}\nurl: \"http://127.0.0.1:{as_port}\"\nas_token: \"{as_token}\"\nhs_token: \"{hs_token}\"\n\
             sender_localpart: {BOT}\nrate_limited: false\nreceive_ephemeral: true\n\
             de.sorunome.msc2409.push_ephemeral: true\nnamespaces:\n  users:\n    - exclusive: true\n      \
             regex: \"@testghost_.*\"\n  aliases: []\n  rooms: []\n",
            id = settings.appservice_id,
            as_token = settings.as_token,
            hs_token = settings.hs_token,
        );
        let reg_path = root.join("registration.yaml");
        std::fs::write(&reg_path, registration).unwrap();
        let mut args = vec![
            "--dir".to_owned(),
            root.join("hs").display().to_string(),
            "--port".to_owned(),
            hs_port.to_string(),
            "--server-name".to_owned(),
            DOMAIN.to_owned(),
            "--appservice".to_owned(),
            reg_path.display().to_string(),
        ];
        if let Some(extra) = extra_config {
            let path = root.join("extra.yaml");
            std::fs::write(&path, extra).unwrap();
            args.extend(["--extra-config".to_owned(), path.display().to_string()]);
        }
        let start = tokio::task::spawn_blocking(move || {
            Command::new(script("start.sh")).args(&args).output()
        })
        .await
        .unwrap()
        .unwrap();
        assert!(
            start.status.success(),
            "scripts/synapse/start.sh failed (set IMBRIDGE_SKIP_SYNAPSE=1 only where Synapse \
             cannot be installed):\n{}",
            String::from_utf8_lossy(&start.stderr)
        );
        let synapse_up = started.elapsed();

        let hs_dir = root.join("hs");
        let out = Command::new(script("register-user.sh"))
            .arg("--dir")
            .arg(&hs_dir)
            .args(["bob", "password-of-a-test-user"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bob = User {
            http: reqwest::Client::new(),
            base: settings.homeserver_url.clone(),
            token: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        };
        let bob_id: OwnedUserId = format!("@bob:{DOMAIN}").try_into().unwrap();
        let client = HomeserverClient::new(&settings).await.unwrap();
        Some(Env {
            settings,
            client,
            rx,
            bob,
            bob_id,
            started,
            synapse_up,
            stop: Some(stop_tx),
            server: Some(server),
            guard: Some(guard),
        })
    }

    async fn finish(mut self, name: &str) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        drop(self.guard.take());
        eprintln!(
            "{name}: Synapse up after {:.1} s, whole test {:.1} s",
            self.synapse_up.as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appservice_against_real_synapse() {
    let Some(mut env) = Env::start(None).await else {
        return;
    };
    let (client, bob, bob_id) = (&env.client, &env.bob, env.bob_id.clone());
    let rx = &mut env.rx;
    assert_eq!(env.settings.bot_localpart, BOT);

    // The bot: token check, ping (Synapse calls our /ping with the hs_token), profile.
    assert_eq!(
        client.whoami().await.unwrap().as_str(),
        format!("@{BOT}:{DOMAIN}")
    );
    let rtt = client.ping_homeserver().await.unwrap();
    assert!(rtt < Duration::from_secs(10));
    client
        .set_bot_profile(Some("Test Bridge Bot"), None)
        .await
        .unwrap();
    let profile = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/@{BOT}:{DOMAIN}"),
            None,
        )
        .await;
    assert_eq!(profile["displayname"], "Test Bridge Bot");

    // A ghost: registration is idempotent, display name set.
    let ghost: OwnedUserId = format!("@testghost_alice:{DOMAIN}").try_into().unwrap();
    client.ensure_registered(&ghost).await.unwrap();
    client.ensure_registered(&ghost).await.unwrap();
    client
        .set_displayname(&ghost, "Alice (Easemob)")
        .await
        .unwrap();
    let profile = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/{ghost}"),
            None,
        )
        .await;
    assert_eq!(profile["displayname"], "Alice (Easemob)");
    // Outside the namespace: the homeserver refuses.
    let stranger: OwnedUserId = format!("@notours:{DOMAIN}").try_into().unwrap();
    let err = client.ensure_registered(&stranger).await.unwrap_err();
    assert!(
        matches!(&err, MatrixError::Homeserver { errcode, .. } if errcode == "M_EXCLUSIVE"),
        "{err:?}"
    );

    let foreign: OwnedUserId = "@testghost_x:elsewhere.example".try_into().unwrap();
    let err = client.ensure_registered(&foreign).await.unwrap_err();
    assert!(matches!(err, MatrixError::Other(_)), "{err:?}");

    // A DM created by the ghost, inviting bob; bob joins.
    let spec = RoomSpec {
        name: None,
        is_direct: true,
        invite: vec![bob_id.clone()],
        ..Default::default()
    };
    let room: OwnedRoomId = client.create_room(&ghost, &spec).await.unwrap();
    // The ghost's invite is the bridge's own event: the listener drops it as an echo before
    // queueing (its `is_direct` parsing is unit-tested in `src/matrix/tests.rs`). Bob's join
    // is his own and arrives.
    bob.call(
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/join/{room}"),
        Some(json!({})),
    )
    .await;
    wait_for(rx, "bob's join", |e| {
        matches!(e, MatrixEvent::Membership { target, membership, .. } if *target == bob_id && membership == "join")
    })
    .await;

    // Bob → bridge.
    let sent = bob
        .call(
            reqwest::Method::PUT,
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/bob1"),
            Some(json!({ "msgtype": "m.text", "body": "hello from bob" })),
        )
        .await;
    let bob_msg = event_id(&sent);
    let got = wait_for(rx, "bob's message", |e| {
        matches!(e, MatrixEvent::Message { .. })
    })
    .await;
    match got {
        MatrixEvent::Message {
            room: r,
            sender,
            event_id,
            content,
            origin_server_ts,
        } => {
            assert_eq!(
                (r, sender, event_id),
                (room.clone(), bob_id.clone(), bob_msg.clone())
            );
            assert_eq!(content["body"], "hello from bob");
            assert!(origin_server_ts > 0);
        }
        other => panic!("{other:?}"),
    }

    // Ghost → bob; the transaction id makes a retry idempotent.
    let content = json!({ "msgtype": "m.text", "body": "hello from the ghost" });
    let ghost_msg = client
        .send_event(&room, &ghost, "m.room.message", "txn-g1", &content)
        .await
        .unwrap();
    let again = client
        .send_event(&room, &ghost, "m.room.message", "txn-g1", &content)
        .await
        .unwrap();
    assert_eq!(ghost_msg, again, "same txn id, same event");
    let messages = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=30"),
            None,
        )
        .await;
    let chunk = messages["chunk"].as_array().unwrap();
    let seen = chunk
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == ghost.as_str())
        .collect::<Vec<_>>();
    assert_eq!(seen.len(), 1, "{chunk:#?}");
    assert_eq!(seen[0]["event_id"], ghost_msg.as_str());
    assert_eq!(seen[0]["content"]["body"], "hello from the ghost");

    // Receipts both ways.
    bob.call(
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{ghost_msg}"),
        Some(json!({})),
    )
    .await;
    wait_for(rx, "bob's read receipt", |e| {
        matches!(e, MatrixEvent::Receipt { user, event_id, room: r }
            if *user == bob_id && *event_id == ghost_msg && *r == room)
    })
    .await;
    // The ghost's receipt is accepted; its echo is dropped by the listener as the bridge's own.
    client.read_receipt(&room, &ghost, &bob_msg).await.unwrap();

    // Typing both ways.
    client.typing(&room, &ghost, true).await.unwrap();
    wait_for(
        rx,
        "the ghost typing",
        |e| matches!(e, MatrixEvent::Typing { users, .. } if users.contains(&ghost)),
    )
    .await;
    client.typing(&room, &ghost, false).await.unwrap();
    bob.call(
        reqwest::Method::PUT,
        &format!("/_matrix/client/v3/rooms/{room}/typing/{bob_id}"),
        Some(json!({ "typing": true, "timeout": 10000 })),
    )
    .await;
    wait_for(
        rx,
        "bob typing",
        |e| matches!(e, MatrixEvent::Typing { users, .. } if users.contains(&bob_id)),
    )
    .await;

    // Redactions both ways (room v12: `redacts` inside the content).
    let redaction = client
        .redact(&room, &ghost, &ghost_msg, "txn-r1", Some("recalled"))
        .await
        .unwrap();
    let again = client
        .redact(&room, &ghost, &ghost_msg, "txn-r1", Some("recalled"))
        .await
        .unwrap();
    assert_eq!(redaction, again);
    let event = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{room}/event/{ghost_msg}"),
            None,
        )
        .await;
    assert_eq!(event["content"], json!({}), "redacted: {event}");
    let sent = bob
        .call(
            reqwest::Method::PUT,
            &format!("/_matrix/client/v3/rooms/{room}/redact/{bob_msg}/bobr1"),
            Some(json!({})),
        )
        .await;
    let bob_redaction = event_id(&sent);
    wait_for(rx, "bob's redaction", |e| {
        matches!(e, MatrixEvent::Redaction { event_id, redacts, sender, .. }
            if *event_id == bob_redaction && *redacts == bob_msg && *sender == bob_id)
    })
    .await;

    // Reactions from bob.
    let sent = bob
        .call(
            reqwest::Method::PUT,
            &format!("/_matrix/client/v3/rooms/{room}/send/m.reaction/bobre1"),
            Some(json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": ghost_msg, "key": "👍" } })),
        )
        .await;
    let reaction = event_id(&sent);
    wait_for(rx, "bob's reaction", |e| {
        matches!(e, MatrixEvent::Reaction { event_id, target, key, .. }
            if *event_id == reaction && *target == ghost_msg && key == "👍")
    })
    .await;

    // Media: upload as the ghost, download (authenticated media), size bound, avatar.
    let png: Vec<u8> = (0..150_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mxc = client
        .upload(
            &ghost,
            png.clone(),
            "application/x-imbridge-test",
            "blob.bin",
        )
        .await
        .unwrap();
    let (bytes, content_type) = client.download(mxc.as_str(), 1 << 20).await.unwrap();
    assert_eq!(bytes, png);
    assert_eq!(content_type, "application/x-imbridge-test");
    let too_small = client.download(mxc.as_str(), 1000).await.unwrap_err();
    assert!(matches!(too_small, MatrixError::Other(_)), "{too_small:?}");
    let missing = client
        .download(&format!("mxc://{DOMAIN}/doesnotexist"), 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, MatrixError::Homeserver { status: 404, .. }),
        "{missing:?}"
    );
    client.set_avatar(&ghost, &mxc).await.unwrap();
    let profile = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/{ghost}"),
            None,
        )
        .await;
    assert_eq!(profile["avatar_url"], mxc.as_str());

    // State, membership management and members.
    client
        .send_state(
            &room,
            &ghost,
            "m.room.topic",
            "",
            &json!({ "topic": "bridged" }),
        )
        .await
        .unwrap();
    let ghost2: OwnedUserId = format!("@testghost_carol:{DOMAIN}").try_into().unwrap();
    client.ensure_registered(&ghost2).await.unwrap();
    client.invite(&room, &ghost, &ghost2).await.unwrap();
    client.join(&room, &ghost2).await.unwrap();
    let mut members = client.joined_members(&room).await.unwrap();
    members.sort();
    assert_eq!(members, {
        let mut m = vec![bob_id.clone(), ghost.clone(), ghost2.clone()];
        m.sort();
        m
    });
    client.kick(&room, &ghost, &ghost2, "bye").await.unwrap();
    client.invite(&room, &ghost, &ghost2).await.unwrap();
    client.join(&room, &ghost2).await.unwrap();
    client.leave(&room, &ghost2).await.unwrap();
    assert_eq!(client.joined_members(&room).await.unwrap().len(), 2);

    // A group room: power levels for the bot and admins, with the server's default version.
    let group = RoomSpec {
        name: Some("Group".into()),
        topic: Some("a bridged group".into()),
        avatar: Some(mxc.clone()),
        is_direct: false,
        invite: vec![bob_id.clone()],
        admins: vec![bob_id.clone()],
        levels: vec![(ghost2.clone(), 50), (bob_id.clone(), 50)],
        initial_state: vec![(
            "m.room.guest_access".into(),
            String::new(),
            json!({ "guest_access": "forbidden" }),
        )],
        room_type: None,
    };
    let group_room = client.create_room(&ghost, &group).await.unwrap();
    bob.call(
        reqwest::Method::POST,
        &format!("/_matrix/client/v3/join/{group_room}"),
        Some(json!({})),
    )
    .await;
    let power = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{group_room}/state/m.room.power_levels/"),
            None,
        )
        .await;
    assert_eq!(
        power["users"][bob_id.as_str()],
        100,
        "admins keep 100: {power}"
    );
    assert_eq!(power["users"][format!("@{BOT}:{DOMAIN}")], 100, "{power}");
    assert_eq!(power["users"][ghost2.as_str()], 50, "{power}");
    // The bot (once in the room, as in group portals it creates) reads state back; missing
    // state is None, not an error.
    let bot_id = ruma::OwnedUserId::try_from(format!("@{BOT}:{DOMAIN}")).unwrap();
    client.invite(&group_room, &ghost, &bot_id).await.unwrap();
    client.join(&group_room, &bot_id).await.unwrap();
    let read = client
        .room_state(&group_room, "m.room.power_levels", "")
        .await
        .unwrap();
    assert_eq!(read.as_ref().map(|p| &p["users"]), Some(&power["users"]));
    assert_eq!(
        client
            .room_state(&group_room, "m.room.pinned_events", "")
            .await
            .unwrap(),
        None
    );
    let name = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{group_room}/state/m.room.name/"),
            None,
        )
        .await;
    assert_eq!(name["name"], "Group");
    let avatar = bob
        .call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{group_room}/state/m.room.avatar/"),
            None,
        )
        .await;
    assert_eq!(avatar["url"], mxc.as_str());

    // Errors carry the homeserver's errcode.
    let err = client
        .send_event(
            &group_room,
            &ghost2,
            "m.room.message",
            "t",
            &json!({ "body": "x", "msgtype": "m.text" }),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MatrixError::Homeserver { status: 403, errcode, .. } if errcode == "M_FORBIDDEN"),
        "{err:?}"
    );
    assert!(!err.is_transient());

    env.finish("appservice_against_real_synapse").await;
}

/// Rooms before version 12 need the creator in the power levels (and invitees of a
/// `trusted_private_chat` as ops); v12 forbids listing creators. Checked on a server whose
/// default room version is 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_creation_on_room_version_10() {
    let Some(env) = Env::start(Some("default_room_version: \"10\"\n")).await else {
        return;
    };
    let (client, bob, bob_id) = (&env.client, &env.bob, env.bob_id.clone());
    let ghost: OwnedUserId = format!("@testghost_dave:{DOMAIN}").try_into().unwrap();
    client.ensure_registered(&ghost).await.unwrap();
    let bot = format!("@{BOT}:{DOMAIN}");
    for is_direct in [true, false] {
        let spec = RoomSpec {
            is_direct,
            invite: vec![bob_id.clone()],
            ..Default::default()
        };
        let room = client.create_room(&ghost, &spec).await.unwrap();
        bob.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{room}"),
            Some(json!({})),
        )
        .await;
        let create = bob
            .call(
                reqwest::Method::GET,
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.create/"),
                None,
            )
            .await;
        assert_eq!(create["room_version"], "10");
        let power = bob
            .call(
                reqwest::Method::GET,
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
                None,
            )
            .await;
        assert_eq!(power["users"][ghost.as_str()], 100, "{power}");
        assert_eq!(power["users"][bot.as_str()], 100, "{power}");
        let bob_level = if is_direct { json!(100) } else { Value::Null };
        assert_eq!(power["users"][bob_id.as_str()], bob_level, "{power}");
    }
    env.finish("room_creation_on_room_version_10").await;
}
