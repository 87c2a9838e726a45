//! Group announcements, owner hand-over and own profiles between the official SDK and our
//! Rust client, as the bridge uses them: our `set_group_announcement` reaches the SDK as
//! `onGroupEvent` `updateAnnouncement` with the text (and `fetchGroupAnnouncement` reads it);
//! the SDK's `updateGroupAnnouncement` reaches our client as a MUC `updateAnnouncement` whose
//! `reason` is the text, and its removal as `deleteAnnouncement`; the SDK's
//! `changeGroupOwner` reaches us as `changeOwner` naming the new owner; our
//! `set_own_info` (nickname, avatar URL) is what the SDK's `fetchUserInfoById` reads, and the
//! SDK's `updateOwnUserInfo` is what our `user_info` reads; the SDK's `blockGroupMember` /
//! `unblockGroupMember` reach the blocked client as MUC `ban` / `unblockMember`,
//! `getGroupBlocklist` reads the list, a blocked user cannot be added, and our block reaches
//! the SDK as its legacy `onGroupChange` `ban`.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::sdk_login;
use imbridge::network::easemob::events::{GroupEvent, SessionEvent};
use imbridge::network::easemob::rest::NewGroup;

/// The next MUC event `op` by `from` our client gets (its own changes come back to it too).
async fn group_event(
    events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    op: &str,
    from: &str,
) -> GroupEvent {
    next_event(events, &format!("group {op}"), |e| match e {
        SessionEvent::Group(g) if g.operation_name == op && g.from == from => Some(g.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn announcements_owner_and_profiles_with_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.user(u, "pw");
    }
    let mut alice = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let rest = bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "settings".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    rest.add_group_admin(&group, "alice")
        .await
        .expect("alice made admin");

    // Ours → SDK.
    rest.set_group_announcement(&group, "from the Rust side")
        .await
        .expect("announcement set");
    let update = alice
        .event("onGroupEvent", |d| {
            d["operation"] == json!("updateAnnouncement")
        })
        .await;
    assert_eq!(
        (&update["id"], &update["from"], &update["announcement"]),
        (&json!(group), &json!("bob"), &json!("from the Rust side")),
        "{update}"
    );
    let fetched = alice
        .call("fetchGroupAnnouncement", json!([{ "groupId": group }]))
        .await
        .expect("fetchGroupAnnouncement");
    assert_eq!(
        fetched["data"]["announcement"],
        json!("from the Rust side"),
        "{fetched}"
    );

    // SDK → ours, then its removal.
    alice
        .call(
            "updateGroupAnnouncement",
            json!([{ "groupId": group, "announcement": "from the SDK" }]),
        )
        .await
        .expect("updateGroupAnnouncement");
    let got = group_event(&mut bob_events, "updateAnnouncement", "alice").await;
    assert_eq!(
        (got.from.as_str(), got.reason.as_str()),
        ("alice", "from the SDK")
    );
    assert_eq!(
        rest.group_announcement(&group).await.expect("read back"),
        "from the SDK"
    );
    alice
        .call(
            "updateGroupAnnouncement",
            json!([{ "groupId": group, "announcement": "" }]),
        )
        .await
        .expect("announcement removed");
    group_event(&mut bob_events, "deleteAnnouncement", "alice").await;

    // Owner hand-over by the SDK's side is refused to an admin; ours reaches the SDK.
    let refused = alice
        .call(
            "changeGroupOwner",
            json!([{ "groupId": group, "newOwner": "alice" }]),
        )
        .await;
    assert!(
        refused.is_err(),
        "an admin cannot take the group: {refused:?}"
    );
    rest.change_group_owner(&group, "alice")
        .await
        .expect("bob hands the group over");
    let changed = alice
        .event("onGroupEvent", |d| d["operation"] == json!("changeOwner"))
        .await;
    assert_eq!(changed["id"], json!(group), "{changed}");
    alice
        .call(
            "changeGroupOwner",
            json!([{ "groupId": group, "newOwner": "bob" }]),
        )
        .await
        .expect("alice, now owner, hands it back");
    let back = group_event(&mut bob_events, "changeOwner", "alice").await;
    assert_eq!(
        (back.from.as_str(), back.to.clone()),
        ("alice", vec!["bob".to_owned()])
    );

    // The group's block list: the SDK (alice, an admin again) blocks and unblocks with ours
    // as the blocked one, and ours (bob, the owner) blocks the SDK's user.
    rest.add_group_admin(&group, "alice")
        .await
        .expect("alice admin again");
    let (carol, mut carol_events) = sb.rust_client("carol", "pw").await;
    rest.add_group_members(&group, &["carol"])
        .await
        .expect("carol added");
    alice
        .call(
            "blockGroupMember",
            json!([{ "groupId": group, "username": "carol" }]),
        )
        .await
        .expect("blockGroupMember");
    let banned = group_event(&mut carol_events, "ban", "alice").await;
    assert_eq!(banned.to, vec!["carol".to_owned()]);
    let list = alice
        .call("getGroupBlocklist", json!([{ "groupId": group }]))
        .await
        .expect("getGroupBlocklist");
    assert_eq!(list["data"], json!(["carol"]), "{list}");
    assert_eq!(
        rest.group_blocklist(&group).await.expect("ours"),
        vec!["carol"]
    );
    assert!(
        rest.add_group_members(&group, &["carol"]).await.is_err(),
        "a blocked user cannot be added"
    );
    alice
        .call(
            "unblockGroupMember",
            json!([{ "groupId": group, "username": "carol" }]),
        )
        .await
        .expect("unblockGroupMember");
    group_event(&mut carol_events, "unblockMember", "alice").await;
    drop(carol);
    rest.block_group_member(&group, "alice", Some("flooding"))
        .await
        .expect("bob blocks alice");
    let ban = alice
        .event("onGroupChange", |d| d["type"] == json!("ban"))
        .await;
    assert_eq!(
        ban["gid"].as_str().or(ban["id"].as_str()),
        Some(group.as_str()),
        "{ban}"
    );

    // Own profiles both ways.
    rest.set_own_info(
        Some("Bob the Builder"),
        Some("https://example.invalid/bob.png"),
    )
    .await
    .expect("bob's profile");
    let info = alice
        .call(
            "fetchUserInfoById",
            json!([["bob"], ["nickname", "avatarurl"]]),
        )
        .await
        .expect("fetchUserInfoById");
    assert_eq!(
        (
            &info["data"]["bob"]["nickname"],
            &info["data"]["bob"]["avatarurl"]
        ),
        (
            &json!("Bob the Builder"),
            &json!("https://example.invalid/bob.png")
        ),
        "{info}"
    );
    alice
        .call(
            "updateOwnUserInfo",
            json!([{ "nickname": "Alice A.", "avatarurl": "https://example.invalid/a.png" }]),
        )
        .await
        .expect("updateOwnUserInfo");
    let profiles = rest.user_info(&["alice"]).await.expect("user_info");
    let a = profiles.get("alice").expect("alice's profile");
    assert_eq!(
        (a.nickname.as_deref(), a.avatar_url.as_deref()),
        (Some("Alice A."), Some("https://example.invalid/a.png"))
    );
    alice.assert_no_crash();
    alice.exit().await;
}
