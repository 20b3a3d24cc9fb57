//! The NIC timer+count closed forms against an independent Monte Carlo of EQE batches.
//!
//! Each simulated batch opens with a packet at t = 0, draws exponential gaps, and closes at
//! `min(W, T_{B-1})`. Per-packet means are ratio estimators `ΣX / ΣK` over batches; their
//! standard error comes from the delta method, `sd(X - R K) / (mean(K) sqrt(n))`. With
//! 2e5 batches that error is well under 1 % of the value, and the check allows 5 standard
//! errors (a false alarm has probability ~6e-7, and the seed is fixed anyway).

use coalescope_model::nic::NicCoalescing;

/// SplitMix64: tiny, seeded, good enough for exponential draws in a test.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }
}

/// Per-batch samples: (summed wait, batch size, count-limited, first packet waited W, close).
fn simulate(rate_per_ns: f64, w: f64, b: u32, batches: usize, seed: u64) -> Vec<[f64; 5]> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(batches);
    let mut arrivals = Vec::new();
    for _ in 0..batches {
        arrivals.clear();
        let mut t = 0.0;
        let mut count_limited = false;
        loop {
            t += rng.exponential(rate_per_ns);
            if t > w {
                break;
            }
            arrivals.push(t);
            if b >= 2 && arrivals.len() as u32 == b - 1 {
                count_limited = true;
                break;
            }
        }
        let close = if count_limited { t } else { w };
        let waits: f64 = close + arrivals.iter().map(|a| close - a).sum::<f64>();
        let size = 1.0 + arrivals.len() as f64;
        let full = if count_limited { 0.0 } else { 1.0 };
        out.push([waits, size, f64::from(u8::from(count_limited)), full, close]);
    }
    out
}

/// Ratio estimate `Σ x / Σ y` and its delta-method standard error.
fn ratio(samples: &[[f64; 5]], x: usize, y: usize) -> (f64, f64) {
    let n = samples.len() as f64;
    let sx: f64 = samples.iter().map(|s| s[x]).sum();
    let sy: f64 = samples.iter().map(|s| s[y]).sum();
    let r = sx / sy;
    let mean_y = sy / n;
    let var = samples
        .iter()
        .map(|s| (s[x] - r * s[y]).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (r, var.sqrt() / (mean_y * n.sqrt()))
}

/// Plain mean and its standard error.
fn mean(samples: &[[f64; 5]], x: usize) -> (f64, f64) {
    let n = samples.len() as f64;
    let m = samples.iter().map(|s| s[x]).sum::<f64>() / n;
    let var = samples.iter().map(|s| (s[x] - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

fn close_to(name: &str, model: f64, (estimate, se): (f64, f64)) {
    // A floor on the tolerance for quantities that are (almost) deterministic.
    let tol = 5.0 * se + 1e-9 * model.abs().max(1.0);
    assert!(
        (model - estimate).abs() <= tol,
        "{name}: model {model}, simulation {estimate} ± {se}"
    );
}

#[test]
fn timer_and_count_match_monte_carlo() {
    // (rate per second, W ns, B): B = 2, moderate B, large B (count rarely binds), and a
    // case where the count almost always fires first.
    let cases = [
        (1e6, 1_000i64, 2u32),
        (2e5, 50_000, 4),
        (5e5, 20_000, 8),
        (1e6, 16_000, 32),
        (2e6, 100_000, 64),
        (3e5, 10_000, 0),
    ];
    for (i, &(rate, w, b)) in cases.iter().enumerate() {
        let model = NicCoalescing {
            rate_per_s: rate,
            window_ns: w,
            frames: b,
        }
        .predict()
        .unwrap();
        let samples = simulate(rate / 1e9, w as f64, b, 200_000, 0xC0A1_E5CE + i as u64);
        let tag = format!("rate {rate} W {w} B {b}");
        close_to(
            &format!("{tag} delay"),
            model.mean_added_delay_ns,
            ratio(&samples, 0, 1),
        );
        close_to(
            &format!("{tag} full wait"),
            model.full_wait_fraction,
            ratio(&samples, 3, 1),
        );
        close_to(
            &format!("{tag} batch"),
            model.mean_batch_size,
            mean(&samples, 1),
        );
        close_to(
            &format!("{tag} count-limited"),
            model.count_limited_probability,
            mean(&samples, 2),
        );
        close_to(
            &format!("{tag} close"),
            model.mean_batch_close_ns,
            mean(&samples, 4),
        );
        let second = NicCoalescing {
            rate_per_s: rate,
            window_ns: w,
            frames: b,
        }
        .batch_size_second_moment()
        .unwrap();
        let sq: Vec<[f64; 5]> = samples
            .iter()
            .map(|s| [s[1] * s[1], 0.0, 0.0, 0.0, 0.0])
            .collect();
        close_to(&format!("{tag} E[K^2]"), second, mean(&sq, 0));
    }
}

#[test]
fn large_count_threshold_equals_timer_only() {
    // λW = 5: P[N(W) >= 10_000] is zero in double precision, so B = 10_000 is timer-only.
    let timer = NicCoalescing {
        rate_per_s: 1e5,
        window_ns: 50_000,
        frames: 0,
    }
    .predict()
    .unwrap();
    let both = NicCoalescing {
        rate_per_s: 1e5,
        window_ns: 50_000,
        frames: 10_000,
    }
    .predict()
    .unwrap();
    for (a, b) in [
        (timer.mean_added_delay_ns, both.mean_added_delay_ns),
        (timer.full_wait_fraction, both.full_wait_fraction),
        (timer.interrupt_rate_per_s, both.interrupt_rate_per_s),
        (timer.mean_batch_size, both.mean_batch_size),
        (timer.mean_batch_close_ns, both.mean_batch_close_ns),
    ] {
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            "{timer:?} vs {both:?}"
        );
    }
    assert!(both.count_limited_probability < 1e-300);
}

#[test]
fn huge_window_equals_count_only() {
    // λW = 1e5 with B = 16: the timer never fires first.
    let count = NicCoalescing {
        rate_per_s: 1e6,
        window_ns: 0,
        frames: 16,
    }
    .predict()
    .unwrap();
    let both = NicCoalescing {
        rate_per_s: 1e6,
        window_ns: 100_000_000,
        frames: 16,
    }
    .predict()
    .unwrap();
    // Count-only by hand: delay (B-1)/(2λ) = 15/2e-3 = 7500 ns, batch 16, rate 62_500/s.
    assert!((count.mean_added_delay_ns - 7_500.0).abs() < 1e-9);
    assert!((count.interrupt_rate_per_s - 62_500.0).abs() < 1e-9);
    for (a, b) in [
        (count.mean_added_delay_ns, both.mean_added_delay_ns),
        (count.interrupt_rate_per_s, both.interrupt_rate_per_s),
        (count.mean_batch_size, both.mean_batch_size),
        (count.mean_batch_close_ns, both.mean_batch_close_ns),
        (
            count.count_limited_probability,
            both.count_limited_probability,
        ),
    ] {
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            "{count:?} vs {both:?}"
        );
    }
    assert!(both.full_wait_fraction < 1e-300);
}

#[test]
fn delay_rises_towards_timer_only_as_count_grows() {
    let mut last = 0.0;
    for b in [2u32, 3, 4, 8, 16, 64, 256] {
        let p = NicCoalescing {
            rate_per_s: 1e6,
            window_ns: 20_000,
            frames: b,
        }
        .predict()
        .unwrap();
        assert!(p.mean_added_delay_ns > last, "B {b}: {p:?}");
        last = p.mean_added_delay_ns;
    }
    let timer = NicCoalescing {
        rate_per_s: 1e6,
        window_ns: 20_000,
        frames: 0,
    }
    .predict()
    .unwrap();
    assert!(last <= timer.mean_added_delay_ns + 1e-9);
}
