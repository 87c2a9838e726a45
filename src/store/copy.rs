//! Copying a whole store into another (`imbridge migrate-store`): dump the source, load the
//! dump into the empty target in one transaction, then dump the target and check that it
//! holds exactly the same records.

use super::{Result, Store, StoreError};

/// What a copy moved: how many records of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub logins: usize,
    pub ghosts: usize,
    pub portals: usize,
    pub messages: usize,
    pub reactions: usize,
    pub kv: usize,
    pub txn_marks: usize,
    pub inbox: usize,
    /// Every record, index entries included.
    pub total: usize,
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} logins, {} ghosts, {} portals, {} messages, {} reactions, {} misc values, \
             {} dedup marks, {} inbox items ({} records with indexes)",
            self.logins,
            self.ghosts,
            self.portals,
            self.messages,
            self.reactions,
            self.kv,
            self.txn_marks,
            self.inbox,
            self.total
        )
    }
}

/// Copies every record of `from` into `to`, which must be empty ([`StoreError::NotEmpty`]),
/// and verifies the copy record by record. The source is only read. On a verification
/// mismatch ([`StoreError::CopyMismatch`]) the target keeps what was written and the error
/// says which kinds differ.
pub async fn copy_store(from: &Store, to: &Store) -> Result<CopyReport> {
    let source = from.dump().await?;
    to.load(&source).await?;
    let copied = to.dump().await?;
    if copied != source {
        let kinds = [
            ("logins", copied.logins == source.logins),
            ("ghosts", copied.ghosts == source.ghosts),
            ("portals", copied.portals == source.portals),
            ("room index", copied.room_portals == source.room_portals),
            ("messages", copied.messages == source.messages),
            (
                "message events",
                copied.message_events == source.message_events,
            ),
            ("reactions", copied.reactions == source.reactions),
            (
                "reaction events",
                copied.reaction_events == source.reaction_events,
            ),
            ("misc values", copied.kv == source.kv),
            ("dedup marks", copied.txn_marks == source.txn_marks),
            ("inbox", copied.inbox == source.inbox),
            (
                "schema version",
                copied.schema_version == source.schema_version,
            ),
        ];
        let differ: Vec<&str> = kinds
            .iter()
            .filter(|(_, same)| !same)
            .map(|(k, _)| *k)
            .collect();
        return Err(StoreError::CopyMismatch {
            target: to.describe(),
            kinds: differ.join(", "),
        });
    }
    Ok(CopyReport {
        logins: source.logins.len(),
        ghosts: source.ghosts.len(),
        portals: source.portals.len(),
        messages: source.messages.len(),
        reactions: source.reactions.len(),
        kv: source.kv.len(),
        txn_marks: source.txn_marks.len(),
        inbox: source.inbox.len(),
        total: source.len(),
    })
}
