//! The bridge on Tencent Cloud Chat, media end to end: real Synapse, the bridge binary, the
//! Tencent sandbox in this process (standing in for COS) and bob's Rust client. In a DM:
//! bob's image becomes an `m.image` from his ghost with its size and dimensions, and a
//! download of its `mxc` gives the exact bytes; bob's voice message an `m.audio` with its
//! duration; a Matrix `m.audio` reaches bob as a `TIMSoundElem` with its duration (seconds,
//! rounded up); a Matrix `m.image` reaches bob as a `TIMImageElem` whose original he downloads
//! byte for byte; a Matrix `m.file` with a caption reaches him as a `TIMFileElem` (its name
//! kept) followed by the caption as a text; a Matrix `m.video` with Element's thumbnail
//! reaches bob with the thumbnail as its snapshot, and bob's video with a snapshot becomes an
//! `m.video` whose `thumbnail_url` has the snapshot's bytes. In a Work group: bob's image reaches the group
//! portal and a Matrix image reaches bob as a group `TIMImageElem`, both byte for byte. Avatars: bob's (an uploaded image's URL as his
//! `Tag_Profile_IM_Image`) is his ghost's avatar, same bytes; `sync-profile` uploads alice's
//! Matrix avatar and sets its URL as hers, which bob downloads byte for byte.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::matrix_user::MatrixUser;
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::client::Client;
use imbridge::network::tencent::connector::media::uploaded_elem;
use imbridge::network::tencent::cos::FileType;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::{C2cMessage, GroupMessage, SessionEvent};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const BOB_GHOST: &str = "@tencent_bob:localhost";

/// A `w`×`h` PNG header and `len` bytes in all (the bridge and the sandbox read headers
/// only).
fn png(w: u32, h: u32, len: usize, salt: u8) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend((0..len.saturating_sub(b.len())).map(|i| (i as u8).wrapping_mul(7) ^ salt));
    b
}

/// The bytes of Matrix media `mxc` (authenticated download, bounded 20 s).
async fn matrix_media(bed: &TencentBed, mx: &MatrixUser, mxc: &str) -> Vec<u8> {
    let path = mxc.strip_prefix("mxc://").expect("an mxc URI");
    let url = format!(
        "{}/_matrix/client/v1/media/download/{path}",
        bed.synapse.url()
    );
    let resp = reqwest::Client::new()
        .get(&url)
        .bearer_auth(mx.token())
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

/// The content of bob's ghost's event of `msgtype` in `room` (bounded wait).
async fn ghost_event(mx: &MatrixUser, room: &str, msgtype: &str) -> Value {
    let e = mx
        .wait_event(room, msgtype, |e| {
            e["sender"] == BOB_GHOST && e["content"]["msgtype"] == msgtype
        })
        .await;
    mx.event(room, &e).await["content"].clone()
}

/// bob's next message from alice (bounded, 20 s).
async fn from_alice(events: &mut mpsc::Receiver<SessionEvent>) -> C2cMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Message(m))) if m.from == "alice" => return m,
            Ok(Some(_)) => {}
            Ok(None) => panic!("bob's client ended"),
            Err(_) => panic!("nothing from alice within 20 s"),
        }
    }
}

/// bob's next group message from alice (bounded, 20 s).
async fn group_from_alice(events: &mut mpsc::Receiver<SessionEvent>) -> GroupMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::GroupMessage(m))) if m.from == "alice" => return m,
            Ok(Some(_)) => {}
            Ok(None) => panic!("bob's client ended"),
            Err(_) => panic!("no group message from alice within 20 s"),
        }
    }
}

/// Uploads `bytes` as bob and sends the element to alice.
async fn bob_sends(bob: &Client, file_type: FileType, name: &str, bytes: &[u8]) {
    let up = bob
        .upload(false, file_type, name, bytes.to_vec())
        .await
        .expect("bob uploads");
    let mut elem = uploaded_elem(file_type, up.url, up.image_info, "u".into(), name, bytes);
    if let Elem::Sound(s) = &mut elem {
        s.second = 3;
    }
    bob.send_c2c("alice", vec![elem]).await.expect("bob sends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_media_both_ways_in_a_dm_and_a_group() {
    let t0 = Instant::now();
    let (bed, _bridge) = TencentBed::start("tencent-media", &["alice", "bob"]).await;
    let mut mx = bed.matrix_user("mxmedia", "mxpw-Tm1-matrix-secret");
    let (bob, mut bob_events) = bed.im_client("bob", |_| {}).await;
    // bob's avatar: an image he uploaded, its URL in his profile.
    let bob_avatar = png(8, 8, 2_000, 0x33);
    let up = bob
        .upload(false, FileType::Image, "bob.png", bob_avatar.clone())
        .await
        .expect("bob uploads his avatar");
    let r = bed.sb.portrait_set(
        "bob",
        None,
        &json!({"ProfileItem": [{"Tag": "Tag_Profile_IM_Image", "Value": up.url}]}),
    );
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let mgmt = bed.login(&mut mx, "alice").await;
    say!(t0, "Synapse and the bridge up, alice logged in");

    // Tencent → Matrix: an image, then a voice message.
    let image = png(64, 48, 30_000, 0x5a);
    bob_sends(&bob, FileType::Image, "cat.png", &image).await;
    let room = mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    let c = ghost_event(&mx, &room, "m.image").await;
    assert_eq!(c["info"]["w"], 64, "{c}");
    assert_eq!(c["info"]["h"], 48, "{c}");
    assert_eq!(c["info"]["size"], image.len(), "{c}");
    let mxc = c["url"].as_str().expect("an mxc URL");
    assert_eq!(
        matrix_media(&bed, &mx, mxc).await,
        image,
        "the image, byte for byte"
    );
    say!(t0, "bob's image is an m.image with the same bytes");
    let deadline = Instant::now() + Duration::from_secs(20);
    let ghost_avatar = loop {
        if let Some(a) = mx.profile(BOB_GHOST).await["avatar_url"].as_str() {
            break a.to_owned();
        }
        assert!(Instant::now() < deadline, "bob's ghost got no avatar");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        matrix_media(&bed, &mx, &ghost_avatar).await,
        bob_avatar,
        "bob's avatar, byte for byte"
    );
    say!(t0, "bob's avatar is his ghost's");

    let voice: Vec<u8> = (0..9000u32).map(|i| (i % 253) as u8).collect();
    bob_sends(&bob, FileType::Sound, "voice.m4a", &voice).await;
    let c = ghost_event(&mx, &room, "m.audio").await;
    assert_eq!(c["info"]["duration"], 3000, "{c}");
    let mxc = c["url"].as_str().expect("an mxc URL");
    assert_eq!(
        matrix_media(&bed, &mx, mxc).await,
        voice,
        "the voice, byte for byte"
    );
    say!(t0, "bob's voice is an m.audio with its duration and bytes");

    // Matrix → Tencent: an image.
    let mine = png(20, 10, 12_000, 0xa5);
    let mxc = mx.upload(mine.clone(), "image/png", "mine.png").await;
    mx.send_content(
        &room,
        json!({"msgtype": "m.image", "body": "mine.png", "url": mxc,
            "info": {"mimetype": "image/png", "size": mine.len(), "w": 20, "h": 10}}),
    )
    .await;
    let m = from_alice(&mut bob_events).await;
    let [Elem::Image(img)] = m.elems.as_slice() else {
        panic!("one image element: {:?}", m.elems);
    };
    let orig = img
        .image_info_array
        .iter()
        .find(|i| i.kind == 1)
        .unwrap_or_else(|| panic!("an original: {img:?}"));
    assert_eq!((orig.width, orig.height), (20, 10), "{img:?}");
    let got = bob
        .download(&orig.url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(got, mine, "the Matrix image, byte for byte");
    say!(t0, "alice's Matrix image reached bob with the same bytes");

    // Matrix → Tencent: a file with a caption (the text follows it).
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| (i % 241) as u8))
        .collect();
    let mxc = mx
        .upload(pdf.clone(), "application/pdf", "report.pdf")
        .await;
    mx.send_content(
        &room,
        json!({"msgtype": "m.file", "body": "the report", "filename": "report.pdf", "url": mxc,
            "info": {"mimetype": "application/pdf", "size": pdf.len()}}),
    )
    .await;
    let m = from_alice(&mut bob_events).await;
    let [Elem::File(file)] = m.elems.as_slice() else {
        panic!("one file element: {:?}", m.elems);
    };
    assert_eq!(file.file_name, "report.pdf");
    let got = bob
        .download(&file.url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(got, pdf, "the Matrix file, byte for byte");
    let caption = from_alice(&mut bob_events).await;
    assert_eq!(caption.text(), "the report");
    say!(t0, "alice's Matrix file reached bob, its caption after it");

    // Matrix → Tencent: a voice message with its duration.
    let ogg: Vec<u8> = b"OggS"
        .iter()
        .copied()
        .chain((0..4000u32).map(|i| (i % 239) as u8))
        .collect();
    let mxc = mx.upload(ogg.clone(), "audio/ogg", "note.ogg").await;
    mx.send_content(
        &room,
        json!({"msgtype": "m.audio", "body": "note.ogg", "url": mxc,
            "info": {"mimetype": "audio/ogg", "size": ogg.len(), "duration": 2500}}),
    )
    .await;
    let m = from_alice(&mut bob_events).await;
    let [Elem::Sound(sound)] = m.elems.as_slice() else {
        panic!("one sound element: {:?}", m.elems);
    };
    assert_eq!(
        (sound.second, sound.size),
        (3, ogg.len() as u64),
        "{sound:?}"
    );
    let got = bob
        .download(&sound.url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(got, ogg, "the Matrix voice, byte for byte");
    say!(t0, "alice's Matrix voice reached bob with its duration");

    // Matrix → Tencent: a video with the thumbnail Element makes, which becomes its snapshot.
    let mp4: Vec<u8> = b"\0\0\0\x18ftypmp42"
        .iter()
        .copied()
        .chain((0..7000u32).map(|i| (i % 233) as u8))
        .collect();
    let still = png(32, 18, 3_000, 0x42);
    let mxc = mx.upload(mp4.clone(), "video/mp4", "clip.mp4").await;
    let thumb_mxc = mx.upload(still.clone(), "image/png", "thumbnail.png").await;
    mx.send_content(
        &room,
        json!({"msgtype": "m.video", "body": "clip.mp4", "url": mxc,
            "info": {"mimetype": "video/mp4", "size": mp4.len(), "duration": 4000,
                "w": 320, "h": 180, "thumbnail_url": thumb_mxc,
                "thumbnail_info": {"mimetype": "image/png", "size": still.len(), "w": 32, "h": 18}}}),
    )
    .await;
    let m = from_alice(&mut bob_events).await;
    let [Elem::VideoFile(video)] = m.elems.as_slice() else {
        panic!("one video element: {:?}", m.elems);
    };
    assert_eq!(
        (video.video_second, video.thumb_width, video.thumb_height),
        (4, 32, 18),
        "{video:?}"
    );
    assert_eq!(video.thumb_format, "png", "{video:?}");
    let got = bob
        .download(&video.video_url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(got, mp4, "the Matrix video, byte for byte");
    let got = bob
        .download(&video.thumb_url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(
        got, still,
        "the Matrix thumbnail as the snapshot, byte for byte"
    );
    say!(
        t0,
        "alice's Matrix video reached bob with its thumbnail as the snapshot"
    );

    // Tencent → Matrix: bob's video with a snapshot becomes an m.video with a thumbnail.
    let snap = bob
        .upload(false, FileType::Image, "snap.png", still.clone())
        .await
        .expect("bob uploads");
    let mut elem = uploaded_elem(
        FileType::Video,
        String::new(),
        Vec::new(),
        "v".into(),
        "clip.mp4",
        &mp4,
    );
    let up = bob
        .upload(false, FileType::Video, "clip.mp4", mp4.clone())
        .await
        .expect("bob uploads");
    if let Elem::VideoFile(v) = &mut elem {
        v.video_url = up.url;
        v.video_second = 4;
        v.thumb_url = snap.url;
        v.thumb_format = "png".into();
        (v.thumb_width, v.thumb_height, v.thumb_size) = (32, 18, still.len() as u64);
    }
    bob.send_c2c("alice", vec![elem]).await.expect("bob sends");
    let c = ghost_event(&mx, &room, "m.video").await;
    assert_eq!(c["info"]["duration"], 4000, "{c}");
    let mxc = c["url"].as_str().expect("an mxc URL");
    assert_eq!(
        matrix_media(&bed, &mx, mxc).await,
        mp4,
        "the video, byte for byte"
    );
    let info = &c["info"];
    assert_eq!(
        (&info["thumbnail_info"]["w"], &info["thumbnail_info"]["h"]),
        (&json!(32), &json!(18)),
        "{c}"
    );
    assert_eq!(info["thumbnail_info"]["mimetype"], "image/png", "{c}");
    let thumb = info["thumbnail_url"].as_str().expect("a thumbnail_url");
    assert_eq!(
        matrix_media(&bed, &mx, thumb).await,
        still,
        "the snapshot as the thumbnail, byte for byte"
    );
    say!(
        t0,
        "bob's video is an m.video with its snapshot as the thumbnail"
    );

    // A Work group: an image each way.
    let gid = bed
        .sb
        .create_group("Work", "", "Media team", "bob", &["alice".to_owned()])
        .expect("group");
    let group_image = png(30, 20, 9_000, 0x42);
    let up = bob
        .upload(true, FileType::Image, "team.png", group_image.clone())
        .await
        .expect("bob uploads");
    let elem = uploaded_elem(
        FileType::Image,
        up.url,
        up.image_info,
        "g".into(),
        "team.png",
        &group_image,
    );
    bob.send_group(&gid, vec![elem], vec![])
        .await
        .expect("bob sends to the group");
    let group_room = mx.accept_new_invite(&[mgmt.clone(), room.clone()]).await;
    let c = ghost_event(&mx, &group_room, "m.image").await;
    assert_eq!(
        (c["info"]["w"].clone(), c["info"]["h"].clone()),
        (json!(30), json!(20)),
        "{c}"
    );
    let mxc = c["url"].as_str().expect("an mxc URL");
    assert_eq!(
        matrix_media(&bed, &mx, mxc).await,
        group_image,
        "the group image, byte for byte"
    );
    let mine = png(12, 6, 7_000, 0x24);
    let mxc = mx.upload(mine.clone(), "image/png", "ours.png").await;
    mx.send_content(
        &group_room,
        json!({"msgtype": "m.image", "body": "ours.png", "url": mxc,
            "info": {"mimetype": "image/png", "size": mine.len(), "w": 12, "h": 6}}),
    )
    .await;
    let m = group_from_alice(&mut bob_events).await;
    assert_eq!(m.group_id, gid);
    let [Elem::Image(img)] = m.elems.as_slice() else {
        panic!("one image element: {:?}", m.elems);
    };
    let orig = img
        .image_info_array
        .iter()
        .find(|i| i.kind == 1)
        .unwrap_or_else(|| panic!("an original: {img:?}"));
    let got = bob
        .download(&orig.url, 1 << 20)
        .await
        .expect("bob downloads");
    assert_eq!(got, mine, "the Matrix group image, byte for byte");
    say!(t0, "images both ways in a Work group");

    // `sync-profile`: alice's Matrix avatar becomes her Tencent avatar.
    let avatar = png(16, 16, 3_000, 0x77);
    let mxc = mx.upload(avatar.clone(), "image/png", "me.png").await;
    mx.set_avatar_url(&mxc).await;
    mx.send_text(&mgmt, "sync-profile").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        let p = bed.sb.portrait_get(&json!({"To_Account": ["alice"]}));
        let items = p["UserProfileItem"][0]["ProfileItem"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(v) = items
            .iter()
            .find(|i| i["Tag"] == "Tag_Profile_IM_Image")
            .and_then(|i| i["Value"].as_str())
            .filter(|v| !v.is_empty())
        {
            break v.to_owned();
        }
        assert!(Instant::now() < deadline, "alice's avatar was not set: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let got = bob.download(&url, 1 << 20).await.expect("bob downloads");
    assert_eq!(got, avatar, "alice's Matrix avatar, byte for byte");
    say!(t0, "sync-profile set alice's avatar");
}
