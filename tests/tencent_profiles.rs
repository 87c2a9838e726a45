//! Tencent user profiles against the unmodified official `@tencentcloud/chat` 3.6.6 SDK, with
//! our Rust client as the other party: the SDK's `updateMyProfile` stored by the sandbox,
//! read by our client (`portrait_get_all`) and pushed (`ProfileDataMod`) to the user's other
//! instance; our client's `portrait_set` read by the SDK's `getUserProfile`. Every SDK run
//! asserts no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use common::tencent_rig::{next, sdk_login, TestSandbox};
use imbridge::network::tencent::session::profile::{
    get_body, parse_get_reply, set_body, Profile, ProfileChanged, PORTRAIT_GET_ALL, PORTRAIT_SET,
};
use imbridge::network::tencent::session::SessionEvent;
use serde_json::json;

#[tokio::test]
async fn profiles_set_by_sdk_and_rust_client_are_read_and_pushed() {
    let sb = TestSandbox::start().await;
    sb.sandbox.import("alice");
    sb.sandbox.import("bob");
    let mut alice = sdk_login(&sb, "alice").await;
    let (alice2, mut alice2_events) = sb.client("alice").await;
    let (bob, _bob_events) = sb.client("bob").await;

    // The SDK sets alice's nickname and avatar URL.
    let r = alice
        .call(
            "updateMyProfile",
            json!([{"nick": "Alice A.", "avatar": "https://example.org/a.png"}]),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let changed = next(&mut alice2_events, |e| match e {
        SessionEvent::ProfileChanged(c) => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(
        changed,
        ProfileChanged {
            user: "alice".into(),
            profile: Profile {
                nick: Some("Alice A.".into()),
                face_url: Some("https://example.org/a.png".into())
            }
        }
    );
    let reply = bob
        .call(PORTRAIT_GET_ALL, get_body("bob", "alice"))
        .await
        .expect("profile read");
    assert_eq!(
        parse_get_reply(&reply, "alice"),
        Some(Profile {
            nick: Some("Alice A.".into()),
            face_url: Some("https://example.org/a.png".into())
        }),
        "{reply}"
    );
    // An account that does not exist is not a profile.
    let reply = bob
        .call(PORTRAIT_GET_ALL, get_body("bob", "nobody"))
        .await
        .expect("profile read");
    assert_eq!(parse_get_reply(&reply, "nobody"), None, "{reply}");

    // Our client sets bob's nickname; the SDK reads it.
    let reply = bob
        .call(PORTRAIT_SET, set_body("bob", Some("Bob B."), None))
        .await
        .expect("profile set");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let p = alice
        .call("getUserProfile", json!([{"userIDList": ["bob"]}]))
        .await
        .expect("getUserProfile");
    assert_eq!(p["data"][0]["userID"], "bob", "{p}");
    assert_eq!(p["data"][0]["nick"], "Bob B.", "{p}");
    drop(alice2);
    alice.assert_no_crash();
    alice.exit().await;
}
