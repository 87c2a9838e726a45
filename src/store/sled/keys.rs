//! Key and value encodings. Composite keys are length-prefixed parts (`u32` big-endian length,
//! then the bytes), so no id can be mistaken for another whatever characters it holds, and a
//! key's leading parts form a prefix for range scans. Numbers are big-endian so keys sort by
//! them. Values are JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Result, StoreError};

/// Appends a length-prefixed part.
pub(super) fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(part);
}

/// A key of length-prefixed parts.
pub(super) fn parts(items: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(items.iter().map(|i| i.len() + 4).sum());
    for item in items {
        push_part(&mut key, item);
    }
    key
}

/// Splits the leading length-prefixed part off `key`.
pub(super) fn take_part(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let len_bytes: [u8; 4] = key.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    let part = key.get(4..4 + len)?;
    Some((part, &key[4 + len..]))
}

/// A big-endian `u64` at the start of `bytes`.
pub(super) fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// JSON-encodes a record.
pub(super) fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode { tree, source })
}

/// JSON-decodes a record.
pub(super) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: e.to_string(),
    })
}

/// A UTF-8 value (kv tree, reverse indexes).
pub(super) fn utf8(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: "not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_prefix() {
        let k = parts(&[b"group:1", b"m:2"]);
        let (a, rest) = take_part(&k).unwrap_or_default();
        let (b, rest) = take_part(rest).unwrap_or_default();
        assert_eq!((a, b, rest), (&b"group:1"[..], &b"m:2"[..], &b""[..]));
        // "a" + "bc" and "ab" + "c" differ.
        assert_ne!(parts(&[b"a", b"bc"]), parts(&[b"ab", b"c"]));
        assert!(parts(&[b"p", b"x", b"y"]).starts_with(&parts(&[b"p", b"x"])));
        assert_eq!(take_part(&[0, 0, 0, 9, 1]), None);
    }
}
