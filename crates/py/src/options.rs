//! `analyze`'s keyword options: the CLI's metric flags, parsed by the metrics and
//! timeline crates' own parsers into a metrics [`Config`], validated by it.

use coalescope_metrics::{parse_settings, Config, GroupBy, HighBdc, QuantileMode};
use coalescope_timeline::{parse_duration, Duration};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::Error;

/// The option names, in the order of `coalescope analyze --help`.
pub(crate) const OPTIONS: &[&str] = &[
    "by",
    "bucket",
    "window",
    "interval",
    "high_bdc",
    "horizons",
    "dccd_horizon",
    "reorder_horizon",
    "compress_gap",
    "quantiles",
    "dccd",
    "nic_config",
    "delta_stale",
    "catchup_window",
    "catchup_x",
    "markouts",
    "branches",
];

/// The options of one call: the metrics configuration, and whether markouts (CTE) and
/// branches run when the call says so explicitly (`None`: when fills / parents are
/// given).
pub(crate) struct Options {
    /// The metrics configuration.
    pub(crate) config: Config,
    /// `markouts=`.
    pub(crate) markouts: Option<bool>,
    /// `branches=`.
    pub(crate) branches: Option<bool>,
}

/// A bool option.
fn boolean(name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if !value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(bad(
            name,
            format!("expected a bool, got {}", type_name(value)),
        ));
    }
    value.extract::<bool>()
}

/// The option name of a CLI flag (`--dccd-horizon` -> `dccd_horizon`).
pub(crate) fn option_name(flag: &str) -> String {
    flag.trim_start_matches('-').replace('-', "_")
}

fn bad(name: &str, message: impl std::fmt::Display) -> PyErr {
    Error::new_err(format!("{name}: {message}"))
}

/// A text option.
fn text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    value
        .extract::<String>()
        .map_err(|_| bad(name, format!("expected a string, got {}", type_name(value))))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// A duration option: text with a unit ("250us") or integer nanoseconds.
fn duration(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if value.is_instance_of::<PyString>() {
        return parse_duration(&text(name, value)?).map_err(|e| bad(name, e));
    }
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(bad(name, "expected a duration, got bool"));
    }
    match value.extract::<i64>() {
        Ok(ns) => Ok(Duration::from_nanos(ns)),
        Err(_) => Err(bad(
            name,
            format!(
                "expected a duration (\"250us\") or integer nanoseconds, got {}",
                type_name(value)
            ),
        )),
    }
}

/// The horizons: "1s,5s,30s" or a list/tuple of durations.
fn horizons(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<Duration>> {
    if value.is_instance_of::<PyString>() {
        return text(name, value)?
            .split(',')
            .map(|t| parse_duration(t).map_err(|e| bad(name, e)))
            .collect();
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return value
            .try_iter()?
            .map(|item| duration(name, &item?))
            .collect();
    }
    Err(bad(
        name,
        format!(
            "expected \"1s,5s,30s\" or a list of durations, got {}",
            type_name(value)
        ),
    ))
}

/// The options of `options` (CLI defaults for what is not given).
pub(crate) fn config(options: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut cfg = Config::default();
    let (mut markouts, mut branches) = (None, None);
    let Some(options) = options else {
        cfg.validate().map_err(crate::config_error)?;
        return Ok(Options {
            config: cfg,
            markouts,
            branches,
        });
    };
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        let name = key.as_str();
        match name {
            "by" => {
                cfg.by = text(name, &value)?
                    .parse::<GroupBy>()
                    .map_err(crate::config_error)?
            }
            "bucket" => {
                cfg.bucket = if value.is_none() {
                    None
                } else {
                    Some(duration(name, &value)?)
                }
            }
            "window" => cfg.window = duration(name, &value)?,
            "interval" => cfg.interval = duration(name, &value)?,
            "high_bdc" => {
                cfg.high_bdc = text(name, &value)?
                    .parse::<HighBdc>()
                    .map_err(|e| bad(name, e))?
            }
            "horizons" => cfg.markout_horizons = horizons(name, &value)?,
            "dccd_horizon" => cfg.dccd_horizon = duration(name, &value)?,
            "reorder_horizon" => {
                cfg.reorder_horizon = if value.is_none()
                    || (value.is_instance_of::<PyString>()
                        && text(name, &value)?.eq_ignore_ascii_case("none"))
                {
                    None
                } else {
                    Some(duration(name, &value)?)
                }
            }
            "compress_gap" => cfg.compress_gap = duration(name, &value)?,
            "quantiles" => {
                cfg.quantiles = text(name, &value)?
                    .parse::<QuantileMode>()
                    .map_err(|e| bad(name, e))?
            }
            "dccd" => cfg.dccd = boolean(name, &value)?,
            "markouts" => markouts = Some(boolean(name, &value)?),
            "branches" => branches = Some(boolean(name, &value)?),
            "nic_config" => {
                cfg.settings = if value.is_none() {
                    Vec::new()
                } else {
                    parse_settings(&text(name, &value)?).map_err(crate::config_error)?
                }
            }
            "delta_stale" => cfg.delta_stale = duration(name, &value)?,
            "catchup_window" => cfg.catchup_window = duration(name, &value)?,
            "catchup_x" => {
                cfg.catchup_x = value.extract::<f64>().map_err(|_| {
                    bad(
                        name,
                        format!("expected a number, got {}", type_name(&value)),
                    )
                })?
            }
            _ => {
                return Err(Error::new_err(format!(
                    "unknown option `{name}`; the options are {}",
                    OPTIONS.join(", ")
                )))
            }
        }
    }
    cfg.validate().map_err(crate::config_error)?;
    Ok(Options {
        config: cfg,
        markouts,
        branches,
    })
}
