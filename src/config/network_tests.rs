//! `network:` in both forms: one section per network type, and the deprecated flat form;
//! misplaced and unknown keys reported with their lines.

use super::*;

const HEAD: &str = "homeserver:\n  address: http://localhost:8008\n  domain: example.org\n\
appservice:\n  address: http://localhost:29330\n  port: 29330\n  id: em\n  bot:\n    \
username: embot\n  username_template: \"em_{{.}}\"\n  as_token: a\n  hs_token: h\n";

/// Line of the first line after `HEAD`.
const FIRST: usize = 13;

fn load(network: &str) -> Result<Config, ConfigErrors> {
    let text = format!("{HEAD}{network}");
    Config::from_yaml_str(&text, "n.yaml", Path::new("."), &STRICT)
}

fn easemob(cfg: &Config) -> &EasemobConfig {
    cfg.network.easemob().expect("an easemob section")
}

#[test]
fn head_line_count() {
    assert_eq!(HEAD.lines().count(), FIRST - 1);
}

#[test]
fn section_per_network_type() -> TestResult {
    let cfg = load(
        "network:\n  type: easemob\n  easemob:\n    app_key: org#app\n    rest_url: http://r/\n    websocket_url: ws://w/websocket\n",
    )?;
    assert_eq!(cfg.network.kind, NetworkKind::Easemob);
    assert_eq!(cfg.network.section_path, "network.easemob");
    let e = easemob(&cfg);
    assert_eq!(e.app_key, "org#app");
    assert_eq!(e.rest_url.as_deref(), Some("http://r"));
    assert_eq!(e.websocket_url.as_deref(), Some("ws://w/websocket"));
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    Ok(())
}

#[test]
fn flat_form_loads_with_a_deprecation_warning() -> TestResult {
    let cfg = load("network:\n  type: easemob\n  app_key: org#app\n  dns_url: https://d/x\n")?;
    assert_eq!(cfg.network.section_path, "network");
    assert_eq!(easemob(&cfg).app_key, "org#app");
    assert_eq!(easemob(&cfg).dns_url.as_deref(), Some("https://d/x"));
    let w = cfg.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].line, Some(FIRST));
    assert!(w[0].message.contains("deprecated"), "{}", w[0].message);
    assert!(w[0].message.contains("network.easemob"), "{}", w[0].message);
    Ok(())
}

#[test]
fn flat_form_problems_keep_their_flat_paths() {
    let err = load("network:\n  type: easemob\n  app_key: nohash\n  rest_url: http://r\n")
        .expect_err("bad key, no websocket");
    assert_eq!(
        err.find("network.app_key").and_then(|p| p.line),
        Some(FIRST + 2)
    );
    // Missing: at its section's line.
    assert_eq!(
        err.find("network.websocket_url").and_then(|p| p.line),
        Some(FIRST)
    );
}

#[test]
fn keys_in_the_wrong_place_are_errors_with_lines() {
    let err = load(
        "network:\n  type: easemob\n  app_key: org#app\n  easemob:\n    app_key: org#app\n    sdk_app_id: 1400000000\n    dns_url: https://d/x\n",
    )
    .expect_err("misplaced keys");
    let flat = err
        .find("network.app_key")
        .expect("flat key beside the section");
    assert_eq!(flat.line, Some(FIRST + 2));
    assert!(flat.message.contains("network.easemob"), "{}", flat.message);
    let unknown = err
        .find("network.easemob.sdk_app_id")
        .expect("another network's key");
    assert_eq!(unknown.line, Some(FIRST + 5));
    assert!(
        unknown.message.contains("unknown key"),
        "{}",
        unknown.message
    );
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn section_problems_have_section_paths() {
    let err = load(
        "network:\n  type: easemob\n  easemob:\n    rest_url: http://r\n    websocket_url: http://not-ws\n",
    )
    .expect_err("no app key, wrong scheme");
    assert_eq!(
        err.find("network.easemob.app_key").and_then(|p| p.line),
        Some(FIRST + 2)
    );
    assert_eq!(
        err.find("network.easemob.websocket_url")
            .and_then(|p| p.line),
        Some(FIRST + 4)
    );
    let err = load("network:\n  type: easemob\n  easemob:\n    app_key: o#a\n")
        .expect_err("nowhere to connect");
    assert_eq!(
        err.find("network.easemob").and_then(|p| p.line),
        Some(FIRST + 2)
    );
}

#[test]
fn unknown_type_is_reported() {
    let err =
        load("network:\n  type: pager\n  easemob:\n    app_key: o#a\n    dns_url: https://d/x\n")
            .expect_err("unknown type");
    let p = err.find("network.type").expect("type problem");
    assert_eq!(p.line, Some(FIRST + 1));
    assert!(
        p.message.contains("known: easemob, tencent, jmessage"),
        "{}",
        p.message
    );
}

#[test]
fn tencent_section() -> TestResult {
    let cfg = load(
        "network:\n  type: tencent\n  tencent:\n    sdk_app_id: 1400000001\n    websocket_url: wss://wss.im.qcloud.com/\n    rest_url: https://console.tim.qq.com\n",
    )?;
    assert_eq!(cfg.network.kind, NetworkKind::Tencent);
    assert_eq!(cfg.network.section_path, "network.tencent");
    let t = cfg.network.tencent().expect("a tencent section");
    assert_eq!(t.sdk_app_id, 1_400_000_001);
    assert_eq!(t.websocket_url, "wss://wss.im.qcloud.com");
    assert_eq!(t.rest_url.as_deref(), Some("https://console.tim.qq.com"));
    assert_eq!(t.secret_key_file, None);
    assert_eq!(t.admin_identifier, "administrator");
    assert!(cfg.network.easemob().is_none());
    Ok(())
}

#[test]
fn tencent_problems_have_lines() {
    let err = load(
        "network:\n  type: tencent\n  tencent:\n    sdk_app_id: abc\n    websocket_url: http://not-ws\n    secret_key_file: /nonexistent/imbridge-test.key\n    app_key: o#a\n",
    )
    .expect_err("bad id, scheme, key file, foreign key");
    assert_eq!(
        err.find("network.tencent.sdk_app_id").and_then(|p| p.line),
        Some(FIRST + 3)
    );
    assert_eq!(
        err.find("network.tencent.websocket_url")
            .and_then(|p| p.line),
        Some(FIRST + 4)
    );
    let key = err
        .find("network.tencent.secret_key_file")
        .expect("unreadable key file");
    assert_eq!(key.line, Some(FIRST + 5));
    assert!(key.message.contains("cannot read"), "{}", key.message);
    assert_eq!(
        err.find("network.tencent.app_key").and_then(|p| p.line),
        Some(FIRST + 6)
    );
    let err = load("network:\n  type: tencent\n  tencent:\n    rest_url: https://r\n")
        .expect_err("missing required keys");
    assert_eq!(
        err.find("network.tencent.sdk_app_id").and_then(|p| p.line),
        Some(FIRST + 2)
    );
    assert_eq!(
        err.find("network.tencent.websocket_url")
            .and_then(|p| p.line),
        Some(FIRST + 2)
    );
}

/// A masterSecret file in the temp dir, unique per test.
fn secret_file(name: &str, text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("imbridge-jm-{}-{name}.secret", std::process::id()));
    std::fs::write(&path, text).expect("secret file written");
    path
}

#[test]
fn jmessage_section() -> TestResult {
    let secret = secret_file("ok", "mastersecret0000\n");
    let cfg = load(&format!(
        "network:\n  type: jmessage\n  jmessage:\n    app_key: 4f7aef34fb361292c566a1cd\n    master_secret_file: {}\n",
        secret.display()
    ))?;
    assert_eq!(cfg.network.kind, NetworkKind::Jmessage);
    assert_eq!(cfg.network.section_path, "network.jmessage");
    let j = cfg.network.jmessage().expect("a jmessage section");
    assert_eq!(j.app_key, "4f7aef34fb361292c566a1cd");
    assert_eq!(j.master_secret_file, secret);
    assert_eq!(j.websocket_url, JMESSAGE_DEFAULT_WEBSOCKET_URL);
    assert_eq!(j.report_url, JMESSAGE_DEFAULT_REPORT_URL);
    assert!(cfg.network.tencent().is_none());
    let cfg = load(&format!(
        "network:\n  type: jmessage\n  jmessage:\n    app_key: k1\n    master_secret_file: {}\n    websocket_url: ws://127.0.0.1:18100/\n",
        secret.display()
    ))?;
    let j = cfg.network.jmessage().expect("a jmessage section");
    assert_eq!(j.websocket_url, "ws://127.0.0.1:18100");
    // A sandbox serves the Report v2 on its own address.
    assert_eq!(j.report_url, "http://127.0.0.1:18100");
    let cfg = load(&format!(
        "network:\n  type: jmessage\n  jmessage:\n    app_key: k1\n    master_secret_file: {}\n    report_url: https://report.example.org/\n",
        secret.display()
    ))?;
    let j = cfg.network.jmessage().expect("a jmessage section");
    assert_eq!(j.report_url, "https://report.example.org");
    let err = load(&format!(
        "network:\n  type: jmessage\n  jmessage:\n    app_key: k1\n    master_secret_file: {}\n    report_url: ftp://report\n",
        secret.display()
    ))
    .expect_err("a report_url that is not http(s)");
    assert_eq!(
        err.find("network.jmessage.report_url").and_then(|p| p.line),
        Some(FIRST + 5)
    );
    let _ = std::fs::remove_file(secret);
    Ok(())
}

#[test]
fn jmessage_problems_have_lines() {
    let empty = secret_file("empty", " \n");
    let err = load(&format!(
        "network:\n  type: jmessage\n  jmessage:\n    app_key: \"org#app\"\n    master_secret_file: {}\n    websocket_url: http://not-ws\n    sdk_app_id: 1\n",
        empty.display()
    ))
    .expect_err("bad key, empty secret, scheme, foreign key");
    let key = err.find("network.jmessage.app_key").expect("bad app key");
    assert_eq!(key.line, Some(FIRST + 3));
    assert!(key.message.contains("AppKey"), "{}", key.message);
    let secret = err
        .find("network.jmessage.master_secret_file")
        .expect("empty secret file");
    assert_eq!(secret.line, Some(FIRST + 4));
    assert!(secret.message.contains("is empty"), "{}", secret.message);
    assert_eq!(
        err.find("network.jmessage.websocket_url")
            .and_then(|p| p.line),
        Some(FIRST + 5)
    );
    assert_eq!(
        err.find("network.jmessage.sdk_app_id").and_then(|p| p.line),
        Some(FIRST + 6)
    );
    let _ = std::fs::remove_file(empty);
    let err = load("network:\n  type: jmessage\n  jmessage:\n    master_secret_file: /nonexistent/imbridge-jm.secret\n")
        .expect_err("no app key, unreadable secret");
    assert_eq!(
        err.find("network.jmessage.app_key").and_then(|p| p.line),
        Some(FIRST + 2)
    );
    let unreadable = err
        .find("network.jmessage.master_secret_file")
        .expect("unreadable secret");
    assert!(
        unreadable.message.contains("cannot read"),
        "{}",
        unreadable.message
    );
    let err = load("network:\n  type: jmessage\n  jmessage:\n    app_key: k1\n")
        .expect_err("no secret file");
    assert_eq!(
        err.find("network.jmessage.master_secret_file")
            .and_then(|p| p.line),
        Some(FIRST + 2)
    );
}

#[test]
fn the_prefix_and_ghost_name_default_to_the_networks() -> TestResult {
    let em = load(
        "network:\n  type: easemob\n  easemob:\n    app_key: org#app\n    dns_url: http://d/\n",
    )?;
    assert_eq!(em.bridge.command_prefix, "!em");
    assert_eq!(em.bridge.displayname_template, "{{.Nickname}} (Easemob)");
    let tc = load("network:\n  type: tencent\n  tencent:\n    sdk_app_id: 1400000001\n    websocket_url: ws://w/\n")?;
    assert_eq!(tc.bridge.command_prefix, "!tc");
    assert_eq!(tc.bridge.displayname_template, "{{.Nickname}} (Tencent)");
    assert_eq!(NetworkKind::Jmessage.command_prefix(), "!jm");
    assert_eq!(NetworkKind::Jmessage.display_name(), "JMessage");
    // What the file says wins.
    let set = load(
        "bridge:\n  command_prefix: \"!im\"\n  displayname_template: \"{{.Nickname}}\"\nnetwork:\n  type: tencent\n  tencent:\n    sdk_app_id: 1400000001\n    websocket_url: ws://w/\n",
    )?;
    assert_eq!(set.bridge.command_prefix, "!im");
    assert_eq!(set.bridge.displayname_template, "{{.Nickname}}");
    Ok(())
}
