//! Unit tests of store details, on both backends (the main cases are in
//! `tests/config_store.rs`), and a few sled-only ones (raw corrupt records, the folder lock).

use super::testing::TestDb;
use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn portal(key: &str, room: &str) -> PortalRecord {
    PortalRecord {
        key: key.into(),
        room_id: room.into(),
        kind: "dm".into(),
        name: None,
        topic: None,
        avatar_mxc: None,
        receivers: Vec::new(),
        is_direct: true,
        created_ms: 1,
    }
}

fn message(remote: &str, event: &str) -> MessageRecord {
    MessageRecord {
        room_id: "!r:x".into(),
        event_id: event.into(),
        remote_id: remote.into(),
        sender: "bob".into(),
        timestamp_ms: 2,
        part: 0,
        edit_count: 0,
        alt_id: None,
    }
}

crate::store_tests_on_both_backends!(
    portal_room_index_follows_the_portal,
    deleting_a_big_portal_removes_every_message,
    txn_marks_expire_by_count_and_age,
    update_portal_moves_the_room_index,
);

async fn portal_room_index_follows_the_portal(db: TestDb) -> TestResult {
    let store = db.open().await?;
    store.put_portal(&portal("dm:bob", "!old:x")).await?;
    store.put_portal(&portal("dm:bob", "!new:x")).await?;
    assert!(store.portal_by_room("!old:x").await?.is_none());
    let moved = store.portal_by_room("!new:x").await?;
    assert_eq!(moved.map(|p| p.room_id).as_deref(), Some("!new:x"));
    // A portal without a room has no index entry.
    store.put_portal(&portal("dm:carol", "")).await?;
    assert!(store.portal_by_room("").await?.is_none());
    store.put_message("dm:bob", &message("m1", "$a")).await?;
    store.put_message("dm:bob:x", &message("m1", "$b")).await?;
    assert_eq!(store.list_portals().await?.len(), 2);
    assert!(store.delete_portal("dm:bob").await?);
    assert!(store.get_portal("dm:bob").await?.is_none());
    assert!(store.portal_by_room("!new:x").await?.is_none());
    assert!(store.message_by_event("$a").await?.is_none());
    // A portal whose key extends the deleted one keeps its messages.
    assert!(store.message_by_event("$b").await?.is_some());
    assert!(!store.delete_portal("dm:bob").await?);
    Ok(())
}

async fn deleting_a_big_portal_removes_every_message(db: TestDb) -> TestResult {
    let store = db.open().await?;
    store.put_portal(&portal("group:big", "!big:x")).await?;
    for i in 0..600 {
        let m = message(&format!("m{i}"), &format!("$e{i}"));
        store.put_message("group:big", &m).await?;
    }
    assert!(store.delete_portal("group:big").await?);
    assert!(store.message_by_event("$e599").await?.is_none());
    let dump = store.dump().await?;
    assert!(dump.messages.is_empty() && dump.message_events.is_empty());
    Ok(())
}

async fn txn_marks_expire_by_count_and_age(db: TestDb) -> TestResult {
    let store = db.open().await?;
    let old = TxnScope::from_hs_token("old");
    let new = TxnScope::from_hs_token("new");
    let fp = [7u8; 16];
    for i in 1..=6 {
        store.mark_txn(&old, &i.to_string(), &fp).await?;
        // Distinct times, so "newest" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    store.mark_txn(&new, "1", &fp).await?;
    let now = scope::now_ms();
    // Keep only the newest 3 marks of each scope.
    assert_eq!(store.expire_txns(now, u64::MAX, 3).await?, 3);
    let mut kept = 0;
    for i in 1..=6 {
        kept += usize::from(store.seen_txn(&old, &i.to_string(), &fp).await?);
    }
    assert_eq!(kept, 3);
    assert!(store.seen_txn(&old, "6", &fp).await?, "the newest stays");
    assert!(
        store.seen_txn(&new, "1", &fp).await?,
        "other scopes untouched"
    );
    // Everything older than a day, seen from a week later, goes.
    let day = 24 * 3600 * 1000;
    assert_eq!(store.expire_txns(now + 7 * day, day, 100).await?, 4);
    assert!(!store.seen_txn(&new, "1", &fp).await?);
    assert!(store.dump().await?.txn_marks.is_empty());
    Ok(())
}

async fn update_portal_moves_the_room_index(db: TestDb) -> TestResult {
    let store = db.open().await?;
    store.put_portal(&portal("direct:a:b", "!old:x")).await?;
    let moved = store
        .update_portal("direct:a:b", |p| {
            p.room_id = "!new:x".into();
            p.receivers.push("@u:x".into());
            true
        })
        .await?;
    assert_eq!(moved.map(|p| p.room_id), Some("!new:x".to_owned()));
    assert!(store.portal_by_room("!old:x").await?.is_none());
    let found = store
        .portal_by_room("!new:x")
        .await?
        .ok_or("no portal for the new room")?;
    assert_eq!(found.receivers, vec!["@u:x".to_owned()]);
    assert!(store
        .update_portal("direct:a:b", |_| false)
        .await?
        .is_none());
    assert!(store.update_portal("missing", |_| true).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn corrupt_sled_records_are_reported_not_panicked() -> TestResult {
    let db = TestDb::sled("corrupt");
    let path = db.dir.join("db");
    drop(db.open().await?);
    {
        // Write garbage through a raw sled handle, then reopen.
        let raw = ::sled::open(&path)?;
        raw.open_tree("ghosts")?.insert("bob", &b"{not json"[..])?;
        raw.open_tree("meta")?.insert(SCHEMA_KEY, &b"x"[..])?;
        raw.flush()?;
    }
    let err = Store::open(&path)
        .await
        .expect_err("corrupt schema version");
    assert!(
        matches!(err, StoreError::Corrupt { tree: "meta", .. }),
        "{err}"
    );
    {
        let raw = ::sled::open(&path)?;
        raw.open_tree("meta")?
            .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        raw.flush()?;
    }
    let store = Store::open(&path).await?;
    let err = store.get_ghost("bob").await.expect_err("corrupt");
    assert!(
        matches!(err, StoreError::Corrupt { tree: "ghosts", .. }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_sled_store_in_use_is_reported_as_such() -> TestResult {
    let db = TestDb::sled("locked");
    let _store = db.open().await?;
    let err = db.open().await.expect_err("already open");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    Ok(())
}
