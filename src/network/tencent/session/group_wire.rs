//! The group wire shapes in the session: targets, @-mentions, group messages, tips and
//! joined-list items, read from (and the send body written to) the JSON the service uses
//! (`GroupMsgArray` / `group_msg_get` items, `GroupTips`, `get_joined_group_list`).

use serde_json::{json, Value};
use tracing::debug;

use super::super::elem::{from_msg_body, to_msg_body, Elem};

/// `GroupAt_Account` value the SDK uses for "@all" (`TYPES.MSG_AT_ALL` in
/// `@tencentcloud/chat`).
pub const AT_ALL: &str = "__kImSDK_MesssageAtALL__";

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A one-to-one conversation with this user.
    C2c(String),
    /// A group, with its @-mentions (`GroupAtInfo`).
    Group {
        group_id: String,
        mentions: Vec<GroupAt>,
    },
}

/// One @-mention of a group message (`GroupAtInfo` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAt {
    /// @all (`GroupAtAllFlag: 1`).
    All,
    /// @user (`GroupAt_Account`).
    User(String),
}

impl GroupAt {
    pub(super) fn to_wire(&self) -> Value {
        match self {
            GroupAt::All => json!({"GroupAtAllFlag": 1, "GroupAt_Account": AT_ALL}),
            GroupAt::User(u) => json!({"GroupAtAllFlag": 0, "GroupAt_Account": u}),
        }
    }

    pub(super) fn from_wire(v: &Value) -> Option<Self> {
        let account = v.get("GroupAt_Account").and_then(Value::as_str);
        if v.get("GroupAtAllFlag").and_then(Value::as_i64) == Some(1) || account == Some(AT_ALL) {
            return Some(GroupAt::All);
        }
        account
            .filter(|a| !a.is_empty())
            .map(|a| GroupAt::User(a.to_owned()))
    }
}

/// One group message, pushed live (`GroupMsgArray`) or fetched (`group_msg_get`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMessage {
    /// `GroupId`; for a message in a Community topic, the topic id (`@TGS#_…@TOPIC#_…`,
    /// `GroupInfo.TopicId`), which starts with the group's id.
    pub group_id: String,
    /// `From_Account` (ourselves for a message sent by another of our instances).
    pub from: String,
    /// `MsgSeq`: the group's sequence number, 1, 2, … per group.
    pub seq: u64,
    /// `MsgRandom` / `Random`.
    pub random: u32,
    /// `MsgTimeStamp`, unix seconds.
    pub time: u64,
    /// The elements that parsed.
    pub elems: Vec<Elem>,
    /// `GroupAtInfo`: who is mentioned.
    pub mentions: Vec<GroupAt>,
    /// Came from the catch-up fetch rather than a live push.
    pub offline: bool,
    /// The sender asked for per-message read receipts (`IsNeedReadReceipt: 1`;
    /// [`super::receipts`]).
    pub need_receipt: bool,
    /// `CloudCustomData`: app data riding along (a TUIKit reply's `messageReply` JSON), `""`
    /// if none.
    pub cloud_custom_data: String,
    /// `TinyId` of the sender, when the server gave it (part of the SDK's message `ID`,
    /// `{TinyId}-{MsgClientTime}-{MsgRandom}`, as for C2C).
    pub tiny_id: String,
    /// `MsgClientTime`: the sender's clock at sending, unix seconds (0 when not given).
    pub client_time: u64,
    /// `MsgVersion`: how many times the message was edited (`modify_group_msg`); a message
    /// read from the history after an edit has its new `MsgBody` and this count (the SDK's
    /// `messageVersion`).
    pub version: u64,
}

impl GroupMessage {
    /// The text of the message's text elements, concatenated.
    pub fn text(&self) -> String {
        self.elems
            .iter()
            .filter_map(|e| match e {
                Elem::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// What a group tip reports (`OpType`, the SDK's `GRP_TIP_*`, reference §A1 "Groups").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupTipKind {
    /// 1: members joined or were added.
    MemberJoined,
    /// 2: a member left.
    MemberQuit,
    /// 3: members were removed.
    MemberKicked,
    /// 4: members became admins.
    AdminSet,
    /// 5: members are no longer admins.
    AdminCancelled,
    /// 6: the group's profile changed (see [`GroupTip::profile`]).
    ProfileChanged,
    /// 7: a member's group profile changed.
    MemberInfoChanged,
    /// Any other value.
    Other(i64),
}

impl GroupTipKind {
    /// From the wire number.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::MemberJoined,
            2 => Self::MemberQuit,
            3 => Self::MemberKicked,
            4 => Self::AdminSet,
            5 => Self::AdminCancelled,
            6 => Self::ProfileChanged,
            7 => Self::MemberInfoChanged,
            n => Self::Other(n),
        }
    }
}

/// The group profile fields a tip or the joined list carries; `None` = not given/unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupProfile {
    /// `Name` / `GroupName`.
    pub name: Option<String>,
    /// `Introduction` / `GroupIntroduction`.
    pub introduction: Option<String>,
    /// `Notification` / `GroupNotification` (the group's announcement).
    pub notification: Option<String>,
    /// `FaceUrl` / `GroupFaceUrl`: the avatar URL.
    pub face_url: Option<String>,
}

/// A group tip (`GroupTips` item).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTip {
    /// `GroupId`.
    pub group_id: String,
    /// `OpType`.
    pub kind: GroupTipKind,
    /// `Operator_Account`: who did it.
    pub operator: String,
    /// `List_Account`: whom it concerns (members added/removed, …).
    pub users: Vec<String>,
    /// `MemberNum` after the change, when given.
    pub member_num: Option<u64>,
    /// `MsgGroupNewInfo`: the changed profile fields ([`GroupTipKind::ProfileChanged`]).
    pub profile: GroupProfile,
    /// `MsgMemberInfo [{User_Account, ShutupTime}]` of a [`GroupTipKind::MemberInfoChanged`]
    /// tip (the SDK's `memberList` with `muteTime`): each member muted for that many seconds
    /// from now, 0 when unmuted.
    pub mute_times: Vec<(String, u64)>,
    /// `MsgTimeStamp`, unix seconds.
    pub time: u64,
    /// `MsgSeq`: the tip's place in the group's sequence (tips are kept in the history with
    /// the messages); 0 when it has none (a notice pushed online only, event 6).
    pub seq: u64,
}

/// One joined group (`get_joined_group_list` `GroupIdList` item).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// `GroupId`.
    pub group_id: String,
    /// `Type`: `Work`, `Public`, `Meeting`, `Community`, `AVChatRoom`.
    pub kind: String,
    /// Name, introduction, notification, avatar.
    pub profile: GroupProfile,
    /// `Owner_Account`.
    pub owner: String,
    /// `MemberNum`.
    pub member_num: u64,
    /// `NextMsgSeq`: the seq the next message will get.
    pub next_msg_seq: u64,
    /// `SupportTopic: 1`: a Community with topics (its messages live in the topics).
    pub support_topic: bool,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn opt(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// The conversation a message belongs to: its topic id (`GroupInfo.TopicId`, a Community
/// topic) when it has one, else its group id.
pub(super) fn conversation_of(m: &Value) -> String {
    match m
        .get("GroupInfo")
        .and_then(|g| g.get("TopicId"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        Some(t) => t.to_owned(),
        None => group_id_of(m),
    }
}

pub(super) fn group_id_of(m: &Value) -> String {
    m.get("GroupInfo")
        .and_then(|g| g.get("GroupId"))
        .and_then(Value::as_str)
        .or_else(|| m.get("ToGroupId").and_then(Value::as_str))
        .or_else(|| m.get("GroupId").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// Reads a group message; `None` without a group, sender or seq.
pub(super) fn parse_group_message(
    m: &Value,
    group_hint: &str,
    offline: bool,
) -> Option<GroupMessage> {
    let mut group_id = conversation_of(m);
    if group_id.is_empty() {
        group_id = group_hint.to_owned();
    }
    let from = s(m, "From_Account");
    let seq = m.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
    if group_id.is_empty() || from.is_empty() || seq == 0 {
        return None;
    }
    // `IsPlaceMsg` non-zero: a placeholder where a recalled (2) or deleted message was, as
    // `group_msg_get` returns it; nothing to deliver. A tip in the history is read by
    // [`parse_tip`].
    if m.get("IsPlaceMsg").and_then(Value::as_u64).unwrap_or(0) != 0 || is_history_tip(m) {
        return None;
    }
    let (elems, bad) = from_msg_body(m.get("MsgBody").unwrap_or(&Value::Null));
    if bad > 0 {
        debug!(bad, "tencent: group message elements skipped");
    }
    let random = m
        .get("MsgRandom")
        .or_else(|| m.get("Random"))
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0);
    Some(GroupMessage {
        group_id,
        from,
        seq,
        random,
        time: m
            .get("MsgTimeStamp")
            .or_else(|| m.get("MsgTime"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        elems,
        mentions: m
            .get("GroupAtInfo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(GroupAt::from_wire)
            .collect(),
        offline,
        // Pushes carry `IsNeedReadReceipt`; the group send's own key is `NeedReadReceipt`.
        need_receipt: ["IsNeedReadReceipt", "NeedReadReceipt"]
            .iter()
            .any(|k| m.get(*k).and_then(Value::as_u64) == Some(1)),
        version: m.get("MsgVersion").and_then(Value::as_u64).unwrap_or(0),
        cloud_custom_data: s(m, "CloudCustomData"),
        tiny_id: match m.get("TinyId") {
            Some(Value::Number(n)) => n.to_string(),
            _ => s(m, "TinyId"),
        },
        client_time: m.get("MsgClientTime").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// Whether a `group_msg_get` entry is a group tip: `Event` 4, its `MsgBody` the tip object
/// (the 3.6.6 SDK's history reads `4 === event` as a `TIMGroupTipElem` whose content is the
/// entry's `elements` with its `groupProfile`).
pub(super) fn is_history_tip(m: &Value) -> bool {
    m.get("Event").and_then(Value::as_i64) == Some(4)
}

/// Reads a group tip (a `GroupTips` push item, or a history entry with `Event` 4); `None`
/// without a group or `OpType`.
pub(super) fn parse_tip(m: &Value) -> Option<GroupTip> {
    let group_id = group_id_of(m);
    let body = m.get("MsgBody").unwrap_or(m);
    let op = body.get("OpType").and_then(Value::as_i64)?;
    if group_id.is_empty() {
        return None;
    }
    let info = body.get("MsgGroupNewInfo").unwrap_or(&Value::Null);
    Some(GroupTip {
        group_id,
        kind: GroupTipKind::from_code(op),
        operator: s(body, "Operator_Account"),
        users: body
            .get("List_Account")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        member_num: body.get("MemberNum").and_then(Value::as_u64),
        mute_times: body
            .get("MsgMemberInfo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let user = m.get("User_Account").and_then(Value::as_str)?;
                let secs = m.get("ShutupTime").and_then(Value::as_u64)?;
                Some((user.to_owned(), secs))
            })
            .collect(),
        profile: GroupProfile {
            name: opt(info, "GroupName"),
            introduction: opt(info, "GroupIntroduction"),
            notification: opt(info, "GroupNotification"),
            face_url: opt(info, "GroupFaceUrl"),
        },
        time: m
            .get("MsgTimeStamp")
            .or_else(|| m.get("MsgTime"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        seq: m.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// A group system notice about messages (an event-5 `GroupTips` item, told apart by what its
/// `MsgBody` holds, as `@tencentcloud/chat` 3.6.6 does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupNotice {
    /// `GroupWithdrawInfoArray`: messages recalled, by `MsgSeq`, by `RevokerInfo.Revoker_Account`.
    Recalled {
        /// `GroupId`, or the topic id for a Community topic (`TopicId`).
        group_id: String,
        seqs: Vec<u64>,
        revoker: String,
    },
    /// `GroupReadInfoArray`: the user's read marker moved (read on another device).
    Read {
        /// `GroupId`, or the topic id.
        group_id: String,
        /// `LastReadMsgSeq`: read up to and including this seq.
        seq: u64,
    },
}

/// The conversation of a withdraw or read item: its `TopicId` when set, else its `GroupId`.
pub(super) fn notice_conversation(item: &Value, fallback: &str) -> String {
    opt(item, "TopicId")
        .filter(|t| !t.is_empty())
        .or_else(|| opt(item, "GroupId").filter(|g| !g.is_empty()))
        .unwrap_or_else(|| fallback.to_owned())
}

/// The recalled messages of a `group_msg_get` reply for `group_id` (placeholders with
/// `IsPlaceMsg: 2` and `MsgSeq` at most `upper`), one [`GroupNotice::Recalled`] per revoker
/// (`RevokerInfo.Revoker_Account` when the item carries it, else the author: the sandbox's
/// placeholder, like the SDK's revoked message, keeps only the author).
pub(super) fn recalled_placeholders(reply: &Value, group_id: &str, upper: u64) -> Vec<GroupNotice> {
    let mut by_revoker: Vec<(String, Vec<u64>)> = Vec::new();
    let items = reply.get("RspMsgList").and_then(Value::as_array);
    for m in items.into_iter().flatten() {
        let seq = m.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
        if m.get("IsPlaceMsg").and_then(Value::as_u64) != Some(2) || seq == 0 || seq > upper {
            continue;
        }
        let conv = conversation_of(m);
        if !conv.is_empty() && conv != group_id {
            continue;
        }
        let revoker = m
            .get("RevokerInfo")
            .map(|r| s(r, "Revoker_Account"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| s(m, "From_Account"));
        match by_revoker.iter_mut().find(|(r, _)| *r == revoker) {
            Some((_, seqs)) => seqs.push(seq),
            None => by_revoker.push((revoker, vec![seq])),
        }
    }
    by_revoker
        .into_iter()
        .map(|(revoker, mut seqs)| {
            seqs.sort_unstable();
            GroupNotice::Recalled {
                group_id: group_id.to_owned(),
                seqs,
                revoker,
            }
        })
        .collect()
}

/// Reads the message notices of an event-5 `GroupTips` item (none for other notices).
pub(super) fn parse_notices(m: &Value) -> Vec<GroupNotice> {
    let body = m.get("MsgBody").unwrap_or(&Value::Null);
    let fallback = conversation_of(m);
    let mut out = Vec::new();
    if let Some(list) = body.get("GroupWithdrawInfoArray").and_then(Value::as_array) {
        let revoker = m
            .get("RevokerInfo")
            .map(|r| s(r, "Revoker_Account"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| s(m, "From_Account"));
        let mut by_group: Vec<(String, Vec<u64>)> = Vec::new();
        for item in list {
            let Some(seq) = item.get("MsgSeq").and_then(Value::as_u64) else {
                continue;
            };
            let gid = notice_conversation(item, &fallback);
            match by_group.iter_mut().find(|(g, _)| *g == gid) {
                Some((_, seqs)) => seqs.push(seq),
                None => by_group.push((gid, vec![seq])),
            }
        }
        out.extend(
            by_group
                .into_iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(group_id, seqs)| GroupNotice::Recalled {
                    group_id,
                    seqs,
                    revoker: revoker.clone(),
                }),
        );
    }
    if let Some(list) = body.get("GroupReadInfoArray").and_then(Value::as_array) {
        for item in list {
            let gid = notice_conversation(item, &fallback);
            if let (false, Some(seq)) = (
                gid.is_empty(),
                item.get("LastReadMsgSeq").and_then(Value::as_u64),
            ) {
                out.push(GroupNotice::Read { group_id: gid, seq });
            }
        }
    }
    out
}

pub(super) fn parse_summary(g: &Value) -> Option<GroupSummary> {
    let group_id = s(g, "GroupId");
    if group_id.is_empty() {
        return None;
    }
    Some(GroupSummary {
        group_id,
        kind: s(g, "Type"),
        profile: GroupProfile {
            name: opt(g, "Name"),
            introduction: opt(g, "Introduction"),
            notification: opt(g, "Notification"),
            face_url: opt(g, "FaceUrl"),
        },
        owner: s(g, "Owner_Account"),
        member_num: g.get("MemberNum").and_then(Value::as_u64).unwrap_or(0),
        next_msg_seq: g.get("NextMsgSeq").and_then(Value::as_u64).unwrap_or(0),
        support_topic: g.get("SupportTopic").and_then(Value::as_u64) == Some(1),
    })
}

/// The `send_group_msg` body of a group send.
/// A topic id (`…@TOPIC#_…`) names its group in `GroupId` and itself in `TopicId`, as the
/// SDK sends to a topic.
pub(super) fn send_body(
    from: &str,
    group_id: &str,
    mentions: &[GroupAt],
    client_seq: u32,
    random: u32,
    elems: &[Elem],
) -> Value {
    let mut body = json!({
        "From_Account": from, "GroupId": group_id, "Random": random, "ClientSeq": client_seq,
        "MsgPriority": "Normal", "MsgBody": to_msg_body(elems), "OnlineOnlyFlag": 0,
        "GroupAtInfo": mentions.iter().map(GroupAt::to_wire).collect::<Vec<_>>(),
        "MsgClientTime": 0,
    });
    super::topics::address(&mut body, group_id);
    body
}

/// A group message edited on the server (`GroupMsgModNotifys` item).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupModified {
    /// `GroupId`, or the topic id for a Community topic (`TopicId`).
    pub group_id: String,
    /// `From_Account`: the author (only the author edits).
    pub from: String,
    /// `MsgSeq` of the edited message.
    pub seq: u64,
    /// Its elements now.
    pub elems: Vec<Elem>,
    /// `CloudCustomData` now.
    pub cloud_custom_data: String,
    /// `MsgVersion` now (1 after the first edit).
    pub version: u64,
}

/// Reads a `GroupMsgModNotifys` item; `None` without a group, author or seq.
pub(super) fn parse_modified(n: &Value) -> Option<GroupModified> {
    let group_id = notice_conversation(n, &conversation_of(n));
    let from = s(n, "From_Account");
    let seq = n.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
    if group_id.is_empty() || from.is_empty() || seq == 0 {
        return None;
    }
    let (elems, _) = from_msg_body(n.get("MsgBody").unwrap_or(&Value::Null));
    Some(GroupModified {
        group_id,
        from,
        seq,
        elems,
        cloud_custom_data: s(n, "CloudCustomData"),
        version: n.get("MsgVersion").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// `servcmd` of a group edit (`MODIFY_GRP_MSG`: the SDK sends it to `openim`, not to the
/// group service).
pub const MODIFY_GROUP_MSG: &str = "openim.modify_group_msg";

/// The `modify_group_msg` body: message `seq` of `conversation` (a group or topic id) from
/// `version`, with `elems`.
pub fn modify_body(conversation: &str, seq: u64, version: u64, elems: &[Elem]) -> Value {
    let mut body = json!({
        "GroupId": conversation, "MsgSeq": seq, "MsgVersion": version,
        "MsgBody": to_msg_body(elems),
    });
    super::topics::address(&mut body, conversation);
    body
}

/// `servcmd` of a group recall (`REVOKE_GRP_MSG` in `@tencentcloud/chat` 3.6.6).
pub const GROUP_MSG_RECALL: &str = "group_open_http_svc.group_msg_recall";
/// `servcmd` of the member's group read marker (`SET_GRP_MSG_READ`).
pub const MSG_READ_REPORT: &str = "group_open_http_svc.msg_read_report";

/// The `group_msg_recall` body recalling `seqs` of `conversation` (a group id, or a topic id
/// which names its group in `GroupId` and itself in `TopicId`).
pub fn recall_body(conversation: &str, seqs: &[u64]) -> Value {
    let mut body = json!({
        "GroupId": conversation,
        "MsgSeqList": seqs.iter().map(|s| json!({"MsgSeq": s})).collect::<Vec<_>>(),
    });
    super::topics::address(&mut body, conversation);
    body
}

/// The `RetCode`s of a `group_msg_recall` reply that are not 0, as `(MsgSeq, RetCode)`.
pub fn recall_failures(reply: &Value) -> Vec<(u64, i64)> {
    reply
        .get("RecallRetList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let code = r.get("RetCode").and_then(Value::as_i64).unwrap_or(0);
            (code != 0).then(|| (r.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0), code))
        })
        .collect()
}

/// The `msg_read_report` body: `conversation` read up to and including `seq`.
pub fn read_report_body(conversation: &str, seq: u64) -> Value {
    let mut body = json!({"GroupId": conversation, "MsgReadedSeq": seq});
    super::topics::address(&mut body, conversation);
    body
}
