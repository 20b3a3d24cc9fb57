//! `coalescope calibrate`: fit the simulator's `[host]` table from a probe events table
//! or from a blast → probe run it makes itself.

use anyhow::Context;
use coalescope_probe::calibrate::{
    calibrate, host_file_header, host_tick_ns, run_loopback, run_netns, Calibration, Cost, Dist,
    FitInputs, HostFile, LabRun, NetnsCalibration, Row,
};
use coalescope_probe::hostfs::HostFs;
use coalescope_probe::receiver::stats::LatencySummary;
use coalescope_probe::sys::socket::termination_flag;
use coalescope_timeline::{load_events, parse_duration, Duration, Strings};
use comfy_table::Table;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `coalescope calibrate`.
#[derive(clap::Args, Debug)]
#[command(
    group(clap::ArgGroup::new("source").required(true).args(["events", "lab"])),
    after_help = "The fit (all quantiles nearest-rank at p = 0, .1, .25, .5, .75, .9, .95, .99, \
.999, 1; the p = 1 point is the second-largest sample, so a single outlier is trimmed):
  per_packet_cost_ns  quantiles of send->kernel (t_stack - t_ingress) of a run with NAPI \
deferral off. t_ingress is the sender's send time, so the send path (syscall, device xmit, IRQ \
entry) is lumped in here and irq_cost_ns is written as 0.
  app_wakeup_ns       quantiles of kernel->app (t_app - t_stack) of the events that found the \
receiver idle (t_stack later than the previous event's t_app).
  app_service_ns      quantiles of t_app - previous t_app of the events that arrived while the \
receiver was busy (a fixed median below 20 such events).
  timer_slack_ns      from a deferral-on run with rx-udp-gro-forwarding off: spacings of \
consecutive poll batches (t_stack clusters) within [T, 2T) minus T = gro_flush_timeout.
  hz                  1e9 / resolution of CLOCK_MONOTONIC_COARSE (one jiffy) on this host.
Rows without t_stack or t_app, and negative delays, are counted under anomalies and left out.

Sources: --events FILE (a `coalescope probe -o` table, deferral off; add --deferral-events \
FILE --gro-flush-timeout T for the timer slack), or --lab: blast -> probe in-process on \
127.0.0.1 (no root), or with --netns inside lab/netns.sh's namespaces (root; the lab is torn \
down afterwards, also on error or SIGINT), which also runs the deferral-on phase \
(--defer-hard-irqs, --gro-flush-timeout, --deferral-rate) with GRO forwarding off.

Examples:
  coalescope calibrate --events probe_events.parquet -o host.toml
  coalescope calibrate --lab --rate 2000 --count 20000 -o host.toml --json
  sudo coalescope calibrate --lab --netns -o host.toml"
)]
pub struct Args {
    /// Probe events table of a deferral-off run (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Probe events table of a deferral-on run with GRO forwarding off (timer slack).
    #[arg(long, value_name = "FILE", requires = "events")]
    deferral_events: Option<PathBuf>,
    /// gro_flush_timeout of the deferral-on run (--deferral-events), or the one --netns
    /// sets for its deferral-on phase.
    #[arg(long, value_parser = parse_duration, value_name = "D", default_value = "200us")]
    gro_flush_timeout: Duration,
    /// napi_defer_hard_irqs of --netns's deferral-on phase.
    #[arg(long, default_value_t = 2, value_name = "N")]
    defer_hard_irqs: u32,
    /// Run blast -> probe in-process and fit from it.
    #[arg(long)]
    lab: bool,
    /// With --lab: run inside lab/netns.sh's namespaces (root) instead of on loopback.
    #[arg(long, requires = "lab")]
    netns: bool,
    /// The namespace lab script (--netns).
    #[arg(long, value_name = "PATH", default_value = "lab/netns.sh")]
    lab_script: PathBuf,
    /// Receiver address of the loopback lab.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Poisson rate of the lab run (deferral off).
    #[arg(long, default_value_t = 2000.0, value_name = "PPS")]
    rate: f64,
    /// Poisson rate of --netns's deferral-on phase (several datagrams per timeout).
    #[arg(long, default_value_t = 20000.0, value_name = "PPS")]
    deferral_rate: f64,
    /// Datagrams per lab phase.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    count: u64,
    /// Seed of the lab's Poisson schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write hz = N instead of measuring this host's tick (for events from another host).
    #[arg(long, value_name = "N")]
    hz: Option<u32>,
    /// Write the [host] table here (TOML, read by `coalescope sim --host`).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let mut strings = Strings::new();
    let events = load_events(path, &mut strings)
        .with_context(|| format!("reading events {}", path.display()))?;
    Ok(events.iter().map(Row::from).collect())
}

/// Run `coalescope calibrate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let timeout_ns = args.gro_flush_timeout.as_nanos();
    let (rows, on_rows, source) = if let Some(path) = &args.events {
        let rows = read_rows(path)?;
        let on = args.deferral_events.as_deref().map(read_rows).transpose()?;
        (rows, on, format!("events table {}", path.display()))
    } else {
        let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
        if args.netns {
            let cal = NetnsCalibration {
                script: args.lab_script.clone(),
                rate_pps: args.rate,
                deferral_rate_pps: args.deferral_rate,
                count: args.count,
                seed: args.seed,
                defer_hard_irqs: args.defer_hard_irqs,
                flush_timeout_ns: timeout_ns,
            };
            let (off, on) = run_netns(&cal, stop)?;
            let source = format!(
                "blast -> probe in the veth namespace lab: {} datagrams poisson {} pps deferral \
                 off, then {} pps with napi_defer_hard_irqs {} gro_flush_timeout {} and \
                 rx-udp-gro-forwarding off",
                args.count,
                args.rate,
                args.deferral_rate,
                args.defer_hard_irqs,
                args.gro_flush_timeout
            );
            (off, Some(on), source)
        } else {
            let run = LabRun {
                listen: args.listen,
                rate_pps: args.rate,
                count: args.count,
                seed: args.seed,
                rx_netns: None,
                tx_netns: None,
            };
            let rows = run_loopback(&run, stop)?;
            let source = format!(
                "blast -> probe on {}: {} datagrams poisson {} pps seed {}",
                args.listen, args.count, args.rate, args.seed
            );
            (rows, None, source)
        }
    };
    let tick_ns = match args.hz {
        Some(_) => None,
        None => Some(host_tick_ns()?),
    };
    let inputs = FitInputs {
        deferral_on: on_rows.as_deref().map(|r| (r, timeout_ns)),
        tick_ns,
    };
    let mut cal = calibrate(&rows, inputs)?;
    if let Some(hz) = args.hz {
        cal.host.hz = Some(hz);
    }
    if let Some(out) = &args.out {
        let unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let header = host_file_header(&source, unix_s, &HostFs::live());
        let file = HostFile {
            host: cal.host.clone(),
        };
        std::fs::write(out, file.to_toml(&header)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&cal)?);
    } else {
        print_table(&cal, &source, args.out.as_deref());
    }
    Ok(ExitCode::SUCCESS)
}

fn cost_text(c: Option<&Cost>) -> String {
    match c {
        None => "- (not fitted: simulator default)".into(),
        Some(Cost::Ns(ns)) => format!("{ns} ns fixed"),
        Some(Cost::Dist(Dist::Fixed { ns })) => format!("{} fixed", Duration(*ns as i64)),
        Some(Cost::Dist(Dist::Exponential { mean_ns })) => {
            format!("exponential, mean {}", Duration(*mean_ns as i64))
        }
        Some(Cost::Dist(Dist::Quantiles { p, ns })) => p
            .iter()
            .zip(ns)
            .map(|(p, ns)| format!("p{p}={}", Duration(*ns as i64)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn measured(l: Option<&LatencySummary>) -> String {
    l.map_or("-".into(), |l| {
        format!(
            "{} / {} / {} (n {})",
            Duration(l.p50_ns),
            Duration(l.p99_ns),
            Duration(l.p999_ns),
            l.count
        )
    })
}

fn print_table(cal: &Calibration, source: &str, out: Option<&Path>) {
    let h = &cal.host;
    let s = &cal.samples;
    let mut t = Table::new();
    t.set_header(vec!["", "fit", "samples"]);
    let mut row = |k: &str, v: String, n: String| {
        t.add_row(vec![k.to_string(), v, n]);
    };
    row("source", source.to_string(), s.rows.to_string());
    row(
        "hz",
        h.hz.map_or("-".into(), |hz| hz.to_string()),
        cal.tick_ns
            .map_or("given".into(), |t| format!("tick {}", Duration(t))),
    );
    row("irq_cost_ns", cost_text(h.irq_cost_ns.as_ref()), "-".into());
    row(
        "per_packet_cost_ns",
        cost_text(h.per_packet_cost_ns.as_ref()),
        s.stack_cost.to_string(),
    );
    row(
        "ingress_delay_ns",
        cost_text(h.ingress_delay_ns.as_ref()),
        h.ingress_delay_ns
            .as_ref()
            .map_or("-".into(), |_| s.stack_cost.to_string()),
    );
    row(
        "app_wakeup_ns",
        cost_text(h.app_wakeup_ns.as_ref()),
        s.app_wakeup.to_string(),
    );
    row(
        "app_service_ns",
        cost_text(h.app_service_ns.as_ref()),
        s.app_service.to_string(),
    );
    row(
        "timer_slack_ns",
        cost_text(h.timer_slack_ns.as_ref()),
        s.timer_slack.map_or("-".into(), |n| n.to_string()),
    );
    row(
        "measured send->kernel p50/p99/p99.9",
        measured(cal.send_to_kernel.as_ref()),
        String::new(),
    );
    row(
        "measured kernel->app p50/p99/p99.9",
        measured(cal.kernel_to_app.as_ref()),
        String::new(),
    );
    row(
        "measured send->app p50/p99/p99.9",
        measured(cal.send_to_app.as_ref()),
        String::new(),
    );
    let a = &cal.anomalies;
    row(
        "anomalies",
        format!(
            "missing t_stack {}, missing t_app {}, negative send->kernel {}, negative kernel->app {}",
            a.missing_t_stack, a.missing_t_app, a.negative_send_to_kernel, a.negative_kernel_to_app
        ),
        String::new(),
    );
    if let Some(path) = out {
        row(
            "[host] written to",
            path.display().to_string(),
            String::new(),
        );
    }
    println!("{t}");
    for note in &cal.notes {
        println!("note: {note}");
    }
}
