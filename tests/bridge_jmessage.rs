//! The bridge on JiGuang JMessage, end to end: real Synapse, the bridge binary with
//! `network.type: jmessage`, the JMessage sandbox in this process and our Rust JMessage
//! client as the other party (bob).
//!
//! * `jmessage_dm_both_ways_restart_and_sigkill`: a Matrix user logs in through the bot
//!   (`login alice <password>`, the message redacted); bob's text opens a DM portal; the
//!   Matrix reply reaches bob; texts bob sends while the bridge is stopped arrive once after
//!   the restart (the offline hand-over, `sync_conversation`); a link the server drops comes
//!   back with a Matrix text written meanwhile sent once; a SIGKILL in the middle of a
//!   burst from bob loses and repeats nothing (pushes are receipted only after the core stored
//!   them); Matrix → JMessage still works and bob got every Matrix text once. Neither the
//!   password nor the masterSecret reaches the log.
//! * `jmessage_register_wrong_password_and_password_change`: `register` through the bot —
//!   a taken name and an invalid one refused in words, a new account registered (the message
//!   redacted) and logged in; a wrong password refused in words; a send JMessage refuses
//!   (no such user) gets a FAIL_PERMANENT send status saying so; a password changed on the
//!   server ends the login with bad credentials, told in the management room.
//! * `jmessage_group_portal_both_ways_and_members`: bob (our Rust client) creates a group
//!   with alice in it and writes; alice's Matrix user gets a group portal named after the
//!   group with bob's text from bob's ghost — one portal and the text once, with dave logged in
//!   too through a second Matrix user; each Matrix reply reaches bob once as a group
//!   message; carol added by bob joins the room as a ghost, and leaves it when bob removes her;
//!   a text bob retracts is redacted in the room.
//! * `jmessage_media_receipts_recall_from_matrix_and_profiles`: bob's image, file and voice message
//!   become `m.image` (with its size), `m.file` and `m.audio` (with its duration) from his ghost
//!   with the same bytes; a Matrix `m.image` reaches bob as a JMessage image (caption as a text
//!   after it), an `m.file` and an `m.audio` as JMessage files, bytes compared; alice's Matrix
//!   read receipt reaches bob as `receipt_change`, bob's read report becomes his ghost's read
//!   receipt; images both ways in a group; a Matrix redaction of alice's text retracts it for
//!   bob in the DM and in a group;
//!   bob's ghost is named after his nickname and has his avatar (same bytes), and follows
//!   his new nickname once a message of his carries a newer profile time.

#![cfg(feature = "jmessage")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::bridge::{assert_log_free_of, registration_value, tail};
use common::bridge_rig::BridgeRig;
use common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget, BOT, MASTER_SECRET};
use common::matrix_user::MatrixUser;

const ALICE_PW: &str = "alice-Pw-5519-secret";
const BOB_PW: &str = "bob-pw-2210";
const DAVE_PW: &str = "dave-pw-7730";
/// Texts in the burst the bridge is SIGKILLed in.
const BURST: usize = 30;

/// The bodies of `all` that start with `prefix`.
fn numbered(all: &[String], prefix: &str) -> Vec<String> {
    all.iter()
        .filter(|b| b.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_dm_both_ways_restart_and_sigkill() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-dm", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let bob_ghost = ghost("bob");
    say!(t0, "Synapse, the bridge and bob up");

    let login = rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    rig.assert_redacted(&login, "login").await;
    say!(t0, "mx1 logged in as alice");

    // JMessage → Matrix: bob's text opens the DM portal.
    bob.send("alice", "hello alice").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &bob_ghost, &["hello alice"], &rig.log)
        .await;
    say!(t0, "DM portal {dm} has bob's text");

    // Matrix → JMessage.
    rig.mx.send_text(&dm, "hi bob").await;
    assert!(
        bob.wait("alice", |t| t == "hi bob", Duration::from_secs(20))
            .await,
        "bob got nothing\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "bob got the Matrix text");

    // Stopped: what bob sends meanwhile waits on the server and comes at the next login.
    assert!(
        rig.bridge.terminate().is_some(),
        "the bridge stops on SIGTERM"
    );
    for text in ["while away 1", "while away 2"] {
        bob.send("alice", text).await;
    }
    rig.restart();
    rig.mx
        .wait_bodies_steady(
            &dm,
            &bob_ghost,
            &["hello alice", "while away 1", "while away 2"],
            &rig.log,
        )
        .await;
    say!(t0, "the offline texts arrived once after the restart");

    // The server drops the bridge's link: it reconnects, and a Matrix text written meanwhile
    // waits in the outbox and goes out once.
    assert_eq!(sb.state.disconnect_user("alice"), 1, "alice's one session");
    rig.mx.send_text(&dm, "during the drop").await;
    bob.send("alice", "after the drop").await;
    rig.mx
        .wait_bodies_steady(
            &dm,
            &bob_ghost,
            &[
                "hello alice",
                "while away 1",
                "while away 2",
                "after the drop",
            ],
            &rig.log,
        )
        .await;
    assert!(
        bob.wait("alice", |t| t == "during the drop", Duration::from_secs(20))
            .await,
        "the text written during the drop never reached bob\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "reconnected after a dropped link; both ways once");

    // SIGKILL in the middle of a burst from bob.
    let prefix = "burst ";
    let sender = {
        let client = bob.client.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..BURST {
                if let Err(e) = client.send_text("alice", &format!("burst {i}"), None).await {
                    failed.push(format!("burst {i}: {e}"));
                }
            }
            failed
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    while Instant::now() < deadline {
        before = numbered(&rig.mx.all_bodies(&dm).await, prefix);
        if before.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        before.len() >= 3,
        "the burst did not start arriving: {before:?}\n{}",
        tail(&rig.log, 30)
    );
    rig.bridge.kill();
    say!(t0, "{} of the burst in the room: SIGKILL", before.len());
    let failed = tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("bob's burst finishes")
        .expect("sender task");
    assert!(failed.is_empty(), "bob's sends failed: {failed:?}");
    let at_kill = numbered(&rig.mx.all_bodies(&dm).await, prefix);
    rig.restart();
    let want: Vec<String> = (0..BURST).map(|i| format!("burst {i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && numbered(&rig.mx.all_bodies(&dm).await, prefix).len() < BURST
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = numbered(&rig.mx.all_bodies(&dm).await, prefix);
    assert_eq!(
        got,
        want,
        "after the SIGKILL ({} in the room then): lost, repeated or reordered\n{}",
        at_kill.len(),
        tail(&rig.log, 40)
    );
    say!(
        t0,
        "all {BURST} burst texts once and in order ({} before the kill)",
        at_kill.len()
    );

    // Matrix → JMessage after the crash; bob got each Matrix text once.
    rig.mx.send_text(&dm, "after the kill").await;
    assert!(
        bob.wait("alice", |t| t == "after the kill", Duration::from_secs(30))
            .await,
        "Matrix → JMessage does not work after the restart\n{}",
        tail(&rig.log, 40)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        bob.texts_from("alice"),
        ["hi bob", "during the drop", "after the kill"]
    );

    rig.bridge.stop();
    let as_token = registration_value(&rig.reg, "as_token");
    assert_log_free_of(
        &rig.log,
        &[
            ("alice's password", ALICE_PW),
            ("the masterSecret", MASTER_SECRET),
            ("as_token", &as_token),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_register_wrong_password_and_password_change() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("bob", BOB_PW), ("carol1", "carol-pw-1")]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-register", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    say!(t0, "Synapse, the bridge and bob up");

    // A wrong password, in words.
    rig.command("login carol1 not-her-password").await;
    let refused = rig
        .mx
        .wait_body(&rig.mgmt, |b| {
            b.contains("wrong JMessage username or password")
        })
        .await;
    say!(t0, "wrong password: {refused}");

    // `register`: taken and invalid names refused in words.
    rig.command("register carol1 some-pw-1").await;
    let taken = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Registration failed"))
        .await;
    assert!(taken.contains("carol1 is taken"), "{taken}");
    rig.command("register _x some-pw-1").await;
    let invalid = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("cannot be used"))
        .await;
    assert!(invalid.contains("4 to 128"), "{invalid}");
    say!(t0, "taken and invalid names refused");

    let new_pw = "newcomer-Pw-4471";
    let registered = rig.command(&format!("register newcomer {new_pw}")).await;
    let done = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as newcomer."))
        .await;
    assert!(done.contains("Registered newcomer"), "{done}");
    rig.assert_redacted(&registered, "register").await;
    assert!(sb.state.has_user("newcomer"), "the sandbox has the account");
    say!(t0, "registered and logged in as newcomer");

    // The new login works: bob's text opens a portal.
    bob.send("newcomer", "welcome").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &ghost("bob"), &["welcome"], &rig.log)
        .await;

    // A send JMessage refuses: a FAIL_PERMANENT send status saying why in words.
    rig.command("pm nobody42").await;
    let known = [rig.mgmt.clone(), dm.clone()];
    let nobody = rig.mx.accept_new_invite(&known).await;
    let refused = rig.mx.send_text(&nobody, "anyone there?").await;
    rig.mx
        .wait_event(&nobody, "a FAIL_PERMANENT send status", |e| {
            e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == refused.as_str()
                && e["content"]["status"] == "FAIL_PERMANENT"
                && e["content"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("recipient does not exist"))
        })
        .await;
    say!(t0, "a send to nobody42: FAIL_PERMANENT, in words");

    // The password changed on the server: the login ends with bad credentials.
    assert!(sb.state.set_password("newcomer", "changed-Pw-0001"));
    let told = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("password was changed"))
        .await;
    assert!(told.starts_with("❌ Logged out of newcomer"), "{told}");
    say!(t0, "password change told: {told}");

    rig.bridge.stop();
    assert_log_free_of(
        &rig.log,
        &[
            ("the registered password", new_pw),
            ("the masterSecret", MASTER_SECRET),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_group_portal_both_ways_and_members() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[
        ("alice", ALICE_PW),
        ("bob", BOB_PW),
        ("carol", "carol-pw-1"),
        ("dave", DAVE_PW),
    ])
    .await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-group", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    // A second Matrix user, logged in as dave (also in the group).
    let token = rig.synapse.register("mx2", "mxpw-rig-matrix-secret-2");
    let mut mx2 = MatrixUser::new(&rig.synapse.url(), "@mx2:localhost", &token);
    let mgmt2 = mx2.create_dm(BOT).await;
    for _ in 0..100 {
        if mx2.members(&mgmt2).await.iter().any(|m| m == BOT) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    mx2.send_text(&mgmt2, &format!("login dave {DAVE_PW}"))
        .await;
    mx2.wait_body(&mgmt2, |b| b.starts_with("Logged in as dave"))
        .await;
    say!(
        t0,
        "Synapse, the bridge and bob up; mx1 = alice, mx2 = dave logged in"
    );

    // JMessage → Matrix: bob's group with alice and dave in it, and his text there: one
    // portal both Matrix users are in, the text once.
    let gid = bob
        .client
        .create_group("Tea Room", "the group's topic")
        .await
        .expect("bob creates the group");
    bob.client
        .add_group_members(gid, &["alice", "dave"])
        .await
        .expect("bob adds alice and dave");
    bob.client
        .send_group_text(gid, "hello group", None)
        .await
        .expect("bob writes in the group");
    let room = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    let room2 = mx2.accept_new_invite(std::slice::from_ref(&mgmt2)).await;
    assert_eq!(room, room2, "the group is bridged once for its two logins");
    rig.mx
        .wait_bodies_steady(&room, &ghost("bob"), &["hello group"], &rig.log)
        .await;
    assert_eq!(
        rig.mx.state(&room, "m.room.name").await["name"],
        "Tea Room",
        "the portal is named after the group\n{}",
        tail(&rig.log, 30)
    );
    assert_eq!(
        rig.mx.state(&room, "m.room.topic").await["topic"],
        "the group's topic"
    );
    say!(t0, "group portal {room} named and with bob's text");

    // Matrix → JMessage: alice's reply is a group message bob gets.
    rig.mx.send_text(&room, "hi all").await;
    assert!(
        bob.wait("alice", |t| t == "hi all", Duration::from_secs(20))
            .await,
        "bob did not get the Matrix reply\n{}",
        tail(&rig.log, 40)
    );
    // dave's Matrix message reaches bob as dave's, once.
    mx2.send_text(&room, "dave here").await;
    assert!(
        bob.wait("dave", |t| t == "dave here", Duration::from_secs(20))
            .await,
        "bob did not get dave's Matrix message\n{}",
        tail(&rig.log, 40)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bob.texts_from("alice"), ["hi all"], "alice's text once");
    assert_eq!(bob.texts_from("dave"), ["dave here"], "dave's text once");
    say!(
        t0,
        "bob got the Matrix replies in the group, each once from its author"
    );

    // Members: carol added, then removed.
    let carol = ghost("carol");
    bob.client
        .add_group_members(gid, &["carol"])
        .await
        .expect("bob adds carol");
    let joined = wait_member(&rig, &room, &carol, true).await;
    assert!(
        joined,
        "carol never joined the room\n{}",
        tail(&rig.log, 40)
    );
    bob.client
        .del_group_members(gid, &["carol"])
        .await
        .expect("bob removes carol");
    let left = wait_member(&rig, &room, &carol, false).await;
    assert!(left, "carol never left the room\n{}", tail(&rig.log, 40));
    say!(t0, "carol joined and left with the group");

    // Recall: bob retracts a text of his; the room's copy is redacted.
    let oops = bob
        .client
        .send_group_text(gid, "oops", None)
        .await
        .expect("bob writes again");
    let event = rig.mx.event_id_of(&room, "oops").await;
    bob.client
        .retract(oops.msg_id)
        .await
        .expect("bob retracts his text");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut redacted = false;
    while !redacted && Instant::now() < deadline {
        let e = rig.mx.event(&room, &event).await;
        redacted = e["content"].as_object().is_some_and(|c| c.is_empty());
        if !redacted {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(
        redacted,
        "bob's retracted text is still in the room\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "bob's retraction redacted the room's copy");
    rig.bridge.stop();
}

/// Waits (bounded, 20 s) until `user` is (`present`) or is not a joined member of `room`.
async fn wait_member(rig: &BridgeRig, room: &str, user: &str, present: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if rig.mx.members(room).await.iter().any(|m| m == user) == present {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A PNG of `w` × `h` as far as headers go (signature and IHDR), padded with varied bytes.
fn png(w: u32, h: u32, len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend((0..len.saturating_sub(b.len())).map(|i| (i * 7 % 251) as u8));
    b
}

/// The bytes of Matrix media `mxc` (authenticated media download, bounded 20 s).
async fn matrix_media(rig: &BridgeRig, mxc: &str) -> Vec<u8> {
    let path = mxc.strip_prefix("mxc://").expect("an mxc URI");
    let url = format!(
        "{}/_matrix/client/v1/media/download/{path}",
        rig.synapse.url()
    );
    let resp = reqwest::Client::new()
        .get(&url)
        .bearer_auth(rig.mx.token())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("media download");
    assert!(
        resp.status().is_success(),
        "download {mxc}: {}",
        resp.status()
    );
    resp.bytes().await.expect("media bytes").to_vec()
}

/// Waits for bob's ghost's event of `msgtype` in `room` and returns its content.
async fn ghost_event(rig: &BridgeRig, room: &str, msgtype: &str) -> serde_json::Value {
    let bob = ghost("bob");
    let e = rig
        .mx
        .wait_event(room, msgtype, |e| {
            e["sender"] == bob.as_str() && e["content"]["msgtype"] == msgtype
        })
        .await;
    rig.mx.event(room, &e).await["content"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_media_receipts_recall_from_matrix_and_profiles() {
    use imbridge::network::jmessage::session::Target;
    use serde_json::json;

    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-media", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    // bob's profile: a nickname and an avatar (an image upload's media_id).
    let face = png(16, 16, 700);
    let up = bob
        .client
        .upload("image", face.clone(), "face.png")
        .await
        .expect("bob uploads an avatar");
    bob.client
        .update_self_info(Some("Bobby B."), up["media_id"].as_str())
        .await
        .expect("bob sets his profile");
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    bob.send("alice", "hello alice").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &ghost("bob"), &["hello alice"], &rig.log)
        .await;
    say!(t0, "Synapse, the bridge and bob up; DM portal {dm}");
    let within = Duration::from_secs(20);

    // The ghost is named after bob's nickname, with his avatar's bytes.
    let profile = rig.mx.profile(&ghost("bob")).await;
    assert_eq!(profile["displayname"], "Bobby B. (JMessage)", "{profile}");
    let avatar = profile["avatar_url"]
        .as_str()
        .unwrap_or_else(|| panic!("the ghost has no avatar: {profile}\n{}", tail(&rig.log, 30)));
    assert_eq!(matrix_media(&rig, avatar).await, face, "the avatar bytes");
    say!(t0, "bob's ghost has his nickname and avatar");

    // JMessage → Matrix: bob's image, file and voice message, the same bytes in the room.
    let picture = png(40, 30, 3000);
    bob.client
        .send_image(
            Target::User("alice".into()),
            picture.clone(),
            "cat.png",
            None,
        )
        .await
        .expect("bob sends an image");
    let image = ghost_event(&rig, &dm, "m.image").await;
    assert_eq!(image["info"]["w"], 40, "{image}");
    assert_eq!(image["info"]["h"], 30, "{image}");
    assert_eq!(image["info"]["mimetype"], "image/png", "{image}");
    let url = image["url"].as_str().expect("an mxc URL");
    assert_eq!(matrix_media(&rig, url).await, picture, "the image bytes");
    let notes: Vec<u8> = b"meeting notes\n".repeat(300);
    bob.client
        .send_file(Target::User("alice".into()), notes.clone(), "notes.txt")
        .await
        .expect("bob sends a file");
    let file = ghost_event(&rig, &dm, "m.file").await;
    assert_eq!(file["body"], "notes.txt", "{file}");
    let url = file["url"].as_str().expect("an mxc URL");
    assert_eq!(matrix_media(&rig, url).await, notes, "the file bytes");
    // A voice message as the mobile SDKs send one (the Web SDK has no voice kind): the
    // bytes uploaded as a file, the message of type `voice` with its duration in seconds.
    let voice: Vec<u8> = b"#!AMR\n"
        .iter()
        .copied()
        .chain((0..900).map(|i| (i % 200) as u8))
        .collect();
    let up = bob
        .client
        .upload("file", voice.clone(), "voice.amr")
        .await
        .expect("bob uploads a voice");
    bob.client
        .send_uploaded(
            Target::User("alice".into()),
            "voice",
            json!({"media_id": up["media_id"], "media_crc32": up["media_crc32"],
                "duration": 2, "format": "amr", "fsize": voice.len()}),
        )
        .await
        .expect("bob sends a voice message");
    let audio = ghost_event(&rig, &dm, "m.audio").await;
    assert_eq!(audio["info"]["duration"], 2000, "{audio}");
    assert_eq!(audio["info"]["mimetype"], "audio/amr", "{audio}");
    let url = audio["url"].as_str().expect("an mxc URL");
    assert_eq!(matrix_media(&rig, url).await, voice, "the voice bytes");
    say!(
        t0,
        "bob's image, file and voice are m.image, m.file, m.audio with the same bytes"
    );

    // Matrix → JMessage: an image (a JMessage image, its caption a text after it), a file
    // and an audio clip (a JMessage file: the Web SDK has no voice kind), bytes compared.
    let shot = png(64, 48, 5000);
    let mxc = rig.mx.upload(shot.clone(), "image/png", "shot.png").await;
    rig.mx
        .send_content(
            &dm,
            json!({"msgtype": "m.image", "body": "my screenshot", "filename": "shot.png",
                "url": mxc, "info": {"mimetype": "image/png", "size": shot.len(), "w": 64, "h": 48}}),
        )
        .await;
    let got = bob
        .wait_message(|m| m.from == "alice" && m.msg_type == "image", within)
        .await
        .unwrap_or_else(|| panic!("bob got no image\n{}", tail(&rig.log, 40)));
    assert_eq!(got.body["width"], 64, "{:?}", got.body);
    let media_id = got.body["media_id"].as_str().expect("a media_id");
    assert_eq!(
        bob.client.download(media_id).await.expect("bob downloads"),
        shot
    );
    assert!(
        bob.wait("alice", |t| t == "my screenshot", within).await,
        "the caption never came"
    );
    for (msgtype, mime, name) in [
        ("m.file", "application/pdf", "report.pdf"),
        ("m.audio", "audio/ogg", "memo.ogg"),
    ] {
        let bytes: Vec<u8> = name.bytes().cycle().take(2500).collect();
        let mxc = rig.mx.upload(bytes.clone(), mime, name).await;
        rig.mx
            .send_content(
                &dm,
                json!({"msgtype": msgtype, "body": name, "url": mxc,
                    "info": {"mimetype": mime, "size": bytes.len()}}),
            )
            .await;
        let got = bob
            .wait_message(
                |m| m.from == "alice" && m.msg_type == "file" && m.body["fname"] == name,
                within,
            )
            .await
            .unwrap_or_else(|| panic!("bob got no file {name}\n{}", tail(&rig.log, 40)));
        let media_id = got.body["media_id"].as_str().expect("a media_id");
        assert_eq!(
            bob.client.download(media_id).await.expect("bob downloads"),
            bytes,
            "{msgtype} bytes"
        );
    }
    say!(
        t0,
        "Matrix m.image, m.file and m.audio reached bob with the same bytes"
    );

    // Read receipts: alice reads bob's text in Matrix → bob's `receipt_change` names her;
    // bob reports alice's text read → his ghost's read receipt on it.
    let read_me = bob
        .client
        .send_text("alice", "read me", None)
        .await
        .expect("bob writes");
    let read_me_event = rig.mx.event_id_of(&dm, "read me").await;
    rig.mx.send_read_receipt(&dm, &read_me_event).await;
    assert!(
        bob.wait_receipt(
            |r| r.username.as_deref() == Some("alice")
                && r.receipts
                    .iter()
                    .any(|m| m.msg_id == read_me.msg_id && m.unread_count == 0),
            within
        )
        .await,
        "alice's Matrix read receipt never reached bob\n{}",
        tail(&rig.log, 40)
    );
    rig.mx.send_text(&dm, "did you read this").await;
    let question = bob
        .wait_message(|m| m.text.as_deref() == Some("did you read this"), within)
        .await
        .expect("bob got the question");
    bob.client
        .report_read_single("alice", &[question.msg_id])
        .await
        .expect("bob reports it read");
    let question_event = rig.mx.event_id_of(&dm, "did you read this").await;
    rig.mx
        .wait_read_receipt(&dm, &ghost("bob"), &question_event)
        .await;
    say!(t0, "read receipts both ways");

    // Recall from Matrix: alice redacts her text; bob sees it retracted (DM, then a group).
    rig.mx.send_text(&dm, "take this back").await;
    let sent = bob
        .wait_message(|m| m.text.as_deref() == Some("take this back"), within)
        .await
        .expect("bob got the text");
    let event = rig.mx.event_id_of(&dm, "take this back").await;
    rig.mx.redact(&dm, &event).await;
    assert!(
        bob.wait_retraction(sent.msg_id, within).await,
        "the Matrix redaction never retracted the DM text\n{}",
        tail(&rig.log, 40)
    );
    let gid = bob
        .client
        .create_group("Recall Room", "")
        .await
        .expect("bob creates a group");
    bob.client
        .add_group_members(gid, &["alice"])
        .await
        .expect("bob adds alice");
    bob.client
        .send_group_text(gid, "group hello", None)
        .await
        .expect("bob writes in the group");
    let room = rig
        .mx
        .accept_new_invite(&[rig.mgmt.clone(), dm.clone()])
        .await;
    rig.mx
        .wait_bodies_steady(&room, &ghost("bob"), &["group hello"], &rig.log)
        .await;
    // Media in the group both ways.
    let group_pic = png(20, 10, 1500);
    bob.client
        .send_image(Target::Group(gid), group_pic.clone(), "g.png", None)
        .await
        .expect("bob sends an image to the group");
    let image = ghost_event(&rig, &room, "m.image").await;
    let url = image["url"].as_str().expect("an mxc URL");
    assert_eq!(
        matrix_media(&rig, url).await,
        group_pic,
        "the group image bytes"
    );
    let mxc = rig.mx.upload(shot.clone(), "image/png", "again.png").await;
    rig.mx
        .send_content(
            &room,
            json!({"msgtype": "m.image", "body": "again.png", "url": mxc,
                "info": {"mimetype": "image/png", "size": shot.len()}}),
        )
        .await;
    let got = bob
        .wait_message(|m| m.gid == Some(gid) && m.msg_type == "image", within)
        .await
        .unwrap_or_else(|| panic!("bob got no group image\n{}", tail(&rig.log, 40)));
    let media_id = got.body["media_id"].as_str().expect("a media_id");
    assert_eq!(
        bob.client.download(media_id).await.expect("bob downloads"),
        shot
    );
    say!(t0, "images both ways in the group");

    rig.mx.send_text(&room, "group oops").await;
    let sent = bob
        .wait_message(
            |m| m.gid == Some(gid) && m.text.as_deref() == Some("group oops"),
            within,
        )
        .await
        .expect("bob got the group text");
    let event = rig.mx.event_id_of(&room, "group oops").await;
    rig.mx.redact(&room, &event).await;
    assert!(
        bob.wait_retraction(sent.msg_id, within).await,
        "the Matrix redaction never retracted the group text\n{}",
        tail(&rig.log, 40)
    );
    say!(
        t0,
        "Matrix redactions retracted alice's texts in the DM and the group"
    );

    // bob renames himself: his next message carries a newer profile time, and the ghost
    // follows.
    bob.client
        .update_self_info(Some("Robert"), None)
        .await
        .expect("bob renames himself");
    bob.send("alice", "new name").await;
    let deadline = Instant::now() + within;
    let mut name = serde_json::Value::Null;
    while Instant::now() < deadline {
        name = rig.mx.profile(&ghost("bob")).await["displayname"].clone();
        if name == "Robert (JMessage)" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(name, "Robert (JMessage)", "\n{}", tail(&rig.log, 30));
    say!(t0, "bob's new nickname renamed his ghost");
    rig.bridge.stop();
}
