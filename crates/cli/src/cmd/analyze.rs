//! `coalescope analyze`: distortion metrics (SPEC §4) over timeline tables or captures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_capture::{
    for_each_ingress, parse_stream_mapping, CaptureConfig, JoinReport, Joiner, SeqSpec,
};
use coalescope_metrics::{
    feed, parse_settings, Analyzer, Config, ConfigError, GroupBy, HighBdc, Inputs, QuantileMode,
    Report,
};
use coalescope_timeline::io::load_events;
use coalescope_timeline::{parse_duration, Duration, Strings};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::progress;
use crate::rows::write_rows;

const EXAMPLES: &str = "\
Examples:
  coalescope analyze --events day1.parquet day2.parquet --orders orders.csv --fills fills.csv
  coalescope analyze --events events.csv --by symbol --bucket 1m --json
  coalescope analyze --events events.parquet -o groups.csv --intervals bdc.csv --features features.csv \\
      --nic-config rx_usecs=50,rx_frames=0

Quantiles: by default (--quantiles sketch) exact nearest-rank up to 65,536 values per
series, then a log-linear histogram with at most 0.79 % relative error (the output says
which); --quantiles exact keeps every value (memory grows with the input) and matches
nearest-rank exactly.

Gap profile per group: mddr_q50 and mddr_q99 (Q50 and Q99 of app gaps over ingress gaps)
and gap_compression (share of app gaps <= --compress-gap minus that share on the wire).
mddr_q50 << 1 with gap_compression > 0 means batching packs updates back to back;
mddr_q99 >> 1 means the tail of the gaps dilates.";

/// Flags of `coalescope analyze`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// `events` tables (CSV or Parquet; several allowed, e.g. one per day or host).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub events: Vec<PathBuf>,
    /// `orders` tables (child-order emits).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub orders: Vec<PathBuf>,
    /// `fills` tables.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub fills: Vec<PathBuf>,
    /// `parents` tables.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub parents: Vec<PathBuf>,
    #[command(flatten)]
    pub capture: CaptureArgs,
    #[command(flatten)]
    pub params: MetricParams,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write the groups table (.csv or .parquet).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the per-interval BDC series (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub intervals: Option<PathBuf>,
    /// Write the feature contract per bucket x group (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// Exit 1 when any group's MDDR exceeds this value (a gate for CI or canaries).
    #[arg(long, value_name = "X")]
    pub fail_mddr_above: Option<f64>,
}

/// The capture input: packet captures as the ingress timeline, joined with an app log.
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Packet captures (pcap or pcapng) giving the ingress timeline.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "app_log")]
    pub pcap: Vec<PathBuf>,
    /// The application log: an `events` table holding `t_app_ns`, joined by (stream, seq).
    #[arg(long, value_name = "FILE")]
    pub app_log: Option<PathBuf>,
    /// Byte offset of the sequence number in the UDP payload (MoldUDP64: 10).
    #[arg(long, default_value_t = 0)]
    pub seq_offset: usize,
    /// Width of the sequence number in bytes: 1, 2, 4 or 8.
    #[arg(long, default_value_t = 8)]
    pub seq_width: u8,
    /// Byte order of the sequence number: le or be (MoldUDP64: be).
    #[arg(long, default_value = "le")]
    pub seq_endian: String,
    /// Name a UDP destination: ADDR:PORT=NAME (repeatable). When given, other
    /// destinations are skipped and counted; otherwise the stream is "ADDR:PORT".
    #[arg(long = "stream-map", value_name = "ADDR:PORT=NAME")]
    pub stream_map: Vec<String>,
}

/// Metric parameters shared by `analyze` and `demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct MetricParams {
    /// Group md metrics by any subset of stream,symbol,venue (`none` pools everything).
    #[arg(long, default_value = "stream,symbol,venue")]
    pub by: String,
    /// Time buckets (e.g. 1s, 1m, 1h); none by default.
    #[arg(long, value_parser = parse_duration)]
    pub bucket: Option<Duration>,
    /// BDC window w (100us..=500us).
    #[arg(long, default_value = "250us", value_parser = parse_duration)]
    pub window: Duration,
    /// BDC interval I (a multiple of w).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// High-BDC threshold: median | q:0.75 | abs:0.05.
    #[arg(long, default_value = "median")]
    pub high_bdc: String,
    /// Markout horizons for CTE.
    #[arg(long, default_value = "1s,5s,30s", value_delimiter = ',', value_parser = parse_duration)]
    pub horizons: Vec<Duration>,
    /// DCCD pairing horizon H.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub dccd_horizon: Duration,
    /// How far input may be out of time order (`none` = unbounded, exact, memory grows).
    #[arg(long, default_value = "100ms")]
    pub reorder_horizon: String,
    /// The gap g of gap_compression (share of gaps <= g, app minus ingress).
    #[arg(long, default_value = "1us", value_parser = parse_duration)]
    pub compress_gap: Duration,
    /// Quantiles: exact (every value kept, memory O(n)) or sketch (exact up to 65,536
    /// values per series, then <= 0.79 % relative error).
    #[arg(long, default_value = "sketch", value_name = "exact|sketch", value_parser = parse_quantile_mode)]
    pub quantiles: QuantileMode,
    /// Skip DCCD (md transitions vs ctl events): saves its pairing buffer.
    #[arg(long)]
    pub no_dccd: bool,
    /// Coalescing settings to copy into the feature table, e.g. rx_usecs=50,rx_frames=0.
    #[arg(long, value_name = "K=V,...")]
    pub nic_config: Option<String>,
}

fn parse_quantile_mode(text: &str) -> Result<QuantileMode, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// A metrics parameter error, naming the flag that sets the parameter.
fn flag_error(e: ConfigError) -> anyhow::Error {
    match e.flag() {
        Some(flag) => anyhow::anyhow!("{flag}: {e}"),
        None => anyhow::anyhow!("{e}"),
    }
}

impl MetricParams {
    /// The metrics configuration these flags describe (validated by the library).
    pub fn config(&self) -> anyhow::Result<Config> {
        let by: GroupBy = self.by.parse().map_err(flag_error)?;
        let high_bdc: HighBdc = self
            .high_bdc
            .parse()
            .map_err(|e| anyhow::anyhow!("--high-bdc: {e}"))?;
        let reorder_horizon = if self.reorder_horizon.eq_ignore_ascii_case("none") {
            None
        } else {
            Some(
                parse_duration(&self.reorder_horizon)
                    .map_err(|e| anyhow::anyhow!("--reorder-horizon: {e}"))?,
            )
        };
        let settings = match &self.nic_config {
            Some(text) => parse_settings(text).map_err(flag_error)?,
            None => Vec::new(),
        };
        let cfg = Config {
            window: self.window,
            interval: self.interval,
            by,
            bucket: self.bucket,
            high_bdc,
            markout_horizons: self.horizons.clone(),
            dccd_horizon: self.dccd_horizon,
            reorder_horizon,
            quantiles: self.quantiles,
            compress_gap: self.compress_gap,
            settings,
            dccd: !self.no_dccd,
            ..Config::default()
        };
        cfg.validate().map_err(flag_error)?;
        Ok(cfg)
    }
}

/// Run `coalescope analyze`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.events.is_empty() && args.capture.pcap.is_empty() {
        bail!("nothing to analyze: give --events FILE... or --pcap FILE... --app-log FILE (see --help)");
    }
    let mut cfg = args.params.config()?;
    // Markouts (and CTE) need fills; without them the quote history is dead weight.
    cfg.markouts = !args.fills.is_empty();
    let inputs = Inputs {
        events: args.events.clone(),
        orders: args.orders.clone(),
        fills: args.fills.clone(),
        parents: args.parents.clone(),
    };
    let mut strings = Strings::new();
    let mut analyzer = Analyzer::new(cfg).map_err(flag_error)?;
    let capture = if args.capture.pcap.is_empty() {
        None
    } else {
        Some(feed_captures(&args.capture, &mut analyzer, &mut strings)?)
    };
    let bar = progress::bar("reading");
    let tick = |rows: u64| {
        if let Some(b) = &bar {
            b.inc(rows);
        }
    };
    feed(&inputs, &mut analyzer, &mut strings, &tick)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = analyzer.finish(&strings);
    if report.counts.md + report.counts.ctl == 0 {
        bail!("no usable events in the input (the files hold no events, or no capture packet was usable)");
    }
    if let Some(path) = &args.out {
        write_rows(path, &report.groups)
            .with_context(|| format!("writing groups to {}", path.display()))?;
    }
    if let Some(path) = &args.intervals {
        write_rows(path, &analyzer.intervals(&strings))
            .with_context(|| format!("writing intervals to {}", path.display()))?;
    }
    if let Some(path) = &args.features {
        write_rows(path, &analyzer.features(&strings))
            .with_context(|| format!("writing features to {}", path.display()))?;
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let (Some(cap), Some(obj)) = (&capture, value.as_object_mut()) {
            if let Some(anomalies) = obj.get_mut("anomalies").and_then(|a| a.as_object_mut()) {
                anomalies.insert(
                    "app_without_capture".into(),
                    cap.join.app_without_capture.into(),
                );
                anomalies.insert("capture_without_app".into(), cap.join.undelivered.into());
                anomalies.insert(
                    "duplicate_capture_seq".into(),
                    cap.join.capture_duplicates.into(),
                );
                anomalies.insert("duplicate_app_seq".into(), cap.join.app_duplicates.into());
                anomalies.insert("capture_anomalies".into(), cap.anomalies.into());
            }
            obj.insert("capture".into(), cap.to_json());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if let Some(cap) = &capture {
            print!("{}", cap.render());
        }
        print!("{}", render_report(&report));
    }
    Ok(gate(&report, args.fail_mddr_above))
}

fn gate(report: &Report, fail_mddr_above: Option<f64>) -> ExitCode {
    let Some(limit) = fail_mddr_above else {
        return ExitCode::SUCCESS;
    };
    let breached: Vec<_> = report
        .groups
        .iter()
        .filter(|g| g.mddr.is_some_and(|m| m > limit))
        .collect();
    if breached.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "coalescope: {} group(s) have MDDR above {limit}",
        breached.len()
    );
    ExitCode::from(1)
}

fn key(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(null)".to_string())
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn ns(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| Duration::from_nanos(x).to_string())
}

/// The human form of a report: groups, coupling, cost and non-zero anomalies.
pub fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "stream",
        "symbol",
        "venue",
        "md",
        "delivered",
        "MDDR",
        "MDDR q50",
        "MDDR q99",
        "gap compr",
        "BDC>thr",
        "BDC max",
        "BDC_ing med",
        "DCCD",
        "delay p50",
        "p99",
        "p99.9",
        "max",
    ]);
    for g in &report.groups {
        t.add_row([
            key(&g.stream),
            key(&g.symbol),
            key(&g.venue),
            g.n_md.to_string(),
            g.n_md_delivered.to_string(),
            num(g.mddr, 2),
            num(g.mddr_q50, 2),
            num(g.mddr_q99, 2),
            g.gap_compression
                .map_or_else(|| "-".to_string(), |c| format!("{c:+.3}")),
            format!("{}/{}", g.bdc_high_intervals, g.bdc_intervals),
            num(g.bdc_max, 3),
            num(g.bdc_ingress_median, 3),
            num(g.dccd, 3),
            ns(g.delay_p50_ns),
            ns(g.delay_p99_ns),
            ns(g.delay_p999_ns),
            ns(g.delay_max_ns),
        ]);
    }
    out.push_str(&format!(
        "Delivery distortion by group (quantiles {}; gap compression at <= {}):\n{t}\n",
        report.quantiles,
        Duration::from_nanos(report.config.compress_gap_ns)
    ));
    if !report.coupling.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header([
            "stream",
            "symbol",
            "venue",
            "strategy",
            "DBC",
            "DBC_ingress",
            "DBC_excess",
            "windows",
        ]);
        for c in &report.coupling {
            t.add_row([
                key(&c.stream),
                key(&c.symbol),
                key(&c.venue),
                key(&c.strategy),
                num(c.dbc, 3),
                num(c.dbc_ingress, 3),
                num(c.dbc_excess, 3),
                c.n_windows.to_string(),
            ]);
        }
        out.push_str(&format!("Decision-burst coupling:\n{t}\n"));
    }
    if !report.cost.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header([
            "strategy", "symbol", "venue", "tau", "CTE bps", "n high", "n low",
        ]);
        for c in &report.cost {
            for (tau, v) in &c.taus.0 {
                t.add_row([
                    key(&c.strategy),
                    key(&c.symbol),
                    key(&c.venue),
                    tau.clone(),
                    num(v.cte_bps, 2),
                    v.n_high.to_string(),
                    v.n_low.to_string(),
                ]);
            }
        }
        out.push_str(&format!(
            "Coalescing tax estimate (markout high-BDC minus low-BDC):\n{t}\n"
        ));
    }
    let anomalies = serde_json::to_value(report.anomalies).unwrap_or_default();
    let nonzero: Vec<String> = anomalies
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        })
        .unwrap_or_default();
    if nonzero.is_empty() {
        out.push_str("Anomalies: none\n");
    } else {
        out.push_str(&format!("Anomalies: {}\n", nonzero.join(", ")));
    }
    out
}

/// What reading and joining the captures found.
struct CaptureSummary {
    files: usize,
    packets: u64,
    records: u64,
    skipped: u64,
    anomalies: u64,
    detail: Vec<(&'static str, u64)>,
    join: JoinReport,
}

impl CaptureSummary {
    fn to_json(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("files".into(), self.files.into());
        obj.insert("packets".into(), self.packets.into());
        obj.insert("udp_records".into(), self.records.into());
        obj.insert("skipped".into(), self.skipped.into());
        for (k, v) in &self.detail {
            obj.insert((*k).into(), (*v).into());
        }
        let j = &self.join;
        obj.insert("matched".into(), j.matched.into());
        obj.insert("app_records".into(), j.app_records.into());
        obj.insert("undelivered".into(), j.undelivered.into());
        obj.insert("app_without_capture".into(), j.app_without_capture.into());
        obj.insert("negative_delay".into(), j.negative_delay.into());
        serde_json::Value::Object(obj)
    }

    fn render(&self) -> String {
        let j = &self.join;
        let mut out = format!(
            "Capture: {} file(s), {} packets, {} UDP records; joined {} with the app log \
             ({} app records): {} never delivered, {} app records without a capture packet\n",
            self.files,
            self.packets,
            self.records,
            j.matched,
            j.app_records,
            j.undelivered,
            j.app_without_capture
        );
        let nonzero: Vec<String> = self
            .detail
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !nonzero.is_empty() {
            out.push_str(&format!(
                "Capture anomalies and skips: {}\n",
                nonzero.join(", ")
            ));
        }
        out
    }
}

/// Read every capture, join it with the app log by (stream, seq), and feed the events.
fn feed_captures(
    args: &CaptureArgs,
    analyzer: &mut Analyzer,
    strings: &mut Strings,
) -> anyhow::Result<CaptureSummary> {
    let Some(app_log) = &args.app_log else {
        bail!("--pcap needs --app-log FILE (the events table holding t_app_ns)");
    };
    let spec = format!("{}:{}:{}", args.seq_offset, args.seq_width, args.seq_endian);
    let seq: SeqSpec = spec
        .parse()
        .map_err(|e| anyhow::anyhow!("--seq-offset/--seq-width/--seq-endian: {e}"))?;
    let mut config = CaptureConfig::new(seq);
    for m in &args.stream_map {
        config
            .stream_map
            .push(parse_stream_mapping(m).map_err(|e| anyhow::anyhow!("--stream-map: {e}"))?);
    }
    let app_events = load_events(app_log, strings)
        .with_context(|| format!("reading the app log {}", app_log.display()))?;
    let mut joiner = Joiner::new(&app_events);
    let mut summary = CaptureSummary {
        files: args.pcap.len(),
        packets: 0,
        records: 0,
        skipped: 0,
        anomalies: 0,
        detail: Vec::new(),
        join: JoinReport::default(),
    };
    let mut totals = [0u64; 11];
    let bar = progress::bar("capture");
    for path in &args.pcap {
        let stats = for_each_ingress(path, &config, strings, |record| {
            if let Some(event) = joiner.push(record) {
                analyzer.update_event(&event);
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        })
        .with_context(|| format!("reading capture {}", path.display()))?;
        summary.packets += stats.capture.packets;
        summary.records += stats.records;
        summary.skipped += stats.skipped();
        summary.anomalies += stats.anomalies();
        let c = &stats.capture;
        let add = [
            c.truncated,
            c.non_monotonic,
            c.unknown_interface,
            c.malformed_packet_blocks,
            stats.no_timestamp,
            stats.unsupported_link_type,
            stats.not_ip + stats.not_udp,
            stats.fragments,
            stats.malformed_headers,
            stats.unmapped_destination,
            stats.short_payload,
        ];
        for (t, a) in totals.iter_mut().zip(add) {
            *t += a;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let names = [
        "truncated_packets",
        "non_monotonic_timestamps",
        "unknown_interface",
        "malformed_packet_blocks",
        "no_timestamp",
        "unsupported_link_type",
        "not_udp",
        "ip_fragments",
        "malformed_headers",
        "unmapped_destination",
        "short_payload",
    ];
    summary.detail = names.into_iter().zip(totals).collect();
    summary.join = joiner.finish();
    Ok(summary)
}
