//! Arrival processes: when packets reach the NIC (SPEC §2 inputs).
//!
//! One trait, [`ArrivalProcess`], and one small implementation per process. Every
//! process owns its own seeded RNG, so the arrivals of one stream do not depend on how
//! many other streams a scenario has. Time is kept in integer nanoseconds on the output
//! side; the synthetic processes accumulate exact `f64` nanoseconds internally and round
//! each instant, so rounding never drifts the mean rate.

use coalescope_timeline::Instant;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use crate::error::SimError;
use crate::output::Template;
use crate::replay;
use crate::scenario::{ArrivalConfig, StreamConfig};

/// The seeded, portable generator used everywhere in the simulator (xoshiro256++:
/// its output for a seed is fixed by its published algorithm, unlike `StdRng`).
pub type SimRng = Xoshiro256PlusPlus;

/// Arrivals must fall at or before this instant (2^62 ns, about 146 years after the
/// epoch): a synthetic stream whose next arrival falls later stops there (the summary
/// warns), so host delays added to an arrival never overflow `i64`.
pub const TIME_HORIZON_NS: i64 = 1 << 62;

const HORIZON: f64 = TIME_HORIZON_NS as f64;

/// A source of packet arrival instants, in non-decreasing order.
pub trait ArrivalProcess {
    /// The next arrival (integer ns), or `None` when the process is exhausted (replay)
    /// or its next arrival falls past [`TIME_HORIZON_NS`].
    fn next_arrival(&mut self) -> Option<i64>;

    /// True once the process stopped because its next arrival fell past
    /// [`TIME_HORIZON_NS`].
    fn out_of_range(&self) -> bool {
        false
    }
}

/// Whether `clock` is past the horizon (or NaN).
#[inline]
fn past_horizon(clock: f64) -> bool {
    use std::cmp::Ordering::{Equal, Less};
    !matches!(clock.partial_cmp(&HORIZON), Some(Less | Equal))
}

/// `clock` as an arrival, or `None` (and `ended` set) past the horizon (or NaN).
#[inline]
fn within_horizon(clock: f64, ended: &mut bool) -> Option<i64> {
    if past_horizon(clock) {
        *ended = true;
        None
    } else {
        Some(to_ns(clock))
    }
}

/// An exponential sample with the given mean (ns).
#[inline]
fn exp_ns(rng: &mut SimRng, mean_ns: f64) -> f64 {
    let e: f64 = Exp1.sample(rng);
    e * mean_ns
}

/// Rounds a continuous clock to the integer-ns instant reported for it (half away from
/// zero, like `f64::round`, but without the libm call that `round` is on baseline x86-64).
#[inline]
fn to_ns(t: f64) -> i64 {
    if t >= 0.0 {
        (t + 0.5) as i64
    } else {
        -((0.5 - t) as i64)
    }
}

/// Poisson arrivals at a constant rate.
#[derive(Debug, Clone)]
pub struct Poisson {
    mean_gap_ns: f64,
    clock: f64,
    ended: bool,
    rng: SimRng,
}

impl Poisson {
    /// Poisson arrivals at `rate_per_s`, starting after `start_ns`.
    pub fn new(rate_per_s: f64, start_ns: i64, rng: SimRng) -> Self {
        Poisson {
            mean_gap_ns: 1e9 / rate_per_s,
            clock: start_ns as f64,
            ended: false,
            rng,
        }
    }
}

impl ArrivalProcess for Poisson {
    #[inline]
    fn next_arrival(&mut self) -> Option<i64> {
        if self.ended {
            return None;
        }
        self.clock += exp_ns(&mut self.rng, self.mean_gap_ns);
        within_horizon(self.clock, &mut self.ended)
    }

    fn out_of_range(&self) -> bool {
        self.ended
    }
}

/// Two-state Markov-modulated Poisson process (bursty feeds): rate `rates[i]` while in
/// state `i`, leaving state `i` at rate `switch[i]`.
#[derive(Debug, Clone)]
pub struct Mmpp2 {
    mean_gap_ns: [f64; 2],
    mean_stay_ns: [f64; 2],
    state: usize,
    clock: f64,
    switch_at: f64,
    ended: bool,
    rng: SimRng,
}

impl Mmpp2 {
    /// MMPP-2 with arrival rates and leave rates per second, starting in state 0 (the
    /// first rate) at `start_ns`.
    pub fn new(
        rates_per_s: [f64; 2],
        switch_per_s: [f64; 2],
        start_ns: i64,
        mut rng: SimRng,
    ) -> Self {
        let mean_gap_ns = [1e9 / rates_per_s[0], 1e9 / rates_per_s[1]];
        let mean_stay_ns = [1e9 / switch_per_s[0], 1e9 / switch_per_s[1]];
        let clock = start_ns as f64;
        let switch_at = clock + exp_ns(&mut rng, mean_stay_ns[0]);
        Mmpp2 {
            mean_gap_ns,
            mean_stay_ns,
            state: 0,
            clock,
            switch_at,
            ended: false,
            rng,
        }
    }
}

impl ArrivalProcess for Mmpp2 {
    fn next_arrival(&mut self) -> Option<i64> {
        // Validation bounds the expected switches per arrival
        // (`MAX_SWITCHES_PER_ARRIVAL`); the horizon bounds the loop in any case.
        while !self.ended {
            // Memorylessness: a candidate arrival past the switch is discarded and the
            // race restarts from the switch instant in the new state.
            let candidate = self.clock + exp_ns(&mut self.rng, self.mean_gap_ns[self.state]);
            if candidate <= self.switch_at {
                self.clock = candidate;
                return within_horizon(candidate, &mut self.ended);
            }
            self.clock = self.switch_at;
            if past_horizon(self.clock) {
                self.ended = true;
                break;
            }
            self.state ^= 1;
            self.switch_at = self.clock + exp_ns(&mut self.rng, self.mean_stay_ns[self.state]);
        }
        None
    }

    fn out_of_range(&self) -> bool {
        self.ended
    }
}

/// On/off bursts: Poisson at `rate` during exponentially long "on" periods, silence
/// during exponentially long "off" periods. Starts in an "on" period.
#[derive(Debug, Clone)]
pub struct OnOff {
    mean_gap_ns: f64,
    on_mean_ns: f64,
    off_mean_ns: f64,
    clock: f64,
    on_until: f64,
    ended: bool,
    rng: SimRng,
}

impl OnOff {
    /// On/off source with the given on-rate and mean period lengths (ns).
    pub fn new(
        rate_per_s: f64,
        on_mean_ns: f64,
        off_mean_ns: f64,
        start_ns: i64,
        mut rng: SimRng,
    ) -> Self {
        let clock = start_ns as f64;
        let on_until = clock + exp_ns(&mut rng, on_mean_ns);
        OnOff {
            mean_gap_ns: 1e9 / rate_per_s,
            on_mean_ns,
            off_mean_ns,
            clock,
            on_until,
            ended: false,
            rng,
        }
    }
}

impl ArrivalProcess for OnOff {
    fn next_arrival(&mut self) -> Option<i64> {
        // Validation bounds the expected on periods per arrival
        // (`MAX_SWITCHES_PER_ARRIVAL`); the horizon bounds the loop in any case.
        while !self.ended {
            let candidate = self.clock + exp_ns(&mut self.rng, self.mean_gap_ns);
            if candidate <= self.on_until {
                self.clock = candidate;
                return within_horizon(candidate, &mut self.ended);
            }
            let off = exp_ns(&mut self.rng, self.off_mean_ns);
            self.clock = self.on_until + off;
            if past_horizon(self.clock) {
                self.ended = true;
                break;
            }
            self.on_until = self.clock + exp_ns(&mut self.rng, self.on_mean_ns);
        }
        None
    }

    fn out_of_range(&self) -> bool {
        self.ended
    }
}

/// Periodic arrivals with uniform jitter: tick `k` arrives at
/// `start + phase + k * period + U[0, jitter]`. `jitter <= period` keeps them ordered.
#[derive(Debug, Clone)]
pub struct Periodic {
    next_tick: i64,
    period_ns: i64,
    jitter_ns: i64,
    last: i64,
    ended: bool,
    rng: SimRng,
}

impl Periodic {
    /// Periodic source; the caller guarantees `period_ns > 0` and `0 <= jitter_ns <= period_ns`.
    pub fn new(period_ns: i64, jitter_ns: i64, phase_ns: i64, start_ns: i64, rng: SimRng) -> Self {
        Periodic {
            next_tick: start_ns + phase_ns,
            period_ns,
            jitter_ns,
            last: i64::MIN,
            ended: false,
            rng,
        }
    }
}

impl ArrivalProcess for Periodic {
    fn next_arrival(&mut self) -> Option<i64> {
        if self.ended || self.next_tick > TIME_HORIZON_NS {
            self.ended = true;
            return None;
        }
        let jitter = if self.jitter_ns > 0 {
            self.rng.random_range(0..=self.jitter_ns)
        } else {
            0
        };
        // next_tick <= 2^62 and jitter <= period <= 1e15: no overflow.
        let t = (self.next_tick + jitter).max(self.last);
        if t > TIME_HORIZON_NS {
            self.ended = true;
            return None;
        }
        self.next_tick = self.next_tick.saturating_add(self.period_ns);
        self.last = t;
        Some(t)
    }

    fn out_of_range(&self) -> bool {
        self.ended
    }
}

/// Replay of recorded arrival instants (from a timeline or a LOBSTER file), already
/// sorted, shifted and scaled by the scenario.
#[derive(Debug, Clone)]
pub struct Replay {
    times: std::sync::Arc<[i64]>,
    next: usize,
}

impl Replay {
    /// Replays `times`, which must be sorted ascending.
    pub fn new(times: Vec<i64>) -> Self {
        Self::shared(times.into())
    }

    /// Replays shared `times` (sorted ascending) without copying them.
    pub fn shared(times: std::sync::Arc<[i64]>) -> Self {
        Replay { times, next: 0 }
    }

    /// Number of recorded arrivals.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

impl ArrivalProcess for Replay {
    #[inline]
    fn next_arrival(&mut self) -> Option<i64> {
        let t = self.times.get(self.next).copied();
        self.next += 1;
        t
    }
}

/// Any of the processes above, so the engine dispatches without a vtable.
#[derive(Debug, Clone)]
pub enum AnyArrival {
    /// See [`Poisson`].
    Poisson(Poisson),
    /// See [`Mmpp2`].
    Mmpp2(Mmpp2),
    /// See [`OnOff`].
    OnOff(OnOff),
    /// See [`Periodic`].
    Periodic(Periodic),
    /// See [`Replay`].
    Replay(Replay),
}

impl ArrivalProcess for AnyArrival {
    #[inline]
    fn next_arrival(&mut self) -> Option<i64> {
        match self {
            AnyArrival::Poisson(p) => p.next_arrival(),
            AnyArrival::Mmpp2(p) => p.next_arrival(),
            AnyArrival::OnOff(p) => p.next_arrival(),
            AnyArrival::Periodic(p) => p.next_arrival(),
            AnyArrival::Replay(p) => p.next_arrival(),
        }
    }

    fn out_of_range(&self) -> bool {
        match self {
            AnyArrival::Poisson(p) => p.out_of_range(),
            AnyArrival::Mmpp2(p) => p.out_of_range(),
            AnyArrival::OnOff(p) => p.out_of_range(),
            AnyArrival::Periodic(p) => p.out_of_range(),
            AnyArrival::Replay(p) => p.out_of_range(),
        }
    }
}

/// The arrival process of a validated stream under the scenario `seed`, starting at
/// `start`: a synthetic process with the stream's own RNG, or the replayed instants of
/// its file (with the file's events as the stream's extra columns).
pub(crate) fn for_stream(
    stream: &StreamConfig,
    seed: u64,
    start: Instant,
) -> Result<(AnyArrival, Template), SimError> {
    let rng = derived_rng(seed, &stream.name);
    let start_ns = start.as_nanos();
    let arrivals = match stream.arrivals {
        ArrivalConfig::Poisson { rate_per_s } => {
            AnyArrival::Poisson(Poisson::new(rate_per_s, start_ns, rng))
        }
        ArrivalConfig::Mmpp {
            rates_per_s,
            switch_per_s,
        } => AnyArrival::Mmpp2(Mmpp2::new(rates_per_s, switch_per_s, start_ns, rng)),
        ArrivalConfig::OnOff {
            rate_per_s,
            on_mean_ns,
            off_mean_ns,
        } => AnyArrival::OnOff(OnOff::new(
            rate_per_s,
            on_mean_ns,
            off_mean_ns,
            start_ns,
            rng,
        )),
        ArrivalConfig::Periodic {
            period,
            jitter,
            phase,
        } => AnyArrival::Periodic(Periodic::new(
            period.as_nanos(),
            jitter.as_nanos(),
            phase.as_nanos(),
            start_ns,
            rng,
        )),
        ArrivalConfig::Replay { .. } | ArrivalConfig::Lobster { .. } => {
            let (times, template) = replay::load(stream, start)?;
            return Ok((AnyArrival::Replay(Replay::new(times)), template));
        }
        ArrivalConfig::Instants(ref times) => AnyArrival::Replay(Replay::shared(times.clone())),
    };
    Ok((arrivals, None))
}

/// SplitMix64 finaliser: spreads a 64-bit key into an independent-looking seed.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a hash of a name: stable across platforms and Rust versions.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The RNG of the component called `name` (a stream name, or an internal role such as
/// the application's service times) under the scenario seed: adding a stream does not
/// change any other stream's draws.
pub fn derived_rng(seed: u64, name: &str) -> SimRng {
    use rand::SeedableRng;
    SimRng::seed_from_u64(mix64(seed ^ mix64(name_hash(name))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mean_gap(p: &mut impl ArrivalProcess, n: usize) -> f64 {
        let first = p.next_arrival().unwrap();
        let mut last = first;
        for _ in 0..n {
            let t = p.next_arrival().unwrap();
            assert!(t >= last, "arrivals must be ordered");
            last = t;
        }
        (last - first) as f64 / n as f64
    }

    #[test]
    fn poisson_mean_gap_matches_rate() {
        let mut p = Poisson::new(200_000.0, 0, derived_rng(1, "a"));
        let g = mean_gap(&mut p, 200_000);
        assert!((g - 5_000.0).abs() / 5_000.0 < 0.01, "mean gap {g}");
    }

    #[test]
    fn mmpp_mean_rate_is_the_stationary_mix() {
        // Stationary share of state 0 = s1 / (s0 + s1) = 0.75.
        let mut p = Mmpp2::new(
            [100_000.0, 1_000_000.0],
            [1_000.0, 3_000.0],
            0,
            derived_rng(2, "m"),
        );
        let expected_rate = 0.75 * 100_000.0 + 0.25 * 1_000_000.0;
        let g = mean_gap(&mut p, 2_000_000);
        let rate = 1e9 / g;
        assert!(
            (rate - expected_rate).abs() / expected_rate < 0.03,
            "rate {rate}"
        );
    }

    #[test]
    fn on_off_mean_rate() {
        let mut p = OnOff::new(1_000_000.0, 100_000.0, 300_000.0, 0, derived_rng(3, "o"));
        let g = mean_gap(&mut p, 1_000_000);
        let rate = 1e9 / g;
        assert!((rate - 250_000.0).abs() / 250_000.0 < 0.03, "rate {rate}");
    }

    #[test]
    fn periodic_stays_in_its_jitter_window() {
        let mut p = Periodic::new(1_000, 300, 50, 0, derived_rng(4, "p"));
        for k in 0..10_000i64 {
            let t = p.next_arrival().unwrap();
            assert!(t >= 50 + k * 1_000 && t <= 50 + k * 1_000 + 300);
        }
    }

    #[test]
    fn to_ns_rounds_half_away_from_zero() {
        for (t, want) in [
            (0.0, 0),
            (0.49, 0),
            (0.5, 1),
            (2.5, 3),
            (-0.5, -1),
            (-0.49, 0),
            (-2.6, -3),
            (1e15 + 0.7, 1_000_000_000_000_001),
        ] {
            assert_eq!(to_ns(t), want, "{t}");
            assert_eq!(to_ns(t), t.round() as i64, "{t}");
        }
    }

    #[test]
    fn derived_rngs_differ_by_name_and_seed() {
        use rand::Rng;
        let a = derived_rng(7, "md").next_u64();
        assert_eq!(a, derived_rng(7, "md").next_u64());
        assert_ne!(a, derived_rng(7, "acks").next_u64());
        assert_ne!(a, derived_rng(8, "md").next_u64());
    }
}
