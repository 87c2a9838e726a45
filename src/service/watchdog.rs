//! The watchdog task: every period (half of `WatchdogSec`) it runs a health probe and sends
//! `WATCHDOG=1` only when the probe answers in time. The probe the daemon uses
//! ([`store_probe`]) makes a round trip through the runtime's scheduler and reads the store on
//! the blocking pool; when either stalls, pings stop and systemd restarts the bridge. A runtime
//! that is wedged entirely never runs this task at all, with the same result.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{Notifier, ServiceState};
use crate::store::Store;

/// Spawns the watchdog loop: every `period`, run `probe` (bounded by `period`), then ping on
/// success. Abort the returned handle to stop it.
pub fn spawn_watchdog<P, F>(
    notifier: Notifier,
    period: Duration,
    state: Arc<ServiceState>,
    probe: P,
) -> JoinHandle<()>
where
    P: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let outcome = match tokio::time::timeout(period, probe()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!("no answer within {period:?}")),
            };
            match outcome {
                Ok(()) => match notifier.watchdog() {
                    Ok(()) => {
                        state.record_watchdog(true);
                        debug!("watchdog ping sent");
                    }
                    Err(e) => warn!(error = %e, "watchdog ping not sent"),
                },
                Err(e) => {
                    state.record_watchdog(false);
                    warn!(error = %e, "health probe failed: watchdog ping withheld");
                }
            }
        }
    })
}

/// The daemon's probe: a round trip through the scheduler (a spawned task must run and
/// finish) and a store read on the blocking pool.
pub fn store_probe(
    store: Store,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
       + Send
       + Sync
       + 'static {
    move || {
        let store = store.clone();
        Box::pin(async move {
            tokio::spawn(async {})
                .await
                .map_err(|e| format!("scheduler round trip failed: {e}"))?;
            tokio::spawn(async move { store.schema_version().await })
                .await
                .map_err(|e| format!("store read task failed: {e}"))?
                .map_err(|e| format!("store read failed: {e}"))?;
            Ok(())
        })
    }
}
