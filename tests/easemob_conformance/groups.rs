//! Group management over REST as the bridge does it (`PUT /chatgroups/{id}`, `POST
//! /chatgroups/{id}/users`, `DELETE /chatgroups/{id}/users/{user}`, by our `RestClient`) as the
//! official SDK sees it: a member's SDK gets `onGroupEvent` with `updateInfo` (the new name and
//! description in `detail`), `memberPresence` for someone added, and `removeMember` when it is
//! removed itself; the same events it gets when another SDK makes these calls. The roles the
//! bridge sets from Matrix power levels (`/admin`, `/mute`) and a dissolved group reach the
//! SDK as `setAdmin`, `muteMember` / `unmuteMember` and `destroy`, the names our client maps to
//! admins, mutes and the chat's end; the SDK's own send in a group where it is muted is refused,
//! as our client's is (USER_MUTED), and the SDK reads the same mute list as our REST client.

use serde_json::json;

use super::common::TestSandbox;
use super::sdk_login;
use imbridge::network::easemob::rest::NewGroup;

#[tokio::test]
async fn group_changes_by_rest_reach_the_sdk() {
    let sb = TestSandbox::start().await;
    for user in ["bob", "carol", "dave"] {
        sb.user(user, "pw");
    }
    let mut carol = sdk_login(&sb, "carol", &[]).await;
    let (bob, _bob_events) = sb.rust_client("bob", "pw").await;
    let rest = bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["carol".into()],
            ..Default::default()
        })
        .await
        .expect("group created");

    rest.update_group(&group, Some("renamed"), Some("new plan"))
        .await
        .expect("group renamed");
    let update = carol
        .event("onGroupEvent", |d| d["operation"] == json!("updateInfo"))
        .await;
    assert_eq!(update["id"], json!(group), "{update}");
    assert_eq!(update["from"], json!("bob"), "{update}");
    assert_eq!(update["detail"]["name"], json!("renamed"), "{update}");
    assert_eq!(
        update["detail"]["description"],
        json!("new plan"),
        "{update}"
    );

    rest.add_group_members(&group, &["dave"])
        .await
        .expect("dave added");
    let joined = carol
        .event("onGroupEvent", |d| {
            d["operation"] == json!("memberPresence")
        })
        .await;
    assert_eq!(
        (&joined["id"], &joined["from"]),
        (&json!(group), &json!("dave")),
        "{joined}"
    );

    rest.remove_group_members(&group, &["carol"])
        .await
        .expect("carol removed");
    let removed = carol
        .event("onGroupEvent", |d| d["operation"] == json!("removeMember"))
        .await;
    assert_eq!(removed["id"], json!(group), "{removed}");
    carol.assert_no_crash();
    carol.exit().await;
}

#[tokio::test]
async fn roles_mutes_and_dissolving_by_rest_reach_the_sdk() {
    let sb = TestSandbox::start().await;
    for user in ["bob", "carol"] {
        sb.user(user, "pw");
    }
    let mut carol = sdk_login(&sb, "carol", &[]).await;
    let (bob, _bob_events) = sb.rust_client("bob", "pw").await;
    let rest = bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "roles".into(),
            members: vec!["carol".into()],
            ..Default::default()
        })
        .await
        .expect("group created");

    rest.add_group_admin(&group, "carol")
        .await
        .expect("carol made admin");
    let admin = carol
        .event("onGroupEvent", |d| d["operation"] == json!("setAdmin"))
        .await;
    assert_eq!(
        (&admin["id"], &admin["from"]),
        (&json!(group), &json!("bob"))
    );
    rest.remove_group_admin(&group, "carol")
        .await
        .expect("carol admin no more");
    carol
        .event("onGroupEvent", |d| d["operation"] == json!("removeAdmin"))
        .await;

    rest.mute_group_members(&group, &["carol"])
        .await
        .expect("carol muted");
    let muted = carol
        .event("onGroupEvent", |d| d["operation"] == json!("muteMember"))
        .await;
    assert_eq!(muted["id"], json!(group), "{muted}");
    let listed = carol
        .call("getGroupMuteList", json!([{ "groupId": group }]))
        .await
        .expect("mute list");
    assert!(listed.to_string().contains("carol"), "{listed}");
    assert_eq!(
        rest.group_mutes(&group).await.expect("mutes"),
        vec!["carol"]
    );
    let refused = carol
        .request(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": group, "msg": "hush" } }),
        )
        .await;
    assert!(
        refused.is_err(),
        "a muted member's send went through: {refused:?}"
    );
    rest.unmute_group_members(&group, &["carol"])
        .await
        .expect("carol unmuted");
    carol
        .event("onGroupEvent", |d| d["operation"] == json!("unmuteMember"))
        .await;
    assert!(rest.group_mutes(&group).await.expect("mutes").is_empty());

    rest.destroy_group(&group).await.expect("dissolved");
    let gone = carol
        .event("onGroupEvent", |d| d["operation"] == json!("destroy"))
        .await;
    assert_eq!(gone["id"], json!(group), "{gone}");
    carol.assert_no_crash();
    carol.exit().await;
}
