//! Text analysis: language detection, the analyzers registered with tantivy, a CJK bigram
//! tokenizer, and the token text for address fields.

use crate::stem_cache::{CACHE_WORD, Cached, StemCache};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer, TokenizerManager,
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

/// The Snowball algorithm tantivy's `Stemmer` runs for each of [`STEMMED`]'s languages.
fn algorithm(lang: Language) -> frostem::Algorithm {
    use frostem::Algorithm as A;
    match lang {
        Language::French => A::French,
        Language::German => A::German,
        Language::Spanish => A::Spanish,
        Language::Italian => A::Italian,
        Language::Portuguese => A::Portuguese,
        Language::Russian => A::Russian,
        Language::Dutch => A::Dutch,
        _ => A::English,
    }
}

/// Analyzer names.
pub const NEUTRAL: &str = "trove_neutral";
/// The analyzer of the body and subject fields: [`NEUTRAL`]'s terms, plus stems (see
/// [`StemTagger`]). Queries analyse their words with [`NEUTRAL`] and the stemmed analyzers.
pub const WORDS: &str = "trove_words";
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
    manager.register(
        WORDS,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(48))
            .filter(LowerCaser)
            .filter(StemTagger)
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
            .filter_dynamic(MemoStemmer(algorithm(*lang)))
            .filter_dynamic(AsciiFoldingFilter)
            .build();
        manager.register(&stemmed_name(code), analyzer);
    }
}

/// Starts and ends the language tag that [`tag_language`] puts before a text for [`WORDS`].
const LANGUAGE_MARK: char = '\u{2}';
/// Starts every stem term. The neutral tokenizer keeps letters and digits only, so no word term
/// begins with it, and neither can a prefix query's pattern (it starts with an analysed word).
const STEM_MARK: char = '\u{1}';

/// The text to index in a [`WORDS`] field for a document in `lang` (an ISO 639-1 code, or none).
/// The tag is always there, even without a language, so a text that happens to begin with one
/// cannot choose its own stemmer.
pub fn tag_language(lang: Option<&str>, text: &str) -> String {
    let lang = lang.unwrap_or("");
    let mut out = String::with_capacity(text.len() + lang.len() + 2);
    out.push(LANGUAGE_MARK);
    out.push_str(lang);
    out.push(LANGUAGE_MARK);
    out.push_str(text);
    out
}

/// The term a stem of `lang` (an analysed word of `stemmed_name(lang)`) is indexed as in a
/// [`WORDS`] field.
pub fn stem_term(lang: &str, stem: &str) -> String {
    format!("{STEM_MARK}{stem}{STEM_MARK}{lang}")
}

/// The [`WORDS`] analysis of a text: (term, position, byte offsets). For tests and fuzzing.
#[doc(hidden)]
pub fn words_tokens(text: &str) -> Vec<(String, usize, usize, usize)> {
    static MANAGER: std::sync::OnceLock<TokenizerManager> = std::sync::OnceLock::new();
    let m = MANAGER.get_or_init(|| {
        let m = TokenizerManager::default();
        register(&m);
        m
    });
    let Some(mut a) = m.get(WORDS) else {
        return vec![];
    };
    let mut s = a.token_stream(text);
    let mut out = vec![];
    while let Some(t) = s.next() {
        out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
    }
    out
}

/// Splits the tag [`tag_language`] put before a text: `(language, text after the tag)`.
fn split_tag(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text.strip_prefix(LANGUAGE_MARK) else {
        return (None, text);
    };
    match rest.find(LANGUAGE_MARK) {
        Some(end) if end <= 8 => (Some(&rest[..end]), &rest[end + LANGUAGE_MARK.len_utf8()..]),
        _ => (None, text),
    }
}

/// After each word of a text tagged with a stemmed language, the word's stem in that language
/// as a [`stem_term`] at the same position, unless the stem is the word itself or the word is a
/// stop word. A query finds a stem as that term, or as the plain word in a document of that
/// language (`trove_index::search`).
///
/// Why not a field per language, as tantivy's examples do: that field had the text tokenised a
/// second time and every word posted twice. On 17,685 list messages it cost a quarter of the
/// ingest's wall time (5.4-5.7 s with it, 4.0-4.3 s with no stems at all); with stem terms the
/// ingest took 4.6-4.7 s against 5.4-5.6 s, and the index shrank from 36.7 to 34.6 MB (session
/// 27). Only the words that change (about a third of English prose) add a term.
#[derive(Clone, Copy)]
pub struct StemTagger;

impl TokenFilter for StemTagger {
    type Tokenizer<T: Tokenizer> = StemTaggerFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> StemTaggerFilter<T> {
        StemTaggerFilter {
            langs: Vec::new(),
            inner,
        }
    }
}

/// One stemmed language's state in a [`StemTaggerFilter`].
#[derive(Clone)]
struct LanguageStems {
    code: &'static str,
    stemmer: frostem::Stemmer,
    stop: Option<TextAnalyzer>,
    /// Word → its stem, or no stem term (a stop word, or a word that is its own stem).
    cache: StemCache,
}

impl LanguageStems {
    fn new(code: &'static str, lang: Language) -> Self {
        Self {
            code,
            stemmer: frostem::Stemmer::new(algorithm(lang)),
            stop: StopWordFilter::new(lang).map(|f| {
                TextAnalyzer::builder(RawTokenizer::default())
                    .filter(f)
                    .build()
            }),
            cache: StemCache::default(),
        }
    }

    fn stem_of(&mut self, word: &str) -> Option<String> {
        let stem = self.stemmer.stem(word);
        if stem == word {
            return None;
        }
        if let Some(stop) = &mut self.stop
            && stop.token_stream(word).next().is_none()
        {
            return None;
        }
        Some(stem.into_owned())
    }

    /// Writes the stem term of `word` into `out`; false when there is none.
    fn stem_term_into(&mut self, word: &str, out: &mut String) -> bool {
        let code = self.code;
        let write = |stem: &str, out: &mut String| {
            out.clear();
            out.push(STEM_MARK);
            out.push_str(stem);
            out.push(STEM_MARK);
            out.push_str(code);
        };
        if word.len() > CACHE_WORD {
            // Stop words are short: a long word needs no stop-word check.
            let stem = self.stemmer.stem(word);
            if stem == word {
                return false;
            }
            write(&stem, out);
            return true;
        }
        match self.cache.get(word) {
            Cached::Stem(stem) => {
                write(stem, out);
                return true;
            }
            Cached::NoStem => return false,
            Cached::Unknown => {}
        }
        let stem = self.stem_of(word);
        if let Some(stem) = &stem {
            write(stem, out);
        }
        self.cache.put(word, stem.as_deref());
        stem.is_some()
    }
}

#[derive(Clone)]
pub struct StemTaggerFilter<T> {
    /// The stemmed languages met so far (made on first use: most archives use one or two).
    langs: Vec<LanguageStems>,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for StemTaggerFilter<T> {
    type TokenStream<'a> = StemTaggerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        let (lang, rest) = split_tag(text);
        let lang = lang.and_then(|code| STEMMED.iter().find(|(c, _)| *c == code));
        let stems = match lang {
            Some((code, lang)) => {
                let at = match self.langs.iter().position(|l| l.code == *code) {
                    Some(at) => at,
                    None => {
                        self.langs.push(LanguageStems::new(code, *lang));
                        self.langs.len() - 1
                    }
                };
                Some(&mut self.langs[at])
            }
            None => None,
        };
        StemTaggerStream {
            tail: self.inner.token_stream(rest),
            stems,
            shift: text.len() - rest.len(),
            stem: Token::default(),
            pending: false,
            on_stem: false,
        }
    }
}

pub struct StemTaggerStream<'a, T> {
    tail: T,
    stems: Option<&'a mut LanguageStems>,
    /// The tag's length: offsets count from the start of the whole text.
    shift: usize,
    /// The stem token of the current word.
    stem: Token,
    /// `stem` is to be emitted next.
    pending: bool,
    /// The current token is `stem`.
    on_stem: bool,
}

impl<T: TokenStream> TokenStream for StemTaggerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if self.pending {
            self.pending = false;
            self.on_stem = true;
            return true;
        }
        self.on_stem = false;
        if !self.tail.advance() {
            return false;
        }
        let word = self.tail.token_mut();
        word.offset_from += self.shift;
        word.offset_to += self.shift;
        if let Some(stems) = self.stems.as_deref_mut()
            && stems.stem_term_into(&word.text, &mut self.stem.text)
        {
            self.stem.offset_from = word.offset_from;
            self.stem.offset_to = word.offset_to;
            self.stem.position = word.position;
            self.stem.position_length = word.position_length;
            self.pending = true;
        }
        true
    }

    fn token(&self) -> &Token {
        if self.on_stem {
            &self.stem
        } else {
            self.tail.token()
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        if self.on_stem {
            &mut self.stem
        } else {
            self.tail.token_mut()
        }
    }
}

/// tantivy's `Stemmer` with a memo of the words it has stemmed. Snowball stemming was 7% of the
/// CPU of an ingest (perf, 17,685 list messages), and a mailbox repeats its words: most tokens
/// are found in the memo. Stemming is a pure function of the word, so the terms are the same.
#[derive(Clone, Copy)]
pub struct MemoStemmer(pub frostem::Algorithm);

/// Words remembered per analyzer before the memo starts again (a few MB at most).
const MEMO_WORDS: usize = 1 << 16;
/// Longer words are stemmed without the memo: they are rare, and would make the memo large.
const MEMO_MAX_WORD: usize = 24;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter {
            stemmer: frostem::Stemmer::new(self.0),
            memo: Default::default(),
            inner,
        }
    }
}

/// Word → stem. Keys are attacker-chosen text, but the memo is bounded ([`MEMO_WORDS`]) and
/// foldhash's per-process random seed keeps collisions from being planned.
type Memo = std::collections::HashMap<Box<str>, Box<str>, foldhash::fast::RandomState>;

#[derive(Clone)]
pub struct MemoStemmerFilter<T> {
    stemmer: frostem::Stemmer,
    memo: Memo,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        MemoStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: self.stemmer,
            memo: &mut self.memo,
        }
    }
}

pub struct MemoStemmerStream<'a, T> {
    tail: T,
    stemmer: frostem::Stemmer,
    memo: &'a mut Memo,
}

impl<T: TokenStream> TokenStream for MemoStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if token.text.len() > MEMO_MAX_WORD {
            let stem = self.stemmer.stem(&token.text).into_owned();
            token.text = stem;
            return true;
        }
        if let Some(stem) = self.memo.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stem: Box<str> = self.stemmer.stem(&token.text).into();
        if self.memo.len() >= MEMO_WORDS {
            self.memo.clear();
        }
        self.memo.insert(token.text.as_str().into(), stem.clone());
        token.text.clear();
        token.text.push_str(&stem);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Detects the language of a text; returns an ISO 639-1 code where one exists, `None` when the
/// detector is not confident.
pub fn detect_language(text: &str) -> Option<String> {
    // The first 400 characters decide as well as the whole text, at a fraction
    // of the cost (language detection was the largest single cost of indexing).
    let sample: String = text.chars().take(400).collect();
    if plainly_english(&sample) {
        return Some("en".into());
    }
    whatlang_language(&sample)
}

/// Short words that are a large share of any English prose and a small one of other languages'
/// (those that share a few, like Dutch `is`/`in` or Italian `a`, fall far below the bar).
const ENGLISH_MARKERS: &[&str] = &[
    "the", "and", "of", "to", "is", "that", "it", "for", "you", "this", "with", "are", "not",
    "have", "be", "on", "was", "but", "or", "we", "if", "can", "will", "from", "at", "by", "an",
    "would", "should", "there", "what", "which", "they", "has", "do", "i", "my", "your",
];

/// Whether a sample is English beyond doubt, decided in a few microseconds: whatlang scores every
/// Latin-script language's 300 trigrams whatever the text, ~110 µs a call, 9% of an ingest's CPU
/// (perf, 17,685 list messages). Only ASCII text with at least 20 words qualifies, of which at
/// least 15% are English markers and one is "the", the marker no other language has as a word
/// (Danish, Dutch or Polish prose can reach 15% on `i`/`at`/`is`/`to` alone); everything else
/// goes to whatlang. On the 17,685 linux-mips messages it decides 11,018 (9,277 with the
/// earlier bar of 20% and no "the", 7,743 before samples put the writer's prose first), and
/// whatlang disagrees on none of them; on 15 it is unsure (they are English, mostly code), and
/// detect_language calls those English (`examples/lang_agreement` in trove-ingest).
pub fn plainly_english(sample: &str) -> bool {
    if !sample.is_ascii() {
        return false;
    }
    let (mut words, mut markers, mut the) = (0usize, 0usize, 0usize);
    for w in sample
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        words += 1;
        if w.len() <= 6 && ENGLISH_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(w)) {
            markers += 1;
            the += usize::from(w.eq_ignore_ascii_case("the"));
        }
    }
    words >= 20 && markers * 20 >= words * 3 && the > 0
}

/// whatlang's verdict on a sample, as an ISO 639-1 code where one exists.
pub fn whatlang_language(sample: &str) -> Option<String> {
    let info = whatlang::detect(sample)?;
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

    /// The memo changes nothing: every language, repeated words (found in the memo), words too
    /// long for it, and a memo that fills up and starts again.
    #[test]
    fn memo_stemmer_gives_the_stemmer_terms() {
        use tantivy::tokenizer::Stemmer;
        let text = "running runs runner connection connections connected internationalisations \
            élections élection elections mangeaient mangeons Häuser Häusern häuslich \
            rápidamente corriendo velocemente parlando falando coisas бегущий бегал \
            gelopen lopende uncharacteristically uncharacteristically running runs";
        let many: String = (0..MEMO_WORDS + 100).map(|i| format!("w{i}ing ")).collect();
        for (_, lang) in STEMMED {
            let plain = |t: &str| {
                let mut a = TextAnalyzer::builder(SimpleTokenizer::default())
                    .filter(LowerCaser)
                    .filter(Stemmer::new(*lang))
                    .build();
                let mut s = a.token_stream(t);
                let mut out = vec![];
                while let Some(t) = s.next() {
                    out.push(t.text.clone());
                }
                out
            };
            let mut memo = TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(MemoStemmer(algorithm(*lang)))
                .build();
            for t in [text, text, many.as_str(), text] {
                let mut s = memo.token_stream(t);
                let mut out = vec![];
                while let Some(t) = s.next() {
                    out.push(t.text.clone());
                }
                assert_eq!(out, plain(t), "{lang:?}");
            }
        }
    }

    use super::words_tokens as words;

    #[test]
    fn words_carry_their_stems_at_the_same_position() {
        let text = tag_language(Some("en"), "The returns, running élections");
        let got = words(&text);
        let terms: Vec<&str> = got.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(
            terms,
            [
                "the",
                "returns",
                "\u{1}return\u{1}en",
                "running",
                "\u{1}run\u{1}en",
                "elections",
                "\u{1}election\u{1}en"
            ]
        );
        let positions: Vec<usize> = got.iter().map(|t| t.1).collect();
        assert_eq!(positions, [0, 1, 1, 2, 2, 3, 3]);
        // Offsets point into the tagged text, at the word, for the word and its stem alike.
        let at = |i: usize| &text[got[i].2..got[i].3];
        assert_eq!((at(1), at(2)), ("returns", "returns"));
        assert_eq!((at(5), at(6)), ("élections", "élections"));
        // A stop word whose stem differs gets no stem term.
        let fr: Vec<String> = words(&tag_language(Some("fr"), "les élections"))
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(fr, ["les", "elections", "\u{1}elect\u{1}fr"]);
    }

    #[test]
    fn words_without_a_stemmed_language_are_the_neutral_terms() {
        let text = "Les élections, the RETURNS of 2016";
        let neutral = tokens(NEUTRAL, text);
        for tagged in [
            tag_language(None, text),
            tag_language(Some("da"), text),
            tag_language(Some("xx\u{2}"), text),
        ] {
            let got: Vec<String> = words(&tagged).into_iter().map(|t| t.0).collect();
            assert_eq!(got, neutral, "{tagged:?}");
        }
        // Untagged text (a snippet's) is read whole, even if it starts like a tag.
        assert_eq!(
            words(text).into_iter().map(|t| t.0).collect::<Vec<_>>(),
            neutral
        );
        let forged = "\u{2}fr\u{2}élections";
        let got: Vec<String> = words(&tag_language(None, forged))
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(got, ["fr", "elections"]);
    }

    /// Each stem the per-language analyzer finds in a text is found in the words analysis,
    /// as a stem term or as the word itself, and every stem term is one of them.
    #[test]
    fn words_find_what_the_stemmed_analyzers_find() {
        let text = "running runs runner connection connections connected internationalisations \
            élections élection elections mangeaient mangeons Häuser Häusern häuslich \
            rápidamente corriendo velocemente parlando falando coisas бегущий бегал \
            gelopen lopende the and les des die der un una zijn het и в linux kernel";
        for (code, _) in STEMMED {
            let old: std::collections::BTreeSet<String> =
                tokens(&stemmed_name(code), text).into_iter().collect();
            let new: std::collections::BTreeSet<String> = words(&tag_language(Some(code), text))
                .into_iter()
                .map(|t| t.0)
                .collect();
            for x in &old {
                assert!(
                    new.contains(&stem_term(code, x)) || new.contains(x),
                    "{code}: stem {x} lost"
                );
            }
            let suffix = stem_term(code, "").replacen(STEM_MARK, "", 1);
            for t in &new {
                if let Some(x) = t
                    .strip_prefix(STEM_MARK)
                    .and_then(|t| t.strip_suffix(&suffix))
                {
                    assert!(old.contains(x), "{code}: stem term {x} is not a stem");
                }
            }
        }
    }

    #[test]
    fn only_plain_english_takes_the_fast_path() {
        let english = [
            "Re: [PATCH] fix the boot hang\n\nI am looking at this, but it could be a few days \
             before I can render an opinion about it. Is this still pending, or was it applied?",
            "The patch looks fine to me, but the changelog should say why the old code was \
             wrong and what the new check is for. Can you resend it with that and the tag?",
        ];
        for t in english {
            assert!(plainly_english(t), "{t}");
            assert_eq!(detect_language(t).as_deref(), Some("en"));
        }
        // English without "the" is left to whatlang, which still finds it English.
        let udhr = "All human beings are born free and equal in dignity and rights. They are \
                    endowed with reason and conscience and should act towards one another in a \
                    spirit of brotherhood.";
        assert!(!plainly_english(udhr));
        assert_eq!(detect_language(udhr).as_deref(), Some("en"));
        // The same article in languages that share a few of the markers (Danish `at`/`i`/`for`,
        // German `was`/`will`/`an`, Dutch `is`/`of`, Portuguese `do`, French `on`), in ASCII so
        // that only the word counts stand in the way.
        let others = [
            "Alle mennesker er fodt frie og lige i vaerdighed og rettigheder. De er udstyret med \
             fornuft og samvittighed, og de bor handle mod hverandre i en broderskabets and. \
             Det er for at vi kan leve i fred, og at ingen skal vaere i tvivl om det.",
            "Alle Menschen sind frei und gleich an Wurde und Rechten geboren. Sie sind mit \
             Vernunft und Gewissen begabt und sollen einander im Geist der Bruderlichkeit \
             begegnen. Was man will, ist an sich nicht wichtig, wenn man es nicht tut.",
            "Alle mensen worden vrij en gelijk in waardigheid en rechten geboren. Zij zijn \
             begiftigd met verstand en geweten, en behoren zich jegens elkander in een geest \
             van broederschap te gedragen. Of het nu is of niet, het is zo.",
            "Todos os seres humanos nascem livres e iguais em dignidade e em direitos. Dotados \
             de razao e de consciencia, devem agir uns para com os outros em espirito de \
             fraternidade. O direito do povo e o dever do estado do Brasil.",
            "Tous les etres humains naissent libres et egaux en dignite et en droits. Ils sont \
             doues de raison et de conscience et doivent agir les uns envers les autres dans \
             un esprit de fraternite. On ne sait pas, on verra bien si on peut.",
            "Tutti gli esseri umani nascono liberi ed eguali in dignita e diritti. Essi sono \
             dotati di ragione e di coscienza e devono agire gli uni verso gli altri in spirito \
             di fratellanza. Non e a me che devi dirlo, ma a lui.",
            // Polish `i`/`to`/`do`/`we`/`by`/`on`/`my`, the most marker-rich of the others.
            "Wszyscy ludzie rodza sie wolni i rowni pod wzgledem swej godnosci i swych praw. Sa \
             oni obdarzeni rozumem i sumieniem i powinni postepowac wobec innych w duchu \
             braterstwa. To jest to, do czego my dazymy, by on i ona byli wolni we wszystkim.",
        ];
        for t in others {
            assert!(!plainly_english(t), "{t}");
        }
        // Too short, or not ASCII: whatlang decides.
        assert!(!plainly_english(
            "the and of to is that it for you this with"
        ));
        assert!(!plainly_english(&format!("{} café", english[0])));
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
