//! DM room name and avatar from the peer's profile (mautrix's `private_chat_portal_meta`,
//! on by default here): a DM portal is created with the peer's name and avatar, and follows
//! their changes when the peer's ghost profile is refreshed (each message from the peer brings
//! a refresh once the profile is older than `bridge.profile_refresh_secs`, or at once on
//! networks that push profile changes). Clients that compute DM names from members show the
//! same; clients that do not (Beeper, bots, room lists in other tools) need it.

use ruma::{OwnedMxcUri, RoomId};
use serde_json::json;
use tracing::{debug, warn};

use super::{chat_of_key, PortalWorker};
use crate::core::connector::ChatKind;
use crate::store::GhostRecord;

impl PortalWorker {
    /// The DM's name and avatar as the peer's ghost shows them now: `(name, avatar mxc)`;
    /// `None` for groups, when the option is off, or before the ghost exists.
    pub(super) async fn dm_meta(&self) -> Option<(Option<String>, Option<OwnedMxcUri>)> {
        if !self.ctx.cfg.bridge.private_chat_portal_meta {
            return None;
        }
        let chat = chat_of_key(&self.key).filter(|c| c.kind == ChatKind::Direct)?;
        let ghost = self.ctx.store.get_ghost(&chat.id).await.ok().flatten()?;
        let name = ghost
            .displayname
            .as_deref()
            .map(|d| self.ctx.ghosts.plain_name(d).to_owned());
        let avatar = ghost.avatar_mxc.map(OwnedMxcUri::from);
        Some((name, avatar))
    }

    /// Brings a DM room's name and avatar in line with the peer's profile (`peer`, the ghost's
    /// record as just ensured), as the peer's ghost (the DM's creator, so allowed to), storing
    /// what was set in the portal record. Only when the profile was refreshed since the last
    /// look (the record's `updated_ms`), so an ordinary message costs nothing more.
    pub(super) async fn sync_dm_meta(&mut self, room: &RoomId, peer: &GhostRecord) {
        if !self.ctx.cfg.bridge.private_chat_portal_meta
            || self.dm_meta_seen == Some(peer.updated_ms)
        {
            return;
        }
        self.dm_meta_seen = Some(peer.updated_ms);
        let name = peer
            .displayname
            .as_deref()
            .map(|d| self.ctx.ghosts.plain_name(d).to_owned());
        let avatar = peer.avatar_mxc.clone().map(OwnedMxcUri::from);
        let Some(mut record) = self.record().await else {
            return;
        };
        let Some(chat) = chat_of_key(&self.key) else {
            return;
        };
        let ghost = self.ctx.ghosts.mxid(&chat.id);
        let avatar = avatar.map(|a| a.to_string());
        let mut changed = false;
        if name.is_some() && name != record.name {
            let content = json!({ "name": name });
            match self
                .ctx
                .matrix
                .send_state(room, &ghost, "m.room.name", "", &content)
                .await
            {
                Ok(_) => {
                    record.name = name;
                    changed = true;
                }
                Err(e) => debug!(%room, error = %e, "DM name not set"),
            }
        }
        if avatar != record.avatar_mxc {
            let content = json!({ "url": avatar.clone().unwrap_or_default() });
            match self
                .ctx
                .matrix
                .send_state(room, &ghost, "m.room.avatar", "", &content)
                .await
            {
                Ok(_) => {
                    record.avatar_mxc = avatar;
                    changed = true;
                }
                Err(e) => debug!(%room, error = %e, "DM avatar not set"),
            }
        }
        if changed {
            if let Err(e) = self.ctx.store.put_portal(&record).await {
                warn!(portal = %self.key, error = %e, "portal record not saved");
            }
        }
    }
}
