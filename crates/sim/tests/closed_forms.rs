//! The ideal-host simulator against SPEC §3's closed forms (the `model` crate is the
//! reference), at 10^6 Poisson packets, λW from idle (0.1) to saturated (100).
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_model::nic::NicCoalescing;
use coalescope_sim::{simulate, Scenario, SimOutput};

const WINDOW_US: i64 = 100;
const PACKETS: u64 = 1_000_000;

fn ideal_eqe(rate_per_s: f64, usecs: i64, frames: u32, seed: u64, packets: u64) -> SimOutput {
    let text = format!(
        r#"
seed = {seed}
packets = {packets}
[[stream]]
name = "md"
arrivals = {{ kind = "poisson", rate_per_s = {rate_per_s} }}
[nic]
policy = "ethtool"
rx_usecs = {usecs}
rx_frames = {frames}
ring_size = 65536
[host]
irq_cost_ns = 0
per_packet_cost_ns = 0
app_service_ns = 0
"#
    );
    simulate(&Scenario::from_toml_str(&text, None).unwrap()).unwrap()
}

fn close(what: &str, sim: f64, model: f64, rel: f64) {
    let err = (sim - model).abs() / model.abs();
    assert!(
        err <= rel,
        "{what}: simulated {sim} vs closed form {model} (relative error {err:.4} > {rel})"
    );
}

/// Checks one setting; returns the simulated count-limited probability for reuse.
///
/// At λW = 100 a batch holds ~100 packets, so 10^6 packets give only ~10^4 batches and
/// the full-wait fraction (one packet per timer-closed batch) has ~1 % sampling noise;
/// those cases run 4 x 10^6 packets so that 2 % is a real bound, not a coin toss.
fn check(lambda_w: f64, frames: u32) {
    let rate = lambda_w / (WINDOW_US as f64 * 1e-6);
    let packets = if lambda_w >= 100.0 {
        4 * PACKETS
    } else {
        PACKETS
    };
    let out = ideal_eqe(rate, WINDOW_US, frames, 42, packets);
    let s = &out.summary;
    let p = NicCoalescing {
        rate_per_s: rate,
        window_ns: WINDOW_US * 1_000,
        frames,
    }
    .predict()
    .unwrap();
    let ctx = format!("λW = {lambda_w}, B = {frames}");
    assert_eq!(
        s.delivered, packets,
        "{ctx}: ideal host delivers everything"
    );
    assert_eq!(s.dropped, 0);
    close(
        &format!("{ctx} mean coalescing delay"),
        s.mean_coalescing_delay_ns.unwrap(),
        p.mean_added_delay_ns,
        0.02,
    );
    // Zero host costs: the application sees each packet at its interrupt.
    assert_eq!(s.mean_coalescing_delay_ns, s.mean_added_delay_ns, "{ctx}");
    close(
        &format!("{ctx} full-wait fraction"),
        s.full_wait_fraction.unwrap(),
        p.full_wait_fraction,
        0.02,
    );
    close(
        &format!("{ctx} interrupt rate"),
        s.interrupt_rate_per_s,
        p.interrupt_rate_per_s,
        0.02,
    );
    close(
        &format!("{ctx} mean batch"),
        s.mean_batch_size.unwrap(),
        p.mean_batch_size,
        0.02,
    );
    if frames >= 2 {
        close(
            &format!("{ctx} count-limited"),
            s.count_fired_fraction.unwrap(),
            p.count_limited_probability,
            0.02,
        );
    } else {
        assert_eq!(
            s.count_fired_fraction,
            Some(0.0),
            "{ctx}: timer only never fires on count"
        );
    }
    // Every interrupt is either the timer or the count.
    let fired = s.timer_fired_fraction.unwrap() + s.count_fired_fraction.unwrap();
    assert!((fired - 1.0).abs() < 1e-12, "{ctx}");
}

#[test]
fn timer_only_idle() {
    check(0.1, 0);
}

#[test]
fn timer_only_moderate() {
    check(1.0, 0);
}

#[test]
fn timer_only_busy() {
    check(10.0, 0);
}

#[test]
fn timer_only_saturated() {
    check(100.0, 0);
}

#[test]
fn timer_and_count_idle() {
    check(0.1, 2);
}

#[test]
fn timer_and_count_moderate() {
    check(1.0, 2);
}

#[test]
fn timer_and_count_busy() {
    check(10.0, 10);
}

#[test]
fn timer_and_count_saturated() {
    check(100.0, 100);
}

/// The SPEC §3 timer-only formulas written out here too, independently of `model`.
#[test]
fn timer_only_matches_the_formula_written_out() {
    let (w, lambda_w) = (50_000.0, 1.0);
    let out = ideal_eqe(lambda_w / (w * 1e-9), 50, 0, 3, PACKETS);
    let s = &out.summary;
    close(
        "mean delay",
        s.mean_coalescing_delay_ns.unwrap(),
        w * (1.0 + lambda_w / 2.0) / (1.0 + lambda_w),
        0.02,
    );
    close(
        "full wait",
        s.full_wait_fraction.unwrap(),
        1.0 / (1.0 + lambda_w),
        0.02,
    );
}

/// In an idle EQE timer-only run every delay is at most W, and the first packet of each
/// batch waits exactly W (batch open + W is the interrupt time, integer ns).
#[test]
fn timer_fires_exactly_at_batch_open_plus_window() {
    let out = ideal_eqe(20_000.0, 50, 0, 9, 100_000);
    let w = 50_000;
    let fire_times: std::collections::HashSet<i64> =
        out.interrupts.iter().map(|i| i.time.0).collect();
    let mut full = 0u64;
    for r in &out.records {
        let d = r.coalescing_delay_ns().unwrap();
        let t = r.t_ingress().0;
        assert!((0..=w).contains(&d), "delay {d}");
        assert_eq!(
            r.t_app(),
            Some(r.t_ingress() + coalescope_timeline::Duration(d))
        );
        // Only batch openers wait exactly W, and a packet landing exactly on a deadline
        // joins the closing batch with delay 0.
        assert_eq!(d == w, fire_times.contains(&(t + w)), "{r:?}");
        assert_eq!(d == 0, fire_times.contains(&t), "{r:?}");
        full += u64::from(d == w);
    }
    assert!(full >= out.summary.interrupts);
    for i in &out.interrupts {
        assert_eq!(i.reason, coalescope_sim::FireReason::Timer);
    }
}

/// The tie rule: a packet arriving exactly at `first + W` belongs to the batch closing then.
#[test]
fn packet_at_deadline_joins_the_closing_batch() {
    let text = r#"
seed = 1
packets = 3
[[stream]]
name = "tick"
arrivals = { kind = "periodic", period_ns = 50000, phase_ns = 1000 }
[nic]
rx_usecs = 50
[host]
"#;
    let out = simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap();
    // Arrivals at 1000, 51000, 101000: the first batch closes at 51000 with two packets,
    // the third opens a new one closing at 151000.
    let batches: Vec<_> = out.interrupts.iter().map(|i| (i.time.0, i.batch)).collect();
    assert_eq!(batches, vec![(51_000, 2), (151_000, 1)]);
    let apps: Vec<_> = out.records.iter().map(|r| r.t_app().unwrap().0).collect();
    assert_eq!(apps, vec![51_000, 51_000, 151_000]);
}
