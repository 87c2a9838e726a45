//! Friends and the blacklist (the core's [`ContactsAbility`]): a contact request is a
//! JMessage friend invitation (`add_friend`, the reason as `why`), answered with the Web SDK's
//! `acceptFriend` / `declineFriend`; removing a contact is `del_friend`; blocking is the
//! blacklist (`add|del_black_list`, `get_black_list`), which makes JMessage refuse the
//! blocked user's single messages (880207). Friend events come in as
//! [`RemoteEvent::ContactRequest`] / [`RemoteEvent::ContactUpdate`] ([`translate_friend_event`]).

use async_trait::async_trait;

use super::{profile_of, send_failure, JmessageLogin};
use crate::core::connector::{
    ContactUpdate, ContactsAbility, RemoteEvent, SendFailure, UserSearchResult,
};
use crate::network::jmessage::session::{FriendEvent, FriendEventKind, SendError};
use crate::network::jmessage::wire::code;

/// A refused friend or blacklist call in words.
fn contacts_failure(e: SendError) -> SendFailure {
    let SendError::Rejected { code: c, message } = &e else {
        return send_failure(e);
    };
    let words = match *c {
        code::USER_NOT_EXIST => "no such JMessage user".to_owned(),
        code::FRIEND_REFUSED => {
            "JMessage refused it: no invitation from that user is pending, or you are \
             friends already"
                .to_owned()
        }
        code::NOT_FRIEND => "that user is not your JMessage friend".to_owned(),
        _ => format!("JMessage refused it: {c} {message}"),
    };
    SendFailure::Permanent(format!("{words} ({c})"))
}

/// The core's event for a friend event.
pub fn translate_friend_event(e: &FriendEvent) -> RemoteEvent {
    let update = match e.kind {
        FriendEventKind::Invited => {
            return RemoteEvent::ContactRequest {
                from: e.from.clone(),
                reason: Some(e.reason.clone()).filter(|r| !r.is_empty()),
            }
        }
        FriendEventKind::Accepted => ContactUpdate::Accepted,
        FriendEventKind::Declined => ContactUpdate::Declined,
        FriendEventKind::Deleted => ContactUpdate::Removed,
    };
    RemoteEvent::ContactUpdate {
        user: e.from.clone(),
        update,
    }
}

impl JmessageLogin {
    /// `search`: the user whose username is exactly `query` (`get_across_user_info`), then
    /// friends whose username contains it (case-insensitive), at most `limit`. JMessage has no
    /// user search, so users who are neither are not found.
    pub(super) async fn search_friends(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<UserSearchResult>, SendFailure> {
        let needle = query.trim().to_lowercase();
        let mut ids: Vec<String> = Vec::new();
        match self.client.user_info(query.trim()).await {
            // The name the events use (another app's user `name/appkey`, ours bare).
            Ok(info) => ids.push(info.username),
            Err(SendError::Rejected { code: c, .. }) if c == code::USER_NOT_EXIST => {}
            Err(e) => return Err(send_failure(e)),
        }
        let friends = self.client.friend_list().await.map_err(send_failure)?;
        for f in friends {
            if f.to_lowercase().contains(&needle) && !ids.contains(&f) {
                ids.push(f);
            }
        }
        ids.truncate(limit);
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let info = self.client.user_info(&id).await.map_err(send_failure)?;
            found.push(UserSearchResult {
                profile: profile_of(&id, &info),
                id,
            });
        }
        Ok(found)
    }
}

#[async_trait]
impl ContactsAbility for JmessageLogin {
    async fn add_contact(&self, user: &str, message: Option<&str>) -> Result<(), SendFailure> {
        self.client
            .add_friend(user, message.unwrap_or_default())
            .await
            .map_err(contacts_failure)
    }

    async fn answer_contact_request(&self, from: &str, accept: bool) -> Result<(), SendFailure> {
        self.client
            .answer_friend(from, accept)
            .await
            .map_err(contacts_failure)
    }

    async fn remove_contact(&self, user: &str) -> Result<(), SendFailure> {
        self.client.del_friend(user).await.map_err(contacts_failure)
    }

    async fn set_blocked(&self, user: &str, blocked: bool) -> Result<(), SendFailure> {
        self.client
            .set_blacklisted(user, blocked)
            .await
            .map_err(contacts_failure)
    }

    async fn blocked_users(&self) -> Result<Vec<String>, SendFailure> {
        self.client.black_list().await.map_err(contacts_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: FriendEventKind, reason: &str) -> FriendEvent {
        FriendEvent {
            kind,
            from: "bob".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn friend_events_become_contact_events() {
        assert_eq!(
            translate_friend_event(&event(FriendEventKind::Invited, "hi")),
            RemoteEvent::ContactRequest {
                from: "bob".into(),
                reason: Some("hi".into())
            }
        );
        assert_eq!(
            translate_friend_event(&event(FriendEventKind::Invited, "")),
            RemoteEvent::ContactRequest {
                from: "bob".into(),
                reason: None
            }
        );
        for (kind, update) in [
            (FriendEventKind::Accepted, ContactUpdate::Accepted),
            (FriendEventKind::Declined, ContactUpdate::Declined),
            (FriendEventKind::Deleted, ContactUpdate::Removed),
        ] {
            assert_eq!(
                translate_friend_event(&event(kind, "")),
                RemoteEvent::ContactUpdate {
                    user: "bob".into(),
                    update
                }
            );
        }
    }

    #[test]
    fn refusals_in_words() {
        let f = contacts_failure(SendError::Rejected {
            code: code::USER_NOT_EXIST,
            message: "user not exist".into(),
        });
        assert_eq!(
            f,
            SendFailure::Permanent("no such JMessage user (880103)".into())
        );
    }
}
