//! Saving a sandbox's state to its data dir (`imbridge sandbox <network> --data DIR`), shared
//! by the sandboxes that keep a JSON snapshot: the snapshot is written to `DIR/state.json`
//! through a temporary file renamed over it (a crash leaves the old or the new file, never
//! half of one), by a task that takes a snapshot every [`SAVE_EVERY`] and writes it when it
//! differs from the last one written, and once more when told to stop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

/// How often the persister takes a snapshot.
pub const SAVE_EVERY: Duration = Duration::from_millis(250);

/// The snapshot file in `dir`.
pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Writes `bytes` as `dir`'s snapshot, atomically.
pub fn write_atomic(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join("state.json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, state_file(dir))
}

/// Reads `dir`'s snapshot: `None` when there is none yet; an unreadable file is an error
/// naming it.
pub fn read(dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let path = state_file(dir);
    if !path.exists() {
        return Ok(None);
    }
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Writes `snapshot()` to `dir` whenever it changed (looked at every [`SAVE_EVERY`]) until
/// `stop` resolves, then once more. `what` names the sandbox in warnings.
pub async fn persist_loop(
    what: &'static str,
    dir: PathBuf,
    snapshot: impl Fn() -> anyhow::Result<Vec<u8>>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut last: Vec<u8> = Vec::new();
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tokio::pin!(stop);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = &mut stop => true,
        };
        match snapshot() {
            Ok(bytes) if bytes != last => match write_atomic(&dir, &bytes) {
                Ok(()) => last = bytes,
                Err(e) => warn!(sandbox = what, error = %e, "sandbox state not saved"),
            },
            Ok(_) => {}
            Err(e) => warn!(sandbox = what, error = %e, "sandbox state not serialisable"),
        }
        if stopping {
            return;
        }
    }
}

/// Maps with non-string keys as JSON arrays of `[key, value]` pairs
/// (`#[serde(with = "crate::network::sandbox_store::pairs")]`).
pub mod pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the map as a sequence of pairs.
    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    /// Reads a sequence of pairs into a map.
    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
