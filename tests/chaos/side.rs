//! The system under test on either homeserver, behind one face: the bridge process (to kill
//! and start again), the IM peers, the portals, and the Matrix side's operations the run
//! needs (send as a Matrix user, talk to the bot, restart the homeserver, read what the
//! bridge delivered into the portals).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::homeserver::{lock, Homeserver};
use crate::im::{Peers, Received};
use crate::procs::{self, Proc, StoreChoice};
use crate::setup::{self, mgmt, mx_user, Bed, Shape};
use crate::synapse_bed::{self, bot, SynapseBed};
use crate::{faults, Settings};

/// Prefix of the IM → Matrix messages (`chaos i2m c<chat> n<number>`).
pub const I2M: &str = "chaos i2m";
/// Prefix of the Matrix → IM messages.
pub const M2I: &str = "chaos m2i";

enum Backend {
    Standin(Bed),
    Synapse(SynapseBed),
}

/// The running system.
pub struct Rig {
    backend: Backend,
    pub config: PathBuf,
    pub log: PathBuf,
    pub as_port: u16,
    pub sandbox_port: u16,
    pub logins: Vec<String>,
    pub peer_count: usize,
    /// Portal room by (login index, peer index).
    pub portals: HashMap<(usize, usize), String>,
    /// The login that logs in by token, and its current token.
    pub token: Option<(usize, String)>,
    /// A second bridge process on the same PostgreSQL store, standing by for the lease
    /// (failover, issue 14 item 5); `None` on sled.
    standby: Option<Proc>,
    /// A standby is kept (PostgreSQL with `CHAOS_STANDBY`).
    with_standby: bool,
    /// How long each takeover took: from the active bridge's SIGKILL until the standby
    /// listened on the appservice port.
    pub takeovers: Vec<Duration>,
}

/// Sends Matrix → IM messages as the Matrix users (cloneable, for the traffic tasks).
#[derive(Clone)]
pub enum MatrixSender {
    Standin(Arc<Homeserver>),
    Synapse {
        http: reqwest::Client,
        base: String,
        tokens: Arc<Vec<String>>,
    },
}

impl MatrixSender {
    /// `body` from login `i`'s Matrix user into `room` (transaction id `txn`); the event id.
    pub async fn send(
        &self,
        i: usize,
        room: &str,
        body: &str,
        txn: &str,
    ) -> Result<String, String> {
        match self {
            Self::Standin(hs) => {
                let content = json!({ "msgtype": "m.text", "body": body });
                let event = hs.room_event(room, &mx_user(i), "m.room.message", content);
                let id = event["event_id"].as_str().unwrap_or_default().to_owned();
                hs.push_events([event]);
                Ok(id)
            }
            Self::Synapse { http, base, tokens } => {
                let token = tokens.get(i).ok_or("no such user")?;
                synapse_bed::send_as(http, base, token, room, body, txn).await
            }
        }
    }
}

impl Rig {
    /// Starts the chosen homeserver's bed in `dir`.
    pub async fn start(dir: &Path, store: &StoreChoice, s: &Settings) -> Result<Self, String> {
        let backend = if s.synapse {
            Backend::Synapse(synapse_bed::start(dir, store, s).await?)
        } else {
            let shape = Shape {
                logins: s.logins,
                peers: s.peers,
                echo: true,
            };
            Backend::Standin(setup::start(dir, store, &shape).await?)
        };
        let (config, log, as_port, sandbox_port, logins, portals) = match &backend {
            Backend::Standin(b) => (
                b.config.clone(),
                b.log.clone(),
                b.as_port,
                b.sandbox_port,
                b.logins.clone(),
                b.portals.clone(),
            ),
            Backend::Synapse(b) => (
                b.config.clone(),
                b.log.clone(),
                b.as_port,
                b.sandbox_port,
                b.logins.clone(),
                b.portals.clone(),
            ),
        };
        Ok(Self {
            backend,
            config,
            log,
            as_port,
            sandbox_port,
            logins,
            peer_count: s.peers,
            portals,
            token: None,
            standby: None,
            with_standby: false,
            takeovers: Vec::new(),
        })
    }

    /// Starts a standby bridge beside the active one (same config, same log): on PostgreSQL
    /// it waits for the database lease and takes over when the active one dies.
    pub fn start_standby(&mut self) -> Result<(), String> {
        self.with_standby = true;
        self.standby = Some(procs::spawn_bridge(&self.config, &self.log)?);
        Ok(())
    }

    /// After the database came back: both processes stop when they lose it (as under
    /// systemd, which restarts them). A surviving standby takes the lease; otherwise a bridge
    /// is started, then a new standby (bounded waits).
    pub fn recover_after_database_restart(&mut self) -> Result<(), String> {
        if !self.bridge().running() {
            let mut standby = self.standby.take();
            let alive = standby.as_mut().is_some_and(|p| p.running());
            let took_over = alive && procs::wait_port(self.as_port, Duration::from_secs(15));
            match (took_over, standby) {
                (true, Some(p)) => *self.bridge() = p,
                _ => {
                    let bridge = procs::start_bridge(&self.config, &self.log, self.as_port)?;
                    *self.bridge() = bridge;
                }
            }
        }
        let standby_down = self.standby.as_mut().is_none_or(|p| !p.running());
        if self.with_standby && standby_down {
            self.start_standby()?;
        }
        Ok(())
    }

    /// The bridge process.
    pub fn bridge(&mut self) -> &mut Proc {
        match &mut self.backend {
            Backend::Standin(b) => &mut b.bridge,
            Backend::Synapse(b) => &mut b.bridge,
        }
    }

    /// SIGKILL the bridge, then start it again (bounded wait until it listens). With a
    /// standby, the standby is to take over instead (within 15 s, timed into
    /// [`Rig::takeovers`]) and the killed process comes back as the new standby.
    pub fn kill_and_restart_bridge(&mut self, down: Duration) -> Result<(), String> {
        self.bridge().kill();
        let killed = Instant::now();
        if let Some(mut standby) = self.standby.take() {
            // The old active one no longer listens once killed: the port answering again
            // means the standby took the lease and started.
            let took_over =
                standby.running() && procs::wait_port(self.as_port, Duration::from_secs(15));
            if took_over {
                self.takeovers.push(killed.elapsed());
                *self.bridge() = standby;
                return self.start_standby();
            }
            drop(standby);
            let bridge = procs::start_bridge(&self.config, &self.log, self.as_port)?;
            *self.bridge() = bridge;
            self.start_standby()?;
            return Err(format!(
                "the standby did not take over within 15 s; a new bridge was started (see {})",
                self.log.display()
            ));
        }
        std::thread::sleep(down);
        let bridge = procs::start_bridge(&self.config, &self.log, self.as_port)?;
        *self.bridge() = bridge;
        Ok(())
    }

    /// The IM peers.
    pub fn peers(&self) -> &Peers {
        match &self.backend {
            Backend::Standin(b) => &b.peers,
            Backend::Synapse(b) => &b.peers,
        }
    }

    /// What the peers received from the bridge, in arrival order.
    pub fn im_received(&self) -> Vec<Received> {
        lock(&self.peers().inbox).clone()
    }

    /// A sender of Matrix → IM messages.
    pub fn sender(&self) -> MatrixSender {
        match &self.backend {
            Backend::Standin(b) => MatrixSender::Standin(b.hs.clone()),
            Backend::Synapse(b) => MatrixSender::Synapse {
                http: reqwest::Client::new(),
                base: b.synapse.url(),
                tokens: Arc::new(b.users.iter().map(|u| u.token().to_owned()).collect()),
            },
        }
    }

    /// Restarts the homeserver: Synapse stopped and started on the same data; the stand-in
    /// answers 502 and holds its transactions for `down`.
    pub async fn restart_homeserver(&self, down: Duration) {
        match &self.backend {
            Backend::Standin(b) => {
                b.hs.down.store(true, Ordering::Relaxed);
                tokio::time::sleep(down).await;
                b.hs.down.store(false, Ordering::Relaxed);
            }
            Backend::Synapse(b) => tokio::task::block_in_place(|| b.synapse.restart()),
        }
    }

    /// The bot's messages in login `i`'s management room, oldest first.
    pub async fn bot_notices(&self, i: usize) -> Vec<String> {
        match &self.backend {
            Backend::Standin(b) => lock(&b.hs.notices)
                .iter()
                .filter(|(room, _)| *room == mgmt(i))
                .map(|(_, body)| body.clone())
                .collect(),
            Backend::Synapse(b) => match (b.users.get(i), b.dms.get(i)) {
                (Some(user), Some(dm)) => user.bodies(dm, Some(&bot())).await,
                _ => Vec::new(),
            },
        }
    }

    /// Sends `text` to the bot as login `i`'s Matrix user and waits (bounded, `limit`) for a
    /// new bot message matching `answer`; returns it.
    pub async fn command(
        &self,
        i: usize,
        text: &str,
        answer: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Result<String, String> {
        let before = self.bot_notices(i).await.len();
        let txn = format!("cmd{}", rand::random::<u32>());
        match &self.backend {
            Backend::Standin(b) => {
                let content = json!({ "msgtype": "m.text", "body": text });
                b.hs.push_events([b.hs.room_event(
                    &mgmt(i),
                    &mx_user(i),
                    "m.room.message",
                    content,
                )]);
            }
            Backend::Synapse(b) => {
                let (user, dm) = (&b.users[i], &b.dms[i]);
                let http = reqwest::Client::new();
                synapse_bed::send_as(&http, &b.synapse.url(), user.token(), dm, text, &txn).await?;
            }
        }
        self.wait_notice(i, before, answer, limit).await
    }

    /// Waits (bounded) for a bot message after the first `skip` matching `answer`.
    pub async fn wait_notice(
        &self,
        i: usize,
        skip: usize,
        answer: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let notices = self.bot_notices(i).await;
            if let Some(n) = notices.iter().skip(skip).find(|n| answer(n)) {
                return Ok(n.clone());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no such answer from the bot within {limit:?}; it said: {:?}",
                    &notices[skip.min(notices.len())..]
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Switches login `i` to the token flow: a token from the sandbox's REST API, then
    /// `relogin token <user> <token>` (so an expired token makes it BAD_CREDENTIALS).
    pub async fn use_token_login(&mut self, i: usize) -> Result<(), String> {
        let login = self.logins.get(i).cloned().ok_or("no such login")?;
        let token = faults::fetch_token(self.sandbox_port, &login).await?;
        let text = format!("relogin token {login} {token}");
        let done = |n: &str| n.starts_with(&format!("Logged in as {login}"));
        self.command(i, &text, done, Duration::from_secs(60))
            .await?;
        self.token = Some((i, token));
        Ok(())
    }

    /// The bridge's other messages in each portal (notices such as "⚠️ Your message was
    /// not delivered: …"), in timeline order.
    pub async fn portal_notices(&self) -> HashMap<(usize, usize), Vec<String>> {
        let mut out: HashMap<(usize, usize), Vec<String>> = HashMap::new();
        let by_room: HashMap<&String, (usize, usize)> =
            self.portals.iter().map(|(k, r)| (r, *k)).collect();
        match &self.backend {
            Backend::Standin(b) => {
                for (room, body) in lock(&b.hs.notices).iter() {
                    if let (Some(key), false) = (by_room.get(room), body.starts_with("chaos ")) {
                        out.entry(*key).or_default().push(body.clone());
                    }
                }
            }
            Backend::Synapse(b) => {
                for ((i, j), room) in &self.portals {
                    let bodies = b.users[*i].bodies(room, Some(&bot())).await;
                    out.insert((*i, *j), bodies);
                }
            }
        }
        out
    }

    /// IM → Matrix bodies Synapse stored twice under one transaction id of the bridge (read
    /// from its SQLite database): a send whose answer a Synapse restart cut off, retried by
    /// the bridge with the same id after the restart. Synapse de-duplicates transaction ids
    /// across restarts only for requests made with a device, which appservice requests are
    /// not; its in-memory cache goes with the restart. Empty on the stand-in.
    pub fn homeserver_doubled(&self) -> std::collections::HashSet<String> {
        let Backend::Synapse(b) = &self.backend else {
            return Default::default();
        };
        let db = b.synapse.dir.join("homeserver.db");
        let script = "import sqlite3,sys\n\
            c=sqlite3.connect(sys.argv[1])\n\
            q=\"select json_extract(json,'$.content.body') b, count(*), \
            count(distinct json_extract(internal_metadata,'$.txn_id')) from event_json \
            where b like 'chaos i2m %' group by b having count(*)>1\"\n\
            for b,n,t in c.execute(q):\n    \
            print(b) if t==1 else None\n";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&db)
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect(),
            Ok(o) => {
                eprintln!(
                    "Synapse database not read: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                Default::default()
            }
            Err(e) => {
                eprintln!("Synapse database not read: {e}");
                Default::default()
            }
        }
    }

    /// The bodies of the IM → Matrix messages in each portal, in timeline order.
    pub async fn matrix_received(&self) -> HashMap<(usize, usize), Vec<String>> {
        let mut out: HashMap<(usize, usize), Vec<String>> = HashMap::new();
        match &self.backend {
            Backend::Standin(b) => {
                let by_room: HashMap<&String, (usize, usize)> =
                    self.portals.iter().map(|(k, r)| (r, *k)).collect();
                for (room, body) in lock(&b.hs.notices).iter() {
                    if let (Some(key), true) = (by_room.get(room), body.starts_with(I2M)) {
                        out.entry(*key).or_default().push(body.clone());
                    }
                }
            }
            Backend::Synapse(b) => {
                for ((i, j), room) in &self.portals {
                    let bodies = b.users[*i].all_bodies(room).await;
                    let mine = bodies.into_iter().filter(|x| x.starts_with(I2M));
                    out.insert((*i, *j), mine.collect());
                }
            }
        }
        out
    }
}
