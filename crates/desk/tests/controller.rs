//! The controller as the desk's tactic source (issue 11 phase 2): a config that enters
//! DELIVERY_CLUSTERED on the first defined tick shows in the shadow timeline and paces
//! orders; the default config runs the canary to a verdict deterministically.
#![allow(clippy::unwrap_used)] // tests may unwrap

use coalescope_control::{ControlConfig, Threshold};
use coalescope_desk::control_arms::{canary, shadow, Arm, SourceFactory};
use coalescope_desk::controller::ControllerFactory;
use coalescope_desk::replay::ReplayPlan;
use coalescope_desk::DeskScenario;
use coalescope_metrics::bootstrap::BootstrapConfig;
use coalescope_metrics::Config;
use coalescope_sim::setting::Setting;

const SCENARIO: &str = r#"
seed = 11
[nic]
policy = "ethtool"
rx_usecs = 50
[market]
kind = "synthetic"
messages = 60000
rate_per_s = 20000
[parents]
count = 40
qty = 1000
duration_ns = 1000000000
"#;

fn with_plan<T>(f: impl FnOnce(&ReplayPlan<'_>) -> T) -> T {
    let scenario = DeskScenario::from_toml_str(SCENARIO, None).unwrap();
    let market = scenario.market.open(scenario.seed).unwrap();
    let settings = Setting::parse_list("rx-usecs=50").unwrap();
    let plan = ReplayPlan {
        scenario: &scenario,
        base_dir: None,
        market: &*market,
        settings: &settings,
        bootstrap: BootstrapConfig {
            resamples: 100,
            seed: 5,
        },
        analysis: Config {
            markouts: true,
            ..Config::default()
        },
    };
    f(&plan)
}

/// Level 1 whenever `bdc_excess` is defined (E = X = -1 <= any excess) and `cte`
/// undefined or >= -1000 bps; levels 2 and 3 never (E beyond any value).
fn clustered_always() -> ControlConfig {
    ControlConfig {
        bdc: Threshold::new(-1.0, -1.0),
        cte_mild: Threshold::new(-1000.0, -1000.0),
        dbc: Threshold::new(10.0, 10.0),
        cte_high: Threshold::new(1e9, 1e9),
        dccd: Threshold::new(10.0, 10.0),
        ..ControlConfig::default()
    }
}

#[test]
fn a_controller_that_enters_delivery_clustered_paces_every_parent_in_shadow() {
    with_plan(|plan| {
        let factory = ControllerFactory::new(clustered_always(), 3);
        let r = shadow(plan, &factory).unwrap();
        let t = &r.timeline;
        // The market spans [34200 s, 34203 s): the intervals of the 30 ticks 34200.1 s ..=
        // 34203.0 s hold deliveries (bdc_excess defined: level 1 enters at the first and
        // holds); after the market's end the intervals are empty (bdc_excess undefined,
        // the hold predicate false) and, the 2 s dwell long past, the state exits at the
        // first such tick. The engine then ticks on until the fills' markouts mature.
        let ticks_in = |name: &str| t.states.iter().find(|s| s.state == name).unwrap().ticks;
        assert_eq!(ticks_in("DELIVERY_CLUSTERED"), 30, "{t:?}");
        assert_eq!(ticks_in("PHASE_LOCKED") + ticks_in("SAFE_PACING"), 0);
        let moves: Vec<(i64, &str, &str)> = t
            .transitions
            .iter()
            .map(|x| (x.t_tick_ns, x.from.as_str(), x.to.as_str()))
            .collect();
        assert_eq!(
            moves,
            [
                (34_200_100_000_000, "FLOW_CLEAN", "DELIVERY_CLUSTERED"),
                (34_203_100_000_000, "DELIVERY_CLUSTERED", "FLOW_CLEAN")
            ]
        );
        assert!(
            t.transitions[0].reason.starts_with("enter:"),
            "{:?}",
            t.transitions[0]
        );
        assert!(
            t.transitions[1].reason.starts_with("exit:min_dwell"),
            "{:?}",
            t.transitions[1]
        );
        assert_eq!(t.late_records, 0);
        // Watching changes nothing; acting paces (200 orders/s base rate) and limits churn.
        assert_eq!(r.tactics.armed_parents, 40);
        assert!(r.tactics.paced_orders > 0, "{:?}", r.tactics);
        assert_ne!(r.controlled, r.baseline);
        // The same seed gives the same report.
        assert_eq!(shadow(plan, &factory).unwrap(), r);
    });
}

#[test]
fn the_default_controller_runs_a_canary_to_a_verdict() {
    with_plan(|plan| {
        let factory = ControllerFactory::new(ControlConfig::default(), 3);
        let f = "0.5".parse().unwrap();
        let cfg = BootstrapConfig {
            resamples: 200,
            seed: 1,
        };
        let r = canary(plan, &factory, f, cfg).unwrap();
        assert_eq!(r.result.n_canary + r.result.n_control, 40);
        assert_eq!(r.tactics.armed_parents, r.result.n_canary);
        assert_eq!(r.result.gates.len(), 6);
        assert!(r.timeline.ticks > 0);
        assert_eq!(canary(plan, &factory, f, cfg).unwrap(), r);
        // The source arms exactly the canary parents.
        let s = factory.source(&Arm::Canary(f)).unwrap();
        let armed = (1..=40).filter(|&id| s.arms(id)).count() as u64;
        assert_eq!(armed, r.result.n_canary);
    });
}
