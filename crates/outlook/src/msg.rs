//! Outlook `.msg` files: a MAPI message in an OLE compound file (MS-OXMSG), read with the `cfb`
//! crate. Variable-size properties live in `__substg1.0_IIIITTTT` streams, fixed-size ones in
//! `__properties_version1.0`; recipients, attachments and embedded messages are sub-storages.

use crate::mapi::{
    AttachData, MapiAttachment, MapiMessage, Prop, Props, decode_string8, message_codepage, tag,
};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

/// Embedded messages nested deeper than this are kept as attachments without being opened.
const MAX_DEPTH: usize = 8;
/// Recipients or attachments past this count are reported, not read.
const MAX_CHILDREN: usize = 10_000;

/// Reads a .msg file. `problems` collects what could not be read (a stream, a nested message).
pub fn read_msg<F: Read + Seek>(f: F, problems: &mut Vec<String>) -> io::Result<MapiMessage> {
    let mut cf = cfb::CompoundFile::open(f)?;
    let root = PathBuf::from("/");
    read_message(&mut cf, &root, 32, 0, problems)
}

fn read_message<F: Read + Seek>(
    cf: &mut cfb::CompoundFile<F>,
    dir: &Path,
    header_len: usize,
    depth: usize,
    problems: &mut Vec<String>,
) -> io::Result<MapiMessage> {
    let mut props = read_props(cf, dir, header_len, None, problems)?;
    // String8 values need the code page, which is itself a property: read them again with it.
    if let Some(cp) = message_codepage(&props) {
        props = read_props(cf, dir, header_len, Some(cp), problems)?;
    }
    let codepage = message_codepage(&props);
    let children: Vec<(String, PathBuf)> = cf
        .read_storage(dir)?
        .filter(|e| e.is_storage())
        .map(|e| (e.name().to_string(), e.path().to_path_buf()))
        .collect();
    let mut m = MapiMessage {
        props,
        ..Default::default()
    };
    let mut recips: Vec<&(String, PathBuf)> = children
        .iter()
        .filter(|(n, _)| n.starts_with("__recip_version1.0_"))
        .collect();
    let mut atts: Vec<&(String, PathBuf)> = children
        .iter()
        .filter(|(n, _)| n.starts_with("__attach_version1.0_"))
        .collect();
    recips.sort();
    atts.sort();
    if recips.len() > MAX_CHILDREN || atts.len() > MAX_CHILDREN {
        problems.push(format!(
            "more than {MAX_CHILDREN} recipients or attachments; the rest are not read"
        ));
    }
    for (_, p) in recips.into_iter().take(MAX_CHILDREN) {
        m.recipients.push(read_props(cf, p, 8, codepage, problems)?);
    }
    for (name, p) in atts.into_iter().take(MAX_CHILDREN) {
        let mut props = read_props(cf, p, 8, codepage, problems)?;
        let data = match props.remove(&tag::ATTACH_DATA) {
            Some(Prop::Bin(b)) => AttachData::Bytes(b),
            _ => {
                let inner = p.join("__substg1.0_3701000D");
                if cf.is_storage(&inner) {
                    if depth + 1 > MAX_DEPTH {
                        problems.push(
                            "embedded messages nested too deep; the innermost is not opened".into(),
                        );
                        AttachData::None
                    } else {
                        match read_message(cf, &inner, 24, depth + 1, problems) {
                            Ok(m) => AttachData::Message(Box::new(m)),
                            Err(e) => {
                                problems
                                    .push(format!("{name}: embedded message not readable: {e}"));
                                AttachData::None
                            }
                        }
                    }
                } else {
                    AttachData::None
                }
            }
        };
        m.attachments.push(MapiAttachment { props, data });
    }
    Ok(m)
}

/// The properties of one object: fixed-size values from `__properties_version1.0` (after a
/// header of `header_len` bytes), variable-size ones from their streams.
fn read_props<F: Read + Seek>(
    cf: &mut cfb::CompoundFile<F>,
    dir: &Path,
    header_len: usize,
    codepage: Option<i64>,
    problems: &mut Vec<String>,
) -> io::Result<Props> {
    let mut props = Props::new();
    let streams: Vec<(String, PathBuf, u64)> = cf
        .read_storage(dir)?
        .filter(|e| e.is_stream())
        .map(|e| (e.name().to_string(), e.path().to_path_buf(), e.len()))
        .collect();
    let table = dir.join("__properties_version1.0");
    if cf.is_stream(&table) {
        let mut bytes = Vec::new();
        cf.open_stream(&table)?
            .take(16 << 20)
            .read_to_end(&mut bytes)?;
        for e in bytes.get(header_len..).unwrap_or_default().chunks_exact(16) {
            let ptype = u16::from_le_bytes([e[0], e[1]]);
            let id = u16::from_le_bytes([e[2], e[3]]);
            let v = &e[8..16];
            let i32v = i32::from_le_bytes([v[0], v[1], v[2], v[3]]) as i64;
            let i64v = i64::from_le_bytes(v.try_into().unwrap_or([0; 8]));
            let p = match ptype {
                0x0002 => Prop::Int(i16::from_le_bytes([v[0], v[1]]) as i64),
                0x0003 => Prop::Int(i32v),
                0x000B => Prop::Bool(v[0] != 0),
                0x0014 => Prop::Int(i64v),
                0x0040 => Prop::Time(i64v),
                _ => continue,
            };
            props.insert(id, p);
        }
    }
    for (name, path, len) in streams {
        let Some(hex) = name.strip_prefix("__substg1.0_") else {
            continue;
        };
        let (Ok(id), Ok(ptype)) = (
            u16::from_str_radix(hex.get(0..4).unwrap_or(""), 16),
            u16::from_str_radix(hex.get(4..8).unwrap_or(""), 16),
        ) else {
            continue;
        };
        if !matches!(ptype, 0x001E | 0x001F | 0x0102) {
            continue;
        }
        let mut bytes = Vec::with_capacity(len.min(1 << 20) as usize);
        if let Err(e) = cf
            .open_stream(&path)
            .and_then(|s| s.take(len).read_to_end(&mut bytes))
        {
            problems.push(format!("{name}: not readable: {e}"));
            continue;
        }
        let p = match ptype {
            0x001F => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let units = units.strip_suffix(&[0]).unwrap_or(&units);
                Prop::Str(String::from_utf16_lossy(units))
            }
            0x001E => Prop::Str(decode_string8(&bytes, codepage)),
            _ => Prop::Bin(bytes),
        };
        props.insert(id, p);
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut p = vec![];
        assert!(
            read_msg(
                io::Cursor::new(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 not really".to_vec()),
                &mut p
            )
            .is_err()
        );
    }
}
