//! The MAPI message model both Outlook readers fill: property bags for the message, its
//! recipients and its attachments. Property ids are MS-OXPROPS tags without their type.

use std::collections::BTreeMap;

/// A property value, reduced to what rebuilding a message needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Prop {
    /// Any string property, decoded (String8 through the message's code page).
    Str(String),
    Bin(Vec<u8>),
    Int(i64),
    Bool(bool),
    /// `PtypTime`: 100-nanosecond intervals since 1601-01-01 UTC.
    Time(i64),
}

pub type Props = BTreeMap<u16, Prop>;

#[derive(Clone, Debug, Default)]
pub struct MapiMessage {
    pub props: Props,
    pub recipients: Vec<Props>,
    pub attachments: Vec<MapiAttachment>,
}

#[derive(Clone, Debug, Default)]
pub struct MapiAttachment {
    pub props: Props,
    pub data: AttachData,
}

#[derive(Clone, Debug, Default)]
pub enum AttachData {
    Bytes(Vec<u8>),
    Message(Box<MapiMessage>),
    /// By reference, OLE storage or unreadable: only the properties are known.
    #[default]
    None,
}

pub mod tag {
    pub const MESSAGE_CLASS: u16 = 0x001A;
    pub const SUBJECT: u16 = 0x0037;
    pub const CLIENT_SUBMIT_TIME: u16 = 0x0039;
    pub const SENT_REPRESENTING_NAME: u16 = 0x0042;
    pub const SENT_REPRESENTING_EMAIL: u16 = 0x0065;
    pub const TRANSPORT_HEADERS: u16 = 0x007D;
    pub const RECIPIENT_TYPE: u16 = 0x0C15;
    pub const SENDER_NAME: u16 = 0x0C1A;
    pub const SENDER_ADDRTYPE: u16 = 0x0C1E;
    pub const SENDER_EMAIL: u16 = 0x0C1F;
    pub const DISPLAY_BCC: u16 = 0x0E02;
    pub const DISPLAY_CC: u16 = 0x0E03;
    pub const DISPLAY_TO: u16 = 0x0E04;
    pub const DELIVERY_TIME: u16 = 0x0E06;
    pub const MESSAGE_FLAGS: u16 = 0x0E07;
    pub const BODY: u16 = 0x1000;
    pub const RTF_COMPRESSED: u16 = 0x1009;
    pub const HTML: u16 = 0x1013;
    pub const INTERNET_MESSAGE_ID: u16 = 0x1035;
    pub const INTERNET_REFERENCES: u16 = 0x1039;
    pub const IN_REPLY_TO: u16 = 0x1042;
    pub const DISPLAY_NAME: u16 = 0x3001;
    pub const ADDRTYPE: u16 = 0x3002;
    pub const EMAIL_ADDRESS: u16 = 0x3003;
    pub const CREATION_TIME: u16 = 0x3007;
    pub const ATTACH_DATA: u16 = 0x3701;
    pub const ATTACH_FILENAME: u16 = 0x3704;
    pub const ATTACH_METHOD: u16 = 0x3705;
    pub const ATTACH_LONG_FILENAME: u16 = 0x3707;
    pub const ATTACH_MIME_TAG: u16 = 0x370E;
    pub const ATTACH_CONTENT_ID: u16 = 0x3712;
    pub const SMTP_ADDRESS: u16 = 0x39FE;
    pub const INTERNET_CODEPAGE: u16 = 0x3FDE;
    pub const MESSAGE_CODEPAGE: u16 = 0x3FFD;
    pub const SENDER_SMTP_ADDRESS: u16 = 0x5D01;
    pub const SENT_REPRESENTING_SMTP: u16 = 0x5D02;
    pub const ATTACHMENT_HIDDEN: u16 = 0x7FFE;
}

/// `PidTagMessageFlags` bits.
pub const MSGFLAG_READ: i64 = 0x01;
pub const MSGFLAG_UNSENT: i64 = 0x08;

/// `PidTagRecipientType` values.
pub const MAPI_TO: i64 = 1;
pub const MAPI_CC: i64 = 2;
pub const MAPI_BCC: i64 = 3;

pub fn str_of(props: &Props, id: u16) -> Option<&str> {
    match props.get(&id) {
        Some(Prop::Str(s)) => Some(s.trim_end_matches('\0')).filter(|s| !s.trim().is_empty()),
        _ => None,
    }
}

pub fn int_of(props: &Props, id: u16) -> Option<i64> {
    match props.get(&id) {
        Some(Prop::Int(i)) => Some(*i),
        Some(Prop::Bool(b)) => Some(*b as i64),
        _ => None,
    }
}

pub fn bin_of(props: &Props, id: u16) -> Option<&[u8]> {
    match props.get(&id) {
        Some(Prop::Bin(b)) => Some(b),
        _ => None,
    }
}

pub fn time_of(props: &Props, id: u16) -> Option<i64> {
    match props.get(&id) {
        Some(Prop::Time(t)) => Some(*t),
        _ => None,
    }
}

/// Decodes a `PtypString8` value with the message's code page (Windows-1252 when none is
/// given, as Outlook itself assumes).
pub fn decode_string8(bytes: &[u8], codepage: Option<i64>) -> String {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    let enc = codepage
        .and_then(|cp| u16::try_from(cp).ok())
        .and_then(encoding_for_codepage)
        .unwrap_or(encoding_rs::WINDOWS_1252);
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// The encoding of a Windows code page number, for the ones mail uses.
pub fn encoding_for_codepage(cp: u16) -> Option<&'static encoding_rs::Encoding> {
    let label: &[u8] = match cp {
        65001 => b"utf-8",
        1200 => b"utf-16le",
        20127 | 1252 | 28591 => b"windows-1252",
        874 => b"windows-874",
        932 | 50220 | 50221 | 50222 => {
            return Some(if cp == 932 {
                encoding_rs::SHIFT_JIS
            } else {
                encoding_rs::ISO_2022_JP
            });
        }
        936 => b"gbk",
        949 => b"euc-kr",
        950 => b"big5",
        1250..=1258 => return encoding_rs::Encoding::for_label(format!("windows-{cp}").as_bytes()),
        28592..=28606 => {
            return encoding_rs::Encoding::for_label(format!("iso-8859-{}", cp - 28590).as_bytes());
        }
        20866 => b"koi8-r",
        21866 => b"koi8-u",
        51932 | 20932 => b"euc-jp",
        54936 => b"gb18030",
        _ => return None,
    };
    encoding_rs::Encoding::for_label(label)
}

/// The code page a message's String8 properties are in.
pub fn message_codepage(props: &Props) -> Option<i64> {
    int_of(props, tag::MESSAGE_CODEPAGE).or_else(|| int_of(props, tag::INTERNET_CODEPAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string8_follows_the_code_page() {
        assert_eq!(decode_string8(b"caf\xe9\0", None), "café");
        assert_eq!(decode_string8(b"\xc4\xe0\0", Some(1251)), "Да");
        assert_eq!(decode_string8("Ж".as_bytes(), Some(65001)), "Ж");
    }
}
