//! Analysis parameters (SPEC §4 defaults) and their validation.

use std::fmt;
use std::str::FromStr;

use coalescope_timeline::Duration;
use serde::Serialize;

use crate::md::HighBdc;

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
    /// Quantile series stay exact nearest-rank up to this many values, then use the
    /// log histogram (<= 0.79 % relative error).
    pub exact_limit: usize,
    /// Keep quote history and pooled BDC for markouts/CTE.
    pub markouts: bool,
    /// Pair md transitions with ctl events for DCCD.
    pub dccd: bool,
    /// Coalescing settings of the run (`rx_usecs=50`, ...), copied into the feature table.
    pub settings: Vec<(String, String)>,
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
            markouts: true,
            dccd: true,
            settings: Vec::new(),
        }
    }
}

/// A parameter outside what SPEC §4 allows.
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
    /// A bucket of zero or negative length.
    #[error("time bucket {0} must be positive")]
    NonPositiveBucket(Duration),
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
    /// `--by` names something other than stream, symbol, venue.
    #[error("unknown grouping key '{0}' (use stream, symbol, venue)")]
    UnknownGroupKey(String),
    /// Two partials with different configurations cannot merge.
    #[error("cannot merge analyzers built with different configurations")]
    MergeMismatch,
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
        if let Some(b) = self.bucket {
            if b.as_nanos() <= 0 {
                return Err(ConfigError::NonPositiveBucket(b));
            }
        }
        if let Some(h) = self.markout_horizons.iter().find(|h| h.as_nanos() < 0) {
            return Err(ConfigError::NegativeHorizon(*h));
        }
        if self.dccd_horizon.as_nanos() < 0 {
            return Err(ConfigError::NegativeLimit {
                name: "DCCD",
                value: self.dccd_horizon,
            });
        }
        if let Some(r) = self.reorder_horizon.filter(|r| r.as_nanos() < 0) {
            return Err(ConfigError::NegativeLimit {
                name: "reordering",
                value: r,
            });
        }
        Ok(())
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
    /// Values kept exact per quantile series.
    pub exact_limit: usize,
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
