//! Tactics: what a controller (SPEC §6) makes the desk do differently for a parent, and
//! the seam through which the desk's event loop asks for them.
//!
//! A [`TacticSource`] watches what the desk sees (delivered md events at their `t_app`,
//! the order rows it emits, the fill reports that come back) and, at every decision, says
//! which [`Tactics`] apply to each parent it [`arms`](TacticSource::arms). The tactics act
//! through the strategy and the venue model, so their effect on cost, completion and DBC
//! is simulated, not assumed:
//!
//! - **Pacing** ([`Tactics::pace`]): the child order (new or cancel/replace) is handed to
//!   the source's [`Pacer`] at its emit instant (`t_app + decision latency`) and leaves
//!   when the pacer releases it. `t_emit` in the `orders` table is the *release* instant
//!   (SPEC §1: `t_emit` is the child-order emit; pacing delays the emit), so DBC and the
//!   emit classes of §5.1 see the paced times, and the order reaches the venue
//!   `order latency` after its release. The pacer must keep each parent's orders in
//!   submission order (a replace must not overtake the order it replaces).
//! - **Aggression gate** ([`Tactics::aggression_gate`]): where the strategy would send a
//!   marketable IOC at the opposite best (urgency), it sends a post-only limit at its own
//!   best instead (a resting child is replaced to its own best, or left alone when it is
//!   already there). Counted as `gated_orders`.
//! - **Churn limit** ([`Tactics::churn_limit_per_s`]): at most `ceil(n)` cancel/replaces
//!   per parent in each epoch-aligned second `[k s, (k+1) s)` of the decision instant; a
//!   cancel/replace beyond it is not sent (the child keeps resting where it is) and is
//!   counted as `churn_skipped`.
//! - **Reserve** ([`Tactics::reserve_share`]): with `r` the reserve share and
//!   `U = qty − filled` the parent's unfilled shares, a *non-urgent* new child is sized
//!   `min(child_qty, qty − committed − floor(r U))`: `floor(r U)` shares are held back
//!   from passive working and kept for the exits — urgent children (behind schedule, or
//!   the TWAP tail) may use them. The reserve shrinks as the parent fills, so it never
//!   blocks completion; it delays commitment until the schedule turns urgent.
//!
//! Without a source (or for parents the source does not arm) the desk behaves exactly as
//! without tactics ([`Tactics::NONE`]).

use coalescope_timeline::{Event, Fill, Order, Strings};
use serde::Serialize;

/// What the desk applies to one parent at one decision instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tactics {
    /// Route this parent's child orders through the source's [`Pacer`].
    pub pace: bool,
    /// Send passive at the own best where the strategy would cross (module docs).
    pub aggression_gate: bool,
    /// Cancel/replaces allowed per parent per epoch-aligned second (a replace goes out
    /// while fewer than this were sent in the second: `ceil(n)` per second); `None` =
    /// unlimited.
    pub churn_limit_per_s: Option<f64>,
    /// Share of the parent's unfilled shares held back from non-urgent children, in [0, 1].
    pub reserve_share: f64,
}

impl Tactics {
    /// No tactic: the desk's own behaviour.
    pub const NONE: Tactics = Tactics {
        pace: false,
        aggression_gate: false,
        churn_limit_per_s: None,
        reserve_share: 0.0,
    };

    /// Whether these tactics change nothing.
    pub fn is_none(&self) -> bool {
        *self == Tactics::NONE
    }
}

impl Default for Tactics {
    fn default() -> Self {
        Tactics::NONE
    }
}

/// A child order handed to a [`Pacer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PaceRequest {
    /// The child's id (unique in the run; the pacer releases it by this id).
    pub child_id: u64,
    /// Its parent's `parent_id`.
    pub parent_id: u64,
    /// Shares.
    pub qty: u64,
    /// The parent's shares.
    pub parent_qty: u64,
    /// Schedule debt at the decision: shares the parent's filled quantity is behind its
    /// schedule target (0 when on or ahead of schedule).
    pub debt: u64,
    /// The parent's deadline (ns): `t_deadline − t` is its headroom.
    pub t_deadline: i64,
    /// Whether the child replaces a resting one (a cancel/replace).
    pub replace: bool,
}

/// Decides when paced child orders leave the desk. Time is passed in: the desk submits
/// at a child's emit instant, asks [`next_release`](Pacer::next_release) for the earliest
/// instant something is due and calls [`release_due`](Pacer::release_due) then.
pub trait Pacer {
    /// Takes a child order at `t_ns` (its earliest emit instant).
    fn submit(&mut self, t_ns: i64, req: &PaceRequest);
    /// The earliest instant (>= the submission of every queued order) at which
    /// [`release_due`](Pacer::release_due) releases something; `None` when empty.
    fn next_release(&self) -> Option<i64>;
    /// Appends the child ids due at or before `t_ns` to `out`, in release order (per
    /// parent in submission order), and forgets them.
    fn release_due(&mut self, t_ns: i64, out: &mut Vec<u64>);
}

/// The pass-through pacer: every order is due at its submission instant.
#[derive(Debug, Clone, Default)]
pub struct PassThrough {
    queue: std::collections::VecDeque<(i64, u64)>,
}

impl Pacer for PassThrough {
    fn submit(&mut self, t_ns: i64, req: &PaceRequest) {
        self.queue.push_back((t_ns, req.child_id));
    }
    fn next_release(&self) -> Option<i64> {
        self.queue.front().map(|&(t, _)| t)
    }
    fn release_due(&mut self, t_ns: i64, out: &mut Vec<u64>) {
        while let Some(&(t, id)) = self.queue.front() {
            if t > t_ns {
                break;
            }
            out.push(id);
            self.queue.pop_front();
        }
    }
}

/// Time spent in one named state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateTime {
    /// State name (e.g. `FLOW_CLEAN`).
    pub state: String,
    /// Scope-ticks spent in it.
    pub ticks: u64,
    /// Time spent in it, summed over scopes (ticks × tick length, ns).
    pub time_ns: i64,
    /// Share of all scope-ticks.
    pub share: f64,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The scope that changed state.
    pub scope: String,
    /// Tick instant (ns).
    pub t_tick_ns: i64,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// The predicate that moved it.
    pub reason: String,
}

/// A source's state timeline over a run: time in each state and every transition.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StateTimeline {
    /// Scope-ticks stepped.
    pub ticks: u64,
    /// Per state, in level order.
    pub states: Vec<StateTime>,
    /// Every transition, in time order.
    pub transitions: Vec<Transition>,
    /// Scope-ticks with the causality guard's fallback flag set.
    pub fallback_ticks: u64,
    /// Mean causality-guard feature weight over the scope-ticks.
    pub guard_weight_mean: Option<f64>,
    /// Records the tick metrics dropped as late (behind the last stepped tick).
    pub late_records: u64,
    /// Orders the shaper released at once because it was full.
    pub shaper_overflows: u64,
}

/// What the desk's event loop asks for tactics (module docs). Calls arrive in the
/// loop's time order; every `t_ns` passed is the desk clock.
pub trait TacticSource {
    /// Whether tactics apply to this parent (the arm it is in); asked once per parent
    /// at the start of a run. A source arming no parent only watches (shadow).
    fn arms(&self, parent_id: u64) -> bool;
    /// A delivered md event, at its `t_app`, before the decision it triggers.
    fn on_md(&mut self, _event: &Event, _strings: &Strings) {}
    /// A child-order row, at its `t_emit` (after pacing).
    fn on_order(&mut self, _order: &Order, _strings: &Strings) {}
    /// A fill, when its report reaches the desk (`t_fill` + report latency).
    fn on_fill(&mut self, _fill: &Fill) {}
    /// The tactics for an armed parent at decision instant `t_ns`.
    fn tactics_at(&mut self, t_ns: i64, parent_id: u64) -> Tactics;
    /// The pacer of [`Tactics::pace`].
    fn pacer(&mut self) -> &mut dyn Pacer;
    /// The run ended at `t_end_ns` (the last instant the loop processed).
    fn finish(&mut self, _t_end_ns: i64) {}
    /// The state timeline so far (empty for a source without states).
    fn timeline(&self) -> StateTimeline {
        StateTimeline::default()
    }
}
