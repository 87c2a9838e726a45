//! Threads between the official SDK and our Rust client through the sandbox: the SDK's
//! `createChatThread` on a group message (our client gets the `"thread"` create NOTIFY), its
//! `isChatThread` send to the thread id (our client, once joined over REST, receives it with the
//! thread's group, parent message and name in the body's meta), our client's thread send (the
//! SDK's `onTextMessage` carries `chatThread{messageId, parentId, chatThreadName}`), a thread our
//! REST client creates (the SDK's `onChatThreadChange` `create`), and the SDK's
//! `changeChatThreadName` / `destroyChatThread` (the `update` / `delete` NOTIFYs, and the SDK's
//! own `destroy` event); the group's threads listed by the SDK's `getChatThreads` and our REST
//! client, a page at a time; edits and recalls in a thread both ways.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::{id_str, sdk_login, text_of};
use imbridge::network::easemob::client::EasemobClient;
use imbridge::network::easemob::events::{
    message_thread, parse_thread_notify, SessionEvent, ThreadNotify, ThreadOperation,
};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, IncomingMessage, OutgoingMessage};

use super::common::sdk_agent::SdkAgent;
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
    let carols = carol
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": thread,
                             "msg": "in the thread", "isChatThread": true } }),
        )
        .await;
    let carols = id_str(&carols["serverMsgId"]);
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
    let bobs_msg = bob.send(msg).await.expect("thread send").server_id;
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

    let place = Place {
        group: &group,
        thread: &thread,
        root: &root,
    };
    edits_and_recalls_in_the_thread(&mut carol, &bob, &mut bob_events, &place, &carols, bobs_msg)
        .await;

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

    // The group's threads, as the SDK lists them (getChatThreads), and as our client does.
    let listed = carol
        .call(
            "getChatThreads",
            json!([{ "parentId": group, "pageSize": 50 }]),
        )
        .await
        .expect("threads listed");
    let entities = listed["entities"].as_array().cloned().unwrap_or_default();
    assert_eq!(entities.len(), 2, "{listed}");
    assert!(
        entities
            .iter()
            .any(|t| id_str(&t["id"]) == thread && id_str(&t["messageId"]) == root),
        "{listed}"
    );
    assert!(
        entities.iter().all(|t| id_str(&t["parentId"]) == group),
        "{listed}"
    );
    let (page, next) = rest
        .group_threads(&group, None, 1)
        .await
        .expect("first page");
    assert_eq!(page.len(), 1);
    let (page2, last) = rest
        .group_threads(&group, next.as_deref(), 1)
        .await
        .expect("second page");
    assert_eq!((page2.len(), last), (1, None));
    assert_ne!(page[0].id, page2[0].id);

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

/// Where the thread of [`edits_and_recalls_in_the_thread`] is.
struct Place<'a> {
    group: &'a str,
    thread: &'a str,
    root: &'a str,
}

/// Asserts that `m` is addressed to the thread and carries its facts.
fn assert_in_thread(m: &IncomingMessage, place: &Place<'_>) {
    assert_eq!(m.to, place.thread, "{m:?}");
    let facts = message_thread(m.meta_json.as_deref()).expect("thread meta");
    assert_eq!(
        (facts.group_id.as_str(), facts.message_id.as_str()),
        (place.group, place.root),
        "{m:?}"
    );
}

/// Edits and recalls of thread messages, both ways, shaped as the SDK shapes them
/// (`modifyMessage` / `recallMessage` with the thread id as `to` and `isChatThread: true`):
/// each reaches the other party in the thread; addressed to the parent group instead, the
/// sandbox refuses them ("Sorry, message does not exist", the SDK's
/// `MODIFY_MESSAGE_NOT_EXIST`).
async fn edits_and_recalls_in_the_thread(
    carol: &mut SdkAgent,
    bob: &EasemobClient,
    bob_events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    place: &Place<'_>,
    carols: &str,
    bobs: u64,
) {
    let thread = place.thread;
    // The SDK edits its thread message; our client, in the thread, gets the edit there.
    carol
        .call(
            "modifyMessage",
            json!([{ "messageId": carols,
                     "modifiedMessage": { "$message": { "type": "txt", "chatType": "groupChat",
                         "to": thread, "msg": "edited in the thread", "isChatThread": true } } }]),
        )
        .await
        .expect("SDK edit in the thread");
    let edit = next_event(bob_events, "edit in the thread", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Edit {
                message_id,
                content: Content::Text { text },
                ..
            } if message_id.to_string() == carols && text == "edited in the thread" => {
                Some(m.clone())
            }
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_in_thread(&edit, place);

    // Our client's edit as the connector sends it (EDIT to the thread id, thread meta); the
    // same edit addressed to the group is refused.
    let edit_body = |text: &str| Body::Edit {
        message_id: bobs,
        content: Content::Text { text: text.into() },
        with_ext: false,
    };
    let wrong = bob
        .send(OutgoingMessage::new(
            Conversation::group(place.group),
            edit_body("to the group"),
        ))
        .await;
    assert!(
        wrong.is_err(),
        "an edit of a thread message addressed to the group: {wrong:?}"
    );
    let mut edit = OutgoingMessage::new(Conversation::group(thread), edit_body("bob edited"));
    edit.in_thread = true;
    bob.send(edit).await.expect("edit in the thread");
    let seen = carol
        .event("onModifiedMessage", |d| d["msg"] == json!("bob edited"))
        .await;
    assert_eq!(id_str(&seen["id"]), bobs.to_string(), "{seen}");
    assert_eq!(id_str(&seen["to"]), thread, "{seen}");
    assert_eq!(seen["modifiedInfo"]["operatorId"], json!("bob"), "{seen}");

    // Recalls: the SDK's in the thread reaches our client there; ours (to the group: refused;
    // to the thread: taken) reaches the SDK.
    carol
        .call(
            "recallMessage",
            json!([{ "mid": carols, "to": thread, "chatType": "groupChat", "isChatThread": true }]),
        )
        .await
        .expect("SDK recall in the thread");
    let recall = next_event(bob_events, "recall in the thread", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Recall { message_id, .. } if message_id.to_string() == carols => Some(m.clone()),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_in_thread(&recall, place);
    let recall_body = || Body::Recall {
        message_id: bobs,
        ext: String::new(),
    };
    let wrong = bob
        .send(OutgoingMessage::new(
            Conversation::group(place.group),
            recall_body(),
        ))
        .await;
    assert!(
        wrong.is_err(),
        "a recall of a thread message addressed to the group: {wrong:?}"
    );
    let mut recall = OutgoingMessage::new(Conversation::group(thread), recall_body());
    recall.in_thread = true;
    bob.send(recall).await.expect("recall in the thread");
    let seen = carol
        .event("onRecallMessage", |d| id_str(&d["mid"]) == bobs.to_string())
        .await;
    assert_eq!(id_str(&seen["to"]), thread, "{seen}");
    assert_eq!(seen["from"], json!("bob"), "{seen}");

    // The group's owner recalls another member's thread message, in the thread.
    let sent = carol
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": thread,
                             "msg": "the owner recalls this", "isChatThread": true } }),
        )
        .await;
    let theirs: u64 = id_str(&sent["serverMsgId"]).parse().expect("numeric id");
    let mut recall = OutgoingMessage::new(
        Conversation::group(thread),
        Body::Recall {
            message_id: theirs,
            ext: String::new(),
        },
    );
    recall.in_thread = true;
    bob.send(recall)
        .await
        .expect("the owner's recall in the thread");
    let seen = carol
        .event("onRecallMessage", |d| {
            id_str(&d["mid"]) == theirs.to_string()
        })
        .await;
    assert_eq!(id_str(&seen["to"]), thread, "{seen}");
}
