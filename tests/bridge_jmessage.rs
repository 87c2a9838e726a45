//! The bridge on JiGuang JMessage, end to end: real Synapse, the bridge binary with
//! `network.type: jmessage`, the JMessage sandbox in this process and our Rust JMessage
//! client as the other party (bob).
//!
//! * `jmessage_dm_both_ways_restart_and_sigkill`: a Matrix user logs in through the bot
//!   (`login alice <password>`, the message redacted); bob's text opens a DM portal, its
//!   `extras` in the event content; the Matrix reply reaches bob, with the extras its content
//!   named; texts bob sends while the bridge is stopped arrive once after
//!   the restart (the offline hand-over, `sync_conversation`); a link the server drops comes
//!   back with a Matrix text written meanwhile sent once; a SIGKILL in the middle of a
//!   burst from bob loses and repeats nothing (pushes are receipted only after the core stored
//!   them); Matrix → JMessage still works and bob got every Matrix text once. Neither the
//!   password nor the masterSecret reaches the log.
//! * `jmessage_register_wrong_password_and_password_change`: `register` through the bot —
//!   a taken name and an invalid one refused in words, a new account registered (the message
//!   redacted) and logged in; a wrong password refused in words; `pm` of an unknown user
//!   refused in words; a send JMessage refuses (bob blacklisted the sender) gets a
//!   FAIL_PERMANENT send status saying so; a password changed on the
//!   server ends the login with bad credentials, told in the management room.
//! * `jmessage_group_portal_both_ways_and_members` (`bridge_jmessage/groups.rs`): bob (our
//!   Rust client) creates a group with alice and dave in it and writes; alice's and dave's
//!   Matrix users (two logins) get one group portal named after the group with bob's text
//!   from bob's ghost, once; each Matrix reply reaches bob once as a group message from its
//!   author; carol added by bob joins the room as a ghost, and leaves it when bob removes her;
//!   a text bob retracts is redacted in the room.
//! * `jmessage_group_management_from_matrix_and_offline_events` (`bridge_jmessage/admin.rs`):
//!   `create-group "plan" bob` from the bot makes a JMessage group owned by alice with bob in
//!   it and its portal; the room's name and topic become the group's name and description; a
//!   name over 64 bytes is refused in words and the room shows the group's name again;
//!   inviting carol's ghost adds carol, kicking it removes her (each change checked in the
//!   sandbox or by bob); a text bob retracts and carol, whom he adds, while the bridge is
//!   stopped are a redaction and a joined ghost after the restart (`sync_event`); with
//!   `bridge.leave_on_part`, leaving the room leaves the group (bob owns it then).
//! * `jmessage_media_receipts_recall_from_matrix_and_profiles` (`bridge_jmessage/media.rs`):
//!   bob's ghost is named after his nickname and has his avatar (same bytes); bob's image,
//!   file and voice message become `m.image` (with its size), `m.file` and `m.audio` (with its
//!   duration) from his ghost with the same bytes; a Matrix `m.image` reaches bob as a
//!   JMessage image (caption as a text after it), an `m.file` and an `m.audio` as JMessage
//!   files, bytes compared; alice's Matrix read receipt reaches bob as `receipt_change`, bob's
//!   read report becomes his ghost's read receipt; alice's read receipt in a group reaches
//!   bob, and bob's read report in the group becomes his ghost's receipt there (`msg_unread_list`
//!   names him); images both ways in a group; a Matrix redaction of alice's text retracts it for bob
//!   in the DM and in a group; the ghost follows bob's new nickname once a message of his
//!   carries a newer profile time.
//! * `jmessage_no_disturb_both_ways` (`bridge_jmessage/notify.rs`, double puppeting,
//!   `settings_sync_secs: 1`): alice's second JMessage device puts bob's chat on no-disturb:
//!   mx1's DM room gets Element's mute rule; mx1 deletes it: the no-disturb is off; mx1 mutes
//!   the room: it is on again; the device's account-wide no-disturb is `.m.rule.master`, and
//!   mx1 turning that off turns it off.
//! * `jmessage_friends_block_and_pm_checks_the_user` (`bridge_jmessage/contacts.rs`): bob's
//!   friend invitation is told in the management room with his words, and `accept bob` makes
//!   them friends on JMessage, and `sync` then opens a DM with bob's ghost; `search BO`
//!   finds bob among the friends, `search dave` dave by his exact name, `search zz` nobody; bob removing alice and dave refusing `add-contact dave …` are
//!   told, as is dave accepting a second one; `remove-contact dave` ends it on JMessage; `block bob` blacklists him (his texts refused, 880207), `blocked` lists him,
//!   `unblock bob` undoes it; `pm nobody42` answers "There is no IM user" and opens nothing,
//!   `pm dave` opens a DM with dave's ghost.
//! * `jmessage_blacklist_is_matrix_ignored_users` (`bridge_jmessage/contacts.rs`, double
//!   puppeting): alice's phone blacklisting bob puts bob's ghost in mx1's ignored users next
//!   to a Matrix user already there; unignoring him takes him off the blacklist, ignoring him
//!   puts him back.
//! * `jmessage_cross_app_users_are_ghosts_of_their_own` (`bridge_jmessage/cross_app.rs`): the
//!   sandbox serves a second app; its `bob` writing alice opens a DM with the ghost
//!   `@jmessage_bob/<appkey>`, and the Matrix reply reaches him, not our app's `bob`, whose
//!   text opens another DM with `@jmessage_bob` (and `pm bob/<our appkey>` finds it);
//!   `resolve-identifier bob/<appkey>` names the other ghost and DM; in a group of our app with the other app's
//!   bob, his text comes from his ghost, who joins the room, and the room's text reaches him.
//! * `jmessage_a_crash_after_the_server_took_a_message_does_not_send_it_again`
//!   (`bridge_jmessage/send_once.rs`): the sandbox delivers a Matrix text to bob but withholds
//!   its answer; the bridge is SIGKILLed, restarted, replays the event, finds the message in the
//!   Report v2 under its transaction id and does not send it again: bob has it once.

#![cfg(feature = "jmessage")]

#[macro_use]
mod common;
#[path = "bridge_jmessage/admin.rs"]
mod admin;
#[path = "bridge_jmessage/contacts.rs"]
mod contacts;
#[path = "bridge_jmessage/cross_app.rs"]
mod cross_app;
#[path = "bridge_jmessage/groups.rs"]
mod groups;
#[path = "bridge_jmessage/media.rs"]
mod media;
#[path = "bridge_jmessage/notify.rs"]
mod notify;
#[path = "bridge_jmessage/send_once.rs"]
mod send_once;

use std::time::{Duration, Instant};

use common::bridge::{assert_log_free_of, registration_value, tail};
use common::bridge_rig::BridgeRig;
use common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget, MASTER_SECRET};
use imbridge::network::jmessage::connector::EXTRAS_FIELD;
use serde_json::json;

const ALICE_PW: &str = "alice-Pw-5519-secret";
const BOB_PW: &str = "bob-pw-2210";
const DAVE_PW: &str = "dave-pw-7730";
/// Texts in the burst the bridge is SIGKILLed in.
const BURST: usize = 30;

/// The bodies of `all` that start with `prefix`.
fn numbered(all: &[String], prefix: &str) -> Vec<String> {
    all.iter()
        .filter(|b| b.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_dm_both_ways_restart_and_sigkill() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-dm", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let bob_ghost = ghost("bob");
    say!(t0, "Synapse, the bridge and bob up");

    let login = rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    rig.assert_redacted(&login, "login").await;
    say!(t0, "mx1 logged in as alice");

    // JMessage → Matrix: bob's text opens the DM portal; its extras come in the content.
    bob.client
        .send_text("alice", "hello alice", Some(json!({"k": "v"})))
        .await
        .expect("bob sends");
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &bob_ghost, &["hello alice"], &rig.log)
        .await;
    let hello = rig
        .mx
        .messages(&dm)
        .await
        .into_iter()
        .find(|(_, _, c)| c["body"] == "hello alice")
        .expect("bob's text in the room");
    assert_eq!(hello.2[EXTRAS_FIELD], json!({"k": "v"}), "{}", hello.2);
    say!(t0, "DM portal {dm} has bob's text with its extras");

    // Matrix → JMessage, a client's extras field with it.
    rig.mx
        .send_content(
            &dm,
            json!({"msgtype": "m.text", "body": "hi bob", EXTRAS_FIELD: {"from": "matrix"}}),
        )
        .await;
    let got = bob
        .wait_message(
            |m| m.text.as_deref() == Some("hi bob"),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|| panic!("bob got nothing\n{}", tail(&rig.log, 40)));
    let extras = got.extras.unwrap_or_default();
    assert_eq!(extras["from"], "matrix", "{extras}");
    assert!(extras["imbridge_txn"].is_string(), "{extras}");
    say!(t0, "bob got the Matrix text with its extras");

    // Matrix → JMessage: a location as Element shares it.
    rig.mx
        .send_content(
            &dm,
            json!({"msgtype": "m.location", "body": "Eiffel tower",
                "geo_uri": "geo:48.8584,2.2945;u=10"}),
        )
        .await;
    let got = bob
        .wait_message(|m| m.msg_type == "location", Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("bob got no location\n{}", tail(&rig.log, 40)));
    assert_eq!(
        (
            &got.body["latitude"],
            &got.body["longitude"],
            &got.body["label"]
        ),
        (&json!(48.8584), &json!(2.2945), &json!("Eiffel tower")),
        "{:?}",
        got.body
    );
    say!(t0, "bob got the Matrix location");

    // Matrix → JMessage: a reply as Element sends it; JMessage has no quotes, so the text
    // starts with the quoted message.
    let hello_event = rig.mx.event_id_of(&dm, "hello alice").await;
    rig.mx
        .send_content(
            &dm,
            json!({"msgtype": "m.text",
                "body": format!("> <{bob_ghost}> hello alice\n\nhello bob"),
                "format": "org.matrix.custom.html",
                "formatted_body": format!("<mx-reply><blockquote><a href=\"https://matrix.to/#/{dm}/{hello_event}\">In reply to</a> <a href=\"https://matrix.to/#/{bob_ghost}\">{bob_ghost}</a><br>hello alice</blockquote></mx-reply>hello bob"),
                "m.relates_to": {"m.in_reply_to": {"event_id": hello_event}}}),
        )
        .await;
    let got = bob
        .wait_message(
            |m| m.text.as_deref().is_some_and(|t| t.ends_with("hello bob")),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|| panic!("bob got no reply\n{}", tail(&rig.log, 40)));
    assert_eq!(got.text.as_deref(), Some("> bob: hello alice\nhello bob"));
    say!(
        t0,
        "bob got the Matrix reply with the quoted message as its first line"
    );

    // Stopped: what bob sends meanwhile waits on the server and comes at the next login.
    assert!(
        rig.bridge.terminate().is_some(),
        "the bridge stops on SIGTERM"
    );
    for text in ["while away 1", "while away 2"] {
        bob.send("alice", text).await;
    }
    rig.restart();
    rig.mx
        .wait_bodies_steady(
            &dm,
            &bob_ghost,
            &["hello alice", "while away 1", "while away 2"],
            &rig.log,
        )
        .await;
    say!(t0, "the offline texts arrived once after the restart");

    // The server drops the bridge's link: it reconnects, and a Matrix text written meanwhile
    // waits in the outbox and goes out once.
    assert_eq!(sb.state.disconnect_user("alice"), 1, "alice's one session");
    rig.mx.send_text(&dm, "during the drop").await;
    bob.send("alice", "after the drop").await;
    rig.mx
        .wait_bodies_steady(
            &dm,
            &bob_ghost,
            &[
                "hello alice",
                "while away 1",
                "while away 2",
                "after the drop",
            ],
            &rig.log,
        )
        .await;
    assert!(
        bob.wait("alice", |t| t == "during the drop", Duration::from_secs(20))
            .await,
        "the text written during the drop never reached bob\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "reconnected after a dropped link; both ways once");

    // SIGKILL in the middle of a burst from bob.
    let prefix = "burst ";
    let sender = {
        let client = bob.client.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..BURST {
                if let Err(e) = client.send_text("alice", &format!("burst {i}"), None).await {
                    failed.push(format!("burst {i}: {e}"));
                }
            }
            failed
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    while Instant::now() < deadline {
        before = numbered(&rig.mx.all_bodies(&dm).await, prefix);
        if before.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        before.len() >= 3,
        "the burst did not start arriving: {before:?}\n{}",
        tail(&rig.log, 30)
    );
    rig.bridge.kill();
    say!(t0, "{} of the burst in the room: SIGKILL", before.len());
    let failed = tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("bob's burst finishes")
        .expect("sender task");
    assert!(failed.is_empty(), "bob's sends failed: {failed:?}");
    let at_kill = numbered(&rig.mx.all_bodies(&dm).await, prefix);
    rig.restart();
    let want: Vec<String> = (0..BURST).map(|i| format!("burst {i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && numbered(&rig.mx.all_bodies(&dm).await, prefix).len() < BURST
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = numbered(&rig.mx.all_bodies(&dm).await, prefix);
    assert_eq!(
        got,
        want,
        "after the SIGKILL ({} in the room then): lost, repeated or reordered\n{}",
        at_kill.len(),
        tail(&rig.log, 40)
    );
    say!(
        t0,
        "all {BURST} burst texts once and in order ({} before the kill)",
        at_kill.len()
    );

    // Matrix → JMessage after the crash; bob got each Matrix text once.
    rig.mx.send_text(&dm, "after the kill").await;
    assert!(
        bob.wait("alice", |t| t == "after the kill", Duration::from_secs(30))
            .await,
        "Matrix → JMessage does not work after the restart\n{}",
        tail(&rig.log, 40)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        bob.texts_from("alice"),
        [
            "hi bob",
            "> bob: hello alice\nhello bob",
            "during the drop",
            "after the kill"
        ]
    );

    rig.bridge.stop();
    let as_token = registration_value(&rig.reg, "as_token");
    assert_log_free_of(
        &rig.log,
        &[
            ("alice's password", ALICE_PW),
            ("the masterSecret", MASTER_SECRET),
            ("as_token", &as_token),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_register_wrong_password_and_password_change() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("bob", BOB_PW), ("carol1", "carol-pw-1")]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-register", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    say!(t0, "Synapse, the bridge and bob up");

    // A wrong password, in words.
    rig.command("login carol1 not-her-password").await;
    let refused = rig
        .mx
        .wait_body(&rig.mgmt, |b| {
            b.contains("wrong JMessage username or password")
        })
        .await;
    say!(t0, "wrong password: {refused}");

    // `register`: taken and invalid names refused in words.
    rig.command("register carol1 some-pw-1").await;
    let taken = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Registration failed"))
        .await;
    assert!(taken.contains("carol1 is taken"), "{taken}");
    rig.command("register _x some-pw-1").await;
    let invalid = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("cannot be used"))
        .await;
    assert!(invalid.contains("4 to 128"), "{invalid}");
    say!(t0, "taken and invalid names refused");

    let new_pw = "newcomer-Pw-4471";
    let registered = rig.command(&format!("register newcomer {new_pw}")).await;
    let done = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as newcomer."))
        .await;
    assert!(done.contains("Registered newcomer"), "{done}");
    rig.assert_redacted(&registered, "register").await;
    assert!(sb.state.has_user("newcomer"), "the sandbox has the account");
    say!(t0, "registered and logged in as newcomer");

    // The new login works: bob's text opens a portal.
    bob.send("newcomer", "welcome").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &ghost("bob"), &["welcome"], &rig.log)
        .await;

    // `pm` of a user JMessage does not have is refused in words (no room).
    rig.command("pm nobody42").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b == "There is no IM user `nobody42`.")
        .await;

    // A send JMessage refuses (bob blacklisted newcomer): a FAIL_PERMANENT send status
    // saying why in words.
    bob.client
        .set_blacklisted("newcomer", true)
        .await
        .expect("bob blacklists newcomer");
    let refused = rig.mx.send_text(&dm, "anyone there?").await;
    rig.mx
        .wait_event(&dm, "a FAIL_PERMANENT send status", |e| {
            e["type"] == "com.beeper.message_send_status"
                && e["content"]["m.relates_to"]["event_id"] == refused.as_str()
                && e["content"]["status"] == "FAIL_PERMANENT"
                && e["content"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("the recipient has blocked this account"))
        })
        .await;
    say!(
        t0,
        "pm nobody42 refused; a send to bob, who blocked newcomer: FAIL_PERMANENT, in words"
    );

    // The password changed on the server: the login ends with bad credentials.
    assert!(sb.state.set_password("newcomer", "changed-Pw-0001"));
    let told = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("password was changed"))
        .await;
    assert!(told.starts_with("❌ Logged out of newcomer"), "{told}");
    say!(t0, "password change told: {told}");

    rig.bridge.stop();
    assert_log_free_of(
        &rig.log,
        &[
            ("the registered password", new_pw),
            ("the masterSecret", MASTER_SECRET),
        ],
    );
}
