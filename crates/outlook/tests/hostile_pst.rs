//! Stores found by the `pst` fuzz target, kept so that what they broke stays fixed.

use std::io::Read;
use std::ops::ControlFlow;

/// A store whose block B-tree has a page pointing back up the tree: reading it recursed until the
/// stack overflowed (vendor/outlook-pst, `RootBTreeReadWrite::find_entry`). Now the lookups it
/// breaks are reported as problems and reading goes on.
#[test]
fn a_btree_page_pointing_back_up_the_tree_is_a_problem_not_a_crash() {
    let mut data = vec![];
    flate2::read::GzDecoder::new(&include_bytes!("data/btree-cycle.pst.gz")[..])
        .read_to_end(&mut data)
        .unwrap();
    let open = || -> std::io::Result<Box<dyn outlook_pst::PstReader>> {
        Ok(Box::new(std::io::Cursor::new(data.clone())))
    };
    let mut problems = vec![];
    let read = trove_outlook::pst::read_pst(&open, &mut |e| {
        if let trove_outlook::pst::PstEvent::Problem { at, reason } = e {
            problems.push(format!("{at}: {reason}"));
        }
        ControlFlow::Continue(())
    });
    assert!(read.is_ok(), "{read:?}");
    assert!(
        problems.iter().any(|p| p.contains("Invalid BTPAGE cLevel")),
        "{problems:#?}"
    );
}
