//! Login state told in the management room, end to end on a real Synapse with the bridge
//! binary and the Easemob sandbox (issue 4, item 5):
//!
//! * once connected, "✅ Connected as alice." is told, once;
//! * a link that drops and comes back within the debounce (5 s) says nothing, though the
//!   disconnect and the reconnect are counted in `/metrics`;
//! * an outage longer than that is told ("⚠️ Connection … lost"), shown in `/metrics` as a
//!   `transient_disconnect` login with no IM connection, and its end is told again;
//! * a bridge restart does not repeat the state last told;
//! * a password changed on the IM side ends the session and is told at once ("❌ …").

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::bridge::tail;
use common::prometheus::MetricsClient;
use common::service_env::{Env, IM_PASSWORD};
use common::synapse::free_port;
use imbridge::network::easemob::rest::RestClient;

const CONNECTED: &str = "✅ Connected as alice.";
const LOST: &str = "⚠️ Connection to the IM service lost";

/// How many bot messages in the management room start with `prefix`.
async fn told(env: &Env, prefix: &str) -> usize {
    env.mx
        .all_bodies(&env.mgmt)
        .await
        .iter()
        .filter(|b| b.starts_with(prefix))
        .count()
}

/// Waits (bounded) until `told(prefix)` reaches `count`; false on timeout.
async fn wait_told(env: &Env, prefix: &str, count: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if told(env, prefix).await >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Polls `/metrics` (bounded) until `check` holds for the sample `key`.
async fn wait_metric(
    metrics: &MetricsClient,
    key: &str,
    check: impl Fn(f64) -> bool,
    within: Duration,
) -> Option<f64> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        last = metrics.scrape().await.value(key);
        if last.is_some_and(&check) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_state_is_told_once_per_change_and_debounced() {
    let metrics_port = free_port();
    let extra = format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n");
    let mut env = Env::start("states", &extra).await;
    let t0 = env.t0;
    let metrics = MetricsClient::new(metrics_port);
    env.login().await;

    // Connected, told once after the debounce.
    assert!(
        wait_told(&env, CONNECTED, 1, Duration::from_secs(20)).await,
        "never told connected\n{}",
        tail(&env.log, 30)
    );
    say!(t0, "connected told");

    // A flap: every socket dropped, back within about a second.
    env.sandbox.state.drop_connections();
    let reconnects = wait_metric(
        &metrics,
        "imbridge_im_reconnects_total",
        |v| v >= 1.0,
        Duration::from_secs(20),
    )
    .await;
    assert!(
        reconnects.is_some_and(|v| v >= 1.0),
        "reconnect not counted: {reconnects:?}"
    );
    let scrape = metrics.scrape().await;
    assert!(scrape.get("imbridge_im_disconnects_total") >= 1.0);
    say!(t0, "flap counted; waiting out the debounce");
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(told(&env, LOST).await, 0, "a short flap was told");
    assert_eq!(
        told(&env, CONNECTED).await,
        1,
        "connected told again after a flap"
    );

    // An outage longer than the debounce.
    env.sandbox.stop().await;
    env.sandbox.state.drop_connections();
    say!(t0, "sandbox down");
    assert!(
        wait_told(&env, LOST, 1, Duration::from_secs(30)).await,
        "outage not told\n{}",
        tail(&env.log, 30)
    );
    let scrape = metrics.scrape().await;
    assert_eq!(
        scrape.get("imbridge_logins{state=\"transient_disconnect\"}"),
        1.0
    );
    assert_eq!(scrape.get("imbridge_im_connections"), 0.0);
    say!(t0, "outage told and visible in /metrics");
    env.sandbox.serve_again().await;
    assert!(
        wait_told(&env, CONNECTED, 2, Duration::from_secs(90)).await,
        "recovery not told\n{}",
        tail(&env.log, 30)
    );
    let connected = wait_metric(
        &metrics,
        "imbridge_logins{state=\"connected\"}",
        |v| v == 1.0,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(connected, Some(1.0));
    say!(t0, "recovery told");

    // A restart tells nothing new: the state last told is still true.
    env.bridge().terminate();
    env.restart();
    let back = wait_metric(
        &metrics,
        "imbridge_im_connections",
        |v| v == 1.0,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(back, Some(1.0), "not connected after the restart");
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        told(&env, CONNECTED).await,
        2,
        "a restart repeated the state"
    );
    say!(t0, "restart quiet");

    // The password changed on the IM side: told at once, and the login shows as ended.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    let mut rest =
        RestClient::new(http, &env.sandbox.rest_url(), common::APP_KEY).expect("REST client");
    let token = rest
        .password_token("alice", IM_PASSWORD)
        .await
        .expect("alice's token");
    rest.set_token("alice", &token.access_token);
    rest.change_password("a-new-password")
        .await
        .expect("password changed");
    assert!(
        wait_told(&env, "❌", 1, Duration::from_secs(15)).await,
        "the ended session was not told\n{}",
        tail(&env.log, 30)
    );
    let ended = metrics.scrape().await;
    let ended_logins = ended.get("imbridge_logins{state=\"bad_credentials\"}")
        + ended.get("imbridge_logins{state=\"logged_out\"}");
    assert_eq!(ended_logins, 1.0, "{}", ended.text);
    let bodies = env.mx.all_bodies(&env.mgmt).await;
    say!(t0, "management room: {bodies:#?}");
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
