#![no_main]
//! The whole walker on one input file: content detection, zip/tar/gzip/xz/bzip2 members at any
//! depth, mbox splitting, and the X/Telegram/WhatsApp/JSON Lines file readers. Whatever the bytes,
//! every event is a unit, a skip with a reason or a note, and the walk ends.
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use trove_ingest::walk::{Event, WalkCounters, Walker};
use trove_store::Limits;

thread_local! {
    // One scratch directory per process; /dev/shm keeps the file writes cheap.
    static DIR: tempfile::TempDir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory");
}

fuzz_target!(|data: &[u8]| {
    DIR.with(|dir| {
        let input = dir.path().join("input");
        std::fs::write(&input, data).expect("write the input");
        // Small limits so bombs trip quickly.
        let limits = Limits {
            max_parse_bytes: 1 << 20,
            max_in_memory_bytes: 1 << 20,
            max_member_bytes: 4 << 20,
            max_archive_total_bytes: 16 << 20,
            ..Limits::default()
        };
        let mut units = 0u64;
        let mut emit = |e: Event| {
            match e {
                Event::Unit(u) => {
                    units += 1;
                    assert!(u.prov.path.starts_with(&*input.to_string_lossy()));
                }
                Event::Skipped { reason, .. } => assert!(!reason.is_empty()),
                Event::Note { .. } | Event::InputDone { .. } => {}
            }
            Ok(())
        };
        let mut walker = Walker {
            limits,
            tmp_dir: dir.path().to_path_buf(),
            catalog: None,
            counters: Arc::new(WalkCounters::default()),
            emit: &mut emit,
            exclude: vec![],
            x_owners: Default::default(),
        };
        let _ = walker.walk_input(&input);
    });
});
