//! `coalescope analyze`: distortion metrics (SPEC §4) over timeline tables or captures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coalescope_capture::{
    join_captures, parse_stream_mapping, CaptureConfig, CaptureSummary, SeqSource, SeqSourceKind,
    SeqSpec,
};
use coalescope_metrics::{
    feed, parse_settings, Analyzer, Branch, BranchesReport, CaptureAnomalies, Config, ConfigError,
    GroupBy, HighBdc, Inputs, QuantileMode, Report,
};
use coalescope_timeline::io::{load_events, write_rows, Compression};
use coalescope_timeline::{parse_duration, Duration, Strings};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use crate::progress;

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
mddr_q99 >> 1 means the tail of the gaps dilates.

Branches and cost (SPEC 5.1), with --parents:
  coalescope analyze --events events.parquet --orders orders.parquet --fills fills.parquet \\
      --parents parents.parquet --delta-stale 500us --catchup-window 1s --catchup-x 2 \\
      --branches-out branches.csv
Each parent is LATE-RECOVERY (a stale md event of its symbol, t_app - t_ingress >
--delta-stale, delivered in [t_start, t_deadline) found it behind schedule and its fills in
the next --catchup-window beat --catchup-x times the schedule's pace), else BURST-SYNC
(strictly more than half of its classified children emitted in high-BDC intervals), else
TIMELY (a classified child), else unclassified (no_children, no_classified_child). Its cost
C is implementation shortfall with opportunity cost on the unfilled quantity, in bps
(positive = cost); parents without m0/mT or with qty <= 0 are left out (cost_undefined).
Per branch: n, p, mean, nearest-rank q50/q95/q99 of C (exact), completion, and
E[C] = sum p_b C_b, overall and per strategy. --branches-out writes one row per parent
(parent_id, strategy, branch, reason, cost_bps, filled, qty, m0, mT, ...).";

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
    /// `parents` tables: adds the branches and cost of SPEC 5.1 (`branches` in --json).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub parents: Vec<PathBuf>,
    /// Write one row per parent (branch, reason, cost_bps, filled, qty, ...) (.csv or
    /// .parquet); needs --parents.
    #[arg(long, value_name = "FILE", requires = "parents")]
    pub branches_out: Option<PathBuf>,
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
    /// Write DIR/analysis.json (what --json prints) and DIR/distributions.json (per md
    /// group: delivery-delay CDF, gap histograms on power-of-two bins, BDC per interval),
    /// the inputs of `coalescope report --from DIR` (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Write the per-interval BDC series (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub intervals: Option<PathBuf>,
    /// Write the feature contract per bucket x group (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// Parquet page compression of the written tables: uncompressed, snappy, zstd, lz4,
    /// gzip or brotli (CSV output ignores it).
    #[arg(long, value_name = "CODEC", default_value_t = Compression::default())]
    pub compression: Compression,
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
    #[command(flatten)]
    pub flags: CaptureFlags,
}

/// How a capture's packets become ingress records: the sequence number and the stream
/// names (shared by `analyze --pcap` and `join`).
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureFlags {
    /// Where each packet's sequence number comes from: `payload` (the field given by
    /// --seq-offset/--seq-width/--seq-endian) or `frame` (the packet's 1-based frame number
    /// in its file, like tshark's frame.number, for payloads that carry none; one capture
    /// file only; the seq flags are then unused). Either way only UDP datagrams of a known
    /// stream become records.
    #[arg(long, default_value = "payload", value_name = "payload|frame")]
    pub seq_source: SeqSourceKind,
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

impl CaptureFlags {
    /// The capture configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<CaptureConfig> {
        let spec = SeqSpec::from_parts(self.seq_offset, self.seq_width, &self.seq_endian)
            .map_err(|e| anyhow::anyhow!("--seq-offset/--seq-width/--seq-endian: {e}"))?;
        let mut config = CaptureConfig::new(SeqSource::new(self.seq_source, spec));
        for m in &self.stream_map {
            config
                .stream_map
                .push(parse_stream_mapping(m).map_err(|e| anyhow::anyhow!("--stream-map: {e}"))?);
        }
        Ok(config)
    }
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
    /// Branches: an md event is stale when t_app - t_ingress exceeds this (>= 0).
    #[arg(long, default_value = "500us", value_parser = parse_duration)]
    pub delta_stale: Duration,
    /// Branches: the catch-up window after a stale event (> 0).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub catchup_window: Duration,
    /// Branches: catch-up means fills in the window above X times the schedule's pace.
    #[arg(long, default_value_t = 2.0, value_name = "X")]
    pub catchup_x: f64,
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
            delta_stale: self.delta_stale,
            catchup_window: self.catchup_window,
            catchup_x: self.catchup_x,
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
    // Branches need parents; without them the stale events are dead weight.
    cfg.branches = !args.parents.is_empty();
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
    let mut report = analyzer.finish(&strings);
    if report.counts.md + report.counts.ctl == 0 {
        match &capture {
            Some(c) => bail!(
                "no usable events in the input: the captures gave none ({}){}",
                c.describe(),
                if args.events.is_empty() {
                    ""
                } else {
                    ", and the events files hold none"
                }
            ),
            None => bail!("no usable events in the input: the events files hold none"),
        }
    }
    report.anomalies.capture = capture.as_ref().map(capture_anomalies);
    if let Some(path) = &args.out {
        write_rows(path, &report.groups, args.compression)
            .with_context(|| format!("writing groups to {}", path.display()))?;
    }
    if let Some(path) = &args.intervals {
        write_rows(path, analyzer.intervals(&strings), args.compression)
            .with_context(|| format!("writing intervals to {}", path.display()))?;
    }
    if let Some(path) = &args.features {
        write_rows(path, analyzer.features(&strings), args.compression)
            .with_context(|| format!("writing features to {}", path.display()))?;
    }
    if let Some(path) = &args.branches_out {
        let rows = report.branches.as_ref().map_or(&[][..], |b| &b.rows[..]);
        write_rows(path, rows, args.compression)
            .with_context(|| format!("writing branches to {}", path.display()))?;
    }
    let output = AnalyzeOutput {
        report: &report,
        capture: capture.as_ref(),
    };
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, json) in [
            ("analysis.json", serde_json::to_string_pretty(&output)?),
            (
                "distributions.json",
                serde_json::to_string_pretty(&analyzer.distributions(&strings))?,
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, format!("{json}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        if let Some(cap) = &capture {
            print!("{}", render_capture(cap));
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
    if let Some(b) = &report.branches {
        out.push_str(&render_branches(b));
    }
    let nonzero: Vec<String> = report
        .anomalies
        .nonzero()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if nonzero.is_empty() {
        out.push_str("Anomalies: none\n");
    } else {
        out.push_str(&format!("Anomalies: {}\n", nonzero.join(", ")));
    }
    out
}

/// The human form of the branches section: per scope (all parents, then each strategy)
/// one row per branch, then E[C], the parents left out and the join anomalies.
pub fn render_branches(b: &BranchesReport) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "strategy",
        "branch",
        "n",
        "p",
        "C mean bps",
        "q50",
        "q95",
        "q99",
        "completion",
    ]);
    let scopes = std::iter::once(("(all)".to_string(), &b.overall))
        .chain(b.by_strategy.iter().map(|s| (key(&s.strategy), &s.summary)));
    let mut expected = Vec::new();
    let mut left_out = Vec::new();
    for (name, summary) in scopes {
        for branch in Branch::ALL {
            let st = summary.branch(branch);
            t.add_row([
                name.clone(),
                branch.as_str().to_string(),
                st.n.to_string(),
                num(st.p, 3),
                num(st.cost_mean_bps, 2),
                num(st.cost_q50_bps, 2),
                num(st.cost_q95_bps, 2),
                num(st.cost_q99_bps, 2),
                num(st.completion, 3),
            ]);
        }
        expected.push(format!("{name} {}", num(summary.expected_cost_bps, 2)));
        let u = &summary.unclassified;
        left_out.push(format!(
            "{name} no_children={} no_classified_child={} cost_undefined={}",
            u.no_children, u.no_classified_child, u.cost_undefined
        ));
    }
    let c = &b.config;
    let a = &b.anomalies;
    format!(
        "Branches and cost per parent (delta_stale {}, catch-up {} x{}; C in bps, nearest-rank \
         exact quantiles):\n{t}\nE[C] bps: {}\nLeft out: {}\nParent anomalies: \
         overfilled_parents={} duplicate_parent_id={} orders_without_parent={}\n",
        Duration::from_nanos(c.delta_stale_ns),
        Duration::from_nanos(c.catchup_window_ns),
        c.catchup_x,
        expected.join("; "),
        left_out.join("; "),
        a.overfilled_parents,
        a.duplicate_parent_id,
        a.orders_without_parent
    )
}

/// The `analyze --json` object: the report, plus the capture summary when captures
/// were read.
#[derive(Serialize)]
struct AnalyzeOutput<'a> {
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<&'a CaptureSummary>,
}

/// The report's view of the capture anomalies (metrics does not depend on capture).
fn capture_anomalies(c: &CaptureSummary) -> CaptureAnomalies {
    CaptureAnomalies {
        app_without_capture: c.join.app_without_capture,
        capture_without_app: c.join.undelivered,
        duplicate_capture_seq: c.join.capture_duplicates,
        duplicate_app_seq: c.join.app_duplicates,
        capture_anomalies: c.anomalies,
    }
}

/// The human form of a capture summary: totals, the join, and non-zero causes.
pub fn render_capture(c: &CaptureSummary) -> String {
    let j = &c.join;
    let mut out = format!(
        "Capture: {} file(s), {} packets, {} UDP records; joined {} with the app log \
         ({} app records): {} never delivered, {} app records without a capture packet\n",
        c.files,
        c.packets,
        c.udp_records,
        j.matched,
        j.app_records,
        j.undelivered,
        j.app_without_capture
    );
    let nonzero: Vec<String> = c
        .causes()
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

/// Read every capture, join it with the app log by (stream, seq), and feed the events.
fn feed_captures(
    args: &CaptureArgs,
    analyzer: &mut Analyzer,
    strings: &mut Strings,
) -> anyhow::Result<CaptureSummary> {
    let Some(app_log) = &args.app_log else {
        bail!("--pcap needs --app-log FILE (the events table holding t_app_ns)");
    };
    let config = args.flags.config()?;
    let app_events = load_events(app_log, strings)
        .with_context(|| format!("reading the app log {}", app_log.display()))?;
    let bar = progress::bar("capture");
    let summary = join_captures(&args.pcap, &config, &app_events, strings, |batch, _| {
        for event in batch {
            analyzer.update_event(event);
        }
        if let Some(b) = &bar {
            b.inc(batch.len() as u64);
        }
        Ok(())
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(summary)
}
