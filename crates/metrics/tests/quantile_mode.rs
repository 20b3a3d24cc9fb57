//! `QuantileMode::Exact` against the sketch on a fixture where they differ: 70,000 gaps,
//! more than the sketch keeps exact (65,536), so the sketch reports bucket middles.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_metrics::{Analyzer, Config, QuantileMode, Report, SKETCH_BOUND};
use coalescope_timeline::quantile::{nearest_rank, Prob};
use coalescope_timeline::{Event, Instant, Strings};

/// App gaps repeat this pattern of 20: sorted, 5 % are 100, 45 % 700, 40 % 1333, 5 % 1467
/// and 5 % 3000 (so the sketch's exact min and max clamp none of the quantiles below).
const PATTERN: [i64; 20] = [
    100, 1333, 700, 1333, 700, 1333, 700, 1333, 700, 1467, 700, 1333, 700, 1333, 700, 1333, 700,
    1333, 700, 3000,
];
const GAPS: usize = 70_000;

/// 70,001 md events 1 µs apart on the wire; app instants spaced by `PATTERN`.
fn fixture(strings: &mut Strings) -> Vec<Event> {
    let feed = strings.intern("feed");
    let mut t_app = 1_000;
    (0..=GAPS)
        .map(|i| {
            if i > 0 {
                t_app += PATTERN[(i - 1) % PATTERN.len()];
            }
            let mut e = Event::md(feed, i as u64, Instant(i as i64 * 1_000));
            e.t_app = Some(Instant(t_app));
            e
        })
        .collect()
}

fn run(mode: QuantileMode) -> Report {
    let mut strings = Strings::new();
    let events = fixture(&mut strings);
    let mut a = Analyzer::new(Config {
        quantiles: mode,
        ..Config::default()
    })
    .unwrap();
    events.iter().for_each(|e| a.update_event(e));
    a.finish(&strings)
}

#[test]
fn exact_mode_matches_nearest_rank_where_the_sketch_does_not() {
    // Independent: sort the app gaps and take the nearest rank.
    let mut app: Vec<i64> = (0..GAPS).map(|i| PATTERN[i % PATTERN.len()]).collect();
    app.sort_unstable();
    let q = |p| nearest_rank(&app, p).unwrap();
    // By hand: ranks ceil(p * 70000) = 35000, 66500, 69300 -> 700, 1467, 3000.
    assert_eq!(
        (q(Prob::P50), q(Prob::P95), q(Prob::P99)),
        (700, 1467, 3000)
    );

    let exact = run(QuantileMode::Exact);
    let g = &exact.groups[0];
    assert_eq!(exact.quantiles, "exact");
    assert_eq!(exact.config.quantile_mode, "exact");
    assert!(g.quantiles_exact);
    // Ingress gaps are all 1000 ns.
    assert_eq!(g.mddr, Some(q(Prob::P95) as f64 / 1000.0));
    assert_eq!(g.mddr, Some(1.467));
    assert_eq!(g.mddr_q50, Some(0.7));
    assert_eq!(g.mddr_q99, Some(3.0));
    assert_eq!(g.mddr_q95_app_gap_ns, Some(1467));

    // The sketch reports the middle of each value's bucket (width 8 for 512..1024, 16 for
    // 1024..2048, 32 for 2048..4096): 700 -> [696, 704) -> 699, 1467 -> [1456, 1472) ->
    // 1463, 3000 -> [2976, 3008) -> 2991; 1000 is every ingress gap, min = max, exact.
    let sketch = run(QuantileMode::Sketch);
    let s = &sketch.groups[0];
    assert_eq!(sketch.quantiles, SKETCH_BOUND);
    assert!(!s.quantiles_exact);
    assert_eq!(s.mddr, Some(1.463));
    assert_eq!(s.mddr_q50, Some(0.699));
    assert_eq!(s.mddr_q99, Some(2.991));
    // Within the stated bound of the exact values.
    for (got, want) in [
        (s.mddr, g.mddr),
        (s.mddr_q50, g.mddr_q50),
        (s.mddr_q99, g.mddr_q99),
    ] {
        let (got, want) = (got.unwrap(), want.unwrap());
        assert!((got - want).abs() <= want / 128.0, "{got} vs {want}");
    }

    // gap_compression is counted, not estimated: identical in both modes. Half the app
    // gaps (the 100s and 700s) and every ingress gap are <= 1 µs: 0.5 - 1.0.
    assert_eq!(g.gap_compression, Some(-0.5));
    assert_eq!(s.gap_compression, Some(-0.5));
}
