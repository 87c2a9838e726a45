//! The active/standby lease of bridges sharing one PostgreSQL database (failover): the
//! process that holds a session-level advisory lock (space [`LOCK_SPACE_LEASE`], key
//! `hashtext(name)`, `name` being the appservice id) is the active one; any other waits,
//! trying again every [`RETRY_EVERY`], and takes over when the lock is free.
//!
//! The lock lives on a connection of its own, outside the pool. PostgreSQL releases it when
//! that session ends: at once when the holder's process dies (its socket closes), and after
//! the TCP keepalive fails for a holder cut off by the network (`keepalives_idle` 5 s). The
//! holder checks the session every [`CHECK_EVERY`]: a session that fails or does not answer
//! within [`CHECK_LIMIT`] means the lock may be someone else's now, so the holder must stop
//! at once ([`Lease::lost`]); the daemon then exits and its service manager restarts it as a
//! standby. Two processes are never active together as long as the database server is one.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::super::{Result, StoreError};
use crate::config::redact_uri;

/// Advisory-lock space of the active/standby lease (key: `hashtext(name)`).
pub const LOCK_SPACE_LEASE: i32 = 0x696d_6202;
/// How often a waiting process tries to take the lease.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often the holder checks that its lease session is alive.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long that check may take before the lease counts as lost.
pub const CHECK_LIMIT: Duration = Duration::from_secs(5);

/// A held lease. Dropping it ends the session, which releases the lock.
pub struct Lease {
    lost: watch::Receiver<bool>,
    checker: JoinHandle<()>,
    connection: JoinHandle<()>,
}

impl Lease {
    /// Waits until the lease is taken. `uri` is the store's connection string, `name` what
    /// the lock is about (the appservice id). `on_wait` is called once, the first time the
    /// lease is found held by another process. Errors: the server cannot be reached or
    /// refuses the connection (the URI in the error has its password hidden).
    pub async fn acquire(uri: &str, name: &str, on_wait: impl FnOnce()) -> Result<Lease> {
        let target = redact_uri(uri);
        let connect_error = |detail: String| StoreError::Connect {
            target: target.clone(),
            detail,
        };
        let mut on_wait = Some(on_wait);
        loop {
            let mut pg: tokio_postgres::Config = uri
                .parse()
                .map_err(|e: tokio_postgres::Error| connect_error(e.to_string()))?;
            pg.application_name("imbridge lease")
                .connect_timeout(Duration::from_secs(10))
                .keepalives(true)
                .keepalives_idle(Duration::from_secs(5));
            let (client, connection) = pg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| connect_error(e.to_string()))?;
            let (lost_tx, lost) = watch::channel(false);
            let closed = lost_tx.clone();
            let connection = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    warn!(error = %e, "lease session ended");
                }
                let _ = closed.send(true);
            });
            let taken: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&LOCK_SPACE_LEASE, &name],
                )
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|e| connect_error(e.to_string()))?;
            if taken {
                info!(name, "lease taken: this process is the active bridge");
                let checker = tokio::spawn(check(client, lost_tx));
                return Ok(Lease {
                    lost,
                    checker,
                    connection,
                });
            }
            drop(client);
            connection.abort();
            if let Some(f) = on_wait.take() {
                info!(name, "another process holds the lease: standing by");
                f();
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// Completes when the lease is lost (its session failed or stopped answering): the
    /// process must stop acting at once.
    pub async fn lost(&mut self) {
        while !*self.lost.borrow_and_update() {
            if self.lost.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.checker.abort();
        self.connection.abort();
    }
}

/// Checks the lease session every [`CHECK_EVERY`] until it fails, then reports it lost.
async fn check(client: tokio_postgres::Client, lost: watch::Sender<bool>) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        match tokio::time::timeout(CHECK_LIMIT, client.simple_query("SELECT 1")).await {
            Ok(Ok(_)) => debug!("lease session alive"),
            Ok(Err(e)) => {
                warn!(error = %e, "lease session failed: the lease is lost");
                break;
            }
            Err(_) => {
                warn!(limit = ?CHECK_LIMIT, "lease session does not answer: the lease is lost");
                break;
            }
        }
    }
    let _ = lost.send(true);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::store::testing::PgCluster;

    /// One holder at a time; the waiter takes over when the holder goes; a holder whose
    /// session the server ends learns that it lost the lease.
    #[tokio::test]
    async fn one_holder_takeover_and_loss() {
        let cluster = match PgCluster::shared() {
            Ok(c) => c,
            Err(why) => return eprintln!("skipped: no PostgreSQL ({why})"),
        };
        let uri = cluster.create_database().expect("database");
        let first = Lease::acquire(&uri, "bridge", || panic!("free lease: no wait"))
            .await
            .expect("first holder");
        let waited = Arc::new(AtomicBool::new(false));
        let flag = waited.clone();
        let uri2 = uri.clone();
        let second = tokio::spawn(async move {
            Lease::acquire(&uri2, "bridge", move || flag.store(true, Ordering::SeqCst)).await
        });
        // Another name is another lease.
        let other = Lease::acquire(&uri, "another bridge", || panic!("free lease: no wait"))
            .await
            .expect("another name");
        drop(other);
        let start = std::time::Instant::now();
        while !waited.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "never waited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!second.is_finished(), "two holders at once");
        drop(first);
        let mut second = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("taken over within 10 s")
            .expect("task")
            .expect("second holder");

        // The server ends the holder's session: the lease is lost.
        let (client, connection) = tokio_postgres::connect(&uri, tokio_postgres::NoTls)
            .await
            .expect("admin connection");
        let admin = tokio::spawn(connection);
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'imbridge lease' AND datname = current_database()",
                &[],
            )
            .await
            .expect("terminated");
        tokio::time::timeout(
            CHECK_EVERY + CHECK_LIMIT + Duration::from_secs(2),
            second.lost(),
        )
        .await
        .expect("the loss is noticed");
        drop(client);
        admin.abort();
    }
}
