//! Criterion benchmark of the SPEC §6 hot path: ns per record of `TickEngine` updates in
//! steady state, tick emission included (target <= 30 ns per event on this machine).
//!
//! Two seeded streams at ~1 M events/s over 8 symbol x venue scopes, batched delivery
//! (t_app rounded up to the next 50 µs), fed in observation order with `advance_to`
//! before each record, one engine kept across samples (restarted when the stream ends):
//! - `md`: market-data events with a quote each;
//! - `mixed`: as `md` plus 10 % transitions and 2 % ctl events (DCCD episodes: each pair
//!   within H = 1 ms is an episode, about 8 per event here), an order every 100 events and
//!   its fill 100 µs later.
//!
//! `cargo bench -p coalescope-metrics --bench ticks` (criterion prints the time per record).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::Instant as Clock;

use coalescope_metrics::ticks::{TickConfig, TickEngine, TickRow};
use coalescope_timeline::{Duration, Event, EventKind, Fill, Instant, Order, Side, Strings};

const N: usize = 2_000_000;

/// A pre-generated stream in observation order: records tagged 0 event, 1 order, 2 fill.
struct Stream {
    strings: Strings,
    events: Vec<Event>,
    orders: Vec<Order>,
    fills: Vec<Fill>,
    /// `(kind, index)` in feeding order.
    feed: Vec<(u8, u32)>,
}

fn stream(mixed: bool) -> Stream {
    let mut st = Strings::new();
    let feed_name = st.intern("feed");
    let syms: Vec<_> = (0..4).map(|i| st.intern(&format!("S{i}"))).collect();
    let vens: Vec<_> = (0..2).map(|i| st.intern(&format!("V{i}"))).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events = Vec::with_capacity(N);
    let mut t = 0i64;
    for i in 0..N {
        t += (rnd() % 2_000) as i64;
        let r = rnd();
        let mut e = Event::md(feed_name, i as u64, Instant(t));
        e.symbol = Some(syms[(r % 4) as usize]);
        e.venue = Some(vens[((r >> 3) % 2) as usize]);
        e.t_app = Some(Instant((t / 50_000 + 1) * 50_000));
        if mixed && r % 50 == 7 {
            e.kind = EventKind::Ctl;
        } else {
            e.transition = Some(mixed && r % 10 == 1);
            e.bid = Some(100.0);
            e.ask = Some(100.02);
        }
        events.push(e);
    }
    let orders: Vec<Order> = if mixed {
        events
            .iter()
            .enumerate()
            .filter(|(i, e)| i % 100 == 0 && e.kind == EventKind::Md)
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
            .collect()
    } else {
        Vec::new()
    };
    let fills: Vec<Fill> = orders
        .iter()
        .map(|o| Fill {
            child_id: o.child_id,
            t_fill: Instant(o.t_emit.0 + 100_000),
            fill_px: 100.01,
            fill_qty: 1.0,
        })
        .collect();
    let (mut oi, mut fi) = (0, 0);
    let mut feed = Vec::with_capacity(N + orders.len() + fills.len());
    for (i, e) in events.iter().enumerate() {
        let now = e.t_app.unwrap_or(e.t_ingress).0;
        while oi < orders.len() && orders[oi].t_emit.0 <= now {
            feed.push((1, oi as u32));
            oi += 1;
        }
        while fi < fills.len() && fills[fi].t_fill.0 <= now {
            feed.push((2, fi as u32));
            fi += 1;
        }
        feed.push((0, i as u32));
    }
    Stream {
        strings: st,
        events,
        orders,
        fills,
        feed,
    }
}

fn engine() -> TickEngine {
    let cfg = TickConfig {
        horizon: Duration::from_micros(100),
        ..TickConfig::default()
    };
    TickEngine::new(cfg).expect("valid config")
}

/// Feeds `iters` records from a cursor over the stream, restarting engine and cursor at
/// its end; returns the time spent.
struct Feeder {
    s: Stream,
    eng: TickEngine,
    rows: Vec<TickRow>,
    at: usize,
}

impl Feeder {
    fn run(&mut self, iters: u64) -> std::time::Duration {
        let start = Clock::now();
        for _ in 0..iters {
            if self.at == self.s.feed.len() {
                self.eng.finish(&mut self.rows);
                self.eng = engine();
                self.at = 0;
            }
            let (kind, i) = self.s.feed[self.at];
            self.at += 1;
            let i = i as usize;
            match kind {
                0 => {
                    let e = &self.s.events[i];
                    self.eng
                        .advance_to(e.t_app.unwrap_or(e.t_ingress).0, &mut self.rows);
                    self.eng.push_event(e, &self.s.strings);
                }
                1 => {
                    let o = &self.s.orders[i];
                    self.eng.advance_to(o.t_emit.0, &mut self.rows);
                    self.eng.push_order(o, &self.s.strings);
                }
                _ => {
                    let f = &self.s.fills[i];
                    self.eng.advance_to(f.t_fill.0, &mut self.rows);
                    self.eng.push_fill(f);
                }
            }
            if self.rows.len() > 4096 {
                black_box(&self.rows);
                self.rows.clear();
            }
        }
        start.elapsed()
    }
}

fn ticks(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick_metrics");
    for (name, mixed) in [("md", false), ("mixed", true)] {
        let mut f = Feeder {
            s: stream(mixed),
            eng: engine(),
            rows: Vec::new(),
            at: 0,
        };
        // Warm up one full pass so buffers have their steady-state capacity.
        let n = f.s.feed.len() as u64;
        f.run(n);
        g.bench_function(format!("{name}/record"), |b| {
            b.iter_custom(|iters| f.run(iters))
        });
    }
    g.finish();
}

criterion_group!(benches, ticks);

/// `TICKS_ONE_PASS=md|mixed` feeds one pass of that stream and exits (for instruction
/// counts under `valgrind --tool=callgrind`); otherwise criterion runs.
fn main() {
    if let Ok(which) = std::env::var("TICKS_ONE_PASS") {
        let mut f = Feeder {
            s: stream(which == "mixed"),
            eng: engine(),
            rows: Vec::new(),
            at: 0,
        };
        let n = f.s.feed.len() as u64;
        let el = f.run(n);
        println!(
            "{which}: {n} records, {:.1} ns/record",
            el.as_nanos() as f64 / n as f64
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
