//! Group invitations that need the invitee's consent (`inviteNeedConfirm`), between the
//! official SDK and our Rust client, both ways: an invite sends INVITE (`onGroupEvent`
//! `inviteToJoin`) instead of adding; accepting (`acceptGroupInvite`, our
//! `answer_group_invitation(.., true)`) joins and tells the inviter `acceptInvite`; declining
//! tells the inviter `rejectInvite` and joins nothing; an answer without a pending invitation
//! is refused.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::{id_str, sdk_login};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::rest::NewGroup;

/// The operation name and sender of the next group event of `group` named one of `ops`.
async fn group_event(
    events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    group: &str,
    ops: &[&str],
) -> (String, String) {
    next_event(events, &format!("group event {ops:?}"), |e| match e {
        SessionEvent::Group(g) if g.id == group && ops.contains(&g.operation_name) => {
            Some((g.operation_name.to_owned(), g.from.clone()))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn the_sdk_invites_our_client_which_accepts_or_declines() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.user(u, "pw");
    }
    let mut alice = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let (carol, mut carol_events) = sb.rust_client("carol", "pw").await;
    let created = alice
        .call(
            "createGroup",
            json!([{ "data": { "groupname": "club", "desc": "", "members": [],
                               "public": false, "approval": false, "allowinvites": true,
                               "inviteNeedConfirm": true } }]),
        )
        .await
        .expect("group created");
    let group = id_str(&created["data"]["groupid"]);
    alice
        .call(
            "inviteUsersToGroup",
            json!([{ "groupId": group, "users": ["bob", "carol"] }]),
        )
        .await
        .expect("invited");
    assert_eq!(
        group_event(&mut bob_events, &group, &["inviteToJoin"]).await,
        ("inviteToJoin".into(), "alice".into())
    );
    group_event(&mut carol_events, &group, &["inviteToJoin"]).await;
    let before = bob.rest().group_members(&group).await;
    assert!(
        before
            .as_ref()
            .map_or(true, |m| !m.iter().any(|m| m.user == "bob")),
        "an invitation adds nobody: {before:?}"
    );

    bob.rest()
        .answer_group_invitation(&group, true)
        .await
        .expect("bob accepts");
    let accepted = alice
        .event("onGroupEvent", |d| d["operation"] == json!("acceptInvite"))
        .await;
    assert_eq!(
        (&accepted["id"], &accepted["from"]),
        (&json!(group), &json!("bob")),
        "{accepted}"
    );
    let list = bob.rest().group_members(&group).await.expect("members");
    assert!(list.iter().any(|m| m.user == "bob"), "{list:?}");

    carol
        .rest()
        .answer_group_invitation(&group, false)
        .await
        .expect("carol declines");
    let declined = alice
        .event("onGroupEvent", |d| d["operation"] == json!("rejectInvite"))
        .await;
    assert_eq!(declined["from"], json!("carol"), "{declined}");
    let list = bob.rest().group_members(&group).await.expect("members");
    assert!(!list.iter().any(|m| m.user == "carol"), "{list:?}");
    let again = carol.rest().answer_group_invitation(&group, true).await;
    assert!(
        again.is_err(),
        "no invitation is pending any more: {again:?}"
    );
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn our_client_invites_the_sdk_which_accepts() {
    let sb = TestSandbox::start().await;
    for u in ["bob", "carol"] {
        sb.user(u, "pw");
    }
    let mut carol = sdk_login(&sb, "carol", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let group = bob
        .rest()
        .create_group(&NewGroup {
            name: "club".into(),
            invite_need_confirm: true,
            ..Default::default()
        })
        .await
        .expect("group created");
    bob.rest()
        .invite_to_group(&group, &["carol"], "join us")
        .await
        .expect("invited");
    let invite = carol
        .event("onGroupEvent", |d| d["operation"] == json!("inviteToJoin"))
        .await;
    assert_eq!(
        (&invite["id"], &invite["from"]),
        (&json!(group), &json!("bob")),
        "{invite}"
    );
    carol
        .call(
            "acceptGroupInvite",
            json!([{ "invitee": "carol", "groupId": group }]),
        )
        .await
        .expect("the SDK accepts");
    assert_eq!(
        group_event(&mut bob_events, &group, &["acceptInvite"]).await,
        ("acceptInvite".into(), "carol".into())
    );
    let list = bob.rest().group_members(&group).await.expect("members");
    assert!(list.iter().any(|m| m.user == "carol"), "{list:?}");
    carol.assert_no_crash();
    carol.exit().await;
}
