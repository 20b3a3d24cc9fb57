//! A seeded synthetic limit-order book: a day of market data of any length for users
//! without a LOBSTER file (SPEC §5.2 "Market").
//!
//! # The model
//! A queue-reactive book in the spirit of Huang, Lehalle and Rosenbaum (2015) with
//! self-exciting (Hawkes) message times:
//!
//! - **Ladder.** Each side shows [`MAX_LEVELS`] levels at consecutive ticks from its best
//!   price (bid levels at `bid, bid - tick, ...`, ask levels at `ask, ask + tick, ...`),
//!   every one non-empty. Sizes are whole lots (`lot` shares). At the start the best bid
//!   is `initial_mid` rounded down to a tick, the best ask one tick above, and every
//!   level holds a *new-level size*.
//! - **New-level size.** Uniform on `1..=2 * level_lots_mean - 1` lots (mean
//!   `level_lots_mean` lots). **Order size**: uniform on `1..=2 * order_lots_mean - 1`
//!   lots.
//! - **Times.** Messages arrive as a Hawkes process with an exponential kernel: intensity
//!   `λ(t) = μ + Σ_i n β exp(-β (t - t_i))` with branching ratio `n = branching`,
//!   `β = 1 / burst_decay_ns` and `μ = rate_per_s (1 - n)`, so the long-run rate is
//!   `rate_per_s` and each message triggers on average `n` more within about
//!   `burst_decay_ns`: data arrives in bursts as real feeds do. `branching = 0` is a
//!   Poisson process. The excitation starts at its stationary mean (no warm-up). Times
//!   are drawn exactly (Dassios and Zhao 2013), not by thinning.
//! - **What each message does.** The side (bid or ask) is a fair coin. With probability
//!   `execute_share` a market order of one order size hits that side's best level (an
//!   `Execute` of the resting side at the best price, at most the level's size: the
//!   model's market orders never walk past the best level). Otherwise the message acts
//!   on level `k`: the best (k = 0) with probability `best_level_share`, else level
//!   `k = 1..=9` with probability proportional to `2^-(k-1)`. It is queue-reactive: with
//!   the level holding `Q` shares and `T = level_lots_mean * lot`, it is a limit order
//!   (`Submit`) with probability `T / (T + Q)` and a cancellation with probability
//!   `Q / (T + Q)`, so short queues grow and long queues shrink. A cancellation removes
//!   one order size (at most the level) and is a partial `Cancel` with probability
//!   `partial_cancel_share` (unless it empties the level), else a `Delete`. A cancellation deeper than the best never
//!   removes a level's last lot (the ladder stays dense); where it would have to, the
//!   message is a `Submit` instead.
//! - **The mid moves exactly when a best level empties, or when a limit order improves
//!   the spread.** When an execution or cancellation empties a best level, the next level
//!   (one tick further out) becomes the best, the spread widens by one tick, and a new
//!   deepest level with a new-level size comes into view. While the spread is wider than
//!   one tick, a limit order for the best level is placed one tick inside the spread (a
//!   new best level of one order size; the deepest level leaves the 10-level view).
//!   So the book is never crossed nor locked.
//! - **Price floor.** A bid depletion that would show a price <= 0 does not happen: the
//!   message leaves one lot (or is a `Submit` when the level holds one lot).
//! - **Identity.** Submits carry fresh order ids 1, 2, ...; the model does not track
//!   individual resting orders, so cancel, delete and execute messages carry order id 0.
//!
//! Every cursor regenerates the same messages from the seed (`seed_offset` plus the
//! run's seed), in O(1) memory and with no allocation per message.
//!
//! # Keys (`[market]` with `kind = "synthetic"`; all optional)
//! | key | type | default | range | meaning |
//! |---|---|---|---|---|
//! | `symbol` | string | `"SYN"` | non-empty | symbol of the md events |
//! | `venue` | string | `"XSYN"` | non-empty | venue of the md events |
//! | `stream` | string | `"md"` | non-empty | feed name (the md events' `stream`) |
//! | `seed_offset` | integer | 0 | >= 0 | added to the run's seed |
//! | `start_ns` | integer | 34 200 000 000 000 (09:30) | 0..=2^62 | time of the day's start, ns |
//! | `messages` | integer | 1 000 000 (when `duration_ns` is absent) | 1..=10^12 | messages in the day |
//! | `duration_ns` | integer | — | 1..=10^15 | length of the day instead of `messages` |
//! | `tick` | integer | 100 ($0.01) | 1..=10^8 | tick size, 1/10 000 $ |
//! | `initial_mid` | integer | 1 000 000 ($100) | 10 ticks..=10^12 | starting mid, 1/10 000 $ |
//! | `lot` | integer | 100 | 1..=10^6 | shares per lot |
//! | `order_lots_mean` | integer | 2 | 1..=10^4 | mean order size, lots |
//! | `level_lots_mean` | integer | 8 | 1..=10^4 | mean new-level size and queue target, lots |
//! | `rate_per_s` | float | 20 000 | (0, 10^9] | long-run messages per second |
//! | `branching` | float | 0.75 | [0, 0.99] | Hawkes branching ratio (burstiness) |
//! | `burst_decay_ns` | float | 50 000 | [1, 10^12] | Hawkes kernel time constant, ns |
//! | `execute_share` | float | 0.10 | [0, 1) | share of messages that are executions |
//! | `best_level_share` | float | 0.45 | (0, 1] | share of submits/cancels at the best level |
//! | `partial_cancel_share` | float | 0.05 | [0, 1] | share of cancellations that are partial |

use crate::market::{Book, Level, Market, MarketCursor, Message, MessageKind, Price, MAX_LEVELS};
use crate::DeskError;
use coalescope_metrics::bootstrap::{splitmix64, SplitMix64};
use coalescope_timeline::Side;
use serde::Deserialize;

/// `[market]` of a desk scenario with `kind = "synthetic"` (the key removed), as written.
/// Every key is optional; see the module docs for defaults and ranges.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Symbol of the md events (default `SYN`).
    pub symbol: Option<String>,
    /// Venue of the md events (default `XSYN`).
    pub venue: Option<String>,
    /// Feed name, the md events' `stream` (default `md`).
    pub stream: Option<String>,
    /// Added to the run's seed (default 0).
    pub seed_offset: Option<i64>,
    /// Start of the day, ns (default 34 200 000 000 000 = 09:30 after midnight).
    pub start_ns: Option<i64>,
    /// Messages in the day (default 1 000 000 unless `duration_ns` is given).
    pub messages: Option<i64>,
    /// Length of the day in ns, instead of `messages`.
    pub duration_ns: Option<i64>,
    /// Tick size in 1/10 000 $ (default 100 = one cent).
    pub tick: Option<i64>,
    /// Starting mid in 1/10 000 $ (default 1 000 000 = $100).
    pub initial_mid: Option<i64>,
    /// Shares per lot (default 100).
    pub lot: Option<i64>,
    /// Mean order size in lots (default 2).
    pub order_lots_mean: Option<i64>,
    /// Mean new-level size and queue target in lots (default 8).
    pub level_lots_mean: Option<i64>,
    /// Long-run messages per second (default 20 000).
    pub rate_per_s: Option<f64>,
    /// Hawkes branching ratio, 0 = Poisson (default 0.75).
    pub branching: Option<f64>,
    /// Hawkes kernel time constant in ns (default 50 000).
    pub burst_decay_ns: Option<f64>,
    /// Share of messages that are executions (default 0.10).
    pub execute_share: Option<f64>,
    /// Share of submits and cancellations at the best level (default 0.45).
    pub best_level_share: Option<f64>,
    /// Share of cancellations that are partial `Cancel`s rather than `Delete`s (default 0.05).
    pub partial_cancel_share: Option<f64>,
}

/// Where the day ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DayLength {
    /// After this many messages.
    Messages(u64),
    /// At the first message at or after `start_ns + ns`.
    DurationNs(i64),
}

/// The validated model parameters (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticParams {
    /// Seed of the generator (the run's seed plus `seed_offset`).
    pub seed: u64,
    /// Start of the day, ns.
    pub start_ns: i64,
    /// Length of the day.
    pub length: DayLength,
    /// Tick, 1/10 000 $.
    pub tick: Price,
    /// Starting mid, 1/10 000 $.
    pub initial_mid: Price,
    /// Shares per lot.
    pub lot: u64,
    /// Mean order size, lots.
    pub order_lots_mean: u64,
    /// Mean new-level size, lots.
    pub level_lots_mean: u64,
    /// Long-run messages per second.
    pub rate_per_s: f64,
    /// Hawkes branching ratio.
    pub branching: f64,
    /// Hawkes kernel time constant, ns.
    pub burst_decay_ns: f64,
    /// Probability a message is an execution.
    pub execute_share: f64,
    /// Probability a submit/cancel acts on the best level.
    pub best_level_share: f64,
    /// Probability a cancellation is partial.
    pub partial_cancel_share: f64,
}

/// The default `start_ns`: 09:30 as ns after midnight (LOBSTER's clock).
pub const DEFAULT_START_NS: i64 = 34_200_000_000_000;
/// The default day length in messages.
pub const DEFAULT_MESSAGES: u64 = 1_000_000;

fn bad(key: &str, value: impl std::fmt::Display, expected: &str) -> DeskError {
    DeskError::Market(format!(
        "synthetic market key `market.{key}` = {value} is out of range: expected {expected}"
    ))
}

fn int(key: &str, v: Option<i64>, default: i64, lo: i64, hi: i64) -> Result<i64, DeskError> {
    let v = v.unwrap_or(default);
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(bad(key, v, &format!("an integer in {lo}..={hi}")))
    }
}

fn real(
    key: &str,
    v: Option<f64>,
    default: f64,
    ok: bool,
    expected: &str,
) -> Result<f64, DeskError> {
    let x = v.unwrap_or(default);
    if x.is_finite() && ok {
        Ok(x)
    } else {
        Err(bad(key, x, expected))
    }
}

fn name(key: &str, v: &Option<String>, default: &str) -> Result<String, DeskError> {
    match v {
        None => Ok(default.to_string()),
        Some(s) if !s.trim().is_empty() => Ok(s.clone()),
        Some(s) => Err(bad(key, format!("{s:?}"), "a non-empty string")),
    }
}

impl SyntheticSpec {
    /// Checks every key (errors name it, as `market.KEY`) and builds the market with run
    /// seed 0 (see [`SyntheticSpec::validate_with_seed`]).
    pub fn validate(&self) -> Result<SyntheticMarket, DeskError> {
        self.validate_with_seed(0)
    }

    /// As [`SyntheticSpec::validate`], for a run seeded `seed`: the generator's seed is
    /// `seed + seed_offset` (wrapping).
    pub fn validate_with_seed(&self, seed: u64) -> Result<SyntheticMarket, DeskError> {
        let symbol = name("symbol", &self.symbol, "SYN")?;
        let venue = name("venue", &self.venue, "XSYN")?;
        let stream = name("stream", &self.stream, "md")?;
        let seed_offset = int("seed_offset", self.seed_offset, 0, 0, i64::MAX)? as u64;
        let start_ns = int("start_ns", self.start_ns, DEFAULT_START_NS, 0, 1 << 62)?;
        let length = match (self.messages, self.duration_ns) {
            (Some(_), Some(_)) => {
                return Err(DeskError::Market(
                    "synthetic market keys `market.messages` and `market.duration_ns` both \
                     given: the day's length is one of them"
                        .to_string(),
                ))
            }
            (None, Some(d)) => {
                DayLength::DurationNs(int("duration_ns", Some(d), 0, 1, 1_000_000_000_000_000)?)
            }
            (m, None) => DayLength::Messages(int(
                "messages",
                m,
                DEFAULT_MESSAGES as i64,
                1,
                1_000_000_000_000,
            )? as u64),
        };
        let tick = int("tick", self.tick, 100, 1, 100_000_000)?;
        let initial_mid = int(
            "initial_mid",
            self.initial_mid,
            1_000_000,
            MAX_LEVELS as i64 * tick,
            1_000_000_000_000,
        )?;
        let lot = int("lot", self.lot, 100, 1, 1_000_000)? as u64;
        let order_lots_mean = int("order_lots_mean", self.order_lots_mean, 2, 1, 10_000)? as u64;
        let level_lots_mean = int("level_lots_mean", self.level_lots_mean, 8, 1, 10_000)? as u64;
        let r = self.rate_per_s.unwrap_or(20_000.0);
        let rate_per_s = real(
            "rate_per_s",
            self.rate_per_s,
            20_000.0,
            r > 0.0 && r <= 1e9,
            "a number > 0 and <= 1e9 per second",
        )?;
        let b = self.branching.unwrap_or(0.75);
        let branching = real(
            "branching",
            self.branching,
            0.75,
            (0.0..=0.99).contains(&b),
            "a number in [0, 0.99]",
        )?;
        let d = self.burst_decay_ns.unwrap_or(50_000.0);
        let burst_decay_ns = real(
            "burst_decay_ns",
            self.burst_decay_ns,
            50_000.0,
            (1.0..=1e12).contains(&d),
            "a number of ns in [1, 1e12]",
        )?;
        let e = self.execute_share.unwrap_or(0.10);
        let execute_share = real(
            "execute_share",
            self.execute_share,
            0.10,
            (0.0..1.0).contains(&e),
            "a probability in [0, 1)",
        )?;
        let s = self.best_level_share.unwrap_or(0.45);
        let best_level_share = real(
            "best_level_share",
            self.best_level_share,
            0.45,
            s > 0.0 && s <= 1.0,
            "a probability in (0, 1]",
        )?;
        let p = self.partial_cancel_share.unwrap_or(0.05);
        let partial_cancel_share = real(
            "partial_cancel_share",
            self.partial_cancel_share,
            0.05,
            (0.0..=1.0).contains(&p),
            "a probability in [0, 1]",
        )?;
        Ok(SyntheticMarket {
            symbol,
            venue,
            stream,
            seed_offset,
            params: SyntheticParams {
                seed: seed.wrapping_add(seed_offset),
                start_ns,
                length,
                tick,
                initial_mid,
                lot,
                order_lots_mean,
                level_lots_mean,
                rate_per_s,
                branching,
                burst_decay_ns,
                execute_share,
                best_level_share,
                partial_cancel_share,
            },
        })
    }
}

/// A validated synthetic market: every [`Market::cursor`] regenerates the same day.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticMarket {
    symbol: String,
    venue: String,
    stream: String,
    seed_offset: u64,
    params: SyntheticParams,
}

impl SyntheticMarket {
    /// The validated parameters.
    pub fn params(&self) -> &SyntheticParams {
        &self.params
    }

    /// The same market for a run seeded `seed` (the generator uses `seed + seed_offset`).
    pub fn with_run_seed(mut self, seed: u64) -> Self {
        self.params.seed = seed.wrapping_add(self.seed_offset);
        self
    }

    /// A cursor of the concrete type (what [`Market::cursor`] boxes).
    pub fn synthetic_cursor(&self) -> SyntheticCursor {
        SyntheticCursor::new(&self.params)
    }
}

impl Market for SyntheticMarket {
    fn symbol(&self) -> &str {
        &self.symbol
    }

    fn venue(&self) -> Option<&str> {
        Some(&self.venue)
    }

    fn stream(&self) -> &str {
        &self.stream
    }

    fn cursor(&self) -> Box<dyn MarketCursor + '_> {
        Box::new(self.synthetic_cursor())
    }
}

/// One side's ladder: the best price and the sizes of the levels at consecutive ticks.
#[derive(Debug, Clone, Copy)]
struct Ladder {
    best: Price,
    sizes: [u64; MAX_LEVELS],
}

/// Walks one synthetic day; O(1) memory, no allocation per message.
#[derive(Debug, Clone)]
pub struct SyntheticCursor {
    rng: SplitMix64,
    book: Book,
    bid: Ladder,
    ask: Ladder,
    tick: Price,
    lot: u64,
    /// Orders are `1..=order_span` lots; new levels `1..=level_span` lots.
    order_span: u64,
    level_span: u64,
    target: f64,
    execute_share: f64,
    best_level_share: f64,
    partial_cancel_share: f64,
    /// Cumulative probabilities of levels 1..=9 given "not the best".
    deep_cdf: [f64; MAX_LEVELS - 1],
    /// `1 / (1 - best_level_share)` (unused when that share is 1).
    deep_scale: f64,
    /// Time since the start, ns (fractional).
    t: f64,
    start_ns: i64,
    end: DayLength,
    emitted: u64,
    /// Hawkes state: background rate μ and excitation E (per ns), β (per ns), jump n β.
    mu: f64,
    /// Time of the next background (immigrant) arrival, ns since the start.
    next_background: f64,
    excitation: f64,
    beta: f64,
    jump: f64,
    next_id: u64,
}

/// `floor(r * n / 2^64)`: uniform in `0..n` from 64 random bits (bias below n / 2^64).
#[inline]
fn scale(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

/// A uniform float in (0, 1] from 64 random bits.
#[inline]
fn unit_open0(r: u64) -> f64 {
    ((r >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `floor(r * n / 2^32)`: uniform in `0..n` from 32 random bits (bias below n / 2^32).
#[inline]
fn scale32(r: u32, n: u64) -> u64 {
    (u64::from(r) * n) >> 32
}

/// A uniform float in [0, 1) from 32 random bits.
#[inline]
fn unit32(r: u32) -> f64 {
    f64::from(r) * (1.0 / 4_294_967_296.0)
}

/// A uniform float in [0, 1) from 64 random bits.
#[inline]
fn unit(r: u64) -> f64 {
    (r >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl SyntheticCursor {
    fn new(p: &SyntheticParams) -> Self {
        let mut rng = SplitMix64::new(splitmix64(p.seed));
        let level_span = 2 * p.level_lots_mean - 1;
        let mut fresh = [0u64; 2 * MAX_LEVELS];
        for s in fresh.iter_mut() {
            *s = (1 + scale(rng.next_u64(), level_span)) * p.lot;
        }
        let bid_best = p.initial_mid.div_euclid(p.tick) * p.tick;
        let mut bid = Ladder {
            best: bid_best,
            sizes: [0; MAX_LEVELS],
        };
        let mut ask = Ladder {
            best: bid_best + p.tick,
            sizes: [0; MAX_LEVELS],
        };
        bid.sizes.copy_from_slice(&fresh[..MAX_LEVELS]);
        ask.sizes.copy_from_slice(&fresh[MAX_LEVELS..]);
        let mut deep_cdf = [0.0; MAX_LEVELS - 1];
        let total: f64 = (0..MAX_LEVELS - 1).map(|k| 0.5f64.powi(k as i32)).sum();
        let mut acc = 0.0;
        for (k, c) in deep_cdf.iter_mut().enumerate() {
            acc += 0.5f64.powi(k as i32) / total;
            *c = acc;
        }
        deep_cdf[MAX_LEVELS - 2] = 1.0;
        let rate_ns = p.rate_per_s / 1e9;
        let beta = 1.0 / p.burst_decay_ns;
        let mut c = SyntheticCursor {
            rng,
            book: Book::empty(),
            bid,
            ask,
            tick: p.tick,
            lot: p.lot,
            order_span: 2 * p.order_lots_mean - 1,
            level_span,
            target: (p.level_lots_mean * p.lot) as f64,
            execute_share: p.execute_share,
            best_level_share: p.best_level_share,
            partial_cancel_share: p.partial_cancel_share,
            deep_cdf,
            deep_scale: 1.0 / (1.0 - p.best_level_share),
            t: 0.0,
            start_ns: p.start_ns,
            end: p.length,
            emitted: 0,
            mu: rate_ns * (1.0 - p.branching),
            next_background: 0.0,
            excitation: rate_ns * p.branching,
            beta,
            jump: p.branching * beta,
            next_id: 1,
        };
        c.next_background = -unit_open0(c.rng.next_u64()).ln() / c.mu;
        c.show(Side::Buy);
        c.show(Side::Sell);
        c
    }

    /// Copies one ladder into the displayed book.
    #[inline]
    fn show(&mut self, side: Side) {
        let (ladder, step) = match side {
            Side::Buy => (self.bid, -self.tick),
            Side::Sell => (self.ask, self.tick),
        };
        self.book.set_side(
            side,
            (0..MAX_LEVELS).map(|k| Level {
                price: ladder.best + step * k as i64,
                size: ladder.sizes[k],
            }),
        );
    }

    /// Advances the Hawkes clock to the next message (exact simulation: the next
    /// background arrival is kept until it happens, memorylessness makes that exact; the
    /// first excited arrival is drawn by inversion from the current excitation).
    #[inline]
    fn advance_time(&mut self) {
        let gap = self.next_background - self.t;
        if self.excitation > 0.0 {
            let d = 1.0 + self.beta * unit_open0(self.rng.next_u64()).ln() / self.excitation;
            if d > 0.0 {
                let s2 = -d.ln() / self.beta;
                if s2 < gap {
                    self.excitation = self.excitation * d + self.jump;
                    self.t += s2;
                    return;
                }
            }
            self.excitation = self.excitation * (-self.beta * gap).exp() + self.jump;
        }
        self.t = self.next_background;
        self.next_background = self.t - unit_open0(self.rng.next_u64()).ln() / self.mu;
    }

    #[inline]
    fn new_level_size(&mut self) -> u64 {
        (1 + scale(self.rng.next_u64(), self.level_span)) * self.lot
    }

    #[inline]
    fn ladder(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bid,
            Side::Sell => &mut self.ask,
        }
    }

    /// Price `k` ticks out from `side`'s best.
    #[inline]
    fn price_at(&self, side: Side, k: usize) -> Price {
        match side {
            Side::Buy => self.bid.best - self.tick * k as i64,
            Side::Sell => self.ask.best + self.tick * k as i64,
        }
    }

    /// Whether `side`'s best level may empty (the bid's price floor).
    #[inline]
    fn may_deplete(&self, side: Side) -> bool {
        match side {
            Side::Buy => self.bid.best - self.tick * MAX_LEVELS as i64 > 0,
            Side::Sell => true,
        }
    }

    /// Removes `size` shares from level `k`; an emptied best level shifts the ladder out.
    #[inline]
    fn remove(&mut self, side: Side, k: usize, size: u64) {
        let tick = self.tick;
        let emptied = self.ladder(side).sizes[k] == size;
        let fresh = if emptied { self.new_level_size() } else { 0 };
        let ladder = self.ladder(side);
        ladder.sizes[k] -= size;
        if emptied {
            ladder.sizes.copy_within(1.., 0);
            ladder.sizes[MAX_LEVELS - 1] = fresh;
            ladder.best += match side {
                Side::Buy => -tick,
                Side::Sell => tick,
            };
        }
    }

    /// A limit order of `size` for level `k` (inside the spread when `k = 0` and the
    /// spread is wider than a tick). Returns its price.
    #[inline]
    fn submit(&mut self, side: Side, k: usize, size: u64) -> Price {
        let tick = self.tick;
        let improve = k == 0 && self.ask.best - self.bid.best > tick;
        let ladder = self.ladder(side);
        if improve {
            ladder.sizes.copy_within(..MAX_LEVELS - 1, 1);
            ladder.sizes[0] = size;
            ladder.best += match side {
                Side::Buy => tick,
                Side::Sell => -tick,
            };
        } else {
            ladder.sizes[k] += size;
        }
        self.price_at(side, k)
    }

    /// Generates the next message (the book is updated).
    #[inline]
    fn step(&mut self) -> Message {
        let r = self.rng.next_u64();
        let side = if r & 1 == 0 { Side::Buy } else { Side::Sell };
        let u = unit(r);
        // One draw for the order size (low 32 bits) and the level (high 32 bits), one for
        // limit-or-cancel (high) and partial-or-delete (low).
        let r2 = self.rng.next_u64();
        let size = (1 + scale32(r2 as u32, self.order_span)) * self.lot;
        let (kind, price, size) = if u < self.execute_share {
            let q = self.ladder(side).sizes[0];
            let mut take = size.min(q);
            if take == q && !self.may_deplete(side) {
                take = q - self.lot;
            }
            if take > 0 {
                let price = self.price_at(side, 0);
                self.remove(side, 0, take);
                (MessageKind::Execute, price, take)
            } else {
                (MessageKind::Submit, self.submit(side, 0, size), size)
            }
        } else {
            let v = unit32((r2 >> 32) as u32);
            let k = if v < self.best_level_share {
                0
            } else {
                let w = (v - self.best_level_share) * self.deep_scale;
                1 + self
                    .deep_cdf
                    .iter()
                    .position(|&c| w < c)
                    .unwrap_or(MAX_LEVELS - 2)
            };
            let q = self.ladder(side).sizes[k];
            let r3 = self.rng.next_u64();
            let z = unit32((r3 >> 32) as u32);
            let cancel = z * (self.target + q as f64) >= self.target;
            let keep_last = k > 0 || !self.may_deplete(side);
            let take = if keep_last {
                size.min(q - self.lot)
            } else {
                size.min(q)
            };
            if cancel && take > 0 {
                let price = self.price_at(side, k);
                let partial = unit32(r3 as u32) < self.partial_cancel_share;
                let kind = if partial && take < q {
                    MessageKind::Cancel
                } else {
                    MessageKind::Delete
                };
                self.remove(side, k, take);
                (kind, price, take)
            } else {
                (MessageKind::Submit, self.submit(side, k, size), size)
            }
        };
        let order_id = if kind == MessageKind::Submit {
            self.next_id += 1;
            self.next_id - 1
        } else {
            0
        };
        self.show(side);
        Message {
            t_ns: self.start_ns + self.t as i64,
            kind,
            order_id,
            size,
            price,
            side,
        }
    }
}

impl MarketCursor for SyntheticCursor {
    fn next_message(&mut self) -> Result<Option<(Message, &Book)>, DeskError> {
        match self.end {
            DayLength::Messages(n) if self.emitted >= n => return Ok(None),
            _ => {}
        }
        self.advance_time();
        if let DayLength::DurationNs(d) = self.end {
            if self.t >= d as f64 {
                return Ok(None);
            }
        }
        self.emitted += 1;
        let m = self.step();
        Ok(Some((m, &self.book)))
    }
}
