//! The application thread as an M/G/1 queue: one interrupt per packet, zero IRQ and
//! stack cost, no wake-up cost, so `t_app - t_ingress` is the wait in queue and its mean
//! must match Pollaczek-Khinchine `λ E[S²] / (2 (1 - ρ))` (`model::queueing`).
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_model::queueing::mg1_mean_wait_ns;
use coalescope_sim::{simulate, Scenario};

fn mean_wait(rate_per_s: f64, service_ns: i64, dist: &str, seed: u64) -> f64 {
    let text = format!(
        r#"
seed = {seed}
packets = 1000000
[[stream]]
name = "md"
arrivals = {{ kind = "poisson", rate_per_s = {rate_per_s} }}
[nic]
policy = "none"
[host]
irq_cost_ns = 0
per_packet_cost_ns = 0
app_wakeup_ns = 0
app_service_ns = {service_ns}
app_service = "{dist}"
backlog = 10000000
"#
    );
    let out = simulate(&Scenario::from_toml_str(&text, None).unwrap()).unwrap();
    assert_eq!(out.summary.dropped, 0);
    assert_eq!(
        out.summary.mean_coalescing_delay_ns,
        Some(0.0),
        "no coalescing with policy none"
    );
    out.summary.mean_added_delay_ns.unwrap()
}

fn check(rate_per_s: f64, service_ns: i64, dist: &str, tolerance: f64) {
    let s = service_ns as f64;
    let second = if dist == "fixed" { s * s } else { 2.0 * s * s };
    let expected = mg1_mean_wait_ns(rate_per_s, s, second).unwrap();
    let got = mean_wait(rate_per_s, service_ns, dist, 11);
    let err = (got - expected).abs() / expected;
    assert!(
        err <= tolerance,
        "{dist} ρ={}: simulated {got} vs P-K {expected} ({err:.4})",
        rate_per_s * s * 1e-9
    );
}

#[test]
fn md1_rho_0_3() {
    check(300_000.0, 1_000, "fixed", 0.03);
}

#[test]
fn md1_rho_0_6() {
    check(600_000.0, 1_000, "fixed", 0.03);
}

#[test]
fn mm1_rho_0_3() {
    check(300_000.0, 1_000, "exponential", 0.03);
}

#[test]
fn mm1_rho_0_6() {
    check(600_000.0, 1_000, "exponential", 0.03);
}
