//! Outlook stores (PST/OST) and `.msg` files, read into [`mapi::MapiMessage`]s and rebuilt as
//! RFC 5322 messages by [`rebuild`].

pub mod mapi;
pub mod msg;
pub mod pst;
pub mod rebuild;
pub mod rtf;

pub use mapi::{AttachData, MapiAttachment, MapiMessage, Prop, Props};
pub use rebuild::{HeaderSource, Rebuilt, rebuild};
