//! The backend's commit modes: asynchronous by default, synchronous for the calls the store
//! promises durable, and what that promise means across a server crash.

use super::PgStore;
use crate::store::scope::TxnScope;
use crate::store::testing::{PgCluster, TestDb};
use crate::store::{GhostRecord, Store};

type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const SHOW: &str = "SHOW synchronous_commit";

#[tokio::test]
async fn pooled_connections_commit_asynchronously_durable_calls_synchronously() -> TestResult {
    let Some(db) = TestDb::postgres("pg_commit_modes") else {
        return Ok(());
    };
    let uri = db.uri.clone().ok_or("no uri")?;
    let store = PgStore::connect(&uri, 2).await?;
    let mut client = store.client().await?;
    assert_eq!(
        client.query_one(SHOW, &[]).await?.get::<_, String>(0),
        "off"
    );
    let tx = PgStore::durable_transaction(&mut client).await?;
    assert_eq!(tx.query_one(SHOW, &[]).await?.get::<_, String>(0), "on");
    tx.commit().await?;
    // SET LOCAL ends with its transaction.
    assert_eq!(
        client.query_one(SHOW, &[]).await?.get::<_, String>(0),
        "off"
    );

    // An operator's own setting in the URI wins.
    let own =
        PgStore::connect(&format!("{uri}?options=-c%20synchronous_commit%3Dlocal"), 1).await?;
    let own = own.client().await?;
    assert_eq!(own.query_one(SHOW, &[]).await?.get::<_, String>(0), "local");
    Ok(())
}

fn ghost(i: usize) -> GhostRecord {
    GhostRecord {
        remote_id: format!("user{i}"),
        mxid: format!("@net_user{i}:x"),
        displayname: Some(format!("User {i}")),
        avatar_url: None,
        avatar_mxc: None,
        registered: true,
        updated_ms: 1,
    }
}

#[tokio::test]
async fn a_durable_call_keeps_every_commit_before_it_through_a_server_crash() -> TestResult {
    // A cluster of its own: it is crashed (SIGQUIT, no shutdown checkpoint) mid-test.
    let mut cluster = match PgCluster::start() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped: no PostgreSQL ({why})");
            return Ok(());
        }
    };
    // As an ordinary role owning its database, as operators run it: no superuser rights.
    let (admin, connection) =
        tokio_postgres::connect(&cluster.uri("postgres"), tokio_postgres::NoTls).await?;
    let admin_conn = tokio::spawn(connection);
    admin.batch_execute("CREATE ROLE bridge LOGIN").await?;
    admin
        .batch_execute("CREATE DATABASE bridge OWNER bridge ENCODING 'UTF8' TEMPLATE template0")
        .await?;
    drop(admin);
    admin_conn.abort();
    let uri = format!("postgres://bridge@127.0.0.1:{}/bridge", cluster.port());
    let store = Store::open_postgres(&uri, 2).await?;
    // Asynchronous commits, then one durable call at once: the WAL writer (every 200 ms)
    // has had no time to flush them on its own.
    for i in 0..50 {
        store.put_ghost(&ghost(i)).await?;
    }
    let scope = TxnScope::from_hs_token("hs");
    store.mark_txn(&scope, "txn1", &[7; 16]).await?;
    store.put_kv("after", "the durable call").await?;
    store.flush().await?;
    drop(store);
    cluster.restart()?;

    let store = Store::open_postgres(&uri, 2).await?;
    assert_eq!(store.list_ghosts().await?.len(), 50);
    assert!(store.seen_txn(&scope, "txn1", &[7; 16]).await?);
    assert_eq!(
        store.get_kv("after").await?.as_deref(),
        Some("the durable call"),
        "flush makes the asynchronous commits before it durable"
    );
    Ok(())
}
