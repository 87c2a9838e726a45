//! Fault injection on the sandbox's own state, for tests in the same process (the REST fault
//! endpoints of the chaos run are in `rest_faults.rs`): messages the server takes, stores and
//! delivers without ever acknowledging them to their sender, as when the sender's process
//! dies between the server taking a message and the ack reaching it.

use prost::Message as _;

use super::state::Sandbox;
use crate::network::easemob::proto::{MessageBody, Meta};

impl Sandbox {
    /// From now on, chat messages whose text contains `marker` are stored and delivered as
    /// usual, but the sender never gets the server's ack (its send waits until it times out
    /// or its process is gone). Until [`Sandbox::stop_withholding_acks`].
    pub fn withhold_acks(&self, marker: &str) {
        self.lock().withheld_acks.push(marker.to_owned());
    }

    /// How many items wait, unacknowledged, in the queues of every device of `user` (0 for an
    /// unknown user): what a crash of that user's client now would make the server deliver
    /// again. Items leave a queue when the device's sync acknowledges their key.
    pub fn pending_for(&self, user: &str) -> usize {
        self.lock().data.users.get(user).map_or(0, |u| {
            u.devices
                .values()
                .flat_map(|d| d.queues.values())
                .map(|q| q.len())
                .sum()
        })
    }

    /// Acknowledges every message again.
    pub fn stop_withholding_acks(&self) {
        self.lock().withheld_acks.clear();
    }

    /// Whether the ack of `meta` (a message taken) is to be withheld.
    pub(super) fn withholds_ack_of(&self, meta: &Meta) -> bool {
        let markers = self.lock().withheld_acks.clone();
        if markers.is_empty() {
            return false;
        }
        let Ok(body) = MessageBody::decode(meta.payload.as_deref().unwrap_or_default()) else {
            return false;
        };
        body.contents
            .iter()
            .filter_map(|c| c.text.as_deref())
            .any(|text| markers.iter().any(|m| text.contains(m.as_str())))
    }
}
