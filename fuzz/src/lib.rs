//! The harnesses behind the fuzz targets in `fuzz_targets/`: each takes the fuzzer's bytes and
//! drives one of imbridge's input paths with them, panicking only where imbridge itself would
//! (a panic is what the fuzzer reports) or where an invariant of that path is broken.
//!
//! The functions live here rather than in the targets so that `examples/gen_seeds.rs`, which
//! writes the seed corpora, builds its inputs in the same format the harness reads.

use std::path::Path;
use std::time::{Duration, Instant};

use imbridge::config::{Config, LoadOptions};
use imbridge::core::connector::MessageContent;
use imbridge::core::convert;
use imbridge::matrix::transaction::parse_transaction;
use imbridge::network::easemob::compression::{parse_header, FrameCompressor, FrameDecompressor};
use imbridge::network::easemob::connector::{
    incoming_content, outgoing_content, translate_message, translate_notify,
};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::events::{decode_meta, parse_reaction_notify, MetaEvent};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{decode_incoming, encode_outgoing, OutgoingMessage};
use imbridge::network::easemob::proto::{
    m_sync, provision, CommNotice, CommSyncDl, CommSyncUl, CommUnreadDl, Logout, MSync, Meta,
    MucBody, Provision, RosterBody, StatisticsBody, Status,
};
use imbridge::network::easemob::session::{Output, Session, SessionConfig};
use prost::Message as _;

/// The app key every harness logs in with.
pub const APP_KEY: &str = "demo#sandbox";
/// The IM user the session harness logs in as.
pub const USER: &str = "alice";
/// The resource the session harness uses.
pub const RESOURCE: &str = "imbridge_dev1";

/// Most operations one session input may run (keeps every input's run short).
const MAX_OPS: usize = 512;

/// Splits off a length-prefixed chunk: a little-endian `u16` length, then that many bytes (or
/// what is left). The format of frames in the session and decoder inputs.
pub fn take_chunk<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let (len, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (data.len(), &data[data.len()..]),
    };
    let n = len.min(rest.len());
    let (chunk, tail) = rest.split_at(n);
    *data = tail;
    chunk
}

/// Appends `bytes` as a chunk [`take_chunk`] reads back (seed generation).
pub fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Everything the bridge does with one decoded meta: the typed event, then the connector's
/// translation into core events (what becomes Matrix events).
fn use_meta(meta: &Meta) {
    match decode_meta(meta) {
        Ok(MetaEvent::Message(m)) => {
            let _ = incoming_content(&m.body_content_or_default());
            let _ = translate_message(USER, m, &Default::default());
        }
        Ok(MetaEvent::Notify(json)) => {
            let _ = parse_reaction_notify(&json);
            let _ = translate_notify(USER, &json);
        }
        _ => {}
    }
    let _ = decode_incoming(meta);
}

/// Extension used by [`use_meta`]: the first content of a message, if it has one.
trait BodyContent {
    fn body_content_or_default(&self) -> imbridge::network::easemob::message::Content;
}

impl BodyContent for imbridge::network::easemob::message::IncomingMessage {
    fn body_content_or_default(&self) -> imbridge::network::easemob::message::Content {
        use imbridge::network::easemob::message::{Body, Content};
        match &self.body {
            Body::Content(c) | Body::Edit { content: c, .. } => c.clone(),
            _ => Content::Text {
                text: String::new(),
            },
        }
    }
}

/// Decodes `bytes` as a plain (uncompressed) msync frame the way the client does, then every
/// payload and meta in it, as far as each decodes.
pub fn decode_msync(bytes: &[u8]) {
    let Ok(msync) = MSync::decode(bytes) else {
        return;
    };
    let payload = msync.payload.as_deref().unwrap_or_default();
    match m_sync::Command::try_from(msync.command.unwrap_or(0)) {
        Ok(m_sync::Command::Provision) => {
            let _ = Provision::decode(payload);
        }
        Ok(m_sync::Command::Unread) => {
            let _ = CommUnreadDl::decode(payload);
        }
        Ok(m_sync::Command::Notice) => {
            let _ = CommNotice::decode(payload);
        }
        Ok(m_sync::Command::Sync) => {
            if let Ok(dl) = CommSyncDl::decode(payload) {
                dl.metas.iter().for_each(use_meta);
            }
            // What the sandbox server reads from a client.
            if let Ok(ul) = CommSyncUl::decode(payload) {
                if let Some(meta) = ul.meta {
                    use_meta(&meta);
                }
            }
        }
        Ok(m_sync::Command::Logout) => {
            let _ = Logout::decode(payload);
        }
        Err(_) => {}
    }
    // The bodies a meta may carry, straight from the fuzzer's bytes too.
    let _ = MucBody::decode(payload);
    let _ = RosterBody::decode(payload);
    let _ = StatisticsBody::decode(payload);
    if let Ok(meta) = Meta::decode(payload) {
        use_meta(&meta);
    }
}

/// The frame decoder alone. The first byte picks the mode:
/// - `0`: the rest is one plain msync frame ([`decode_msync`]);
/// - `1`: the rest is a sequence of chunks, each an LZ4 frame fed to one
///   [`FrameDecompressor`] (history carried across frames) and, when it decodes, to
///   [`decode_msync`];
/// - `2`: the rest is a sequence of plaintext chunks, compressed (independent or streaming
///   blocks by the chunk's first byte) and decompressed: each must come back unchanged.
pub fn easemob_decode(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => decode_msync(rest),
        1 => {
            let mut dec = FrameDecompressor::with_max_original_len(1 << 20);
            for _ in 0..MAX_OPS {
                if rest.is_empty() {
                    break;
                }
                let frame = take_chunk(&mut rest);
                let _ = parse_header(frame);
                let before = dec.memory_usage();
                match dec.decompress(frame) {
                    Ok(plain) => decode_msync(&plain),
                    // A failed frame leaves the decoder as it was.
                    Err(_) => assert_eq!(before, dec.memory_usage()),
                }
            }
        }
        _ => {
            let mut independent = FrameCompressor::new();
            let mut streaming = FrameCompressor::streaming();
            let mut dec_independent = FrameDecompressor::new();
            let mut dec_streaming = FrameDecompressor::new();
            for _ in 0..MAX_OPS {
                if rest.is_empty() {
                    break;
                }
                let plain = take_chunk(&mut rest);
                let frame = independent.compress(plain);
                let back = dec_independent
                    .decompress(&frame)
                    .expect("an independent block decodes");
                assert_eq!(back, plain, "independent block round trip");
                let frame = streaming.compress(plain);
                let back = dec_streaming
                    .decompress(&frame)
                    .expect("a streaming block decodes with the history");
                assert_eq!(back, plain, "streaming block round trip");
            }
        }
    }
}

/// The server side of the session harness: what it must be able to read of the session's
/// frames, and how it compresses its own.
struct Peer {
    /// Decompresses the session's uplink, once LZ4 up was negotiated.
    up: Option<FrameDecompressor>,
    /// Compresses the harness's downlink frames, once LZ4 down was negotiated and the input
    /// asked the harness to compress (else the fuzzer's bytes go to the decoder as they are).
    down: Option<FrameCompressor>,
}

/// Session input flags (the first byte).
#[derive(Debug, Clone, Copy)]
struct Flags {
    /// Negotiate LZ4 for server → client frames.
    lz4_down: bool,
    /// Negotiate LZ4 for client → server frames.
    lz4_up: bool,
    /// With LZ4 down: the harness compresses each frame (the fuzzer writes plaintext).
    harness_compresses: bool,
    /// With the harness compressing: streaming blocks (matches into earlier frames).
    streaming: bool,
}

impl Flags {
    fn from_byte(b: u8) -> Self {
        Self {
            lz4_down: b & 1 != 0,
            lz4_up: b & 2 != 0,
            harness_compresses: b & 4 != 0,
            streaming: b & 8 != 0,
        }
    }
}

/// The Provision reply the harness answers every login with.
pub fn provision_reply(lz4_up: bool, lz4_down: bool) -> Vec<u8> {
    let mut p = Provision {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        resource: Some(RESOURCE.into()),
        auth_token: Some(r#"{"expires_in":4102444800000}"#.into()),
        ..Default::default()
    };
    let dir = match (lz4_up, lz4_down) {
        (true, true) => Some(provision::CompressDirection::Bi),
        (true, false) => Some(provision::CompressDirection::OnlyUp),
        (false, true) => Some(provision::CompressDirection::OnlyDown),
        (false, false) => None,
    };
    if let Some(d) = dir {
        p.protocol_compress_type = vec![provision::CompressType::CompressLz4 as i32];
        p.protocol_compress_direction = Some(d as i32);
    }
    MSync {
        command: Some(m_sync::Command::Provision as i32),
        payload: Some(p.encode_to_vec()),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A fresh session, logged in over a new "websocket"; returns the peer for that socket.
fn login(s: &mut Session, flags: Flags, now: Instant, unix_ms: u64) -> Peer {
    s.on_connected(now, unix_ms);
    let mut peer = Peer {
        up: None,
        down: None,
    };
    drain(s, &mut peer);
    if s.is_ended() {
        return peer;
    }
    let reply = provision_reply(flags.lz4_up, flags.lz4_down);
    s.on_frame(&reply, now)
        .expect("the harness's Provision reply is valid");
    if flags.lz4_up {
        peer.up = Some(FrameDecompressor::new());
    }
    if flags.lz4_down && flags.harness_compresses {
        peer.down = Some(if flags.streaming {
            FrameCompressor::streaming()
        } else {
            FrameCompressor::new()
        });
    }
    drain(s, &mut peer);
    peer
}

/// Takes every output of the session, as the client task would: frames must be readable by
/// the server, messages and notifies go through the connector's translation.
fn drain(s: &mut Session, peer: &mut Peer) {
    for _ in 0..100_000 {
        let Some(out) = s.poll_output() else {
            return;
        };
        match out {
            Output::Transmit(frame) => {
                let plain = match peer.up.as_mut() {
                    Some(dec) => dec
                        .decompress(&frame)
                        .expect("the session's compressed frames decode"),
                    None => frame,
                };
                MSync::decode(plain.as_slice()).expect("the session's frames are valid MSync");
            }
            Output::Event(event) => match *event {
                SessionEvent::Message(m) => {
                    let _ = translate_message(USER, m, &Default::default());
                }
                SessionEvent::Notify { json } => {
                    let _ = translate_notify(USER, &json);
                }
                _ => {}
            },
            Output::Reconnect(_) => {
                // The session is disconnected now; the next input operation may reconnect.
                peer.up = None;
                peer.down = None;
            }
            Output::Close | Output::Checkpoint => {}
        }
    }
    panic!("the session produced more than 100000 outputs in a row");
}

/// The sans-I/O msync session after a login, fed the fuzzer's frames. Input: a flags byte
/// ([`Flags`]: bit 0 LZ4 down, bit 1 LZ4 up, bit 2 the harness compresses the frames, bit 3
/// streaming), then operations, each a byte (mod 5):
/// - `0`: a frame, as a chunk ([`take_chunk`]), compressed by the harness when bit 2 is set;
/// - `1`: the next byte's number of seconds pass, then a tick (heartbeats, timeouts);
/// - `2`: the user sends a text (a chunk, as lossy UTF-8) to `bob`;
/// - `3`: the websocket drops and a new one logs in again;
/// - `4`: the user logs out (later operations find an ended session).
pub fn easemob_session(data: &[u8]) {
    let Some((&flag_byte, mut rest)) = data.split_first() else {
        return;
    };
    let flags = Flags::from_byte(flag_byte);
    let mut now = Instant::now();
    let mut unix_ms: u64 = 1_700_000_000_000;
    let cfg = SessionConfig::new(APP_KEY, USER, "tok", RESOURCE);
    let mut s = Session::new(cfg, now, unix_ms);
    let mut peer = login(&mut s, flags, now, unix_ms);
    for _ in 0..MAX_OPS {
        let Some((&op, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        match op % 5 {
            0 => {
                let bytes = take_chunk(&mut rest);
                let compressed_by_us = peer.down.is_some();
                let frame = match peer.down.as_mut() {
                    Some(c) => c.compress(bytes),
                    None => bytes.to_vec(),
                };
                let result = s.on_frame(&frame, now);
                if compressed_by_us {
                    // Frames our own compressor made always decompress.
                    if let Err(
                        e @ imbridge::network::easemob::session::FrameError::Compression(_),
                    ) = &result
                    {
                        panic!("harness-compressed frame refused: {e}");
                    }
                }
            }
            1 => {
                let secs = rest.first().copied().unwrap_or(0);
                rest = rest.get(1..).unwrap_or_default();
                now += Duration::from_secs(u64::from(secs));
                unix_ms += u64::from(secs) * 1000;
                s.on_tick(now, unix_ms);
            }
            2 => {
                let text = String::from_utf8_lossy(take_chunk(&mut rest)).into_owned();
                let _ = s.send(
                    &OutgoingMessage::text(Conversation::single("bob"), text),
                    now,
                );
            }
            3 => {
                s.on_disconnected(now);
                drain(&mut s, &mut peer);
                peer = login(&mut s, flags, now, unix_ms);
            }
            _ => s.logout("fuzz"),
        }
        drain(&mut s, &mut peer);
        let _ = s.next_deadline();
        let _ = s.unacked();
    }
}

/// An appservice transaction body, as `PUT /_matrix/app/v1/transactions/{txnId}` receives it.
pub fn appservice_txn(data: &[u8]) {
    if let Ok(events) = parse_transaction("fuzz", data) {
        // Every event parsed must survive the debug formatting its log lines use.
        for e in &events {
            let _ = format!("{e:?}");
        }
    }
}

/// The config loader on YAML text: load (with tokens from a fake environment), the semantic
/// checks, and the helpers the bridge calls on a loaded config.
pub fn config_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Token files and the registration file are read from the paths the YAML names; keep the
    // fuzzer away from special files (a FIFO or /dev/zero would block or never end).
    if ["/dev", "/proc", "/sys", "/run", "\\"]
        .iter()
        .any(|p| text.contains(p))
    {
        return;
    }
    let env = |name: &str| match name {
        "IMBRIDGE_AS_TOKEN" if text.len() % 2 == 0 => Some("as_fuzz_token".to_owned()),
        "IMBRIDGE_HS_TOKEN" if text.len() % 3 == 0 => Some("hs_fuzz_token".to_owned()),
        _ => None,
    };
    for require_tokens in [true, false] {
        let opts = LoadOptions {
            require_tokens,
            env: &env,
        };
        match Config::from_yaml_str(
            text,
            "fuzz.yaml",
            Path::new("/nonexistent-imbridge-fuzz"),
            &opts,
        ) {
            Ok(cfg) => {
                let _ = cfg.validate();
                let _ = cfg.bot_mxid();
                let ghost = cfg.ghost_mxid("bob");
                let _ = cfg.remote_id_from_mxid(&ghost);
                let _ = cfg.is_ghost_or_bot(&ghost);
                let _ = cfg.permission_for("@user:example.org");
                let _ = cfg.bridge.format_displayname("Bob");
                let _ = cfg.bridge.ghost_name_suffix();
                let _ = cfg.line_of("homeserver.address");
                for w in cfg.warnings() {
                    let _ = w.display_in("fuzz.yaml");
                }
            }
            Err(errors) => {
                let _ = errors.to_string();
            }
        }
    }
}

/// Resolves pills the way the portal does for the fuzz targets: any `@name:server` is a ghost
/// whose remote id is `name`.
fn fuzz_remote_of(mxid: &str) -> Option<String> {
    let local = mxid.strip_prefix('@')?;
    let (name, server) = local.split_once(':')?;
    (!name.is_empty() && !server.is_empty()).then(|| name.to_owned())
}

/// HTML → text (the network's plain text), Markdown → HTML (the bot's notices), reply fallback
/// stripping and text splitting, on the fuzzer's text. The first byte is the split limit.
pub fn html_to_text(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (plain, mentioned) =
        convert::html_to_text(&text, &|mxid| fuzz_remote_of(mxid).map(|r| format!("@{r}")));
    for m in &mentioned {
        assert!(
            fuzz_remote_of(m).is_some(),
            "a mention the resolver did not give: {m}"
        );
    }
    let _ = imbridge::core::markdown::notice(&text);
    let _ = convert::escape_html(&text);
    let _ = convert::strip_reply_fallback(&text, true);
    check_split(&plain, usize::from(limit));
}

/// `split_text`'s promises: parts no longer than the limit (at least 4), none empty, and their
/// concatenation the text.
fn check_split(text: &str, limit: usize) {
    let parts = convert::split_text(text, limit);
    let max = limit.max(4);
    for p in &parts {
        assert!(!p.is_empty(), "empty part");
        assert!(
            p.len() <= max,
            "part of {} bytes over the limit {max}",
            p.len()
        );
    }
    assert_eq!(parts.concat(), text, "the parts are the text");
}

/// The Matrix → IM text path: event content JSON → the network's text and mentions (as the
/// portal converts it), split at the network's limit, as Easemob message metas, which must
/// decode back to the same text. The first byte picks the edit flag and the split limit.
pub fn matrix_to_im(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Ok(content) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let edit = head & 1 != 0;
    let limit = usize::from(head >> 1) * 16;
    let _ = convert::matrix_mentions(&content);
    if let Some(key) = content["m.relates_to"]["key"].as_str() {
        let _ = convert::normalize_reaction_key(key);
    }
    let Some(converted) = convert::matrix_text_content(&content, edit, &fuzz_remote_of) else {
        return;
    };
    let body = match &converted {
        MessageContent::Text { body, .. } | MessageContent::Emote { body } => body.clone(),
        _ => return,
    };
    let parts = if limit > 0 && body.len() > limit {
        convert::split_text(&body, limit)
    } else {
        vec![body.clone()]
    };
    check_split(&body, limit);
    for (i, part) in parts.iter().enumerate() {
        let piece = match &converted {
            MessageContent::Emote { .. } => MessageContent::Emote { body: part.clone() },
            _ => MessageContent::text(part.clone()),
        };
        let Ok(wire) = outgoing_content(&piece) else {
            panic!("text content refused by the Easemob connector");
        };
        let msg = OutgoingMessage::new(
            Conversation::group("1234"),
            imbridge::network::easemob::message::Body::Content(wire.clone()),
        );
        let meta = encode_outgoing(APP_KEY, USER, 1 + i as u64, &msg);
        let back = decode_incoming(&meta).expect("our own meta decodes");
        assert_eq!(
            back.body_content_or_default(),
            wire,
            "the text survives the wire"
        );
    }
}
