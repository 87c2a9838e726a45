//! The chaos run's test bed on a real Synapse: the sandbox and the bridge as child processes
//! (as for the stand-in), Synapse started by the project's scripts with server name `bench`
//! (so ids are those of the stand-in bed), a registered Matrix user per login who logs in
//! through the bot, and one portal per (login, peer) opened by the peer's first message
//! and joined by the Matrix user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::bridge::generate_registration;
use crate::common::matrix_user::MatrixUser;
use crate::common::synapse::Synapse;
use crate::homeserver::DOMAIN;
use crate::im::{self, Peers};
use crate::procs::{self, Proc, StoreChoice, PASSWORD};
use crate::setup::mx_user;
use crate::Settings;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;

/// Everything of a Synapse run; dropped in order: bridge, Synapse, sandbox.
pub struct SynapseBed {
    pub bridge: Proc,
    /// The Matrix user of each login, and their DM with the bot.
    pub users: Vec<MatrixUser>,
    pub dms: Vec<String>,
    pub peers: Peers,
    /// Portal room by (login index, peer index).
    pub portals: HashMap<(usize, usize), String>,
    pub logins: Vec<String>,
    pub log: PathBuf,
    pub config: PathBuf,
    pub as_port: u16,
    pub sandbox_port: u16,
    pub synapse: Synapse,
    /// The sandbox process, kept running until the bed is dropped.
    _sandbox: Proc,
}

/// The bridge bot.
pub fn bot() -> String {
    format!("@bot:{DOMAIN}")
}

/// Starts everything in `dir`, logs every login in and opens every portal.
pub async fn start(dir: &Path, store: &StoreChoice, s: &Settings) -> Result<SynapseBed, String> {
    let logins: Vec<String> = (0..s.logins).map(|i| format!("u{i}")).collect();
    let peer_names: Vec<String> = (0..s.peers).map(|j| format!("p{j}")).collect();
    let all: Vec<String> = logins.iter().chain(&peer_names).cloned().collect();
    let sandbox_port = procs::free_port();
    let sandbox = procs::start_sandbox(sandbox_port, &all)?;

    // The config needs Synapse's port and Synapse needs the registration made from the
    // config: write it once for the registration, again once Synapse listens.
    let token = format!("chaos{:0>59}", rand::random::<u32>());
    let as_port = procs::free_port();
    let config = procs::write_config(dir, 1, as_port, sandbox_port, &token, store)?;
    let registration = generate_registration(&config, dir);
    use_tokens(&registration, &token)?;
    let synapse_dir = dir.join("synapse");
    std::fs::create_dir_all(&synapse_dir).map_err(|e| e.to_string())?;
    std::fs::write(synapse_dir.join("server_name"), DOMAIN).map_err(|e| e.to_string())?;
    let synapse =
        tokio::task::block_in_place(|| Synapse::start(&synapse_dir, &[registration.as_path()]));
    let config = procs::write_config(dir, synapse.port, as_port, sandbox_port, &token, store)?;
    let log = dir.join("bridge.log");
    let bridge = tokio::task::block_in_place(|| procs::start_bridge(&config, &log, as_port))?;

    // Matrix users, each logged in through a DM with the bot.
    let users: Vec<MatrixUser> = tokio::task::block_in_place(|| {
        (0..s.logins)
            .map(|i| {
                let access = synapse.register(&format!("mx{i}"), "chaos-pw");
                MatrixUser::new(&synapse.url(), &mx_user(i), &access)
            })
            .collect()
    });
    let base = synapse.url();
    let dms = futures_util::future::join_all(
        users
            .iter()
            .zip(&logins)
            .map(|(user, login)| login_through_bot(&base, user, login)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    // Portals: peer by peer, a first message to every login, then every user joins the
    // new room it is invited to.
    let peers = im::connect(sandbox_port, &peer_names).await?;
    let mut known: Vec<Vec<String>> = dms.iter().map(|d| vec![d.clone()]).collect();
    let mut portals = HashMap::new();
    for (j, client) in peers.clients.iter().enumerate() {
        for login in &logins {
            let msg = OutgoingMessage::text(Conversation::single(login), "chaos open".to_owned());
            client
                .send(msg)
                .await
                .map_err(|e| format!("p{j} → {login}: {e:?}"))?;
        }
        let rooms = futures_util::future::join_all(
            users
                .iter()
                .zip(&known)
                .map(|(user, known)| user.accept_new_invite(known)),
        )
        .await;
        for (i, room) in rooms.into_iter().enumerate() {
            known[i].push(room.clone());
            portals.insert((i, j), room);
        }
    }
    Ok(SynapseBed {
        bridge,
        users,
        dms,
        peers,
        portals,
        logins,
        log,
        config,
        as_port,
        sandbox_port,
        synapse,
        _sandbox: sandbox,
    })
}

/// Puts `token` as the registration's `as_token` and `hs_token` (the config has it inline;
/// `generate-registration` makes new ones).
fn use_tokens(registration: &Path, token: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(registration).map_err(|e| e.to_string())?;
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((key @ ("as_token" | "hs_token"), _)) => format!("{key}: \"{token}\""),
            _ => l.to_owned(),
        })
        .collect();
    std::fs::write(registration, lines.join("\n") + "\n").map_err(|e| e.to_string())
}

/// A DM with the bot, `login <user> <password>` in it; the DM's id once the bot confirmed.
async fn login_through_bot(base: &str, user: &MatrixUser, login: &str) -> Result<String, String> {
    let dm = user.create_dm(&bot()).await;
    for _ in 0..150 {
        if user.members(&dm).await.contains(&bot()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let text = format!("login {login} {PASSWORD}");
    send_as(
        &reqwest::Client::new(),
        base,
        user.token(),
        &dm,
        &text,
        "login",
    )
    .await?;
    user.wait_body(&dm, |b| b.starts_with("Logged in as")).await;
    Ok(dm)
}

/// `PUT /rooms/{room}/send/m.room.message/{txn}` (`m.text`) on Synapse at `base` with the
/// access `token`, retried with the same transaction id (so Synapse de-duplicates) until it
/// is accepted or 120 s passed (a restarting Synapse). The event's id.
pub async fn send_as(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    room: &str,
    body: &str,
    txn: &str,
) -> Result<String, String> {
    let url = format!("{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}");
    let content = serde_json::json!({ "msgtype": "m.text", "body": body });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let sent = http
            .put(&url)
            .bearer_auth(token)
            .json(&content)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await;
        let why = match sent {
            Ok(r) if r.status().is_success() => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                return Ok(v["event_id"].as_str().unwrap_or_default().to_owned());
            }
            Ok(r) => format!("{}", r.status()),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() > deadline {
            return Err(format!("{room}: {why}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
