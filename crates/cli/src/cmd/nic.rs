//! `coalescope nic`: show, set and restore a NIC's interrupt coalescing and NAPI software
//! knobs, and sample host counters (`nic sample`).

use anyhow::{bail, Context};
use coalescope_probe::counters::{self, Sources};
use coalescope_probe::hostfs::HostFs;
use coalescope_probe::nic::{self, knobs, Backend, ChangeReport, Knob, NicState, Param, Request};
use coalescope_probe::sys::socket::termination_flag;
use coalescope_sim::net_dim;
use coalescope_timeline::io::{Compression, RowWriter};
use comfy_table::Table;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `coalescope nic`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  coalescope nic show eth0
  coalescope nic set eth0 --rx-usecs 0 --adaptive-rx off --dry-run
  coalescope nic set eth0 --rx-usecs 8 --gro-flush-timeout 20000 --napi-defer-hard-irqs 2
  coalescope nic restore eth0
  coalescope nic sample --interval 100ms --duration 5s -o host.csv
  coalescope nic sample --format samples --iface eth0 --irq 45 --interval 1ms -o q.csv")]
pub struct Args {
    #[command(subcommand)]
    command: NicCommand,
}

#[derive(clap::Subcommand, Debug)]
enum NicCommand {
    /// Show coalescing (every parameter the driver reports) and the NAPI software knobs.
    Show(ShowArgs),
    /// Change coalescing and/or software knobs; saves the previous settings first.
    Set(SetArgs),
    /// Put back the settings saved by `set`.
    Restore(RestoreArgs),
    /// Sample /proc/interrupts, softnet_stat, interface statistics and ksoftirqd CPU time
    /// into a time-series CSV (t_ns,source,entity,cpu,counter,value,rate_per_s,detail), or
    /// one queue's counters in the samples format of `model net-dim` (--format samples).
    Sample(SampleArgs),
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum BackendArg {
    /// Netlink, falling back to the ioctl when the kernel lacks ethtool netlink.
    Auto,
    /// ethtool generic netlink only.
    Netlink,
    /// SIOCETHTOOL ioctl only.
    Ioctl,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Netlink => Backend::Netlink,
            BackendArg::Ioctl => Backend::Ioctl,
        }
    }
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    /// Interface name.
    iface: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Kernel interface for coalescing.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
}

fn parse_onoff(s: &str) -> Result<u32, String> {
    match s {
        "on" | "1" | "true" => Ok(1),
        "off" | "0" | "false" => Ok(0),
        other => Err(format!("expected on or off, not {other:?}")),
    }
}

fn parse_param(s: &str) -> Result<(Param, u32), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, not {s:?}"))?;
    let p = Param::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = Param::ALL.iter().map(|p| p.name()).collect();
        format!(
            "unknown coalescing parameter {name:?}; known: {}",
            all.join(", ")
        )
    })?;
    let v = if p.is_bool() {
        parse_onoff(value)?
    } else {
        value
            .parse()
            .map_err(|_| format!("{name} needs an unsigned 32-bit number, not {value:?}"))?
    };
    Ok((p, v))
}

#[derive(clap::Args, Debug)]
struct SetArgs {
    /// Interface name.
    iface: String,
    /// rx-usecs: microseconds the NIC waits after a packet before interrupting.
    #[arg(long, value_name = "N")]
    rx_usecs: Option<u32>,
    /// rx-max-frames: packets that trigger an interrupt before the timer.
    #[arg(long, value_name = "N")]
    rx_frames: Option<u32>,
    /// tx-usecs.
    #[arg(long, value_name = "N")]
    tx_usecs: Option<u32>,
    /// tx-max-frames.
    #[arg(long, value_name = "N")]
    tx_frames: Option<u32>,
    /// use-adaptive-rx (net_dim / driver adaptive moderation).
    #[arg(long, value_name = "on|off", value_parser = parse_onoff)]
    adaptive_rx: Option<u32>,
    /// use-adaptive-tx.
    #[arg(long, value_name = "on|off", value_parser = parse_onoff)]
    adaptive_tx: Option<u32>,
    /// Any coalescing parameter by its ethtool netlink name, e.g. `rx-usecs-irq=4`,
    /// `use-cqe-mode-rx=on`, `tx-aggr-max-frames=8` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(Param, u32)>,
    /// /sys/class/net/IFACE/gro_flush_timeout in nanoseconds.
    #[arg(long, value_name = "NS")]
    gro_flush_timeout: Option<u64>,
    /// /sys/class/net/IFACE/napi_defer_hard_irqs.
    #[arg(long, value_name = "N")]
    napi_defer_hard_irqs: Option<u64>,
    /// /sys/class/net/IFACE/threaded: on, off (or busy-poll on kernels that have it).
    #[arg(long, value_name = "on|off", value_parser = knobs::parse_threaded)]
    threaded: Option<u64>,
    /// Show old -> new per attribute and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where to save the previous settings (default /var/lib/coalescope/IFACE.coalesce.json;
    /// an existing default file is kept, so restore returns to the first baseline).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Kernel interface for coalescing.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
}

#[derive(clap::Args, Debug)]
struct RestoreArgs {
    /// Interface name.
    iface: String,
    /// Saved settings (default /var/lib/coalescope/IFACE.coalesce.json).
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Show old -> new per attribute and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Kernel interface for coalescing.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
}

#[derive(clap::Args, Debug)]
struct SampleArgs {
    /// Time between samples, e.g. 100ms.
    #[arg(long, default_value = "100ms", value_parser = coalescope_timeline::parse_duration)]
    interval: coalescope_timeline::Duration,
    /// Total sampling time, e.g. 5s (the first sample is taken at once).
    #[arg(long, default_value = "5s", value_parser = coalescope_timeline::parse_duration)]
    duration: coalescope_timeline::Duration,
    /// Output file, .csv or .parquet ("-" for CSV on stdout). Written after every
    /// sample; SIGINT/SIGTERM end the run after the sample in progress.
    #[arg(short = 'o', long = "out", default_value = "-")]
    out: PathBuf,
    /// Parquet page compression of `-o FILE.parquet`: uncompressed, snappy, zstd, lz4,
    /// gzip, brotli.
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
    /// Sources to read (comma separated): interrupts, softnet, netdev, ksoftirqd.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "interrupts,softnet,netdev,ksoftirqd"
    )]
    sources: Vec<String>,
    /// Read /proc and /sys under this directory instead of / (fixtures, containers).
    #[arg(long, default_value = "/", hide = true)]
    root: PathBuf,
    /// `table`: the long counter table of --sources. `samples`: one queue's cumulative
    /// counters as `time_ns,packets,bytes,events`, the input of `coalescope model net-dim
    /// --samples` (needs --iface and --irq; --sources does not apply). Columns: time_ns =
    /// CLOCK_MONOTONIC ns; packets, bytes = the interface's rx_packets, rx_bytes
    /// (/sys/class/net/IFACE/statistics: exact for a single-queue interface or when all
    /// traffic is steered to the queue, otherwise the whole interface's traffic);
    /// events = the IRQ's /proc/interrupts count summed over CPUs (exact). Approximate:
    /// the kernel samples at every interrupt, this one row per --interval, so net_dim's
    /// windows close at the first row 64 interrupts on: use a short --interval (1ms).
    #[arg(long, value_enum, default_value = "table", verbatim_doc_comment)]
    format: SampleFormat,
    /// Interface whose rx_packets / rx_bytes fill the packets / bytes columns (--format
    /// samples).
    #[arg(long, value_name = "IFACE", required_if_eq("format", "samples"))]
    iface: Option<String>,
    /// The queue's IRQ, whose interrupt count fills the events column (--format samples):
    /// its /proc/interrupts number, or an action name of its row such as eth0-TxRx-3.
    #[arg(long, value_name = "IRQ", required_if_eq("format", "samples"))]
    irq: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SampleFormat {
    /// The long counter table.
    Table,
    /// net_dim's samples format for one queue.
    Samples,
}

/// Run `coalescope nic`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        NicCommand::Show(a) => show(a),
        NicCommand::Set(a) => set(a),
        NicCommand::Restore(a) => restore(a),
        NicCommand::Sample(a) => sample(a),
    }
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let fs = HostFs::live();
    let state = nic::read_state(&fs, &a.iface, a.backend.into())?;
    if state.coalesce_errno() == Some(libc_enodev())
        && !fs.exists(&format!("/sys/class/net/{}", a.iface))
    {
        bail!(
            "there is no interface {:?} in this network namespace",
            a.iface
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&state)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_state(&state);
    Ok(ExitCode::SUCCESS)
}

/// ENODEV without a libc dependency in the CLI: the value is fixed by the Linux ABI.
const fn libc_enodev() -> i32 {
    19
}

fn print_state(state: &NicState) {
    println!("{}", state.iface);
    match &state.coalesce {
        Ok(c) => {
            let mut t = Table::new();
            t.set_header(vec!["coalescing parameter", "value"]);
            for (p, v) in c.reply.coalesce.iter() {
                let shown = if p.is_bool() {
                    (if v != 0 { "on" } else { "off" }).to_string()
                } else {
                    v.to_string()
                };
                t.add_row(vec![p.name().to_string(), shown]);
            }
            match c.backend {
                nic::UsedBackend::Netlink => println!(
                    "coalescing (ethtool netlink; parameters the driver does not report are unsupported):"
                ),
                nic::UsedBackend::Ioctl => println!(
                    "coalescing (SIOCETHTOOL ioctl; all 22 legacy fields: the ioctl cannot tell unsupported from 0):"
                ),
            }
            println!("{t}");
            for (label, prof) in [("rx", &c.reply.rx_profile), ("tx", &c.reply.tx_profile)] {
                if !prof.is_empty() {
                    let entries: Vec<String> = prof
                        .iter()
                        .map(|m| format!("{{{},{}}}", m.usec.unwrap_or(0), m.pkts.unwrap_or(0)))
                        .collect();
                    println!(
                        "{label} net_dim profile {{usec,pkts}}: {}",
                        entries.join(" ")
                    );
                }
            }
        }
        Err(err) => println!("coalescing: not available: {err}"),
    }
    let mut t = Table::new();
    t.set_header(vec!["software knob", "value", "path"]);
    for k in Knob::ALL {
        let value = match (k, state.knobs.get(k)) {
            (_, None) => "n/a".to_string(),
            (Knob::Threaded, Some(v)) => format!("{} ({v})", knobs::threaded_name(v)),
            (Knob::GroFlushTimeout, Some(v)) => format!("{v} ns"),
            (_, Some(v)) => v.to_string(),
        };
        t.add_row(vec![k.file().to_string(), value, k.path(&state.iface)]);
    }
    println!("{t}");
    for e in &state.knobs.errors {
        println!("note: {e}");
    }
}

fn print_changes(report: &ChangeReport<'_>, json: bool) -> anyhow::Result<()> {
    let changes = report.changes;
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.set_header(vec!["setting", "old", "new", ""]);
    for c in changes {
        t.add_row(vec![
            c.name.clone(),
            c.old.map_or("n/a".to_string(), |v| v.to_string()),
            c.new.to_string(),
            (if c.changed { "change" } else { "unchanged" }).to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}

fn set(a: SetArgs) -> anyhow::Result<ExitCode> {
    let mut req = Request::default();
    let named = [
        (Param::RxUsecs, a.rx_usecs),
        (Param::RxMaxFrames, a.rx_frames),
        (Param::TxUsecs, a.tx_usecs),
        (Param::TxMaxFrames, a.tx_frames),
        (Param::UseAdaptiveRx, a.adaptive_rx),
        (Param::UseAdaptiveTx, a.adaptive_tx),
    ];
    for (p, v) in named
        .into_iter()
        .filter_map(|(p, v)| v.map(|v| (p, v)))
        .chain(a.params.iter().copied())
    {
        req.coalesce.set(p, v);
    }
    for (k, v) in [
        (Knob::GroFlushTimeout, a.gro_flush_timeout),
        (Knob::NapiDeferHardIrqs, a.napi_defer_hard_irqs),
        (Knob::Threaded, a.threaded),
    ] {
        if let Some(v) = v {
            req.knobs.insert(k, v);
        }
    }
    if req.is_empty() {
        bail!("nothing to set: give at least one of --rx-usecs, --param NAME=VALUE, --gro-flush-timeout, ... (see --help)");
    }
    let fs = HostFs::live();
    let backend: Backend = a.backend.into();
    let state = nic::read_state(&fs, &a.iface, backend)?;
    let changes = nic::plan(&state, &req)?;
    if a.dry_run {
        if !a.json {
            println!("dry run on {}: nothing is written", a.iface);
        }
        let report = ChangeReport {
            changes: &changes,
            dry_run: true,
            saved: None,
            from: None,
        };
        print_changes(&report, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (path, explicit) = match &a.save {
        Some(p) => (p.clone(), true),
        None => (nic::default_save_path(&a.iface), false),
    };
    let kept = !explicit && path.exists();
    if kept {
        if !a.json {
            println!(
                "keeping the earlier saved settings in {} (restore returns to them)",
                path.display()
            );
        }
    } else if changes.iter().any(|c| c.changed) {
        nic::write_saved(&path, &nic::Saved::from_state(&state))?;
        if !a.json {
            println!("saved the previous settings to {}", path.display());
        }
    }
    let changes = nic::apply(&fs, &state, &req, backend)?;
    let report = ChangeReport {
        changes: &changes,
        dry_run: false,
        saved: Some(&path),
        from: None,
    };
    print_changes(&report, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn restore(a: RestoreArgs) -> anyhow::Result<ExitCode> {
    let path = a
        .from
        .clone()
        .unwrap_or_else(|| nic::default_save_path(&a.iface));
    let saved = nic::read_saved(&path)?;
    if saved.iface != a.iface {
        bail!(
            "{} holds settings of {}, not {} (use --from to pick another file)",
            path.display(),
            saved.iface,
            a.iface
        );
    }
    let fs = HostFs::live();
    let backend: Backend = a.backend.into();
    let state = nic::read_state(&fs, &a.iface, backend)?;
    let req = saved.restore_request();
    if a.dry_run {
        if !a.json {
            println!("dry run on {}: nothing is written", a.iface);
        }
        let changes = nic::plan(&state, &req)?;
        let report = ChangeReport {
            changes: &changes,
            dry_run: true,
            saved: None,
            from: Some(&path),
        };
        print_changes(&report, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let changes = nic::apply(&fs, &state, &req, backend)?;
    if !a.json {
        println!("restored {} from {}", a.iface, path.display());
    }
    let report = ChangeReport {
        changes: &changes,
        dry_run: false,
        saved: None,
        from: Some(&path),
    };
    print_changes(&report, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn sample(a: SampleArgs) -> anyhow::Result<ExitCode> {
    let sources = Sources::from_names(&a.sources)?;
    counters::check_schedule(a.interval.as_nanos(), a.duration.as_nanos())?;
    let fs = HostFs::rooted(&a.root);
    if a.format == SampleFormat::Samples {
        return sample_queue(&fs, &a);
    }
    let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
    let mut out = sample_writer(&a)?;
    let summary = counters::run_sampler(
        &fs,
        sources,
        a.interval.as_nanos(),
        a.duration.as_nanos(),
        stop,
        |rows| -> anyhow::Result<()> {
            // A flush before the first row would fix a header without columns.
            if !rows.is_empty() {
                out.write_all(rows)?;
                out.flush()?;
            }
            Ok(())
        },
    )?;
    out.finish()?;
    eprintln!(
        "coalescope: {} samples, {} rows, {} counter resets, {} skipped points",
        summary.samples,
        summary.rows,
        summary.resets,
        summary.skipped.len()
    );
    for s in summary.skipped.iter().take(5) {
        eprintln!("  skipped: {s}");
    }
    Ok(ExitCode::SUCCESS)
}

fn sample_queue(fs: &HostFs, a: &SampleArgs) -> anyhow::Result<ExitCode> {
    let (Some(iface), Some(irq)) = (&a.iface, &a.irq) else {
        bail!("--format samples needs --iface and --irq");
    };
    let source = counters::QueueSource {
        iface: iface.clone(),
        irq: irq.clone(),
    };
    let stop = termination_flag().context("installing the SIGINT/SIGTERM handler")?;
    let mut out = sample_writer(a)?;
    let samples = counters::run_queue_sampler(
        fs,
        &source,
        a.interval.as_nanos(),
        a.duration.as_nanos(),
        stop,
        |c| -> anyhow::Result<()> {
            out.write(&net_dim::NetDimSample {
                time_ns: c.mono_ns,
                packets: c.packets,
                bytes: c.bytes,
                events: c.interrupts,
            })?;
            out.flush()?;
            Ok(())
        },
    )?;
    out.finish()?;
    eprintln!("coalescope: {samples} samples of {iface} / IRQ {irq}");
    Ok(ExitCode::SUCCESS)
}

/// The row writer of `nic sample`'s `-o`: CSV on standard output for "-", else the file.
fn sample_writer(a: &SampleArgs) -> anyhow::Result<RowWriter> {
    if a.out.as_os_str() == "-" {
        let stdout = std::io::BufWriter::new(std::io::stdout());
        Ok(RowWriter::csv_to(Box::new(stdout), "standard output"))
    } else {
        RowWriter::create(&a.out, a.compression)
            .with_context(|| format!("creating {}", a.out.display()))
    }
}
