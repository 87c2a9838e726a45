//! A Matrix user's own settings, read and written through their double puppet (they are
//! account data: the bridge can act on them only as the user): the ignored-users list
//! (`m.ignored_user_list`), the per-room notification level in their push rules, and whether
//! every notification is off (`.m.rule.master` enabled). The shapes are Element's: **Mute** is an `override` rule whose id is the room
//! id, with one `event_match` condition on `room_id` and no actions; **Mentions & keywords**
//! is a `room` rule for the room with no notify action (`[]` or the legacy `dont_notify`);
//! anything else is **All messages**. (Push rules: Matrix client-server API §13.13.)

use std::collections::HashMap;

use ruma::api::client::config::{get_global_account_data, set_global_account_data};
use ruma::api::client::push::{
    delete_pushrule, get_pushrules_global_scope, set_pushrule, set_pushrule_enabled,
};
use ruma::events::ignored_user_list::IgnoredUserListEventContent;
use ruma::events::GlobalAccountDataEventType;
use ruma::push::{
    EventMatchConditionData, NewConditionalPushRule, NewPushRule, NewSimplePushRule, PushCondition,
    RuleKind, Ruleset,
};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::client::{HomeserverClient, REQUEST_TIMEOUT};
use crate::core::connector::NotifyLevel;
use crate::core::matrix_api::MatrixError;

/// The room each room-level rule of `rules` speaks of, with the level it sets.
pub(super) fn levels_of(rules: &Ruleset) -> HashMap<OwnedRoomId, NotifyLevel> {
    let mut out = HashMap::new();
    for rule in rules.room.iter().filter(|r| r.enabled) {
        if !rule.actions.iter().any(|a| a.should_notify()) {
            out.insert(rule.rule_id.clone(), NotifyLevel::MentionsOnly);
        }
    }
    for rule in rules.override_.iter().filter(|r| r.enabled && !r.default) {
        let Ok(room) = RoomId::parse(&rule.rule_id) else {
            continue;
        };
        let only_this_room = matches!(
            rule.conditions.as_slice(),
            [PushCondition::EventMatch(EventMatchConditionData { key, pattern, .. })]
                if key == "room_id" && pattern == room.as_str()
        );
        if only_this_room && !rule.actions.iter().any(|a| a.should_notify()) {
            out.insert(room, NotifyLevel::Muted);
        }
    }
    out
}

/// Whether `.m.rule.master` (every notification off) is enabled.
pub(super) fn master_enabled(rules: &Ruleset) -> bool {
    rules
        .override_
        .iter()
        .any(|r| r.rule_id == ".m.rule.master" && r.enabled)
}

impl HomeserverClient {
    /// Enables (`muted`) or disables `user`'s `.m.rule.master`, as the user.
    pub(super) async fn put_master(&self, user: &UserId, muted: bool) -> Result<(), MatrixError> {
        let request = set_pushrule_enabled::v3::Request::new(
            RuleKind::Override,
            ".m.rule.master".into(),
            muted,
        );
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `user`'s ignored users (none when they never set the list), as the user.
    pub(super) async fn ignored_list(
        &self,
        user: &UserId,
    ) -> Result<Vec<OwnedUserId>, MatrixError> {
        let request = get_global_account_data::v3::Request::new(
            user.to_owned(),
            GlobalAccountDataEventType::IgnoredUserList,
        );
        match self.send(request, Some(user), REQUEST_TIMEOUT).await {
            Ok(response) => {
                let content: IgnoredUserListEventContent = response
                    .account_data
                    .deserialize_as_unchecked()
                    .map_err(|e| MatrixError::Other(format!("m.ignored_user_list: {e}")))?;
                Ok(content.ignored_users.into_keys().collect())
            }
            Err(MatrixError::Homeserver { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Replaces `user`'s ignored users by `users`, as the user.
    pub(super) async fn put_ignored_list(
        &self,
        user: &UserId,
        users: &[OwnedUserId],
    ) -> Result<(), MatrixError> {
        let content = IgnoredUserListEventContent::users(users.iter().cloned());
        let request = set_global_account_data::v3::Request::new(user.to_owned(), &content)
            .map_err(|e| MatrixError::Other(format!("m.ignored_user_list: {e}")))?;
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `user`'s push rules (global scope), as the user.
    pub(super) async fn push_rules(&self, user: &UserId) -> Result<Ruleset, MatrixError> {
        let request = get_pushrules_global_scope::v3::Request::new();
        Ok(self
            .send(request, Some(user), REQUEST_TIMEOUT)
            .await?
            .global)
    }

    /// Makes `room`'s rules of `user` say `level`: the Mute override and the room rule are
    /// added or deleted as needed (deleting a rule that is not there is fine).
    pub(super) async fn put_room_level(
        &self,
        user: &UserId,
        room: &RoomId,
        level: NotifyLevel,
    ) -> Result<(), MatrixError> {
        let id = room.as_str().to_owned();
        let (muted, mentions) = match level {
            NotifyLevel::All => (false, false),
            NotifyLevel::MentionsOnly => (false, true),
            NotifyLevel::Muted => (true, false),
        };
        if muted {
            let condition = PushCondition::EventMatch(EventMatchConditionData::new(
                "room_id".into(),
                id.clone(),
            ));
            let rule = NewConditionalPushRule::new(id.clone(), vec![condition], Vec::new());
            let request = set_pushrule::v3::Request::new(NewPushRule::Override(rule));
            self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        } else {
            self.delete_rule(user, RuleKind::Override, &id).await?;
        }
        if mentions {
            let rule = NewSimplePushRule::new(room.to_owned(), Vec::new());
            let request = set_pushrule::v3::Request::new(NewPushRule::Room(rule));
            self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        } else {
            self.delete_rule(user, RuleKind::Room, &id).await?;
        }
        Ok(())
    }

    async fn delete_rule(
        &self,
        user: &UserId,
        kind: RuleKind,
        id: &str,
    ) -> Result<(), MatrixError> {
        let request = delete_pushrule::v3::Request::new(kind, id.to_owned());
        match self.send(request, Some(user), REQUEST_TIMEOUT).await {
            Ok(_) | Err(MatrixError::Homeserver { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_shapes_read_as_levels() {
        let rules: Ruleset = serde_json::from_value(serde_json::json!({
            "override": [
                { "rule_id": "!m:hs", "default": false, "enabled": true, "actions": [],
                  "conditions": [{ "kind": "event_match", "key": "room_id", "pattern": "!m:hs" }] },
                { "rule_id": "!off:hs", "default": false, "enabled": false, "actions": [],
                  "conditions": [{ "kind": "event_match", "key": "room_id", "pattern": "!off:hs" }] },
                { "rule_id": "!x:hs", "default": false, "enabled": true, "actions": [],
                  "conditions": [{ "kind": "event_match", "key": "type", "pattern": "m.room.message" }] },
            ],
            "room": [
                { "rule_id": "!a:hs", "default": false, "enabled": true, "actions": ["dont_notify"] },
                { "rule_id": "!b:hs", "default": false, "enabled": true, "actions": [] },
                { "rule_id": "!c:hs", "default": false, "enabled": true, "actions": ["notify"] },
            ],
        }))
        .expect("a ruleset");
        let levels = levels_of(&rules);
        let level = |r: &str| levels.get(&OwnedRoomId::try_from(r).unwrap()).copied();
        assert_eq!(level("!m:hs"), Some(NotifyLevel::Muted));
        assert_eq!(level("!a:hs"), Some(NotifyLevel::MentionsOnly));
        assert_eq!(level("!b:hs"), Some(NotifyLevel::MentionsOnly));
        assert_eq!(level("!c:hs"), None);
        assert_eq!(level("!off:hs"), None);
        assert_eq!(level("!x:hs"), None);
    }
}
