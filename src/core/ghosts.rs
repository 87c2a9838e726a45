//! Ghost users: the Matrix puppets of remote users. Owns their registration, display name and
//! avatar (from the remote profile, refreshed when it changes or grows stale), and the
//! MXID ↔ remote id mapping through the username template.

use std::sync::Arc;

use ruma::{OwnedMxcUri, OwnedUserId, UserId};
use tracing::{debug, warn};

use super::connector::{NetworkLogin, UserProfile};
use super::matrix_api::{MatrixApi, MatrixError};
use crate::store::{GhostRecord, Store};

/// Profiles older than this are fetched again when the ghost is next used.
/// How old a ghost's profile may get before it is fetched again when the ghost is next used,
/// unless the config says otherwise (`bridge.profile_refresh_secs`). Changes the network
/// reports ([`RemoteEvent::ProfileChange`](super::connector::RemoteEvent)) apply at once;
/// this is the fallback for networks that report none (Easemob pushes no profile changes).
pub const DEFAULT_PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Names ghosts and keeps them up to date.
pub struct Ghosts {
    matrix: Arc<dyn MatrixApi>,
    store: Store,
    domain: String,
    /// `easemob_{{.}}`
    template: String,
    /// Appended to remote display names, e.g. " (Easemob)".
    name_suffix: String,
    /// See [`Ghosts::with_profile_ttl`].
    profile_ttl_ms: u64,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Escapes a remote id into the localpart alphabet (`a-z0-9._=-/`), mautrix style: other bytes
/// (and upper case, and `=`) become `=xx`.
pub fn escape_localpart(remote: &str) -> String {
    let mut out = String::with_capacity(remote.len());
    for b in remote.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("={b:02x}")),
        }
    }
    out
}

/// The inverse of [`escape_localpart`]; `None` when it is not a valid escape.
pub fn unescape_localpart(local: &str) -> Option<String> {
    let bytes = local.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = local.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Ghosts {
    pub fn new(
        matrix: Arc<dyn MatrixApi>,
        store: Store,
        domain: &str,
        template: &str,
        name_suffix: &str,
    ) -> Self {
        Self {
            matrix,
            store,
            domain: domain.to_owned(),
            template: template.to_owned(),
            name_suffix: name_suffix.to_owned(),
            profile_ttl_ms: DEFAULT_PROFILE_TTL.as_millis() as u64,
        }
    }

    /// How old a profile may get before the ghost's next use fetches it again.
    pub fn with_profile_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.profile_ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The ghost MXID of a remote user.
    pub fn mxid(&self, remote: &str) -> OwnedUserId {
        let local = self.template.replace("{{.}}", &escape_localpart(remote));
        UserId::parse(format!("@{local}:{}", self.domain))
            .unwrap_or_else(|_| self.fallback_mxid(remote))
    }

    fn fallback_mxid(&self, remote: &str) -> OwnedUserId {
        let digest: String = remote.bytes().map(|b| format!("{b:02x}")).collect();
        UserId::parse(format!("@ghost_{digest}:{}", self.domain))
            .unwrap_or_else(|_| self.matrix.bot().to_owned())
    }

    /// The remote id behind a ghost MXID, or `None` when it is not one of ours.
    pub fn remote_of(&self, mxid: &UserId) -> Option<String> {
        if mxid.server_name().as_str() != self.domain {
            return None;
        }
        let (prefix, suffix) = self.template.split_once("{{.}}")?;
        let local = mxid
            .localpart()
            .strip_prefix(prefix)?
            .strip_suffix(suffix)?;
        unescape_localpart(local)
    }

    /// A ghost display name without the network suffix of `displayname_template` (`Alice
    /// (Easemob)` → `Alice`): the peer's own name, as a DM room shows it.
    pub fn plain_name<'a>(&self, display: &'a str) -> &'a str {
        display
            .strip_suffix(self.name_suffix.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(display)
    }

    /// True for the bot and every ghost: their events are our own echoes.
    pub fn is_ours(&self, mxid: &UserId) -> bool {
        mxid == self.matrix.bot() || self.remote_of(mxid).is_some()
    }

    /// Makes sure the ghost exists with a current profile; `login` fetches the profile.
    pub async fn ensure(
        &self,
        remote: &str,
        login: Option<&dyn NetworkLogin>,
    ) -> Result<OwnedUserId, MatrixError> {
        self.ensure_record(remote, login)
            .await
            .map(|(mxid, _)| mxid)
    }

    /// [`Ghosts::ensure`], also giving the ghost's record as it is now (its `updated_ms`
    /// moves whenever the profile was refreshed). The record is written only when something
    /// changed, so a message from a known sender costs one store read.
    pub async fn ensure_record(
        &self,
        remote: &str,
        login: Option<&dyn NetworkLogin>,
    ) -> Result<(OwnedUserId, GhostRecord), MatrixError> {
        let mxid = self.mxid(remote);
        let record = self.store.get_ghost(remote).await.ok().flatten();
        let registered = record.as_ref().is_some_and(|r| r.registered);
        if !registered {
            self.matrix.ensure_registered(&mxid).await?;
        }
        let stale = record
            .as_ref()
            .is_none_or(|r| now_ms().saturating_sub(r.updated_ms) > self.profile_ttl_ms);
        let mut changed = !registered;
        let mut record = record.unwrap_or_else(|| GhostRecord {
            remote_id: remote.to_owned(),
            mxid: mxid.to_string(),
            displayname: None,
            avatar_url: None,
            avatar_mxc: None,
            registered: false,
            updated_ms: 0,
        });
        record.registered = true;
        if stale {
            if let Some(login) = login {
                match login.user_profile(remote).await {
                    Ok(profile) => self.apply_profile(&mut record, &profile, login).await,
                    Err(e) => debug!(remote, error = %e, "profile not fetched"),
                }
            }
            record.updated_ms = now_ms();
            changed = true;
        }
        if record.displayname.is_none() {
            let name = format!("{remote}{}", self.name_suffix);
            if self.matrix.set_displayname(&mxid, &name).await.is_ok() {
                record.displayname = Some(name);
                changed = true;
            }
        }
        if changed {
            if let Err(e) = self.store.put_ghost(&record).await {
                warn!(remote, error = %e, "ghost record not saved");
            }
        }
        Ok((mxid, record))
    }

    /// Applies a (changed) remote profile to the ghost.
    pub async fn update_profile(
        &self,
        remote: &str,
        profile: &UserProfile,
        login: &dyn NetworkLogin,
    ) {
        let Ok(Some(mut record)) = self.store.get_ghost(remote).await else {
            return; // not bridged yet: ensure() will fetch it when needed
        };
        self.apply_profile(&mut record, profile, login).await;
        record.updated_ms = now_ms();
        if let Err(e) = self.store.put_ghost(&record).await {
            warn!(remote, error = %e, "ghost record not saved");
        }
    }

    async fn apply_profile(
        &self,
        record: &mut GhostRecord,
        profile: &UserProfile,
        login: &dyn NetworkLogin,
    ) {
        let Ok(mxid) = UserId::parse(record.mxid.as_str()) else {
            return;
        };
        let name = profile
            .name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&record.remote_id);
        let display = format!("{name}{}", self.name_suffix);
        if record.displayname.as_deref() != Some(display.as_str()) {
            match self.matrix.set_displayname(&mxid, &display).await {
                Ok(()) => record.displayname = Some(display),
                Err(e) => warn!(%mxid, error = %e, "display name not set"),
            }
        }
        let cleared = profile.avatar_url.as_deref().is_none_or(str::is_empty);
        if cleared && (record.avatar_url.is_some() || record.avatar_mxc.is_some()) {
            // The user removed their avatar: so does the ghost.
            match self.matrix.set_avatar(&mxid, &OwnedMxcUri::from("")).await {
                Ok(()) => {
                    record.avatar_url = None;
                    record.avatar_mxc = None;
                }
                Err(e) => warn!(%mxid, error = %e, "avatar not cleared"),
            }
        }
        if !cleared && profile.avatar_url != record.avatar_url {
            if let Some(url) = &profile.avatar_url {
                let media = super::connector::RemoteMedia {
                    kind: super::connector::MediaKind::Image,
                    url: url.clone(),
                    name: "avatar".into(),
                    mime: None,
                    size: None,
                    width: None,
                    height: None,
                    duration_ms: None,
                    thumbnail: None,
                };
                match login.download(&media, 5 << 20).await {
                    Ok(bytes) => {
                        let mime = sniff_image_mime(&bytes);
                        match self.matrix.upload(&mxid, bytes, mime, "avatar").await {
                            Ok(mxc) => {
                                if self.matrix.set_avatar(&mxid, &mxc).await.is_ok() {
                                    record.avatar_mxc = Some(mxc.to_string());
                                    record.avatar_url = profile.avatar_url.clone();
                                }
                            }
                            Err(e) => warn!(%mxid, error = %e, "avatar not uploaded"),
                        }
                    }
                    Err(e) => debug!(%mxid, error = %e, "avatar not downloaded"),
                }
            }
        }
    }
}

/// A MIME type from an image's first bytes.
pub fn sniff_image_mime(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localpart_escaping_round_trips() {
        for id in ["alice", "Bob", "a=b", "用户", "x y", "a/b.c_d-e"] {
            let esc = escape_localpart(id);
            assert!(esc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/".contains(&b)));
            assert_eq!(unescape_localpart(&esc).as_deref(), Some(id));
        }
        assert_eq!(escape_localpart("Bob"), "=42ob");
        assert_eq!(unescape_localpart("=4"), None);
    }
}
