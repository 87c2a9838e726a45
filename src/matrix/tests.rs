//! Tests of the appservice listener over a real loopback socket (auth, transactions, dedup,
//! failure handling, user queries) and of the transaction parser.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ruma::{owned_event_id, owned_room_id, owned_user_id, EventId, OwnedMxcUri, OwnedUserId};
use ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde_json::{json, Value};

use super::appservice::{router, serve, AppserviceState, MemoryTxnDedup};
use crate::core::matrix_api::{MatrixApi, MatrixError, MatrixEvent, MatrixEventSink, RoomSpec};

const HS_TOKEN: &str = "hs_token_0123456789abcdef0123456789abcdef0123456789abcdef01234567";

#[derive(Default)]
struct TestSink {
    events: Mutex<Vec<MatrixEvent>>,
    calls: AtomicUsize,
    fail: AtomicBool,
}

#[async_trait]
impl MatrixEventSink for TestSink {
    async fn enqueue(&self, events: Vec<MatrixEvent>) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk full".into());
        }
        self.events.lock().unwrap().extend(events);
        Ok(())
    }
}

/// Records `ensure_registered`; nothing else is used by the listener.
#[derive(Default)]
struct FakeRegistrar {
    registered: Mutex<Vec<OwnedUserId>>,
}

#[async_trait]
impl MatrixApi for FakeRegistrar {
    fn bot(&self) -> &UserId {
        unimplemented!()
    }
    async fn ensure_registered(&self, user: &UserId) -> Result<(), MatrixError> {
        self.registered.lock().unwrap().push(user.to_owned());
        Ok(())
    }
    async fn set_displayname(&self, _: &UserId, _: &str) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn set_avatar(&self, _: &UserId, _: &OwnedMxcUri) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn upload(
        &self,
        _: &UserId,
        _: Vec<u8>,
        _: &str,
        _: &str,
    ) -> Result<OwnedMxcUri, MatrixError> {
        unimplemented!()
    }
    async fn download(&self, _: &str, _: u64) -> Result<(Vec<u8>, String), MatrixError> {
        unimplemented!()
    }
    async fn create_room(&self, _: &UserId, _: &RoomSpec) -> Result<OwnedRoomId, MatrixError> {
        unimplemented!()
    }
    async fn invite(&self, _: &RoomId, _: &UserId, _: &UserId) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn join(&self, _: &RoomId, _: &UserId) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn leave(&self, _: &RoomId, _: &UserId) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn kick(&self, _: &RoomId, _: &UserId, _: &UserId, _: &str) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn send_event(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &str,
        _: &str,
        _: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        unimplemented!()
    }
    async fn send_state(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &str,
        _: &str,
        _: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        unimplemented!()
    }
    async fn redact(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &EventId,
        _: &str,
        _: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        unimplemented!()
    }
    async fn joined_members(&self, _: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        unimplemented!()
    }
    async fn read_receipt(&self, _: &RoomId, _: &UserId, _: &EventId) -> Result<(), MatrixError> {
        unimplemented!()
    }
    async fn typing(&self, _: &RoomId, _: &UserId, _: bool) -> Result<(), MatrixError> {
        unimplemented!()
    }
}

struct Harness {
    base: String,
    http: reqwest::Client,
    sink: Arc<TestSink>,
    dedup: Arc<MemoryTxnDedup>,
    registrar: Arc<FakeRegistrar>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Harness {
    let sink = Arc::new(TestSink::default());
    let dedup = Arc::new(MemoryTxnDedup::default());
    let registrar = Arc::new(FakeRegistrar::default());
    let state = AppserviceState::new(
        HS_TOKEN,
        sink.clone(),
        dedup.clone(),
        Arc::new(|u: &UserId| {
            u.server_name() == "hs"
                && (u.localpart() == "bot" || u.localpart().starts_with("ghost_"))
        }),
    )
    .with_registrar(registrar.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state), async move {
        let _ = stopped.await;
    }));
    Harness {
        base,
        http: reqwest::Client::new(),
        sink,
        dedup,
        registrar,
        _stop: stop,
    }
}

impl Harness {
    async fn put_txn(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value, Option<u64>) {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(HS_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        finish(resp).await
    }

    fn events(&self) -> Vec<MatrixEvent> {
        self.sink.events.lock().unwrap().clone()
    }
}

async fn finish(resp: reqwest::Response) -> (u16, Value, Option<u64>) {
    let status = resp.status().as_u16();
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.bytes().await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json, length)
}

fn message(event_id: &str, body: &str) -> Value {
    json!({
        "type": "m.room.message",
        "room_id": "!room:hs",
        "sender": "@alice:hs",
        "event_id": event_id,
        "origin_server_ts": 1_700_000_000_000u64,
        "content": { "msgtype": "m.text", "body": body },
    })
}

fn txn(events: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

#[tokio::test]
async fn auth_header_query_missing_wrong() {
    let h = start().await;
    let url = format!("{}/_matrix/app/v1/transactions/1", h.base);
    let body = txn(vec![]);

    let ok = h
        .http
        .put(&url)
        .bearer_auth(HS_TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, json, length) = finish(ok).await;
    assert_eq!((status, json), (200, json!({})));
    assert_eq!(length, Some(2), "a 200 must carry Content-Length");

    let legacy = h
        .http
        .put(format!("{url}?access_token={HS_TOKEN}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(finish(legacy).await.0, 200);

    let missing = h.http.put(&url).body(body.clone()).send().await.unwrap();
    let (status, json, length) = finish(missing).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (401, Some("M_UNAUTHORIZED"))
    );
    assert!(length.is_some());

    let wrong = h
        .http
        .put(&url)
        .bearer_auth("nope")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, json, _) = finish(wrong).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );

    let wrong_query = h
        .http
        .put(format!("{url}?access_token=nope"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(finish(wrong_query).await.0, 403);

    let empty = h
        .http
        .put(&url)
        .header("authorization", "Bearer ")
        .body(txn(vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(finish(empty).await.0, 401);

    // The other endpoints are guarded too.
    for (method, path) in [
        (reqwest::Method::GET, "/_matrix/app/v1/users/@ghost_1:hs"),
        (reqwest::Method::GET, "/_matrix/app/v1/rooms/%23a:hs"),
        (reqwest::Method::POST, "/_matrix/app/v1/ping"),
    ] {
        let r = h
            .http
            .request(method, format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(finish(r).await.0, 401, "{path}");
    }
    assert!(h.events().is_empty());
}

#[tokio::test]
async fn every_event_kind_is_parsed() {
    let h = start().await;
    let body = json!({
        "events": [
            message("$m1", "hello"),
            {
                "type": "m.sticker", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$s1", "origin_server_ts": 5,
                "content": { "body": "cat", "url": "mxc://hs/cat", "info": {} },
            },
            {
                "type": "m.room.redaction", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$r11", "origin_server_ts": 6, "content": { "redacts": "$m1" },
            },
            {
                "type": "m.room.redaction", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$r10", "origin_server_ts": 7, "redacts": "$s1", "content": {},
            },
            {
                "type": "m.reaction", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$re", "origin_server_ts": 8,
                "content": { "m.relates_to": { "rel_type": "m.annotation", "event_id": "$m1", "key": "👍" } },
            },
            {
                "type": "m.room.member", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$mem", "origin_server_ts": 9, "state_key": "@ghost_1:hs",
                "content": { "membership": "invite", "is_direct": true },
            },
            {
                "type": "m.room.topic", "room_id": "!room:hs", "sender": "@alice:hs",
                "event_id": "$topic", "origin_server_ts": 10, "state_key": "", "content": { "topic": "x" },
            },
        ],
        "ephemeral": [
            {
                "type": "m.receipt", "room_id": "!room:hs",
                "content": {
                    "$m1": {
                        "m.read": { "@alice:hs": { "ts": 1 }, "@bob:hs": { "ts": 2, "thread_id": "main" } },
                        "m.read.private": { "@ghost_1:hs": { "ts": 3 } },
                    },
                },
            },
            { "type": "m.typing", "room_id": "!room:hs", "content": { "user_ids": ["@alice:hs"] } },
            { "type": "m.presence", "sender": "@alice:hs", "content": { "presence": "online" } },
        ],
        "de.sorunome.msc2409.ephemeral": [
            {
                "type": "m.receipt", "room_id": "!room:hs",
                "content": { "$m1": { "m.read": { "@alice:hs": { "ts": 1 }, "@bob:hs": { "ts": 2 } } } },
            },
            { "type": "m.typing", "room_id": "!room:hs", "content": { "user_ids": ["@alice:hs"] } },
        ],
    });
    let (status, _, _) = h
        .put_txn("/_matrix/app/v1/transactions/7", body.to_string())
        .await;
    assert_eq!(status, 200);

    let room = owned_room_id!("!room:hs");
    let alice = owned_user_id!("@alice:hs");
    let expected = vec![
        MatrixEvent::Message {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$m1"),
            content: json!({ "msgtype": "m.text", "body": "hello" }),
            origin_server_ts: 1_700_000_000_000,
        },
        MatrixEvent::Message {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$s1"),
            // A sticker is bridged as an image.
            content: json!({ "msgtype": "m.image", "body": "cat", "url": "mxc://hs/cat", "info": {} }),
            origin_server_ts: 5,
        },
        MatrixEvent::Redaction {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$r11"),
            redacts: owned_event_id!("$m1"),
        },
        MatrixEvent::Redaction {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$r10"),
            redacts: owned_event_id!("$s1"),
        },
        MatrixEvent::Reaction {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$re"),
            target: owned_event_id!("$m1"),
            key: "👍".into(),
        },
        MatrixEvent::Membership {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$mem"),
            target: owned_user_id!("@ghost_1:hs"),
            membership: "invite".into(),
            is_direct: true,
        },
        MatrixEvent::RoomMeta {
            room: room.clone(),
            sender: alice.clone(),
            event_id: owned_event_id!("$topic"),
            name: None,
            topic: Some("x".into()),
        },
        MatrixEvent::Receipt {
            room: room.clone(),
            user: alice.clone(),
            event_id: owned_event_id!("$m1"),
        },
        MatrixEvent::Receipt {
            room: room.clone(),
            user: owned_user_id!("@bob:hs"),
            event_id: owned_event_id!("$m1"),
        },
        MatrixEvent::Typing {
            room: room.clone(),
            users: vec![alice.clone()],
        },
        MatrixEvent::Presence {
            user: alice.clone(),
            presence: "online".into(),
            status_msg: None,
        },
    ];
    assert_eq!(h.events(), expected);
}

#[tokio::test]
async fn malformed_bodies_get_400_with_matrix_errors() {
    let h = start().await;
    let (status, json, length) = h.put_txn("/_matrix/app/v1/transactions/x1", "{{{").await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (400, Some("M_NOT_JSON"))
    );
    assert!(json["error"].is_string() && length.is_some());
    let (status, json, _) = h
        .put_txn("/_matrix/app/v1/transactions/x2", r#"{"events":"no"}"#)
        .await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (400, Some("M_BAD_JSON"))
    );
    let (status, _, _) = h
        .put_txn("/_matrix/app/v1/transactions/x3", vec![0xff, 0xfe, 0x00])
        .await;
    assert_eq!(status, 400);
    assert!(h.events().is_empty());
    // A rejected transaction is not marked: the homeserver may resend it, fixed.
    assert!(!h.dedup.contains("x1"));
}

#[tokio::test]
async fn malformed_events_are_skipped_not_fatal() {
    let h = start().await;
    let mut no_sender = message("$bad1", "x");
    no_sender.as_object_mut().unwrap().remove("sender");
    let mut bad_room = message("$bad2", "x");
    bad_room["room_id"] = json!("not-a-room");
    let mut bad_content = message("$bad3", "x");
    bad_content["content"] = json!("text");
    let body = json!({
        "events": [
            no_sender, bad_room, bad_content, 42, "string",
            { "type": "m.room.redaction", "room_id": "!room:hs", "sender": "@a:hs", "event_id": "$r", "content": {} },
            { "type": "m.reaction", "room_id": "!room:hs", "sender": "@a:hs", "event_id": "$x", "content": {} },
            { "type": "m.room.member", "room_id": "!room:hs", "sender": "@a:hs", "event_id": "$y",
              "state_key": "not a user", "content": { "membership": "join" } },
            message("$good", "fine"),
        ],
        "ephemeral": [
            { "type": "m.receipt", "room_id": "!room:hs",
              "content": { "bad event": { "m.read": { "@a:hs": {} } }, "$ok": { "m.read": { "bad user": {}, "@a:hs": {} } } } },
            { "type": "m.typing", "content": { "user_ids": [] } },
            { "type": "m.typing", "room_id": "!room:hs", "content": { "user_ids": ["nope"] } },
            7,
        ],
    });
    let (status, _, _) = h
        .put_txn("/_matrix/app/v1/transactions/m1", body.to_string())
        .await;
    assert_eq!(status, 200);
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], MatrixEvent::Message { event_id, .. } if event_id == "$good"));
    assert!(
        matches!(&events[1], MatrixEvent::Receipt { event_id, user, .. }
        if event_id == "$ok" && user == "@a:hs")
    );
}

#[tokio::test]
async fn same_transaction_twice_is_enqueued_once() {
    let h = start().await;
    let body = txn(vec![message("$m1", "once")]);
    for _ in 0..2 {
        let (status, json, _) = h
            .put_txn("/_matrix/app/v1/transactions/42", body.clone())
            .await;
        assert_eq!((status, json), (200, json!({})));
    }
    // The legacy path shares the dedup.
    let (status, _, _) = h.put_txn("/transactions/42", body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.sink.calls.load(Ordering::SeqCst), 1);
    // A new id is new (the core's sink drops the event ids it already queued).
    h.put_txn("/transactions/43", body).await;
    assert_eq!(h.events().len(), 2);
}

#[tokio::test]
async fn a_reused_transaction_id_with_other_events_is_new() {
    // Synapse on SQLite numbers transactions from 1 again after a restart.
    let h = start().await;
    h.put_txn(
        "/_matrix/app/v1/transactions/1",
        txn(vec![message("$before", "a")]),
    )
    .await;
    let (status, _, _) = h
        .put_txn(
            "/_matrix/app/v1/transactions/1",
            txn(vec![message("$after", "b")]),
        )
        .await;
    assert_eq!(status, 200);
    let ids: Vec<String> = h
        .events()
        .iter()
        .filter_map(|e| e.event_id().map(str::to_owned))
        .collect();
    assert_eq!(ids, vec!["$before".to_owned(), "$after".to_owned()]);
    // A retry of the second carries the same events: dropped.
    h.put_txn(
        "/_matrix/app/v1/transactions/1",
        txn(vec![message("$after", "b")]),
    )
    .await;
    assert_eq!(h.events().len(), 2);
}

#[tokio::test]
async fn enqueue_failure_is_500_and_not_marked() {
    let h = start().await;
    h.sink.fail.store(true, Ordering::SeqCst);
    let body = txn(vec![message("$m1", "retry me")]);
    let (status, json, length) = h
        .put_txn("/_matrix/app/v1/transactions/9", body.clone())
        .await;
    assert_eq!((status, json["errcode"].as_str()), (500, Some("M_UNKNOWN")));
    assert!(length.is_some());
    assert!(!h.dedup.contains("9"));
    assert!(h.events().is_empty());
    // The homeserver retries the same transaction: now it goes through, once.
    h.sink.fail.store(false, Ordering::SeqCst);
    let (status, _, _) = h.put_txn("/_matrix/app/v1/transactions/9", body).await;
    assert_eq!(status, 200);
    assert!(h.dedup.contains("9"));
    assert_eq!(h.events().len(), 1);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = start().await;
    let big = vec![b' '; super::appservice::MAX_BODY_BYTES + 1];
    let (status, json, _) = h.put_txn("/_matrix/app/v1/transactions/big", big).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (413, Some("M_TOO_LARGE"))
    );
}

#[tokio::test]
async fn user_and_room_queries_ping_and_unknown_paths() {
    let h = start().await;
    let get = |path: &str| {
        h.http
            .get(format!("{}{path}", h.base))
            .bearer_auth(HS_TOKEN)
            .send()
    };
    let (status, json, length) =
        finish(get("/_matrix/app/v1/users/@ghost_7:hs").await.unwrap()).await;
    assert_eq!((status, json, length), (200, json!({}), Some(2)));
    let (status, _, _) = finish(get("/_matrix/app/v1/users/%40bot%3Ahs").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        *h.registrar.registered.lock().unwrap(),
        vec![owned_user_id!("@ghost_7:hs"), owned_user_id!("@bot:hs")]
    );
    for path in [
        "/_matrix/app/v1/users/@alice:hs",
        "/_matrix/app/v1/users/@ghost_7:elsewhere",
        "/_matrix/app/v1/users/garbage",
        "/users/@alice:hs",
    ] {
        let (status, json, _) = finish(get(path).await.unwrap()).await;
        assert_eq!(
            (status, json["errcode"].as_str()),
            (404, Some("M_NOT_FOUND")),
            "{path}"
        );
    }
    let (status, _, _) = finish(get("/users/@ghost_8:hs").await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, json, _) = finish(get("/_matrix/app/v1/rooms/%23alias:hs").await.unwrap()).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );

    let ping = h
        .http
        .post(format!("{}/_matrix/app/v1/ping", h.base))
        .bearer_auth(HS_TOKEN)
        .json(&json!({ "transaction_id": "abc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(finish(ping).await.0, 200);

    let (status, json, _) =
        finish(get("/_matrix/app/v1/thirdparty/protocol/x").await.unwrap()).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (404, Some("M_UNRECOGNIZED"))
    );
}

#[tokio::test]
async fn empty_configured_token_accepts_nothing() {
    let state = AppserviceState::new(
        "",
        Arc::new(TestSink::default()),
        Arc::new(MemoryTxnDedup::default()),
        Arc::new(|_: &UserId| true),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state), async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for url in [
        format!("{base}/_matrix/app/v1/ping?access_token="),
        format!("{base}/_matrix/app/v1/ping?access_token=x"),
    ] {
        let status = http.post(url).send().await.unwrap().status().as_u16();
        assert!(status == 401 || status == 403, "{status}");
    }
}
