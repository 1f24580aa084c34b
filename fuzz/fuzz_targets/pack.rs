#![no_main]
//! The blob store reading pack files it did not write: the input is split (at its first two
//! bytes) into a pack and its index. Whatever the bytes, listing and reading every blob ends
//! in a value or an error, never a panic or an unbounded allocation; and a blob stored
//! afterwards reads back whole.
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use trove_model::Sha256Hash;
use trove_store::{BlobStore, FsBlobStore};

fuzz_target!(|data: &[u8]| {
    let Some((split, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cut = (u16::from_le_bytes(*split) as usize).min(rest.len());
    let (pack, index) = rest.split_at(rest.len() - cut);
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory");
    let root = dir.path().join("blobs");
    let packs = root.join("packs");
    std::fs::create_dir_all(&packs).expect("packs folder");
    std::fs::write(packs.join("0-fuzz.pack"), pack).expect("write the pack");
    if !index.is_empty() {
        std::fs::write(packs.join("0-fuzz.idx"), index).expect("write the index");
    }
    let store = FsBlobStore::new(root.clone(), dir.path().to_path_buf());
    if let Ok(hashes) = store.list() {
        for h in hashes.iter().take(64) {
            let _ = store.get(h);
            if let Ok(mut r) = store.open(h) {
                let _ = r.by_ref().take(1 << 20).read_to_end(&mut Vec::new());
            }
        }
    }
    let _ = store.stored_bytes();
    let fresh = b"stored after reading the fuzzed pack".to_vec();
    let h = Sha256Hash::of(&fresh);
    // (A fuzzed record may already claim that hash: then nothing is stored.)
    if let Ok(true) = store.put(&h, &fresh) {
        assert_eq!(store.get(&h).expect("a blob just stored"), fresh);
    }
});
