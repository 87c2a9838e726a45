//! Numbered schema migrations: `migrations/NNNN_name.sql`, embedded, applied in order in one
//! transaction under an advisory lock (two bridges starting together migrate once). The
//! version reached is kept in table `schema_version` (one row); a database at a version above
//! what this build knows is refused.

use tokio_postgres::GenericClient;

use super::{PgStore, LOCK_SPACE_SCHEMA};
use crate::store::{Result, StoreError};

/// One schema step: the SQL that takes the database from `version - 1` to `version`.
#[derive(Clone, Copy, Debug)]
pub struct PgMigration {
    pub version: u32,
    pub sql: &'static str,
}

/// The built-in migrations, oldest first.
pub const PG_MIGRATIONS: &[PgMigration] = &[PgMigration {
    version: 1,
    sql: include_str!("migrations/0001_init.sql"),
}];

/// The version recorded in the database (0 before the first migration).
pub(super) async fn current_version(client: &impl GenericClient) -> Result<u32> {
    let exists = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?;
    if !exists.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client
        .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])
        .await?;
    let version: i32 = row.get(0);
    u32::try_from(version).map_err(|_| StoreError::Corrupt {
        tree: "schema_version",
        key: version.to_string(),
        detail: "negative version".into(),
    })
}

/// Brings the schema to `target` with `steps`, or refuses a newer database.
pub(super) async fn run(store: &PgStore, target: u32, steps: &[PgMigration]) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1, 1)", &[&LOCK_SPACE_SCHEMA])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INT4 NOT NULL)")
        .await?;
    let mut current = current_version(&*tx).await?;
    if current > target {
        return Err(StoreError::SchemaTooNew {
            location: store.target.clone(),
            found: current,
            supported: target,
        });
    }
    while current < target {
        let step = steps
            .iter()
            .find(|m| m.version == current + 1)
            .ok_or_else(|| StoreError::Migration {
                from: current,
                to: target,
                reason: format!("no migration from version {current}"),
            })?;
        tracing::info!(
            from = current,
            to = step.version,
            "migrating the PostgreSQL schema"
        );
        tx.batch_execute(step.sql)
            .await
            .map_err(|e| StoreError::Migration {
                from: current,
                to: step.version,
                reason: e.to_string(),
            })?;
        current = step.version;
    }
    let version = i32::try_from(current).unwrap_or(i32::MAX);
    tx.execute("DELETE FROM schema_version", &[]).await?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES ($1)",
        &[&version],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
