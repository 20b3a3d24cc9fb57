//! DCCD (SPEC §4): data/control causality drift.
//!
//! An episode pairs an md transition `m` with a ctl event `c` whose symbol is null or
//! equal to `m`'s and whose venue is null or equal to `m`'s, with
//! `|t_ingress(c) - t_ingress(m)| <= H`. Episodes where either side was never delivered
//! are excluded (counted). An episode is inverted iff ingress order and app order are
//! strictly opposite; any tie is consistent. DCCD = inverted / episodes.
//!
//! Streaming: transitions and ctl events are kept in per-(symbol, venue) buffers sorted
//! by `t_ingress`; each pair is counted once, when its second member arrives. With a
//! reordering horizon `R`, items older than `max_seen - H - R` are evicted (swept every
//! `H` of input time), so memory is `(H + R) x (transition + ctl rate)` items of 24–40
//! bytes. An item arriving within `H` of the evicted region may miss partners: it is
//! counted as late and the result is reported unreliable (null with a reason).
//! `R = None` keeps everything (exact, O(items)). Merge pairs the two partials' items
//! across (exact while neither evicted anything within `H` of the other's data).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use coalescope_timeline::{Duration, Instant, Sym};
use serde::Serialize;

type SvKey = (Option<Sym>, Option<Sym>);

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct Item<G> {
    pub(crate) t: i64,
    pub(crate) app: Option<i64>,
    pub(crate) group: G,
}

/// Episode counts of one md group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DccdCounts {
    /// Episodes with both sides delivered.
    pub episodes: u64,
    /// Of those, inverted ones.
    pub inverted: u64,
    /// Episodes excluded because a side was never delivered.
    pub excluded: u64,
}

impl DccdCounts {
    fn add(&mut self, o: &DccdCounts) {
        self.episodes += o.episodes;
        self.inverted += o.inverted;
        self.excluded += o.excluded;
    }

    /// `inverted / episodes`, or why it is undefined.
    pub fn ratio(&self) -> Result<f64, String> {
        if self.episodes == 0 {
            Err(format!(
                "no episode with both sides delivered ({} excluded)",
                self.excluded
            ))
        } else {
            Ok(self.inverted as f64 / self.episodes as f64)
        }
    }
}

/// The DCCD aggregator; `G` tags the md group an episode is counted for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "G: serde::Serialize",
    deserialize = "G: serde::Deserialize<'de>"
))]
pub struct Dccd<G: Copy + Eq + Hash> {
    pub(crate) horizon: i64,
    pub(crate) keep: Option<i64>,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) md: HashMap<SvKey, VecDeque<Item<G>>>,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) ctl: HashMap<SvKey, VecDeque<Item<()>>>,
    /// Items within `H` of the first instant: never evicted, so that an earlier partial
    /// can still pair with them at merge time.
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) head_md: HashMap<SvKey, VecDeque<Item<G>>>,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) head_ctl: HashMap<SvKey, VecDeque<Item<()>>>,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) results: HashMap<G, DccdCounts>,
    pub(crate) max_seen: i64,
    pub(crate) min_seen: i64,
    /// Time ranges `[lo, hi)` whose items were dropped.
    pub(crate) evicted: Vec<(i64, i64)>,
    /// Time spans `[first, last]` of the merged partials (empty before any merge: the
    /// span is then `[min_seen, max_seen]`).
    pub(crate) spans: Vec<(i64, i64)>,
    pub(crate) last_sweep: i64,
    pub(crate) late: u64,
    pub(crate) overlapping_merges: u64,
}

fn judge(m_t: i64, m_app: Option<i64>, c_t: i64, c_app: Option<i64>) -> DccdCounts {
    match (m_app, c_app) {
        (Some(ma), Some(ca)) => {
            let ingress = (c_t - m_t).signum();
            let app = (ca - ma).signum();
            DccdCounts {
                episodes: 1,
                inverted: (ingress * app == -1) as u64,
                excluded: 0,
            }
        }
        _ => DccdCounts {
            episodes: 0,
            inverted: 0,
            excluded: 1,
        },
    }
}

fn insert_sorted<T: Copy>(dq: &mut VecDeque<Item<T>>, item: Item<T>) {
    match dq.back() {
        Some(b) if item.t < b.t => {
            let pos = dq.partition_point(|x| x.t <= item.t);
            dq.insert(pos, item);
        }
        _ => dq.push_back(item),
    }
}

/// Drop items older than `cut` from `main`, moving those at or before `head_end` to `head`.
fn evict<T: Copy>(
    main: &mut HashMap<SvKey, VecDeque<Item<T>>>,
    head: &mut HashMap<SvKey, VecDeque<Item<T>>>,
    cut: i64,
    head_end: i64,
) {
    for (sv, dq) in main.iter_mut() {
        while let Some(x) = dq.front().copied() {
            if x.t >= cut {
                break;
            }
            dq.pop_front();
            if x.t <= head_end {
                head.entry(*sv).or_default().push_back(x);
            }
        }
    }
    main.retain(|_, dq| !dq.is_empty());
}

fn in_window<T: Copy>(dq: &VecDeque<Item<T>>, t: i64, h: i64) -> impl Iterator<Item = &Item<T>> {
    let lo = dq.partition_point(|x| x.t < t.saturating_sub(h));
    dq.range(lo..)
        .take_while(move |x| x.t <= t.saturating_add(h))
}

impl<G: Copy + Eq + Hash> Dccd<G> {
    /// Empty state: pairing horizon `horizon`, reordering horizon `keep` (`None` = keep
    /// everything, exact).
    pub fn new(horizon: Duration, keep: Option<Duration>) -> Self {
        Dccd {
            horizon: horizon.as_nanos(),
            keep: keep.map(Duration::as_nanos),
            md: HashMap::new(),
            ctl: HashMap::new(),
            head_md: HashMap::new(),
            head_ctl: HashMap::new(),
            results: HashMap::new(),
            max_seen: i64::MIN,
            min_seen: i64::MAX,
            evicted: Vec::new(),
            spans: Vec::new(),
            last_sweep: i64::MIN,
            late: 0,
            overlapping_merges: 0,
        }
    }

    fn ctl_keys(symbol: Option<Sym>, venue: Option<Sym>) -> impl Iterator<Item = SvKey> {
        let all = [(symbol, venue), (symbol, None), (None, venue), (None, None)];
        all.into_iter()
            .enumerate()
            .filter(move |(i, k)| !all[..*i].contains(k))
            .map(|(_, k)| k)
    }

    fn pair_md(&mut self, sv: SvKey, m: Item<G>) {
        let mut acc = DccdCounts::default();
        for key in Self::ctl_keys(sv.0, sv.1) {
            for map in [&self.ctl, &self.head_ctl] {
                if let Some(dq) = map.get(&key) {
                    for c in in_window(dq, m.t, self.horizon) {
                        acc.add(&judge(m.t, m.app, c.t, c.app));
                    }
                }
            }
        }
        if acc != DccdCounts::default() {
            self.results.entry(m.group).or_default().add(&acc);
        }
    }

    fn pair_ctl(&mut self, sv: SvKey, c: Item<()>) {
        let h = self.horizon;
        let results = &mut self.results;
        let mut visit = |dq: &VecDeque<Item<G>>| {
            for m in in_window(dq, c.t, h) {
                results
                    .entry(m.group)
                    .or_default()
                    .add(&judge(m.t, m.app, c.t, c.app));
            }
        };
        for map in [&self.md, &self.head_md] {
            match sv {
                (Some(_), Some(_)) => {
                    if let Some(dq) = map.get(&sv) {
                        visit(dq);
                    }
                }
                (s, v) => {
                    for (key, dq) in map {
                        if s.is_none_or(|s| key.0 == Some(s)) && v.is_none_or(|v| key.1 == Some(v))
                        {
                            visit(dq);
                        }
                    }
                }
            }
        }
    }

    /// True when items in `[lo, hi]` may have partners among evicted items.
    fn touches_evicted(&self, lo: i64, hi: i64) -> bool {
        let h = self.horizon;
        self.evicted
            .iter()
            .any(|&(a, b)| lo.saturating_sub(h) < b && hi.saturating_add(h) >= a)
    }

    /// The time spans holding this side's items (evicted ones included).
    fn spans(&self) -> Vec<(i64, i64)> {
        if !self.spans.is_empty() {
            self.spans.clone()
        } else if self.max_seen >= self.min_seen {
            vec![(self.min_seen, self.max_seen)]
        } else {
            Vec::new()
        }
    }

    fn observe(&mut self, t: i64) {
        if self.touches_evicted(t, t) {
            self.late += 1;
        }
        if let Some(last) = self.spans.last_mut() {
            // Updates after a merge: widen the last span (conservative).
            *last = (last.0.min(t), last.1.max(t));
        }
        self.min_seen = self.min_seen.min(t);
        if t > self.max_seen {
            self.max_seen = t;
        }
    }

    fn sweep(&mut self) {
        let Some(keep) = self.keep else { return };
        if self.last_sweep != i64::MIN
            && self.max_seen.saturating_sub(self.last_sweep) < self.horizon
        {
            return;
        }
        self.last_sweep = self.max_seen;
        let cut = self
            .max_seen
            .saturating_sub(self.horizon)
            .saturating_sub(keep);
        let head_end = self.min_seen.saturating_add(self.horizon);
        if cut <= head_end {
            return;
        }
        evict(&mut self.md, &mut self.head_md, cut, head_end);
        evict(&mut self.ctl, &mut self.head_ctl, cut, head_end);
        // Items at or before head_end are kept, so the dropped range starts after it.
        match self.evicted.last_mut() {
            Some(last) if last.0 <= head_end + 1 => last.1 = last.1.max(cut),
            _ => self.evicted.push((head_end + 1, cut)),
        }
    }

    /// One md transition of group `group` (call only for `transition == Some(true)`).
    pub fn update_md(
        &mut self,
        group: G,
        symbol: Option<Sym>,
        venue: Option<Sym>,
        t_ingress: Instant,
        t_app: Option<Instant>,
    ) {
        let (t_ingress, t_app) = (t_ingress.as_nanos(), t_app.map(Instant::as_nanos));
        self.observe(t_ingress);
        let item = Item {
            t: t_ingress,
            app: t_app,
            group,
        };
        self.pair_md((symbol, venue), item);
        insert_sorted(self.md.entry((symbol, venue)).or_default(), item);
        self.sweep();
    }

    /// One ctl event (null symbol / venue = applies to all).
    pub fn update_ctl(
        &mut self,
        symbol: Option<Sym>,
        venue: Option<Sym>,
        t_ingress: Instant,
        t_app: Option<Instant>,
    ) {
        let (t_ingress, t_app) = (t_ingress.as_nanos(), t_app.map(Instant::as_nanos));
        self.observe(t_ingress);
        let item = Item {
            t: t_ingress,
            app: t_app,
            group: (),
        };
        self.pair_ctl((symbol, venue), item);
        insert_sorted(self.ctl.entry((symbol, venue)).or_default(), item);
        self.sweep();
    }

    /// Merge a partial: pairs across the two sides are counted here. Merging never
    /// evicts, so partials can be merged in any order.
    pub fn merge(&mut self, other: &Dccd<G>) {
        let (mine, theirs) = (self.spans(), other.spans());
        if theirs.iter().any(|&(lo, hi)| self.touches_evicted(lo, hi))
            || mine.iter().any(|&(lo, hi)| other.touches_evicted(lo, hi))
        {
            self.overlapping_merges += 1;
        }
        self.spans = mine;
        self.spans.extend(theirs);
        self.overlapping_merges += other.overlapping_merges;
        self.late += other.late;
        for map in [&other.md, &other.head_md] {
            for (sv, dq) in map {
                for m in dq {
                    self.pair_md(*sv, *m);
                }
            }
        }
        for map in [&other.ctl, &other.head_ctl] {
            for (sv, dq) in map {
                for c in dq {
                    self.pair_ctl(*sv, *c);
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.md, &other.md),
            (&mut self.head_md, &other.head_md),
        ] {
            for (sv, dq) in theirs {
                let m = mine.entry(*sv).or_default();
                dq.iter().for_each(|x| insert_sorted(m, *x));
            }
        }
        for (mine, theirs) in [
            (&mut self.ctl, &other.ctl),
            (&mut self.head_ctl, &other.head_ctl),
        ] {
            for (sv, dq) in theirs {
                let m = mine.entry(*sv).or_default();
                dq.iter().for_each(|x| insert_sorted(m, *x));
            }
        }
        for (g, c) in &other.results {
            self.results.entry(*g).or_default().add(c);
        }
        self.max_seen = self.max_seen.max(other.max_seen);
        self.min_seen = self.min_seen.min(other.min_seen);
        self.evicted.extend_from_slice(&other.evicted);
        self.last_sweep = self.max_seen;
    }

    /// True when no pair can have been missed (no late item, no overlapping merge).
    pub fn is_reliable(&self) -> bool {
        self.late == 0 && self.overlapping_merges == 0
    }

    /// Items that arrived too late for the eviction horizon.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Counts of group `g`.
    pub fn counts(&self, g: &G) -> DccdCounts {
        self.results.get(g).copied().unwrap_or_default()
    }

    /// DCCD of group `g`, or why it is undefined.
    pub fn finish(&self, g: &G) -> Result<f64, String> {
        if !self.is_reliable() {
            return Err(format!(
                "pairs may be missing: {} items arrived beyond the reordering horizon, {} partials overlapped",
                self.late, self.overlapping_merges
            ));
        }
        self.counts(g).ratio()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coalescope_timeline::Strings;

    #[test]
    fn dccd_by_hand() {
        let mut s = Strings::new();
        let (a, x) = (Some(s.intern("A")), Some(s.intern("X")));
        let b = Some(s.intern("B"));
        let mut d: Dccd<u8> = Dccd::new(Duration(100), None);
        // m1 at ingress 0 app 50; m2 at 1000 (never delivered).
        d.update_md(0, a, x, Instant(0), Some(Instant(50)));
        d.update_md(0, a, x, Instant(1000), None);
        // c1 (A, null) ingress 10 app 40: ingress m<c, app c<m -> inverted.
        d.update_ctl(a, None, Instant(10), Some(Instant(40)));
        // c2 (null, null) ingress -100 app 50: |dt| = 100 <= H; app tie -> consistent.
        d.update_ctl(None, None, Instant(-100), Some(Instant(50)));
        // c3 (B, X) ingress 5: other symbol, not paired.
        d.update_ctl(b, x, Instant(5), Some(Instant(1)));
        // c4 (A, X) ingress 950: pairs with m2 (undelivered) -> excluded.
        d.update_ctl(a, x, Instant(950), Some(Instant(960)));
        // c5 (A, X) ingress 101 app 10: |dt| = 101 > H with m1: no episode.
        d.update_ctl(a, x, Instant(101), Some(Instant(10)));
        let c = d.counts(&0);
        assert_eq!(
            c,
            DccdCounts {
                episodes: 2,
                inverted: 1,
                excluded: 1
            }
        );
        assert_eq!(d.finish(&0), Ok(0.5));
        assert!(d.finish(&1).is_err());
    }
}
