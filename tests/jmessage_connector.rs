//! The JMessage connector (the core's contract) against the in-process JMessage sandbox, our
//! Rust JMessage client as bob: the `password` flow (wrong password, unknown user, a wrong
//! masterSecret refused in words), single text both ways with send refusals in words, a
//! push receipted only once the core confirmed its checkpoint (and handed over again at the
//! next login when it never was), `register` (taken, invalid, new), a password change
//! ending the login with bad credentials, media, read receipts and profiles through the
//! contract, a retraction made while the user was offline handed over at login and acked only
//! once its checkpoint is confirmed, and no-disturb both ways (mentions-only as no-disturb).

#![cfg(feature = "jmessage")]

#[macro_use]
mod common;

use std::time::Duration;

use common::jmessage::{JmPeer, JmSandbox, MASTER_SECRET};
use common::jmessage_connector::{
    connector, login, next_event, next_message, png, uploaded_image, wait_catch_up, wait_state,
};
use imbridge::core::connector::{
    ChatId, LoginFailure, LoginState, MediaKind, MessageContent, NetworkConnector, NotifyLevel,
    RemoteEvent, RemoteMessage, SendFailure,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::core::registration::RegisterFailure;

const ALICE_PW: &str = "alice-pw-3381";
const BOB_PW: &str = "bob-pw-3382";

fn text_of(m: &RemoteMessage) -> &str {
    match &m.content {
        MessageContent::Text { body, .. } => body,
        other => panic!("not text: {other:?}"),
    }
}

/// Ids of the messages the sandbox still holds for `user` (not receipted).
fn pending(sb: &JmSandbox, user: &str) -> Vec<i64> {
    sb.state.pending_conversations(user).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_and_text_both_ways() {
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let c = connector(&sb, MASTER_SECRET);
    assert!(matches!(
        login(&c, "alice", "not-the-password").await,
        Err(LoginFailure::BadCredentials(_))
    ));
    assert!(matches!(
        login(&c, "nobody42", "whatever").await,
        Err(LoginFailure::BadCredentials(_))
    ));
    let wrong_app = connector(&sb, "not-the-master-secret");
    match login(&wrong_app, "alice", ALICE_PW).await {
        Err(LoginFailure::Refused(words)) => {
            assert!(words.contains("network.jmessage"), "{words}")
        }
        other => panic!("a wrong masterSecret: {other:?}"),
    }
    let data = login(&c, "alice", ALICE_PW).await.expect("logs in");
    assert_eq!(data.remote_id, "alice");
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
    wait_catch_up(&mut events).await;

    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    bob.send("alice", "hello alice").await;
    let m = next_message(&mut events).await;
    assert_eq!(text_of(&m), "hello alice");
    assert_eq!(m.chat, ChatId::direct("bob"));
    assert_eq!(m.sender, "bob");
    assert!(!m.from_self);
    assert!(m.timestamp_ms > 0);

    let ids = session
        .send_message(
            &ChatId::direct("bob"),
            &MessageContent::text("hi bob"),
            None,
        )
        .await
        .expect("sent");
    assert_eq!(ids.len(), 1);
    assert!(ids[0].parse::<i64>().is_ok(), "a msg_id: {ids:?}");
    assert!(
        bob.wait("alice", |t| t == "hi bob", Duration::from_secs(10))
            .await,
        "bob got it"
    );
    match session
        .send_message(
            &ChatId::direct("nobody42"),
            &MessageContent::text("x"),
            None,
        )
        .await
    {
        Err(SendFailure::Permanent(words)) => {
            assert!(words.contains("recipient does not exist"), "{words}")
        }
        other => panic!("a send to nobody: {other:?}"),
    }
    let group = session
        .send_message(&ChatId::group("1234"), &MessageContent::text("x"), None)
        .await;
    assert!(matches!(group, Err(SendFailure::Permanent(_))), "{group:?}");
    session.disconnect(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_receipted_only_once_stored() {
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let c = connector(&sb, MASTER_SECRET);
    let data = login(&c, "alice", ALICE_PW).await.expect("logs in");
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    wait_catch_up(&mut events).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;

    // Confirmed: receipted then.
    bob.send("alice", "ack me later").await;
    assert_eq!(text_of(&next_message(&mut events).await), "ack me later");
    let RemoteEvent::Checkpoint(checkpoint) = next_event(&mut events).await else {
        panic!("the push's checkpoint follows its message");
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pending(&sb, "alice").len(),
        1,
        "receipted before it was stored"
    );
    checkpoint.done();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !pending(&sb, "alice").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never receipted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Never confirmed (the bridge died first): it stays on the server and is handed over
    // again at the next login, as an offline message.
    bob.send("alice", "never stored").await;
    assert_eq!(text_of(&next_message(&mut events).await), "never stored");
    let RemoteEvent::Checkpoint(lost) = next_event(&mut events).await else {
        panic!("the push's checkpoint follows its message");
    };
    drop(lost);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pending(&sb, "alice").len(),
        1,
        "receipted though never stored"
    );
    session.disconnect(false).await;
    drop(events);

    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects again");
    let m = next_message(&mut events).await;
    assert_eq!(text_of(&m), "never stored");
    let RemoteEvent::Checkpoint(checkpoint) = next_event(&mut events).await else {
        panic!("the hand-over's checkpoint follows its messages");
    };
    checkpoint.done();
    wait_catch_up(&mut events).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !pending(&sb, "alice").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hand-over never receipted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.disconnect(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_a_password_change_ends_the_login() {
    let sb = JmSandbox::start(&[("carol1", "carol-pw-1")]).await;
    let c = connector(&sb, MASTER_SECRET);
    let reg = c.as_registration().expect("JMessage registers accounts");
    assert_eq!(
        reg.register("carol1", "some-pw-1").await,
        Err(RegisterFailure::NameTaken("carol1".into()))
    );
    assert!(matches!(
        reg.register("ab", "some-pw-1").await,
        Err(RegisterFailure::NameInvalid(_))
    ));
    assert!(matches!(
        reg.register("dave01", "pw").await,
        Err(RegisterFailure::Refused(_))
    ));
    assert!(!sb.state.has_user("dave01"));
    let wrong_app = connector(&sb, "not-the-master-secret");
    match wrong_app
        .as_registration()
        .expect("registers")
        .register("dave01", "dave-pw-1")
        .await
    {
        Err(RegisterFailure::Refused(words)) => {
            assert!(words.contains("network.jmessage"), "{words}")
        }
        other => panic!("a wrong masterSecret: {other:?}"),
    }
    let data = reg
        .register("dave01", "dave-pw-1")
        .await
        .expect("registered");
    assert_eq!(data.remote_id, "dave01");
    assert!(sb.state.has_user("dave01"));
    let (tx, mut events) = boxed_channel(64);
    let _session = c.connect(&data, tx).await.expect("connects");
    assert_eq!(wait_state(&mut events).await, LoginState::Connected);
    assert!(sb.state.set_password("dave01", "changed-pw-2"));
    match wait_state(&mut events).await {
        LoginState::BadCredentials { reason } => {
            assert!(reason.contains("password was changed"), "{reason}")
        }
        other => panic!("not bad credentials: {other:?}"),
    }
}

/// Media, read receipts and profiles through the core's contract: an incoming image's
/// `media_id` downloads the same bytes (and refuses past the limit), an upload plus send is a
/// JMessage image bob downloads, a caption follows as a text, an upload that is not an image
/// goes as a file; locations go both ways; `mark_read` reports every message received up to the one read; bob's read
/// report is the core's read receipt; the profile is the nickname and avatar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_receipts_and_profiles_through_the_contract() {
    use imbridge::network::jmessage::session::Target;
    use serde_json::json;

    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let c = connector(&sb, MASTER_SECRET);
    let caps = c.capabilities();
    assert!(caps.media && caps.read_receipts && caps.recall, "{caps:?}");
    assert_eq!(caps.max_media_bytes, 10 << 20);
    let data = login(&c, "alice", ALICE_PW).await.expect("logs in");
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    wait_catch_up(&mut events).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let bob_chat = ChatId::direct("bob");

    // JMessage → core: an image, its bytes through `download`, bounded.
    let picture = png(2000);
    bob.client
        .send_image(Target::User("alice".into()), picture.clone(), "p.png", None)
        .await
        .expect("bob sends an image");
    let m = next_message(&mut events).await;
    let MessageContent::Media { media, caption } = &m.content else {
        panic!("not media: {:?}", m.content);
    };
    assert_eq!(caption, &None);
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!((media.width, media.height), (Some(7), Some(5)));
    assert_eq!(media.size, Some(picture.len() as u64));
    assert_eq!(
        session.download(media, 1 << 20).await.expect("downloads"),
        picture
    );
    assert!(
        matches!(
            session.download(media, 100).await,
            Err(SendFailure::Permanent(w)) if w.contains("larger than 100 bytes")
        ),
        "the limit holds"
    );
    bob.send("alice", "second").await;
    let second = next_message(&mut events).await;

    // core → JMessage: upload + send, the caption after it; a non-image as a file.
    let content = uploaded_image(session.as_ref(), &bob_chat, picture.clone(), "look").await;
    let ids = session
        .send_message(&bob_chat, &content, None)
        .await
        .expect("sent");
    assert_eq!(ids.len(), 2, "the image and its caption: {ids:?}");
    let got = bob
        .wait_message(|m| m.msg_type == "image", Duration::from_secs(10))
        .await
        .expect("bob got the image");
    assert_eq!(got.msg_id.to_string(), ids[0]);
    let media_id = got.body["media_id"].as_str().expect("media_id");
    assert_eq!(
        bob.client.download(media_id).await.expect("bob downloads"),
        picture
    );
    assert!(
        bob.wait("alice", |t| t == "look", Duration::from_secs(10))
            .await
    );
    let url = session
        .as_media()
        .expect("uploads")
        .upload_media(
            &bob_chat,
            b"%PDF-1.4 ...".to_vec(),
            "a.pdf",
            "application/pdf",
        )
        .await
        .expect("uploaded");
    assert!(url.contains("\"msg_type\":\"file\""), "{url}");

    // Locations both ways.
    session
        .send_message(
            &bob_chat,
            &MessageContent::Location {
                latitude: 31.23,
                longitude: 121.47,
                description: "the Bund".into(),
            },
            None,
        )
        .await
        .expect("a location sent");
    let loc = bob
        .wait_message(|m| m.msg_type == "location", Duration::from_secs(10))
        .await
        .expect("bob got the location");
    assert_eq!(
        (
            &loc.body["latitude"],
            &loc.body["longitude"],
            &loc.body["label"]
        ),
        (&json!(31.23), &json!(121.47), &json!("the Bund"))
    );
    bob.client
        .send_uploaded(
            Target::User("alice".into()),
            "location",
            json!({"latitude": 22.54, "longitude": 114.06, "scale": 15, "label": "Shenzhen"}),
        )
        .await
        .expect("bob sends a location");
    let m2 = next_message(&mut events).await;
    assert_eq!(
        m2.content,
        MessageContent::Location {
            latitude: 22.54,
            longitude: 114.06,
            description: "Shenzhen".into()
        }
    );

    // Read receipts both ways.
    let receipts = session.as_receipts().expect("receipts");
    receipts
        .mark_read(&bob_chat, &second.id)
        .await
        .expect("marked read");
    let both: Vec<i64> = [&m.id, &second.id]
        .iter()
        .map(|id| id.parse().expect("numeric"))
        .collect();
    assert!(
        bob.wait_receipt(
            |r| both.iter().all(|id| r
                .receipts
                .iter()
                .any(|m| m.msg_id == *id && m.unread_count == 0)),
            Duration::from_secs(10)
        )
        .await,
        "bob's image and text both reported read"
    );
    assert!(receipts.mark_read(&bob_chat, "not-an-id").await.is_err());
    bob.client
        .report_read_single("alice", &[ids[0].parse().expect("numeric")])
        .await
        .expect("bob reads");
    loop {
        if let RemoteEvent::ReadReceipt {
            chat,
            sender,
            up_to,
        } = next_event(&mut events).await
        {
            assert_eq!((chat, sender.as_str()), (bob_chat.clone(), "bob"));
            assert_eq!(up_to.as_deref(), Some(ids[0].as_str()));
            break;
        }
    }

    // Profiles: the nickname and the avatar's media_id; an unknown user by name.
    assert_eq!(
        session
            .user_profile("bob")
            .await
            .expect("profile")
            .name
            .as_deref(),
        Some("bob")
    );
    bob.client
        .update_self_info(Some("Bobby"), Some(media_id))
        .await
        .expect("bob sets his profile");
    let p = session.user_profile("bob").await.expect("profile");
    assert_eq!(p.name.as_deref(), Some("Bobby"));
    assert_eq!(p.avatar_url.as_deref(), Some(media_id));
    let p = session.user_profile("nobody42").await.expect("profile");
    assert_eq!((p.name.as_deref(), p.avatar_url), (Some("nobody42"), None));
    session.disconnect(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_retraction_waits_for_its_checkpoint_and_no_disturb_both_ways() {
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let c = connector(&sb, MASTER_SECRET);
    let data = login(&c, "alice", ALICE_PW).await.expect("logs in");
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects");
    wait_catch_up(&mut events).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let sent = bob
        .client
        .send_text("alice", "take it back", None)
        .await
        .expect("bob sends");
    assert_eq!(text_of(&next_message(&mut events).await), "take it back");
    session.disconnect(false).await;
    drop(events);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sb.state.sessions_of("alice") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "alice stays online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bob.client.retract(sent.msg_id).await.expect("bob retracts");
    assert_eq!(sb.state.pending_events("alice").1.len(), 1);

    // At the next login: the retraction, then its checkpoint; acked only once confirmed.
    let (tx, mut events) = boxed_channel(64);
    let session = c.connect(&data, tx).await.expect("connects again");
    let removed = loop {
        match next_event(&mut events).await {
            RemoteEvent::Remove {
                chat,
                sender,
                target,
            } => break (chat, sender, target),
            RemoteEvent::Checkpoint(_) => panic!("a checkpoint before the retraction"),
            _ => {}
        }
    };
    assert_eq!(
        removed,
        (
            ChatId::direct("bob"),
            "bob".to_string(),
            sent.msg_id.to_string()
        )
    );
    let RemoteEvent::Checkpoint(checkpoint) = next_event(&mut events).await else {
        panic!("the hand-over's checkpoint follows the retraction");
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sb.state.pending_events("alice").1.len(),
        1,
        "acked too early"
    );
    checkpoint.done();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !sb.state.pending_events("alice").1.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never acked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // No-disturb through the contract: mentions-only is no-disturb; read back as muted.
    let gid = bob
        .client
        .create_group("quiet", "")
        .await
        .expect("bob's group");
    bob.client
        .add_group_members(gid, &["alice"])
        .await
        .expect("alice added");
    let notify = session.as_notify().expect("JMessage has no-disturb");
    let dm = ChatId::direct("bob");
    let group = ChatId::group(gid.to_string());
    notify
        .set_notify_level(&dm, NotifyLevel::MentionsOnly)
        .await
        .expect("set");
    assert!(sb.state.no_disturb_of("alice").users.contains("bob"));
    let mut levels = notify
        .notify_levels(&[dm.clone(), group.clone(), ChatId::channel("x")])
        .await
        .expect("read");
    levels.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut want = vec![(dm.clone(), NotifyLevel::Muted), (group, NotifyLevel::All)];
    want.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    assert_eq!(levels, want);
    notify
        .set_notify_level(&dm, NotifyLevel::All)
        .await
        .expect("unset");
    assert!(sb.state.no_disturb_of("alice").users.is_empty());
    notify
        .set_global_notify_level(NotifyLevel::Muted)
        .await
        .expect("global");
    assert!(sb.state.no_disturb_of("alice").global);
    assert_eq!(
        notify.global_notify_level().await.expect("read"),
        NotifyLevel::Muted
    );
    session.disconnect(false).await;
}
