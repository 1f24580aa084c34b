//! The date formats of social exports, parsed without a time zone database: every format here
//! either states its offset or is local time with no zone at all.

use trove_model::days_from_civil;

/// Seconds since the epoch for a civil date and time read as UTC; `None` if out of range.
pub fn civil_secs(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// ISO 8601 / RFC 3339: `2016-10-03T15:58:07.123Z`, `...+02:00`, or no zone (local time).
/// Returns (UTC seconds as if the zone were UTC when none is given, milliseconds, offset minutes).
pub fn parse_iso(s: &str) -> Option<(i64, u32, Option<i32>)> {
    let s = s.trim();
    let (date, rest) = s.split_at_checked(10)?;
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    let rest = rest.strip_prefix(['T', ' ', 't'])?;
    let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':');
    let (h, mi) = (num(tp.next()?)?, num(tp.next()?)?);
    let sec = match tp.next() {
        Some(x) => num(x)?,
        None => 0,
    };
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        num(&digits)? * 10u32.pow(3 - digits.len() as u32)
    };
    let offset = match zone {
        None => None,
        Some(z) if z.eq_ignore_ascii_case("z") => Some(0),
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let z = &z[1..];
            let (zh, zm) = match z.split_once(':') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if z.len() == 4 => (num(&z[..2])?, num(&z[2..])?),
                None => (num(z)?, 0),
            };
            // Real offsets stay within ±23:59 (and arithmetic on larger ones would overflow).
            if zh > 23 || zm > 59 {
                return None;
            }
            Some(sign * (zh * 60 + zm) as i32)
        }
    };
    let local = civil_secs(y as i64, mo, d, h, mi, sec)?;
    Some((local - offset.unwrap_or(0) as i64 * 60, ms, offset))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Twitter's own format: `Wed Oct 12 13:46:43 +0000 2016`. Returns (UTC seconds, offset minutes).
pub fn parse_twitter(s: &str) -> Option<(i64, i32)> {
    let p: Vec<&str> = s.split_whitespace().collect();
    if p.len() != 6 {
        return None;
    }
    let mo = MONTHS.iter().position(|m| *m == p[1])? as u32 + 1;
    let d = num(p[2])?;
    let mut t = p[3].split(':');
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    let z = p[4];
    if z.len() != 5 {
        return None;
    }
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let off = sign * (num(&z[1..3])? * 60 + num(&z[3..5])?) as i32;
    let y = num(p[5])? as i64;
    Some((civil_secs(y, mo, d, h, mi, sec)? - off as i64 * 60, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            parse_iso("2016-10-03T15:58:07.123Z"),
            Some((1_475_510_287, 123, Some(0)))
        );
        assert_eq!(
            parse_iso("2016-10-03T17:58:07+02:00"),
            Some((1_475_510_287, 0, Some(120)))
        );
        assert_eq!(
            parse_iso("2016-10-03T15:58:07"),
            Some((1_475_510_287, 0, None))
        );
        assert_eq!(parse_iso("2016-02-30T15:58:07Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
        // Found by fuzzing: an absurd zone overflowed.
        assert_eq!(parse_iso("12-03-1-6SS 0:5-77770777"), None);
        assert_eq!(parse_iso("2016-10-03T15:58:07+77770777"), None);
        assert_eq!(parse_iso("2016-10-03T15:58:07+24:00"), None);
        assert_eq!(
            parse_twitter("Wed Oct 12 13:46:43 +0000 2016"),
            Some((1_476_280_003, 0))
        );
        assert_eq!(parse_twitter("Wed Oct 12 13:46:43 2016"), None);
    }
}
