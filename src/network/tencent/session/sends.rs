//! Sending in the session: C2C and group sends with their outbox (kept while the link is
//! down, sent again with the same `MsgSeq` / `MsgRandom` after a reconnect so the server
//! recognises a retry), and generic calls (`call`).

use std::time::Instant;

use serde_json::{json, Value};

use super::*;

impl Session {
    pub(super) fn requeue_sends(&mut self, now: Instant) {
        self.ping = None;
        self.next_hello = None;
        self.syncing = None;
        let calls: Vec<u64> = self
            .in_flight
            .values()
            .filter_map(|f| match f.what {
                Pending::Call(id) => Some(id),
                _ => None,
            })
            .collect();
        for id in calls {
            // Queries are not retried: the caller hears the link went away.
            self.event(SessionEvent::CallResult {
                id,
                result: Err(SendError::QueueTimeout),
            });
        }
        let mut sends: Vec<(u64, Queued)> = self
            .in_flight
            .drain()
            .filter_map(|(seq, f)| match f.what {
                Pending::Send {
                    id,
                    seq: s,
                    random,
                    to,
                    elems,
                    cloud_custom_data,
                } => Some((
                    seq,
                    Queued {
                        id,
                        ids: Some((s, random)),
                        to,
                        elems,
                        cloud_custom_data,
                        queued_at: now,
                    },
                )),
                _ => None,
            })
            .collect();
        sends.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        for (_, q) in sends {
            self.outbox.push_front(q);
        }
    }

    /// Queues a C2C message to `to` and returns its local id; the outcome arrives as
    /// [`SessionEvent::SendResult`] with that id.
    pub fn send_c2c(&mut self, to: &str, elems: Vec<Elem>, now: Instant) -> Result<u64, SendError> {
        self.send_c2c_with(to, elems, String::new(), now)
    }

    /// [`Session::send_c2c`] with `CloudCustomData` (e.g. [`ops::reply_data`]).
    pub fn send_c2c_with(
        &mut self,
        to: &str,
        elems: Vec<Elem>,
        cloud_custom_data: String,
        now: Instant,
    ) -> Result<u64, SendError> {
        self.send_to_with(Target::C2c(to.to_owned()), elems, cloud_custom_data, now)
    }

    /// Queues a message to `to` (see [`Session::send_c2c`], [`Session::send_group`]).
    pub fn send_to(
        &mut self,
        to: Target,
        elems: Vec<Elem>,
        now: Instant,
    ) -> Result<u64, SendError> {
        self.send_to_with(to, elems, String::new(), now)
    }

    /// [`Session::send_to`] with `CloudCustomData` (`""` for none).
    pub fn send_to_with(
        &mut self,
        to: Target,
        elems: Vec<Elem>,
        cloud_custom_data: String,
        now: Instant,
    ) -> Result<u64, SendError> {
        if self.phase == Phase::Ended {
            return Err(SendError::SessionEnded);
        }
        let id = self.next_id;
        self.next_id += 1;
        let q = Queued {
            id,
            ids: None,
            to,
            elems,
            cloud_custom_data,
            queued_at: now,
        };
        if self.phase == Phase::Ready {
            self.transmit_send(q, now);
        } else {
            self.outbox.push_back(q);
        }
        Ok(id)
    }

    /// Sends request `servcmd` with `body` (a query such as `recentcontact.page_get`) and
    /// returns its local id; the reply body arrives as [`SessionEvent::CallResult`] with that
    /// id. Only while logged in: calls are not queued ([`SendError::QueueTimeout`] otherwise).
    pub fn call(&mut self, servcmd: &str, body: Value, now: Instant) -> Result<u64, SendError> {
        match self.phase {
            Phase::Ended => return Err(SendError::SessionEnded),
            Phase::Ready => {}
            _ => return Err(SendError::QueueTimeout),
        }
        let id = self.next_id;
        self.next_id += 1;
        self.request(servcmd, body, Pending::Call(id), now);
        Ok(id)
    }

    pub(super) fn transmit_send(&mut self, q: Queued, now: Instant) {
        let (seq, random) = match q.ids {
            Some(ids) => ids,
            None => {
                self.msg_seq = self.msg_seq.wrapping_add(1).max(1);
                (self.msg_seq, self.rng.random())
            }
        };
        let (cmd, mut body) = match &q.to {
            Target::C2c(to) => (
                servcmd::SENDMSG.to_owned(),
                json!({
                    "From_Account": self.cfg.identifier, "To_Account": to,
                    "MsgSeq": seq, "MsgRandom": random, "MsgBody": to_msg_body(&q.elems),
                    "MsgClientTime": 0, "CloudCustomData": q.cloud_custom_data,
                }),
            ),
            Target::Group { group_id, mentions } => (
                topics::servcmd_for(group_id, servcmd::SEND_GROUP_MSG),
                group_wire::send_body(
                    &self.cfg.identifier,
                    group_id,
                    mentions,
                    seq,
                    random,
                    &q.elems,
                ),
            ),
        };
        if let Target::Group { group_id, .. } = &q.to {
            if !q.cloud_custom_data.is_empty() {
                body["CloudCustomData"] = json!(q.cloud_custom_data);
            }
            if self.cfg.group_read_receipts && !self.is_live_room(group_id) {
                body["NeedReadReceipt"] = json!(1);
            }
        }
        self.request(
            &cmd,
            body,
            Pending::Send {
                id: q.id,
                seq,
                random,
                to: q.to,
                elems: q.elems,
                cloud_custom_data: q.cloud_custom_data,
            },
            now,
        );
    }
}
