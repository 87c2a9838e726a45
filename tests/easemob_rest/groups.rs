//! Groups, chat rooms, history and user deletion through the REST client.

use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::proto::{meta::NameSpace, Meta, MucBody};
use imbridge::network::easemob::rest::{NewGroup, RestError};
use imbridge::network::easemob::sandbox::state::{now_ms, HistoryEntry};
use prost::Message as _;
use serde_json::Value;

use super::harness::{config, http_status, Server};

#[tokio::test]
async fn groups() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    let carol = srv.user("carol").await;

    let id = alice
        .create_group(&NewGroup {
            name: "Team".into(),
            description: "the team".into(),
            members: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .expect("create");
    assert!(id.chars().all(|c| c.is_ascii_digit()), "{id}");
    assert_eq!(
        srv.muc_events("bob"),
        vec![(19, "alice".into(), vec!["bob".into()], false)]
    );

    let info = bob.group_info(&id).await.expect("info");
    assert_eq!(info.id, id);
    assert_eq!(info.name, "Team");
    assert_eq!(info.description, "the team");
    assert_eq!(info.owner, "alice");
    assert_eq!(info.member_count, 2);
    assert_eq!(info.members, vec!["alice".to_owned(), "bob".to_owned()]);
    assert_eq!(info.max_users, 200);
    assert!(info.admins.is_empty());

    let joined = bob.joined_groups().await.expect("joined");
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].id, id);
    assert_eq!(joined[0].name, "Team");
    assert_eq!(joined[0].role.as_deref(), Some("member"));
    assert!(carol.joined_groups().await.unwrap().is_empty());

    // Add carol: she is told she joined, bob that she arrived.
    let added = alice.add_group_members(&id, &["carol"]).await.expect("add");
    assert_eq!(added, vec!["carol".to_owned()]);
    assert_eq!(
        srv.muc_events("carol"),
        vec![(19, "alice".into(), vec!["carol".into()], false)]
    );
    assert_eq!(
        srv.muc_events("bob").last().cloned(),
        Some((17, "carol".into(), vec![], false))
    );
    let members = alice.group_members(&id).await.expect("members");
    let roles: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.user.as_str(), m.role.as_str()))
        .collect();
    assert_eq!(
        roles,
        vec![("alice", "owner"), ("bob", "member"), ("carol", "member")]
    );

    // Only managers remove; the owner cannot be removed.
    assert_eq!(
        http_status(&bob.remove_group_members(&id, &["carol"]).await.unwrap_err()),
        Some((403, "forbidden_op"))
    );
    alice
        .remove_group_members(&id, &["carol"])
        .await
        .expect("remove");
    assert_eq!(
        srv.muc_events("carol").last().cloned(),
        Some((10, "alice".into(), vec!["carol".into()], false))
    );
    assert_eq!(
        srv.muc_events("bob").last().cloned(),
        Some((18, "carol".into(), vec![], false))
    );
    assert!(carol.joined_groups().await.unwrap().is_empty());

    alice
        .update_group(&id, Some("Team 2"), Some("renamed"))
        .await
        .expect("update");
    let bob_update = srv.queued("bob").into_iter().last().unwrap();
    let body = MucBody::decode(bob_update.payload.as_deref().unwrap()).unwrap();
    assert_eq!(body.operation, Some(14));
    assert_eq!(
        body.setting.as_ref().and_then(|s| s.name.as_deref()),
        Some("Team 2")
    );
    let ext: Value =
        serde_json::from_str(body.event_info.unwrap().ext.as_deref().unwrap()).unwrap();
    assert_eq!(ext["description"], "renamed");
    assert_eq!(bob.group_info(&id).await.unwrap().name, "Team 2");

    bob.leave_group(&id).await.expect("leave");
    assert_eq!(
        srv.muc_events("alice").last().cloned(),
        Some((18, "bob".into(), vec![], false))
    );
    assert_eq!(
        alice.group_info(&id).await.unwrap().members,
        vec!["alice".to_owned()]
    );
    assert_eq!(
        http_status(&alice.leave_group(&id).await.unwrap_err()),
        Some((403, "forbidden_op"))
    );

    alice.add_group_members(&id, &["bob"]).await.unwrap();
    assert_eq!(
        http_status(&bob.destroy_group(&id).await.unwrap_err()),
        Some((403, "forbidden_op"))
    );
    alice.destroy_group(&id).await.expect("destroy");
    assert_eq!(
        srv.muc_events("bob").last().cloned(),
        Some((1, "alice".into(), vec![], false))
    );
    assert!(matches!(
        alice.group_info(&id).await.unwrap_err(),
        RestError::NotFound(d) if d.contains("does not exist")
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn chat_rooms() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    let id = alice
        .create_chatroom("Lobby", "everyone", &["bob"])
        .await
        .expect("create room");
    let rooms = bob.chatrooms(1, 20).await.expect("list");
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (rooms[0].id.as_str(), rooms[0].name.as_str()),
        (id.as_str(), "Lobby")
    );
    let info = bob.chatroom_info(&id).await.expect("info");
    assert_eq!(info.name, "Lobby");
    assert_eq!(info.description, "everyone");
    assert_eq!(info.owner, "alice");
    assert_eq!(info.members, vec!["alice".to_owned(), "bob".to_owned()]);
    let joined = bob.joined_chatrooms().await.expect("joined");
    assert_eq!(joined.len(), 1);
    assert_eq!(
        (joined[0].id.as_str(), joined[0].name.as_str()),
        (id.as_str(), "Lobby")
    );
    let members = alice.chatroom_members(&id).await.expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(
        srv.muc_events("bob"),
        vec![(19, "alice".into(), vec!["bob".into()], true)]
    );
    // A room is not a group.
    assert!(matches!(
        alice.group_info(&id).await.unwrap_err(),
        RestError::NotFound(_)
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn history_pages() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let _bob = srv.user("bob").await;
    let bob_conv = Conversation::single("bob");
    let empty = alice.history(&bob_conv, None, 20).await.expect("history");
    assert!(empty.metas.is_empty());
    assert!(empty.is_last);

    // Three messages alice -> bob, one bob -> alice, one alice -> carol (not in this chat).
    let mut ids = Vec::new();
    {
        let mut inner = srv.state.lock();
        for (from, to) in [
            ("alice", "bob"),
            ("bob", "alice"),
            ("alice", "carol"),
            ("alice", "bob"),
            ("alice", "bob"),
        ] {
            let id = inner.next_id();
            let meta = Meta {
                id: Some(id),
                timestamp: Some(now_ms()),
                ns: Some(NameSpace::Chat as i32),
                ..Default::default()
            };
            inner.remember(HistoryEntry {
                id,
                from: from.into(),
                conversation: Conversation::single(to),
                timestamp: now_ms(),
                meta: meta.encode_to_vec(),
                recalled: false,
            });
            if to != "carol" {
                ids.push(id);
            }
        }
    }
    let page = alice.history(&bob_conv, None, 3).await.expect("page 1");
    let got: Vec<u64> = page.metas.iter().filter_map(|m| m.id).collect();
    assert_eq!(got, vec![ids[3], ids[2], ids[1]]);
    assert!(!page.is_last);
    let page = alice
        .history(&bob_conv, page.next_key.as_deref(), 3)
        .await
        .expect("page 2");
    let got: Vec<u64> = page.metas.iter().filter_map(|m| m.id).collect();
    assert_eq!(got, vec![ids[0]]);
    assert!(page.is_last);
    srv.shutdown().await;
}

#[tokio::test]
async fn deleting_a_user_cleans_up() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    alice.add_contact("bob", "").await.unwrap();
    bob.accept_contact("alice").await.unwrap();
    let owned = alice
        .create_group(&NewGroup {
            name: "a's".into(),
            members: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let bobs = bob
        .create_group(&NewGroup {
            name: "b's".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token = srv
        .client()
        .password_token("alice", "pw-1")
        .await
        .unwrap()
        .access_token;
    let resp = http
        .delete(format!("{}/rest/sandbox/users/alice", srv.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(bob.contacts().await.unwrap().is_empty());
    assert!(matches!(
        bob.group_info(&owned).await.unwrap_err(),
        RestError::NotFound(_)
    ));
    assert_eq!(
        bob.group_info(&bobs).await.unwrap().members,
        vec!["bob".to_owned()]
    );
    assert_eq!(
        srv.client()
            .password_token("alice", "pw-1")
            .await
            .unwrap_err(),
        RestError::UserNotFound
    );
    srv.shutdown().await;
}
