//! Config loading (example file, error reports, tokens, registration, the database section).
//! The store's own tests are in `tests/store.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imbridge::config::{
    Config, DatabaseKind, LoadOptions, LogFormat, PermissionLevel, Registration, Secret,
    TokenSource, AS_TOKEN_ENV, DEFAULT_MAX_CONNECTIONS, HS_TOKEN_ENV,
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
  type: pager
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
fn database_section_picks_a_backend_and_hides_the_uri_password() {
    let base = Path::new("/tmp");
    let tokens = "  as_token: a\n  hs_token: h\n";
    let cfg = parse(&minimal(tokens), base).expect("minimal config");
    assert_eq!(cfg.database.kind, DatabaseKind::Sled);
    assert_eq!(cfg.database.path, base.join("imbridge.sled"));
    assert_eq!(cfg.database.max_connections, DEFAULT_MAX_CONNECTIONS);
    let text = format!(
        "{}database:\n  type: postgres\n  uri: postgres://u:s3cret@db/imb\n  \
         max_connections: 3\n",
        minimal(tokens)
    );
    let cfg = parse(&text, base).expect("postgres config");
    assert_eq!(cfg.database.kind, DatabaseKind::Postgres);
    assert_eq!(cfg.database.max_connections, 3);
    let uri = cfg.database.uri.clone().expect("uri");
    assert_eq!(uri.expose(), "postgres://u:s3cret@db/imb");
    assert!(!format!("{:?}", cfg.database).contains("s3cret"));

    let lines = minimal(tokens).lines().count();
    let text = format!("{}database:\n  type: postgres\n", minimal(tokens));
    let err = parse(&text, base).expect_err("no uri");
    let problem = err.find("database.uri").expect("the uri is named");
    assert_eq!(problem.line, Some(lines + 1), "{err}");
    let text = format!(
        "{}database:\n  type: mysql\n  uri: mysql://u:s3cret@db\n  max_connections: 0\n",
        minimal(tokens)
    );
    let err = parse(&text, base).expect_err("bad database section");
    assert_eq!(
        err.find("database.type").map(|p| p.line),
        Some(Some(lines + 2))
    );
    assert_eq!(
        err.find("database.uri").map(|p| p.line),
        Some(Some(lines + 3))
    );
    assert!(err.find("database.max_connections").is_some(), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
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
