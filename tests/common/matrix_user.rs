//! A minimal Matrix client for tests: a real user on the test Synapse, over plain HTTP.

use std::time::Duration;

use serde_json::{json, Value};

/// A logged-in Matrix user.
pub struct MatrixUser {
    pub mxid: String,
    base: String,
    token: String,
    http: reqwest::Client,
    txn: u64,
    /// Incremental sync position (Synapse caches identical initial syncs for minutes).
    since: std::sync::Mutex<Option<String>>,
    /// Invites seen so far and not yet joined.
    pending_invites: std::sync::Mutex<Vec<String>>,
}

impl MatrixUser {
    pub fn new(base: &str, mxid: &str, token: &str) -> Self {
        Self {
            mxid: mxid.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
            txn: 0,
            since: Default::default(),
            pending_invites: Default::default(),
        }
    }

    /// Sets the user's display name.
    pub async fn set_displayname(&self, name: &str) {
        self.call(
            reqwest::Method::PUT,
            &format!("/profile/{}/displayname", self.mxid),
            Some(json!({ "displayname": name })),
        )
        .await;
    }

    /// Sets the user's avatar to `mxc` (an `mxc://` URI from [`Self::upload`]).
    pub async fn set_avatar_url(&self, mxc: &str) {
        self.call(
            reqwest::Method::PUT,
            &format!("/profile/{}/avatar_url", self.mxid),
            Some(json!({ "avatar_url": mxc })),
        )
        .await;
    }

    /// The user's ignored users (`m.ignored_user_list` account data; none when unset).
    pub async fn ignored_users(&self) -> Vec<String> {
        let url = format!(
            "{}/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
            self.base,
            urlencode(&self.mxid)
        );
        let resp = self.http.get(&url).bearer_auth(&self.token).send().await;
        let v: Value = match resp {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            _ => Value::Null,
        };
        v["ignored_users"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Replaces the user's ignored users.
    pub async fn set_ignored_users(&self, users: &[&str]) {
        let list: serde_json::Map<String, Value> =
            users.iter().map(|u| (u.to_string(), json!({}))).collect();
        let path = format!(
            "/user/{}/account_data/m.ignored_user_list",
            urlencode(&self.mxid)
        );
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(json!({ "ignored_users": list })),
        )
        .await;
    }

    /// `POST /_matrix/client/v3{path}` with `body` (asserting success).
    pub async fn call_post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT /_matrix/client/v3{path}` with `body` (asserting success).
    pub async fn call_put(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// The user's global push rules (`GET /pushrules/global/`).
    pub async fn push_rules(&self) -> Value {
        self.call(reqwest::Method::GET, "/pushrules/global/", None)
            .await
    }

    /// Puts push rule `kind`/`rule_id` (`PUT /pushrules/global/{kind}/{rule_id}`).
    pub async fn put_push_rule(&self, kind: &str, rule_id: &str, body: Value) {
        let path = format!("/pushrules/global/{kind}/{}", urlencode(rule_id));
        self.call(reqwest::Method::PUT, &path, Some(body)).await;
    }

    /// Deletes push rule `kind`/`rule_id`.
    pub async fn delete_push_rule(&self, kind: &str, rule_id: &str) {
        let path = format!("/pushrules/global/{kind}/{}", urlencode(rule_id));
        self.call(reqwest::Method::DELETE, &path, None).await;
    }

    /// The user's access token (for `login-matrix`).
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_matrix/client/v3{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// Creates a DM with `other` and returns the room id.
    pub async fn create_dm(&self, other: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/createRoom",
                Some(json!({ "is_direct": true, "invite": [other], "preset": "trusted_private_chat" })),
            )
            .await;
        v["room_id"].as_str().expect("room id").to_owned()
    }

    /// Creates a room with this `/createRoom` body and returns its id.
    pub async fn create_room(&self, body: Value) -> String {
        let v = self
            .call(reqwest::Method::POST, "/createRoom", Some(body))
            .await;
        v["room_id"].as_str().expect("room id").to_owned()
    }

    /// Sends an event of any type and returns its id.
    pub async fn send_event(&mut self, room: &str, event_type: &str, content: Value) -> String {
        self.txn += 1;
        let path = format!(
            "/rooms/{room}/send/{event_type}/t{}-{}",
            self.txn,
            rand_u32()
        );
        let v = self.call(reqwest::Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event id").to_owned()
    }

    /// One event as the user sees it (`Null` fields when it is gone).
    pub async fn event(&self, room: &str, event_id: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/rooms/{room}/event/{event_id}"),
            None,
        )
        .await
    }

    /// Rooms the user has joined.
    pub async fn joined_rooms(&self) -> Vec<String> {
        let v = self.call(reqwest::Method::GET, "/joined_rooms", None).await;
        v["joined_rooms"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A user's global profile (`displayname`, `avatar_url`).
    pub async fn profile(&self, user: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/profile/{user}"), None)
            .await
    }

    /// Invites `user` to a room.
    pub async fn invite(&self, room: &str, user: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{room}/invite"),
            Some(json!({ "user_id": user })),
        )
        .await;
    }

    /// Leaves a room.
    pub async fn leave(&self, room: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{room}/leave"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn join(&self, room: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{room}/join"),
            Some(json!({})),
        )
        .await;
    }

    /// Sends `m.text` and returns the event id.
    pub async fn send_text(&mut self, room: &str, body: &str) -> String {
        self.send_content(room, json!({ "msgtype": "m.text", "body": body }))
            .await
    }

    /// Sends an `m.room.message` with this content and returns the event id.
    pub async fn send_content(&mut self, room: &str, content: Value) -> String {
        self.txn += 1;
        let path = format!(
            "/rooms/{room}/send/m.room.message/t{}-{}",
            self.txn,
            rand_u32()
        );
        let v = self.call(reqwest::Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event id").to_owned()
    }

    /// The content of a room state event (`Null` when unreadable).
    pub async fn state(&self, room: &str, event_type: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/rooms/{room}/state/{event_type}/"),
            None,
        )
        .await
    }

    /// Waits (bounded, 15 s) until `user`'s power level in `room` is `level` (`None`: unset).
    pub async fn wait_power(&self, room: &str, user: &str, level: Option<i64>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut last = Value::Null;
        while std::time::Instant::now() < deadline {
            last = self.state(room, "m.room.power_levels").await;
            if last["users"][user].as_i64() == level {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{user} never got power level {level:?} in {room}: {last}");
    }

    /// The room's last 100 events as JSON, oldest first.
    pub async fn raw_events(&self, room: &str) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/rooms/{room}/messages?dir=b&limit=100"),
                None,
            )
            .await;
        let mut events = v["chunk"].as_array().cloned().unwrap_or_default();
        events.reverse();
        events
    }

    /// The event id of the last `m.room.message` with this body (bounded wait, 15 s).
    pub async fn event_id_of(&self, room: &str, body: &str) -> String {
        self.wait_event(room, "a message with that body", |e| {
            e["type"] == "m.room.message" && e["content"]["body"] == body
        })
        .await
    }

    /// Waits (bounded, 15 s) for an event matching `pick`; returns its id.
    pub async fn wait_event(
        &self,
        room: &str,
        what: &str,
        pick: impl Fn(&Value) -> bool,
    ) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            let events = self.raw_events(room).await;
            if let Some(e) = events.iter().rev().find(|e| pick(e)) {
                return e["event_id"].as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{what} never appeared in {room}");
    }

    /// Reacts to `target` with `key`; returns the reaction's event id.
    pub async fn send_reaction(&mut self, room: &str, target: &str, key: &str) -> String {
        self.txn += 1;
        let path = format!("/rooms/{room}/send/m.reaction/r{}-{}", self.txn, rand_u32());
        let content = json!({
            "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": key }
        });
        let v = self.call(reqwest::Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event id").to_owned()
    }

    /// Redacts `event` in `room`.
    pub async fn redact(&mut self, room: &str, event: &str) -> String {
        self.txn += 1;
        let path = format!("/rooms/{room}/redact/{event}/x{}-{}", self.txn, rand_u32());
        let v = self
            .call(reqwest::Method::PUT, &path, Some(json!({})))
            .await;
        v["event_id"].as_str().unwrap_or_default().to_owned()
    }

    /// Uploads a file to the media repository and returns its `mxc://` URI.
    pub async fn upload(&self, bytes: Vec<u8>, mime: &str, name: &str) -> String {
        let url = format!("{}/_matrix/media/v3/upload", self.base);
        let resp = self
            .http
            .post(&url)
            .query(&[("filename", name)])
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "upload: {status} {v}");
        v["content_uri"].as_str().expect("content_uri").to_owned()
    }

    /// The room's last 100 events, oldest first: (sender, type, content).
    pub async fn messages(&self, room: &str) -> Vec<(String, String, Value)> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/rooms/{room}/messages?dir=b&limit=100"),
                None,
            )
            .await;
        let mut out: Vec<(String, String, Value)> = v["chunk"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e["sender"].as_str().unwrap_or_default().to_owned(),
                    e["type"].as_str().unwrap_or_default().to_owned(),
                    e["content"].clone(),
                )
            })
            .collect();
        out.reverse();
        out
    }

    /// Bodies of `m.room.message` events from `sender` (any sender when `None`).
    pub async fn bodies(&self, room: &str, sender: Option<&str>) -> Vec<String> {
        self.messages(room)
            .await
            .into_iter()
            .filter(|(s, t, _)| t == "m.room.message" && sender.is_none_or(|x| x == s))
            .filter_map(|(_, _, c)| c["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits (up to 30 s) until `sender`'s bodies in `room` are `want`, then checks they stay
    /// so for a second (nothing more, nothing twice); fails with the last lines of `log`.
    pub async fn wait_bodies_steady(
        &self,
        room: &str,
        sender: &str,
        want: &[&str],
        log: &std::path::Path,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.bodies(room, Some(sender)).await;
            if got == want {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let again = self.bodies(room, Some(sender)).await;
                assert_eq!(again, want, "more arrived after the expected messages");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{sender}'s messages {got:?}, want {want:?}\n{}",
                super::bridge::tail(log, 40)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Bodies of every `m.room.message` event in the room (paginating back through at most
    /// 2,000 events), oldest first.
    pub async fn all_bodies(&self, room: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..20 {
            let path = match &from {
                Some(f) => format!("/rooms/{room}/messages?dir=b&limit=100&from={f}"),
                None => format!("/rooms/{room}/messages?dir=b&limit=100"),
            };
            let v = self.call(reqwest::Method::GET, &path, None).await;
            let chunk = v["chunk"].as_array().cloned().unwrap_or_default();
            for e in &chunk {
                if e["type"] == "m.room.message" {
                    if let Some(b) = e["content"]["body"].as_str() {
                        out.push(b.to_owned());
                    }
                }
            }
            match v["end"].as_str() {
                Some(end) if !chunk.is_empty() => from = Some(end.to_owned()),
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// Waits (bounded) until a message with `body` shows up in `room`.
    pub async fn wait_body(&self, room: &str, what: impl Fn(&str) -> bool) -> String {
        for _ in 0..150 {
            if let Some(b) = self.bodies(room, None).await.into_iter().find(|b| what(b)) {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "expected message did not arrive in {room}: {:?}",
            self.bodies(room, None).await
        );
    }

    /// Rooms this user is invited to.
    pub async fn invites(&self) -> Vec<String> {
        self.sync_once().await;
        self.pending_invites
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// One incremental `/sync` (initial: a tiny one), remembering new invites; returns it.
    async fn sync_once(&self) -> Value {
        let since = self.since.lock().map(|s| s.clone()).unwrap_or_default();
        let path = match since {
            Some(s) => format!("/sync?timeout=500&since={s}"),
            None => "/sync?timeout=0&filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A1%7D%7D%7D".to_owned(),
        };
        let v = self.call(reqwest::Method::GET, &path, None).await;
        if let (Ok(mut s), Some(next)) = (self.since.lock(), v["next_batch"].as_str()) {
            *s = Some(next.to_owned());
        }
        if let Ok(mut pending) = self.pending_invites.lock() {
            if let Some(o) = v["rooms"]["invite"].as_object() {
                for room in o.keys() {
                    if !pending.contains(room) {
                        pending.push(room.clone());
                    }
                }
            }
            if let Some(o) = v["rooms"]["join"].as_object() {
                pending.retain(|r| !o.contains_key(r));
            }
        }
        v
    }

    /// Waits (bounded, 15 s) until `user` is (or is no longer) in `room`'s typing list.
    pub async fn wait_typing(&self, room: &str, user: &str, typing: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            let v = self.sync_once().await;
            let events = v["rooms"]["join"][room]["ephemeral"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for e in events.iter().filter(|e| e["type"] == "m.typing") {
                let users = e["content"]["user_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if users.iter().any(|u| u == user) == typing {
                    return;
                }
            }
        }
        panic!("{user} typing={typing} never seen in {room}");
    }

    /// Sets this user's presence (`PUT /presence/{me}/status`).
    pub async fn set_presence(&self, presence: &str, status_msg: Option<&str>) {
        let mut body = json!({ "presence": presence });
        if let Some(msg) = status_msg {
            body["status_msg"] = json!(msg);
        }
        let path = format!("/presence/{}/status", self.mxid);
        self.call(reqwest::Method::PUT, &path, Some(body)).await;
    }

    /// Waits (bounded, 20 s) until `user`'s presence (`GET /presence/{user}/status`) has
    /// `presence` and, when given, `status_msg`; returns it.
    pub async fn wait_presence(
        &self,
        user: &str,
        presence: &str,
        status_msg: Option<&str>,
    ) -> Value {
        let path = format!("/presence/{user}/status");
        let mut last = Value::Null;
        for _ in 0..100 {
            let v = self.call(reqwest::Method::GET, &path, None).await;
            if v["presence"] == presence
                && status_msg.is_none_or(|m| v["status_msg"].as_str() == Some(m))
            {
                return v;
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{user} never had presence {presence} {status_msg:?}: {last}");
    }

    /// Sends this user's read receipt (`m.read`) on `event`, as Element does when the user
    /// has seen it.
    pub async fn send_read_receipt(&self, room: &str, event: &str) {
        let path = format!("/rooms/{room}/receipt/m.read/{event}");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// Waits (bounded, 15 s) until `user`'s read receipt (`m.read`) is on `event` in `room`,
    /// read from a fresh initial sync each time (receipts seen by earlier syncs count too;
    /// Synapse returns the receipts of the events in the timeline, so it is at least 50 events
    /// long). Synapse keeps the answer of a sync for two minutes and gives it again to the same
    /// request, so each try asks for a different timeline length.
    pub async fn wait_read_receipt(&self, room: &str, user: &str, event: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut last = Value::Null;
        let mut limit = 50;
        while std::time::Instant::now() < deadline {
            limit += 1;
            let filter = json!({ "room": { "timeline": { "limit": limit } } }).to_string();
            let filter: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            let path = format!("/sync?timeout=0&filter={filter}");
            let v = self.call(reqwest::Method::GET, &path, None).await;
            let events = v["rooms"]["join"][room]["ephemeral"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for e in events.iter().filter(|e| e["type"] == "m.receipt") {
                if !e["content"][event]["m.read"][user].is_null() {
                    return;
                }
                last = e["content"].clone();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        panic!("no read receipt of {user} on {event} in {room}: {last}");
    }

    /// Starts or stops typing in `room`.
    pub async fn set_typing(&self, room: &str, typing: bool) {
        let body = if typing {
            json!({ "typing": true, "timeout": 10000 })
        } else {
            json!({ "typing": false })
        };
        self.call(
            reqwest::Method::PUT,
            &format!("/rooms/{room}/typing/{}", self.mxid),
            Some(body),
        )
        .await;
    }

    /// Waits for an invite to a room other than `known`, joins it and returns it.
    pub async fn accept_new_invite(&self, known: &[String]) -> String {
        for _ in 0..150 {
            if let Some(room) = self
                .invites()
                .await
                .into_iter()
                .find(|r| !known.contains(r))
            {
                self.join(&room).await;
                if let Ok(mut p) = self.pending_invites.lock() {
                    p.retain(|r| *r != room);
                }
                return room;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no invite for {}", self.mxid);
    }

    /// Upgrades `room` to room version `version`; returns the replacement room's id.
    pub async fn upgrade(&self, room: &str, version: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/rooms/{room}/upgrade"),
                Some(json!({ "new_version": version })),
            )
            .await;
        v["replacement_room"]
            .as_str()
            .expect("replacement room")
            .to_owned()
    }

    /// The content of the state event `(event_type, state_key)` (`Null` when there is none).
    pub async fn state_of(&self, room: &str, event_type: &str, state_key: &str) -> Value {
        let url = format!(
            "{}/_matrix/client/v3/rooms/{room}/state/{event_type}/{state_key}",
            self.base
        );
        let resp = self.http.get(&url).bearer_auth(&self.token).send().await;
        match resp {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Sets the state event `(event_type, "")` of a room; returns its event id.
    pub async fn set_state(&self, room: &str, event_type: &str, content: Value) -> String {
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("/rooms/{room}/state/{event_type}/"),
                Some(content),
            )
            .await;
        v["event_id"].as_str().expect("event id").to_owned()
    }

    /// Kicks `user` from a room.
    pub async fn kick(&self, room: &str, user: &str, reason: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{room}/kick"),
            Some(json!({ "user_id": user, "reason": reason })),
        )
        .await;
    }

    /// Joined members of a room.
    pub async fn members(&self, room: &str) -> Vec<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/rooms/{room}/joined_members"),
                None,
            )
            .await;
        v["joined"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn rand_u32() -> u32 {
    rand::random()
}

/// `s` as one URL path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
