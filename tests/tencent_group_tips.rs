//! Tencent group tips against the sandbox, the unmodified official `@tencentcloud/chat`
//! 3.6.6 SDK (tests/sdk/tencent-agent.js) and our Rust client: join, profile change and kick
//! reach both as their types (the SDK's `TIMGroupTipElem` with `operationType` 1 / 6 / 3);
//! kept in the group's history with their seqs, they are read by the SDK's `getMessageList`
//! in order and delivered to a Rust client that was away by its catch-up. Every SDK run
//! asserts no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use common::tencent_rig::{next, sdk_login, sdk_received, TestSandbox, APP};
use imbridge::network::tencent::session::{GroupTip, GroupTipKind, SessionConfig, SessionEvent};
use serde_json::json;

fn group_tip(e: SessionEvent) -> Option<GroupTip> {
    match e {
        SessionEvent::GroupTip(t) => Some(t),
        _ => None,
    }
}

#[tokio::test]
async fn group_tips_reach_sdk_and_rust_client_as_their_types() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    sb.sandbox.import("carol");
    let mut alice = sdk_login(&sb, "alice").await;
    let (_bob, mut bob_events) = sb.client("bob").await;
    let r = sb
        .rest(
            "group_open_http_svc/add_group_member",
            json!({"GroupId": gid, "MemberList": [{"Member_Account": "carol"}]}),
        )
        .await;
    assert_eq!(r["MemberList"][0]["Result"], 1, "{r}");
    let tip = next(&mut bob_events, group_tip).await;
    assert_eq!(tip.group_id, gid);
    assert_eq!(tip.kind, GroupTipKind::MemberJoined);
    assert_eq!(tip.users, vec!["carol".to_owned()]);
    assert_eq!(tip.member_num, Some(3));
    let m = sdk_received(&mut alice, |m| m["type"] == "TIMGroupTipElem").await;
    // TencentCloudChat.TYPES.GRP_TIP_MBR_JOIN = 1
    assert_eq!(m["payload"]["operationType"], 1);
    assert_eq!(m["payload"]["userIDList"], json!(["carol"]));
    assert_eq!(m["to"], gid);

    let r = sb
        .rest(
            "group_open_http_svc/modify_group_base_info",
            json!({"GroupId": gid, "Name": "Team 2", "Introduction": "we ship"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let tip = next(&mut bob_events, group_tip).await;
    assert_eq!(tip.kind, GroupTipKind::ProfileChanged);
    assert_eq!(tip.profile.name.as_deref(), Some("Team 2"));
    assert_eq!(tip.profile.introduction.as_deref(), Some("we ship"));
    assert_eq!(tip.profile.notification, None);
    let m = sdk_received(&mut alice, |m| m["payload"]["operationType"] == 6).await;
    // GRP_TIP_GRP_PROFILE_UPDATED = 6
    assert_eq!(m["payload"]["newGroupProfile"]["groupName"], "Team 2");
    assert_eq!(m["payload"]["newGroupProfile"]["introduction"], "we ship");
    let profile = alice
        .call("getGroupProfile", json!([{"groupID": gid}]))
        .await
        .expect("getGroupProfile");
    assert_eq!(profile["data"]["group"]["name"], "Team 2");

    let r = sb
        .rest(
            "group_open_http_svc/delete_group_member",
            json!({"GroupId": gid, "MemberToDel_Account": ["carol"]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let tip = next(&mut bob_events, group_tip).await;
    assert_eq!(tip.kind, GroupTipKind::MemberKicked);
    assert_eq!(tip.users, vec!["carol".to_owned()]);
    // GRP_TIP_MBR_KICKED_OUT = 3
    let m = sdk_received(&mut alice, |m| m["payload"]["operationType"] == 3).await;
    assert_eq!(m["payload"]["userIDList"], json!(["carol"]));

    // Tips stay in the history with their seqs: the SDK's history (`group_msg_get`) shows the
    // three as tips, in order, and a Rust client that was away gets them in its catch-up.
    let list = alice
        .call(
            "getMessageList",
            json!([{"conversationID": format!("GROUP{gid}")}]),
        )
        .await
        .expect("getMessageList");
    let tips: Vec<(i64, i64)> = list["data"]["messageList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "TIMGroupTipElem")
        .map(|m| {
            (
                m["payload"]["operationType"].as_i64().unwrap_or(-1),
                m["sequence"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        tips.iter().map(|t| t.0).collect::<Vec<_>>(),
        [1, 6, 3],
        "{list}"
    );
    assert!(tips.windows(2).all(|w| w[0].1 < w[1].1), "{tips:?}");
    alice.assert_no_crash();
    alice.exit().await;
    sb.sandbox.import("dave");
    let mut away = SessionConfig::new(APP, "dave", &sb.sig("dave"));
    away.group_catch_up = 20;
    let dave = sb
        .rest(
            "group_open_http_svc/add_group_member",
            json!({"GroupId": gid, "Silence": 1, "MemberList": [{"Member_Account": "dave"}]}),
        )
        .await;
    assert_eq!(dave["MemberList"][0]["Result"], 1, "{dave}");
    let (_dave, mut dave_events) = sb.client_with(away).await;
    let mut kinds = Vec::new();
    loop {
        match next(&mut dave_events, Some).await {
            SessionEvent::GroupTip(t) => kinds.push(t.kind),
            SessionEvent::GroupSyncCompleted { .. } => break,
            _ => {}
        }
    }
    assert_eq!(
        kinds,
        [
            GroupTipKind::MemberJoined,
            GroupTipKind::ProfileChanged,
            GroupTipKind::MemberKicked
        ]
    );
}
