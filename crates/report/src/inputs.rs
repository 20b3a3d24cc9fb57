//! The result files `coalescope report --from DIR` reads, as the views the report needs.
//!
//! Each view names only the fields the plots use; other fields in the files are ignored,
//! so the producers may add fields freely. A missing file is `None` (its section says which
//! command writes it); a file that exists but does not parse is an error naming the file
//! and the field.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::ReportError;

/// `analysis.json`: what `analyze --out-dir`, `desk --out` and `demo` write.
pub const ANALYSIS: &str = "analysis.json";
/// `distributions.json`: delay CDF, gap bins and BDC intervals per md group.
pub const DISTRIBUTIONS: &str = "distributions.json";
/// `replay.json`: what `replay --out` and `demo` write.
pub const REPLAY: &str = "replay.json";
/// `states.csv`: the controller's state table (`control run --out`).
pub const STATES: &str = "states.csv";
/// `tune.json`: the advisor's frontiers and recommendations (`tune --out`).
pub const TUNE: &str = "tune.json";

/// Everything found in the directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// `analysis.json`.
    pub analysis: Option<Analysis>,
    /// `distributions.json`.
    pub distributions: Option<Vec<Distribution>>,
    /// `replay.json`.
    pub replay: Option<Replay>,
    /// `states.csv`.
    pub states: Option<Vec<StateRow>>,
    /// `tune.json`.
    pub tune: Option<Tune>,
}

/// The analysis report (metrics `Report`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Analysis {
    /// DBC per (md group, strategy).
    #[serde(default)]
    pub coupling: Vec<Coupling>,
    /// CTE per (strategy, symbol, venue).
    #[serde(default)]
    pub cost: Vec<CostRow>,
    /// Branches of SPEC §5.1 (absent without parents).
    #[serde(default)]
    pub branches: Option<Branches>,
}

/// One DBC row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Coupling {
    /// Stream of the md group.
    pub stream: Option<String>,
    /// Symbol of the md group.
    pub symbol: Option<String>,
    /// Venue of the md group.
    pub venue: Option<String>,
    /// Strategy.
    pub strategy: Option<String>,
    /// DBC on the app timeline.
    pub dbc: Option<f64>,
    /// DBC on the ingress timeline.
    pub dbc_ingress: Option<f64>,
    /// DBC - DBC_ingress.
    pub dbc_excess: Option<f64>,
}

/// One CTE row: per horizon label, the CTE in bps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CostRow {
    /// Strategy.
    pub strategy: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// Horizon label -> figures, in file order.
    pub taus: serde_json::Map<String, serde_json::Value>,
}

impl CostRow {
    /// `(horizon, cte_bps)` in file order; an entry without a number is skipped.
    pub fn cte(&self) -> Vec<(String, Option<f64>)> {
        self.taus
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.get("cte_bps").and_then(serde_json::Value::as_f64),
                )
            })
            .collect()
    }
}

/// `branches` of the analysis.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Branches {
    /// All parents.
    pub overall: BranchSummary,
}

/// Three branches and E[C].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BranchSummary {
    /// Parents with a branch and a defined cost.
    pub n: u64,
    /// TIMELY.
    pub timely: BranchStats,
    /// BURST-SYNC.
    pub burst_sync: BranchStats,
    /// LATE-RECOVERY.
    pub late_recovery: BranchStats,
    /// E[C] (bps).
    pub expected_cost_bps: Option<f64>,
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BranchStats {
    /// Parents in it.
    pub n: u64,
    /// Probability.
    pub p: Option<f64>,
    /// Mean cost (bps).
    pub cost_mean_bps: Option<f64>,
}

/// One md group's distributions (metrics `GroupDistribution`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Distribution {
    /// Stream.
    pub stream: Option<String>,
    /// Symbol.
    pub symbol: Option<String>,
    /// Venue.
    pub venue: Option<String>,
    /// Delay CDF.
    pub delay_cdf: Vec<CdfPoint>,
    /// Zero ingress gaps.
    pub ingress_zero_gaps: u64,
    /// Ingress gap bins.
    pub ingress_gaps: Vec<GapBin>,
    /// Zero app gaps.
    pub app_zero_gaps: u64,
    /// App gap bins.
    pub app_gaps: Vec<GapBin>,
    /// High-BDC threshold.
    pub bdc_threshold: Option<f64>,
    /// BDC per interval.
    pub intervals: Vec<Interval>,
}

/// A CDF point.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CdfPoint {
    /// Value (ns).
    pub value_ns: i64,
    /// Probability.
    pub p: f64,
}

/// A gap bin `[lo_ns, hi_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct GapBin {
    /// Lower edge (ns).
    pub lo_ns: i64,
    /// Upper edge (ns).
    pub hi_ns: i64,
    /// Gaps in the bin.
    pub count: u64,
}

/// One interval's BDC.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Interval {
    /// Interval start (ns).
    pub interval_start_ns: i64,
    /// BDC (null when the interval has no app timeline).
    pub bdc: Option<f64>,
    /// Above the group's threshold.
    pub high: Option<bool>,
}

/// The replay report.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Replay {
    /// Per setting, the delay CDF.
    #[serde(default)]
    pub delay_cdf: Vec<SettingCdf>,
    /// `--controller shadow`.
    #[serde(default)]
    pub shadow: Option<Arm>,
    /// `--controller canary` (and `demo`).
    #[serde(default)]
    pub canary: Option<Arm>,
}

/// One setting's delay CDF.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SettingCdf {
    /// The setting.
    pub setting: String,
    /// Its points.
    pub points: Vec<CdfPoint>,
}

/// A controller arm: its state timeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Arm {
    /// The setting it ran on.
    pub setting: String,
    /// State timeline.
    pub timeline: Timeline,
}

/// The controller's time per state and transitions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Timeline {
    /// Scope-ticks stepped.
    pub ticks: u64,
    /// Per state.
    pub states: Vec<StateTime>,
    /// Every transition.
    pub transitions: Vec<Transition>,
}

/// Share of time in one state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StateTime {
    /// State name.
    pub state: String,
    /// Share of scope-ticks.
    pub share: f64,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Transition {
    /// Scope.
    pub scope: String,
    /// Tick instant (ns).
    pub t_tick_ns: i64,
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
}

/// One row of the state table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StateRow {
    /// Scope.
    pub scope: String,
    /// Tick instant (ns).
    pub t_tick_ns: i64,
    /// State after the tick.
    pub state: String,
}

/// `tune.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Tune {
    /// One entry per traffic class.
    pub classes: Vec<TuneClass>,
}

/// One traffic class.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TuneClass {
    /// Class name.
    pub class: String,
    /// Pareto frontier.
    pub frontier: Vec<TunePoint>,
    /// Every candidate swept (with its `frontier` flag).
    #[serde(default)]
    pub candidates: Vec<TunePoint>,
    /// The recommended setting (absent when none meets the constraints).
    #[serde(default)]
    pub recommended: Option<Recommendation>,
}

/// One evaluated setting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TunePoint {
    /// Setting text.
    pub setting: String,
    /// p99 delivery delay (ns).
    pub p99_ns: f64,
    /// CPU (share of one core).
    pub cpu: f64,
    /// Interrupts per second.
    pub interrupt_rate_per_s: f64,
    /// On the frontier (candidates only).
    #[serde(default)]
    pub frontier: bool,
}

/// The recommendation of a class.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Recommendation {
    /// Setting text.
    pub setting: String,
    /// The ethtool command (`null` where there is no coalescing to set, e.g. busy-poll).
    #[serde(default)]
    pub ethtool: Option<String>,
    /// What to do instead when there is no ethtool command (busy-poll).
    #[serde(default)]
    pub busy_poll: Option<String>,
    /// One sentence of numbers.
    pub why: String,
}

/// Read every known file of `dir` (missing ones are `None`).
pub fn load(dir: &Path) -> Result<Inputs, ReportError> {
    Ok(Inputs {
        analysis: json(dir, ANALYSIS)?,
        distributions: json(dir, DISTRIBUTIONS)?,
        replay: json(dir, REPLAY)?,
        states: states(dir)?,
        tune: json(dir, TUNE)?,
    })
}

fn existing(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    path.is_file().then_some(path)
}

fn read(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn json<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, ReportError> {
    let Some(path) = existing(dir, name) else {
        return Ok(None);
    };
    let text = read(&path)?;
    parse_json(&text, &path).map(Some)
}

/// Parse one JSON file; the error names the file, the field (when serde names one) and
/// the line and column.
pub fn parse_json<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ReportError> {
    serde_json::from_str(text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        field: field_of(&source),
        source,
    })
}

/// The field a serde message quotes in backticks (`missing field `x``), else the
/// position only.
fn field_of(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    msg.split('`').nth(1).map_or_else(
        || format!("line {} column {}", e.line(), e.column()),
        |f| format!("field `{f}`"),
    )
}

fn states(dir: &Path) -> Result<Option<Vec<StateRow>>, ReportError> {
    let Some(path) = existing(dir, STATES) else {
        return Ok(None);
    };
    let text = read(&path)?;
    parse_states(&text, &path).map(Some)
}

/// Parse a state table (`scope,t_tick_ns,state,...`); errors name the line and column.
pub fn parse_states(text: &str, path: &Path) -> Result<Vec<StateRow>, ReportError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let csv_error = |e: csv::Error, headers: &[String]| {
        let column = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err
                .field()
                .and_then(|i| headers.get(i as usize))
                .map(|h| format!("column `{h}`: ")),
            _ => None,
        };
        ReportError::Csv {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: format!("{}{e}", column.unwrap_or_default()),
        }
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(e, &[]))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for record in reader.deserialize::<StateRow>() {
        rows.push(record.map_err(|e| csv_error(e, &headers))?);
    }
    Ok(rows)
}
