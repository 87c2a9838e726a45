//! Message reactions through the REST client: add / remove / list round trips, the NOTIFY metas
//! they leave in the users' queues, refusals, and persistence of the reaction state.

use imbridge::network::easemob::events::{parse_reaction_notify, ReactionChange};
use imbridge::network::easemob::jid::{ChatType, Conversation};
use imbridge::network::easemob::proto::{meta::NameSpace, Meta};
use imbridge::network::easemob::rest::{NewGroup, ReactionSummary, RestError};
use imbridge::network::easemob::sandbox::state::{now_ms, Data, HistoryEntry};

use super::harness::{config, Server};

/// Puts a message from `from` in `conv` into the sandbox history; returns its id.
fn message(srv: &Server, from: &str, conv: Conversation) -> String {
    let mut inner = srv.state.lock();
    let id = inner.next_id();
    inner.remember(HistoryEntry {
        id,
        from: from.into(),
        conversation: conv,
        timestamp: now_ms(),
        meta: Vec::new(),
        recalled: false,
    });
    id.to_string()
}

/// The reaction changes queued for `user`, in order.
fn changes(srv: &Server, user: &str) -> Vec<ReactionChange> {
    srv.queued(user)
        .into_iter()
        .filter(|m: &Meta| m.ns == Some(NameSpace::Notify as i32))
        .flat_map(|m| {
            let json = String::from_utf8(m.payload.unwrap_or_default()).expect("utf-8");
            parse_reaction_notify(&json).expect("a reaction notify")
        })
        .collect()
}

fn description(e: &RestError) -> Option<(u16, &str)> {
    match e {
        RestError::Http {
            status,
            description,
            ..
        } => Some((*status, description.as_str())),
        _ => None,
    }
}

fn summary(reaction: &str, users: &[&str], me: bool) -> ReactionSummary {
    ReactionSummary {
        reaction: reaction.into(),
        count: users.len() as u64,
        added_by_me: me,
        users: users.iter().map(|u| u.to_string()).collect(),
    }
}

#[tokio::test]
async fn reaction_round_trip_in_a_single_chat() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    let carol = srv.user("carol").await;
    let m1 = message(&srv, "alice", Conversation::single("bob"));

    bob.add_reaction(&m1, "👍").await.expect("add");
    let added = ReactionChange {
        operator: "bob".into(),
        from: "alice".into(),
        to: "bob".into(),
        chat_type: ChatType::Single,
        message_id: m1.clone(),
        reaction: "👍".into(),
        added: true,
    };
    // Both sides get it, the operator too (the request names no device to leave out).
    assert_eq!(changes(&srv, "alice"), vec![added.clone()]);
    assert_eq!(changes(&srv, "bob"), vec![added.clone()]);
    assert!(changes(&srv, "carol").is_empty());
    // A second add is a no-op for the client (the server refuses it; no notify).
    bob.add_reaction(&m1, "👍").await.expect("idempotent add");
    assert_eq!(changes(&srv, "alice").len(), 1);

    alice.add_reaction(&m1, "👍").await.expect("add");
    alice.add_reaction(&m1, "🎉").await.expect("add");
    let lists = alice
        .reactions(&[m1.as_str(), "12345"], ChatType::Single, None)
        .await
        .expect("list");
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(
        lists[&m1],
        vec![
            summary("👍", &["bob", "alice"], true),
            summary("🎉", &["alice"], true)
        ]
    );
    let lists = bob
        .reactions(&[m1.as_str()], ChatType::Single, None)
        .await
        .expect("list");
    assert_eq!(lists[&m1][1], summary("🎉", &["alice"], false));

    // Remove; a second removal is refused.
    bob.remove_reaction(&m1, "👍").await.expect("remove");
    let err = bob.remove_reaction(&m1, "👍").await.unwrap_err();
    assert_eq!(
        description(&err),
        Some((400, "the user operation is illegal!")),
        "{err:?}"
    );
    alice.remove_reaction(&m1, "🎉").await.expect("remove");
    let got = changes(&srv, "bob");
    let tail: Vec<(&str, &str, bool)> = got
        .iter()
        .skip(1)
        .map(|c| (c.operator.as_str(), c.reaction.as_str(), c.added))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("alice", "👍", true),
            ("alice", "🎉", true),
            ("bob", "👍", false),
            ("alice", "🎉", false)
        ]
    );
    let lists = bob
        .reactions(&[m1.as_str()], ChatType::Single, None)
        .await
        .expect("list");
    assert_eq!(lists[&m1], vec![summary("👍", &["alice"], false)]);

    // Only the two parties may react.
    let err = carol.add_reaction(&m1, "👀").await.unwrap_err();
    assert_eq!(
        description(&err),
        Some((400, "the user operation is illegal!")),
        "{err:?}"
    );
    assert!(carol
        .reactions(&[m1.as_str()], ChatType::Single, None)
        .await
        .expect("list")
        .is_empty());
    // Unknown and malformed message ids, empty and too long reactions.
    let err = bob.add_reaction("12345", "👍").await.unwrap_err();
    assert!(matches!(err, RestError::NotFound(_)), "{err:?}");
    let err = bob.add_reaction("not-an-id", "👍").await.unwrap_err();
    assert_eq!(description(&err).map(|d| d.0), Some(400), "{err:?}");
    let err = bob.add_reaction(&m1, "").await.unwrap_err();
    assert_eq!(description(&err).map(|d| d.0), Some(400), "{err:?}");
    let err = bob.add_reaction(&m1, &"x".repeat(129)).await.unwrap_err();
    assert_eq!(description(&err).map(|d| d.0), Some(400), "{err:?}");
    // Without a token.
    let err = srv.client().add_reaction(&m1, "👍").await.unwrap_err();
    assert!(matches!(err, RestError::Unauthorized(_)), "{err:?}");
    srv.shutdown().await;
}

#[tokio::test]
async fn reactions_in_a_group_limits_and_persistence() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    let carol = srv.user("carol").await;
    let group = alice
        .create_group(&NewGroup {
            name: "Team".into(),
            members: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .expect("create");
    let m = message(&srv, "bob", Conversation::group(&group));

    alice.add_reaction(&m, "ok").await.expect("add");
    let expected = ReactionChange {
        operator: "alice".into(),
        from: "bob".into(),
        to: group.clone(),
        chat_type: ChatType::Group,
        message_id: m.clone(),
        reaction: "ok".into(),
        added: true,
    };
    assert_eq!(changes(&srv, "bob"), vec![expected.clone()]);
    assert_eq!(changes(&srv, "alice"), vec![expected]);
    let err = carol.add_reaction(&m, "ok").await.unwrap_err();
    assert_eq!(
        description(&err),
        Some((400, "The user not in this group!")),
        "{err:?}"
    );
    assert!(changes(&srv, "carol").is_empty());

    // A group list needs the group id, as on the real service.
    let err = bob
        .reactions(&[m.as_str()], ChatType::Group, None)
        .await
        .unwrap_err();
    assert_eq!(
        description(&err),
        Some((400, "groupId can not be null!")),
        "{err:?}"
    );
    let lists = bob
        .reactions(&[m.as_str()], ChatType::Group, Some(&group))
        .await
        .expect("list");
    assert_eq!(lists[&m], vec![summary("ok", &["alice"], false)]);
    // Asking for it as a single chat finds nothing.
    assert!(bob
        .reactions(&[m.as_str()], ChatType::Single, None)
        .await
        .expect("list")
        .is_empty());

    // Lists name the first three users; the count is the total.
    for name in ["d1", "d2", "d3"] {
        let c = srv.user(name).await;
        alice
            .add_group_members(&group, &[name])
            .await
            .expect("add member");
        c.add_reaction(&m, "ok").await.expect("add");
    }
    let lists = bob
        .reactions(&[m.as_str()], ChatType::Group, Some(&group))
        .await
        .expect("list");
    assert_eq!(lists[&m][0].count, 4);
    assert_eq!(lists[&m][0].users, vec!["alice", "d1", "d2"]);

    // At most 20 different reactions per message.
    for i in 1..20 {
        alice.add_reaction(&m, &format!("r{i}")).await.expect("add");
    }
    let err = alice.add_reaction(&m, "r20").await.unwrap_err();
    assert_eq!(
        description(&err),
        Some((400, "The quantity has exceeded the limit!")),
        "{err:?}"
    );

    // The state is part of the snapshot, and older snapshots without it still load.
    let snapshot = serde_json::to_string(&srv.state.lock().data).expect("serialise");
    let back: Data = serde_json::from_str(&snapshot).expect("load");
    let id: u64 = m.parse().expect("id");
    assert_eq!(back.reactions[&id].len(), 20);
    assert_eq!(
        back.reactions[&id][0].users,
        vec!["alice", "d1", "d2", "d3"]
    );
    let old: Data = serde_json::from_str(
        r#"{"users":{},"tokens":{},"groups":{},"files":{},"history":{},"last_id":7}"#,
    )
    .expect("old snapshot");
    assert!(old.reactions.is_empty());
    srv.shutdown().await;
}
