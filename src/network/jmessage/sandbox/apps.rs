//! Several apps in one sandbox, as the one JMessage service holds many. Each app is a
//! [`Sandbox`] of its own (users, groups, ledger, uploads); [`federate`] lets each reach the
//! others, so that a user of one app messages, groups with, reads the receipts and the profile
//! of a user of another (the SDK's cross-app calls, "跨应用": `appkey` beside `username`).
//!
//! - Inside an app, another app's user is named as [`across`] names it (`bob/<appkey>`): a
//!   group's member list or a message's receivers may hold such names, and the delivery calls
//!   ([`Sandbox::deliver`], [`Sandbox::notify`], pushes) hand them to their app.
//! - A group lives in the app that created it; a call naming its gid from another app's user is
//!   carried out by the group's app ([`super::group_calls`]).
//! - A socket picks its app by the `c_init` appkey, a REST call by its Basic auth.
//! - Ids: each app hands out message, event and group ids in a space of its own
//!   ([`ID_SPACE`], [`GID_SPACE`] apart), and uids ([`UID_SPACE`]), so ids stay unique across
//!   the service as they are on the real one (a client drops a message whose id it saw
//!   already, and the SDK keys conversations by uid).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use serde_json::Value;

use super::state::Sandbox;
use crate::network::jmessage::across;

/// How far apart the message and event ids of two apps start: 10^13, so 16 apps stay below
/// 2^53 (JavaScript numbers) from a clock-based start of about 1.8 × 10^15.
pub const ID_SPACE: i64 = 10_000_000_000_000;
/// How far apart the gids of two apps start.
pub const GID_SPACE: i64 = 10_000_000;
/// How far apart the uids of two apps start (the SDK keys conversations and profile times by
/// `from_uid`, so two apps' users must not share one).
pub const UID_SPACE: i64 = 1_000_000_000;

/// Where a user named by an app lives.
pub(super) enum Whose<'a> {
    /// A user (or unknown name) of the app itself.
    Here,
    /// `username` of another app of the federation.
    There(Arc<Sandbox>, &'a str),
    /// A user of an app the sandbox does not serve.
    Nowhere,
}

/// Makes `apps` one service: each reaches the others by appkey, and each gets its id space
/// (the order of `apps`, so keep it across restarts of a `--data` sandbox). An app keeps its
/// own data; federating again replaces the earlier peers.
pub fn federate(apps: &[Arc<Sandbox>]) {
    for (i, app) in apps.iter().enumerate() {
        app.space.store(i as i64, Ordering::Relaxed);
        let others: Vec<Weak<Sandbox>> = apps
            .iter()
            .filter(|o| !Arc::ptr_eq(o, app))
            .map(Arc::downgrade)
            .collect();
        *app.peers.write().unwrap_or_else(|p| p.into_inner()) = others;
    }
}

impl Sandbox {
    /// The app `appkey` of this sandbox's service: itself or a federated one.
    pub fn app(self: &Arc<Self>, appkey: &str) -> Option<Arc<Sandbox>> {
        if appkey == self.cfg.app_key {
            return Some(self.clone());
        }
        self.peer(appkey)
    }

    /// Another app of the federation, by appkey.
    pub(super) fn peer(&self, appkey: &str) -> Option<Arc<Sandbox>> {
        self.peer_apps()
            .into_iter()
            .find(|p| p.cfg.app_key == appkey)
    }

    /// The other apps of the federation.
    pub(super) fn peer_apps(&self) -> Vec<Arc<Sandbox>> {
        self.peers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Where the user this app names `name` lives.
    pub(super) fn whose<'a>(&self, name: &'a str) -> Whose<'a> {
        let Some((username, appkey)) = name
            .split_once(across::SEPARATOR)
            .filter(|(_, k)| !k.is_empty() && *k != self.cfg.app_key)
        else {
            return Whose::Here;
        };
        match self.peer(appkey) {
            Some(app) => Whose::There(app, username),
            None => Whose::Nowhere,
        }
    }

    /// How this app names user `username` of app `appkey`.
    pub(super) fn name_of(&self, username: &str, appkey: &str) -> String {
        across::name(username, Some(appkey), &self.cfg.app_key)
    }

    /// The wire's `{username, appkey}` for the user this app names `name`.
    pub(super) fn user_json(&self, name: &str) -> Value {
        across::to_json(name, &self.cfg.app_key)
    }

    /// Hands the names of `names` that are other apps' users to `elsewhere` (their app, their
    /// bare usernames), dropping those of apps not served; returns this app's own names.
    pub(super) fn route_names(
        &self,
        names: &[String],
        elsewhere: impl Fn(&Sandbox, &[String]),
    ) -> Vec<String> {
        let mut here = Vec::new();
        let mut there: BTreeMap<String, (Arc<Sandbox>, Vec<String>)> = BTreeMap::new();
        for name in names {
            match self.whose(name) {
                Whose::Here => here.push(name.clone()),
                Whose::There(app, user) => there
                    .entry(app.cfg.app_key.clone())
                    .or_insert_with(|| (app.clone(), Vec::new()))
                    .1
                    .push(user.to_owned()),
                Whose::Nowhere => {}
            }
        }
        for (app, users) in there.values() {
            elsewhere(app, users);
        }
        here
    }

    /// This app's id space ([`federate`]).
    pub(super) fn id_space(&self) -> i64 {
        self.space.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;

    #[test]
    fn names_route_to_their_app_and_ids_do_not_meet() {
        let a = Arc::new(Sandbox::new(SandboxConfig::new("appA", "sa")));
        let b = Arc::new(Sandbox::new(SandboxConfig::new("appB", "sb")));
        federate(&[a.clone(), b.clone()]);
        a.register("alice", "pw");
        b.register("bob", "pw");
        assert!(a.has_user("bob/appB"));
        assert!(!a.has_user("bob"));
        assert!(!a.has_user("bob/appC"));
        assert_eq!(
            a.app("appB").map(|s| s.cfg.app_key.clone()).as_deref(),
            Some("appB")
        );
        assert!(a.app("appC").is_none());
        let seen = std::sync::Mutex::new(Vec::new());
        let here = a.route_names(
            &["alice".into(), "bob/appB".into(), "x/appC".into()],
            |app, users| {
                seen.lock()
                    .unwrap()
                    .push((app.cfg.app_key.clone(), users.to_vec()))
            },
        );
        assert_eq!(here, vec!["alice".to_owned()]);
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![("appB".to_owned(), vec!["bob".to_owned()])]
        );
        assert!(b.next_id() - a.next_id() > ID_SPACE / 2);
        let ga = a.create_group("alice", "a", "").unwrap();
        let gb = b.create_group("bob", "b", "").unwrap();
        assert_ne!(ga, gb);
        assert!(b.has_group(gb) && !a.has_group(gb));
        assert_ne!(a.uid_of("alice"), b.uid_of("bob"));
        assert_eq!(a.uid_of("bob/appB"), b.uid_of("bob"));
        // A sender is always the app's own user (a REST `from_id` naming another app's user
        // is refused, not sent as him).
        let content: crate::network::jmessage::wire::Content = serde_json::from_value(
            serde_json::json!({"target_type": "single", "target_id": "alice", "from_id": "x",
                "msg_type": "text", "msg_body": {"text": "hi"}}),
        )
        .unwrap();
        assert!(a.send_single("bob/appB", content.clone()).is_err());
        let mut to_b = content;
        to_b.target_id = "bob".into();
        to_b.target_appkey = Some("appB".into());
        let (id, _) = a.send_single("alice", to_b).unwrap();
        assert_eq!(b.pending_conversations("bob").1, vec![id]);
    }
}
