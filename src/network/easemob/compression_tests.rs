//! Tests of the LZ4 frame codec: hand-checked bytes, history across frames, errors, and
//! property tests (arbitrary input never panics, data round-trips).

use super::*;
use proptest::prelude::*;

/// Chat-like traffic: every frame repeats most of the earlier ones.
fn chatty_frames(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            format!(
                "{{\"from\":\"alice{}\",\"to\":\"bob@easemob.com/webim_{}\",\"type\":\"chat\",\
                 \"msg\":\"hello number {} from the test suite\",\"ext\":{{}}}}",
                i % 3,
                i % 5,
                i
            )
            .into_bytes()
        })
        .collect()
}

fn frame_of(original: &[u8], block: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    write_varint(original.len(), &mut frame).unwrap();
    frame.extend_from_slice(&crc32fast::hash(original).to_be_bytes());
    frame.extend_from_slice(block);
    frame
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for history tests.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn varint_boundaries() {
    for (value, bytes) in [
        (0usize, vec![0x00]),
        (0x22, vec![0x22]),
        (127, vec![0x7F]),
        (128, vec![0x80, 0x01]),
        (300, vec![0xAC, 0x02]),
        (16_383, vec![0xFF, 0x7F]),
        (16_384, vec![0x80, 0x80, 0x01]),
        (MAX_ORIGINAL_LEN, vec![0xFF, 0xFF, 0xFF, 0x7F]),
    ] {
        let mut out = Vec::new();
        write_varint(value, &mut out).unwrap();
        assert_eq!(out, bytes, "encoding {value}");
        out.extend_from_slice(b"tail");
        assert_eq!(read_varint(&out).unwrap(), (value, bytes.len()));
    }
    let mut out = Vec::new();
    assert!(matches!(
        write_varint(MAX_ORIGINAL_LEN + 1, &mut out),
        Err(CompressionError::TooLong { .. })
    ));
    assert!(out.is_empty());
    // Non-minimal but within 4 bytes: accepted.
    assert_eq!(read_varint(&[0x85, 0x80, 0x00]).unwrap(), (5, 3));
    assert!(matches!(
        read_varint(&[]),
        Err(CompressionError::TruncatedVarint)
    ));
    assert!(matches!(
        read_varint(&[0x80, 0x80]),
        Err(CompressionError::TruncatedVarint)
    ));
    assert!(matches!(
        read_varint(&[0x80, 0x80, 0x80, 0x80]),
        Err(CompressionError::VarintTooLong)
    ));
    assert!(matches!(
        read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        Err(CompressionError::VarintTooLong)
    ));
}

#[test]
fn small_frame_bytes_by_hand() {
    // "hello": varint 5, CRC-32("hello") = 0x3610a686 big-endian, then a literal-only block
    // (token 0x50 = 5 literals, no match).
    let expected = [
        0x05, 0x36, 0x10, 0xA6, 0x86, 0x50, b'h', b'e', b'l', b'l', b'o',
    ];
    assert_eq!(crc32fast::hash(b"hello"), 0x3610_A686);
    assert_eq!(FrameCompressor::new().compress(b"hello"), expected);
    assert_eq!(FrameCompressor::streaming().compress(b"hello"), expected);
    assert_eq!(
        FrameDecompressor::new().decompress(&expected).unwrap(),
        b"hello"
    );
    let (header, block) = parse_header(&expected).unwrap();
    assert_eq!(
        header,
        FrameHeader {
            original_len: 5,
            crc: 0x3610_A686,
            header_len: 5
        }
    );
    assert_eq!(block, &expected[5..]);
}

#[test]
fn hand_built_block_with_match() {
    // "abcd" x 5: literals "abcd", match offset 4 length 11, then last literals "dabcd".
    let original = b"abcdabcdabcdabcdabcd";
    let block = [
        0x47, b'a', b'b', b'c', b'd', 0x04, 0x00, 0x50, b'd', b'a', b'b', b'c', b'd',
    ];
    let frame = frame_of(original, &block);
    // varint 20, CRC-32 0xba25786e big-endian, then the block.
    assert_eq!(&frame[..5], &[0x14, 0xBA, 0x25, 0x78, 0x6E]);
    assert_eq!(&frame[5..], &block);
    assert_eq!(
        FrameDecompressor::new().decompress(&frame).unwrap(),
        original
    );
}

#[test]
fn two_byte_varint_frame_round_trips() {
    let original = vec![b'x'; 200];
    let frame = FrameCompressor::new().compress(&original);
    assert_eq!(&frame[..2], &[0xC8, 0x01]);
    assert_eq!(&frame[2..6], &crc32fast::hash(&original).to_be_bytes());
    assert!(
        frame.len() < 20,
        "200 equal bytes compress well: {frame:02x?}"
    );
    assert_eq!(
        FrameDecompressor::new().decompress(&frame).unwrap(),
        original
    );
}

#[test]
fn reference_example_header() {
    // Start of the uplink frame quoted in the reference notes (§1.13): 34 original bytes,
    // CRC 0xdfe0b988, and a block that opens with a match into an earlier frame.
    let frame = [0x22, 0xDF, 0xE0, 0xB9, 0x88, 0x01, 0x3D, 0x00, 0x00, 0x5F];
    let (header, block) = parse_header(&frame).unwrap();
    assert_eq!(header.original_len, 34);
    assert_eq!(header.crc, 0xDFE0_B988);
    assert_eq!(block, &[0x01, 0x3D, 0x00, 0x00, 0x5F]);
    // Without the history it refers to, a fresh decoder must refuse it cleanly.
    assert!(matches!(
        FrameDecompressor::new().decompress(&frame),
        Err(CompressionError::BadLz4(_))
    ));
}

#[test]
fn block_starting_with_back_reference_into_previous_frame() {
    let mut dec = FrameDecompressor::new();
    let first = b"hello world";
    let literal = [&[0xB0][..], first].concat(); // 11 literals
    assert_eq!(dec.decompress(&frame_of(first, &literal)).unwrap(), first);
    // Match length 11 (token low nibble 7), offset 11, then an empty last-literals sequence.
    let second = frame_of(first, &[0x07, 0x0B, 0x00, 0x00]);
    assert_eq!(dec.decompress(&second).unwrap(), first);
    // A fresh decoder has no history to copy from.
    assert!(matches!(
        FrameDecompressor::new().decompress(&second),
        Err(CompressionError::BadLz4(_))
    ));
}

#[test]
fn back_reference_at_maximum_distance() {
    let mut dec = FrameDecompressor::new();
    let mut enc = FrameCompressor::new();
    // Several frames, more than the slack, so the history has been shifted.
    let mut plain = Vec::new();
    for seed in 1..=5 {
        let part = noise(40_000, seed);
        assert_eq!(dec.decompress(&enc.compress(&part)).unwrap(), part);
        plain.extend_from_slice(&part);
    }
    // Match of 4 bytes at offset 65535, the farthest LZ4 can reach.
    let at = plain.len() - 65_535;
    let expected = &plain[at..at + 4];
    let frame = frame_of(expected, &[0x00, 0xFF, 0xFF, 0x00]);
    assert_eq!(dec.decompress(&frame).unwrap(), expected);
    assert!(dec.memory_usage() <= HISTORY_SIZE + HISTORY_SLACK);
}

#[test]
fn streaming_round_trip_uses_earlier_frames() {
    let frames = chatty_frames(300);
    let mut enc = FrameCompressor::streaming();
    let mut dec = FrameDecompressor::new();
    let mut independent = FrameCompressor::new();
    let (mut streamed, mut alone, mut raw) = (0, 0, 0);
    let mut need_history = 0;
    for original in &frames {
        let frame = enc.compress(original);
        assert_eq!(&dec.decompress(&frame).unwrap(), original);
        if FrameDecompressor::new().decompress(&frame).is_err() {
            need_history += 1;
        }
        streamed += frame.len();
        alone += independent.compress(original).len();
        raw += original.len();
    }
    assert!(
        need_history > frames.len() / 2,
        "only {need_history} frames used history"
    );
    assert!(
        streamed * 2 < alone,
        "streaming {streamed} vs independent {alone} (raw {raw})"
    );
}

#[test]
fn decoder_follows_lz4_flex_dict_blocks_across_history_wrap() {
    // Frames compressed directly with lz4_flex against our own model of the history,
    // with sizes around and above 64 KiB so the history is trimmed and replaced.
    let mut dec = FrameDecompressor::new();
    let mut plain: Vec<u8> = Vec::new();
    let base = noise(3000, 7);
    for (i, len) in [
        100usize, 5000, 70_000, 12, 65_536, 65_535, 300, 20_000, 131_073, 7,
    ]
    .into_iter()
    .cycle()
    .take(40)
    .enumerate()
    {
        // Mostly repeats of `base`, with a varying prefix, so matches reach back.
        let mut original: Vec<u8> = base
            .iter()
            .cycle()
            .skip(i * 37)
            .take(len)
            .copied()
            .collect();
        if let Some(b) = original.first_mut() {
            *b = i as u8;
        }
        let dict = &plain[plain.len().saturating_sub(HISTORY_SIZE)..];
        let block = block::compress_with_dict(&original, dict);
        assert_eq!(
            dec.decompress(&frame_of(&original, &block)).unwrap(),
            original
        );
        plain.extend_from_slice(&original);
        assert!(dec.memory_usage() <= HISTORY_SIZE + HISTORY_SLACK);
    }
}

#[test]
fn crc_mismatch_is_detected_and_leaves_history_intact() {
    let frames = chatty_frames(10);
    let mut enc = FrameCompressor::streaming();
    let mut dec = FrameDecompressor::new();
    for original in &frames[..5] {
        assert_eq!(&dec.decompress(&enc.compress(original)).unwrap(), original);
    }
    let good = enc.compress(&frames[5]);
    let mut bad = good.clone();
    bad[2] ^= 0x01; // inside the big-endian CRC (the varint is 2 bytes here)
    assert!(matches!(
        dec.decompress(&bad),
        Err(CompressionError::CrcMismatch { .. })
    ));
    // The failed frame did not enter the history: the good one still decodes.
    assert_eq!(dec.decompress(&good).unwrap(), frames[5]);
    for original in &frames[6..] {
        assert_eq!(&dec.decompress(&enc.compress(original)).unwrap(), original);
    }
}

#[test]
fn corrupt_block_gives_crc_or_lz4_error() {
    let original = chatty_frames(1).concat();
    let frame = FrameCompressor::new().compress(&original);
    let last = frame.len() - 1;
    let mut bad = frame.clone();
    bad[last] ^= 0x20; // a literal byte: decodes, but to other data
    assert!(matches!(
        FrameDecompressor::new().decompress(&bad),
        Err(CompressionError::CrcMismatch { .. })
    ));
}

#[test]
fn oversize_is_rejected_before_decoding() {
    let mut dec = FrameDecompressor::with_max_original_len(1000);
    assert_eq!(dec.max_original_len(), 1000);
    let frame = FrameCompressor::new().compress(&[7u8; 1001]);
    assert!(matches!(
        dec.decompress(&frame),
        Err(CompressionError::TooLong {
            len: 1001,
            max: 1000
        })
    ));
    // The format's maximum declared by a 9-byte frame: refused by the default limit.
    let huge = [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 0x00];
    assert!(matches!(
        FrameDecompressor::new().decompress(&huge),
        Err(CompressionError::TooLong {
            len: MAX_ORIGINAL_LEN,
            max: DEFAULT_MAX_ORIGINAL_LEN
        })
    ));
    // Within the limit, but a 3-byte block cannot decode to 4 MiB.
    let mut frame = Vec::new();
    write_varint(DEFAULT_MAX_ORIGINAL_LEN, &mut frame).unwrap();
    frame.extend_from_slice(&[0, 0, 0, 0, 0x0F, 0x01, 0x00]);
    assert!(matches!(
        FrameDecompressor::new().decompress(&frame),
        Err(CompressionError::BlockTooShort { block_len: 3, .. })
    ));
    assert_eq!(
        FrameDecompressor::with_max_original_len(usize::MAX).max_original_len(),
        MAX_ORIGINAL_LEN
    );
    // The highest-ratio input lz4_flex can make still passes the expansion bound.
    let zeros = vec![0u8; DEFAULT_MAX_ORIGINAL_LEN];
    let frame = FrameCompressor::new().compress(&zeros);
    assert_eq!(FrameDecompressor::new().decompress(&frame).unwrap(), zeros);
}

#[test]
fn independent_compressors_hold_no_hash_table() {
    // The hash table is per thread, not per session (issue 14: memory per idle login); two
    // encoders taking turns on one thread still produce frames that decode.
    let mut a = FrameCompressor::new();
    let mut b = FrameCompressor::new();
    let text_a = b"hello hello hello hello hello".repeat(20);
    let text_b = b"another text, another text, another text".repeat(20);
    for _ in 0..3 {
        let fa = a.compress(&text_a);
        let fb = b.compress(&text_b);
        assert!(fa.len() < text_a.len());
        assert_eq!(FrameDecompressor::new().decompress(&fa).unwrap(), text_a);
        assert_eq!(FrameDecompressor::new().decompress(&fb).unwrap(), text_b);
    }
    let big = vec![7u8; 70_000];
    assert_eq!(
        FrameDecompressor::new()
            .decompress(&a.compress(&big))
            .unwrap(),
        big
    );
    assert_eq!(
        FrameDecompressor::new()
            .decompress(&a.compress(&text_a))
            .unwrap(),
        text_a
    );
    assert_eq!(a.memory_usage(), 0);
    assert_eq!(b.memory_usage(), 0);
}

#[test]
fn compressor_rejects_unencodable_length() {
    // Zeroed allocations are lazy, so this costs no real memory: the length is checked
    // before the data is read.
    let big = vec![0u8; MAX_ORIGINAL_LEN + 1];
    let mut out = vec![1, 2, 3];
    let mut enc = FrameCompressor::streaming();
    assert!(matches!(
        enc.compress_into(&big, &mut out),
        Err(CompressionError::TooLong { .. })
    ));
    assert_eq!(out, [1, 2, 3]);
    assert_eq!(enc.memory_usage(), 0);
    // compress_into appends after what is already there.
    enc.compress_into(b"abc", &mut out).unwrap();
    assert_eq!(&out[..3], &[1, 2, 3]);
    assert_eq!(
        FrameDecompressor::new().decompress(&out[3..]).unwrap(),
        b"abc"
    );
}

#[test]
fn truncated_frames() {
    let original = chatty_frames(3).concat();
    let frame = FrameCompressor::new().compress(&original);
    let mut dec = FrameDecompressor::new();
    assert!(matches!(
        dec.decompress(&[]),
        Err(CompressionError::TruncatedVarint)
    ));
    assert!(matches!(
        dec.decompress(&frame[..1]),
        Err(CompressionError::TruncatedVarint)
    ));
    assert!(matches!(
        dec.decompress(&frame[..2]),
        Err(CompressionError::TruncatedCrc)
    ));
    assert!(matches!(
        dec.decompress(&frame[..5]),
        Err(CompressionError::TruncatedCrc)
    ));
    assert!(matches!(
        dec.decompress(&frame[..6]),
        Err(CompressionError::BlockTooShort { block_len: 0, .. })
    ));
    for cut in 7..frame.len() {
        let err = dec.decompress(&frame[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                CompressionError::BadLz4(_)
                    | CompressionError::LengthMismatch { .. }
                    | CompressionError::BlockTooShort { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
    // Declared length shorter than the block's output.
    let (header, block) = parse_header(&frame).unwrap();
    assert_eq!(header.original_len, original.len());
    let short = frame_of(&original[..16], block);
    assert!(matches!(
        dec.decompress(&short),
        Err(CompressionError::LengthMismatch { declared: 16, .. })
    ));
    // Declared length longer than the block's output.
    let mut long = original.clone();
    long.push(b'!');
    let long = frame_of(&long, block);
    assert!(matches!(
        dec.decompress(&long),
        Err(CompressionError::LengthMismatch { declared, decoded })
            if declared == original.len() + 1 && decoded == original.len()
    ));
    assert_eq!(dec.decompress(&frame).unwrap(), original);
}

#[test]
fn empty_original() {
    let frame = FrameCompressor::new().compress(b"");
    assert_eq!(frame, [0x00, 0, 0, 0, 0, 0x00]);
    let mut dec = FrameDecompressor::new();
    assert_eq!(dec.decompress(&frame).unwrap(), b"");
    assert_eq!(dec.decompress(&[0x00, 0, 0, 0, 0]).unwrap(), b"");
}

#[test]
fn reset_forgets_history() {
    let mut enc = FrameCompressor::streaming();
    let mut dec = FrameDecompressor::new();
    let frames = chatty_frames(4);
    for f in &frames {
        assert_eq!(&dec.decompress(&enc.compress(f)).unwrap(), f);
    }
    enc.reset();
    dec.reset();
    assert_eq!(dec.memory_usage(), 0);
    for f in &frames {
        let frame = enc.compress(f);
        assert_eq!(&dec.decompress(&frame).unwrap(), f);
    }
}

/// Writes an LZ4 length extension (after a nibble of 15).
fn push_lz4_len(block: &mut Vec<u8>, mut rest: usize) {
    while rest >= 255 {
        block.push(255);
        rest -= 255;
    }
    block.push(rest as u8);
}

/// Encodes LZ4 sequences `(literals, offset, match_len)` (match_len >= 4) plus a final
/// literals-only sequence, without any of an encoder's restrictions on offsets.
fn encode_sequences(seqs: &[(Vec<u8>, u16, usize)], last: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (lits, offset, match_len) in seqs {
        let ml = match_len - 4;
        block.push(((lits.len().min(15) as u8) << 4) | ml.min(15) as u8);
        if lits.len() >= 15 {
            push_lz4_len(&mut block, lits.len() - 15);
        }
        block.extend_from_slice(lits);
        block.extend_from_slice(&offset.to_le_bytes());
        if ml >= 15 {
            push_lz4_len(&mut block, ml - 15);
        }
    }
    block.push((last.len().min(15) as u8) << 4);
    if last.len() >= 15 {
        push_lz4_len(&mut block, last.len() - 15);
    }
    block.extend_from_slice(last);
    block
}

/// Byte-at-a-time reference for the same sequences: `None` if an offset reaches past the
/// history (or is 0).
fn reference_decode(
    history: &[u8],
    seqs: &[(Vec<u8>, u16, usize)],
    last: &[u8],
) -> Option<Vec<u8>> {
    let window = &history[history.len().saturating_sub(HISTORY_SIZE)..];
    let mut all = window.to_vec();
    for (lits, offset, match_len) in seqs {
        all.extend_from_slice(lits);
        let offset = usize::from(*offset);
        if offset == 0 || offset > all.len() {
            return None;
        }
        for _ in 0..*match_len {
            all.push(all[all.len() - offset]);
        }
    }
    all.extend_from_slice(last);
    Some(all.split_off(window.len()))
}

proptest! {
    #[test]
    fn crafted_sequences_match_reference_decoder(
        history_len in prop_oneof![0usize..64, 0usize..70_000],
        seqs in proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..40),
                prop_oneof![1u16..32, 1u16..2048, any::<u16>()],
                prop_oneof![4usize..20, 4usize..600],
            ),
            0..12,
        ),
        last in proptest::collection::vec(any::<u8>(), 0..20),
        declared_delta in prop_oneof![Just(0i64), -3i64..3],
    ) {
        let mut dec = FrameDecompressor::new();
        let mut history = Vec::new();
        // Build the history through real frames, in pieces, so it has been shifted.
        let mut enc = FrameCompressor::new();
        for chunk in noise(history_len, 99).chunks(30_000) {
            prop_assert_eq!(dec.decompress(&enc.compress(chunk)).unwrap(), chunk);
            history.extend_from_slice(chunk);
        }
        let block = encode_sequences(&seqs, &last);
        let expected = reference_decode(&history, &seqs, &last);
        let exact = expected.as_ref().map_or(block.len(), Vec::len);
        let declared = (exact as i64 + declared_delta).max(0) as usize;
        let crc = expected.as_ref().map_or(0, |e| crc32fast::hash(e));
        let mut frame = Vec::new();
        write_varint(declared, &mut frame).unwrap();
        frame.extend_from_slice(&crc.to_be_bytes());
        frame.extend_from_slice(&block);
        let got = dec.decompress(&frame);
        match (&expected, &got) {
            (Some(e), Ok(g)) => prop_assert_eq!(e, g),
            (Some(_), Err(err)) => prop_assert!(declared != exact, "valid frame refused: {}", err),
            (None, Ok(_)) => prop_assert!(false, "out-of-history offset accepted"),
            (None, Err(_)) => {}
        }
        // Whatever happened, the decoder is still usable and in sync.
        let next = noise(500, 5);
        prop_assert_eq!(dec.decompress(&FrameCompressor::new().compress(&next)).unwrap(), next);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = FrameDecompressor::new().decompress(&data);
    }

    #[test]
    fn arbitrary_bytes_after_valid_frames_never_panic(
        prefix in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..4096), 0..4),
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        repeat in 0usize..3,
    ) {
        let mut enc = FrameCompressor::streaming();
        let mut dec = FrameDecompressor::new();
        for p in prefix.iter().chain(chatty_frames(repeat).iter()) {
            prop_assert_eq!(&dec.decompress(&enc.compress(p)).unwrap(), p);
        }
        let _ = dec.decompress(&data);
        // A plausible header in front of arbitrary block bytes reaches the LZ4 decoder.
        for declared in [0usize, 1, 17, data.len(), data.len() * 3] {
            let mut frame = Vec::new();
            write_varint(declared, &mut frame).unwrap();
            frame.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
            frame.extend_from_slice(&data);
            let _ = dec.decompress(&frame);
        }
        // Still consistent: the next valid frame decodes.
        let next = b"still in sync, still in sync, still in sync".to_vec();
        prop_assert_eq!(dec.decompress(&enc.compress(&next)).unwrap(), next);
    }

    #[test]
    fn mutated_frames_never_panic(
        seed in 1u64..u64::MAX,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut enc = FrameCompressor::streaming();
        let mut dec = FrameDecompressor::new();
        let frames = chatty_frames(5);
        for f in &frames[..4] {
            dec.decompress(&enc.compress(f)).unwrap();
        }
        let mut original = frames[4].clone();
        original.extend_from_slice(&noise(64, seed));
        let mut frame = enc.compress(&original);
        for (at, x) in flips {
            let i = at.index(frame.len());
            frame[i] ^= x;
        }
        if let Ok(out) = dec.decompress(&frame) {
            // Only possible if the flips cancelled or hit bytes the CRC still accepts.
            prop_assert_eq!(crc32fast::hash(&out), parse_header(&frame).unwrap().0.crc);
        }
    }

    #[test]
    fn arbitrary_data_round_trips(
        frames in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..3000),
                (any::<u8>(), 0usize..70_000).prop_map(|(b, n)| vec![b; n]),
                (0usize..5000, 0usize..20).prop_map(|(n, k)| {
                    b"the quick brown fox ".iter().cycle().skip(k).take(n).copied().collect()
                }),
            ],
            1..8,
        ),
    ) {
        for mut enc in [FrameCompressor::new(), FrameCompressor::streaming()] {
            let mut dec = FrameDecompressor::new();
            for f in &frames {
                prop_assert_eq!(&dec.decompress(&enc.compress(f)).unwrap(), f);
            }
        }
    }
}
