//! Fault injection on the sandbox, for tests in the same process: sends the server takes,
//! stores and delivers but never answers, as when the sender's process dies between the
//! server taking a message and its answer arriving (the crash window the connector's
//! at-most-once replay covers, [`crate::network::jmessage::connector`]).

use serde_json::Value;

use super::state::Sandbox;
use crate::network::jmessage::wire::event;

impl Sandbox {
    /// From now on, a single or group send whose text contains `marker` is acknowledged
    /// (`ack {rid}`), stored and delivered as usual, but its answer (`msg_id`, `ctime_ms`)
    /// never reaches the sender. Until [`Sandbox::stop_withholding_answers`].
    pub fn withhold_answers(&self, marker: &str) {
        self.withheld_lock().push(marker.to_owned());
    }

    /// Answers every send again.
    pub fn stop_withholding_answers(&self) {
        self.withheld_lock().clear();
    }

    /// Whether the answer to request `name` with `data` is to be withheld.
    pub(super) fn withholds_answer_to(&self, name: &str, data: &Value) -> bool {
        if name != event::S_SINGLE_TEXT && name != event::SEND_GROUP_MSG {
            return false;
        }
        let Some(text) = data["content"]["msg_body"]["text"].as_str() else {
            return false;
        };
        self.withheld_lock()
            .iter()
            .any(|m| text.contains(m.as_str()))
    }

    fn withheld_lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.withheld.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;

    #[test]
    fn only_sends_with_the_marker_are_withheld_until_stopped() {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        let send = |t: &str| json!({"content": {"msg_body": {"text": t}}});
        assert!(!sb.withholds_answer_to(event::S_SINGLE_TEXT, &send("lost answer")));
        sb.withhold_answers("lost");
        assert!(sb.withholds_answer_to(event::S_SINGLE_TEXT, &send("lost answer")));
        assert!(sb.withholds_answer_to(event::SEND_GROUP_MSG, &send("a lost one")));
        assert!(!sb.withholds_answer_to(event::S_SINGLE_TEXT, &send("kept")));
        assert!(!sb.withholds_answer_to(event::SYNC_CHECK, &send("lost")));
        sb.stop_withholding_answers();
        assert!(!sb.withholds_answer_to(event::S_SINGLE_TEXT, &send("lost answer")));
    }
}
