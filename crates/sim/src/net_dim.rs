//! Linux net_dim adaptive interrupt moderation (`adaptive-rx`), exactly as SPEC §2
//! "Adaptive" states the kernel's lib/dim behaviour, as one pure state machine.
//!
//! The same [`NetDim`] drives the simulator's `adaptive` policy
//! ([`crate::policy::Adaptive`]) and `coalescope model net-dim`, which replays recorded
//! cumulative counters ([`parse_samples`], [`replay`]). Nothing here allocates in the
//! per-sample path, reads a clock or knows the simulator, so the same samples always give
//! the same decisions.
//!
//! # The rules (SPEC §2, implemented from the statement, not from kernel code)
//! - **Profiles**: five `(usecs, frames)` pairs per table, index 0..4 ([`ProfileTable`]);
//!   RX/TX × EQE/CQE kernel tables, or one given by the user (`ethtool -C rx-profile`).
//! - **Start**: index 1, parking on top, reference stats 0, step counters and `tired` 0.
//! - **Windows**: the first sample opens a window. A later sample closes it only when
//!   `(events - events_start) mod 2^16 >= 64`. Closing: `delta_us = floor((t - t_start) /
//!   1000) mod 2^32`; if 0 the window stays open. Otherwise the rates are
//!   `bpms = ceil(dbytes * 1000 / delta_us)`, `ppms = ceil(dpackets * 1000 / delta_us)` and
//!   `epms = ceil(64 * 1000 / delta_us)` (the constant 64, not the events counted), with
//!   byte and packet deltas mod 2^32 ([`NetDimStats::between`]); then one decision. A
//!   decision that changed the index applies the new profile and the *next* sample opens
//!   a new window; otherwise the closing sample opens the next window at once.
//! - **Compare** ([`compare`]), first rule that applies: reference bpms 0 → better if
//!   current bpms > 0 else same; bpms significantly different → higher is better; reference
//!   ppms 0 → better if current ppms > 0 else same; ppms significant → higher is better;
//!   reference epms 0 → same; epms significant → *lower* is better; else same.
//!   Significant ([`is_significant`]): `floor(100 * |cur - ref| / ref) > 10` in integers.
//! - **Step**: with `tired = 10` "too tired" (no move); going right at index 4 or left at
//!   index 0 "edge" (no move); otherwise move one index, count the step in that
//!   direction's counter and add 1 to `tired`. Exiting parking goes left if the index is
//!   above 0, else right, and takes one step.
//! - **Decision** by state: parking on top exits parking when the compare is not "same";
//!   parking tired subtracts 1 from `tired` and exits parking at 0; going right/left turns
//!   around when the compare is not "better" (zeroing the new direction's counter), then
//!   parks on top if on top (going right: `steps_left > 1 && steps_right == 1`; going left
//!   mirrored), else steps: "edge" parks on top, "too tired" parks tired. Parking on top
//!   zeroes both counters and `tired`; parking tired zeroes both counters and keeps
//!   `tired`.
//! - **Reference**: after every decision the reference becomes the current stats, except
//!   when the state was parking on top both before and after it.
//!
//! One more choice of ours, where SPEC is silent: rates are kept as `u64` (they cannot
//! overflow it: a delta below 2^32 times 1000).

use serde::Serialize;
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

/// A window closes at the first sample at least this many events after its opening one.
pub const WINDOW_EVENTS: u64 = 64;
/// `tired` value at which a step is refused ("too tired") and the machine parks tired.
pub const TIRED_LIMIT: u32 = 10;
/// A difference is significant when `floor(100 * |cur - ref| / ref)` exceeds this.
pub const SIGNIFICANCE_PERCENT: u64 = 10;
/// Profile index the machine starts at.
pub const START_INDEX: usize = 1;
/// Number of profiles in each table.
pub const PROFILE_COUNT: usize = 5;

/// Events are counted mod 2^16 when a window is checked for closing.
const EVENTS_MODULUS: u64 = 1 << 16;
/// Byte and packet deltas, and `delta_us`, are taken mod 2^32.
const DELTA_MODULUS: u64 = 1 << 32;

/// Which counting mode the NIC uses for its moderation timer, selecting the profile table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetDimMode {
    /// The timer starts at the first event (EQE).
    Eqe,
    /// The timer restarts at each completion (CQE).
    Cqe,
}

impl NetDimMode {
    /// The kernel's RX profile table of this mode.
    pub fn profiles(self) -> &'static [NetDimProfile; PROFILE_COUNT] {
        ProfileTable::kernel(NetDimTable::Rx, self).profiles_ref()
    }

    /// `eqe` or `cqe`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NetDimMode::Eqe => "eqe",
            NetDimMode::Cqe => "cqe",
        }
    }
}

/// Which direction's table: receive (`adaptive-rx`) or transmit (`adaptive-tx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetDimTable {
    /// The RX tables.
    Rx,
    /// The TX tables.
    Tx,
}

impl NetDimTable {
    /// `rx` or `tx`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NetDimTable::Rx => "rx",
            NetDimTable::Tx => "tx",
        }
    }
}

/// One moderation profile: interrupt after `usecs` microseconds or `frames` packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NetDimProfile {
    /// Moderation timer in microseconds.
    pub usecs: u32,
    /// Packet-count threshold.
    pub frames: u32,
}

const fn profile(usecs: u32, frames: u32) -> NetDimProfile {
    NetDimProfile { usecs, frames }
}

/// The kernel's RX EQE table (SPEC §2).
pub const RX_EQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(1, 256),
    profile(8, 256),
    profile(64, 256),
    profile(128, 256),
    profile(256, 256),
];
/// The kernel's RX CQE table (SPEC §2).
pub const RX_CQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(2, 256),
    profile(8, 128),
    profile(16, 64),
    profile(32, 64),
    profile(64, 64),
];
/// The kernel's TX EQE table (SPEC §2).
pub const TX_EQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(1, 128),
    profile(8, 128),
    profile(32, 128),
    profile(64, 128),
    profile(128, 128),
];
/// The kernel's TX CQE table (SPEC §2).
pub const TX_CQE_PROFILES: [NetDimProfile; PROFILE_COUNT] = [
    profile(5, 128),
    profile(8, 64),
    profile(16, 32),
    profile(32, 32),
    profile(64, 32),
];

static KERNEL_TABLES: [ProfileTable; 4] = [
    ProfileTable(RX_EQE_PROFILES),
    ProfileTable(RX_CQE_PROFILES),
    ProfileTable(TX_EQE_PROFILES),
    ProfileTable(TX_CQE_PROFILES),
];

/// The five profiles net_dim steps through, from least (index 0) to most moderation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ProfileTable(pub [NetDimProfile; PROFILE_COUNT]);

impl ProfileTable {
    /// The kernel's table for a direction and mode.
    pub fn kernel(table: NetDimTable, mode: NetDimMode) -> &'static ProfileTable {
        let i = match (table, mode) {
            (NetDimTable::Rx, NetDimMode::Eqe) => 0,
            (NetDimTable::Rx, NetDimMode::Cqe) => 1,
            (NetDimTable::Tx, NetDimMode::Eqe) => 2,
            (NetDimTable::Tx, NetDimMode::Cqe) => 3,
        };
        &KERNEL_TABLES[i]
    }

    /// The profiles, index 0..4.
    pub fn profiles(&self) -> &[NetDimProfile; PROFILE_COUNT] {
        &self.0
    }

    fn profiles_ref(&'static self) -> &'static [NetDimProfile; PROFILE_COUNT] {
        &self.0
    }

    /// `table` with the entries of an ethtool-style profile list replacing its values.
    ///
    /// The text is what `ethtool -C IFACE rx-profile` takes: five entries separated by
    /// `_`, each `usecs,frames` or `usecs,frames,comps`, where `n` keeps the value of
    /// `self` (e.g. `1,256_8,256_n,n_128,256_256,256`). `comps` is accepted so an ethtool
    /// command line can be pasted, and ignored: it does not enter net_dim's decisions.
    pub fn with_overrides(&self, text: &str) -> Result<ProfileTable, ProfileTableError> {
        let entries: Vec<&str> = text.trim().split('_').collect();
        if entries.len() != PROFILE_COUNT {
            return Err(ProfileTableError::EntryCount {
                found: entries.len(),
            });
        }
        let mut out = *self;
        for (index, (entry, slot)) in entries.iter().zip(out.0.iter_mut()).enumerate() {
            let fields: Vec<&str> = entry.split(',').map(str::trim).collect();
            if !(2..=3).contains(&fields.len()) {
                return Err(ProfileTableError::FieldCount {
                    index,
                    entry: (*entry).to_string(),
                });
            }
            let value = |field: &'static str, text: &str, keep: u32| match text {
                "n" => Ok(keep),
                _ => text.parse::<u32>().map_err(|_| ProfileTableError::Value {
                    index,
                    field,
                    text: text.to_string(),
                }),
            };
            slot.usecs = value("usecs", fields[0], slot.usecs)?;
            slot.frames = value("frames", fields[1], slot.frames)?;
            if let Some(comps) = fields.get(2) {
                value("comps", comps, 0)?;
            }
        }
        Ok(out)
    }
}

impl FromStr for ProfileTable {
    type Err = ProfileTableError;

    /// Five `usecs,frames` entries separated by `_`; no `n` (nothing to keep).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.split(['_', ',']).any(|f| f.trim() == "n") {
            return Err(ProfileTableError::KeepWithoutBase);
        }
        ProfileTable::kernel(NetDimTable::Rx, NetDimMode::Eqe).with_overrides(text)
    }
}

/// Why a profile list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileTableError {
    /// Not five `_`-separated entries.
    #[error("a profile list has 5 entries separated by `_`, found {found}")]
    EntryCount {
        /// Entries found.
        found: usize,
    },
    /// An entry is not `usecs,frames[,comps]`.
    #[error("profile {index}: `{entry}` is not usecs,frames or usecs,frames,comps")]
    FieldCount {
        /// 0-based profile index.
        index: usize,
        /// The entry's text.
        entry: String,
    },
    /// A value is neither `n` nor an unsigned 32-bit integer.
    #[error("profile {index}: {field} `{text}` is not `n` or an unsigned 32-bit integer")]
    Value {
        /// 0-based profile index.
        index: usize,
        /// `usecs`, `frames` or `comps`.
        field: &'static str,
        /// The text found.
        text: String,
    },
    /// `n` (keep) used where there is no table to keep values from.
    #[error("`n` (keep the current value) needs a base table; give all values")]
    KeepWithoutBase,
}

/// The tuning state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuneState {
    /// Parked on a top: leaves on a compare other than "same".
    ParkingOnTop,
    /// Parked after too many steps: leaves when `tired` counts down to 0.
    ParkingTired,
    /// Trying higher moderation levels (higher index).
    GoingRight,
    /// Trying lower moderation levels (lower index).
    GoingLeft,
}

impl TuneState {
    /// `parking_on_top`, `parking_tired`, `going_right` or `going_left`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TuneState::ParkingOnTop => "parking_on_top",
            TuneState::ParkingTired => "parking_tired",
            TuneState::GoingRight => "going_right",
            TuneState::GoingLeft => "going_left",
        }
    }
}

impl fmt::Display for TuneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cumulative counters of one queue at one interrupt (a row of the samples format).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NetDimSample {
    /// Time of the sample in ns on a monotonic clock.
    pub time_ns: i64,
    /// Packets so far.
    pub packets: u64,
    /// Bytes so far.
    pub bytes: u64,
    /// Interrupts (events) so far.
    pub events: u64,
}

/// Rates of one closed window, per millisecond, rounded up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NetDimStats {
    /// Bytes per ms.
    pub bpms: u64,
    /// Packets per ms.
    pub ppms: u64,
    /// Events per ms, from the constant [`WINDOW_EVENTS`].
    pub epms: u64,
}

impl NetDimStats {
    /// The stats of the window `start..end`, or `None` when `delta_us` is 0 (the window
    /// stays open).
    pub fn between(start: &NetDimSample, end: &NetDimSample) -> Option<NetDimStats> {
        let elapsed_ns = i128::from(end.time_ns) - i128::from(start.time_ns);
        // floor, then mod 2^32: both are exactly what rem_euclid/div_euclid give.
        let delta_us = elapsed_ns
            .div_euclid(1000)
            .rem_euclid(i128::from(DELTA_MODULUS));
        let delta_us = u64::try_from(delta_us).ok().filter(|&d| d > 0)?;
        let delta = |end: u64, start: u64| end.wrapping_sub(start) % DELTA_MODULUS;
        // Every numerator is below 2^32 * 1000 < 2^42: no overflow.
        let per_ms = |count: u64| (count * 1000).div_ceil(delta_us);
        Some(NetDimStats {
            bpms: per_ms(delta(end.bytes, start.bytes)),
            ppms: per_ms(delta(end.packets, start.packets)),
            epms: per_ms(WINDOW_EVENTS),
        })
    }
}

/// The outcome of comparing the current window with the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The last move helped.
    Better,
    /// No significant difference.
    Same,
    /// The last move hurt.
    Worse,
}

/// `floor(100 * |cur - reference| / reference) > 10` in integers; never for reference 0.
pub fn is_significant(cur: u64, reference: u64) -> bool {
    if reference == 0 {
        return false;
    }
    let difference = u128::from(cur.abs_diff(reference));
    difference * 100 / u128::from(reference) > u128::from(SIGNIFICANCE_PERCENT)
}

/// Compares `cur` with `reference` by SPEC §2's rules, in their order.
pub fn compare(cur: &NetDimStats, reference: &NetDimStats) -> Compare {
    let higher_is_better = |cur: u64, reference: u64| {
        if cur > reference {
            Compare::Better
        } else {
            Compare::Worse
        }
    };
    if reference.bpms == 0 {
        return if cur.bpms > 0 {
            Compare::Better
        } else {
            Compare::Same
        };
    }
    if is_significant(cur.bpms, reference.bpms) {
        return higher_is_better(cur.bpms, reference.bpms);
    }
    if reference.ppms == 0 {
        return if cur.ppms > 0 {
            Compare::Better
        } else {
            Compare::Same
        };
    }
    if is_significant(cur.ppms, reference.ppms) {
        return higher_is_better(cur.ppms, reference.ppms);
    }
    if reference.epms == 0 {
        return Compare::Same;
    }
    if is_significant(cur.epms, reference.epms) {
        // Fewer interrupts per ms for the same traffic is better.
        return higher_is_better(reference.epms, cur.epms);
    }
    Compare::Same
}

/// What a closed window decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NetDimDecision {
    /// The window's rates.
    pub stats: NetDimStats,
    /// The compare with the reference; `None` in tired parking, which does not compare.
    pub compare: Option<Compare>,
    /// Whether the profile index changed.
    pub changed: bool,
}

/// Result of a step attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepResult {
    Stepped,
    Edge,
    TooTired,
}

/// One net_dim instance (one queue): profile index, tuning state and measurement window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetDim {
    table: ProfileTable,
    index: usize,
    state: TuneState,
    steps_left: u32,
    steps_right: u32,
    tired: u32,
    reference: NetDimStats,
    window: Option<NetDimSample>,
}

impl NetDim {
    /// A fresh instance on `table`: index 1, parking on top, everything else 0.
    pub fn new(table: ProfileTable) -> Self {
        NetDim {
            table,
            index: START_INDEX,
            state: TuneState::ParkingOnTop,
            steps_left: 0,
            steps_right: 0,
            tired: 0,
            reference: NetDimStats::default(),
            window: None,
        }
    }

    /// A fresh instance on the kernel's table for `table` and `mode`.
    pub fn kernel(table: NetDimTable, mode: NetDimMode) -> Self {
        NetDim::new(*ProfileTable::kernel(table, mode))
    }

    /// The table this instance steps through.
    pub fn table(&self) -> &ProfileTable {
        &self.table
    }

    /// The profile in force.
    pub fn profile(&self) -> NetDimProfile {
        // `index` only changes in `step`, which keeps it in 0..PROFILE_COUNT.
        self.table.0[self.index]
    }

    /// Index of the profile in force, always 0..=4.
    pub fn profile_index(&self) -> usize {
        self.index
    }

    /// The tuning state.
    pub fn state(&self) -> TuneState {
        self.state
    }

    /// Steps taken to the left since the counter was last zeroed.
    pub fn steps_left(&self) -> u32 {
        self.steps_left
    }

    /// Steps taken to the right since the counter was last zeroed.
    pub fn steps_right(&self) -> u32 {
        self.steps_right
    }

    /// The `tired` counter: moves since parking on top, counted down in tired parking.
    pub fn tired(&self) -> u32 {
        self.tired
    }

    /// The stats the next decision compares with.
    pub fn reference(&self) -> NetDimStats {
        self.reference
    }

    /// The sample that opened the current window, if one is open.
    pub fn window_start(&self) -> Option<NetDimSample> {
        self.window
    }

    /// Feeds one sample (cumulative counters at an interrupt); returns the decision when
    /// the sample closed a window.
    pub fn on_sample(&mut self, sample: NetDimSample) -> Option<NetDimDecision> {
        let Some(start) = self.window else {
            self.window = Some(sample);
            return None;
        };
        if sample.events.wrapping_sub(start.events) % EVENTS_MODULUS < WINDOW_EVENTS {
            return None;
        }
        let stats = NetDimStats::between(&start, &sample)?;
        let decision = self.decide(stats);
        // After a change the kernel applies the profile; the next sample opens a window.
        self.window = (!decision.changed).then_some(sample);
        Some(decision)
    }

    fn decide(&mut self, stats: NetDimStats) -> NetDimDecision {
        let state_before = self.state;
        let index_before = self.index;
        let mut compared = None;
        match self.state {
            TuneState::ParkingOnTop => {
                let result = compare(&stats, &self.reference);
                compared = Some(result);
                if result != Compare::Same {
                    self.exit_parking();
                }
            }
            TuneState::ParkingTired => {
                self.tired = self.tired.saturating_sub(1);
                if self.tired == 0 {
                    self.exit_parking();
                }
            }
            TuneState::GoingRight | TuneState::GoingLeft => {
                let result = compare(&stats, &self.reference);
                compared = Some(result);
                if result != Compare::Better {
                    self.turn();
                }
                if self.on_top() {
                    self.park_on_top();
                } else {
                    match self.step() {
                        StepResult::Stepped => {}
                        StepResult::Edge => self.park_on_top(),
                        StepResult::TooTired => self.park_tired(),
                    }
                }
            }
        }
        let parked_throughout =
            state_before == TuneState::ParkingOnTop && self.state == TuneState::ParkingOnTop;
        if !parked_throughout {
            self.reference = stats;
        }
        NetDimDecision {
            stats,
            compare: compared,
            changed: self.index != index_before,
        }
    }

    fn step(&mut self) -> StepResult {
        if self.tired == TIRED_LIMIT {
            return StepResult::TooTired;
        }
        match self.state {
            TuneState::GoingRight if self.index + 1 >= PROFILE_COUNT => return StepResult::Edge,
            TuneState::GoingRight => {
                self.index += 1;
                self.steps_right += 1;
            }
            TuneState::GoingLeft if self.index == 0 => return StepResult::Edge,
            TuneState::GoingLeft => {
                self.index -= 1;
                self.steps_left += 1;
            }
            // Only exit_parking and the going states step; both set a going state first.
            TuneState::ParkingOnTop | TuneState::ParkingTired => {}
        }
        self.tired += 1;
        StepResult::Stepped
    }

    fn exit_parking(&mut self) {
        self.state = if self.index > 0 {
            TuneState::GoingLeft
        } else {
            TuneState::GoingRight
        };
        // Exiting parking never meets the edge (it goes away from index 0) and `tired`
        // is below the limit here, so the result is always a step.
        self.step();
    }

    fn turn(&mut self) {
        match self.state {
            TuneState::GoingRight => {
                self.state = TuneState::GoingLeft;
                self.steps_left = 0;
            }
            TuneState::GoingLeft => {
                self.state = TuneState::GoingRight;
                self.steps_right = 0;
            }
            TuneState::ParkingOnTop | TuneState::ParkingTired => {}
        }
    }

    fn on_top(&self) -> bool {
        match self.state {
            TuneState::GoingRight => self.steps_left > 1 && self.steps_right == 1,
            TuneState::GoingLeft => self.steps_right > 1 && self.steps_left == 1,
            TuneState::ParkingOnTop | TuneState::ParkingTired => true,
        }
    }

    fn park_on_top(&mut self) {
        self.steps_left = 0;
        self.steps_right = 0;
        self.tired = 0;
        self.state = TuneState::ParkingOnTop;
    }

    fn park_tired(&mut self) {
        self.steps_left = 0;
        self.steps_right = 0;
        self.state = TuneState::ParkingTired;
    }
}

/// One row of a decision trace: the machine after one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NetDimTraceRow {
    /// The sample's time.
    pub time_ns: i64,
    /// Profile index in force after the sample.
    pub profile_index: usize,
    /// That profile's timer.
    pub usecs: u32,
    /// That profile's frame count.
    pub frames: u32,
    /// Tuning state after the sample.
    pub tune_state: TuneState,
    /// Whether the sample closed a window (took a decision).
    pub decided: bool,
}

impl NetDim {
    /// Feeds `sample` and returns the trace row describing the machine after it.
    pub fn trace_sample(&mut self, sample: NetDimSample) -> NetDimTraceRow {
        let decided = self.on_sample(sample).is_some();
        let profile = self.profile();
        NetDimTraceRow {
            time_ns: sample.time_ns,
            profile_index: self.index,
            usecs: profile.usecs,
            frames: profile.frames,
            tune_state: self.state,
            decided,
        }
    }
}

/// The result of replaying a samples file through a fresh [`NetDim`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetDimReplay {
    /// The table the machine stepped through.
    pub profiles: ProfileTable,
    /// Samples replayed.
    pub samples: u64,
    /// Windows closed (decisions taken).
    pub decisions: u64,
    /// Decisions that changed the profile.
    pub profile_changes: u64,
    /// One row per sample.
    pub trace: Vec<NetDimTraceRow>,
}

/// Replays `samples` through a fresh machine on `table`.
pub fn replay(samples: &[NetDimSample], table: ProfileTable) -> NetDimReplay {
    let mut dim = NetDim::new(table);
    let mut trace = Vec::with_capacity(samples.len());
    let mut previous_index = dim.profile_index();
    let mut profile_changes = 0;
    for &sample in samples {
        let row = dim.trace_sample(sample);
        if row.profile_index != previous_index {
            profile_changes += 1;
            previous_index = row.profile_index;
        }
        trace.push(row);
    }
    NetDimReplay {
        profiles: table,
        samples: samples.len() as u64,
        decisions: trace.iter().filter(|r| r.decided).count() as u64,
        profile_changes,
        trace,
    }
}

/// The header of the samples format (cumulative counters, one row per interrupt).
pub const SAMPLES_HEADER: &str = "time_ns,packets,bytes,events";

/// Why a samples file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    /// Reading failed.
    #[error("reading the samples: {0}")]
    Io(#[from] std::io::Error),
    /// The input has no header row.
    #[error("the samples have no header row (expected `{SAMPLES_HEADER}`)")]
    Empty,
    /// A required column is missing from the header.
    #[error("line 1: the header lacks the column `{column}` (expected `{SAMPLES_HEADER}`)")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
    },
    /// A row has fewer fields than the header names.
    #[error("line {line}: {found} fields, the header has {expected}")]
    FieldCount {
        /// 1-based line number.
        line: u64,
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A field is not an integer of the column's type.
    #[error("line {line}, field {column}: `{text}` is not {expected}")]
    Value {
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: &'static str,
        /// The text found.
        text: String,
        /// What the column takes.
        expected: &'static str,
    },
    /// Time went backwards: the samples are not from one monotonic clock.
    #[error("line {line}, field time_ns: {time_ns} is before the previous row's {previous}")]
    TimeBackwards {
        /// 1-based line number.
        line: u64,
        /// This row's time.
        time_ns: i64,
        /// The previous row's time.
        previous: i64,
    },
}

/// Reads the samples format: CSV with a header naming `time_ns`, `packets`, `bytes` and
/// `events` (any order; other columns are ignored), one row per interrupt, cumulative
/// counters. Blank lines are skipped. Counters may wrap (net_dim takes deltas mod 2^32 /
/// 2^16), but time may not go backwards.
pub fn parse_samples(input: impl BufRead) -> Result<Vec<NetDimSample>, SamplesError> {
    const COLUMNS: [&str; 4] = ["time_ns", "packets", "bytes", "events"];
    let mut lines = input.lines();
    let mut line_no = 0u64;
    let header = loop {
        let Some(line) = lines.next() else {
            return Err(SamplesError::Empty);
        };
        line_no += 1;
        let line = line?;
        if !line.trim().is_empty() {
            break line;
        }
    };
    let names: Vec<&str> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .collect();
    let mut position = [0usize; 4];
    for (slot, column) in position.iter_mut().zip(COLUMNS) {
        *slot = names
            .iter()
            .position(|&n| n == column)
            .ok_or(SamplesError::MissingColumn { column })?;
    }
    let mut samples = Vec::new();
    for line in lines {
        line_no += 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < names.len() {
            return Err(SamplesError::FieldCount {
                line: line_no,
                found: fields.len(),
                expected: names.len(),
            });
        }
        let unsigned = |i: usize| {
            fields[position[i]]
                .parse::<u64>()
                .map_err(|_| SamplesError::Value {
                    line: line_no,
                    column: COLUMNS[i],
                    text: fields[position[i]].to_string(),
                    expected: "an unsigned 64-bit integer",
                })
        };
        let time_ns = fields[position[0]]
            .parse::<i64>()
            .map_err(|_| SamplesError::Value {
                line: line_no,
                column: COLUMNS[0],
                text: fields[position[0]].to_string(),
                expected: "a signed 64-bit integer of nanoseconds",
            })?;
        let sample = NetDimSample {
            time_ns,
            packets: unsigned(1)?,
            bytes: unsigned(2)?,
            events: unsigned(3)?,
        };
        if let Some(previous) = samples.last().map(|s: &NetDimSample| s.time_ns) {
            if time_ns < previous {
                return Err(SamplesError::TimeBackwards {
                    line: line_no,
                    time_ns,
                    previous,
                });
            }
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The header of a decision trace in CSV (the columns [`NetDimTraceRow`] serializes to).
pub const TRACE_HEADER: &str = "time_ns,profile_index,usecs,frames,tune_state,decided";
