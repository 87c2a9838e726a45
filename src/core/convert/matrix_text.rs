//! Matrix text content (`m.text`, `m.notice`, `m.emote`) → the network's text, with its
//! mentions: the pure half of the portal's Matrix → network conversion, kept apart so that it
//! is tested and fuzzed without a portal.

use serde_json::Value;

use super::{html_to_text, matrix_mentions, strip_reply_fallback};
use crate::core::connector::MessageContent;

/// Matrix `content` → network content; `None` for kinds this function does not convert (media,
/// locations: the portal handles those). Mentions are the pills in the HTML (both `matrix.to`
/// and `matrix:u/` forms) and the users and `@room` of `m.mentions`, each mapped to a remote id
/// by `remote_of` (`None`: not a user of the network, dropped). `edit`: `content` is an edit's
/// `m.new_content` (its plain body may still carry a reply fallback).
pub fn matrix_text_content(
    content: &Value,
    edit: bool,
    remote_of: &dyn Fn(&str) -> Option<String>,
) -> Option<MessageContent> {
    let body = content["body"].as_str().unwrap_or_default();
    let (listed, room) = matrix_mentions(content);
    let text = |body: &str| -> (String, Vec<String>) {
        let (text, pills) = match (
            content["format"].as_str(),
            content["formatted_body"].as_str(),
        ) {
            (Some("org.matrix.custom.html"), Some(html)) => {
                html_to_text(html, &|mxid| remote_of(mxid).map(|r| format!("@{r}")))
            }
            _ => {
                let is_reply = edit || content["m.relates_to"]["m.in_reply_to"].is_object();
                (strip_reply_fallback(body, is_reply).to_owned(), Vec::new())
            }
        };
        let mut remotes: Vec<String> = Vec::new();
        for mxid in pills.iter().chain(listed.iter()) {
            if let Some(r) = remote_of(mxid) {
                if !remotes.contains(&r) {
                    remotes.push(r);
                }
            }
        }
        (text, remotes)
    };
    match content["msgtype"].as_str()? {
        "m.text" | "m.notice" => {
            let (body, mentions) = text(body);
            Some(MessageContent::Text {
                body,
                html: None,
                mentions,
                mentions_room: room,
            })
        }
        "m.emote" => Some(MessageContent::Emote { body: text(body).0 }),
        _ => None,
    }
}
