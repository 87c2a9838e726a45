//! Relay mode (issue 11 item 2), end to end on a real Synapse with the bridge binary, the
//! in-process Easemob sandbox and bob's Rust IM client: in a group portal, mx1 (logged in as
//! alice) sends `!em set-relay`; mx2, a Matrix user without a login, writes in the portal and
//! bob receives it from alice as "mx2's name: text", and mx2's edit and redaction of it follow
//! (an edit as "name: new text", a recall); a Matrix user's `!em set-relay` without a
//! login is refused with a notice; after `!em unset-relay` mx2's messages are not bridged
//! (and mx2 is told once); `!em delete-portal` is refused for mx2 and, by mx1, empties and
//! forgets the room, the group's next message opening a new one.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::Env;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, OutgoingMessage};
use imbridge::network::easemob::rest::NewGroup;
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_carries_messages_of_users_without_a_login() {
    let mut env = Env::start("relay", "").await;
    env.set_bridge_settings(
        &[
            "relay:",
            "  enabled: true",
            "  admin_only: false",
            "  message_format: \"{{.DisplayName}} says: {{.Message}}\"",
        ],
        true,
    );
    env.login().await;
    let group = env
        .bob
        .rest()
        .create_group(&NewGroup {
            name: "relay group".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    env.bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "hi group",
        ))
        .await
        .expect("group message");
    let mgmt = env.mgmt.clone();
    let room = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    env.mx.wait_body(&room, |b| b == "hi group").await;

    let token = env.synapse.register("mx2", "mx2-password-5512");
    let mut mx2 = MatrixUser::new(&env.synapse.url(), "@mx2:localhost", &token);
    mx2.set_displayname("Zoe").await;
    env.mx.invite(&room, &mx2.mxid).await;
    mx2.join(&room).await;

    // Without a login, mx2 cannot set the relay.
    mx2.send_text(&room, "!em set-relay").await;
    env.mx
        .wait_body(&room, |b| b.contains("Log in to the IM service first"))
        .await;

    env.mx.send_text(&room, "!em set-relay").await;
    env.mx
        .wait_body(&room, |b| {
            b.starts_with("Messages of Matrix users without a login now go out through alice")
        })
        .await;
    say!(env.t0, "relay set in {room}");

    let relayed = mx2.send_text(&room, "hello from the relay").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "Zoe says: hello from the relay", DEADLINE)
            .await,
        "bob got: {:?}",
        env.bob_inbox.texts_from("alice")
    );
    let original = env
        .bob_inbox
        .messages()
        .into_iter()
        .find(|m| {
            matches!(&m.body, Body::Content(Content::Text { text })
                if text == "Zoe says: hello from the relay")
        })
        .map(|m| m.id)
        .expect("the relayed message");

    // The relayed user's edit follows, in the template too.
    let edit = |body: &str| {
        json!({
            "msgtype": "m.text",
            "body": format!("* {body}"),
            "m.new_content": { "msgtype": "m.text", "body": body },
            "m.relates_to": { "rel_type": "m.replace", "event_id": relayed },
        })
    };
    mx2.send_content(&room, edit("hello, edited")).await;
    let edited = env
        .bob_inbox
        .wait_message(
            |m| matches!(&m.body, Body::Edit { message_id, .. } if *message_id == original),
            DEADLINE,
        )
        .await
        .expect("the relayed edit reached bob");
    let Body::Edit { content, .. } = &edited.body else {
        unreachable!("matched an edit");
    };
    assert_eq!(
        content,
        &Content::Text {
            text: "Zoe says: hello, edited".into()
        }
    );
    // The relayed user's redaction recalls it.
    mx2.redact(&room, &relayed).await;
    env.bob_inbox
        .wait_message(
            |m| matches!(&m.body, Body::Recall { message_id, .. } if *message_id == original),
            DEADLINE,
        )
        .await
        .expect("the relayed redaction recalled the message");
    say!(env.t0, "relayed edit and redaction reached bob");

    env.mx.send_text(&room, "!em unset-relay").await;
    env.mx
        .wait_body(&room, |b| b.starts_with("The relay is off"))
        .await;
    mx2.send_text(&room, "no relay now").await;
    env.mx
        .wait_body(&room, |b| b.contains("You are not logged in"))
        .await;
    tokio::time::sleep(SETTLE).await;
    let to_bob = env.bob_inbox.texts_from("alice");
    assert!(
        to_bob.iter().all(|t| !t.contains("no relay now")),
        "{to_bob:?}"
    );
    assert!(
        to_bob.iter().all(|t| !t.contains("set-relay")),
        "commands are not bridged: {to_bob:?}"
    );

    // delete-portal: refused for mx2 (no login, not an admin); by mx1 the room is emptied
    // and forgotten, and the group's next message opens a new room.
    mx2.send_text(&room, "!em delete-portal").await;
    env.mx
        .wait_body(&room, |b| {
            b.contains("Only bridge admins and this chat's own")
        })
        .await;
    env.mx.send_text(&room, "!em delete-portal").await;
    let deadline = std::time::Instant::now() + DEADLINE;
    while env.mx.joined_rooms().await.contains(&room) {
        assert!(std::time::Instant::now() < deadline, "mx1 still in {room}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    env.bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "after delete",
        ))
        .await
        .expect("group message");
    let new_room = env
        .mx
        .accept_new_invite(&[mgmt.clone(), room.clone()])
        .await;
    assert_ne!(new_room, room);
    env.mx.wait_body(&new_room, |b| b == "after delete").await;
    say!(
        env.t0,
        "delete-portal: {room} emptied, {new_room} made for the next message"
    );

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
