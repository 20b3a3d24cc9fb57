//! `coalescope probe`: UDP receiver recording the dual timeline of every datagram.

use anyhow::Context;
use coalescope_probe::receiver::stats::LatencySummary;
use coalescope_probe::receiver::{LiveStats, Mode, ReceiveSummary, Receiver, ReceiverConfig};
use coalescope_probe::sys::socket::termination_flag;
use coalescope_timeline::io::Compression;
use coalescope_timeline::{parse_duration, Duration};
use comfy_table::Table;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `coalescope probe`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Records one `events` row per datagram from `coalescope blast` (SPEC §1): \
t_ingress = send time in the payload (sender's CLOCK_REALTIME), t_stack = kernel RX timestamp \
(SO_TIMESTAMPING; hardware when the NIC stamps, else software, CLOCK_REALTIME), t_app = \
CLOCK_REALTIME right after the receive call returned; kind md; stream = --stream or the listen \
address. Lost datagrams are not rows: they are `dropped` (sequence gaps). Quantiles are exact \
nearest-rank. SIGINT/SIGTERM stop the run and everything recorded is written.
A live summary line goes to stderr every second.

Examples:
  coalescope probe --listen 127.0.0.1:9000 --count 100000 -o events.parquet
  coalescope probe --listen 127.0.0.1:9000 --duration 10s --mode busy-poll --cpu 1 --json
  coalescope probe --listen 0.0.0.0:9000 --mode epoll --busy-poll-usecs 50 --interface eth0"
)]
pub struct Args {
    /// Listen ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Datagrams the sender sends (seq 0 .. N): stop when all arrived; the ones that
    /// never do count as dropped.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this long (e.g. 10s).
    #[arg(long, value_parser = parse_duration, value_name = "D")]
    duration: Option<Duration>,
    /// Stop when nothing arrived for this long after the first datagram
    /// (default 2s with --count, off otherwise).
    #[arg(long, value_parser = parse_duration, value_name = "D")]
    idle_timeout: Option<Duration>,
    /// blocking | epoll | busy-poll | recvmmsg.
    #[arg(long, default_value = "blocking")]
    mode: Mode,
    /// Pin the receiving thread to this CPU.
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
    /// Write the events table here (.csv or .parquet).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Parquet page compression of the written table: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli (CSV output ignores it).
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
    /// Stream name of the recorded events (default: the listen address).
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Interface to try hardware timestamps on (default: the one owning the listen IP).
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
    /// SO_BUSY_POLL in busy-poll mode; epoll busy_poll_usecs (EPIOCSPARAMS) in epoll
    /// mode, where 0 leaves epoll busy polling off.
    #[arg(long, value_name = "US")]
    busy_poll_usecs: Option<u32>,
    /// SO_BUSY_POLL_BUDGET / epoll busy_poll_budget.
    #[arg(long, default_value_t = 8, value_name = "N")]
    busy_poll_budget: u16,
    /// Datagrams per recvmmsg call.
    #[arg(long, default_value_t = 32, value_name = "N")]
    batch: usize,
    /// Socket receive buffer in bytes (SO_RCVBUFFORCE, else SO_RCVBUF).
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<usize>,
    /// No live line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Run `coalescope probe`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = ReceiverConfig::new(args.listen);
    config.mode = args.mode;
    config.count = args.count;
    config.duration = args.duration;
    config.idle_timeout = args
        .idle_timeout
        .or(args.count.map(|_| Duration::from_secs(2)))
        .filter(|d| d.as_nanos() > 0);
    config.cpu = args.cpu;
    config.stream = args.stream;
    config.interface = args.interface;
    config.busy_poll_usecs = args.busy_poll_usecs.unwrap_or(50);
    config.epoll_busy_poll_usecs = args.busy_poll_usecs.unwrap_or(0);
    config.busy_poll_budget = args.busy_poll_budget;
    config.batch = args.batch;
    config.rcvbuf_bytes = args.rcvbuf;
    if let Some(out) = &args.out {
        // Fail on a bad extension before receiving anything, not after.
        coalescope_timeline::Format::from_path(out)?;
    }
    let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
    let receiver = Receiver::bind(config)?;
    eprintln!(
        "coalescope probe: listening on {} ({})",
        receiver.local_addr(),
        args.mode.as_str()
    );
    let quiet = args.quiet;
    let recording = receiver.run(stop, |live| {
        if !quiet {
            eprintln!("{}", live_line(live));
        }
    });
    if let Some(out) = &args.out {
        let mut w = coalescope_timeline::EventWriter::create_with(out, args.compression)
            .with_context(|| format!("writing {} events", recording.events.len()))?;
        w.write(&recording.strings, &recording.events)
            .and_then(|()| w.finish())
            .with_context(|| format!("writing {} events", recording.events.len()))?;
    }
    let summary = &recording.summary;
    if args.json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        print_table(summary, args.out.as_deref());
    }
    Ok(ExitCode::SUCCESS)
}

fn live_line(live: &LiveStats) -> String {
    let p50 = live
        .send_to_kernel_p50_ns
        .map_or("-".to_string(), |ns| Duration(ns).to_string());
    format!(
        "[{:>5.1}s] received {} ({:.0}/s) dropped {} out-of-order {} socket-drops {} send->kernel p50 {}",
        live.elapsed_ns as f64 / 1e9,
        live.received,
        live.rate_pps,
        live.dropped,
        live.out_of_order,
        live.kernel_drops,
        p50
    )
}

fn print_table(s: &ReceiveSummary, out: Option<&std::path::Path>) {
    let mut t = Table::new();
    t.set_header(vec!["", "value"]);
    let mut row = |k: &str, v: String| {
        t.add_row(vec![k.to_string(), v]);
    };
    row("listen / stream", format!("{} / {}", s.listen, s.stream));
    row("mode", s.mode.as_str().to_string());
    row("stopped because", s.stop_reason.clone());
    row(
        "received / expected",
        format!("{} / {}", s.received, s.expected),
    );
    row("dropped (seq gaps)", s.dropped.to_string());
    row("out of order", s.out_of_order.to_string());
    row("socket drops (SO_RXQ_OVFL)", s.kernel_drops.to_string());
    row(
        "duplicates / malformed / truncated",
        format!("{} / {} / {}", s.duplicates, s.malformed, s.truncated),
    );
    row(
        "kernel timestamps",
        format!(
            "{} (hw {}, sw {}, none {}); {}",
            s.timestamps.source,
            s.timestamps.hardware,
            s.timestamps.software,
            s.timestamps.missing,
            s.timestamps.hardware_setup
        ),
    );
    for k in &s.knobs {
        let state = match &k.error {
            None => "applied".to_string(),
            Some(e) => format!("refused: {e}"),
        };
        row(k.name, format!("{} {state}", k.value));
    }
    for (name, l) in [
        ("send->kernel", &s.send_to_kernel),
        ("kernel->app", &s.kernel_to_app),
        ("send->app", &s.send_to_app),
    ] {
        row(&format!("{name} p50/p99/p99.9/max"), quantiles(l.as_ref()));
    }
    if let Some(path) = out {
        row("events written to", path.display().to_string());
    }
    println!("{t}");
}

fn quantiles(l: Option<&LatencySummary>) -> String {
    l.map_or("-".to_string(), |l| {
        format!(
            "{} / {} / {} / {}",
            Duration(l.p50_ns),
            Duration(l.p99_ns),
            Duration(l.p999_ns),
            Duration(l.max_ns)
        )
    })
}
