//! Mesh webhook signatures: `X-Mesh-Signature-256` = standard Base64 of HMAC-SHA256 keyed with the
//! webhook secret's UTF-8 bytes, over the exact body bytes. Checked before anything else reads the
//! body. The header is decoded strictly and compared in constant time with a length check
//! (`Mac::verify_slice`), so an empty or truncated signature can never match.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-mesh-signature-256";
const MAC_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not a Base64 HMAC-SHA256")]
    Malformed,
    #[error("the signature matches no webhook secret")]
    Mismatch,
}

impl SignatureError {
    /// A stable name for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// A well-formed `X-Mesh-Signature-256` value: 32 bytes. Parsing needs no secret, so a delivery
/// without one is refused before any secret is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; MAC_LEN]);

impl Signature {
    pub fn parse(header: Option<&[u8]>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| SignatureError::Malformed)?.trim();
        if header.is_empty() {
            return Err(SignatureError::Missing);
        }
        let tag = STANDARD.decode(header).map_err(|_| SignatureError::Malformed)?;
        tag.try_into().map(Self).map_err(|_| SignatureError::Malformed)
    }

    /// Checks it against `body` under each secret in turn (current first, then the previous one
    /// during a rotation).
    pub fn verify<'a>(&self, secrets: impl IntoIterator<Item = &'a str>, body: &[u8]) -> Result<(), SignatureError> {
        for secret in secrets {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
            mac.update(body);
            if mac.verify_slice(&self.0).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

/// Checks `header` against `body` under each secret in turn.
pub fn verify<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    Signature::parse(header)?.verify(secrets, body)
}

/// The header value for `body` under `secret` (for tests, benchmarks and tools that sign).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    /// GitHub's published vector (hex 757107ea…3e17) in Mesh's Base64 form.
    const KNOWN: &str = "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=";

    #[test]
    fn known_answer_vector() {
        assert_eq!(sign(SECRET, BODY), KNOWN);
        assert_eq!(verify([SECRET], Some(KNOWN.as_bytes()), BODY), Ok(()));
    }

    #[test]
    fn missing_and_empty_headers() {
        assert_eq!(verify([SECRET], None, BODY), Err(SignatureError::Missing));
        assert_eq!(verify([SECRET], Some(b""), BODY), Err(SignatureError::Missing));
        assert_eq!(verify([SECRET], Some(b"  "), BODY), Err(SignatureError::Missing));
    }

    /// The Svix length bug and its relatives: none of these may verify.
    #[test]
    fn near_misses_are_rejected() {
        let prefix = &KNOWN[..20];
        let trailing = format!("{KNOWN}AAAA");
        let url_safe = KNOWN.replace('/', "_");
        let no_padding = KNOWN.trim_end_matches('=');
        let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let short = STANDARD.encode([0u8; 16]);
        let prefixed = format!("sha256={KNOWN}");
        for bad in
            [prefix, trailing.as_str(), url_safe.as_str(), no_padding, hex, short.as_str(), prefixed.as_str(), "%%%"]
        {
            assert_eq!(verify([SECRET], Some(bad.as_bytes()), BODY), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(verify([SECRET], Some(&[0xff, 0xfe]), BODY), Err(SignatureError::Malformed));
        let flipped = sign("another secret", BODY);
        assert_eq!(verify([SECRET], Some(flipped.as_bytes()), BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_exact_bytes_are_signed_not_a_reserialisation() {
        let body = r#"{ "EventId":"e1",  "Chain":"Basé" }"#.as_bytes();
        let header = sign(SECRET, body);
        assert_eq!(verify([SECRET], Some(header.as_bytes()), body), Ok(()));
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        let reserialised = serde_json::to_vec(&value).unwrap();
        assert_eq!(verify([SECRET], Some(header.as_bytes()), &reserialised), Err(SignatureError::Mismatch));
    }

    #[test]
    fn rotation_accepts_current_and_previous_only() {
        let by_old = sign("old", BODY);
        let by_new = sign("new", BODY);
        let by_third = sign("third", BODY);
        assert_eq!(verify(["new", "old"], Some(by_old.as_bytes()), BODY), Ok(()));
        assert_eq!(verify(["new", "old"], Some(by_new.as_bytes()), BODY), Ok(()));
        assert_eq!(verify(["new", "old"], Some(by_third.as_bytes()), BODY), Err(SignatureError::Mismatch));
        assert_eq!(verify(["new"], Some(by_old.as_bytes()), BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn surrounding_whitespace_in_the_header_is_tolerated() {
        let padded = format!(" {KNOWN} ");
        assert_eq!(verify([SECRET], Some(padded.as_bytes()), BODY), Ok(()));
    }
}
