//! HMAC computation and constant-time comparison, shared by every HMAC scheme.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algo {
    Sha1,
    Sha256,
}

/// HMAC of the concatenation of `parts` under `key`.
pub(crate) fn sign(algo: Algo, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    match algo {
        Algo::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("hmac takes any key");
            parts.iter().for_each(|p| mac.update(p));
            mac.finalize().into_bytes().to_vec()
        }
        Algo::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac takes any key");
            parts.iter().for_each(|p| mac.update(p));
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// True when the HMAC under any of `keys` equals any of the `presented` tags. Each key's tag
/// is computed once (work: keys × body), and each comparison is constant-time.
pub(crate) fn any_key_signs(
    algo: Algo,
    keys: &[Secret],
    parts: &[&[u8]],
    presented: &[Vec<u8>],
) -> bool {
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        let tag = sign(algo, key.expose(), parts);
        for candidate in presented {
            matched |= tag.as_slice().ct_eq(candidate.as_slice());
        }
    }
    matched.into()
}

/// Decodes a hex digest of exactly `len` bytes.
pub(crate) fn decode_hex(value: &str, len: usize) -> Option<Vec<u8>> {
    if value.len() != len * 2 {
        return None;
    }
    hex::decode(value).ok()
}

/// Decodes a standard-alphabet base64 digest of exactly `len` bytes.
pub(crate) fn decode_base64(value: &str, len: usize) -> Option<Vec<u8>> {
    use base64::Engine;
    if value.len() > 4 * len.div_ceil(3) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    (bytes.len() == len).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2 (HMAC-SHA-256) and RFC 2202 test case 2 (HMAC-SHA-1).
    #[test]
    fn matches_the_rfc_test_vectors() {
        let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex::encode(sign(Algo::Sha256, b"Jefe", data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(sign(Algo::Sha1, b"Jefe", data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn any_key_may_match_and_a_truncated_tag_never_does() {
        let keys = [Secret::new("old"), Secret::new("new")];
        let tag = sign(Algo::Sha256, b"new", &[b"m"]);
        assert!(any_key_signs(
            Algo::Sha256,
            &keys,
            &[b"m"],
            std::slice::from_ref(&tag)
        ));
        assert!(!any_key_signs(
            Algo::Sha256,
            &keys,
            &[b"m"],
            &[tag[..31].to_vec()]
        ));
        assert!(!any_key_signs(Algo::Sha256, &keys[..1], &[b"m"], &[tag]));
    }
}
