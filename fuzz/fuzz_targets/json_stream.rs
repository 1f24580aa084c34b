#![no_main]
//! The JSON record streamer: every record it hands out is exactly the bytes at its offset, and
//! records never overlap or run past the end of the good part.
use libfuzzer_sys::fuzz_target;
use trove_ingest::social::{jsonstream, telegram, x};
use trove_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    for pat in [
        x::pattern(SourceFormat::XDm),
        x::pattern(SourceFormat::XTweet),
        telegram::pattern(),
    ] {
        let mut last_end = 0u64;
        let res = jsonstream::stream(data, 0, 1 << 16, 64, &pat, &mut |f| {
            let start = f.offset as usize;
            assert!(f.offset >= last_end);
            assert_eq!(&data[start..start + f.bytes.len()], &f.bytes[..]);
            last_end = f.offset + f.bytes.len() as u64;
            Ok(())
        });
        if let Err(e) = res {
            assert!(e.good_end <= data.len() as u64);
            assert!(e.good_end >= last_end);
        }
    }
});
