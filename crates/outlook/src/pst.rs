//! Outlook PST and OST stores, read with Microsoft's `outlook-pst` crate (MS-PST).
//!
//! Every folder under the root is walked, Deleted Items and other special folders included;
//! search folders are skipped because they only point at messages stored elsewhere. Mail
//! becomes [`PstMail`]; appointments, contacts and the like are reported by kind, never dropped
//! in silence. The store is opened from a reader only: `outlook_pst::open_store` would also
//! open the evidence file for writing.

use crate::mapi::{
    AttachData, MapiAttachment, MapiMessage, Prop, Props, decode_string8, message_codepage, tag,
};
use outlook_pst::ltp::prop_context::PropertyValue;
use outlook_pst::ltp::table_context::TableContext;
use outlook_pst::messaging::attachment::{
    AnsiAttachment, Attachment, AttachmentData, UnicodeAttachment,
};
use outlook_pst::messaging::message::{AnsiMessage, Message, UnicodeMessage};
use outlook_pst::messaging::store::{AnsiStore, EntryId, Store, UnicodeStore};
use outlook_pst::ndb::node_id::{NodeId, NodeIdType};
use outlook_pst::{AnsiPstFile, PstReader, UnicodePstFile};
use std::collections::HashSet;
use std::io;
use std::ops::ControlFlow;
use std::rc::Rc;

/// `NID_ROOT_FOLDER`.
const ROOT_FOLDER: u32 = 0x122;
/// `PidTagPstPassword`: a CRC of the password; a store with one is still not encrypted.
const PST_PASSWORD: u16 = 0x67FF;
/// Folders nested deeper than this are reported, not walked (a loop in a corrupt store).
const MAX_FOLDER_DEPTH: usize = 64;
/// Embedded messages nested deeper than this are kept as attachments without being opened.
const MAX_EMBED_DEPTH: usize = 8;

/// What the store says about itself.
#[derive(Debug, Default, Clone)]
pub struct PstInfo {
    pub unicode: bool,
    pub password: bool,
    pub display_name: Option<String>,
}

pub struct PstMail {
    /// Folder names from the root, joined with `/`.
    pub folder: String,
    pub node_id: u32,
    pub message_class: String,
    pub message: MapiMessage,
}

pub enum PstEvent {
    /// First, once: what the store says about itself.
    Store(PstInfo),
    Mail(PstMail),
    /// An item that is not mail: its folder, kind (`appointment`, `contact`...) and class.
    NotMail {
        folder: String,
        kind: &'static str,
        class: String,
    },
    /// Something in the store that could not be read, with where it was.
    Problem {
        at: String,
        reason: String,
    },
}

/// Reads the store `open` returns (called again to retry as ANSI), calling `on` for each item in
/// a deterministic order (folders and messages in table order).
pub fn read_pst<F>(
    open: &dyn Fn() -> io::Result<Box<dyn PstReader>>,
    on: &mut F,
) -> io::Result<PstInfo>
where
    F: FnMut(PstEvent) -> ControlFlow<()>,
{
    let unicode = UnicodePstFile::read_from(open()?);
    match unicode {
        Ok(f) => walk::<Unicode, F>(UnicodeStore::read(Rc::new(f))?, true, on),
        Err(unicode_err) => match AnsiPstFile::read_from(open()?) {
            Ok(f) => walk::<Ansi, F>(AnsiStore::read(Rc::new(f))?, false, on),
            Err(_) => Err(unicode_err),
        },
    }
}

/// The two store flavours differ only in types; this trait lets one walk serve both.
trait Flavour {
    type S: Store + 'static;
    type M: Message + 'static;
    type A: Attachment + 'static;
    fn open_message(s: &Rc<Self::S>, e: &EntryId) -> io::Result<Rc<Self::M>>;
    fn open_attachment(m: &Rc<Self::M>, nid: NodeId) -> io::Result<Rc<Self::A>>;
    fn embedded(a: &Self::A) -> Option<Rc<Self::M>>;
}

struct Unicode;
struct Ansi;

impl Flavour for Unicode {
    type S = UnicodeStore;
    type M = UnicodeMessage;
    type A = UnicodeAttachment;
    fn open_message(s: &Rc<Self::S>, e: &EntryId) -> io::Result<Rc<Self::M>> {
        UnicodeMessage::read(s.clone(), e, None)
    }
    fn open_attachment(m: &Rc<Self::M>, nid: NodeId) -> io::Result<Rc<Self::A>> {
        UnicodeAttachment::read(m.clone(), nid, None)
    }
    fn embedded(a: &Self::A) -> Option<Rc<Self::M>> {
        a.embedded_message()
    }
}

impl Flavour for Ansi {
    type S = AnsiStore;
    type M = AnsiMessage;
    type A = AnsiAttachment;
    fn open_message(s: &Rc<Self::S>, e: &EntryId) -> io::Result<Rc<Self::M>> {
        AnsiMessage::read(s.clone(), e, None)
    }
    fn open_attachment(m: &Rc<Self::M>, nid: NodeId) -> io::Result<Rc<Self::A>> {
        AnsiAttachment::read(m.clone(), nid, None)
    }
    fn embedded(a: &Self::A) -> Option<Rc<Self::M>> {
        a.embedded_message()
    }
}

fn walk<K: Flavour, F>(store: Rc<K::S>, unicode: bool, on: &mut F) -> io::Result<PstInfo>
where
    F: FnMut(PstEvent) -> ControlFlow<()>,
{
    let sp = store.properties();
    let info = PstInfo {
        unicode,
        password: matches!(sp.get(PST_PASSWORD), Some(PropertyValue::Integer32(v)) if *v != 0),
        display_name: sp.display_name().ok().filter(|n| !n.is_empty()),
    };
    if on(PstEvent::Store(info.clone())).is_break() {
        return Ok(info);
    }
    let root = sp.make_entry_id(NodeId::from(ROOT_FOLDER))?;
    let mut seen = HashSet::new();
    let mut w = Walk::<K, F> {
        store,
        on,
        seen_messages: &mut seen,
        seen_folders: HashSet::new(),
    };
    let _ = w.folder(&root, "", 0);
    Ok(info)
}

struct Walk<'a, K: Flavour, F> {
    store: Rc<K::S>,
    on: &'a mut F,
    seen_messages: &'a mut HashSet<u32>,
    seen_folders: HashSet<u32>,
}

impl<K: Flavour, F: FnMut(PstEvent) -> ControlFlow<()>> Walk<'_, K, F> {
    fn problem(&mut self, at: &str, reason: impl std::fmt::Display) -> ControlFlow<()> {
        (self.on)(PstEvent::Problem {
            at: at.to_string(),
            reason: reason.to_string(),
        })
    }

    fn folder(&mut self, entry: &EntryId, path: &str, depth: usize) -> ControlFlow<()> {
        let label = if path.is_empty() { "/" } else { path };
        let folder = match self.store.open_folder(entry) {
            Ok(f) => f,
            Err(e) => return self.problem(label, format_args!("folder not readable: {e}")),
        };
        let props = folder.properties();
        if !self.seen_folders.insert(u32::from(props.node_id())) {
            return ControlFlow::Continue(());
        }
        let name = match props.get(tag::DISPLAY_NAME) {
            Some(v) => prop_string(v, None).unwrap_or_default(),
            None => String::new(),
        };
        // The root folder has no name of its own; its children start the paths.
        let here = match (depth, path.is_empty()) {
            (0, _) => String::new(),
            (_, true) => name,
            (_, false) => format!("{path}/{name}"),
        };
        if let Some(contents) = folder.contents_table() {
            // The contents table carries each item's class, so items that are not mail are
            // counted without being opened (some, like distribution lists, have no sub-nodes).
            let rows = table_rows(contents, None);
            let ids: Vec<u32> = contents.rows_matrix().map(|r| u32::from(r.id())).collect();
            for (n, nid) in ids.into_iter().enumerate() {
                let class = rows
                    .get(n)
                    .and_then(|r| crate::mapi::str_of(r, tag::MESSAGE_CLASS))
                    .unwrap_or("")
                    .to_string();
                if let Some(kind) = non_mail_kind(&class) {
                    if self.seen_messages.insert(nid) {
                        (self.on)(PstEvent::NotMail {
                            folder: here.clone(),
                            kind,
                            class,
                        })?;
                    }
                    continue;
                }
                self.message(nid, &here)?;
            }
        }
        if let Some(h) = folder.hierarchy_table() {
            let ids: Vec<u32> = h.rows_matrix().map(|r| u32::from(r.id())).collect();
            for nid in ids {
                let node = NodeId::from(nid);
                if matches!(node.id_type(), Ok(NodeIdType::SearchFolder)) {
                    continue;
                }
                if depth + 1 > MAX_FOLDER_DEPTH {
                    return self.problem(&here, "folders nested too deep; the rest is not read");
                }
                match self.store.properties().make_entry_id(node) {
                    Ok(e) => self.folder(&e, &here, depth + 1)?,
                    Err(e) => self.problem(&here, format_args!("subfolder {nid:#x}: {e}"))?,
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn message(&mut self, nid: u32, folder: &str) -> ControlFlow<()> {
        if !self.seen_messages.insert(nid) {
            return ControlFlow::Continue(());
        }
        let at = format!("{folder}/{nid:#x}");
        let entry = match self.store.properties().make_entry_id(NodeId::from(nid)) {
            Ok(e) => e,
            Err(e) => return self.problem(&at, e),
        };
        let m = match K::open_message(&self.store, &entry) {
            Ok(m) => m,
            Err(e) => return self.problem(&at, format_args!("message not readable: {e}")),
        };
        let mut problems = Vec::new();
        let mut mapi = convert_message(m.as_ref());
        let class = crate::mapi::str_of(&mapi.props, tag::MESSAGE_CLASS)
            .unwrap_or("")
            .to_string();
        if let Some(kind) = non_mail_kind(&class) {
            return (self.on)(PstEvent::NotMail {
                folder: folder.to_string(),
                kind,
                class,
            });
        }
        mapi.attachments = self.attachments(&m, &at, &mut problems);
        for p in problems {
            self.problem(&at, p)?;
        }
        (self.on)(PstEvent::Mail(PstMail {
            folder: folder.to_string(),
            node_id: nid,
            message_class: class,
            message: mapi,
        }))
    }

    fn attachments(
        &mut self,
        m: &Rc<K::M>,
        at: &str,
        problems: &mut Vec<String>,
    ) -> Vec<MapiAttachment> {
        read_attachments::<K>(m, at, 0, problems)
    }
}

/// The attachments of `m`, embedded messages (and their own attachments) included.
fn read_attachments<K: Flavour>(
    m: &Rc<K::M>,
    at: &str,
    depth: usize,
    problems: &mut Vec<String>,
) -> Vec<MapiAttachment> {
    let Some(table) = m.attachment_table() else {
        return vec![];
    };
    let ids: Vec<u32> = table.rows_matrix().map(|r| u32::from(r.id())).collect();
    let mut out = Vec::new();
    for (n, nid) in ids.into_iter().enumerate() {
        let a = match K::open_attachment(m, NodeId::from(nid)) {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{at}: attachment {n} not readable: {e}"));
                continue;
            }
        };
        let mut props = convert_props(a.properties().iter());
        // The data is carried in `data`, not duplicated in the property bag.
        props.remove(&tag::ATTACH_DATA);
        let data = match a.data() {
            Some(AttachmentData::Binary(b)) => AttachData::Bytes(b.buffer().to_vec()),
            Some(AttachmentData::Message(_)) if depth >= MAX_EMBED_DEPTH => {
                problems
                    .push("embedded messages nested too deep; the innermost is not opened".into());
                AttachData::None
            }
            Some(AttachmentData::Message(dm)) => {
                let mut inner = convert_message(dm.as_ref());
                if let Some(em) = K::embedded(&a) {
                    let here = format!("{at}/attachment-{n}");
                    inner.attachments = read_attachments::<K>(&em, &here, depth + 1, problems);
                }
                AttachData::Message(Box::new(inner))
            }
            None => AttachData::None,
        };
        out.push(MapiAttachment { props, data });
    }
    out
}

/// The kind of a message class that is not mail, or `None` for mail (notes, meeting requests,
/// reports, posts, and items without a class).
pub fn non_mail_kind(class: &str) -> Option<&'static str> {
    let c = class.to_ascii_lowercase();
    let is = |p: &str| c == p || c.starts_with(&format!("{p}."));
    if is("ipm.appointment") {
        Some("appointment")
    } else if is("ipm.contact") {
        Some("contact")
    } else if is("ipm.distlist") {
        Some("distribution list")
    } else if is("ipm.task") || is("ipm.taskrequest") {
        Some("task")
    } else if is("ipm.stickynote") {
        Some("note")
    } else if is("ipm.activity") {
        Some("journal entry")
    } else if is("ipm.configuration") || is("ipm.microsoft") {
        Some("configuration item")
    } else {
        None
    }
}

fn prop_string(v: &PropertyValue, codepage: Option<i64>) -> Option<String> {
    match v {
        PropertyValue::String8(s) => Some(decode_string8(s.buffer(), codepage)),
        PropertyValue::Unicode(s) => {
            let b = s.buffer();
            let b = b.strip_suffix(&[0]).unwrap_or(b);
            Some(String::from_utf16_lossy(b))
        }
        _ => None,
    }
}

fn convert_props<'a>(iter: impl Iterator<Item = (&'a u16, &'a PropertyValue)>) -> Props {
    let all: Vec<_> = iter.collect();
    let codepage = all.iter().find_map(|&(&id, v)| match (id, v) {
        (tag::MESSAGE_CODEPAGE | tag::INTERNET_CODEPAGE, PropertyValue::Integer32(c)) => {
            Some(*c as i64)
        }
        _ => None,
    });
    all.into_iter()
        .filter_map(|(id, v)| Some((*id, convert_value(v, codepage)?)))
        .collect()
}

fn convert_value(v: &PropertyValue, codepage: Option<i64>) -> Option<Prop> {
    Some(match v {
        PropertyValue::String8(_) | PropertyValue::Unicode(_) => {
            Prop::Str(prop_string(v, codepage)?)
        }
        PropertyValue::Binary(b) => Prop::Bin(b.buffer().to_vec()),
        PropertyValue::Integer16(i) => Prop::Int(*i as i64),
        PropertyValue::Integer32(i) => Prop::Int(*i as i64),
        PropertyValue::Integer64(i) => Prop::Int(*i),
        PropertyValue::Boolean(b) => Prop::Bool(*b),
        PropertyValue::Time(t) => Prop::Time(*t),
        _ => return None,
    })
}

fn table_rows(table: &Rc<dyn TableContext>, codepage: Option<i64>) -> Vec<Props> {
    let ctx = table.context();
    let mut rows = Vec::new();
    for row in table.rows_matrix() {
        let Ok(cols) = row.columns(ctx) else { continue };
        let mut props = Props::new();
        for (col, val) in ctx.columns().iter().zip(cols) {
            let Some(val) = val else { continue };
            if let Ok(v) = table.read_column(&val, col.prop_type())
                && let Some(p) = convert_value(&v, codepage)
            {
                props.insert(col.prop_id(), p);
            }
        }
        rows.push(props);
    }
    rows
}

fn convert_message(m: &dyn Message) -> MapiMessage {
    let props = convert_props(m.properties().iter());
    let codepage = message_codepage(&props);
    let recipients = m
        .recipient_table()
        .map(|t| table_rows(t, codepage))
        .unwrap_or_default();
    MapiMessage {
        props,
        recipients,
        attachments: vec![],
    }
}
