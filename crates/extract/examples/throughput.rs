//! Extraction throughput per format, for `bench/outlook.sh`: builds documents of each kind in
//! memory (about 1 MB of text each), extracts them in process and through the `trove __extract`
//! helper (when its path is given), and prints MB/s of input and of text.
//!
//!     cargo run --release -p trove-extract --example throughput -- [path/to/trove]

use std::io::Write;
use std::time::Instant;
use trove_extract::{Kind, Options, formats};

fn words(n: usize, seed: usize) -> String {
    const W: [&str; 12] = [
        "ledger",
        "payment",
        "transfer",
        "committee",
        "minutes",
        "offshore",
        "account",
        "wire",
        "invoice",
        "meeting",
        "contract",
        "shipment",
    ];
    (0..n)
        .map(|i| W[(i * 7 + seed) % W.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn pdf(pages: usize) -> Vec<u8> {
    let mut objs: Vec<Vec<u8>> = vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(), vec![]];
    let font = 3;
    objs.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    let mut kids = vec![];
    for p in 0..pages {
        let mut content = String::from("BT /F1 10 Tf 40 800 Td\n");
        for l in 0..60 {
            content.push_str(&format!("0 -12 Td ({}) Tj\n", words(12, p * 60 + l)));
        }
        content.push_str("ET");
        let cid = objs.len() + 1;
        objs.push(
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            )
            .into_bytes(),
        );
        let pid = objs.len() + 1;
        objs.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents {cid} 0 R /Resources << /Font << /F1 {font} 0 R >> >> >>").into_bytes());
        kids.push(format!("{pid} 0 R"));
    }
    objs[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    )
    .into_bytes();
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offs = vec![];
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let x = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).bytes());
    for o in offs {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .bytes(),
    );
    out
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (n, d) in files {
        w.start_file(*n, zip::write::SimpleFileOptions::default())
            .expect("zip");
        w.write_all(d).expect("zip");
    }
    w.finish().expect("zip").into_inner()
}

fn docx(paras: usize) -> Vec<u8> {
    let body: String = (0..paras)
        .map(|i| format!("<w:p><w:r><w:t>{}</w:t></w:r></w:p>", words(15, i)))
        .collect();
    zip_of(&[(
        "word/document.xml",
        format!(r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#).into_bytes(),
    )])
}

fn xlsx(rows: usize) -> Vec<u8> {
    let data: String = (0..rows)
        .map(|r| format!(r#"<row r="{0}"><c r="A{0}" t="inlineStr"><is><t>{1}</t></is></c><c r="B{0}"><v>{2}</v></c></row>"#, r + 1, words(6, r), r * 17))
        .collect();
    zip_of(&[
        ("[Content_Types].xml", br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_vec()),
        ("_rels/.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()),
        ("xl/workbook.xml", br#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_vec()),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_vec()),
        ("xl/worksheets/sheet1.xml", format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#).into_bytes()),
    ])
}

fn html(paras: usize) -> Vec<u8> {
    let body: String = (0..paras)
        .map(|i| format!("<p>{} <b>{}</b></p>\n", words(12, i), words(3, i + 1)))
        .collect();
    format!("<html><body>{body}</body></html>").into_bytes()
}

fn main() {
    let helper = std::env::args().nth(1);
    let docs: Vec<(Kind, Vec<u8>)> = vec![
        (Kind::Pdf, pdf(150)),
        (Kind::Docx, docx(10_000)),
        (Kind::Xlsx, xlsx(20_000)),
        (Kind::Html, html(10_000)),
        (Kind::Text, words(150_000, 3).into_bytes()),
    ];
    println!(
        "| format | input | text out | in process: time, text MB/s | through the helper process: time, text MB/s |"
    );
    println!("|---|---|---|---|---|");
    for (kind, bytes) in docs {
        let runs = 5;
        let t = Instant::now();
        let mut text_len = 0;
        for _ in 0..runs {
            let text = formats::extract(kind, &bytes, 64 << 20, 256 << 20).expect("extracts");
            text_len = text.len();
        }
        let secs = t.elapsed().as_secs_f64() / runs as f64;
        let helper_col = match &helper {
            Some(exe) if !matches!(kind, Kind::Html | Kind::Text) => {
                trove_extract::bounded::set_helper(exe.into());
                let opts = Options {
                    max_text_bytes: 64 << 20,
                    ..Options::default()
                };
                let t = Instant::now();
                for _ in 0..runs {
                    trove_extract::bounded::run(kind, &bytes, &opts).expect("helper extracts");
                }
                let s = t.elapsed().as_secs_f64() / runs as f64;
                format!("{:.0} ms, {:.1} MB/s", s * 1e3, text_len as f64 / s / 1e6)
            }
            _ => "in process always".into(),
        };
        println!(
            "| {} | {:.2} MB | {:.2} MB | {:.0} ms, {:.1} MB/s | {helper_col} |",
            kind.as_str(),
            bytes.len() as f64 / 1e6,
            text_len as f64 / 1e6,
            secs * 1e3,
            text_len as f64 / secs / 1e6
        );
    }
}
