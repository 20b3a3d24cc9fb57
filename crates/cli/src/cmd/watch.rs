//! `coalescope watch`: the probe receiver feeding the tick metrics and the controller in
//! real time, with a Prometheus endpoint (`coalescope_live`). Flags in, library calls,
//! printing out.

use anyhow::Context;
use coalescope_control::ControlConfig;
use coalescope_live::http::DEFAULT_METRICS_ADDR;
use coalescope_live::procfs::IrqSelection;
use coalescope_live::watch::DEFAULT_HORIZON;
use coalescope_live::{Watch, WatchConfig, WatchSummary};
use coalescope_metrics::ticks::{TickConfig, TickScope};
use coalescope_probe::hostfs::HostFs;
use coalescope_probe::receiver::{Mode, ReceiverConfig};
use coalescope_probe::sys::socket::termination_flag;
use coalescope_timeline::{parse_duration, Duration};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// Flags of `coalescope watch`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Receives `coalescope blast` datagrams like `probe` (t_ingress = send time in the \
payload, t_stack = kernel RX timestamp, t_app = after the receive call; CLOCK_REALTIME), pushes \
every datagram to the SPEC §6 tick metrics as it arrives, advances them with the clock (ticks \
t <= now - horizon are emitted), steps the controller per tick row, prints one status line per \
tick on stderr, writes the state table (scope,t_tick_ns,state,reason,guard_weight,fallback, as \
`control run`) to -o, and serves the metrics (names `coalescope_*`, see README \"Live: watch + \
Prometheus + Grafana\") at http://METRICS_ADDR/metrics. SIGINT/SIGTERM or --duration stop the \
run; every tick row is stepped and written, the state table flushed, then the summary printed \
(the exposition's counters equal it). With --linger the endpoint keeps serving the final values.

Examples:
  coalescope watch --listen 127.0.0.1:9000 -o states.csv
  coalescope watch --listen 0.0.0.0:9000 --metrics-addr 0.0.0.0:9464 --duration 60s --cpu 2
  coalescope watch --listen 127.0.0.1:9000 --config control.toml --tick 50ms --json"
)]
pub struct Args {
    /// UDP listen ADDR:PORT (the blast destination).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Prometheus exposition ADDR:PORT (loopback unless told otherwise).
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_METRICS_ADDR)]
    metrics_addr: SocketAddr,
    /// Stop after this long (e.g. 60s); default: until SIGINT/SIGTERM.
    #[arg(long, value_parser = parse_duration, value_name = "D")]
    duration: Option<Duration>,
    /// Datagrams the sender sends (seq 0 .. N): stop when all arrived.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Tick period T (the BDC interval).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    tick: Duration,
    /// Trailing window R of mddr, dbc_excess and dccd (a multiple of T).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    window: Duration,
    /// BDC/DBC window w (100us-500us; T a multiple of it).
    #[arg(long, default_value = "250us", value_parser = parse_duration)]
    bucket: Duration,
    /// Reordering horizon: a tick t is emitted once now >= t + horizon; datagrams delayed
    /// longer than this are late (counted, not used). Default 50ms.
    #[arg(long, value_parser = parse_duration, value_name = "D")]
    horizon: Option<Duration>,
    /// Scope keys: any of stream,symbol,venue, or `desk` (datagrams carry only a stream).
    #[arg(long, default_value = "stream")]
    scope: TickScope,
    /// Controller config TOML (thresholds, sustain, min_dwell; as `control run --config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// State table (CSV), flushed every tick and on exit.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// blocking | epoll | busy-poll | recvmmsg.
    #[arg(long, default_value = "blocking")]
    mode: Mode,
    /// Pin the receiving thread to this CPU; the /proc counters then cover only it.
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
    /// Count only the /proc/interrupts rows whose description contains this (e.g. eth0).
    #[arg(long, value_name = "TEXT")]
    irq_match: Option<String>,
    /// Stream name of the datagrams (default: the listen address).
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Keep serving /metrics this long after the run stopped (ended early by a signal).
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "D")]
    linger: Duration,
    /// No status lines on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Run `coalescope watch`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let control = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ControlConfig::from_toml_str(&text).with_context(|| p.display().to_string())?
        }
        None => ControlConfig::default(),
    };
    control.validate()?;
    let mut receiver = ReceiverConfig::new(args.listen);
    receiver.mode = args.mode;
    receiver.count = args.count;
    receiver.duration = args.duration;
    receiver.cpu = args.cpu;
    receiver.stream = args.stream;
    let ticks = TickConfig {
        tick: args.tick,
        window: args.window,
        bucket: args.bucket,
        horizon: args.horizon.unwrap_or(DEFAULT_HORIZON),
        scope: args.scope,
        ..TickConfig::default()
    };
    let cpus = match args.cpu {
        Some(c) => Some(vec![
            u32::try_from(c).context("--cpu: CPU number too large")?
        ]),
        None => None,
    };
    let config = WatchConfig {
        receiver,
        ticks,
        control,
        metrics_addr: args.metrics_addr,
        states_out: args.out,
        irq: IrqSelection {
            cpus,
            irq_match: args.irq_match,
        },
        host: HostFs::live(),
    };
    let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
    let watch = Watch::start(config)?;
    eprintln!(
        "coalescope watch: listening on {} ({}), metrics at http://{}/metrics",
        watch.listen_addr(),
        args.mode.as_str(),
        watch.metrics_addr()
    );
    let quiet = args.quiet;
    let (summary, server) = watch.run(stop, |status| {
        if !quiet {
            eprintln!("{status}");
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    std::io::stdout().flush()?;
    let linger = std::time::Duration::from_nanos(args.linger.as_nanos().max(0).unsigned_abs());
    let until = std::time::Instant::now() + linger;
    while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &WatchSummary) {
    println!(
        "watched {} for {}: {} ({})",
        s.listen,
        Duration(s.elapsed_ns),
        s.stop_reason,
        s.timestamps
    );
    println!(
        "received {} of {} expected, {} dropped (seq gaps), {} kernel drops, {} out of order, {} duplicates, {} malformed, {} late",
        s.received, s.expected, s.dropped, s.kernel_drops, s.out_of_order, s.duplicates, s.malformed, s.late
    );
    for sc in &s.scopes {
        println!("{}: {} ticks, final state {}", sc.scope, sc.ticks, sc.state);
    }
    if let Some(p) = &s.states_out {
        println!("{} state rows -> {p}", s.state_rows);
    }
    if let Some(e) = &s.proc_error {
        println!("warning: /proc counters: {e}");
    }
}
