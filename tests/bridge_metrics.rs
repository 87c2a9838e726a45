//! The `metrics:` listener of a running bridge, end to end on a real Synapse: `/health/live`
//! and `/health/ready` answer 200, and the Prometheus counters, gauges and histograms for
//! transactions, bridged messages, logins, IM connections, homeserver calls, IM sends, queues
//! and the store move with a login and one message each way; SIGTERM then exits 0, and the
//! bridge's debug log holds none of the secrets. Also the test-side Prometheus text parser.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::bridge::tail;
use common::prometheus::{parse_prometheus, MetricsClient, Scrape};
use common::service_env::Env;
use common::synapse::free_port;

#[test]
fn prometheus_parser_reads_help_type_labels_and_histograms() {
    let text = r#"# HELP imbridge_ready 1 when ready.
# TYPE imbridge_ready gauge
imbridge_ready 1
# HELP imbridge_messages_bridged_total Messages.
# TYPE imbridge_messages_bridged_total counter
imbridge_messages_bridged_total{kind="text",direction="to_matrix"} 3
imbridge_messages_bridged_total{direction="to_network", kind="text"} 2 1700000000000
imbridge_odd{path="a,b}=\"c\""} 7
# TYPE imbridge_homeserver_request_seconds histogram
imbridge_homeserver_request_seconds_bucket{endpoint="send",le="0.1"} 4
imbridge_homeserver_request_seconds_bucket{endpoint="send",le="+Inf"} 5
imbridge_homeserver_request_seconds_sum{endpoint="send"} 0.25
imbridge_homeserver_request_seconds_count{endpoint="send"} 5
imbridge_homeserver_request_seconds_count{endpoint="join"} 2
imbridge_nan NaN
"#;
    let s = Scrape::parse(text.to_owned());
    assert_eq!(s.get("imbridge_ready"), 1.0);
    assert_eq!(
        s.get(r#"imbridge_messages_bridged_total{direction="to_matrix",kind="text"}"#),
        3.0
    );
    assert_eq!(
        s.get(r#"imbridge_messages_bridged_total{kind="text",direction="to_network"}"#),
        2.0
    );
    assert_eq!(s.get(r#"imbridge_odd{path="a,b}=\"c\""}"#), 7.0);
    assert_eq!(
        s.get(r#"imbridge_homeserver_request_seconds_bucket{endpoint="send",le="+Inf"}"#),
        5.0
    );
    assert_eq!(
        s.sum("imbridge_homeserver_request_seconds_count"),
        Some(7.0)
    );
    assert_eq!(s.sum("imbridge_homeserver_request_seconds"), None);
    assert!(s.get("imbridge_nan").is_nan());
    assert_eq!(s.value("imbridge_missing"), None);
    assert!(parse_prometheus("imbridge_x{a=\"1\" 2").is_err());
    assert!(parse_prometheus("imbridge_x two").is_err());
}

/// The metric checks after the activity; each failure says what was expected and found.
fn metric_failures(before: &Scrape, after: &Scrape) -> Vec<String> {
    let mut failures = Vec::new();
    let show = |v: Option<f64>| v.map_or("missing".to_owned(), |v| v.to_string());
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let increased = |key: &str| {
        let (b, a) = (before.value(key), after.value(key));
        (
            a.is_some_and(|a| a > b.unwrap_or(0.0)),
            format!(
                "{key} did not increase: before {}, after {}",
                show(b),
                show(a)
            ),
        )
    };
    let (ok, what) = increased("imbridge_appservice_transactions_total");
    check(ok, what);
    let (ok, what) = increased("imbridge_appservice_transaction_seconds_count");
    check(ok, what);
    for key in [
        r#"imbridge_messages_bridged_total{direction="to_matrix",kind="text"}"#,
        r#"imbridge_messages_bridged_total{direction="to_network",kind="text"}"#,
    ] {
        let v = after.value(key);
        check(
            v.is_some_and(|v| v >= 1.0),
            format!("{key} should be ≥ 1: {}", show(v)),
        );
    }
    for key in [
        r#"imbridge_logins{state="connected"}"#,
        "imbridge_im_connections",
    ] {
        let v = after.value(key);
        check(v == Some(1.0), format!("{key} should be 1: {}", show(v)));
    }
    let name = "imbridge_homeserver_request_seconds_count";
    let (b, a) = (before.sum(name), after.sum(name));
    check(
        a.is_some_and(|a| a > b.unwrap_or(0.0)),
        format!(
            "{name} (summed over endpoints) did not increase: before {}, after {}",
            show(b),
            show(a)
        ),
    );
    let name = "imbridge_im_send_seconds_count";
    let v = after.sum(name);
    check(
        v.is_some_and(|v| v >= 1.0),
        format!("{name} should be ≥ 1: {}", show(v)),
    );
    let key = r#"imbridge_queue_depth{queue="matrix_inbox"}"#;
    check(after.value(key).is_some(), format!("{key} missing"));
    let key = "imbridge_store_size_bytes";
    let v = after.value(key);
    check(
        v.is_some_and(|v| v > 0.0),
        format!("{key} should be > 0: {}", show(v)),
    );
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_live_figures() {
    let metrics_port = free_port();
    let extra = format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n");
    let mut env = Env::start("metrics", &extra).await;
    let t0 = env.t0;
    let metrics = MetricsClient::new(metrics_port);
    let (status, body) = metrics.get("/health/live").await;
    assert_eq!(status, 200, "/health/live: {body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = (0, String::new());
    while Instant::now() < deadline {
        ready = metrics.get("/health/ready").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.0, 200, "/health/ready never 200: {}", ready.1);
    let before = metrics.scrape().await;
    assert_eq!(before.get("imbridge_ready"), 1.0);
    say!(
        t0,
        "ready; {} samples before the activity",
        before.samples.len()
    );

    env.login().await;
    env.open_dm().await; // IM → Matrix
    env.mx.send_text(&env.dm, "hi bob, from Matrix").await;
    assert!(
        env.bob_inbox
            .wait(
                "alice",
                |t| t == "hi bob, from Matrix",
                Duration::from_secs(30)
            )
            .await,
        "Matrix → IM text not received\n{}",
        tail(&env.log, 30)
    );
    say!(t0, "one message each way bridged");

    // Figures may be recorded just after the effect is visible: poll (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut after, mut failures);
    loop {
        after = metrics.scrape().await;
        failures = metric_failures(&before, &after);
        if failures.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    say!(t0, "metric checks failing: {failures:#?}");

    let status = env.bridge().terminate();
    say!(t0, "bridge exited after SIGTERM: {status:?}");
    if !status.is_some_and(|s| s.success()) {
        failures.push(format!(
            "SIGTERM: the bridge did not exit 0 within 30 s ({status:?})"
        ));
    }
    failures.extend(env.stop_and_find_leaks());
    assert!(
        failures.is_empty(),
        "{} check(s) failed:\n{}\n\nthe whole scrape after the activity:\n{}",
        failures.len(),
        failures.join("\n"),
        after.text
    );
    say!(t0, "done");
}
