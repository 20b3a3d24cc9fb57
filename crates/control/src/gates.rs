//! The canary gates and verdict of SPEC §7 as pure functions of the two arms.
//!
//! Units are parents; each arm is resampled independently (unpaired bootstrap:
//! [`unpaired_bootstrap`]) with the seeded splitmix64 of
//! [`coalescope_metrics::bootstrap`], default 2000 resamples; intervals are nearest-rank
//! 2.5 % / 97.5 % percentiles. Gate rows (statistic = canary − control):
//!
//! | gate | name | statistic | ci95 | threshold | pass |
//! |---|---|---|---|---|---|
//! | 1 | `dbc_excess` | DBC_excess of the arm's orders | yes¹ | 0 | statistic < 0 |
//! | 1 | `emit_bdc_median` | median interval BDC of order emits | yes¹ | 0 | statistic < 0 |
//! | 2 | `completion_pp` | `Σ min(F, qty) / Σ qty`, percentage points, parents with `qty > 0` | yes | −1 | ci95 low >= −1 |
//! | 3 | `cost_q95_bps` | q95 of C (bps), parents with a defined C | yes | 0 | statistic < 0 |
//! | 3 | `cost_q99_bps` | q99 of C | yes | 0 | statistic < 0 |
//! | 4 | `rejects_ioc_misses_pp` | (rejects + IOC misses) / orders, percentage points | yes | 0.5 | statistic <= 0.5 |
//!
//! ¹ Gate 1's two statistics are properties of each arm's whole order stream (DBC pairs
//! orders across parents): their interval resamples parents too, recomputing the arm's
//! order stream from the resampled parents' orders ([`ArmInput::resample`]); an arm
//! given without that function gets `ci95: null` for gate 1. An undefined
//! statistic fails its gate. Verdict: ROLLBACK if the completion interval lies wholly
//! below −1 pp or the q95 interval wholly above 0; PROMOTE if every gate passes; else
//! HOLD.

use crate::canary::CanaryFraction;
use coalescope_metrics::bootstrap::{percentile_interval, resample_indices, BootstrapConfig};
use coalescope_metrics::branches::ParentRow;
use coalescope_timeline::{nearest_rank, Prob};
use serde::Serialize;

/// Resamples of the canary gates (SPEC §7 default).
pub const GATE_RESAMPLES: usize = 2000;

/// One parent of an arm: its branch-report row and its order counts.
#[derive(Debug, Clone, Copy)]
pub struct ArmParent<'a> {
    /// The parent's row of the branch report.
    pub row: &'a ParentRow,
    /// Child orders it sent.
    pub orders: u64,
    /// Rejects plus IOC misses among them.
    pub rejects_ioc_misses: u64,
}

/// Order-stream statistics of an arm (gate 1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmOrders {
    /// DBC_excess of the arm's orders; `None` where undefined.
    pub dbc_excess: Option<f64>,
    /// Median interval BDC of the arm's order emits; `None` where undefined.
    pub median_emit_bdc: Option<f64>,
}

/// The order-stream statistics of a multiset of an arm's parents (gate 1's resamples).
pub type OrderResampler<'a> = dyn Fn(&[usize]) -> ArmOrders + 'a;

/// One arm of the canary.
#[derive(Clone, Copy)]
pub struct ArmInput<'a> {
    /// Its parents.
    pub parents: &'a [ArmParent<'a>],
    /// Its order-stream statistics.
    pub orders: ArmOrders,
    /// The order-stream statistics of a multiset of its parents (indices into
    /// `parents`, repeated as drawn), for gate 1's interval; `None`: no interval.
    pub resample: Option<&'a OrderResampler<'a>>,
}

/// One gate row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Gate name (see the module table).
    pub name: &'static str,
    /// SPEC §7 gate number (1–4).
    pub gate: u8,
    /// Canary − control point estimate; `None` where undefined.
    pub statistic: Option<f64>,
    /// 95 % bootstrap interval; `None` where not bootstrapped or undefined.
    pub ci95: Option<[f64; 2]>,
    /// Threshold the gate compares with.
    pub threshold: f64,
    /// Whether the gate passes.
    pub pass: bool,
}

/// The canary verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every gate passes.
    Promote,
    /// Not every gate passes, but no rollback condition.
    Hold,
    /// Completion interval wholly below −1 pp or q95 interval wholly above 0.
    Rollback,
}

impl Verdict {
    /// `PROMOTE`, `HOLD` or `ROLLBACK`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Promote => "PROMOTE",
            Verdict::Hold => "HOLD",
            Verdict::Rollback => "ROLLBACK",
        }
    }
}

/// The canary block of a report (`"canary"` in `replay --controller canary --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryReport {
    /// The canary fraction.
    pub fraction: f64,
    /// Canary parents.
    pub n_canary: u64,
    /// Control parents.
    pub n_control: u64,
    /// Gate rows in table order.
    pub gates: Vec<Gate>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Unpaired bootstrap of a two-sample statistic: `stat(a_idx, b_idx)` sees unit indices
/// of sample A (`0..n_a`) and sample B (`0..n_b`); the estimate is on the full samples,
/// resample `b` draws A's indices with [`resample_indices`]`(seed, b, n_a)` and B's with
/// `resample_indices(seed + 1, b, n_b)`. Returns the estimate and the percentile
/// interval over the resamples where the statistic is defined and finite.
pub fn unpaired_bootstrap<F>(
    n_a: usize,
    n_b: usize,
    config: BootstrapConfig,
    mut stat: F,
) -> (Option<f64>, Option<[f64; 2]>)
where
    F: FnMut(&[usize], &[usize]) -> Option<f64>,
{
    if n_a == 0 || n_b == 0 {
        return (None, None);
    }
    let mut a: Vec<usize> = (0..n_a).collect();
    let mut b: Vec<usize> = (0..n_b).collect();
    let estimate = stat(&a, &b).filter(|x| x.is_finite());
    let mut values = Vec::with_capacity(config.resamples);
    for r in 0..config.resamples {
        resample_indices(config.seed, r, n_a, &mut a);
        resample_indices(config.seed.wrapping_add(1), r, n_b, &mut b);
        if let Some(v) = stat(&a, &b).filter(|x| x.is_finite()) {
            values.push(v);
        }
    }
    (estimate, percentile_interval(&mut values))
}

fn completion(p: &[ArmParent], idx: &[usize]) -> Option<f64> {
    let (mut f, mut q) = (0.0, 0.0);
    for &i in idx {
        let r = p[i].row;
        if r.qty > 0.0 && r.qty.is_finite() && r.filled.is_finite() {
            f += r.filled.min(r.qty).max(0.0);
            q += r.qty;
        }
    }
    (q > 0.0).then(|| f / q)
}

fn cost_quantile(p: &[ArmParent], idx: &[usize], prob: Prob, buf: &mut Vec<f64>) -> Option<f64> {
    buf.clear();
    buf.extend(
        idx.iter()
            .filter_map(|&i| p[i].row.cost_bps.filter(|c| c.is_finite())),
    );
    buf.sort_unstable_by(f64::total_cmp);
    nearest_rank(buf, prob)
}

fn reject_rate(p: &[ArmParent], idx: &[usize]) -> Option<f64> {
    let (mut r, mut o) = (0u64, 0u64);
    for &i in idx {
        r += p[i].rejects_ioc_misses;
        o += p[i].orders;
    }
    (o > 0).then(|| r as f64 / o as f64)
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// The gates and verdict of SPEC §7 for `canary` against `control`.
pub fn evaluate_gates(
    fraction: CanaryFraction,
    canary: &ArmInput,
    control: &ArmInput,
    config: BootstrapConfig,
) -> CanaryReport {
    let (c, k) = (canary.parents, control.parents);
    let (nc, nk) = (c.len(), k.len());
    let mut gates = Vec::with_capacity(6);
    let gate1_ci = match (canary.resample, control.resample) {
        (Some(fc), Some(fk)) => {
            // One pass computes both statistics of each resample.
            let mut bdc_values = Vec::with_capacity(config.resamples);
            let mut first = true;
            let (_, dbc_ci) = unpaired_bootstrap(nc, nk, config, |a, b| {
                let (x, y) = (fc(a), fk(b));
                if !first {
                    if let Some(v) =
                        diff(x.median_emit_bdc, y.median_emit_bdc).filter(|v| v.is_finite())
                    {
                        bdc_values.push(v);
                    }
                }
                first = false;
                diff(x.dbc_excess, y.dbc_excess)
            });
            [dbc_ci, percentile_interval(&mut bdc_values)]
        }
        _ => [None, None],
    };
    for ((name, a, b), ci95) in [
        (
            "dbc_excess",
            canary.orders.dbc_excess,
            control.orders.dbc_excess,
        ),
        (
            "emit_bdc_median",
            canary.orders.median_emit_bdc,
            control.orders.median_emit_bdc,
        ),
    ]
    .into_iter()
    .zip(gate1_ci)
    {
        let statistic = diff(a, b).filter(|x| x.is_finite());
        gates.push(Gate {
            name,
            gate: 1,
            statistic,
            ci95,
            threshold: 0.0,
            pass: statistic.is_some_and(|s| s < 0.0),
        });
    }
    let (statistic, ci95) = unpaired_bootstrap(nc, nk, config, |a, b| {
        Some((completion(c, a)? - completion(k, b)?) * 100.0)
    });
    let completion_ci = ci95;
    gates.push(Gate {
        name: "completion_pp",
        gate: 2,
        statistic,
        ci95,
        threshold: -1.0,
        pass: ci95.is_some_and(|[lo, _]| lo >= -1.0),
    });
    let mut q95_ci = None;
    for (name, prob) in [
        ("cost_q95_bps", Prob::new(95, 100)),
        ("cost_q99_bps", Prob::new(99, 100)),
    ] {
        let (mut ba, mut bb) = (Vec::with_capacity(nc), Vec::with_capacity(nk));
        let (statistic, ci95) = unpaired_bootstrap(nc, nk, config, |a, b| {
            diff(
                cost_quantile(c, a, prob, &mut ba),
                cost_quantile(k, b, prob, &mut bb),
            )
        });
        if q95_ci.is_none() {
            q95_ci = Some(ci95);
        }
        gates.push(Gate {
            name,
            gate: 3,
            statistic,
            ci95,
            threshold: 0.0,
            pass: statistic.is_some_and(|s| s < 0.0),
        });
    }
    let (statistic, ci95) = unpaired_bootstrap(nc, nk, config, |a, b| {
        Some((reject_rate(c, a)? - reject_rate(k, b)?) * 100.0)
    });
    gates.push(Gate {
        name: "rejects_ioc_misses_pp",
        gate: 4,
        statistic,
        ci95,
        threshold: 0.5,
        pass: statistic.is_some_and(|s| s <= 0.5),
    });
    let rollback = completion_ci.is_some_and(|[_, hi]| hi < -1.0)
        || q95_ci.flatten().is_some_and(|[lo, _]| lo > 0.0);
    let verdict = if rollback {
        Verdict::Rollback
    } else if gates.iter().all(|g| g.pass) {
        Verdict::Promote
    } else {
        Verdict::Hold
    };
    CanaryReport {
        fraction: fraction.value(),
        n_canary: nc as u64,
        n_control: nk as u64,
        gates,
        verdict,
    }
}
