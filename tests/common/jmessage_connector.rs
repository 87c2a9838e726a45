//! The JMessage connector driven as the core drives it, for connector-level tests: a
//! connector for a sandbox, the `password` flow, and waits on a login's event stream.

use std::time::Duration;

use imbridge::config::Secret;
use imbridge::core::connector::{
    ChatId, LoginData, LoginFailure, LoginInput, LoginState, LoginStep, MediaKind, MessageContent,
    NetworkConnector, NetworkLogin, RemoteEvent, RemoteEventReceiver, RemoteMedia, RemoteMessage,
};
use imbridge::network::jmessage::connector::{JmessageConnector, JmessageSettings};

use super::jmessage::{JmSandbox, APP_KEY};

/// A connector for `sb`'s app with `master_secret` (short reconnect backoff).
pub fn connector(sb: &JmSandbox, master_secret: &str) -> JmessageConnector {
    JmessageConnector::new(JmessageSettings {
        app_key: APP_KEY.into(),
        master_secret: Secret::new(master_secret),
        websocket_url: sb.url.clone(),
        report_url: imbridge::config::jmessage_report_url_for(&sb.url),
        backoff: Some((Duration::from_millis(50), Duration::from_millis(400))),
    })
}

/// Runs the password flow with `user` / `password`.
pub async fn login(
    c: &JmessageConnector,
    user: &str,
    password: &str,
) -> Result<LoginData, LoginFailure> {
    let mut p = c.create_login("password")?;
    let step = p.start().await?;
    assert!(matches!(step, LoginStep::UserInput { .. }), "{step:?}");
    let input: LoginInput = [("username", user), ("password", password)]
        .into_iter()
        .collect();
    match p.submit_user_input(input).await? {
        LoginStep::Complete { data, .. } => Ok(data),
        other => panic!("not complete: {other:?}"),
    }
}

/// The login's next event (at most 10 s away).
pub async fn next_event(events: &mut RemoteEventReceiver) -> RemoteEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

/// The login's next message, passing over other events.
pub async fn next_message(events: &mut RemoteEventReceiver) -> RemoteMessage {
    loop {
        if let RemoteEvent::Message(m) = next_event(events).await {
            return m;
        }
    }
}

/// Waits for the end of the login's catch-up.
pub async fn wait_catch_up(events: &mut RemoteEventReceiver) {
    loop {
        if let RemoteEvent::CatchUpDone = next_event(events).await {
            return;
        }
    }
}

/// The login's next state change.
pub async fn wait_state(events: &mut RemoteEventReceiver) -> LoginState {
    loop {
        if let RemoteEvent::State(s) = next_event(events).await {
            return s;
        }
    }
}

/// A PNG (7×5 in its header) followed by `extra` filler bytes.
pub fn png(extra: usize) -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x07\x00\x00\x00\x05"
        .iter()
        .copied()
        .chain((0..extra).map(|i| (i % 253) as u8))
        .collect()
}

/// Uploads `picture` as `shot.png` through `session` for `chat`; the image message to send,
/// with `caption`.
pub async fn uploaded_image(
    session: &dyn NetworkLogin,
    chat: &ChatId,
    picture: Vec<u8>,
    caption: &str,
) -> MessageContent {
    let url = session
        .as_media()
        .expect("uploads")
        .upload_media(chat, picture, "shot.png", "image/png")
        .await
        .expect("uploaded");
    MessageContent::Media {
        media: RemoteMedia {
            kind: MediaKind::Image,
            url,
            name: "shot.png".into(),
            mime: Some("image/png".into()),
            size: None,
            width: None,
            height: None,
            duration_ms: None,
            thumbnail: None,
        },
        caption: Some(caption.into()),
    }
}
