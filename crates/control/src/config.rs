//! The controller's configuration (SPEC §6): every threshold as an enter/exit pair,
//! `sustain`, `min_dwell`, and the tactic profile of each state.
//!
//! TOML keys (all optional; unknown keys are an error), with the SPEC §6 defaults:
//!
//! | key | type | default | range | meaning |
//! |---|---|---|---|---|
//! | `e_bdc` / `x_bdc` | float | 0.01 / 0.005 | X <= E | level 1: `bdc_excess` enter / exit |
//! | `e_cte_mild` / `x_cte_mild` | float bps | 0 / -0.5 | X <= E | level 1: `cte` enter / exit |
//! | `e_dbc` / `x_dbc` | float | 0.10 / 0.05 | X <= E | level 2: `dbc_excess` enter / exit |
//! | `e_cte_adverse` / `x_cte_adverse` | float bps | 1 / 0.5 | X <= E | level 2: `cte` enter / exit |
//! | `e_cte_high` / `x_cte_high` | float bps | 3 / 2 | X <= E | level 3: `cte` enter (on each of the last `sustain` ticks) / exit |
//! | `e_dccd` / `x_dccd` | float | 0.05 / 0.02 | X <= E | level 3 and causality guard: `dccd` enter / exit |
//! | `sustain` | integer | 3 | >= 1 | ticks `cte >= e_cte_high` must hold to enter level 3 |
//! | `min_dwell` | duration | `"2s"` | >= 0 | time a state is held before it may de-escalate |
//! | `[tactics.<state>]` | table | see [`crate::tactics`] | | tactic profile of `flow_clean`, `delivery_clustered`, `phase_locked`, `safe_pacing` |
//!
//! A `[tactics.<state>]` table overrides only the keys it names (`churn_limit_per_s`,
//! `aggression_gate`, `reserve_share`, `[tactics.<state>.pacing]` with the
//! [`crate::shaper::ShaperParams`] keys; `pacing = false` turns shaping off).

use crate::error::ControlError;
use crate::tactics::{TacticProfile, Tactics};
use serde::{Deserialize, Serialize};

/// One threshold: enter value E and exit value X (X <= E).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// Enter value E (used by enter predicates).
    pub enter: f64,
    /// Exit value X (used by hold predicates).
    pub exit: f64,
}

impl Threshold {
    /// A threshold with enter `e` and exit `x`.
    pub const fn new(e: f64, x: f64) -> Self {
        Threshold { enter: e, exit: x }
    }
}

/// The controller configuration; [`Default`] is SPEC §6's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlConfig {
    /// Level 1 `bdc_excess` threshold.
    pub bdc: Threshold,
    /// Level 1 `cte` threshold (bps).
    pub cte_mild: Threshold,
    /// Level 2 `dbc_excess` threshold.
    pub dbc: Threshold,
    /// Level 2 `cte` threshold (bps).
    pub cte_adverse: Threshold,
    /// Level 3 sustained `cte` threshold (bps).
    pub cte_high: Threshold,
    /// Level 3 `dccd` threshold (also the causality guard's).
    pub dccd: Threshold,
    /// Ticks on which `cte >= E_cte_high` must hold to enter level 3.
    pub sustain: u32,
    /// Minimum time (ns) a state is held before de-escalating.
    pub min_dwell_ns: i64,
    /// Tactic profile per state.
    pub tactics: Tactics,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            bdc: Threshold::new(0.01, 0.005),
            cte_mild: Threshold::new(0.0, -0.5),
            dbc: Threshold::new(0.10, 0.05),
            cte_adverse: Threshold::new(1.0, 0.5),
            cte_high: Threshold::new(3.0, 2.0),
            dccd: Threshold::new(0.05, 0.02),
            sustain: 3,
            min_dwell_ns: 2_000_000_000,
            tactics: Tactics::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    e_bdc: Option<f64>,
    x_bdc: Option<f64>,
    e_cte_mild: Option<f64>,
    x_cte_mild: Option<f64>,
    e_dbc: Option<f64>,
    x_dbc: Option<f64>,
    e_cte_adverse: Option<f64>,
    x_cte_adverse: Option<f64>,
    e_cte_high: Option<f64>,
    x_cte_high: Option<f64>,
    e_dccd: Option<f64>,
    x_dccd: Option<f64>,
    sustain: Option<i64>,
    min_dwell: Option<String>,
    tactics: Option<RawTactics>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTactics {
    flow_clean: Option<RawProfile>,
    delivery_clustered: Option<RawProfile>,
    phase_locked: Option<RawProfile>,
    safe_pacing: Option<RawProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPacing {
    Off(bool),
    On(RawShaper),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    churn_limit_per_s: Option<f64>,
    aggression_gate: Option<bool>,
    reserve_share: Option<f64>,
    pacing: Option<RawPacing>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShaper {
    jitter: Option<String>,
    rate_per_s: Option<f64>,
    max_rate_per_s: Option<f64>,
    burst: Option<u32>,
    debt_gain: Option<f64>,
    headroom_gain: Option<f64>,
    headroom_ref: Option<String>,
}

fn duration(key: &str, text: &str) -> Result<i64, ControlError> {
    coalescope_timeline::parse_duration(text)
        .map(|d| d.as_nanos())
        .map_err(|message| ControlError::Config {
            key: key.to_string(),
            message,
        })
}

fn merge_profile(
    state: &str,
    base: TacticProfile,
    raw: Option<RawProfile>,
) -> Result<TacticProfile, ControlError> {
    let Some(raw) = raw else { return Ok(base) };
    let mut p = base;
    if let Some(c) = raw.churn_limit_per_s {
        p.churn_limit_per_s = Some(c);
    }
    if let Some(g) = raw.aggression_gate {
        p.aggression_gate = g;
    }
    if let Some(r) = raw.reserve_share {
        p.reserve_share = r;
    }
    match raw.pacing {
        None => {}
        Some(RawPacing::Off(false)) => p.pacing = None,
        Some(RawPacing::Off(true)) => p.pacing = Some(p.pacing.unwrap_or_default()),
        Some(RawPacing::On(s)) => {
            let mut q = p.pacing.unwrap_or_default();
            let key = |k: &str| format!("tactics.{state}.pacing.{k}");
            if let Some(j) = s.jitter {
                q.jitter_ns = duration(&key("jitter"), &j)?;
            }
            if let Some(v) = s.rate_per_s {
                q.rate_per_s = v;
            }
            if let Some(v) = s.max_rate_per_s {
                q.max_rate_per_s = v;
            }
            if let Some(v) = s.burst {
                q.burst = v;
            }
            if let Some(v) = s.debt_gain {
                q.debt_gain = v;
            }
            if let Some(v) = s.headroom_gain {
                q.headroom_gain = v;
            }
            if let Some(h) = s.headroom_ref {
                q.headroom_ref_ns = duration(&key("headroom_ref"), &h)?;
            }
            p.pacing = Some(q);
        }
    }
    Ok(p)
}

impl ControlConfig {
    /// Parse a TOML config (missing keys take the defaults) and validate it.
    pub fn from_toml_str(text: &str) -> Result<Self, ControlError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ControlError::Toml(e.to_string()))?;
        let mut c = ControlConfig::default();
        let pair = |t: &mut Threshold, e: Option<f64>, x: Option<f64>| {
            if let Some(e) = e {
                t.enter = e;
            }
            if let Some(x) = x {
                t.exit = x;
            }
        };
        pair(&mut c.bdc, raw.e_bdc, raw.x_bdc);
        pair(&mut c.cte_mild, raw.e_cte_mild, raw.x_cte_mild);
        pair(&mut c.dbc, raw.e_dbc, raw.x_dbc);
        pair(&mut c.cte_adverse, raw.e_cte_adverse, raw.x_cte_adverse);
        pair(&mut c.cte_high, raw.e_cte_high, raw.x_cte_high);
        pair(&mut c.dccd, raw.e_dccd, raw.x_dccd);
        if let Some(s) = raw.sustain {
            c.sustain = u32::try_from(s).map_err(|_| ControlError::Config {
                key: "sustain".into(),
                message: format!("{s} is not an integer in 1..=4294967295"),
            })?;
        }
        if let Some(d) = raw.min_dwell {
            c.min_dwell_ns = duration("min_dwell", &d)?;
        }
        let t = raw.tactics.unwrap_or_default();
        let d = Tactics::default();
        c.tactics = Tactics {
            flow_clean: merge_profile("flow_clean", d.flow_clean, t.flow_clean)?,
            delivery_clustered: merge_profile(
                "delivery_clustered",
                d.delivery_clustered,
                t.delivery_clustered,
            )?,
            phase_locked: merge_profile("phase_locked", d.phase_locked, t.phase_locked)?,
            safe_pacing: merge_profile("safe_pacing", d.safe_pacing, t.safe_pacing)?,
        };
        c.validate()?;
        Ok(c)
    }

    /// The six thresholds with their TOML names (without the `e_`/`x_` prefix).
    pub fn thresholds(&self) -> [(&'static str, Threshold); 6] {
        [
            ("bdc", self.bdc),
            ("cte_mild", self.cte_mild),
            ("dbc", self.dbc),
            ("cte_adverse", self.cte_adverse),
            ("cte_high", self.cte_high),
            ("dccd", self.dccd),
        ]
    }

    /// Set one threshold by its TOML key (`e_bdc`, `x_bdc`, ..., `x_dccd`), as the
    /// `--e-bdc`-style flags do; call [`ControlConfig::validate`] after the last one.
    pub fn set_threshold(&mut self, key: &str, value: f64) -> Result<(), ControlError> {
        let (side, name) = key.split_at_checked(2).unwrap_or(("", key));
        let t = match name {
            "bdc" => &mut self.bdc,
            "cte_mild" => &mut self.cte_mild,
            "dbc" => &mut self.dbc,
            "cte_adverse" => &mut self.cte_adverse,
            "cte_high" => &mut self.cte_high,
            "dccd" => &mut self.dccd,
            _ => {
                return Err(ControlError::Config {
                    key: key.to_string(),
                    message: "not a threshold key".into(),
                })
            }
        };
        match side {
            "e_" => t.enter = value,
            "x_" => t.exit = value,
            _ => {
                return Err(ControlError::Config {
                    key: key.to_string(),
                    message: "not a threshold key".into(),
                })
            }
        }
        Ok(())
    }

    /// Check every value: thresholds finite with X <= E, `sustain >= 1`,
    /// `min_dwell >= 0`, tactic profiles in range. The error names the key.
    pub fn validate(&self) -> Result<(), ControlError> {
        for (name, t) in self.thresholds() {
            for (k, v) in [("e", t.enter), ("x", t.exit)] {
                if !v.is_finite() {
                    return Err(ControlError::Config {
                        key: format!("{k}_{name}"),
                        message: format!("{v} is not a finite number"),
                    });
                }
            }
            if t.exit > t.enter {
                return Err(ControlError::Config {
                    key: format!("x_{name}"),
                    message: format!(
                        "exit value {} must be <= enter value e_{name} = {}",
                        t.exit, t.enter
                    ),
                });
            }
        }
        if self.sustain == 0 {
            return Err(ControlError::Config {
                key: "sustain".into(),
                message: "must be >= 1".into(),
            });
        }
        if self.min_dwell_ns < 0 {
            return Err(ControlError::Config {
                key: "min_dwell".into(),
                message: format!("{}ns is negative", self.min_dwell_ns),
            });
        }
        self.tactics.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_values() {
        let c = ControlConfig::from_toml_str("").unwrap();
        assert_eq!(c, ControlConfig::default());
        assert_eq!(c.bdc, Threshold::new(0.01, 0.005));
        assert_eq!(c.cte_mild, Threshold::new(0.0, -0.5));
        assert_eq!(c.dbc, Threshold::new(0.10, 0.05));
        assert_eq!(c.cte_adverse, Threshold::new(1.0, 0.5));
        assert_eq!(c.cte_high, Threshold::new(3.0, 2.0));
        assert_eq!(c.dccd, Threshold::new(0.05, 0.02));
        assert_eq!(c.sustain, 3);
        assert_eq!(c.min_dwell_ns, 2_000_000_000);
    }

    #[test]
    fn keys_override_and_errors_name_the_key() {
        let c = ControlConfig::from_toml_str(
            "e_dbc = 0.2\nx_dbc = 0.1\nsustain = 5\nmin_dwell = \"500ms\"\n\
             [tactics.phase_locked]\nreserve_share = 0.3\n[tactics.phase_locked.pacing]\njitter = \"1ms\"\n",
        )
        .unwrap();
        assert_eq!(c.dbc, Threshold::new(0.2, 0.1));
        assert_eq!(c.sustain, 5);
        assert_eq!(c.min_dwell_ns, 500_000_000);
        assert_eq!(c.tactics.phase_locked.reserve_share, 0.3);
        assert_eq!(c.tactics.phase_locked.pacing.unwrap().jitter_ns, 1_000_000);
        // Untouched keys keep the state's default.
        assert_eq!(
            c.tactics.phase_locked.churn_limit_per_s,
            Tactics::default().phase_locked.churn_limit_per_s
        );
        let e = ControlConfig::from_toml_str("x_bdc = 0.02")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x_bdc") && e.contains("0.01"), "{e}");
        let e = ControlConfig::from_toml_str("sustain = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sustain"), "{e}");
        let e = ControlConfig::from_toml_str("e_bcd = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e_bcd"), "{e}");
        let e = ControlConfig::from_toml_str("min_dwell = \"2 parsecs\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("min_dwell"), "{e}");
        let e = ControlConfig::from_toml_str("[tactics.safe_pacing]\nreserve_share = 1.5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tactics.safe_pacing.reserve_share"), "{e}");
        let mut c = ControlConfig::default();
        c.set_threshold("e_cte_high", 4.0).unwrap();
        c.set_threshold("x_cte_high", 1.0).unwrap();
        assert_eq!(c.cte_high, Threshold::new(4.0, 1.0));
        assert!(c.set_threshold("y_bdc", 1.0).is_err() && c.set_threshold("e_foo", 1.0).is_err());
        let c = ControlConfig::from_toml_str("[tactics.safe_pacing]\npacing = false").unwrap();
        assert_eq!(c.tactics.safe_pacing.pacing, None);
    }
}
