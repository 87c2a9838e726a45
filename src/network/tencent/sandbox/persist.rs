//! The sandbox's persistence (`imbridge sandbox tencent --data DIR`): accounts with their
//! offline stores, C2C history and read state, groups with their members and message logs
//! (Community topics included) and profiles, written to `DIR/state.json` by
//! [`crate::network::sandbox_store`] whenever they changed and once more at shutdown; read
//! back at start-up. Uploads ([`super::media`]) go to `DIR/media/`, one file each, as they come. Online instances and counters for tests are not kept: clients log in
//! again after a restart, and pull what waited for them with `openim.getmsg` /
//! `group_msg_get`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::info;

use super::groups::Group;
use super::state::{Sandbox, SandboxConfig, StateData};
use crate::network::sandbox_store;

/// Everything persisted.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    state: StateData,
    groups: HashMap<String, Group>,
    profiles: HashMap<String, std::collections::BTreeMap<String, serde_json::Value>>,
}

impl Sandbox {
    /// A sandbox with the state saved in `dir` (none yet: empty). A file that does not parse
    /// is an error naming it, never silently replaced.
    pub fn open(cfg: SandboxConfig, dir: &Path) -> anyhow::Result<Self> {
        let sb = Sandbox::new(cfg);
        sb.media.set_dir(dir.join("media"));
        let path = sandbox_store::state_file(dir);
        if let Some(bytes) = sandbox_store::read(dir)? {
            let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("tencent sandbox state {} is corrupt: {e}", path.display())
            })?;
            sb.restore_state(snap.state).map_err(|e| {
                anyhow::anyhow!("tencent sandbox state {} is corrupt: {e}", path.display())
            })?;
            *sb.groups_lock() = snap.groups;
            *sb.profiles_lock() = snap.profiles;
            info!(path = %path.display(), "tencent sandbox state loaded");
        }
        Ok(sb)
    }

    fn snapshot(&self) -> serde_json::Result<Vec<u8>> {
        // Groups before state, the lock order everywhere else.
        let groups = self.groups_lock().clone();
        let snap = Snapshot {
            state: self.state_data()?,
            groups,
            profiles: self.profiles_lock().clone(),
        };
        serde_json::to_vec(&snap)
    }

    /// Writes the state to `dir` now.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        Ok(sandbox_store::write_atomic(dir, &self.snapshot()?)?)
    }
}

/// Saves `sandbox` to `dir` whenever its state changed until `stop` resolves, then once
/// more ([`sandbox_store::persist_loop`]).
pub async fn persist_loop(
    sandbox: Arc<Sandbox>,
    dir: PathBuf,
    stop: impl std::future::Future<Output = ()>,
) {
    let snapshot = move || Ok(sandbox.snapshot()?);
    sandbox_store::persist_loop("tencent", dir, snapshot, stop).await;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::state::SendMeta;
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("imbridge-tc-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn offline_messages_groups_and_profiles_survive_a_restart() -> anyhow::Result<()> {
        let d = dir("roundtrip");
        let cfg = SandboxConfig::new(1_400_000_001, "key");
        let sb = Sandbox::open(cfg.clone(), &d)?;
        sb.import("alice");
        sb.import("bob");
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "while away"}}]);
        let meta = SendMeta {
            seq: 1,
            random: 7,
            ..Default::default()
        };
        assert!(sb.send_c2c("alice", "bob", &body, &meta, None).is_some());
        let gid = sb
            .create_group("Work", "", "Team", "alice", &["bob".to_owned()])
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        sb.send_group("alice", &gid, 9, &body, &json!([]), None)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let set = json!({"ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice A."}]});
        assert_eq!(sb.portrait_set("alice", None, &set)["ErrorCode"], 0);
        sb.save(&d)?;

        let again = Sandbox::open(cfg.clone(), &d)?;
        assert!(again.exists("alice") && again.exists("bob"));
        let (list, _, _) = again.getmsg("bob", "");
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["MsgBody"][0]["MsgContent"]["Text"], "while away");
        let (history, _) = again
            .group_msg_get("bob", &gid, 0, 20)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(history.len(), 1);
        // A retried group send is still recognised: not stored twice.
        let d2 = again
            .send_group("alice", &gid, 9, &body, &json!([]), None)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(d2.seq, 1);
        let p = again.portrait_get(&json!({"To_Account": ["alice"]}));
        assert_eq!(
            p["UserProfileItem"][0]["ProfileItem"][0]["Value"],
            "Alice A."
        );

        // A corrupt file is refused with its name, not replaced.
        std::fs::write(d.join("state.json"), b"{not json")?;
        let err = Sandbox::open(cfg, &d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("corrupt") && err.contains("state.json"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    }
}
