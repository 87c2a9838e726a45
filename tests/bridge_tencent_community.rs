//! A Tencent Community with topics on the bridge, end to end: real Synapse, the bridge
//! binary, the Tencent sandbox in this process. The Community is a Matrix space (room type
//! `m.space`, its name) and each topic a room in it (`m.space.child` in the space, canonical
//! `m.space.parent` in the room, the topic's name): bob's topic message reaches the topic's
//! room, a Matrix reply there reaches bob in that topic, a new topic becomes a new child
//! room, a rename renames the room, a deleted topic leaves the space with a notice, and a
//! bridge restart (bob writing in the topic meanwhile) loses and repeats nothing.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::tail;
use common::matrix_user::MatrixUser;
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::sandbox::topics::TopicChange;
use imbridge::network::tencent::session::{GroupAt, SessionEvent};

const BOB_GHOST: &str = "@tencent_bob:localhost";

fn named(name: &str) -> TopicChange {
    TopicChange {
        name: Some(name.into()),
        ..TopicChange::default()
    }
}

/// Waits (20 s at most) until `check` holds, polling.
async fn until<F, Fut>(what: &str, log: &std::path::Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}\n{}", tail(log, 40));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The rooms mx1 joined: all of them (`known`, so an invite is not taken twice) and those
/// not yet claimed as a space or a child (invites arrive in no set order).
#[derive(Default)]
struct Joined {
    known: Vec<String>,
    unclaimed: Vec<String>,
}

/// Claims a joined room that is a space (`space`) or not (`m.room.create` `type`), joining
/// pending invites until there is one; returns it.
async fn join_room(mx: &MatrixUser, joined: &mut Joined, space: bool) -> String {
    let is_space = |create: serde_json::Value| create["type"] == "m.space";
    for i in 0..joined.unclaimed.len() {
        let room = joined.unclaimed[i].clone();
        if is_space(mx.state(&room, "m.room.create").await) == space {
            return joined.unclaimed.remove(i);
        }
    }
    for _ in 0..10 {
        let room = mx.accept_new_invite(&joined.known).await;
        joined.known.push(room.clone());
        if is_space(mx.state(&room, "m.room.create").await) == space {
            return room;
        }
        joined.unclaimed.push(room);
    }
    panic!("no {} room", if space { "space" } else { "child" });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_is_a_space_with_a_room_per_topic() {
    let t0 = Instant::now();
    let (bed, mut bridge) = TencentBed::start("tencent-community", &["alice", "bob"]).await;
    let sb = bed.sb.clone();
    let log = bed.log.clone();
    let gid = sb
        .create_group("Community", "", "Guild", "bob", &["alice".to_owned()])
        .expect("community");
    sb.enable_topics(&gid);
    let general = sb
        .create_topic("bob", &gid, "", &named("general"))
        .expect("topic");
    let mut mx = bed.matrix_user("mx1", "mxpw-Tc51-matrix-secret");
    let (bob, mut bob_events) = bed.im_client("bob", |_| {}).await;
    type Got = Arc<Mutex<Vec<(String, String, Vec<GroupAt>)>>>;
    let got: Got = Arc::default();
    let out = got.clone();
    tokio::spawn(async move {
        while let Some(e) = bob_events.recv().await {
            if let SessionEvent::GroupMessage(m) = e {
                if let Ok(mut v) = out.lock() {
                    v.push((m.group_id.clone(), m.text(), m.mentions.clone()));
                }
            }
        }
    });
    let mgmt = bed.login(&mut mx, "alice").await;
    say!(t0, "mx1 = alice logged in");

    // At login the topic list opens the Community's space and the topic's room in it.
    let mut joined = Joined {
        known: vec![mgmt],
        ..Joined::default()
    };
    let space = join_room(&mx, &mut joined, true).await;
    let room = join_room(&mx, &mut joined, false).await;
    assert_eq!(mx.state(&space, "m.room.name").await["name"], "Guild");
    assert_eq!(mx.state(&room, "m.room.name").await["name"], "general");
    let child = mx.state_of(&space, "m.space.child", &room).await;
    assert_eq!(child["via"][0], "localhost", "{child}");
    let parent = mx.state_of(&room, "m.space.parent", &space).await;
    assert_eq!(parent["canonical"], true, "{parent}");
    say!(t0, "space {space} holds topic room {room}");

    // IM → Matrix in the topic, and Matrix → IM back into the same topic, each with an
    // @-mention (`GroupAtInfo` ↔ `m.mentions`).
    bob.send_group(
        &general,
        vec![Elem::text("hello topic")],
        vec![GroupAt::User("alice".into())],
    )
    .await
    .expect("bob sends in the topic");
    mx.wait_bodies_steady(&room, BOB_GHOST, &["hello topic"], &log)
        .await;
    let hello = mx
        .wait_event(&room, "bob's topic message", |e| {
            e["content"]["body"] == "hello topic"
        })
        .await;
    let hello = mx.event(&room, &hello).await;
    assert_eq!(
        hello["content"]["m.mentions"]["user_ids"],
        serde_json::json!(["@mx1:localhost"]),
        "{hello}"
    );
    mx.send_content(
        &room,
        serde_json::json!({"msgtype": "m.text", "body": "hi from matrix",
            "m.mentions": {"user_ids": [BOB_GHOST]}}),
    )
    .await;
    let l = log.clone();
    until("bob got nothing in the topic", &l, || {
        let got = got.clone();
        async move { got.lock().map(|v| !v.is_empty()).unwrap_or(false) }
    })
    .await;
    let first = got
        .lock()
        .ok()
        .and_then(|v| v.first().cloned())
        .expect("bob's messages");
    assert_eq!(
        first,
        (
            general.clone(),
            "hi from matrix".to_owned(),
            vec![GroupAt::User("bob".into())]
        )
    );
    say!(t0, "topic messages both ways, with @-mentions");

    // A new topic: a new child room of the space.
    let random = sb
        .create_topic("bob", &gid, "", &named("random"))
        .expect("topic");
    let room2 = join_room(&mx, &mut joined, false).await;
    assert_eq!(mx.state(&room2, "m.room.name").await["name"], "random");
    assert_eq!(
        mx.state_of(&room2, "m.space.parent", &space).await["canonical"],
        true
    );
    until("the new room is not in the space", &log, || {
        let (mx, space, room2) = (&mx, &space, &room2);
        async move { mx.state_of(space, "m.space.child", room2).await["via"].is_array() }
    })
    .await;
    say!(t0, "new topic -> child room {room2}");

    // Renamed on the IM side: the room follows.
    sb.modify_topic("bob", &gid, &random, &named("off-topic"))
        .expect("rename");
    until("the topic room was not renamed", &log, || {
        let (mx, room2) = (&mx, &room2);
        async move { mx.state(room2, "m.room.name").await["name"] == "off-topic" }
    })
    .await;
    say!(t0, "rename followed");

    // Deleted: a notice, and the room leaves the space.
    sb.destroy_topics("bob", &gid, std::slice::from_ref(&random))
        .expect("delete");
    mx.wait_body(&room2, |b| b.contains("deleted on the IM side"))
        .await;
    until(
        "the deleted topic's room is still in the space",
        &log,
        || {
            let (mx, space, room2) = (&mx, &space, &room2);
            async move {
                mx.state_of(space, "m.space.child", room2)
                    .await
                    .as_object()
                    .is_some_and(|m| m.is_empty())
            }
        },
    )
    .await;
    say!(t0, "deleted topic left the space");

    // Restart, bob writing in the topic while the bridge is down.
    assert!(bridge.terminate().is_some(), "the bridge stops on SIGTERM");
    bob.send_group(&general, vec![Elem::text("while away")], vec![])
        .await
        .expect("bob sends");
    let mut bridge = bed.restart();
    say!(t0, "bridge restarted");
    mx.wait_bodies_steady(&room, BOB_GHOST, &["hello topic", "while away"], &log)
        .await;
    bob.send_group(&general, vec![Elem::text("after restart")], vec![])
        .await
        .expect("bob sends");
    mx.wait_bodies_steady(
        &room,
        BOB_GHOST,
        &["hello topic", "while away", "after restart"],
        &log,
    )
    .await;
    let got = got.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        got,
        [(
            general.clone(),
            "hi from matrix".to_owned(),
            vec![GroupAt::User("bob".into())]
        )],
        "bob got the Matrix message once, in the topic, nothing repeated"
    );
    say!(t0, "restart lost and repeated nothing");
    bridge.stop();
}
