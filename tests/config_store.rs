//! Config loading (example file, error reports, tokens, registration) and the sled store
//! (every tree, durability across reopen, dedup scoping, inbox replay, schema checks).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imbridge::config::{
    Config, LoadOptions, LogFormat, PermissionLevel, Registration, Secret, TokenSource,
    AS_TOKEN_ENV, HS_TOKEN_ENV,
};
use imbridge::store::{
    GhostRecord, LoginRecord, MessageRecord, Migration, OpenOptions, PortalRecord, ReactionRecord,
    Store, StoreError, TxnScope,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A temporary folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("imbridge-test-{name}-{pid}-{nanos}"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.yaml.example")
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn token_env(name: &str) -> Option<String> {
    match name {
        AS_TOKEN_ENV => Some("env-as-token".into()),
        HS_TOKEN_ENV => Some("env-hs-token".into()),
        _ => None,
    }
}

const STRICT: LoadOptions<'static> = LoadOptions {
    require_tokens: true,
    env: &no_env,
};

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn tok(token: &Option<Secret>) -> Option<&str> {
    token.as_ref().map(Secret::expose)
}

/// Parses config text (tokens required, no environment), with `base` for relative paths.
fn parse(text: &str, base: &Path) -> Result<Config, imbridge::config::ConfigErrors> {
    Config::from_yaml_str(text, "t.yaml", base, &STRICT)
}

// ---- config --------------------------------------------------------------------------------

#[test]
fn example_loads_with_env_tokens() {
    let opts = LoadOptions {
        require_tokens: true,
        env: &token_env,
    };
    let cfg = Config::load_with(example_path(), &opts)
        .unwrap_or_else(|e| panic!("the example must load:\n{e}"));
    assert_eq!(cfg.homeserver.address, "http://127.0.0.1:8008");
    assert_eq!(cfg.homeserver.domain, "example.org");
    assert_eq!(
        (cfg.appservice.port, cfg.appservice.id.as_str()),
        (29330, "easemob")
    );
    assert_eq!(cfg.bot_mxid(), "@easemobbot:example.org");
    assert_eq!(cfg.appservice.username_template, "easemob_{{.}}");
    assert!(cfg.appservice.ephemeral_events);
    assert_eq!(cfg.bridge.command_prefix, "!em");
    assert_eq!(cfg.bridge.ghost_name_suffix(), " (Easemob)");
    assert_eq!(cfg.bridge.format_displayname("Alice"), "Alice (Easemob)");
    let net = cfg.network.easemob().expect("the example is for Easemob");
    assert_eq!(cfg.network.section_path, "network.easemob");
    assert_eq!(net.app_key, "org#app");
    assert_eq!(net.rest_url.as_deref(), Some("http://127.0.0.1:18080"));
    assert_eq!(
        net.websocket_url.as_deref(),
        Some("ws://127.0.0.1:18080/websocket")
    );
    assert_eq!(cfg.logging.env_filter(), "info,imbridge::network=info");
    // Relative paths are relative to the config file's folder.
    let dir = example_path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    assert_eq!(cfg.database.path, dir.join("./imbridge.sled"));
    assert_eq!(
        cfg.appservice.registration,
        Some(dir.join("registration.yaml"))
    );
    assert_eq!(tok(&cfg.appservice.as_token), Some("env-as-token"));
    assert_eq!(
        cfg.appservice.as_token_source,
        TokenSource::Env(AS_TOKEN_ENV.into())
    );
    assert!(cfg.validate().is_ok());
    // Tokens never show in Debug output.
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("env-as-token") && !debug.contains("env-hs-token"));
}

const BROKEN: &str = r#"homeserver:
  address: ftp://x
  domain: ""
appservice:
  address: http://127.0.0.1:29330
  port: 0
  id: easemob
  bot:
    username: Easemob Bot
  as_token: a
  hs_token: b
  username_template: "easemob_"
  colour: blue
  ephemeral_events: maybe
bridge:
  permissions:
    "*": superuser
    "not a server!": user
    "@ok:example.org": admin
network:
  type: tencent
  app_key: noHash
"#;

#[test]
fn broken_file_reports_every_problem_with_its_line() {
    let err = Config::from_yaml_str(BROKEN, "broken.yaml", Path::new("/tmp"), &STRICT)
        .expect_err("broken");
    let expect = [
        ("homeserver.address", 2),
        ("homeserver.domain", 3),
        ("appservice.port", 6),
        ("appservice.bot.username", 9),
        ("appservice.username_template", 12),
        ("appservice.colour", 13),
        ("appservice.ephemeral_events", 14),
        ("bridge.permissions.\"*\"", 17),
        ("bridge.permissions.\"not a server!\"", 18),
        ("network", 20),
        ("network.type", 21),
        ("network.app_key", 22),
    ];
    for (path, line) in expect {
        let p = err
            .find(path)
            .unwrap_or_else(|| panic!("nothing about {path}:\n{err}"));
        assert_eq!(p.line, Some(line), "{path}: {}", p.message);
    }
    assert!(err.find("bridge.permissions.\"@ok:example.org\"").is_none());
    let text = err.to_string();
    let port = "broken.yaml:6: appservice.port: must be between 1 and 65535";
    assert!(text.contains(port), "{text}");
    assert!(
        text.contains("broken.yaml:13: appservice.colour: unknown key"),
        "{text}"
    );
    let lines: Vec<usize> = err.problems.iter().filter_map(|p| p.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "sorted by line");
}

#[test]
fn syntax_error_reports_its_line_and_path() {
    let text = "homeserver:\n  address: http://x\n  domain: example.org\nappservice:\n  bot:\n    username: [oops\n  port: 1\n";
    let err = Config::from_yaml_str(text, "bad.yaml", Path::new("."), &STRICT).expect_err("syntax");
    assert_eq!(err.problems.len(), 1, "{err}");
    let p = &err.problems[0];
    assert!(p.message.contains("syntax"), "{}", p.message);
    let line = p.line.expect("a line");
    assert!((6..=7).contains(&line), "line {line}: {err}");
    assert!(p.path.starts_with("appservice"), "{}", p.path);
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("bad.yaml:{line}: appservice")),
        "{shown}"
    );
}

fn minimal(extra_appservice: &str) -> String {
    format!(
        "homeserver:\n  address: https://matrix.example.org\n  domain: example.org\n\
         appservice:\n  address: http://localhost:29330\n  port: 29330\n  id: em\n\
         \x20 bot:\n    username: embot\n  username_template: \"em_{{{{.}}}}\"\n{extra_appservice}\
         bridge:\n  permissions:\n    \"*\": relay\n    example.org: user\n    other.org: commands\n\
         \x20   \"@boss:other.org\": admin\n    \"@banned:example.org\": block\n\
         network:\n  type: easemob\n  app_key: a#b\n  dns_url: https://dns.example.com/x\n"
    )
}

#[test]
fn logging_formats_default_to_auto_and_unknown_ones_name_their_line() {
    let base = Path::new("/tmp");
    let tokens = "  as_token: a\n  hs_token: h\n";
    let cfg = parse(&minimal(tokens), base).expect("minimal config");
    assert_eq!(cfg.logging.format, LogFormat::Auto);
    for (word, format) in [
        ("auto", LogFormat::Auto),
        ("pretty", LogFormat::Pretty),
        ("journald", LogFormat::Journald),
        ("json", LogFormat::Json),
    ] {
        let text = format!("{}logging:\n  format: {word}\n", minimal(tokens));
        let cfg = parse(&text, base).expect("known format");
        assert_eq!(cfg.logging.format, format, "{word}");
    }
    let text = format!("{}logging:\n  format: syslog\n", minimal(tokens));
    let err = parse(&text, base).expect_err("unknown format");
    let problem = err.find("logging.format").expect("the format is named");
    let lines = minimal(tokens).lines().count();
    assert_eq!(problem.line, Some(lines + 2), "{err}");
    assert!(problem.message.contains("journald"), "{}", problem.message);
}

#[test]
fn process_env_overrides_tokens() -> TestResult {
    let tmp = TempDir::new("procenv");
    let path = tmp.join("bridge.yaml");
    std::fs::write(&path, minimal("  as_token: inline-as\n"))?;
    // The only test touching the process environment, and only this name.
    std::env::set_var(HS_TOKEN_ENV, "process-hs");
    let loaded = Config::load(&path);
    std::env::remove_var(HS_TOKEN_ENV);
    let cfg = loaded?;
    assert_eq!(tok(&cfg.appservice.hs_token), Some("process-hs"));
    assert_eq!(tok(&cfg.appservice.as_token), Some("inline-as"));
    Ok(())
}

#[test]
fn permissions_resolve_most_specific_first() -> TestResult {
    let text = minimal("  as_token: a\n  hs_token: h\n");
    let cfg = parse(&text, Path::new("."))?;
    use PermissionLevel::*;
    for (mxid, level) in [
        ("@alice:example.org", User),
        ("@banned:example.org", Block),
        ("@boss:other.org", Admin),
        ("@carol:other.org", Commands),
        ("@dave:elsewhere.net", Relay),
        ("not an mxid", Relay),
    ] {
        assert_eq!(cfg.permission_for(mxid), level, "{mxid}");
    }
    assert!(Block < Relay && Relay < Commands && Commands < User && User < Admin);
    // Without "*", strangers are blocked.
    let cfg = parse(&text.replace("    \"*\": relay\n", ""), Path::new("."))?;
    assert_eq!(cfg.permission_for("@dave:elsewhere.net"), Block);
    Ok(())
}

#[test]
fn ghost_localparts_round_trip() -> TestResult {
    let cfg = parse(&minimal("  as_token: a\n  hs_token: h\n"), Path::new("."))?;
    assert_eq!(cfg.ghost_localpart("alice_1"), "em_alice_1");
    assert_eq!(cfg.ghost_localpart("Bob"), "em_=42ob");
    assert_eq!(cfg.ghost_mxid("x y"), "@em_x=20y:example.org");
    let ids = [
        "alice",
        "Bob",
        "a=b",
        "x y",
        "用户",
        "a/b.c_d-e",
        "UP+plus@at:colon",
        "=3d",
    ];
    for id in ids {
        let local = cfg.ghost_localpart(id);
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/".contains(&b);
        assert!(local.bytes().all(allowed), "{local}");
        assert_eq!(
            cfg.remote_id_from_localpart(&local).as_deref(),
            Some(id),
            "{local}"
        );
        let mxid = cfg.ghost_mxid(id);
        assert!(cfg.is_ghost_or_bot(&mxid));
        assert_eq!(cfg.remote_id_from_mxid(&mxid).as_deref(), Some(id));
    }
    assert!(cfg.is_ghost_or_bot("@embot:example.org"));
    assert!(!cfg.is_ghost_or_bot("@alice:example.org"));
    assert!(!cfg.is_ghost_or_bot("@em_alice:other.org"));
    assert_eq!(cfg.remote_id_from_localpart("em_"), None);
    assert_eq!(cfg.remote_id_from_localpart("em_=61"), None); // not canonical
    assert_eq!(cfg.remote_id_from_localpart("other"), None);
    Ok(())
}

#[test]
fn generated_registration_is_private_and_feeds_the_config() -> TestResult {
    let tmp = TempDir::new("reg");
    let cfg_path = tmp.join("bridge.yaml");
    std::fs::copy(example_path(), &cfg_path)?;
    let opts = LoadOptions {
        require_tokens: false,
        env: &no_env,
    };
    let cfg = Config::load_with(&cfg_path, &opts)?;
    assert!(cfg.appservice.as_token.is_none());

    let reg = Registration::generate(&cfg);
    let out = cfg
        .appservice
        .registration
        .clone()
        .expect("registration path");
    reg.write(&out)?;
    assert_eq!(mode_of(&out), 0o600);
    assert_eq!(
        (reg.as_token.expose().len(), reg.hs_token.expose().len()),
        (64, 64)
    );
    assert_ne!(reg.as_token, reg.hs_token);
    assert!(imbridge::config::is_valid_localpart(&reg.sender_localpart));
    assert_ne!(reg.sender_localpart, "easemobbot");
    let text = std::fs::read_to_string(&out)?;
    for needle in [
        "receive_ephemeral: true",
        "de.sorunome.msc2409.push_ephemeral: true",
        "rate_limited: false",
        "url: http://127.0.0.1:29330",
        "id: easemob",
    ] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
    let back = Registration::load(&out)?;
    assert_eq!(back, reg);
    let users: Vec<&str> = back
        .namespaces
        .users
        .iter()
        .map(|n| n.regex.as_str())
        .collect();
    assert_eq!(
        users,
        ["^@easemobbot:example\\.org$", "^@easemob_.*:example\\.org$"]
    );
    assert!(back.namespaces.users.iter().all(|n| n.exclusive));
    assert!(!format!("{reg:?}").contains(reg.as_token.expose()));

    // The daemon now finds the tokens without any copying.
    let cfg = Config::load_with(&cfg_path, &STRICT)?;
    assert_eq!(cfg.appservice.as_token.as_ref(), Some(&reg.as_token));
    assert_eq!(cfg.appservice.hs_token.as_ref(), Some(&reg.hs_token));
    assert_eq!(
        cfg.appservice.as_token_source,
        TokenSource::Registration(out.clone())
    );
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());

    Ok(())
}

// ---- store ---------------------------------------------------------------------------------

fn login(mxid: &str) -> LoginRecord {
    LoginRecord {
        mxid: mxid.into(),
        network: "easemob".into(),
        remote_id: "alice".into(),
        secrets: serde_json::json!({"password": "hunter2", "resource": "dev1"}),
        management_room: Some("!mgmt:example.org".into()),
        created_ms: 1,
    }
}

fn ghost(remote: &str) -> GhostRecord {
    GhostRecord {
        remote_id: remote.into(),
        mxid: format!("@easemob_{remote}:example.org"),
        displayname: Some("Bob (Easemob)".into()),
        avatar_url: Some("https://a/b.png".into()),
        avatar_mxc: None,
        registered: true,
        updated_ms: 5,
    }
}

fn portal(key: &str, room: &str) -> PortalRecord {
    PortalRecord {
        key: key.into(),
        room_id: room.into(),
        kind: "group".into(),
        name: Some("Team".into()),
        topic: None,
        avatar_mxc: None,
        receivers: vec!["@alice:example.org".into()],
        is_direct: false,
        created_ms: 7,
    }
}

fn message(remote: &str, event: &str, part: u32) -> MessageRecord {
    MessageRecord {
        room_id: "!room:example.org".into(),
        event_id: event.into(),
        remote_id: remote.into(),
        sender: "bob".into(),
        timestamp_ms: 9,
        part,
    }
}

#[test]
fn every_tree_round_trips_and_survives_reopen() -> TestResult {
    let tmp = TempDir::new("store");
    let path = tmp.join("db.sled");
    let alice = "@alice:example.org";
    {
        let store = Store::open(&path)?;
        store.put_login(&login(alice))?;
        store.put_login(&login("@bob:example.org"))?;
        assert!(store.delete_login("@bob:example.org")?);
        assert!(!store.delete_login("@bob:example.org")?);
        store.put_ghost(&ghost("bob"))?;
        store.put_portal(&portal("group:1", "!room:example.org"))?;
        store.put_message("group:1", &message("m1", "$e1", 0))?;
        store.put_kv("bot_profile_hash", "abc")?;
        store.mark_txn(&TxnScope::from_hs_token("hs"), "17", &[1; 16])?;
        store.enqueue("matrix", b"one")?;
        let secrets_debug = format!("{:?}", login("@x:y"));
        assert!(!secrets_debug.contains("hunter2"), "{secrets_debug}");
        assert!(store.size_on_disk()? > 0);
        store.flush()?;
    }
    let store = Store::open(&path)?;
    assert_eq!(store.list_logins()?, vec![login(alice)]);
    assert_eq!(store.get_login(alice)?, Some(login(alice)));
    assert_eq!(store.get_ghost("bob")?, Some(ghost("bob")));
    assert_eq!(store.list_ghosts()?.len(), 1);
    assert_eq!(
        store.get_portal("group:1")?,
        Some(portal("group:1", "!room:example.org"))
    );
    let by_room = store.portal_by_room("!room:example.org")?;
    assert_eq!(by_room.map(|p| p.key).as_deref(), Some("group:1"));
    assert_eq!(
        store.message_by_remote("group:1", "m1")?,
        Some(message("m1", "$e1", 0))
    );
    assert_eq!(store.get_kv("bot_profile_hash")?.as_deref(), Some("abc"));
    assert_eq!(store.list_kv("bot_")?.len(), 1);
    assert!(store.seen_txn(&TxnScope::from_hs_token("hs"), "17", &[1; 16])?);
    assert_eq!(store.pending("matrix")?.len(), 1);
    assert_eq!(store.schema_version()?, imbridge::store::SCHEMA_VERSION);
    assert!(store.delete_ghost("bob")?);
    assert!(store.delete_kv("bot_profile_hash")?);
    assert_eq!(store.get_kv("bot_profile_hash")?, None);
    Ok(())
}

#[test]
fn message_map_works_both_ways() -> TestResult {
    let tmp = TempDir::new("msgs");
    let store = Store::open(tmp.join("db"))?;
    store.put_message("group:1", &message("m1", "$caption", 0))?;
    store.put_message("group:1", &message("m1", "$image", 1))?;
    store.put_message("group:2", &message("m1", "$elsewhere", 0))?;
    let (key, rec) = store.message_by_event("$image")?.expect("found");
    assert_eq!(
        (key.as_str(), rec.remote_id.as_str(), rec.part),
        ("group:1", "m1", 1)
    );
    let first = store.message_by_remote("group:1", "m1")?;
    assert_eq!(first.map(|m| m.event_id).as_deref(), Some("$caption"));
    let parts = store.message_parts("group:1", "m1")?;
    assert_eq!(parts.iter().map(|m| m.part).collect::<Vec<_>>(), vec![0, 1]);
    // Replacing a part's event drops the old event's entry.
    store.put_message("group:1", &message("m1", "$caption2", 0))?;
    assert!(store.message_by_event("$caption")?.is_none());
    assert!(store.message_by_event("$caption2")?.is_some());
    assert_eq!(store.delete_message("group:1", "m1")?, 2);
    assert!(store.message_by_event("$image")?.is_none());
    assert!(store.message_by_remote("group:1", "m1")?.is_none());
    assert!(store.message_by_event("$elsewhere")?.is_some());
    Ok(())
}

#[test]
fn txn_dedup_is_scoped_and_expires() -> TestResult {
    let tmp = TempDir::new("txns");
    let store = Store::open(tmp.join("db"))?;
    let old = TxnScope::from_hs_token("old-hs-token");
    let new = TxnScope::from_hs_token("new-hs-token");
    assert_ne!(old, new);
    assert!(!format!("{old:?}").contains("old-hs-token"));
    let fp = [1u8; 16];
    assert!(!store.seen_txn(&old, "1", &fp)?);
    store.mark_txn(&old, "1", &fp)?;
    store.mark_txn(&old, "1", &fp)?;
    assert!(store.seen_txn(&old, "1", &fp)?);
    assert!(
        !store.seen_txn(&new, "1", &fp)?,
        "a new registration starts afresh"
    );
    // The same id carrying other events (Synapse numbering again after a restart) is new;
    // marking it replaces the old mark.
    assert!(!store.seen_txn(&old, "1", &[2; 16])?);
    store.mark_txn(&old, "1", &[2; 16])?;
    assert!(store.seen_txn(&old, "1", &[2; 16])? && !store.seen_txn(&old, "1", &fp)?);

    // enqueue_events stores items and marks their event ids together; ids already queued
    // are skipped, items without an id always go in.
    let items = [(Some("$a"), b"a".to_vec()), (Some("$b"), b"b".to_vec())];
    assert_eq!(store.enqueue_events("matrix", &items)?.len(), 2);
    let again = [
        (Some("$b"), b"b".to_vec()),
        (Some("$c"), b"c".to_vec()),
        (None, b"receipt".to_vec()),
    ];
    assert_eq!(store.enqueue_events("matrix", &again)?.len(), 2);
    assert!(store.seen_event("$a")? && store.seen_event("$c")?);
    let pending: Vec<Vec<u8>> = store
        .pending("matrix")?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        pending,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec(),
            b"receipt".to_vec()
        ]
    );
    Ok(())
}

#[test]
fn inbox_keeps_order_acks_and_replays_after_reopen() -> TestResult {
    let tmp = TempDir::new("inbox");
    let path = tmp.join("db");
    let (a, batch) = {
        let store = Store::open(&path)?;
        let a = store.enqueue("matrix", vec![b'a'])?; // a Vec<u8> works too
        let b = store.enqueue("matrix", b"b")?;
        store.enqueue("remote", b"other queue")?;
        let batch = store.enqueue_batch("matrix", &[b"c".to_vec(), b"d".to_vec()])?;
        assert!(a < b && b < batch[0] && batch[0] < batch[1]);
        store.ack("matrix", b)?;
        (a, batch)
    };
    let store = Store::open(&path)?;
    let pending = store.pending("matrix")?;
    let items: Vec<&[u8]> = pending.iter().map(|(_, v)| v.as_slice()).collect();
    assert_eq!(items, [&b"a"[..], b"c", b"d"]);
    assert_eq!((pending[0].0, pending[1].0), (a, batch[0]));
    assert_eq!(store.pending("remote")?.len(), 1);
    // New items after a restart still sort after the old ones.
    assert!(store.enqueue("matrix", b"e")? > batch[1]);
    for (seq, _) in store.pending("matrix")? {
        store.ack("matrix", seq)?;
    }
    assert!(store.pending("matrix")?.is_empty());
    Ok(())
}

#[test]
fn reaction_map_works_both_ways_and_survives_reopen() -> TestResult {
    let tmp = TempDir::new("reactions");
    let path = tmp.join("db");
    let record = |event: &str, sender: &str, key: &str| ReactionRecord {
        room_id: "!r:x".into(),
        event_id: event.into(),
        target: "m1".into(),
        sender: sender.into(),
        key: key.into(),
    };
    {
        let store = Store::open(&path)?;
        store.put_reaction("direct:alice:bob", &record("$a", "bob", "👍"))?;
        store.put_reaction("direct:alice:bob", &record("$b", "alice", "👍"))?;
        store.put_reaction("direct:alice:bob", &record("$c", "bob", "❤️"))?;
    }
    let store = Store::open(&path)?;
    assert_eq!(
        store.reaction("direct:alice:bob", "m1", "bob", "👍")?,
        Some(record("$a", "bob", "👍"))
    );
    let (portal, found) = store.reaction_by_event("$b")?.expect("by event");
    assert_eq!(
        (portal.as_str(), found),
        ("direct:alice:bob", record("$b", "alice", "👍"))
    );
    assert_eq!(
        store.reaction("group:g", "m1", "bob", "👍")?,
        None,
        "per portal"
    );
    let gone = store.delete_reaction("direct:alice:bob", "m1", "bob", "👍")?;
    assert_eq!(gone, Some(record("$a", "bob", "👍")));
    assert_eq!(
        store.reaction_by_event("$a")?,
        None,
        "both directions removed"
    );
    assert!(store.reaction_by_event("$c")?.is_some(), "others kept");
    assert_eq!(
        store.delete_reaction("direct:alice:bob", "m1", "bob", "👍")?,
        None
    );
    Ok(())
}

#[test]
fn inbox_reads_after_a_position_counts_and_clears() -> TestResult {
    let tmp = TempDir::new("inbox-after");
    let path = tmp.join("db");
    let seqs = {
        let store = Store::open(&path)?;
        // Queue names that are prefixes of each other stay apart.
        store.enqueue("remote:@a:x", b"other")?;
        let seqs: Vec<u64> = (0u8..5)
            .map(|i| store.enqueue_unflushed("remote:@a", [i]))
            .collect::<Result<_, _>>()?;
        store.enqueue("remote:@a:x", b"other again")?;
        store.flush()?; // one flush makes the unflushed batch durable
        seqs
    };
    let store = Store::open(&path)?;
    assert_eq!(store.pending_count("remote:@a"), 5);
    let first = store.pending_after("remote:@a", None, 2)?;
    assert_eq!(
        first,
        vec![(seqs[0], vec![0u8]), (seqs[1], vec![1u8])],
        "limit respected, oldest first"
    );
    let rest = store.pending_after("remote:@a", Some(seqs[1]), 10)?;
    let values: Vec<u8> = rest.iter().map(|(_, v)| v[0]).collect();
    assert_eq!(values, [2, 3, 4]);
    assert!(store
        .pending_after("remote:@a", Some(seqs[4]), 10)?
        .is_empty());
    assert!(store
        .pending_after("remote:@a", Some(u64::MAX), 10)?
        .is_empty());
    assert_eq!(store.clear_queue("remote:@a")?, 5);
    assert_eq!(store.pending_count("remote:@a"), 0);
    assert_eq!(store.pending_count("remote:@a:x"), 2);
    Ok(())
}
fn bump(store: &Store) -> Result<(), StoreError> {
    store.put_kv("migrated", "yes")
}

#[test]
fn schema_versions_migrate_and_newer_databases_are_refused() -> TestResult {
    let tmp = TempDir::new("schema");
    let path = tmp.join("db");
    drop(Store::open(&path)?);
    let steps = [Migration {
        from: 1,
        to: 2,
        run: bump,
    }];
    let v2 = OpenOptions {
        schema_version: 2,
        migrations: &steps,
        ..OpenOptions::default()
    };
    {
        let store = Store::open_with(&path, &v2)?;
        assert_eq!(store.schema_version()?, 2);
        assert_eq!(store.get_kv("migrated")?.as_deref(), Some("yes"));
    }
    let err = Store::open(&path).expect_err("version 2 is too new for this build");
    let too_new = matches!(
        err,
        StoreError::SchemaTooNew {
            found: 2,
            supported: 1,
            ..
        }
    );
    assert!(too_new, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("schema version 2") && text.contains("newer imbridge"),
        "{text}"
    );
    // A missing step is an error too, not a silent upgrade.
    let v3 = OpenOptions {
        schema_version: 3,
        ..v2
    };
    let err = Store::open_with(&path, &v3).expect_err("no step 2 -> 3");
    assert!(
        matches!(err, StoreError::Migration { from: 2, .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn database_folder_is_private() -> TestResult {
    let tmp = TempDir::new("perms");
    let path = tmp.join("nested").join("db");
    let store = Store::open(&path)?;
    store.put_login(&login("@alice:example.org"))?;
    assert_eq!(mode_of(&path), 0o700);
    for entry in std::fs::read_dir(&path)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            assert_eq!(mode_of(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }
    drop(store);
    // An existing folder with loose permissions is tightened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    let _store = Store::open(&path)?;
    assert_eq!(mode_of(&path), 0o700);
    Ok(())
}
