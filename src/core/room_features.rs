//! The `com.beeper.room_features` state event (mautrix bridgev2's capabilities event, state key
//! `""`): what a portal room supports, built from the connector's [`Capabilities`] and what
//! the core's conversion does, so clients can offer only what will go through. Support levels
//! are mautrix's integers: -2 rejected, -1 dropped, 0 unsupported (a fallback may apply), 1
//! partial (converted), 2 full. Sent in every new portal's initial state and, at start-up, to
//! every existing portal whose stored fingerprint (`room_features:{portal key}` in the store's
//! key-value table) differs, so a change of capabilities reaches old rooms too.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tracing::{debug, warn};

use super::connector::Capabilities;
use super::Ctx;

/// The state event type.
pub const EVENT_TYPE: &str = "com.beeper.room_features";

const REJECTED: i8 = -2;
const UNSUPPORTED: i8 = 0;
const PARTIAL: i8 = 1;
const FULL: i8 = 2;

fn kv_key(portal: &str) -> String {
    format!("room_features:{portal}")
}

/// HTML formatting features and how the core carries them. Without formatted text on the
/// network, the HTML → text conversion keeps link targets (`label (url)`), list numbers,
/// `> ` quotes, code blocks and mentions (partial), and drops other tags keeping their text.
fn formatting(caps: &Capabilities) -> Map<String, Value> {
    const CONVERTED: [&str; 7] = [
        "inline_link",
        "user_link",
        "unordered_list",
        "ordered_list",
        "ordered_list.start",
        "blockquote",
        "code_block",
    ];
    const TEXT_KEPT: [&str; 6] = [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "inline_code",
        "headers",
    ];
    let mut out = Map::new();
    for feature in CONVERTED {
        let level = if caps.formatted_text { FULL } else { PARTIAL };
        out.insert(feature.into(), json!(level));
    }
    for feature in TEXT_KEPT {
        let level = if caps.formatted_text {
            FULL
        } else {
            UNSUPPORTED
        };
        out.insert(feature.into(), json!(level));
    }
    out.insert("at_room_mention".into(), json!(FULL));
    out
}

/// File message types: every MIME type, captions sent as a separate text (partial), the
/// network's size limit; stickers go out as images.
fn files(caps: &Capabilities) -> Map<String, Value> {
    let mut out = Map::new();
    if !caps.media {
        return out;
    }
    for msgtype in ["m.image", "m.file", "m.audio", "m.video"] {
        out.insert(
            msgtype.into(),
            json!({
                "mime_types": { "*/*": FULL },
                "caption": PARTIAL,
                "max_size": caps.max_media_bytes,
            }),
        );
    }
    out.insert(
        "m.sticker".into(),
        json!({ "mime_types": { "image/*": PARTIAL }, "max_size": caps.max_media_bytes }),
    );
    out
}

/// The event content for a portal (`is_direct`: a one-to-one chat, whose name, topic and
/// members are the network's to decide).
pub fn content(caps: &Capabilities, is_direct: bool) -> Value {
    let level = |on: bool| if on { FULL } else { REJECTED };
    let mut features = json!({
        "formatting": formatting(caps),
        "file": files(caps),
        "location_message": REJECTED,
        "poll": REJECTED,
        "thread": level(caps.threads && !is_direct),
        "reply": FULL,
        "edit": level(caps.edits),
        "delete": level(caps.recall),
        "delete_for_me": false,
        "reaction": level(caps.reactions),
        "custom_emoji_reactions": false,
        "delete_chat": false,
        "delete_chat_for_everyone": false,
    });
    if caps.edits && caps.edit_window_secs > 0 {
        features["edit_max_age"] = json!(caps.edit_window_secs);
    }
    if caps.recall && caps.recall_window_secs > 0 {
        features["delete_max_age"] = json!(caps.recall_window_secs);
    }
    if !is_direct && caps.group_management {
        features["state"] = json!({
            "m.room.name": { "level": FULL },
            "m.room.topic": { "level": FULL },
        });
        features["member_actions"] = json!({
            "invite": FULL,
            "kick": FULL,
            "ban": PARTIAL,
        });
    }
    features
}

/// A short fingerprint of the content (FNV-1a of its JSON), to tell whether a room has it.
fn fingerprint(content: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in content.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The initial state entry for a new portal, and records its fingerprint.
pub async fn initial_state(ctx: &Ctx, portal: &str, is_direct: bool) -> (String, String, Value) {
    let content = content(&ctx.connector.capabilities(), is_direct);
    if let Err(e) = ctx
        .store
        .put_kv(&kv_key(portal), &fingerprint(&content))
        .await
    {
        debug!(portal, error = %e, "room features fingerprint not stored");
    }
    (EVENT_TYPE.into(), String::new(), content)
}

/// Sends the event to a portal that has a new room (adopted or upgraded) as `sender`, and
/// records its fingerprint.
pub async fn send(
    ctx: &Ctx,
    portal: &str,
    room: &ruma::RoomId,
    is_direct: bool,
    sender: &ruma::UserId,
) -> Result<(), super::matrix_api::MatrixError> {
    let content = content(&ctx.connector.capabilities(), is_direct);
    ctx.matrix
        .send_state(room, sender, EVENT_TYPE, "", &content)
        .await?;
    let _ = ctx
        .store
        .put_kv(&kv_key(portal), &fingerprint(&content))
        .await;
    Ok(())
}

/// At start-up: sends the event to every portal whose fingerprint differs (capabilities
/// changed, or a portal made before this event existed). Failures are logged and retried at
/// the next start.
pub async fn refresh_all(ctx: Arc<Ctx>) {
    let Ok(portals) = ctx.store.list_portals().await else {
        return;
    };
    let caps = ctx.connector.capabilities();
    let mut sent = 0usize;
    for portal in portals {
        let content = content(&caps, portal.is_direct);
        let print = fingerprint(&content);
        if ctx.store.get_kv(&kv_key(&portal.key)).await.ok().flatten() == Some(print.clone()) {
            continue;
        }
        let Ok(room) = ruma::RoomId::parse(portal.room_id.as_str()) else {
            continue;
        };
        let bot = ctx.matrix.bot().to_owned();
        match ctx
            .matrix
            .send_state(&room, &bot, EVENT_TYPE, "", &content)
            .await
        {
            Ok(_) => {
                sent += 1;
                let _ = ctx.store.put_kv(&kv_key(&portal.key), &print).await;
            }
            Err(e) => warn!(portal = %portal.key, error = %e, "room features not updated"),
        }
    }
    if sent > 0 {
        tracing::info!(rooms = sent, "room features updated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Capabilities {
        Capabilities {
            media: true,
            max_media_bytes: 1000,
            edits: true,
            recall: true,
            recall_window_secs: 120,
            reactions: true,
            group_management: true,
            ..Capabilities::default()
        }
    }

    #[test]
    fn levels_follow_the_capabilities() {
        let group = content(&caps(), false);
        assert_eq!(group["edit"], json!(FULL));
        assert_eq!(group["delete"], json!(FULL));
        assert_eq!(group["delete_max_age"], json!(120));
        assert!(group.get("edit_max_age").is_none(), "no edit window");
        assert_eq!(group["file"]["m.image"]["max_size"], json!(1000));
        assert_eq!(group["formatting"]["inline_link"], json!(PARTIAL));
        assert_eq!(group["state"]["m.room.name"]["level"], json!(FULL));
        let direct = content(&caps(), true);
        assert!(direct.get("state").is_none());
        assert!(direct.get("member_actions").is_none());
        let bare = content(&Capabilities::default(), false);
        assert_eq!(bare["edit"], json!(REJECTED));
        assert_eq!(bare["reaction"], json!(REJECTED));
        assert_eq!(bare["file"], json!({}));
    }

    #[test]
    fn fingerprints_change_with_the_content() {
        let a = fingerprint(&content(&caps(), false));
        assert_eq!(a, fingerprint(&content(&caps(), false)));
        let mut other = caps();
        other.max_media_bytes = 2000;
        assert_ne!(a, fingerprint(&content(&other, false)));
    }
}
