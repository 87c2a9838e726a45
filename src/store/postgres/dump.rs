//! Reading a whole PostgreSQL store into a [`StoreDump`], and writing a dump into an empty
//! one (the target of `imbridge migrate-store`): one transaction, rows exactly as dumped,
//! then the inbox sequence moved past the highest number copied.

use super::{decode, migrate, to_i64, to_u64, PgStore};
use crate::store::backend::{
    InboxRow, MessageEventRow, MessageRow, ReactionEventRow, ReactionRow, StoreDump, TxnMarkRow,
};
use crate::store::{MessageRecord, Result, StoreError};

/// Every table holding records (what must be empty before a load).
const TABLES: [&str; 11] = [
    "logins",
    "ghosts",
    "portals",
    "room_portals",
    "messages",
    "message_events",
    "reactions",
    "reaction_events",
    "kv",
    "txn_marks",
    "inbox",
];

fn part_of(value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt {
        tree: "messages",
        key: value.to_string(),
        detail: "part out of range".into(),
    })
}

fn bytes16(table: &'static str, bytes: &[u8]) -> Result<[u8; 16]> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        tree: table,
        key: format!("{bytes:?}"),
        detail: format!("{} bytes instead of 16", bytes.len()),
    })
}

/// The whole store, unsorted (the caller sorts).
pub(super) async fn dump(s: &PgStore) -> Result<StoreDump> {
    let mut client = s.client().await?;
    // One snapshot for every table.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let pairs = |sql: &'static str| {
        let tx = &tx;
        async move {
            let rows = tx.query(sql, &[]).await?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let mut d = StoreDump {
        schema_version: migrate::current_version(&*tx).await?,
        logins: pairs("SELECT mxid, record FROM logins").await?,
        ghosts: pairs("SELECT remote_id, record FROM ghosts").await?,
        portals: pairs("SELECT key, record FROM portals").await?,
        room_portals: pairs("SELECT room_id, portal_key FROM room_portals").await?,
        kv: pairs("SELECT key, value FROM kv").await?,
        ..StoreDump::default()
    };
    for r in tx
        .query("SELECT portal, remote_id, part, record FROM messages", &[])
        .await?
    {
        d.messages.push(MessageRow {
            portal: r.get(0),
            remote_id: r.get(1),
            part: part_of(r.get(2))?,
            json: r.get(3),
        });
    }
    for r in tx
        .query(
            "SELECT event_id, portal, remote_id, part FROM message_events",
            &[],
        )
        .await?
    {
        d.message_events.push(MessageEventRow {
            event_id: r.get(0),
            portal: r.get(1),
            remote_id: r.get(2),
            part: part_of(r.get(3))?,
        });
    }
    for r in tx
        .query(
            "SELECT portal, target, sender, key, record FROM reactions",
            &[],
        )
        .await?
    {
        d.reactions.push(ReactionRow {
            portal: r.get(0),
            target: r.get(1),
            sender: r.get(2),
            key: r.get(3),
            json: r.get(4),
        });
    }
    for r in tx
        .query(
            "SELECT event_id, portal, target, sender, key FROM reaction_events",
            &[],
        )
        .await?
    {
        d.reaction_events.push(ReactionEventRow {
            event_id: r.get(0),
            portal: r.get(1),
            target: r.get(2),
            sender: r.get(3),
            key: r.get(4),
        });
    }
    for r in tx
        .query("SELECT scope, id, ts_ms, fingerprint FROM txn_marks", &[])
        .await?
    {
        d.txn_marks.push(TxnMarkRow {
            scope: bytes16("txn_marks", r.get(0))?,
            id: r.get(1),
            ts_ms: to_u64("txn_marks", r.get(2))?,
            fingerprint: r
                .get::<_, Option<&[u8]>>(3)
                .map(|f| bytes16("txn_marks", f))
                .transpose()?,
        });
    }
    for r in tx.query("SELECT queue, seq, item FROM inbox", &[]).await? {
        d.inbox.push(InboxRow {
            queue: r.get(0),
            seq: to_u64("inbox", r.get(1))?,
            item: r.get(2),
        });
    }
    tx.commit().await?;
    Ok(d)
}

/// Writes `d` into the (empty) store in one transaction.
pub(super) async fn load(s: &PgStore, d: &StoreDump) -> Result<()> {
    let mut client = s.client().await?;
    let tx = client.transaction().await?;
    let schema = migrate::current_version(&*tx).await?;
    if d.schema_version != schema {
        return Err(StoreError::Unsupported(format!(
            "the source store has schema version {}, the target {schema}: open the source \
             with this imbridge first so it is migrated",
            d.schema_version
        )));
    }
    // Nobody else writes while we check and copy.
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        TABLES.join(", ")
    ))
    .await?;
    for table in TABLES {
        let row = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?;
        if row.get::<_, bool>(0) {
            return Err(StoreError::NotEmpty {
                target: format!("{} (table {table} has rows)", s.target),
            });
        }
    }
    for (table, col, rows) in [
        ("logins", "mxid", &d.logins),
        ("ghosts", "remote_id", &d.ghosts),
        ("portals", "key", &d.portals),
    ] {
        let stmt = tx
            .prepare(&format!(
                "INSERT INTO {table} ({col}, record) VALUES ($1, $2)"
            ))
            .await?;
        for (k, json) in rows {
            tx.execute(&stmt, &[k, json]).await?;
        }
    }
    let stmt = tx
        .prepare("INSERT INTO room_portals (room_id, portal_key) VALUES ($1, $2)")
        .await?;
    for (room, key) in &d.room_portals {
        tx.execute(&stmt, &[room, key]).await?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO messages (portal, remote_id, part, event_id, record) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    for m in &d.messages {
        let record: MessageRecord = decode("messages", &m.remote_id, &m.json)?;
        let part = i64::from(m.part);
        tx.execute(
            &stmt,
            &[&m.portal, &m.remote_id, &part, &record.event_id, &m.json],
        )
        .await?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO message_events (event_id, portal, remote_id, part) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for e in &d.message_events {
        let part = i64::from(e.part);
        tx.execute(&stmt, &[&e.event_id, &e.portal, &e.remote_id, &part])
            .await?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO reactions (portal, target, sender, key, record) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    for r in &d.reactions {
        tx.execute(&stmt, &[&r.portal, &r.target, &r.sender, &r.key, &r.json])
            .await?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO reaction_events (event_id, portal, target, sender, key) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    for e in &d.reaction_events {
        tx.execute(
            &stmt,
            &[&e.event_id, &e.portal, &e.target, &e.sender, &e.key],
        )
        .await?;
    }
    let stmt = tx
        .prepare("INSERT INTO kv (key, value) VALUES ($1, $2)")
        .await?;
    for (k, v) in &d.kv {
        tx.execute(&stmt, &[k, v]).await?;
    }
    let stmt = tx
        .prepare("INSERT INTO txn_marks (scope, id, ts_ms, fingerprint) VALUES ($1, $2, $3, $4)")
        .await?;
    for m in &d.txn_marks {
        let ts = to_i64("txn_marks", m.ts_ms)?;
        let fp = m.fingerprint.as_ref().map(|f| &f[..]);
        tx.execute(&stmt, &[&&m.scope[..], &m.id, &ts, &fp]).await?;
    }
    let stmt = tx
        .prepare("INSERT INTO inbox (queue, seq, item) VALUES ($1, $2, $3)")
        .await?;
    let mut top: Option<i64> = None;
    for i in &d.inbox {
        let seq = to_i64("inbox", i.seq)?;
        top = top.max(Some(seq));
        tx.execute(&stmt, &[&i.queue, &seq, &i.item]).await?;
    }
    if let Some(top) = top {
        // The next number drawn is above every copied one.
        tx.execute(
            "SELECT setval('inbox_seq', GREATEST($1, (SELECT last_value FROM inbox_seq)))",
            &[&top],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
