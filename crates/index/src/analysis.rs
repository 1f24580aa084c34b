//! Text analysis: language detection, the analyzers registered with tantivy, a CJK bigram
//! tokenizer, and the token text for address fields.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenStream, Tokenizer, TokenizerManager,
    WhitespaceTokenizer,
};
use trove_model::Mailbox;

/// Languages with a stemmed body field: `(ISO 639-1 code, tantivy language)`.
pub const STEMMED: &[(&str, Language)] = &[
    ("en", Language::English),
    ("fr", Language::French),
    ("de", Language::German),
    ("es", Language::Spanish),
    ("it", Language::Italian),
    ("pt", Language::Portuguese),
    ("ru", Language::Russian),
    ("nl", Language::Dutch),
];

/// Analyzer names.
pub const NEUTRAL: &str = "trove_neutral";
pub const ADDRESS: &str = "trove_address";
pub const CJK: &str = "trove_cjk";

pub fn stemmed_name(code: &str) -> String {
    format!("trove_{code}")
}

/// Registers every analyzer the schema names.
pub fn register(manager: &TokenizerManager) {
    manager.register(
        NEUTRAL,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(48))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
    manager.register(
        ADDRESS,
        TextAnalyzer::builder(WhitespaceTokenizer::default())
            .filter(RemoveLongFilter::limit(200))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
    manager.register(CJK, TextAnalyzer::builder(CjkBigrams).build());
    for (code, lang) in STEMMED {
        // Stop words are removed before stemming; folding comes last so that "élection" and
        // "election" stem alike.
        let mut b = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(48))
            .filter(LowerCaser)
            .dynamic();
        if let Some(stop) = StopWordFilter::new(*lang) {
            b = b.filter_dynamic(stop);
        }
        let analyzer = b
            .filter_dynamic(Stemmer::new(*lang))
            .filter_dynamic(AsciiFoldingFilter)
            .build();
        manager.register(&stemmed_name(code), analyzer);
    }
}

/// Detects the language of a text; returns an ISO 639-1 code where one exists, `None` when the
/// detector is not confident.
pub fn detect_language(text: &str) -> Option<String> {
    // The first 400 characters decide as well as the whole text, at a fraction
    // of the cost (language detection was the largest single cost of indexing).
    let sample: String = text.chars().take(400).collect();
    let info = whatlang::detect(&sample)?;
    if !info.is_reliable() && info.confidence() < 0.5 {
        return None;
    }
    use whatlang::Lang::*;
    let code = match info.lang() {
        Eng => "en",
        Fra => "fr",
        Deu => "de",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Rus => "ru",
        Nld => "nl",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Ara => "ar",
        Ukr => "uk",
        Pol => "pl",
        Tur => "tr",
        Swe => "sv",
        Dan => "da",
        Fin => "fi",
        Ell => "el",
        Heb => "he",
        Hin => "hi",
        Ces => "cs",
        Hun => "hu",
        Ron => "ro",
        other => return Some(other.code().to_string()),
    };
    Some(code.to_string())
}

/// Whether a text has any character the CJK analyzer indexes.
pub fn contains_cjk(text: &str) -> bool {
    // CJK characters are 3 or 4 bytes in UTF-8: pure-ASCII text is ruled out fast.
    !text.is_ascii() && text.chars().any(is_cjk)
}

/// True for characters indexed as CJK bigrams (Han, kana, Hangul).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0xAC00..=0xD7AF | 0x20000..=0x2FA1F)
}

/// Overlapping bigrams over runs of CJK characters (a single character alone is a unigram).
/// Everything else is ignored: the neutral analyzer covers it.
#[derive(Clone, Default)]
pub struct CjkBigrams;

pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for CjkBigrams {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut i = 0;
        let mut position = 0;
        while i < chars.len() {
            if !is_cjk(chars[i].1) {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && is_cjk(chars[i].1) {
                i += 1;
            }
            let end_byte = |k: usize| chars.get(k).map(|c| c.0).unwrap_or(text.len());
            let run = start..i;
            if run.len() == 1 {
                tokens.push(Token {
                    offset_from: chars[start].0,
                    offset_to: end_byte(start + 1),
                    position,
                    text: chars[start].1.to_string(),
                    position_length: 1,
                });
                position += 1;
            } else {
                for k in start..i - 1 {
                    tokens.push(Token {
                        offset_from: chars[k].0,
                        offset_to: end_byte(k + 2),
                        position,
                        text: format!("{}{}", chars[k].1, chars[k + 1].1),
                        position_length: 1,
                    });
                    position += 1;
                }
            }
            // A gap between runs, so a phrase never spans two runs.
            position += 1;
        }
        VecTokenStream { tokens, next: 0 }
    }
}

/// The text indexed for a mailbox in an address field: the full address, the local part and its
/// pieces, the domain and its parent domains, then the display-name words (last, so a quoted
/// name is a phrase). `from:podesta`, `from:gmail.com` and `from:"John Podesta"` all match.
pub fn address_tokens(m: &Mailbox) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(addr) = m.normalized_address() {
        out.push(addr.clone());
        let identity = trove_model::identity_of_address(&addr);
        if !identity.starts_with("mailto:") {
            // `twitter:39344374`, `twitter:@handle`, `phone:+1555…`: the whole identity, the
            // value, and a handle without its `@`.
            if let Some((_, value)) = addr.split_once(':') {
                out.push(value.to_string());
                if let Some(h) = value.strip_prefix('@') {
                    out.push(h.to_string());
                }
            }
        } else if let Some((local, domain)) = addr.rsplit_once('@') {
            out.push(local.to_string());
            out.extend(
                local
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|p| !p.is_empty() && *p != local)
                    .map(str::to_string),
            );
            let labels: Vec<&str> = domain.split('.').collect();
            for k in 0..labels.len().saturating_sub(1) {
                out.push(labels[k..].join("."));
            }
        }
    }
    if let Some(name) = &m.name {
        out.extend(
            name.split(|c: char| !c.is_alphanumeric())
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        );
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(analyzer: &str, text: &str) -> Vec<String> {
        let m = TokenizerManager::default();
        register(&m);
        let mut a = m.get(analyzer).expect("registered");
        let mut s = a.token_stream(text);
        let mut out = vec![];
        while let Some(t) = s.next() {
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn french_and_english_stem_and_fold() {
        assert_eq!(tokens(&stemmed_name("fr"), "les élections"), vec!["elect"]);
        assert_eq!(
            tokens(&stemmed_name("fr"), "élection"),
            tokens(&stemmed_name("fr"), "elections")
        );
        assert_eq!(tokens(&stemmed_name("en"), "The returns"), vec!["return"]);
        assert_eq!(
            tokens(NEUTRAL, "CLINTON Élection"),
            vec!["clinton", "election"]
        );
    }

    #[test]
    fn cjk_text_becomes_bigrams() {
        assert_eq!(tokens(CJK, "東京都 x 日"), vec!["東京", "京都", "日"]);
        assert!(tokens(CJK, "plain latin").is_empty());
    }

    #[test]
    fn addresses_match_by_name_local_part_and_domain() {
        let m = Mailbox {
            name: Some("John Podesta".into()),
            address: Some("John.Podesta@Mail.Gmail.com".into()),
        };
        assert_eq!(
            address_tokens(&m),
            "john.podesta@mail.gmail.com john.podesta john podesta mail.gmail.com gmail.com John Podesta"
        );
    }

    #[test]
    fn languages_are_detected() {
        assert_eq!(detect_language("Veuillez trouver ci-joint la note sur le financement de la campagne avant l'élection.").as_deref(), Some("fr"));
        assert_eq!(
            detect_language(
                "Please find attached the memo about the campaign finances before the election."
            )
            .as_deref(),
            Some("en")
        );
    }
}
