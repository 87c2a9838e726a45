//! Message reactions, client side: the request bodies of `addMessageReaction` /
//! `removeMessageReaction` (C2C `reaction_add` / `reaction_del`, group `group_reaction_add` /
//! `group_reaction_del`, under `openim_msg_ext_http_svc`) and the pushes that report
//! reactions (`MsgReactionNotifyList`: who has a reaction now; `MsgReactionNotify`: the
//! user's own reaction made on another instance) as [`SessionEvent::Reactions`].
//!
//! Shapes: read in the `@tencentcloud/chat` 3.6.6 bundle (request maps, the response key map,
//! the reaction module's `onReactionNotifyList` / `onReactionNotify`); the sandbox follows them
//! ([`crate::network::tencent::sandbox::state::reactions`]). Reactions are a paid feature
//! of the service (the SDK refuses them unless the app's purchase bits include
//! `MSG_REACTION`).

use serde_json::{json, Value};
use tracing::debug;

use super::{Session, SessionEvent};

/// `servcmd` of a C2C reaction added.
pub const REACTION_ADD: &str = "openim_msg_ext_http_svc.reaction_add";
/// `servcmd` of a C2C reaction removed.
pub const REACTION_DEL: &str = "openim_msg_ext_http_svc.reaction_del";
/// `servcmd` of a group reaction added.
pub const GROUP_REACTION_ADD: &str = "openim_msg_ext_http_svc.group_reaction_add";
/// `servcmd` of a group reaction removed.
pub const GROUP_REACTION_DEL: &str = "openim_msg_ext_http_svc.group_reaction_del";

/// The message a reaction is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionTarget {
    /// A C2C message: its author, receiver and `MsgKey` (any of which the push may leave out).
    C2c {
        from: String,
        to: String,
        msg_key: String,
    },
    /// A group (or Community topic) message by `MsgSeq`.
    Group {
        group_id: String,
        topic_id: Option<String>,
        seq: u64,
    },
}

/// One reaction of a [`ReactionNotice::Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionCount {
    /// `Reaction`: the app's reaction id (the TUIKit uses emoji names; the bridge sends the
    /// emoji itself).
    pub reaction: String,
    /// `Reaction_Account`: who has it (the first ones when many do).
    pub users: Vec<String>,
    /// `Count`: how many have it (0: nobody any more).
    pub count: u64,
}

/// A reaction push, or a message's reactions as a stats reply lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionNotice {
    /// Who has the listed reactions of a message now.
    Summary {
        target: ReactionTarget,
        /// The SDK's message `ID` parts, `{TinyId}-{MsgClientTime}-{MsgRandom}`, when given
        /// (how a caller finds a C2C message the push names only that way).
        sdk_id: Option<String>,
        reactions: Vec<ReactionCount>,
        /// `reactions` is every reaction the message has (a stats reply: one not listed has
        /// nobody); a push lists only the reactions that changed.
        all: bool,
    },
    /// The user added (`added`) or removed their reaction on another instance.
    Own {
        target: ReactionTarget,
        sdk_id: Option<String>,
        reaction: String,
        added: bool,
    },
}

fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The target named by a `C2CMsgInfo` or `GroupMsgInfo` of item `n`, with the SDK id.
fn target_of(n: &Value) -> Option<(ReactionTarget, Option<String>)> {
    let (info, target) = if let Some(i) = n.get("C2CMsgInfo") {
        let t = ReactionTarget::C2c {
            from: text(i, "From_Account"),
            to: text(i, "To_Account"),
            msg_key: text(i, "MsgKey"),
        };
        (i, t)
    } else {
        let i = n.get("GroupMsgInfo")?;
        let group_id = text(i, "GroupId");
        let seq = i.get("MsgSeq").and_then(Value::as_u64)?;
        if group_id.is_empty() {
            return None;
        }
        let topic_id = Some(text(i, "TopicId")).filter(|t| !t.is_empty());
        let t = ReactionTarget::Group {
            group_id,
            topic_id,
            seq,
        };
        (i, t)
    };
    let (tiny, time, random) = (
        text(info, "TinyId"),
        text(info, "MsgClientTime"),
        text(info, "MsgRandom"),
    );
    let sdk_id =
        (!tiny.is_empty() && !random.is_empty()).then(|| format!("{tiny}-{time}-{random}"));
    Some((target, sdk_id))
}

fn parse_summary(n: &Value) -> Option<ReactionNotice> {
    let (target, sdk_id) = target_of(n)?;
    let reactions = counts(n);
    Some(ReactionNotice::Summary {
        target,
        sdk_id,
        reactions,
        all: false,
    })
}

/// The reactions of an item's `MsgReactionSummary` (those without an id skipped).
fn counts(n: &Value) -> Vec<ReactionCount> {
    n.get("MsgReactionSummary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let reaction = text(r, "Reaction");
            let users: Vec<String> = r
                .get("Reaction_Account")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let count = r
                .get("Count")
                .and_then(Value::as_u64)
                .unwrap_or(users.len() as u64);
            (!reaction.is_empty()).then_some(ReactionCount {
                reaction,
                users,
                count,
            })
        })
        .collect()
}

fn parse_own(n: &Value) -> Option<ReactionNotice> {
    let (target, sdk_id) = target_of(n)?;
    let reaction = text(n, "Reaction");
    let added = match n.get("MsgOptType").and_then(Value::as_u64) {
        Some(1) => true,
        Some(2) => false,
        _ => return None,
    };
    (!reaction.is_empty()).then_some(ReactionNotice::Own {
        target,
        sdk_id,
        reaction,
        added,
    })
}

/// The request of `user` adding (`add`) or removing reaction `reaction` on `target`:
/// `(servcmd, body)`.
pub fn reaction_request(
    target: &ReactionTarget,
    reaction: &str,
    user: &str,
    add: bool,
) -> (&'static str, Value) {
    let accounts = if add { "Add_Account" } else { "Del_Account" };
    match target {
        ReactionTarget::C2c { from, to, msg_key } => (
            if add { REACTION_ADD } else { REACTION_DEL },
            json!({"From_Account": from, "To_Account": to, "MsgKey": msg_key,
                   "Reaction": reaction, accounts: [user]}),
        ),
        ReactionTarget::Group {
            group_id,
            topic_id,
            seq,
        } => {
            let mut body = json!({"GroupId": group_id, "MsgSeq": seq, "Reaction": reaction,
                                  accounts: [user]});
            if let Some(t) = topic_id {
                body["TopicId"] = json!(t);
            }
            (
                if add {
                    GROUP_REACTION_ADD
                } else {
                    GROUP_REACTION_DEL
                },
                body,
            )
        }
    }
}

/// Messages of one conversation whose reactions to read (the SDK's `getMessageReactions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsQuery {
    /// C2C messages by `MsgKey`; `from` / `to`: the conversation's two users (the SDK gives
    /// the first message's sender and receiver).
    C2c {
        from: String,
        to: String,
        keys: Vec<String>,
    },
    /// Group (or Community topic: `topic_id` the whole topic id) messages by `MsgSeq`.
    Group {
        group_id: String,
        topic_id: Option<String>,
        seqs: Vec<u64>,
    },
}

/// `servcmd` of the reactions of C2C messages.
pub const REACTION_MULTI_STAT: &str = "openim_msg_ext_http_svc.reaction_multi_stat";
/// `servcmd` of the reactions of group messages.
pub const GROUP_REACTION_MULTI_STAT: &str = "openim_msg_ext_http_svc.group_reaction_multi_stat";

/// The request reading the reactions of `query`'s messages, listing at most
/// `users_per_reaction` users of each (the SDK's `maxUserCountPerReaction`, 10 by default):
/// `(servcmd, body)`, as the 3.6.6 bundle's `_createReactionSummaryPack` and request maps
/// build it (`MsgKeyList` / `MsgSeqList`, `Count`).
pub fn stats_request(query: &StatsQuery, users_per_reaction: u64) -> (&'static str, Value) {
    match query {
        StatsQuery::C2c { from, to, keys } => (
            REACTION_MULTI_STAT,
            json!({"From_Account": from, "To_Account": to, "MsgKeyList": keys,
                   "Count": users_per_reaction}),
        ),
        StatsQuery::Group {
            group_id,
            topic_id,
            seqs,
        } => {
            let mut body =
                json!({"GroupId": group_id, "MsgSeqList": seqs, "Count": users_per_reaction});
            if let Some(t) = topic_id {
                body["TopicId"] = json!(t);
            }
            (GROUP_REACTION_MULTI_STAT, body)
        }
    }
}

/// A stats reply (`{Results: [{MsgKey | MsgSeq, MsgReactionSummary}]}`) as one
/// [`ReactionNotice::Summary`] per message of `query` it names, with `all` set.
pub fn parse_stats(query: &StatsQuery, reply: &Value) -> Vec<ReactionNotice> {
    let results = reply.get("Results").and_then(Value::as_array);
    results
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let target = match query {
                StatsQuery::C2c { from, to, keys } => {
                    let key = text(r, "MsgKey");
                    keys.contains(&key).then(|| ReactionTarget::C2c {
                        from: from.clone(),
                        to: to.clone(),
                        msg_key: key,
                    })?
                }
                StatsQuery::Group {
                    group_id,
                    topic_id,
                    seqs,
                } => {
                    let seq = r.get("MsgSeq").and_then(Value::as_u64)?;
                    seqs.contains(&seq).then(|| ReactionTarget::Group {
                        group_id: group_id.clone(),
                        topic_id: topic_id.clone(),
                        seq,
                    })?
                }
            };
            Some(ReactionNotice::Summary {
                target,
                sdk_id: None,
                reactions: counts(r),
                all: true,
            })
        })
        .collect()
}

impl Session {
    /// The reaction part of one `eventArray` item.
    pub(super) fn on_reaction_event(&mut self, ev: &Value) {
        for n in ev
            .get("MsgReactionNotifyList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match parse_summary(n) {
                Some(r) => self.event(SessionEvent::Reactions(r)),
                None => debug!("tencent: reaction summary without a message skipped"),
            }
        }
        if let Some(n) = ev.get("MsgReactionNotify") {
            match parse_own(n) {
                Some(r) => self.event(SessionEvent::Reactions(r)),
                None => debug!("tencent: own reaction notice unreadable, skipped"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_parse_into_notices_and_requests_have_the_sdk_shape() {
        let item = json!({"GroupMsgInfo": {"GroupId": "g", "MsgSeq": 7, "TinyId": "144", "MsgClientTime": 5, "MsgRandom": 9},
                          "MsgReactionSummary": [{"Reaction": "👍", "Reaction_Account": ["a", "b"], "Count": 3},
                                                 {"Reaction": "", "Reaction_Account": []}]});
        let Some(ReactionNotice::Summary {
            target,
            sdk_id,
            reactions,
            all: false,
        }) = parse_summary(&item)
        else {
            panic!("summary");
        };
        assert_eq!(
            target,
            ReactionTarget::Group {
                group_id: "g".into(),
                topic_id: None,
                seq: 7
            }
        );
        assert_eq!(sdk_id.as_deref(), Some("144-5-9"));
        assert_eq!(reactions.len(), 1, "a reaction without an id is dropped");
        assert_eq!((reactions[0].users.len(), reactions[0].count), (2, 3));

        let own = json!({"C2CMsgInfo": {"From_Account": "a", "To_Account": "b", "MsgKey": "1_2_3"},
                         "Reaction": "x", "MsgOptType": 2});
        assert!(matches!(
            parse_own(&own),
            Some(ReactionNotice::Own { added: false, .. })
        ));
        assert_eq!(parse_own(&json!({"Reaction": "x", "MsgOptType": 1})), None);
        assert_eq!(
            parse_own(&json!({"C2CMsgInfo": {}, "Reaction": "x", "MsgOptType": 9})),
            None
        );
        assert_eq!(
            parse_summary(&json!({"GroupMsgInfo": {"GroupId": "g"}})),
            None
        );

        let (cmd, body) = reaction_request(
            &ReactionTarget::Group {
                group_id: "g".into(),
                topic_id: Some("t".into()),
                seq: 4,
            },
            "👍",
            "me",
            false,
        );
        assert_eq!(cmd, GROUP_REACTION_DEL);
        assert_eq!(
            body,
            json!({"GroupId": "g", "TopicId": "t", "MsgSeq": 4, "Reaction": "👍", "Del_Account": ["me"]})
        );
    }

    #[test]
    fn stats_requests_and_replies() {
        let q = StatsQuery::Group {
            group_id: "g".into(),
            topic_id: Some("g@TOPIC#_t".into()),
            seqs: vec![3, 4],
        };
        let (cmd, body) = stats_request(&q, 10);
        assert_eq!(cmd, GROUP_REACTION_MULTI_STAT);
        assert_eq!(
            body,
            json!({"GroupId": "g", "TopicId": "g@TOPIC#_t", "MsgSeqList": [3, 4], "Count": 10})
        );
        let reply = json!({"Results": [
            {"MsgSeq": 3, "MsgReactionSummary": [{"Reaction": "👍", "Reaction_Account": ["a"], "Count": 1}]},
            {"MsgSeq": 4, "MsgReactionSummary": []},
            {"MsgSeq": 9, "MsgReactionSummary": []},
            {"MsgReactionSummary": []}]});
        let notices = parse_stats(&q, &reply);
        assert_eq!(notices.len(), 2, "only the messages asked for");
        assert!(
            matches!(&notices[1], ReactionNotice::Summary { reactions, all: true, .. }
            if reactions.is_empty())
        );
        let q = StatsQuery::C2c {
            from: "a".into(),
            to: "b".into(),
            keys: vec!["1_2_3".into()],
        };
        assert_eq!(stats_request(&q, 5).1["MsgKeyList"], json!(["1_2_3"]));
        let reply = json!({"Results": [{"MsgKey": "1_2_3", "MsgReactionSummary": [
            {"Reaction": "x", "Reaction_Account": ["a", "b"], "Count": 2}]}]});
        assert!(matches!(&parse_stats(&q, &reply)[..],
            [ReactionNotice::Summary { target: ReactionTarget::C2c { msg_key, .. }, .. }]
            if msg_key == "1_2_3"));
        assert!(parse_stats(&q, &json!({"ErrorCode": 0})).is_empty());
    }
}
