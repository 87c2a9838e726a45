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
        p.message.contains("known: easemob, tencent"),
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
