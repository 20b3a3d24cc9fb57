//! Write the seeded synthetic timeline of the throughput bench as an `events` table, so
//! the pandas peer script (`bench/metrics/mddr_bdc_pandas.py`) runs on the very data the
//! Rust bench measures.
//!
//! `cargo run --release -p coalescope-metrics --example gen_events -- OUT.parquet [N] [SEED]`
//! (format from the extension: `.parquet` or `.csv`; N defaults to 10^7, SEED to 42).

#[path = "../benches/common/synth.rs"]
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use coalescope_timeline::io::EventWriter;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: gen_events OUT.parquet [N] [SEED]");
        return ExitCode::from(2);
    };
    let parse = |a: Option<String>, default: u64, what: &str| match a {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| format!("{what} '{v}' is not a non-negative integer")),
    };
    let (n, seed) = match (
        parse(args.next(), 10_000_000, "N"),
        parse(args.next(), 42, "SEED"),
    ) {
        (Ok(n), Ok(s)) => (n, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("gen_events: {e}");
            return ExitCode::from(2);
        }
    };
    let data = synth::generate(n as usize, seed);
    let written = EventWriter::create(&out).and_then(|mut w| {
        for chunk in data.events.chunks(1 << 20) {
            w.write(&data.strings, chunk)?;
        }
        w.finish()
    });
    match written {
        Ok(rows) => {
            println!("wrote {rows} events to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_events: {e}");
            ExitCode::from(1)
        }
    }
}
