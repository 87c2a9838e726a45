//! One store's test bed: the sandbox and the bridge as child processes, the stand-in
//! homeserver and its pusher in this process, Matrix users logged in through the bot the way
//! the Synapse suites do (a DM with the bot, then `login <user> <password>`), and one portal
//! per (bridge user, peer) pair made by a first IM message.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::homeserver::{self, lock, Homeserver, DOMAIN};
use crate::im::{self, Peers, Route, Seq};
use crate::procs::{self, Proc, StoreChoice, PASSWORD};

/// How many of what.
pub struct Shape {
    pub logins: usize,
    pub peers: usize,
    pub echo: bool,
}

/// Everything one store's run needs; stopping order on drop: bridge, then sandbox.
pub struct Bed {
    pub bridge: Proc,
    pub hs: Arc<Homeserver>,
    pub peers: Peers,
    pub seq: Seq,
    /// Portal room by (login index, peer index).
    pub portals: HashMap<(usize, usize), String>,
    pub logins: Vec<String>,
    pub log: PathBuf,
    /// The bridge's config (to start it again) and its appservice port.
    pub config: PathBuf,
    pub as_port: u16,
    /// The sandbox's port (REST and msync).
    pub sandbox_port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub sandbox: Proc,
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.bridge.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The Matrix user logged in as bridge user `i`.
pub fn mx_user(i: usize) -> String {
    format!("@mx{i}:{DOMAIN}")
}

/// The management room (DM with the bot) of bridge user `i`.
pub fn mgmt(i: usize) -> String {
    format!("!mgmt{i}:{DOMAIN}")
}

/// The ghost of peer `name`.
pub fn ghost(name: &str) -> String {
    format!("@easemob_{name}:{DOMAIN}")
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out ({limit:?}) waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Starts everything for `store` in `dir` and opens every portal.
pub async fn start(
    dir: &std::path::Path,
    store: &StoreChoice,
    shape: &Shape,
) -> Result<Bed, String> {
    let logins: Vec<String> = (0..shape.logins).map(|i| format!("u{i}")).collect();
    let peer_names: Vec<String> = (0..shape.peers).map(|j| format!("p{j}")).collect();
    let all: Vec<String> = logins.iter().chain(&peer_names).cloned().collect();
    let sandbox_port = procs::free_port();
    let sandbox = procs::start_sandbox(sandbox_port, &all)?;

    let token = format!("bench{:0>59}", rand::random::<u32>());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("stand-in bind: {e}"))?;
    let hs_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let as_port = procs::free_port();
    let hs = Homeserver::new(&token, &format!("http://127.0.0.1:{as_port}"), shape.echo);
    let router = homeserver::router(hs.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let pusher = tokio::spawn(hs.clone().run_pusher());

    let config = procs::write_config(dir, hs_port, as_port, sandbox_port, &token, store)?;
    let log = dir.join("bridge.log");
    let bridge = procs::start_bridge(&config, &log, as_port)?;
    let ready = || hs.request_counts().1.contains_key("ping");
    wait_for("the bridge's ping (ready)", Duration::from_secs(30), ready).await?;

    // Logins: a DM with the bot per Matrix user, then `login <user> <password>` in it.
    let bot = format!("@bot:{DOMAIN}");
    hs.push_events((0..logins.len()).map(|i| {
        let content = json!({ "membership": "invite", "is_direct": true });
        hs.member_event(&mgmt(i), &mx_user(i), &bot, content)
    }));
    let joined = || (0..logins.len()).all(|i| lock(&hs.bot_joined).contains(&mgmt(i)));
    wait_for(
        "the bot to join the management rooms",
        Duration::from_secs(30),
        joined,
    )
    .await?;
    hs.push_events(logins.iter().enumerate().map(|(i, u)| {
        let content = json!({ "msgtype": "m.text", "body": format!("login {u} {PASSWORD}") });
        hs.room_event(&mgmt(i), &mx_user(i), "m.room.message", content)
    }));
    let logged_in = || {
        lock(&hs.notices)
            .iter()
            .filter(|(_, b)| b.starts_with("Logged in as"))
            .count()
            >= logins.len()
    };
    wait_for("every login", Duration::from_secs(60), logged_in).await?;

    // One portal per (login, peer): the peer's first message makes it.
    let peers = im::connect(sandbox_port, &peer_names).await?;
    let seq = Seq::default();
    let routes = all_routes(&logins, shape.peers);
    hs.to_matrix.reset();
    let failed = im::send(&peers, &routes, routes.len(), 50, None, &seq, &hs.to_matrix).await;
    let opened = hs
        .to_matrix
        .wait(routes.len(), Duration::from_secs(120))
        .await;
    if opened.arrived < routes.len() {
        return Err(format!(
            "only {} of {} portals opened ({failed} sends failed)",
            opened.arrived,
            routes.len()
        ));
    }
    let portals = portal_map(&hs, &logins, &peer_names)?;
    Ok(Bed {
        bridge,
        hs,
        peers,
        seq,
        portals,
        logins,
        log,
        config,
        as_port,
        sandbox_port,
        tasks: vec![server, pusher],
        sandbox,
    })
}

/// Every (peer → bridge user) pair, peers varying fastest so consecutive messages go to
/// different portals.
pub fn all_routes(logins: &[String], peers: usize) -> Vec<Route> {
    let mut routes = Vec::new();
    for to in logins {
        for peer in 0..peers {
            routes.push(Route {
                peer,
                to: to.clone(),
            });
        }
    }
    routes
}

/// The portal room of each (login, peer): made with the Matrix user invited, written in by
/// the peer's ghost.
fn portal_map(
    hs: &Homeserver,
    logins: &[String],
    peers: &[String],
) -> Result<HashMap<(usize, usize), String>, String> {
    let rooms = lock(&hs.rooms).clone();
    let senders = lock(&hs.senders).clone();
    let mut map = HashMap::new();
    for (room, sender) in &senders {
        let Some(info) = rooms.get(room) else {
            continue;
        };
        let Some(i) = (0..logins.len()).find(|i| info.members.contains(&mx_user(*i))) else {
            continue;
        };
        let Some(j) = peers.iter().position(|p| ghost(p) == *sender) else {
            continue;
        };
        map.insert((i, j), room.clone());
    }
    if map.len() < logins.len() * peers.len() {
        return Err(format!(
            "found {} portal rooms, expected {}",
            map.len(),
            logins.len() * peers.len()
        ));
    }
    Ok(map)
}
