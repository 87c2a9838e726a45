//! The daemon's side of failover: before a bridge on PostgreSQL does anything with the store
//! beyond opening it, it takes the database's lease ([`crate::store::postgres::lease`]),
//! standing by (health `standby`, systemd `READY=1` with the status "standby") while another
//! process holds it. Once active, losing the lease stops the process at once.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{Notifier, ServiceState};
use crate::config::{Config, DatabaseKind};

/// The lease this process holds, if it runs under one.
pub struct Held {
    #[cfg(feature = "postgres")]
    lease: Option<crate::store::postgres::lease::Lease>,
}

impl Held {
    /// Completes when the lease is lost; never without a lease.
    pub async fn lost(&mut self) {
        #[cfg(feature = "postgres")]
        if let Some(lease) = &mut self.lease {
            return lease.lost().await;
        }
        std::future::pending::<()>().await
    }
}

/// Takes the lease when the config asks for one (PostgreSQL with `database.failover`),
/// standing by meanwhile. `Ok(None)`: shutdown came while standing by. Errors: the database
/// server cannot be reached for the lease.
pub async fn take_lease(
    cfg: &Config,
    state: &Arc<ServiceState>,
    notifier: &Notifier,
    shutdown: &mut broadcast::Receiver<()>,
) -> anyhow::Result<Option<Held>> {
    let wanted = cfg.database.kind == DatabaseKind::Postgres && cfg.database.failover;
    #[cfg(feature = "postgres")]
    if wanted {
        use anyhow::Context;
        let uri = cfg
            .database
            .uri
            .as_ref()
            .context("database.uri is missing")?
            .expose()
            .to_owned();
        let standby = || {
            state.set_standby(true);
            if let Err(e) = notifier.ready() {
                tracing::warn!(error = %e, "READY=1 not sent to the service manager");
            }
            let _ = notifier.status("standby: another process holds the database lease");
        };
        let acquire =
            crate::store::postgres::lease::Lease::acquire(&uri, &cfg.appservice.id, standby);
        let lease = tokio::select! {
            lease = acquire => lease.context("cannot take the database lease")?,
            _ = shutdown.recv() => return Ok(None),
        };
        state.set_standby(false);
        let _ = notifier.status("active");
        return Ok(Some(Held { lease: Some(lease) }));
    }
    let _ = (wanted, state, notifier, shutdown);
    Ok(Some(Held {
        #[cfg(feature = "postgres")]
        lease: None,
    }))
}
