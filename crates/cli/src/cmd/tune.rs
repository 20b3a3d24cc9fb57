//! `coalescope tune`: the coalescing-policy advisor. All logic lives in `coalescope_tune`;
//! this module reads the inputs, builds the plan, runs it and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_capture::{capture_to_ingress, parse_stream_mapping, CaptureConfig, SeqSource};
use coalescope_desk::DeskScenario;
use coalescope_sim::setting::Setting;
use coalescope_sim::ScenarioSpec;
use coalescope_timeline::{parse_duration, Duration, Event, Strings};
use coalescope_tune::report::{format_cpu, format_ns, format_rate};
use coalescope_tune::{
    tune, BaseOptions, Candidate, ClassReport, Constraints, DeskInput, Grid, Objective,
    TrafficClass, TunePlan, TuneReport, DEFAULT_IFACE, DEFAULT_MAX_DROP_FRACTION,
};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

const EXAMPLES: &str = "\
Examples:
  coalescope tune --rate 200000 --max-irq-rate 50000            # a Poisson feed, an interrupt budget
  coalescope tune --events events.parquet --stream md --max-cpu 0.3 --iface eth0
  coalescope tune --scenario scenarios/default.toml --objective p999 --json
  coalescope tune --rate 100000 --rx-usecs 0,8,32 --rx-frames 0,64 --no-adaptive --desk --out results/

Traffic classes: --rate R (one Poisson stream), --events FILE (one class per stream: its real
t_ingress instants replayed; --stream NAME for one), --pcap FILE (one class per UDP destination
or --stream-map name: the capture timestamps replayed), or --scenario FILE (the scenario's
streams).
--rate and --events run through the default scenario's receive path (realistic host costs;
--ideal-host or --host FILE to change them).

Candidates (default grid, 86 settings): per-packet; rx-usecs 0,2,4,8,16,24,32,50,64,100,128,200
x rx-frames 0,8,16,32,64,128 (without 0,0); adaptive; deferral gro-flush-timeout 20us,50us,100us,
200us x defer 1,2,4 (hardware rx-usecs=0); busy-poll. Override an axis with --rx-usecs,
--rx-frames, --gro-flush-timeout, --defer (`none` empties it), drop a mode with --no-per-packet,
--no-adaptive, --no-busy-poll, or give the whole list with --settings \"A; B; ...\" (as replay).
Every candidate runs through the simulator in parallel with the same seed.

Output per class: the Pareto frontier of delay (the objective's; p99 for cost-q95) vs CPU and vs
interrupt rate (with --desk also cost q95), the recommended setting (lowest objective among the
candidates that meet --max-cpu, --max-irq-rate and --max-drop; ties by interrupt rate, CPU,
grid order), its ethtool command, sysfs writes and `coalescope nic set --dry-run` equivalent,
and why. --desk prices every candidate through the desk replay of the default desk scenario
(or --desk-scenario FILE): the desk trades its own market, the same for every class.

Exit code 1 when some class has no setting that meets the constraints (recommended null, why
says what came closest); 2 for usage or input errors.";

/// Flags of `coalescope tune`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
#[command(group(clap::ArgGroup::new("traffic").required(true).args(["events", "pcap", "scenario", "rate"])))]
pub struct Args {
    /// An events table (CSV or Parquet): one class per stream, its t_ingress instants replayed.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// A packet capture (pcap or pcapng): one class per UDP destination (or --stream-map
    /// name), its capture timestamps replayed as the arrivals.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// With --pcap: name a destination's stream (repeatable); unmapped destinations are
    /// skipped once any mapping is given.
    #[arg(long = "stream-map", value_name = "ADDR:PORT=NAME", requires = "pcap")]
    stream_map: Vec<String>,
    /// With --events or --pcap: tune this stream only.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// A simulator scenario TOML: one class, its streams as written.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// A Poisson class at R packets per second.
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    rate: Option<f64>,
    /// CPU budget of the receive path, share of one core (0.25 = a quarter).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    max_cpu: Option<f64>,
    /// Interrupt budget, hardware interrupts per second.
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    max_irq_rate: Option<f64>,
    /// Largest share of packets a recommended setting may drop.
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_MAX_DROP_FRACTION, allow_hyphen_values = true)]
    max_drop: f64,
    /// What the recommendation minimizes: p99, p999, mean (delivery delay) or cost-q95 (needs --desk).
    #[arg(long, value_name = "OBJECTIVE", default_value = "p99")]
    objective: String,
    /// Price every candidate through the desk replay (cost q95, E[C]).
    #[arg(long)]
    desk: bool,
    /// The desk scenario of --desk (default: the built-in scenarios/desk/default.toml).
    #[arg(long, value_name = "FILE", requires = "desk")]
    desk_scenario: Option<PathBuf>,
    /// Messages of the desk's synthetic market (shorter days run faster).
    #[arg(long, value_name = "N", requires = "desk")]
    desk_messages: Option<u64>,
    /// The candidate list, `;`-separated as `replay --settings` (replaces the grid).
    #[arg(long, value_name = "\"A; B; ...\"")]
    settings: Option<String>,
    /// rx-usecs axis of the grid, comma-separated (`none`: no rx-usecs × rx-frames grid).
    #[arg(long, value_name = "LIST")]
    rx_usecs: Option<String>,
    /// rx-frames axis of the grid, comma-separated.
    #[arg(long, value_name = "LIST")]
    rx_frames: Option<String>,
    /// gro-flush-timeout axis of the deferral candidates (e.g. 50us,200us; `none`: no deferral).
    #[arg(long, value_name = "LIST")]
    gro_flush_timeout: Option<String>,
    /// defer (napi_defer_hard_irqs) axis of the deferral candidates.
    #[arg(long, value_name = "LIST")]
    defer: Option<String>,
    /// Leave per-packet out of the grid.
    #[arg(long)]
    no_per_packet: bool,
    /// Leave adaptive out of the grid.
    #[arg(long)]
    no_adaptive: bool,
    /// Leave busy-poll out of the grid.
    #[arg(long)]
    no_busy_poll: bool,
    /// Seed of every run (default: the scenario's; 7 for --rate and --events).
    #[arg(long)]
    seed: Option<u64>,
    /// Packets per run of a --rate or --scenario class (default 100000 for --rate).
    #[arg(long)]
    packets: Option<u64>,
    /// Every host cost 0 (the closed forms' host).
    #[arg(long)]
    ideal_host: bool,
    /// A [host] table (as `calibrate` writes) merged over the receive path's.
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
    /// Interface name written into the commands.
    #[arg(long, value_name = "IFACE", default_value = DEFAULT_IFACE)]
    iface: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the report (the same JSON) to DIR/tune.json.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn list<T>(
    flag: &str,
    text: &Option<String>,
    default: Vec<T>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Vec<T>> {
    let Some(text) = text else {
        return Ok(default);
    };
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|t| parse(t.trim()).map_err(|e| anyhow::anyhow!("{flag}: `{}`: {e}", t.trim())))
        .collect()
}

fn uint(t: &str) -> Result<u32, String> {
    t.parse::<u32>()
        .map_err(|_| "give a non-negative integer".to_string())
}

fn grid(args: &Args) -> anyhow::Result<Vec<Setting>> {
    if let Some(text) = &args.settings {
        return Setting::parse_list(text).context("--settings");
    }
    let d = Grid::default();
    let g = Grid {
        rx_usecs: list("--rx-usecs", &args.rx_usecs, d.rx_usecs, uint)?,
        rx_frames: list("--rx-frames", &args.rx_frames, d.rx_frames, uint)?,
        gro_flush_timeouts: list(
            "--gro-flush-timeout",
            &args.gro_flush_timeout,
            d.gro_flush_timeouts,
            |t| parse_duration(t).map(|x: Duration| x),
        )?,
        defers: list("--defer", &args.defer, d.defers, uint)?,
        per_packet: !args.no_per_packet,
        adaptive: !args.no_adaptive,
        busy_poll: !args.no_busy_poll,
    };
    Ok(g.settings()?)
}

/// Run `coalescope tune`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let objective: Objective = args.objective.parse()?;
    let constraints = Constraints {
        max_cpu: args.max_cpu,
        max_irq_rate: args.max_irq_rate,
        max_drop_fraction: args.max_drop,
    };
    constraints.validate()?;
    if objective == Objective::CostQ95 && !args.desk {
        bail!("--objective cost-q95 needs --desk (the cost comes from the desk replay)");
    }
    let settings = grid(&args)?;
    let base = BaseOptions {
        seed: args.seed,
        packets: args.packets,
        ideal_host: args.ideal_host,
        host_toml: match &args.host {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("--host {}", p.display()))?,
            ),
            None => None,
        },
    };
    let classes: Vec<TrafficClass> = if let Some(rate) = args.rate {
        vec![TrafficClass::poisson(rate, &base)?]
    } else if let Some(path) = &args.scenario {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--scenario {}", path.display()))?;
        let spec = ScenarioSpec::from_toml_str(&text)
            .with_context(|| format!("--scenario {}", path.display()))?;
        let name = path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        vec![TrafficClass::scenario(
            &name,
            &format!("scenario {}", path.display()),
            spec,
            path.parent(),
            &base,
        )?]
    } else if let Some(path) = &args.events {
        let mut strings = Strings::new();
        let events = coalescope_timeline::io::load_events(path, &mut strings)
            .with_context(|| format!("--events {}", path.display()))?;
        TrafficClass::from_events(
            &format!("--events {}", path.display()),
            &events,
            &strings,
            args.stream.as_deref(),
            &base,
        )?
    } else if let Some(path) = &args.pcap {
        // Arrivals only: the frame number serves as the sequence (no payload format needed).
        let mut config = CaptureConfig::new(SeqSource::Frame);
        for m in &args.stream_map {
            config
                .stream_map
                .push(parse_stream_mapping(m).map_err(anyhow::Error::msg)?);
        }
        let mut strings = Strings::new();
        let (records, stats) = capture_to_ingress(path, &config, &mut strings)
            .with_context(|| format!("--pcap {}", path.display()))?;
        if stats.skipped() > 0 || stats.anomalies() > 0 {
            eprintln!(
                "--pcap {}: {} UDP datagrams used, {} packets skipped ({} anomalies): {}",
                path.display(),
                stats.records,
                stats.skipped(),
                stats.anomalies(),
                serde_json::to_string(&stats)?
            );
        }
        let events: Vec<Event> = records
            .iter()
            .map(|r| Event::md(r.stream, r.seq, r.t_ingress))
            .collect();
        TrafficClass::from_events(
            &format!("--pcap {}", path.display()),
            &events,
            &strings,
            args.stream.as_deref(),
            &base,
        )?
    } else {
        bail!("give a traffic class: --events FILE, --pcap FILE, --scenario FILE or --rate R");
    };
    let desk_scenario = if args.desk {
        let mut s = match &args.desk_scenario {
            Some(p) => DeskScenario::from_file(p)
                .with_context(|| format!("--desk-scenario {}", p.display()))?,
            None => DeskScenario::default_scenario()?,
        };
        if let Some(n) = args.desk_messages {
            s.set_synthetic_messages(n).context("--desk-messages")?;
        }
        Some(s)
    } else {
        None
    };
    let market = match &desk_scenario {
        Some(s) => Some(
            s.market
                .open(s.seed)
                .context("--desk: opening the market")?,
        ),
        None => None,
    };
    let desk = desk_scenario
        .as_ref()
        .zip(market.as_deref())
        .map(|(s, m)| DeskInput {
            scenario: s,
            base_dir: args.desk_scenario.as_deref().and_then(|p| p.parent()),
            market: m,
        });
    let report = tune(&TunePlan {
        classes: &classes,
        settings: &settings,
        constraints,
        objective,
        iface: &args.iface,
        desk,
    })?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("tune.json");
        std::fs::write(&path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.all_recommended() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render(report: &TuneReport) -> String {
    let mut out = String::new();
    for c in &report.classes {
        out.push_str(&render_class(c, report));
    }
    out
}

fn render_class(c: &ClassReport, report: &TuneReport) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    let desk = report.config.desk_stream.is_some();
    let mut header = vec![
        "", "setting", "p50", "p99", "p99.9", "CPU", "irq/s", "drops",
    ];
    if desk {
        header.push("cost q95 (bps)");
    }
    t.set_header(header);
    let rec = c.recommended.as_ref().map(|r| r.setting.as_str());
    // Frontier points with the same figures (e.g. an rx-frames the traffic never reaches)
    // print as one row naming the first and counting the others.
    let figures = |x: &Candidate| {
        (
            x.p50_ns,
            x.p99_ns,
            x.p999_ns,
            x.cpu.to_bits(),
            x.interrupt_rate_per_s.to_bits(),
            x.dropped,
            x.cost_q95_bps.map(f64::to_bits),
        )
    };
    let mut groups: Vec<(&Candidate, usize, bool)> = Vec::new();
    for x in &c.frontier {
        let is_rec = Some(x.setting.as_str()) == rec;
        match groups.last_mut() {
            Some((first, n, r)) if figures(first) == figures(x) => {
                *n += 1;
                *r |= is_rec;
            }
            _ => groups.push((x, 0, is_rec)),
        }
    }
    for (x, same, is_rec) in groups {
        let ns = |v: Option<i64>| v.map_or("-".into(), |v| format_ns(v as f64));
        let mark = if is_rec {
            "►"
        } else if x.meets_constraints {
            ""
        } else {
            "✗"
        };
        let mut row = vec![
            mark.to_string(),
            if same == 0 {
                x.setting.clone()
            } else {
                format!("{} (+{same} same)", x.setting)
            },
            ns(x.p50_ns),
            ns(x.p99_ns),
            ns(x.p999_ns),
            format!("{:.1} %", x.cpu * 100.0),
            format!("{:.0}", x.interrupt_rate_per_s),
            x.dropped.to_string(),
        ];
        if desk {
            row.push(x.cost_q95_bps.map_or("-".into(), |v| format!("{v:.2}")));
        }
        t.add_row(row);
    }
    let mut out = format!(
        "Class {} ({}, {} packets): {} of {} candidates on the frontier of {} (► recommended, ✗ misses a constraint)\n{t}\n",
        c.class,
        c.source,
        c.packets,
        c.frontier.len(),
        c.candidates.len(),
        report.config.frontier_axes.join(" × "),
    );
    match &c.recommended {
        Some(r) => {
            out.push_str(&format!(
                "Recommended: {} (p99 {}, {}, {})\n",
                r.setting,
                r.p99_ns.map_or("-".into(), |v| format_ns(v as f64)),
                format_cpu(r.cpu),
                format_rate(r.interrupt_rate_per_s)
            ));
            if let Some(e) = &r.ethtool {
                out.push_str(&format!("  {e}\n"));
            }
            for s in &r.sysfs {
                out.push_str(&format!("  {s}\n"));
            }
            if let Some(n) = &r.nic_set {
                out.push_str(&format!("  {n}\n"));
            }
            if let Some(b) = &r.busy_poll {
                out.push_str(&format!("  {b}\n"));
            }
        }
        None => out.push_str("Recommended: none\n"),
    }
    out.push_str(&format!("Why: {}\n\n", c.why));
    out
}
