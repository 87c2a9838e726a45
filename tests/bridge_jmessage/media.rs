//! The media / receipts / recall / profiles suite of `bridge_jmessage` (see the crate's doc).

use std::time::{Duration, Instant};

use imbridge::network::jmessage::session::Target;
use serde_json::json;

use super::common::bridge::tail;
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget};
use super::{ALICE_PW, BOB_PW};

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
    let hello = bob
        .client
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
    // alice's Matrix read receipt in the group: bob's `receipt_change` for the group.
    let hello_event = rig.mx.event_id_of(&room, "group hello").await;
    rig.mx.send_read_receipt(&room, &hello_event).await;
    assert!(
        bob.wait_receipt(
            |r| r.gid == Some(gid)
                && r.receipts
                    .iter()
                    .any(|m| m.msg_id == hello.msg_id && m.unread_count == 0),
            within
        )
        .await,
        "alice's group read receipt never reached bob\n{}",
        tail(&rig.log, 40)
    );
    // bob reads alice's group text: JMessage tells alice only counts, the bridge asks who
    // read (`msg_unread_list`) and bob's ghost's receipt lands on it.
    rig.mx.send_text(&room, "read in the group").await;
    let to_read = bob
        .wait_message(
            |m| m.gid == Some(gid) && m.text.as_deref() == Some("read in the group"),
            within,
        )
        .await
        .expect("bob got alice's group text");
    let to_read_event = rig.mx.event_id_of(&room, "read in the group").await;
    bob.client
        .report_read_group(gid, &[to_read.msg_id])
        .await
        .expect("bob reports it read");
    rig.mx
        .wait_read_receipt(&room, &ghost("bob"), &to_read_event)
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
    say!(
        t0,
        "read receipts both ways and images both ways in the group"
    );

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
