//! The run's messages: per chat, one stream each way, paced so each chat's share is spread
//! over the run, one message at a time per stream (so a chat's order is well defined): IM →
//! Matrix sent by the peer as an IM message to the bridge user, Matrix → IM sent by the
//! login's Matrix user into the portal. Bodies carry the chat and a per-chat number:
//! `chaos i2m c<chat> n<number>`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use tokio::task::JoinSet;

use crate::side::{Rig, I2M, M2I};
use crate::Settings;

/// Which way a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Way {
    ToMatrix,
    ToIm,
}

/// A chat: (login index, peer index).
pub type Chat = (usize, usize);

/// What was sent: per (chat, way) the numbers accepted by the sending side, with when.
#[derive(Default)]
pub struct Sent {
    pub streams: HashMap<(Chat, Way), Vec<(u64, Instant)>>,
    /// Matrix → IM: the event id by (chat, number), and when the homeserver accepted it.
    pub events: HashMap<(Chat, u64), (String, Instant)>,
    /// Sends the sending side refused (not counted as sent).
    pub failed: usize,
}

impl Sent {
    /// Messages sent in all.
    pub fn total(&self) -> usize {
        self.streams.values().map(Vec::len).sum()
    }
}

/// The streams, running.
pub struct Traffic {
    tasks: JoinSet<Stream>,
}

/// One stream's outcome.
struct Stream {
    key: (Chat, Way),
    sent: Vec<(u64, Instant)>,
    events: Vec<(u64, String, Instant)>,
    failed: usize,
}

/// The number of chat `(i, j)` in bodies.
pub fn chat_number(chat: Chat, peers: usize) -> usize {
    chat.0 * peers + chat.1
}

/// Starts every stream: `s.messages` in all, half each way, spread over `run`.
pub fn start(rig: &Rig, s: &Settings, run: Duration) -> Traffic {
    let mut chats: Vec<(Chat, String)> = rig.portals.iter().map(|(k, r)| (*k, r.clone())).collect();
    chats.sort();
    let streams = chats.len() * 2;
    let mut tasks = JoinSet::new();
    let t0 = Instant::now();
    for (k, (chat, room)) in chats.iter().enumerate() {
        for (w, way) in [Way::ToMatrix, Way::ToIm].into_iter().enumerate() {
            let index = k * 2 + w;
            let count = s.messages / streams + usize::from(index < s.messages % streams);
            let every = run.div_f64(count.max(1) as f64);
            let offset = every.mul_f64(index as f64 / streams as f64);
            let c = chat_number(*chat, s.peers);
            let (i, j) = *chat;
            let client = rig.peers().clients[j].clone();
            let to = rig.logins[i].clone();
            let sender = rig.sender();
            let room = room.clone();
            tasks.spawn(async move {
                let mut sent = Vec::with_capacity(count);
                let mut events = Vec::new();
                let mut failed = 0;
                for n in 1..=count as u64 {
                    let due = t0 + offset + every.mul_f64((n - 1) as f64);
                    tokio::time::sleep_until(due.into()).await;
                    let at = Instant::now();
                    let ok = match way {
                        Way::ToMatrix => {
                            let body = format!("{I2M} c{c} n{n}");
                            let msg = OutgoingMessage::text(Conversation::single(&to), body);
                            client.send(msg).await.is_ok()
                        }
                        Way::ToIm => {
                            let body = format!("{M2I} c{c} n{n}");
                            let txn = format!("chaos-{c}-{n}");
                            match sender.send(i, &room, &body, &txn).await {
                                Ok(id) => {
                                    events.push((n, id, Instant::now()));
                                    true
                                }
                                Err(_) => false,
                            }
                        }
                    };
                    if ok {
                        sent.push((n, at));
                    } else {
                        failed += 1;
                    }
                }
                Stream {
                    key: ((i, j), way),
                    sent,
                    events,
                    failed,
                }
            });
        }
    }
    Traffic { tasks }
}

impl Traffic {
    /// Waits for every stream to end.
    pub async fn finish(mut self) -> Sent {
        let mut out = Sent::default();
        while let Some(done) = self.tasks.join_next().await {
            if let Ok(s) = done {
                for (n, id, at) in s.events {
                    out.events.insert((s.key.0, n), (id, at));
                }
                out.streams.insert(s.key, s.sent);
                out.failed += s.failed;
            }
        }
        out
    }
}
