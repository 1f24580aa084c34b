//! Tamper evidence for the archive: an append-only Merkle log (RFC 9162 hashing) over a
//! canonical encoding of every item, signed checkpoints (C2SP signed notes), and the proofs an
//! excerpt carries.

pub mod excerpt;
pub mod leaf;
pub mod merkle;
pub mod note;

pub use merkle::{Hash, Tree};
