//! Reading a room's power levels to know what the bridge bot may do there before it promises
//! anything (for instance, redacting a message that holds a password). Pure functions over the
//! `m.room.create` and `m.room.power_levels` contents, per the Matrix spec (client-server API,
//! "m.room.power_levels"; room version 12 makes the creators privileged, MSC4289).

use serde_json::Value;

/// The level the spec gives `redact` when the power-levels event does not set it.
pub const DEFAULT_REDACT: i64 = 50;

/// A user's standing for redacting other users' events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactPower {
    /// Allowed (creator in a room version that privileges creators, or level high enough).
    Allowed,
    /// Not allowed: the level needed and the level the user has.
    Denied { need: i64, have: i64 },
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Whether `user` may redact events of other users, given the room's `m.room.create` content
/// (for the room version and `additional_creators`) and `m.room.power_levels` content (`None`
/// when the room has none: then only the creator has power). `creator` is the sender of the
/// create event when known.
pub fn redact_power(
    create: Option<&Value>,
    power: Option<&Value>,
    user: &str,
    creator: Option<&str>,
) -> RedactPower {
    let version = create
        .and_then(|c| c["room_version"].as_str())
        .unwrap_or("1");
    let privileged_creators = matches!(version, "12") || version.starts_with("org.matrix.hydra");
    let is_creator = creator == Some(user)
        || create
            .and_then(|c| c["additional_creators"].as_array())
            .is_some_and(|list| list.iter().any(|u| u.as_str() == Some(user)));
    if privileged_creators && is_creator {
        return RedactPower::Allowed;
    }
    let Some(power) = power else {
        // No power levels: the creator has 100, everyone else 0.
        return if is_creator {
            RedactPower::Allowed
        } else {
            RedactPower::Denied {
                need: DEFAULT_REDACT,
                have: 0,
            }
        };
    };
    let have = power["users"]
        .get(user)
        .and_then(int)
        .or_else(|| int(&power["users_default"]))
        .unwrap_or(0);
    let redact = int(&power["redact"]).unwrap_or(DEFAULT_REDACT);
    let send = power["events"]
        .get("m.room.redaction")
        .and_then(int)
        .or_else(|| int(&power["events_default"]))
        .unwrap_or(0);
    let need = redact.max(send);
    if have >= need {
        RedactPower::Allowed
    } else {
        RedactPower::Denied { need, have }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn levels_decide() {
        let pl = json!({"users": {"@u:hs": 100, "@bot:hs": 50}, "users_default": 0});
        let create = json!({"room_version": "10"});
        assert_eq!(
            redact_power(Some(&create), Some(&pl), "@bot:hs", None),
            RedactPower::Allowed
        );
        let pl = json!({"users": {"@u:hs": 100}, "redact": 50});
        assert_eq!(
            redact_power(Some(&create), Some(&pl), "@bot:hs", None),
            RedactPower::Denied { need: 50, have: 0 }
        );
        let pl = json!({"users": {"@bot:hs": 50}, "events": {"m.room.redaction": 75}});
        assert_eq!(
            redact_power(Some(&create), Some(&pl), "@bot:hs", None),
            RedactPower::Denied { need: 75, have: 50 }
        );
        let pl = json!({"users_default": "60"});
        assert_eq!(
            redact_power(None, Some(&pl), "@bot:hs", None),
            RedactPower::Allowed
        );
    }

    #[test]
    fn privileged_creators_in_v12() {
        let create = json!({"room_version": "12", "additional_creators": ["@bot:hs"]});
        let pl = json!({"users": {}});
        assert_eq!(
            redact_power(Some(&create), Some(&pl), "@bot:hs", None),
            RedactPower::Allowed
        );
        let create = json!({"room_version": "12"});
        assert_eq!(
            redact_power(Some(&create), Some(&pl), "@bot:hs", None),
            RedactPower::Denied { need: 50, have: 0 }
        );
    }
}
