//! Reactions made while the bridge was away. The service pushes reaction changes live only,
//! so after each catch-up (`openim.getmsg` for C2C, `group_msg_get` for groups, which at a
//! login's first connection re-reads each group's newest 50 messages) the reactions of the
//! messages it delivered are read (`reaction_multi_stat` / `group_reaction_multi_stat`, the
//! SDK's `getMessageReactions`) and given to the core as full
//! [`RemoteEvent::ReactionSync`](crate::core::connector::RemoteEvent::ReactionSync)s (`all_keys`), which add what is missing and remove what
//! is gone. An app without the paid reactions feature refuses the read: logged, nothing
//! more.

use std::collections::BTreeMap;

use tracing::debug;

use super::fidelity::Shared;
use crate::core::connector::RemoteEventSender;
use crate::network::tencent::client::Client;
use crate::network::tencent::session::reactions::{parse_stats, stats_request, StatsQuery};
use crate::network::tencent::session::{topic_group, C2cMessage, GroupMessage};

/// Users listed per reaction (the SDK's `maxUserCountPerReaction` default); a reaction with
/// more is synced as incomplete (its listed users added, nobody removed).
const USERS_PER_REACTION: u64 = 10;
/// Messages per read.
const BATCH: usize = 20;
/// The most messages remembered between two catch-ups (the oldest beyond it are skipped).
const MAX_PENDING: usize = 2_000;

/// The messages delivered by the catch-up, by conversation, whose reactions are read when it
/// ends.
#[derive(Default)]
pub struct Pending {
    /// Peer → (from, to, MsgKeys).
    c2c: BTreeMap<String, (String, String, Vec<String>)>,
    /// Conversation (group or topic id) → MsgSeqs.
    groups: BTreeMap<String, Vec<u64>>,
    count: usize,
}

impl Pending {
    /// Notes a C2C message of the catch-up (one with a `MsgKey`), seen by `own`.
    pub fn c2c(&mut self, own: &str, m: &C2cMessage) {
        if !m.offline || m.key.is_empty() || self.count >= MAX_PENDING {
            return;
        }
        let peer = if m.from == own { &m.to } else { &m.from };
        let entry = self
            .c2c
            .entry(peer.clone())
            .or_insert_with(|| (m.from.clone(), m.to.clone(), Vec::new()));
        entry.2.push(m.key.clone());
        self.count += 1;
    }

    /// Notes a group message of the catch-up.
    pub fn group(&mut self, m: &GroupMessage) {
        if !m.offline || self.count >= MAX_PENDING {
            return;
        }
        self.groups
            .entry(m.group_id.clone())
            .or_default()
            .push(m.seq);
        self.count += 1;
    }

    /// The reads the noted messages need, in batches; forgets them.
    pub fn take(&mut self) -> Vec<StatsQuery> {
        let mut out = Vec::new();
        for (_, (from, to, keys)) in std::mem::take(&mut self.c2c) {
            for chunk in keys.chunks(BATCH) {
                out.push(StatsQuery::C2c {
                    from: from.clone(),
                    to: to.clone(),
                    keys: chunk.to_vec(),
                });
            }
        }
        for (conversation, seqs) in std::mem::take(&mut self.groups) {
            let (group_id, topic_id) = match topic_group(&conversation) {
                Some(g) => (g.to_owned(), Some(conversation.clone())),
                None => (conversation.clone(), None),
            };
            for chunk in seqs.chunks(BATCH) {
                out.push(StatsQuery::Group {
                    group_id: group_id.clone(),
                    topic_id: topic_id.clone(),
                    seqs: chunk.to_vec(),
                });
            }
        }
        self.count = 0;
        out
    }
}

/// Reads the reactions of `queries` and sends what they hold to the core; stops at the first
/// refusal (the app has no reactions, or the link is gone) and when the core is gone.
pub async fn read(
    own: String,
    client: Client,
    queries: Vec<StatsQuery>,
    memory: Shared,
    out: RemoteEventSender,
) {
    for query in queries {
        let (servcmd, body) = stats_request(&query, USERS_PER_REACTION);
        let reply = match client.call(servcmd, body).await {
            Ok(reply) => reply,
            Err(e) => {
                debug!(error = %e, "tencent: reactions not read after the catch-up");
                return;
            }
        };
        for notice in parse_stats(&query, &reply) {
            let Some(event) = super::reactions::translate(&own, &notice, &memory) else {
                continue;
            };
            // A message without reactions gives an empty full sync: the core removes what it
            // had bridged on it (a store read when it had none).
            if out.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c2c(from: &str, to: &str, key: &str, offline: bool) -> C2cMessage {
        C2cMessage {
            from: from.into(),
            to: to.into(),
            key: key.into(),
            offline,
            ..C2cMessage::default()
        }
    }

    #[test]
    fn catch_up_messages_become_batched_reads() {
        let mut p = Pending::default();
        p.c2c("alice", &c2c("bob", "alice", "k1", true));
        p.c2c("alice", &c2c("alice", "bob", "k2", true));
        p.c2c("alice", &c2c("bob", "alice", "live", false));
        p.c2c("alice", &c2c("bob", "alice", "", true));
        let reads = p.take();
        assert_eq!(
            reads,
            [StatsQuery::C2c {
                from: "bob".into(),
                to: "alice".into(),
                keys: vec!["k1".into(), "k2".into()],
            }]
        );
        assert!(p.take().is_empty(), "taken once");
    }
}
