//! Friends and the blacklist in the session: the Web SDK 2.5.0's `addFriend` /
//! `acceptFriend` / `declineFriend` (all `add_friend`, told apart by `from_type` and `why`),
//! `delFriend`, `getFriendList`, `addSingleBlacks` / `delSingleBlacks` / `getBlacks`, sent
//! as the bundle sends them, and the friend `event_notification`s (types 5 and 6, see
//! [`wire::event_type::FRIEND_INVITATION`]) read into [`FriendEvent`]s.

use std::time::Instant;

use serde_json::{json, Value};

use super::{SendError, Session, SessionEvent};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{self, event, event_type};

/// What a friend event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FriendEventKind {
    /// `from` invites us (type 5, extra 1).
    Invited,
    /// `from` accepted our invitation (type 5, extra 2, return_code 0).
    Accepted,
    /// `from` refused our invitation (type 5, extra 2, another return_code).
    Declined,
    /// `from` removed us from their friends (type 6).
    Deleted,
}

/// A friend `event_notification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendEvent {
    /// What happened.
    pub kind: FriendEventKind,
    /// Who invited, answered or removed (`from_username`).
    pub from: String,
    /// The reason given (`description`); empty when none.
    pub reason: String,
}

impl FriendEvent {
    /// Reads a friend event as a user of app `own_app` sees it (`from` named as [`across`]
    /// does); `None` for other events or one without `from_username`.
    pub fn from_value(data: &Value, own_app: &str) -> Option<Self> {
        let kind = match data["event_type"].as_i64()? {
            event_type::FRIEND_INVITATION => match data["extra"].as_i64()? {
                wire::FRIEND_EXTRA_INVITED => FriendEventKind::Invited,
                wire::FRIEND_EXTRA_ANSWERED if data["return_code"].as_i64().unwrap_or(0) == 0 => {
                    FriendEventKind::Accepted
                }
                wire::FRIEND_EXTRA_ANSWERED => FriendEventKind::Declined,
                _ => return None,
            },
            event_type::FRIEND_DELETED => FriendEventKind::Deleted,
            _ => return None,
        };
        let from = data["from_username"].as_str().filter(|f| !f.is_empty())?;
        Some(Self {
            kind,
            from: across::name(from, data["from_appkey"].as_str(), own_app),
            reason: data["description"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// The users of a `friend_list` / `black_list` answer, named as [`across`] does for a user
/// of app `own_app`.
pub fn usernames(list: &Value, own_app: &str) -> Vec<String> {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter(|u| u["username"].is_string())
                .filter_map(|u| across::from_json(u, own_app))
                .collect()
        })
        .unwrap_or_default()
}

impl Session {
    /// A friend event: emits it; false when `data` is not one.
    pub(super) fn on_friend_notification(&mut self, data: &Value) -> bool {
        match FriendEvent::from_value(data, &self.cfg.app_key) {
            Some(e) => {
                self.event(SessionEvent::Friend(e));
                true
            }
            None => false,
        }
    }

    /// Invites `username` with `why` (`addFriend`).
    pub fn add_friend(
        &mut self,
        username: &str,
        why: &str,
        now: Instant,
    ) -> Result<u64, SendError> {
        let (target, appkey) = across::split(username, &self.cfg.app_key);
        let data = json!({"target_name": target, "why": why, "appkey": appkey,
            "from_type": wire::FRIEND_INVITE});
        self.call(event::ADD_FRIEND, data, now)
    }

    /// Accepts (`acceptFriend`, `why: "yes"`) or refuses (`declineFriend`, `why: "no"`)
    /// `username`'s invitation.
    pub fn answer_friend(
        &mut self,
        username: &str,
        accept: bool,
        now: Instant,
    ) -> Result<u64, SendError> {
        let why = if accept {
            wire::FRIEND_ACCEPT_WHY
        } else {
            "no"
        };
        let (target, appkey) = across::split(username, &self.cfg.app_key);
        let data = json!({"target_name": target, "why": why, "appkey": appkey,
            "from_type": wire::FRIEND_INVITED});
        self.call(event::ADD_FRIEND, data, now)
    }

    /// Removes `username` from our friends (`delFriend`).
    pub fn del_friend(&mut self, username: &str, now: Instant) -> Result<u64, SendError> {
        let (target, appkey) = across::split(username, &self.cfg.app_key);
        let data = json!({"target_name": target, "appkey": appkey});
        self.call(event::DEL_FRIEND, data, now)
    }

    /// `get_friend_list {}` → `{friend_list}` ([`usernames`]).
    pub fn friend_list(&mut self, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_FRIEND_LIST, json!({}), now)
    }

    /// Puts `username` on our blacklist (`on`) or takes them off (`add|del_black_list`).
    pub fn set_blacklisted(
        &mut self,
        username: &str,
        on: bool,
        now: Instant,
    ) -> Result<u64, SendError> {
        let name = if on {
            event::ADD_BLACK_LIST
        } else {
            event::DEL_BLACK_LIST
        };
        let data = json!({"member_usernames": [across::to_json(username, &self.cfg.app_key)]});
        self.call(name, data, now)
    }

    /// `get_black_list {version: 0}` → `{black_list}` ([`usernames`]).
    pub fn black_list(&mut self, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_BLACK_LIST, json!({ "version": 0 }), now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::super::tests::{drain, logged_in};
    use super::*;

    /// The frames carry what the bundle's `addFriend` / `acceptFriend` / `declineFriend` /
    /// `delFriend` / `getFriendList` / `addSingleBlacks` / `delSingleBlacks` / `getBlacks` put
    /// in them.
    #[test]
    fn requests_as_the_sdk_sends_them() {
        let now = Instant::now();
        let mut s = logged_in(now);
        s.add_friend("bob", "hi bob", now).unwrap();
        s.answer_friend("bob", true, now).unwrap();
        s.answer_friend("bob", false, now).unwrap();
        s.del_friend("bob", now).unwrap();
        s.friend_list(now).unwrap();
        s.set_blacklisted("bob", true, now).unwrap();
        s.set_blacklisted("bob", false, now).unwrap();
        s.black_list(now).unwrap();
        let (sent, _, _) = drain(&mut s);
        let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "add_friend",
                "add_friend",
                "add_friend",
                "del_friend",
                "get_friend_list",
                "add_black_list",
                "del_black_list",
                "get_black_list"
            ]
        );
        let field = |i: usize, k: &str| sent[i].1[k].clone();
        assert_eq!(
            (
                field(0, "target_name"),
                field(0, "why"),
                field(0, "from_type")
            ),
            (json!("bob"), json!("hi bob"), json!(1))
        );
        assert_eq!(
            (field(1, "why"), field(1, "from_type")),
            (json!("yes"), json!(2))
        );
        assert_eq!(
            (field(2, "why"), field(2, "from_type")),
            (json!("no"), json!(2))
        );
        assert_eq!(field(3, "target_name"), "bob");
        assert_eq!(field(5, "member_usernames")[0]["username"], "bob");
        assert_eq!(field(6, "member_usernames")[0]["username"], "bob");
        assert_eq!(field(7, "version"), 0);
    }

    #[test]
    fn friend_events_read() {
        let read = |v: Value| FriendEvent::from_value(&v, "k").map(|e| (e.kind, e.from, e.reason));
        assert_eq!(
            read(json!({"event_type": 5, "extra": 1, "from_username": "bob", "description": "hi"})),
            Some((FriendEventKind::Invited, "bob".into(), "hi".into()))
        );
        assert_eq!(
            read(json!({"event_type": 5, "extra": 2, "return_code": 0, "from_username": "bob"})),
            Some((FriendEventKind::Accepted, "bob".into(), String::new()))
        );
        assert_eq!(
            read(
                json!({"event_type": 5, "extra": 2, "return_code": 1, "from_username": "bob",
                "description": "no"})
            ),
            Some((FriendEventKind::Declined, "bob".into(), "no".into()))
        );
        assert_eq!(
            read(json!({"event_type": 6, "from_username": "bob"})),
            Some((FriendEventKind::Deleted, "bob".into(), String::new()))
        );
        for bad in [
            json!({"event_type": 5, "from_username": "bob"}),
            json!({"event_type": 5, "extra": 9, "from_username": "bob"}),
            json!({"event_type": 6}),
            json!({"event_type": 10, "from_username": "bob"}),
            json!("x"),
        ] {
            assert_eq!(FriendEvent::from_value(&bad, "k"), None, "{bad}");
        }
        assert_eq!(
            usernames(
                &json!([{"username": "a"}, {"nickname": "x"}, {"username": "b", "appkey": "o"}]),
                "k"
            ),
            ["a", "b/o"]
        );
        assert!(usernames(&json!(null), "k").is_empty());
    }
}
