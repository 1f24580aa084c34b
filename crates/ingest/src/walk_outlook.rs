//! Outlook stores: every mail of a PST/OST becomes a unit holding the RFC 5322 message rebuilt
//! from its properties, with provenance back to the store (its SHA-256, the folder and node id).
//! Embedded messages become units of their own that name their parent. Items that are not mail
//! are reported per folder with their kinds and counts.

use crate::unit::{Payload, RawUnit};
use crate::walk::{Cancelled, Event, Walker, describe_io};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::ops::ControlFlow;
use trove_model::{Finding, Provenance, Sha256Hash, SourceContext, SourceFormat};
use trove_outlook::mapi::{self, AttachData, MapiMessage, tag};
use trove_outlook::pst::{PstEvent, read_pst};

/// Where a store's bytes are, for the random access the PST reader needs.
pub(crate) enum StoreSource<'a> {
    File(&'a File),
    Mem(&'a [u8]),
}

impl StoreSource<'_> {
    fn open(&self) -> io::Result<Box<dyn outlook_pst::PstReader>> {
        match self {
            StoreSource::File(f) => {
                // Clones share one file position; the reader expects to start at the header.
                let mut f = f.try_clone()?;
                io::Seek::rewind(&mut f)?;
                Ok(Box::new(f))
            }
            StoreSource::Mem(b) => Ok(Box::new(Cursor::new(b.to_vec()))),
        }
    }

    fn sha256(&self) -> io::Result<String> {
        match self {
            StoreSource::Mem(b) => Ok(Sha256Hash::of(b).to_hex()),
            StoreSource::File(f) => {
                let mut r = f.try_clone()?;
                io::Seek::rewind(&mut r)?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                Ok(hex::encode(h.finalize()))
            }
        }
    }
}

/// The store's `wVer` (14/15 ANSI, 23 Unicode, 36/37 the 4 KiB-page format of Outlook 2013+).
fn store_version(src: &StoreSource) -> Option<u16> {
    let mut r = src.open().ok()?;
    let mut head = [0u8; 12];
    r.read_exact(&mut head).ok()?;
    Some(u16::from_le_bytes([head[10], head[11]]))
}

/// `MSGFLAG_*` as maildir-style flags: seen, draft.
fn flags_of(m: &MapiMessage) -> Option<String> {
    let f = mapi::int_of(&m.props, tag::MESSAGE_FLAGS)?;
    let mut s = String::new();
    if f & mapi::MSGFLAG_UNSENT != 0 {
        s.push('D');
    }
    if f & mapi::MSGFLAG_READ != 0 {
        s.push('S');
    }
    Some(s)
}

impl Walker<'_> {
    /// Reads a PST/OST store. Returns whether it was read to the end.
    pub(crate) fn read_pst(&mut self, label: &str, src: StoreSource) -> Result<bool, Cancelled> {
        let store_sha = match src.sha256() {
            Ok(h) => h,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let mut cancelled = false;
        let mut not_mail: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut password = false;
        // Units are emitted as the reader meets them: memory holds one message at a time.
        // The store reader is third-party code over hostile bytes: a panic in it ends this store
        // with a reason (what was emitted before stays), never the ingest.
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_pst(&|| src.open(), &mut |e| {
                match e {
                    PstEvent::Store(info) => password = info.password,
                    PstEvent::Mail(m) => {
                        let path = format!("{label}!{}/{:#x}", m.folder, m.node_id);
                        let ctx = SourceContext {
                            store_sha256: Some(store_sha.clone()),
                            node_id: Some(format!("{:#x}", m.node_id)),
                            folder: Some(m.folder.clone()),
                            message_class: Some(m.message_class.clone()).filter(|c| !c.is_empty()),
                            store_password: password,
                            ..Default::default()
                        };
                        let origin = format!("Outlook store node {:#x}", m.node_id);
                        if self
                            .emit_mapi(&path, &m.message, ctx, &origin, SourceFormat::Pst)
                            .is_err()
                        {
                            cancelled = true;
                            return ControlFlow::Break(());
                        }
                    }
                    PstEvent::NotMail { folder, kind, .. } => {
                        *not_mail.entry(folder).or_default().entry(kind).or_default() += 1;
                    }
                    PstEvent::Problem { at, reason } => problems.push((at, reason)),
                }
                ControlFlow::Continue(())
            })
        }));
        if cancelled {
            return Err(Cancelled);
        }
        let res = match res {
            Ok(r) => r,
            Err(_) => {
                self.skip(label, "the Outlook store reader crashed on this store (reported as a bug); items read before it are kept")?;
                return Ok(false);
            }
        };
        let info = match res {
            Ok(i) => i,
            Err(e) => {
                let reason = match store_version(&src) {
                    Some(v) if v >= 36 => format!(
                        "an Outlook 2013+ store (format version {v}: 4 KiB pages, compressed \
                         blocks), which trove cannot read yet; readpst or pffexport can convert it"
                    ),
                    _ => format!("not a readable Outlook store: {e}"),
                };
                self.skip(label, reason)?;
                return Ok(false);
            }
        };
        for (at, reason) in problems {
            self.skip(&format!("{label}!{at}"), reason)?;
        }
        for (folder, kinds) in not_mail {
            let list: Vec<String> = kinds
                .iter()
                .map(|(k, n)| format!("{n} {k}{}", if *n == 1 { "" } else { "s" }))
                .collect();
            self.skip(
                &format!("{label}!{folder}"),
                format!(
                    "not mail, listed and not read as items: {}",
                    list.join(", ")
                ),
            )?;
        }
        if info.password {
            self.send(Event::Note {
                path: label.to_string(),
                note: "the store has a password; PST passwords do not encrypt, so it was read \
                       (items are flagged store_password)"
                    .into(),
            })?;
        }
        Ok(true)
    }

    /// Emits a rebuilt MAPI message, then its embedded messages as items naming it as parent.
    fn emit_mapi(
        &mut self,
        path: &str,
        m: &MapiMessage,
        mut ctx: SourceContext,
        origin: &str,
        format: SourceFormat,
    ) -> Result<(), Cancelled> {
        let rebuilt = trove_outlook::rebuild(m, origin);
        let sha = Sha256Hash::of(&rebuilt.bytes);
        ctx.reconstructed = true;
        ctx.headers_from = Some(rebuilt.headers.as_str().to_string());
        let mut findings = vec![Finding::new(
            "reconstructed",
            format!(
                "rebuilt from Outlook properties ({}); not the bytes the message arrived as, so \
                 signatures over the body cannot verify",
                match rebuilt.headers {
                    trove_outlook::HeaderSource::Transport =>
                        "headers as transported, body re-encoded",
                    trove_outlook::HeaderSource::Properties => "headers and body rebuilt",
                }
            ),
        )];
        if ctx.store_password {
            findings.push(Finding::new(
                "store_password",
                "the Outlook store this came from is password-protected",
            ));
        }
        findings.extend(
            rebuilt
                .problems
                .into_iter()
                .map(|p| Finding::new("outlook_read", p)),
        );
        let parent_ctx = ctx.clone();
        self.send(Event::Unit(RawUnit {
            prov: Provenance {
                path: path.to_string(),
                offset: None,
                format: format.as_str().into(),
                flags: flags_of(m),
                context: ctx,
            },
            payload: Payload::Mem(rebuilt.bytes),
            quarantine: None,
            findings,
        }))?;
        for (n, a) in m.attachments.iter().enumerate() {
            if let AttachData::Message(inner) = &a.data {
                let child_ctx = SourceContext {
                    parent: Some(sha.item_id().to_string()),
                    message_class: mapi::str_of(&inner.props, tag::MESSAGE_CLASS)
                        .map(str::to_string),
                    headers_from: None,
                    reconstructed: false,
                    ..parent_ctx.clone()
                };
                self.emit_mapi(
                    &format!("{path}/attachment-{n}"),
                    inner,
                    child_ctx,
                    &format!("{origin}, embedded attachment {n}"),
                    format,
                )?;
            }
        }
        Ok(())
    }
}

impl Walker<'_> {
    /// Reads an OLE compound file as an Outlook .msg. Returns whether it was read to the end.
    pub(crate) fn read_msg(&mut self, label: &str, src: StoreSource) -> Result<bool, Cancelled> {
        let sha = match src.sha256() {
            Ok(h) => h,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let reader = match src.open() {
            Ok(r) => r,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let mut problems = Vec::new();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trove_outlook::msg::read_msg(reader, &mut problems)
        }));
        let m = match read {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                self.skip(
                    label,
                    format!("an OLE compound file that is not a readable Outlook message: {e}"),
                )?;
                return Ok(true);
            }
            Err(_) => {
                self.skip(
                    label,
                    "the .msg reader crashed on this file (reported as a bug)",
                )?;
                return Ok(false);
            }
        };
        let class = mapi::str_of(&m.props, tag::MESSAGE_CLASS)
            .unwrap_or("")
            .to_string();
        if class.is_empty()
            && !m.props.contains_key(&tag::SUBJECT)
            && !m.props.contains_key(&tag::BODY)
        {
            self.skip(
                label,
                "an OLE compound file without Outlook message properties (e.g. .doc, .xls)",
            )?;
            return Ok(true);
        }
        if let Some(kind) = trove_outlook::pst::non_mail_kind(&class) {
            self.skip(
                label,
                format!("not mail: an Outlook {kind} ({class}); listed, not read as an item"),
            )?;
            return Ok(true);
        }
        let ctx = SourceContext {
            store_sha256: Some(sha),
            message_class: Some(class).filter(|c| !c.is_empty()),
            ..Default::default()
        };
        for p in problems {
            self.send(Event::Note {
                path: label.to_string(),
                note: p,
            })?;
        }
        self.emit_mapi(label, &m, ctx, "Outlook .msg file", SourceFormat::Msg)?;
        Ok(true)
    }
}

impl Walker<'_> {
    pub(crate) fn read_outlook(
        &mut self,
        label: &str,
        pst: bool,
        src: StoreSource,
    ) -> Result<bool, Cancelled> {
        if pst {
            self.read_pst(label, src)
        } else {
            self.read_msg(label, src)
        }
    }
}
