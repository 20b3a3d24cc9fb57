//! The ideal-host simulator against SPEC §3's closed forms (the `model` crate is the
//! reference), at 10^6 and more Poisson packets, λW from idle (0.1) to saturated (100).
//!
//! Tolerances come from the run's own standard error, not a flat percentage. With Poisson
//! arrivals and zero host costs, batches are i.i.d. renewal cycles (a batch opens at the
//! first arrival after the previous interrupt, and the gap to it is memoryless), so every
//! per-packet mean the simulator reports is a ratio of per-batch sums, `Σ X_i / Σ K_i`, with
//! the delta-method standard error `sd(X_i - R K_i) / (mean(K) √n)` (as
//! `model/tests/nic_monte_carlo.rs`); per-batch means (batch size, count-fired share) use
//! `sd / √n`; the interrupt rate is `1 / mean(cycle)`, with relative SE
//! `sd(cycle) / (mean(cycle) √n)`. Each check allows `Z = 4.5` standard errors (a false
//! alarm has probability 7e-6 per check; the seeds are fixed anyway).
//!
//! Sensitivity: [`Check::resolves`] asserts `Z·SE + |sim - model| < 0.5 % · |model|` for a
//! quantity, which is exactly the condition under which the same run would fail had the
//! expectation been biased by 0.5 % in either direction. It is asserted for the mean
//! delay, the full-wait fraction, the mean batch and the interrupt rate of every case;
//! packet counts were raised where 10^6 packets do not give that resolution (the standard
//! errors, from the seeded runs, are listed per test). The count-limited probability is a
//! Bernoulli share of batches; where it is small or batches are few its resolution is
//! coarser, stated per test, and checked at Z SE only. Verified by hand once: multiplying
//! every expectation by 1.005 (and by 0.995) makes each of the nine statistical tests below
//! fail, each on its mean delay first (6 to 42 SE off).
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_model::nic::NicCoalescing;
use coalescope_sim::{simulate, FireReason, Scenario, SimOutput};

const WINDOW_US: i64 = 100;
const PACKETS: u64 = 1_000_000;
/// Standard errors allowed either side of the closed form.
const Z: f64 = 4.5;
/// The bias every headline quantity must be able to detect.
const BIAS: f64 = 0.005;

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

/// One interrupt's batch: summed coalescing delay, packets signalled by the interrupt,
/// packets delivered at its instant (the signalled ones plus any that arrived in the very
/// nanosecond the poll ran, picked up by it with delay 0, SPEC §2), packets that waited the
/// full window, fired by the count (0/1), and the time from its opening packet to the next
/// batch's (None for the last batch).
struct Batch {
    wait: f64,
    size: f64,
    packets: f64,
    full: f64,
    count: f64,
    cycle: Option<f64>,
}

/// Cut the run into batches: each interrupt owns the consecutive packets, in arrival
/// order, delivered at its instant (checked: they cover the run, at least `batch` each).
fn batches(out: &SimOutput, window_ns: i64) -> Vec<Batch> {
    let mut next = 0usize;
    let mut opens = Vec::with_capacity(out.interrupts.len());
    let mut batches = Vec::with_capacity(out.interrupts.len());
    for irq in &out.interrupts {
        let first = next;
        while next < out.records.len() && out.records[next].t_app() == Some(irq.time) {
            next += 1;
        }
        let members = &out.records[first..next];
        assert!(members.len() >= irq.batch as usize, "{irq:?}: {members:?}");
        let mut wait = 0i64;
        let mut full = 0u32;
        for r in members {
            let d = r.coalescing_delay_ns().unwrap();
            wait += d;
            full += u32::from(window_ns > 0 && d >= window_ns);
        }
        opens.push(members[0].t_ingress().0);
        batches.push(Batch {
            wait: wait as f64,
            size: f64::from(irq.batch),
            packets: members.len() as f64,
            full: f64::from(full),
            count: f64::from(u8::from(irq.reason == FireReason::Count)),
            cycle: None,
        });
    }
    assert_eq!(next, out.records.len(), "every packet is in one batch");
    for (b, pair) in batches.iter_mut().zip(opens.windows(2)) {
        b.cycle = Some((pair[1] - pair[0]) as f64);
    }
    batches
}

/// Ratio estimate `Σ x / Σ y` over batches and its delta-method standard error.
fn ratio(b: &[Batch], x: impl Fn(&Batch) -> f64, y: impl Fn(&Batch) -> f64) -> (f64, f64) {
    let n = b.len() as f64;
    let sx: f64 = b.iter().map(&x).sum();
    let sy: f64 = b.iter().map(&y).sum();
    let r = sx / sy;
    let var = b.iter().map(|s| (x(s) - r * y(s)).powi(2)).sum::<f64>() / (n - 1.0);
    (r, var.sqrt() / (sy / n * n.sqrt()))
}

/// Mean over batches (those where `x` is defined) and its standard error.
fn mean(b: &[Batch], x: impl Fn(&Batch) -> Option<f64>) -> (f64, f64) {
    let v: Vec<f64> = b.iter().filter_map(x).collect();
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// One simulated quantity against its closed form.
struct Check<'a> {
    what: &'a str,
    sim: f64,
    model: f64,
    se: f64,
}

impl Check<'_> {
    /// `|sim - model| <= Z·SE`.
    fn within_se(&self) -> &Self {
        let Check {
            what,
            sim,
            model,
            se,
        } = *self;
        eprintln!(
            "{what}: sim {sim:.6} model {model:.6} SE {se:.3e} (relative {:.2e}), \
             deviation {:.2} SE, resolves {:.3} %",
            se / model.abs(),
            (sim - model) / se,
            100.0 * (Z * se + (sim - model).abs()) / model.abs()
        );
        assert!(
            (sim - model).abs() <= Z * se,
            "{what}: simulated {sim} vs closed form {model}: {:.2} standard errors \
             (SE {se:.3e}) > {Z}",
            (sim - model).abs() / se
        );
        self
    }

    /// A 0.5 % bias of the expectation, either way, would push this check past `Z·SE`.
    fn resolves(&self) {
        let slack = Z * self.se + (self.sim - self.model).abs();
        assert!(
            slack < BIAS * self.model.abs(),
            "{}: this run cannot detect a {} % bias (Z·SE + |dev| = {:.3} % of the value)",
            self.what,
            BIAS * 100.0,
            100.0 * slack / self.model.abs()
        );
    }
}

/// Checks one setting of λW and B at `packets` packets.
fn check(lambda_w: f64, frames: u32, packets: u64, seed: u64) {
    let rate = lambda_w / (WINDOW_US as f64 * 1e-6);
    let window_ns = WINDOW_US * 1_000;
    let out = ideal_eqe(rate, WINDOW_US, frames, seed, packets);
    let s = &out.summary;
    let p = NicCoalescing {
        rate_per_s: rate,
        window_ns,
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
    // Zero host costs: the application sees each packet at its interrupt.
    assert_eq!(s.mean_coalescing_delay_ns, s.mean_added_delay_ns, "{ctx}");
    let b = batches(&out, window_ns);
    assert_eq!(b.len() as u64, s.interrupts, "{ctx}");

    let (delay, delay_se) = ratio(&b, |x| x.wait, |x| x.packets);
    let (full, full_se) = ratio(&b, |x| x.full, |x| x.packets);
    let (batch, batch_se) = mean(&b, |x| Some(x.size));
    let (count, count_se) = mean(&b, |x| Some(x.count));
    let (cycle, cycle_se) = mean(&b, |x| x.cycle);
    // The summary reports exactly these estimators (the rate over its span, which differs
    // from the sum of cycles by one partial cycle at each end).
    let same = |what: &str, a: f64, e: f64| {
        assert!(
            (a - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{ctx} {what}: {a} vs {e}"
        );
    };
    same("delay", s.mean_coalescing_delay_ns.unwrap(), delay);
    same("full wait", s.full_wait_fraction.unwrap(), full);
    same("batch", s.mean_batch_size.unwrap(), batch);
    same("count-fired", s.count_fired_fraction.unwrap(), count);
    let rate_se = s.interrupt_rate_per_s * cycle_se / cycle;

    // Timer only: the full-wait fraction is 1 / E[K] and resolves 0.5 % like the rest.
    // Timer + count at large λW: full-wait (timer-closed batches / packets) and count-fired
    // shares are Bernoulli shares of batches, checked at Z SE only (resolution per test).
    let timer_only = frames == 0;
    for (what, sim, model, se, resolves) in [
        (
            "mean coalescing delay",
            delay,
            p.mean_added_delay_ns,
            delay_se,
            true,
        ),
        (
            "full-wait fraction",
            full,
            p.full_wait_fraction,
            full_se,
            timer_only,
        ),
        ("mean batch", batch, p.mean_batch_size, batch_se, true),
        (
            "interrupt rate",
            s.interrupt_rate_per_s,
            p.interrupt_rate_per_s,
            rate_se,
            true,
        ),
    ] {
        let c = Check {
            what: &format!("{ctx} {what}"),
            sim,
            model,
            se,
        };
        c.within_se();
        if resolves {
            c.resolves();
        }
    }
    if frames >= 2 {
        Check {
            what: &format!("{ctx} count-limited"),
            sim: count,
            model: p.count_limited_probability,
            se: count_se,
        }
        .within_se();
    } else {
        assert_eq!(count, 0.0, "{ctx}: timer only never fires on count");
    }
    // Every interrupt is either the timer or the count.
    let fired = s.timer_fired_fraction.unwrap() + s.count_fired_fraction.unwrap();
    assert!((fired - 1.0).abs() < 1e-12, "{ctx}");
}

// Per test: relative SEs from the seeded run and, in %, `Z·SE + |deviation|`: the smallest
// bias of the expectation that would fail the check. Run with `-- --nocapture` to see them.

/// λW = 0.1, 2e6 packets (~1.8e6 batches). Relative SE: delay 1.2e-4, full wait 2.1e-4,
/// batch 2.1e-4, rate 6.8e-4 (a cycle is W plus an idle gap of mean 10 W, sd 10 W):
/// Z·SE + |deviation| at most 0.34 % (rate), so a 0.5 % bias fails.
#[test]
fn timer_only_idle() {
    check(0.1, 0, 2 * PACKETS, 1);
}

/// λW = 1, 2e6 packets (1e6 batches). Relative SE: delay 2.5e-4, full wait 5.0e-4, batch
/// 5.0e-4, rate 5.0e-4: at most 0.29 %. (At 1e6 packets and seed 42 the full-wait fraction
/// sat 3.6 SE low, 0.57 % with the slack; a scan of seeds 1..8 showed no bias, mean -0.03 SE.)
#[test]
fn timer_only_moderate() {
    check(1.0, 0, 2 * PACKETS, 2);
}

/// λW = 10, 2e6 packets (182k batches): the batch (Poisson, sd √10) needs 2e6 packets.
/// Relative SE: delay 3.6e-4, full wait 6.8e-4, batch 6.8e-4, rate 2.1e-4: at most 0.32 %.
#[test]
fn timer_only_busy() {
    check(10.0, 0, 2 * PACKETS, 3);
}

/// λW = 100, 4e6 packets (~40k batches). Relative SE: delay 2.8e-4, full wait 5.1e-4,
/// batch 5.0e-4, rate 5.0e-5: at most 0.26 %.
#[test]
fn timer_only_saturated() {
    check(100.0, 0, 4 * PACKETS, 4);
}

/// λW = 0.1, B = 2, 2e6 packets. Relative SE: delay 3.2e-4, batch 2.0e-4, rate 6.8e-4 (at
/// most 0.31 %); full wait 4.4e-4 (0.20 %); count-limited (p = 0.095) 2.3e-3: resolves 1.0 %.
#[test]
fn timer_and_count_idle() {
    check(0.1, 2, 2 * PACKETS, 5);
}

/// λW = 1, B = 2, 4e6 packets (1e6 packets gave a delay SE of 1.05e-3, too coarse).
/// Relative SE: delay 5.2e-4, batch 1.9e-4, rate 4.2e-4 (at most 0.25 %); full wait 1.0e-3
/// (0.48 %); count-limited 4.9e-4 (0.23 %).
#[test]
fn timer_and_count_moderate() {
    check(1.0, 2, 4 * PACKETS, 6);
}

/// λW = 10, B = 10, 2e6 packets. Relative SE: delay 6.8e-4, batch 3.2e-4, rate 4.9e-4 (at
/// most 0.39 %); full wait (p = 0.036) 3.3e-3: resolves 1.5 %; count-limited 1.5e-3: 0.69 %.
#[test]
fn timer_and_count_busy() {
    check(10.0, 10, 2 * PACKETS, 7);
}

/// λW = 100, B = 100, 4e6 packets (~41k batches). Relative SE: delay 4.3e-4, batch 2.7e-4,
/// rate 3.1e-4 (at most 0.22 %); full wait (p = 0.0046) 5.7e-3: resolves 3.2 %;
/// count-limited (one Bernoulli per batch) 4.4e-3: 2.5 %.
#[test]
fn timer_and_count_saturated() {
    check(100.0, 100, 4 * PACKETS, 8);
}

/// The SPEC §3 timer-only formulas written out here too, independently of `model`.
/// λW = 1, W = 50 µs, 1e6 packets. Relative SE: delay 3.6e-4 (0.17 %), full wait 7.1e-4
/// (0.39 %).
#[test]
fn timer_only_matches_the_formula_written_out() {
    let (w, lambda_w) = (50_000.0, 1.0);
    let out = ideal_eqe(lambda_w / (w * 1e-9), 50, 0, 3, PACKETS);
    let b = batches(&out, 50_000);
    let (delay, delay_se) = ratio(&b, |x| x.wait, |x| x.packets);
    let (full, full_se) = ratio(&b, |x| x.full, |x| x.packets);
    for (what, sim, model, se) in [
        (
            "mean delay",
            delay,
            w * (1.0 + lambda_w / 2.0) / (1.0 + lambda_w),
            delay_se,
        ),
        ("full wait", full, 1.0 / (1.0 + lambda_w), full_se),
    ] {
        Check {
            what,
            sim,
            model,
            se,
        }
        .within_se()
        .resolves();
    }
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
