//! `trove demo`: generates a small, realistic leak and ingests it through the real pipeline.
//!
//! The correspondence is fictional (reserved `.example` domains) but shaped like the real thing:
//! a campaign's staff thread in an mboxrd file, a maildir with a DKIM-signed press message, a zip
//! of forwarded mail holding a tampered copy of that message, French mail in a legacy charset,
//! an HTML message with a tracking pixel, attachments, and a file that is not mail at all.
//!
//! The DKIM keys are throwaway test keys shipped with the source; their public halves are written
//! to `keys/demo-dkim.zone` in the archive so verification can run offline.

use anyhow::{Context, Result, bail};
use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use trove_store::Archive;

/// Throwaway test keys (generated for the demo; never used for anything else).
const RSA_TEST_KEY_PKCS8: &[u8] = include_bytes!("demo/dkim-test-rsa.pk8");
const ED25519_TEST_KEY_PKCS8: &[u8] = include_bytes!("demo/dkim-test-ed25519.pk8");
const RSA_PUBLIC_SPKI_B64: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmrDvQXGK1wQET68d709+iEcUUFNfAOsa3w42wfCnfKGRVyT5k33Z9cXCWkWk4buMlRi1Lv603K+13Be2Ou9ZOskMTiSBMDOgXMnIn/p5vk9m4EhETHxctMdplCn27HQl8V39owDfyPzmsJWWy/rxK7GHboGld2e8Cr9cgq7JdU9AJCi/BwH7JNYQG7opeN+p0/26m1Se2lkeRL2l+uDwzVjSmbFqzvQlTF6ctgCe1lDoJmSqpUSwI78USIMx37VP2Cn3xQQDupAq3YWXDrHLmfTCv7F0U7cMMZ+hluf0bcwAfIu9SZ8FNAP4C7CCLps+XZVPgOuS52T30pDjtTpGnwIDAQAB";
const ED25519_PUBLIC_B64: &str = "Q8VVNTdYNTnbIOz0KKoPBIib11SxGG2wMSh1aaPWs8w=";

struct Mail<'a> {
    from: &'a str,
    to: &'a str,
    cc: Option<&'a str>,
    subject: &'a str,
    date: &'a str,
    id: &'a str,
    in_reply_to: Option<&'a str>,
    references: Option<&'a str>,
    /// Extra header lines (MIME headers for non-plain bodies), each without CRLF.
    headers: Vec<String>,
    body: String,
}

impl Mail<'_> {
    fn render(&self) -> Vec<u8> {
        let mut h = vec![format!("From: {}", self.from), format!("To: {}", self.to)];
        if let Some(cc) = self.cc {
            h.push(format!("Cc: {cc}"));
        }
        h.push(format!("Subject: {}", self.subject));
        h.push(format!("Date: {}", self.date));
        h.push(format!("Message-ID: <{}>", self.id));
        if let Some(r) = self.in_reply_to {
            h.push(format!("In-Reply-To: <{r}>"));
        }
        if let Some(r) = self.references {
            h.push(format!("References: {r}"));
        }
        if self.headers.is_empty() {
            h.push("MIME-Version: 1.0".into());
            h.push("Content-Type: text/plain; charset=utf-8".into());
            h.push("Content-Transfer-Encoding: 8bit".into());
        } else {
            h.extend(self.headers.iter().cloned());
        }
        let mut out = h.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(
            self.body
                .replace("\r\n", "\n")
                .replace('\n', "\r\n")
                .as_bytes(),
        );
        out
    }
}

fn plain<'a>(
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    date: &'a str,
    id: &'a str,
    body: &str,
) -> Mail<'a> {
    Mail {
        from,
        to,
        cc: None,
        subject,
        date,
        id,
        in_reply_to: None,
        references: None,
        headers: vec![],
        body: body.to_string(),
    }
}

fn sign_rsa(msg: &[u8]) -> Result<Vec<u8>> {
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        RSA_TEST_KEY_PKCS8,
    )))
    .map_err(|e| anyhow::anyhow!("demo RSA key: {e}"))?;
    let sig = DkimSigner::from_key(key)
        .domain("openvault.example")
        .selector("demo2016")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(msg)
        .map_err(|e| anyhow::anyhow!("DKIM signing: {e}"))?;
    let mut out = sig.to_header().into_bytes();
    out.extend_from_slice(msg);
    Ok(out)
}

fn sign_ed25519(msg: &[u8]) -> Result<Vec<u8>> {
    let key = Ed25519Key::from_pkcs8_der(ED25519_TEST_KEY_PKCS8)
        .map_err(|e| anyhow::anyhow!("demo Ed25519 key: {e}"))?;
    let sig = DkimSigner::from_key(key)
        .domain("lefevre-conseil.example")
        .selector("ed2016")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(msg)
        .map_err(|e| anyhow::anyhow!("DKIM signing: {e}"))?;
    let mut out = sig.to_header().into_bytes();
    out.extend_from_slice(msg);
    Ok(out)
}

/// mboxrd: quote `>*From ` lines by one more `>`, separate messages by a postmark and blank line.
fn mboxrd(messages: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (sender, asctime, raw) in messages {
        out.extend_from_slice(format!("From {sender} {asctime}\n").as_bytes());
        for line in raw.split_inclusive(|&b| b == b'\n') {
            let depth = line.iter().take_while(|&&b| b == b'>').count();
            if line[depth..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !raw.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

fn staff_thread() -> Vec<Mail<'static>> {
    let r1 = "<20160927140211.7741@harper2016.example>";
    vec![
        Mail {
            cc: Some("Dana Whitfield <d.whitfield@harper2016.example>"),
            ..plain(
                "Jordan Marsh <j.marsh@harper2016.example>",
                "Alex Cole <a.cole@harper2016.example>",
                "Debate prep schedule for Thursday",
                "Tue, 27 Sep 2016 10:02:11 -0400",
                "20160927140211.7741@harper2016.example",
                "Alex,\n\nDraft schedule for Thursday's prep session:\n\n  09:00  briefing on the tax returns question\n  10:30  mock debate, first half\n  13:00  lunch with the finance committee\n\nThe tax returns answer still needs work. Can you circulate the\nlatest version before Wednesday night?\n\nJordan\n",
            )
        },
        Mail {
            in_reply_to: Some("20160927140211.7741@harper2016.example"),
            references: Some(r1),
            ..plain(
                "Alex Cole <a.cole@harper2016.example>",
                "Jordan Marsh <j.marsh@harper2016.example>",
                "Re: Debate prep schedule for Thursday",
                "Tue, 27 Sep 2016 11:40:52 -0400",
                "20160927154052.1209@harper2016.example",
                "Will do. One concern: the finance committee lunch overlaps with\nthe call from the OpenVault people. Tom wants to take that call himself.\n\nFrom what I hear they have more material coming this week.\n\n> The tax returns answer still needs work.\n\nAgreed, I'll send a new draft tonight.\n\nAlex\n",
            )
        },
        Mail {
            in_reply_to: Some("20160927154052.1209@harper2016.example"),
            references: Some(
                "<20160927140211.7741@harper2016.example> <20160927154052.1209@harper2016.example>",
            ),
            ..plain(
                "Dana Whitfield <d.whitfield@harper2016.example>",
                "Alex Cole <a.cole@harper2016.example>, Jordan Marsh <j.marsh@harper2016.example>",
                "Re: Debate prep schedule for Thursday",
                "Tue, 27 Sep 2016 12:15:03 -0400",
                "20160927161503.5530@harper2016.example",
                "Please keep anything about OpenVault off email. Phone only.\n\nDana\n",
            )
        },
        Mail {
            in_reply_to: Some("20160927161503.5530@harper2016.example"),
            references: Some(
                "<20160927140211.7741@harper2016.example> <20160927154052.1209@harper2016.example> <20160927161503.5530@harper2016.example>",
            ),
            ..plain(
                "Jordan Marsh <j.marsh@harper2016.example>",
                "Dana Whitfield <d.whitfield@harper2016.example>",
                "Re: Debate prep schedule for Thursday",
                "Wed, 28 Sep 2016 08:01:44 -0400",
                "20160928120144.0093@harper2016.example",
                "Understood. Moving the lunch to 14:00.\n",
            )
        },
    ]
}

fn html_with_pixel() -> Mail<'static> {
    Mail {
        headers: vec![
            "MIME-Version: 1.0".into(),
            "Content-Type: text/html; charset=utf-8".into(),
        ],
        ..plain(
            "Campaign Digest <digest@newsletter.example>",
            "a.cole@harper2016.example",
            "Your Monday digest: polls tighten in three states",
            "Mon, 03 Oct 2016 06:00:00 +0000",
            "digest-20161003@newsletter.example",
            "<html><body><h1>Monday digest</h1><p>Polls tighten in <b>three states</b>.</p>\n<img src=\"http://tracker.newsletter.example/open.gif?u=a.cole\" width=\"1\" height=\"1\">\n<p><a href=\"https://newsletter.example/polls\">Read more</a></p></body></html>\n",
        )
    }
}

fn windows_1252_memo() -> Vec<u8> {
    let mut m = b"From: Finance Office <finance@harper2016.example>\r\nTo: Jordan Marsh <j.marsh@harper2016.example>\r\nSubject: =?windows-1252?q?Donor_report_=96_Q3?=\r\nDate: Fri, 30 Sep 2016 17:22:09 -0400\r\nMessage-ID: <q3-donors-0930@harper2016.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    m.extend_from_slice(b"Q3 totals are in \x96 \x93strong quarter\x94 by any measure.\r\nThe \x80 figures for the Paris event are attached separately.\r\n");
    m
}

fn signed_press_message() -> Mail<'static> {
    plain(
        "OpenVault Press <press@openvault.example>",
        "Tom Harper <tom.harper@harper2016.example>",
        "A link you might find interesting",
        "Mon, 03 Oct 2016 23:25:00 +0000",
        "ov-20161003-2325@openvault.example",
        "Hi Tom,\n\nHope you're well. A new release is going up tonight:\n\n  https://openvault.example/releases/podium-papers/\n\nThere is a lot of material in it about the other side's donors.\nIt would be great if you could share it.\n\nOpenVault\n",
    )
}

fn french_memo() -> Result<(Vec<u8>, Vec<u8>)> {
    let csv = "date;donateur;montant_eur\n2016-09-12;Société Atlantique;25000\n2016-09-19;M. Bernard;4800\n2016-09-26;Fonds Lumière;12000\n";
    let b64 = base64::engine::general_purpose::STANDARD.encode(csv);
    let body = format!(
        "--sep-2016\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nBonjour,\r\n\r\nVeuillez trouver ci-joint la note sur le financement de la campagne\r\navant l'élection. Les versements de septembre figurent dans le tableau.\r\n\r\nNous restons à votre disposition pour en discuter à Paris.\r\n\r\nCabinet Lefèvre\r\n--sep-2016\r\nContent-Type: text/csv; charset=utf-8; name=\"versements-2016.csv\"\r\nContent-Disposition: attachment; filename=\"versements-2016.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--sep-2016--\r\n"
    );
    let m = Mail {
        headers: vec![
            "MIME-Version: 1.0".into(),
            "Content-Type: multipart/mixed; boundary=\"sep-2016\"".into(),
        ],
        ..plain(
            "Cabinet =?utf-8?q?Lef=C3=A8vre?= <contact@lefevre-conseil.example>",
            "Jordan Marsh <j.marsh@harper2016.example>",
            "=?utf-8?q?Note_sur_le_financement_de_la_campagne_=E2=80=94_=C3=A9lection_2016?=",
            "Tue, 04 Oct 2016 09:12:30 +0200",
            "note-financement-20161004@lefevre-conseil.example",
            &body,
        )
    };
    let signed = sign_ed25519(&m.render())?;
    // A reply in ISO-8859-1, quoted-printable, as old French mail clients send it.
    let reply = b"From: Jordan Marsh <j.marsh@harper2016.example>\r\nTo: Cabinet Lefevre <contact@lefevre-conseil.example>\r\nSubject: Re: Note sur le financement de la campagne\r\nDate: Tue, 04 Oct 2016 11:48:02 -0400\r\nMessage-ID: <re-note-20161004@harper2016.example>\r\nIn-Reply-To: <note-financement-20161004@lefevre-conseil.example>\r\nReferences: <note-financement-20161004@lefevre-conseil.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nMerci. Pouvez-vous confirmer que la Soci=E9t=E9 Atlantique n'a pas d=E9pass=\r\n=E9 le plafond l=E9gal avant l'=E9lection ? Nous en parlerons jeudi.\r\n\r\nJordan\r\n".to_vec();
    Ok((signed, reply))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes the demo's input files (mbox, maildir, zip) into `src`.
fn generate_sources(src: &Path) -> Result<()> {
    let thread: Vec<Vec<u8>> = staff_thread().iter().map(Mail::render).collect();
    let mbox_msgs: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "j.marsh@harper2016.example",
            "Tue Sep 27 14:02:11 2016",
            thread[0].clone(),
        ),
        (
            "a.cole@harper2016.example",
            "Tue Sep 27 15:40:52 2016",
            thread[1].clone(),
        ),
        (
            "d.whitfield@harper2016.example",
            "Tue Sep 27 16:15:03 2016",
            thread[2].clone(),
        ),
        (
            "j.marsh@harper2016.example",
            "Wed Sep 28 12:01:44 2016",
            thread[3].clone(),
        ),
        (
            "finance@harper2016.example",
            "Fri Sep 30 21:22:09 2016",
            windows_1252_memo(),
        ),
        (
            "digest@newsletter.example",
            "Mon Oct  3 06:00:00 2016",
            html_with_pixel().render(),
        ),
    ];
    write(&src.join("campaign-staff.mbox"), &mboxrd(&mbox_msgs))?;

    let signed = sign_rsa(&signed_press_message().render())?;
    let (fr_signed, fr_reply) = french_memo()?;
    let md = src.join("tom-harper-maildir");
    write(&md.join("cur/1475537100.M1P7.laptop:2,S"), &signed)?;
    write(&md.join("new/1475565150.M2P7.laptop"), &fr_signed)?;
    fs::create_dir_all(md.join("tmp"))?;

    // A forwarded bundle: the original again (a duplicate), a tampered copy, the French reply,
    // and a note that is not mail.
    let tampered = String::from_utf8_lossy(&signed)
        .replace(
            "There is a lot of material in it about the other side's donors.\r\nIt would be great if you could share it.",
            "There is a lot of material in it.\r\nNo need to share it.",
        )
        .into_bytes();
    let zip_path = src.join("forwarded-to-reporter.zip");
    let mut zw = zip::ZipWriter::new(fs::File::create(&zip_path)?);
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("forwarded/original.eml", signed.as_slice()),
        ("forwarded/as-published.eml", tampered.as_slice()),
        ("forwarded/fr/re-note.eml", fr_reply.as_slice()),
        (
            "forwarded/README.txt",
            b"Forwarded by a source, October 2016.\n".as_slice(),
        ),
    ] {
        zw.start_file(name, opts)?;
        zw.write_all(bytes)?;
    }
    zw.finish()?;

    // Two X/Twitter exports holding the same DM conversation (the test fixtures, modelled on the
    // 2016 WikiLeaks / Donald Trump Jr. messages), so the demo shows DMs, posts and actors.
    for (dir, files) in X_EXPORTS {
        for (name, text) in *files {
            write(&src.join(dir).join("data").join(name), text.as_bytes())?;
        }
    }
    Ok(())
}

type ExportFiles = &'static [(&'static str, &'static str)];

const X_EXPORTS: &[(&str, ExportFiles)] = &[
    (
        "x-export-donjr",
        &[
            (
                "account.js",
                include_str!("../tests/fixtures/social/x/donjr/data/account.js"),
            ),
            (
                "direct-messages.js",
                include_str!("../tests/fixtures/social/x/donjr/data/direct-messages.js"),
            ),
            (
                "direct-messages-group.js",
                include_str!("../tests/fixtures/social/x/donjr/data/direct-messages-group.js"),
            ),
            (
                "tweets.js",
                include_str!("../tests/fixtures/social/x/donjr/data/tweets.js"),
            ),
        ],
    ),
    (
        "x-export-wikileaks",
        &[
            (
                "account.js",
                include_str!("../tests/fixtures/social/x/wikileaks/data/account.js"),
            ),
            (
                "direct-messages.js",
                include_str!("../tests/fixtures/social/x/wikileaks/data/direct-messages.js"),
            ),
            (
                "tweet.js",
                include_str!("../tests/fixtures/social/x/wikileaks/data/tweet.js"),
            ),
        ],
    ),
];

pub fn run(dir: &Path, json: bool) -> Result<ExitCode> {
    if dir.join("trove.toml").exists() {
        let existing = Archive::open(dir)?;
        if !existing.settings.demo {
            bail!(
                "{} is an archive that `trove demo` did not build; refusing to replace it",
                dir.display()
            );
        }
        fs::remove_dir_all(dir).with_context(|| format!("removing old demo {}", dir.display()))?;
    } else if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty; pass --dir to build the demo elsewhere",
            dir.display()
        );
    }
    let archive = Archive::init(dir, "trove demo")?;
    let mut settings = archive.settings.clone();
    settings.demo = true;
    Archive::write_settings(dir, &settings)?;
    let archive = Archive::open(dir)?;

    let src = dir.join("demo-source");
    generate_sources(&src)?;
    write(
        &dir.join("keys/demo-dkim.zone"),
        format!(
            "# DKIM public keys of the demo's throwaway test signers (zone-file form).\n\
             demo2016._domainkey.openvault.example. IN TXT \"v=DKIM1; k=rsa; p={RSA_PUBLIC_SPKI_B64}\"\n\
             ed2016._domainkey.lefevre-conseil.example. IN TXT \"v=DKIM1; k=ed25519; p={ED25519_PUBLIC_B64}\"\n"
        )
        .as_bytes(),
    )?;
    // Keys first, so ingest verifies every signature as it archives the message.
    {
        let lock = archive.lock(false)?;
        crate::verify::import_keys(&archive, &lock, &dir.join("keys/demo-dkim.zone"))?;
    }
    let summary = crate::commands::ingest(&archive, vec![src], false, false, true, None)?;
    let a = dir.display();
    if json {
        outln!(
            "{}",
            json!({"archive": dir.display().to_string(), "ingest": summary})
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "Built a demo archive in {a}: {} items from an mbox, a maildir, a zip and two X exports; \
         {} duplicates, {} skipped.",
        summary.items_new,
        summary.duplicates,
        summary.skipped
    );
    outln!();
    outln!("Try:");
    outln!("  trove --archive {a} stats");
    outln!("  trove --archive {a} ls");
    outln!(
        "  trove --archive {a} show ID          # headers, body, attachments, where it was found"
    );
    outln!("  trove --archive {a} raw ID | sha256sum   # the exact original bytes");
    outln!("  trove --archive {a} quarantine       # what was skipped, and why");
    outln!("  trove --archive {a} search 'élection'   # French stemming and accents");
    outln!("  trove --archive {a} search 'from:openvault.example' --json");
    outln!("  trove --archive {a} conversations    # DM conversations");
    outln!("  trove --archive {a} thread x:16589206-39344374   # one, in sequence order");
    outln!("  trove --archive {a} actors           # people behind the identities");
    outln!("  trove --archive {a} search wlsearch.tk   # a link sent by DM, then tweeted");
    outln!("  trove --archive {a} verify           # DKIM verdicts, offline");
    outln!("  trove --archive {a} search dkim:body_altered   # the tampered copy");
    outln!(
        "  trove --archive {a} excerpt --conversation x:16589206-39344374 -o chain.trove-excerpt"
    );
    outln!("  trove verify-excerpt chain.trove-excerpt --key \"$(trove --archive {a} pubkey)\"");
    outln!();
    outln!(
        "Two messages in it are DKIM-signed with test keys (see {a}/keys/demo-dkim.zone); one of\n\
         them also appears as a tampered copy in the zip, which `verify` names body_altered."
    );
    Ok(ExitCode::SUCCESS)
}
