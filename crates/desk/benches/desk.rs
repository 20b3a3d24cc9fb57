//! Desk throughput: market messages per second through the desk's event loop, on a
//! LOBSTER-like generated day (a 10-level book moved by submits, cancels and
//! executions, one message every ~2.3 µs), with 4 and with 20 TWAP parents (4 at a time and all at once).
//! - `given`: t_app = t_ingress + 20 µs (the desk loop alone: market generator,
//!   venue, strategy, events handed to a callback);
//! - `simulated`: the same through the simulated receive path (EQE rx_usecs 50,
//!   realistic host), simulator and its pass over the market included.
//!
//! Run: `cargo bench -p coalescope-desk --bench desk [-- MESSAGES]` (default 10^7).
//! The on-CPU time of this thread is reported next to wall time (fairer on a shared
//! machine).

use std::time::Instant;

use coalescope_desk::market::{
    Book, Level, Market, MarketCursor, Message, MessageKind, MAX_LEVELS,
};
use coalescope_desk::strategy::ParentsGen;
use coalescope_desk::{run_streaming, Delivery, DeskConfig, DeskError, DeskRun, ParentSource};
use coalescope_sim::Scenario;
use coalescope_timeline::Side;

const TICK: i64 = 100; // $0.01

/// A generated market: `n` messages from a seeded xorshift.
struct GenMarket {
    n: u64,
}

struct GenCursor {
    left: u64,
    t: i64,
    rng: u64,
    book: Book,
    bids: [Level; MAX_LEVELS],
    asks: [Level; MAX_LEVELS],
}

impl GenCursor {
    fn next_u64(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// The best level emptied: shift up and add a level at the far end.
fn refill(levels: &mut [Level; MAX_LEVELS], side: Side, size: u64) {
    levels.rotate_left(1);
    let last = levels[MAX_LEVELS - 2].price;
    levels[MAX_LEVELS - 1] = Level {
        price: match side {
            Side::Buy => last - TICK,
            Side::Sell => last + TICK,
        },
        size,
    };
}

impl MarketCursor for GenCursor {
    fn next_message(&mut self) -> Result<Option<(Message, &Book)>, DeskError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let r = self.next_u64();
        self.t += 1_000 + (r % 2_680) as i64;
        let side = if r & (1 << 20) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let k = ((r >> 21) % 5) as usize;
        let size = 50 + (r >> 30) % 300;
        let (levels, other) = match side {
            Side::Buy => (&mut self.bids, &mut self.asks),
            Side::Sell => (&mut self.asks, &mut self.bids),
        };
        let roll = (r >> 40) % 100;
        let (kind, price) = if roll < 45 {
            levels[k].size += size;
            (MessageKind::Submit, levels[k].price)
        } else if roll < 85 {
            let take = size.min(levels[k].size.saturating_sub(1));
            levels[k].size -= take;
            (MessageKind::Cancel, levels[k].price)
        } else {
            let price = levels[0].price;
            if levels[0].size <= size {
                refill(levels, side, 100 + size);
                // The other side follows, so the spread stays one tick.
                other.rotate_right(1);
                other[0] = Level {
                    price: match side {
                        Side::Buy => other[1].price - TICK,
                        Side::Sell => other[1].price + TICK,
                    },
                    size: 100 + size,
                };
            } else {
                levels[0].size -= size;
            }
            (MessageKind::Execute, price)
        };
        if kind == MessageKind::Execute || side == Side::Buy {
            self.book.set_side(Side::Buy, self.bids);
        }
        if kind == MessageKind::Execute || side == Side::Sell {
            self.book.set_side(Side::Sell, self.asks);
        }
        let msg = Message {
            t_ns: self.t,
            kind,
            order_id: r >> 44,
            size,
            price,
            side,
        };
        Ok(Some((msg, &self.book)))
    }
}

impl Market for GenMarket {
    fn symbol(&self) -> &str {
        "GEN"
    }
    fn venue(&self) -> Option<&str> {
        None
    }
    fn stream(&self) -> &str {
        "gen"
    }
    fn cursor(&self) -> Box<dyn MarketCursor + '_> {
        let mid = 1_000_000;
        let bids = std::array::from_fn(|k| Level {
            price: mid - TICK * (k as i64 + 1),
            size: 500,
        });
        let asks = std::array::from_fn(|k| Level {
            price: mid + TICK * k as i64,
            size: 500,
        });
        Box::new(GenCursor {
            left: self.n,
            t: 34_200_000_000_000,
            rng: 0x9E37_79B9_7F4A_7C15,
            book: {
                let mut b = Book::empty();
                b.set_side(Side::Buy, bids);
                b.set_side(Side::Sell, asks);
                b
            },
            bids,
            asks,
        })
    }
}

fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, n: u64, f: impl FnOnce() -> Result<DeskRun, DeskError>) {
    let cpu = on_cpu_ns();
    let start = Instant::now();
    let out = match f() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("{name}: {e}");
            return;
        }
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu, on_cpu_ns()) {
        (Some(a), Some(b)) if b > a => format!(
            "{:.2} M msg/s on-CPU",
            n as f64 / ((b - a) as f64 / 1e9) / 1e6
        ),
        _ => "on-CPU n/a".into(),
    };
    println!(
        "{name:>22}: {n} messages in {wall:.2} s = {:.2} M msg/s wall, {cpu}; {} orders, {} fills, {} IOC misses",
        n as f64 / wall / 1e6,
        out.counts.orders,
        out.counts.fills,
        out.counts.ioc_misses
    );
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let market = GenMarket { n };
    let cfg = |count: u32| DeskConfig {
        parents: ParentSource::Generate(ParentsGen {
            count,
            qty: 50_000,
            buy_share: 0.5,
            duration_ns: None,
        }),
        ..DeskConfig::default()
    };
    // The given schedule is built outside the timed part.
    let mut t_app = Vec::with_capacity(n as usize);
    {
        let mut c = market.cursor();
        while let Ok(Some((m, _))) = c.next_message() {
            t_app.push(Some(m.t_ns + 20_000));
        }
    }
    let given = Delivery::given(t_app);
    let mut events = 0u64;
    for count in [4, 20] {
        measure(&format!("given, {count:>2} parents"), n, || {
            run_streaming(&market, &given, &cfg(count), 1, &mut |_| events += 1)
        });
    }
    drop(given);
    let scenario = Scenario::from_toml_str(
        "[[stream]]\nname = \"x\"\narrivals = { kind = \"poisson\", rate_per_s = 1 }\n[nic]\nrx_usecs = 50\n",
        None,
    )
    .expect("bench scenario");
    for count in [4, 20] {
        measure(&format!("simulated, {count:>2} parents"), n, || {
            run_streaming(
                &market,
                &Delivery::Simulate(&scenario),
                &cfg(count),
                1,
                &mut |_| events += 1,
            )
        });
    }
    std::hint::black_box(events);
}
