//! Conversation-level read state and group invitations (issue 15, items 3 and 4), and
//! contacts (issue 13, item 5), end to end on
//! a real Synapse with the bridge binary, the in-process Easemob sandbox, bob's Rust IM client
//! and a second IM device of alice's. mx1 is logged in as alice, with double puppeting.
//!
//! * **read, Matrix → IM**: mx1's read receipt on an older message sends only that message's
//!   read ack; on the room's newest message it also sends the conversation ack (`CHANNEL_ACK`,
//!   the SDK's `onChannelMessage`), which bob's device receives;
//! * **read, IM → Matrix**: bob's conversation ack moves his ghost's receipt to the room's
//!   newest message; alice's conversation ack on her other device moves mx1's own receipt there
//!   (double puppeting), and the bridge does not send it back to the IM side;
//! * **invitations**: bob invites alice into a group that needs consent: the bot tells mx1 in
//!   the management room with the `accept` / `decline` commands; `accept` joins the group and
//!   opens its portal (bob's next message arrives there); `decline` of a second group leaves
//!   alice out of it; answering without an invitation is refused in the server's words;
//! * **contacts**: bob's contact request is told with his words and `accept` (the only one
//!   waiting, so without an id) makes them contacts; `add-contact <carol's ghost> <words>`
//!   reaches carol with the words and her refusal is told; `block bob` stops his messages,
//!   `blocked` lists him, `unblock bob` lets them through again; bob removing alice is told.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::next_event;
use common::service_env::{Env, Inbox, IM_PASSWORD};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, OutgoingMessage};
use imbridge::network::easemob::rest::NewGroup;

const BOB_GHOST: &str = "@easemob_bob:localhost";
const MX1: &str = "@mx1:localhost";

/// Waits (bounded, 15 s) until `inbox` holds a message from `from` matching `what`.
async fn wait_ack(inbox: &Inbox, from: &str, what: impl Fn(&Body) -> bool) {
    for _ in 0..75 {
        if inbox
            .messages()
            .iter()
            .any(|m| m.from == from && what(&m.body))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no such message from {from}");
}

fn channel_acks(inbox: &Inbox, from: &str) -> usize {
    inbox
        .messages()
        .iter()
        .filter(|m| m.from == from && matches!(m.body, Body::ChannelAck))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_state_invitations_and_contacts() {
    let mut env = Env::start_with_double_puppet("conversations", "").await;
    env.login().await;
    env.open_dm().await;
    let t0 = env.t0;
    let dm = env.dm.clone();

    // Read, Matrix → IM.
    let one = env
        .bob
        .send(OutgoingMessage::text(Conversation::single("alice"), "one"))
        .await
        .expect("bob sends one")
        .server_id;
    env.bob_send("two").await;
    env.mx.wait_body(&dm, |b| b == "two").await;
    let one_event = env.mx.event_id_of(&dm, "one").await;
    let two_event = env.mx.event_id_of(&dm, "two").await;
    env.mx.send_read_receipt(&dm, &one_event).await;
    wait_ack(
        &env.bob_inbox,
        "alice",
        |b| matches!(b, Body::ReadAck { message_id, .. } if *message_id == one),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        channel_acks(&env.bob_inbox, "alice"),
        0,
        "an older message read is not the whole conversation"
    );
    env.mx.send_read_receipt(&dm, &two_event).await;
    wait_ack(&env.bob_inbox, "alice", |b| matches!(b, Body::ChannelAck)).await;
    say!(
        t0,
        "a receipt on the newest message sent the conversation ack"
    );

    // Read, IM → Matrix: bob's conversation ack.
    let reply = env.mx.send_text(&dm, "read me").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "read me", Duration::from_secs(15))
            .await
    );
    env.bob
        .send(OutgoingMessage::new(
            Conversation::single("alice"),
            Body::ChannelAck,
        ))
        .await
        .expect("bob's conversation ack");
    env.mx.wait_read_receipt(&dm, BOB_GHOST, &reply).await;
    say!(t0, "bob's conversation ack moved his ghost's receipt");

    // alice's other device reads the whole conversation: mx1's own receipt moves.
    env.bob_send("three").await;
    env.mx.wait_body(&dm, |b| b == "three").await;
    let three_event = env.mx.event_id_of(&dm, "three").await;
    let (phone, _phone_events) = env
        .sandbox
        .phone_client("alice", IM_PASSWORD, "alice_phone")
        .await;
    let acks_before = channel_acks(&env.bob_inbox, "alice");
    phone
        .send(OutgoingMessage::new(
            Conversation::single("bob"),
            Body::ChannelAck,
        ))
        .await
        .expect("alice's phone reads the conversation");
    env.mx.wait_read_receipt(&dm, MX1, &three_event).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        channel_acks(&env.bob_inbox, "alice"),
        acks_before + 1,
        "the phone's ack reached bob once; the bridge did not send it back"
    );
    say!(t0, "alice's other device moved mx1's own receipt");

    // Invitations.
    let rest = env.bob.rest();
    let club = rest
        .create_group(&NewGroup {
            name: "club".into(),
            invite_need_confirm: true,
            ..Default::default()
        })
        .await
        .expect("club created");
    rest.invite_to_group(&club, &["alice"], "come along")
        .await
        .expect("alice invited");
    let mgmt = env.mgmt.clone();
    let notice = env
        .mx
        .wait_body(&mgmt, |b| b.contains("invites you") && b.contains(&club))
        .await;
    assert!(notice.contains("club"), "{notice}");
    assert!(notice.contains("come along"), "{notice}");
    assert!(notice.contains(&format!("accept {club}")), "{notice}");
    let known = env.mx.joined_rooms().await;
    env.mx.send_text(&mgmt, &format!("accept {club}")).await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with(&format!("Joined group `{club}`")))
        .await;
    let portal = env.mx.accept_new_invite(&known).await;
    let info = rest.group_info(&club).await.expect("club info");
    assert!(info.members.iter().any(|m| m == "alice"), "{info:?}");
    env.bob
        .send(OutgoingMessage::text(Conversation::group(&club), "welcome"))
        .await
        .expect("bob welcomes");
    env.mx.wait_body(&portal, |b| b == "welcome").await;
    say!(t0, "accepted: the club's portal is open");

    let other = rest
        .create_group(&NewGroup {
            name: "other".into(),
            invite_need_confirm: true,
            ..Default::default()
        })
        .await
        .expect("other created");
    rest.invite_to_group(&other, &["alice"], "")
        .await
        .expect("alice invited");
    env.mx
        .wait_body(&mgmt, |b| b.contains("invites you") && b.contains(&other))
        .await;
    env.mx.send_text(&mgmt, &format!("decline {other}")).await;
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with(&format!("Declined the invitation to group `{other}`"))
        })
        .await;
    let info = rest.group_info(&other).await.expect("other info");
    assert!(!info.members.iter().any(|m| m == "alice"), "{info:?}");
    env.mx.send_text(&mgmt, &format!("accept {other}")).await;
    let refused = env
        .mx
        .wait_body(&mgmt, |b| {
            b.contains("could not be accepted as a group invitation")
        })
        .await;
    assert!(refused.contains("no pending invitation"), "{refused}");
    say!(t0, "declined, and no second answer");

    // Contacts.
    rest.add_contact("alice", "let's be friends")
        .await
        .expect("bob asks alice");
    let notice = env
        .mx
        .wait_body(&mgmt, |b| b.contains("asks to be your contact"))
        .await;
    assert!(notice.contains("let's be friends"), "{notice}");
    assert!(notice.contains("accept bob"), "{notice}");
    env.mx.send_text(&mgmt, "accept").await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("`bob` is your contact now"))
        .await;
    assert_eq!(
        rest.contacts().await.expect("bob's contacts"),
        vec!["alice"]
    );
    env.sandbox.user("carol", "carol-pw");
    let (carol, mut carol_events) = env.sandbox.rust_client("carol", "carol-pw").await;
    env.mx
        .send_text(&mgmt, "add-contact @easemob_carol:localhost hello carol")
        .await;
    let (from, words) = next_event(&mut carol_events, "alice's request", |e| match e {
        SessionEvent::Contact(c) if c.operation_name == "invited" => {
            Some((c.from.clone(), c.reason.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!((from.as_str(), words.as_str()), ("alice", "hello carol"));
    carol
        .rest()
        .decline_contact("alice")
        .await
        .expect("carol declines");
    env.mx
        .wait_body(&mgmt, |b| b.contains("declined your contact request"))
        .await;
    env.mx.send_text(&mgmt, "block bob").await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("Blocked `bob`"))
        .await;
    let refused = env
        .bob
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "blocked?",
        ))
        .await;
    assert!(refused.is_err(), "bob is blocked: {refused:?}");
    env.mx.send_text(&mgmt, "blocked").await;
    env.mx.wait_body(&mgmt, |b| b == "Blocked: `bob`").await;
    env.mx.send_text(&mgmt, "unblock bob").await;
    env.mx.wait_body(&mgmt, |b| b == "Unblocked `bob`.").await;
    env.bob_send("unblocked").await;
    env.mx.wait_body(&dm, |b| b == "unblocked").await;
    rest.remove_contact("alice")
        .await
        .expect("bob removes alice");
    env.mx
        .wait_body(&mgmt, |b| b.contains("removed you from their contacts"))
        .await;
    say!(
        t0,
        "contacts: request accepted, own request declined, block, removal"
    );
    assert!(env.stop_and_find_leaks().is_empty());
}
