//! Shadow and canary plumbing (SPEC §7): canary membership against independently computed
//! splitmix64 values, exact fractions, the verdict rule on hand-made gate rows, the
//! DBC shortcut against the metrics crate's Pearson, and end-to-end runs with a
//! stand-in source (constant tactics; the controller is wired by the caller).
#![allow(clippy::unwrap_used)] // tests may unwrap

use coalescope_desk::control_arms::{
    canary, is_canary, shadow, verdict, Arm, Fraction, Gate, MdSeries, SourceFactory, Verdict,
};
use coalescope_desk::replay::{parent_figure, replay, ReplayPlan};
use coalescope_desk::tactics::PassThrough;
use coalescope_desk::{DeskError, DeskScenario, Pacer, TacticSource, Tactics};
use coalescope_metrics::bootstrap::{BootstrapConfig, SplitMix64};
use coalescope_metrics::branches::ParentRow;
use coalescope_metrics::dbc::pearson;
use coalescope_metrics::Config;
use coalescope_sim::setting::Setting;

// h(id) mod 10000 for ids 1..=20, computed independently with
// python3 -c "M=(1<<64)-1
// def h(x):
//  z=(x+0x9E3779B97F4A7C15)&M; z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M
//  z=((z^(z>>27))*0x94D049BB133111EB)&M; return z^(z>>31)
// print([h(i)%10000 for i in range(1,21)])"
const H_MOD: [u64; 20] = [
    2465, 8110, 9053, 3978, 8618, 592, 4487, 7622, 2228, 3466, 8813, 323, 3695, 5838, 5941, 1095,
    1379, 2370, 1636, 8044,
];

#[test]
fn canary_membership_follows_the_known_splitmix64_values() {
    let f = Fraction::parse("0.1").unwrap();
    let canary: Vec<u64> = (1..=20).filter(|&id| is_canary(id, &f)).collect();
    // Below 1000: ids 6 (592) and 12 (323).
    assert_eq!(canary, vec![6, 12]);
    for (id, m) in (1..=20u64).zip(H_MOD) {
        // Exactly m / 10000: not in (strict <); the next ten-thousandth: in.
        let at = Fraction::parse(&format!("{:.4}", m as f64 / 10_000.0)).unwrap();
        let above = Fraction::parse(&format!("{:.4}", (m + 1) as f64 / 10_000.0)).unwrap();
        assert!(!is_canary(id, &at), "id {id} at {m}");
        assert!(is_canary(id, &above), "id {id} above {m}");
    }
    // Digits past the fourth count exactly: 0.05921 x 10000 = 592.1 > 592.
    assert!(!is_canary(6, &Fraction::parse("0.0592").unwrap()));
    assert!(!is_canary(6, &Fraction::parse("0.059200000").unwrap()));
    assert!(is_canary(6, &Fraction::parse("0.05921").unwrap()));
    assert!(is_canary(6, &Fraction::parse("0.0592000001").unwrap()));
    // 0 selects nobody, 1 everybody.
    for id in 1..=20 {
        assert!(!is_canary(id, &Fraction::parse("0").unwrap()));
        assert!(is_canary(id, &Fraction::parse("1.000").unwrap()));
    }
    assert_eq!(Fraction::parse(".25").unwrap().value(), 0.25);
}

#[test]
fn bad_fractions_are_errors_naming_the_flag() {
    for bad in ["", ".", "1.0001", "2", "-0.1", "0.1x", "abc", "1e-1", "0,1"] {
        let e = Fraction::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--fraction"), "{bad:?}: {e}");
    }
}

fn gate(name: &'static str, pass: bool, ci95: Option<[f64; 2]>) -> Gate {
    Gate {
        name,
        statistic: Some(0.0),
        ci95,
        threshold: 0.0,
        pass,
    }
}

fn rows(completion: [f64; 2], q95: [f64; 2], all_pass: bool) -> Vec<Gate> {
    vec![
        gate("dispatch_dbc_excess", all_pass, Some([-0.1, 0.0])),
        gate("dispatch_emit_bdc_median", true, Some([-0.1, 0.0])),
        gate("completion", true, Some(completion)),
        gate("slippage_q95", true, Some(q95)),
        gate("slippage_q99", true, Some([-1.0, 1.0])),
        gate("rejects_ioc_misses_per_order", true, Some([0.0, 0.0])),
    ]
}

#[test]
fn the_verdict_reaches_promote_hold_and_rollback() {
    assert_eq!(verdict(&rows([-0.005, 0.01], [-1.0, 0.5], true)), Verdict::Promote);
    assert_eq!(verdict(&rows([-0.005, 0.01], [-1.0, 0.5], false)), Verdict::Hold);
    // Completion interval wholly below -1 pp: rollback, even with every gate passing.
    assert_eq!(verdict(&rows([-0.05, -0.011], [-1.0, 0.5], true)), Verdict::Rollback);
    // Its upper bound at exactly -1 pp is not wholly below.
    assert_eq!(verdict(&rows([-0.05, -0.01], [-1.0, 0.5], true)), Verdict::Promote);
    // q95 interval wholly above 0: rollback; touching 0: not.
    assert_eq!(verdict(&rows([-0.005, 0.01], [0.1, 2.0], false)), Verdict::Rollback);
    assert_eq!(verdict(&rows([-0.005, 0.01], [0.0, 2.0], false)), Verdict::Hold);
    assert_eq!(
        serde_json::to_string(&[Verdict::Promote, Verdict::Hold, Verdict::Rollback]).unwrap(),
        r#"["PROMOTE","HOLD","ROLLBACK"]"#
    );
}

#[test]
fn the_prefix_sum_pearson_equals_the_metrics_crates() {
    let mut g = SplitMix64::new(17);
    for trial in 0..200 {
        let mut x: Vec<(i64, u32)> = Vec::new();
        let mut y: Vec<(i64, u32)> = Vec::new();
        for k in -30..60i64 {
            if g.below(3) > 0 {
                x.push((k, 1 + g.below(9) as u32));
            }
            if g.below(4) == 0 {
                y.push((k, 1 + g.below(3) as u32));
            }
        }
        let (k0, k1) = (-40 + g.below(30) as i64, 20 + g.below(50) as i64);
        let want = pearson(&x, &y, k0, k1).ok();
        let got = MdSeries::new(x.clone()).pearson(&y, k0, k1);
        match (want, got) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "trial {trial}: {a} vs {b}"),
            (None, None) => {}
            other => panic!("trial {trial}: {other:?}"),
        }
    }
}

const SCENARIO: &str = r#"
seed = 11
[nic]
policy = "ethtool"
rx_usecs = 50
[market]
kind = "synthetic"
messages = 40000
rate_per_s = 40000
[strategy]
urgency_children = 1
[parents]
count = 60
qty = 1000
duration_ns = 200000000
"#;

/// Constant tactics on the arm's parents.
struct ConstantFactory(Tactics);

struct Constant {
    tactics: Tactics,
    arm: Arm,
    pacer: PassThrough,
}

impl TacticSource for Constant {
    fn arms(&self, parent_id: u64) -> bool {
        self.arm.contains(parent_id)
    }
    fn tactics_at(&mut self, _t_ns: i64, _parent_id: u64) -> Tactics {
        self.tactics
    }
    fn pacer(&mut self) -> &mut dyn Pacer {
        &mut self.pacer
    }
}

impl SourceFactory for ConstantFactory {
    fn source(&self, arm: &Arm) -> Result<Box<dyn TacticSource>, DeskError> {
        Ok(Box::new(Constant {
            tactics: self.0,
            arm: arm.clone(),
            pacer: PassThrough::default(),
        }))
    }
}

fn with_plan<T>(f: impl FnOnce(&ReplayPlan<'_>) -> T) -> T {
    let scenario = DeskScenario::from_toml_str(SCENARIO, None).unwrap();
    let market = scenario.market.open(scenario.seed).unwrap();
    // The scenario is rx-usecs 50; replay's first setting must match it for the
    // comparison with the arms' runs below.
    let settings = Setting::parse_list("rx-usecs=50; busy-poll").unwrap();
    let plan = ReplayPlan {
        scenario: &scenario,
        base_dir: None,
        market: &*market,
        settings: &settings,
        bootstrap: BootstrapConfig {
            resamples: 200,
            seed: 5,
        },
        analysis: Config {
            markouts: true,
            ..Config::default()
        },
    };
    f(&plan)
}

#[test]
fn a_canary_that_changes_nothing_splits_the_baseline_by_membership() {
    with_plan(|plan| {
        let base = replay(plan).unwrap();
        let fraction = Fraction::parse("0.5").unwrap();
        let cfg = BootstrapConfig {
            resamples: 300,
            seed: 9,
        };
        let r = canary(plan, &ConstantFactory(Tactics::NONE), &fraction, cfg).unwrap();
        let ids: Vec<u64> = base.parent_rows[0].iter().map(|p| p.parent_id).collect();
        let n_canary = ids.iter().filter(|&&id| is_canary(id, &fraction)).count() as u64;
        assert_eq!((r.n_canary, r.n_control), (n_canary, 60 - n_canary));
        assert!(r.n_canary > 15 && r.n_control > 15, "{r:?}");
        // The arm figures are the baseline's parent figures over each arm's parents.
        let arm = |canary: bool| -> Vec<&ParentRow> {
            base.parent_rows[0]
                .iter()
                .filter(|p| is_canary(p.parent_id, &fraction) == canary)
                .collect()
        };
        for (rows, figures) in [(arm(true), &r.canary_arm), (arm(false), &r.control_arm)] {
            let all: Vec<usize> = (0..rows.len()).collect();
            assert_eq!(figures.completion, parent_figure(&rows, &all, "completion"));
            assert_eq!(figures.cost_q95_bps, parent_figure(&rows, &all, "cost_q95_bps"));
            assert_eq!(figures.cost_q99_bps, parent_figure(&rows, &all, "cost_q99_bps"));
        }
        // Both arms' orders add up to the run's.
        assert_eq!(
            r.canary_arm.orders + r.control_arm.orders,
            base.settings[0].orders
        );
        let names: Vec<&str> = r.gates.iter().map(|g| g.name).collect();
        assert_eq!(
            names,
            [
                "dispatch_dbc_excess",
                "dispatch_emit_bdc_median",
                "completion",
                "slippage_q95",
                "slippage_q99",
                "rejects_ioc_misses_per_order"
            ]
        );
        for g in &r.gates {
            let s = g.statistic.unwrap();
            let [lo, hi] = g.ci95.unwrap();
            assert!(lo <= hi, "{g:?}");
            // The point estimate is the difference of the arm figures.
            let _ = s;
        }
        let completion = &r.gates[2];
        assert_eq!(
            completion.statistic,
            Some(r.canary_arm.completion.unwrap() - r.control_arm.completion.unwrap())
        );
        assert_eq!(r.verdict, verdict(&r.gates));
        assert_eq!(r.tactics.armed_parents, n_canary);
        // The JSON names of the contract.
        let v = serde_json::to_value(&r).unwrap();
        for key in ["fraction", "n_canary", "n_control", "gates", "verdict"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        for key in ["name", "statistic", "ci95", "threshold", "pass"] {
            assert!(v["gates"][0].get(key).is_some(), "{key}");
        }
        assert_eq!(v["fraction"], 0.5);
        // Same seed, same report.
        let again = canary(plan, &ConstantFactory(Tactics::NONE), &fraction, cfg).unwrap();
        assert_eq!(again, r);
    });
}

#[test]
fn shadow_projects_the_tactics_on_every_parent() {
    with_plan(|plan| {
        // No tactic: the projection is the baseline, every difference exactly 0.
        let none = shadow(plan, &ConstantFactory(Tactics::NONE)).unwrap();
        assert_eq!(none.baseline, none.controlled);
        assert_eq!(none.setting, "scenario");
        for (name, e) in &none.difference.figures {
            if let Some(x) = e.estimate {
                assert_eq!(x, 0.0, "{name}");
            }
        }
        // The gate on every parent: no IOC at all, every would-be IOC gated.
        let gate = Tactics {
            aggression_gate: true,
            ..Tactics::NONE
        };
        let gated = shadow(plan, &ConstantFactory(gate)).unwrap();
        assert!(gated.baseline.ioc_misses > 0, "{:?}", gated.baseline);
        assert_eq!(gated.controlled.ioc_misses, 0);
        assert!(gated.tactics.gated_orders > 0);
        assert_eq!(gated.tactics.armed_parents, 60);
        assert_eq!(gated.baseline, none.baseline);
        assert_ne!(gated.controlled, gated.baseline);
    });
}
