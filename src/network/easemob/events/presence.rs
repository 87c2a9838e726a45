//! The `"presence"` NOTIFY (reference §3.12, the SDK's `onPresenceStatusChange`):
//! `{"type":"presence","data":{"values":[{uid, last_time, expiry, ext, status:{device: 0|1}}]}}`,
//! and the same entries in the answers of the presence REST calls (`result`).

use serde::Deserialize;
use serde_json::Value;

/// One user's presence as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresenceStatus {
    pub user: String,
    /// The custom status the user published (`ext`; empty when none).
    pub ext: String,
    /// When it last changed, unix seconds.
    pub last_time: u64,
    /// Each device (resource) with whether it is online.
    pub devices: Vec<(String, bool)>,
}

impl PresenceStatus {
    /// Online on at least one device.
    pub fn online(&self) -> bool {
        self.devices.iter().any(|(_, on)| *on)
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    ext: Option<String>,
    #[serde(default)]
    last_time: Value,
    #[serde(default)]
    status: serde_json::Map<String, Value>,
}

/// A number that may come as a JSON number or a string of digits.
fn number(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The entries of a presence list (`data.values` of the NOTIFY, `result` of the REST calls);
/// malformed entries and those without a user are skipped.
pub fn parse_presence_list(list: &Value) -> Vec<PresenceStatus> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|v| Entry::deserialize(v).ok())
        .filter(|e| !e.uid.is_empty())
        .map(|e| PresenceStatus {
            user: e.uid,
            ext: e.ext.unwrap_or_default(),
            last_time: number(&e.last_time),
            devices: e
                .status
                .iter()
                .map(|(device, on)| (device.clone(), number(on) == 1))
                .collect(),
        })
        .collect()
}

/// The presence changes of a NOTIFY, or `None` when it is not a presence notify.
pub fn parse_presence_notify(json: &str) -> Option<Vec<PresenceStatus>> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v.get("type").and_then(Value::as_str) != Some("presence") {
        return None;
    }
    Some(parse_presence_list(&v["data"]["values"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifies_and_odd_entries() {
        let json = r#"{"type":"presence","data":{"values":[{"uid":"bob","last_time":"1700000000","expiry":0,"ext":"busy","status":{"web":1,"android":"0"}},{"ext":"no uid"},3]}}"#;
        let list = parse_presence_notify(json).expect("a presence notify");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].user, "bob");
        assert_eq!(list[0].ext, "busy");
        assert_eq!(list[0].last_time, 1_700_000_000);
        assert!(list[0].online());
        assert!(parse_presence_notify(r#"{"type":"reaction","data":[]}"#).is_none());
        assert!(parse_presence_notify("not json").is_none());
        assert_eq!(
            parse_presence_notify(r#"{"type":"presence","data":{}}"#),
            Some(vec![])
        );
    }
}
