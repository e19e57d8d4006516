//! The webhook as an attacker sees it: any method, any source, any signature header, any body.
//! Nothing is accepted without a valid HMAC (checked here against `sign`, not `verify`), a refused
//! delivery changes no stored data, and nothing panics.
//!
//! Input layout (so the corpus can be seeded from `events/local/`: fuzz/seeds.py):
//!   byte 0: bits 0-1 the method (POST, post, GET, PUT), bit 2 the source allow-list on, bit 3 the
//!           source is Mesh's address, bits 4-6 how the signature header is made (below);
//!   byte 1: n, then n bytes of signature material; the rest is the body.
//! Signature modes: 0 none; 1 the n bytes as the header; 2 HMAC under the n bytes as a key; 3 the
//! valid HMAC with bit n[0] flipped; 4 the valid HMAC of the body with its last byte changed; 5 the
//! valid header cut to n[0] characters; 6 the valid header between the n bytes' two halves; 7 the
//! valid header under the previous secret.
#![no_main]

use fuzz_support::{MESH_IP, PREVIOUS_WEBHOOK_SECRET, WEBHOOK_SECRET, check_delivery, deliver};
use libfuzzer_sys::fuzz_target;
use shared::mesh::signature::sign;
use webhook::receive::Delivery;

fn header(mode: u8, material: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let valid = sign(WEBHOOK_SECRET, body);
    let first = material.first().copied().unwrap_or(0);
    Some(match mode {
        0 => return None,
        1 => material.to_vec(),
        2 => sign(&String::from_utf8_lossy(material), body).into_bytes(),
        3 => {
            let mut tag = valid.into_bytes();
            let i = usize::from(first) % tag.len();
            tag[i] ^= 1 << (first % 7);
            tag
        }
        4 => {
            let mut other = body.to_vec();
            match other.last_mut() {
                Some(b) => *b = b.wrapping_add(1),
                None => other.push(b'{'),
            }
            sign(WEBHOOK_SECRET, &other).into_bytes()
        }
        5 => valid.as_bytes()[..usize::from(first).min(valid.len())].to_vec(),
        6 => {
            let (before, after) = material.split_at(material.len() / 2);
            [before, valid.as_bytes(), after].concat()
        }
        _ => sign(PREVIOUS_WEBHOOK_SECRET, body).into_bytes(),
    })
}

fuzz_target!(|data: &[u8]| {
    let [flags, n, rest @ ..] = data else { return };
    let (material, body) = rest.split_at(usize::from(*n).min(rest.len()));
    let method = ["POST", "post", "GET", "PUT"][usize::from(flags & 0b11)];
    let source_ip = if flags & 0b1000 != 0 { MESH_IP } else { "203.0.113.9" };
    let signature = header((flags >> 4) & 0b111, material, body);
    let store = fuzz_support::store();
    let settings = fuzz_support::settings(flags & 0b100 != 0);
    let delivery = Delivery { method, body, signature: signature.as_deref(), source_ip: Some(source_ip) };
    let (before, result, after) = deliver(&store, &settings, delivery);

    // The oracle: accepted only if the header, trimmed as HTTP trims it, is the HMAC of these exact
    // bytes under the current or the previous secret.
    let presented = signature.as_deref().and_then(|s| std::str::from_utf8(s).ok()).map(str::trim);
    let authentic =
        presented.is_some_and(|s| s == sign(WEBHOOK_SECRET, body) || s == sign(PREVIOUS_WEBHOOK_SECRET, body));
    assert!(result.is_err() || authentic, "accepted without a valid HMAC: {result:?}");
    check_delivery(&before, &result, &after, body);
});
