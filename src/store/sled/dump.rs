//! Reading a whole sled store into a [`StoreDump`] (the source of `imbridge migrate-store`):
//! every tree decoded back from its key encoding, records kept as their JSON text.

use super::keys::{decode, read_u64, take_part, utf8};
use super::messages::EventRef;
use super::reactions::ReactionRef;
use super::SledStore;
use crate::store::backend::{
    InboxRow, MessageEventRow, MessageRow, ReactionEventRow, ReactionRow, StoreDump, TxnMarkRow,
};
use crate::store::{Result, StoreError};

fn bad_key(tree: &'static str, key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: "bad key".into(),
    }
}

/// Every (key, value) of a tree whose keys and values are both UTF-8 text.
fn text_pairs(tree: &sled::Tree, name: &'static str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (k, v) = item?;
        out.push((utf8(name, &k, &k)?, utf8(name, &k, &v)?));
    }
    Ok(out)
}

/// Splits `n` length-prefixed UTF-8 parts off `key`; returns them and the rest.
fn text_parts<'k>(tree: &'static str, key: &'k [u8], n: usize) -> Result<(Vec<String>, &'k [u8])> {
    let mut rest = key;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (part, tail) = take_part(rest).ok_or_else(|| bad_key(tree, key))?;
        out.push(utf8(tree, key, part)?);
        rest = tail;
    }
    Ok((out, rest))
}

/// The whole store, unsorted (the caller sorts).
pub(super) fn dump(s: &SledStore) -> Result<StoreDump> {
    let mut d = StoreDump {
        logins: text_pairs(&s.logins, "logins")?,
        ghosts: text_pairs(&s.ghosts, "ghosts")?,
        portals: text_pairs(&s.portals, "portals")?,
        room_portals: text_pairs(&s.room_portals, "room_portals")?,
        kv: text_pairs(&s.kv, "kv")?,
        ..StoreDump::default()
    };
    for item in s.messages.iter() {
        let (k, v) = item?;
        let (p, rest) = text_parts("messages", &k, 2)?;
        let part: [u8; 4] = rest.try_into().map_err(|_| bad_key("messages", &k))?;
        let [portal, remote_id] =
            <[String; 2]>::try_from(p).map_err(|_| bad_key("messages", &k))?;
        d.messages.push(MessageRow {
            portal,
            remote_id,
            part: u32::from_be_bytes(part),
            json: utf8("messages", &k, &v)?,
        });
    }
    for item in s.message_events.iter() {
        let (k, v) = item?;
        let r: EventRef = decode("message_events", &k, &v)?;
        d.message_events.push(MessageEventRow {
            event_id: utf8("message_events", &k, &k)?,
            portal: r.portal,
            remote_id: r.remote_id,
            part: r.part,
        });
    }
    for item in s.reactions.iter() {
        let (k, v) = item?;
        let (p, rest) = text_parts("reactions", &k, 4)?;
        let [portal, target, sender, key] =
            <[String; 4]>::try_from(p).map_err(|_| bad_key("reactions", &k))?;
        if !rest.is_empty() {
            return Err(bad_key("reactions", &k));
        }
        d.reactions.push(ReactionRow {
            portal,
            target,
            sender,
            key,
            json: utf8("reactions", &k, &v)?,
        });
    }
    for item in s.reaction_events.iter() {
        let (k, v) = item?;
        let r: ReactionRef = decode("reaction_events", &k, &v)?;
        d.reaction_events.push(ReactionEventRow {
            event_id: utf8("reaction_events", &k, &k)?,
            portal: r.portal,
            target: r.target,
            sender: r.sender,
            key: r.key,
        });
    }
    for item in s.txns.iter() {
        let (k, v) = item?;
        let scope: [u8; 16] = k
            .get(..16)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad_key("txns", &k))?;
        let ts_ms = read_u64(&v).ok_or_else(|| bad_key("txns", &k))?;
        let fingerprint = match v.get(8..) {
            Some([]) | None => None,
            Some(fp) => Some(fp.try_into().map_err(|_| bad_key("txns", &k))?),
        };
        d.txn_marks.push(TxnMarkRow {
            scope,
            id: utf8("txns", &k, &k[16..])?,
            ts_ms,
            fingerprint,
        });
    }
    for item in s.inbox.iter() {
        let (k, v) = item?;
        let (p, rest) = text_parts("inbox", &k, 1)?;
        let seq = read_u64(rest).ok_or_else(|| bad_key("inbox", &k))?;
        let queue = p.into_iter().next().ok_or_else(|| bad_key("inbox", &k))?;
        d.inbox.push(InboxRow {
            queue,
            seq,
            item: v.to_vec(),
        });
    }
    Ok(d)
}
