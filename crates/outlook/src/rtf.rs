//! Outlook's compressed RTF bodies (MS-OXRTFCP) and what is inside them (MS-OXRTFEX).
//!
//! Our own decompressor: the `compressed-rtf` crate allocates whatever size the (untrusted)
//! header claims and slices without bounds checks, so a hostile store could abort ingest. This
//! one caps its output and never indexes past its input. The crate stays as a test oracle.

const PREBUF: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";
const COMPRESSED: u32 = 0x7546_5A4C; // "LZFu"
const UNCOMPRESSED: u32 = 0x414C_454D; // "MELA"

#[derive(Debug, PartialEq, Eq)]
pub enum RtfError {
    Truncated,
    UnknownType(u32),
    TooLarge(usize),
}

impl std::fmt::Display for RtfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RtfError::Truncated => write!(f, "compressed RTF is truncated"),
            RtfError::UnknownType(t) => write!(f, "compressed RTF has unknown type {t:#010x}"),
            RtfError::TooLarge(n) => write!(f, "compressed RTF expands past {n} bytes"),
        }
    }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decompresses `PidTagRtfCompressed`, producing at most `max_out` bytes.
pub fn decompress(data: &[u8], max_out: usize) -> Result<Vec<u8>, RtfError> {
    let (Some(comp_size), Some(raw_size), Some(kind)) =
        (le32(data, 0), le32(data, 4), le32(data, 8))
    else {
        return Err(RtfError::Truncated);
    };
    let body = data.get(16..).ok_or(RtfError::Truncated)?;
    // COMPSIZE counts the bytes after itself; trust the smaller of it and what is there.
    let body = &body[..body.len().min((comp_size as usize).saturating_sub(12))];
    let want = (raw_size as usize).min(max_out);
    match kind {
        UNCOMPRESSED => Ok(body[..body.len().min(want)].to_vec()),
        COMPRESSED => {
            let mut dict = [0u8; 4096];
            dict[..PREBUF.len()].copy_from_slice(PREBUF);
            let mut write = PREBUF.len();
            let mut out = Vec::with_capacity(want.min(1 << 20));
            let mut i = 0;
            'outer: while i < body.len() {
                let control = body[i];
                i += 1;
                for bit in 0..8 {
                    if control & (1 << bit) == 0 {
                        let Some(&b) = body.get(i) else { break 'outer };
                        i += 1;
                        dict[write] = b;
                        write = (write + 1) % 4096;
                        out.push(b);
                    } else {
                        let Some(r) = body.get(i..i + 2) else {
                            break 'outer;
                        };
                        i += 2;
                        let word = u16::from_be_bytes([r[0], r[1]]) as usize;
                        let (mut offset, len) = (word >> 4, (word & 0xF) + 2);
                        // A reference to the write position marks the end of the stream.
                        if offset == write {
                            break 'outer;
                        }
                        for _ in 0..len {
                            let b = dict[offset];
                            offset = (offset + 1) % 4096;
                            dict[write] = b;
                            write = (write + 1) % 4096;
                            out.push(b);
                        }
                    }
                    if out.len() > max_out {
                        return Err(RtfError::TooLarge(max_out));
                    }
                }
            }
            out.truncate(want.max(out.len().min(raw_size as usize)));
            Ok(out)
        }
        other => Err(RtfError::UnknownType(other)),
    }
}

/// What an RTF body holds: the HTML it encapsulates (`\fromhtml1`), or its text.
#[derive(Debug, PartialEq, Eq)]
pub enum RtfBody {
    Html(String),
    Text(String),
}

/// Control words whose group is not text (fonts, colours, pictures, document info...).
const SKIP_DESTINATIONS: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "header",
    "footer",
    "headerl",
    "headerr",
    "footerl",
    "footerr",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "xmlnstbl",
    "themedata",
    "colorschememapping",
    "latentstyles",
    "datastore",
    "generator",
    "object",
    "filetbl",
    "revtbl",
    "mmathPr",
    "pgdsctbl",
];

/// Reads RTF as Outlook writes it: de-encapsulates HTML (MS-OXRTFEX) or extracts plain text.
pub fn interpret(rtf: &[u8]) -> RtfBody {
    let from_html = rtf.windows(10).take(4096).any(|w| w == b"\\fromhtml1");
    let mut p = Interp {
        rtf,
        i: 0,
        out: Vec::new(),
        from_html,
        codepage: None,
    };
    p.run();
    let text = p.finish();
    if from_html {
        RtfBody::Html(text)
    } else {
        RtfBody::Text(text)
    }
}

struct Interp<'a> {
    rtf: &'a [u8],
    i: usize,
    /// Output as code units: bytes from `\'hh` are decoded per run with the document's code page.
    out: Vec<Piece>,
    from_html: bool,
    codepage: Option<u16>,
}

enum Piece {
    Byte(u8),
    Char(char),
}

#[derive(Clone, Copy)]
struct State {
    skip: bool,
    /// Inside `\htmlrtf` ... `\htmlrtf0`: RTF-only rendering hints, not part of the HTML.
    htmlrtf: bool,
    /// Characters to drop after a `\uN` (the ANSI fallback), from `\ucN`.
    uc: usize,
}

impl Interp<'_> {
    fn emit(&mut self, st: &State, p: Piece) {
        if st.skip || (self.from_html && st.htmlrtf) {
            return;
        }
        self.out.push(p);
    }

    fn run(&mut self) {
        let mut stack: Vec<State> = Vec::new();
        let mut st = State {
            skip: false,
            htmlrtf: false,
            uc: 1,
        };
        let mut pending_skip = 0usize;
        while self.i < self.rtf.len() {
            let c = self.rtf[self.i];
            match c {
                b'{' => {
                    self.i += 1;
                    if stack.len() > 10_000 {
                        return;
                    }
                    stack.push(st);
                    // `{\*\htmltag...}` carries HTML; other `{\*...}` groups are ignorable.
                    if self.rtf[self.i..].starts_with(b"\\*") {
                        let rest = &self.rtf[self.i + 2..];
                        let htmltag = rest.starts_with(b"\\htmltag");
                        if !(self.from_html && htmltag) {
                            st.skip = true;
                        }
                        self.i += 2;
                    }
                }
                b'}' => {
                    self.i += 1;
                    if let Some(s) = stack.pop() {
                        st = s;
                    }
                }
                b'\\' => {
                    self.i += 1;
                    self.control(&mut st, &mut pending_skip);
                }
                b'\r' | b'\n' => self.i += 1,
                _ => {
                    self.i += 1;
                    if pending_skip > 0 {
                        pending_skip -= 1;
                    } else {
                        self.emit(&st, Piece::Byte(c));
                    }
                }
            }
        }
    }

    fn control(&mut self, st: &mut State, pending_skip: &mut usize) {
        let Some(&c) = self.rtf.get(self.i) else {
            return;
        };
        if !c.is_ascii_alphabetic() {
            self.i += 1;
            match c {
                b'\'' => {
                    let hex = self.rtf.get(self.i..self.i + 2).unwrap_or_default();
                    self.i += hex.len();
                    let v = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    if let Some(v) = v {
                        if *pending_skip > 0 {
                            *pending_skip -= 1;
                        } else {
                            self.emit(st, Piece::Byte(v));
                        }
                    }
                }
                b'~' => self.emit(st, Piece::Char('\u{a0}')),
                b'_' => self.emit(st, Piece::Char('-')),
                b'\r' | b'\n' => self.emit(st, Piece::Char('\n')),
                other => self.emit(st, Piece::Byte(other)),
            }
            return;
        }
        let start = self.i;
        while self.i < self.rtf.len() && self.rtf[self.i].is_ascii_alphabetic() {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.rtf[start..self.i])
            .unwrap_or_default()
            .to_string();
        let nstart = self.i;
        if self.rtf.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.i < self.rtf.len() && self.rtf[self.i].is_ascii_digit() && self.i - nstart < 10 {
            self.i += 1;
        }
        let param: Option<i64> = std::str::from_utf8(&self.rtf[nstart..self.i])
            .ok()
            .and_then(|s| s.parse().ok());
        if self.rtf.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        match word.as_str() {
            "par" | "line" if !(self.from_html && st.htmlrtf) => self.emit(st, Piece::Char('\n')),
            "tab" => self.emit(st, Piece::Char('\t')),
            "htmlrtf" => st.htmlrtf = param != Some(0),
            "ansicpg" => self.codepage = param.and_then(|p| u16::try_from(p).ok()),
            "uc" => st.uc = param.unwrap_or(1).clamp(0, 10) as usize,
            "u" => {
                if let Some(p) = param {
                    let cp = if p < 0 { p + 65536 } else { p } as u32;
                    if let Some(ch) = char::from_u32(cp) {
                        self.emit(st, Piece::Char(ch));
                    }
                    *pending_skip = st.uc;
                }
            }
            "emdash" => self.emit(st, Piece::Char('—')),
            "endash" => self.emit(st, Piece::Char('–')),
            "lquote" => self.emit(st, Piece::Char('‘')),
            "rquote" => self.emit(st, Piece::Char('’')),
            "ldblquote" => self.emit(st, Piece::Char('“')),
            "rdblquote" => self.emit(st, Piece::Char('”')),
            "bullet" => self.emit(st, Piece::Char('•')),
            w if SKIP_DESTINATIONS.contains(&w) => st.skip = true,
            _ => {}
        }
    }

    fn finish(self) -> String {
        let enc = self
            .codepage
            .and_then(crate::mapi::encoding_for_codepage)
            .unwrap_or(encoding_rs::WINDOWS_1252);
        let mut s = String::new();
        let mut run = Vec::new();
        for p in self.out {
            match p {
                Piece::Byte(b) => run.push(b),
                Piece::Char(c) => {
                    s.push_str(&enc.decode_without_bom_handling(&run).0);
                    run.clear();
                    s.push(c);
                }
            }
        }
        s.push_str(&enc.decode_without_bom_handling(&run).0);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompresses_what_the_reference_encoder_compresses() {
        let rtf = "{\\rtf1\\ansi\\ansicpg1252\\pard hello hello hello world}";
        let packed = compressed_rtf::compress_rtf(rtf).expect("compress");
        assert_eq!(
            decompress(&packed, 1 << 20).expect("decompress"),
            rtf.as_bytes()
        );
    }

    #[test]
    fn spec_example_decompresses() {
        // MS-OXRTFCP 3.1.1: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n"
        let packed: &[u8] = &[
            0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5,
            0xc7, 0xa7, 0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42,
            0x32, 0x0a, 0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0,
            0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0,
        ];
        let out = decompress(packed, 1 << 20).expect("decompress");
        assert_eq!(out, b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n");
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        assert_eq!(decompress(b"short", 100), Err(RtfError::Truncated));
        let mut huge = vec![0xff; 16];
        huge[8..12].copy_from_slice(&UNCOMPRESSED.to_le_bytes());
        assert_eq!(
            decompress(&huge, 100).expect("uncompressed"),
            Vec::<u8>::new()
        );
        let mut bomb = vec![0u8; 16];
        bomb[0..4].copy_from_slice(&1000u32.to_le_bytes());
        bomb[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        bomb[8..12].copy_from_slice(&COMPRESSED.to_le_bytes());
        // Every control bit set: references that copy 17 bytes each.
        bomb.extend(
            std::iter::repeat_n(
                [
                    0xff, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f,
                    0x00, 0x1f, 0x00, 0x1f,
                ],
                60,
            )
            .flatten(),
        );
        assert_eq!(decompress(&bomb, 1000), Err(RtfError::TooLarge(1000)));
    }

    #[test]
    fn plain_rtf_becomes_text_with_unicode_and_code_page_bytes() {
        let rtf =
            br"{\rtf1\ansi\ansicpg1251{\fonttbl{\f0 Arial;}}\pard \'c4\'e0 and \u1046?x\par next}";
        assert_eq!(interpret(rtf), RtfBody::Text("Да and Жx\nnext".into()));
    }

    #[test]
    fn encapsulated_html_is_recovered() {
        let rtf = br"{\rtf1\ansi\fromhtml1 {\*\htmltag19 <html>}{\*\htmltag2 \par }\htmlrtf {\b\htmlrtf0 Hi \'e9\htmlrtf }\htmlrtf0 {\*\htmltag27 </html>}}";
        assert_eq!(interpret(rtf), RtfBody::Html("<html>\nHi é</html>".into()));
    }
}
