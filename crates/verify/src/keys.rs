//! DKIM public keys: the key-store file format and the DKIM key record (RFC 6376 §3.6.1).
//!
//! A key-store file holds lines as a zone file or `dig` prints them:
//! `<selector>._domainkey.<domain>[.] [TTL] [IN] [TXT] <value>`, where the value is one unquoted
//! string or several quoted chunks that are concatenated. Parentheses let a record span lines, as
//! in zone files. `#` outside quotes starts a comment.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use std::collections::HashMap;

/// Key records longer than this are refused (real ones are under 1 KiB; 16384-bit RSA is ~3 KiB).
const MAX_RECORD_LEN: usize = 16 * 1024;

/// One `name value` line of a key-store file, before the value is interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLine {
    /// `selector._domainkey.domain`, lower-case, without a trailing dot.
    pub name: String,
    pub selector: String,
    pub domain: String,
    /// The TXT value with its chunks concatenated.
    pub value: String,
    /// 1-based line where the record starts.
    pub line: usize,
}

/// A line of a key-store file that could not be read, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// Reads a key-store file. Good lines and bad lines are both returned, so one typo does not hide
/// the rest of a file.
pub fn parse_key_file(text: &str) -> (Vec<KeyLine>, Vec<LineError>) {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let (start, mut acc) = match pending.take() {
            Some((s, a)) => (s, a + " "),
            None => (lineno, String::new()),
        };
        acc.push_str(raw);
        match paren_balance(&acc) {
            Ok(depth) if depth > 0 => {
                pending = Some((start, acc));
                continue;
            }
            Ok(_) => {}
            Err(reason) => {
                errors.push(LineError {
                    line: start,
                    reason,
                });
                continue;
            }
        }
        match parse_key_line(&acc) {
            Ok(Some((name, value))) => match split_name(&name) {
                Some((selector, domain)) => keys.push(KeyLine {
                    name: format!("{selector}._domainkey.{domain}"),
                    selector,
                    domain,
                    value,
                    line: start,
                }),
                None => errors.push(LineError {
                    line: start,
                    reason: format!("`{name}` is not of the form <selector>._domainkey.<domain>"),
                }),
            },
            Ok(None) => {}
            Err(reason) => errors.push(LineError {
                line: start,
                reason,
            }),
        }
    }
    if let Some((start, _)) = pending {
        errors.push(LineError {
            line: start,
            reason: "unclosed parenthesis".into(),
        });
    }
    (keys, errors)
}

/// The nesting depth of parentheses outside quotes and comments at the end of `s`.
fn paren_balance(s: &str) -> Result<i32, String> {
    let mut depth = 0i32;
    let mut in_quote = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_quote {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '#' => break,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced `)`".into());
                }
            }
            _ => {}
        }
    }
    Ok(depth)
}

/// Splits one logical line into its owner name and TXT value. `Ok(None)` for blank and comment
/// lines.
pub fn parse_key_line(line: &str) -> Result<Option<(String, String)>, String> {
    let line = line.trim_start_matches('\u{feff}');
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
        return Ok(None);
    }
    let (name, mut rest) = trimmed
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("`{trimmed}` has a name but no key record"))?;
    // Optional TTL, class and type, in zone-file order.
    loop {
        rest = rest.trim_start();
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..word_end];
        let skip = word.chars().all(|c| c.is_ascii_digit()) && !word.is_empty()
            || word.eq_ignore_ascii_case("IN")
            || word.eq_ignore_ascii_case("TXT");
        if skip && word_end < rest.len() {
            rest = &rest[word_end..];
        } else {
            break;
        }
    }
    let value = txt_value(rest)?;
    if value.is_empty() {
        return Err(format!("`{name}` has an empty key record"));
    }
    if value.len() > MAX_RECORD_LEN {
        return Err(format!(
            "the key record of `{name}` is longer than {MAX_RECORD_LEN} bytes"
        ));
    }
    Ok(Some((name.to_string(), value)))
}

/// The TXT value: quoted chunks concatenated (with `\"`, `\\` and `\DDD` escapes), or the
/// unquoted remainder up to a comment.
fn txt_value(rest: &str) -> Result<String, String> {
    let rest = rest.trim();
    let inner = rest.replace(['(', ')'], " ");
    let inner = inner.trim();
    if !inner.starts_with('"') {
        let end = inner.find('#').unwrap_or(inner.len());
        return Ok(inner[..end].trim().to_string());
    }
    let mut out = Vec::new();
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(&b) = bytes.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match b {
                        b'"' => break,
                        b'\\' => {
                            let digits = bytes
                                .get(i..i + 3)
                                .filter(|d| d.iter().all(u8::is_ascii_digit));
                            if let Some(d) = digits {
                                let v = (d[0] - b'0') as u32 * 100
                                    + (d[1] - b'0') as u32 * 10
                                    + (d[2] - b'0') as u32;
                                out.push(u8::try_from(v).map_err(|_| "bad \\DDD escape")?);
                                i += 3;
                            } else if let Some(&c) = bytes.get(i) {
                                out.push(c);
                                i += 1;
                            }
                        }
                        _ => out.push(b),
                    }
                }
            }
            b'#' => break,
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                return Err(
                    "text between quoted chunks; quote the whole value or none of it".into(),
                );
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the key record is not UTF-8".into())
}

/// `selector._domainkey.domain[.]` → (selector, domain), lower-cased.
fn split_name(name: &str) -> Option<(String, String)> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let (selector, domain) = name.split_once("._domainkey.")?;
    if selector.is_empty() || domain.is_empty() || !domain.contains('.') && domain.len() < 2 {
        return None;
    }
    Some((selector.to_string(), domain.to_string()))
}

/// The key type of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa(RsaKey),
    Ed25519([u8; 32]),
    /// Empty `p=`: the signer withdrew the key.
    Revoked,
}

/// An RSA public key as verification uses it: modulus and exponent as GMP integers, converted
/// once when the record is read rather than for every signature (through the `rsa` crate's
/// bytes, that conversion was about 1% of the DKIM verify loop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaKey {
    pub n: rug::Integer,
    pub e: rug::Integer,
    /// The modulus's length in bytes: the length of an encoded message and of a signature.
    pub size: usize,
    /// The modulus prepared for IFMA multiplication, where this CPU has it.
    pub(crate) fast: FastModulus,
}

impl From<&rsa::RsaPublicKey> for RsaKey {
    fn from(k: &rsa::RsaPublicKey) -> Self {
        use rug::integer::Order::Msf;
        let n = rug::Integer::from_digits(&k.n().to_bytes_be(), Msf);
        RsaKey {
            fast: FastModulus(crate::ifma::Modulus::new(&n).map(std::sync::Arc::new)),
            n,
            e: rug::Integer::from_digits(&k.e().to_bytes_be(), Msf),
            size: k.size(),
        }
    }
}

/// [`crate::ifma::Modulus`] for a key: derived from `n`, so it takes no part in comparisons.
#[derive(Clone, Debug)]
pub(crate) struct FastModulus(pub(crate) Option<std::sync::Arc<crate::ifma::Modulus>>);

impl PartialEq for FastModulus {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for FastModulus {}

/// A DKIM key record, interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub material: KeyMaterial,
    /// Modulus size for RSA, 256 for Ed25519, 0 when revoked.
    pub bits: u32,
    /// `h=`: hash algorithms the key may be used with (empty: any).
    pub hashes: Vec<String>,
    /// `t=s`: the `i=` domain must equal `d=`.
    pub strict_subdomains: bool,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
}

/// Why a key record could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    Malformed(String),
    Unsupported(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Malformed(s) => write!(f, "malformed key record: {s}"),
            KeyError::Unsupported(s) => write!(f, "unsupported key record: {s}"),
        }
    }
}

/// Parses an RFC 6376 tag list (`tag=value; ...`). Whitespace is folded out of values.
pub fn tag_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in s.split(';') {
        if part.trim().is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{}` is not tag=value", part.trim()))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad tag name `{k}`"));
        }
        if out.iter().any(|(o, _)| o == k) {
            return Err(format!("tag `{k}` appears twice"));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Interprets a DKIM key record.
pub fn parse_record(value: &str) -> Result<KeyRecord, KeyError> {
    let tags = tag_list(value).map_err(KeyError::Malformed)?;
    let get = |k: &str| tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str());
    if let Some(v) = get("v") {
        if tags.first().map(|(t, _)| t.as_str()) != Some("v") {
            return Err(KeyError::Malformed("v= must come first".into()));
        }
        if v != "DKIM1" {
            return Err(KeyError::Malformed(format!("version `{v}` is not DKIM1")));
        }
    }
    let p = get("p").ok_or_else(|| KeyError::Malformed("no p= tag".into()))?;
    let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    let k = get("k").unwrap_or("rsa").to_ascii_lowercase();
    let hashes: Vec<String> = get("h")
        .map(|h| {
            h.split(':')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let flags: Vec<&str> = get("t")
        .map(|t| t.split(':').map(str::trim).collect())
        .unwrap_or_default();
    let mut record = KeyRecord {
        material: KeyMaterial::Revoked,
        bits: 0,
        hashes,
        strict_subdomains: flags.contains(&"s"),
        testing: flags.contains(&"y"),
    };
    if p.is_empty() {
        return Ok(record);
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&p)
        .map_err(|e| KeyError::Malformed(format!("p= is not base64 ({e})")))?;
    match k.as_str() {
        "rsa" => {
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(&der))
                .map_err(|e| KeyError::Malformed(format!("p= is not an RSA public key ({e})")))?;
            record.bits = key.n().bits() as u32;
            record.material = KeyMaterial::Rsa(RsaKey::from(&key));
        }
        "ed25519" => {
            let raw: [u8; 32] = der.as_slice().try_into().map_err(|_| {
                KeyError::Malformed(format!(
                    "an Ed25519 key is 32 bytes, p= holds {}",
                    der.len()
                ))
            })?;
            record.bits = 256;
            record.material = KeyMaterial::Ed25519(raw);
        }
        other => return Err(KeyError::Unsupported(format!("key type k={other}"))),
    }
    Ok(record)
}

/// A key as the archive holds it.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub id: i64,
    /// Where the key came from: a file path, or `recovered`.
    pub source: String,
    pub record: Result<KeyRecord, KeyError>,
}

/// Every key of the store, by `selector._domainkey.domain`. Verification reads only this: there is
/// no resolver behind it, so a name it lacks is "key not found", never a DNS query.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    by_name: HashMap<String, Vec<StoredKey>>,
}

impl KeyRing {
    pub fn add(&mut self, name: &str, key: StoredKey) {
        self.by_name
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(key);
    }

    pub fn get(&self, selector: &str, domain: &str) -> &[StoredKey] {
        let name = format!(
            "{}._domainkey.{}",
            selector.to_ascii_lowercase(),
            domain.trim_end_matches('.').to_ascii_lowercase()
        );
        self.by_name.get(&name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.by_name.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    #[test]
    fn reads_dig_zone_and_plain_forms() {
        let text = format!(
            "# a comment\n\
             test._domainkey.example.com v=DKIM1; k=rsa; p={P}\n\
             20120113._domainkey.gmail.com. 300 IN TXT \"k=rsa; p={a}\" \"{b}\"\n\
             s._domainkey.Example.ORG. IN TXT ( \"v=DKIM1; \"\n   \"p={P}\" ) # trailing\n\
             \n",
            a = &P[..40],
            b = &P[40..]
        );
        let (keys, errors) = parse_key_file(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].name, "test._domainkey.example.com");
        assert_eq!(keys[1].domain, "gmail.com");
        assert_eq!(keys[1].value, format!("k=rsa; p={P}"));
        assert_eq!(keys[2].name, "s._domainkey.example.org");
        assert_eq!(keys[2].value, format!("v=DKIM1; p={P}"));
        assert_eq!(keys[2].line, 4);
        for k in &keys {
            assert_eq!(parse_record(&k.value).map(|r| r.bits), Ok(1024));
        }
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let (keys, errors) = parse_key_file(
            "nodomainkey.example.com p=x\nname.only._domainkey.example.com\nok._domainkey.a.b \"p=\" junk \"x\"\n",
        );
        assert!(keys.is_empty());
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn record_kinds() {
        assert_eq!(
            parse_record("v=DKIM1; p=").map(|r| r.material),
            Ok(KeyMaterial::Revoked)
        );
        let ed = parse_record("k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap();
        assert_eq!(ed.bits, 256);
        // dkimpy's broken records: a bad version separator and an unknown key type.
        assert!(matches!(
            parse_record(&format!("v=DKIM1: g=*; k=rsa; p={P}")),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            parse_record(&format!("v=DKIM1; g=*; k=ed25519-sha256; p={P}")),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            parse_record("k=rsa; p=!!!"),
            Err(KeyError::Malformed(_))
        ));
        let t = parse_record(&format!("k=rsa; t=s; h=sha256; p={P}")).unwrap();
        assert!(t.strict_subdomains);
        assert_eq!(t.hashes, vec!["sha256"]);
    }
}
