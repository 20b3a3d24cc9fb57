//! The desk scenario file: the simulator's scenario (the receive path: `seed`, `[nic]`,
//! `[host]`, ...) plus the desk's tables. Every key is documented in
//! `scenarios/README.md` ("desk"):
//!
//! ```toml
//! seed = 7                       # the simulator's and the desk's seed
//! [nic]
//! rx_usecs = 50
//! [market]
//! kind = "lobster"               # or "synthetic" (the default without [market])
//! message = "AAPL_2012-06-21_34200000_57600000_message_10.csv"
//! orderbook = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
//! [strategy]
//! schedule = "twap"
//! [venue]
//! queue_model = "prob"
//! [parents]
//! count = 8
//! ```
//!
//! The simulator's `[[stream]]` tables are not allowed: the market is the feed. The
//! file is read as a TOML table; the desk takes its tables out and hands the rest to
//! the simulator's [`ScenarioSpec`] (which rejects unknown keys).

use std::path::{Path, PathBuf};

use coalescope_sim::{Scenario, ScenarioSpec};
use coalescope_timeline::Strings;
use serde::Deserialize;

use crate::desk::DeskConfig;
use crate::lobster::{LobsterMarket, LobsterNames};
use crate::market::Market;
use crate::strategy::{ParentOrder, ParentSource, ParentsGen, Schedule, StrategyConfig};
use crate::synth::SyntheticSpec;
use crate::venue::{
    LatencyKind, QueueModelKind, VenueConfig, DEFAULT_ORDER_LATENCY_NS, MAX_LATENCY_NS,
};
use crate::{out_of_range, DeskError};

/// The market a scenario describes.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketSpec {
    /// A LOBSTER file pair.
    Lobster {
        /// The message file (resolved against the scenario's directory).
        message: PathBuf,
        /// The orderbook file.
        orderbook: PathBuf,
        /// Symbol, venue and feed names.
        symbol: Option<String>,
        /// Venue of the md events.
        venue: Option<String>,
        /// Feed (stream) name.
        feed: Option<String>,
    },
    /// The synthetic market: its `[market]` table without `kind`.
    Synthetic(toml::Table),
}

impl MarketSpec {
    /// Opens the market (reads the files, or builds the synthetic model for a run seeded
    /// `seed`: its generator uses `seed + seed_offset`; a LOBSTER market ignores it).
    pub fn open(&self, seed: u64) -> Result<Box<dyn Market>, DeskError> {
        match self {
            MarketSpec::Lobster {
                message,
                orderbook,
                symbol,
                venue,
                feed,
            } => Ok(Box::new(LobsterMarket::open(
                message,
                orderbook,
                LobsterNames {
                    symbol: symbol.clone(),
                    venue: venue.clone(),
                    feed: feed.clone(),
                },
            )?)),
            MarketSpec::Synthetic(table) => {
                let spec: SyntheticSpec = toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e| toml_error(format!("[market]: {e}")))?;
                Ok(Box::new(spec.validate_with_seed(seed)?))
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LobsterTable {
    message: PathBuf,
    orderbook: PathBuf,
    symbol: Option<String>,
    venue: Option<String>,
    feed: Option<String>,
    feed_offset_ns: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StrategyTable {
    schedule: Option<String>,
    child_qty: Option<i64>,
    participation: Option<f64>,
    urgency_children: Option<i64>,
    urgency_tail: Option<f64>,
    decision_latency_ns: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VenueTable {
    queue_model: Option<String>,
    prob_n: Option<f64>,
    latency: Option<String>,
    order_latency_ns: Option<i64>,
    report_latency_ns: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ParentsTable {
    file: Option<PathBuf>,
    count: Option<i64>,
    qty: Option<i64>,
    buy_share: Option<f64>,
    duration_ns: Option<i64>,
}

/// The text of the default desk scenario (`scenarios/desk/default.toml`).
pub const DEFAULT_DESK_SCENARIO_TOML: &str = include_str!("../../../scenarios/desk/default.toml");

/// A validated desk scenario.
#[derive(Debug, Clone)]
pub struct DeskScenario {
    /// The simulator's part as written (no streams): change it (e.g. a receive-path
    /// setting) and validate it with [`receive_path`].
    pub sim_spec: ScenarioSpec,
    /// `sim_spec` validated.
    pub sim: Scenario,
    /// The market.
    pub market: MarketSpec,
    /// Strategy, venue, parents, feed offset.
    pub config: DeskConfig,
    /// The seed (the simulator's `seed`, default 1).
    pub seed: u64,
}

fn toml_error(e: impl std::fmt::Display) -> DeskError {
    DeskError::Toml(e.to_string().trim_end().replace('\n', " "))
}

fn take<T: serde::de::DeserializeOwned + Default>(
    table: &mut toml::Table,
    key: &str,
) -> Result<Option<T>, DeskError> {
    match table.remove(key) {
        None => Ok(None),
        Some(v) => v.try_into().map(Some).map_err(|e| {
            DeskError::Toml(format!(
                "[{key}]: {}",
                e.to_string().trim_end().replace('\n', " ")
            ))
        }),
    }
}

fn int_in(field: &str, v: i64, lo: i64, hi: i64) -> Result<i64, DeskError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(field, v, format!("{lo}..={hi}")))
    }
}

/// The simulator scenario of a receive path written without streams: validated with
/// one placeholder feed stream that the desk replaces by the market's messages.
pub fn receive_path(spec: &ScenarioSpec, base_dir: Option<&Path>) -> Result<Scenario, DeskError> {
    if !spec.streams.is_empty() {
        return Err(DeskError::Toml(
            "a desk scenario has no [[stream]] tables: the market is the feed".into(),
        ));
    }
    let mut spec = spec.clone();
    spec.use_poisson_stream(1.0);
    Ok(spec.validate(base_dir)?)
}

/// Reads a `parents` table (CSV or Parquet) into validated parents; a null `strategy`
/// means `default`. Errors name the file, or the parent.
pub fn parents_from_table(path: &Path, default: Schedule) -> Result<Vec<ParentOrder>, DeskError> {
    let mut strings = Strings::new();
    let rows = coalescope_timeline::load_parents(path, &mut strings)?;
    rows.iter()
        .map(|r| ParentOrder::from_row(r, strings.resolve_opt(r.strategy), default))
        .collect()
}

impl DeskScenario {
    /// Reads and validates a desk scenario file; relative paths resolve against its
    /// directory.
    pub fn from_file(path: &Path) -> Result<Self, DeskError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            DeskError::Read(coalescope_timeline::TimelineError::Io {
                path: path.to_path_buf(),
                action: "read",
                source,
            })
        })?;
        Self::from_toml_str(&text, path.parent())
    }

    /// The default desk scenario (`scenarios/desk/default.toml`, compiled in): what `replay` and
    /// `demo` run without `--scenario`.
    pub fn default_scenario() -> Result<Self, DeskError> {
        Self::from_toml_str(DEFAULT_DESK_SCENARIO_TOML, None)
    }

    /// Sets the synthetic market's day length to `messages` (the `[market] messages` key;
    /// `duration_ns` is dropped). Errors for a LOBSTER market, whose length is its file.
    pub fn set_synthetic_messages(&mut self, messages: u64) -> Result<(), DeskError> {
        match &mut self.market {
            MarketSpec::Synthetic(table) => {
                let n = i64::try_from(messages)
                    .map_err(|_| out_of_range("market.messages", messages, "1..=10^12"))?;
                table.remove("duration_ns");
                table.insert("messages".into(), toml::Value::Integer(n));
                Ok(())
            }
            MarketSpec::Lobster { .. } => Err(DeskError::Toml(
                "the day's length of a LOBSTER market is its message file".into(),
            )),
        }
    }

    /// A scenario for a LOBSTER pair with every other setting at its default.
    pub fn lobster(message: &Path, orderbook: &Path) -> Result<Self, DeskError> {
        let mut s = Self::from_toml_str("", None)?;
        s.market = MarketSpec::Lobster {
            message: message.to_path_buf(),
            orderbook: orderbook.to_path_buf(),
            symbol: None,
            venue: None,
            feed: None,
        };
        Ok(s)
    }

    /// Parses and validates scenario text; relative paths resolve against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Self, DeskError> {
        let mut table: toml::Table = text.parse().map_err(toml_error)?;
        let resolve = |p: PathBuf| match base_dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p,
        };
        let mut feed_offset_ns = 0;
        let market = match table.remove("market") {
            None => MarketSpec::Synthetic(toml::Table::new()),
            Some(toml::Value::Table(mut m)) => {
                let kind = match m.remove("kind") {
                    None => "synthetic".to_string(),
                    Some(toml::Value::String(k)) => k,
                    Some(other) => {
                        return Err(out_of_range(
                            "market.kind",
                            other,
                            "\"lobster\" or \"synthetic\"",
                        ))
                    }
                };
                match kind.as_str() {
                    "lobster" => {
                        let l: LobsterTable = toml::Value::Table(m).try_into().map_err(|e| {
                            DeskError::Toml(format!(
                                "[market]: {}",
                                e.to_string().trim_end().replace('\n', " ")
                            ))
                        })?;
                        feed_offset_ns = l.feed_offset_ns.unwrap_or(0);
                        if feed_offset_ns.unsigned_abs() > 1 << 62 {
                            return Err(out_of_range(
                                "market.feed_offset_ns",
                                feed_offset_ns,
                                "|offset| <= 2^62",
                            ));
                        }
                        MarketSpec::Lobster {
                            message: resolve(l.message),
                            orderbook: resolve(l.orderbook),
                            symbol: l.symbol,
                            venue: l.venue,
                            feed: l.feed,
                        }
                    }
                    "synthetic" => MarketSpec::Synthetic(m),
                    other => {
                        return Err(out_of_range(
                            "market.kind",
                            format!("{other:?}"),
                            "\"lobster\" or \"synthetic\"",
                        ))
                    }
                }
            }
            Some(_) => {
                return Err(DeskError::Toml(
                    "`market` must be a table ([market])".into(),
                ))
            }
        };
        let st: StrategyTable = take(&mut table, "strategy")?.unwrap_or_default();
        let ve: VenueTable = take(&mut table, "venue")?.unwrap_or_default();
        let pa: ParentsTable = take(&mut table, "parents")?.unwrap_or_default();

        let d = StrategyConfig::default();
        let schedule = match st.schedule.as_deref() {
            None => d.schedule,
            Some(s) => Schedule::parse(s).ok_or_else(|| {
                out_of_range("strategy.schedule", format!("{s:?}"), "\"twap\" or \"pov\"")
            })?,
        };
        let strategy = StrategyConfig {
            schedule,
            child_qty: int_in(
                "strategy.child_qty",
                st.child_qty.unwrap_or(d.child_qty as i64),
                1,
                1 << 40,
            )? as u64,
            participation: st.participation.unwrap_or(d.participation),
            urgency_children: int_in(
                "strategy.urgency_children",
                st.urgency_children.unwrap_or(d.urgency_children as i64),
                1,
                1 << 20,
            )? as u64,
            urgency_tail: st.urgency_tail.unwrap_or(d.urgency_tail),
            decision_latency_ns: st.decision_latency_ns.unwrap_or(0),
        };
        strategy.validate()?;

        let queue_model = QueueModelKind::parse(
            ve.queue_model.as_deref().unwrap_or("risk_averse"),
            ve.prob_n,
        )?;
        let order_ns = int_in(
            "venue.order_latency_ns",
            ve.order_latency_ns.unwrap_or(DEFAULT_ORDER_LATENCY_NS),
            0,
            MAX_LATENCY_NS,
        )?;
        let report_ns = int_in(
            "venue.report_latency_ns",
            ve.report_latency_ns.unwrap_or(order_ns),
            0,
            MAX_LATENCY_NS,
        )?;
        let latency = match ve.latency.as_deref().unwrap_or("constant") {
            "constant" => LatencyKind::Constant {
                order_ns,
                report_ns,
            },
            other => {
                return Err(out_of_range(
                    "venue.latency",
                    format!("{other:?}"),
                    "\"constant\"",
                ))
            }
        };

        let parents = match pa.file {
            Some(file) => {
                if pa.count.is_some()
                    || pa.qty.is_some()
                    || pa.buy_share.is_some()
                    || pa.duration_ns.is_some()
                {
                    return Err(DeskError::Toml(
                        "[parents]: `file` gives the parents; count, qty, buy_share and duration_ns generate them: use one or the other".into(),
                    ));
                }
                ParentSource::Given(parents_from_table(&resolve(file), schedule)?)
            }
            None => {
                let g = ParentsGen::default();
                let gen = ParentsGen {
                    count: int_in(
                        "parents.count",
                        pa.count.unwrap_or(i64::from(g.count)),
                        1,
                        1_000_000,
                    )? as u32,
                    qty: int_in(
                        "parents.qty",
                        pa.qty.unwrap_or(g.qty as i64),
                        1,
                        999_999_999_999_999,
                    )? as u64,
                    buy_share: pa.buy_share.unwrap_or(g.buy_share),
                    duration_ns: pa.duration_ns,
                };
                gen.validate()?;
                ParentSource::Generate(gen)
            }
        };

        let sim_spec: ScenarioSpec = toml::Value::Table(table)
            .try_into()
            .map_err(|e| DeskError::Toml(e.to_string().trim_end().replace('\n', " ")))?;
        let sim = receive_path(&sim_spec, base_dir)?;
        Ok(DeskScenario {
            seed: sim.seed(),
            sim_spec,
            sim,
            market,
            config: DeskConfig {
                strategy,
                venue: VenueConfig {
                    queue_model,
                    latency,
                },
                parents,
                feed_offset_ns,
                record_views: false,
            },
        })
    }
}
