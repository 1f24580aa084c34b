//! Generates the hostile inputs of the robustness suite into a directory, at test time (nothing
//! hostile is committed). Each function writes one case; `hostile.rs` says what outcome each must
//! have.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

pub fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: {subject}\nMessage-ID: <{subject}@x>\n\n{body}")
        .into_bytes()
}

fn zip_of(members: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A message of 64 MiB of zeros, deflated to about 64 KiB.
fn zero_message() -> Vec<u8> {
    let mut m = b"From: a@b\n\n".to_vec();
    m.resize(64 << 20, 0);
    m
}

/// `bomb.zip`: one deflated member that inflates 1000-fold.
pub fn zip_bomb(dir: &Path) {
    let bomb = zip_of(
        &[("bomb.eml", &zero_message())],
        zip::CompressionMethod::Deflated,
    );
    fs::write(dir.join("bomb.zip"), bomb).unwrap();
}

/// `nested-bomb.zip`: a stored zip holding the bomb zip, beside one good message.
pub fn nested_zip_bomb(dir: &Path) {
    let inner = zip_of(
        &[("bomb.eml", &zero_message())],
        zip::CompressionMethod::Deflated,
    );
    let outer = zip_of(
        &[("inner.zip", &inner), ("ok.eml", &msg("ok", "fine\n"))],
        zip::CompressionMethod::Stored,
    );
    fs::write(dir.join("nested-bomb.zip"), outer).unwrap();
}

/// `zeros.mbox.gz`: a gzip stream that inflates 1000-fold.
pub fn gzip_bomb(dir: &Path) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"From a@b Mon Jan  1 00:00:00 2001\nFrom: a@b\n\n")
        .unwrap();
    gz.write_all(&vec![0u8; 64 << 20]).unwrap();
    fs::write(dir.join("zeros.mbox.gz"), gz.finish().unwrap()).unwrap();
}

/// `../` and absolute member names in a zip, a symlink member in a tar, and a symlink in the
/// input tree pointing outside it.
pub fn hostile_names(dir: &Path) {
    let a = msg("dotdot", "payload\n");
    let b = msg("absolute", "payload\n");
    let z = zip_of(
        &[
            ("../../escaped.eml", &a),
            ("/tmp/trove-absolute-escape.eml", &b),
        ],
        zip::CompressionMethod::Stored,
    );
    fs::write(dir.join("evil.zip"), z).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    t.append_link(&mut h, "link.eml", "/etc/passwd").unwrap();
    fs::write(dir.join("links.tar"), t.into_inner().unwrap()).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("outside-link")).unwrap();
}

/// `deep.eml`: multiparts nested `levels` deep around one text part.
pub fn deep_multipart(dir: &Path, levels: usize) {
    let mut m =
        b"From: a@x\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\nMIME-Version: 1.0\r\n".to_vec();
    for i in 0..levels {
        write!(
            m,
            "Content-Type: multipart/mixed; boundary=\"b{i:05}\"\r\n\r\n--b{i:05}\r\n"
        )
        .unwrap();
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\ninnermost words\r\n");
    for i in (0..levels).rev() {
        write!(m, "--b{i:05}--\r\n").unwrap();
    }
    fs::write(dir.join("deep.eml"), m).unwrap();
}

/// `long-line.eml`: a 2 MiB header line (under the 4 MiB header limit); `huge-header.eml`: a
/// 5 MiB header block (over it).
pub fn long_header_lines(dir: &Path) {
    let mut m = b"From: a@x\nMessage-ID: <long@x>\nX-Long: ".to_vec();
    m.resize(m.len() + (2 << 20), b'a');
    m.extend_from_slice(b"\nSubject: long line\n\nbody after a long header\n");
    fs::write(dir.join("long-line.eml"), m).unwrap();
    let mut h = b"From: a@x\nMessage-ID: <huge@x>\nSubject: huge header\nX-Huge: ".to_vec();
    h.resize(h.len() + (5 << 20), b'b');
    h.extend_from_slice(b"\n\nbody\n");
    fs::write(dir.join("huge-header.eml"), h).unwrap();
}

/// NUL bytes in headers and body, a message that is mostly NULs, and a file of nothing else.
pub fn nul_bytes(dir: &Path) {
    fs::write(
        dir.join("nul-inside.eml"),
        b"From: a\x00b@example.org\nTo: \x00\x00@example.org\nSubject: nul \x00 here\n\
          Message-ID: <nul\x00@x>\n\nbody \x00\x00 with NULs\n",
    )
    .unwrap();
    let mut nul_first = b"From: a@b\nSubject: then NULs\n\n".to_vec();
    nul_first.extend(std::iter::repeat_n(0u8, 5000));
    fs::write(dir.join("nul-body.eml"), &nul_first).unwrap();
    fs::write(dir.join("all-nul.bin"), vec![0u8; 4096]).unwrap();
}

/// `bad-utf8.eml`: invalid UTF-8 in every header, including MIME parameters and a filename.
pub fn invalid_utf8_headers(dir: &Path) {
    let bad = b"\xff\xfe\xc3\x28\xf0\x28\x8c\x28";
    let mut m = Vec::new();
    for name in [
        "From: ",
        "Sender: ",
        "To: ",
        "Cc: ",
        "Reply-To: ",
        "Subject: ",
        "Date: ",
        "Message-ID: <",
        "In-Reply-To: <",
        "References: <",
        "X-Mailer: ",
        "DKIM-Signature: v=1; d=",
    ] {
        m.extend_from_slice(name.as_bytes());
        m.extend_from_slice(bad);
        m.extend_from_slice(b"@example.org\r\n");
    }
    m.extend_from_slice(b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"");
    m.extend_from_slice(bad);
    m.extend_from_slice(b"\"\r\n\r\n--");
    m.extend_from_slice(bad);
    m.extend_from_slice(b"\r\nContent-Type: text/plain; charset=\"");
    m.extend_from_slice(bad);
    m.extend_from_slice(b"\"\r\n\r\ntext \xff body\r\n--");
    m.extend_from_slice(bad);
    m.extend_from_slice(b"\r\nContent-Type: application/octet-stream; name=\"");
    m.extend_from_slice(bad);
    m.extend_from_slice(b".pdf\"\r\nContent-Disposition: attachment; filename=\"");
    m.extend_from_slice(bad);
    m.extend_from_slice(b".pdf\"\r\n\r\n%PDF\r\n--");
    m.extend_from_slice(bad);
    m.extend_from_slice(b"--\r\n");
    fs::write(dir.join("bad-utf8.eml"), m).unwrap();
}

/// `cl.mbox`: four messages whose `Content-Length` headers are too long, too short, negative and
/// not a number.
pub fn broken_content_length(dir: &Path) {
    let mut m = Vec::new();
    for (i, cl) in ["999999", "3", "-5", "twelve"].iter().enumerate() {
        write!(
            m,
            "From a@x Mon Jan  1 00:00:0{i} 2001\nFrom: a@x\nSubject: cl {i}\n\
             Message-ID: <cl{i}@x>\nContent-Length: {cl}\n\nbody {i} is longer than it says\n\n"
        )
        .unwrap();
    }
    fs::write(dir.join("cl.mbox"), m).unwrap();
}

/// JSON nested a million deep after one good record, as JSON Lines and as an X export.
pub fn deep_json(dir: &Path) {
    let deep = |n: usize| {
        let mut v = vec![b'['; n];
        v.extend(std::iter::repeat_n(b']', n));
        v
    };
    let mut jl = br#"{"kind": "post", "sender": "twitter:@a", "text": "a good line", "timestamp": "2016-10-12T09:00:00Z"}"#
        .to_vec();
    jl.push(b'\n');
    jl.extend(deep(1_000_000));
    jl.push(b'\n');
    fs::write(dir.join("deep.jsonl"), jl).unwrap();
    let x = dir.join("x/data");
    fs::create_dir_all(&x).unwrap();
    let mut t = br#"window.YTD.tweets.part0 = [ {"tweet": {"id_str": "1", "full_text": "a good tweet", "created_at": "Wed Oct 12 09:00:00 +0000 2016"}}, "#.to_vec();
    t.extend(deep(1_000_000));
    t.extend_from_slice(b"]");
    fs::write(x.join("tweets.js"), t).unwrap();
}

/// `big.mbox`: about `bytes` of mail, each message a short text and a ~1 MiB base64 attachment.
/// Its lines are drawn at random from 4,096 random lines: every message differs and the mbox is
/// read and stored whole, but the archive compresses it to a fraction, so the case needs little
/// more disk than the mbox itself (with random bytes throughout, the archive was as large again:
/// the hostile tests peaked at 3.4 GB of /tmp, 1.6 GB now). Returns the message count.
pub fn big_mbox(dir: &Path, bytes: u64) -> usize {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut f = BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("big.mbox")).unwrap());
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
    let lines: Vec<[u8; 77]> = (0..4096)
        .map(|_| {
            let mut line = [b'\n'; 77];
            for c in &mut line[..76] {
                *c = B64[(next() >> 58) as usize];
            }
            line
        })
        .collect();
    let (mut written, mut n) = (0u64, 0usize);
    while written < bytes {
        let head = format!(
            "From big@example.org Mon Jan  1 00:00:00 2001\nFrom: big@example.org\n\
             Subject: big {n}\nMessage-ID: <big{n}@example.org>\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
             message number {n} of the large mbox\n--b\nContent-Type: application/octet-stream\n\
             Content-Transfer-Encoding: base64\n\n"
        );
        f.write_all(head.as_bytes()).unwrap();
        written += head.len() as u64;
        for _ in 0..13_000 {
            f.write_all(&lines[(next() >> 52) as usize]).unwrap();
        }
        written += 13_000 * 77;
        f.write_all(b"--b--\n\n").unwrap();
        written += 7;
        n += 1;
    }
    f.flush().unwrap();
    n
}

/// An mbox of about `bytes` of messages, each with a 470 KB text attachment of words from a
/// 20,000-word made-up vocabulary: text that is extracted and indexed (twice, as attachment text
/// and for CJK), unlike the binary attachments of [`big_mbox`]. Returns the number of messages.
pub fn text_attachments_mbox(dir: &Path, bytes: u64) -> usize {
    let mut f = BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("text.mbox")).unwrap());
    let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
    let vocabulary: Vec<Vec<u8>> = (0..20_000)
        .map(|_| {
            let r = next();
            (0..3 + (r % 7) as usize)
                .map(|i| b'a' + ((r >> (8 + 5 * i)) % 26) as u8)
                .collect()
        })
        .collect();
    let (mut written, mut n) = (0u64, 0usize);
    let mut line = Vec::with_capacity(80);
    while written < bytes {
        let head = format!(
            "From text@example.org Mon Jan  1 00:00:00 2001\nFrom: text@example.org\n\
             Subject: text {n}\nMessage-ID: <text{n}@example.org>\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
             report number {n}, attached\n--b\nContent-Type: text/plain; name=\"r{n}.txt\"\n\
             Content-Disposition: attachment; filename=\"r{n}.txt\"\n\n"
        );
        f.write_all(head.as_bytes()).unwrap();
        written += head.len() as u64;
        let mut body = 0;
        while body < 470_000 {
            line.clear();
            while line.len() < 70 {
                // Common words often, rare ones seldom, as in prose.
                let r = next();
                let w = (r % 20_000) * ((r >> 20) % 20_000) / 20_000;
                line.extend_from_slice(&vocabulary[w as usize]);
                line.push(b' ');
            }
            line.push(b'\n');
            f.write_all(&line).unwrap();
            body += line.len();
        }
        written += body as u64;
        f.write_all(b"--b--\n\n").unwrap();
        written += 7;
        n += 1;
    }
    f.flush().unwrap();
    n
}

/// An mbox of about `bytes` of messages, each with a 2 MB text attachment of random letter
/// strings: words that never repeat, as in dumps of hashes, keys or identifiers. Every word is a
/// new term, so the index's term dictionaries grow as fast as the text. Returns the number of
/// messages.
pub fn random_words_mbox(dir: &Path, bytes: u64) -> usize {
    let mut f =
        BufWriter::with_capacity(1 << 20, fs::File::create(dir.join("words.mbox")).unwrap());
    let mut next = xorshift(0x6A09_E667_F3BC_C909u64);
    let (mut written, mut n) = (0u64, 0usize);
    let mut line = Vec::with_capacity(120);
    while written < bytes {
        let head = format!(
            "From words@example.org Mon Jan  1 00:00:00 2001\nFrom: words@example.org\n\
             Subject: words {n}\nMessage-ID: <words{n}@example.org>\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
             dump number {n}, attached\n--b\nContent-Type: text/plain; name=\"d{n}.txt\"\n\
             Content-Disposition: attachment; filename=\"d{n}.txt\"\n\n"
        );
        f.write_all(head.as_bytes()).unwrap();
        written += head.len() as u64;
        let mut body = 0;
        while body < 2_000_000 {
            line.clear();
            for _ in 0..10 {
                let r = next();
                line.extend((0..4 + r % 7).map(|i| b'a' + ((r >> (8 + 5 * i)) % 26) as u8));
                line.push(b' ');
            }
            line.push(b'\n');
            f.write_all(&line).unwrap();
            body += line.len();
        }
        written += body as u64;
        f.write_all(b"--b--\n\n").unwrap();
        written += 7;
        n += 1;
    }
    f.flush().unwrap();
    n
}

/// A fast deterministic pseudo-random sequence (xorshift64), so generated inputs are the same on
/// every run.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
