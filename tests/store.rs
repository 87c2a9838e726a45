//! The store on both backends (sled, and PostgreSQL in a throw-away cluster): every table,
//! durability across reopen, dedup scoping, inbox order and replay, schema checks; and
//! `migrate-store`, which must copy a sled store into PostgreSQL exactly.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use imbridge::store::testing::TestDb;
use imbridge::store::{
    GhostRecord, LoginRecord, MessageRecord, Migration, OpenOptions, PortalRecord, ReactionRecord,
    StepFuture, Store, StoreError, TxnScope,
};

#[path = "store/migrate.rs"]
mod migrate;

type TestResult = Result<(), Box<dyn std::error::Error>>;

imbridge::store_tests_on_both_backends!(
    every_tree_round_trips_and_survives_reopen,
    message_map_works_both_ways,
    txn_dedup_is_scoped_and_expires,
    inbox_keeps_order_acks_and_replays_after_reopen,
    reaction_map_works_both_ways_and_survives_reopen,
    inbox_reads_after_a_position_counts_and_clears,
    racing_enqueues_keep_each_event_once_and_numbers_in_order,
);

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn login(mxid: &str) -> LoginRecord {
    LoginRecord {
        mxid: mxid.into(),
        network: "easemob".into(),
        remote_id: "alice".into(),
        secrets: serde_json::json!({"password": "hunter2", "resource": "dev1"}),
        management_room: Some("!mgmt:example.org".into()),
        created_ms: 1,
    }
}

fn ghost(remote: &str) -> GhostRecord {
    GhostRecord {
        remote_id: remote.into(),
        mxid: format!("@easemob_{remote}:example.org"),
        displayname: Some("Bob (Easemob)".into()),
        avatar_url: Some("https://a/b.png".into()),
        avatar_mxc: None,
        registered: true,
        updated_ms: 5,
    }
}

fn portal(key: &str, room: &str) -> PortalRecord {
    PortalRecord {
        key: key.into(),
        room_id: room.into(),
        kind: "group".into(),
        name: Some("Team".into()),
        topic: None,
        avatar_mxc: None,
        receivers: vec!["@alice:example.org".into()],
        is_direct: false,
        created_ms: 7,
    }
}

fn message(remote: &str, event: &str, part: u32) -> MessageRecord {
    MessageRecord {
        room_id: "!room:example.org".into(),
        event_id: event.into(),
        remote_id: remote.into(),
        sender: "bob".into(),
        timestamp_ms: 9,
        part,
        edit_count: 0,
        // Kept as it is (a record stored before the field existed reads as `None`).
        alt_id: Some(format!("sdk-{remote}")),
    }
}

async fn every_tree_round_trips_and_survives_reopen(db: TestDb) -> TestResult {
    let alice = "@alice:example.org";
    {
        let store = db.open().await?;
        store.put_login(&login(alice)).await?;
        store.put_login(&login("@bob:example.org")).await?;
        assert!(store.delete_login("@bob:example.org").await?);
        assert!(!store.delete_login("@bob:example.org").await?);
        store.put_ghost(&ghost("bob")).await?;
        store
            .put_portal(&portal("group:1", "!room:example.org"))
            .await?;
        store
            .put_message("group:1", &message("m1", "$e1", 0))
            .await?;
        store.put_kv("bot_profile_hash", "abc").await?;
        store
            .mark_txn(&TxnScope::from_hs_token("hs"), "17", &[1; 16])
            .await?;
        store.enqueue("matrix", b"one").await?;
        let secrets_debug = format!("{:?}", login("@x:y"));
        assert!(!secrets_debug.contains("hunter2"), "{secrets_debug}");
        assert!(store.size_on_disk().await? > 0);
        store.flush().await?;
    }
    let store = db.open().await?;
    assert_eq!(store.list_logins().await?, vec![login(alice)]);
    assert_eq!(store.get_login(alice).await?, Some(login(alice)));
    assert_eq!(store.get_ghost("bob").await?, Some(ghost("bob")));
    assert_eq!(store.list_ghosts().await?.len(), 1);
    assert_eq!(
        store.get_portal("group:1").await?,
        Some(portal("group:1", "!room:example.org"))
    );
    let by_room = store.portal_by_room("!room:example.org").await?;
    assert_eq!(by_room.map(|p| p.key).as_deref(), Some("group:1"));
    assert_eq!(
        store.message_by_remote("group:1", "m1").await?,
        Some(message("m1", "$e1", 0))
    );
    assert_eq!(
        store.get_kv("bot_profile_hash").await?.as_deref(),
        Some("abc")
    );
    assert_eq!(store.list_kv("bot_").await?.len(), 1);
    assert!(
        store
            .seen_txn(&TxnScope::from_hs_token("hs"), "17", &[1; 16])
            .await?
    );
    assert_eq!(store.pending("matrix").await?.len(), 1);
    assert_eq!(
        store.schema_version().await?,
        imbridge::store::SCHEMA_VERSION
    );
    assert!(store.delete_ghost("bob").await?);
    assert!(store.delete_kv("bot_profile_hash").await?);
    assert_eq!(store.get_kv("bot_profile_hash").await?, None);
    Ok(())
}

async fn message_map_works_both_ways(db: TestDb) -> TestResult {
    let store = db.open().await?;
    store
        .put_message("group:1", &message("m1", "$caption", 0))
        .await?;
    store
        .put_message("group:1", &message("m1", "$image", 1))
        .await?;
    store
        .put_message("group:2", &message("m1", "$elsewhere", 0))
        .await?;
    let (key, rec) = store.message_by_event("$image").await?.expect("found");
    assert_eq!(
        (key.as_str(), rec.remote_id.as_str(), rec.part),
        ("group:1", "m1", 1)
    );
    let first = store.message_by_remote("group:1", "m1").await?;
    assert_eq!(first.map(|m| m.event_id).as_deref(), Some("$caption"));
    let parts = store.message_parts("group:1", "m1").await?;
    assert_eq!(parts.iter().map(|m| m.part).collect::<Vec<_>>(), vec![0, 1]);
    // Replacing a part's event drops the old event's entry.
    store
        .put_message("group:1", &message("m1", "$caption2", 0))
        .await?;
    assert!(store.message_by_event("$caption").await?.is_none());
    assert!(store.message_by_event("$caption2").await?.is_some());
    assert_eq!(store.delete_message("group:1", "m1").await?, 2);
    assert!(store.message_by_event("$image").await?.is_none());
    assert!(store.message_by_remote("group:1", "m1").await?.is_none());
    assert!(store.message_by_event("$elsewhere").await?.is_some());
    Ok(())
}

async fn txn_dedup_is_scoped_and_expires(db: TestDb) -> TestResult {
    let store = db.open().await?;
    let old = TxnScope::from_hs_token("old-hs-token");
    let new = TxnScope::from_hs_token("new-hs-token");
    assert_ne!(old, new);
    assert!(!format!("{old:?}").contains("old-hs-token"));
    let fp = [1u8; 16];
    assert!(!store.seen_txn(&old, "1", &fp).await?);
    store.mark_txn(&old, "1", &fp).await?;
    store.mark_txn(&old, "1", &fp).await?;
    assert!(store.seen_txn(&old, "1", &fp).await?);
    assert!(
        !store.seen_txn(&new, "1", &fp).await?,
        "a new registration starts afresh"
    );
    // The same id carrying other events (Synapse numbering again after a restart) is new;
    // marking it replaces the old mark.
    assert!(!store.seen_txn(&old, "1", &[2; 16]).await?);
    store.mark_txn(&old, "1", &[2; 16]).await?;
    assert!(store.seen_txn(&old, "1", &[2; 16]).await? && !store.seen_txn(&old, "1", &fp).await?);

    // enqueue_events stores items and marks their event ids together; ids already queued
    // are skipped, items without an id always go in.
    let items = [(Some("$a"), b"a".to_vec()), (Some("$b"), b"b".to_vec())];
    assert_eq!(store.enqueue_events("matrix", &items).await?.len(), 2);
    let again = [
        (Some("$b"), b"b".to_vec()),
        (Some("$c"), b"c".to_vec()),
        (None, b"receipt".to_vec()),
    ];
    assert_eq!(store.enqueue_events("matrix", &again).await?.len(), 2);
    assert!(store.seen_event("$a").await? && store.seen_event("$c").await?);
    let pending: Vec<Vec<u8>> = store
        .pending("matrix")
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        pending,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec(),
            b"receipt".to_vec()
        ]
    );
    Ok(())
}

async fn inbox_keeps_order_acks_and_replays_after_reopen(db: TestDb) -> TestResult {
    let (a, batch) = {
        let store = db.open().await?;
        let a = store.enqueue("matrix", vec![b'a']).await?; // a Vec<u8> works too
        let b = store.enqueue("matrix", b"b").await?;
        store.enqueue("remote", b"other queue").await?;
        let batch = store
            .enqueue_batch("matrix", &[b"c".to_vec(), b"d".to_vec()])
            .await?;
        assert!(a < b && b < batch[0] && batch[0] < batch[1]);
        store.ack("matrix", b).await?;
        (a, batch)
    };
    let store = db.open().await?;
    let pending = store.pending("matrix").await?;
    let items: Vec<&[u8]> = pending.iter().map(|(_, v)| v.as_slice()).collect();
    assert_eq!(items, [&b"a"[..], b"c", b"d"]);
    assert_eq!((pending[0].0, pending[1].0), (a, batch[0]));
    assert_eq!(store.pending("remote").await?.len(), 1);
    // New items after a restart still sort after the old ones.
    assert!(store.enqueue("matrix", b"e").await? > batch[1]);
    for (seq, _) in store.pending("matrix").await? {
        store.ack("matrix", seq).await?;
    }
    assert!(store.pending("matrix").await?.is_empty());
    Ok(())
}

async fn reaction_map_works_both_ways_and_survives_reopen(db: TestDb) -> TestResult {
    let record = |event: &str, sender: &str, key: &str| ReactionRecord {
        room_id: "!r:x".into(),
        event_id: event.into(),
        target: "m1".into(),
        sender: sender.into(),
        key: key.into(),
    };
    {
        let store = db.open().await?;
        store
            .put_reaction("direct:alice:bob", &record("$a", "bob", "👍"))
            .await?;
        store
            .put_reaction("direct:alice:bob", &record("$b", "alice", "👍"))
            .await?;
        store
            .put_reaction("direct:alice:bob", &record("$c", "bob", "❤️"))
            .await?;
    }
    let store = db.open().await?;
    assert_eq!(
        store
            .reaction("direct:alice:bob", "m1", "bob", "👍")
            .await?,
        Some(record("$a", "bob", "👍"))
    );
    let (portal, found) = store.reaction_by_event("$b").await?.expect("by event");
    assert_eq!(
        (portal.as_str(), found),
        ("direct:alice:bob", record("$b", "alice", "👍"))
    );
    assert_eq!(
        store.reaction("group:g", "m1", "bob", "👍").await?,
        None,
        "per portal"
    );
    let on_m1 = store.reactions_on("direct:alice:bob", "m1").await?;
    let mut on_m1: Vec<_> = on_m1.into_iter().map(|r| r.event_id).collect();
    on_m1.sort();
    assert_eq!(
        on_m1,
        ["$a", "$b", "$c"],
        "every sender and key on the message"
    );
    assert!(
        store
            .reactions_on("direct:alice:bob", "m")
            .await?
            .is_empty(),
        "no prefix match"
    );
    assert!(
        store.reactions_on("group:g", "m1").await?.is_empty(),
        "per portal"
    );
    let gone = store
        .delete_reaction("direct:alice:bob", "m1", "bob", "👍")
        .await?;
    assert_eq!(gone, Some(record("$a", "bob", "👍")));
    assert_eq!(
        store.reaction_by_event("$a").await?,
        None,
        "both directions removed"
    );
    assert!(
        store.reaction_by_event("$c").await?.is_some(),
        "others kept"
    );
    assert_eq!(
        store
            .delete_reaction("direct:alice:bob", "m1", "bob", "👍")
            .await?,
        None
    );
    Ok(())
}

async fn inbox_reads_after_a_position_counts_and_clears(db: TestDb) -> TestResult {
    let seqs = {
        let store = db.open().await?;
        // Queue names that are prefixes of each other stay apart.
        store.enqueue("remote:@a:x", b"other").await?;
        let mut seqs = Vec::new();
        for i in 0u8..5 {
            seqs.push(store.enqueue_unflushed("remote:@a", [i]).await?);
        }
        store.enqueue("remote:@a:x", b"other again").await?;
        store.flush().await?; // one flush makes the unflushed batch durable
        seqs
    };
    let store = db.open().await?;
    assert_eq!(store.pending_count("remote:@a").await, 5);
    let first = store.pending_after("remote:@a", None, 2).await?;
    assert_eq!(
        first,
        vec![(seqs[0], vec![0u8]), (seqs[1], vec![1u8])],
        "limit respected, oldest first"
    );
    let rest = store.pending_after("remote:@a", Some(seqs[1]), 10).await?;
    let values: Vec<u8> = rest.iter().map(|(_, v)| v[0]).collect();
    assert_eq!(values, [2, 3, 4]);
    assert!(store
        .pending_after("remote:@a", Some(seqs[4]), 10)
        .await?
        .is_empty());
    assert!(store
        .pending_after("remote:@a", Some(u64::MAX), 10)
        .await?
        .is_empty());
    assert_eq!(store.clear_queue("remote:@a").await?, 5);
    assert_eq!(store.pending_count("remote:@a").await, 0);
    assert_eq!(store.pending_count("remote:@a:x").await, 2);
    Ok(())
}

/// Writers racing on one queue (and on the same event ids) while a reader follows with
/// `pending_after`: every event is queued once, and the reader, which only ever asks for
/// numbers above the last it saw, still gets every item (numbers become visible in order).
async fn racing_enqueues_keep_each_event_once_and_numbers_in_order(db: TestDb) -> TestResult {
    let store = db.open().await?;
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..25u8 {
                // Every writer offers the same 25 events; plus one item of its own.
                let id = format!("$e{i}");
                let items = [(Some(id.as_str()), vec![i]), (None, vec![100 + w])];
                store.enqueue_events("race", &items).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut position = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while seen.len() < 125 && std::time::Instant::now() < deadline {
        let batch = store.pending_after("race", position, 7).await?;
        if let Some((seq, _)) = batch.last() {
            position = Some(*seq);
        } else {
            tokio::task::yield_now().await;
        }
        seen.extend(batch);
    }
    for w in writers {
        w.await??;
    }
    assert_eq!(seen.len(), 125, "the reader missed items");
    assert!(seen.windows(2).all(|p| p[0].0 < p[1].0), "numbers increase");
    let mut events: Vec<u8> = seen
        .iter()
        .map(|(_, v)| v[0])
        .filter(|b| *b < 100)
        .collect();
    events.sort_unstable();
    assert_eq!(events, (0..25).collect::<Vec<u8>>(), "each event once");
    assert_eq!(store.pending("race").await?, seen);
    Ok(())
}

// ---- sled only ---------------------------------------------------------------------------

fn bump(store: &Store) -> StepFuture<'_> {
    Box::pin(store.put_kv("migrated", "yes"))
}

#[tokio::test]
async fn sled_schema_versions_migrate_and_newer_databases_are_refused() -> TestResult {
    let db = TestDb::sled("schema");
    let path = db.dir.join("db");
    drop(Store::open(&path).await?);
    let steps = [Migration {
        from: 1,
        to: 2,
        run: bump,
    }];
    let v2 = OpenOptions {
        schema_version: 2,
        migrations: &steps,
        ..OpenOptions::default()
    };
    {
        let store = Store::open_with(&path, &v2).await?;
        assert_eq!(store.schema_version().await?, 2);
        assert_eq!(store.get_kv("migrated").await?.as_deref(), Some("yes"));
    }
    let err = Store::open(&path)
        .await
        .expect_err("version 2 is too new for this build");
    let too_new = matches!(
        err,
        StoreError::SchemaTooNew {
            found: 2,
            supported: 1,
            ..
        }
    );
    assert!(too_new, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("schema version 2") && text.contains("newer imbridge"),
        "{text}"
    );
    // A missing step is an error too, not a silent upgrade.
    let v3 = OpenOptions {
        schema_version: 3,
        ..v2
    };
    let err = Store::open_with(&path, &v3)
        .await
        .expect_err("no step 2 -> 3");
    assert!(
        matches!(err, StoreError::Migration { from: 2, .. }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn sled_database_folder_is_private() -> TestResult {
    let db = TestDb::sled("perms");
    let path = db.dir.join("nested").join("db");
    let store = Store::open(&path).await?;
    store.put_login(&login("@alice:example.org")).await?;
    assert_eq!(mode_of(&path), 0o700);
    for entry in std::fs::read_dir(&path)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            assert_eq!(mode_of(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }
    drop(store);
    // An existing folder with loose permissions is tightened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    let _store = Store::open(&path).await?;
    assert_eq!(mode_of(&path), 0o700);
    Ok(())
}

// ---- PostgreSQL only ---------------------------------------------------------------------

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_is_numbered_and_newer_databases_are_refused() -> TestResult {
    let Some(db) = TestDb::postgres("pg-schema") else {
        return Ok(());
    };
    let uri = db.uri.clone().ok_or("no uri")?;
    {
        let store = db.open().await?;
        assert_eq!(
            store.schema_version().await?,
            imbridge::store::SCHEMA_VERSION
        );
        assert!(store.size_on_disk().await? > 0);
        assert_eq!(store.path(), None);
        assert!(
            store.describe().starts_with("postgres "),
            "{}",
            store.describe()
        );
    }
    // Opening again is a no-op migration.
    drop(db.open().await?);
    let (client, connection) = tokio_postgres::connect(&uri, tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(connection);
    client
        .execute("UPDATE schema_version SET version = 99", &[])
        .await?;
    drop(client);
    let _ = conn.await;
    let err = db.open().await.expect_err("version 99 is too new");
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    Ok(())
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_errors_hide_the_password() -> TestResult {
    // Nothing listens on port 1; the error names the server without the password.
    let err = Store::open_postgres("postgres://bridge:s3cret@127.0.0.1:1/imbridge", 1)
        .await
        .expect_err("nothing listens there");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    Ok(())
}
