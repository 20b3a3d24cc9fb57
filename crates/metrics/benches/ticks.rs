//! ns per event of `TickEngine` updates (SPEC §6 hot path), target <= 30 ns/event: a
//! seeded 2 x 10^6-event md stream over 8 symbol x venue scopes (10 % transitions, quotes
//! on every event), 2 % ctl events, orders and fills, fed in observation order with
//! `advance_to` before each record (ticks included in the time).
//!
//! `cargo bench -p coalescope-metrics --bench ticks`

use std::time::Instant as Clock;

use coalescope_metrics::ticks::{TickConfig, TickEngine};
use coalescope_timeline::{Duration, Event, EventKind, Fill, Instant, Order, Side, Strings};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let mut st = Strings::new();
    let feed = st.intern("feed");
    let syms: Vec<_> = (0..4).map(|i| st.intern(&format!("S{i}"))).collect();
    let vens: Vec<_> = (0..2).map(|i| st.intern(&format!("V{i}"))).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events = Vec::with_capacity(n);
    let mut t = 0i64;
    for i in 0..n {
        t += (rnd() % 2_000) as i64; // ~1 M events/s
        let r = rnd();
        let mut e = Event::md(feed, i as u64, Instant(t));
        e.symbol = Some(syms[(r % 4) as usize]);
        e.venue = Some(vens[((r >> 3) % 2) as usize]);
        // batched delivery: t_app rounded up to the next 50 µs boundary
        e.t_app = Some(Instant((t / 50_000 + 1) * 50_000));
        if r % 50 == 7 {
            e.kind = EventKind::Ctl;
        } else {
            e.transition = Some(r % 10 == 1);
            e.bid = Some(100.0);
            e.ask = Some(100.02);
        }
        events.push(e);
    }
    let orders: Vec<Order> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 100 == 0)
        .map(|(i, e)| Order {
            child_id: i as u64,
            parent_id: 1,
            strategy: None,
            symbol: e.symbol,
            venue: e.venue,
            side: Side::Buy,
            qty: 1.0,
            px: None,
            t_emit: e.t_app.unwrap_or(e.t_ingress),
            trigger_seq: Some(e.seq),
        })
        .collect();
    let fills: Vec<Fill> = orders
        .iter()
        .map(|o| Fill {
            child_id: o.child_id,
            t_fill: Instant(o.t_emit.0 + 100_000),
            fill_px: 100.01,
            fill_qty: 1.0,
        })
        .collect();
    let cfg = TickConfig {
        horizon: Duration::from_micros(100),
        ..TickConfig::default()
    };
    let mut eng = TickEngine::new(cfg).expect("valid config");
    let mut rows = Vec::new();
    let (mut oi, mut fi) = (0, 0);
    let start = Clock::now();
    for e in &events {
        let now = e.t_app.unwrap_or(e.t_ingress).0;
        while oi < orders.len() && orders[oi].t_emit.0 <= now {
            eng.push_order(&orders[oi], &st);
            oi += 1;
        }
        while fi < fills.len() && fills[fi].t_fill.0 <= now {
            eng.push_fill(&fills[fi]);
            fi += 1;
        }
        eng.advance_to(now, &mut rows);
        eng.push_event(e, &st);
        if rows.len() > 10_000 {
            rows.clear();
        }
    }
    eng.finish(&mut rows);
    let el = start.elapsed();
    let total = (events.len() + oi + fi) as f64;
    println!(
        "TickEngine: {} records ({} md/ctl events), {:.1} ns/record incl. ticks ({:.3} s), {:?}",
        total,
        events.len(),
        el.as_nanos() as f64 / total,
        el.as_secs_f64(),
        eng.counts()
    );
}
