//! `coalescope sim`: run a scenario through the discrete-event simulator and print its
//! summary; optionally write the `events` table and the interrupt log. All simulation
//! lives in `coalescope-sim`; this module turns flags into scenario overrides and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use coalescope_sim::{
    simulate_to_files, Device, FileOutputs, GroMode, PolicyKind, QuantileMode, Scenario,
    ScenarioSpec, Summary,
};
use coalescope_timeline::io::Compression;
use coalescope_timeline::{parse_duration, Duration};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

const EXAMPLES: &str = "\
Examples:
  coalescope sim                                   # the built-in bursty market-data scenario
  coalescope sim --scenario scenarios/default.toml --seed 3 -o events.parquet
  coalescope sim --rate 200000 --rx-usecs 50 --rx-frames 0 --ideal-host --json
  coalescope sim --policy adaptive --interrupts irqs.csv
  coalescope sim --policy throttle --max-interrupts-per-s 20000
  coalescope sim --busy-poll --packets 200000
  coalescope sim --device veth --host host.toml --policy deferral --json
  coalescope sim --rate 2000 --policy deferral --napi-defer-hard-irqs 2 --gro-flush-timeout 200us \
                 --gro udp-forwarding --hz 250 --device veth --json

Without --scenario the compiled-in default scenario runs (scenarios/default.toml).
Flags override the scenario: --rate replaces its streams by one Poisson stream \"md\";
--policy replaces the [nic] settings except ring_size, device and mode; --host merges the
[host] table of a file (e.g. from `coalescope calibrate`) over the scenario's [host],
its keys winning; then --device, --ring-size and the other flags apply, and last
--ideal-host (every host cost 0: only the coalescing delay remains, SPEC §3 closed forms
apply) and --busy-poll.
--napi-defer-hard-irqs / --gro-flush-timeout with --policy ethtool (or a scenario whose
policy is ethtool) run software deferral over the ethtool settings (rx-usecs default 50);
the summary then names the policy \"deferral\". Other policies reject them.
Delay quantiles are nearest-rank on t_app - t_ingress; stack quantiles on
t_stack - t_ingress (arrival to leaving GRO, what the kernel's software RX timestamp
sees). The run streams: nothing per packet is kept (records go straight to -o /
--interrupts when given), so memory does not grow with --packets. With --quantiles sketch
(the default) each stream's series stays exact up to 4096 values, then a mergeable
log-linear histogram reports every quantile within 0.39 % (1/256) of the exact value;
counts, means and maxima stay exact. --quantiles exact keeps every delay (8 bytes x 2 per
packet). The JSON says which: \"quantiles\": \"exact\" | \"sketch\" and
\"quantile_relative_error\". The events file lists each receive queue's packets in
arrival order; queues interleave in the order packets reached their fate.
A stream whose next arrival falls past 2^62 ns stops there with a warning. Scenario
format reference:
scenarios/README.md. Invalid values exit 2 naming the field and its accepted range.";

/// Flags of `coalescope sim`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Scenario TOML file (default: the compiled-in scenario).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// RNG seed (same seed, same output byte for byte).
    #[arg(long)]
    seed: Option<u64>,
    /// Total packets over all streams.
    #[arg(long)]
    packets: Option<u64>,
    /// Write the events table here (.parquet or .csv).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the interrupt log here (.csv or .parquet; columns time_ns,queue,batch,reason,timer_ns).
    #[arg(long, value_name = "FILE")]
    interrupts: Option<PathBuf>,
    /// Parquet page compression of the written tables: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli (CSV output ignores it).
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    compression: Compression,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Quantiles: sketch (default; histogram, <= 0.39 % relative error, memory independent
    /// of --packets) or exact (keeps every delay).
    #[arg(long, value_name = "MODE", default_value = "sketch")]
    quantiles: QuantileMode,
    /// Replace the streams by one Poisson stream "md" at this many packets per second.
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Coalescing policy (a wrong name lists the accepted ones).
    #[arg(long, help = format!("Coalescing policy: {}", PolicyKind::accepted_names()))]
    policy: Option<PolicyKind>,
    /// Timer mode for ethtool/adaptive/deferral: eqe or cqe.
    #[arg(long)]
    mode: Option<String>,
    /// ethtool rx-usecs (0 = no timer).
    #[arg(long, allow_negative_numbers = true)]
    rx_usecs: Option<i64>,
    /// ethtool rx-frames (0 = no count threshold).
    #[arg(long, allow_negative_numbers = true)]
    rx_frames: Option<i64>,
    /// Throttle policy: at most this many interrupts per second.
    #[arg(long, allow_negative_numbers = true)]
    max_interrupts_per_s: Option<f64>,
    /// Receive ring descriptors per queue (wins over the device's default).
    #[arg(long, allow_negative_numbers = true)]
    ring_size: Option<i64>,
    /// NIC driver whose default RX ring size replaces the scenario's (--ring-size wins).
    #[arg(long, value_name = "DEVICE", help = format!(
        "NIC driver whose default RX ring size replaces the scenario's ring_size (--ring-size wins): {}",
        Device::accepted_names()
    ))]
    device: Option<Device>,
    /// TOML file with a [host] table merged over the scenario's [host] (file keys win;
    /// --ideal-host and --busy-poll apply after it). Other tables are errors.
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
    /// napi_defer_hard_irqs: empty re-polls before the interrupt is re-enabled (deferral).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    napi_defer_hard_irqs: Option<i64>,
    /// gro_flush_timeout: the NAPI timer, e.g. 200us, 1ms, 50000ns or plain ns (deferral).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    gro_flush_timeout: Option<Duration>,
    /// GRO on the receiving device: off, on (kernel default: UDP not merged) or
    /// udp-forwarding (rx-udp-gro-forwarding: UDP datagrams of a flow merge).
    #[arg(long, value_name = "MODE")]
    gro: Option<GroMode>,
    /// Kernel tick rate CONFIG_HZ (1..=10000; GRO ages its chains in jiffies).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    hz: Option<i64>,
    /// Every host cost 0: measure the coalescing delay alone.
    #[arg(long, conflicts_with = "busy_poll")]
    ideal_host: bool,
    /// The application busy-polls: no interrupts, one core at 100 %.
    #[arg(long)]
    busy_poll: bool,
}

/// Run `coalescope sim`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (mut spec, base_dir) = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario file {}", path.display()))?;
            let spec = ScenarioSpec::from_toml_str(&text)
                .with_context(|| format!("in scenario file {}", path.display()))?;
            (spec, path.parent().map(Path::to_path_buf))
        }
        None => (ScenarioSpec::default_spec(), None),
    };
    apply_overrides(&mut spec, &args)?;
    let scenario = spec.validate(base_dir.as_deref())?;
    let outputs = FileOutputs {
        events: args.output.clone(),
        interrupts: args.interrupts.clone(),
        compression: args.compression,
    };
    let run = simulate_to_files(&scenario, args.quantiles, &outputs)?;
    for w in &run.summary.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        let value = SimJson {
            scenario: ScenarioJson {
                source: args.scenario.as_deref(),
                info: scenario.info(),
            },
            summary: &run.summary,
            outputs: Outputs {
                events: args.output.as_deref(),
                interrupts: args.interrupts.as_deref(),
            },
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_human(&run.summary, &scenario, &args);
    }
    Ok(ExitCode::SUCCESS)
}

fn apply_overrides(spec: &mut ScenarioSpec, args: &Args) -> anyhow::Result<()> {
    if let Some(path) = &args.host {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read host file {}", path.display()))?;
        spec.merge_host_toml(&text)
            .with_context(|| format!("in host file {}", path.display()))?;
    }
    if let Some(seed) = args.seed {
        spec.seed =
            Some(i64::try_from(seed).context("--seed must be at most 9223372036854775807")?);
    }
    if let Some(packets) = args.packets {
        spec.packets = Some(i64::try_from(packets).unwrap_or(i64::MAX));
    }
    if let Some(rate) = args.rate {
        spec.use_poisson_stream(rate);
    }
    if let Some(policy) = args.policy {
        spec.set_policy(policy);
    }
    if let Some(mode) = &args.mode {
        spec.nic.mode = Some(mode.clone());
    }
    if let Some(v) = args.rx_usecs {
        spec.nic.rx_usecs = Some(v);
    }
    if let Some(v) = args.rx_frames {
        spec.nic.rx_frames = Some(v);
    }
    if let Some(v) = args.max_interrupts_per_s {
        spec.nic.max_interrupts_per_s = Some(v);
    }
    if let Some(d) = args.device {
        spec.use_device(d);
    }
    if let Some(v) = args.ring_size {
        spec.nic.ring_size = Some(v);
    }
    if let Some(v) = args.napi_defer_hard_irqs {
        spec.nic.napi_defer_hard_irqs = Some(v);
    }
    if let Some(v) = args.gro_flush_timeout {
        spec.nic.gro_flush_timeout_ns = Some(v.as_nanos());
    }
    if let Some(v) = args.gro {
        spec.nic.gro = Some(v.name().to_string());
    }
    if args.ideal_host {
        spec.use_ideal_host();
    }
    if args.busy_poll {
        spec.use_busy_poll();
    }
    if let Some(v) = args.hz {
        spec.host_spec_mut().hz = Some(v);
    }
    Ok(())
}

fn ns(v: Option<i64>) -> String {
    v.map(|x| Duration(x).to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn ns_f(v: Option<f64>) -> String {
    ns(v.map(|x| x.round() as i64))
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.2} %", x * 100.0))
        .unwrap_or_else(|| "-".to_string())
}

fn print_human(s: &Summary, sc: &Scenario, args: &Args) {
    let source = args
        .scenario
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in default".to_string());
    println!(
        "coalescope sim: {source}, seed {}, policy {}",
        sc.seed(),
        s.policy
    );
    if let Some(d) = sc.description() {
        println!("  {d}");
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["metric", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("packets", s.packets.to_string()),
        ("delivered", s.delivered.to_string()),
        (
            "dropped",
            format!(
                "{} (ring_full {}, backlog_full {}, stranded {})",
                s.dropped, s.drops.ring_full, s.drops.backlog_full, s.drops.stranded
            ),
        ),
        ("simulated span", Duration(s.span_ns).to_string()),
        (
            "interrupts",
            format!(
                "{} ({:.0}/s), {} software polls",
                s.interrupts, s.interrupt_rate_per_s, s.software_polls
            ),
        ),
        (
            "mean batch",
            s.mean_batch_size
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "-".to_string()),
        ),
        (
            "fired by timer / count / throttle",
            format!(
                "{} / {} / {}",
                pct(s.timer_fired_fraction),
                pct(s.count_fired_fraction),
                pct(s.throttle_fired_fraction)
            ),
        ),
        ("mean coalescing delay", ns_f(s.mean_coalescing_delay_ns)),
        ("waited the full timer", pct(s.full_wait_fraction)),
        (
            "mean added delay (t_app - t_ingress)",
            ns_f(s.mean_added_delay_ns),
        ),
        ("p50 / p90", format!("{} / {}", ns(s.p50_ns), ns(s.p90_ns))),
        (
            "p99 / p99.9 / max",
            format!("{} / {} / {}", ns(s.p99_ns), ns(s.p999_ns), ns(s.max_ns)),
        ),
        (
            "quantiles",
            if s.quantile_relative_error > 0.0 {
                format!(
                    "{} (<= {:.2} % relative error)",
                    s.quantiles,
                    s.quantile_relative_error * 100.0
                )
            } else {
                s.quantiles.to_string()
            },
        ),
        (
            "stack p50 / p99 / p99.9 (t_stack - t_ingress)",
            format!(
                "{} / {} / {}",
                ns(s.stack_p50_ns),
                ns(s.stack_p99_ns),
                ns(s.stack_p999_ns)
            ),
        ),
        (
            "GRO chains flushed",
            format!(
                "poll_complete {}, tick_old {}, full_weight {}, count_limit {}, size_limit {}, end_of_run {}; {} segments merged",
                s.gro.poll_complete,
                s.gro.tick_old,
                s.gro.full_weight,
                s.gro.count_limit,
                s.gro.size_limit,
                s.gro.end_of_run,
                s.gro.segments_merged
            ),
        ),
        (
            "CPU (cores busy)",
            format!(
                "{:.3} (softirq core {:.1} %, app core {:.1} %)",
                s.cpu_utilization,
                s.cpu.softirq_core_utilization * 100.0,
                s.cpu.app_core_utilization * 100.0
            ),
        ),
        ("time_squeeze", s.time_squeeze.to_string()),
    ];
    for (k, v) in rows {
        t.add_row(vec![
            Cell::new(k),
            Cell::new(v).set_alignment(CellAlignment::Right),
        ]);
    }
    println!("{t}");
    let mut st = Table::new();
    st.load_style(UTF8_FULL_CONDENSED);
    st.set_header(vec![
        "stream",
        "kind",
        "queue",
        "packets",
        "delivered",
        "dropped",
        "mean coalescing",
        "mean added",
        "p50",
        "p99",
        "max",
    ]);
    for x in &s.streams {
        st.add_row(vec![
            Cell::new(&x.name),
            Cell::new(x.kind),
            Cell::new(x.queue),
            Cell::new(x.packets).set_alignment(CellAlignment::Right),
            Cell::new(x.delivered).set_alignment(CellAlignment::Right),
            Cell::new(x.dropped).set_alignment(CellAlignment::Right),
            Cell::new(ns_f(x.mean_coalescing_delay_ns)).set_alignment(CellAlignment::Right),
            Cell::new(ns_f(x.mean_added_delay_ns)).set_alignment(CellAlignment::Right),
            Cell::new(ns(x.p50_ns)).set_alignment(CellAlignment::Right),
            Cell::new(ns(x.p99_ns)).set_alignment(CellAlignment::Right),
            Cell::new(ns(x.max_ns)).set_alignment(CellAlignment::Right),
        ]);
    }
    println!("{st}");
    if let Some(p) = &args.output {
        println!("events written to {}", p.display());
    }
    if let Some(p) = &args.interrupts {
        println!("interrupt log written to {}", p.display());
    }
}

/// `sim --json`: the scenario as run, the summary, and the files written.
#[derive(serde::Serialize)]
struct SimJson<'a> {
    scenario: ScenarioJson<'a>,
    summary: &'a Summary,
    outputs: Outputs<'a>,
}

/// The scenario block: where it came from plus the library's description of it.
#[derive(serde::Serialize)]
struct ScenarioJson<'a> {
    source: Option<&'a Path>,
    #[serde(flatten)]
    info: coalescope_sim::ScenarioInfo<'a>,
}

/// The files `sim` wrote.
#[derive(serde::Serialize)]
struct Outputs<'a> {
    events: Option<&'a Path>,
    interrupts: Option<&'a Path>,
}
