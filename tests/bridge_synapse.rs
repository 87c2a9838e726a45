//! End to end on a real Synapse: the bridge binary, the Easemob sandbox, Rust IM clients as the
//! other party and Matrix users over the client API. Login through the bot, IM → Matrix DM,
//! Matrix → IM DM (text, and an image with a caption), typing and reactions both ways, a group
//! shared by two logged-in users bridged once (its owner and admins as power levels; an image
//! with a caption there not posted back by the other login's session), a restart
//! in the middle of a conversation losing and duplicating nothing, a replayed transaction
//! ignored, a wrong hs_token refused.

#![cfg(feature = "easemob")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::bridge::{
    assert_log_free_of, registration_value, wait_bot_joined, write_config, BridgeProcess,
};
use common::matrix_user::MatrixUser;
use common::synapse::{free_port, Synapse};
use common::{next_event, TestSandbox};
use imbridge::network::easemob::events::{parse_reaction_notify, SessionEvent};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, OutgoingMessage};
use imbridge::network::easemob::rest::NewGroup;
use serde_json::json;

fn count(bodies: &[String], body: &str) -> usize {
    bodies.iter().filter(|b| b.as_str() == body).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_end_to_end_on_synapse() {
    let dir = std::env::temp_dir().join(format!("imbridge-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let sandbox = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sandbox.user(u, "pw");
    }
    let as_port = free_port();
    let synapse_dir = dir.join("synapse");
    // Synapse needs the registration, which needs the config, which needs Synapse's port:
    // take a port first, write the config, generate, then start Synapse on it.
    let hs_port_hint = free_port();
    let config = write_config(
        &dir,
        &format!("http://127.0.0.1:{hs_port_hint}"),
        as_port,
        &sandbox,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .arg("-c")
        .arg(&config)
        .args(["generate-registration", "-o"])
        .arg(dir.join("registration.yaml"))
        .output()
        .expect("generate-registration runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reg = dir.join("registration.yaml");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&reg).expect("reg").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let synapse = Synapse::start(&synapse_dir, &[&reg]);
    // Point the config at the port Synapse really got.
    let config = write_config(&dir, &synapse.url(), as_port, &sandbox);
    let log = dir.join("bridge.log");
    let mut bridge = BridgeProcess::start(&config, &log, as_port);

    let mx1_token = synapse.register("mx1", "pw-mx1");
    let mx2_token = synapse.register("mx2", "pw-mx2");
    let mut mx1 = MatrixUser::new(&synapse.url(), "@mx1:localhost", &mx1_token);
    let mut mx2 = MatrixUser::new(&synapse.url(), "@mx2:localhost", &mx2_token);

    // Login via the bot (one-line form; the password event is redacted).
    let mgmt1 = mx1.create_dm("@easemobbot:localhost").await;
    wait_bot_joined(&mx1, &mgmt1).await;
    let login_event = mx1.send_text(&mgmt1, "login alice pw").await;
    mx1.wait_body(&mgmt1, |b| b.starts_with("Logged in as alice"))
        .await;
    let redacted = mx1
        .messages(&mgmt1)
        .await
        .into_iter()
        .all(|(_, _, c)| c["body"].as_str() != Some("login alice pw"));
    assert!(
        redacted,
        "the message with the password ({login_event}) was not redacted"
    );

    // IM → Matrix DM.
    let (bob, mut bob_events) = sandbox.rust_client("bob", "pw").await;
    let hello = bob
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "hello alice <b>&</b>",
        ))
        .await
        .expect("bob sends");
    let dm = mx1.accept_new_invite(std::slice::from_ref(&mgmt1)).await;
    let body = mx1.wait_body(&dm, |b| b.starts_with("hello alice")).await;
    assert_eq!(body, "hello alice <b>&</b>");
    let senders: Vec<String> = mx1
        .messages(&dm)
        .await
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    assert!(
        senders.iter().any(|s| s == "@easemob_bob:localhost"),
        "{senders:?}"
    );

    // Matrix → IM DM.
    mx1.send_text(&dm, "hi bob, from Matrix").await;
    let (from, text, hi_id) = next_event(&mut bob_events, "text from Matrix", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) => Some((m.from.clone(), text.clone(), m.id)),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(
        (from.as_str(), text.as_str()),
        ("alice", "hi bob, from Matrix")
    );

    // Matrix → IM attachment: an image with a caption arrives as an Easemob image (bob
    // downloads the same bytes with the secret it carries), then the caption as text.
    let picture: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mxc = mx1.upload(picture.clone(), "image/png", "cat.png").await;
    mx1.send_content(
        &dm,
        json!({
            "msgtype": "m.image", "body": "look at this cat", "filename": "cat.png", "url": mxc,
            "info": { "mimetype": "image/png", "size": picture.len(), "w": 40, "h": 30 },
        }),
    )
    .await;
    let (file, width) = next_event(&mut bob_events, "image from Matrix", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Image { file, width, .. }) => Some((file.clone(), *width)),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!((file.name.as_str(), width), ("cat.png", Some(40.0)));
    let fetched = bob
        .rest()
        .download(&file.url, Some(&file.secret), 1 << 20)
        .await
        .expect("bob downloads the image");
    assert_eq!(fetched, picture, "the image bytes survive the bridge");
    let caption = next_event(&mut bob_events, "the caption", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(caption, "look at this cat");

    // Typing both ways (the Easemob convention: online-only TypingBegin / TypingEnd commands).
    let typing = |active: bool| {
        let action = if active { "TypingBegin" } else { "TypingEnd" };
        let mut msg = OutgoingMessage::new(
            Conversation::single("alice"),
            Body::Content(Content::Command {
                action: action.into(),
                params: Vec::new(),
            }),
        );
        msg.online_only = true;
        msg
    };
    bob.send(typing(true)).await.expect("bob starts typing");
    mx1.wait_typing(&dm, "@easemob_bob:localhost", true).await;
    bob.send(typing(false)).await.expect("bob stops typing");
    mx1.wait_typing(&dm, "@easemob_bob:localhost", false).await;
    mx1.set_typing(&dm, true).await;
    let typing_from = |want: &'static str| {
        move |e: &SessionEvent| match e {
            SessionEvent::Message(m) => match &m.body {
                Body::Content(Content::Command { action, .. }) if action == want => {
                    Some(m.from.clone())
                }
                _ => None,
            },
            _ => None,
        }
    };
    let from = next_event(&mut bob_events, "alice typing", typing_from("TypingBegin")).await;
    assert_eq!(from, "alice");
    mx1.set_typing(&dm, false).await;
    let from = next_event(
        &mut bob_events,
        "alice stops typing",
        typing_from("TypingEnd"),
    )
    .await;
    assert_eq!(from, "alice");

    // Reactions both ways: bob's 👍 on alice's message appears from his ghost and goes away
    // when he takes it back; alice's ❤️ from Matrix reaches bob and is taken back by a redaction.
    bob.rest()
        .add_reaction(&hi_id.to_string(), "👍")
        .await
        .expect("bob reacts");
    let hi_event = mx1.event_id_of(&dm, "hi bob, from Matrix").await;
    let thumbs = mx1
        .wait_event(&dm, "bob's reaction", |e| {
            e["type"] == "m.reaction"
                && e["sender"] == "@easemob_bob:localhost"
                && e["content"]["m.relates_to"]["key"] == "👍"
                && e["content"]["m.relates_to"]["event_id"] == hi_event.as_str()
        })
        .await;
    bob.rest()
        .remove_reaction(&hi_id.to_string(), "👍")
        .await
        .expect("bob takes it back");
    mx1.wait_event(&dm, "the reaction redacted", |e| {
        e["event_id"] == thumbs.as_str() && e["unsigned"]["redacted_because"].is_object()
    })
    .await;
    let hello_event = mx1.event_id_of(&dm, "hello alice <b>&</b>").await;
    let heart = mx1.send_reaction(&dm, &hello_event, "❤️").await;
    let reaction_of = |added: bool| {
        move |e: &SessionEvent| match e {
            SessionEvent::Notify { json } => parse_reaction_notify(json)?
                .into_iter()
                .find(|c| c.added == added && c.reaction == "❤️")
                .map(|c| (c.operator, c.message_id)),
            _ => None,
        }
    };
    let (operator, target) = next_event(&mut bob_events, "alice's ❤️", reaction_of(true)).await;
    assert_eq!(
        (operator.as_str(), target),
        ("alice", hello.server_id.to_string())
    );
    mx1.redact(&dm, &heart).await;
    let (operator, _) = next_event(&mut bob_events, "❤️ taken back", reaction_of(false)).await;
    assert_eq!(operator, "alice");

    // alice writes from another IM device (a phone: another OS type, so the bridge's session
    // is not kicked): it shows in the DM as alice's ghost, marked as such.
    let (alice_phone, _phone_events) = sandbox.phone_client("alice", "pw", "alice_phone").await;
    alice_phone
        .send(OutgoingMessage::text(
            Conversation::single("bob"),
            "sent from my phone",
        ))
        .await
        .expect("phone sends");
    mx1.wait_body(&dm, |b| b == "sent from my phone").await;
    let from_phone = mx1
        .messages(&dm)
        .await
        .into_iter()
        .find(|(_, _, c)| c["body"] == json!("sent from my phone"))
        .expect("phone message");
    assert_eq!(from_phone.0, "@easemob_alice:localhost");
    assert_eq!(from_phone.2["net.imbridge.from_other_device"], json!(true));

    // A second Matrix user logs in as carol; bob's group with both is bridged once.
    let mgmt2 = mx2.create_dm("@easemobbot:localhost").await;
    wait_bot_joined(&mx2, &mgmt2).await;
    mx2.send_text(&mgmt2, "login carol pw").await;
    mx2.wait_body(&mgmt2, |b| b.starts_with("Logged in as carol"))
        .await;
    let group = bob
        .rest()
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["alice".into(), "carol".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    bob.send(OutgoingMessage::text(
        Conversation::group(&group),
        "group hello",
    ))
    .await
    .expect("group message");
    let g1 = mx1.accept_new_invite(&[mgmt1.clone(), dm.clone()]).await;
    let g2 = mx2.accept_new_invite(std::slice::from_ref(&mgmt2)).await;
    assert_eq!(g1, g2, "one portal room for the group");
    mx1.wait_body(&g1, |b| b == "group hello").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&mx1.bodies(&g1, None).await, "group hello"),
        1,
        "bridged once"
    );
    // Group roles as power levels: bob owns the group (95), carol made admin (50) and back.
    mx1.wait_power(&g1, "@easemob_bob:localhost", Some(95))
        .await;
    bob.rest()
        .add_group_admin(&group, "carol")
        .await
        .expect("carol made admin");
    mx1.wait_power(&g1, &mx2.mxid, Some(50)).await;
    bob.rest()
        .remove_group_admin(&group, "carol")
        .await
        .expect("carol admin no more");
    mx1.wait_power(&g1, &mx2.mxid, None).await;

    // Matrix → IM in the group, not echoed back by carol's session.
    mx1.send_text(&g1, "hello group from alice").await;
    next_event(&mut bob_events, "group text from Matrix", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) if text == "hello group from alice" => Some(()),
            _ => None,
        },
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&mx1.bodies(&g1, None).await, "hello group from alice"),
        1,
        "no echo"
    );

    // An image with a caption in the group: the IM side gets image + text, and carol's
    // session sees both come back; neither is posted again (every remote id is mapped).
    let mxc = mx1.upload(picture.clone(), "image/png", "group.png").await;
    mx1.send_content(
        &g1,
        json!({
            "msgtype": "m.image", "body": "caption for the group", "filename": "group.png",
            "url": mxc, "info": { "mimetype": "image/png", "size": picture.len() },
        }),
    )
    .await;
    next_event(&mut bob_events, "the group caption", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) if text == "caption for the group" => Some(()),
            _ => None,
        },
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posted: Vec<String> = mx1
        .messages(&g1)
        .await
        .into_iter()
        .filter(|(s, _, c)| s != &mx1.mxid && c["body"] == json!("caption for the group"))
        .map(|(s, _, _)| s)
        .collect();
    assert!(posted.is_empty(), "the caption came back as {posted:?}");

    // Restart in the middle of the conversation: what bob sends meanwhile arrives once.
    bridge.stop();
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "while you were restarting",
    ))
    .await
    .expect("bob sends while the bridge is down");
    let mut bridge = BridgeProcess::start(&config, &log, as_port);
    mx1.wait_body(&dm, |b| b == "while you were restarting")
        .await;
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "after restart",
    ))
    .await
    .expect("bob sends");
    mx1.wait_body(&dm, |b| b == "after restart").await;
    let bodies = mx1.bodies(&dm, None).await;
    for b in [
        "hello alice <b>&</b>",
        "while you were restarting",
        "after restart",
    ] {
        assert_eq!(count(&bodies, b), 1, "{b:?} once in {bodies:?}");
    }
    // Matrix → IM still works after the restart (the login was restored).
    mx1.send_text(&dm, "still here").await;
    next_event(&mut bob_events, "text after restart", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) if text == "still here" => Some(()),
            _ => None,
        },
        _ => None,
    })
    .await;

    // A replayed transaction is ignored; a wrong hs_token is refused.
    let hs_token = registration_value(&reg, "hs_token");
    let txn = json!({ "events": [{
        "type": "m.room.message", "room_id": dm, "sender": "@mx1:localhost",
        "event_id": "$replayed-event-1", "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": "replayed once" }
    }]});
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{as_port}/_matrix/app/v1/transactions/replay-test-1");
    for _ in 0..2 {
        let r = http
            .put(&url)
            .bearer_auth(&hs_token)
            .json(&txn)
            .send()
            .await
            .expect("PUT");
        assert_eq!(r.status(), 200);
    }
    next_event(&mut bob_events, "replayed message", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) if text == "replayed once" => Some(()),
            _ => None,
        },
        _ => None,
    })
    .await;
    let second = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match bob_events.recv().await {
                Some(SessionEvent::Message(m))
                    if m.body
                        == Body::Content(Content::Text {
                            text: "replayed once".into(),
                        }) =>
                {
                    return true
                }
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert!(
        second.is_err(),
        "the replayed transaction was processed twice"
    );
    let wrong = http
        .put(format!(
            "http://127.0.0.1:{as_port}/_matrix/app/v1/transactions/x"
        ))
        .bearer_auth("wrong-token")
        .json(&json!({ "events": [] }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(wrong.status(), 403);

    bridge.stop();
    // No secret reached the log.
    let as_token = registration_value(&reg, "as_token");
    assert_log_free_of(
        &log,
        &[
            ("hs_token", &hs_token),
            ("as_token", &as_token),
            ("mx1's Matrix password", "pw-mx1"),
            ("mx2's Matrix password", "pw-mx2"),
        ],
    );
    drop(synapse);
    let _ = std::fs::remove_dir_all(&dir);
}
