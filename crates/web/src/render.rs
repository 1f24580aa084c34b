//! Pieces of pages that are code rather than markup: authenticity wording, sanitised email HTML,
//! and the SVG charts (drawn on the server, so pages work without JavaScript).

use std::collections::BTreeMap;
use std::fmt::Write;
use trove_verify::Verdict;

/// A badge: CSS class, short label and one sentence a reader understands.
pub struct Badge {
    pub class: &'static str,
    pub label: String,
    pub sentence: String,
}

pub fn badge(v: Verdict) -> Badge {
    let (class, sentence) = match v {
        Verdict::Pass => (
            "good",
            "A DKIM signature checks out: the signed headers and the body are exactly what the signing domain sent.",
        ),
        Verdict::PassExpired => (
            "good",
            "The signature checks out; it has passed its stated expiry, which says nothing about tampering.",
        ),
        Verdict::PartialBody => (
            "warn",
            "The signature covers only the first part of the body (l=); text after it is not vouched for.",
        ),
        Verdict::WeakKey => (
            "warn",
            "The signature checks out, but with a key short enough to be forged.",
        ),
        Verdict::HeadersAltered => (
            "bad",
            "The body is intact but a signed header was changed after signing.",
        ),
        Verdict::BodyAltered => (
            "bad",
            "The body differs from what was signed: this copy was edited after it was sent.",
        ),
        Verdict::KeyRevoked => (
            "neutral",
            "The signing domain has revoked this key; the signature cannot be checked.",
        ),
        Verdict::KeyNotFound => (
            "neutral",
            "Signed, but the key store has no key for this selector yet; import or recover it to check.",
        ),
        Verdict::Unsupported => ("neutral", "Signed with an algorithm trove does not check."),
        Verdict::Malformed => ("neutral", "The signature header cannot be read."),
        Verdict::Unsigned => (
            "neutral",
            "No DKIM signature: the message can be neither confirmed nor refuted this way.",
        ),
    };
    Badge {
        class,
        label: v.as_str().replace('_', " "),
        sentence: sentence.into(),
    }
}

/// Email HTML made safe to display: scripts, forms, event handlers and styles that reach out are
/// removed, and every remote URL in an image or media source is dropped, so tracking pixels have
/// nothing to load even before the Content-Security-Policy blocks them.
pub fn sanitize_email_html(html: &str) -> String {
    let mut b = ammonia::Builder::default();
    b.url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| {
            let remote_source = matches!(attribute, "src" | "srcset" | "background" | "poster")
                && !value.trim_start().to_ascii_lowercase().starts_with("data:");
            if remote_source {
                tracing::debug!("dropped a remote {attribute} on <{element}>");
                None
            } else {
                Some(value.into())
            }
        });
    b.clean(html).to_string()
}

/// Escapes text for an SVG or HTML attribute or text node.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// A dot of the time line chart.
pub struct Dot<'a> {
    pub unix: i64,
    pub lane: &'a str,
    pub label: String,
    pub href: String,
}

/// Lanes (one per kind) with a dot per item on a shared time axis, and month ticks.
pub fn timeline_svg(dots: &[Dot<'_>]) -> String {
    if dots.is_empty() {
        return String::new();
    }
    let lanes: Vec<&str> = {
        let mut l: Vec<&str> = dots.iter().map(|d| d.lane).collect();
        l.sort();
        l.dedup();
        l
    };
    let (lo, hi) = dots.iter().fold((i64::MAX, i64::MIN), |(lo, hi), d| {
        (lo.min(d.unix), hi.max(d.unix))
    });
    let span = (hi - lo).max(3600) as f64;
    let (w, left, lane_h) = (960.0, 70.0, 34.0);
    let h = 30.0 + lane_h * lanes.len() as f64;
    let x = |t: i64| left + (t - lo) as f64 / span * (w - left - 20.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Time line of {} items"><title>Time line</title>"#,
        dots.len()
    );
    for (i, lane) in lanes.iter().enumerate() {
        let y = 14.0 + lane_h * i as f64;
        let _ = write!(
            s,
            r#"<text x="0" y="{:.0}" class="lane">{}</text><line x1="{left}" x2="{:.0}" y1="{:.0}" y2="{:.0}" class="rule"/>"#,
            y + 5.0,
            esc(lane),
            w - 20.0,
            y,
            y
        );
    }
    // Ticks at month starts when the span is short enough, else at years.
    let days = span / 86_400.0;
    for t in ticks(lo, hi, days) {
        let tx = x(t.0);
        let _ = write!(
            s,
            r#"<line x1="{tx:.1}" x2="{tx:.1}" y1="0" y2="{:.0}" class="tick"/><text x="{:.1}" y="{:.0}" class="tick">{}</text>"#,
            h - 14.0,
            tx + 2.0,
            h - 2.0,
            esc(&t.1)
        );
    }
    for d in dots {
        let lane = lanes.iter().position(|l| *l == d.lane).unwrap_or(0);
        let y = 14.0 + lane_h * lane as f64;
        let _ = write!(
            s,
            r#"<a href="{}"><circle cx="{:.1}" cy="{y:.0}" r="5" class="dot {}"><title>{}</title></circle></a>"#,
            esc(&d.href),
            x(d.unix),
            esc(d.lane),
            esc(&d.label)
        );
    }
    s.push_str("</svg>");
    s
}

fn ticks(lo: i64, hi: i64, days: f64) -> Vec<(i64, String)> {
    let mut out = vec![];
    let ymd = |t: i64| {
        let d = trove_model::rfc3339_utc(t);
        (
            d[0..4].parse::<i32>().unwrap_or(1970),
            d[5..7].parse::<u32>().unwrap_or(1),
        )
    };
    let (mut y, mut m) = ymd(lo);
    let yearly = days > 900.0;
    let daily = days < 20.0;
    if daily {
        let mut t = lo - lo.rem_euclid(86_400) + 86_400;
        while t <= hi && out.len() < 40 {
            out.push((t, trove_model::rfc3339_utc(t)[5..10].to_string()));
            t += 86_400;
        }
        return out;
    }
    loop {
        if yearly || m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
        let t = unix_of(y, m);
        if t > hi || out.len() > 60 {
            break;
        }
        let label = if yearly || m == 1 {
            format!("{y}")
        } else {
            format!("{y}-{m:02}")
        };
        out.push((t, label));
    }
    out
}

/// Seconds at the start of a month (proleptic Gregorian, UTC).
fn unix_of(y: i32, m: u32) -> i64 {
    let (y, m) = (i64::from(y), i64::from(m));
    let a = (14 - m) / 12;
    let (yy, mm) = (y + 4800 - a, m + 12 * a - 3);
    let jdn = 1 + (153 * mm + 2) / 5 + 365 * yy + yy / 4 - yy / 100 + yy / 400 - 32045;
    (jdn - 2_440_588) * 86_400
}

/// Bars of items per month.
pub fn activity_svg(months: &BTreeMap<String, u64>) -> String {
    if months.is_empty() {
        return String::new();
    }
    let max = months.values().copied().max().unwrap_or(1).max(1) as f64;
    let n = months.len() as f64;
    let (w, h) = (960.0, 140.0);
    let bw = ((w - 40.0) / n).min(60.0);
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Items per month"><title>Items per month</title>"#
    );
    for (i, (month, count)) in months.iter().enumerate() {
        let bh = (*count as f64 / max) * (h - 40.0);
        let x = 20.0 + i as f64 * bw;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" class="bar"><title>{}: {count}</title></rect>"#,
            h - 22.0 - bh,
            (bw - 2.0).max(1.0),
            esc(month)
        );
        if months.len() <= 24 || i % (months.len() / 12).max(1) == 0 {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{:.0}" class="tick">{}</text>"#,
                h - 6.0,
                esc(month)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_images_are_dropped_and_scripts_removed() {
        let html = r#"<p onclick="x()">Hi<img src="https://tracker.example/p.gif" width=1>
            <img src="data:image/png;base64,AAAA"><script>alert(1)</script>
            <a href="https://example.org/">link</a><img srcset="http://t.example/a 1x"></p>"#;
        let out = sanitize_email_html(html);
        assert!(!out.contains("tracker.example"), "{out}");
        assert!(!out.contains("t.example"), "{out}");
        assert!(!out.contains("script"), "{out}");
        assert!(!out.contains("onclick"), "{out}");
        assert!(out.contains("noopener"), "{out}");
    }

    #[test]
    fn month_starts() {
        assert_eq!(unix_of(1970, 1), 0);
        assert_eq!(unix_of(2016, 10), 1_475_280_000);
    }

    #[test]
    fn charts_escape_labels() {
        let svg = timeline_svg(&[Dot {
            unix: 1_475_280_000,
            lane: "dm",
            label: "<script>".into(),
            href: "/item/ab".into(),
        }]);
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
    }
}
