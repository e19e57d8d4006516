//! Webhook signing: `X-Mesh-Signature-256` = Base64(HMAC-SHA256(secret, raw body)).
//!
//! Written independently of the backend's verifier on purpose: the two must agree only through the
//! contract (docs/mesh-contract.md §5), never through shared code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header Mesh puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Mesh-Signature-256";

/// Signs `body` the way Mesh signs a webhook: HMAC-SHA256 keyed with the UTF-8 bytes of `secret`
/// (used as-is, not decoded), over the exact body bytes, encoded as standard Base64 with padding and
/// no prefix.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length (long keys are hashed first), so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vector() {
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="
        );
    }

    #[test]
    fn rfc4231_case_2() {
        // key "Jefe", data "what do ya want for nothing?" -> 5bdcc146bf60754e6a042426089575c7
        // 5a003f089d2739839dec58b964ec3843 (hex), here in Base64.
        assert_eq!(sign("Jefe", b"what do ya want for nothing?"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }

    #[test]
    fn empty_secret_and_body_still_sign() {
        let s = sign("", b"");
        assert_eq!(s.len(), 44);
        assert!(s.ends_with('='));
    }

    #[test]
    fn every_byte_matters() {
        assert_ne!(sign("k", b"{\"a\":1}"), sign("k", b"{\"a\": 1}"));
        assert_ne!(sign("k", b"x"), sign("K", b"x"));
    }
}
