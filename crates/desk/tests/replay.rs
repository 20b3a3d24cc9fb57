//! Counterfactual replay: the parent-level figures recomputed for the bootstrap agree with
//! the metrics crate's branch report (two implementations of SPEC §5.1's statistics); a
//! setting compared with itself differs by exactly zero; runs are deterministic; every
//! figure name of the issue's contract is in the rows.
#![allow(clippy::unwrap_used)]

use coalescope_desk::replay::{parent_figure, replay, ReplayPlan, ReplayReport, FIGURES};
use coalescope_desk::DeskScenario;
use coalescope_metrics::bootstrap::BootstrapConfig;
use coalescope_metrics::branches::ParentRow;
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
rate_per_s = 40000
[parents]
count = 40
qty = 1000
duration_ns = 300000000
"#;

fn run(settings: &str, resamples: usize) -> ReplayReport {
    run_settings(&Setting::parse_list(settings).unwrap(), resamples)
}

fn run_settings(settings: &[Setting], resamples: usize) -> ReplayReport {
    let scenario = DeskScenario::from_toml_str(SCENARIO, None).unwrap();
    let market = scenario.market.open(scenario.seed).unwrap();
    let plan = ReplayPlan {
        scenario: &scenario,
        base_dir: None,
        market: &*market,
        settings,
        bootstrap: BootstrapConfig { resamples, seed: 5 },
        analysis: Config {
            markouts: true,
            ..Config::default()
        },
    };
    replay(&plan).unwrap()
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            "{what}: {x} vs {y}"
        ),
        (None, None) => {}
        _ => panic!("{what}: {a:?} vs {b:?}"),
    }
}

#[test]
fn bootstrap_figures_on_the_full_sample_equal_the_branch_report() {
    let r = run("per-packet; rx-usecs=128,rx-frames=64; busy-poll", 50);
    assert_eq!(r.settings.len(), 3);
    assert_eq!(r.differences.len(), 2);
    for (row, parents) in r.settings.iter().zip(&r.parent_rows) {
        assert_eq!(parents.len() as u64, row.parents, "{}", row.setting);
        assert!(row.parents_classified > 20, "{row:?}");
        let refs: Vec<&ParentRow> = parents.iter().collect();
        let all: Vec<usize> = (0..refs.len()).collect();
        for (name, over_parents) in FIGURES {
            if over_parents {
                close(
                    parent_figure(&refs, &all, name),
                    row.figure(name),
                    &format!("{} {name}", row.setting),
                );
            }
        }
    }
    // The difference's point estimate is the difference of the rows.
    for d in &r.differences {
        let a = &r.settings[0];
        let b = r.settings.iter().find(|s| s.setting == d.setting).unwrap();
        assert_eq!(d.vs, a.setting);
        assert_eq!(d.paired_parents, 40);
        for (name, _) in FIGURES {
            let want = b.figure(name).zip(a.figure(name)).map(|(x, y)| x - y);
            close(d.figure(name).unwrap().estimate, want, name);
        }
        // Delivery figures carry no interval; parent figures do, around the estimate.
        assert!(d.figure("delay_p99_ns").unwrap().ci95.is_none());
        let e = d.figure("expected_cost_bps").unwrap();
        let [lo, hi] = e.ci95.unwrap();
        assert!(lo <= hi);
    }
    // The receive path did differ: busy-poll delivers far sooner than rx-usecs 128.
    assert!(r.settings[2].delay_p99_ns.unwrap() < r.settings[1].delay_p99_ns.unwrap());
    assert!(r.settings[1].interrupt_rate_per_s < r.settings[0].interrupt_rate_per_s);
    assert_eq!(r.settings[2].interrupt_rate_per_s, 0.0);
}

#[test]
fn a_setting_against_itself_differs_by_exactly_zero() {
    // (A list naming a setting twice is refused by the parser, so build it by hand.)
    let one = Setting::parse("rx-usecs=50").unwrap();
    let r = run_settings(&[one, one], 200);
    assert_eq!(r.settings[0], {
        let mut b = r.settings[1].clone();
        b.setting = r.settings[0].setting.clone();
        b
    });
    let d = &r.differences[0];
    for (name, over_parents) in FIGURES {
        let e = d.figure(name).unwrap();
        if e.estimate.is_some() {
            assert_eq!(e.estimate, Some(0.0), "{name}");
        }
        if over_parents && e.estimate.is_some() {
            assert_eq!(e.ci95, Some([0.0, 0.0]), "{name}");
        }
    }
}

#[test]
fn replay_is_deterministic_and_names_every_figure() {
    let a = serde_json::to_string(&run("per-packet; adaptive", 100)).unwrap();
    let b = serde_json::to_string(&run("per-packet; adaptive", 100)).unwrap();
    assert_eq!(a, b);
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    for (name, _) in FIGURES {
        assert!(v["settings"][0].get(name).is_some(), "row lacks {name}");
        let d = &v["differences"][0][name];
        assert!(
            d.get("estimate").is_some() && d.get("ci95").is_some(),
            "{name}: {d}"
        );
    }
    assert_eq!(v["differences"][0]["setting"], "adaptive");
    assert_eq!(v["differences"][0]["vs"], "per-packet");
}

#[test]
fn every_shipped_desk_scenario_is_valid_and_opens() {
    // scenarios/desk/*.toml are desk scenarios (the simulator's keys plus [market],
    // [strategy], [venue], [parents]); the simulator's own test reads scenarios/*.toml.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/desk");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let s =
            DeskScenario::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s.market
            .open(s.seed)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 1);
    // The compiled-in default is the file.
    let default = DeskScenario::default_scenario().unwrap();
    let file = DeskScenario::from_file(&dir.join("default.toml")).unwrap();
    assert_eq!(default.seed, file.seed);
    assert_eq!(default.config, file.config);
}
