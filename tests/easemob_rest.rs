//! The Easemob REST client against the in-process sandbox: every `RestClient` method, the
//! error mapping, and the MUC / roster events the REST operations leave in the users' queues.
//! Shared fixtures are in `easemob_rest/harness.rs`, the group / room / history cases in
//! `easemob_rest/groups.rs`, reactions in `easemob_rest/reactions.rs`.

#![cfg(feature = "easemob")]

#[path = "easemob_rest/groups.rs"]
mod groups;
#[path = "easemob_rest/harness.rs"]
mod harness;
#[path = "easemob_rest/reactions.rs"]
mod reactions;

use harness::{config, http_status, Server, APP_KEY};
use imbridge::network::easemob::jid::ChatType;
use imbridge::network::easemob::rest::{http_client, NewGroup, RestClient, RestError};
use imbridge::network::easemob::sandbox::state::now_ms;
use serde_json::{json, Value};

#[tokio::test]
async fn discovery_points_at_the_sandbox() {
    let srv = Server::start(config()).await;
    let hosts = RestClient::discover(&http_client().unwrap(), &srv.url, APP_KEY)
        .await
        .expect("discover");
    assert_eq!(hosts.rest_url, srv.url);
    assert_eq!(
        hosts.websocket_url,
        format!("{}/websocket", srv.url.replace("http://", "ws://"))
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn registration_and_tokens() {
    let srv = Server::start(config()).await;
    let c = srv.client();
    let alice = c
        .register_user("alice", "secret", "Alice")
        .await
        .expect("register");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.nickname, "Alice");
    assert!(alice.activated);
    assert!(!alice.uuid.is_empty());

    let dup = c.register_user("alice", "x", "").await.unwrap_err();
    assert_eq!(
        http_status(&dup),
        Some((400, "duplicate_unique_property_exists")),
        "{dup:?}"
    );
    let bad = c.register_user("Bad Name!", "x", "").await.unwrap_err();
    assert_eq!(
        http_status(&bad),
        Some((400, "illegal_argument")),
        "{bad:?}"
    );

    let grant = c.password_token("alice", "secret").await.expect("token");
    assert_eq!(grant.expires_in, config().token_ttl_ms / 1000);
    assert!(!grant.access_token.is_empty());
    assert!(!format!("{grant:?}").contains(&grant.access_token));
    assert_eq!(
        c.password_token("alice", "wrong").await.unwrap_err(),
        RestError::InvalidPassword
    );
    assert_eq!(
        c.password_token("nobody", "x").await.unwrap_err(),
        RestError::UserNotFound
    );

    let me = c.with_token("alice", &grant.access_token);
    let expires = me.token_expires().await.expect("expires");
    let expected = now_ms() + config().token_ttl_ms;
    assert!(
        expires <= expected && expires + 60_000 > expected,
        "{expires}"
    );
    assert!(me.resources().await.expect("resources").is_empty());
    assert!(matches!(
        me.kick_device("webim_web_1").await.unwrap_err(),
        RestError::NotFound(_)
    ));

    // No token, a bad token, another user's path.
    assert!(matches!(
        c.contacts().await.unwrap_err(),
        RestError::Unauthorized(_)
    ));
    let forged = c.with_token("alice", "YWMt-not-a-token");
    assert!(matches!(
        forged.contacts().await.unwrap_err(),
        RestError::Unauthorized(_)
    ));
    c.register_user("bob", "pw", "").await.unwrap();
    let as_bob = c.with_token("bob", &grant.access_token);
    assert_eq!(
        http_status(&as_bob.contacts().await.unwrap_err()),
        Some((403, "forbidden_op"))
    );

    // Changing the password revokes the tokens.
    me.change_password("secret2")
        .await
        .expect("change password");
    assert!(matches!(
        me.token_expires().await.unwrap_err(),
        RestError::Unauthorized(_)
    ));
    assert_eq!(
        c.password_token("alice", "secret").await.unwrap_err(),
        RestError::InvalidPassword
    );
    c.password_token("alice", "secret2")
        .await
        .expect("new password");
    srv.shutdown().await;
}

#[tokio::test]
async fn upload_and_download() {
    let mut cfg = config();
    cfg.max_upload_bytes = 64 * 1024;
    let srv = Server::start(cfg).await;
    let alice = srv.user("alice").await;
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let file = alice
        .upload(
            ChatType::Single,
            "bob",
            "pic.png",
            "image/png",
            content.clone(),
        )
        .await
        .expect("upload");
    assert_eq!(
        file.url,
        format!("{}/rest/sandbox/chatfiles/{}", srv.url, file.uuid)
    );
    assert_eq!(file.length, 5000);
    assert_eq!(file.content_type, "image/png");
    assert!(!file.secret.is_empty());
    assert!(!format!("{file:?}").contains(&file.secret));

    // With the secret and no token; with a token and no secret.
    let anonymous = srv.client();
    let got = anonymous
        .download(&file.url, Some(&file.secret), 1 << 20)
        .await
        .expect("download with secret");
    assert_eq!(got, content);
    let got = alice
        .download(&file.url, None, 1 << 20)
        .await
        .expect("download with token");
    assert_eq!(got, content);
    // The host of the URL is ignored: the client's own REST host is used (as the SDK does).
    let elsewhere = file.url.replace(&srv.url, "https://a1.easemob.com");
    assert_eq!(
        anonymous
            .download(&elsewhere, Some(&file.secret), 1 << 20)
            .await
            .expect("download rebased"),
        content
    );
    assert!(matches!(
        anonymous
            .download(&file.url, Some("wrong"), 1 << 20)
            .await
            .unwrap_err(),
        RestError::Unauthorized(_)
    ));
    assert!(matches!(
        anonymous
            .download(&file.url, None, 1 << 20)
            .await
            .unwrap_err(),
        RestError::Unauthorized(_)
    ));
    assert_eq!(
        alice.download(&file.url, None, 100).await.unwrap_err(),
        RestError::TooLarge { limit: 100 }
    );
    let missing = format!("{}/rest/sandbox/chatfiles/00000000-0000", srv.url);
    assert!(matches!(
        alice.download(&missing, None, 1 << 20).await.unwrap_err(),
        RestError::NotFound(_)
    ));
    assert!(alice
        .download("https://evil.example/x", None, 10)
        .await
        .is_err());

    // The SDK's download URL form: query secret, thumbnail flag.
    let resp = reqwest::get(format!(
        "{}?em-redirect=true&share-secret={}&thumbnail=true",
        file.url, file.secret
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), content);

    // Over the upload limit.
    let err = alice
        .upload(
            ChatType::Group,
            "1",
            "big.bin",
            "application/octet-stream",
            vec![0; 70 * 1024],
        )
        .await
        .unwrap_err();
    assert_eq!(http_status(&err), Some((413, "file_too_large")), "{err:?}");
    srv.shutdown().await;
}

#[tokio::test]
async fn files_survive_a_restart_with_a_data_dir() {
    let dir = std::env::temp_dir().join(format!("imbridge-rest-{}", rand::random::<u64>()));
    let mut cfg = config();
    cfg.data_dir = Some(dir.clone());
    let srv = Server::start(cfg.clone()).await;
    let alice = srv.user("alice").await;
    let file = alice
        .upload(
            ChatType::Single,
            "alice",
            "a.txt",
            "text/plain",
            b"hello".to_vec(),
        )
        .await
        .expect("upload");
    srv.shutdown().await;

    let srv = Server::start(cfg).await;
    let got = srv
        .client()
        .download(&file.url, Some(&file.secret), 1024)
        .await
        .expect("download after restart");
    assert_eq!(got, b"hello");
    // Users and their passwords are back too.
    srv.client()
        .password_token("alice", "pw-1")
        .await
        .expect("login after restart");
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn profiles() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let _bob = srv.user("bob").await;
    alice
        .set_own_info(Some("Alice & Co"), Some("https://example.org/a.png"))
        .await
        .expect("set info");
    let infos = alice
        .user_info(&["alice", "bob", "nobody"])
        .await
        .expect("user info");
    let a = &infos["alice"];
    assert_eq!(a.nickname.as_deref(), Some("Alice & Co"));
    assert_eq!(a.avatar_url.as_deref(), Some("https://example.org/a.png"));
    assert_eq!(infos["bob"].nickname, None);
    assert!(!infos.contains_key("nobody"));
    srv.shutdown().await;
}

#[tokio::test]
async fn contacts_request_accept_remove() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    let carol = srv.user("carol").await;

    alice.add_contact("bob", "hi bob").await.expect("apply");
    assert_eq!(
        srv.roster_events("bob"),
        vec![(2, "alice".into(), vec!["bob".into()])]
    );
    assert_eq!(
        alice.add_contact("nobody", "").await.unwrap_err(),
        RestError::UserNotFound
    );
    // Nothing to accept from carol.
    assert!(bob.accept_contact("carol").await.is_err());

    bob.accept_contact("alice").await.expect("accept");
    assert_eq!(alice.contacts().await.unwrap(), vec!["bob".to_owned()]);
    assert_eq!(bob.contacts().await.unwrap(), vec!["alice".to_owned()]);
    assert_eq!(
        srv.roster_events("alice"),
        vec![(8, "bob".into(), vec!["alice".into()])]
    );

    carol.add_contact("alice", "").await.unwrap();
    alice.decline_contact("carol").await.expect("decline");
    assert!(carol.contacts().await.unwrap().is_empty());
    assert_eq!(
        srv.roster_events("carol").last().cloned(),
        Some((9, "alice".into(), vec!["carol".into()]))
    );

    alice.remove_contact("bob").await.expect("remove");
    assert!(alice.contacts().await.unwrap().is_empty());
    assert!(bob.contacts().await.unwrap().is_empty());
    assert_eq!(
        srv.roster_events("bob").last().cloned(),
        Some((3, "alice".into(), vec!["bob".into()]))
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn raw_requests_get_easemob_errors() {
    let srv = Server::start(config()).await;
    let alice = srv.user("alice").await;
    let token = srv
        .client()
        .password_token("alice", "pw-1")
        .await
        .unwrap()
        .access_token;
    let http = reqwest::Client::new();
    let base = format!("{}/rest/sandbox", srv.url);

    // Malformed JSON.
    let resp = http
        .post(format!("{base}/users"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "json_parse");
    assert!(body["error_description"].as_str().unwrap().contains("JSON"));
    assert!(body["timestamp"].is_u64());

    // Missing token.
    let resp = http
        .get(format!("{base}/users/alice/contacts/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["error_description"], "Unable to authenticate (OAuth)");

    // Unknown path, other app.
    let resp = http
        .get(format!("{base}/circles/123"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "not_supported_in_sandbox"
    );
    let resp = http
        .get(format!("{}/other/app/users/alice", srv.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http.get(&base).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "not_supported_in_sandbox"
    );

    // A successful answer carries the envelope.
    let resp = http
        .post(format!("{base}/users"))
        .json(&json!([{"username": "u1", "password": "p"}, {"username": "u2", "password": "p"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["action"], "post");
    assert_eq!(body["organization"], "rest");
    assert_eq!(body["applicationName"], "sandbox");
    assert_eq!(body["entities"].as_array().unwrap().len(), 2);
    assert_eq!(body["uri"], format!("{base}/users"));

    // The SDK's metadata form and the joined-groups v3 shape.
    let resp = http
        .put(format!("{base}/metadata/user/alice"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nickname=A%20B&ext=e")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["data"]["nickname"],
        "A B"
    );
    let resp = http
        .put(format!("{base}/metadata/user/alice"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let id = alice
        .create_group(&NewGroup {
            name: "g".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let body: Value = http
        .get(format!(
            "{base}/chatgroups/user/alice?pagenum=1&pagesize=20&needAffiliations=true&needRole=true&version=v3"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!body["uri"].as_str().unwrap().contains("joined_chatgroups"));
    assert_eq!(body["entities"][0]["groupId"], id.as_str());
    assert_eq!(body["entities"][0]["permission"], "owner");
    let body: Value = http
        .get(format!(
            "{base}/users/alice/joined_chatgroups?pagenum=1&pagesize=20&version=v3"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["uri"].as_str().unwrap().contains("joined_chatgroups"));
    assert_eq!(body["data"][0]["id"], id.as_str());
    srv.shutdown().await;
}
