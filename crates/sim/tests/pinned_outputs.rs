//! Fixed host costs give byte-identical outputs to the simulator before host costs
//! became distributions: fingerprints of every record and interrupt, pinned from the
//! code before that change, for the default scenario and a few paths that read costs.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_sim::{simulate, Fate, Scenario, SimOutput};

mod scenarios;
use scenarios::{BUSY_POLL, DEFERRAL};

/// FNV-1a over every record's times and fate and every interrupt.
fn fingerprint(out: &SimOutput) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: i64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for r in &out.records {
        eat(r.t_ingress().0);
        eat(r.t_stack().map_or(-1, |t| t.0));
        eat(r.t_app().map_or(-1, |t| t.0));
        eat(match r.fate() {
            Fate::Delivered => 0,
            Fate::Dropped(d) => 1 + d as i64,
            Fate::InFlight => 9,
        });
    }
    for i in &out.interrupts {
        eat(i.time.0);
        eat(i64::from(i.batch));
        eat(i.timer_ns);
    }
    h
}

fn run(text: &str) -> SimOutput {
    simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap()
}

const EXP_SERVICE: &str = r#"
seed = 5
packets = 50000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 400000 }
[nic]
rx_usecs = 20
[host]
preset = "realistic"
app_service_ns = 2000
app_service = "exponential"
ksoftirqd_delay_ns = 30000
netdev_budget = 64
"#;

/// (fingerprint, p50, p99, interrupts, software polls, time_squeeze), computed with
/// the code before host costs became distributions (commit 5d3b412).
fn pinned(out: &SimOutput, want: (u64, i64, i64, u64, u64, u64)) {
    let s = &out.summary;
    let got = (
        fingerprint(out),
        s.p50_ns.unwrap(),
        s.p99_ns.unwrap(),
        s.interrupts,
        s.software_polls,
        s.time_squeeze,
    );
    assert_eq!(got, want);
}

#[test]
fn default_scenario_is_unchanged() {
    let mut spec = coalescope_sim::ScenarioSpec::default_spec();
    spec.packets = Some(100_000);
    let out = simulate(&spec.validate(None).unwrap()).unwrap();
    pinned(&out, (0xfee6_b101_67ce_89e3, 55_000, 283_998, 5_939, 0, 16));
    assert_eq!(out.summary.mean_added_delay_ns, Some(71_998.001_52));
}

#[test]
fn deferral_with_realistic_costs_is_unchanged() {
    pinned(
        &run(DEFERRAL),
        (0xc5a0_cc9a_645b_1494, 26_644, 54_384, 4_069, 43_166, 0),
    );
}

#[test]
fn exponential_service_draws_the_same_numbers() {
    pinned(
        &run(EXP_SERVICE),
        (0xc7f3_3235_7d95_8aa7, 26_153, 63_504, 4_160, 0, 0),
    );
    // The same service written as a table is the same distribution and RNG.
    let table = EXP_SERVICE.replace(
        "app_service_ns = 2000\napp_service = \"exponential\"",
        "app_service_ns = { dist = \"exponential\", mean_ns = 2000 }",
    );
    assert_ne!(table, EXP_SERVICE);
    pinned(
        &run(&table),
        (0xc7f3_3235_7d95_8aa7, 26_153, 63_504, 4_160, 0, 0),
    );
}

#[test]
fn busy_poll_is_unchanged() {
    pinned(
        &run(BUSY_POLL),
        (0x0531_f64d_e5fb_aa9e, 500, 4_672, 0, 0, 0),
    );
}

#[test]
fn fixed_tables_equal_integers() {
    // `{ dist = "fixed", ns = N }` is the integer N: same bytes.
    let table = DEFERRAL.replace(
        "preset = \"realistic\"",
        "preset = \"realistic\"\nper_packet_cost_ns = { dist = \"fixed\", ns = 500 }\ntimer_slack_ns = { dist = \"fixed\", ns = 0 }",
    );
    assert_ne!(table, DEFERRAL);
    pinned(
        &run(&table),
        (0xc5a0_cc9a_645b_1494, 26_644, 54_384, 4_069, 43_166, 0),
    );
}
