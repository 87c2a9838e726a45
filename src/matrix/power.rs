//! The `users` map of a new portal room's power levels, per room version.

use std::collections::BTreeMap;

use ruma::UserId;

use crate::core::matrix_api::RoomSpec;

/// The `users` map of a new room's power levels. Room versions that privilege creators (v12)
/// forbid listing the creators, who are the creator and, with `trusted_private_chat`, the
/// invitees; older versions need the creator listed, and the invitees too to keep the preset's
/// "invitees have ops".
pub(super) fn power_users(
    creator: &UserId,
    bot: &UserId,
    spec: &RoomSpec,
    privileged_creators: bool,
) -> BTreeMap<String, i64> {
    let mut users = BTreeMap::new();
    users.insert(creator.to_string(), 100);
    users.insert(bot.to_string(), 100);
    for admin in &spec.admins {
        users.insert(admin.to_string(), 100);
    }
    for (user, level) in &spec.levels {
        if user.as_str() != creator.as_str() {
            users.entry(user.to_string()).or_insert(*level);
        }
    }
    if spec.is_direct {
        for invitee in &spec.invite {
            if privileged_creators {
                users.remove(invitee.as_str());
            } else {
                users.insert(invitee.to_string(), 100);
            }
        }
    }
    if privileged_creators {
        users.remove(creator.as_str());
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::OwnedUserId;

    fn uid(s: &str) -> OwnedUserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn power_users_per_room_version() {
        let creator = uid("@ghost:hs");
        let bot = uid("@bot:hs");
        let spec = RoomSpec {
            is_direct: true,
            invite: vec![uid("@alice:hs")],
            admins: vec![uid("@admin:hs")],
            ..Default::default()
        };
        let legacy = power_users(&creator, &bot, &spec, false);
        assert_eq!(legacy.len(), 4);
        assert!(legacy.values().all(|v| *v == 100));
        let v12 = power_users(&creator, &bot, &spec, true);
        assert_eq!(
            v12.keys().cloned().collect::<Vec<_>>(),
            vec!["@admin:hs".to_owned(), "@bot:hs".to_owned()]
        );
        let group = RoomSpec {
            is_direct: false,
            ..spec
        };
        let v12 = power_users(&creator, &bot, &group, true);
        assert!(!v12.contains_key("@alice:hs") && !v12.contains_key("@ghost:hs"));
    }
}
