//! Threads between the official SDK and our Rust client through the sandbox: the SDK's
//! `createChatThread` on a group message (our client gets the `"thread"` create NOTIFY), its
//! `isChatThread` send to the thread id (our client, once joined over REST, receives it with the
//! thread's group, parent message and name in the body's meta), our client's thread send (the
//! SDK's `onTextMessage` carries `chatThread{messageId, parentId, chatThreadName}`), a thread our
//! REST client creates (the SDK's `onChatThreadChange` `create`), and the SDK's
//! `changeChatThreadName` / `destroyChatThread` (the `update` / `delete` NOTIFYs, and the SDK's
//! own `destroy` event).

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::{id_str, sdk_login, text_of};
use imbridge::network::easemob::events::{
    message_thread, parse_thread_notify, SessionEvent, ThreadNotify, ThreadOperation,
};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use imbridge::network::easemob::rest::NewGroup;

fn thread_notify(e: &SessionEvent) -> Option<ThreadNotify> {
    match e {
        SessionEvent::Notify { json } => parse_thread_notify(json),
        _ => None,
    }
}

#[tokio::test]
async fn threads_between_the_sdk_and_our_client() {
    let sb = TestSandbox::start().await;
    for user in ["bob", "carol"] {
        sb.user(user, "pw");
    }
    let mut carol = sdk_login(&sb, "carol", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let rest = bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["carol".into()],
            ..Default::default()
        })
        .await
        .expect("group created");

    // The SDK starts a thread on its own group message.
    let sent = carol
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": group, "msg": "root" } }),
        )
        .await;
    let root = id_str(&sent["serverMsgId"]);
    next_event(&mut bob_events, "root message", text_of).await;
    let created = carol
        .call(
            "createChatThread",
            json!([{ "name": "plans", "messageId": root, "parentId": group }]),
        )
        .await
        .expect("thread created");
    let thread = id_str(&created["data"]["chatThreadId"]);
    assert!(!thread.is_empty(), "{created}");
    let notify = next_event(&mut bob_events, "thread create notify", thread_notify).await;
    assert_eq!(notify.operation, ThreadOperation::Create);
    assert_eq!(
        (
            notify.id.as_str(),
            notify.group_id.as_str(),
            notify.message_id.as_str()
        ),
        (thread.as_str(), group.as_str(), root.as_str())
    );
    assert_eq!(notify.name, "plans");
    let detail = carol
        .call("getChatThreadDetail", json!([{ "chatThreadId": thread }]))
        .await
        .expect("thread detail");
    assert_eq!(id_str(&detail["data"]["messageId"]), root, "{detail}");
    assert_eq!(id_str(&detail["data"]["parentId"]), group, "{detail}");

    // Joined, our client receives the SDK's thread messages with the thread's facts.
    let info = rest.join_thread(&thread).await.expect("bob joins");
    assert_eq!(
        (info.group_id.as_str(), info.message_id.as_str()),
        (group.as_str(), root.as_str())
    );
    carol
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": thread,
                             "msg": "in the thread", "isChatThread": true } }),
        )
        .await;
    let got = next_event(&mut bob_events, "thread message", |e| match e {
        SessionEvent::Message(m) if text_of(e).is_some_and(|t| t.2 == "in the thread") => {
            Some(m.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(got.to, thread);
    let facts = message_thread(got.meta_json.as_deref()).expect("thread meta");
    assert_eq!(
        (
            facts.group_id.as_str(),
            facts.message_id.as_str(),
            facts.name.as_str()
        ),
        (group.as_str(), root.as_str(), "plans")
    );

    // Our client's thread message, as the SDK sees it.
    let mut msg = OutgoingMessage::text(Conversation::group(&thread), "bob in the thread");
    msg.in_thread = true;
    bob.send(msg).await.expect("thread send");
    let seen = carol
        .event("onTextMessage", |d| d["msg"] == json!("bob in the thread"))
        .await;
    assert_eq!(id_str(&seen["to"]), thread, "{seen}");
    assert_eq!(id_str(&seen["chatThread"]["messageId"]), root, "{seen}");
    assert_eq!(id_str(&seen["chatThread"]["parentId"]), group, "{seen}");
    assert_eq!(
        seen["chatThread"]["chatThreadName"],
        json!("plans"),
        "{seen}"
    );

    // A thread our REST client creates reaches the SDK as onChatThreadChange.
    let bob_root = bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "bob's root",
        ))
        .await
        .expect("group send")
        .server_id
        .to_string();
    let bobs = rest
        .create_thread(&group, &bob_root, "bob's thread")
        .await
        .expect("bob creates a thread");
    let change = carol
        .event("onChatThreadChange", |d| {
            d["operation"] == json!("create") && d["name"] == json!("bob's thread")
        })
        .await;
    assert_eq!(id_str(&change["id"]), bobs, "{change}");
    assert_eq!(id_str(&change["messageId"]), bob_root, "{change}");
    assert_eq!(id_str(&change["parentId"]), group, "{change}");
    assert_eq!(change["name"], json!("bob's thread"), "{change}");
    assert_eq!(change["operator"], json!("bob"), "{change}");

    // Renamed and deleted by the SDK: our client gets update and delete.
    carol
        .call(
            "changeChatThreadName",
            json!([{ "chatThreadId": thread, "name": "new plans" }]),
        )
        .await
        .expect("renamed");
    let renamed = next_event(&mut bob_events, "thread update", |e| {
        thread_notify(e).filter(|n| n.operation == ThreadOperation::Update)
    })
    .await;
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (thread.as_str(), "new plans")
    );
    carol
        .call("destroyChatThread", json!([{ "chatThreadId": thread }]))
        .await
        .expect("destroyed");
    let deleted = next_event(&mut bob_events, "thread delete", |e| {
        thread_notify(e).filter(|n| n.operation == ThreadOperation::Delete)
    })
    .await;
    assert_eq!(deleted.id, thread);
    let gone = carol
        .event("onChatThreadChange", |d| d["operation"] == json!("destroy"))
        .await;
    assert_eq!(id_str(&gone["id"]), thread, "{gone}");
    assert!(
        rest.thread_info(&thread).await.is_err(),
        "a deleted thread has no details"
    );
    carol.assert_no_crash();
    carol.exit().await;
}
