//! Recovering an RSA public key from messages it signed.
//!
//! For RSA PKCS#1 v1.5, `s^e ≡ m (mod n)`, so `n` divides `s^e − m` for every signature `s` over
//! the encoded digest `m`. Two signatures give `n` (times a small cofactor) as
//! `gcd(s1^e − m1, s2^e − m2)`. With e = 65537 and a 2048-bit key, `s^e` has ~134 million bits,
//! so the GCD needs GMP's subquadratic algorithm (through `rug`); a plain bignum crate would take
//! hours. Only signatures whose body and headers are intact help, and we cannot tell which those
//! are without the key, so pairs are tried until the GCD has the key's size, and the candidate
//! must then verify other signatures before it is offered.

use crate::dkim::{SigParams, header_data};
use mail_auth::common::crypto::Algorithm;
use rug::Integer;
use rug::integer::Order;
use rug::ops::Pow;
use sha2::Digest;

/// The public exponent practically every DKIM key uses.
pub const E: u32 = 65537;

/// One RSA signature by the selector, with the padded digest it signs.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The item it came from (for the report).
    pub item: String,
    pub signature: Vec<u8>,
    /// EMSA-PKCS1-v1_5 encoding of the header hash, as long as the signature.
    pub encoded: Vec<u8>,
}

const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA1_PREFIX: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of `data` for a `k`-byte modulus.
pub(crate) fn encode(a: Algorithm, data: &[u8], k: usize) -> Option<Vec<u8>> {
    let (prefix, digest) = match a {
        Algorithm::RsaSha256 => (SHA256_PREFIX, sha2::Sha256::digest(data).to_vec()),
        Algorithm::RsaSha1 => (SHA1_PREFIX, sha1::Sha1::digest(data).to_vec()),
        Algorithm::Ed25519Sha256 => return None,
    };
    let t_len = prefix.len() + digest.len();
    if k < t_len + 11 {
        return None;
    }
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(k - t_len - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(&digest);
    Some(em)
}

/// The RSA signatures of `selector._domainkey.domain` in one raw message whose body still
/// matches `bh=`. A list that rewrote the body usually rewrote signed headers too, so such
/// signatures would mostly waste a costly GCD.
pub fn samples(item: &str, raw: &[u8], domain: &str, selector: &str) -> Vec<Sample> {
    crate::message::with_message(raw, |msg| {
        let Some(msg) = msg else {
            return vec![];
        };
        let mut out = Vec::new();
        for h in &msg.dkim_headers {
            let sig = &h.header;
            if !sig.d.eq_ignore_ascii_case(domain) || !sig.s.eq_ignore_ascii_case(selector) {
                continue;
            }
            if sig.a == Algorithm::Ed25519Sha256 || sig.b.is_empty() {
                continue;
            }
            let params = SigParams::from(sig);
            if !crate::dkim::body_check(msg, &params).0 {
                continue;
            }
            let data = header_data(msg, &params, h.name, h.value);
            if let Some(encoded) = encode(sig.a, &data, sig.b.len()) {
                out.push(Sample {
                    item: item.to_string(),
                    signature: sig.b.clone(),
                    encoded,
                });
            }
        }
        out
    })
}

/// Progress of a recovery, for a progress display.
pub enum Event {
    /// Computing `gcd` of the pair (i, j) of `total` samples.
    Pair { i: usize, j: usize, total: usize },
    /// A GCD had the wrong size (the pair was not two intact signatures of one key).
    Rejected { bits: u32 },
}

/// A recovered key.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// Big-endian modulus.
    pub modulus: Vec<u8>,
    pub bits: u32,
    /// How many of the samples the key verifies.
    pub verified: usize,
    pub pairs_tried: usize,
}

impl Recovered {
    /// The key as a DKIM TXT record.
    pub fn record(&self) -> Result<String, String> {
        use base64::Engine;
        use rsa::pkcs8::EncodePublicKey;
        let key = rsa::RsaPublicKey::new_with_max_size(
            rsa::BigUint::from_bytes_be(&self.modulus),
            rsa::BigUint::from(E),
            16384,
        )
        .map_err(|e| e.to_string())?;
        let der = key.to_public_key_der().map_err(|e| e.to_string())?;
        Ok(format!(
            "v=DKIM1; k=rsa; p={}",
            base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
        ))
    }
}

fn to_int(b: &[u8]) -> Integer {
    Integer::from_digits(b, Order::Msf)
}

/// Small primes whose multiples are stripped from a GCD (the cofactor of `n` is tiny).
fn strip_small_factors(g: &mut Integer) {
    let mut p = 2u32;
    while p < 100_000 {
        while g.is_divisible_u(p) && *g > 1 {
            *g /= p;
        }
        p = if p == 2 { 3 } else { p + 2 };
    }
}

/// Tries pairs of samples (at most `max_pairs`) until a GCD has the modulus size and the
/// candidate verifies enough samples: both of its pair, and at least one more when there is one.
pub fn recover(samples: &[Sample], max_pairs: usize, on: &dyn Fn(Event)) -> Option<Recovered> {
    // All signatures of one key have the modulus length.
    let k = samples.first()?.signature.len();
    let same: Vec<&Sample> = samples.iter().filter(|s| s.signature.len() == k).collect();
    if same.len() < 2 {
        return None;
    }
    let mut powered: Vec<Option<Integer>> = vec![None; same.len()];
    let power = |i: usize| -> Integer {
        let mut v = to_int(&same[i].signature).pow(E);
        v -= to_int(&same[i].encoded);
        v
    };
    let pairs = (1..same.len()).flat_map(|j| (0..j).map(move |i| (i, j)));
    for (n, (i, j)) in pairs.take(max_pairs).enumerate() {
        let tried = n + 1;
        on(Event::Pair {
            i,
            j,
            total: same.len(),
        });
        for x in [i, j] {
            if powered[x].is_none() {
                powered[x] = Some(power(x));
            }
        }
        let (Some(a), Some(b)) = (&powered[i], &powered[j]) else {
            continue;
        };
        let mut g = Integer::from(a.gcd_ref(b));
        strip_small_factors(&mut g);
        let bits = g.significant_bits();
        let want = (k as u32) * 8;
        if bits + 8 <= want || bits > want {
            on(Event::Rejected { bits });
            continue;
        }
        let e = Integer::from(E);
        let verified = same
            .iter()
            .filter(|s| {
                let sig = to_int(&s.signature);
                sig.pow_mod(&e, &g).is_ok_and(|v| v == to_int(&s.encoded))
            })
            .count();
        let needed = if same.len() > 2 { 3 } else { 2 };
        if verified >= needed {
            return Some(Recovered {
                modulus: g.to_digits(Order::Msf),
                bits,
                verified,
                pairs_tried: tried,
            });
        }
        on(Event::Rejected { bits });
    }
    None
}
