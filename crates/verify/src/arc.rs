//! ARC chains (RFC 8617), verified with the same offline key ring.
//!
//! Every set's message signature and seal get a verdict. The chain passes when the sets are
//! numbered 1..n, the `cv=` values are right, every seal verifies and the newest message
//! signature verifies (older ones are expected to break as later hops change the message).

use crate::dkim::{self, SigParams};
use crate::keys::{KeyMaterial, KeyRecord};
use crate::message::Message;
use crate::{ArcResult, ArcSetResult, KeyRing, Options, SignatureResult, Verdict, canon};
use mail_auth::AuthenticatedMessage;
use mail_auth::arc::ChainValidation;
use mail_auth::dkim::Canonicalization;

/// RFC 8617 §4.2.1 caps a chain at 50 sets.
const MAX_SETS: usize = 50;

pub(crate) fn check_chain(msg: &Message<'_>, keys: &KeyRing, opts: &Options) -> Option<ArcResult> {
    let n = msg.ams_headers.len();
    if n == 0 && msg.as_headers.is_empty() && msg.aar_headers.is_empty() && !msg.has_arc_errors {
        return None;
    }
    let fail = |verdict: &str, reason: String, sets| {
        Some(ArcResult {
            verdict: verdict.into(),
            reason: Some(reason),
            sets,
        })
    };
    if msg.has_arc_errors {
        let why = msg
            .errors
            .iter()
            .find(|e| matches!(e.header, mail_auth::Error::Arc(_)))
            .map(|e| e.header.to_string())
            .unwrap_or_else(|| "an ARC header could not be read".into());
        return fail("malformed", why, vec![]);
    }
    if n > MAX_SETS {
        return fail(
            "fail",
            format!("{n} ARC sets, more than {MAX_SETS}"),
            vec![],
        );
    }
    if n != msg.as_headers.len() || n != msg.aar_headers.len() {
        return fail(
            "fail",
            format!(
                "incomplete ARC sets: {} seals, {} message signatures, {} results",
                msg.as_headers.len(),
                n,
                msg.aar_headers.len()
            ),
            vec![],
        );
    }
    let mut sets = Vec::with_capacity(n);
    let mut problem: Option<(String, String)> = None;
    for (pos, ((seal, ams), aar)) in msg
        .as_headers
        .iter()
        .zip(&msg.ams_headers)
        .zip(&msg.aar_headers)
        .enumerate()
    {
        let i = pos as u32 + 1;
        if seal.header.i != i || ams.header.i != i || aar.header.i != i {
            problem.get_or_insert((
                "fail".into(),
                format!("ARC instance numbers are not 1..{n}"),
            ));
        }
        let cv = &seal.header.cv;
        let cv_ok = if i == 1 {
            *cv == ChainValidation::None
        } else {
            *cv == ChainValidation::Pass
        };
        if !cv_ok {
            problem.get_or_insert(("fail".into(), format!("ARC set {i} has cv={}", cv_name(cv))));
        }
        let params = SigParams::from(&ams.header);
        let message_signature = dkim::check(msg, ams.name, ams.value, &params, keys, opts);
        let seal_result = check_seal(msg, pos, keys);
        sets.push(ArcSetResult {
            instance: i,
            cv: cv_name(cv).into(),
            message_signature,
            seal: seal_result,
        });
    }
    for s in &sets {
        if !s.seal.verdict.vouches() {
            problem.get_or_insert((
                chain_verdict(s.seal.verdict).into(),
                format!(
                    "the seal of set {} is {}: {}",
                    s.instance,
                    s.seal.verdict,
                    s.seal.reason.clone().unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(last) = sets.last()
        && !last.message_signature.verdict.vouches()
    {
        problem.get_or_insert((
            chain_verdict(last.message_signature.verdict).into(),
            format!(
                "the newest message signature (set {}) is {}",
                last.instance, last.message_signature.verdict
            ),
        ));
    }
    Some(match problem {
        Some((v, why)) => ArcResult {
            verdict: v,
            reason: Some(why),
            sets,
        },
        None => ArcResult {
            verdict: "pass".into(),
            reason: None,
            sets,
        },
    })
}

/// A failing seal or message signature fails the chain, unless the key is merely missing.
fn chain_verdict(v: Verdict) -> &'static str {
    if v == Verdict::KeyNotFound {
        "key_not_found"
    } else {
        "fail"
    }
}

fn cv_name(cv: &ChainValidation) -> &'static str {
    match cv {
        ChainValidation::None => "none",
        ChainValidation::Fail => "fail",
        ChainValidation::Pass => "pass",
    }
}

/// The seal of set `pos` signs every earlier set and its own results and message signature,
/// relaxed-canonicalised, with its own `b=` emptied.
fn check_seal(msg: &AuthenticatedMessage<'_>, pos: usize, keys: &KeyRing) -> SignatureResult {
    let seal_h = &msg.as_headers[pos];
    let seal = &seal_h.header;
    let mut r = SignatureResult {
        domain: seal.d.to_ascii_lowercase(),
        selector: seal.s.clone(),
        algorithm: dkim::algorithm_name(seal.a).into(),
        verdict: Verdict::Pass,
        key_source: None,
        key_bits: None,
        signed_headers: vec![],
        expired_at: None,
        unsigned_body_bytes: None,
        signed_at: (seal.t > 0)
            .then(|| crate::rfc3339(seal.t as i64))
            .flatten(),
        body_ok: None,
        maths_ok: None,
        reason: None,
    };
    let stripped = canon::strip_b(seal_h.value);
    let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(3 * (pos + 1));
    for j in 0..=pos {
        let (aar, ams, as_) = (&msg.aar_headers[j], &msg.ams_headers[j], &msg.as_headers[j]);
        headers.push((aar.name, aar.value));
        headers.push((ams.name, ams.value));
        if j < pos {
            headers.push((as_.name, as_.value));
        } else {
            headers.push((as_.name, &stripped));
        }
        r.signed_headers.extend(
            [aar.name, ams.name, as_.name]
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned()),
        );
    }
    let mut data = Vec::new();
    Canonicalization::Relaxed.canonicalize_headers(headers.into_iter(), &mut data);
    let candidates = keys.get(&seal.s, &seal.d);
    let usable: Vec<(&crate::StoredKey, &KeyRecord)> = candidates
        .iter()
        .filter_map(|k| k.record.as_ref().ok().map(|rec| (k, rec)))
        .filter(|(_, rec)| rec.material != KeyMaterial::Revoked)
        .collect();
    if usable.is_empty() {
        r.verdict = if candidates.is_empty() {
            Verdict::KeyNotFound
        } else {
            Verdict::KeyRevoked
        };
        r.reason = Some("no usable key for the seal's selector".into());
        return r;
    }
    for (k, rec) in &usable {
        if let Ok(ok) = dkim::maths(rec, seal.a, &data, &seal.b) {
            r.key_source = Some(k.source.clone());
            r.key_bits = Some(rec.bits);
            r.maths_ok = Some(ok);
            if ok {
                break;
            }
        }
    }
    match r.maths_ok {
        Some(true)
            if seal.a != mail_auth::common::crypto::Algorithm::Ed25519Sha256
                && r.key_bits.is_some_and(|b| b < dkim::MIN_RSA_BITS) =>
        {
            r.verdict = Verdict::WeakKey;
            r.reason = Some("the seal's key is under 1024 bits".into());
        }
        Some(true) => {}
        Some(false) => {
            r.verdict = Verdict::HeadersAltered;
            r.reason = Some("the seal does not verify over the ARC headers".into());
        }
        None => {
            r.verdict = Verdict::Unsupported;
            r.reason = Some("the key type does not match the seal's algorithm".into());
        }
    }
    r
}
