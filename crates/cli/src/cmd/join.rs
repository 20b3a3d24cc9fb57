//! `coalescope join`: packet captures joined with an application log, written as the
//! `events` table (SPEC §1).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_capture::{join_captures, CaptureSummary};
use coalescope_timeline::io::{load_events, Compression, EventWriter};
use coalescope_timeline::Strings;

use super::analyze::CaptureFlags;
use crate::progress;

const EXAMPLES: &str = "\
Examples:
  coalescope join --pcap feed.pcapng --app-log app.parquet --seq-offset 10 --seq-endian be \\
      --stream-map 233.54.12.1:26400=itch-a -o events.parquet
  coalescope join --pcap a.pcap b.pcap -o ingress.csv            # the ingress timeline alone
  coalescope join --pcap udp.pcapng --seq-source frame -o events.csv --json

t_ingress comes from the capture; t_app and the keys (kind, symbol, venue, bid, ask,
transition) from the app log. A capture packet without an app record is an undelivered
row (t_app empty); an app record without a capture packet is counted, not written.
The report (every skip and anomaly counted) goes to stderr, or to stdout with --json.";

/// Flags of `coalescope join`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Packet captures (pcap or pcapng) giving the ingress timeline, read in this order.
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pub pcap: Vec<PathBuf>,
    /// The application log: an `events` table holding `t_app_ns`, joined by (stream, seq).
    /// Without it the ingress timeline alone is written (every row undelivered).
    #[arg(long, value_name = "FILE")]
    pub app_log: Option<PathBuf>,
    #[command(flatten)]
    pub flags: CaptureFlags,
    /// The joined `events` table to write (.parquet or .csv).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: PathBuf,
    /// Parquet compression of the output: uncompressed, snappy, zstd, lz4, gzip, brotli.
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    pub compression: Compression,
    /// Print the join report as one JSON object on stdout instead of text on stderr.
    #[arg(long)]
    pub json: bool,
}

/// Run `coalescope join`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.flags.config()?;
    refuse_overwriting_an_input(&args)?;
    let mut strings = Strings::new();
    let app_events = match &args.app_log {
        Some(path) => load_events(path, &mut strings)
            .with_context(|| format!("reading the app log {}", path.display()))?,
        None => Vec::new(),
    };
    let mut writer = EventWriter::create_with(&args.out, args.compression)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bar = progress::bar("join");
    let result = join_captures(
        &args.pcap,
        &config,
        &app_events,
        &mut strings,
        |batch, strings| {
            writer.write(strings, batch)?;
            if let Some(b) = &bar {
                b.inc(batch.len() as u64);
            }
            Ok(())
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Nothing is left behind on failure: a partial table would read as a complete one.
    let summary = match result {
        Ok(summary) if summary.join.events > 0 => summary,
        Ok(summary) => {
            discard(writer, &args.out);
            bail!(
                "no usable events in the captures: {}; nothing written",
                summary.describe()
            );
        }
        Err(err) => {
            discard(writer, &args.out);
            return Err(err).context(format!("joining into {}", args.out.display()));
        }
    };
    let rows = writer
        .finish()
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprint!("{}", render(&summary, rows, &args.out));
    }
    Ok(ExitCode::SUCCESS)
}

/// `-o` naming one of the inputs would truncate it before it is read.
fn refuse_overwriting_an_input(args: &Args) -> anyhow::Result<()> {
    let Ok(out) = args.out.canonicalize() else {
        return Ok(()); // does not exist yet
    };
    for input in args.pcap.iter().chain(&args.app_log) {
        if input.canonicalize().is_ok_and(|p| p == out) {
            bail!(
                "-o {} is also an input: choose another output file",
                args.out.display()
            );
        }
    }
    Ok(())
}

fn discard(writer: EventWriter, out: &Path) {
    drop(writer);
    let _ = std::fs::remove_file(out);
}

/// The report on stderr: what was read, skipped, joined and written.
fn render(c: &CaptureSummary, rows: u64, out: &Path) -> String {
    let j = &c.join;
    let mut text = format!("Read {}.\n", c.describe());
    text.push_str(&format!(
        "Joined with {} app records: {} matched, {} undelivered (no app record), {} app \
         records without a capture packet, {} duplicate capture seqs dropped, {} duplicate \
         app seqs ignored, {} negative delays.\n",
        j.app_records,
        j.matched,
        j.undelivered,
        j.app_without_capture,
        j.capture_duplicates,
        j.app_duplicates,
        j.negative_delay
    ));
    let anomalies: Vec<String> = c
        .causes()
        .iter()
        .skip(CaptureSummary::SKIP_CAUSES.len())
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if !anomalies.is_empty() {
        text.push_str(&format!(
            "Capture anomalies ({}): {}\n",
            c.anomalies,
            anomalies.join(", ")
        ));
    }
    text.push_str(&format!("Wrote {rows} events to {}.\n", out.display()));
    text
}
