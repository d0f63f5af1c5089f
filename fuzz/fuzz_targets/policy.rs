//! The policy loader on arbitrary bytes, through the entry point `load`
//! uses for a policy file: never a panic, never a hang (libFuzzer's
//! -timeout), and a rejection is a non-empty list of diagnostics in file
//! order, each located inside the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openshell_sandbox::policy::{parse_bytes, validate};
use openshell_sandbox_fuzz::{assert_inside, lines};

fuzz_target!(|data: &[u8]| {
    match parse_bytes("p.yaml", data) {
        Ok(policy) => {
            // Accepted means the semantic rules found nothing.
            let issues = validate::validate(&policy);
            assert!(
                issues.is_empty(),
                "accepted with issues: {:?}",
                issues.first()
            );
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "a rejection without a diagnostic");
            // Bytes that are not UTF-8 are refused where the first bad
            // byte is: one past the text before it, which is UTF-8.
            let text = match std::str::from_utf8(data) {
                Ok(text) => text,
                Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or(""),
            };
            let lines = lines(text);
            for d in &diags {
                assert_eq!(d.file, "p.yaml");
                assert!(!d.message.is_empty(), "an empty message: {d}");
                assert_inside(&lines, d.line, d.col, d);
            }
            assert!(
                diags
                    .windows(2)
                    .all(|w| (w[0].line, w[0].col) <= (w[1].line, w[1].col)),
                "diagnostics out of file order"
            );
        }
    }
});
