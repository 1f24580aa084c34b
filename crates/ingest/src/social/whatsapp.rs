//! WhatsApp "Export chat" text, Android (`12/12/19, 08:40 - Name: text`) and iOS
//! (`[12/12/2019, 08:40:12] Name: text`) line formats, with U+200E marks, 12- and 24-hour times,
//! continuation lines and system lines.
//!
//! The file never says whether `03/04/19` is the 3rd of April or the 4th of March. The splitter
//! reads every date first: a field above 12 settles the order; otherwise the order that keeps the
//! chat chronological wins; if both fit equally, day-first is assumed and every item says so.
//! Times are local with no zone, so they are read as UTC and flagged.

use super::time::civil_secs;
use super::{Parsed, SocialOutcome};
use regex::Regex;
use std::sync::LazyLock;
use trove_model::{
    AddressRole, Finding, ItemRecord, Kind, Mailbox, SourceContext, Timestamp, normalize_identity,
};

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^[\u{200E}\u{200F}\u{FEFF}]*(\[)?(\d{1,4})[./-](\d{1,2})[./-](\d{1,4}),?\s+",
        r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?",
        r"(?:[\s\u{202F}\u{00A0}]*([AaPp])\.?\s?[Mm]\.?)?",
        r"(?:\]\s|\s[-\u{2013}]\s)(.*)$"
    ))
    .expect("static regex")
});

/// One header line, as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub ios: bool,
    pub fields: (u32, u32, u32),
    pub first_is_year: bool,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub pm: Option<bool>,
    pub rest: String,
}

pub fn header(line: &str) -> Option<Header> {
    let c = LINE.captures(line.trim_end_matches(['\r', '\n']))?;
    let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let first = c.get(2)?.as_str();
    Some(Header {
        ios: c.get(1).is_some(),
        fields: (n(2)?, n(3)?, n(4)?),
        first_is_year: first.len() == 4,
        hour: n(5)?,
        minute: n(6)?,
        second: n(7).unwrap_or(0),
        pm: c.get(8).map(|m| m.as_str().eq_ignore_ascii_case("p")),
        rest: c.get(9)?.as_str().to_string(),
    })
}

/// Whether `head` (the first bytes of a file) is a WhatsApp chat export.
pub fn looks_like_chat(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    match lines.next() {
        Some(l) => header(l).is_some(),
        None => false,
    }
}

fn order_date(h: &Header, order: &str) -> Option<(i64, u32, u32)> {
    let (a, b, c) = h.fields;
    let (y, m, d) = match order {
        "ymd" => (a, b, c),
        "mdy" => (c, a, b),
        _ => (c, b, a),
    };
    let y = if y < 100 { 2000 + y } else { y };
    Some((y as i64, m, d))
}

/// The instant of a header under a date order, reading the local time as UTC.
pub fn instant(h: &Header, order: &str) -> Option<i64> {
    let (y, m, d) = order_date(h, order)?;
    let hour = match h.pm {
        Some(true) if h.hour < 12 => h.hour + 12,
        Some(false) if h.hour == 12 => 0,
        _ => h.hour,
    };
    civil_secs(y, m, d, hour, h.minute, h.second)
}

/// Decides the date order of a file from its headers, one at a time (constant memory).
#[derive(Default)]
pub struct OrderInference {
    year_first: bool,
    dmy_invalid: bool,
    mdy_invalid: bool,
    prev: (Option<i64>, Option<i64>),
    backwards: (u64, u64),
}

impl OrderInference {
    pub fn add(&mut self, h: &Header) {
        self.year_first |= h.first_is_year;
        let (d, m) = (instant(h, "dmy"), instant(h, "mdy"));
        self.dmy_invalid |= d.is_none();
        self.mdy_invalid |= m.is_none();
        if let (Some(p), Some(t)) = (self.prev.0, d)
            && t < p
        {
            self.backwards.0 += 1;
        }
        if let (Some(p), Some(t)) = (self.prev.1, m)
            && t < p
        {
            self.backwards.1 += 1;
        }
        self.prev = (d.or(self.prev.0), m.or(self.prev.1));
    }

    /// `(order, ambiguous, explanation)`.
    pub fn decide(&self) -> (String, bool, String) {
        let r = |o: &str, amb: bool, why: &str| (o.to_string(), amb, why.to_string());
        if self.year_first {
            return r("ymd", false, "dates are written year first");
        }
        match (self.dmy_invalid, self.mdy_invalid) {
            (false, true) => return r("dmy", false, "a day above 12 fixes day first"),
            (true, false) => return r("mdy", false, "a day above 12 fixes month first"),
            (true, true) => {
                return r(
                    "dmy",
                    true,
                    "no single day/month order fits every date; read day first",
                );
            }
            _ => {}
        }
        let (bd, bm) = self.backwards;
        if bd < bm {
            r("dmy", false, "only day first keeps the chat in time order")
        } else if bm < bd {
            r(
                "mdy",
                false,
                "only month first keeps the chat in time order",
            )
        } else {
            r(
                "dmy",
                true,
                "no day above 12 and both orders keep the chat in time order; read day first",
            )
        }
    }
}

/// Decides the date order from every header of a file: `(order, ambiguous, explanation)`.
pub fn infer_order(headers: &[Header]) -> (String, bool, String) {
    let mut inf = OrderInference::default();
    for h in headers {
        inf.add(h);
    }
    inf.decide()
}

/// Splits `rest` of a header into sender and text; `None` for a system line.
pub fn sender_and_text(h: &Header) -> (Option<String>, String) {
    if let Some((name, text)) = h.rest.split_once(": ") {
        let name = name.trim_matches(['\u{200E}', '\u{200F}', ' ']);
        let system_ios = h.ios
            && text.starts_with('\u{200E}')
            && !text.starts_with("\u{200E}<attached:")
            && !text.ends_with(" omitted");
        if !name.is_empty() && name.chars().count() <= 60 && !name.contains('"') && !system_ios {
            return (Some(name.to_string()), text.to_string());
        }
        if system_ios {
            return (None, text.to_string());
        }
    }
    (None, h.rest.clone())
}

/// The identity of a sender as WhatsApp prints it: a phone number or a contact name.
pub fn sender_identity(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '\u{200E}')
        .collect();
    let digits = cleaned.chars().filter(char::is_ascii_digit).count();
    if cleaned.trim_start().starts_with('+') && digits >= 6 {
        normalize_identity(&format!("phone:{cleaned}")).unwrap_or(cleaned)
    } else {
        format!("name:{}", cleaned.trim())
    }
}

pub fn parse(raw: &[u8], ctx: &SourceContext) -> Result<SocialOutcome, String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let h = header(first).ok_or("not a WhatsApp message line")?;
    let order = ctx.date_order.as_deref().unwrap_or("dmy");
    let mut r = ItemRecord {
        kind: Kind::Dm,
        ..Default::default()
    };
    let utc = instant(&h, order).ok_or(format!("no valid date in '{first}' as {order}"))?;
    r.date = Timestamp {
        utc: Some(utc),
        offset_minutes: None,
        raw: Some(first.trim_end_matches('\r').chars().take(40).collect()),
    };
    r.findings.push(Finding::new(
        "timezone_unknown",
        "WhatsApp exports local time without a zone: read as UTC",
    ));
    if ctx.date_order_ambiguous {
        r.findings.push(Finding::new(
            "date_order_ambiguous",
            format!("the file does not show whether dates are day or month first; read as {order}"),
        ));
    }
    let (sender, first_text) = sender_and_text(&h);
    let mut body = first_text;
    for l in lines {
        body.push('\n');
        body.push_str(l.trim_end_matches('\r'));
    }
    r.body_text = body.replace(['\u{200E}', '\u{200F}'], "");
    let mut d = serde_json::Map::new();
    match &sender {
        Some(name) => {
            let me = sender_identity(name);
            r.addresses.push((
                AddressRole::From,
                Mailbox {
                    name: Some(name.clone()),
                    address: Some(me.clone()),
                },
            ));
            for p in &ctx.participants {
                if p.address.as_deref() != Some(me.as_str()) {
                    r.addresses.push((AddressRole::To, p.clone()));
                }
            }
        }
        None => {
            d.insert("event".into(), serde_json::Value::String("system".into()));
        }
    }
    if let Some(a) = r
        .body_text
        .trim()
        .strip_prefix("<attached: ")
        .and_then(|s| s.strip_suffix('>'))
    {
        d.insert(
            "attachment".into(),
            serde_json::Value::String(a.to_string()),
        );
    }
    r.details = d;
    r.conversation = ctx.conversation.as_ref().map(|c| format!("whatsapp:{c}"));
    Ok(SocialOutcome::Item(Parsed {
        record: r,
        links: vec![],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn android_and_ios_lines() {
        let a = header("12/12/19, 08:40 - Alice: hello: there").unwrap();
        assert!(!a.ios);
        assert_eq!(a.fields, (12, 12, 19));
        assert_eq!(
            sender_and_text(&a),
            (Some("Alice".into()), "hello: there".into())
        );
        let i = header("\u{200E}[03/04/2019, 8:40:12\u{202F}PM] +1 555 010 9999: hi").unwrap();
        assert!(i.ios);
        assert_eq!(i.pm, Some(true));
        assert_eq!(instant(&i, "dmy"), civil_secs(2019, 4, 3, 20, 40, 12));
        assert_eq!(sender_identity("+1 555 010 9999"), "phone:+15550109999");
        let sys = header("12/12/19, 08:40 - Messages and calls are end-to-end encrypted.").unwrap();
        assert_eq!(sender_and_text(&sys).0, None);
        let sys_ios =
            header("[12/12/2019, 08:40:12] Trip: \u{200E}Messages are end-to-end encrypted.")
                .unwrap();
        assert_eq!(sender_and_text(&sys_ios).0, None);
        assert!(header("hello world").is_none());
    }

    #[test]
    fn date_order_is_inferred() {
        let hs =
            |lines: &[&str]| -> Vec<Header> { lines.iter().map(|l| header(l).unwrap()).collect() };
        let d = hs(&["01/02/19, 10:00 - A: x", "13/02/19, 10:00 - A: y"]);
        assert_eq!(infer_order(&d).0, "dmy");
        assert!(!infer_order(&d).1);
        let m = hs(&["02/01/19, 10:00 - A: x", "02/13/19, 10:00 - A: y"]);
        assert_eq!(infer_order(&m).0, "mdy");
        // 01/02 then 02/01: day first goes Feb 1 → Jan 2 (backwards); month first is in order.
        let o = hs(&[
            "01/02/19, 10:00 - A: x",
            "02/01/19, 10:00 - A: y",
            "03/01/19, 10:00 - A: z",
        ]);
        assert_eq!(infer_order(&o).0, "mdy");
        let amb = hs(&["01/01/19, 10:00 - A: x"]);
        assert!(infer_order(&amb).1);
    }
}
