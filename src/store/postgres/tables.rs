//! Logins, ghosts, portals (with their room index) and the misc `kv` table.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, PgStore};
use crate::store::backend::PortalChange;
use crate::store::{PortalRecord, Result};

/// The key column of a keyed record table.
fn key_column(table: &'static str) -> &'static str {
    match table {
        "logins" => "mxid",
        "ghosts" => "remote_id",
        _ => "key",
    }
}

impl PgStore {
    /// The record under `key` in `table` (`logins`, `ghosts`, `portals`).
    pub(super) async fn get_record<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &str,
    ) -> Result<Option<T>> {
        let sql = format!(
            "SELECT record FROM {table} WHERE {} = $1",
            key_column(table)
        );
        let client = self.client().await?;
        let row = client.query_opt(&sql, &[&key]).await?;
        row.map(|r| decode(table, key, r.get::<_, &str>(0)))
            .transpose()
    }

    /// Saves a record under `key` in `table`, replacing the old one.
    pub(super) async fn put_record<T: Serialize + Sync>(
        &self,
        table: &'static str,
        key: &str,
        record: &T,
    ) -> Result<()> {
        let json = encode(table, record)?;
        let col = key_column(table);
        let sql = format!(
            "INSERT INTO {table} ({col}, record) VALUES ($1, $2) \
             ON CONFLICT ({col}) DO UPDATE SET record = EXCLUDED.record"
        );
        let client = self.client().await?;
        client.execute(&sql, &[&key, &json]).await?;
        Ok(())
    }

    /// Removes the record under `key`; returns whether there was one.
    pub(super) async fn delete_record(&self, table: &'static str, key: &str) -> Result<bool> {
        let sql = format!("DELETE FROM {table} WHERE {} = $1", key_column(table));
        let client = self.client().await?;
        Ok(client.execute(&sql, &[&key]).await? > 0)
    }

    /// Every record of `table`, ordered by key.
    pub(super) async fn list_records<T: DeserializeOwned>(
        &self,
        table: &'static str,
    ) -> Result<Vec<T>> {
        let col = key_column(table);
        let sql = format!("SELECT {col}, record FROM {table} ORDER BY {col}");
        let client = self.client().await?;
        let rows = client.query(&sql, &[]).await?;
        rows.iter()
            .map(|r| decode(table, r.get::<_, &str>(0), r.get::<_, &str>(1)))
            .collect()
    }

    // ---- portals ----------------------------------------------------------------------

    pub(super) async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT p.key, p.record FROM room_portals r JOIN portals p ON p.key = r.portal_key \
                 WHERE r.room_id = $1",
                &[&room_id],
            )
            .await?;
        row.map(|r| decode("portals", r.get::<_, &str>(0), r.get::<_, &str>(1)))
            .transpose()
    }

    pub(super) async fn put_portal(&self, record: &PortalRecord) -> Result<()> {
        self.change_portal(
            &record.key,
            &|p: &mut PortalRecord| {
                *p = record.clone();
                true
            },
            true,
        )
        .await
        .map(drop)
    }

    pub(super) async fn update_portal(
        &self,
        key: &str,
        change: PortalChange<'_>,
    ) -> Result<Option<PortalRecord>> {
        self.change_portal(key, change, false).await
    }

    /// Reads portal `key` locked, applies `change` and saves it with its room index in one
    /// transaction. A missing portal is created from `change` applied to a blank record when
    /// `create`, else left missing.
    async fn change_portal(
        &self,
        key: &str,
        change: PortalChange<'_>,
        create: bool,
    ) -> Result<Option<PortalRecord>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT record FROM portals WHERE key = $1 FOR UPDATE",
                &[&key],
            )
            .await?;
        let old: Option<PortalRecord> = row
            .map(|r| decode("portals", key, r.get::<_, &str>(0)))
            .transpose()?;
        let mut record = match (&old, create) {
            (Some(old), _) => old.clone(),
            (None, true) => blank_portal(key),
            (None, false) => return Ok(None),
        };
        if !change(&mut record) {
            return Ok(None);
        }
        record.key = key.to_owned();
        if let Some(old) = &old {
            if old.room_id != record.room_id && !old.room_id.is_empty() {
                tx.execute(
                    "DELETE FROM room_portals WHERE room_id = $1 AND portal_key = $2",
                    &[&old.room_id, &key],
                )
                .await?;
            }
        }
        let json = encode("portals", &record)?;
        tx.execute(
            "INSERT INTO portals (key, record) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record",
            &[&key, &json],
        )
        .await?;
        if !record.room_id.is_empty() {
            tx.execute(
                "INSERT INTO room_portals (room_id, portal_key) VALUES ($1, $2) \
                 ON CONFLICT (room_id) DO UPDATE SET portal_key = EXCLUDED.portal_key",
                &[&record.room_id, &key],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Deletes the portal, its room index entry and its messages in one transaction.
    pub(super) async fn delete_portal(&self, key: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM message_events e USING messages m \
             WHERE m.portal = $1 AND e.event_id = m.event_id",
            &[&key],
        )
        .await?;
        tx.execute("DELETE FROM messages WHERE portal = $1", &[&key])
            .await?;
        let row = tx
            .query_opt(
                "DELETE FROM portals WHERE key = $1 RETURNING record",
                &[&key],
            )
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(false);
        };
        let old: PortalRecord = decode("portals", key, row.get::<_, &str>(0))?;
        if !old.room_id.is_empty() {
            tx.execute(
                "DELETE FROM room_portals WHERE room_id = $1 AND portal_key = $2",
                &[&old.room_id, &key],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    // ---- kv ---------------------------------------------------------------------------

    pub(super) async fn get_kv(&self, key: &str) -> Result<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM kv WHERE key = $1", &[&key])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub(super) async fn put_kv(&self, key: &str, value: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO kv (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn delete_kv(&self, key: &str) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .execute("DELETE FROM kv WHERE key = $1", &[&key])
            .await?
            > 0)
    }

    pub(super) async fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, value FROM kv WHERE starts_with(key, $1) ORDER BY key",
                &[&prefix],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// An empty portal record under `key` (what `put_portal` overwrites when there is none).
fn blank_portal(key: &str) -> PortalRecord {
    PortalRecord {
        key: key.to_owned(),
        room_id: String::new(),
        kind: String::new(),
        name: None,
        topic: None,
        avatar_mxc: None,
        receivers: Vec::new(),
        is_direct: false,
        created_ms: 0,
    }
}
