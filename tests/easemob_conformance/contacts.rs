//! Contacts and the block list between the official SDK and our Rust client, as the bridge
//! uses them: the SDK's `addContact` reaches our client as a roster `invited` with its words,
//! our accept reaches the SDK as `onContactAgreed`; the SDK's `deleteContact` reaches us as
//! `deleted`; our request reaches the SDK as `onContactInvited`, its `declineContactInvite`
//! comes back as `refusedByPeer`; our block list stops the SDK's messages until unblocked.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::sdk_login;
use imbridge::network::easemob::events::SessionEvent;

/// The next roster event `op` of our client: its sender and words.
async fn roster(
    events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    op: &str,
) -> (String, String) {
    next_event(events, &format!("roster {op}"), |e| match e {
        SessionEvent::Contact(c) if c.operation_name == op => {
            Some((c.from.clone(), c.reason.clone()))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn contact_requests_answers_and_blocks_with_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob"] {
        sb.user(u, "pw");
    }
    let mut alice = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let rest = bob.rest();

    alice
        .call("addContact", json!(["bob", "hi bob"]))
        .await
        .expect("addContact");
    assert_eq!(
        roster(&mut bob_events, "invited").await,
        ("alice".into(), "hi bob".into())
    );
    rest.accept_contact("alice").await.expect("bob accepts");
    let agreed = alice.event("onContactAgreed", |_| true).await;
    assert_eq!(agreed["from"], json!("bob"), "{agreed}");
    assert_eq!(rest.contacts().await.expect("contacts"), vec!["alice"]);

    alice
        .call("deleteContact", json!(["bob"]))
        .await
        .expect("deleteContact");
    assert_eq!(roster(&mut bob_events, "deleted").await.0, "alice");

    rest.add_contact("alice", "again?").await.expect("request");
    let invited = alice.event("onContactInvited", |_| true).await;
    assert_eq!(
        (&invited["from"], &invited["status"]),
        (&json!("bob"), &json!("again?")),
        "{invited}"
    );
    alice
        .call("declineContactInvite", json!(["bob"]))
        .await
        .expect("declineContactInvite");
    assert_eq!(roster(&mut bob_events, "refusedByPeer").await.0, "alice");

    rest.block_users(&["alice"]).await.expect("block");
    assert_eq!(rest.blocked_users().await.expect("blocks"), vec!["alice"]);
    let blocked = alice
        .request(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "blocked?" } }),
        )
        .await;
    assert!(blocked.is_err(), "a blocked sender is refused: {blocked:?}");
    rest.unblock_user("alice").await.expect("unblock");
    assert!(rest.blocked_users().await.expect("blocks").is_empty());
    alice
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "hello again" } }),
        )
        .await;
    let text = next_event(&mut bob_events, "alice's text", |e| match e {
        SessionEvent::Message(m) if m.from == "alice" => Some(format!("{:?}", m.body)),
        _ => None,
    })
    .await;
    assert!(
        text.contains("hello again"),
        "the blocked message never arrived, the next one did: {text}"
    );
    alice.assert_no_crash();
    alice.exit().await;
}
