//! `coalescope blast`: paced UDP sender whose payload carries seq and send time.

use anyhow::Context;
use coalescope_probe::receiver::stats::LatencySummary;
use coalescope_probe::sys::socket::termination_flag;
use coalescope_probe::traffic::{blast, BlastConfig, BlastReport, Schedule};
use coalescope_timeline::io::{write_rows, Compression};
use comfy_table::Table;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `coalescope blast`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Payload: seq (u64 LE, from 0), send time (u64 LE, ns since the epoch on \
CLOCK_REALTIME, read just before send(); the clock of the kernel's software RX timestamps), then \
zeros up to --payload-bytes. Pacing: sleep, then spin for the last 150 us before each deadline.
--tx-timestamps asks the kernel for TX software timestamps (taken when the driver gets the \
packet: the truer wire time) and reports send->tx.

Examples:
  coalescope blast --to 127.0.0.1:9000 --rate 50000 --count 100000
  coalescope blast --to 127.0.0.1:9000 --rate 20000 --count 5000 --schedule constant --json
  coalescope blast --to 127.0.0.1:9000 --count 6400 --schedule burst:64/10ms
  coalescope blast --to 127.0.0.1:9000 --count 10000 --schedule replay:feed.csv --tx-timestamps"
)]
pub struct Args {
    /// Destination ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    to: SocketAddr,
    /// Rate in datagrams per second (poisson and constant schedules).
    #[arg(long, value_name = "PPS")]
    rate: Option<f64>,
    /// Datagrams to send (seq 0 .. N).
    #[arg(long, value_name = "N")]
    count: u64,
    /// poisson | constant | burst:SIZE/GAP | replay:FILE (events table or LOBSTER messages).
    #[arg(long, default_value = "poisson", value_name = "SCHEDULE")]
    schedule: String,
    /// Seed of the Poisson schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Datagram size in bytes (16..=65507).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    payload_bytes: usize,
    /// Collect kernel TX software timestamps from the socket error queue.
    #[arg(long)]
    tx_timestamps: bool,
    /// Write seq,send_ns,tx_ns of every timestamped datagram to this table (.csv or
    /// .parquet; implies --tx-timestamps).
    #[arg(long, value_name = "FILE")]
    tx_log: Option<PathBuf>,
    /// Parquet page compression of the written tables: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli (CSV output ignores it).
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
    /// Local ADDR:PORT to send from.
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<SocketAddr>,
    /// Pin the sender to this CPU.
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Run `coalescope blast`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let schedule = Schedule::parse(&args.schedule, args.rate, args.seed)?;
    let config = BlastConfig {
        to: args.to,
        bind: args.bind,
        count: args.count,
        schedule,
        payload_bytes: args.payload_bytes,
        tx_timestamps: args.tx_timestamps || args.tx_log.is_some(),
        keep_tx_records: args.tx_log.is_some(),
        cpu: args.cpu,
    };
    let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
    let report = blast(&config, stop)?;
    if let Some(path) = &args.tx_log {
        write_rows(path, &report.tx_records, args.compression)
            .with_context(|| format!("writing the TX log {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(report: &BlastReport) {
    let mut t = Table::new();
    t.set_header(vec!["", "value"]);
    t.add_row(vec!["to".to_string(), report.to.clone()]);
    t.add_row(vec!["sent".to_string(), report.sent.to_string()]);
    t.add_row(vec![
        "send errors".to_string(),
        report.send_errors.to_string(),
    ]);
    if let Some(e) = &report.first_send_error {
        t.add_row(vec!["first send error".to_string(), e.clone()]);
    }
    t.add_row(vec![
        "requested rate (pps)".to_string(),
        format!("{:.1}", report.requested_pps),
    ]);
    let achieved = report
        .achieved_pps
        .map_or("-".to_string(), |r| format!("{r:.1}"));
    t.add_row(vec!["achieved rate (pps)".to_string(), achieved]);
    t.add_row(vec![
        "span".to_string(),
        coalescope_timeline::Duration(report.span_ns).to_string(),
    ]);
    if let Some(l) = &report.lateness {
        t.add_row(vec!["pacing lateness p50/p99/max".to_string(), triple(l)]);
    }
    if let Some(tx) = &report.tx {
        t.add_row(vec![
            "TX timestamps (missing)".to_string(),
            format!("{} ({})", tx.timestamped, tx.missing),
        ]);
        if let Some(s) = &tx.send_to_tx {
            t.add_row(vec!["send->tx p50/p99/max".to_string(), triple(s)]);
        }
    }
    if report.stopped_early {
        t.add_row(vec![
            "stopped early".to_string(),
            "yes (signal)".to_string(),
        ]);
    }
    println!("{t}");
}

fn triple(s: &LatencySummary) -> String {
    use coalescope_timeline::Duration as D;
    format!("{} / {} / {}", D(s.p50_ns), D(s.p99_ns), D(s.max_ns))
}
