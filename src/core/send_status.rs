//! Message send status (MSS): for each Matrix event the bridge was asked to deliver, a
//! `com.beeper.message_send_status` event from the bot saying whether it reached the network,
//! in the shape mautrix bridges send and Beeper-style clients show (status `SUCCESS`,
//! `FAIL_RETRIABLE` or `FAIL_PERMANENT`, a machine `reason`, a human `message`, the event it is
//! about as an `m.reference`). Sent only with `bridge.message_status_events: true`. With
//! `bridge.delivery_receipts: true` the bot also marks each delivered message read.

use ruma::{RoomId, UserId};
use serde_json::{json, Value};

use super::ghosts::escape_localpart;
use super::Ctx;

/// The event type.
pub const EVENT_TYPE: &str = "com.beeper.message_send_status";

/// How delivering one event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    /// Might work later (the network was unreachable, a timeout).
    FailRetriable,
    /// Will not work as sent.
    FailPermanent,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::FailRetriable => "FAIL_RETRIABLE",
            Self::FailPermanent => "FAIL_PERMANENT",
        }
    }
}

/// Why delivering failed, in the MSS `reason` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The sender may not send through the bridge here (no login, another account's chat).
    NoPermission,
    /// The kind of event is not bridged.
    Unsupported,
    /// End-to-end encrypted: the bridge cannot read it.
    Undecryptable,
    /// The network refused or failed.
    ForeignError,
    /// Anything else.
    GenericError,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::NoPermission => "m_no_permission",
            Self::Unsupported => "m_unsupported",
            Self::Undecryptable => "m_undecryptable",
            Self::ForeignError => "m_foreign_error",
            Self::GenericError => "m_generic_error",
        }
    }
}

/// The content of a status event about `event_id`; `failure` is the reason and a sentence for
/// people (none for [`Status::Success`]).
pub fn content(
    network: &str,
    event_id: &str,
    status: Status,
    failure: Option<(Reason, &str)>,
) -> Value {
    let mut content = json!({
        "network": network,
        "m.relates_to": { "rel_type": "m.reference", "event_id": event_id },
        "status": status.as_str(),
    });
    if let Some((reason, message)) = failure {
        content["reason"] = json!(reason.as_str());
        content["message"] = json!(message);
        content["error"] = json!(message);
    }
    content
}

/// Sends the status of `event_id` in `room` as the bot, when the config asks for status
/// events. One status per event: the transaction id derives from the event id, so a replay
/// after a crash does not post it twice.
pub async fn report(
    ctx: &Ctx,
    room: &RoomId,
    event_id: &str,
    status: Status,
    failure: Option<(Reason, &str)>,
) {
    if status == Status::Success && ctx.cfg.bridge.delivery_receipts {
        delivery_receipt(ctx, room, event_id).await;
    }
    if !ctx.cfg.bridge.message_status_events {
        return;
    }
    let body = content(ctx.connector.name(), event_id, status, failure);
    let txn = format!("imb-mss-{}", escape_localpart(event_id));
    if let Err(e) = ctx
        .matrix
        .send_event(room, ctx.matrix.bot(), EVENT_TYPE, &txn, &body)
        .await
    {
        tracing::warn!(%room, event_id, error = %e, "send status not sent");
    }
}

/// A second SUCCESS status for `event_id` naming `delivered_to` (ghosts whose IM device
/// acknowledged the message), as mautrix's `delivered_to_users`; sent for DMs when the network
/// reports delivery and `bridge.message_status_events` is on. One per (event, recipient):
/// the transaction id derives from both.
pub async fn report_delivered(ctx: &Ctx, room: &RoomId, event_id: &str, delivered_to: &UserId) {
    if !ctx.cfg.bridge.message_status_events {
        return;
    }
    let mut body = content(ctx.connector.name(), event_id, Status::Success, None);
    body["delivered_to_users"] = json!([delivered_to.as_str()]);
    let txn = format!(
        "imb-mss-{}-to-{}",
        escape_localpart(event_id),
        escape_localpart(delivered_to.as_str())
    );
    if let Err(e) = ctx
        .matrix
        .send_event(room, ctx.matrix.bot(), EVENT_TYPE, &txn, &body)
        .await
    {
        tracing::warn!(%room, event_id, error = %e, "delivery status not sent");
    }
}

/// The bot's read receipt on `event_id`: the message reached the network
/// (`bridge.delivery_receipts`).
async fn delivery_receipt(ctx: &Ctx, room: &RoomId, event_id: &str) {
    let Ok(event) = ruma::EventId::parse(event_id) else {
        return;
    };
    if let Err(e) = ctx
        .matrix
        .read_receipt(room, ctx.matrix.bot(), &event)
        .await
    {
        tracing::debug!(%room, event_id, error = %e, "delivery receipt not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ok = content("easemob", "$e", Status::Success, None);
        assert_eq!(
            ok,
            json!({"network": "easemob", "status": "SUCCESS",
                   "m.relates_to": {"rel_type": "m.reference", "event_id": "$e"}})
        );
        let fail = content(
            "easemob",
            "$e",
            Status::FailPermanent,
            Some((Reason::NoPermission, "not logged in")),
        );
        assert_eq!(fail["status"], "FAIL_PERMANENT");
        assert_eq!(fail["reason"], "m_no_permission");
        assert_eq!(fail["message"], "not logged in");
    }
}
