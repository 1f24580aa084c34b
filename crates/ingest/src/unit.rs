//! Raw units: the bytes of one message as a reader found them, plus where they were found.
//!
//! Small units live in memory. A unit larger than `max_in_memory_bytes` is spilled to a temporary
//! file inside the archive (hashed while it is written), so one huge message or archive member
//! never has to fit in memory.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use tempfile::TempPath;
use trove_model::{Finding, Provenance, Sha256Hash};

/// One input unit on its way into the archive.
pub struct RawUnit {
    pub prov: Provenance,
    pub payload: Payload,
    /// Set by a reader that already knows the unit cannot be a message (e.g. a file in a maildir
    /// that has no header block): it is stored and quarantined with this reason.
    pub quarantine: Option<String>,
    /// Problems the reader noticed (e.g. a wrong mbox Content-Length), attached to the item.
    pub findings: Vec<Finding>,
}

pub enum Payload {
    Mem(Vec<u8>),
    Spilled(Spill),
}

/// A unit too large for memory, in a temporary file that is deleted when dropped.
pub struct Spill {
    pub path: TempPath,
    pub len: u64,
    pub sha256: Sha256Hash,
    /// The first bytes, enough for the header block.
    pub head: Vec<u8>,
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Mem(v) => v.len() as u64,
            Payload::Spilled(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes held in memory: everything for `Mem`, the head for `Spilled`.
    pub fn head(&self) -> &[u8] {
        match self {
            Payload::Mem(v) => v,
            Payload::Spilled(s) => &s.head,
        }
    }
}

/// A growable buffer that moves to a temporary file once it passes `limit` bytes.
pub struct SpillBuf<'a> {
    mem: Vec<u8>,
    file: Option<(BufWriter<File>, TempPath, Sha256)>,
    len: u64,
    limit: u64,
    head_len: usize,
    tmp_dir: &'a Path,
}

impl<'a> SpillBuf<'a> {
    pub fn new(limit: u64, head_len: usize, tmp_dir: &'a Path) -> Self {
        Self {
            mem: Vec::new(),
            file: None,
            len: 0,
            limit,
            head_len,
            tmp_dir,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes still in memory (all of them unless spilled).
    pub fn mem(&self) -> &[u8] {
        &self.mem
    }

    pub fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Removes `n` bytes from the end; only possible while the buffer is still in memory or
    /// for bytes not yet flushed, which is all the mbox reader needs (a trailing newline).
    pub fn truncate_tail(&mut self, n: usize) -> bool {
        if self.file.is_none() && n <= self.mem.len() {
            self.mem.truncate(self.mem.len() - n);
            self.len -= n as u64;
            return true;
        }
        false
    }

    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.len += bytes.len() as u64;
        if let Some((w, _, h)) = &mut self.file {
            h.update(bytes);
            return w.write_all(bytes);
        }
        self.mem.extend_from_slice(bytes);
        if self.len > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        let tmp = tempfile::Builder::new()
            .prefix("spill-")
            .tempfile_in(self.tmp_dir)?;
        let (file, path) = tmp.into_parts();
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut h = Sha256::new();
        h.update(&self.mem);
        w.write_all(&self.mem)?;
        self.mem.truncate(self.head_len);
        self.mem.shrink_to_fit();
        self.file = Some((w, path, h));
        Ok(())
    }

    pub fn finish(self) -> io::Result<Payload> {
        match self.file {
            None => Ok(Payload::Mem(self.mem)),
            Some((w, path, h)) => {
                w.into_inner().map_err(|e| e.into_error())?.sync_data().ok();
                Ok(Payload::Spilled(Spill {
                    path,
                    len: self.len,
                    sha256: Sha256Hash(h.finalize().into()),
                    head: self.mem,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_limit_and_keeps_the_hash_of_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = SpillBuf::new(10, 4, dir.path());
        b.push(b"0123456").expect("push");
        assert!(!b.is_spilled());
        b.push(b"789abcdef").expect("push");
        assert!(b.is_spilled());
        let Payload::Spilled(s) = b.finish().expect("finish") else {
            panic!("not spilled")
        };
        assert_eq!(s.len, 16);
        assert_eq!(s.head, b"0123");
        assert_eq!(s.sha256, Sha256Hash::of(b"0123456789abcdef"));
        assert_eq!(std::fs::read(&s.path).expect("read"), b"0123456789abcdef");
    }
}
