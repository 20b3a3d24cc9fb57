//! The causality guard (SPEC §6, playbook control E): from `dccd` with the E/X hysteresis
//! of the `dccd` threshold, a weight for fragile microstructure features and a fallback
//! flag.
//!
//! `weight = 1` for `dccd < X`, `0` for `dccd >= E`, `(E - dccd) / (E - X)` between;
//! `fallback = dccd >= X` (the hold predicate of the dccd condition). An undefined
//! `dccd` is no evidence of drift: weight 1, fallback false.

use crate::config::ControlConfig;

/// The guard's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// Weight of fragile features, in [0, 1].
    pub weight: f64,
    /// Use robust fallback tactics.
    pub fallback: bool,
}

/// The guard for a tick's `dccd`.
pub fn guard(c: &ControlConfig, dccd: Option<f64>) -> Guard {
    let (e, x) = (c.dccd.enter, c.dccd.exit);
    let Some(d) = dccd.filter(|d| !d.is_nan()) else {
        return Guard {
            weight: 1.0,
            fallback: false,
        };
    };
    let weight = if d >= e {
        0.0
    } else if d < x {
        1.0
    } else {
        ((e - d) / (e - x)).clamp(0.0, 1.0)
    };
    Guard {
        weight,
        fallback: d >= x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_linear_between_exit_and_enter() {
        // Defaults E = 0.05, X = 0.02.
        let c = ControlConfig::default();
        assert_eq!(
            guard(&c, None),
            Guard {
                weight: 1.0,
                fallback: false
            }
        );
        assert_eq!(
            guard(&c, Some(0.0)),
            Guard {
                weight: 1.0,
                fallback: false
            }
        );
        assert_eq!(
            guard(&c, Some(0.019)),
            Guard {
                weight: 1.0,
                fallback: false
            }
        );
        assert_eq!(
            guard(&c, Some(0.02)),
            Guard {
                weight: 1.0,
                fallback: true
            }
        );
        let g = guard(&c, Some(0.035));
        assert!((g.weight - 0.5).abs() < 1e-12 && g.fallback, "{g:?}");
        let g = guard(&c, Some(0.044));
        assert!((g.weight - 0.2).abs() < 1e-12, "{g:?}");
        assert_eq!(
            guard(&c, Some(0.05)),
            Guard {
                weight: 0.0,
                fallback: true
            }
        );
        assert_eq!(
            guard(&c, Some(0.9)),
            Guard {
                weight: 0.0,
                fallback: true
            }
        );
        // E == X: a step.
        let mut c = ControlConfig::default();
        c.dccd.exit = 0.05;
        assert_eq!(guard(&c, Some(0.0499)).weight, 1.0);
        assert_eq!(guard(&c, Some(0.05)).weight, 0.0);
    }
}
