//! Do-not-disturb ("silent mode") between the official SDK and our Rust client, as the bridge
//! uses it: both are alice (the SDK on the web, our client as her phone). What the SDK sets
//! with `setSilentModeForConversation` (remind type, duration) is what our batch read sees;
//! what we set is what the SDK's `getSilentModeForConversation` and
//! `getSilentModeForConversations` read; `clearRemindTypeForConversation` is `DEFAULT`; the
//! account-wide setting (`setSilentModeForAll` / `getSilentModeForAll`) is the one under the
//! user's own id.

use serde_json::json;

use super::common::TestSandbox;
use super::sdk_login;
use imbridge::network::easemob::jid::ChatType;
use imbridge::network::easemob::rest::NewGroup;

#[tokio::test]
async fn silent_mode_between_the_sdk_and_our_client() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob"] {
        sb.user(u, "pw");
    }
    let (bob, _bob_events) = sb.rust_client("bob", "pw").await;
    let group = bob
        .rest()
        .create_group(&NewGroup {
            name: "quiet".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    let mut sdk = sdk_login(&sb, "alice", &[]).await;
    let (phone, _phone_events) = sb.phone_client("alice", "pw", "alice_phone").await;
    let rest = phone.rest();

    // SDK → ours.
    sdk.call(
        "setSilentModeForConversation",
        json!([{ "conversationId": "bob", "type": "singleChat",
                 "options": { "paramType": 0, "remindType": "NONE" } }]),
    )
    .await
    .expect("setSilentModeForConversation");
    sdk.call(
        "setSilentModeForConversation",
        json!([{ "conversationId": group, "type": "groupChat",
                 "options": { "paramType": 1, "duration": 60_000 } }]),
    )
    .await
    .expect("a one-minute mute of the group");
    let (users, groups) = rest
        .silent_modes(&["bob"], &[group.as_str()])
        .await
        .expect("silent modes");
    assert_eq!(users["bob"].remind_type, "NONE", "{users:?}");
    assert!(
        groups[&group].ignore_until_ms.is_some(),
        "the duration is running: {groups:?}"
    );

    // Ours → SDK.
    rest.set_remind_type(ChatType::Group, &group, "AT")
        .await
        .expect("mentions only");
    let one = sdk
        .call(
            "getSilentModeForConversation",
            json!([{ "conversationId": group, "type": "groupChat" }]),
        )
        .await
        .expect("getSilentModeForConversation");
    assert_eq!(one["data"]["type"], json!("AT"), "{one}");
    let many = sdk
        .call(
            "getSilentModeForConversations",
            json!([{ "conversationList": [
                { "id": "bob", "type": "singleChat" },
                { "id": group, "type": "groupChat" },
            ] }]),
        )
        .await
        .expect("getSilentModeForConversations");
    assert_eq!(many["data"]["user"]["bob"]["type"], json!("NONE"), "{many}");
    assert_eq!(many["data"]["group"][&group]["type"], json!("AT"), "{many}");

    sdk.call(
        "clearRemindTypeForConversation",
        json!([{ "conversationId": "bob", "type": "singleChat" }]),
    )
    .await
    .expect("clearRemindTypeForConversation");
    let (users, _) = rest.silent_modes(&["bob"], &[]).await.expect("read back");
    assert_eq!(users["bob"].remind_type, "DEFAULT", "{users:?}");
    // The account-wide setting is the one under her own id.
    sdk.call(
        "setSilentModeForAll",
        json!([{ "options": { "paramType": 0, "remindType": "NONE" } }]),
    )
    .await
    .expect("setSilentModeForAll");
    let (users, _) = rest.silent_modes(&["alice"], &[]).await.expect("own id");
    assert_eq!(users["alice"].remind_type, "NONE", "{users:?}");
    rest.set_remind_type(ChatType::Single, "alice", "AT")
        .await
        .expect("ours");
    let all = sdk
        .call("getSilentModeForAll", json!([]))
        .await
        .expect("getSilentModeForAll");
    assert_eq!(all["data"]["type"], json!("AT"), "{all}");
    sdk.assert_no_crash();
    sdk.exit().await;
}
