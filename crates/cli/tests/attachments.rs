//! Attachment text end to end: documents made here (PDF, DOCX, XLSX, a zip holding a DOCX, a
//! broken PDF, an image of text) are attached to a message, ingested by the real binary and
//! found with `attachment:` search; OCR runs the real tesseract.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use common::TestArchive;
use serde_json::Value;
use std::io::Write;
use std::process::Command;

/// A one-page PDF with `text` in Helvetica.
fn pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    pdf_of(
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        )
        .into_bytes(),
    )
}

/// A one-page PDF whose content stream object is `contents` (hand-built: objects, xref table,
/// trailer).
fn pdf_of(contents: Vec<u8>) -> Vec<u8> {
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        contents,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .bytes(),
    );
    out
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn docx(text: &str) -> Vec<u8> {
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"#
    );
    zip_of(&[
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#),
        ("word/document.xml", doc.as_bytes()),
    ])
}

fn xlsx(cell: &str) -> Vec<u8> {
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{cell}</t></is></c><c r="B1"><v>42</v></c></row></sheetData></worksheet>"#
    );
    zip_of(&[
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#),
        ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ("xl/workbook.xml", br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Payments" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A message carrying `atts` (name, MIME type, bytes) as base64 attachments.
fn message(subject: &str, atts: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut m = format!(
        "From: ann@example.org\nTo: bob@example.org\nSubject: {subject}\nMessage-ID: <{subject}@example.org>\nDate: Mon, 3 Oct 2016 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSee attached.\n"
    );
    for (name, mime, bytes) in atts {
        m.push_str(&format!(
            "--b\nContent-Type: {mime}\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n"
        ));
        for line in b64.encode(bytes).as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(line).unwrap());
            m.push('\n');
        }
    }
    m.push_str("--b--\n");
    m.into_bytes()
}

fn hits(a: &TestArchive, q: &str) -> Vec<String> {
    a.json(&["search", q])["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pdf_docx_xlsx_and_nested_zip_text_is_searchable_and_a_broken_pdf_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = pdf("never read");
    broken.truncate(60);
    broken.extend(b"\x00garbage obj << /Length 99999 >> stream");
    let msg = message(
        "documents",
        &[
            (
                "memo.pdf",
                "application/pdf",
                pdf("Zanzibar ledger payments"),
            ),
            (
                "minutes.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                docx("Quetzalcoatl committee minutes"),
            ),
            (
                "payments.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                xlsx("Vladivostok transfer"),
            ),
            (
                "bundle.zip",
                "application/zip",
                zip_of(&[("inner/notes.docx", &docx("Ouagadougou shipment"))]),
            ),
            ("broken.pdf", "application/pdf", broken),
        ],
    );
    let path = dir.path().join("documents.eml");
    std::fs::write(&path, msg).unwrap();
    let a = TestArchive::new();
    let s = a.ingest(&[&path]);
    assert_eq!(
        s["items_new"], 1,
        "a failed extraction never aborts ingest: {s}"
    );
    let id = a.jsonl(&["ls"])[0]["id"].as_str().unwrap().to_string();
    for word in ["zanzibar", "quetzalcoatl", "vladivostok", "ouagadougou"] {
        assert_eq!(
            hits(&a, &format!("attachment:{word}")),
            vec![id.clone()],
            "attachment:{word}"
        );
    }
    // Body text is not attachment text, and vice versa.
    assert!(hits(&a, "attachment:attached").is_empty());
    assert!(hits(&a, "body:zanzibar").is_empty());
    let it = a.json(&["show", &id]);
    let atts = it["attachments"].as_array().unwrap();
    let by_name = |n: &str| atts.iter().find(|x| x["filename"] == n).unwrap();
    assert_eq!(by_name("memo.pdf")["text"]["extractor"], "pdf");
    assert_eq!(by_name("payments.xlsx")["text"]["extractor"], "xlsx");
    assert!(
        by_name("payments.xlsx")["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Vladivostok transfer\t42")
    );
    assert!(
        by_name("broken.pdf")["text"]["problem"].is_string(),
        "{}",
        by_name("broken.pdf")
    );
    let finding = it["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "attachment_text")
        .unwrap_or_else(|| panic!("{it}"));
    assert!(
        finding["detail"]
            .as_str()
            .unwrap()
            .starts_with("broken.pdf: "),
        "{finding}"
    );
    let shown = String::from_utf8(a.ok(&["show", &id])).unwrap();
    assert!(shown.contains("text (pdf, "), "{shown}");
    assert!(shown.contains("Zanzibar ledger payments"), "{shown}");
    // Reindex rebuilds the same from raw and the stored text.
    a.ok(&["reindex"]);
    assert_eq!(hits(&a, "attachment:ouagadougou"), vec![id.clone()]);
}

fn tesseract_present() {
    let ok = Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tesseract is required for the OCR test (Debian tesseract-ocr; .ci/run installs it)"
    );
}

/// A PNG and an image-only PDF of `text`, drawn by Pillow (an independent renderer).
fn render(text: &str, dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let script = r#"
import sys
from PIL import Image, ImageDraw, ImageFont
text, png, pdf = sys.argv[1:4]
img = Image.new("RGB", (1400, 200), "white")
font = ImageFont.load_default(size=64)
ImageDraw.Draw(img).text((40, 60), text, fill="black", font=font)
img.save(png)
img.save(pdf)
"#;
    let png = dir.join("scan.png");
    let pdf = dir.join("scan.pdf");
    let out = Command::new("python3")
        .args(["-c", script, text])
        .arg(&png)
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Pillow is required to render the OCR test image (pip install pillow; .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(png).unwrap(), std::fs::read(pdf).unwrap())
}

#[test]
fn ocr_reads_images_and_scanned_pdfs_only_when_asked() {
    tesseract_present();
    let dir = tempfile::tempdir().unwrap();
    let (png, scanned) = render("QUIXOTIC HARBOUR 1987", dir.path());
    let path = dir.path().join("scan.eml");
    std::fs::write(
        &path,
        message(
            "scan",
            &[
                ("photo.png", "image/png", png),
                ("scan.pdf", "application/pdf", scanned),
            ],
        ),
    )
    .unwrap();

    let off = TestArchive::new();
    off.ingest(&[&path]);
    assert!(
        hits(&off, "attachment:quixotic").is_empty(),
        "OCR is off by default"
    );

    let on = TestArchive::new();
    let out = on.ok(&["ingest", "--ocr", "--json", path.to_str().unwrap()]);
    let s: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["items_new"], 1);
    assert_eq!(s["ocr"]["read"], 2, "{s}");
    let id = on.jsonl(&["ls"])[0]["id"].as_str().unwrap().to_string();
    assert_eq!(hits(&on, "attachment:quixotic"), vec![id.clone()]);
    assert_eq!(hits(&on, "attachment:harbour"), vec![id.clone()]);
    let it = on.json(&["show", &id]);
    let extractors: Vec<&str> = it["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["text"]["extractor"].as_str().unwrap())
        .collect();
    assert_eq!(extractors, vec!["ocr", "pdf+ocr"]);
    for x in it["attachments"].as_array().unwrap() {
        let t = x["text"]["text"].as_str().unwrap().to_uppercase();
        assert!(t.contains("QUIXOTIC HARBOUR"), "{}: {t}", x["filename"]);
    }
}

/// Sets `[extract]` keys in an archive's trove.toml.
fn set_extract(a: &TestArchive, key: &str, value: u64) {
    let p = a.path().join("trove.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find(&format!("\n{key} = ")).unwrap() + 1;
    let end = start + text[start..].find('\n').unwrap();
    let mut text = text;
    text.replace_range(start..end, &format!("{key} = {value}"));
    std::fs::write(p, text).unwrap();
}

#[test]
fn an_extractor_past_its_memory_limit_is_a_finding_not_a_dead_ingest() {
    // A PDF whose one content stream inflates to 600 MiB: the extractor's child process hits
    // its address-space limit and dies; the ingest process never holds the inflated stream.
    let inflated = vec![b' '; 600 << 20];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&inflated).unwrap();
    let stream = z.finish().unwrap();
    drop(inflated);
    let bomb = pdf_of(
        [
            format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                stream.len()
            )
            .into_bytes(),
            stream,
            b"\nendstream".to_vec(),
        ]
        .concat(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.eml");
    std::fs::write(
        &path,
        message(
            "bomb",
            &[
                ("bomb.pdf", "application/pdf", bomb),
                ("ok.pdf", "application/pdf", pdf("Kathmandu")),
            ],
        ),
    )
    .unwrap();
    let a = TestArchive::new();
    set_extract(&a, "memory_limit_bytes", 256 << 20);
    let (out, peak) = common::run_measuring_peak_rss({
        let mut c = a.cmd(&["ingest", "--json", path.to_str().unwrap()]);
        c.env_remove("TROVE_LOG");
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = a.jsonl(&["ls"])[0]["id"].as_str().unwrap().to_string();
    let it = a.json(&["show", &id]);
    let bad = it["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["filename"] == "bomb.pdf")
        .unwrap();
    let problem = bad["text"]["problem"]
        .as_str()
        .unwrap_or_else(|| panic!("{bad}"));
    assert!(problem.contains("went past its memory limit"), "{problem}");
    assert_eq!(
        hits(&a, "attachment:kathmandu"),
        vec![id],
        "the other attachment is read"
    );
    assert!(peak < 300 << 20, "ingest peak RSS {} MB", peak >> 20);
}
