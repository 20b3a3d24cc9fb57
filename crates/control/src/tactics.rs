//! Tactic profiles per state (SPEC §6, playbook §5).
//!
//! Defaults:
//!
//! | state | `churn_limit_per_s` | `pacing` (jitter, rate, burst, max rate) | `aggression_gate` | `reserve_share` |
//! |---|---|---|---|---|
//! | FLOW_CLEAN | unlimited | none | false | 0 |
//! | DELIVERY_CLUSTERED | 20 | 200us, 200/s, 4, 2000/s | false | 0 |
//! | PHASE_LOCKED | 5 | 500us, 100/s, 2, 1000/s | true | 0.10 |
//! | SAFE_PACING | 2 | 1ms, 50/s, 1, 500/s | false | 0.25 |
//!
//! FLOW_CLEAN restricts nothing. DELIVERY_CLUSTERED reduces cancel/replace churn and
//! smooths dispatch; PHASE_LOCKED adds anti-burst pacing, turns marketable children
//! passive and reserves capacity for cancels/exits; SAFE_PACING favours completion and
//! tail containment (marketable children allowed, larger reserve, strongest pacing,
//! whose debt and headroom terms speed release as a parent falls behind).
//! Every pacing profile has `debt_gain = 4`, `headroom_gain = 4`, `headroom_ref = 1s`.
//!
//! `reserve_share` `r` is SPEC §6's "share of capacity reserved for cancels/exits" with
//! capacity read as quantity: a non-urgent new child is sized at most
//! `qty − committed − floor(r · unfilled)`, so `floor(r · unfilled)` shares wait for the
//! urgent children (behind schedule, the TWAP tail) and exits; it never blocks
//! completion.

use crate::error::ControlError;
use crate::shaper::ShaperParams;
use crate::state::State;
use serde::Serialize;

/// What the desk does differently in a state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TacticProfile {
    /// Cancel/replace budget per parent per second; `None` = unlimited.
    pub churn_limit_per_s: Option<f64>,
    /// Dispatch pacing through the [`crate::Shaper`]; `None` = children go out at once.
    pub pacing: Option<ShaperParams>,
    /// Marketable children are turned passive.
    pub aggression_gate: bool,
    /// Share of a parent's unfilled quantity held back from non-urgent (passive) children
    /// and kept for urgent children and exits, in [0, 1) (the desk's meaning:
    /// `coalescope_desk::tactics`, "Reserve").
    pub reserve_share: f64,
}

/// The profile of each state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tactics {
    /// Level 0.
    pub flow_clean: TacticProfile,
    /// Level 1.
    pub delivery_clustered: TacticProfile,
    /// Level 2.
    pub phase_locked: TacticProfile,
    /// Level 3.
    pub safe_pacing: TacticProfile,
}

const fn pacing(jitter_ns: i64, rate: f64, burst: u32, max_rate: f64) -> ShaperParams {
    ShaperParams {
        jitter_ns,
        rate_per_s: rate,
        max_rate_per_s: max_rate,
        burst,
        debt_gain: 4.0,
        headroom_gain: 4.0,
        headroom_ref_ns: 1_000_000_000,
    }
}

impl Default for Tactics {
    fn default() -> Self {
        Tactics {
            flow_clean: TacticProfile {
                churn_limit_per_s: None,
                pacing: None,
                aggression_gate: false,
                reserve_share: 0.0,
            },
            delivery_clustered: TacticProfile {
                churn_limit_per_s: Some(20.0),
                pacing: Some(pacing(200_000, 200.0, 4, 2000.0)),
                aggression_gate: false,
                reserve_share: 0.0,
            },
            phase_locked: TacticProfile {
                churn_limit_per_s: Some(5.0),
                pacing: Some(pacing(500_000, 100.0, 2, 1000.0)),
                aggression_gate: true,
                reserve_share: 0.10,
            },
            safe_pacing: TacticProfile {
                churn_limit_per_s: Some(2.0),
                pacing: Some(pacing(1_000_000, 50.0, 1, 500.0)),
                aggression_gate: false,
                reserve_share: 0.25,
            },
        }
    }
}

impl Tactics {
    /// The profile of `state`.
    pub const fn profile(&self, state: State) -> &TacticProfile {
        match state {
            State::FlowClean => &self.flow_clean,
            State::DeliveryClustered => &self.delivery_clustered,
            State::PhaseLocked => &self.phase_locked,
            State::SafePacing => &self.safe_pacing,
        }
    }

    /// Check every profile; the error names `tactics.<state>.<key>`.
    pub fn validate(&self) -> Result<(), ControlError> {
        for s in State::ALL {
            let p = self.profile(s);
            let key = |k: &str| format!("tactics.{}.{k}", s.key());
            if let Some(c) = p.churn_limit_per_s {
                if !(c.is_finite() && c >= 0.0) {
                    return Err(ControlError::Config {
                        key: key("churn_limit_per_s"),
                        message: format!("{c} is not a finite number >= 0"),
                    });
                }
            }
            if !(p.reserve_share.is_finite() && (0.0..1.0).contains(&p.reserve_share)) {
                return Err(ControlError::Config {
                    key: key("reserve_share"),
                    message: format!("{} is not in [0, 1)", p.reserve_share),
                });
            }
            if let Some(q) = &p.pacing {
                q.validate().map_err(|(k, message)| ControlError::Config {
                    key: key(&format!("pacing.{k}")),
                    message,
                })?;
            }
        }
        Ok(())
    }
}
