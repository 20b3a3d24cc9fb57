//! Traffic classes: what one recommendation is for. A Poisson rate, each stream of an
//! events table (its real `t_ingress` instants replayed), or a simulator scenario.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coalescope_sim::setting::Setting;
use coalescope_sim::{Scenario, ScenarioSpec};
use coalescope_timeline::{Event, Strings};

use crate::error::TuneError;

/// Largest Poisson rate `--rate` accepts (packets per second), the simulator's range.
pub const MAX_RATE_PER_S: f64 = 1e9;

/// Packets simulated per candidate of a `--rate` class unless told otherwise.
pub const DEFAULT_RATE_PACKETS: u64 = 100_000;

/// A replayed feed: arrival instants (ns, sorted) and the stream's keys.
#[derive(Debug, Clone)]
struct Feed {
    instants: Arc<[i64]>,
    symbol: Option<String>,
    venue: Option<String>,
}

/// One traffic class: a receive path as written (each candidate setting replaces its
/// coalescing) and, for an events stream, the instants that feed it.
#[derive(Debug, Clone)]
pub struct TrafficClass {
    /// The class name (`poisson-200000/s`, the stream name, the scenario file's stem).
    pub name: String,
    /// Where it came from, for the report (`poisson 200000/s`, `events FILE stream md`).
    pub source: String,
    spec: ScenarioSpec,
    base_dir: Option<PathBuf>,
    feed: Option<Feed>,
}

/// How the receive path of `--rate` and `--events` classes is built: the compiled-in
/// default scenario's `[nic]` and `[host]` (realistic costs), changed by these.
#[derive(Debug, Clone, Default)]
pub struct BaseOptions {
    /// Seed of every run (default: the scenario's).
    pub seed: Option<u64>,
    /// Packets per run of a `--rate` or `--scenario` class.
    pub packets: Option<u64>,
    /// Every host cost 0 (`--ideal-host`).
    pub ideal_host: bool,
    /// A `[host]` table to merge over the scenario's (`--host FILE`, as `calibrate` writes).
    pub host_toml: Option<String>,
}

fn flag(flag: &'static str, message: impl Into<String>) -> TuneError {
    TuneError::Flag {
        flag,
        message: message.into(),
    }
}

impl BaseOptions {
    fn apply(
        &self,
        spec: &mut ScenarioSpec,
        packets_default: Option<u64>,
    ) -> Result<(), TuneError> {
        if let Some(seed) = self.seed {
            spec.seed = Some(
                i64::try_from(seed)
                    .map_err(|_| flag("--seed", format!("{seed} is not below 2^63")))?,
            );
        }
        if let Some(p) = self.packets.or(packets_default) {
            if p == 0 {
                return Err(flag("--packets", "0: give at least 1 packet"));
            }
            spec.packets =
                Some(i64::try_from(p).map_err(|_| flag("--packets", format!("{p} is too large")))?);
        }
        if self.ideal_host {
            spec.use_ideal_host();
        }
        if let Some(text) = &self.host_toml {
            spec.merge_host_toml(text)?;
        }
        Ok(())
    }
}

impl TrafficClass {
    /// A Poisson stream at `rate_per_s` (finite, in (0, [`MAX_RATE_PER_S`]]) through the
    /// default receive path; [`DEFAULT_RATE_PACKETS`] packets unless `base.packets`.
    pub fn poisson(rate_per_s: f64, base: &BaseOptions) -> Result<TrafficClass, TuneError> {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= MAX_RATE_PER_S) {
            return Err(flag(
                "--rate",
                format!("{rate_per_s}: give a packet rate per second in (0, 1e9]"),
            ));
        }
        let mut spec = ScenarioSpec::default_spec();
        spec.use_poisson_stream(rate_per_s);
        base.apply(&mut spec, Some(DEFAULT_RATE_PACKETS))?;
        let class = TrafficClass {
            name: format!("poisson-{rate_per_s}/s"),
            source: format!("poisson {rate_per_s} packets/s"),
            spec,
            base_dir: None,
            feed: None,
        };
        class.check()?;
        Ok(class)
    }

    /// A simulator scenario as a class named `name` (its streams, as written, with each
    /// candidate's coalescing); relative paths resolve against `base_dir`.
    pub fn scenario(
        name: &str,
        source: &str,
        mut spec: ScenarioSpec,
        base_dir: Option<&Path>,
        base: &BaseOptions,
    ) -> Result<TrafficClass, TuneError> {
        base.apply(&mut spec, None)?;
        let class = TrafficClass {
            name: name.to_string(),
            source: source.to_string(),
            spec,
            base_dir: base_dir.map(Path::to_path_buf),
            feed: None,
        };
        class.check()?;
        Ok(class)
    }

    /// One class per stream of an events table (`origin`, the flag and file such as
    /// `--events FILE` or `--pcap FILE`, names it in messages): each
    /// stream's `t_ingress` instants, sorted, replayed through the default receive path.
    /// With `only`, just that stream. Classes come in stream-name order.
    pub fn from_events(
        origin: &str,
        events: &[Event],
        strings: &Strings,
        only: Option<&str>,
        base: &BaseOptions,
    ) -> Result<Vec<TrafficClass>, TuneError> {
        if events.is_empty() {
            return Err(TuneError::Input {
                input: origin.to_string(),
                message: "the table has no events".into(),
            });
        }
        let mut names: Vec<&str> = events.iter().map(|e| strings.resolve(e.stream)).collect();
        names.sort_unstable();
        names.dedup();
        let wanted: Vec<&str> = match only {
            None => names.clone(),
            Some(s) if names.contains(&s) => vec![s],
            Some(s) => {
                return Err(TuneError::Input {
                    input: format!("--stream {s}"),
                    message: format!(
                        "no stream `{s}` in {}; its streams: {}",
                        origin.split_once(' ').map_or(origin, |(_, f)| f),
                        names.join(", ")
                    ),
                })
            }
        };
        let mut spec = ScenarioSpec::default_spec();
        base.apply(&mut spec, None)?;
        let mut out = Vec::with_capacity(wanted.len());
        for name in wanted {
            let mine: Vec<&Event> = events
                .iter()
                .filter(|e| strings.resolve(e.stream) == name)
                .collect();
            let mut instants: Vec<i64> = mine.iter().map(|e| e.t_ingress.0).collect();
            instants.sort_unstable();
            let first = mine[0];
            let class = TrafficClass {
                name: name.to_string(),
                source: format!("{} stream {name}", origin.trim_start_matches("--")),
                spec: spec.clone(),
                base_dir: None,
                feed: Some(Feed {
                    instants: instants.into(),
                    symbol: strings.resolve_opt(first.symbol).map(str::to_string),
                    venue: strings.resolve_opt(first.venue).map(str::to_string),
                }),
            };
            class.check()?;
            out.push(class);
        }
        Ok(out)
    }

    /// Packets one run of this class simulates.
    pub fn packets(&self) -> u64 {
        match &self.feed {
            Some(f) => f.instants.len() as u64,
            None => self.spec.packets.map_or(1_000_000, |p| p.max(0) as u64),
        }
    }

    /// The Poisson rate of a single-stream Poisson class (what the closed forms model).
    pub fn poisson_rate(&self) -> Option<f64> {
        match (&self.feed, self.spec.streams.as_slice()) {
            (None, [s]) => match s.arrivals {
                coalescope_sim::scenario::ArrivalSpec::Poisson { rate_per_s } => Some(rate_per_s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The class's receive path as written, validated (errors name the field).
    fn check(&self) -> Result<(), TuneError> {
        self.build(&self.spec)
            .map(|_| ())
            .map_err(|source| TuneError::Scenario {
                class: self.name.clone(),
                source,
            })
    }

    fn build(&self, spec: &ScenarioSpec) -> Result<Scenario, coalescope_sim::ScenarioError> {
        match &self.feed {
            None => spec.validate(self.base_dir.as_deref()),
            Some(feed) => {
                let mut spec = spec.clone();
                spec.use_poisson_stream(1.0);
                spec.validate(None)?.with_arrival_instants(
                    &self.name,
                    feed.symbol.as_deref(),
                    feed.venue.as_deref(),
                    feed.instants.clone(),
                )
            }
        }
    }

    /// The scenario of this class under `setting`.
    pub fn with_setting(&self, setting: &Setting) -> Result<Scenario, TuneError> {
        let mut spec = self.spec.clone();
        setting.apply(&mut spec);
        self.build(&spec).map_err(|source| TuneError::Candidate {
            class: self.name.clone(),
            setting: setting.to_string(),
            source,
        })
    }
}
