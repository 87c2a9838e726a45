//! The sandbox's persistence (`imbridge sandbox jmessage --data DIR`): users with their
//! passwords, unacknowledged inboxes and recent responses (for `rid` replays), groups, the
//! sent-message ledger (recall, receipts), upload tokens, profiles, friends, pending friend
//! invitations and blacklists, written to
//! `DIR/state.json` by [`crate::network::sandbox_store`] whenever they changed and once more at
//! shutdown; uploads in `DIR/media/<hex of the media id>`, each written once. Read back at
//! start-up. Sockets are not kept: clients connect and log in again after a restart, and get
//! what waited for them with `sync_check`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::info;

use super::groups::Book;
use super::profiles::Profile;
use super::state::{Sandbox, SandboxConfig};
use crate::network::sandbox_store;

/// Everything persisted but the uploads' bytes.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    users: serde_json::Value,
    book: serde_json::Value,
    profiles: HashMap<String, Profile>,
}

/// The file holding upload `media_id` (any characters: the name is its hex).
fn media_file(dir: &Path, media_id: &str) -> PathBuf {
    let name: String = media_id.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join("media").join(name)
}

impl Sandbox {
    /// A sandbox with the state saved in `dir` (none yet: empty). A file that does not parse,
    /// or an upload whose file is missing, is an error naming it.
    pub fn open(cfg: SandboxConfig, dir: &Path) -> anyhow::Result<Self> {
        let sb = Sandbox::new(cfg);
        std::fs::create_dir_all(dir.join("media"))
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let path = sandbox_store::state_file(dir);
        if let Some(bytes) = sandbox_store::read(dir)? {
            let corrupt = |e: &dyn std::fmt::Display| {
                anyhow::anyhow!("jmessage sandbox state {} is corrupt: {e}", path.display())
            };
            let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
            sb.restore_users(snap.users).map_err(|e| corrupt(&e))?;
            let mut book: Book = serde_json::from_value(snap.book).map_err(|e| corrupt(&e))?;
            for (id, m) in book.media.iter_mut() {
                let file = media_file(dir, id);
                m.bytes = std::fs::read(&file).map_err(|e| {
                    anyhow::anyhow!("upload {id:?} ({}) unreadable: {e}", file.display())
                })?;
            }
            *sb.book() = book;
            *sb.profiles.lock().unwrap_or_else(|p| p.into_inner()) = snap.profiles;
            info!(path = %path.display(), "jmessage sandbox state loaded");
        }
        Ok(sb)
    }

    /// Writes the uploads not yet in `dir`, then returns the snapshot.
    fn snapshot(&self, dir: &Path) -> anyhow::Result<Vec<u8>> {
        let (book, new_media) = {
            let book = self.book();
            let new: Vec<(PathBuf, Vec<u8>)> = book
                .media
                .iter()
                .map(|(id, m)| (media_file(dir, id), m))
                .filter(|(file, _)| !file.exists())
                .map(|(file, m)| (file, m.bytes.clone()))
                .collect();
            (serde_json::to_value(&*book)?, new)
        };
        for (file, bytes) in new_media {
            std::fs::write(&file, bytes)?;
        }
        let profiles = self
            .profiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let snap = Snapshot {
            users: self.users_data()?,
            book,
            profiles,
        };
        Ok(serde_json::to_vec(&snap)?)
    }

    /// Writes the state to `dir` now.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        Ok(sandbox_store::write_atomic(dir, &self.snapshot(dir)?)?)
    }
}

/// Saves `sandbox` to `dir` whenever its state changed until `stop` resolves, then once more.
pub async fn persist_loop(
    sandbox: Arc<Sandbox>,
    dir: PathBuf,
    stop: impl std::future::Future<Output = ()>,
) {
    let at = dir.clone();
    let snapshot = move || sandbox.snapshot(&at);
    sandbox_store::persist_loop("jmessage", dir, snapshot, stop).await;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::network::jmessage::wire::Content;

    #[test]
    fn users_inboxes_groups_uploads_profiles_and_friends_survive_a_restart() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("imbridge-jm-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = SandboxConfig::new("appkey", "secret");
        let sb = Sandbox::open(cfg.clone(), &dir)?;
        assert!(sb.register("alice", "pw-a") && sb.register("bob", "pw-b"));
        let content: Content = serde_json::from_value(json!({
            "target_type": "single", "target_id": "bob", "from_id": "alice",
            "msg_type": "text", "msg_body": {"text": "while away"}}))?;
        let (msg_id, _) = sb
            .send_single("alice", content)
            .map_err(|r| anyhow::anyhow!("{r:?}"))?;
        let gid = sb
            .create_group("alice", "Team", "we ship")
            .map_err(|r| anyhow::anyhow!("{r:?}"))?;
        let media_id = sb.store_media("image", b"\x89PNG bytes".to_vec(), "image/png".into());
        sb.update_profile("alice", Some("Alice A."), None, None);
        let friends = |user: &str, name: &str, data: serde_json::Value| {
            super::super::friends::handle(&sb, user, name, &data).map(|v| v["code"].clone())
        };
        let invite = json!({"target_name": "bob", "why": "hi", "from_type": 1});
        assert_eq!(friends("alice", "add_friend", invite), Some(json!(0)));
        let block = json!({"member_usernames": [{"username": "alice"}]});
        assert_eq!(friends("bob", "add_black_list", block), Some(json!(0)));
        sb.save(&dir)?;

        let again = Sandbox::open(cfg.clone(), &dir)?;
        assert!(again
            .check_login("bob", &crate::network::jmessage::wire::md5_hex(b"pw-b"))
            .is_ok());
        let (_, ids) = again.pending_conversations("bob");
        assert_eq!(ids, [msg_id], "bob's unacknowledged message waits for him");
        assert!(again
            .groups()
            .iter()
            .any(|(g, name, _)| *g == gid && name == "Team"));
        assert_eq!(
            again.media(&media_id),
            Some((b"\x89PNG bytes".to_vec(), "image/png".to_owned()))
        );
        assert_eq!(
            again.profile("alice").map(|p| p.nickname).as_deref(),
            Some("Alice A.")
        );
        assert_eq!(
            again.friend_invitations_of("bob"),
            [("alice".to_owned(), "hi".to_owned())]
        );
        assert_eq!(again.blacklist_of("bob"), ["alice"]);
        // New ids do not collide with the ones handed out before the restart.
        assert!(again.next_id() > msg_id);

        std::fs::write(dir.join("state.json"), b"[1, 2")?;
        let err = Sandbox::open(cfg, &dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("corrupt") && err.contains("state.json"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
