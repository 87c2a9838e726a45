//! The IM side: remote users ("peers") as Rust Easemob clients against the sandbox. They
//! send the IM → Matrix messages (`bench <seq>`, many in flight) and record when the
//! Matrix → IM ones reach them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imbridge::network::easemob::client::{ClientConfig, Credential, EasemobClient};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, OutgoingMessage};
use tokio::sync::Semaphore;

use crate::homeserver::lock;
use crate::procs::{APP, PASSWORD};
use crate::tracker::Tracker;

/// The peers, logged in, with the tracker their received messages arrive in.
pub struct Peers {
    pub clients: Vec<EasemobClient>,
    /// Arrivals of Matrix → IM benchmark messages.
    pub received: Arc<Tracker>,
    /// Every other text message the peers received, in arrival order.
    pub inbox: Arc<Mutex<Vec<Received>>>,
}

/// A text message a peer received that is not a benchmark message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Index of the receiving peer.
    pub peer: usize,
    /// IM id of the sender.
    pub from: String,
    pub text: String,
}

/// A send target: which peer sends, to which bridge user (IM id).
#[derive(Clone)]
pub struct Route {
    pub peer: usize,
    pub to: String,
}

/// Logs in `names` against the sandbox on `port` and starts recording what they receive.
pub async fn connect(port: u16, names: &[String]) -> Result<Peers, String> {
    let received = Arc::new(Tracker::default());
    let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
    let mut clients = Vec::with_capacity(names.len());
    for (peer, name) in names.iter().enumerate() {
        let cfg = ClientConfig::new(
            APP,
            &format!("http://127.0.0.1:{port}"),
            &format!("ws://127.0.0.1:{port}/websocket"),
            name,
            Credential::Password(PASSWORD.into()),
            &format!("bench_{name}"),
        );
        let (client, mut events) = EasemobClient::login(cfg)
            .await
            .map_err(|e| format!("peer {name} login: {e:?}"))?;
        let received = received.clone();
        let inbox = inbox.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let SessionEvent::Message(m) = event {
                    if let Body::Content(Content::Text { text }) = &m.body {
                        if let Some(seq) = text.strip_prefix("bench ").and_then(|s| s.parse().ok())
                        {
                            received.arrive(seq, Instant::now());
                        } else {
                            let from = m.from.clone();
                            let text = text.clone();
                            lock(&inbox).push(Received { peer, from, text });
                        }
                    }
                }
            }
        });
        clients.push(client);
    }
    Ok(Peers {
        clients,
        received,
        inbox,
    })
}

/// Hands out sequence numbers unique over the whole run.
#[derive(Default)]
pub struct Seq(AtomicU64);

impl Seq {
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Sends `n` messages round-robin over `routes`, at most `window` waiting for the server's
/// acknowledgement, each recorded in `tracker` as sent; `rate` (messages/s) paces them when
/// given. Returns the number of sends that failed.
pub async fn send(
    peers: &Peers,
    routes: &[Route],
    n: usize,
    window: usize,
    rate: Option<f64>,
    seq: &Seq,
    tracker: &Tracker,
) -> usize {
    let permits = Arc::new(Semaphore::new(window.max(1)));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let route = &routes[i % routes.len()];
        let client = peers.clients[route.peer].clone();
        let s = seq.next();
        let msg = OutgoingMessage::text(Conversation::single(&route.to), format!("bench {s}"));
        tracker.send(s, Instant::now());
        let failures = failures.clone();
        tasks.spawn(async move {
            if client.send(msg).await.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
        // Reap finished sends so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    failures.load(Ordering::Relaxed) as usize
}
