//! Media against the official SDK: the unmodified `@tencentcloud/chat` 3.6.6 with npm
//! `tim-upload-plugin` 1.4.3 registered (tests/sdk/tencent-agent.js `--upload-plugin`), our
//! sandbox standing in for COS (`im_cos_msg.simple_sig`, the plugin's `PUT`,
//! `get_imageinfo`), and our Rust client as the other party, both ways: the SDK's
//! `createImageMessage` / `createFileMessage` + `sendMessage` reach our client, which
//! downloads the exact bytes from the element's URL (bounded: a too small limit is refused);
//! our client's upload (`cos::Client::upload`, the same signing calls) sent as an image, a
//! file and a video with its snapshot reaches the SDK, and a GET of the URL in the SDK's message gives the exact bytes.
//! The SDK's private-network path (`pre_sig`) is proven too. Every run asserts the SDK raised
//! no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use base64::Engine as _;
use common::sdk_agent::SdkAgent;
use common::tencent_rig::{next, sdk_login_with, sdk_received, TestSandbox, APP, KEY};
use imbridge::core::connector::{MediaKind, RemoteMedia, RemoteThumbnail};
use imbridge::network::tencent::client::ClientConfig;
use imbridge::network::tencent::connector::media::{parse_uploaded, uploaded_elem, uploaded_url};
use imbridge::network::tencent::cos::{fetch_url, FileType, MediaError};
use imbridge::network::tencent::elem::{Elem, ImageElem, ImageInfo};
use imbridge::network::tencent::sandbox::SandboxConfig;
use imbridge::network::tencent::session::SessionConfig;
use imbridge::network::tencent::session::SessionEvent;
use serde_json::{json, Value};

/// A 40×30 PNG header followed by every byte value (the sandbox reads only the header).
fn png_bytes() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&40u32.to_be_bytes());
    b.extend_from_slice(&30u32.to_be_bytes());
    b.extend((0..=255u8).cycle().take(5000));
    b
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first of `keys` of `v` that holds a URL.
fn first_url(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|k| v[k].as_str())
        .find(|u| u.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL under {keys:?} in {v}"))
        .to_owned()
}

/// What a GET of `url` gives the SDK's process.
async fn sdk_fetch(a: &mut SdkAgent, url: &str) -> Vec<u8> {
    let r = a
        .request("fetch", json!({"url": url}))
        .await
        .unwrap_or_else(|e| panic!("the SDK's process could not GET {url}: {e}"));
    assert_eq!(r["status"], 200, "GET {url}: {r}");
    base64::engine::general_purpose::STANDARD
        .decode(r["base64"].as_str().unwrap_or_default())
        .expect("base64 from the agent")
}

/// The SDK (alice) sends `png` (40×30) to bob as `cat.png`; the image element bob's client
/// got and its original (`Type` 1), whose size in pixels is checked.
async fn sdk_sends_png(
    alice: &mut SdkAgent,
    bob_events: &mut tokio::sync::mpsc::Receiver<SessionEvent>,
    png: &[u8],
) -> (ImageElem, ImageInfo) {
    let sent = alice
        .ok(
            "sendImage",
            json!({"to": "bob", "name": "cat.png", "type": "image/png", "base64": b64(png)}),
        )
        .await;
    assert_eq!(sent["type"], "TIMImageElem", "{sent}");
    let m = next(bob_events, |e| match e {
        SessionEvent::Message(m) if m.from == "alice" => Some(m),
        _ => None,
    })
    .await;
    let [Elem::Image(img)] = m.elems.as_slice() else {
        panic!("one image element: {:?}", m.elems);
    };
    let orig = img
        .image_info_array
        .iter()
        .find(|i| i.kind == 1)
        .cloned()
        .unwrap_or_else(|| panic!("an original (Type 1): {img:?}"));
    assert_eq!((orig.width, orig.height), (40, 30), "{img:?}");
    (img.clone(), orig)
}

#[tokio::test]
async fn images_and_files_both_ways_between_the_sdk_and_our_client() {
    let t0 = std::time::Instant::now();
    let sb = TestSandbox::start().await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login_with(&sb, "alice", &["--upload-plugin"]).await;
    let png = png_bytes();

    // SDK → our client: an image.
    let (img, orig) = sdk_sends_png(&mut alice, &mut bob_events, &png).await;
    assert_eq!(img.image_format, 3, "PNG: {img:?}");
    assert_eq!(orig.size, png.len() as u64, "{img:?}");
    let got = bob.download(&orig.url, 1 << 20).await.expect("download");
    assert_eq!(got, png, "the image's bytes, exactly");
    assert!(
        matches!(
            bob.download(&orig.url, 100).await,
            Err(MediaError::TooLarge(100))
        ),
        "a download over the limit is refused"
    );

    // SDK → our client: a file (its URL written `https://` by the SDK).
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..=255u8).rev().cycle().take(3000))
        .collect();
    let sent = alice
        .ok(
            "sendFile",
            json!({"to": "bob", "name": "notes.pdf", "type": "application/pdf", "base64": b64(&pdf)}),
        )
        .await;
    assert_eq!(sent["type"], "TIMFileElem", "{sent}");
    let m = next(&mut bob_events, |e| match e {
        SessionEvent::Message(m) if m.from == "alice" => Some(m),
        _ => None,
    })
    .await;
    let [Elem::File(file)] = m.elems.as_slice() else {
        panic!("one file element: {:?}", m.elems);
    };
    assert_eq!(file.file_name, "notes.pdf");
    assert_eq!(file.file_size, pdf.len() as u64);
    let got = bob.download(&file.url, 1 << 20).await.expect("download");
    assert_eq!(got, pdf, "the file's bytes, exactly");

    // Our client → SDK: an image uploaded as the SDK does, then sent.
    let mine: Vec<u8> = png.iter().rev().copied().collect::<Vec<_>>();
    let mut mine_png = png[..24].to_vec();
    mine_png.extend_from_slice(&mine[..4000]);
    let up = bob
        .upload(false, FileType::Image, "mine.png", mine_png.clone())
        .await
        .expect("upload");
    let elem = uploaded_elem(
        FileType::Image,
        up.url,
        up.image_info,
        format!("{APP}-bob-x.png"),
        "mine.png",
        &mine_png,
    );
    bob.send_c2c("alice", vec![elem]).await.expect("sent");
    let got = sdk_received(&mut alice, |m| m["type"] == "TIMImageElem").await;
    let info = &got["payload"]["imageInfoArray"];
    assert_eq!(info.as_array().map(Vec::len), Some(3), "{got}");
    assert_eq!(
        (info[0]["width"].clone(), info[0]["height"].clone()),
        (json!(40), json!(30))
    );
    let url = first_url(&info[0], &["url", "imageUrl"]);
    // The SDK appends the login's `RichMsgAuthKey` to URLs it rewrites to its download
    // proxy: it read the key from the sandbox's login reply, and the sandbox takes it.
    assert!(
        url.ends_with(&format!("authKey={}", sb.sandbox.rich_msg_auth_key())),
        "the SDK's URL carries the login's download key: {url}"
    );
    assert_eq!(
        sdk_fetch(&mut alice, &url).await,
        mine_png,
        "the SDK's GET of {url}"
    );

    // Our client → SDK: a file.
    let up = bob
        .upload(false, FileType::File, "data.bin", pdf.clone())
        .await
        .expect("upload");
    let elem = uploaded_elem(
        FileType::File,
        up.url,
        up.image_info,
        "u".into(),
        "data.bin",
        &pdf,
    );
    bob.send_c2c("alice", vec![elem]).await.expect("sent");
    let got: Value = sdk_received(&mut alice, |m| m["type"] == "TIMFileElem").await;
    assert_eq!(got["payload"]["fileName"], "data.bin", "{got}");
    assert_eq!(got["payload"]["fileSize"], pdf.len(), "{got}");
    let url = first_url(&got["payload"], &["fileUrl", "remoteFileUrl"]);
    assert_eq!(
        sdk_fetch(&mut alice, &url).await,
        pdf,
        "the SDK's GET of {url}"
    );

    // Our client → SDK: a video with a snapshot (the connector's way: the thumbnail uploaded
    // as an image, its original put in the video's `Thumb*` fields), as `TIMVideoFileElem`.
    let thumb = bob
        .upload(false, FileType::Image, "thumbnail.png", mine_png.clone())
        .await
        .expect("upload");
    let thumb_elem = uploaded_elem(
        FileType::Image,
        thumb.url,
        thumb.image_info,
        format!("{APP}-bob-t.png"),
        "thumbnail.png",
        &mine_png,
    );
    let mp4: Vec<u8> = b"\0\0\0\x18ftypmp42"
        .iter()
        .copied()
        .chain((0..6000u32).map(|i| (i % 249) as u8))
        .collect();
    let up = bob
        .upload(false, FileType::Video, "clip.mp4", mp4.clone())
        .await
        .expect("upload");
    let elem = uploaded_elem(
        FileType::Video,
        up.url,
        up.image_info,
        "v".into(),
        "clip.mp4",
        &mp4,
    );
    let media = RemoteMedia {
        kind: MediaKind::Video,
        url: uploaded_url(&elem),
        name: "clip.mp4".into(),
        mime: Some("video/mp4".into()),
        size: None,
        width: None,
        height: None,
        duration_ms: Some(2500),
        thumbnail: Some(RemoteThumbnail {
            url: uploaded_url(&thumb_elem),
            mime: Some("image/png".into()),
            size: None,
            width: None,
            height: None,
        }),
    };
    let elem = parse_uploaded(&media).expect("the uploaded video");
    bob.send_c2c("alice", vec![elem]).await.expect("sent");
    let got: Value = sdk_received(&mut alice, |m| m["type"] == "TIMVideoFileElem").await;
    let p = &got["payload"];
    assert_eq!(p["videoSize"], mp4.len(), "{got}");
    assert_eq!(p["videoSecond"], 3, "2.5 s rounded up: {got}");
    let url = first_url(p, &["videoUrl", "remoteVideoUrl"]);
    assert_eq!(
        sdk_fetch(&mut alice, &url).await,
        mp4,
        "the SDK's GET of {url}"
    );
    assert_eq!(
        (&p["snapshotWidth"], &p["snapshotHeight"], &p["thumbFormat"]),
        (&json!(40), &json!(30), &json!("png")),
        "the snapshot's size and format: {got}"
    );
    let url = first_url(p, &["snapshotUrl", "thumbUrl"]);
    assert_eq!(
        sdk_fetch(&mut alice, &url).await,
        mine_png,
        "the SDK's GET of the snapshot {url}"
    );

    alice.assert_no_crash();
    alice.exit().await;
    eprintln!("media both ways with the SDK: {:?}", t0.elapsed());
}

/// The SDK's private-network path (`proxyServer` without a download proxy): it signs with
/// `im_cos_msg.pre_sig` and reads the image's size by loading it (the agent's stand-in for
/// the browser's `Image`); our client still gets the element and the exact bytes.
#[tokio::test]
async fn the_sdk_private_network_upload_path_reaches_our_client() {
    let t0 = std::time::Instant::now();
    let sb = TestSandbox::start().await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login_with(&sb, "alice", &["--upload-plugin", "--private-network"]).await;
    let png = png_bytes();
    let (_, orig) = sdk_sends_png(&mut alice, &mut bob_events, &png).await;
    let got = bob.download(&orig.url, 1 << 20).await.expect("download");
    assert_eq!(got, png, "the image's bytes, exactly");
    alice.assert_no_crash();
    alice.exit().await;
    eprintln!("the SDK's private-network path: {:?}", t0.elapsed());
}

/// Downloads carry the login's `RichMsgAuthKey` as `authKey` where the SDK adds it (the
/// service's media hosts; here the sandbox's host put on the client's list, and the sandbox
/// set to refuse downloads without the key): with it the bytes come, without it (a client
/// with the default list) or with a wrong one they are refused.
#[tokio::test]
async fn downloads_from_listed_hosts_carry_the_logins_auth_key() {
    let mut cfg = SandboxConfig::new(APP, KEY);
    cfg.require_auth_key = true;
    let sb = TestSandbox::start_with(cfg).await;
    let mut listed =
        ClientConfig::new(&sb.server(), SessionConfig::new(APP, "bob", &sb.sig("bob")));
    listed.file_dn_list = vec!["127.0.0.1".into()];
    let (bob, _bob_events) = sb.client_cfg(listed).await;
    let (carol, _carol_events) = sb.client("carol").await;
    let png = png_bytes();
    let up = bob
        .upload(false, FileType::Image, "cat.png", png.clone())
        .await
        .expect("upload");
    assert!(
        !up.url.contains("authKey"),
        "an upload URL is sent bare: {}",
        up.url
    );
    let got = bob
        .download(&up.url, 1 << 20)
        .await
        .expect("download with the key");
    assert_eq!(got, png, "the bytes, exactly");
    let refused = carol.download(&up.url, 1 << 20).await;
    assert!(
        matches!(&refused, Err(MediaError::Http(e)) if e.contains("403")),
        "a download without the key is refused: {refused:?}"
    );
    let wrong = format!("{}?authKey=not-the-key", fetch_url(&sb.server(), &up.url));
    let status = reqwest::get(&wrong).await.expect("GET").status();
    assert_eq!(status, 403, "a wrong key is refused");
}
