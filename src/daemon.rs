//! The bridge daemon: wires the configured network connector, the store, the Matrix side and
//! the core together, runs until SIGTERM/SIGINT, then shuts down in order (stop taking
//! transactions, drain the portal queues, flush the store). The only place that names both a
//! network and the core.
//!
//! Under systemd it reports `READY=1` once the appservice listener is bound, the store is open
//! and the core started, pings the watchdog while the event loop and the store answer, and
//! reports `STOPPING=1` at shutdown (see [`crate::service`]); with `metrics.enabled` it also
//! serves `/health/*` and `/metrics` on `metrics.listen`. On PostgreSQL with
//! `database.failover`, it first takes the database's lease, standing by while another process
//! holds it, and stops at once if the lease is lost ([`crate::service::failover`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::config::{Config, NetworkSection};
use crate::core::connector::NetworkConnector;
use crate::core::matrix_api::MatrixApi;
use crate::core::Bridge;
use crate::matrix::{self, AppserviceSettings, HomeserverClient, TxnDedup};
use crate::service::{self, Notifier, ServiceState};
use crate::store::{Store, TxnScope};

/// Transaction dedup in the store, scoped to the registration (its hs_token).
struct StoreTxnDedup {
    store: Store,
    scope: TxnScope,
}

#[async_trait]
impl TxnDedup for StoreTxnDedup {
    async fn seen(&self, txn_id: &str, fingerprint: &[u8; 16]) -> bool {
        self.store
            .seen_txn(&self.scope, txn_id, fingerprint)
            .await
            .unwrap_or(false)
    }
    async fn mark(&self, txn_id: &str, fingerprint: &[u8; 16]) {
        if let Err(e) = self.store.mark_txn(&self.scope, txn_id, fingerprint).await {
            warn!(error = %e, "transaction not marked as done");
        }
    }
}

/// Where the configured database is, for errors (the URI without its password).
fn describe_database(cfg: &Config) -> String {
    match (&cfg.database.kind, &cfg.database.uri) {
        (crate::config::DatabaseKind::Postgres, Some(uri)) => format!("postgres {uri}"),
        _ => format!("sled at {}", cfg.database.path.display()),
    }
}

/// Builds the connector the config asks for, from its own section of `network:`.
async fn connector(cfg: &Config) -> anyhow::Result<Arc<dyn NetworkConnector>> {
    match &cfg.network.section {
        #[cfg(feature = "easemob")]
        NetworkSection::Easemob(section) => Ok(Arc::new(
            crate::network::easemob::connector::EasemobConnector::from_config(section).await?,
        )),
        #[cfg(not(feature = "easemob"))]
        NetworkSection::Easemob(_) => anyhow::bail!(
            "network.type is easemob, but this build has no Easemob support (cargo feature \
             `easemob`)"
        ),
        #[cfg(feature = "tencent")]
        NetworkSection::Tencent(section) => {
            use crate::network::tencent::connector::{TencentConnector, TencentSettings};
            let settings = TencentSettings::from_config(section, &cfg.homeserver.domain)?;
            Ok(Arc::new(TencentConnector::new(settings)))
        }
        #[cfg(not(feature = "tencent"))]
        NetworkSection::Tencent(_) => anyhow::bail!(
            "network.type is tencent, but this build has no Tencent support (cargo feature \
             `tencent`)"
        ),
        #[cfg(feature = "jmessage")]
        NetworkSection::Jmessage(section) => {
            use crate::network::jmessage::connector::{JmessageConnector, JmessageSettings};
            let settings = JmessageSettings::from_config(section)?;
            Ok(Arc::new(JmessageConnector::new(settings)))
        }
        #[cfg(not(feature = "jmessage"))]
        NetworkSection::Jmessage(_) => anyhow::bail!(
            "network.type is jmessage, but this build has no JMessage support (cargo feature \
             `jmessage`)"
        ),
    }
}

/// Runs the bridge until `shutdown` fires.
pub async fn run(cfg: Config, mut shutdown: broadcast::Receiver<()>) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let as_token = cfg
        .appservice
        .as_token
        .as_ref()
        .context("appservice.as_token is missing (run generate-registration)")?
        .expose()
        .to_owned();
    let hs_token = cfg
        .appservice
        .hs_token
        .as_ref()
        .context("appservice.hs_token is missing (run generate-registration)")?
        .expose()
        .to_owned();
    let listen: SocketAddr = format!("{}:{}", cfg.appservice.hostname, cfg.appservice.port)
        .parse()
        .context("appservice.hostname/port do not form a socket address")?;
    let store = Store::connect(&cfg.database)
        .await
        .with_context(|| format!("cannot open the database ({})", describe_database(&cfg)))?;
    info!(database = %store.describe(), "store open");
    let service_state = Arc::new(ServiceState::new());
    let notifier = Notifier::from_env();
    let health = start_health(&cfg, &service_state, &store).await?;
    // The watchdog from here on: a standby waiting for the lease is alive too.
    let watchdog = service::watchdog_interval().map(|period| {
        info!(?period, "systemd watchdog enabled");
        service::spawn_watchdog(
            notifier.clone(),
            period,
            service_state.clone(),
            service::store_probe(store.clone()),
        )
    });
    // Failover: on a shared PostgreSQL database, only the lease holder goes on.
    let Some(mut lease) =
        service::failover::take_lease(&cfg, &service_state, &notifier, &mut shutdown).await?
    else {
        info!("stopped while standing by");
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        if let Some((stop, task)) = health {
            let _ = stop.send(());
            let _ = task.await;
        }
        return Ok(());
    };
    let settings = AppserviceSettings {
        homeserver_url: cfg.homeserver.address.clone(),
        domain: cfg.homeserver.domain.clone(),
        as_token,
        hs_token: hs_token.clone(),
        appservice_id: cfg.appservice.id.clone(),
        bot_localpart: cfg.appservice.bot.username.clone(),
        listen,
    };
    let metrics = service_state.metrics().clone();
    let homeserver = Arc::new(
        HomeserverClient::new(&settings)
            .await?
            .with_metrics(metrics.clone()),
    );
    let matrix_api: Arc<dyn MatrixApi> = homeserver.clone();
    let connector = connector(&cfg).await?;
    let bridge = Bridge::new(
        cfg.clone(),
        store.clone(),
        matrix_api.clone(),
        connector,
        metrics,
    );
    service_state.set_gauge_source(Arc::new(bridge.clone()));

    // The listener first (transactions are queued durably even before the core runs).
    let ghosts_cfg = cfg.clone();
    let is_ours: matrix::IsOurs = Arc::new(move |user| ghosts_cfg.is_ghost_or_bot(user.as_str()));
    let dedup = Arc::new(StoreTxnDedup {
        store: store.clone(),
        scope: TxnScope::from_hs_token(&hs_token),
    });
    let sink = Arc::new(service::CountingSink::new(
        Arc::new(bridge.clone()),
        service_state.clone(),
    ));
    let state = matrix::AppserviceState::new(hs_token, sink, dedup, is_ours)
        .with_registrar(matrix_api.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let (stop_listener, listener_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut router = matrix::router(state);
    if let Some(provisioning) = matrix::provisioning::router(bridge.ctx.clone()) {
        router = router.merge(provisioning);
    }
    let server = tokio::spawn(matrix::serve(listener, router, async {
        let _ = listener_stopped.await;
    }));

    // The bot exists and has its profile; the homeserver resumes sending at once.
    matrix_api.ensure_registered(matrix_api.bot()).await?;
    let bot = matrix_api.bot().to_owned();
    if !cfg.appservice.bot.displayname.is_empty() {
        if let Err(e) = matrix_api
            .set_displayname(&bot, &cfg.appservice.bot.displayname)
            .await
        {
            warn!(error = %e, "bot display name not set");
        }
    }
    let avatar = ruma::OwnedMxcUri::from(cfg.appservice.bot.avatar.as_str());
    if avatar.is_valid() {
        if let Err(e) = matrix_api.set_avatar(&bot, &avatar).await {
            warn!(error = %e, "bot avatar not set");
        }
    }
    bridge.start().await?;
    service_state.set_ready();
    if let Err(e) = notifier.ready() {
        warn!(error = %e, "READY=1 not sent to the service manager");
    }
    match homeserver.ping_homeserver().await {
        Ok(rtt) => info!(?rtt, "homeserver reached the bridge"),
        Err(e) => warn!(error = %e, "homeserver ping failed (is the registration loaded?)"),
    }
    info!(bot = %matrix_api.bot(), "bridge running");

    tokio::select! {
        _ = shutdown.recv() => {}
        _ = lease.lost() => {
            // Another process may be active already: stop touching the store at once.
            anyhow::bail!(
                "lost the database lease (its session failed): stopping at once so that \
                 the standby takes over"
            );
        }
    }
    info!("shutting down");
    service_state.set_stopping();
    if let Err(e) = notifier.stopping() {
        warn!(error = %e, "STOPPING=1 not sent to the service manager");
    }
    let _ = stop_listener.send(());
    let _ = server.await;
    bridge.shutdown().await;
    let flushed = store.flush().await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    if let Some((stop, task)) = health {
        let _ = stop.send(());
        let _ = task.await;
    }
    flushed?;
    info!("stopped");
    Ok(())
}

/// A running health listener: its stop signal and task.
type HealthListener = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Starts the health and metrics listener when `metrics.enabled`.
async fn start_health(
    cfg: &Config,
    state: &Arc<ServiceState>,
    store: &Store,
) -> anyhow::Result<Option<HealthListener>> {
    if !cfg.metrics.enabled {
        return Ok(None);
    }
    let addr: SocketAddr = cfg
        .metrics
        .listen
        .parse()
        .context("metrics.listen is not an IP address and port")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = service::health_router(state.clone(), Some(store.clone()));
    let task = tokio::spawn(service::serve_health(listener, router, async {
        let _ = stopped.await;
    }));
    Ok(Some((stop, task)))
}
