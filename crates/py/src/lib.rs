//! The native half of the Python package `coalescope` (PyO3); the package
//! (crates/py/python/coalescope) wraps these functions in its documented API.
//!
//! - `_analyze(events, orders, fills, parents, **options)` takes any object exposing the
//!   Arrow PyCapsule stream protocol (`__arrow_c_stream__`: pyarrow Tables and
//!   RecordBatchReaders, pandas and polars DataFrames), converts each table with
//!   timeline's Arrow reader — the column rules of `coalescope analyze`'s Parquet
//!   reader, no second conversion — runs the same [`Analyzer`] as the CLI and returns the
//!   `analyze --json` object as Python objects plus the groups, intervals and features
//!   tables as pyarrow Tables.
//! - `_partial` / `_merge` / `_finish`: the same analysis in two phases, the partial
//!   state as bytes (`Analyzer::to_partial_bytes`), for engines that aggregate per
//!   partition and merge (Spark's `mapInArrow`).
//! - `_sim(scenario, ...)`: the simulator's `events` table and interrupt log as pyarrow
//!   Tables; `_join(pcap, app_log, ...)`: `coalescope join` into a pyarrow Table.
//!
//! Every failure raises `coalescope.Error` (a `ValueError`) with the CLI's message, the
//! argument name standing where the CLI names a file. This crate is glue: options
//! become a metrics [`Config`] through the metrics crate's own parsers and validation,
//! tables become records through timeline, the analysis is the metrics crate's.

// Without the `python` feature (a plain `cargo build --workspace`) the crate is empty.
#![cfg(feature = "python")]

mod arrow_stream;
mod options;

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use coalescope_capture::{join_captures, parse_stream_mapping, CaptureConfig, SeqSource, SeqSpec};
use coalescope_metrics::{Analyzer, Config, ConfigError};
use coalescope_sim::{simulate_to_tables, QuantileMode, Scenario};
use coalescope_timeline::io::{
    events_to_batches, read_events_arrow, read_fills_arrow, read_orders_arrow, read_parents_arrow,
    rows_to_batches,
};
use coalescope_timeline::{Event, Strings, TimelineError};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::PyTable;

create_exception!(
    coalescope,
    Error,
    PyValueError,
    "A coalescope error: bad input data or a bad option (the message names the table, \
     column and row, or the option)."
);

/// The Python error of a timeline reader's error (the message names table, column, row).
fn read_error(e: TimelineError) -> PyErr {
    Error::new_err(e.to_string())
}

/// The Python error of a metrics configuration error, naming the option that sets it.
fn config_error(e: ConfigError) -> PyErr {
    match e.flag() {
        Some(flag) => Error::new_err(format!("{}: {e}", options::option_name(flag))),
        None => Error::new_err(e.to_string()),
    }
}

/// One table argument: its name (what errors call it) and the object holding it.
struct TableArg<'a, 'py> {
    name: &'static str,
    object: Option<&'a Bound<'py, PyAny>>,
}

/// Feed every given table into its own partial of `analyzer` and merge the partials in
/// the order events, orders, fills, parents: what `coalescope analyze` does with one
/// file per table.
fn feed_tables(
    tables: &[TableArg<'_, '_>],
    analyzer: &mut Analyzer,
    strings: &mut Strings,
) -> PyResult<()> {
    let fresh = analyzer.empty_partial();
    for table in tables {
        let Some(object) = table.object else { continue };
        let mut reader = arrow_stream::reader(table.name, object)?;
        let source = Path::new(table.name);
        let mut partial = fresh.clone();
        match table.name {
            "events" => read_events_arrow(source, &mut reader, strings, |batch, _| {
                for e in batch {
                    partial.update_event(e);
                }
            }),
            "orders" => read_orders_arrow(source, &mut reader, strings, |batch, _| {
                for o in batch {
                    partial.update_order(o);
                }
            }),
            "fills" => read_fills_arrow(source, &mut reader, |batch| {
                for f in batch {
                    partial.update_fill(f);
                }
            }),
            _ => read_parents_arrow(source, &mut reader, strings, |batch, _| {
                for p in batch {
                    partial.update_parent(p);
                }
            }),
        }
        .map_err(read_error)?;
        analyzer.merge(&partial).map_err(config_error)?;
    }
    Ok(())
}

/// A pyarrow Table of `batches`.
fn pyarrow_table<'py>(
    py: Python<'py>,
    (schema, batches): (SchemaRef, Vec<RecordBatch>),
) -> PyResult<Bound<'py, PyAny>> {
    PyTable::try_new(batches, schema)?.into_pyarrow(py)
}

/// A serde value as Python objects (through JSON: the CLI's `--json` text).
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::new_err(format!("serializing the result: {e}")))?;
    py.import("json")?.call_method1("loads", (json,))
}

/// The tables given, in CLI order.
fn table_args<'a, 'py>(
    events: Option<&'a Bound<'py, PyAny>>,
    orders: Option<&'a Bound<'py, PyAny>>,
    fills: Option<&'a Bound<'py, PyAny>>,
    parents: Option<&'a Bound<'py, PyAny>>,
) -> [TableArg<'a, 'py>; 4] {
    [
        TableArg {
            name: "events",
            object: events,
        },
        TableArg {
            name: "orders",
            object: orders,
        },
        TableArg {
            name: "fills",
            object: fills,
        },
        TableArg {
            name: "parents",
            object: parents,
        },
    ]
}

/// An analyzer for `options`: markouts run when fills are given (or `markouts=True`),
/// branches when parents are (or `branches=True`).
fn analyzer_for(
    options: Option<&Bound<'_, PyDict>>,
    fills: bool,
    parents: bool,
) -> PyResult<Analyzer> {
    let opts = options::config(options)?;
    let mut cfg: Config = opts.config;
    cfg.markouts = opts.markouts.unwrap_or(fills);
    cfg.branches = opts.branches.unwrap_or(parents);
    Analyzer::new(cfg).map_err(config_error)
}

/// The finished analysis: `(report dict, groups, intervals, features)`, the tables as
/// pyarrow Tables. Errors when no event was analysed (the CLI's message).
fn outputs<'py>(
    py: Python<'py>,
    analyzer: &Analyzer,
    strings: &Strings,
) -> PyResult<Bound<'py, PyAny>> {
    let report = analyzer.finish(strings);
    if report.counts.md + report.counts.ctl == 0 {
        return Err(Error::new_err(
            "no usable events in the input: the events table holds none",
        ));
    }
    let table = |label: &str, r: Result<(SchemaRef, Vec<RecordBatch>), TimelineError>| {
        r.map_err(|e| Error::new_err(format!("building the {label} table: {e}")))
    };
    let groups = table("groups", rows_to_batches("groups", &report.groups))?;
    let intervals = table(
        "intervals",
        rows_to_batches("intervals", analyzer.intervals(strings)),
    )?;
    let features = table(
        "features",
        rows_to_batches("features", analyzer.features(strings)),
    )?;
    let items = [
        to_python(py, &report)?,
        pyarrow_table(py, groups)?,
        pyarrow_table(py, intervals)?,
        pyarrow_table(py, features)?,
    ];
    Ok(pyo3::types::PyTuple::new(py, items)?.into_any())
}

/// `_analyze(events, orders=None, fills=None, parents=None, **options)` ->
/// `(report, groups, intervals, features)`: see `coalescope.analyze`.
#[pyfunction]
#[pyo3(signature = (events, orders=None, fills=None, parents=None, **options))]
fn _analyze<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
    orders: Option<&Bound<'py, PyAny>>,
    fills: Option<&Bound<'py, PyAny>>,
    parents: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut analyzer = analyzer_for(options, fills.is_some(), parents.is_some())?;
    let mut strings = Strings::new();
    let tables = table_args(Some(events), orders, fills, parents);
    feed_tables(&tables, &mut analyzer, &mut strings)?;
    outputs(py, &analyzer, &strings)
}

/// `_partial(events=None, orders=None, fills=None, parents=None, **options)` -> bytes:
/// see `coalescope.partial`.
#[pyfunction]
#[pyo3(signature = (events=None, orders=None, fills=None, parents=None, **options))]
fn _partial<'py>(
    py: Python<'py>,
    events: Option<&Bound<'py, PyAny>>,
    orders: Option<&Bound<'py, PyAny>>,
    fills: Option<&Bound<'py, PyAny>>,
    parents: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut analyzer = analyzer_for(options, fills.is_some(), parents.is_some())?;
    let mut strings = Strings::new();
    let tables = table_args(events, orders, fills, parents);
    feed_tables(&tables, &mut analyzer, &mut strings)?;
    Ok(PyBytes::new(py, &analyzer.to_partial_bytes(&strings)))
}

/// Read and merge partials in order; `what` names the argument in errors.
fn merged(partials: &Bound<'_, PyAny>, strings: &mut Strings) -> PyResult<Analyzer> {
    let mut out: Option<Analyzer> = None;
    for (i, item) in partials.try_iter()?.enumerate() {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "partials[{i}]: expected bytes (from coalescope.partial), got {}",
                item.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let part = Analyzer::from_partial_bytes(bytes.as_bytes(), strings)
            .map_err(|e| Error::new_err(format!("partials[{i}]: {e}")))?;
        match &mut out {
            None => out = Some(part),
            Some(acc) => acc
                .merge(&part)
                .map_err(|e| Error::new_err(format!("partials[{i}]: {e}")))?,
        }
    }
    out.ok_or_else(|| Error::new_err("partials: no partial to merge"))
}

/// `_merge(partials)` -> bytes: see `coalescope.merge`.
#[pyfunction]
fn _merge<'py>(py: Python<'py>, partials: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut strings = Strings::new();
    let analyzer = merged(partials, &mut strings)?;
    Ok(PyBytes::new(py, &analyzer.to_partial_bytes(&strings)))
}

/// `_finish(partial)` -> `(report, groups, intervals, features)`: see
/// `coalescope.finish`.
#[pyfunction]
fn _finish<'py>(py: Python<'py>, partial: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let mut strings = Strings::new();
    let one = PyList::new(py, [partial])?;
    let analyzer = merged(one.as_any(), &mut strings)?;
    outputs(py, &analyzer, &strings)
}

/// `_sim(scenario=None, seed=None, packets=None, quantiles="sketch")` ->
/// `(summary, events, interrupts)`: see `coalescope.sim`.
#[pyfunction]
#[pyo3(signature = (scenario=None, seed=None, packets=None, quantiles="sketch"))]
fn _sim<'py>(
    py: Python<'py>,
    scenario: Option<&str>,
    seed: Option<u64>,
    packets: Option<u64>,
    quantiles: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let quantiles: QuantileMode = quantiles
        .parse()
        .map_err(|e| Error::new_err(format!("quantiles: {e}")))?;
    let (mut spec, base_dir) = match scenario {
        None => (coalescope_sim::ScenarioSpec::default_spec(), None),
        // TOML text (a path holds neither a newline nor `=`).
        Some(text) if text.contains(['\n', '=']) => (
            coalescope_sim::ScenarioSpec::from_toml_str(text)
                .map_err(|e| Error::new_err(format!("scenario: {e}")))?,
            None,
        ),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::new_err(format!("scenario: cannot read scenario file {path}: {e}"))
            })?;
            let spec = coalescope_sim::ScenarioSpec::from_toml_str(&text)
                .map_err(|e| Error::new_err(format!("in scenario file {path}: {e}")))?;
            (spec, Path::new(path).parent().map(Path::to_path_buf))
        }
    };
    if let Some(seed) = seed {
        spec.seed = Some(
            i64::try_from(seed)
                .map_err(|_| Error::new_err("seed: must be at most 9223372036854775807"))?,
        );
    }
    if let Some(packets) = packets {
        spec.packets = Some(i64::try_from(packets).unwrap_or(i64::MAX));
    }
    let scenario: Scenario = spec
        .validate(base_dir.as_deref())
        .map_err(|e| Error::new_err(format!("scenario: {e}")))?;
    let (run, tables) = py
        .detach(|| simulate_to_tables(&scenario, quantiles))
        .map_err(|e| Error::new_err(e.to_string()))?;
    let items = [
        to_python(py, &run.summary)?,
        pyarrow_table(py, tables.events)?,
        pyarrow_table(py, tables.interrupts)?,
    ];
    Ok(pyo3::types::PyTuple::new(py, items)?.into_any())
}

/// `_join(pcap, app_log=None, seq_source="payload", seq_offset=0, seq_width=8,
/// seq_endian="le", stream_map=None)` -> `(events, report)`: see `coalescope.join`.
#[pyfunction]
#[pyo3(signature = (pcap, app_log=None, seq_source="payload", seq_offset=0, seq_width=8,
    seq_endian="le", stream_map=None))]
#[allow(clippy::too_many_arguments)] // the CLI's flags, one argument each
fn _join<'py>(
    py: Python<'py>,
    pcap: Vec<std::path::PathBuf>,
    app_log: Option<&Bound<'py, PyAny>>,
    seq_source: &str,
    seq_offset: usize,
    seq_width: u8,
    seq_endian: &str,
    stream_map: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyAny>> {
    if pcap.is_empty() {
        return Err(Error::new_err("pcap: give at least one capture file"));
    }
    let kind = seq_source
        .parse()
        .map_err(|e| Error::new_err(format!("seq_source: {e}")))?;
    let spec = SeqSpec::from_parts(seq_offset, seq_width, seq_endian)
        .map_err(|e| Error::new_err(format!("seq_offset/seq_width/seq_endian: {e}")))?;
    let mut config = CaptureConfig::new(SeqSource::new(kind, spec));
    for m in stream_map.unwrap_or_default() {
        config.stream_map.push(
            parse_stream_mapping(&m).map_err(|e| Error::new_err(format!("stream_map: {e}")))?,
        );
    }
    let mut strings = Strings::new();
    let mut app_events: Vec<Event> = Vec::new();
    if let Some(app_log) = app_log {
        let mut reader = arrow_stream::reader("app_log", app_log)?;
        read_events_arrow(Path::new("app_log"), &mut reader, &mut strings, |b, _| {
            app_events.extend_from_slice(b)
        })
        .map_err(read_error)?;
    }
    let mut batches = Vec::new();
    let mut schema = None;
    let summary = join_captures(
        &pcap,
        &config,
        &app_events,
        &mut strings,
        |batch, strings| {
            let (s, b) = events_to_batches(batch, strings)?;
            schema = Some(s);
            batches.extend(b);
            Ok(())
        },
    )
    .map_err(|e| Error::new_err(e.to_string()))?;
    if summary.join.events == 0 {
        return Err(Error::new_err(format!(
            "no usable events in the captures: {}",
            summary.describe()
        )));
    }
    let schema = match schema {
        Some(s) => s,
        None => {
            events_to_batches(&[], &strings)
                .map_err(|e| Error::new_err(e.to_string()))?
                .0
        }
    };
    let items = [
        pyarrow_table(py, (schema, batches))?,
        to_python(py, &summary)?,
    ];
    Ok(pyo3::types::PyTuple::new(py, items)?.into_any())
}

/// The native module `coalescope._coalescope` (re-exported by the `coalescope` package).
#[pymodule]
fn _coalescope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(_analyze, m)?)?;
    m.add_function(wrap_pyfunction!(_partial, m)?)?;
    m.add_function(wrap_pyfunction!(_merge, m)?)?;
    m.add_function(wrap_pyfunction!(_finish, m)?)?;
    m.add_function(wrap_pyfunction!(_sim, m)?)?;
    m.add_function(wrap_pyfunction!(_join, m)?)?;
    Ok(())
}
