//! Instants at the ends of i64 must not overflow the window arithmetic: such records are
//! skipped and counted, and everything else is still computed.

use coalescope_metrics::{Analyzer, Config};
use coalescope_timeline::{Event, Fill, Instant, Order, Side, Strings};

#[test]
fn extreme_instants_are_counted_not_panicking() {
    let mut strings = Strings::new();
    let feed = strings.intern("feed");
    let mut a = Analyzer::new(Config::default()).unwrap();
    for (i, (ing, app)) in [
        (i64::MIN, Some(i64::MAX)),
        (i64::MAX, None),
        (0, Some(i64::MIN)),
        (1_000, Some(2_000)),
        (3_000, Some(4_000)),
        (5_000, Some(9_000)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = Event::md(feed, i as u64, Instant(ing));
        e.t_app = app.map(Instant);
        a.update_event(&e);
    }
    a.update_order(&Order {
        child_id: 1,
        parent_id: 1,
        strategy: None,
        symbol: None,
        venue: None,
        side: Side::Buy,
        qty: 1.0,
        px: None,
        t_emit: Instant(i64::MAX),
        trigger_seq: None,
    });
    a.update_fill(&Fill {
        child_id: 1,
        t_fill: Instant(i64::MIN),
        fill_px: 1.0,
        fill_qty: 1.0,
    });
    let report = a.finish(&strings);
    assert_eq!(report.anomalies.instant_out_of_range, 5);
    let g = &report.groups[0];
    assert_eq!(g.n_md, 3);
    // Gaps 2000, 2000 on both timelines except the last app gap 5000: Q95 rank 2 of 2.
    assert_eq!(g.mddr, Some(5000.0 / 2000.0));
    assert_eq!(g.delay_max_ns, Some(4_000));
}
