//! Media both ways, proven by the unmodified official JMessage Web SDK 2.5.0 (loaded from
//! ../shared/vendor, run in node by tests/sdk/jmessage-agent.js with its uploads pointed at the
//! sandbox) against our sandbox with our Rust client as the other party: the SDK's
//! `sendSinglePic` / `sendGroupPic` / `sendSingleFile` (upload token, multipart POST to
//! `/resource`, the image / file message) reach the Rust client, which downloads the bytes
//! (`get_resource`) and compares them; the Rust client's `send_image` reaches the SDK, whose
//! `getResource` URL serves the same bytes. Skipped (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use base64::Engine as _;
use common::jmessage_sdk::{bundle, message, sdk_login, JmSandbox};
use imbridge::network::jmessage::session::Target;
use serde_json::json;

fn png(w: u32, h: u32, tail: u8) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend((0..200u32).map(|i| (i as u8) ^ tail));
    b
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn images_and_files_both_ways_with_bytes_compared() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;

    // SDK → Rust: an image, uploaded by the SDK itself.
    let image = png(3, 2, 7);
    let sent = alice
        .ok(
            "sendSinglePic",
            json!({"target_username": "bob", "fname": "a.png", "mime": "image/png",
                "data_b64": b64(&image)}),
        )
        .await;
    let got = message(&mut bob_events).await;
    assert_eq!(Some(got.msg_id), sent["msg_id"].as_i64());
    assert_eq!(got.msg_type, "image");
    assert_eq!(
        (got.body["width"].clone(), got.body["height"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(got.body["fsize"], image.len());
    assert_eq!(got.body["media_crc32"], crc32fast::hash(&image));
    let media_id = got.body["media_id"].as_str().unwrap();
    assert_eq!(bob.download(media_id).await.unwrap(), image);
    assert_eq!(sb.sandbox.media(media_id).map(|m| m.0), Some(image.clone()));

    // SDK → Rust: a file, with its name.
    let file = b"plain bytes \x00\x01\xff".to_vec();
    alice
        .ok(
            "sendSingleFile",
            json!({"target_username": "bob", "fname": "notes.bin", "data_b64": b64(&file)}),
        )
        .await;
    let got = message(&mut bob_events).await;
    assert_eq!(
        (got.msg_type.as_str(), got.body["fname"].as_str()),
        ("file", Some("notes.bin"))
    );
    let media_id = got.body["media_id"].as_str().unwrap();
    assert_eq!(bob.download(media_id).await.unwrap(), file);

    // Rust → SDK: an image; the SDK's getResource URL serves the same bytes.
    let image = png(640, 480, 9);
    let receipt = bob
        .send_image(Target::User("alice".into()), image.clone(), "b.png", None)
        .await
        .unwrap();
    let push = alice
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"] == receipt.msg_id
        })
        .await;
    let content = &push["messages"][0]["content"];
    assert_eq!(content["msg_type"], "image");
    assert_eq!(
        (
            content["msg_body"]["width"].clone(),
            content["msg_body"]["height"].clone()
        ),
        (json!(640), json!(480))
    );
    let res = alice
        .ok(
            "getResource",
            json!({"media_id": content["msg_body"]["media_id"]}),
        )
        .await;
    let url = res["url"].as_str().unwrap();
    let fetched = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.as_ref(), image.as_slice());

    // Group both ways.
    let gid = bob.create_group("pics", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let image = png(1, 1, 3);
    let receipt = bob
        .send_image(Target::Group(gid), image.clone(), "g.png", None)
        .await
        .unwrap();
    let push = alice
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"] == receipt.msg_id
        })
        .await;
    assert_eq!(push["messages"][0]["from_gid"], gid);
    let image2 = png(5, 5, 1);
    alice
        .ok(
            "sendGroupPic",
            json!({"target_gid": gid, "fname": "c.png", "mime": "image/png",
                "data_b64": b64(&image2)}),
        )
        .await;
    let got = message(&mut bob_events).await;
    assert_eq!((got.gid, got.msg_type.as_str()), (Some(gid), "image"));
    let media_id = got.body["media_id"].as_str().unwrap();
    assert_eq!(bob.download(media_id).await.unwrap(), image2);

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}
