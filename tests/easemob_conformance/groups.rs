//! Group management over REST as the bridge does it (`PUT /chatgroups/{id}`, `POST
//! /chatgroups/{id}/users`, `DELETE /chatgroups/{id}/users/{user}`, by our `RestClient`) as the
//! official SDK sees it: a member's SDK gets `onGroupEvent` with `updateInfo` (the new name and
//! description in `detail`), `memberPresence` for someone added, and `removeMember` when it is
//! removed itself; the same events it gets when another SDK makes these calls.

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
