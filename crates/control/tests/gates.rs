//! SPEC §7 gates and verdicts on fixtures reaching each verdict.
#![allow(clippy::unwrap_used)]

use coalescope_control::gates::{
    evaluate_gates, unpaired_bootstrap, ArmInput, ArmOrders, ArmParent, Verdict, GATE_RESAMPLES,
};
use coalescope_control::CanaryFraction;
use coalescope_metrics::bootstrap::BootstrapConfig;
use coalescope_metrics::branches::{Branch, ParentRow};

fn row(id: u64, qty: f64, filled: f64, cost: f64) -> ParentRow {
    ParentRow {
        parent_id: id,
        strategy: None,
        symbol: None,
        side: 1,
        qty,
        filled,
        branch: Some(Branch::Timely),
        reason: None,
        cost_bps: Some(cost),
        cost_reason: None,
        m0: Some(100.0),
        m_t: Some(100.0),
        children: 4,
        children_high: 0,
        children_low: 4,
        stale_t_app_ns: None,
    }
}

/// 100 parents; costs `base + (i % 20)` bps, i.e. 0..19 shifted; fill share `fill`;
/// `rej` rejects per 100 orders (4 orders each: parent i has a reject iff i % k == 0).
fn arm(id0: u64, base: f64, fill: f64) -> Vec<ParentRow> {
    (0..100)
        .map(|i| row(id0 + i, 100.0, 100.0 * fill, base + (i % 20) as f64))
        .collect()
}

fn with_counts(rows: &[ParentRow], reject_every: usize) -> Vec<ArmParent<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| ArmParent {
            row: r,
            orders: 4,
            rejects_ioc_misses: u64::from(reject_every > 0 && i % reject_every == 0),
        })
        .collect()
}

fn cfg() -> BootstrapConfig {
    BootstrapConfig {
        resamples: GATE_RESAMPLES,
        seed: 5,
    }
}

const BETTER: ArmOrders = ArmOrders {
    dbc_excess: Some(0.02),
    median_emit_bdc: Some(0.10),
};
const WORSE: ArmOrders = ArmOrders {
    dbc_excess: Some(0.08),
    median_emit_bdc: Some(0.30),
};

#[test]
fn promote_when_every_gate_passes() {
    // Canary costs 5 bps lower everywhere, same completion, same reject rate.
    let (c, k) = (arm(0, -5.0, 1.0), arm(1000, 0.0, 1.0));
    let (cp, kp) = (with_counts(&c, 10), with_counts(&k, 10));
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &cp,
            orders: BETTER,
            resample: None,
        },
        &ArmInput {
            parents: &kp,
            orders: WORSE,
            resample: None,
        },
        cfg(),
    );
    let g = |n: &str| r.gates.iter().find(|g| g.name == n).unwrap().clone();
    assert_eq!(g("dbc_excess").statistic, Some(0.02 - 0.08));
    assert!((g("emit_bdc_median").statistic.unwrap() + 0.2).abs() < 1e-12);
    // Completion 100 % in both arms: every resample gives 0.
    assert_eq!(g("completion_pp").statistic, Some(0.0));
    assert_eq!(g("completion_pp").ci95, Some([0.0, 0.0]));
    // q95 of 100 costs base + (0..19 five times): rank 95 -> 18 + base; q99: rank 99 -> 19.
    assert_eq!(g("cost_q95_bps").statistic, Some(-5.0));
    assert_eq!(g("cost_q99_bps").statistic, Some(-5.0));
    // 10 rejects / 400 orders in both: 0 pp.
    assert_eq!(g("rejects_ioc_misses_pp").statistic, Some(0.0));
    assert!(r.gates.iter().all(|g| g.pass), "{:?}", r.gates);
    assert_eq!(r.verdict, Verdict::Promote);
    assert_eq!((r.n_canary, r.n_control, r.fraction), (100, 100, 0.1));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["verdict"], "PROMOTE");
    assert_eq!(json["gates"][2]["threshold"], -1.0);
}

#[test]
fn hold_when_a_gate_fails_without_a_rollback_condition() {
    // Costs better, completion equal, but dispatch burstier and rejects up 2.5 pp
    // (20 of 400 against 10 of 400).
    let (c, k) = (arm(0, -5.0, 1.0), arm(1000, 0.0, 1.0));
    let (cp, kp) = (with_counts(&c, 5), with_counts(&k, 10));
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &cp,
            orders: WORSE,
            resample: None,
        },
        &ArmInput {
            parents: &kp,
            orders: BETTER,
            resample: None,
        },
        cfg(),
    );
    let g = |n: &str| r.gates.iter().find(|g| g.name == n).unwrap().clone();
    assert!(!g("dbc_excess").pass && !g("emit_bdc_median").pass);
    assert!((g("rejects_ioc_misses_pp").statistic.unwrap() - 2.5).abs() < 1e-9);
    assert!(!g("rejects_ioc_misses_pp").pass);
    assert!(g("completion_pp").pass && g("cost_q95_bps").pass);
    assert_eq!(r.verdict, Verdict::Hold);
}

#[test]
fn rollback_on_completion_or_q95() {
    // Completion 90 % against 100 %: -10 pp in every resample -> interval [-10, -10].
    let (c, k) = (arm(0, -5.0, 0.9), arm(1000, 0.0, 1.0));
    let (cp, kp) = (with_counts(&c, 10), with_counts(&k, 10));
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &cp,
            orders: BETTER,
            resample: None,
        },
        &ArmInput {
            parents: &kp,
            orders: WORSE,
            resample: None,
        },
        cfg(),
    );
    let g = r.gates.iter().find(|g| g.name == "completion_pp").unwrap();
    assert!((g.statistic.unwrap() + 10.0).abs() < 1e-9);
    let [lo, hi] = g.ci95.unwrap();
    assert!((lo + 10.0).abs() < 1e-9 && (hi + 10.0).abs() < 1e-9);
    assert_eq!(r.verdict, Verdict::Rollback);
    // q95 30 bps worse: even the luckiest resample of costs 30..49 has q95 >= 30 + 17 >
    // the worst control q95 of 19, so the interval lies above 0.
    let (c, k) = (arm(0, 30.0, 1.0), arm(1000, 0.0, 1.0));
    let (cp, kp) = (with_counts(&c, 10), with_counts(&k, 10));
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &cp,
            orders: BETTER,
            resample: None,
        },
        &ArmInput {
            parents: &kp,
            orders: WORSE,
            resample: None,
        },
        cfg(),
    );
    let g = r.gates.iter().find(|g| g.name == "cost_q95_bps").unwrap();
    assert_eq!(g.statistic, Some(30.0));
    assert!(g.ci95.unwrap()[0] > 0.0);
    assert_eq!(r.verdict, Verdict::Rollback);
    // An empty canary arm: nothing defined, every parent-based gate fails: HOLD.
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &[],
            orders: ArmOrders::default(),
            resample: None,
        },
        &ArmInput {
            parents: &kp,
            orders: WORSE,
            resample: None,
        },
        cfg(),
    );
    assert_eq!(r.verdict, Verdict::Hold);
    assert!(r.gates.iter().all(|g| !g.pass && g.statistic.is_none()));
}

#[test]
fn unpaired_bootstrap_resamples_each_arm() {
    // A = [0, 1], B = [0]: mean(A) - mean(B) over resamples is 0, 0.5 or 1 with
    // probabilities 1/4, 1/2, 1/4 -> percentile interval [0, 1] with 2000 resamples.
    let a = [0.0, 1.0];
    let b = [0.0];
    let mean = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
    let (est, ci) = unpaired_bootstrap(2, 1, cfg(), |ia, ib| Some(mean(&a, ia) - mean(&b, ib)));
    assert_eq!(est, Some(0.5));
    assert_eq!(ci, Some([0.0, 1.0]));
    assert_eq!(
        unpaired_bootstrap(0, 1, cfg(), |_, _| Some(1.0)),
        (None, None)
    );
}

/// Gate 1's interval resamples parents: with each parent carrying one emit-burst
/// figure and the arm's statistic their mean, the interval is the bootstrap of the
/// difference of means. Constant arms give a degenerate interval at the difference; a
/// spread arm gives an interval containing the estimate and bounded by the extremes.
#[test]
fn gate_one_interval_resamples_parents() {
    let (c, k) = (arm(0, -5.0, 1.0), arm(1000, 0.0, 1.0));
    let (cp, kp) = (with_counts(&c, 10), with_counts(&k, 10));
    // Canary parent i: dbc contribution -0.1 + 0.002 * (i % 10); BDC 0.1 flat.
    let canary_stat = |idx: &[usize]| -> ArmOrders {
        let n = idx.len() as f64;
        ArmOrders {
            dbc_excess: Some(
                idx.iter()
                    .map(|&i| -0.1 + 0.002 * (i % 10) as f64)
                    .sum::<f64>()
                    / n,
            ),
            median_emit_bdc: Some(0.1),
        }
    };
    let control_stat = |_: &[usize]| ArmOrders {
        dbc_excess: Some(0.05),
        median_emit_bdc: Some(0.3),
    };
    let all: Vec<usize> = (0..100).collect();
    let r = evaluate_gates(
        CanaryFraction::default(),
        &ArmInput {
            parents: &cp,
            orders: canary_stat(&all),
            resample: Some(&canary_stat),
        },
        &ArmInput {
            parents: &kp,
            orders: control_stat(&all),
            resample: Some(&control_stat),
        },
        cfg(),
    );
    let g = |n: &str| r.gates.iter().find(|g| g.name == n).unwrap().clone();
    // Mean of -0.1 + 0.002 * (0..9) = -0.091; minus 0.05.
    let d = g("dbc_excess");
    assert!((d.statistic.unwrap() + 0.141).abs() < 1e-12, "{d:?}");
    let [lo, hi] = d.ci95.unwrap();
    assert!(lo < -0.141 && -0.141 < hi, "{d:?}");
    // Resampled means lie within [-0.1, -0.082]; the 2000-resample interval of a mean of
    // 100 draws (sd 0.0057 / 10) is about ±0.0011 wide.
    assert!(lo > -0.15 && hi < -0.132, "{d:?}");
    assert!(hi - lo > 0.001 && hi - lo < 0.004, "{d:?}");
    let b = g("emit_bdc_median");
    let [blo, bhi] = b.ci95.unwrap();
    assert!(
        (blo + 0.2).abs() < 1e-12 && (bhi + 0.2).abs() < 1e-12,
        "{b:?}"
    );
}
