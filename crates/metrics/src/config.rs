//! Analysis parameters (SPEC §4 defaults) and their validation.

use std::fmt;
use std::str::FromStr;

use coalescope_timeline::Duration;
use serde::Serialize;

use crate::md::HighBdc;
use crate::quantile::QuantileMode;

/// Which keys define an md group (`--by`, any subset of {stream, symbol, venue}).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupBy {
    /// Group by stream.
    pub stream: bool,
    /// Group by symbol.
    pub symbol: bool,
    /// Group by venue.
    pub venue: bool,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            stream: true,
            symbol: true,
            venue: true,
        }
    }
}

impl GroupBy {
    /// The selected keys in canonical order.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.stream {
            v.push("stream");
        }
        if self.symbol {
            v.push("symbol");
        }
        if self.venue {
            v.push("venue");
        }
        v
    }
}

impl FromStr for GroupBy {
    type Err = ConfigError;
    /// `stream,symbol,venue` in any order and subset; `none` or empty pools everything.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut by = GroupBy {
            stream: false,
            symbol: false,
            venue: false,
        };
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("none") {
            return Ok(by);
        }
        for part in t.split(',').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "stream" => by.stream = true,
                "symbol" => by.symbol = true,
                "venue" => by.venue = true,
                _ => return Err(ConfigError::UnknownGroupKey(part.to_string())),
            }
        }
        Ok(by)
    }
}

/// Everything [`crate::Analyzer`] needs to know; [`Config::default`] is SPEC §4.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Window `w` (100–500 µs).
    pub window: Duration,
    /// Interval `I` (a multiple of `w`).
    pub interval: Duration,
    /// Grouping keys of md metrics.
    pub by: GroupBy,
    /// Optional time buckets (floor division of each record's primary instant).
    pub bucket: Option<Duration>,
    /// High-BDC threshold mode.
    pub high_bdc: HighBdc,
    /// Markout horizons τ.
    pub markout_horizons: Vec<Duration>,
    /// DCCD pairing horizon H.
    pub dccd_horizon: Duration,
    /// How far input may be out of time order and still give exact gaps and DCCD pairs;
    /// `None` = keep everything (exact, memory grows with the input).
    pub reorder_horizon: Option<Duration>,
    /// In sketch mode, quantile series stay exact nearest-rank up to this many values,
    /// then use the log histogram (<= 0.79 % relative error).
    pub exact_limit: usize,
    /// `exact` keeps every value; `sketch` (the default) folds at `exact_limit`.
    pub quantiles: QuantileMode,
    /// The gap `g` of `gap_compression` (`--compress-gap`, default 1 µs).
    pub compress_gap: Duration,
    /// Keep quote history and pooled BDC for markouts/CTE.
    pub markouts: bool,
    /// Pair md transitions with ctl events for DCCD.
    pub dccd: bool,
    /// Coalescing settings of the run (`rx_usecs=50`, ...), copied into the feature table.
    pub settings: Vec<(String, String)>,
    /// Compute the branches and cost of parents (SPEC §5.1): keeps the stale md events
    /// and, like `markouts`, the quote history and pooled BDC.
    pub branches: bool,
    /// SPEC §5.1: an md event is stale when `t_app - t_ingress > delta_stale`.
    pub delta_stale: Duration,
    /// SPEC §5.1: the catch-up window after a stale event.
    pub catchup_window: Duration,
    /// SPEC §5.1: catch-up means more than `catchup_x` times the schedule's pace.
    pub catchup_x: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window: Duration::from_micros(250),
            interval: Duration::from_millis(100),
            by: GroupBy::default(),
            bucket: None,
            high_bdc: HighBdc::Median,
            markout_horizons: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            dccd_horizon: Duration::from_millis(1),
            reorder_horizon: Some(Duration::from_millis(100)),
            exact_limit: 1 << 16,
            quantiles: QuantileMode::Sketch,
            compress_gap: Duration::from_micros(1),
            markouts: true,
            dccd: true,
            settings: Vec::new(),
            branches: true,
            delta_stale: Duration::from_micros(500),
            catchup_window: Duration::from_secs(1),
            catchup_x: 2.0,
        }
    }
}

/// A parameter outside what SPEC §4 allows. [`ConfigError::flag`] names the command-line
/// flag that sets it, so a front end can point at what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `w` outside 100–500 µs.
    #[error("window w = {window} is outside 100us..=500us (interval I = {interval})")]
    WindowOutOfRange {
        /// The window.
        window: Duration,
        /// The interval.
        interval: Duration,
    },
    /// `I` not a positive multiple of `w`.
    #[error("interval I = {interval} is not a positive multiple of window w = {window}")]
    IntervalNotMultiple {
        /// The interval.
        interval: Duration,
        /// The window.
        window: Duration,
    },
    /// `I` above [`MAX_INTERVAL`].
    #[error("interval I = {0}: accepted range is a multiple of the window w up to 60s")]
    IntervalTooLong(Duration),
    /// A bucket outside [`MIN_BUCKET`]..=[`MAX_BUCKET`].
    #[error("time bucket {0}: accepted range is 1ns to 366 days")]
    BucketOutOfRange(Duration),
    /// A negative markout horizon.
    #[error("markout horizon {0} must not be negative")]
    NegativeHorizon(Duration),
    /// A negative DCCD or reordering horizon.
    #[error("{name} horizon {value} must not be negative")]
    NegativeLimit {
        /// Which horizon.
        name: &'static str,
        /// Its value.
        value: Duration,
    },
    /// A negative compression gap `g`.
    #[error("compression gap g = {0} must not be negative")]
    NegativeCompressGap(Duration),
    /// `--by` names something other than stream, symbol, venue.
    #[error("unknown grouping key '{0}' (use stream, symbol, venue)")]
    UnknownGroupKey(String),
    /// A coalescing setting that is not `KEY=VALUE`.
    #[error("setting '{0}' is not KEY=VALUE")]
    BadSetting(String),
    /// A negative stale threshold.
    #[error("stale threshold delta_stale = {0} must not be negative")]
    NegativeDeltaStale(Duration),
    /// A catch-up window that is not positive.
    #[error("catch-up window {0} must be positive")]
    CatchupWindow(Duration),
    /// A catch-up factor that is not a finite number >= 0.
    #[error("catch-up factor {0} must be a finite number >= 0")]
    CatchupX(f64),
    /// Two partials with different configurations cannot merge.
    #[error("cannot merge analyzers built with different configurations")]
    MergeMismatch,
}

impl ConfigError {
    /// The command-line flag (of `coalescope analyze`) that sets the offending parameter.
    pub fn flag(&self) -> Option<&'static str> {
        Some(match self {
            ConfigError::WindowOutOfRange { .. } => "--window",
            ConfigError::IntervalNotMultiple { .. } | ConfigError::IntervalTooLong(_) => {
                "--interval"
            }
            ConfigError::BucketOutOfRange(_) => "--bucket",
            ConfigError::NegativeHorizon(_) => "--horizons",
            ConfigError::NegativeLimit { name, .. } if *name == DCCD => "--dccd-horizon",
            ConfigError::NegativeLimit { .. } => "--reorder-horizon",
            ConfigError::NegativeCompressGap(_) => "--compress-gap",
            ConfigError::UnknownGroupKey(_) => "--by",
            ConfigError::BadSetting(_) => "--nic-config",
            ConfigError::NegativeDeltaStale(_) => "--delta-stale",
            ConfigError::CatchupWindow(_) => "--catchup-window",
            ConfigError::CatchupX(_) => "--catchup-x",
            ConfigError::MergeMismatch => return None,
        })
    }
}

const DCCD: &str = "DCCD";
const REORDERING: &str = "reordering";

/// Longest interval `I`: BDC keeps `I / w` counters per live interval, so `I` is bounded
/// to keep that small.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest time bucket.
pub const MIN_BUCKET: Duration = Duration::from_nanos(1);
/// Longest time bucket.
pub const MAX_BUCKET: Duration = Duration::from_secs(366 * 86_400);

/// Parse coalescing settings `k=v,k=v` (empty parts are skipped) for [`Config::settings`].
pub fn parse_settings(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None => Err(ConfigError::BadSetting(part.to_string())),
        })
        .collect()
}

impl Config {
    /// Check every SPEC §4 constraint.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (w, i) = (self.window, self.interval);
        if !(100_000..=500_000).contains(&w.as_nanos()) {
            return Err(ConfigError::WindowOutOfRange {
                window: w,
                interval: i,
            });
        }
        if i.as_nanos() <= 0 || i.as_nanos() % w.as_nanos() != 0 {
            return Err(ConfigError::IntervalNotMultiple {
                interval: i,
                window: w,
            });
        }
        if i > MAX_INTERVAL {
            return Err(ConfigError::IntervalTooLong(i));
        }
        if let Some(b) = self
            .bucket
            .filter(|b| !(MIN_BUCKET..=MAX_BUCKET).contains(b))
        {
            return Err(ConfigError::BucketOutOfRange(b));
        }
        if let Some(h) = self.markout_horizons.iter().find(|h| h.as_nanos() < 0) {
            return Err(ConfigError::NegativeHorizon(*h));
        }
        if self.dccd_horizon.as_nanos() < 0 {
            return Err(ConfigError::NegativeLimit {
                name: DCCD,
                value: self.dccd_horizon,
            });
        }
        if let Some(r) = self.reorder_horizon.filter(|r| r.as_nanos() < 0) {
            return Err(ConfigError::NegativeLimit {
                name: REORDERING,
                value: r,
            });
        }
        if self.compress_gap.as_nanos() < 0 {
            return Err(ConfigError::NegativeCompressGap(self.compress_gap));
        }
        if self.delta_stale.as_nanos() < 0 {
            return Err(ConfigError::NegativeDeltaStale(self.delta_stale));
        }
        if self.catchup_window.as_nanos() <= 0 {
            return Err(ConfigError::CatchupWindow(self.catchup_window));
        }
        if !(self.catchup_x.is_finite() && self.catchup_x >= 0.0) {
            return Err(ConfigError::CatchupX(self.catchup_x));
        }
        Ok(())
    }

    /// Values a quantile series keeps exactly (unbounded in exact mode).
    pub fn exact_limit(&self) -> usize {
        self.quantiles.exact_limit(self.exact_limit)
    }

    /// The parameters as they appear in the report.
    pub fn report(&self) -> ConfigReport {
        ConfigReport {
            window_ns: self.window.as_nanos(),
            interval_ns: self.interval.as_nanos(),
            by: self.by.keys(),
            bucket_ns: self.bucket.map(Duration::as_nanos),
            high_bdc: self.high_bdc.label(),
            markout_horizons_ns: self.markout_horizons.iter().map(|d| d.as_nanos()).collect(),
            dccd_horizon_ns: self.dccd_horizon.as_nanos(),
            reorder_horizon_ns: self.reorder_horizon.map(Duration::as_nanos),
            exact_limit: self.exact_limit,
            quantile_mode: self.quantiles.label(),
            compress_gap_ns: self.compress_gap.as_nanos(),
            markouts: self.markouts,
            dccd: self.dccd,
            settings: self
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
        }
    }
}

/// The `config` object of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigReport {
    /// `w` in ns.
    pub window_ns: i64,
    /// `I` in ns.
    pub interval_ns: i64,
    /// Grouping keys.
    pub by: Vec<&'static str>,
    /// Bucket length in ns, or null.
    pub bucket_ns: Option<i64>,
    /// High-BDC threshold mode.
    pub high_bdc: String,
    /// Markout horizons in ns.
    pub markout_horizons_ns: Vec<i64>,
    /// DCCD horizon in ns.
    pub dccd_horizon_ns: i64,
    /// Reordering horizon in ns (null = exact, unbounded).
    pub reorder_horizon_ns: Option<i64>,
    /// Values kept exact per quantile series in sketch mode.
    pub exact_limit: usize,
    /// `exact` (every value kept) or `sketch`.
    pub quantile_mode: &'static str,
    /// The gap `g` of `gap_compression` in ns.
    pub compress_gap_ns: i64,
    /// Markouts/CTE computed.
    pub markouts: bool,
    /// DCCD computed.
    pub dccd: bool,
    /// Coalescing settings, `k=v;k=v`.
    pub settings: String,
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keys().join(","))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_both_parameters() {
        let mut c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        c.interval = Duration::from_micros(1000);
        c.window = Duration::from_micros(300);
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "interval I = 1.000ms is not a positive multiple of window w = 300.000us"
        );
        c.window = Duration::from_micros(50);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("w = 50.000us") && e.contains("I = 1.000ms"),
            "{e}"
        );
        c.window = Duration::from_micros(500);
        assert_eq!(c.validate(), Ok(()));
        c.window = Duration::from_nanos(500_001);
        assert!(c.validate().is_err());
    }

    #[test]
    fn limits_live_here_and_name_their_flag() {
        let ok = Config {
            interval: MAX_INTERVAL,
            bucket: Some(MAX_BUCKET),
            compress_gap: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = |c: Config| c.validate().unwrap_err();
        let e = bad(Config {
            interval: Duration::from_secs(61),
            ..Config::default()
        });
        assert_eq!(e, ConfigError::IntervalTooLong(Duration::from_secs(61)));
        assert_eq!(e.flag(), Some("--interval"));
        for b in [Duration::ZERO, Duration(MAX_BUCKET.as_nanos() + 1)] {
            let e = bad(Config {
                bucket: Some(b),
                ..Config::default()
            });
            assert_eq!(
                (e.clone(), e.flag()),
                (ConfigError::BucketOutOfRange(b), Some("--bucket"))
            );
        }
        assert_eq!(MIN_BUCKET, Duration(1));
        let e = bad(Config {
            compress_gap: Duration(-1),
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--compress-gap"));
        let e = bad(Config {
            markout_horizons: vec![Duration(-1)],
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--horizons"));
        let e = bad(Config {
            dccd_horizon: Duration(-1),
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--dccd-horizon"));
        let e = bad(Config {
            reorder_horizon: Some(Duration(-1)),
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--reorder-horizon"));
        let e = bad(Config {
            delta_stale: Duration(-1),
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--delta-stale"));
        let ok_zero = Config {
            delta_stale: Duration::ZERO,
            catchup_x: 0.0,
            ..Config::default()
        };
        assert_eq!(ok_zero.validate(), Ok(()));
        let e = bad(Config {
            catchup_window: Duration::ZERO,
            ..Config::default()
        });
        assert_eq!(e.flag(), Some("--catchup-window"));
        for x in [-0.5, f64::NAN, f64::INFINITY] {
            let e = bad(Config {
                catchup_x: x,
                ..Config::default()
            });
            assert_eq!(e.flag(), Some("--catchup-x"));
        }
        assert_eq!(
            parse_settings("rx_usecs=50, rx_frames = 0,"),
            Ok(vec![
                ("rx_usecs".to_string(), "50".to_string()),
                ("rx_frames".to_string(), "0".to_string())
            ])
        );
        assert_eq!(
            parse_settings("rx_usecs").unwrap_err().flag(),
            Some("--nic-config")
        );
    }

    #[test]
    fn group_by_parsing() {
        let by: GroupBy = "venue, symbol".parse().unwrap();
        assert_eq!(
            by,
            GroupBy {
                stream: false,
                symbol: true,
                venue: true
            }
        );
        assert_eq!(by.to_string(), "symbol,venue");
        assert!("desk".parse::<GroupBy>().is_err());
        assert_eq!("none".parse::<GroupBy>().unwrap().keys().len(), 0);
    }
}
