//! Shadow and canary plumbing (SPEC §7): canary membership against independently computed
//! splitmix64 values, the DBC shortcut against the metrics crate's Pearson, and end-to-end runs with a
//! stand-in source (constant tactics; the controller is wired by the caller).
#![allow(clippy::unwrap_used)] // tests may unwrap

use coalescope_control::CanaryFraction;
use coalescope_desk::control_arms::{canary, shadow, Arm, MdSeries, SourceFactory};
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

fn fr(text: &str) -> CanaryFraction {
    text.parse().unwrap()
}

fn is_canary(id: u64, f: &CanaryFraction) -> bool {
    Arm::Canary(*f).contains(id)
}

#[test]
fn canary_membership_follows_the_known_splitmix64_values() {
    let f = fr("0.1");
    let canary: Vec<u64> = (1..=20).filter(|&id| is_canary(id, &f)).collect();
    // Below 1000: ids 6 (592) and 12 (323).
    assert_eq!(canary, vec![6, 12]);
    for (id, m) in (1..=20u64).zip(H_MOD) {
        // Exactly m / 10000: not in (strict <); the next ten-thousandth: in.
        let at = fr(&format!("{:.4}", m as f64 / 10_000.0));
        let above = fr(&format!("{:.4}", (m + 1) as f64 / 10_000.0));
        assert!(!is_canary(id, &at), "id {id} at {m}");
        assert!(is_canary(id, &above), "id {id} above {m}");
    }
    // Digits past the fourth count exactly: 0.05921 x 10000 = 592.1 > 592.
    assert!(!is_canary(6, &fr("0.0592")));
    assert!(!is_canary(6, &fr("0.059200000")));
    assert!(is_canary(6, &fr("0.05921")));
    assert!(is_canary(6, &fr("0.0592000001")));
    // 0 selects nobody, 1 everybody.
    for id in 1..=20 {
        assert!(!is_canary(id, &fr("0")));
        assert!(is_canary(id, &fr("1.000")));
    }
    assert_eq!(fr(".25").value(), 0.25);
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
        let fraction = fr("0.5");
        let cfg = BootstrapConfig {
            resamples: 300,
            seed: 9,
        };
        let r = canary(plan, &ConstantFactory(Tactics::NONE), fraction, cfg).unwrap();
        let ids: Vec<u64> = base.parent_rows[0].iter().map(|p| p.parent_id).collect();
        let n_canary = ids.iter().filter(|&&id| is_canary(id, &fraction)).count() as u64;
        assert_eq!(
            (r.result.n_canary, r.result.n_control),
            (n_canary, 60 - n_canary)
        );
        assert!(r.result.n_canary > 15 && r.result.n_control > 15, "{r:?}");
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
            assert_eq!(
                figures.cost_q95_bps,
                parent_figure(&rows, &all, "cost_q95_bps")
            );
            assert_eq!(
                figures.cost_q99_bps,
                parent_figure(&rows, &all, "cost_q99_bps")
            );
        }
        // Both arms' orders add up to the run's.
        assert_eq!(
            r.canary_arm.orders + r.control_arm.orders,
            base.settings[0].orders
        );
        let gates = &r.result.gates;
        assert_eq!(gates.len(), 6);
        // Gate 1's statistics are the arm figures' differences.
        assert_eq!(
            gates[0].statistic,
            Some(r.canary_arm.dbc_excess.unwrap() - r.control_arm.dbc_excess.unwrap())
        );
        assert_eq!(
            gates[1].statistic,
            Some(r.canary_arm.emit_bdc_median.unwrap() - r.control_arm.emit_bdc_median.unwrap())
        );
        // Gate 1's intervals resample parents (each resample rebuilds the arm's order
        // stream), so they exist and are ordered; the DBC interval holds values a
        // correlation difference can take.
        for g in &gates[..2] {
            let [lo, hi] = g.ci95.unwrap_or_else(|| panic!("{g:?}"));
            assert!(lo <= hi, "{g:?}");
        }
        let [lo, hi] = gates[0].ci95.unwrap();
        assert!((-2.0..=2.0).contains(&lo) && (-2.0..=2.0).contains(&hi));
        // Gate 3's q95 statistic: the arms' q95 difference.
        let q95 = gates.iter().find(|g| g.name == "cost_q95_bps").unwrap();
        assert_eq!(
            q95.statistic,
            Some(r.canary_arm.cost_q95_bps.unwrap() - r.control_arm.cost_q95_bps.unwrap())
        );
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
        assert!(["PROMOTE", "HOLD", "ROLLBACK"].contains(&v["verdict"].as_str().unwrap()));
        // Same seed, same report.
        let again = canary(plan, &ConstantFactory(Tactics::NONE), fraction, cfg).unwrap();
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
