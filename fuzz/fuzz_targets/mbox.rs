#![no_main]
//! The mbox splitter: every byte of input ends up in exactly one message (or a separator line).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tmp = std::env::temp_dir();
    let mut total = 0u64;
    let res = trove_ingest::mbox::split(std::io::Cursor::new(data), 1 << 20, 4096, &tmp, |m| {
        total += m.payload.len();
        Ok::<(), ()>(())
    });
    if let Ok(Ok(())) = res {
        assert!(total <= data.len() as u64);
    }
});
