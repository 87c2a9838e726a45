//! The reaction map, kept in both directions in one transaction: `reactions` ((portal key,
//! target remote message, remote sender, key) → [`ReactionRecord`]) and `reaction_events`
//! (Matrix event id → the portal and that key), so a reaction removed on either side finds its
//! counterpart.

use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::keys::{decode, encode, parts};
use super::{tx_error, SledStore};
use crate::store::{ReactionRecord, Result};

/// Where an event's reaction record is (value of `reaction_events`).
#[derive(Serialize, Deserialize)]
pub(super) struct ReactionRef {
    pub(super) portal: String,
    pub(super) target: String,
    pub(super) sender: String,
    pub(super) key: String,
}

fn reaction_key(portal: &str, target: &str, sender: &str, key: &str) -> Vec<u8> {
    parts(&[
        portal.as_bytes(),
        target.as_bytes(),
        sender.as_bytes(),
        key.as_bytes(),
    ])
}

impl SledStore {
    /// Records a bridged reaction of portal `portal_key` (both directions at once).
    pub(super) fn put_reaction(&self, portal_key: &str, record: &ReactionRecord) -> Result<()> {
        let key = reaction_key(portal_key, &record.target, &record.sender, &record.key);
        let value = encode("reactions", record)?;
        let back = encode(
            "reaction_events",
            &ReactionRef {
                portal: portal_key.to_owned(),
                target: record.target.clone(),
                sender: record.sender.clone(),
                key: record.key.clone(),
            },
        )?;
        let (reactions, events) = (&self.reactions, &self.reaction_events);
        (reactions, events)
            .transaction(|(reactions, events)| {
                reactions.insert(key.as_slice(), value.as_slice())?;
                events.insert(record.event_id.as_bytes(), back.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    /// The reaction `key` of remote user `sender` on remote message `target`, if bridged.
    pub(super) fn reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        let k = reaction_key(portal_key, target, sender, key);
        match self.reactions.get(&k)? {
            Some(bytes) => Ok(Some(decode("reactions", &k, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Every bridged reaction on remote message `target` of portal `portal_key` (any sender,
    /// any key), in key order.
    pub(super) fn reactions_on(
        &self,
        portal_key: &str,
        target: &str,
    ) -> Result<Vec<ReactionRecord>> {
        let prefix = parts(&[portal_key.as_bytes(), target.as_bytes()]);
        let mut out = Vec::new();
        for item in self.reactions.scan_prefix(&prefix) {
            let (k, bytes) = item?;
            out.push(decode("reactions", &k, &bytes)?);
        }
        Ok(out)
    }

    /// The reaction behind Matrix event `event_id`, with its portal key.
    pub(super) fn reaction_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, ReactionRecord)>> {
        let Some(bytes) = self.reaction_events.get(event_id.as_bytes())? else {
            return Ok(None);
        };
        let r: ReactionRef = decode("reaction_events", event_id.as_bytes(), &bytes)?;
        Ok(self
            .reaction(&r.portal, &r.target, &r.sender, &r.key)?
            .map(|record| (r.portal, record)))
    }

    /// Forgets a reaction (both directions); returns what was stored.
    pub(super) fn delete_reaction(
        &self,
        portal_key: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        let k = reaction_key(portal_key, target, sender, key);
        let Some(record) = self.reaction(portal_key, target, sender, key)? else {
            return Ok(None);
        };
        let (reactions, events) = (&self.reactions, &self.reaction_events);
        (reactions, events)
            .transaction(|(reactions, events)| {
                reactions.remove(k.as_slice())?;
                events.remove(record.event_id.as_bytes())?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(Some(record))
    }
}
