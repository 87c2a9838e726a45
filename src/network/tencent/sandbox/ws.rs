//! The sandbox's websocket: `/binfo` (binary frames, as the Web SDK uses) and `/info` (text
//! frames). `wslogin` checks the UserSig; then every request gets a reply echoing its head,
//! with the bodies the official SDK needs to reach SDK_READY (reference §A3).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::super::wire::{self, code, servcmd, Frame, MAX_FRAME};
use super::state::{unix_now, Out, Sandbox, SendMeta};

/// `/binfo`: binary frames.
pub async fn binfo(
    ws: WebSocketUpgrade,
    State(sandbox): State<Arc<Sandbox>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let compress = compress_for(&sandbox, &q);
    upgrade(ws, sandbox, true, compress, host_of(&headers))
}

/// The `Host` a request came in on (the media URLs point back at it).
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
        .unwrap_or("127.0.0.1")
        .to_owned()
}

/// The size above which this connection's frames go out `COMP`-compressed: only on binary
/// connections whose URL asked for it (`compress=gzip`) and when the sandbox is set to.
fn compress_for(sandbox: &Sandbox, q: &HashMap<String, String>) -> Option<usize> {
    let asked = q.get("compress").is_some_and(|c| c == "gzip");
    sandbox.cfg.compress_over.filter(|_| asked)
}

/// `/info`: text frames.
pub async fn info(
    ws: WebSocketUpgrade,
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
) -> Response {
    upgrade(ws, sandbox, false, None, host_of(&headers))
}

fn upgrade(
    ws: WebSocketUpgrade,
    sandbox: Arc<Sandbox>,
    binary: bool,
    compress_over: Option<usize>,
    host: String,
) -> Response {
    ws.read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| run(socket, sandbox, binary, compress_over, host))
}

struct Conn {
    sandbox: Arc<Sandbox>,
    tx: mpsc::UnboundedSender<Out>,
    /// `(user, conn id, A2Key, TinyId)` once logged in.
    login: Option<(String, u64, String, u64)>,
    /// The `Host` of the upgrade request.
    host: String,
}

async fn run(
    socket: WebSocket,
    sandbox: Arc<Sandbox>,
    binary: bool,
    compress_over: Option<usize>,
    host: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let Out::Frame(text) = out else { break };
            let msg = if binary {
                match compress_over {
                    Some(n) if text.len() > n => {
                        Message::Binary(wire::deflate_frame(text.as_bytes()).into())
                    }
                    _ => Message::Binary(text.into_bytes().into()),
                }
            } else {
                Message::Text(text.into())
            };
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut conn = Conn {
        sandbox,
        tx,
        login: None,
        host,
    };
    while let Some(Ok(msg)) = stream.next().await {
        let data = match msg {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        match wire::decode(&data) {
            Ok(frame) => {
                if !conn.on_frame(frame) {
                    break;
                }
            }
            Err(e) => debug!(error = %e, "tencent sandbox: undecodable frame"),
        }
    }
    if let Some((user, conn_id, _, _)) = conn.login.take() {
        conn.sandbox.logout(&user, conn_id);
    }
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    fn reply(&self, frame: &Frame, body: Value) {
        let _ = self.tx.send(Out::Frame(wire::encode(&frame.head, &body)));
    }

    /// Handles one request; false closes the connection.
    fn on_frame(&mut self, frame: Frame) -> bool {
        let cmd = frame.head.servcmd.clone();
        if cmd == servcmd::WSLOGIN {
            self.wslogin(&frame);
            return true;
        }
        if cmd == servcmd::ALIVE {
            self.reply(&frame, ok(json!({})));
            return true;
        }
        let Some((user, conn_id, a2, _)) = self.login.clone() else {
            // Telemetry may come before the login reply; anything else needs a login.
            let body = if cmd == servcmd::REPORT {
                ok(json!({}))
            } else {
                wire::error_body(code::A2_INVALID, "not logged in")
            };
            self.reply(&frame, body);
            return true;
        };
        // Media signing calls carry the UserSig instead of the A2Key (the SDK's
        // `genCosSpecifiedHead`): checked like a login, for the connection's own user.
        let cos_auth = (cmd.starts_with("im_cos_msg.") || cmd.starts_with("im_cos_sign_svr."))
            && frame.head.identifier.as_deref() == Some(user.as_str())
            && frame
                .head
                .usersig
                .as_deref()
                .is_some_and(|sig| self.sandbox.verify(&user, sig).is_ok());
        if cmd != servcmd::REPORT && !cos_auth && frame.head.a2.as_deref() != Some(a2.as_str()) {
            self.reply(&frame, wire::error_body(code::A2_INVALID, "A2Key invalid"));
            return true;
        }
        let b = &frame.body;
        let body = match cmd.as_str() {
            servcmd::PUSH_ACK => {
                // Acknowledgements get no reply.
                self.sandbox.count_push_ack();
                return true;
            }
            servcmd::WSLOGOUT => {
                self.sandbox.logout(&user, conn_id);
                self.login = None;
                self.reply(&frame, ok(json!({})));
                return false;
            }
            servcmd::SENDMSG => self.sendmsg(&user, conn_id, b),
            servcmd::GETMSG => {
                let cookie = b.get("Cookie").and_then(Value::as_str).unwrap_or_default();
                let (list, cookie, more) = self.sandbox.getmsg(&user, cookie);
                ok(json!({"MsgList": list, "Cookie": cookie, "SyncFlag": if more { 1 } else { 2 }}))
            }
            "openim.getroammsg" => {
                let peer = b
                    .get("Peer_Account")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let key = b.get("MsgKey").and_then(Value::as_str).unwrap_or_default();
                let max = b
                    .get("MaxCnt")
                    .and_then(Value::as_u64)
                    .unwrap_or(15)
                    .min(100) as usize;
                let (list, complete) = self.sandbox.roam(&user, peer, key, max);
                let first = list.first().cloned().unwrap_or(Value::Null);
                ok(json!({
                    "Complete": if complete { 1 } else { 0 }, "MsgList": list,
                    "LastMsgTime": first["MsgTimeStamp"].as_u64().unwrap_or(0),
                    "MsgKey": first["MsgKey"].as_str().unwrap_or_default(),
                }))
            }
            "openim.get_peer_read_time" => self.sandbox.peer_read_times(&user, b),
            "openim.msgreaded" => self.sandbox.read_c2c(&user, Some(conn_id), b),
            "openim.msgwithdraw" => self.sandbox.recall_c2c(&user, Some(conn_id), b),
            "openim.modify_c2c_msg" => self.sandbox.modify_c2c(&user, Some(conn_id), b),
            "openim.set_c2c_peer_mute_notifications" => {
                self.sandbox.set_c2c_mute(&user, Some(conn_id), b)
            }
            "openim.get_c2c_peer_mute_notifications" => self.sandbox.get_c2c_mute(&user, b),
            "im_msg_db_logic.ws_set_do_not_disturb" => self.sandbox.set_global_dnd(&user, b),
            "im_msg_db_logic.ws_get_do_not_disturb" => self.sandbox.get_global_dnd(&user),
            "openim.modify_group_msg" => self.sandbox.modify_group_msg(&user, Some(conn_id), b),
            "openim.c2c_msg_read_receipt" => self.sandbox.c2c_receipt(&user, b),
            c @ ("openim_msg_ext_http_svc.reaction_add"
            | "openim_msg_ext_http_svc.reaction_del") => {
                self.sandbox.react_c2c(c, &user, Some(conn_id), b)
            }
            c @ ("openim_msg_ext_http_svc.group_reaction_add"
            | "openim_msg_ext_http_svc.group_reaction_del") => {
                self.sandbox.react_group(c, &user, Some(conn_id), b)
            }
            "openim_msg_ext_http_svc.reaction_multi_stat" => {
                self.sandbox.reaction_stats_c2c(&user, b)
            }
            "openim_msg_ext_http_svc.group_reaction_multi_stat" => {
                self.sandbox.reaction_stats_group(&user, b)
            }
            "im_sdk_config_mgr.fetch_imsdk_purchase_bitsv2" => self.sandbox.purchase_bits(),
            servcmd::PORTRAIT_GET_ALL => self.sandbox.portrait_get(b),
            "profile.portrait_set" => self.sandbox.portrait_set(&user, Some(conn_id), b),
            servcmd::BLACK_LIST_GET => {
                ok(json!({"BlackListItem": [], "StartIndex": 0, "CurruentSequence": 0}))
            }
            // Paging must be complete (`CompleteFlag:1`) or the SDK asks again at once
            // (reference §A3 gotchas).
            servcmd::RECENT_CONTACT_PAGE_GET => ok(json!({
                "SessionItem": self.sandbox.conversations(&user), "CompleteFlag": 1, "TimeStamp": unix_now(), "StartIndex": 0,
                "TopTimeStamp": 0, "TopStartIndex": 0,
            })),
            super::live::GET_MSG => {
                // Answered when messages come or the hold ends.
                super::live::spawn_get_msg(
                    self.sandbox.clone(),
                    self.tx.clone(),
                    frame.clone(),
                    user,
                );
                return true;
            }
            c if c.starts_with("group_open_http_svc.") => {
                let command = &c["group_open_http_svc.".len()..];
                if let Some(body) = super::live::handle(&self.sandbox, command, &user, b) {
                    self.reply(&frame, body);
                    return true;
                }
                match super::group_cmds::handle(&self.sandbox, command, Some((&user, conn_id)), b) {
                    Some(body) => body,
                    None => ok(json!({})),
                }
            }
            c if c.starts_with("million_group_open_http_svc.") => {
                let command = &c["million_group_open_http_svc.".len()..];
                // Community groups go through this service for the group calls too
                // (`create_group`, `get_group_self_member_info`, … as the SDK sends them).
                super::topics::handle(&self.sandbox, command, Some(&user), b)
                    .or_else(|| {
                        super::group_cmds::handle(&self.sandbox, command, Some((&user, conn_id)), b)
                    })
                    .unwrap_or_else(|| ok(json!({})))
            }
            c if c.starts_with("im_cos_msg.") => {
                let command = &c["im_cos_msg.".len()..];
                super::media::handle(&self.sandbox, command, &self.host, b)
                    .unwrap_or_else(|| ok(json!({})))
            }
            "sns.friend_get" => ok(json!({
                "UserDataItem": [], "StandardSequence": 0, "CustomSequence": 0, "FriendNum": 0,
                "CompleteFlag": 1, "NextStartIndex": 0,
            })),
            "sns.group_get" => ok(json!({"ResultItem": [], "CurrentSequence": 0})),
            "sns.pendency_get" => ok(json!({
                "PendencyItem": [], "UnreadPendencyCount": 0, "StartTime": 0, "CurrentSequence": 0,
            })),
            servcmd::FETCH_CONFIG => ok(json!({"str_json_config": "", "uint64_version": 0,
                                               "uint32_expired_time": 3600})),
            other => {
                debug!(servcmd = other, "tencent sandbox: generic OK reply");
                ok(json!({}))
            }
        };
        self.reply(&frame, body);
        true
    }

    /// `wslogin` with a UserSig, or (the SDK's re-login after a reconnection, which sends no
    /// identifier nor UserSig) with the A2Key and TinyId an earlier login handed out.
    fn wslogin(&mut self, frame: &Frame) {
        let head = &frame.head;
        let mut identifier = head.identifier.clone().unwrap_or_default();
        let sig = head.usersig.clone().unwrap_or_default();
        debug!(
            user = %identifier,
            usersig_len = sig.len(),
            a2 = head.a2.is_some(),
            tinyid = head.tinyid.as_deref().unwrap_or_default(),
            extra = ?head.extra.keys().collect::<Vec<_>>(),
            "tencent sandbox: wslogin"
        );
        if head.sdkappid != Some(self.sandbox.cfg.sdk_app_id) {
            self.reply(
                frame,
                wire::error_body(code::SDKAPPID_MISMATCH, "SDKAppID does not match this app"),
            );
            return;
        }
        let resumed = match (
            identifier.is_empty() && sig.is_empty(),
            &head.a2,
            &head.tinyid,
        ) {
            (true, Some(a2), Some(tiny)) => self.sandbox.a2_user(a2, tiny),
            _ => None,
        };
        if let Some(user) = &resumed {
            identifier = user.clone();
        } else if let Err(e) = self.sandbox.verify(&identifier, &sig) {
            info!(user = %identifier, error = %e, "tencent sandbox: login refused");
            self.reply(frame, wire::error_body(e.code(), &e.to_string()));
            return;
        }
        if let Some((user, conn_id, _, _)) = self.login.take() {
            self.sandbox.logout(&user, conn_id);
        }
        let a2 = resumed.and(head.a2.as_deref());
        let platform = head.platform.unwrap_or(7);
        let (conn_id, tiny, a2) = self
            .sandbox
            .login(&identifier, self.tx.clone(), a2, platform);
        info!(user = %identifier, conn_id, "tencent sandbox: logged in");
        self.reply(
            frame,
            ok(json!({
                "A2Key": a2, "TinyId": tiny.to_string(),
                "HelloInterval": self.sandbox.cfg.hello_interval, "InstId": conn_id,
                "TimeStamp": unix_now(), "RichMsgAuthKey": self.sandbox.media.auth_key(),
            })),
        );
        self.login = Some((identifier, conn_id, a2, tiny));
    }

    fn sendmsg(&self, user: &str, conn_id: u64, b: &Value) -> Value {
        match c2c_fields(b) {
            Err(e) => wire::error_body(code::INVALID_REQUEST, &e),
            Ok((to, seq, _, body)) => {
                // `MsgLifeTime:0`: the SDK's `onlineUserOnly` (typing notices).
                let sent = if b.get("MsgLifeTime").and_then(Value::as_u64) == Some(0) {
                    self.sandbox.send_online_only(user, &to, b, Some(conn_id))
                } else {
                    self.sandbox
                        .send_c2c(user, &to, &body, &SendMeta::of(b), Some(conn_id))
                };
                match sent {
                    None => {
                        wire::error_body(code::TO_ACCOUNT_NOT_FOUND, "To_Account does not exist")
                    }
                    Some(d) => ok(json!({"MsgTime": d.time, "MsgKey": d.key, "MsgSeq": seq})),
                }
            }
        }
    }
}

/// `To_Account`, `MsgSeq`, `MsgRandom`, `MsgBody` of a send request.
pub fn c2c_fields(b: &Value) -> Result<(String, u64, u64, Value), String> {
    let to = b
        .get("To_Account")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("To_Account is required")?;
    let body = b
        .get("MsgBody")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let body = body.ok_or("MsgBody must be a non-empty array")?;
    let seq = b.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
    let random = b.get("MsgRandom").and_then(Value::as_u64).unwrap_or(0);
    Ok((to.to_owned(), seq, random, body.clone()))
}

/// A success body: `{ActionStatus:"OK", ErrorCode:0, ErrorInfo:""}` plus `fields`.
pub fn ok(fields: Value) -> Value {
    let mut body = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
    if let (Some(m), Value::Object(extra)) = (body.as_object_mut(), fields) {
        m.extend(extra);
    }
    body
}
