//! The Easemob connector's threads against the in-process sandbox, on the core contract: alice
//! is a connector login, bob a Rust IM client. bob's thread on a group message reaches alice as
//! `RemoteEvent::Thread` (created, renamed, deleted) in the group's chat, and alice's login joins
//! it, so bob's thread messages reach her with `thread_root` set to the parent message and the
//! group as their chat, his reaction to one too; alice's `ThreadAbility` creates a thread on a
//! message and sends into it, which bob receives with the thread's facts, and edits and
//! recalls it there (addressed to the thread id, as the SDK does).

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::{next_event, TestSandbox, APP_KEY};
use imbridge::core::connector::{
    ChatId, MessageContent, NetworkConnector, RemoteEvent, RemoteMessage, SendOptions, ThreadChange,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::core::login_steps::{NextStep, PendingLogin};
use imbridge::network::easemob::connector::{EasemobConnector, EasemobSettings, PASSWORD_FLOW};
use imbridge::network::easemob::events::{message_thread, SessionEvent};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, OutgoingMessage};
use imbridge::network::easemob::rest::NewGroup;
use tokio::sync::mpsc;

/// The first core event matching `pick` (bounded, 15 s).
async fn next_remote<T>(
    rx: &mut mpsc::UnboundedReceiver<RemoteEvent>,
    what: &str,
    pick: impl Fn(&RemoteEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("events ended while waiting for {what}"));
        if let Some(v) = pick(&ev) {
            return v;
        }
    }
}

fn message_with(text: &str) -> impl Fn(&RemoteEvent) -> Option<RemoteMessage> + '_ {
    move |e| match e {
        RemoteEvent::Message(m) if m.content == MessageContent::text(text) => Some(m.clone()),
        _ => None,
    }
}

fn thread_change(e: &RemoteEvent) -> Option<(ChatId, String, String, ThreadChange)> {
    match e {
        RemoteEvent::Thread {
            chat,
            root,
            thread,
            change,
            ..
        } => Some((chat.clone(), root.clone(), thread.clone(), change.clone())),
        _ => None,
    }
}

fn numeric(id: &str) -> u64 {
    id.parse().expect("numeric message id")
}

async fn wait_member(sb: &TestSandbox, thread: &str, user: &str) {
    for _ in 0..150 {
        let joined = sb
            .state
            .lock()
            .data
            .threads
            .get(thread)
            .is_some_and(|t| t.members.contains(user));
        if joined {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{user} never joined {thread}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_threads_both_ways() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    sb.user("bob", "bob-pw");
    let c = EasemobConnector::new(EasemobSettings {
        app_key: APP_KEY.into(),
        rest_url: sb.rest_url(),
        websocket_url: sb.ws_url(),
    });
    assert!(c.capabilities().threads);
    let mut pending = PendingLogin::begin(&c, PASSWORD_FLOW, "@mx:example.org")
        .await
        .expect("flow");
    pending.fill_all(&["alice", "alice-pw"]).expect("values");
    let data = match pending.advance().await.expect("login") {
        NextStep::Complete { data, .. } => data,
        other => panic!("not complete: {other:?}"),
    };
    let (tx, mut events) = boxed_channel(256);
    let alice = c.connect(&data, tx).await.expect("connects");
    // As the core does: every batch acknowledged at once (the client holds the next pull and
    // its acks until then), the events kept for the checks below.
    let (fwd, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                RemoteEvent::Checkpoint(c) => c.done(),
                other => {
                    let _ = fwd.send(other);
                }
            }
        }
    });
    let (bob, mut bob_events) = sb.rust_client("bob", "bob-pw").await;
    let rest = bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group");
    let root = bob
        .send(OutgoingMessage::text(Conversation::group(&group), "root"))
        .await
        .expect("root")
        .server_id
        .to_string();
    next_remote(&mut rx, "root message", message_with("root")).await;

    // bob's thread: created, joined by alice's login, its messages and reactions.
    // bob's client waits when its event channel is full: keep it drained.
    while bob_events.try_recv().is_ok() {}
    let thread = rest
        .create_thread(&group, &root, "plans")
        .await
        .expect("thread");
    let (chat, at, id, change) = next_remote(&mut rx, "thread created", thread_change).await;
    assert_eq!(
        (chat, at, id.as_str()),
        (ChatId::group(&group), root.clone(), thread.as_str())
    );
    assert_eq!(
        change,
        ThreadChange::Created {
            name: Some("plans".into())
        }
    );
    wait_member(&sb, &thread, "alice").await;
    let mut msg = OutgoingMessage::text(Conversation::group(&thread), "in the thread");
    msg.in_thread = true;
    let in_thread = bob.send(msg).await.expect("thread message").server_id;
    let m = next_remote(&mut rx, "thread message", message_with("in the thread")).await;
    assert_eq!(m.chat, ChatId::group(&group));
    assert_eq!(m.thread_root.as_deref(), Some(root.as_str()));
    rest.add_reaction(&in_thread.to_string(), "👍")
        .await
        .expect("reaction");
    let reaction_chat = next_remote(&mut rx, "reaction", |e| match e {
        RemoteEvent::Reaction { chat, target, .. } if *target == in_thread.to_string() => {
            Some(chat.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(reaction_chat, ChatId::group(&group));
    rest.rename_thread(&thread, "new plans")
        .await
        .expect("renamed");
    let (_, _, _, change) = next_remote(&mut rx, "thread renamed", |e| {
        thread_change(e).filter(|t| matches!(t.3, ThreadChange::Renamed { .. }))
    })
    .await;
    assert_eq!(
        change,
        ThreadChange::Renamed {
            name: "new plans".into()
        }
    );

    // alice's thread, created through the ability, and a message into it.
    let threads = alice.as_threads().expect("thread ability");
    // A message has one thread: "creating" one on bob's root gives bob's thread.
    let again = threads
        .create_thread(&ChatId::group(&group), &root, "again")
        .await
        .expect("the existing thread");
    assert_eq!(again, thread);
    // bob's client waits when its event channel is full: keep it drained.
    while bob_events.try_recv().is_ok() {}
    let root2 = bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "root two",
        ))
        .await
        .expect("root two")
        .server_id
        .to_string();
    let chat = ChatId::group(&group);
    let mine = threads
        .create_thread(&chat, &root2, "from alice")
        .await
        .expect("alice creates a thread");
    rest.join_thread(&mine).await.expect("bob joins");
    let ids = threads
        .send_in_thread(
            &chat,
            &mine,
            &MessageContent::text("alice in it"),
            SendOptions::default(),
        )
        .await
        .expect("sent into the thread");
    assert_eq!(ids.len(), 1);
    let got = next_event(&mut bob_events, "alice's thread message", |e| match e {
        SessionEvent::Message(m) if m.id.to_string() == ids[0] => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.to, mine);
    let facts = message_thread(got.meta_json.as_deref()).expect("thread facts");
    assert_eq!(
        (
            facts.group_id.as_str(),
            facts.message_id.as_str(),
            facts.name.as_str()
        ),
        (group.as_str(), root2.as_str(), "from alice")
    );
    // Her edit and recall of it go to the thread, as the SDK addresses them; addressed to the
    // group (the plain edit ability), the server refuses the edit.
    let to_group = alice
        .as_edit()
        .expect("edits")
        .edit_message(&chat, &ids[0], &MessageContent::text("to the group"))
        .await;
    assert!(to_group.is_err(), "{to_group:?}");
    threads
        .edit_in_thread(&chat, &mine, &ids[0], &MessageContent::text("alice edited"))
        .await
        .expect("edited in the thread");
    let edit = next_event(&mut bob_events, "alice's edit", |e| match e {
        SessionEvent::Message(m) if matches!(&m.body, Body::Edit { message_id, .. } if message_id.to_string() == ids[0]) => {
            Some(m.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(edit.to, mine);
    assert!(message_thread(edit.meta_json.as_deref()).is_some());
    threads
        .recall_in_thread(&chat, &mine, &ids[0])
        .await
        .expect("recalled in the thread");
    let recall = next_event(&mut bob_events, "alice's recall", |e| match e {
        SessionEvent::Message(m) if matches!(&m.body, Body::Recall { message_id, .. } if message_id.to_string() == ids[0]) => {
            Some(m.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(recall.to, mine);
    assert!(
        sb.state
            .lock()
            .data
            .history
            .get(&numeric(&ids[0]))
            .is_some_and(|h| h.recalled),
        "recalled on the server"
    );
    assert!(
        threads
            .create_thread(&ChatId::direct("bob"), &root2, "no")
            .await
            .is_err(),
        "no threads in one-to-one chats"
    );

    // Deleted.
    // bob's client waits when its event channel is full: keep it drained.
    while bob_events.try_recv().is_ok() {}
    rest.destroy_thread(&thread).await.expect("deleted");
    let (chat, at, _, _) = next_remote(&mut rx, "thread deleted", |e| {
        thread_change(e).filter(|t| t.3 == ThreadChange::Deleted)
    })
    .await;
    assert_eq!((chat, at), (ChatId::group(&group), root));
    alice.disconnect(false).await;
}
