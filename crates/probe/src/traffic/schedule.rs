//! Send schedules: the planned send instant of every datagram, as nanoseconds after the
//! start of the run. Seeded, so the same seed gives the same plan.

use coalescope_timeline::{parse_duration, Duration, Strings};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use std::path::{Path, PathBuf};

/// How datagrams are spaced in time.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Evenly spaced at `rate_pps` datagrams per second.
    Constant {
        /// Datagrams per second.
        rate_pps: f64,
    },
    /// Exponential gaps (a Poisson process) with mean rate `rate_pps`, seeded.
    Poisson {
        /// Mean datagrams per second.
        rate_pps: f64,
        /// Seed of the gap generator (Xoshiro256++, portable across platforms).
        seed: u64,
    },
    /// `size` datagrams back to back, a new burst every `gap`.
    Burst {
        /// Datagrams per burst (at least 1).
        size: u64,
        /// Time from the start of one burst to the start of the next (positive).
        gap: Duration,
    },
    /// The inter-arrival gaps of a recorded stream, repeated if more datagrams are sent
    /// than the recording holds (one mean gap between repetitions).
    Replay {
        /// Offsets from the first arrival, sorted, at least two.
        offsets: Vec<i64>,
    },
}

/// Why a schedule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule text is not one of the accepted forms.
    #[error("invalid schedule '{spec}': {reason} (use poisson, constant, burst:SIZE/GAP or replay:FILE)")]
    Syntax {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A rate is required and must be a positive finite number.
    #[error("schedule '{spec}' needs a positive --rate (got {rate:?})")]
    Rate {
        /// The schedule.
        spec: String,
        /// The rate given, if any.
        rate: Option<f64>,
    },
    /// The replay file could not be read as an events table or a LOBSTER message file.
    #[error("cannot replay '{path}': as an events table: {events}; as a LOBSTER message file: {lobster}")]
    ReplayRead {
        /// The file.
        path: PathBuf,
        /// The error of the events reader.
        events: String,
        /// The error of the LOBSTER reader.
        lobster: String,
    },
    /// The replay file holds fewer than two arrivals, so it has no gaps.
    #[error(
        "cannot replay '{path}': it holds {count} arrival(s); at least 2 are needed for a gap"
    )]
    ReplayTooShort {
        /// The file.
        path: PathBuf,
        /// Arrivals found.
        count: usize,
    },
}

impl Schedule {
    /// Parse `poisson`, `constant`, `burst:SIZE/GAP` (e.g. `burst:16/1ms`) or
    /// `replay:FILE`. `rate_pps` is required by `poisson` and `constant` only.
    pub fn parse(spec: &str, rate_pps: Option<f64>, seed: u64) -> Result<Self, ScheduleError> {
        let syntax = |reason: &str| ScheduleError::Syntax {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let rate = || match rate_pps {
            Some(r) if r.is_finite() && r > 0.0 => Ok(r),
            _ => Err(ScheduleError::Rate {
                spec: spec.to_string(),
                rate: rate_pps,
            }),
        };
        match spec.split_once(':') {
            None if spec == "poisson" => Ok(Schedule::Poisson {
                rate_pps: rate()?,
                seed,
            }),
            None if spec == "constant" => Ok(Schedule::Constant { rate_pps: rate()? }),
            Some(("burst", rest)) => {
                let (size, gap) = rest
                    .split_once('/')
                    .ok_or_else(|| syntax("burst needs SIZE/GAP"))?;
                let size: u64 = size
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| syntax("burst SIZE must be a positive integer"))?;
                let gap = parse_duration(gap).map_err(|e| syntax(&e))?;
                if gap.as_nanos() <= 0 {
                    return Err(syntax("burst GAP must be positive"));
                }
                Ok(Schedule::Burst { size, gap })
            }
            Some(("replay", path)) if !path.is_empty() => Ok(Schedule::Replay {
                offsets: replay_offsets(Path::new(path))?,
            }),
            _ => Err(syntax("unknown schedule")),
        }
    }

    /// The rate the schedule asks for, in datagrams per second.
    pub fn nominal_rate_pps(&self) -> f64 {
        match self {
            Schedule::Constant { rate_pps } | Schedule::Poisson { rate_pps, .. } => *rate_pps,
            Schedule::Burst { size, gap } => *size as f64 * 1e9 / gap.as_nanos() as f64,
            Schedule::Replay { offsets } => {
                let span =
                    offsets.last().copied().unwrap_or(0) - offsets.first().copied().unwrap_or(0);
                if span > 0 {
                    (offsets.len() - 1) as f64 * 1e9 / span as f64
                } else {
                    f64::INFINITY
                }
            }
        }
    }

    /// The planned offsets (ns after the start) of the first `count` datagrams.
    pub fn iter(&self, count: u64) -> ScheduleIter<'_> {
        let exp = match self {
            Schedule::Poisson { rate_pps, .. } => Exp::new(*rate_pps / 1e9).ok(),
            _ => None,
        };
        let seed = match self {
            Schedule::Poisson { seed, .. } => *seed,
            _ => 0,
        };
        ScheduleIter {
            schedule: self,
            index: 0,
            count,
            clock_ns: 0.0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            exp,
        }
    }
}

/// Iterator over planned send offsets (ns since the start, non-decreasing).
#[derive(Debug, Clone)]
pub struct ScheduleIter<'a> {
    schedule: &'a Schedule,
    index: u64,
    count: u64,
    clock_ns: f64,
    rng: Xoshiro256PlusPlus,
    exp: Option<Exp<f64>>,
}

impl Iterator for ScheduleIter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.index >= self.count {
            return None;
        }
        let i = self.index;
        self.index += 1;
        Some(match self.schedule {
            Schedule::Constant { rate_pps } => (i as f64 * 1e9 / rate_pps).round() as i64,
            Schedule::Poisson { .. } => {
                // The first datagram goes at 0; every later one after an exponential gap.
                if i > 0 {
                    if let Some(exp) = &self.exp {
                        self.clock_ns += exp.sample(&mut self.rng);
                    }
                }
                self.clock_ns.round() as i64
            }
            Schedule::Burst { size, gap } => {
                (i / size).saturating_mul(gap.as_nanos().unsigned_abs()) as i64
            }
            Schedule::Replay { offsets } => {
                let n = offsets.len() as u64;
                let span = offsets.last().copied().unwrap_or(0);
                let mean_gap = if n > 1 { span / (n as i64 - 1) } else { 0 };
                let round = (i / n.max(1)) as i64;
                let within = offsets.get((i % n.max(1)) as usize).copied().unwrap_or(0);
                round.saturating_mul(span + mean_gap).saturating_add(within)
            }
        })
    }
}

/// Arrival offsets (ns after the first, sorted) of a recorded stream: an events table
/// (CSV or Parquet; `t_ingress_ns` of every event) or a LOBSTER message file (its time
/// column).
pub fn replay_offsets(path: &Path) -> Result<Vec<i64>, ScheduleError> {
    let mut times = match read_event_times(path) {
        Ok(t) => t,
        Err(events) => match read_lobster_times(path) {
            Ok(t) => t,
            Err(lobster) => {
                return Err(ScheduleError::ReplayRead {
                    path: path.to_path_buf(),
                    events,
                    lobster,
                })
            }
        },
    };
    if times.len() < 2 {
        return Err(ScheduleError::ReplayTooShort {
            path: path.to_path_buf(),
            count: times.len(),
        });
    }
    times.sort_unstable();
    let first = times[0];
    Ok(times.into_iter().map(|t| t.saturating_sub(first)).collect())
}

fn read_event_times(path: &Path) -> Result<Vec<i64>, String> {
    let mut strings = Strings::new();
    let events =
        coalescope_timeline::io::load_events(path, &mut strings).map_err(|e| e.to_string())?;
    Ok(events.iter().map(|e| e.t_ingress.as_nanos()).collect())
}

fn read_lobster_times(path: &Path) -> Result<Vec<i64>, String> {
    let messages =
        coalescope_timeline::lobster::read_lobster_messages(path).map_err(|e| e.to_string())?;
    Ok(messages.iter().map(|m| m.time.as_nanos()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_burst_offsets_are_exact() {
        let c = Schedule::parse("constant", Some(4000.0), 1).unwrap();
        assert_eq!(
            c.iter(4).collect::<Vec<_>>(),
            vec![0, 250_000, 500_000, 750_000]
        );
        let b = Schedule::parse("burst:3/1ms", None, 1).unwrap();
        assert_eq!(
            b.iter(7).collect::<Vec<_>>(),
            vec![0, 0, 0, 1_000_000, 1_000_000, 1_000_000, 2_000_000]
        );
        assert!((b.nominal_rate_pps() - 3000.0).abs() < 1e-9);
    }

    #[test]
    fn poisson_is_seeded_and_has_the_requested_mean() {
        let p = Schedule::parse("poisson", Some(10_000.0), 7).unwrap();
        let a: Vec<i64> = p.iter(20_000).collect();
        let b: Vec<i64> = p.iter(20_000).collect();
        assert_eq!(a, b);
        let other: Vec<i64> = Schedule::parse("poisson", Some(10_000.0), 8)
            .unwrap()
            .iter(20_000)
            .collect();
        assert_ne!(a, other);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // Mean gap 100 us; the sample mean of 19 999 exponential gaps has a relative
        // standard error of 1/sqrt(19 999) = 0.7 %, so 5 % is > 7 sigma.
        let mean = a[a.len() - 1] as f64 / (a.len() - 1) as f64;
        assert!((mean - 100_000.0).abs() < 5_000.0, "mean gap {mean}");
    }

    #[test]
    fn replay_repeats_with_one_mean_gap_between_rounds() {
        let r = Schedule::Replay {
            offsets: vec![0, 10, 40],
        };
        // span 40, mean gap 20: second round starts at 60.
        assert_eq!(r.iter(6).collect::<Vec<_>>(), vec![0, 10, 40, 60, 70, 100]);
        assert!((r.nominal_rate_pps() - 5e7).abs() < 1e-3);
    }

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("coalescope-schedule-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn replay_reads_events_tables_and_lobster_files() {
        use coalescope_timeline::{write_events, Event, Instant};
        let mut strings = Strings::new();
        let feed = strings.intern("feed");
        // Out of order on purpose: replay sorts by t_ingress.
        let events: Vec<Event> = [5_000i64, 1_000, 1_250, 9_000]
            .iter()
            .zip(0u64..)
            .map(|(&t, seq)| Event::md(feed, seq, Instant(t)))
            .collect();
        let csv = temp_file("events.csv");
        write_events(&csv, &strings, &events).unwrap();
        assert_eq!(replay_offsets(&csv).unwrap(), vec![0, 250, 4_000, 8_000]);
        let spec = format!("replay:{}", csv.display());
        let schedule = Schedule::parse(&spec, None, 1).unwrap();
        // span 8000, mean gap 8000/3 = 2666 (integer ns): round 2 starts at 10 666.
        assert_eq!(
            schedule.iter(5).collect::<Vec<_>>(),
            vec![0, 250, 4_000, 8_000, 10_666]
        );

        let lobster = temp_file("AAPL_message_1.csv");
        std::fs::write(
            &lobster,
            "34200.004241176,1,16113575,18,5853300,1\n34200.004261552,1,16113584,18,5853200,1\n34200.025552418,3,16113575,18,5853300,1\n",
        )
        .unwrap();
        assert_eq!(
            replay_offsets(&lobster).unwrap(),
            vec![0, 20_376, 21_311_242]
        );

        let bad = temp_file("one.csv");
        std::fs::write(&bad, "34200.000000001,1,1,1,1,1\n").unwrap();
        assert!(matches!(
            replay_offsets(&bad),
            Err(ScheduleError::ReplayTooShort { count: 1, .. })
        ));
        let missing = temp_file("missing.csv");
        let err = replay_offsets(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.csv"), "{err}");
        std::fs::remove_dir_all(csv.parent().unwrap()).unwrap();
    }

    #[test]
    fn bad_specs_are_usage_errors() {
        assert!(matches!(
            Schedule::parse("poisson", None, 1),
            Err(ScheduleError::Rate { .. })
        ));
        assert!(matches!(
            Schedule::parse("constant", Some(-1.0), 1),
            Err(ScheduleError::Rate { .. })
        ));
        for bad in [
            "burst:0/1ms",
            "burst:4",
            "burst:4/0us",
            "burst:x/1ms",
            "uniform",
            "replay:",
        ] {
            assert!(
                matches!(
                    Schedule::parse(bad, Some(1.0), 1),
                    Err(ScheduleError::Syntax { .. })
                ),
                "{bad}"
            );
        }
    }
}
