//! LZ4 frame codec of the Easemob msync websocket protocol (reference notes §1.13).
//!
//! This module owns the byte format of a compressed websocket message and the per-direction
//! LZ4 state; it does no I/O and knows nothing about protobuf, negotiation or sockets. Both our
//! client and our sandbox server use it: one [`FrameCompressor`] for what a connection sends and
//! one [`FrameDecompressor`] for what it receives, created fresh for every websocket (the
//! Provision exchange itself is never compressed; compression starts with the first frame
//! after the Provision reply).
//!
//! # Frame format (both directions)
//!
//! ```text
//! varint(original_length)  7-bit groups, little-endian, continuation bit 0x80,
//!                          at most 4 bytes (original_length <= 0x0FFF_FFFF)
//! u32 big-endian CRC-32 (IEEE / zlib) of the ORIGINAL bytes
//! raw LZ4 block            no LZ4 frame header, no block size
//! ```
//!
//! # Streaming
//!
//! The official SDK compresses with an LZ4 ring-buffer stream (`LZ4_compress_fast_continue`,
//! 64 KiB dictionary), so a block may copy from the plaintext of *earlier* frames of the same
//! direction. [`FrameDecompressor`] therefore keeps the last 64 KiB of decompressed output and
//! decodes every block with it as a prefix dictionary. It bounds the memory a peer can make it
//! allocate ([`DEFAULT_MAX_ORIGINAL_LEN`], configurable) and checks length and CRC; any error
//! leaves its state as it was before the bad frame (the caller is expected to close the
//! connection, as the SDK does).
//!
//! [`FrameCompressor::new`] emits independent, dictionary-less blocks, which any streaming
//! decoder accepts and which the SDK was observed to accept downlink. [`FrameCompressor::streaming`]
//! also matches against the previous 64 KiB of plaintext (better ratio on chatty traffic, more
//! CPU per frame), which is only valid when the peer decodes with history, as the real server
//! must for the SDK's own uplink.

use lz4_flex::block::{self, CompressTable, DecompressError};

/// How far back an LZ4 match can reach, and so how much plaintext history each direction keeps.
pub const HISTORY_SIZE: usize = 64 * 1024;

/// Largest original length the 4-byte varint can carry.
pub const MAX_ORIGINAL_LEN: usize = 0x0FFF_FFFF;

/// Longest length varint the format allows.
pub const MAX_VARINT_LEN: usize = 4;

/// Bytes before the LZ4 block at most: varint plus CRC-32.
pub const MAX_HEADER_LEN: usize = MAX_VARINT_LEN + CRC_LEN;

/// Default limit on a frame's declared original length for [`FrameDecompressor`].
pub const DEFAULT_MAX_ORIGINAL_LEN: usize = 4 * 1024 * 1024;

const CRC_LEN: usize = 4;

/// No LZ4 block can decode to more than 255 bytes per block byte: a literal yields one byte per
/// input byte, and a match yields at most `19 + 255 * m` bytes for `3 + m` input bytes (token,
/// offset, `m` length-extension bytes).
const MAX_EXPANSION: usize = 255;

/// Slack kept beyond [`HISTORY_SIZE`] so the history is shifted once per ~64 KiB of traffic
/// rather than on every frame.
const HISTORY_SLACK: usize = HISTORY_SIZE;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// The input ended inside the original-length varint (also: an empty frame).
    #[error("LZ4 frame truncated inside the length varint")]
    TruncatedVarint,
    /// The length varint did not end within [`MAX_VARINT_LEN`] bytes.
    #[error("LZ4 frame length varint is longer than {MAX_VARINT_LEN} bytes")]
    VarintTooLong,
    /// The input ended inside the CRC-32.
    #[error("LZ4 frame truncated inside the CRC-32")]
    TruncatedCrc,
    /// The original length exceeds the decoder's limit (or, when encoding, [`MAX_ORIGINAL_LEN`]).
    #[error("LZ4 frame original length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// Declared (or given) original length.
        len: usize,
        /// Limit in force.
        max: usize,
    },
    /// The LZ4 block is too short to possibly decode to the declared length.
    #[error("LZ4 block of {block_len} bytes cannot decode to the declared {declared} bytes")]
    BlockTooShort {
        /// Declared original length.
        declared: usize,
        /// Length of the LZ4 block.
        block_len: usize,
    },
    /// The LZ4 block is malformed (bad token, truncated, offset outside the history...).
    #[error("invalid LZ4 block: {0}")]
    BadLz4(DecompressError),
    /// The block decoded to a different length than the header declared. When the block would
    /// run past the declared length, `decoded` is where decoding stopped (a lower bound).
    #[error(
        "LZ4 frame length mismatch: header declared {declared} bytes, block decoded to {decoded}"
    )]
    LengthMismatch {
        /// Declared original length.
        declared: usize,
        /// Bytes the block produced.
        decoded: usize,
    },
    /// The CRC-32 of the decoded bytes differs from the header's.
    #[error("LZ4 frame CRC-32 mismatch: header {expected:#010x}, decoded data {actual:#010x}")]
    CrcMismatch {
        /// CRC-32 in the frame header.
        expected: u32,
        /// CRC-32 of the decoded bytes.
        actual: u32,
    },
    /// lz4_flex refused to compress (cannot happen with the buffer sizes used here).
    #[error("LZ4 compression failed: {0}")]
    Compress(block::CompressError),
}

/// Appends the original-length varint for `len` to `out`.
///
/// Fails with [`CompressionError::TooLong`] if `len > MAX_ORIGINAL_LEN`.
pub fn write_varint(len: usize, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    if len > MAX_ORIGINAL_LEN {
        return Err(CompressionError::TooLong {
            len,
            max: MAX_ORIGINAL_LEN,
        });
    }
    let mut rest = len;
    loop {
        // Truncation to the low 7 bits is the point.
        let low = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(low);
            return Ok(());
        }
        out.push(low | 0x80);
    }
}

/// Reads an original-length varint from the start of `input`.
///
/// Returns the value and the number of bytes it took. Non-minimal encodings are accepted.
pub fn read_varint(input: &[u8]) -> Result<(usize, usize), CompressionError> {
    let mut value = 0usize;
    for (i, &byte) in input.iter().take(MAX_VARINT_LEN).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_VARINT_LEN {
        Err(CompressionError::VarintTooLong)
    } else {
        Err(CompressionError::TruncatedVarint)
    }
}

/// The fields in front of a frame's LZ4 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Length of the original (uncompressed) bytes.
    pub original_len: usize,
    /// CRC-32 (IEEE) of the original bytes.
    pub crc: u32,
    /// Bytes the header took (varint plus CRC), i.e. where the LZ4 block starts.
    pub header_len: usize,
}

/// Splits a frame into its header and its raw LZ4 block. Applies no length limit.
pub fn parse_header(frame: &[u8]) -> Result<(FrameHeader, &[u8]), CompressionError> {
    let (original_len, varint_len) = read_varint(frame)?;
    let rest = frame.get(varint_len..).unwrap_or_default();
    let (crc, block) = rest
        .split_first_chunk::<CRC_LEN>()
        .ok_or(CompressionError::TruncatedCrc)?;
    let header = FrameHeader {
        original_len,
        crc: u32::from_be_bytes(*crc),
        header_len: varint_len + CRC_LEN,
    };
    Ok((header, block))
}

/// The last (at least) [`HISTORY_SIZE`] bytes of one direction's plaintext, kept contiguous so
/// they can serve as an LZ4 dictionary. Holds at most `HISTORY_SIZE + HISTORY_SLACK` bytes.
#[derive(Debug, Default)]
struct History {
    buf: Vec<u8>,
}

impl History {
    /// The dictionary for the next block: the last `HISTORY_SIZE` bytes (or fewer at the start).
    fn window(&self) -> &[u8] {
        let start = self.buf.len().saturating_sub(HISTORY_SIZE);
        self.buf.get(start..).unwrap_or_default()
    }

    fn push(&mut self, data: &[u8]) {
        let limit = HISTORY_SIZE + HISTORY_SLACK;
        if data.len() >= HISTORY_SIZE {
            let tail = data.get(data.len() - HISTORY_SIZE..).unwrap_or_default();
            self.buf.clear();
            self.reserve_for(tail.len());
            self.buf.extend_from_slice(tail);
            return;
        }
        if self.buf.len() + data.len() > limit {
            // Out of slack: shift so that exactly the window remains after appending `data`.
            let keep = HISTORY_SIZE - data.len();
            let drop = self.buf.len().saturating_sub(keep);
            self.buf.drain(..drop);
        }
        self.reserve_for(self.buf.len() + data.len());
        self.buf.extend_from_slice(data);
    }

    /// Grows the buffer geometrically up to, never beyond, its limit.
    fn reserve_for(&mut self, total: usize) {
        if self.buf.capacity() < total {
            // `total` never exceeds the limit (see `push`), so neither does the result.
            let target = total
                .max(self.buf.capacity().saturating_mul(2))
                .clamp(1024, HISTORY_SIZE + HISTORY_SLACK);
            self.buf
                .reserve_exact(target.saturating_sub(self.buf.len()));
        }
    }

    fn clear(&mut self) {
        self.buf = Vec::new();
    }

    fn memory_usage(&self) -> usize {
        self.buf.capacity()
    }
}

/// Decoder for one direction of one websocket connection.
///
/// Keeps the last 64 KiB of decompressed output as the dictionary for the next frame. A failed
/// frame leaves the state untouched.
#[derive(Debug)]
pub struct FrameDecompressor {
    history: History,
    max_original_len: usize,
}

impl Default for FrameDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecompressor {
    /// A decoder accepting frames up to [`DEFAULT_MAX_ORIGINAL_LEN`] (4 MiB) of original data.
    pub fn new() -> Self {
        Self::with_max_original_len(DEFAULT_MAX_ORIGINAL_LEN)
    }

    /// A decoder rejecting frames whose declared original length exceeds `max` (capped at
    /// [`MAX_ORIGINAL_LEN`]) before allocating anything for them.
    pub fn with_max_original_len(max: usize) -> Self {
        Self {
            history: History::default(),
            max_original_len: max.min(MAX_ORIGINAL_LEN),
        }
    }

    /// The limit on a frame's declared original length.
    pub fn max_original_len(&self) -> usize {
        self.max_original_len
    }

    /// Decodes one frame and returns its original bytes.
    ///
    /// Never panics; on error the decoder is left as it was before this call.
    pub fn decompress(&mut self, frame: &[u8]) -> Result<Vec<u8>, CompressionError> {
        let (header, block) = parse_header(frame)?;
        let declared = header.original_len;
        if declared > self.max_original_len {
            return Err(CompressionError::TooLong {
                len: declared,
                max: self.max_original_len,
            });
        }
        if declared > block.len().saturating_mul(MAX_EXPANSION) {
            return Err(CompressionError::BlockTooShort {
                declared,
                block_len: block.len(),
            });
        }
        let mut out = vec![0u8; declared];
        // Tolerate an empty block for an empty original (lz4 itself emits one 0x00 token).
        if !(declared == 0 && block.is_empty()) {
            let decoded = block::decompress_into_with_dict(block, &mut out, self.history.window())
                .map_err(|e| match e {
                    DecompressError::OutputTooSmall { expected, .. } => {
                        CompressionError::LengthMismatch {
                            declared,
                            decoded: expected,
                        }
                    }
                    other => CompressionError::BadLz4(other),
                })?;
            if decoded != declared {
                return Err(CompressionError::LengthMismatch { declared, decoded });
            }
        }
        let actual = crc32fast::hash(&out);
        if actual != header.crc {
            return Err(CompressionError::CrcMismatch {
                expected: header.crc,
                actual,
            });
        }
        self.history.push(&out);
        Ok(out)
    }

    /// Forgets the history, as for a new connection.
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Heap bytes held between frames (the history buffer; at most 128 KiB).
    pub fn memory_usage(&self) -> usize {
        self.history.memory_usage()
    }
}

enum Mode {
    /// Independent blocks; the hash table is reused across frames to save an allocation.
    Independent(CompressTable),
    /// Blocks may reference the previous 64 KiB of plaintext.
    Streaming(History),
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Independent(_) => f.write_str("Independent"),
            Mode::Streaming(history) => f.debug_tuple("Streaming").field(history).finish(),
        }
    }
}

/// Encoder for one direction of one websocket connection.
#[derive(Debug)]
pub struct FrameCompressor {
    mode: Mode,
}

impl Default for FrameCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCompressor {
    /// An encoder producing independent, dictionary-less blocks: valid for any peer decoder,
    /// streaming or not.
    pub fn new() -> Self {
        Self {
            mode: Mode::Independent(CompressTable::default()),
        }
    }

    /// An encoder whose blocks may copy from the previous 64 KiB of plaintext sent in this
    /// direction, like the SDK's. Only for peers that decode with history (the real server does
    /// for SDK uplink; our [`FrameDecompressor`] always does).
    pub fn streaming() -> Self {
        Self {
            mode: Mode::Streaming(History::default()),
        }
    }

    /// Whether blocks may reference earlier frames.
    pub fn is_streaming(&self) -> bool {
        matches!(self.mode, Mode::Streaming(_))
    }

    /// Encodes `original` as one frame.
    ///
    /// # Panics
    ///
    /// If `original` is longer than [`MAX_ORIGINAL_LEN`] (256 MiB), which the format cannot
    /// express; use [`FrameCompressor::compress_into`] to get an error instead.
    pub fn compress(&mut self, original: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = self.compress_into(original, &mut out) {
            panic!("cannot LZ4-frame {} bytes: {e}", original.len());
        }
        out
    }

    /// Appends the frame for `original` to `out`.
    ///
    /// Fails (leaving `out` and the encoder unchanged) only if `original` is longer than
    /// [`MAX_ORIGINAL_LEN`].
    pub fn compress_into(
        &mut self,
        original: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        if original.len() > MAX_ORIGINAL_LEN {
            return Err(CompressionError::TooLong {
                len: original.len(),
                max: MAX_ORIGINAL_LEN,
            });
        }
        let start = out.len();
        let max_block = block::get_maximum_output_size(original.len());
        out.reserve(MAX_HEADER_LEN + max_block);
        write_varint(original.len(), out)?;
        out.extend_from_slice(&crc32fast::hash(original).to_be_bytes());
        let block_start = out.len();
        out.resize(block_start + max_block, 0);
        let dst = out.get_mut(block_start..).unwrap_or_default();
        let written = match &mut self.mode {
            Mode::Independent(table) => block::compress_into_with_table(original, dst, table),
            Mode::Streaming(history) => {
                block::compress_into_with_dict(original, dst, history.window())
            }
        };
        match written {
            Ok(n) => {
                out.truncate(block_start + n);
                if let Mode::Streaming(history) = &mut self.mode {
                    history.push(original);
                }
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(CompressionError::Compress(e))
            }
        }
    }

    /// Forgets the history (streaming mode), as for a new connection.
    pub fn reset(&mut self) {
        if let Mode::Streaming(history) = &mut self.mode {
            history.clear();
        }
    }

    /// Heap bytes held between frames (hash table or history buffer; at most 128 KiB).
    pub fn memory_usage(&self) -> usize {
        match &self.mode {
            Mode::Independent(table) => match table {
                CompressTable::Small(_) => 4096 * 2,
                CompressTable::Large(_) => 4096 * 4,
            },
            Mode::Streaming(history) => history.memory_usage(),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
