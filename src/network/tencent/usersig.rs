//! UserSig, the TLSSigAPIv2 ticket a Tencent Cloud Chat client logs in with: signing (what an
//! app backend does with its SecretKey) and verification (what the server does).
//!
//! Format (reference §A1 "UserSig", after the Node `tls-sig-api-v2` and Go
//! `tencentyun/tls-sig-api-v2-golang` implementations):
//! 1. `content = "TLS.identifier:{uid}\nTLS.sdkappid:{appid}\nTLS.time:{t}\nTLS.expire:{secs}\n"`;
//! 2. `TLS.sig = base64(HMAC-SHA256(key = SecretKey bytes, content))`;
//! 3. the JSON document `{"TLS.ver":"2.0","TLS.identifier",…,"TLS.sig"}` is zlib-deflated and
//!    base64-encoded with `+`→`*`, `/`→`-`, `=`→`_` (not RFC 4648 base64url).

use std::io::{Read, Write};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Standard alphabet; padding optional on input (some issuers strip the trailing `_`).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Largest inflated UserSig document accepted (real ones are ~200 bytes).
const MAX_DOC: u64 = 16 * 1024;

/// Why a UserSig was refused. [`UserSigError::code`] gives the error code the service (and
/// the SDK's error table) uses for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    /// Not base64 / zlib / JSON of the expected shape.
    #[error("UserSig is malformed: {0}")]
    Malformed(String),
    /// The HMAC does not match: signed with another SecretKey, or altered.
    #[error("UserSig signature does not match")]
    BadSignature,
    /// `TLS.time + TLS.expire` is in the past.
    #[error("UserSig expired at unix time {expired_at}")]
    Expired { expired_at: u64 },
    /// Signed for another SDKAppID.
    #[error("UserSig is for SDKAppID {found}, not {expected}")]
    WrongApp { expected: u64, found: u64 },
    /// Signed for another user.
    #[error("UserSig is for identifier {found:?}, not {expected:?}")]
    WrongIdentifier { expected: String, found: String },
}

impl UserSigError {
    /// The Tencent Cloud Chat error code for this failure (70001 expired, 70003 malformed,
    /// 70009 bad signature, 70013 identifier mismatch, 70014 SDKAppID mismatch — the codes of
    /// the service's public error table).
    pub fn code(&self) -> i64 {
        match self {
            UserSigError::Expired { .. } => 70001,
            UserSigError::Malformed(_) => 70003,
            UserSigError::BadSignature => 70009,
            UserSigError::WrongIdentifier { .. } => 70013,
            UserSigError::WrongApp { .. } => 70014,
        }
    }
}

/// The signed document inside a UserSig.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserSigDoc {
    #[serde(rename = "TLS.ver")]
    pub ver: String,
    #[serde(rename = "TLS.identifier")]
    pub identifier: String,
    #[serde(rename = "TLS.sdkappid")]
    pub sdkappid: u64,
    /// Issue time, unix seconds.
    #[serde(rename = "TLS.time")]
    pub time: u64,
    /// Lifetime in seconds from `time`.
    #[serde(rename = "TLS.expire")]
    pub expire: u64,
    /// Base64 HMAC-SHA256 over [`sig_content`].
    #[serde(rename = "TLS.sig")]
    pub sig: String,
}

impl UserSigDoc {
    /// Unix second after which the ticket is no longer valid.
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

/// The text the HMAC covers.
pub fn sig_content(sdkappid: u64, identifier: &str, time: u64, expire: u64) -> String {
    format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    )
}

fn hmac_for(secret_key: &str, content: &str) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(content.as_bytes());
    mac
}

/// The `TLS.sig` field: base64 of HMAC-SHA256(SecretKey, content).
pub fn hmac_sig(
    secret_key: &str,
    sdkappid: u64,
    identifier: &str,
    time: u64,
    expire: u64,
) -> String {
    let mac = hmac_for(secret_key, &sig_content(sdkappid, identifier, time, expire));
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Signs a UserSig for `identifier`, issued at unix second `time`, valid for `expire` seconds.
pub fn sign(secret_key: &str, sdkappid: u64, identifier: &str, time: u64, expire: u64) -> String {
    let doc = UserSigDoc {
        ver: "2.0".into(),
        identifier: identifier.into(),
        sdkappid,
        time,
        expire,
        sig: hmac_sig(secret_key, sdkappid, identifier, time, expire),
    };
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&json);
    let deflated = z.finish().unwrap_or_default();
    STANDARD
        .encode(deflated)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// Decodes a UserSig without checking it (to read the identifier or expiry).
pub fn decode(usersig: &str) -> Result<UserSigDoc, UserSigError> {
    let b64: String = usersig
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let deflated = LENIENT
        .decode(b64.as_bytes())
        .map_err(|e| UserSigError::Malformed(format!("base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(deflated.as_slice())
        .take(MAX_DOC)
        .read_to_end(&mut json)
        .map_err(|e| UserSigError::Malformed(format!("zlib: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| UserSigError::Malformed(format!("json: {e}")))
}

/// Verifies `usersig` as the server does: the signature under `secret_key`, the SDKAppID,
/// the identifier and the expiry (`now_unix` > `time + expire` is expired). Returns the
/// document on success.
pub fn verify(
    secret_key: &str,
    sdkappid: u64,
    identifier: &str,
    usersig: &str,
    now_unix: u64,
) -> Result<UserSigDoc, UserSigError> {
    let doc = decode(usersig)?;
    if doc.sdkappid != sdkappid {
        return Err(UserSigError::WrongApp {
            expected: sdkappid,
            found: doc.sdkappid,
        });
    }
    if doc.identifier != identifier {
        return Err(UserSigError::WrongIdentifier {
            expected: identifier.into(),
            found: doc.identifier,
        });
    }
    let sig = STANDARD
        .decode(doc.sig.as_bytes())
        .map_err(|_| UserSigError::BadSignature)?;
    let content = sig_content(doc.sdkappid, &doc.identifier, doc.time, doc.expire);
    hmac_for(secret_key, &content)
        .verify_slice(&sig)
        .map_err(|_| UserSigError::BadSignature)?;
    if now_unix > doc.expires_at() {
        return Err(UserSigError::Expired {
            expired_at: doc.expires_at(),
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dummy-secret-key";

    #[test]
    fn hmac_matches_reference_vector() {
        // Reference §A1: key dummy-secret-key, alice, 1400000001, 1700000000, 86400.
        assert_eq!(
            hmac_sig(KEY, 1_400_000_001, "alice", 1_700_000_000, 86_400),
            "ZSkeumIhcV43DkaziOARpWBbkaLWmy1uKwjp45LNY8A="
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let sig = sign(KEY, 1_400_000_001, "alice", 1_700_000_000, 86_400);
        assert!(!sig.contains(['+', '/', '=']));
        let doc = verify(KEY, 1_400_000_001, "alice", &sig, 1_700_000_100).expect("valid");
        assert_eq!(doc.identifier, "alice");
        assert_eq!(doc.sig, "ZSkeumIhcV43DkaziOARpWBbkaLWmy1uKwjp45LNY8A=");
        assert_eq!(doc.expires_at(), 1_700_086_400);
    }

    #[test]
    fn verify_rejects_expired_foreign_and_forged() {
        let sig = sign(KEY, 1_400_000_001, "alice", 1_700_000_000, 60);
        let expired = verify(KEY, 1_400_000_001, "alice", &sig, 1_700_000_061).unwrap_err();
        assert_eq!(expired.code(), 70001);
        // The last valid second is still accepted.
        assert!(verify(KEY, 1_400_000_001, "alice", &sig, 1_700_000_060).is_ok());
        let app = verify(KEY, 1_400_000_002, "alice", &sig, 1_700_000_000).unwrap_err();
        assert_eq!(app.code(), 70014);
        let who = verify(KEY, 1_400_000_001, "bob", &sig, 1_700_000_000).unwrap_err();
        assert_eq!(who.code(), 70013);
        let forged = verify("other-key", 1_400_000_001, "alice", &sig, 1_700_000_000).unwrap_err();
        assert_eq!(forged, UserSigError::BadSignature);
        for junk in ["", "!!!", "eJw_", "YWJj"] {
            assert_eq!(
                verify(KEY, 1_400_000_001, "alice", junk, 0)
                    .unwrap_err()
                    .code(),
                70003,
                "{junk:?}"
            );
        }
    }
}
