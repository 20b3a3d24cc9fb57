//! The controller of SPEC §6 as the desk's [`TacticSource`]: the glue between the
//! desk's event loop, the streaming tick metrics (`coalescope_metrics::ticks`) and the
//! state machine, tactic profiles and shaper of `coalescope_control`.
//!
//! - Every delivered md event (at its `t_app`), every emitted order (at its `t_emit`) and
//!   every fill report (when it reaches the desk) goes into a [`TickEngine`]; the engine
//!   emits the tick rows `t <= now − horizon` ([`DEFAULT_HORIZON_NS`]: the records reach
//!   the desk up to the delivery delay or the report latency after their instants, and a
//!   record behind the last emitted tick would be dropped as late).
//! - Each tick row steps the [`Controller`] of its scope; the state row (state, reason,
//!   guard weight, fallback) is kept for the timeline.
//! - At a decision, an armed parent gets the [`TacticProfile`] of the highest state over
//!   the scopes (the desk trades one symbol on one venue: one scope in practice), mapped
//!   to the desk's [`Tactics`]: `pacing` → [`Tactics::pace`] through the [`Shaper`],
//!   `aggression_gate`, `churn_limit_per_s`, `reserve_share` as they are.
//! - The shaper is the [`Pacer`]: a paced order is submitted with its parent's pressure
//!   (schedule debt as a share of the parent's quantity, headroom to its deadline). The
//!   shaper keeps the parameters it was built with while it holds orders, so a state
//!   change never lets an order pass an earlier one of its parent; the new profile's
//!   parameters apply from the next order after it empties. An order that finds the
//!   shaper full leaves at once (the shaper counts it).

use std::collections::VecDeque;

use coalescope_control::{
    ControlConfig, Controller, Pressure, Shaper, ShaperParams, State, StateRow, Submitted,
    TacticProfile, TickMetrics,
};
use coalescope_metrics::bootstrap::splitmix64;
use coalescope_metrics::ticks::{TickConfig, TickEngine, TickRow};
use coalescope_timeline::{Duration, Event, Fill, Order, Strings};

use crate::control_arms::{Arm, SourceFactory};
use crate::tactics::{
    PaceRequest, Pacer, StateTime, StateTimeline, TacticSource, Tactics, Transition,
};
use crate::DeskError;

/// The reordering horizon of the controller's tick engine (10 ms): ticks are stepped 10 ms
/// after their instant, so md events delivered up to 10 ms late and fills reported up to
/// 10 ms after they happened still count.
pub const DEFAULT_HORIZON_NS: i64 = 10_000_000;
/// Orders the shaper holds at most (beyond: released at once, counted).
pub const SHAPER_CAPACITY: usize = 1024;

/// Builds a [`ControllerTactics`] per run.
#[derive(Debug, Clone)]
pub struct ControllerFactory {
    /// Thresholds and tactic profiles.
    pub config: ControlConfig,
    /// Tick metrics configuration (its horizon is the reordering horizon).
    pub ticks: TickConfig,
    /// Seed of the shaper's jitter.
    pub seed: u64,
}

impl ControllerFactory {
    /// The SPEC §6 defaults with a [`DEFAULT_HORIZON_NS`] horizon, seeded `seed`.
    pub fn new(config: ControlConfig, seed: u64) -> Self {
        ControllerFactory {
            config,
            ticks: TickConfig {
                horizon: Duration(DEFAULT_HORIZON_NS),
                ..TickConfig::default()
            },
            seed,
        }
    }
}

impl SourceFactory for ControllerFactory {
    fn source(&self, arm: &Arm) -> Result<Box<dyn TacticSource>, DeskError> {
        Ok(Box::new(ControllerTactics::new(
            self.config.clone(),
            self.ticks,
            arm.clone(),
            self.seed,
        )?))
    }
}

/// The shaper as the desk's pacer (module docs).
#[derive(Debug)]
struct ShaperPacer {
    shaper: Option<Shaper>,
    seed: u64,
    /// Parameters of the current state's profile, for the next submit.
    params: Option<ShaperParams>,
    /// Overflowed orders: released at their submission instant.
    immediate: VecDeque<(i64, u64)>,
    overflows: u64,
}

impl ShaperPacer {
    fn shaper_for(&mut self, params: ShaperParams) -> &mut Shaper {
        let rebuild = match &self.shaper {
            Some(s) => s.is_empty() && *s.params() != params,
            None => true,
        };
        if rebuild {
            if let Some(old) = &self.shaper {
                self.overflows += old.overflows();
            }
            // A fresh jitter stream per shaper, derived from the run seed.
            self.seed = splitmix64(self.seed);
            self.shaper = Some(Shaper::new(params, self.seed, SHAPER_CAPACITY));
        }
        self.shaper
            .get_or_insert_with(|| Shaper::new(params, 0, SHAPER_CAPACITY))
    }
}

impl Pacer for ShaperPacer {
    fn submit(&mut self, t_ns: i64, req: &PaceRequest) {
        let Some(params) = self.params else {
            self.immediate.push_back((t_ns, req.child_id));
            return;
        };
        let pressure = Pressure {
            debt: if req.parent_qty == 0 {
                0.0
            } else {
                (req.debt as f64 / req.parent_qty as f64).clamp(0.0, 1.0)
            },
            headroom_ns: Some(req.t_deadline.saturating_sub(t_ns).max(0)),
        };
        match self
            .shaper_for(params)
            .submit(t_ns, req.parent_id, req.child_id, pressure)
        {
            Ok(Submitted::Queued { .. }) => {}
            // Full (released now), or a submit before the previous one (the desk submits
            // in time order, so this does not happen): send at once.
            Ok(Submitted::Overflow(_)) | Err(_) => self.immediate.push_back((t_ns, req.child_id)),
        }
    }

    fn next_release(&self) -> Option<i64> {
        let held = self.shaper.as_ref().and_then(Shaper::next_release_ns);
        let now = self.immediate.front().map(|&(t, _)| t);
        match (held, now) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn release_due(&mut self, t_ns: i64, out: &mut Vec<u64>) {
        while let Some(&(t, id)) = self.immediate.front() {
            if t > t_ns {
                break;
            }
            out.push(id);
            self.immediate.pop_front();
        }
        if let Some(s) = &mut self.shaper {
            s.release_due(t_ns, &mut |r| out.push(r.order_ref));
        }
    }
}

/// The controller as a tactic source (module docs).
#[derive(Debug)]
pub struct ControllerTactics {
    arm: Arm,
    engine: TickEngine,
    controller: Controller,
    tick_ns: i64,
    rows: Vec<TickRow>,
    states: Vec<StateRow>,
    /// Current state per scope, in order of first tick.
    current: Vec<(String, State)>,
    pacer: ShaperPacer,
}

impl ControllerTactics {
    /// A controller arming the parents of `arm`; `ticks` configures the tick metrics.
    pub fn new(
        config: ControlConfig,
        ticks: TickConfig,
        arm: Arm,
        seed: u64,
    ) -> Result<Self, DeskError> {
        config
            .validate()
            .map_err(|e| DeskError::Tactics(format!("controller config: {e}")))?;
        let engine = TickEngine::new(ticks)
            .map_err(|e| DeskError::Tactics(format!("controller ticks: {e}")))?;
        Ok(ControllerTactics {
            arm,
            engine,
            controller: Controller::new(config),
            tick_ns: ticks.tick.as_nanos(),
            rows: Vec::new(),
            states: Vec::new(),
            current: Vec::new(),
            pacer: ShaperPacer {
                shaper: None,
                seed,
                params: None,
                immediate: VecDeque::new(),
                overflows: 0,
            },
        })
    }

    /// The state rows so far (`scope, t_tick_ns, state, reason, guard_weight, fallback`).
    pub fn state_rows(&self) -> &[StateRow] {
        &self.states
    }

    fn step_rows(&mut self) {
        for r in self.rows.drain(..) {
            let m = TickMetrics::from(&r);
            let s = self.controller.step(&r.scope, r.t_tick_ns, &m);
            match self.current.iter_mut().find(|(scope, _)| *scope == r.scope) {
                Some(c) => c.1 = s.state,
                None => self.current.push((r.scope.clone(), s.state)),
            }
            self.states.push(StateRow {
                scope: r.scope,
                t_tick_ns: r.t_tick_ns,
                state: s.state,
                reason: s.reason,
                guard_weight: s.guard_weight,
                fallback: s.fallback,
            });
        }
    }

    fn advance(&mut self, now: i64) {
        self.engine.advance_to(now, &mut self.rows);
        self.step_rows();
    }

    /// The highest current state over the scopes (FLOW_CLEAN before the first tick).
    pub fn state(&self) -> State {
        self.current
            .iter()
            .map(|(_, s)| *s)
            .max()
            .unwrap_or(State::FlowClean)
    }

    fn profile(&self) -> TacticProfile {
        *self.controller.config().tactics.profile(self.state())
    }
}

impl TacticSource for ControllerTactics {
    fn arms(&self, parent_id: u64) -> bool {
        self.arm.contains(parent_id)
    }

    fn on_md(&mut self, event: &Event, strings: &Strings) {
        self.engine.push_event(event, strings);
        if let Some(t) = event.t_app {
            self.advance(t.0);
        }
    }

    fn on_order(&mut self, order: &Order, strings: &Strings) {
        self.engine.push_order(order, strings);
    }

    fn on_fill(&mut self, fill: &Fill) {
        self.engine.push_fill(fill);
    }

    fn tactics_at(&mut self, t_ns: i64, _parent_id: u64) -> Tactics {
        self.advance(t_ns);
        let p = self.profile();
        self.pacer.params = p.pacing;
        Tactics {
            pace: p.pacing.is_some(),
            aggression_gate: p.aggression_gate,
            churn_limit_per_s: p.churn_limit_per_s,
            reserve_share: p.reserve_share,
        }
    }

    fn pacer(&mut self) -> &mut dyn Pacer {
        &mut self.pacer
    }

    fn finish(&mut self, _t_end_ns: i64) {
        self.engine.finish(&mut self.rows);
        self.step_rows();
    }

    fn timeline(&self) -> StateTimeline {
        let mut ticks = [0u64; 4];
        let mut transitions = Vec::new();
        let mut last: Vec<(&str, State)> = Vec::new();
        let (mut fallback_ticks, mut weight_sum) = (0u64, 0.0);
        for r in &self.states {
            ticks[r.state.level() as usize] += 1;
            fallback_ticks += u64::from(r.fallback);
            weight_sum += r.guard_weight;
            let prev = match last.iter_mut().find(|(s, _)| *s == r.scope) {
                Some(p) => std::mem::replace(&mut p.1, r.state),
                None => {
                    last.push((&r.scope, r.state));
                    State::FlowClean
                }
            };
            if prev != r.state {
                transitions.push(Transition {
                    scope: r.scope.clone(),
                    t_tick_ns: r.t_tick_ns,
                    from: prev.to_string(),
                    to: r.state.to_string(),
                    reason: r.reason.to_string(),
                });
            }
        }
        let total = self.states.len() as u64;
        StateTimeline {
            ticks: total,
            states: State::ALL
                .iter()
                .map(|s| {
                    let n = ticks[s.level() as usize];
                    StateTime {
                        state: s.to_string(),
                        ticks: n,
                        time_ns: (n as i64).saturating_mul(self.tick_ns),
                        share: if total == 0 {
                            0.0
                        } else {
                            n as f64 / total as f64
                        },
                    }
                })
                .collect(),
            transitions,
            fallback_ticks,
            guard_weight_mean: (total > 0).then(|| weight_sum / total as f64),
            late_records: self.engine.counts().late,
            shaper_overflows: self.pacer.overflows
                + self.pacer.shaper.as_ref().map_or(0, Shaper::overflows),
        }
    }
}
