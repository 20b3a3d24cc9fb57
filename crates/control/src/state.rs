//! The state machine of SPEC §6 as a pure function of tick rows and a config.
//!
//! Each tick: `target` = the highest level whose *enter* predicate holds (0 if none). If
//! `target > current` the state switches at once and the dwell clock restarts. Else, if
//! the current level's *hold* predicate is false and the state has been held at least
//! `min_dwell`, it switches to the highest level below whose hold predicate is true (0 if
//! none) and the dwell clock restarts. Else it stays.
//!
//! Predicates (E values to enter, X values to hold; level 3's `sustain` applies only to
//! entering): level 1 `bdc_excess >= bdc && cte >= cte_mild`; level 2
//! `dbc_excess >= dbc && cte >= cte_adverse`; level 3 `cte >= cte_high` (on each of the
//! last `sustain` ticks of the scope, to enter) `|| dccd >= dccd`. A comparison with an
//! undefined metric is false, except the `cte` comparisons of levels 1 and 2, which are
//! true while `cte` is undefined. Level 0's hold predicate is always true.

use crate::config::ControlConfig;
use crate::guard::guard;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// Controller states (levels 0–3); printed as `FLOW_CLEAN`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum State {
    /// Level 0: standard tactic menu.
    #[serde(rename = "FLOW_CLEAN")]
    FlowClean,
    /// Level 1: rising BDC and mild CTE.
    #[serde(rename = "DELIVERY_CLUSTERED")]
    DeliveryClustered,
    /// Level 2: high DBC and adverse CTE.
    #[serde(rename = "PHASE_LOCKED")]
    PhaseLocked,
    /// Level 3: sustained high CTE or a DCCD breach.
    #[serde(rename = "SAFE_PACING")]
    SafePacing,
}

impl State {
    /// All states by level.
    pub const ALL: [State; 4] = [
        State::FlowClean,
        State::DeliveryClustered,
        State::PhaseLocked,
        State::SafePacing,
    ];

    /// The level 0..=3.
    pub const fn level(self) -> u8 {
        self as u8
    }

    /// The state of a level (levels above 3 give SAFE_PACING).
    pub const fn from_level(level: u8) -> State {
        match level {
            0 => State::FlowClean,
            1 => State::DeliveryClustered,
            2 => State::PhaseLocked,
            _ => State::SafePacing,
        }
    }

    /// The printed name (`FLOW_CLEAN`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            State::FlowClean => "FLOW_CLEAN",
            State::DeliveryClustered => "DELIVERY_CLUSTERED",
            State::PhaseLocked => "PHASE_LOCKED",
            State::SafePacing => "SAFE_PACING",
        }
    }

    /// The config key (`flow_clean`, ...).
    pub const fn key(self) -> &'static str {
        match self {
            State::FlowClean => "flow_clean",
            State::DeliveryClustered => "delivery_clustered",
            State::PhaseLocked => "phase_locked",
            State::SafePacing => "safe_pacing",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metrics of one tick the controller reads (`None` = undefined).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TickMetrics {
    /// `bdc - bdc_ingress` of the tick interval.
    pub bdc_excess: Option<f64>,
    /// DBC excess over the trailing window.
    pub dbc_excess: Option<f64>,
    /// CTE (bps) at the shortest horizon.
    pub cte: Option<f64>,
    /// DCCD over the trailing window.
    pub dccd: Option<f64>,
}

impl From<&coalescope_metrics::ticks::TickRow> for TickMetrics {
    /// The columns of a tick row the controller reads.
    fn from(r: &coalescope_metrics::ticks::TickRow) -> Self {
        TickMetrics {
            bdc_excess: r.bdc_excess,
            dbc_excess: r.dbc_excess,
            cte: r.cte,
            dccd: r.dccd,
        }
    }
}

/// One row of a tick table.
#[derive(Debug, Clone, PartialEq)]
pub struct TickInput {
    /// Scope (symbol × venue, or desk-wide).
    pub scope: String,
    /// Tick instant (ns).
    pub t_tick_ns: i64,
    /// The metrics.
    pub metrics: TickMetrics,
}

/// The predicate that moved (or kept) the state; formats as the state table's `reason`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// Escalated: `enter:<state>(<predicate with E values>)`.
    Enter(Trigger),
    /// The current level's hold predicate is true (level 0 always holds): `hold`.
    Hold,
    /// Hold predicate false but `min_dwell` not yet elapsed: `dwell`.
    Dwell,
    /// De-escalated after `min_dwell` to the highest held level below:
    /// `exit:min_dwell_elapsed(<from>-><to>)`.
    Exit {
        /// Level left.
        from: State,
        /// Level entered.
        to: State,
    },
}

/// An enter predicate that held, with the thresholds it used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// Level 1: `bdc_excess >= e_bdc, cte >= e_cte_mild` (`cte` undefined counts as true).
    Clustered {
        /// `E_bdc`.
        bdc: f64,
        /// `E_cte_mild`.
        cte: f64,
    },
    /// Level 2: `dbc_excess >= e_dbc, cte >= e_cte_adverse`.
    PhaseLocked {
        /// `E_dbc`.
        dbc: f64,
        /// `E_cte_adverse`.
        cte: f64,
    },
    /// Level 3: `cte >= e_cte_high` on each of the last `sustain` ticks.
    CteHigh {
        /// `E_cte_high`.
        cte: f64,
        /// `sustain`.
        sustain: u32,
    },
    /// Level 3: `dccd >= e_dccd`.
    Dccd {
        /// `E_dccd`.
        dccd: f64,
    },
}

impl Trigger {
    /// The level the trigger enters.
    pub const fn state(self) -> State {
        match self {
            Trigger::Clustered { .. } => State::DeliveryClustered,
            Trigger::PhaseLocked { .. } => State::PhaseLocked,
            Trigger::CteHigh { .. } | Trigger::Dccd { .. } => State::SafePacing,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Hold => f.write_str("hold"),
            Reason::Dwell => f.write_str("dwell"),
            Reason::Exit { from, to } => write!(f, "exit:min_dwell_elapsed({from}->{to})"),
            Reason::Enter(t) => {
                let name = t.state().key();
                match t {
                    Trigger::Clustered { bdc, cte } => {
                        write!(f, "enter:{name}(bdc_excess>={bdc},cte>={cte})")
                    }
                    Trigger::PhaseLocked { dbc, cte } => {
                        write!(f, "enter:{name}(dbc_excess>={dbc},cte>={cte})")
                    }
                    Trigger::CteHigh { cte, sustain } => {
                        write!(f, "enter:{name}(cte>={cte}x{sustain})")
                    }
                    Trigger::Dccd { dccd } => write!(f, "enter:{name}(dccd>={dccd})"),
                }
            }
        }
    }
}

/// The controller's output for one tick of one scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// State after the tick.
    pub state: State,
    /// What decided it.
    pub reason: Reason,
    /// Causality guard weight for fragile features, in [0, 1].
    pub guard_weight: f64,
    /// Causality guard fallback flag.
    pub fallback: bool,
}

/// One row of the state table (`scope, t_tick_ns, state, reason, guard_weight, fallback`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    /// Scope.
    pub scope: String,
    /// Tick instant (ns).
    pub t_tick_ns: i64,
    /// State after the tick.
    pub state: State,
    /// What decided it.
    pub reason: Reason,
    /// Causality guard weight.
    pub guard_weight: f64,
    /// Causality guard fallback flag.
    pub fallback: bool,
}

fn ge(v: Option<f64>, t: f64) -> bool {
    matches!(v, Some(x) if x >= t)
}

fn ge_cte12(v: Option<f64>, t: f64) -> bool {
    match v {
        None => true,
        Some(x) => x >= t,
    }
}

/// The state machine of one scope. Steps allocate nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeController {
    state: State,
    entered_ns: i64,
    cte_high_run: u32,
    started: bool,
}

impl Default for ScopeController {
    fn default() -> Self {
        Self::new()
    }
}

impl ScopeController {
    /// A scope starting in FLOW_CLEAN.
    pub const fn new() -> Self {
        ScopeController {
            state: State::FlowClean,
            entered_ns: 0,
            cte_high_run: 0,
            started: false,
        }
    }

    /// The current state.
    pub const fn state(&self) -> State {
        self.state
    }

    /// Whether level `level`'s hold predicate (X values, no sustain) is true.
    fn holds(c: &ControlConfig, level: u8, m: &TickMetrics) -> bool {
        match level {
            0 => true,
            1 => ge(m.bdc_excess, c.bdc.exit) && ge_cte12(m.cte, c.cte_mild.exit),
            2 => ge(m.dbc_excess, c.dbc.exit) && ge_cte12(m.cte, c.cte_adverse.exit),
            _ => ge(m.cte, c.cte_high.exit) || ge(m.dccd, c.dccd.exit),
        }
    }

    /// Advance one tick at `t_tick_ns` (ticks of a scope in increasing time).
    pub fn step(&mut self, c: &ControlConfig, t_tick_ns: i64, m: &TickMetrics) -> Step {
        if !self.started {
            self.started = true;
            self.entered_ns = t_tick_ns;
        }
        if ge(m.cte, c.cte_high.enter) {
            self.cte_high_run = self.cte_high_run.saturating_add(1);
        } else {
            self.cte_high_run = 0;
        }
        let target = if self.cte_high_run >= c.sustain {
            Some(Trigger::CteHigh {
                cte: c.cte_high.enter,
                sustain: c.sustain,
            })
        } else if ge(m.dccd, c.dccd.enter) {
            Some(Trigger::Dccd { dccd: c.dccd.enter })
        } else if ge(m.dbc_excess, c.dbc.enter) && ge_cte12(m.cte, c.cte_adverse.enter) {
            Some(Trigger::PhaseLocked {
                dbc: c.dbc.enter,
                cte: c.cte_adverse.enter,
            })
        } else if ge(m.bdc_excess, c.bdc.enter) && ge_cte12(m.cte, c.cte_mild.enter) {
            Some(Trigger::Clustered {
                bdc: c.bdc.enter,
                cte: c.cte_mild.enter,
            })
        } else {
            None
        };
        let level = self.state.level();
        let reason = match target {
            Some(t) if t.state().level() > level => {
                self.state = t.state();
                self.entered_ns = t_tick_ns;
                Reason::Enter(t)
            }
            _ if Self::holds(c, level, m) => Reason::Hold,
            _ if t_tick_ns.saturating_sub(self.entered_ns) >= c.min_dwell_ns => {
                let to = (0..level)
                    .rev()
                    .find(|&l| Self::holds(c, l, m))
                    .unwrap_or(0);
                let from = self.state;
                self.state = State::from_level(to);
                self.entered_ns = t_tick_ns;
                Reason::Exit {
                    from,
                    to: self.state,
                }
            }
            _ => Reason::Dwell,
        };
        let g = guard(c, m.dccd);
        Step {
            state: self.state,
            reason,
            guard_weight: g.weight,
            fallback: g.fallback,
        }
    }
}

/// The controller over many scopes: one [`ScopeController`] per scope, created on the
/// scope's first tick (the only allocation; steps of known scopes allocate nothing).
#[derive(Debug, Clone, Default)]
pub struct Controller {
    config: ControlConfig,
    scopes: HashMap<String, ScopeController>,
}

impl Controller {
    /// A controller with `config` (validated by the caller).
    pub fn new(config: ControlConfig) -> Self {
        Controller {
            config,
            scopes: HashMap::new(),
        }
    }

    /// The config.
    pub const fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// Step `scope` at `t_tick_ns`.
    pub fn step(&mut self, scope: &str, t_tick_ns: i64, m: &TickMetrics) -> Step {
        if let Some(s) = self.scopes.get_mut(scope) {
            return s.step(&self.config, t_tick_ns, m);
        }
        let s = self.scopes.entry(scope.to_string()).or_default();
        s.step(&self.config, t_tick_ns, m)
    }

    /// The current state of `scope` (FLOW_CLEAN if never seen).
    pub fn state(&self, scope: &str) -> State {
        self.scopes
            .get(scope)
            .map_or(State::FlowClean, |s| s.state())
    }
}

/// Run the controller over a tick table (rows of each scope in increasing time, scopes
/// interleaved in any way): one state row per tick row, in input order.
pub fn run(ticks: &[TickInput], config: &ControlConfig) -> Vec<StateRow> {
    let mut c = Controller::new(config.clone());
    ticks
        .iter()
        .map(|t| {
            let s = c.step(&t.scope, t.t_tick_ns, &t.metrics);
            StateRow {
                scope: t.scope.clone(),
                t_tick_ns: t.t_tick_ns,
                state: s.state,
                reason: s.reason,
                guard_weight: s.guard_weight,
                fallback: s.fallback,
            }
        })
        .collect()
}

/// Time in each state and transitions of a state table, per scope: what `control run`
/// and the shadow report print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Per scope, in order of first appearance.
    pub scopes: Vec<ScopeTimeline>,
}

/// One scope's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeTimeline {
    /// Scope.
    pub scope: String,
    /// Ticks.
    pub ticks: u64,
    /// Time (ns) in each state by level: a tick's state lasts until the scope's next tick
    /// (the scope's last tick adds nothing).
    pub time_ns: [i64; 4],
    /// Transitions `(t_tick_ns, from, to)`.
    pub transitions: Vec<(i64, State, State)>,
}

/// Summarize a state table.
pub fn timeline(rows: &[StateRow]) -> Timeline {
    let mut scopes: Vec<ScopeTimeline> = Vec::new();
    let mut index: HashMap<&str, (usize, i64, State)> = HashMap::new();
    for r in rows {
        match index.get_mut(r.scope.as_str()) {
            None => {
                index.insert(&r.scope, (scopes.len(), r.t_tick_ns, r.state));
                let mut transitions = Vec::new();
                if r.state != State::FlowClean {
                    transitions.push((r.t_tick_ns, State::FlowClean, r.state));
                }
                scopes.push(ScopeTimeline {
                    scope: r.scope.clone(),
                    ticks: 1,
                    time_ns: [0; 4],
                    transitions,
                });
            }
            Some((i, prev_t, prev_s)) => {
                let s = &mut scopes[*i];
                s.ticks += 1;
                s.time_ns[prev_s.level() as usize] += r.t_tick_ns.saturating_sub(*prev_t);
                if r.state != *prev_s {
                    s.transitions.push((r.t_tick_ns, *prev_s, r.state));
                }
                *prev_t = r.t_tick_ns;
                *prev_s = r.state;
            }
        }
    }
    Timeline { scopes }
}
