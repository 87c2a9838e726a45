//! Do-not-disturb on Tencent (the message receive options) against the unmodified official
//! `@tencentcloud/chat` 3.6.6 (tests/sdk/tencent-agent.js) on our sandbox, both ways through
//! the connector's `NotifyAbility`: what the SDK's `setMessageRemindType` (a DM peer, a
//! group) and `setAllReceiveMessageOpt` set reads back as the core's levels, and what the
//! connector sets reads back in the SDK's `getConversationProfile` / `getGroupProfile` /
//! `getAllReceiveMessageOpt`. A DM's option set on one instance is pushed to the others
//! (`MuteNotificationsSync`), both ways. Every run asserts the SDK raised no unhandled
//! error.

#![cfg(feature = "tencent")]

mod common;

use common::tencent_rig::{sdk_login, TestSandbox};
use std::time::Duration;

use imbridge::core::connector::{ChatId, NotifyLevel, RemoteEvent};
use serde_json::{json, Value};

/// Whether an `onConversationListUpdated` list has conversation `id` matching `pick`.
fn has_conversation(list: &Value, id: &str, pick: impl Fn(&Value) -> bool) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|c| c["conversationID"] == id && pick(c)))
}

fn level_of(levels: &[(ChatId, NotifyLevel)], chat: &ChatId) -> Option<NotifyLevel> {
    levels.iter().find(|(c, _)| c == chat).map(|(_, l)| *l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remind_types_both_ways_with_the_official_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.sandbox.import(u);
    }
    let gid = sb.work_group("team", &["alice", "bob"]).await;
    let mut sdk = sdk_login(&sb, "alice").await;
    // bob writes, so the SDK has the DM as a conversation (a pushed option patches it).
    let (bob_client, _bob_events) = sb.client("bob").await;
    bob_client.send_c2c_text("alice", "hi").await.expect("sent");
    sdk.event("onConversationListUpdated", |d| {
        has_conversation(d, "C2Cbob", |_| true)
    })
    .await;
    let (login, mut events) = sb.connector_login("alice").await;
    let notify = login.as_notify().expect("Tencent has do-not-disturb");
    let (bob, group, carol) = (
        ChatId::direct("bob"),
        ChatId::group(gid.clone()),
        ChatId::direct("carol"),
    );
    let chats = [bob.clone(), group.clone(), carol.clone()];

    // Nothing set: every chat notifies, and so does the account.
    let levels = notify.notify_levels(&chats).await.expect("levels read");
    for chat in &chats {
        assert_eq!(level_of(&levels, chat), Some(NotifyLevel::All), "{chat:?}");
    }
    assert_eq!(
        notify.global_notify_level().await.ok(),
        Some(NotifyLevel::All)
    );

    // The SDK mutes bob's DM and sets the group to @-mentions only, and mutes the account.
    sdk.ok(
        "call",
        json!({"method": "setMessageRemindType",
               "args": [{"userIDList": ["bob"], "messageRemindType": "AcceptNotNotify"}]}),
    )
    .await;
    sdk.ok(
        "call",
        json!({"method": "setMessageRemindType",
               "args": [{"groupID": gid, "messageRemindType": "AcceptNotNotifyExceptAt"}]}),
    )
    .await;
    sdk.ok(
        "call",
        json!({"method": "setAllReceiveMessageOpt",
               "args": [{"messageRemindType": "AcceptNotNotify", "duration": 86400}]}),
    )
    .await;
    // The DM's option reaches alice's other instance (the connector) as a push, at once.
    let pushed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(RemoteEvent::NotifyChange { chat, level }) => break Some((chat, level)),
                Some(_) => continue,
                None => break None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    assert_eq!(pushed, Some((bob.clone(), NotifyLevel::Muted)));
    let levels = notify.notify_levels(&chats).await.expect("levels read");
    assert_eq!(level_of(&levels, &bob), Some(NotifyLevel::Muted));
    assert_eq!(level_of(&levels, &group), Some(NotifyLevel::MentionsOnly));
    assert_eq!(level_of(&levels, &carol), Some(NotifyLevel::All));
    assert_eq!(
        notify.global_notify_level().await.ok(),
        Some(NotifyLevel::Muted)
    );
    assert_eq!(sb.sandbox.c2c_mute_flag("alice", "bob"), 2);

    // The connector undoes bob's, mutes the group and carol's DM, unmutes the account.
    notify
        .set_notify_level(&bob, NotifyLevel::All)
        .await
        .expect("bob's DM notifies");
    // The SDK hears it as its other instance's change (`muteNotificationsSync`) and patches
    // its conversation without asking.
    sdk.event("onConversationListUpdated", |d| {
        has_conversation(d, "C2Cbob", |c| c["messageRemindType"] == "AcceptAndNotify")
    })
    .await;
    notify
        .set_notify_level(&group, NotifyLevel::Muted)
        .await
        .expect("the group is muted");
    notify
        .set_notify_level(&carol, NotifyLevel::MentionsOnly)
        .await
        .expect("carol's DM: mentions only is muted");
    notify
        .set_global_notify_level(NotifyLevel::All)
        .await
        .expect("the account notifies");
    let g = sdk
        .ok(
            "call",
            json!({"method": "getGroupProfile", "args": [{"groupID": gid}]}),
        )
        .await;
    assert_eq!(
        g["data"]["group"]["selfInfo"]["messageRemindType"], "AcceptNotNotify",
        "{g}"
    );
    let all = sdk
        .ok("call", json!({"method": "getAllReceiveMessageOpt"}))
        .await;
    assert_eq!(all["data"]["messageRemindType"], "AcceptAndNotify", "{all}");
    let levels = notify.notify_levels(&chats).await.expect("levels read");
    assert_eq!(level_of(&levels, &bob), Some(NotifyLevel::All));
    assert_eq!(level_of(&levels, &group), Some(NotifyLevel::Muted));
    assert_eq!(level_of(&levels, &carol), Some(NotifyLevel::Muted));
    assert_eq!((sb.sandbox.c2c_mute_flag("alice", "carol")), 2);

    // A peer without an account is refused in words; a live room has no setting.
    let refused = notify
        .set_notify_level(&ChatId::direct("nobody"), NotifyLevel::Muted)
        .await
        .expect_err("no such account");
    assert!(refused.to_string().contains("70107"), "{refused}");
    assert!(notify
        .set_notify_level(&ChatId::channel("@live"), NotifyLevel::Muted)
        .await
        .is_err());
    sdk.assert_no_crash();
    sdk.exit().await;
}
