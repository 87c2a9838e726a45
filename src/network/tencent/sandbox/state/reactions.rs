//! Message reactions in the sandbox (the `@tencentcloud/chat` 3.6.6 `addMessageReaction` /
//! `removeMessageReaction` calls and the pushes its reaction module reads), C2C and group.
//!
//! Shapes, from the 3.6.6 bundle (request maps `ADD_C2C_MSG_REACTION` …, servcmd group
//! `openim_msg_ext_http_svc`; the response key map; `onReactionNotifyList` /
//! `onReactionNotify` of the SDK's reaction module):
//! - C2C: `reaction_add` / `reaction_del` `{From_Account, To_Account, MsgKey, Reaction,
//!   Add_Account | Del_Account: [user]}` (the message's sender and receiver, its `MsgKey`);
//! - group: `group_reaction_add` / `group_reaction_del` `{GroupId, TopicId?, MsgSeq,
//!   Reaction, Add_Account | Del_Account: [user]}`;
//! - the users of the conversation hear a `msg_push` event item `{MsgReactionNotifyList:
//!   [{C2CMsgInfo | GroupMsgInfo, MsgReactionSummary: [{Reaction, Reaction_Account, Count}]}]}`
//!   (the SDK's `messageReactionNotifyList`: the reaction changed, with everyone who has it
//!   now, an empty list once nobody has); the message is named by `TinyId`, `MsgClientTime`
//!   and `MsgRandom` (what the SDK builds its message `ID` from) and, for our client, by
//!   `MsgKey` (C2C) or `GroupId` / `TopicId` / `MsgSeq` (group);
//! - reading them: `reaction_multi_stat` `{From_Account, To_Account, MsgKeyList, Count}` /
//!   `group_reaction_multi_stat` `{GroupId, TopicId?, MsgSeqList, Count}` answer
//!   `{Results: [{MsgKey | MsgSeq, MsgReactionSummary}]}` (the SDK's `getMessageReactions`:
//!   its `_createReactionSummaryPack` and the response key map's `Results` → `resultList`,
//!   `ReactedByMe` → `reactedByMyself`);
//! - the reacting user's other instances also hear `{MsgReactionNotify: {C2CMsgInfo |
//!   GroupMsgInfo, Reaction, MsgOptType: 1 add | 2 remove}}` (the SDK's `reactedByMyself`).
//!
//! What the real service adds to these items, and its `event` number for them, is not known:
//! the SDK dispatches on the item's key, and the sandbox uses event 21 (the number the SDK's
//! live-room poller gives reaction notices). The SDK only calls these when the app bought the
//! feature: the sandbox's `im_sdk_config_mgr.fetch_imsdk_purchase_bitsv2` says it did
//! ([`PURCHASE_BITS`]). Each reaction keeps at most [`MAX_USERS`] users, as the service
//! documents (a popular reaction lists the first ones and counts all). The service's recall
//! of a reacted message keeps its reactions; so does the sandbox.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::c2c_ops::MSG_NOT_FOUND;
use super::{Sandbox, State};
use crate::network::tencent::sandbox::groups::{push_frame, GROUP_NOT_FOUND, NOT_A_MEMBER};
use crate::network::tencent::wire::{self, code};

/// `str_purchase_bits` of `fetch_imsdk_purchase_bitsv2`: the app's bought features as a
/// binary string, bit 0 last. Only bit 48 is set, the SDK's `MSG_REACTION`
/// (`new Int64(2^16, 0)`); the other paid features are off, so the SDK behaves elsewhere as
/// for a basic app.
pub const PURCHASE_BITS: &str = "1000000000000000000000000000000000000000000000000";

/// The most users a reaction keeps (the service documents the list as bounded; the count
/// goes on).
pub const MAX_USERS: usize = 100;

/// The `event` number the sandbox gives reaction push items.
const REACTION_EVENT: u32 = 21;

/// The users of one message's reactions, by reaction id (with the full count).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(in crate::network::tencent::sandbox) struct Reacted {
    users: Vec<String>,
    count: u64,
}

/// Which call: add or remove.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

impl Op {
    fn of(servcmd: &str) -> Self {
        if servcmd.ends_with("_del") {
            Op::Remove
        } else {
            Op::Add
        }
    }

    fn account_key(self) -> &'static str {
        match self {
            Op::Add => "Add_Account",
            Op::Remove => "Del_Account",
        }
    }

    fn code(self) -> u8 {
        match self {
            Op::Add => 1,
            Op::Remove => 2,
        }
    }
}

fn s<'a>(b: &'a Value, k: &str) -> &'a str {
    b.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Applies `op` by `user` to `map[reaction]`; the reaction's summary item after it.
fn apply(map: &mut BTreeMap<String, Reacted>, reaction: &str, user: &str, op: Op) -> Value {
    let r = map.entry(reaction.to_owned()).or_default();
    let had = r.users.iter().any(|u| u == user);
    match op {
        Op::Add if !had => {
            if r.users.len() < MAX_USERS {
                r.users.push(user.to_owned());
            }
            r.count += 1;
        }
        Op::Remove if had => {
            r.users.retain(|u| u != user);
            r.count = r.count.saturating_sub(1);
        }
        _ => {}
    }
    let item = json!({"Reaction": reaction, "Reaction_Account": r.users, "Count": r.count});
    if r.count == 0 {
        map.remove(reaction);
    }
    item
}

impl Sandbox {
    /// `im_sdk_config_mgr.fetch_imsdk_purchase_bitsv2`: the features the app bought.
    pub fn purchase_bits(&self) -> Value {
        json!({"ErrorCode": 0, "int32_error_code": 0, "str_error_message": "",
               "str_purchase_bits": PURCHASE_BITS, "uint32_expired_time": 3600})
    }

    /// `openim_msg_ext_http_svc.{reaction_add,reaction_del}` by `user` (instance
    /// `conn_id`): the reply body. `user` must be the message's sender or receiver and name
    /// themselves in `Add_Account` / `Del_Account`.
    pub fn react_c2c(&self, servcmd: &str, user: &str, conn_id: Option<u64>, b: &Value) -> Value {
        let op = Op::of(servcmd);
        let (from, to, key, reaction) = (
            s(b, "From_Account"),
            s(b, "To_Account"),
            s(b, "MsgKey"),
            s(b, "Reaction"),
        );
        if let Err(refusal) = check(user, op, b, reaction) {
            return refusal;
        }
        if user != from && user != to {
            return wire::error_body(code::INVALID_REQUEST, "not a party of the conversation");
        }
        let mut st = self.lock();
        let pair = super::pair(from, to);
        let Some(msg) = st.history.get(&pair).and_then(|h| {
            h.iter()
                .find(|m| s(m, "MsgKey") == key && !super::c2c_ops::is_recalled(m))
        }) else {
            return wire::error_body(MSG_NOT_FOUND, "message not found");
        };
        let info = json!({
            "From_Account": msg["From_Account"], "To_Account": msg["To_Account"],
            "MsgKey": key, "MsgSeq": msg["MsgSeq"], "MsgRandom": msg["MsgRandom"],
            "MsgClientTime": msg["MsgClientTime"], "TinyId": msg["TinyId"],
        });
        let map = st.reactions.entry(format!("c2c:{key}")).or_default();
        let summary = apply(map, reaction, user, op);
        let (list, own) = frames("C2CMsgInfo", &info, summary, reaction, op);
        let others: Vec<String> = [from, to]
            .into_iter()
            .filter(|u| *u != user)
            .map(str::to_owned)
            .collect();
        fan(&mut st, &others, &list, None);
        fan(&mut st, &[user.to_owned()], &list, conn_id);
        fan(&mut st, &[user.to_owned()], &own, conn_id);
        super::super::ws::ok(json!({}))
    }

    /// `openim_msg_ext_http_svc.{group_reaction_add,group_reaction_del}` by member `user`
    /// (instance `conn_id`): the reply body.
    pub fn react_group(&self, servcmd: &str, user: &str, conn_id: Option<u64>, b: &Value) -> Value {
        let op = Op::of(servcmd);
        let (gid, reaction) = (s(b, "GroupId"), s(b, "Reaction"));
        let topic = Some(s(b, "TopicId")).filter(|t| !t.is_empty());
        let seq = b.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
        if let Err(refusal) = check(user, op, b, reaction) {
            return refusal;
        }
        let (info, members) = {
            let mut groups = self.groups_lock();
            let Some(g) = groups.get_mut(gid) else {
                return wire::error_body(GROUP_NOT_FOUND, "group does not exist");
            };
            if !g.is_member(user) {
                return wire::error_body(NOT_A_MEMBER, "not a member of the group");
            }
            let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
            let msg = g
                .log_mut(topic)
                .and_then(|log| log.message(seq).cloned())
                .filter(|m| m["IsPlaceMsg"] != 2);
            let Some(msg) = msg else {
                return wire::error_body(MSG_NOT_FOUND, "message not found");
            };
            // The message's own `TinyId`, so the push names it as the SDK's message `ID` does
            // (a group message stored by an older sandbox carries none: "" for both).
            let mut info = json!({
                "GroupId": gid, "MsgSeq": seq, "MsgRandom": msg["MsgRandom"],
                "From_Account": msg["From_Account"],
                "MsgClientTime": msg.get("MsgClientTime").unwrap_or(&msg["MsgTime"]),
                "TinyId": msg.get("TinyId").cloned().unwrap_or_else(|| json!("")),
            });
            if let Some(t) = topic {
                info["TopicId"] = json!(t);
            }
            (info, members)
        };
        let mut st = self.lock();
        let map = st
            .reactions
            .entry(format!("group:{gid}:{}:{seq}", topic.unwrap_or_default()))
            .or_default();
        let summary = apply(map, reaction, user, op);
        let (list, own) = frames("GroupMsgInfo", &info, summary, reaction, op);
        let others: Vec<String> = members.into_iter().filter(|m| m != user).collect();
        fan(&mut st, &others, &list, None);
        fan(&mut st, &[user.to_owned()], &list, conn_id);
        fan(&mut st, &[user.to_owned()], &own, conn_id);
        super::super::ws::ok(json!({}))
    }
}

/// The most messages one stats request may name (the sandbox's bound; the service's is not
/// documented).
pub const MAX_STAT_MESSAGES: usize = 100;

/// Users listed per reaction in a stats reply when the request gives no `Count` (the SDK's
/// `maxUserCountPerReaction` default).
const DEFAULT_STAT_USERS: u64 = 10;

/// The `MsgReactionSummary` of `map` for `user`: each reaction with its first `max_users`
/// users, its full count and whether `user` has it (`ReactedByMe`).
fn summary_of(map: Option<&BTreeMap<String, Reacted>>, user: &str, max_users: usize) -> Value {
    let items: Vec<Value> = map
        .into_iter()
        .flatten()
        .map(|(reaction, r)| {
            json!({"Reaction": reaction, "Count": r.count,
                   "Reaction_Account": r.users.iter().take(max_users).collect::<Vec<_>>(),
                   "ReactedByMe": u8::from(r.users.iter().any(|u| u == user))})
        })
        .collect();
    Value::Array(items)
}

/// The `Count` (users per reaction) of a stats request, bounded by [`MAX_USERS`].
fn stat_users(b: &Value) -> usize {
    let n = b
        .get("Count")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_STAT_USERS);
    usize::try_from(n).unwrap_or(MAX_USERS).min(MAX_USERS)
}

impl Sandbox {
    /// `openim_msg_ext_http_svc.reaction_multi_stat` (the SDK's `getMessageReactions` for C2C
    /// messages): `{From_Account, To_Account, MsgKeyList, Count}` by a party of the
    /// conversation; `{Results: [{MsgKey, MsgReactionSummary}]}`, one per key asked (an
    /// unknown key has an empty summary).
    pub fn reaction_stats_c2c(&self, user: &str, b: &Value) -> Value {
        let (from, to) = (s(b, "From_Account"), s(b, "To_Account"));
        if user != from && user != to {
            return wire::error_body(code::INVALID_REQUEST, "not a party of the conversation");
        }
        let keys: Vec<&str> = b
            .get("MsgKeyList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if keys.is_empty() || keys.len() > MAX_STAT_MESSAGES {
            return wire::error_body(code::INVALID_REQUEST, "MsgKeyList: 1 to 100 keys");
        }
        let max_users = stat_users(b);
        let st = self.lock();
        let pair = super::pair(from, to);
        let history = st.history.get(&pair);
        let results: Vec<Value> = keys
            .iter()
            .map(|key| {
                // Only messages of this conversation: a key of another is reported empty.
                let here = history.is_some_and(|h| h.iter().any(|m| s(m, "MsgKey") == *key));
                let map = here
                    .then(|| st.reactions.get(&format!("c2c:{key}")))
                    .flatten();
                json!({"MsgKey": key, "MsgReactionSummary": summary_of(map, user, max_users)})
            })
            .collect();
        super::super::ws::ok(json!({"Results": results}))
    }

    /// `openim_msg_ext_http_svc.group_reaction_multi_stat` (the SDK's `getMessageReactions`
    /// for group messages): `{GroupId, TopicId?, MsgSeqList, Count}` by a member;
    /// `{Results: [{MsgSeq, MsgReactionSummary}]}`, one per seq asked.
    pub fn reaction_stats_group(&self, user: &str, b: &Value) -> Value {
        let gid = s(b, "GroupId");
        let topic = s(b, "TopicId");
        let seqs: Vec<u64> = b
            .get("MsgSeqList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        if seqs.is_empty() || seqs.len() > MAX_STAT_MESSAGES {
            return wire::error_body(code::INVALID_REQUEST, "MsgSeqList: 1 to 100 seqs");
        }
        {
            let groups = self.groups_lock();
            let Some(g) = groups.get(gid) else {
                return wire::error_body(GROUP_NOT_FOUND, "group does not exist");
            };
            if !g.is_member(user) {
                return wire::error_body(NOT_A_MEMBER, "not a member of the group");
            }
        }
        let max_users = stat_users(b);
        let st = self.lock();
        let results: Vec<Value> = seqs
            .iter()
            .map(|seq| {
                let map = st.reactions.get(&format!("group:{gid}:{topic}:{seq}"));
                json!({"MsgSeq": seq, "MsgReactionSummary": summary_of(map, user, max_users)})
            })
            .collect();
        super::super::ws::ok(json!({"Results": results}))
    }
}

/// The request's reaction and accounts are usable: a reaction id, and the caller alone.
fn check(user: &str, op: Op, b: &Value, reaction: &str) -> Result<(), Value> {
    if reaction.is_empty() {
        return Err(wire::error_body(code::INVALID_REQUEST, "Reaction is empty"));
    }
    let accounts: Vec<&str> = b
        .get(op.account_key())
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if accounts != [user] {
        return Err(wire::error_body(
            code::INVALID_REQUEST,
            "a user reacts for themselves only",
        ));
    }
    Ok(())
}

/// The summary push for the conversation and the own-reaction push for the reactor's other
/// instances.
fn frames(
    info_key: &str,
    info: &Value,
    summary: Value,
    reaction: &str,
    op: Op,
) -> (String, String) {
    let list = push_frame(
        REACTION_EVENT,
        "MsgReactionNotifyList",
        vec![json!({info_key: info, "MsgReactionSummary": [summary]})],
    );
    let own = push_one(json!({
        "event": REACTION_EVENT,
        "MsgReactionNotify": {info_key: info, "Reaction": reaction, "MsgOptType": op.code()},
    }));
    (list, own)
}

fn push_one(item: Value) -> String {
    super::c2c_ops::push_event(item)
}

fn fan(st: &mut State, users: &[String], frame: &str, except_conn: Option<u64>) {
    for u in users {
        super::c2c_ops::fan_out(st, u, frame, except_conn);
    }
}
