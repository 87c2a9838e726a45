//! Writes the Easemob seed corpora (`seeds/easemob_decode`, `seeds/easemob_session`): frames
//! as the sandbox server sends them (the same protobuf types and LZ4 codec), in the input
//! formats of `imbridge_fuzz::easemob_decode` and `imbridge_fuzz::easemob_session`.
//!
//! `cargo run --example gen_seeds` from `fuzz/` (the text targets' seeds are written by hand).
//! That is a plain build of everything; to reuse the instrumented build of `cargo fuzz build
//! -s none -a` instead, give cargo the same `RUSTFLAGS`, `--target` and `--release` it uses.

// The harness crate is built with sanitizer coverage; libFuzzer provides its hooks.
use libfuzzer_sys as _;
use std::path::Path;

use imbridge::network::easemob::compression::FrameCompressor;
use imbridge::network::easemob::jid;
use imbridge::network::easemob::message::Content;
use imbridge::network::easemob::proto::{
    m_sync, message_body, meta, muc_body, statistics_body, CommNotice, CommSyncDl, CommUnreadDl,
    MSync, MessageBody, Meta, MetaQueue, MucBody, StatisticsBody, Status,
};
use imbridge_fuzz::{put_chunk, APP_KEY, USER};
use prost::Message as _;

fn frame(command: m_sync::Command, payload: Vec<u8>) -> Vec<u8> {
    MSync {
        command: Some(command as i32),
        payload: Some(payload),
        ..Default::default()
    }
    .encode_to_vec()
}

fn text_meta(id: u64, from: &str, text: &str) -> Meta {
    let body = MessageBody {
        r#type: Some(message_body::Type::Chat as i32),
        from: Some(jid::name_only(from)),
        to: Some(jid::name_only(USER)),
        contents: vec![Content::Text { text: text.into() }.to_wire()],
        ..Default::default()
    };
    Meta {
        id: Some(id),
        from: Some(jid::user_jid(APP_KEY, from)),
        to: Some(jid::user_jid(APP_KEY, USER)),
        ns: Some(meta::NameSpace::Chat as i32),
        timestamp: Some(1_700_000_000_000 + id),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

fn group_meta(id: u64) -> Meta {
    let body = MucBody {
        muc_id: Some(jid::conference_jid(APP_KEY, "200123")),
        operation: Some(muc_body::Operation::Join as i32),
        from: Some(jid::user_jid(APP_KEY, "carol")),
        to: vec![jid::user_jid(APP_KEY, USER)],
        ..Default::default()
    };
    Meta {
        id: Some(id),
        ns: Some(meta::NameSpace::Muc as i32),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

fn notify_meta(id: u64) -> Meta {
    let json = r#"{"type":"reaction","data":[{"from":"bob","to":"alice","channel_type":"chat","messageId":"1234567890","ts":1700000000000,"reactions":[{"reactionId":"1a2b","reaction":"👍","count":1,"userList":["alice"],"op":[{"operator":"bob","reactionType":"create"}]}]}]}"#;
    Meta {
        id: Some(id),
        ns: Some(meta::NameSpace::Notify as i32),
        payload: Some(json.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn kick_meta(id: u64) -> Meta {
    let body = StatisticsBody {
        operation: Some(statistics_body::Operation::UserLoginAnotherDevice as i32),
        reason: Some("other device".into()),
        ..Default::default()
    };
    Meta {
        id: Some(id),
        ns: Some(meta::NameSpace::Statistic as i32),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

fn bob_queue() -> imbridge::network::easemob::proto::Jid {
    jid::user_jid(APP_KEY, "bob")
}

fn unread() -> Vec<u8> {
    let dl = CommUnreadDl {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        unread: vec![MetaQueue {
            queue: Some(bob_queue()),
            n: Some(2),
        }],
        timestamp: Some(1_700_000_000_000),
    };
    frame(m_sync::Command::Unread, dl.encode_to_vec())
}

fn notice() -> Vec<u8> {
    let n = CommNotice {
        queue: Some(bob_queue()),
    };
    frame(m_sync::Command::Notice, n.encode_to_vec())
}

fn sync_dl(metas: Vec<Meta>, last: bool) -> Vec<u8> {
    let dl = CommSyncDl {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        next_key: metas.last().and_then(|m| m.id),
        metas,
        queue: Some(bob_queue()),
        is_last: Some(last),
        ..Default::default()
    };
    frame(m_sync::Command::Sync, dl.encode_to_vec())
}

fn ack(meta_id: u64) -> Vec<u8> {
    let dl = CommSyncDl {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        meta_id: Some(meta_id),
        server_id: Some(1_234_567_890),
        timestamp: Some(1_700_000_000_500),
        ..Default::default()
    };
    frame(m_sync::Command::Sync, dl.encode_to_vec())
}

/// The frames of an offline sync and a live message, as the sandbox sends them.
fn conversation() -> Vec<Vec<u8>> {
    vec![
        unread(),
        sync_dl(vec![text_meta(11, "bob", "hello"), group_meta(12)], false),
        sync_dl(vec![], true),
        notice(),
        sync_dl(
            vec![text_meta(13, "bob", "how are you? 👋"), notify_meta(14)],
            false,
        ),
        sync_dl(vec![], true),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn main() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let decode = seeds.join("easemob_decode");
    let session = seeds.join("easemob_session");
    std::fs::create_dir_all(&decode).expect("seed folder");
    std::fs::create_dir_all(&session).expect("seed folder");

    // Decoder, mode 0: one plain frame.
    let mut plain = vec![0];
    plain.extend(sync_dl(
        vec![
            text_meta(11, "bob", "hello"),
            notify_meta(12),
            kick_meta(13),
        ],
        false,
    ));
    write(&decode, "plain_sync_dl.bin", &plain);
    let mut group = vec![0];
    group.extend(sync_dl(vec![group_meta(21)], false));
    write(&decode, "plain_group_event.bin", &group);
    // Mode 1: LZ4 frames, streaming (later frames copy from earlier ones).
    let mut lz4 = vec![1];
    let mut c = FrameCompressor::streaming();
    for f in conversation() {
        put_chunk(&mut lz4, &c.compress(&f));
    }
    write(&decode, "lz4_streaming.bin", &lz4);
    // Mode 2: plaintexts for the round trip.
    let mut round = vec![2];
    for f in conversation() {
        put_chunk(&mut round, &f);
    }
    write(&decode, "roundtrip.bin", &round);

    // Session: flags, then operations (0 frame, 1 tick, 2 send, 3 reconnect, 4 logout).
    let ops = |flags: u8, extra: &[Vec<u8>]| {
        let mut out = vec![flags];
        for f in conversation() {
            out.push(0);
            put_chunk(&mut out, &f);
        }
        // Send a text and have it acked (the first ids after the login's own are these).
        out.push(2);
        put_chunk(&mut out, "hi bob".as_bytes());
        for id in 1..=4 {
            out.push(0);
            put_chunk(&mut out, &ack(1_700_000_000_000_000 + id));
        }
        // 31 s: a heartbeat; 20 s more without an answer: the link is dead.
        out.extend([1, 31, 1, 20]);
        out.push(3);
        for f in extra {
            out.push(0);
            put_chunk(&mut out, f);
        }
        out
    };
    write(&session, "plain.bin", &ops(0, &[]));
    // LZ4 both ways, the harness compressing with streaming blocks.
    write(&session, "lz4_streaming.bin", &ops(0b1111, &[]));
    // LZ4 down with the fuzzer's bytes going to the decompressor as they are.
    let mut raw = vec![0b0001, 0];
    put_chunk(
        &mut raw,
        &FrameCompressor::new().compress(&sync_dl(vec![text_meta(31, "bob", "raw")], true)),
    );
    write(&session, "lz4_raw_frames.bin", &raw);
    // Kicked by another device, then a logout.
    write(
        &session,
        "kicked.bin",
        &ops(0, &[sync_dl(vec![kick_meta(41)], false), vec![]]),
    );
    println!("seeds written to {}", seeds.display());
}
