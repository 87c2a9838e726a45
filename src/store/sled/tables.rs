//! Logins, ghosts, portals (with their room index) and the misc `kv` tree.

use sled::Transactional;

use super::keys::{decode, encode, utf8};
use super::{abort, tx_error, SledStore};
use crate::store::{GhostRecord, LoginRecord, PortalRecord, Result};

impl SledStore {
    // ---- logins -------------------------------------------------------------------------

    /// The login of a Matrix user.
    pub(super) fn get_login(&self, mxid: &str) -> Result<Option<LoginRecord>> {
        let tree = &self.logins;
        tree.get(mxid)?
            .map(|v| decode("logins", mxid.as_bytes(), &v))
            .transpose()
    }

    /// Saves a login (replacing the user's previous one). Durable on return.
    pub(super) fn put_login(&self, record: &LoginRecord) -> Result<()> {
        let value = encode("logins", record)?;
        self.logins.insert(record.mxid.as_bytes(), value)?;
        Ok(())
    }

    /// Forgets a login; returns whether there was one. Durable on return.
    pub(super) fn delete_login(&self, mxid: &str) -> Result<bool> {
        let existed = self.logins.remove(mxid)?.is_some();
        Ok(existed)
    }

    /// Every login, ordered by MXID.
    pub(super) fn list_logins(&self) -> Result<Vec<LoginRecord>> {
        list(&self.logins, "logins")
    }

    // ---- ghosts -------------------------------------------------------------------------

    /// The ghost of a remote user.
    pub(super) fn get_ghost(&self, remote_id: &str) -> Result<Option<GhostRecord>> {
        self.ghosts
            .get(remote_id)?
            .map(|v| decode("ghosts", remote_id.as_bytes(), &v))
            .transpose()
    }

    /// Saves a ghost.
    pub(super) fn put_ghost(&self, record: &GhostRecord) -> Result<()> {
        let value = encode("ghosts", record)?;
        self.ghosts.insert(record.remote_id.as_bytes(), value)?;
        Ok(())
    }

    /// Forgets a ghost; returns whether there was one.
    pub(super) fn delete_ghost(&self, remote_id: &str) -> Result<bool> {
        Ok(self.ghosts.remove(remote_id)?.is_some())
    }

    /// Every ghost, ordered by remote id.
    pub(super) fn list_ghosts(&self) -> Result<Vec<GhostRecord>> {
        list(&self.ghosts, "ghosts")
    }

    // ---- portals ------------------------------------------------------------------------

    /// A portal by its key.
    pub(super) fn get_portal(&self, key: &str) -> Result<Option<PortalRecord>> {
        self.portals
            .get(key)?
            .map(|v| decode("portals", key.as_bytes(), &v))
            .transpose()
    }

    /// The portal of a Matrix room.
    pub(super) fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRecord>> {
        let Some(key) = self.room_portals.get(room_id)? else {
            return Ok(None);
        };
        let key = utf8("room_portals", room_id.as_bytes(), &key)?;
        self.get_portal(&key)
    }

    /// Saves a portal and its room index together (a changed room id moves the index entry;
    /// an empty room id has none).
    pub(super) fn put_portal(&self, record: &PortalRecord) -> Result<()> {
        let value = encode("portals", record)?;
        let (portals, rooms) = (&self.portals, &self.room_portals);
        (portals, rooms)
            .transaction(|(portals, rooms)| {
                if let Some(old) = portals.get(record.key.as_bytes())? {
                    let old: PortalRecord =
                        decode("portals", record.key.as_bytes(), &old).map_err(abort)?;
                    if old.room_id != record.room_id && !old.room_id.is_empty() {
                        let points_here = rooms
                            .get(old.room_id.as_bytes())?
                            .is_some_and(|k| k.as_ref() == record.key.as_bytes());
                        if points_here {
                            rooms.remove(old.room_id.as_bytes())?;
                        }
                    }
                }
                portals.insert(record.key.as_bytes(), value.clone())?;
                if !record.room_id.is_empty() {
                    rooms.insert(record.room_id.as_bytes(), record.key.as_bytes())?;
                }
                Ok(())
            })
            .map_err(tx_error)
    }

    /// Changes a portal in place, atomically: `change` edits the stored record (it may run
    /// more than once when the transaction retries, so it must only depend on the record) and
    /// returns whether to save it. The room index follows a changed room id (the old entry is
    /// removed if it pointed here). Returns the record as saved, or `None` when there is no
    /// such portal or `change` declined.
    pub(super) fn update_portal(
        &self,
        key: &str,
        change: impl Fn(&mut PortalRecord) -> bool,
    ) -> Result<Option<PortalRecord>> {
        let (portals, rooms) = (&self.portals, &self.room_portals);
        (portals, rooms)
            .transaction(|(portals, rooms)| {
                let Some(old) = portals.get(key.as_bytes())? else {
                    return Ok(None);
                };
                let old: PortalRecord = decode("portals", key.as_bytes(), &old).map_err(abort)?;
                let mut record = old.clone();
                if !change(&mut record) {
                    return Ok(None);
                }
                record.key = key.to_owned();
                if old.room_id != record.room_id && !old.room_id.is_empty() {
                    let points_here = rooms
                        .get(old.room_id.as_bytes())?
                        .is_some_and(|k| k.as_ref() == key.as_bytes());
                    if points_here {
                        rooms.remove(old.room_id.as_bytes())?;
                    }
                }
                let value = encode("portals", &record).map_err(abort)?;
                portals.insert(key.as_bytes(), value)?;
                if !record.room_id.is_empty() {
                    rooms.insert(record.room_id.as_bytes(), key.as_bytes())?;
                }
                Ok(Some(record))
            })
            .map_err(tx_error)
    }

    /// Forgets a portal, its room index entry and its message map; returns whether it existed.
    /// Messages go first (in batches), the portal last, so a crash midway leaves the portal
    /// in place and a second call finishes the job.
    pub(super) fn delete_portal(&self, key: &str) -> Result<bool> {
        self.delete_portal_messages(key)?;
        let (portals, rooms) = (&self.portals, &self.room_portals);
        (portals, rooms)
            .transaction(|(portals, rooms)| {
                let Some(old) = portals.remove(key.as_bytes())? else {
                    return Ok(false);
                };
                let old: PortalRecord = decode("portals", key.as_bytes(), &old).map_err(abort)?;
                if !old.room_id.is_empty() {
                    let points_here = rooms
                        .get(old.room_id.as_bytes())?
                        .is_some_and(|k| k.as_ref() == key.as_bytes());
                    if points_here {
                        rooms.remove(old.room_id.as_bytes())?;
                    }
                }
                Ok(true)
            })
            .map_err(tx_error)
    }

    /// Every portal, ordered by key.
    pub(super) fn list_portals(&self) -> Result<Vec<PortalRecord>> {
        list(&self.portals, "portals")
    }

    // ---- kv -----------------------------------------------------------------------------

    /// A small piece of misc state (e.g. the bot profile's hash).
    pub(super) fn get_kv(&self, key: &str) -> Result<Option<String>> {
        self.kv
            .get(key)?
            .map(|v| utf8("kv", key.as_bytes(), &v))
            .transpose()
    }

    /// Sets a misc value.
    pub(super) fn put_kv(&self, key: &str, value: &str) -> Result<()> {
        self.kv.insert(key, value.as_bytes())?;
        Ok(())
    }

    /// Removes a misc value; returns whether it was set.
    pub(super) fn delete_kv(&self, key: &str) -> Result<bool> {
        Ok(self.kv.remove(key)?.is_some())
    }

    /// Every misc key and value with this prefix, ordered by key.
    pub(super) fn list_kv(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix(prefix) {
            let (k, v) = item?;
            out.push((utf8("kv", &k, &k)?, utf8("kv", &k, &v)?));
        }
        Ok(out)
    }
}

/// Decodes every record of a tree, in key order.
fn list<T: serde::de::DeserializeOwned>(tree: &sled::Tree, name: &'static str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (k, v) = item?;
        out.push(decode(name, &k, &v)?);
    }
    Ok(out)
}
