//! Translation fidelity on a real Synapse (issue 9): inputs taken from bug reports against other
//! bridges and from the Easemob UIKit's conventions, each checked on what the other side
//! really receives (the bridge binary, the in-process Easemob sandbox, bob's Rust IM client,
//! a Matrix user over the client API). One world, one step per input:
//!
//! 1. a quote without a reply relation goes out whole; a body that is only a quote too;
//! 2. a Matrix user without a login gets one "not logged in" hint for several texts, none for
//!    a notice;
//! 3. bob reacts, takes it back and reacts again: Matrix shows the reaction again;
//! 7. mentions both ways (`em_at_list` ↔ `m.mentions` with a pill; `@room` ↔ `"ALL"`);
//! 8. a 6,000-byte text reaches bob as several messages within the service's 5 KB limit that
//!    join back to the text (and the sandbox refuses an over-long text as the service does);
//! 10. the UIKit's `U+1F44D` reaction key arrives as 👍;
//! 12. Element's HTML for a link, a numbered list and a quote keeps the URL, numbers and `> `;
//! 9. a reply to an image quotes it as an image, with preview and sender (the UIKit's
//!    `msgQuote`); a reply to an edit event quotes the message it edits;
//! 11. bob's new nickname and cleared avatar reach his ghost at his next message once the
//!     profile is older than `bridge.profile_refresh_secs` (Easemob pushes no profile changes);
//! 14. a sticker goes out as an image;
//! 15. an edit of a reply whose new content carries the fallback arrives as just the new text;
//!
//! and, with `bridge.message_status_events` on, send status events (SUCCESS, FAIL_PERMANENT
//! with its reason) for Matrix messages; with `bridge.delivery_receipts` on, the bot's read
//! receipt on a delivered message; with `bridge.message_error_notices` off, no notice for an
//! unsupported message (its status still says why).

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::Env;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{
    Body, Content, Ext, ExtValue, IncomingMessage, OutgoingMessage,
};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(3);
const BOT: &str = "@easemobbot:localhost";

fn text_of(m: &IncomingMessage) -> Option<&str> {
    match &m.body {
        Body::Content(Content::Text { text }) => Some(text),
        _ => None,
    }
}

/// The content of the newest event in `room` matching `pick` (bounded wait).
async fn content_of(
    mx: &MatrixUser,
    room: &str,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    let id = mx.wait_event(room, what, &pick).await;
    mx.raw_events(room)
        .await
        .into_iter()
        .find(|e| e["event_id"] == id.as_str())
        .map(|e| e["content"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translation_fidelity_end_to_end() {
    let mut env = Env::start("fidelity", "").await;
    env.login().await;
    env.open_dm().await;
    let dm = env.dm.clone();
    let t0 = env.t0;

    // 1. Quotes that are not reply fallbacks.
    let quoted = "> the meeting is at 3\nok, I'll be there";
    env.mx.send_text(&dm, quoted).await;
    env.mx.send_text(&dm, "> only a quote").await;
    for text in [quoted, "> only a quote"] {
        assert!(
            env.bob_inbox.wait("alice", |t| t == text, DEADLINE).await,
            "{text:?} did not arrive whole: {:?}",
            env.bob_inbox.texts_from("alice")
        );
    }
    say!(t0, "1: quotes kept");

    // 12. Element's HTML from markdown.
    env.mx
        .send_content(
            &dm,
            json!({
                "msgtype": "m.text",
                "body": "See the [report](https://example.org/r?a=1&b=2)\n\n1. one\n2. two\n\n> quoted",
                "format": "org.matrix.custom.html",
                "formatted_body": "<p>See the <a href=\"https://example.org/r?a=1&amp;b=2\">report</a></p>\n<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n"
            }),
        )
        .await;
    let html_text = env
        .bob_inbox
        .wait_message(
            |m| text_of(m).is_some_and(|t| t.starts_with("See the")),
            DEADLINE,
        )
        .await
        .and_then(|m| text_of(&m).map(str::to_owned))
        .expect("the HTML message reached bob");
    assert_eq!(
        html_text,
        "See the report (https://example.org/r?a=1&b=2)\n\n1. one\n2. two\n\n> quoted"
    );
    say!(t0, "12: links, lists, quotes kept");

    // 8. A long text: split within the limit, joined back it is the text.
    let long: String = (0..1200).map(|i| format!("w{i:04} ")).collect();
    assert!(long.len() > 6000);
    env.mx.send_text(&dm, &long).await;
    let deadline = std::time::Instant::now() + DEADLINE;
    let parts = loop {
        let parts: Vec<String> = env
            .bob_inbox
            .texts_from("alice")
            .into_iter()
            .filter(|t| t.starts_with('w') && t.len() > 20)
            .collect();
        if parts.concat() == long || std::time::Instant::now() > deadline {
            break parts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(parts.len() >= 2, "{} parts", parts.len());
    assert!(
        parts.iter().all(|p| p.len() <= 5 * 1024),
        "a part over 5 KB"
    );
    assert_eq!(
        parts.concat(),
        long,
        "the parts do not join back to the text"
    );
    let refused = env
        .bob
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            long.clone(),
        ))
        .await;
    assert!(refused.is_err(), "the sandbox took a 6,000-byte text");
    say!(t0, "8: long text split into {} parts", parts.len());

    // 7. Mentions, IM → Matrix and Matrix → IM.
    let mut hi = OutgoingMessage::text(Conversation::single("alice"), "hi @alice, see this");
    hi.ext.push(Ext {
        key: "em_at_list".into(),
        value: ExtValue::Json(json!(["alice"]).to_string()),
    });
    env.bob.send(hi).await.expect("bob mentions alice");
    let content = content_of(&env.mx, &dm, "bob's mention", |e| {
        e["content"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("hi ") && b.ends_with("see this"))
    })
    .await;
    assert_eq!(
        content["m.mentions"]["user_ids"],
        json!(["@mx1:localhost"]),
        "{content}"
    );
    assert!(
        content["formatted_body"]
            .as_str()
            .is_some_and(|h| h.contains("https://matrix.to/#/@mx1:localhost")),
        "{content}"
    );
    env.mx
        .send_content(
            &dm,
            json!({ "msgtype": "m.text", "body": "@room look", "m.mentions": { "room": true } }),
        )
        .await;
    let all = env
        .bob_inbox
        .wait_message(|m| text_of(m) == Some("@room look"), DEADLINE)
        .await
        .expect("the @room message reached bob");
    let at_list = ext_value(&all, "em_at_list");
    assert_eq!(
        at_list,
        Some(ExtValue::Json("\"ALL\"".into())),
        "{:?}",
        all.ext
    );
    env.mx
        .send_content(
            &dm,
            json!({
                "msgtype": "m.text", "body": "Bob: pill",
                "format": "org.matrix.custom.html",
                "formatted_body": "<a href=\"matrix:u/easemob_bob:localhost?action=chat\">Bob</a>: pill",
                "m.mentions": { "user_ids": ["@easemob_bob:localhost"] }
            }),
        )
        .await;
    let pill = env
        .bob_inbox
        .wait_message(
            |m| text_of(m).is_some_and(|t| t.ends_with(": pill")),
            DEADLINE,
        )
        .await
        .expect("the pill message reached bob");
    assert_eq!(text_of(&pill), Some("@bob: pill"));
    let at_list = ext_value(&pill, "em_at_list");
    assert_eq!(
        at_list,
        Some(ExtValue::Json("[\"bob\"]".into())),
        "{:?}",
        pill.ext
    );
    say!(t0, "7: mentions both ways");

    // 10 and 3. Reaction keys, and react / unreact / react again.
    let target = env
        .bob_inbox
        .messages()
        .into_iter()
        .find(|m| text_of(m) == Some("@room look"))
        .map(|m| m.id.to_string())
        .expect("a message to react to");
    let target_event = env.mx.event_id_of(&dm, "@room look").await;
    let rest = env.bob.rest();
    let is_thumb = |e: &Value| {
        e["type"] == "m.reaction"
            && e["content"]["m.relates_to"]["event_id"] == target_event.as_str()
            && e["content"]["m.relates_to"]["key"] == "👍"
    };
    rest.add_reaction(&target, "U+1F44D").await.expect("react");
    env.mx.wait_event(&dm, "👍 from U+1F44D", is_thumb).await;
    rest.remove_reaction(&target, "U+1F44D")
        .await
        .expect("unreact");
    let deadline = std::time::Instant::now() + DEADLINE;
    while env.mx.raw_events(&dm).await.iter().any(&is_thumb) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reaction was not removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rest.add_reaction(&target, "👍").await.expect("react again");
    env.mx.wait_event(&dm, "👍 again", is_thumb).await;
    say!(t0, "10, 3: reaction keys normalised; react again shows");

    // 14. A sticker goes out as an image.
    let mxc = env.mx.upload(png_bytes(), "image/png", "wave.png").await;
    env.mx
        .send_event(
            &dm,
            "m.sticker",
            json!({ "body": "wave", "url": mxc, "info": { "mimetype": "image/png", "w": 1, "h": 1 } }),
        )
        .await;
    env.bob_inbox
        .wait_message(
            |m| matches!(m.body, Body::Content(Content::Image { .. })),
            DEADLINE,
        )
        .await
        .expect("the sticker reached bob as an image");
    say!(t0, "14: sticker sent as an image");

    // 15. An edit of a reply whose new content carries the fallback.
    let hello = env.mx.event_id_of(&dm, "hello alice").await;
    let reply = env
        .mx
        .send_content(
            &dm,
            json!({
                "msgtype": "m.text",
                "body": "> <@easemob_bob:localhost> hello alice\n\nmy reply",
                "m.relates_to": { "m.in_reply_to": { "event_id": hello } }
            }),
        )
        .await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "my reply", DEADLINE)
            .await
    );
    let edit_event = env
        .mx
        .send_content(
            &dm,
            json!({
                "msgtype": "m.text",
                "body": " * > <@easemob_bob:localhost> hello alice\n\nedited reply",
                "m.new_content": {
                    "msgtype": "m.text",
                    "body": "> <@easemob_bob:localhost> hello alice\n\nedited reply"
                },
                "m.relates_to": { "rel_type": "m.replace", "event_id": reply }
            }),
        )
        .await;
    let edit = env
        .bob_inbox
        .wait_message(|m| matches!(m.body, Body::Edit { .. }), DEADLINE)
        .await
        .expect("the edit reached bob");
    let Body::Edit {
        content: Content::Text { text },
        ..
    } = &edit.body
    else {
        panic!("not a text edit: {edit:?}");
    };
    assert_eq!(text, "edited reply");
    say!(t0, "15: edit of a reply is the new text");

    // 9. Reply quotes: to the sticker (an image), and to the edit event of "my reply".
    let sticker_event = env
        .mx
        .wait_event(&dm, "the sticker", |e| e["type"] == "m.sticker")
        .await;
    let sticker_remote = remote_id_of(&env, |m| {
        matches!(m.body, Body::Content(Content::Image { .. }))
    });
    let quote = reply_quote(&mut env, &sticker_event, "nice sticker").await;
    assert_eq!(quote["msgID"], sticker_remote.as_str(), "{quote}");
    assert_eq!(quote["msgType"], "img", "{quote}");
    assert_eq!(quote["msgSender"], "alice", "{quote}");
    assert_eq!(quote["msgPreview"], "wave", "{quote}");
    let my_reply_remote = remote_id_of(&env, |m| text_of(m) == Some("my reply"));
    let quote = reply_quote(&mut env, &edit_event, "about that edit").await;
    assert_eq!(quote["msgID"], my_reply_remote.as_str(), "{quote}");
    assert_eq!(quote["msgType"], "txt", "{quote}");
    say!(t0, "9: reply quotes resolved and filled");

    // 2. A user without a login: one hint for three texts, none for a notice.
    let token = env.synapse.register("mx2", "mx2-password-5521");
    let mut mx2 = MatrixUser::new(&env.synapse.url(), "@mx2:localhost", &token);
    env.mx.invite(&dm, "@mx2:localhost").await;
    mx2.join(&dm).await;
    mx2.send_content(
        &dm,
        json!({ "msgtype": "m.notice", "body": "another bot's notice" }),
    )
    .await;
    for i in 0..3 {
        mx2.send_text(&dm, &format!("unbridged {i}")).await;
    }
    env.mx
        .wait_body(&dm, |b| b.contains("You are not logged in"))
        .await;
    tokio::time::sleep(SETTLE).await;
    let hints = env
        .mx
        .bodies(&dm, Some(BOT))
        .await
        .into_iter()
        .filter(|b| b.contains("You are not logged in"))
        .count();
    assert_eq!(hints, 1, "one hint for one user");
    say!(t0, "2: one hint, no answer to the notice");

    // 11. Profiles: a one-second refresh, so bob's next message brings his changes.
    env.set_bridge_settings(
        &[
            "profile_refresh_secs: 1",
            "message_status_events: true",
            "delivery_receipts: true",
            "message_error_notices: false",
        ],
        true,
    );
    let avatar = rest
        .upload(
            imbridge::network::easemob::jid::ChatType::Single,
            "alice",
            "bob.png",
            "image/png",
            png_bytes(),
        )
        .await
        .expect("avatar uploaded");
    rest.set_own_info(Some("Bobby"), Some(&avatar.url))
        .await
        .expect("profile set");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.bob_send("with a profile").await;
    env.mx.wait_body(&dm, |b| b == "with a profile").await;
    let ghost = "@easemob_bob:localhost";
    let profile = wait_profile(&env.mx, ghost, |p| {
        p["displayname"]
            .as_str()
            .is_some_and(|n| n.starts_with("Bobby"))
            && p["avatar_url"]
                .as_str()
                .is_some_and(|a| a.starts_with("mxc://"))
    })
    .await;
    say!(t0, "11: ghost profile {profile}");
    // The DM room takes the peer's name and avatar (`private_chat_portal_meta`, on).
    let avatar_mxc = profile["avatar_url"].clone();
    wait_state(&env.mx, &dm, "m.room.name", |c| c["name"] == "Bobby").await;
    wait_state(&env.mx, &dm, "m.room.avatar", |c| c["url"] == avatar_mxc).await;
    say!(t0, "11: DM room named and pictured after bob");
    rest.set_own_info(Some("Robert"), Some(""))
        .await
        .expect("profile changed");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.bob_send("with a new profile").await;
    env.mx.wait_body(&dm, |b| b == "with a new profile").await;
    let profile = wait_profile(&env.mx, ghost, |p| {
        p["displayname"]
            .as_str()
            .is_some_and(|n| n.starts_with("Robert"))
            && p["avatar_url"].as_str().is_none_or(str::is_empty)
    })
    .await;
    say!(t0, "11: nickname changed and avatar cleared: {profile}");
    wait_state(&env.mx, &dm, "m.room.name", |c| c["name"] == "Robert").await;
    wait_state(&env.mx, &dm, "m.room.avatar", |c| {
        c["url"].as_str().is_none_or(str::is_empty)
    })
    .await;
    say!(t0, "11: DM room renamed, its avatar removed");

    // Send status (with `message_status_events` on since the restart): a delivered message
    // gets SUCCESS, one from a user without a login FAIL_PERMANENT with the reason.
    let delivered = env.mx.send_text(&dm, "status please").await;
    let refused = mx2.send_text(&dm, "still no login").await;
    // An empty text is not sent, and its status says so.
    let empty = env
        .mx
        .send_content(&dm, json!({"msgtype": "m.text", "body": "  "}))
        .await;
    for (event, status, reason) in [
        (&delivered, "SUCCESS", Value::Null),
        (&refused, "FAIL_PERMANENT", json!("m_no_permission")),
        (&empty, "FAIL_PERMANENT", json!("m_unsupported")),
    ] {
        let content = content_of(&env.mx, &dm, "a send status", |e| {
            e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == event.as_str()
        })
        .await;
        assert_eq!(content["status"], status, "{content}");
        assert_eq!(content["reason"], reason, "{content}");
        assert_eq!(content["network"], "easemob", "{content}");
    }
    say!(
        t0,
        "send status events: SUCCESS and FAIL_PERMANENT (no login, an empty text)"
    );

    // IM delivery receipt: bob's device acknowledges "status please"; the status is posted
    // once more naming bob's ghost in `delivered_to_users`.
    let mut waited = 0;
    while !env
        .bob_inbox
        .messages()
        .iter()
        .any(|m| text_of(m) == Some("status please"))
    {
        assert!(waited < 100, "bob never received \"status please\"");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let remote = remote_id_of(&env, |m| text_of(m) == Some("status please"));
    env.bob
        .send(OutgoingMessage::new(
            Conversation::single("alice"),
            Body::DeliveryAck {
                message_id: remote.parse().expect("numeric message id"),
            },
        ))
        .await
        .expect("delivery ack sent");
    let content = content_of(&env.mx, &dm, "the delivered status", |e| {
        e["type"] == "com.beeper.message_send_status"
            && e["content"]["m.relates_to"]["event_id"] == delivered.as_str()
            && e["content"]["delivered_to_users"].is_array()
    })
    .await;
    assert_eq!(content["status"], "SUCCESS", "{content}");
    assert_eq!(
        content["delivered_to_users"],
        json!(["@easemob_bob:localhost"]),
        "{content}"
    );
    say!(
        t0,
        "delivery receipt from bob: delivered_to_users in the status"
    );

    // Delivery receipts: the bot marks the delivered message read.
    env.mx.wait_read_receipt(&dm, BOT, &delivered).await;
    // Error notices off: an unsupported message gets its FAIL_PERMANENT status, no notice.
    // (An in-room verification request, as Element sends it, is such a message.)
    let verification = env
        .mx
        .send_content(
            &dm,
            json!({ "msgtype": "m.key.verification.request",
                "body": "@alice is asking to verify your key", "from_device": "ABCDEF",
                "methods": ["m.sas.v1"], "to": "@easemob_bob:localhost" }),
        )
        .await;
    let content = content_of(&env.mx, &dm, "the verification request's status", |e| {
        e["type"] == "com.beeper.message_send_status"
            && e["content"]["m.relates_to"]["event_id"] == verification.as_str()
    })
    .await;
    assert_eq!(content["reason"], "m_unsupported", "{content}");
    let notices = env.mx.bodies(&dm, Some(BOT)).await;
    assert!(
        notices
            .iter()
            .all(|b| !b.contains("m.key.verification.request")),
        "error notices are off: {notices:?}"
    );
    say!(
        t0,
        "delivery receipt seen; no error notice when they are off"
    );

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// The remote id of the first message bob received that matches `pick`.
fn remote_id_of(env: &Env, pick: impl Fn(&IncomingMessage) -> bool) -> String {
    env.bob_inbox
        .messages()
        .into_iter()
        .find(|m| pick(m))
        .map(|m| m.id.to_string())
        .expect("a message bob received")
}

/// The Matrix user replies `body` to `event` in the DM; returns the `msgQuote` bob receives.
async fn reply_quote(env: &mut Env, event: &str, body: &str) -> Value {
    let dm = env.dm.clone();
    env.mx
        .send_content(
            &dm,
            json!({
                "msgtype": "m.text", "body": body,
                "m.relates_to": { "m.in_reply_to": { "event_id": event } }
            }),
        )
        .await;
    let reply = env
        .bob_inbox
        .wait_message(|m| text_of(m) == Some(body), DEADLINE)
        .await
        .unwrap_or_else(|| panic!("the reply {body:?} did not reach bob"));
    match ext_value(&reply, "msgQuote") {
        Some(ExtValue::Json(s) | ExtValue::String(s)) => {
            serde_json::from_str(&s).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// The value of a message's ext entry `key`.
fn ext_value(m: &IncomingMessage, key: &str) -> Option<ExtValue> {
    m.ext.iter().find(|e| e.key == key).map(|e| e.value.clone())
}

/// A 1×1 PNG.
fn png_bytes() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82".to_vec()
}

/// Waits (bounded) until `user`'s profile satisfies `ok`; returns it.
/// Waits until the room's `event_type` state content satisfies `ok`.
async fn wait_state(mx: &MatrixUser, room: &str, event_type: &str, ok: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let content = mx.state(room, event_type).await;
        if ok(&content) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{event_type} stayed {content}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_profile(mx: &MatrixUser, user: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let profile = mx.profile(user).await;
        if ok(&profile) {
            return profile;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ghost's profile stayed {profile}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
