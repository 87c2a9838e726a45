//! Reading a conversation's past messages, client side: the request bodies of the SDK's
//! `getMessageList` (C2C `openim.getroammsg` pages before a `MsgKey`; group `group_msg_get`
//! pages below a `MsgSeq`, the newest without one) and their replies read into messages.
//! Shapes as the sandbox answers them (`sandbox/ws.rs`, `sandbox/groups.rs`), which follow
//! the 3.6.6 bundle's request maps and the REST `group_msg_get_simple` docs ("ReqMsgSeq:
//! omitted, the newest").

use serde_json::{json, Value};

use super::events::C2cMessage;
use super::group_wire::{parse_group_message, GroupMessage};
use crate::network::tencent::wire::servcmd;

/// `servcmd` of a C2C history page.
pub const GETROAMMSG: &str = "openim.getroammsg";
/// The most messages one page asks for (the SDK asks for 15 C2C, the service gives at most 20
/// group messages).
pub const PAGE: u64 = 20;

/// The C2C history page of the conversation with `peer` before message `before_key` (the
/// newest page when empty), at most `max` messages.
pub fn c2c_page_body(peer: &str, before_key: &str, max: u64) -> Value {
    json!({"Peer_Account": peer, "MaxCnt": max.clamp(1, PAGE), "LastMsgTime": 0,
           "MsgKey": before_key})
}

/// A C2C history reply: its messages (oldest first, unreadable ones skipped, recalled ones
/// kept and marked [`C2cMessage::revoked`]), whether the history is complete, and the key to
/// ask before for the next page.
pub fn c2c_page(reply: &Value) -> (Vec<C2cMessage>, bool, String) {
    let msgs = reply
        .get("MsgList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| super::incoming::parse_c2c(m, true))
        .collect();
    let complete = reply.get("Complete").and_then(Value::as_u64).unwrap_or(1) != 0;
    let key = reply
        .get("MsgKey")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (msgs, complete, key)
}

/// The servcmd and body of the group (or topic) history page of `group_id` ending at
/// `MsgSeq` `upper` (the newest page when `None`), at most `max` messages.
pub fn group_page_request(group_id: &str, upper: Option<u64>, max: u64) -> (String, Value) {
    let mut body = json!({"GroupId": group_id, "ReqMsgNumber": max.clamp(1, PAGE),
                          "WithRecalledMsg": 1});
    if let Some(u) = upper {
        body["ReqMsgSeq"] = json!(u);
    }
    super::topics::address(&mut body, group_id);
    (
        super::topics::servcmd_for(group_id, servcmd::GROUP_MSG_GET),
        body,
    )
}

/// A group history reply's messages (recalled placeholders and unreadable ones skipped), in
/// `MsgSeq` order, and the lowest `MsgSeq` the page covered (0 when empty).
pub fn group_page(group_id: &str, reply: &Value) -> (Vec<GroupMessage>, u64) {
    let list: Vec<&Value> = reply
        .get("RspMsgList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let lowest = list
        .iter()
        .filter_map(|m| m.get("MsgSeq").and_then(Value::as_u64))
        .min()
        .unwrap_or(0);
    let mut msgs: Vec<GroupMessage> = list
        .into_iter()
        .filter_map(|m| parse_group_message(m, group_id, true))
        .filter(|m| m.group_id == group_id)
        .collect();
    msgs.sort_by_key(|m| m.seq);
    (msgs, lowest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_read_and_bad_items_are_skipped() {
        let reply = json!({"Complete": 0, "MsgKey": "1_2_3", "MsgList": [
            {"From_Account": "bob", "To_Account": "alice", "MsgSeq": 1, "MsgRandom": 2,
             "MsgTimeStamp": 3, "MsgKey": "1_2_3",
             "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]},
            "junk"]});
        let (msgs, complete, key) = c2c_page(&reply);
        assert_eq!((msgs.len(), complete, key.as_str()), (1, false, "1_2_3"));
        assert!(!msgs[0].revoked);
        // A recalled message stays in the history, marked (the SDK's `isRevoked`).
        let reply = json!({"MsgList": [
            {"From_Account": "bob", "To_Account": "alice", "MsgSeq": 1, "MsgRandom": 2,
             "MsgKey": "1_2_3", "MsgFlagBits": 8, "MsgBody": [],
             "RevokerInfo": {"Revoker_Account": "bob", "Reason": ""}},
            {"From_Account": "bob", "To_Account": "alice", "MsgSeq": 2, "MsgRandom": 3,
             "MsgKey": "2_3_4", "IsPlaceMsg": 2, "MsgBody": []}]});
        let (msgs, _, _) = c2c_page(&reply);
        let marks: Vec<(bool, &str)> = msgs
            .iter()
            .map(|m| (m.revoked, m.revoker.as_str()))
            .collect();
        assert_eq!(marks, [(true, "bob"), (true, "")]);
        let reply = json!({"RspMsgList": [
            {"From_Account": "bob", "GroupId": "g", "MsgSeq": 5, "MsgRandom": 1, "MsgTime": 9,
             "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "b"}}]},
            {"From_Account": "bob", "GroupId": "g", "MsgSeq": 4, "IsPlaceMsg": 2, "MsgBody": []}]});
        let (msgs, lowest) = group_page("g", &reply);
        assert_eq!((msgs.len(), lowest), (1, 4));
        let (cmd, body) = group_page_request("g", None, 50);
        assert_eq!(cmd, servcmd::GROUP_MSG_GET);
        assert_eq!(body["ReqMsgNumber"], 20);
        assert!(body.get("ReqMsgSeq").is_none());
    }
}
