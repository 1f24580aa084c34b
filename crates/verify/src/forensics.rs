//! Advisory header forensics: things a careful reader of a leaked message would check by hand.
//!
//! None of these proves tampering; each points at a place where a forger would have had to
//! work, or where the message's story does not add up.

use crate::{Options, SignatureResult};
use mail_auth::AuthenticatedMessage;
use mail_parser::DateTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// `unsigned_header`, `duplicate_header`, `date_vs_received`, `date_vs_signature` or
    /// `message_id_domain`.
    pub code: String,
    pub detail: String,
}

fn flag(code: &str, detail: String) -> Flag {
    Flag {
        code: code.into(),
        detail,
    }
}

/// The headers a mail client shows.
const DISPLAYED: [&str; 4] = ["From", "To", "Subject", "Date"];

pub(crate) fn flags(
    msg: &AuthenticatedMessage<'_>,
    signatures: &[SignatureResult],
    opts: &Options,
) -> Vec<Flag> {
    let mut out = Vec::new();
    let count = |name: &str| {
        msg.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    };
    for name in ["From", "Subject"] {
        let n = count(name);
        if n > 1 {
            out.push(flag(
                "duplicate_header",
                format!("{n} {name} headers; mail clients differ in which one they show"),
            ));
        }
    }
    // Coverage is judged against signatures that vouch for the message; without one, the
    // verdict already says nothing is vouched for.
    let passing: Vec<&SignatureResult> =
        signatures.iter().filter(|s| s.verdict.vouches()).collect();
    if !passing.is_empty() {
        for name in DISPLAYED {
            let present = count(name);
            if present == 0 {
                continue;
            }
            // h= picks instances bottom-up, one per listing.
            let covered = passing
                .iter()
                .map(|s| {
                    s.signed_headers
                        .iter()
                        .filter(|h| h.trim().eq_ignore_ascii_case(name))
                        .count()
                        .min(present)
                })
                .max()
                .unwrap_or(0);
            if covered == 0 {
                out.push(flag(
                    "unsigned_header",
                    format!(
                        "{name} is not covered by any passing signature: it could have been changed"
                    ),
                ));
            } else if covered < present {
                out.push(flag(
                    "unsigned_header",
                    format!(
                        "{present} {name} headers, a passing signature covers only the last {covered}; \
                         the topmost one, which clients usually show, is unsigned"
                    ),
                ));
            }
        }
    }
    date_flags(msg, signatures, opts, &mut out);
    if let Some(f) = message_id_flag(msg, signatures) {
        out.push(f);
    }
    out
}

fn header_str(msg: &AuthenticatedMessage<'_>, name: &str) -> Vec<String> {
    msg.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        .collect()
}

fn parse_date(s: &str) -> Option<i64> {
    let d = DateTime::parse_rfc822(s.trim())?;
    d.is_valid().then(|| d.to_timestamp())
}

fn human(secs: i64) -> String {
    let s = secs.abs();
    if s >= 2 * 86400 {
        format!("{} days", s / 86400)
    } else if s >= 2 * 3600 {
        format!("{} hours", s / 3600)
    } else {
        format!("{} minutes", s / 60)
    }
}

fn date_flags(
    msg: &AuthenticatedMessage<'_>,
    signatures: &[SignatureResult],
    opts: &Options,
    out: &mut Vec<Flag>,
) {
    let Some(date) = header_str(msg, "Date").first().and_then(|d| parse_date(d)) else {
        return;
    };
    // Flags `when` if it is more than the tolerance away from the Date header.
    let mut check = |code: &str, what: String, when: i64| {
        let diff = when - date;
        if diff.abs() > opts.date_tolerance_secs {
            let dir = if diff > 0 { "after" } else { "before" };
            out.push(flag(
                code,
                format!("{what} {} {dir} the Date header", human(diff)),
            ));
        }
    };
    // Received headers are prepended, so the last one is the first hop. Only the outermost
    // hops with a readable date are compared, so only they are parsed (list mail carries
    // several Received headers; parsing them all cost ~0.5% of the DKIM verify loop).
    let received: Vec<&[u8]> = msg
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"Received"))
        .map(|(_, v)| *v)
        .collect();
    let hop = |v: &[u8]| {
        let semi = memchr::memrchr(b';', v)?;
        parse_date(&String::from_utf8_lossy(&v[semi + 1..]))
    };
    let first = received
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, v)| Some((i, hop(v)?)));
    if let Some((_, t)) = first {
        check("date_vs_received", "the first Received hop is".into(), t);
    }
    let last = received
        .iter()
        .enumerate()
        .find_map(|(i, v)| Some((i, hop(v)?)));
    if let (Some((i, t)), Some((j, _))) = (last, first)
        && i != j
    {
        check("date_vs_received", "the last Received hop is".into(), t);
    }
    for s in signatures {
        let t = s
            .signed_at
            .as_deref()
            .and_then(DateTime::parse_rfc3339)
            .map(|d| d.to_timestamp());
        if let Some(t) = t {
            check("date_vs_signature", format!("{} signed (t=)", s.domain), t);
        }
    }
}

/// Webmail providers whose Message-IDs always carry one of their own hosts.
const PROVIDERS: &[(&[&str], &[&str])] = &[
    (
        &["gmail.com", "googlemail.com"],
        &["mail.gmail.com", "gmail.com"],
    ),
    (
        &["yahoo.com", "ymail.com"],
        &["yahoo.com", "yahoo.co", "yahoomail.com"],
    ),
    (
        &["hotmail.com", "outlook.com", "live.com", "msn.com"],
        &["outlook.com", "hotmail.com", "phx.gbl", "live.com"],
    ),
];

fn message_id_flag(msg: &AuthenticatedMessage<'_>, sigs: &[SignatureResult]) -> Option<Flag> {
    let mid = header_str(msg, "Message-ID").into_iter().next()?;
    let mid = mid.trim().trim_start_matches('<').trim_end_matches('>');
    let from = msg.from.first()?.to_ascii_lowercase();
    let (_, from_domain) = from.rsplit_once('@')?;
    let Some((_, mid_domain)) = mid.rsplit_once('@') else {
        return Some(flag(
            "message_id_domain",
            format!("the Message-ID <{mid}> has no domain part"),
        ));
    };
    let mid_domain = mid_domain.to_ascii_lowercase();
    if mid_domain.is_empty() || mid_domain == "localhost" || mid_domain == "localhost.localdomain" {
        return Some(flag(
            "message_id_domain",
            format!("the Message-ID domain `{mid_domain}` names no real host"),
        ));
    }
    let (_, hosts) = PROVIDERS
        .iter()
        .find(|(domains, _)| domains.contains(&from_domain))?;
    let ok = hosts.iter().any(|h| {
        mid_domain == *h || mid_domain.ends_with(&format!(".{h}")) || mid_domain.contains(h)
    }) || sigs
        .iter()
        .any(|s| s.verdict.vouches() && mid_domain.ends_with(&s.domain));
    (!ok).then(|| {
        flag(
            "message_id_domain",
            format!(
                "mail from {from_domain} carries Message-IDs of its own hosts, but this one is @{mid_domain}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::{KeyRing, Options, verify};

    fn flags(msg: &str) -> Vec<(String, String)> {
        let opts = Options {
            now: 1_700_000_000,
            date_tolerance_secs: 3600,
        };
        verify(msg.as_bytes(), &KeyRing::default(), &opts)
            .forensics
            .into_iter()
            .map(|f| (f.code, f.detail))
            .collect()
    }

    #[test]
    fn date_against_received_hops() {
        let msg = "Received: from b by c; Mon, 3 Oct 2016 12:05:00 +0000\n\
                   Received: from a by b; Mon, 3 Oct 2016 12:01:00 +0000\n\
                   From: x@example.org\nDate: Mon, 3 Oct 2016 12:00:00 +0000\n\
                   Message-ID: <1@example.org>\n\nbody\n";
        assert!(flags(msg).is_empty(), "{:?}", flags(msg));
        // Backdated by two days.
        let backdated = msg.replace("Date: Mon, 3 Oct", "Date: Sat, 1 Oct");
        let f = flags(&backdated);
        assert_eq!(
            f.iter().filter(|(c, _)| c == "date_vs_received").count(),
            2,
            "{f:?}"
        );
        assert!(f[0].1.contains("2 days after"), "{f:?}");
    }

    #[test]
    fn implausible_message_ids() {
        let base = "From: A <a@gmail.com>\nDate: Mon, 3 Oct 2016 12:00:00 +0000\n";
        let ok = format!("{base}Message-ID: <CAB+x=1@mail.gmail.com>\n\nb\n");
        assert!(flags(&ok).is_empty());
        let odd = format!("{base}Message-ID: <1234@forged-host.example>\n\nb\n");
        assert_eq!(flags(&odd)[0].0, "message_id_domain");
        let local = "From: a@example.org\nMessage-ID: <99@localhost>\n\nb\n";
        assert_eq!(flags(local)[0].0, "message_id_domain");
        // A custom domain may use any host: nothing to say.
        let custom = "From: a@example.org\nMessage-ID: <99@mx.other.example>\n\nb\n";
        assert!(flags(custom).is_empty());
    }
}
