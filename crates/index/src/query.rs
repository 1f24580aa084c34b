//! The query language: Gmail/notmuch-style text → a small syntax tree.
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*          (juxtaposition is AND)
//! unary   := ("NOT" | "-") unary | primary
//! primary := "(" or ")" | [field ":"] (word | word* | "phrase" | "(" or ")")
//! ```
//! Parsing is total: any input gives a tree or a [`QueryError`] with the 1-based column of the
//! problem. Nothing here knows tantivy; `search.rs` turns the tree into index queries.

use std::fmt;

/// Longest query accepted (characters) and most terms in one query.
pub const MAX_QUERY_CHARS: usize = 4000;
pub const MAX_TERMS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    From,
    To,
    Cc,
    Bcc,
    Participant,
    Subject,
    Body,
    Attachment,
    Filename,
    Kind,
    Lang,
    Thread,
    Native,
    Id,
    Source,
    Has,
    Dkim,
    Tag,
}

/// Every field name the language accepts (aliases included), for parsing and for help text.
pub const FIELD_NAMES: &[(&str, Field)] = &[
    ("from", Field::From),
    ("to", Field::To),
    ("cc", Field::Cc),
    ("bcc", Field::Bcc),
    ("participant", Field::Participant),
    ("subject", Field::Subject),
    ("body", Field::Body),
    ("attachment", Field::Attachment),
    ("filename", Field::Filename),
    ("kind", Field::Kind),
    ("lang", Field::Lang),
    ("thread", Field::Thread),
    ("conversation", Field::Thread),
    ("native", Field::Native),
    ("id", Field::Id),
    ("source", Field::Source),
    ("has", Field::Has),
    ("dkim", Field::Dkim),
    ("tag", Field::Tag),
];

const DATE_FIELDS: &[&str] = &["date", "after", "before"];

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Word(String),
    Phrase(String),
    /// A trailing-wildcard prefix (`assang*`), without the `*`.
    Prefix(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A term; `field` None means the default text fields.
    Term {
        field: Option<Field>,
        value: Value,
    },
    /// Unix seconds, half-open `[from, to)`; either side may be open.
    DateRange {
        from: Option<i64>,
        to: Option<i64>,
    },
    /// Matches everything (the empty query).
    All,
}

impl Node {
    /// Whether compiling the query asks the [`crate::Resolver`] (actor names, threads and
    /// conversations, tags): a caller that has no catalog open needs one only then.
    pub fn uses_resolver(&self) -> bool {
        match self {
            Node::And(parts) | Node::Or(parts) => parts.iter().any(Node::uses_resolver),
            Node::Not(inner) => inner.uses_resolver(),
            Node::Term { field: Some(f), .. } => matches!(
                f,
                Field::From
                    | Field::To
                    | Field::Cc
                    | Field::Bcc
                    | Field::Participant
                    | Field::Thread
                    | Field::Tag
            ),
            Node::Term { field: None, .. } | Node::DateRange { .. } | Node::All => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// 1-based character column.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query error at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for QueryError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Or,
    And,
    Not,
    /// `field:` directly followed by `(`: a group whose bare terms take this field.
    FieldGroup(Field),
    Term(Option<Field>, Value),
    Date(Option<i64>, Option<i64>),
}

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    _src: &'a str,
}

fn err(column: usize, message: impl Into<String>) -> QueryError {
    QueryError {
        column,
        message: message.into(),
    }
}

impl<'a> Lexer<'a> {
    fn tokens(src: &'a str) -> Result<Vec<(usize, Tok)>, QueryError> {
        let mut lx = Lexer {
            chars: src.chars().collect(),
            i: 0,
            _src: src,
        };
        let mut out = Vec::new();
        while let Some((col, t)) = lx.next()? {
            out.extend(t.into_iter().map(|t| (col, t)));
        }
        Ok(out)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.i;
        self.i += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '"' => return Ok(s),
                '\\' if self.peek() == Some('"') => {
                    s.push('"');
                    self.i += 1;
                }
                c => s.push(c),
            }
        }
        Err(err(start + 1, "unterminated quote"))
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                break;
            }
            s.push(c);
            self.i += 1;
        }
        s
    }

    #[allow(clippy::type_complexity)]
    fn next(&mut self) -> Result<Option<(usize, Vec<Tok>)>, QueryError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
        let col = self.i + 1;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            '(' => {
                self.i += 1;
                vec![Tok::LParen]
            }
            ')' => {
                self.i += 1;
                vec![Tok::RParen]
            }
            '"' => vec![Tok::Term(None, Value::Phrase(self.quoted()?))],
            '-' if self
                .chars
                .get(self.i + 1)
                .is_some_and(|c| !c.is_whitespace()) =>
            {
                self.i += 1;
                vec![Tok::Not]
            }
            _ => {
                let w = self.word();
                match w.as_str() {
                    "OR" | "|" => vec![Tok::Or],
                    "AND" | "&" => vec![Tok::And],
                    "NOT" => vec![Tok::Not],
                    _ => self.fielded(col, w)?,
                }
            }
        };
        // A `field:(` group is reported at its parenthesis.
        let col = if matches!(tok.as_slice(), [Tok::FieldGroup(_)]) {
            self.i
        } else {
            col
        };
        Ok(Some((col, tok)))
    }

    fn fielded(&mut self, col: usize, w: String) -> Result<Vec<Tok>, QueryError> {
        let Some((name, rest)) = w.split_once(':') else {
            return Ok(vec![Tok::Term(None, word_value(col, &w)?)]);
        };
        let lname = name.to_ascii_lowercase();
        if DATE_FIELDS.contains(&lname.as_str()) {
            let value = if rest.is_empty() && self.peek() == Some('"') {
                self.quoted()?
            } else {
                rest.to_string()
            };
            let vcol = col + name.chars().count() + 1;
            let (from, to) = match lname.as_str() {
                "after" => (Some(date_bounds(vcol, &value)?.0), None),
                "before" => (None, Some(date_bounds(vcol, &value)?.0)),
                _ => date_range(vcol, &value)?,
            };
            return Ok(vec![Tok::Date(from, to)]);
        }
        let Some(field) = FIELD_NAMES
            .iter()
            .find(|(n, _)| *n == lname)
            .map(|(_, f)| *f)
        else {
            // `http://…` and other colons that are not field syntax are plain text.
            if rest.starts_with("//") || !name.chars().all(|c| c.is_ascii_alphabetic()) {
                return Ok(vec![Tok::Term(None, word_value(col, &w)?)]);
            }
            let known: Vec<&str> = FIELD_NAMES
                .iter()
                .map(|(n, _)| *n)
                .chain(DATE_FIELDS.iter().copied())
                .collect();
            return Err(err(
                col,
                format!("unknown field '{name}'; fields are: {}", known.join(", ")),
            ));
        };
        if rest.is_empty() {
            return match self.peek() {
                Some('"') => Ok(vec![Tok::Term(Some(field), Value::Phrase(self.quoted()?))]),
                Some('(') => {
                    self.i += 1;
                    Ok(vec![Tok::FieldGroup(field)])
                }
                _ => Err(err(col, format!("'{name}:' needs a value"))),
            };
        }
        if field == Field::Has
            && !matches!(
                rest.to_ascii_lowercase().as_str(),
                "attachment" | "attachments"
            )
        {
            return Err(err(
                col,
                format!("has:{rest} is not supported; use has:attachment"),
            ));
        }
        Ok(vec![Tok::Term(
            Some(field),
            word_value(col + name.len() + 1, rest)?,
        )])
    }
}

fn word_value(col: usize, w: &str) -> Result<Value, QueryError> {
    if let Some(p) = w.strip_suffix('*') {
        if p.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            return Err(err(
                col,
                format!("wildcard prefix '{w}' is too short (2 characters at least)"),
            ));
        }
        return Ok(Value::Prefix(p.to_string()));
    }
    Ok(Value::Word(w.to_string()))
}

/// `[start, end)` of a day, month or year written `YYYY[-MM[-DD]]`, in Unix seconds UTC (for
/// command-line options that take the query language's dates).
pub fn period_bounds(s: &str) -> Result<(i64, i64), QueryError> {
    date_bounds(1, s)
}

/// `[start, end)` of a day, month or year, in Unix seconds UTC.
fn date_bounds(col: usize, s: &str) -> Result<(i64, i64), QueryError> {
    let bad = || {
        err(
            col,
            format!("'{s}' is not a date; use YYYY, YYYY-MM or YYYY-MM-DD"),
        )
    };
    let parts: Vec<&str> = s.split(['-', '/']).collect();
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let day = |y: i64, m: u32, d: u32| trove_model::days_from_civil(y, m, d) * 86_400;
    match parts.as_slice() {
        [y] if y.len() == 4 => {
            let y = num(y)?;
            Ok((day(y, 1, 1), day(y + 1, 1, 1)))
        }
        [y, m] if y.len() == 4 => {
            let (y, m) = (num(y)?, num(m)?);
            if !(1..=12).contains(&m) {
                return Err(bad());
            }
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Ok((day(y, m as u32, 1), day(ny, nm as u32, 1)))
        }
        [y, m, d] if y.len() == 4 => {
            let (y, m, d) = (num(y)?, num(m)?, num(d)?);
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                return Err(bad());
            }
            let start = day(y, m as u32, d as u32);
            Ok((start, start + 86_400))
        }
        _ => Err(bad()),
    }
}

fn date_range(col: usize, s: &str) -> Result<(Option<i64>, Option<i64>), QueryError> {
    match s.split_once("..") {
        Some((a, b)) => {
            let from = if a.is_empty() {
                None
            } else {
                Some(date_bounds(col, a)?.0)
            };
            let to = if b.is_empty() {
                None
            } else {
                Some(date_bounds(col + a.len() + 2, b)?.1)
            };
            Ok((from, to))
        }
        None => {
            let (a, b) = date_bounds(col, s)?;
            Ok((Some(a), Some(b)))
        }
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end_col: usize,
    terms: usize,
}

/// Parses a query. The empty query matches everything.
pub fn parse(src: &str) -> Result<Node, QueryError> {
    let n = src.chars().count();
    if n > MAX_QUERY_CHARS {
        return Err(err(
            MAX_QUERY_CHARS,
            format!("query longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let toks = Lexer::tokens(src)?;
    if toks.is_empty() {
        return Ok(Node::All);
    }
    let mut p = Parser {
        toks,
        i: 0,
        end_col: n + 1,
        terms: 0,
    };
    let node = p.or(None)?;
    if let Some((col, t)) = p.toks.get(p.i) {
        let what = if *t == Tok::RParen {
            "unmatched ')'".to_string()
        } else {
            format!("unexpected {t:?}")
        };
        return Err(err(*col, what));
    }
    Ok(node)
}

impl Parser {
    fn col(&self) -> usize {
        self.toks.get(self.i).map(|t| t.0).unwrap_or(self.end_col)
    }

    fn or(&mut self, field: Option<Field>) -> Result<Node, QueryError> {
        let mut parts = vec![self.and(field)?];
        while matches!(self.toks.get(self.i), Some((_, Tok::Or))) {
            self.i += 1;
            parts.push(self.and(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::Or(parts)
        })
    }

    fn and(&mut self, field: Option<Field>) -> Result<Node, QueryError> {
        let mut parts = vec![self.unary(field)?];
        loop {
            match self.toks.get(self.i) {
                None | Some((_, Tok::Or)) | Some((_, Tok::RParen)) => break,
                Some((_, Tok::And)) => {
                    self.i += 1;
                }
                _ => {}
            }
            parts.push(self.unary(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::And(parts)
        })
    }

    fn unary(&mut self, field: Option<Field>) -> Result<Node, QueryError> {
        if matches!(self.toks.get(self.i), Some((_, Tok::Not))) {
            self.i += 1;
            return Ok(Node::Not(Box::new(self.unary(field)?)));
        }
        self.primary(field)
    }

    fn primary(&mut self, field: Option<Field>) -> Result<Node, QueryError> {
        let col = self.col();
        let Some((_, tok)) = self.toks.get(self.i).cloned() else {
            return Err(err(col, "the query ends where a term was expected"));
        };
        self.i += 1;
        match tok {
            Tok::LParen | Tok::FieldGroup(_) => {
                let inner_field = if let Tok::FieldGroup(f) = tok {
                    Some(f)
                } else {
                    field
                };
                let node = self.or(inner_field)?;
                match self.toks.get(self.i) {
                    Some((_, Tok::RParen)) => {
                        self.i += 1;
                        Ok(node)
                    }
                    _ => Err(err(col, "'(' is never closed")),
                }
            }
            Tok::Term(f, value) => {
                self.terms += 1;
                if self.terms > MAX_TERMS {
                    return Err(err(col, format!("more than {MAX_TERMS} terms")));
                }
                Ok(Node::Term {
                    field: f.or(field),
                    value,
                })
            }
            Tok::Date(from, to) => Ok(Node::DateRange { from, to }),
            Tok::RParen => Err(err(col, "unmatched ')'")),
            Tok::Or | Tok::And => Err(err(col, "OR/AND needs a term on each side")),
            Tok::Not => Err(err(col, "NOT needs a term after it")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: Option<Field>, s: &str) -> Node {
        Node::Term {
            field: f,
            value: Value::Word(s.into()),
        }
    }

    #[test]
    fn gmail_style_queries_parse() {
        let q = parse(r#"from:podesta subject:"tax returns" after:2016-09-01 has:attachment"#)
            .expect("parse");
        let Node::And(parts) = q else { panic!("{q:?}") };
        assert_eq!(parts[0], w(Some(Field::From), "podesta"));
        assert_eq!(
            parts[1],
            Node::Term {
                field: Some(Field::Subject),
                value: Value::Phrase("tax returns".into())
            }
        );
        assert_eq!(
            parts[2],
            Node::DateRange {
                from: Some(1_472_688_000),
                to: None
            }
        );
        assert_eq!(parts[3], w(Some(Field::Has), "attachment"));
    }

    #[test]
    fn booleans_negation_groups_and_prefixes() {
        let q = parse("(clinton OR trump) -debate NOT assang* from:(a OR b)").expect("parse");
        let Node::And(p) = q else { panic!() };
        assert_eq!(p[0], Node::Or(vec![w(None, "clinton"), w(None, "trump")]));
        assert_eq!(p[1], Node::Not(Box::new(w(None, "debate"))));
        assert_eq!(
            p[2],
            Node::Not(Box::new(Node::Term {
                field: None,
                value: Value::Prefix("assang".into())
            }))
        );
        assert_eq!(
            p[3],
            Node::Or(vec![w(Some(Field::From), "a"), w(Some(Field::From), "b")])
        );
    }

    #[test]
    fn date_forms() {
        assert_eq!(
            parse("date:2016-10").expect("p"),
            Node::DateRange {
                from: Some(1_475_280_000),
                to: Some(1_477_958_400)
            }
        );
        assert_eq!(
            parse("date:2016-10-01..2016-10-15").expect("p"),
            Node::DateRange {
                from: Some(1_475_280_000),
                to: Some(1_476_576_000)
            }
        );
        assert_eq!(
            parse("date:2016").expect("p"),
            Node::DateRange {
                from: Some(1_451_606_400),
                to: Some(1_483_228_800)
            }
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(parse("a (b").unwrap_err().column, 3);
        assert_eq!(parse("a b)").unwrap_err().column, 4);
        assert_eq!(parse("x \"open").unwrap_err().column, 3);
        let e = parse("form:x").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown field 'form'"));
        assert!(parse("date:2016-13").is_err());
        assert!(parse("a OR").is_err());
        assert!(parse("a*").is_err());
        assert!(parse("has:pdf").is_err());
        assert_eq!(parse("").expect("empty"), Node::All);
        assert_eq!(
            parse("http://example.org/x").expect("url"),
            w(None, "http://example.org/x")
        );
    }

    #[test]
    fn total_on_arbitrary_input() {
        for s in [
            "((((",
            "))))",
            "\"",
            "-",
            "- -",
            "OR OR",
            "from:",
            ":",
            "a:b:c",
            "NOT",
            "date:..",
            "\u{0}\u{ffff}",
        ] {
            let _ = parse(s);
        }
    }
}
