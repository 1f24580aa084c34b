//! One signature at a time: body hash, key, maths, then the verdict.

use crate::keys::{KeyError, KeyMaterial, KeyRecord, StoredKey};
use crate::message::Message;
use crate::{KeyRing, Options, SignatureResult, Verdict, canon, rfc3339};
use mail_auth::AuthenticatedMessage;
use mail_auth::common::crypto::{Algorithm, HashAlgorithm};
use mail_auth::dkim::Canonicalization;
use sha2::Digest;

/// Keys under this many bits are reported as `weak_key` (RFC 8301 requires 1024).
pub const MIN_RSA_BITS: u32 = 1024;

/// The fields a DKIM-Signature and an ARC-Message-Signature share.
pub(crate) struct SigParams<'a> {
    pub a: Algorithm,
    pub d: &'a str,
    pub s: &'a str,
    pub b: &'a [u8],
    pub bh: &'a [u8],
    pub h: &'a [String],
    pub l: u64,
    pub x: u64,
    pub t: u64,
    pub ch: Canonicalization,
    pub cb: Canonicalization,
}

impl<'a> From<&'a mail_auth::dkim::Signature> for SigParams<'a> {
    fn from(s: &'a mail_auth::dkim::Signature) -> Self {
        SigParams {
            a: s.a,
            d: &s.d,
            s: &s.s,
            b: &s.b,
            bh: &s.bh,
            h: &s.h,
            l: s.l,
            x: s.x,
            t: s.t,
            ch: s.ch,
            cb: s.cb,
        }
    }
}

impl<'a> From<&'a mail_auth::arc::Signature> for SigParams<'a> {
    fn from(s: &'a mail_auth::arc::Signature) -> Self {
        SigParams {
            a: s.a,
            d: &s.d,
            s: &s.s,
            b: &s.b,
            bh: &s.bh,
            h: &s.h,
            l: s.l,
            x: s.x,
            t: s.t,
            ch: s.ch,
            cb: s.cb,
        }
    }
}

pub(crate) fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RsaSha1 => "rsa-sha1",
        Algorithm::RsaSha256 => "rsa-sha256",
        Algorithm::Ed25519Sha256 => "ed25519-sha256",
    }
}

/// Every DKIM-Signature of the message, in header order (top first).
pub(crate) fn check_all(msg: &Message<'_>, keys: &KeyRing, opts: &Options) -> Vec<SignatureResult> {
    let base = msg.raw_message.as_ptr() as usize;
    let mut out: Vec<(usize, SignatureResult)> = Vec::new();
    for h in &msg.dkim_headers {
        let params = SigParams::from(&h.header);
        out.push((
            h.value.as_ptr() as usize - base,
            check(msg, h.name, h.value, &params, keys, opts),
        ));
    }
    for e in &msg.errors {
        if e.name.eq_ignore_ascii_case(b"DKIM-Signature") {
            out.push((
                e.value.as_ptr() as usize - base,
                unreadable(e.value, &e.header),
            ));
        }
    }
    out.sort_by_key(|(pos, _)| *pos);
    out.into_iter().map(|(_, r)| r).collect()
}

/// A signature mail-auth could not parse: `unsupported` for a version, algorithm or
/// canonicalisation it does not know, `malformed` otherwise.
pub(crate) fn unreadable(value: &[u8], err: &mail_auth::Error) -> SignatureResult {
    use mail_auth::dkim::DkimError as E;
    let text = String::from_utf8_lossy(value);
    let tags = crate::keys::tag_list(&text).unwrap_or_default();
    let tag = |k: &str| {
        tags.iter()
            .find(|(t, _)| t == k)
            .map(|(_, v)| v.split_whitespace().collect::<String>())
            .unwrap_or_default()
    };
    let verdict = match err {
        mail_auth::Error::Dkim(
            E::UnsupportedVersion | E::UnsupportedAlgorithm | E::UnsupportedCanonicalization,
        ) => Verdict::Unsupported,
        _ => Verdict::Malformed,
    };
    SignatureResult {
        domain: tag("d").to_ascii_lowercase(),
        selector: tag("s"),
        algorithm: tag("a"),
        verdict,
        key_source: None,
        key_bits: None,
        signed_headers: tag("h")
            .split(':')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        expired_at: None,
        unsigned_body_bytes: None,
        signed_at: None,
        body_ok: None,
        maths_ok: None,
        reason: Some(err.to_string()),
    }
}

/// Body hash check: (matches, unsigned canonical bytes beyond `l=`, reason if it cannot match).
/// With `l=` the limit counts canonical bytes (mail-auth cuts raw bytes instead).
pub(crate) fn body_check(msg: &Message<'_>, p: &SigParams<'_>) -> (bool, u64, Option<String>) {
    let (digest, len) = msg.body_hash(p.cb, HashAlgorithm::from(p.a), p.l);
    let limit = if p.l == 0 { len } else { p.l };
    if limit > len {
        return (
            false,
            0,
            Some(format!(
                "l={limit} but the canonical body has only {len} bytes: it was truncated"
            )),
        );
    }
    (digest == p.bh, len - limit, None)
}

/// The canonicalised header data a signature covers: the `h=` headers picked bottom-up, then the
/// signature header itself with `b=` emptied.
pub(crate) fn header_data(
    msg: &AuthenticatedMessage<'_>,
    p: &SigParams<'_>,
    name: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let stripped = canon::strip_b(value);
    let headers = msg.signed_headers(p.h, name, &stripped);
    let mut data = Vec::with_capacity(1024);
    p.ch.canonicalize_headers(headers, &mut data);
    data
}

/// Does `sig` verify over `data` with `key`?
pub(crate) fn maths(
    key: &KeyRecord,
    a: Algorithm,
    data: &[u8],
    sig: &[u8],
) -> Result<bool, String> {
    match (&key.material, a) {
        (KeyMaterial::Rsa(k), Algorithm::RsaSha256 | Algorithm::RsaSha1) => {
            // RFC 8017 §8.2.2: recompute the encoded message and compare it with s^e mod n.
            // GMP does the modular power ~10× faster than the rsa crate's bignums, and has no
            // opinion on key sizes (weak keys are judged by the caller).
            let s = integer_from_be(sig);
            if s >= k.n || sig.is_empty() {
                return Ok(false);
            }
            let Some(em) = crate::recover::encode(a, data, k.size) else {
                return Ok(false);
            };
            if let (Some(m), Some(e)) = (&k.fast.0, k.e.to_u64()) {
                return Ok(m.pow(sig, e, k.size) == em);
            }
            Ok(s.pow_mod(&k.e, &k.n)
                .is_ok_and(|m| m == integer_from_be(&em)))
        }
        (KeyMaterial::Ed25519(raw), Algorithm::Ed25519Sha256) => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(raw)
                .map_err(|e| format!("the Ed25519 key is not a valid point ({e})"))?;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return Ok(false);
            };
            // RFC 8463: Ed25519 signs the SHA-256 of the header data.
            let d = sha2::Sha256::digest(data);
            Ok(vk.verify_strict(&d, &sig).is_ok())
        }
        (KeyMaterial::Revoked, _) => Err("the key is revoked".into()),
        _ => Err(format!(
            "the key type does not match the signature algorithm {}",
            algorithm_name(a)
        )),
    }
}

/// A big-endian byte string as a GMP integer. Given bytes, GMP converts them one at a time
/// (`mpz_import` was 2% of the verify loop for the signature and the encoded message); given
/// 64-bit words, least significant first, it copies them.
fn integer_from_be(bytes: &[u8]) -> rug::Integer {
    let words: Vec<u64> = bytes
        .rchunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[8 - c.len()..].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect();
    rug::Integer::from_digits(&words, rug::integer::Order::Lsf)
}

/// The usable keys of a selector, or the verdict that explains why there is none.
fn usable_keys(
    candidates: &[StoredKey],
    a: Algorithm,
) -> Result<Vec<(&StoredKey, &KeyRecord)>, (Verdict, String)> {
    if candidates.is_empty() {
        return Err((
            Verdict::KeyNotFound,
            "no key for this selector in the key store".into(),
        ));
    }
    let hash = match a {
        Algorithm::RsaSha1 => "sha1",
        _ => "sha256",
    };
    let mut usable = Vec::new();
    let mut why: Option<(Verdict, String)> = None;
    let mut note = |v: Verdict, r: String| {
        if why.as_ref().is_none_or(|(w, _)| v < *w) {
            why = Some((v, r));
        }
    };
    for k in candidates {
        match &k.record {
            Ok(r) if r.material == KeyMaterial::Revoked => note(
                Verdict::KeyRevoked,
                "the key record has an empty p= (revoked)".into(),
            ),
            Ok(r) if !r.hashes.is_empty() && !r.hashes.iter().any(|h| h == hash) => note(
                Verdict::Unsupported,
                format!("the key allows only h={}", r.hashes.join(":")),
            ),
            Ok(r) => usable.push((k, r)),
            Err(KeyError::Unsupported(e)) => note(Verdict::Unsupported, format!("key: {e}")),
            Err(KeyError::Malformed(e)) => note(Verdict::Malformed, format!("key: {e}")),
        }
    }
    if usable.is_empty() {
        return Err(why.unwrap_or((Verdict::KeyNotFound, "no usable key".into())));
    }
    Ok(usable)
}

/// Verifies one signature header.
pub(crate) fn check(
    msg: &Message<'_>,
    name: &[u8],
    value: &[u8],
    p: &SigParams<'_>,
    keys: &KeyRing,
    opts: &Options,
) -> SignatureResult {
    let (body_ok, unsigned, body_reason) = body_check(msg, p);
    let mut r = SignatureResult {
        domain: p.d.to_ascii_lowercase(),
        selector: p.s.to_string(),
        algorithm: algorithm_name(p.a).to_string(),
        verdict: Verdict::Pass,
        key_source: None,
        key_bits: None,
        signed_headers: p.h.to_vec(),
        expired_at: None,
        unsigned_body_bytes: (p.l > 0 && body_ok).then_some(unsigned),
        signed_at: (p.t > 0).then(|| rfc3339(p.t as i64)).flatten(),
        body_ok: Some(body_ok),
        maths_ok: None,
        reason: None,
    };
    let key_outcome = usable_keys(keys.get(p.s, p.d), p.a);
    let mut key_problem = None;
    match key_outcome {
        Err(v) => key_problem = Some(v),
        Ok(usable) => {
            let data = header_data(msg, p, name, value);
            let mut chosen = None;
            let mut any_false = false;
            let mut last_err = None;
            for (k, rec) in &usable {
                match maths(rec, p.a, &data, p.b) {
                    Ok(true) => {
                        chosen = Some((*k, *rec, true));
                        break;
                    }
                    Ok(false) => any_false = true,
                    Err(e) => last_err = Some(e),
                }
            }
            if chosen.is_none() && any_false {
                let (k, rec) = usable[0];
                chosen = Some((k, rec, false));
            }
            match chosen {
                Some((k, rec, ok)) => {
                    r.key_source = Some(k.source.clone());
                    r.key_bits = Some(rec.bits);
                    r.maths_ok = Some(ok);
                }
                None => {
                    key_problem = Some((
                        Verdict::Unsupported,
                        last_err.unwrap_or_else(|| "no key could be applied".into()),
                    ))
                }
            }
        }
    }
    let weak = matches!(r.key_bits, Some(b) if b < MIN_RSA_BITS) && p.a != Algorithm::Ed25519Sha256;
    let (verdict, reason) = if !body_ok {
        (
            Verdict::BodyAltered,
            Some(body_reason.unwrap_or_else(|| {
                "the body does not match the body hash (bh=) the signature carries".into()
            })),
        )
    } else if let Some((v, why)) = key_problem {
        (v, Some(why))
    } else if weak {
        let bits = r.key_bits.unwrap_or(0);
        let maths = if r.maths_ok == Some(true) {
            "the signature itself checks out"
        } else {
            "and the signature does not check out"
        };
        (
            Verdict::WeakKey,
            Some(format!(
                "{bits}-bit key, under {MIN_RSA_BITS} bits: anyone could have forged it; {maths}"
            )),
        )
    } else if r.maths_ok != Some(true) {
        (
            Verdict::HeadersAltered,
            Some("the signature does not verify over the signed headers with this key".into()),
        )
    } else if unsigned > 0 {
        (
            Verdict::PartialBody,
            Some(format!(
                "l= covers {} body bytes; {unsigned} bytes after them are not signed",
                p.l
            )),
        )
    } else if p.x != 0 && (p.x as i64) < opts.now {
        r.expired_at = rfc3339(p.x as i64);
        (
            Verdict::PassExpired,
            Some("valid signature, past its expiry (x=)".into()),
        )
    } else {
        (Verdict::Pass, None)
    };
    r.verdict = verdict;
    r.reason = reason;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_bytes_convert_as_gmp_converts_them() {
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 128, 255, 256, 257, 300] {
            let b = &bytes[..len];
            assert_eq!(
                integer_from_be(b),
                rug::Integer::from_digits(b, rug::integer::Order::Msf),
                "{len} bytes"
            );
        }
        // Leading zero bytes do not change the value.
        assert_eq!(
            integer_from_be(&[0, 0, 0, 1, 2]),
            rug::Integer::from(0x0102)
        );
    }

    /// Both ways of computing s^e mod n (IFMA where the CPU has it, GMP always) accept a real
    /// signature and reject it once the data or the signature changes by one bit.
    #[test]
    fn rsa_verifies_the_same_through_ifma_and_gmp() {
        use rsa::pkcs1v15::SigningKey;
        use rsa::signature::{SignatureEncoding, Signer};
        for bits in [1024, 2048] {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
            let with_ifma = crate::keys::RsaKey::from(&private.to_public_key());
            let mut gmp_only = with_ifma.clone();
            gmp_only.fast = crate::keys::FastModulus(None);
            let data = b"from:a@example.com\r\nsubject:hello\r\n".to_vec();
            let sig = SigningKey::<sha2::Sha256>::new(private)
                .sign(&data)
                .to_vec();
            let mut bad_data = data.clone();
            bad_data[3] ^= 1;
            let mut bad_sig = sig.clone();
            bad_sig[bits / 16] ^= 0x10;
            for key in [&with_ifma, &gmp_only] {
                let rec = KeyRecord {
                    material: KeyMaterial::Rsa(key.clone()),
                    bits: bits as u32,
                    hashes: vec![],
                    strict_subdomains: false,
                    testing: false,
                };
                let ok = |d: &[u8], s: &[u8]| maths(&rec, Algorithm::RsaSha256, d, s).unwrap();
                assert!(ok(&data, &sig), "{bits} bits, {:?}", key.fast);
                assert!(!ok(&bad_data, &sig), "{bits} bits, {:?}", key.fast);
                assert!(!ok(&data, &bad_sig), "{bits} bits, {:?}", key.fast);
            }
            assert_eq!(with_ifma.fast.0.is_some(), crate::ifma::available());
        }
    }
}
