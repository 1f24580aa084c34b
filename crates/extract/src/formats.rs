//! The extractors themselves. Each takes bytes and returns text; none is trusted to be total or
//! cheap, so callers run them through [`crate::bounded`].

use crate::Kind;
use std::io::{Cursor, Read};

/// Nested archives deeper than this are listed, not opened.
const MAX_ZIP_DEPTH: usize = 3;
/// Members of one zip read at most.
const MAX_ZIP_MEMBERS: usize = 1000;

pub fn extract(
    kind: Kind,
    bytes: &[u8],
    max_text: usize,
    max_member: u64,
) -> Result<String, String> {
    let mut text = match kind {
        Kind::Pdf => {
            pdf_extract::extract_text_from_mem(bytes).map_err(|e| format!("PDF not read: {e}"))?
        }
        Kind::Docx => office_xml(
            bytes,
            &["word/document.xml"],
            &["word/footnotes.xml", "word/endnotes.xml"],
            max_member,
        )?,
        Kind::Pptx => slides(bytes, max_member)?,
        Kind::Odt => office_xml(bytes, &["content.xml"], &[], max_member)?,
        Kind::Xlsx | Kind::Ods => sheets(bytes)?,
        Kind::Zip => zip_members(bytes, 0, max_text, max_member)?,
        Kind::Html => html(bytes),
        Kind::Text => text(bytes, None),
        Kind::Image => return Err("an image: its text needs OCR".into()),
    };
    truncate(&mut text, max_text);
    Ok(text)
}

pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Text in `charset` (or UTF-8, falling back to Windows-1252 when it is not valid UTF-8).
pub fn text(bytes: &[u8], charset: Option<&str>) -> String {
    if let Some(enc) = charset.and_then(|c| encoding_rs::Encoding::for_label(c.trim().as_bytes())) {
        return enc.decode(bytes).0.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim_start_matches('\u{feff}').to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

pub fn html(bytes: &[u8]) -> String {
    let s = text(bytes, None);
    html2text::config::plain_no_decorate()
        .no_link_wrapping()
        .string_from_read(s.as_bytes(), 100)
        .unwrap_or_default()
}

fn read_member(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, String> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut out = Vec::new();
    (&mut f)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("{name} decompresses past {max} bytes"));
    }
    Ok(Some(out))
}

/// Text of Office Open XML / OpenDocument parts: every text node, a line per paragraph.
fn office_xml(bytes: &[u8], main: &[&str], extra: &[&str], max: u64) -> Result<String, String> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip: {e}"))?;
    let mut out = String::new();
    for name in main.iter().chain(extra) {
        match read_member(&mut zip, name, max)? {
            Some(xml) => out.push_str(&xml_text(&xml)),
            None if main.contains(name) => return Err(format!("{name} is missing")),
            None => {}
        }
    }
    Ok(out)
}

fn slides(bytes: &[u8], max: u64) -> Result<String, String> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip: {e}"))?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| n.starts_with("ppt/slides/slide") && n.ends_with(".xml"))
        .map(str::to_string)
        .collect();
    // slide2 before slide10.
    names.sort_by_key(|n| (n.len(), n.clone()));
    let mut out = String::new();
    for n in names {
        if let Some(xml) = read_member(&mut zip, &n, max)? {
            out.push_str(&xml_text(&xml));
            out.push('\n');
        }
    }
    Ok(out)
}

/// All text nodes of an XML document, with a newline after each paragraph-like element and a
/// tab for tab elements (`w:p`, `a:p`, `text:p`, `text:h`, `w:tab`, `text:tab`, line breaks).
pub fn xml_text(xml: &[u8]) -> String {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut out = String::new();
    let mut buf = Vec::new();
    loop {
        match r.read_event_into(&mut buf) {
            Ok(Event::Text(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(e)) => {
                // Character and entity references arrive between text runs.
                if let Ok(Some(c)) = e.resolve_char_ref() {
                    out.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&e) {
                    out.push_str(s);
                }
            }
            Ok(Event::CData(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::End(e)) => {
                if matches!(e.local_name().as_ref(), "p" | "h") {
                    out.push('\n');
                }
            }
            Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" | "line-break" | "cr" => out.push('\n'),
                "s" => out.push(' '),
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

fn sheets(bytes: &[u8]) -> Result<String, String> {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let mut wb = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("spreadsheet not read: {e}"))?;
    let mut out = String::new();
    for name in wb.sheet_names().to_vec() {
        let Ok(range) = wb.worksheet_range(&name) else {
            continue;
        };
        out.push_str(&format!("== {name} ==\n"));
        for row in range.rows() {
            let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            out.push_str(cells.join("\t").trim_end());
            out.push('\n');
        }
    }
    Ok(out)
}

/// The text of every member of a zip that trove can read, each under its name.
fn zip_members(bytes: &[u8], depth: usize, max_text: usize, max: u64) -> Result<String, String> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip: {e}"))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut names = names;
    names.sort();
    let mut out = String::new();
    for name in names.into_iter().take(MAX_ZIP_MEMBERS) {
        if name.ends_with('/') || out.len() >= max_text {
            continue;
        }
        out.push_str(&format!("== {name} ==\n"));
        let member = match read_member(&mut zip, &name, max) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                out.push_str(&format!("(not read: {e})\n"));
                continue;
            }
        };
        let Some(kind) = crate::classify(&member, "", Some(&name)) else {
            continue;
        };
        let text = if kind == Kind::Zip {
            if depth + 1 >= MAX_ZIP_DEPTH {
                out.push_str("(nested too deep; not opened)\n");
                continue;
            }
            zip_members(&member, depth + 1, max_text, max)
        } else {
            extract(kind, &member, max_text, max)
        };
        match text {
            Ok(t) => {
                out.push_str(&t);
                out.push('\n');
            }
            Err(e) => out.push_str(&format!("(not read: {e})\n")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_keeps_paragraphs_and_entities() {
        let xml = br#"<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Payments &amp; fees</w:t></w:r><w:r><w:tab/><w:t>2016</w:t></w:r></w:p><w:p><w:r><w:t>Next</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(xml_text(xml), "Payments & fees\t2016\nNext\n");
    }

    #[test]
    fn text_honours_the_charset_and_falls_back_to_windows_1252() {
        assert_eq!(text(b"caf\xe9", Some("iso-8859-1")), "café");
        assert_eq!(text(b"caf\xe9", None), "café");
        assert_eq!(text("café".as_bytes(), None), "café");
    }

    #[test]
    fn html_becomes_text() {
        let t =
            html(b"<html><body><p>Wire <b>$10,000</b> today</p><script>x()</script></body></html>");
        assert!(t.contains("Wire $10,000 today"), "{t}");
        assert!(!t.contains("x()"), "{t}");
    }
}
