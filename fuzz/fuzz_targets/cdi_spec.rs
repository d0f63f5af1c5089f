//! The CDI spec reader on arbitrary text (JSON and YAML both go through
//! `spec::parse`, as in a directory scan): never a panic, never a hang,
//! every error located inside the file, and every accepted device has a
//! fully-qualified name that parses back to its spec's vendor and class.
//! The spec read straight into its types is the spec read through the
//! tree, errors included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openshell_sandbox::cdi::spec;
use openshell_sandbox_fuzz::{assert_inside, lines};

fuzz_target!(|data: &[u8]| {
    // The scan refuses a file that is not UTF-8 before parsing it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = spec::parse("spec.yaml", text, 0);
    assert_eq!(
        parsed,
        spec::parse_through_tree("spec.yaml", text, 0),
        "the readers disagree on {text:?}"
    );
    match parsed {
        Ok(s) => {
            assert!(!s.devices.is_empty(), "a spec without devices");
            for d in &s.devices {
                let q = s.qualified(&d.name);
                let (vendor, class, name) = spec::parse_qualified(&q)
                    .unwrap_or_else(|e| panic!("accepted device {q:?}: {e}"));
                assert_eq!((vendor, class, name), (&*s.vendor, &*s.class, &*d.name));
            }
        }
        Err(errs) => {
            assert!(!errs.is_empty(), "a rejection without an error");
            let lines = lines(text);
            for e in &errs {
                assert_eq!(e.file, "spec.yaml");
                assert!(!e.message.is_empty(), "an empty message: {e}");
                let m = e
                    .mark
                    .unwrap_or_else(|| panic!("an error without a location: {e}"));
                assert_inside(&lines, m.line, m.col, e);
            }
        }
    }
});
