//! End-to-end encrypted rooms. The bridge holds no Matrix device keys, so it cannot read
//! `m.room.encrypted` events: instead of ignoring them without a word, it tells the room once
//! (again at most every [`NOTICE_EVERY`]) that what is written there does not reach the IM
//! side, and what to do about it. Applies to management rooms and portals alike.

use std::time::Duration;

use ruma::{EventId, RoomId};
use tracing::{info, warn};

use super::convert::notice_content;
use super::ghosts::now_ms;
use super::send_status::{self, Reason, Status};
use super::Ctx;

/// The shortest time between two encryption notices in one room.
pub const NOTICE_EVERY: Duration = Duration::from_secs(3600);

/// The notice, in Markdown-free plain text.
pub const NOTICE: &str = "🔒 This room is end-to-end encrypted, and the bridge cannot read \
encrypted messages: nothing written here reaches the IM side, and commands are not seen. \
Encryption cannot be turned off in a room once on. Please leave this room and start a new one \
with encryption off (in Element: create the room or direct message with \"Enable end-to-end \
encryption\" unticked).";

/// An encrypted message will not reach the IM side: its send status says so (when on).
pub async fn report_undecryptable(ctx: &Ctx, room: &RoomId, event_id: &EventId) {
    let why = "The bridge cannot read end-to-end encrypted messages.";
    let failure = Some((Reason::Undecryptable, why));
    send_status::report(ctx, room, event_id.as_str(), Status::FailPermanent, failure).await;
}

fn kv_key(room: &RoomId) -> String {
    format!("e2ee_notice:{room}")
}

/// An encrypted event (or encryption turned on) in `room`: sends the notice unless one went
/// out less than [`NOTICE_EVERY`] ago. The transaction id derives from `event_id`, so a
/// replay after a crash does not post it twice.
pub async fn on_encrypted(ctx: &Ctx, room: &RoomId, event_id: &EventId) {
    let key = kv_key(room);
    let now = now_ms();
    let last: Option<u64> = ctx
        .store
        .get_kv(&key)
        .await
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let every = NOTICE_EVERY.as_millis() as u64;
    if last.is_some_and(|t| now.saturating_sub(t) < every) {
        info!(%room, %event_id, "encrypted event; notice sent recently");
        return;
    }
    if let Err(e) = ctx.store.put_kv(&key, &now.to_string()).await {
        warn!(%room, error = %e, "encryption notice time not stored");
    }
    let txn = format!("imb-e2ee-{event_id}");
    super::send_bot_notice(ctx, room, &txn, &notice_content(NOTICE)).await;
}
