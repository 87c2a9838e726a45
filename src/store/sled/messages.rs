//! The message map, kept in both directions in one transaction: `messages`
//! ((portal key, remote message id, part) → [`MessageRecord`]) and `message_events`
//! (Matrix event id → where its record is).

use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::keys::{decode, encode, parts, push_part};
use super::{abort, tx_error, SledStore};
use crate::store::{MessageRecord, Result};

/// Where an event's record is (value of `message_events`).
#[derive(Serialize, Deserialize)]
pub(super) struct EventRef {
    pub(super) portal: String,
    pub(super) remote_id: String,
    pub(super) part: u32,
}

fn message_key(portal: &str, remote_id: &str, part: u32) -> Vec<u8> {
    let mut key = parts(&[portal.as_bytes(), remote_id.as_bytes()]);
    key.extend_from_slice(&part.to_be_bytes());
    key
}

impl SledStore {
    /// Records that remote message `record.remote_id` (part `record.part`) of portal
    /// `portal_key` is Matrix event `record.event_id`; both directions in one transaction.
    /// Replacing a part with a new event drops the old event's entry.
    pub(super) fn put_message(&self, portal_key: &str, record: &MessageRecord) -> Result<()> {
        let key = message_key(portal_key, &record.remote_id, record.part);
        let value = encode("messages", record)?;
        let back = encode(
            "message_events",
            &EventRef {
                portal: portal_key.to_owned(),
                remote_id: record.remote_id.clone(),
                part: record.part,
            },
        )?;
        let (messages, events) = (&self.messages, &self.message_events);
        (messages, events)
            .transaction(|(messages, events)| {
                if let Some(old) = messages.insert(key.as_slice(), value.as_slice())? {
                    let old: MessageRecord = decode("messages", &key, &old).map_err(abort)?;
                    if old.event_id != record.event_id {
                        events.remove(old.event_id.as_bytes())?;
                    }
                }
                events.insert(record.event_id.as_bytes(), back.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    /// Every part of a remote message, in part order.
    pub(super) fn message_parts(
        &self,
        portal_key: &str,
        remote_id: &str,
    ) -> Result<Vec<MessageRecord>> {
        let prefix = parts(&[portal_key.as_bytes(), remote_id.as_bytes()]);
        let mut out = Vec::new();
        for item in self.messages.scan_prefix(&prefix) {
            let (k, v) = item?;
            if k.len() == prefix.len() + 4 {
                out.push(decode("messages", &k, &v)?);
            }
        }
        Ok(out)
    }

    /// The portal key and record of a Matrix event.
    pub(super) fn message_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, MessageRecord)>> {
        let Some(v) = self.message_events.get(event_id)? else {
            return Ok(None);
        };
        let r: EventRef = decode("message_events", event_id.as_bytes(), &v)?;
        let key = message_key(&r.portal, &r.remote_id, r.part);
        match self.messages.get(&key)? {
            Some(v) => Ok(Some((r.portal, decode("messages", &key, &v)?))),
            None => Ok(None),
        }
    }

    /// Forgets every part of a remote message, both directions; returns how many parts.
    pub(super) fn delete_message(&self, portal_key: &str, remote_id: &str) -> Result<usize> {
        let prefix = parts(&[portal_key.as_bytes(), remote_id.as_bytes()]);
        self.delete_message_keys(&prefix, Some(prefix.len() + 4))
    }

    /// Forgets every message of a portal (used when the portal is deleted).
    pub(super) fn delete_portal_messages(&self, portal_key: &str) -> Result<usize> {
        let mut prefix = Vec::new();
        push_part(&mut prefix, portal_key.as_bytes());
        self.delete_message_keys(&prefix, None)
    }

    /// Deletes the records under `prefix` (of exactly `key_len` bytes, if given) and their
    /// event entries, in transactions of at most 256 records.
    fn delete_message_keys(&self, prefix: &[u8], key_len: Option<usize>) -> Result<usize> {
        let mut total = 0;
        loop {
            let mut batch = Vec::new();
            for item in self.messages.scan_prefix(prefix) {
                let (k, v) = item?;
                if key_len.is_none_or(|len| k.len() == len) {
                    let record: MessageRecord = decode("messages", &k, &v)?;
                    batch.push((k, record.event_id));
                    if batch.len() == 256 {
                        break;
                    }
                }
            }
            if batch.is_empty() {
                return Ok(total);
            }
            let (messages, events) = (&self.messages, &self.message_events);
            (messages, events)
                .transaction(|(messages, events)| {
                    for (k, event_id) in &batch {
                        messages.remove(k)?;
                        events.remove(event_id.as_bytes())?;
                    }
                    Ok(())
                })
                .map_err(tx_error)?;
            total += batch.len();
        }
    }
}
