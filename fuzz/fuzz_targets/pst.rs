#![no_main]
//! Outlook PST stores (outlook-pst, patched) and the message rebuild: a hostile store gives
//! errors or problems, never a panic or a hang.
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;

fuzz_target!(|data: &[u8]| {
    let open = || -> std::io::Result<Box<dyn outlook_pst::PstReader>> {
        Ok(Box::new(std::io::Cursor::new(data.to_vec())))
    };
    let _ = trove_outlook::pst::read_pst(&open, &mut |e| {
        if let trove_outlook::pst::PstEvent::Mail(m) = e {
            let _ = trove_outlook::rebuild(&m.message, "fuzz");
        }
        ControlFlow::Continue(())
    });
});
