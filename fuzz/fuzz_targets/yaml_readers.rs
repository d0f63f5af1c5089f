//! The YAML module's two readers on arbitrary text: wherever the simple
//! reader answers, its tree (marks included) is the general reader's, with
//! and without YAML 1.1 octal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openshell_sandbox::yaml::{ParseOptions, both_readers};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for yaml11_octal in [false, true] {
        if let (Some(simple), general) = both_readers(text, ParseOptions { yaml11_octal }) {
            // Compared as text, so that `.nan` equals itself.
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(&simple)),
                format!("{:?}", general.as_ref().map_err(|_| ())),
                "the readers disagree on {text:?}"
            );
        }
    }
});
