//! `imbridge migrate-store`: a sled store with every kind of record (an unknown future field
//! included) is copied into an empty PostgreSQL database, and the copy is compared record by
//! record, through the dump and through the ordinary reads; a non-empty target is refused.

use imbridge::store::copy::copy_store;
use imbridge::store::testing::TestDb;
use imbridge::store::{Store, StoreError, TxnScope};

use super::{ghost, login, message, portal, TestResult};
use imbridge::store::ReactionRecord;

/// Fills a store with one or more of every record kind, acks and deletes included.
async fn fill(store: &Store) -> TestResult {
    store.put_login(&login("@alice:example.org")).await?;
    store.put_login(&login("@bob:example.org")).await?;
    store.put_ghost(&ghost("bob")).await?;
    store.put_ghost(&ghost("carol")).await?;
    store
        .put_portal(&portal("group:1", "!room:example.org"))
        .await?;
    store.put_portal(&portal("dm:x", "")).await?;
    store
        .put_message("group:1", &message("m1", "$e1", 0))
        .await?;
    store
        .put_message("group:1", &message("m1", "$e2", 1))
        .await?;
    store
        .put_message("group:1", &message("m2", "$e3", 0))
        .await?;
    let reaction = ReactionRecord {
        room_id: "!room:example.org".into(),
        event_id: "$r1".into(),
        target: "m1".into(),
        sender: "bob".into(),
        key: "👍".into(),
    };
    store.put_reaction("group:1", &reaction).await?;
    store.put_kv("bot_profile_hash", "abc").await?;
    store.put_kv("mgmt:!a:x", "@alice:example.org").await?;
    store
        .mark_txn(&TxnScope::from_hs_token("hs"), "17", &[3; 16])
        .await?;
    let events = [(Some("$in1"), b"one".to_vec()), (None, b"receipt".to_vec())];
    store.enqueue_events("matrix", &events).await?;
    let a = store.enqueue("remote:@alice:example.org", b"a").await?;
    store.enqueue("remote:@alice:example.org", b"b").await?;
    store.ack("remote:@alice:example.org", a).await?;
    store
        .enqueue_batch("remote:@bob:example.org", &[b"c".to_vec(), b"d".to_vec()])
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_a_sled_store_exactly() -> TestResult {
    let Some(pg) = TestDb::postgres("migrate") else {
        return Ok(());
    };
    let sled_db = TestDb::sled("migrate-src");
    let path = sled_db.dir.join("db");
    {
        let source = Store::open(&path).await?;
        fill(&source).await?;
        // A field a later imbridge may add must survive the copy byte for byte.
        let raw = serde_json::json!({
            "remote_id": "dave", "mxid": "@easemob_dave:example.org",
            "registered": true, "future_field": [1, 2]
        });
        drop(source);
        let db = sled::open(&path)?;
        db.open_tree("ghosts")?
            .insert("dave", serde_json::to_vec(&raw)?)?;
        db.flush()?;
    }
    let source = Store::open(&path).await?;
    let before = source.dump().await?;
    assert!(
        before.inbox.len() == 5 && before.txn_marks.len() == 2,
        "{before:?}"
    );

    // The command itself, as an operator runs it (the bridge stopped).
    drop(source);
    let uri = pg.uri.clone().ok_or("no uri")?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .arg("migrate-store")
        .arg("--from")
        .arg(&path)
        .arg("--to")
        .arg(&uri)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified record by record"), "{stdout}");

    // Record by record: the whole dump, then the ordinary reads.
    let source = Store::open(&path).await?;
    let target = pg.open().await?;
    let after = target.dump().await?;
    assert_eq!(after, before, "the copy differs");
    assert_eq!(source.dump().await?, before, "the source was changed");
    assert_eq!(target.list_logins().await?, source.list_logins().await?);
    assert_eq!(target.list_portals().await?, source.list_portals().await?);
    assert_eq!(
        target.get_ghost("dave").await?.map(|g| g.mxid),
        Some("@easemob_dave:example.org".to_owned())
    );
    for queue in [
        "matrix",
        "remote:@alice:example.org",
        "remote:@bob:example.org",
    ] {
        assert_eq!(target.pending(queue).await?, source.pending(queue).await?);
    }
    assert_eq!(
        target.message_by_event("$e2").await?,
        source.message_by_event("$e2").await?
    );
    assert!(target.reaction_by_event("$r1").await?.is_some());
    assert!(target.seen_event("$in1").await?);
    assert!(
        target
            .seen_txn(&TxnScope::from_hs_token("hs"), "17", &[3; 16])
            .await?
    );
    // New items sort after the copied ones.
    let top = before.inbox.iter().map(|i| i.seq).max().unwrap_or(0);
    assert!(target.enqueue("matrix", b"new").await? > top);

    // A second copy into the now non-empty database is refused and changes nothing.
    let again = target.dump().await?;
    let err = copy_store(&source, &target).await.expect_err("not empty");
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
    assert_eq!(target.dump().await?, again);
    Ok(())
}
