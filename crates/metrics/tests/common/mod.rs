//! Shared test helpers: a seeded generator of timelines and a straightforward reference
//! implementation of SPEC §4 (sort everything, compute by definition).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

use coalescope_timeline::{Event, EventKind, Fill, Instant, Order, Side, Strings, Sym};

/// xorshift64*: deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

pub struct Data {
    pub strings: Strings,
    pub events: Vec<Event>,
    pub orders: Vec<Order>,
    pub fills: Vec<Fill>,
}

/// Events sorted by `t_ingress` starting at -20 ms (negative instants on purpose),
/// batched app delivery, undelivered and negative-delay events, duplicates, ctl events,
/// orders (some duplicate child ids) and fills (some orphans).
pub fn generate(seed: u64, n_events: usize) -> Data {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut strings = Strings::new();
    // Interned so that Sym order differs from name order.
    let streams = [strings.intern("b-feed"), strings.intern("a-feed")];
    let ack = strings.intern("acks");
    let symbols = [Some(strings.intern("Y")), Some(strings.intern("X")), None];
    let venues = [Some(strings.intern("V2")), Some(strings.intern("V1")), None];
    let strategies = [Some(strings.intern("s2")), Some(strings.intern("s1")), None];
    let mut seqs: HashMap<Sym, u64> = HashMap::new();
    let mut t: i64 = -20_000_000;
    let mut events = Vec::with_capacity(n_events);
    for _ in 0..n_events {
        t += if r.pct(10) { 0 } else { r.below(30_000) as i64 };
        let ctl = r.pct(12);
        let stream = if ctl { ack } else { r.pick(&streams) };
        let seq = seqs.entry(stream).or_insert(0);
        if !r.pct(2) {
            *seq += 1;
        }
        let mut e = Event::md(stream, *seq, Instant(t));
        if ctl {
            e.kind = EventKind::Ctl;
        }
        e.symbol = r.pick(&symbols);
        e.venue = r.pick(&venues);
        e.t_app = if r.pct(5) {
            None
        } else if r.pct(1) {
            Some(Instant(t - 1 - r.below(1000) as i64))
        } else {
            let batch = 50_000;
            Some(Instant(
                (t + 5_000).div_euclid(batch) * batch + batch + r.below(3_000) as i64,
            ))
        };
        if r.pct(70) {
            let bid = 100.0 + r.below(10) as f64 * 0.25;
            e.bid = Some(bid);
            e.ask = Some(bid + 0.25 * (1 + r.below(3)) as f64);
        }
        e.transition = match r.below(10) {
            0..=2 => Some(true),
            3 => Some(false),
            _ => None,
        };
        events.push(e);
    }
    let span = (t + 20_000_000).max(1) as u64;
    let mut orders = Vec::new();
    for i in 0..(n_events / 8) as u64 {
        let child_id = if i > 0 && r.pct(3) { i - 1 } else { i };
        orders.push(Order {
            child_id,
            parent_id: r.below(5),
            strategy: r.pick(&strategies),
            symbol: r.pick(&symbols),
            venue: r.pick(&venues),
            side: if r.pct(50) { Side::Buy } else { Side::Sell },
            qty: 1.0,
            px: None,
            t_emit: Instant(-20_000_000 + r.below(span + 2_000_000) as i64),
            trigger_seq: None,
        });
    }
    let mut fills = Vec::new();
    for o in &orders {
        if r.pct(80) {
            for _ in 0..1 + r.below(2) {
                fills.push(Fill {
                    child_id: o.child_id,
                    t_fill: Instant(o.t_emit.0 + r.below(2_000_000) as i64),
                    fill_px: 100.0 + r.below(12) as f64 * 0.25,
                    fill_qty: 1.0,
                });
            }
        }
    }
    for k in 0..(n_events / 100) as u64 {
        fills.push(Fill {
            child_id: 1_000_000 + k,
            t_fill: Instant(0),
            fill_px: 100.0,
            fill_qty: 1.0,
        });
    }
    Data {
        strings,
        events,
        orders,
        fills,
    }
}

pub type Key3 = (Option<String>, Option<String>, Option<String>);

pub fn name(strings: &Strings, s: Option<Sym>) -> Option<String> {
    strings.resolve_opt(s).map(str::to_string)
}

pub fn nearest_rank<T: Copy + PartialOrd>(v: &mut [T], num: u64, den: u64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len() as u64;
    let rank = (num * n).div_ceil(den).max(1);
    Some(v[(rank - 1) as usize])
}

pub fn gaps(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.windows(2).map(|w| w[1] - w[0]).collect()
}

pub fn ref_mddr(ing: Vec<i64>, app: Vec<i64>) -> Option<f64> {
    let mut gi = gaps(ing);
    let mut ga = gaps(app);
    if gi.len() < 2 || ga.len() < 2 {
        return None;
    }
    let qi = nearest_rank(&mut gi, 95, 100)?;
    let qa = nearest_rank(&mut ga, 95, 100)?;
    (qi > 0).then(|| qa as f64 / qi as f64)
}

/// The gap profile `(mddr_q50, mddr_q99, gap_compression)` at `g` = 1 µs (the default),
/// straight from SPEC §4: null whenever MDDR is.
pub fn ref_gap_profile(ing: Vec<i64>, app: Vec<i64>) -> (Option<f64>, Option<f64>, Option<f64>) {
    if ref_mddr(ing.clone(), app.clone()).is_none() {
        return (None, None, None);
    }
    let (mut gi, mut ga) = (gaps(ing), gaps(app));
    let ratio = |ga: &mut Vec<i64>, gi: &mut Vec<i64>, num, den| {
        let (a, i) = (nearest_rank(ga, num, den)?, nearest_rank(gi, num, den)?);
        (i > 0).then(|| a as f64 / i as f64)
    };
    let share = |v: &[i64]| v.iter().filter(|&&x| x <= 1_000).count() as f64 / v.len() as f64;
    (
        ratio(&mut ga, &mut gi, 1, 2),
        ratio(&mut ga, &mut gi, 99, 100),
        Some(share(&ga) - share(&gi)),
    )
}

/// interval -> window -> count
pub fn ref_intervals(ts: &[i64], w: i64, i: i64) -> BTreeMap<i64, BTreeMap<i64, u64>> {
    let mut m: BTreeMap<i64, BTreeMap<i64, u64>> = BTreeMap::new();
    for &t in ts {
        let j = (t as f64 / i as f64).floor() as i64;
        let k = (t as f64 / w as f64).floor() as i64;
        *m.entry(j).or_default().entry(k).or_default() += 1;
    }
    m
}

pub fn ref_bdcs(ts: &[i64], w: i64, i: i64) -> BTreeMap<i64, f64> {
    ref_intervals(ts, w, i)
        .into_iter()
        .map(|(j, ws)| {
            let max = *ws.values().max().expect("non-empty interval");
            let sum: u64 = ws.values().sum();
            (j, max as f64 / sum as f64)
        })
        .collect()
}

pub fn ref_median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    nearest_rank(&mut v, 1, 2)
}

/// Two-pass Pearson on dense series (the textbook formula, not the integer one).
pub fn ref_pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let vy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
    if vx == 0.0 || vy == 0.0 {
        return None;
    }
    Some(cov / (vx.sqrt() * vy.sqrt()))
}

pub fn dense(ts: &[i64], w: i64, k0: i64, k1: i64) -> Vec<f64> {
    let mut v = vec![0.0; (k1 - k0 + 1) as usize];
    for &t in ts {
        let k = t.div_euclid(w);
        v[(k - k0) as usize] += 1.0;
    }
    v
}

/// Reference per-group results keyed by (stream, symbol, venue) names.
pub struct RefGroup {
    pub n_md: u64,
    pub n_delivered: u64,
    pub mddr: Option<f64>,
    pub gap_profile: (Option<f64>, Option<f64>, Option<f64>),
    pub bdc_intervals: usize,
    pub bdc_threshold: Option<f64>,
    pub bdc_high: usize,
    pub bdc_max: Option<f64>,
    pub bdc_ingress_median: Option<f64>,
    pub delays: Vec<i64>,
    pub dccd: (u64, u64, u64),
}

pub fn ref_groups(d: &Data, w: i64, i: i64, h: i64) -> BTreeMap<Key3, RefGroup> {
    let s = &d.strings;
    let key = |e: &Event| (name(s, Some(e.stream)), name(s, e.symbol), name(s, e.venue));
    let mut keys: Vec<Key3> = d
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Md)
        .map(key)
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = BTreeMap::new();
    for k in keys {
        let md: Vec<&Event> = d
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Md && key(e) == k)
            .collect();
        let ing: Vec<i64> = md.iter().map(|e| e.t_ingress.0).collect();
        let app: Vec<i64> = md.iter().filter_map(|e| e.t_app.map(|a| a.0)).collect();
        let bdcs: Vec<f64> = ref_bdcs(&app, w, i).into_values().collect();
        let ibdcs: Vec<f64> = ref_bdcs(&ing, w, i).into_values().collect();
        let thr = ref_median(&bdcs);
        let mut dccd = (0, 0, 0);
        for m in md.iter().filter(|m| m.transition == Some(true)) {
            for c in d.events.iter().filter(|c| c.kind == EventKind::Ctl) {
                let sym_ok = c.symbol.is_none() || c.symbol == m.symbol;
                let ven_ok = c.venue.is_none() || c.venue == m.venue;
                if !sym_ok || !ven_ok || (c.t_ingress.0 - m.t_ingress.0).abs() > h {
                    continue;
                }
                match (m.t_app, c.t_app) {
                    (Some(ma), Some(ca)) => {
                        dccd.0 += 1;
                        let a = c.t_ingress.0 - m.t_ingress.0;
                        let b = ca.0 - ma.0;
                        if (a > 0 && b < 0) || (a < 0 && b > 0) {
                            dccd.1 += 1;
                        }
                    }
                    _ => dccd.2 += 1,
                }
            }
        }
        out.insert(
            k,
            RefGroup {
                n_md: md.len() as u64,
                n_delivered: app.len() as u64,
                mddr: ref_mddr(ing.clone(), app.clone()),
                gap_profile: ref_gap_profile(ing.clone(), app.clone()),
                bdc_intervals: bdcs.len(),
                bdc_threshold: thr,
                bdc_high: thr.map_or(0, |t| bdcs.iter().filter(|&&b| b > t).count()),
                bdc_max: bdcs
                    .iter()
                    .copied()
                    .fold(None, |m: Option<f64>, b| Some(m.map_or(b, |m| m.max(b)))),
                bdc_ingress_median: ref_median(&ibdcs),
                delays: md
                    .iter()
                    .filter_map(|e| e.t_app.map(|a| a.0 - e.t_ingress.0))
                    .collect(),
                dccd,
            },
        );
    }
    out
}

/// Reference DBC per (group, strategy): (dbc, dbc_ingress, n_windows).
pub type DbcRef = BTreeMap<(Key3, Option<String>), (Option<f64>, Option<f64>, u64)>;

/// Reference DBC by dense series.
pub fn ref_dbc(d: &Data, w: i64) -> DbcRef {
    let s = &d.strings;
    let mut out = BTreeMap::new();
    let mut groups: Vec<(Sym, Option<Sym>, Option<Sym>)> = d
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Md)
        .map(|e| (e.stream, e.symbol, e.venue))
        .collect();
    groups.sort();
    groups.dedup();
    let strategies: HashSet<Option<Sym>> = d.orders.iter().map(|o| o.strategy).collect();
    for (st, sy, ve) in groups {
        let md: Vec<&Event> = d
            .events
            .iter()
            .filter(|e| {
                e.kind == EventKind::Md && e.stream == st && e.symbol == sy && e.venue == ve
            })
            .collect();
        for strat in &strategies {
            let emits: Vec<i64> = d
                .orders
                .iter()
                .filter(|o| o.strategy == *strat && o.symbol == sy && o.venue == ve)
                .map(|o| o.t_emit.0)
                .collect();
            if emits.is_empty() {
                continue;
            }
            let ing: Vec<i64> = md.iter().map(|e| e.t_ingress.0).collect();
            let app: Vec<i64> = md.iter().filter_map(|e| e.t_app.map(|a| a.0)).collect();
            let all: Vec<i64> = ing.iter().chain(&app).chain(&emits).copied().collect();
            let (lo, hi) = (
                *all.iter().min().expect("non-empty"),
                *all.iter().max().expect("non-empty"),
            );
            let (k0, k1) = (lo.div_euclid(w), hi.div_euclid(w));
            let e = dense(&emits, w, k0, k1);
            let r = ref_pearson(&dense(&app, w, k0, k1), &e);
            let ri = ref_pearson(&dense(&ing, w, k0, k1), &e);
            out.insert(
                (
                    (name(s, Some(st)), name(s, sy), name(s, ve)),
                    name(s, *strat),
                ),
                (r, ri, (k1 - k0 + 1) as u64),
            );
        }
    }
    out
}

/// Reference CTE per (strategy, symbol, venue): per horizon (cte, n_high, n_low), plus
/// (fills_without_order, orders_without_fills, fills_unclassified, duplicate_child_id).
#[allow(clippy::type_complexity)]
pub fn ref_cte(
    d: &Data,
    w: i64,
    i: i64,
    horizons: &[i64],
) -> (
    BTreeMap<Key3, Vec<(Option<f64>, u64, u64)>>,
    (u64, u64, u64, u64),
) {
    let s = &d.strings;
    let mut orders: HashMap<u64, Order> = HashMap::new();
    for o in &d.orders {
        let keep = match orders.get(&o.child_id) {
            Some(cur) => (o.t_emit, o.parent_id) < (cur.t_emit, cur.parent_id),
            None => true,
        };
        if keep {
            orders.insert(o.child_id, *o);
        }
    }
    let dup_child = d.orders.len() as u64 - orders.len() as u64;
    let md = |e: &&Event| e.kind == EventKind::Md;
    let mut acc: BTreeMap<Key3, Vec<(f64, u64, f64, u64)>> = BTreeMap::new();
    let (mut orphans, mut unclassified) = (0, 0);
    let mut filled = HashSet::new();
    let mut fills = d.fills.clone();
    fills.sort_by(|a, b| {
        (a.child_id, a.t_fill, a.fill_px.to_bits()).cmp(&(
            b.child_id,
            b.t_fill,
            b.fill_px.to_bits(),
        ))
    });
    for f in &fills {
        let Some(o) = orders.get(&f.child_id) else {
            orphans += 1;
            continue;
        };
        filled.insert(f.child_id);
        let app: Vec<i64> = d
            .events
            .iter()
            .filter(md)
            .filter(|e| e.symbol == o.symbol && e.venue == o.venue)
            .filter_map(|e| e.t_app.map(|a| a.0))
            .collect();
        let bdcs = ref_bdcs(&app, w, i);
        let thr = ref_median(&bdcs.values().copied().collect::<Vec<_>>());
        let class = bdcs
            .get(&o.t_emit.0.div_euclid(i))
            .map(|b| *b > thr.expect("intervals exist"));
        if class.is_none() {
            unclassified += 1;
        }
        let row = acc
            .entry((name(s, o.strategy), name(s, o.symbol), name(s, o.venue)))
            .or_insert_with(|| vec![(0.0, 0, 0.0, 0); horizons.len()]);
        for (hi, tau) in horizons.iter().enumerate() {
            let best = d
                .events
                .iter()
                .filter(md)
                .filter(|e| {
                    e.symbol == o.symbol && e.venue == o.venue && e.bid.is_some() && e.ask.is_some()
                })
                .filter(|e| e.t_ingress.0 <= f.t_fill.0 + tau)
                .max_by(|a, b| {
                    (a.t_ingress, s.resolve(a.stream), a.seq).cmp(&(
                        b.t_ingress,
                        s.resolve(b.stream),
                        b.seq,
                    ))
                });
            let Some(q) = best else { continue };
            let mid = (q.bid.unwrap_or(0.0) + q.ask.unwrap_or(0.0)) / 2.0;
            let m = o.side.sign() * (f.fill_px - mid) / mid * 1e4;
            match class {
                Some(true) => {
                    row[hi].0 += m;
                    row[hi].1 += 1;
                }
                Some(false) => {
                    row[hi].2 += m;
                    row[hi].3 += 1;
                }
                None => {}
            }
        }
    }
    let no_fill = orders.keys().filter(|k| !filled.contains(*k)).count() as u64;
    let out = acc
        .into_iter()
        .map(|(k, v)| {
            let per = v
                .into_iter()
                .map(|(sh, nh, sl, nl)| {
                    let cte = (nh > 0 && nl > 0).then(|| sh / nh as f64 - sl / nl as f64);
                    (cte, nh, nl)
                })
                .collect();
            (k, per)
        })
        .collect();
    (out, (orphans, no_fill, unclassified, dup_child))
}
