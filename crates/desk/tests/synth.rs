//! The synthetic market: determinism, book consistency on 10^5+ messages over seeds, the
//! stationary behaviour the model's parameters imply, and key validation.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

use coalescope_desk::market::{Book, Level, Market, Message, MessageKind, MAX_LEVELS};
use coalescope_desk::synth::{SyntheticMarket, SyntheticSpec, DEFAULT_START_NS};
use coalescope_timeline::Side;
use proptest::prelude::*;

fn market(text: &str) -> SyntheticMarket {
    let spec: SyntheticSpec = toml::from_str(text).unwrap();
    spec.validate().unwrap()
}

/// Every message and book of a market (for small days).
fn collect(m: &SyntheticMarket) -> Vec<(Message, Book)> {
    let mut c = m.cursor();
    let mut out = Vec::new();
    while let Some((msg, book)) = c.next_message().unwrap() {
        out.push((msg, *book));
    }
    out
}

fn mid2(b: &Book) -> i64 {
    b.best_bid().unwrap() + b.best_ask().unwrap()
}

/// The side's levels after applying `m` to `levels` by LOBSTER semantics (an independent
/// implementation: a list of (price, size), best first), or an error text.
fn apply(levels: &[Level], side: Side, m: &Message) -> Result<Vec<Level>, String> {
    let mut v: Vec<Level> = levels.to_vec();
    let better = |a: i64, b: i64| match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    };
    match m.kind {
        MessageKind::Submit => match v.iter().position(|l| !better(l.price, m.price)) {
            Some(i) if v[i].price == m.price => v[i].size += m.size,
            Some(i) => v.insert(
                i,
                Level {
                    price: m.price,
                    size: m.size,
                },
            ),
            None => v.push(Level {
                price: m.price,
                size: m.size,
            }),
        },
        MessageKind::Cancel | MessageKind::Delete | MessageKind::Execute => {
            let i = v
                .iter()
                .position(|l| l.price == m.price)
                .ok_or_else(|| format!("{m:?} at a price not in the book"))?;
            if m.size > v[i].size {
                return Err(format!("{m:?} removes more than the level's {}", v[i].size));
            }
            v[i].size -= m.size;
            if v[i].size == 0 {
                v.remove(i);
            }
        }
        other => return Err(format!("unexpected kind {other:?}")),
    }
    Ok(v)
}

/// Checks every consistency rule on `n` messages; returns the first violation.
fn check_invariants(m: &SyntheticMarket, n: usize) -> Result<(), String> {
    let mut c = m.cursor();
    let mut prev: Option<(Message, Book)> = None;
    let mut book0 = None;
    for i in 0..n {
        let Some((msg, book)) = c.next_message().map_err(|e| e.to_string())? else {
            return Err(format!("ended after {i} messages"));
        };
        let book = *book;
        let ctx = |what: &str| format!("message {i} {msg:?}: {what}");
        if msg.size == 0 {
            return Err(ctx("size 0"));
        }
        for side in [Side::Buy, Side::Sell] {
            let lv = book.side(side);
            if lv.len() != MAX_LEVELS {
                return Err(ctx(&format!("{} levels on {side:?}", lv.len())));
            }
            for w in lv.windows(2) {
                let ordered = match side {
                    Side::Buy => w[0].price > w[1].price,
                    Side::Sell => w[0].price < w[1].price,
                };
                if !ordered {
                    return Err(ctx("levels out of order"));
                }
            }
            if lv.iter().any(|l| l.size == 0 || l.price <= 0) {
                return Err(ctx("an empty level or a price <= 0"));
            }
        }
        if book.best_bid() >= book.best_ask() {
            return Err(ctx("crossed or locked book"));
        }
        if let Some((pm, pb)) = &prev {
            if msg.t_ns < pm.t_ns {
                return Err(ctx("time went backwards"));
            }
            let side = msg.side;
            if msg.kind == MessageKind::Execute
                && Some(msg.price) != pb.side(side).first().map(|l| l.price)
            {
                return Err(ctx("execution away from the resting side's best"));
            }
            // The new side equals the old side with the message applied, up to the one
            // deeper level that can come into view.
            let applied = apply(pb.side(side), side, &msg).map_err(|e| ctx(&e))?;
            let known = applied.len().min(MAX_LEVELS);
            if book.side(side)[..known] != applied[..known] {
                return Err(ctx(&format!(
                    "book {:?} is not the previous {:?} with the message applied",
                    book.side(side),
                    pb.side(side)
                )));
            }
            let other = match side {
                Side::Buy => Side::Sell,
                Side::Sell => Side::Buy,
            };
            if book.side(other) != pb.side(other) {
                return Err(ctx("the other side changed"));
            }
            // The mid moves exactly when a best level empties or a limit order improves
            // the spread.
            let best = pb.side(side)[0];
            let emptied =
                msg.kind != MessageKind::Submit && msg.price == best.price && msg.size == best.size;
            let inside = msg.kind == MessageKind::Submit
                && msg.price > pb.best_bid().unwrap()
                && msg.price < pb.best_ask().unwrap();
            if (mid2(&book) != mid2(pb)) != (emptied || inside) {
                return Err(ctx(&format!(
                    "mid moved {} but emptied = {emptied}, inside = {inside}",
                    mid2(&book) != mid2(pb)
                )));
            }
        } else {
            book0 = Some(book);
        }
        prev = Some((msg, book));
    }
    let _ = book0;
    Ok(())
}

#[test]
fn two_cursors_give_the_same_day_and_seeds_differ() {
    let m = market("messages = 100000");
    let a = collect(&m);
    let b = collect(&m);
    assert_eq!(a.len(), 100_000);
    assert!(a == b, "two cursors of one market differ");
    let other = collect(&m.clone().with_run_seed(1));
    assert_ne!(a[..100], other[..100]);
    // validate_with_seed(s) is validate() with run seed s; seed_offset adds to it.
    let spec: SyntheticSpec = toml::from_str("messages = 1000\nseed_offset = 4").unwrap();
    assert_eq!(
        collect(&spec.validate_with_seed(3).unwrap()),
        collect(&market("messages = 1000\nseed_offset = 7"))
    );
    assert_eq!(
        collect(&spec.validate().unwrap().with_run_seed(3)),
        collect(&spec.validate_with_seed(3).unwrap())
    );
}

#[test]
fn cursors_run_in_parallel_from_one_shared_market() {
    // The desk replays one market under several settings at once.
    let m = market("messages = 20000");
    let dyn_market: &dyn Market = &m;
    let one = collect(&m);
    let days: Vec<Vec<(Message, Book)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(move || {
                    let mut c = dyn_market.cursor();
                    let mut out = Vec::new();
                    while let Some((msg, book)) = c.next_message().unwrap() {
                        out.push((msg, *book));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for d in days {
        assert!(d == one);
    }
}

#[test]
fn defaults_and_the_first_book() {
    let m = market("messages = 3");
    assert_eq!(
        (m.symbol(), m.venue(), m.stream()),
        ("SYN", Some("XSYN"), "md")
    );
    let day = collect(&m);
    assert_eq!(day.len(), 3);
    assert!(day[0].0.t_ns >= DEFAULT_START_NS);
    // The first message changes at most one level of the starting book, whose best
    // bid is $100.00 and best ask $100.01, sizes multiples of the 100-share lot.
    let b = day[0].1;
    let (bid, ask) = (b.best_bid().unwrap(), b.best_ask().unwrap());
    assert!((999_900..=1_000_100).contains(&bid), "{bid}");
    assert!(ask - bid <= 200);
    assert!(b.bids().iter().chain(b.asks()).all(|l| l.size % 100 == 0));
    // initial_mid is rounded down to a tick.
    let b = collect(&market("messages = 1\ninitial_mid = 2_345_678\ntick = 1000\nexecute_share = 0\nbest_level_share = 1e-9"))[0].1;
    let (bid, ask) = (b.best_bid().unwrap(), b.best_ask().unwrap());
    assert_eq!((bid, ask), (2_345_000, 2_346_000));
}

#[test]
fn invariants_hold_on_the_default_day() {
    check_invariants(&market("messages = 200000"), 200_000).unwrap();
}

#[test]
fn the_price_floor_keeps_bids_positive() {
    // Ten ticks of price and many executions: the bid hits the floor often.
    let m = market("messages = 100000\ninitial_mid = 1000\ntick = 100\nexecute_share = 0.6\nlevel_lots_mean = 1\norder_lots_mean = 3");
    check_invariants(&m, 100_000).unwrap();
    let day = collect(&m);
    let lowest = day
        .iter()
        .map(|(_, b)| b.best_bid().unwrap())
        .min()
        .unwrap();
    assert_eq!(lowest, 1000, "the floor was never reached");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_over_seeds_and_parameters(
        seed in any::<u64>(),
        execute_share in 0.0f64..0.5,
        best_level_share in 0.05f64..1.0,
        level_lots_mean in 1i64..20,
        order_lots_mean in 1i64..6,
        branching in 0.0f64..0.95,
    ) {
        let spec = SyntheticSpec {
            messages: Some(100_000),
            execute_share: Some(execute_share),
            best_level_share: Some(best_level_share),
            level_lots_mean: Some(level_lots_mean),
            order_lots_mean: Some(order_lots_mean),
            branching: Some(branching),
            initial_mid: Some(5_000),
            ..SyntheticSpec::default()
        };
        let m = spec.validate_with_seed(seed).unwrap();
        if let Err(e) = check_invariants(&m, 100_000) {
            prop_assert!(false, "seed {}: {}", seed, e);
        }
    }
}

/// Message times of a day (ns).
fn times(m: &SyntheticMarket) -> Vec<i64> {
    let mut c = m.cursor();
    let mut t = Vec::new();
    while let Some((msg, _)) = c.next_message().unwrap() {
        t.push(msg.t_ns);
    }
    t
}

#[test]
fn the_long_run_rate_is_the_configured_rate() {
    // Hawkes with branching n: Var N(T) ~ N / (1 - n)^2, so over 10^6 messages the
    // relative error of the rate is about 0.4 % at n = 0.75.
    for (text, rate) in [
        ("messages = 1000000", 20_000.0),
        (
            "messages = 1000000\nrate_per_s = 250000\nbranching = 0.5",
            250_000.0,
        ),
        (
            "messages = 1000000\nrate_per_s = 1000\nbranching = 0",
            1_000.0,
        ),
    ] {
        let t = times(&market(text));
        let span_s = (t[t.len() - 1] - DEFAULT_START_NS) as f64 / 1e9;
        let measured = t.len() as f64 / span_s;
        assert!(
            (measured / rate - 1.0).abs() < 0.03,
            "{text}: {measured} messages/s, configured {rate}"
        );
    }
}

fn fano(t: &[i64], window_ns: i64) -> f64 {
    let end = t[t.len() - 1];
    let n_windows = ((end - DEFAULT_START_NS) / window_ns) as usize;
    let mut counts = vec![0f64; n_windows];
    for &x in t {
        let w = ((x - DEFAULT_START_NS) / window_ns) as usize;
        if w < n_windows {
            counts[w] += 1.0;
        }
    }
    let mean = counts.iter().sum::<f64>() / n_windows as f64;
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n_windows - 1) as f64;
    var / mean
}

#[test]
fn message_times_are_bursty_as_the_hawkes_parameters_say() {
    // Exponential-kernel Hawkes, branching n, decay 1/β: the Fano factor of counts in
    // windows of length T is κ² - (κ² - 1)(1 - exp(-γT)) / (γT), κ = 1 / (1 - n),
    // γ = β (1 - n). Defaults n = 0.75, 1/β = 50 µs: κ² = 16, γT = 50 at T = 10 ms, so
    // Fano = 16 - 15 * 0.02 = 15.7; at T = 100 µs, γT = 0.5: 16 - 15 * 0.787 = 4.20.
    let t = times(&market("messages = 1000000"));
    let f = fano(&t, 10_000_000);
    assert!(
        (f / 15.7 - 1.0).abs() < 0.15,
        "Fano(10 ms) = {f}, expected 15.7"
    );
    let f = fano(&t, 100_000);
    assert!(
        (f / 4.20 - 1.0).abs() < 0.1,
        "Fano(100 us) = {f}, expected 4.20"
    );
    // Poisson (branching 0): Fano 1, inter-arrival coefficient of variation 1.
    let t = times(&market("messages = 1000000\nbranching = 0"));
    let f = fano(&t, 1_000_000);
    assert!((f - 1.0).abs() < 0.05, "Poisson Fano = {f}");
    let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.01, "Poisson CV = {}", sd / mean);
}

#[test]
fn shares_of_message_kinds_match_the_configuration() {
    // Executions are Bernoulli(execute_share) per message; submits and cancellations act
    // on the best level (at or inside the previous best) with probability
    // best_level_share. Binomial sd over 10^6: 3e-4 and 5e-4; allow 5 sd.
    let m = market("messages = 1000000\nexecute_share = 0.12\nbest_level_share = 0.3");
    let mut c = m.cursor();
    let mut prev: Option<Book> = None;
    let (mut n, mut exec, mut rest, mut at_best, mut partial, mut cancels) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    while let Some((msg, book)) = c.next_message().unwrap() {
        n += 1;
        if msg.kind == MessageKind::Execute {
            exec += 1;
        } else if let Some(pb) = &prev {
            rest += 1;
            let best = pb.side(msg.side)[0].price;
            let at_or_inside = match msg.side {
                Side::Buy => msg.price >= best,
                Side::Sell => msg.price <= best,
            };
            at_best += u64::from(at_or_inside);
        }
        if matches!(msg.kind, MessageKind::Cancel | MessageKind::Delete) {
            cancels += 1;
            partial += u64::from(msg.kind == MessageKind::Cancel);
        }
        prev = Some(*book);
    }
    let e = exec as f64 / n as f64;
    assert!((e - 0.12).abs() < 5.0 * 3.25e-4, "execute share {e}");
    let b = at_best as f64 / rest as f64;
    assert!((b - 0.3).abs() < 5.0 * 4.9e-4, "best-level share {b}");
    // Partial cancels: 5 % of the cancellations that leave something at the level.
    let p = partial as f64 / cancels as f64;
    assert!(p > 0.04 && p < 0.0515, "partial share {p}");
}

#[test]
fn a_duration_bounds_the_day() {
    let m = market("duration_ns = 50_000_000\nrate_per_s = 100000\nbranching = 0\nstart_ns = 0");
    let t = times(&m);
    assert!(*t.last().unwrap() < 50_000_000);
    // Poisson count over 50 ms at 100 000/s: mean 5000, sd 71.
    assert!((t.len() as i64 - 5000).abs() < 360, "{}", t.len());
    let mut c = m.cursor();
    while c.next_message().unwrap().is_some() {}
    assert!(c.next_message().unwrap().is_none(), "stays at the end");
}

fn err(text: &str) -> String {
    match toml::from_str::<SyntheticSpec>(text) {
        Err(e) => e.to_string(),
        Ok(spec) => match spec.validate() {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{text} accepted"),
        },
    }
}

#[test]
fn bad_keys_are_rejected_naming_them() {
    assert!(err("rate = 5").contains("rate"), "{}", err("rate = 5"));
    assert!(err("kind = \"synthetic\"").contains("kind"));
    for (text, key) in [
        ("rate_per_s = 0", "market.rate_per_s"),
        ("rate_per_s = -3", "market.rate_per_s"),
        ("branching = 1.0", "market.branching"),
        ("burst_decay_ns = 0", "market.burst_decay_ns"),
        ("execute_share = 1", "market.execute_share"),
        ("best_level_share = 0", "market.best_level_share"),
        ("partial_cancel_share = 1.5", "market.partial_cancel_share"),
        ("tick = 0", "market.tick"),
        ("initial_mid = 999\ntick = 100", "market.initial_mid"),
        ("lot = 0", "market.lot"),
        ("order_lots_mean = 0", "market.order_lots_mean"),
        ("level_lots_mean = 0", "market.level_lots_mean"),
        ("messages = 0", "market.messages"),
        ("duration_ns = -1", "market.duration_ns"),
        ("start_ns = -5", "market.start_ns"),
        ("seed_offset = -1", "market.seed_offset"),
        ("symbol = \"\"", "market.symbol"),
        ("venue = \" \"", "market.venue"),
        ("stream = \"\"", "market.stream"),
        ("rate_per_s = nan", "market.rate_per_s"),
    ] {
        let e = err(text);
        assert!(e.contains(key), "{text}: {e}");
    }
    let e = err("messages = 5\nduration_ns = 5");
    assert!(
        e.contains("market.messages") && e.contains("market.duration_ns"),
        "{e}"
    );
}
