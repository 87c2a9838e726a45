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

use std::cell::RefCell;

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

thread_local! {
    /// The hash table of independent-block compression (8 KiB, 16 KiB after a frame of
    /// 64 KiB or more). `compress_into_with_table` clears it before every block, so it is
    /// scratch space: one per thread serves every connection, instead of one per session
    /// (which was 8 KiB of every idle login; issue 14).
    static TABLE: RefCell<CompressTable> = RefCell::new(CompressTable::default());
}

/// Compresses one independent block with this thread's [`TABLE`] (a fresh table if it is
/// somehow in use).
fn compress_independent(original: &[u8], dst: &mut [u8]) -> Result<usize, block::CompressError> {
    TABLE.with(|table| match table.try_borrow_mut() {
        Ok(mut table) => block::compress_into_with_table(original, dst, &mut table),
        Err(_) => block::compress_into_with_table(original, dst, &mut CompressTable::default()),
    })
}

enum Mode {
    /// Independent blocks, compressed with this thread's scratch hash table ([`TABLE`]).
    Independent,
    /// Blocks may reference the previous 64 KiB of plaintext.
    Streaming(History),
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Independent => f.write_str("Independent"),
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
            mode: Mode::Independent,
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
            Mode::Independent => compress_independent(original, dst),
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

    /// Heap bytes held between frames (the history buffer in streaming mode, at most 128 KiB;
    /// none in independent mode, whose hash table is per thread).
    pub fn memory_usage(&self) -> usize {
        match &self.mode {
            Mode::Independent => 0,
            Mode::Streaming(history) => history.memory_usage(),
        }
    }
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
