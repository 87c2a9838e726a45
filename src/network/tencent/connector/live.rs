//! Tencent live rooms (`AVChatRoom`, the IM part of TWebLive / TUILiveKit) as the core's
//! channels ([`ChannelAbility`], [`ChatKind::Channel`], id = `GroupId`): joining and leaving
//! through the client ([`crate::network::tencent::session::live`]), their messages as channel
//! messages, and the live-stream custom messages as short notices:
//!
//! - a like: `TIMCustomElem` `Data` `{"businessID":"TUIGift_like", "data":{…}}` (TUIKit's
//!   TUIGift component, `TUIGiftIMService` `getLikeMessageParam`, and TUILiveKit's
//!   `createLikeMessage`) → "alice liked"; marked droppable, the only thing a busy live-room
//!   portal may drop;
//! - a gift: `{"businessID":"TUIGift", "data":{"giftId", "message", "imageUrl", "lottieUrl",
//!   "extInfo"}}` (same sources; `message` is the gift's description) → "alice sent a gift:
//!   rose ×3" (`giftName` or `message` or `giftId`; the count from `giftCount` / `comboGift`
//!   / `count`, shown when above 1);
//! - the stream stopped: `{"cmd":"stopPush"}` (or `businessID` `stopPush`) → "alice stopped
//!   the stream". No public source spells TWebLive's IM notice for `stopPush` (its pusher
//!   only stops the TRTC stream); this shape is the bridge's convention;
//! - the older `{"cmd":"like"}` / `{"cmd":"gift", "giftName"|"name", "count"}` shapes are read
//!   the same way.

use async_trait::async_trait;
use serde_json::Value;

use super::groups::{group_message_id, translate_group_message};
use super::{send_failure, TencentLogin};
use crate::core::connector::{
    ChannelAbility, ChatId, ChatKind, MessageContent, RemoteMessage, SendFailure,
};
use crate::network::tencent::elem::Elem;
use crate::network::tencent::session::{GroupMessage, SendError};

/// `ErrorCode` of a group that does not exist (REST docs: 10010, also 10015 "invalid group
/// id").
const NO_SUCH_GROUP: [i64; 2] = [10010, 10015];

/// What a live-room custom message means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSignal {
    Like,
    Gift { name: String, count: u64 },
    StreamStopped,
}

/// The live-stream meaning of custom element `data`, if it has one.
pub fn live_signal(data: &str) -> Option<LiveSignal> {
    let v: Value = serde_json::from_str(data).ok()?;
    let kind = v
        .get("businessID")
        .or_else(|| v.get("cmd"))
        .and_then(Value::as_str)?;
    let inner = v.get("data").filter(|d| d.is_object()).unwrap_or(&v);
    let text = |k: &str| {
        inner
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned())
    };
    match kind {
        "TUIGift_like" | "like" => Some(LiveSignal::Like),
        "TUIGift" | "gift" => {
            let name = text("giftName")
                .or_else(|| text("name"))
                .or_else(|| text("message"))
                .or_else(|| text("giftId"))
                .unwrap_or_else(|| "a gift".into());
            let count = ["giftCount", "comboGift", "count"]
                .iter()
                .find_map(|k| inner.get(*k).or_else(|| v.get(*k)).and_then(Value::as_u64))
                .unwrap_or(1)
                .max(1);
            Some(LiveSignal::Gift { name, count })
        }
        "stopPush" | "stop_push" => Some(LiveSignal::StreamStopped),
        _ => None,
    }
}

/// The notice text of `signal` sent by `sender`.
pub fn notice_text(sender: &str, signal: &LiveSignal) -> String {
    match signal {
        LiveSignal::Like => format!("{sender} liked"),
        LiveSignal::Gift { name, count } if *count > 1 => {
            format!("{sender} sent a gift: {name} ×{count}")
        }
        LiveSignal::Gift { name, .. } => format!("{sender} sent a gift: {name}"),
        LiveSignal::StreamStopped => format!("{sender} stopped the stream"),
    }
}

/// A live-room message seen by `own`: a channel message; likes, gifts and the stream's end
/// as notices (likes droppable).
pub fn translate_live_message(own: &str, m: &GroupMessage) -> RemoteMessage {
    let signal = match m.elems.as_slice() {
        [Elem::Custom(c)] => live_signal(&c.data),
        _ => None,
    };
    let mut message = translate_group_message(own, m);
    message.id = group_message_id(&m.group_id, m.seq);
    message.chat = ChatId::channel(m.group_id.clone());
    if let Some(signal) = signal {
        message.droppable = signal == LiveSignal::Like;
        message.content = MessageContent::Notice {
            body: notice_text(&m.from, &signal),
        };
    }
    message
}

/// A live-room id as the service takes group ids: 1–48 printable characters, no spaces.
fn valid_room_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 48 && id.chars().all(|c| c.is_ascii_graphic())
}

#[async_trait]
impl ChannelAbility for TencentLogin {
    async fn join_channel(&self, id: &str) -> Result<ChatId, SendFailure> {
        if !valid_room_id(id) {
            return Err(SendFailure::Permanent(format!(
                "`{id}` is not a live room id (a group id)"
            )));
        }
        match self.client.join_live(id).await {
            Ok(()) => Ok(ChatId::channel(id)),
            Err(SendError::Server(e)) if NO_SUCH_GROUP.contains(&e.code) => Err(
                SendFailure::Permanent(format!("there is no live room `{id}`")),
            ),
            Err(SendError::Malformed(m)) => Err(SendFailure::Permanent(m)),
            Err(e) => Err(send_failure(e)),
        }
    }

    async fn leave_channel(&self, chat: &ChatId) -> Result<(), SendFailure> {
        if chat.kind != ChatKind::Channel {
            return Err(SendFailure::Permanent("not a live room".into()));
        }
        self.client.leave_live(&chat.id).await.map_err(send_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::CustomElem;

    fn custom(from: &str, data: &str) -> GroupMessage {
        GroupMessage {
            group_id: "live1".into(),
            from: from.into(),
            seq: 4,
            random: 1,
            time: 10,
            elems: vec![Elem::Custom(CustomElem {
                data: data.into(),
                ..Default::default()
            })],
            mentions: vec![],
            offline: false,
            need_receipt: false,
            version: 0,
            cloud_custom_data: String::new(),
            tiny_id: String::new(),
            client_time: 0,
        }
    }

    #[test]
    fn likes_gifts_and_the_stream_end_become_notices() {
        let like = translate_live_message(
            "me",
            &custom(
                "alice",
                r#"{"businessID":"TUIGift_like","data":{"message":""}}"#,
            ),
        );
        assert_eq!(like.chat, ChatId::channel("live1"));
        assert_eq!(
            like.content,
            MessageContent::Notice {
                body: "alice liked".into()
            }
        );
        assert!(like.droppable);
        let gift = translate_live_message(
            "me",
            &custom(
                "alice",
                r#"{"businessID":"TUIGift","data":{"giftId":"1","message":"rose","giftCount":3}}"#,
            ),
        );
        assert_eq!(
            gift.content,
            MessageContent::Notice {
                body: "alice sent a gift: rose ×3".into()
            }
        );
        assert!(!gift.droppable);
        let stop = translate_live_message("me", &custom("host", r#"{"cmd":"stopPush"}"#));
        assert_eq!(
            stop.content,
            MessageContent::Notice {
                body: "host stopped the stream".into()
            }
        );
        assert_eq!(
            live_signal(r#"{"cmd":"gift","name":"car"}"#),
            Some(LiveSignal::Gift {
                name: "car".into(),
                count: 1
            })
        );
        let other = translate_live_message("me", &custom("bob", r#"{"businessID":"poll"}"#));
        assert_eq!(
            other.content,
            MessageContent::Notice {
                body: r#"sent a custom message: {"businessID":"poll"}"#.into()
            }
        );
        assert!(!other.droppable);
        assert!(live_signal("not json").is_none());
        assert!(valid_room_id("@TGS#aXYZ"));
        assert!(!valid_room_id("a b"));
        assert!(!valid_room_id(""));
    }
}
