//! Prints the time to parse and check a CDI spec, in-process.
//!
//! `cargo run --release --example cdi_bench ROUNDS SPEC...`
//! (bench/run.sh runs it and puts its numbers in the table). For each
//! spec: `SPEC microseconds`, the median of ROUNDS parses one after
//! another in this process. The code and the text are warm after the
//! first, so this is the least a launch spends reading that spec; the
//! launch's own rows say what it spends in all. Numbers are printed,
//! never asserted.

use std::error::Error;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .ok_or("usage: cdi_bench ROUNDS SPEC...")?
        .parse()?;
    for path in args {
        let text = std::fs::read_to_string(&path)?;
        let mut us = Vec::with_capacity(rounds);
        for _ in 0..rounds.max(1) {
            let start = Instant::now();
            let spec = openshell_sandbox::cdi::spec::parse(&path, &text, 0);
            us.push(start.elapsed().as_secs_f64() * 1e6);
            if let Err(errors) = spec {
                return Err(format!("{path}: {} errors", errors.len()).into());
            }
        }
        us.sort_by(f64::total_cmp);
        println!("{path} {:.1}", us[us.len() / 2]);
    }
    Ok(())
}
