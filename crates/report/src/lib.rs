//! # coalescope-report
//!
//! One self-contained HTML file from the results `analyze`, `desk`, `replay`, `control`
//! and `tune` write into a directory: inline SVG plots, inline CSS, a few lines of plain
//! JavaScript for the interactive latency-path page, and nothing fetched from anywhere
//! (it works offline from `file://`).
//!
//! The report recomputes no metric: every number it draws comes from the files (or, for
//! the latency page, from `coalescope_model`). A missing file leaves its section with a
//! note naming the command that writes it.
//!
//! ```
//! use coalescope_report::{render, Inputs, LatencyData, latency::default_cut_through};
//! let page = LatencyData::new(default_cut_through()).unwrap();
//! let html = render(&Inputs::default(), &page).unwrap();
//! assert!(html.html.contains("coalescope replay --out DIR"));
//! assert_eq!(html.charts, 0);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod html;
pub mod inputs;
pub mod latency;
pub mod sections;
pub mod svg;

use std::path::{Path, PathBuf};

pub use inputs::{load, Inputs};
pub use latency::LatencyData;

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON file does not hold what its producer writes.
    #[error("{path}: {field}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The field named by the parser, or the position.
        field: String,
        /// The parser's message (with line and column).
        source: serde_json::Error,
    },
    /// A CSV file does not hold what its producer writes.
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line of the offending record.
        line: u64,
        /// The parser's message (names the field).
        message: String,
    },
    /// The latency model rejected an input (its field is named).
    #[error("latency page: {0}")]
    Model(#[from] coalescope_model::ModelError),
    /// The embedded data could not be encoded.
    #[error("encoding the latency data: {0}")]
    Encode(serde_json::Error),
    /// The report could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A rendered report.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The HTML document.
    pub html: String,
    /// Charts with data marks in it.
    pub charts: usize,
}

const CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}\
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}\
h3{font-size:15px}code{background:#f3f3f3;padding:1px 3px}\
.missing{color:#a40}svg.chart{display:block;margin:8px 0}\
ol.cats{font-size:12px;columns:2}nav a{margin-right:12px}\
.toggles label{margin-right:16px}.budget{margin:12px 0}\
.stage{display:flex;align-items:center;font-size:12px;margin:2px 0}\
.sname{width:330px}.bar{flex:1;background:#eee;height:14px;margin:0 8px;position:relative}\
.fill{display:block;height:14px;background:#1f77b4;transition:width .3s}.sns{width:200px}\
.lane{display:flex;align-items:center;font-size:12px;margin:6px 0}.lname{width:150px}\
.track{flex:1;height:18px;background:#eee;position:relative}\
.arrived{position:absolute;left:0;top:0;height:9px;background:#2ca02c;display:inline-block}\
.wire{position:absolute;left:0;top:9px;height:9px;background:#d62728;display:inline-block}\
.swatch{position:static;width:12px;height:10px;margin:0 4px}.key{font-size:12px}";

/// Render the report: every section from `inputs`, then the latency page.
pub fn render(inputs: &Inputs, latency: &LatencyData) -> Result<Rendered, ReportError> {
    let sections = [
        sections::delay_cdf(inputs.replay.as_ref()),
        sections::gap_histograms(inputs.distributions.as_deref()),
        sections::bdc_over_time(inputs.distributions.as_deref()),
        sections::dbc_cte(inputs.analysis.as_ref()),
        sections::branches(inputs.analysis.as_ref()),
        sections::states(inputs.states.as_deref(), inputs.replay.as_ref()),
        sections::tune(inputs.tune.as_ref()),
    ];
    let charts = sections.iter().map(|s| s.charts).sum();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <title>coalescope report</title><style>{CSS}</style></head>\n<body>\n<h1>coalescope report</h1>\n\
         <nav><a href=\"#delay-cdf\">delay</a><a href=\"#gaps\">gaps</a><a href=\"#bdc\">BDC</a>\
         <a href=\"#dbc-cte\">DBC/CTE</a><a href=\"#branches\">branches</a><a href=\"#states\">controller</a>\
         <a href=\"#tune\">tune</a><a href=\"#latency\">latency path</a></nav>\n"
    );
    for s in &sections {
        html.push_str(&s.html);
    }
    html.push_str(&latency.html()?);
    html.push_str("</body></html>\n");
    Ok(Rendered { html, charts })
}

/// Load `dir`, render, and write the report to `out`.
pub fn write_report(
    dir: &Path,
    latency: &LatencyData,
    out: &Path,
) -> Result<Rendered, ReportError> {
    let inputs = load(dir)?;
    let rendered = render(&inputs, latency)?;
    std::fs::write(out, &rendered.html).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(rendered)
}
