//! Unit tests of store details (the main cases are in `tests/config_store.rs`).

use std::path::PathBuf;

use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A fresh store in a temporary folder, removed on drop.
struct TempStore {
    dir: PathBuf,
    store: Option<Store>,
}

impl TempStore {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("imbridge-unit-{name}-{pid}-{nanos}"));
        let store = Store::open(dir.join("db")).expect("open store");
        TempStore {
            dir,
            store: Some(store),
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("open")
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        self.store = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    }
}

#[test]
fn portal_room_index_follows_the_portal() -> TestResult {
    let t = TempStore::new("portal");
    let store = t.store();
    store.put_portal(&portal("dm:bob", "!old:x"))?;
    store.put_portal(&portal("dm:bob", "!new:x"))?;
    assert!(store.portal_by_room("!old:x")?.is_none());
    let moved = store.portal_by_room("!new:x")?;
    assert_eq!(moved.map(|p| p.room_id).as_deref(), Some("!new:x"));
    // A portal without a room has no index entry.
    store.put_portal(&portal("dm:carol", ""))?;
    assert!(store.portal_by_room("")?.is_none());
    store.put_message("dm:bob", &message("m1", "$a"))?;
    store.put_message("dm:bob:x", &message("m1", "$b"))?;
    assert_eq!(store.list_portals()?.len(), 2);
    assert!(store.delete_portal("dm:bob")?);
    assert!(store.get_portal("dm:bob")?.is_none());
    assert!(store.portal_by_room("!new:x")?.is_none());
    assert!(store.message_by_event("$a")?.is_none());
    // A portal whose key extends the deleted one keeps its messages.
    assert!(store.message_by_event("$b")?.is_some());
    assert!(!store.delete_portal("dm:bob")?);
    Ok(())
}

#[test]
fn deleting_a_big_portal_takes_several_batches() -> TestResult {
    let t = TempStore::new("bigportal");
    let store = t.store();
    store.put_portal(&portal("group:big", "!big:x"))?;
    for i in 0..600 {
        store.put_message("group:big", &message(&format!("m{i}"), &format!("$e{i}")))?;
    }
    assert_eq!(store.delete_portal_messages("group:big")?, 600);
    assert!(store.message_by_event("$e599")?.is_none());
    assert!(store.inner.message_events.is_empty());
    Ok(())
}

#[test]
fn txn_marks_expire_by_count_and_age() -> TestResult {
    let t = TempStore::new("expiry");
    let store = t.store();
    let old = TxnScope::from_hs_token("old");
    let new = TxnScope::from_hs_token("new");
    let fp = [7u8; 16];
    for i in 1..=6 {
        store.mark_txn(&old, &i.to_string(), &fp)?;
    }
    store.mark_txn(&new, "1", &fp)?;
    let now = now_ms();
    // Keep only the newest 3 marks of each scope.
    assert_eq!(store.expire_txns(now, u64::MAX, 3)?, 3);
    let mut kept = 0;
    for i in 1..=6 {
        kept += usize::from(store.seen_txn(&old, &i.to_string(), &fp)?);
    }
    assert_eq!(kept, 3);
    assert!(store.seen_txn(&old, "6", &fp)?, "the newest stays");
    assert!(store.seen_txn(&new, "1", &fp)?, "other scopes untouched");
    // Everything older than a day, seen from a week later, goes.
    let day = 24 * 3600 * 1000;
    assert_eq!(store.expire_txns(now + 7 * day, day, 100)?, 4);
    assert!(!store.seen_txn(&new, "1", &fp)?);
    assert!(store.inner.txns.is_empty() && store.inner.txn_order.is_empty());
    Ok(())
}

#[test]
fn corrupt_records_are_reported_not_panicked() -> TestResult {
    let t = TempStore::new("corrupt");
    let store = t.store();
    store.inner.ghosts.insert("bob", &b"{not json"[..])?;
    let err = store.get_ghost("bob").expect_err("corrupt");
    assert!(
        matches!(err, StoreError::Corrupt { tree: "ghosts", .. }),
        "{err}"
    );
    store.inner.meta.insert(SCHEMA_KEY, &b"x"[..])?;
    assert!(store.schema_version().is_err());
    Ok(())
}

#[test]
fn a_store_in_use_is_reported_as_such() {
    let t = TempStore::new("locked");
    let err = Store::open(t.store().path()).expect_err("already open");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn update_portal_moves_the_room_index() -> TestResult {
    let tmp = TempStore::new("update-portal");
    let store = tmp.store();
    store.put_portal(&portal("direct:a:b", "!old:x"))?;
    let moved = store.update_portal("direct:a:b", |p| {
        p.room_id = "!new:x".into();
        p.receivers.push("@u:x".into());
        true
    })?;
    assert_eq!(moved.map(|p| p.room_id), Some("!new:x".to_owned()));
    assert!(store.portal_by_room("!old:x")?.is_none());
    let found = store
        .portal_by_room("!new:x")?
        .ok_or("no portal for the new room")?;
    assert_eq!(found.receivers, vec!["@u:x".to_owned()]);
    assert!(store.update_portal("direct:a:b", |_| false)?.is_none());
    assert!(store.update_portal("missing", |_| true)?.is_none());
    Ok(())
}
