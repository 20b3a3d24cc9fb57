//! Linux net_dim adaptive interrupt moderation (SPEC §2 "Adaptive") as a pure state machine.
//!
//! This module owns the decision logic only: the caller (the simulator's `adaptive`
//! coalescing policy, or a replay of real counters) feeds one [`NetDimSample`] of
//! cumulative counters per interrupt and applies the [`NetDimProfile`] it gets back.
//! Nothing here allocates, reads a clock or depends on simulator internals, so the same
//! inputs always give the same outputs.
//!
//! Implemented from the public description of the algorithm: the kernel document
//! `Documentation/networking/net_dim.rst` ("the doc" below) and the kernel-doc comments
//! of `include/linux/dim.h` that the doc includes ("the API doc"), plus SPEC §2. No kernel
//! code was translated. Each rule names the sentence it comes from:
//!
//! 1. **Window.** "The recommended method is to call net_dim() on each interrupt. Since
//!    Net DIM has a built-in moderation [...] there is no need to moderate the net_dim()
//!    calls" and SPEC "a decision is taken every 64 interrupts": the first sample opens a
//!    window; a decision is taken at the first sample whose `events` counter is at least
//!    [`DECISION_EVENTS`] (64) past the window's opening sample, and that sample opens the
//!    next window. Counters are cumulative and compared with `wrapping_sub`, so they may
//!    wrap ("Takes into consideration counter wrap-around", API doc of `dim_calc_stats`).
//! 2. **Rates.** "The data sample is composed of data bandwidth, the number of packets
//!    and the number of events. The time between samples is also measured." and SPEC
//!    "rates per millisecond": bytes, packets and interrupts per millisecond over the
//!    window, kept in fixed point with 1/1000 resolution ([`NetDimRates`]) so that slow
//!    flows (under one packet per ms) still compare meaningfully.
//! 3. **Reference.** "The previous data is the new data supplied to the previous
//!    iteration.": every decision compares against the rates of the previous decision's
//!    window, then stores its own. Before the first decision the reference is all zero.
//! 4. **Significance.** "it only considers a difference between samples as valid if it is
//!    greater than a certain percentage" with SPEC's 10 %: a metric went up (down) only if
//!    `|current - previous| * 100 > previous * 10`, i.e. strictly more than 10 % of the
//!    previous value. Exactly +10 % is "no change".
//! 5. **Verdict.** "A step would result as "better" if bandwidth increases and as "worse"
//!    if bandwidth reduces. If there is no change in bandwidth, the packet rate is compared
//!    in a similar fashion [...] In case there is no change in the packet rate as well, the
//!    interrupt rate is compared. [...] an increase in the interrupt rate is considered
//!    "worse" and a decrease is considered "better"." Otherwise the verdict is "same".
//! 6. **Going right / left** ("is it going left (reducing moderation), right (increasing
//!    moderation) or standing still"; API doc: `DIM_GOING_RIGHT` "trying higher moderation
//!    levels", `DIM_GOING_LEFT` "trying lower moderation levels"):
//!    * better: the last step helped, take another step the same way;
//!    * worse: "Go left if we were going right and vice-versa" (API doc of `dim_turn`),
//!      i.e. turn around and step back;
//!    * same: the step made no significant difference, so this is a top: park on top
//!      (API doc of `dim_on_top`: "check if current profile is a good place to park at").
//! 7. **Table edges.** SPEC "it never leaves the table": a step that would go past index 0
//!    or index 4 is not taken; the machine parks on top at the edge instead (API doc
//!    `DIM_ON_EDGE`: "Stepped to the most left/right profile").
//! 8. **Tired.** SPEC "10 steps make it tired" and API doc `DIM_TOO_TIRED` "Same kind of
//!    step was done multiple times - should go to tired parking": steps are counted from
//!    the moment the machine leaves parking ("Clear all movement history", API doc of
//!    `dim_park_on_top`); the step that brings the count to [`STEPS_UNTIL_TIRED`] (10) is
//!    taken and the state becomes parking-tired at the new index.
//! 9. **Parking tired.** API doc: `DIM_PARKING_TIRED` "Algorithm found a deep top point -
//!    don't exit if tired > 0" and `dim_park_tired` "cause DIM checks frequency to reduce":
//!    for the next [`TIRED_PARK_DECISIONS`] (10) decisions the verdict is ignored and the
//!    index holds; the last of them turns the state into parking-on-top.
//! 10. **Parking on top.** API doc: `DIM_PARKING_ON_TOP` "exit on significant difference":
//!     a "same" verdict holds; "better" (more traffic) leaves parking by stepping right
//!     (more moderation), "worse" (less traffic) by stepping left. The doc: "after
//!     "parking" on one of the most left or most right decisions, the algorithm may decide
//!     to verify this decision by taking a step in the other direction": when the
//!     preferred step is blocked by the table edge, the machine steps the other way.
//!
//! Decisions of ours, where the description is silent:
//! * The machine starts parked on top at index 1 (SPEC "start at index 1") with an
//!   all-zero reference. A rise from a zero reference counts as significant (it is more
//!   than 10 % of zero), so the first window that carries traffic is "better" and leaves
//!   parking to the right; without this, steady traffic would never move the profile.
//! * A window whose time delta is 0 takes no decision; it stays open and the next sample
//!   with a later time decides. A sample whose time is before the window's opening sample
//!   (time going backwards: invalid input) restarts the window at that sample and is
//!   counted in [`NetDim::skipped_windows`].
//! * The doc's optional "the interval between iterations of the algorithm would increase"
//!   is not modelled beyond rule 9: every window is exactly one decision, which keeps
//!   [`NetDim::decisions`] a plain count of closed windows.

/// Number of interrupts ("events") between two decisions (SPEC §2).
pub const DECISION_EVENTS: u64 = 64;
/// Steps since leaving parking after which the machine parks tired (SPEC §2).
pub const STEPS_UNTIL_TIRED: u32 = 10;
/// Decisions spent in tired parking before the machine may leave parking again.
pub const TIRED_PARK_DECISIONS: u32 = 10;
/// A metric changed only if it moved by strictly more than this percentage (SPEC §2).
pub const SIGNIFICANCE_PERCENT: u64 = 10;
/// Profile index the machine starts at (SPEC §2).
pub const START_INDEX: usize = 1;
/// Number of profiles in each table.
pub const PROFILE_COUNT: usize = 5;

/// Rates are stored in thousandths per millisecond (so effectively per second).
const RATE_SCALE: u128 = 1_000;
const NS_PER_MS: u128 = 1_000_000;

/// Which counting mode the NIC uses for its moderation timer, selecting the profile table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetDimMode {
    /// Timer starts at the event (EQE): long usecs, fixed 256 frames.
    Eqe,
    /// Timer restarts at each completion (CQE): short usecs, shrinking frames.
    Cqe,
}

/// One RX moderation profile: interrupt after `usecs` microseconds or `frames` packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetDimProfile {
    /// Moderation timer in microseconds.
    pub usecs: u32,
    /// Packet-count threshold.
    pub frames: u32,
}

const fn profile(usecs: u32, frames: u32) -> NetDimProfile {
    NetDimProfile { usecs, frames }
}

/// The five RX profiles for EQE mode, from least to most moderation (SPEC §2).
pub const EQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(1, 256),
    profile(8, 256),
    profile(64, 256),
    profile(128, 256),
    profile(256, 256),
];

/// The five RX profiles for CQE mode, from least to most moderation (SPEC §2).
pub const CQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(2, 256),
    profile(8, 128),
    profile(16, 64),
    profile(32, 64),
    profile(64, 64),
];

impl NetDimMode {
    /// The profile table this mode steps through.
    pub fn profiles(self) -> &'static [NetDimProfile; PROFILE_COUNT] {
        match self {
            NetDimMode::Eqe => &EQE_PROFILES,
            NetDimMode::Cqe => &CQE_PROFILES,
        }
    }
}

/// The tuning state: parked (standing still) or moving in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TuneState {
    /// Found a local top; leaves on a significant difference.
    ParkingOnTop,
    /// Stepped too often; holds the index for a fixed number of decisions.
    ParkingTired,
    /// Trying lower moderation levels.
    GoingLeft,
    /// Trying higher moderation levels.
    GoingRight,
}

/// Cumulative counters at one interrupt; only differences between samples matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetDimSample {
    /// Time of the interrupt in nanoseconds on any monotonic clock.
    pub time_ns: i64,
    /// Packets received so far.
    pub packets: u64,
    /// Bytes received so far.
    pub bytes: u64,
    /// Interrupts taken so far.
    pub events: u64,
}

/// Rates over one window, in thousandths of a unit per millisecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetDimRates {
    /// Bytes per ms, times 1000.
    pub bytes_milli_per_ms: u64,
    /// Packets per ms, times 1000.
    pub packets_milli_per_ms: u64,
    /// Interrupts per ms, times 1000.
    pub events_milli_per_ms: u64,
}

impl NetDimRates {
    /// Rates between two samples `elapsed_ns > 0` apart; saturates instead of overflowing.
    fn between(start: &NetDimSample, end: &NetDimSample, elapsed_ns: u128) -> Self {
        let rate = |delta: u64| {
            let scaled = u128::from(delta) * NS_PER_MS * RATE_SCALE / elapsed_ns;
            u64::try_from(scaled).unwrap_or(u64::MAX)
        };
        NetDimRates {
            bytes_milli_per_ms: rate(end.bytes.wrapping_sub(start.bytes)),
            packets_milli_per_ms: rate(end.packets.wrapping_sub(start.packets)),
            events_milli_per_ms: rate(end.events.wrapping_sub(start.events)),
        }
    }
}

/// Whether a metric moved significantly between the previous and the current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Up,
    Down,
    None,
}

fn change(previous: u64, current: u64) -> Change {
    let (previous, current) = (u128::from(previous), u128::from(current));
    let difference = previous.abs_diff(current);
    if difference * 100 <= previous * u128::from(SIGNIFICANCE_PERCENT) {
        Change::None
    } else if current > previous {
        Change::Up
    } else {
        Change::Down
    }
}

/// The outcome of comparing two windows (rule 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Better,
    Same,
    Worse,
}

fn verdict(previous: &NetDimRates, current: &NetDimRates) -> Verdict {
    let higher_is_better = |change| match change {
        Change::Up => Some(Verdict::Better),
        Change::Down => Some(Verdict::Worse),
        Change::None => None,
    };
    higher_is_better(change(
        previous.bytes_milli_per_ms,
        current.bytes_milli_per_ms,
    ))
    .or_else(|| {
        higher_is_better(change(
            previous.packets_milli_per_ms,
            current.packets_milli_per_ms,
        ))
    })
    .unwrap_or(
        match change(previous.events_milli_per_ms, current.events_milli_per_ms) {
            Change::Up => Verdict::Worse,
            Change::Down => Verdict::Better,
            Change::None => Verdict::Same,
        },
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Left,
    Right,
}

impl Direction {
    fn reversed(self) -> Self {
        match self {
            Direction::Left => Direction::Right,
            Direction::Right => Direction::Left,
        }
    }
}

/// One net_dim instance (one RX queue): the profile index and the tuning state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetDim {
    mode: NetDimMode,
    index: usize,
    state: TuneState,
    steps_since_parking: u32,
    tired_decisions_left: u32,
    window_start: Option<NetDimSample>,
    previous: NetDimRates,
    decisions: u64,
    skipped_windows: u64,
}

impl NetDim {
    /// A fresh instance parked on top at profile index 1 with no reference rates.
    pub fn new(mode: NetDimMode) -> Self {
        NetDim {
            mode,
            index: START_INDEX,
            state: TuneState::ParkingOnTop,
            steps_since_parking: 0,
            tired_decisions_left: 0,
            window_start: None,
            previous: NetDimRates::default(),
            decisions: 0,
            skipped_windows: 0,
        }
    }

    /// The counting mode this instance was created with.
    pub fn mode(&self) -> NetDimMode {
        self.mode
    }

    /// The profile currently suggested.
    pub fn profile(&self) -> NetDimProfile {
        // `index` is only ever changed by `step`, which keeps it below PROFILE_COUNT.
        self.mode.profiles()[self.index]
    }

    /// Index of the current profile in its table, always `0..=4`.
    pub fn profile_index(&self) -> usize {
        self.index
    }

    /// The current tuning state.
    pub fn state(&self) -> TuneState {
        self.state
    }

    /// Number of decisions taken (closed windows), including those held while tired.
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    /// Number of windows discarded because the sample time went backwards.
    pub fn skipped_windows(&self) -> u64 {
        self.skipped_windows
    }

    /// Rates measured in the window of the last decision (all zero before the first).
    pub fn last_rates(&self) -> NetDimRates {
        self.previous
    }

    /// Call once per interrupt with cumulative counters; returns `Some(new profile)` when
    /// a decision moved the profile.
    pub fn on_interrupt(&mut self, sample: NetDimSample) -> Option<NetDimProfile> {
        let Some(start) = self.window_start else {
            self.window_start = Some(sample);
            return None;
        };
        if sample.events.wrapping_sub(start.events) < DECISION_EVENTS {
            return None;
        }
        let elapsed_ns = i128::from(sample.time_ns) - i128::from(start.time_ns);
        if elapsed_ns == 0 {
            return None;
        }
        self.window_start = Some(sample);
        let Ok(elapsed_ns) = u128::try_from(elapsed_ns) else {
            self.skipped_windows += 1;
            return None;
        };
        let rates = NetDimRates::between(&start, &sample, elapsed_ns);
        let verdict = verdict(&self.previous, &rates);
        self.previous = rates;
        self.decisions += 1;
        let before = self.index;
        self.decide(verdict);
        (self.index != before).then(|| self.profile())
    }

    fn decide(&mut self, verdict: Verdict) {
        match (self.state, verdict) {
            (TuneState::ParkingTired, _) => {
                self.tired_decisions_left = self.tired_decisions_left.saturating_sub(1);
                if self.tired_decisions_left == 0 {
                    self.park_on_top();
                }
            }
            (TuneState::ParkingOnTop, Verdict::Same) => {}
            (TuneState::ParkingOnTop, Verdict::Better) => self.leave_parking(Direction::Right),
            (TuneState::ParkingOnTop, Verdict::Worse) => self.leave_parking(Direction::Left),
            (TuneState::GoingLeft | TuneState::GoingRight, Verdict::Same) => self.park_on_top(),
            (TuneState::GoingLeft, Verdict::Better) => self.step(Direction::Left),
            (TuneState::GoingRight, Verdict::Better) => self.step(Direction::Right),
            (TuneState::GoingLeft, Verdict::Worse) => self.step(Direction::Right),
            (TuneState::GoingRight, Verdict::Worse) => self.step(Direction::Left),
        }
    }

    fn can_step(&self, direction: Direction) -> bool {
        match direction {
            Direction::Left => self.index > 0,
            Direction::Right => self.index + 1 < PROFILE_COUNT,
        }
    }

    fn leave_parking(&mut self, preferred: Direction) {
        self.steps_since_parking = 0;
        let direction = if self.can_step(preferred) {
            preferred
        } else {
            preferred.reversed()
        };
        self.step(direction);
    }

    fn step(&mut self, direction: Direction) {
        if !self.can_step(direction) {
            self.park_on_top();
            return;
        }
        match direction {
            Direction::Left => {
                self.index -= 1;
                self.state = TuneState::GoingLeft;
            }
            Direction::Right => {
                self.index += 1;
                self.state = TuneState::GoingRight;
            }
        }
        self.steps_since_parking += 1;
        if self.steps_since_parking >= STEPS_UNTIL_TIRED {
            self.state = TuneState::ParkingTired;
            self.tired_decisions_left = TIRED_PARK_DECISIONS;
            self.steps_since_parking = 0;
        }
    }

    fn park_on_top(&mut self) {
        self.state = TuneState::ParkingOnTop;
        self.steps_since_parking = 0;
    }
}
