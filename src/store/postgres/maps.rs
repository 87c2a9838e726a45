//! The message and reaction maps, each kept in both directions in one transaction:
//! `messages` + `message_events`, `reactions` + `reaction_events`.

use super::{decode, encode, PgStore};
use crate::store::{MessageRecord, ReactionRecord, Result};

impl PgStore {
    // ---- messages ---------------------------------------------------------------------

    pub(super) async fn put_message(&self, portal: &str, record: &MessageRecord) -> Result<()> {
        let json = encode("messages", record)?;
        let part = i64::from(record.part);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let old = tx
            .query_opt(
                "SELECT event_id FROM messages \
                 WHERE portal = $1 AND remote_id = $2 AND part = $3 FOR UPDATE",
                &[&portal, &record.remote_id, &part],
            )
            .await?;
        if let Some(old) = old {
            let old_event: &str = old.get(0);
            if old_event != record.event_id {
                tx.execute(
                    "DELETE FROM message_events WHERE event_id = $1",
                    &[&old_event],
                )
                .await?;
            }
        }
        tx.execute(
            "INSERT INTO messages (portal, remote_id, part, event_id, record) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal, remote_id, part) \
             DO UPDATE SET event_id = EXCLUDED.event_id, record = EXCLUDED.record",
            &[&portal, &record.remote_id, &part, &record.event_id, &json],
        )
        .await?;
        tx.execute(
            "INSERT INTO message_events (event_id, portal, remote_id, part) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO UPDATE SET \
             portal = EXCLUDED.portal, remote_id = EXCLUDED.remote_id, part = EXCLUDED.part",
            &[&record.event_id, &portal, &record.remote_id, &part],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn message_parts(
        &self,
        portal: &str,
        remote_id: &str,
    ) -> Result<Vec<MessageRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT record FROM messages WHERE portal = $1 AND remote_id = $2 ORDER BY part",
                &[&portal, &remote_id],
            )
            .await?;
        rows.iter()
            .map(|r| decode("messages", remote_id, r.get::<_, &str>(0)))
            .collect()
    }

    pub(super) async fn message_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, MessageRecord)>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT m.portal, m.record FROM message_events e JOIN messages m \
                 ON m.portal = e.portal AND m.remote_id = e.remote_id AND m.part = e.part \
                 WHERE e.event_id = $1",
                &[&event_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = decode("messages", event_id, row.get::<_, &str>(1))?;
        Ok(Some((row.get(0), record)))
    }

    pub(super) async fn delete_message(&self, portal: &str, remote_id: &str) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let gone = tx
            .query(
                "DELETE FROM messages WHERE portal = $1 AND remote_id = $2 RETURNING event_id",
                &[&portal, &remote_id],
            )
            .await?;
        let events: Vec<String> = gone.iter().map(|r| r.get(0)).collect();
        if !events.is_empty() {
            tx.execute(
                "DELETE FROM message_events WHERE event_id = ANY($1)",
                &[&events],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(events.len())
    }

    // ---- reactions --------------------------------------------------------------------

    pub(super) async fn put_reaction(&self, portal: &str, record: &ReactionRecord) -> Result<()> {
        let json = encode("reactions", record)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO reactions (portal, target, sender, key, record) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portal, target, sender, key) \
             DO UPDATE SET record = EXCLUDED.record",
            &[&portal, &record.target, &record.sender, &record.key, &json],
        )
        .await?;
        tx.execute(
            "INSERT INTO reaction_events (event_id, portal, target, sender, key) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO UPDATE SET \
             portal = EXCLUDED.portal, target = EXCLUDED.target, sender = EXCLUDED.sender, \
             key = EXCLUDED.key",
            &[
                &record.event_id,
                &portal,
                &record.target,
                &record.sender,
                &record.key,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn reaction(
        &self,
        portal: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT record FROM reactions \
                 WHERE portal = $1 AND target = $2 AND sender = $3 AND key = $4",
                &[&portal, &target, &sender, &key],
            )
            .await?;
        row.map(|r| decode("reactions", target, r.get::<_, &str>(0)))
            .transpose()
    }

    pub(super) async fn reactions_on(
        &self,
        portal: &str,
        target: &str,
    ) -> Result<Vec<ReactionRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT record FROM reactions WHERE portal = $1 AND target = $2 \
                 ORDER BY sender, key",
                &[&portal, &target],
            )
            .await?;
        rows.iter()
            .map(|r| decode("reactions", target, r.get::<_, &str>(0)))
            .collect()
    }

    pub(super) async fn reaction_by_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, ReactionRecord)>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT r.portal, r.record FROM reaction_events e JOIN reactions r \
                 ON r.portal = e.portal AND r.target = e.target AND r.sender = e.sender \
                 AND r.key = e.key WHERE e.event_id = $1",
                &[&event_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = decode("reactions", event_id, row.get::<_, &str>(1))?;
        Ok(Some((row.get(0), record)))
    }

    pub(super) async fn delete_reaction(
        &self,
        portal: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRecord>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "DELETE FROM reactions \
                 WHERE portal = $1 AND target = $2 AND sender = $3 AND key = $4 \
                 RETURNING record",
                &[&portal, &target, &sender, &key],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record: ReactionRecord = decode("reactions", target, row.get::<_, &str>(0))?;
        tx.execute(
            "DELETE FROM reaction_events WHERE event_id = $1",
            &[&record.event_id],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }
}
