//! Unit tests of config loading details (the main cases are in `tests/config_store.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

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
        let dir = std::env::temp_dir().join(format!("imbridge-unit-{name}-{pid}-{nanos}"));
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

fn no_env(_: &str) -> Option<String> {
    None
}

const STRICT: LoadOptions<'static> = LoadOptions {
    require_tokens: true,
    env: &no_env,
};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.yaml.example")
}

fn tok(token: &Option<Secret>) -> Option<&str> {
    token.as_ref().map(Secret::expose)
}

fn parse(text: &str, base: &Path) -> Result<Config, ConfigErrors> {
    Config::from_yaml_str(text, "t.yaml", base, &STRICT)
}

fn minimal(extra_appservice: &str) -> String {
    format!(
        "homeserver:\n  address: https://matrix.example.org\n  domain: example.org\n\
         appservice:\n  address: http://localhost:29330\n  port: 29330\n  id: em\n\
         \x20 bot:\n    username: embot\n  username_template: \"em_{{{{.}}}}\"\n{extra_appservice}\
         network:\n  type: easemob\n  easemob:\n    app_key: a#b\n    dns_url: https://dns.example.com/x\n"
    )
}

#[test]
fn parent_of_quoted_paths() {
    let p = "bridge.permissions.\"a.b\"";
    assert_eq!(parent_split(p).map(|i| &p[..i]), Some("bridge.permissions"));
    assert_eq!(parent_split("a"), None);
}

#[test]
fn example_without_registration_says_how_to_get_one() -> TestResult {
    let tmp = TempDir::new("noreg");
    let path = tmp.join("bridge.yaml");
    std::fs::copy(example_path(), &path)?;
    let err = Config::load_with(&path, &STRICT).expect_err("no tokens anywhere");
    let p = err
        .find("appservice.registration")
        .expect("registration problem");
    assert!(p.message.contains("generate-registration"), "{}", p.message);
    let text = std::fs::read_to_string(&path)?;
    let line = text
        .lines()
        .position(|l| l == "  registration: registration.yaml");
    assert_eq!(p.line, line.map(|l| l + 1));
    Ok(())
}

#[test]
fn missing_keys_are_reported_at_their_section() {
    let text = "homeserver:\n  domain: example.org\nnetwork:\n  type: easemob\n";
    let err = parse(text, Path::new(".")).expect_err("incomplete");
    let p = err.find("homeserver.address").expect("address missing");
    assert_eq!(p.line, Some(1));
    assert!(p.message.contains("missing"));
    assert_eq!(
        err.find("network.easemob.app_key").and_then(|p| p.line),
        Some(3)
    );
    for path in [
        "appservice.port",
        "appservice.as_token",
        "appservice.hs_token",
    ] {
        assert!(err.find(path).is_some(), "{path}: {err}");
    }
}

#[test]
fn env_tokens_beat_inline_ones() -> TestResult {
    let text = minimal("  as_token: inline-as\n  hs_token: inline-hs\n");
    let env = |name: &str| (name == AS_TOKEN_ENV).then(|| "from-env".to_string());
    let opts = LoadOptions {
        require_tokens: true,
        env: &env,
    };
    let cfg = Config::from_yaml_str(&text, "t.yaml", Path::new("."), &opts)?;
    assert_eq!(tok(&cfg.appservice.as_token), Some("from-env"));
    assert_eq!(tok(&cfg.appservice.hs_token), Some("inline-hs"));
    assert_eq!(cfg.appservice.hs_token_source, TokenSource::Inline);
    Ok(())
}

#[test]
fn token_files_are_read_and_trimmed() -> TestResult {
    let tmp = TempDir::new("tokfile");
    let file = tmp.join("as.tok");
    std::fs::write(&file, "  file-as\n")?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    let cfg = parse(&minimal("  as_token_file: as.tok\n  hs_token: h\n"), &tmp.0)?;
    assert_eq!(tok(&cfg.appservice.as_token), Some("file-as"));
    assert_eq!(
        cfg.appservice.as_token_source,
        TokenSource::File(file.clone())
    );
    assert!(cfg.warnings().is_empty());
    // A token file others can read is accepted with a warning.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let cfg = parse(&minimal("  as_token_file: as.tok\n  hs_token: h\n"), &tmp.0)?;
    assert_eq!(cfg.warnings().len(), 1);
    // Both forms at once is an error; so is an empty file.
    let text = minimal("  as_token_file: as.tok\n  as_token: x\n  hs_token: h\n");
    let err = parse(&text, &tmp.0).expect_err("ambiguous");
    assert!(err.find("appservice.as_token_file").is_some(), "{err}");
    std::fs::write(&file, "\n")?;
    let err = parse(&minimal("  as_token_file: as.tok\n  hs_token: h\n"), &tmp.0)
        .expect_err("empty token file");
    assert!(err.find("appservice.as_token_file").is_some(), "{err}");
    Ok(())
}

#[test]
fn registration_regenerates_and_must_match_the_id() -> TestResult {
    let tmp = TempDir::new("regen");
    let cfg_path = tmp.join("bridge.yaml");
    std::fs::copy(example_path(), &cfg_path)?;
    let cfg = Config::load_for_registration(&cfg_path)?;
    let out = tmp.join("registration.yaml");
    let first = Registration::generate(&cfg);
    first.write(&out)?;
    // Regenerating replaces the file (0600 again, even over a looser one) with new tokens.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644))?;
    Registration::generate(&cfg).write(&out)?;
    let mode = std::fs::metadata(&out)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_ne!(Registration::load(&out)?.as_token, first.as_token);
    // No stray temporary files are left next to it.
    assert_eq!(std::fs::read_dir(&tmp.0)?.count(), 2);
    // A registration made for another appservice id is refused.
    let edited = std::fs::read_to_string(&cfg_path)?.replace("  id: easemob\n", "  id: other\n");
    std::fs::write(&cfg_path, edited)?;
    let err = Config::load_with(&cfg_path, &STRICT).expect_err("id mismatch");
    let p = err
        .find("appservice.registration")
        .expect("mismatch reported");
    assert!(p.message.contains("\"easemob\""), "{}", p.message);
    Ok(())
}

#[test]
fn ephemeral_events_off_clears_both_registration_keys() -> TestResult {
    let text = minimal("  as_token: a\n  hs_token: h\n  ephemeral_events: false\n");
    let reg = Registration::generate(&parse(&text, Path::new("."))?);
    assert!(!reg.receive_ephemeral && !reg.push_ephemeral);
    Ok(())
}

#[test]
fn bot_inside_ghost_namespace_is_refused() {
    let text =
        minimal("  as_token: a\n  hs_token: h\n").replace("username: embot", "username: em_bot");
    let err = parse(&text, Path::new(".")).expect_err("bot is a ghost");
    assert!(err.find("appservice.bot.username").is_some(), "{err}");
}

#[test]
fn generate_registration_writes_where_the_config_looks() -> TestResult {
    let tmp = TempDir::new("genreg");
    let cfg_path = tmp.join("bridge.yaml");
    std::fs::copy(example_path(), &cfg_path)?;
    let opts = LoadOptions {
        require_tokens: false,
        env: &no_env,
    };
    let cfg = Config::load_with(&cfg_path, &opts)?;
    let done = generate_registration(&cfg, None)?;
    assert_eq!(done.path, tmp.join("registration.yaml"));
    assert!(done.notes.is_empty(), "{:?}", done.notes);
    let cfg = Config::load_with(&cfg_path, &STRICT)?;
    assert_eq!(
        cfg.appservice.hs_token.as_ref(),
        Some(&done.registration.hs_token)
    );
    // Written elsewhere, or shadowed by an environment token: the notes say so.
    let env = |name: &str| (name == HS_TOKEN_ENV).then(|| "env".to_string());
    let opts = LoadOptions {
        require_tokens: false,
        env: &env,
    };
    let cfg = Config::load_with(&cfg_path, &opts)?;
    let done = generate_registration(&cfg, Some(&tmp.join("other.yaml")))?;
    assert_eq!(done.notes.len(), 2, "{:?}", done.notes);
    assert!(done.notes[1].contains(HS_TOKEN_ENV), "{:?}", done.notes);
    Ok(())
}

#[test]
fn double_puppet_secrets_and_servers_are_checked_with_lines() {
    let good = format!(
        "{}double_puppet:\n  secrets:\n    example.org: \"as_token:abc\"\n  servers:\n    \
         other.org: https://matrix.other.org/\n",
        minimal("  as_token: a\n  hs_token: h\n")
    );
    let cfg = match parse(&good, Path::new(".")) {
        Ok(cfg) => cfg,
        Err(e) => panic!("valid double_puppet section refused: {e}"),
    };
    let secret = cfg
        .double_puppet
        .secrets
        .get("example.org")
        .map(Secret::expose);
    assert_eq!(secret, Some("as_token:abc"));
    assert_eq!(
        cfg.double_puppet
            .servers
            .get("other.org")
            .map(String::as_str),
        Some("https://matrix.other.org")
    );
    assert!(
        !format!("{cfg:?}").contains("as_token:abc"),
        "secret in Debug"
    );

    let bad = format!(
        "{}double_puppet:\n  secrets:\n    example.org: shared-secret\n  servers:\n    \
         other.org: ftp://x\n  method: magic\n",
        minimal("  as_token: a\n  hs_token: h\n")
    );
    let err = parse(&bad, Path::new(".")).expect_err("bad double_puppet section");
    let first = bad
        .lines()
        .position(|l| l.contains("shared-secret"))
        .map(|l| l + 1);
    let p = err
        .find("double_puppet.secrets.\"example.org\"")
        .expect("secret problem");
    assert_eq!(p.line, first);
    assert!(p.message.contains("as_token:"), "{}", p.message);
    assert!(
        err.find("double_puppet.servers.\"other.org\"").is_some(),
        "{err}"
    );
    assert!(err.find("double_puppet.method").is_some(), "{err}");
}
#[test]
fn provisioning_secret_is_optional_long_and_redacted() {
    let base = minimal("  as_token: a\n  hs_token: h\n");
    let cfg = match parse(&base, Path::new(".")) {
        Ok(cfg) => cfg,
        Err(e) => panic!("minimal config refused: {e}"),
    };
    assert_eq!(cfg.provisioning, ProvisioningConfig::default());
    assert!(cfg.provisioning.shared_secret.is_none() && cfg.provisioning.allow_openid);

    let good = format!(
        "{base}provisioning:\n  shared_secret: prov-secret-0123456789\n  allow_openid: false\n"
    );
    let cfg = match parse(&good, Path::new(".")) {
        Ok(cfg) => cfg,
        Err(e) => panic!("valid provisioning section refused: {e}"),
    };
    assert_eq!(
        tok(&cfg.provisioning.shared_secret),
        Some("prov-secret-0123456789")
    );
    assert!(!cfg.provisioning.allow_openid);
    assert!(
        !format!("{cfg:?}").contains("prov-secret"),
        "secret in Debug"
    );

    let short = format!("{base}provisioning:\n  shared_secret: short\n");
    let err = parse(&short, Path::new(".")).expect_err("short secret");
    let p = err
        .find("provisioning.shared_secret")
        .expect("secret problem");
    assert!(p.message.contains("16"), "{}", p.message);
    assert!(!p.message.contains("short"), "secret in the message");
    let line = short
        .lines()
        .position(|l| l.contains("shared_secret"))
        .map(|l| l + 1);
    assert_eq!(p.line, line);
}

#[path = "network_tests.rs"]
mod network_tests;

#[test]
fn leave_on_part_is_off_by_default_and_checked() -> TestResult {
    let base = minimal("  as_token: a\n  hs_token: h\n");
    assert!(!parse(&base, Path::new("."))?.bridge.leave_on_part);
    let on = format!("{base}bridge:\n  leave_on_part: true\n");
    assert!(parse(&on, Path::new("."))?.bridge.leave_on_part);
    let wrong = format!("{base}bridge:\n  leave_on_part: sometimes\n");
    let err = parse(&wrong, Path::new(".")).expect_err("not a bool");
    let p = err.find("bridge.leave_on_part").expect("reported");
    assert!(p.message.contains("true or false"), "{p:?}");
    Ok(())
}

#[test]
fn channel_queue_depth_defaults_to_1000_and_is_bounded() -> TestResult {
    let base = minimal("  as_token: a\n  hs_token: h\n");
    assert_eq!(
        parse(&base, Path::new("."))?.bridge.channel_queue_depth,
        1000
    );
    let small = format!("{base}bridge:\n  channel_queue_depth: 4\n");
    assert_eq!(parse(&small, Path::new("."))?.bridge.channel_queue_depth, 4);
    let zero = format!("{base}bridge:\n  channel_queue_depth: 0\n");
    let err = parse(&zero, Path::new(".")).expect_err("below 1");
    assert!(err.find("bridge.channel_queue_depth").is_some(), "{err:?}");
    Ok(())
}
