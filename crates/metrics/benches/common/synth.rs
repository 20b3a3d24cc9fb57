//! Seeded synthetic md timeline shared by the throughput bench and the `gen_events`
//! example, so the Rust figures and the pandas figures are computed on the same data.
//!
//! 1 M md events/s (exponential gaps, mean 1 us) over 20 symbols x 2 venues, each symbol
//! on one of 4 feeds; delivery coalesced by a 50 us timer per feed with 0-2 us jitter
//! (so the app timeline is locally out of order), 0.1 % never delivered.

use coalescope_timeline::{Event, Instant, Strings, Sym};

/// The generated timeline.
pub struct Synth {
    /// Interned keys.
    pub strings: Strings,
    /// md events sorted by `t_ingress`.
    pub events: Vec<Event>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `n` events from `seed`.
pub fn generate(n: usize, seed: u64) -> Synth {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut strings = Strings::new();
    let feeds: Vec<Sym> = (0..4)
        .map(|i| strings.intern(&format!("feed-{i}")))
        .collect();
    let symbols: Vec<Sym> = (0..20)
        .map(|i| strings.intern(&format!("SYM{i:02}")))
        .collect();
    let venues: Vec<Sym> = (0..2).map(|i| strings.intern(&format!("V{i}"))).collect();
    let mut seqs = [0u64; 4];
    let mut t: i64 = 1_700_000_000_000_000_000;
    let mut events = Vec::with_capacity(n);
    let mut mid = [100.0f64; 20];
    for _ in 0..n {
        t += (-r.unit().ln() * 1_000.0) as i64;
        let s = (r.next() % 20) as usize;
        let feed = s % 4;
        seqs[feed] += 1;
        let mut e = Event::md(feeds[feed], seqs[feed], Instant(t));
        e.symbol = Some(symbols[s]);
        e.venue = Some(venues[(r.next() % 2) as usize]);
        if !r.next().is_multiple_of(1000) {
            let batch = 50_000;
            e.t_app = Some(Instant(
                (t.div_euclid(batch) + 1) * batch + (r.next() % 2_000) as i64,
            ));
        }
        let transition = r.next().is_multiple_of(5);
        if transition {
            mid[s] += if r.next().is_multiple_of(2) {
                0.01
            } else {
                -0.01
            };
        }
        e.transition = Some(transition);
        e.bid = Some(mid[s] - 0.005);
        e.ask = Some(mid[s] + 0.005);
        events.push(e);
    }
    Synth { strings, events }
}
