//! Running as a service: the health and metrics listener on loopback (`/health/live`,
//! `/health/ready` through start-up, readiness and shutdown, `/metrics` counters moving), the
//! watchdog task against a notification socket in a temp folder (pings while the probe
//! answers, none while it fails or stalls), and the `metrics:` config section.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use imbridge::config::{Config, LoadOptions, AS_TOKEN_ENV, HS_TOKEN_ENV};
use imbridge::core::matrix_api::{MatrixEvent, MatrixEventSink};
use imbridge::metrics::{Direction, GaugeFamily, GaugeSource};
use imbridge::service::{self, CountingSink, Notifier, ServiceState};
use imbridge::store::Store;

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
        let dir = std::env::temp_dir().join(format!("imbridge-svc-{name}-{pid}-{nanos}"));
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

/// A running health listener on 127.0.0.1:0.
struct Listener {
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Listener {
    async fn start(
        state: Arc<ServiceState>,
        store: Option<Store>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = service::health_router(state, store);
        let task = tokio::spawn(service::serve_health(listener, router, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            base: format!("http://{addr}"),
            http,
            stop: Some(stop),
            task,
        })
    }

    async fn get(&self, path: &str) -> Result<(u16, String), Box<dyn std::error::Error>> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    async fn stop(mut self) -> TestResult {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await???;
        Ok(())
    }
}

fn status_of(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("status")?.as_str().map(str::to_owned)
}

#[tokio::test]
async fn health_follows_the_lifecycle() -> TestResult {
    let dir = TempDir::new("health");
    let store = Store::open(dir.join("db")).await?;
    let state = Arc::new(ServiceState::new());
    let listener = Listener::start(state.clone(), Some(store)).await?;

    let (code, body) = listener.get("/health/live").await?;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, body) = listener.get("/health/ready").await?;
    assert_eq!((code, status_of(&body).as_deref()), (503, Some("starting")));

    state.set_ready();
    let (code, body) = listener.get("/health/ready").await?;
    assert_eq!((code, status_of(&body).as_deref()), (200, Some("ready")));
    let (code, _) = listener.get("/health/live").await?;
    assert_eq!(code, 200);

    state.set_stopping();
    let (code, body) = listener.get("/health/ready").await?;
    assert_eq!((code, status_of(&body).as_deref()), (503, Some("stopping")));
    let (code, _) = listener.get("/health/live").await?;
    assert_eq!(code, 200);

    let (code, _) = listener.get("/nope").await?;
    assert_eq!(code, 404);
    listener.stop().await
}

/// Accepts everything; refuses transactions with no events (to count failures).
struct TestSink;

#[async_trait]
impl MatrixEventSink for TestSink {
    async fn enqueue(&self, events: Vec<MatrixEvent>) -> Result<(), String> {
        if events.is_empty() {
            Err("nothing to enqueue".into())
        } else {
            Ok(())
        }
    }
}

fn typing_event() -> Result<MatrixEvent, Box<dyn std::error::Error>> {
    Ok(MatrixEvent::Typing {
        room: ruma::OwnedRoomId::try_from("!room:example.org")?,
        users: Vec::new(),
    })
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_counters_move() -> TestResult {
    let dir = TempDir::new("metrics");
    let store = Store::open(dir.join("db")).await?;
    let state = Arc::new(ServiceState::new());
    let listener = Listener::start(state.clone(), Some(store)).await?;

    let (code, text) = listener.get("/metrics").await?;
    assert_eq!(code, 200);
    assert!(text.contains("# TYPE imbridge_appservice_transactions_total counter"));
    assert_eq!(
        metric(&text, "imbridge_appservice_transactions_total"),
        Some(0.0)
    );
    assert_eq!(metric(&text, "imbridge_ready"), Some(0.0));
    assert_eq!(metric(&text, "imbridge_stored_logins"), Some(0.0));
    assert!(metric(&text, "imbridge_store_size_bytes").is_some_and(|v| v > 0.0));

    let sink = CountingSink::new(Arc::new(TestSink), state.clone());
    sink.enqueue(vec![typing_event()?, typing_event()?]).await?;
    sink.enqueue(vec![typing_event()?]).await?;
    assert!(sink.enqueue(Vec::new()).await.is_err());
    state.set_ready();

    let (_, text) = listener.get("/metrics").await?;
    assert_eq!(
        metric(&text, "imbridge_appservice_transactions_total"),
        Some(2.0)
    );
    assert_eq!(metric(&text, "imbridge_appservice_events_total"), Some(3.0));
    assert_eq!(
        metric(&text, "imbridge_appservice_transaction_failures_total"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "imbridge_ready"), Some(1.0));
    assert_eq!(
        metric(&text, "imbridge_appservice_transaction_seconds_count"),
        Some(3.0),
        "every transaction is timed, the refused one too"
    );
    listener.stop().await
}

/// The bridge's metric families and the gauges of its state source appear on `/metrics`.
#[tokio::test]
async fn metrics_show_families_and_state_gauges() -> TestResult {
    struct Gauges;
    #[async_trait]
    impl GaugeSource for Gauges {
        async fn gauges(&self) -> Vec<GaugeFamily> {
            vec![GaugeFamily {
                name: "imbridge_logins",
                help: "Active logins by connection state.",
                samples: vec![
                    (vec![("state", "connected".to_owned())], 2.0),
                    (vec![("state", "connecting".to_owned())], 1.0),
                ],
            }]
        }
    }
    let state = Arc::new(ServiceState::new());
    let metrics = state.metrics().clone();
    let listener = Listener::start(state.clone(), None).await?;
    let (_, text) = listener.get("/metrics").await?;
    assert_eq!(metric(&text, "imbridge_im_reconnects_total"), Some(0.0));
    assert_eq!(
        metric(&text, "imbridge_logins{state=\"connected\"}"),
        None,
        "no gauges before a source is set"
    );

    state.set_gauge_source(Arc::new(Gauges));
    metrics.bridged(Direction::ToMatrix, "text");
    metrics.bridged(Direction::ToMatrix, "text");
    metrics.bridged(Direction::ToNetwork, "image");
    metrics.failed(Direction::ToNetwork, "not_logged_in");
    metrics.im_reconnects.inc(&[]);
    metrics
        .homeserver_seconds
        .observe(&["send_message_event"], Duration::from_millis(3));
    metrics
        .im_send_seconds
        .observe(&[], Duration::from_millis(40));
    let (_, text) = listener.get("/metrics").await?;
    for (series, value) in [
        (
            "imbridge_messages_bridged_total{direction=\"to_matrix\",kind=\"text\"}",
            2.0,
        ),
        (
            "imbridge_messages_bridged_total{direction=\"to_network\",kind=\"image\"}",
            1.0,
        ),
        (
            "imbridge_bridge_failures_total{direction=\"to_network\",reason=\"not_logged_in\"}",
            1.0,
        ),
        ("imbridge_im_reconnects_total", 1.0),
        (
            "imbridge_homeserver_request_seconds_count{endpoint=\"send_message_event\"}",
            1.0,
        ),
        (
            "imbridge_homeserver_request_seconds_bucket{endpoint=\"send_message_event\",le=\"0.005\"}",
            1.0,
        ),
        ("imbridge_im_send_seconds_count", 1.0),
        ("imbridge_im_send_seconds_bucket{le=\"0.025\"}", 0.0),
        ("imbridge_logins{state=\"connected\"}", 2.0),
        ("imbridge_logins{state=\"connecting\"}", 1.0),
    ] {
        assert_eq!(metric(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(text.contains("# TYPE imbridge_logins gauge"));
    assert!(text.contains("# TYPE imbridge_im_send_seconds histogram"));
    listener.stop().await
}

#[tokio::test]
async fn metrics_without_a_store_still_answer() -> TestResult {
    let state = Arc::new(ServiceState::new());
    state.set_ready();
    let listener = Listener::start(state, None).await?;
    let (code, body) = listener.get("/health/ready").await?;
    assert_eq!((code, status_of(&body).as_deref()), (200, Some("ready")));
    let (code, text) = listener.get("/metrics").await?;
    assert_eq!(code, 200);
    assert!(metric(&text, "imbridge_store_size_bytes").is_none());
    listener.stop().await
}

/// The notifications a [`Notifier`] sent, as their text.
type Sent = Arc<Mutex<Vec<String>>>;

/// A notifier recording what it sends.
fn notify_recorder() -> (Sent, Notifier) {
    let sent = Sent::default();
    let sink = sent.clone();
    let notifier = Notifier::from_fn(move |message| {
        sink.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.to_owned());
        Ok(())
    });
    (sent, notifier)
}

/// Every notification recorded since the last call.
fn drain(sent: &Sent) -> Vec<String> {
    std::mem::take(&mut *sent.lock().unwrap_or_else(|p| p.into_inner()))
}

#[tokio::test]
async fn watchdog_pings_while_the_probe_answers() -> TestResult {
    let dir = TempDir::new("watchdog-ok");
    let store = Store::open(dir.join("db")).await?;
    let (sent, notifier) = notify_recorder();
    let state = Arc::new(ServiceState::new());
    let task = service::spawn_watchdog(
        notifier,
        Duration::from_millis(50),
        state.clone(),
        service::store_probe(store),
    );
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        got.extend(drain(&sent));
    }
    task.abort();
    assert!(got.len() >= 2, "pings: {got:?}");
    assert!(got.iter().all(|m| m == "WATCHDOG=1"), "pings: {got:?}");
    assert!(state.watchdog_pings() >= 2);
    assert_eq!(state.watchdog_misses(), 0);
    Ok(())
}

#[tokio::test]
async fn watchdog_withholds_pings_when_the_probe_fails_or_stalls() -> TestResult {
    let (sent, notifier) = notify_recorder();

    let failing = Arc::new(ServiceState::new());
    let task = service::spawn_watchdog(
        notifier.clone(),
        Duration::from_millis(30),
        failing.clone(),
        || async { Err::<(), String>("store broken".into()) },
    );
    let stalled = Arc::new(ServiceState::new());
    let task2 =
        service::spawn_watchdog(notifier, Duration::from_millis(30), stalled.clone(), || {
            std::future::pending::<Result<(), String>>()
        });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (failing.watchdog_misses() < 2 || stalled.watchdog_misses() < 2)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    task2.abort();
    assert!(failing.watchdog_misses() >= 2);
    assert!(stalled.watchdog_misses() >= 2);
    assert_eq!(failing.watchdog_pings() + stalled.watchdog_pings(), 0);
    assert_eq!(drain(&sent), Vec::<String>::new());
    Ok(())
}

// ---- config ---------------------------------------------------------------------------

fn token_env(name: &str) -> Option<String> {
    match name {
        AS_TOKEN_ENV => Some("env-as-token".into()),
        HS_TOKEN_ENV => Some("env-hs-token".into()),
        _ => None,
    }
}

const OPTS: LoadOptions<'static> = LoadOptions {
    require_tokens: true,
    env: &token_env,
};

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.yaml.example");
    std::fs::read_to_string(path).expect("read bridge.yaml.example")
}

const EXAMPLE_METRICS: &str = "metrics:\n  # Run the listener. Default: false.\n  enabled: false\n  # IP address and port to listen on. Default: 127.0.0.1:9090.\n  listen: 127.0.0.1:9090\n";

/// The example with its `metrics:` section replaced by `section`.
fn with_metrics(section: &str) -> String {
    let text = example();
    assert!(
        text.contains(EXAMPLE_METRICS),
        "the example's metrics section changed"
    );
    text.replace(EXAMPLE_METRICS, section)
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[test]
fn metrics_config_defaults_to_off_on_loopback() -> TestResult {
    let cfg = Config::from_yaml_str(&example(), "ex.yaml", Path::new("/tmp"), &OPTS)?;
    assert!(!cfg.metrics.enabled);
    assert_eq!(cfg.metrics.listen, "127.0.0.1:9090");
    let cfg = Config::from_yaml_str(&with_metrics(""), "ex.yaml", Path::new("/tmp"), &OPTS)?;
    assert_eq!(cfg.metrics, imbridge::config::MetricsConfig::default());
    let cfg = Config::from_yaml_str(
        &with_metrics("metrics:\n  enabled: true\n  listen: \"[::1]:9100\"\n"),
        "ex.yaml",
        Path::new("/tmp"),
        &OPTS,
    )?;
    assert!(cfg.metrics.enabled);
    assert_eq!(cfg.metrics.listen, "[::1]:9100");
    Ok(())
}

#[test]
fn metrics_config_problems_name_path_and_line() {
    let text = with_metrics("metrics:\n  enabled: yes please\n  listen: localhost\n  port: 1\n");
    let errs = Config::from_yaml_str(&text, "ex.yaml", Path::new("/tmp"), &OPTS)
        .expect_err("bad metrics section accepted");
    let listen = errs.find("metrics.listen").expect("listen problem");
    assert_eq!(listen.line, line_of(&text, "listen: localhost"));
    assert!(listen.message.contains("localhost"), "{}", listen.message);
    let port = errs.find("metrics.port").expect("unknown key reported");
    assert_eq!(port.line, line_of(&text, "  port: 1"));
    let enabled = errs.find("metrics.enabled").expect("non-boolean reported");
    assert_eq!(enabled.line, line_of(&text, "enabled: yes please"));
}
