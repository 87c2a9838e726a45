//! The command line as an admin meets it: `check-config` on a broken file lists every problem
//! with its line and exits non-zero; on a good file it says OK.

use std::process::Command;

fn imbridge(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .args(args)
        .env_remove("IMBRIDGE_AS_TOKEN")
        .env_remove("IMBRIDGE_HS_TOKEN")
        .output()
        .expect("imbridge runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_config_reports_every_problem_with_its_line() {
    let dir = std::env::temp_dir().join(format!("imbridge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "homeserver:\n  address: not-a-url\n  domain: example.org\nappservice:\n  address: http://127.0.0.1:29330\n  port: 0\n  id: easemob\n  bot:\n    username: easemobbot\n  as_token: aaaa\n  hs_token: bbbb\n  username_template: easemob_\nnetwork:\n  type: easemob\n  app_key: noseparator\n  rest_url: http://127.0.0.1:1\n  websocket_url: ws://127.0.0.1:1/websocket\n",
    )
    .expect("write");
    let (code, text) = imbridge(&["-c", bad.to_str().expect("path"), "check-config"]);
    assert_ne!(code, 0, "{text}");
    for (line, path) in [
        (2, "homeserver.address"),
        (6, "appservice.port"),
        (12, "appservice.username_template"),
        (15, "network.app_key"),
    ] {
        assert!(
            text.contains(&format!(":{line}: {path}")),
            "expected line {line} for {path} in:\n{text}"
        );
    }

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.yaml.example");
    let good = dir.join("good.yaml");
    let text = std::fs::read_to_string(example).expect("example");
    std::fs::write(
        &good,
        text.replace(
            "registration: registration.yaml",
            "as_token: aaaaaaaa\n  hs_token: bbbbbbbb",
        ),
    )
    .expect("write");
    let (code, out) = imbridge(&["-c", good.to_str().expect("path"), "check-config"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn check_config_accepts_the_flat_network_form_with_a_warning() {
    let dir = std::env::temp_dir().join(format!("imbridge-cli-flat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let flat = dir.join("flat.yaml");
    std::fs::write(
        &flat,
        "homeserver:\n  address: http://127.0.0.1:8008\n  domain: example.org\nappservice:\n  address: http://127.0.0.1:29330\n  port: 29330\n  id: easemob\n  bot:\n    username: easemobbot\n  as_token: aaaa\n  hs_token: bbbb\n  username_template: \"easemob_{{.}}\"\nnetwork:\n  type: easemob\n  app_key: org#app\n  rest_url: http://127.0.0.1:1\n  websocket_url: ws://127.0.0.1:1/websocket\n",
    )
    .expect("write");
    let (code, out) = imbridge(&["-c", flat.to_str().expect("path"), "check-config"]);
    // The same keys under a section of another name than the type: errors at their lines.
    let wrong = dir.join("wrong.yaml");
    let text = std::fs::read_to_string(&flat).expect("read");
    std::fs::write(
        &wrong,
        text.replace(
            "  app_key: org#app\n",
            "  app_key: org#app\n  easemob:\n    sdk_app_id: 1400000000\n",
        ),
    )
    .expect("write");
    let (wrong_code, wrong_out) = imbridge(&["-c", wrong.to_str().expect("path"), "check-config"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(":13: network: the network keys") && out.contains("deprecated"),
        "{out}"
    );
    assert_ne!(wrong_code, 0, "{wrong_out}");
    for (line, path) in [(15, "network.app_key"), (17, "network.easemob.sdk_app_id")] {
        assert!(
            wrong_out.contains(&format!(":{line}: {path}")),
            "expected line {line} for {path} in:\n{wrong_out}"
        );
    }
}
