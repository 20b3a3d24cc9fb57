//! Gaps between consecutive instants of one timeline, with a bounded reordering horizon.
//!
//! MDDR and inter-arrival quantiles need the instants of a timeline *sorted*, but input
//! arrives in file order: ingress instants are usually sorted, app instants are not (a
//! batch delivered later may hold earlier arrivals). [`GapSeries`] keeps the instants
//! within `horizon` of the largest one seen in a sorted *tail* buffer; older instants are
//! *committed* into a block: their gap to the previous committed instant goes into a
//! [`Quantiles`] and the instant itself is forgotten.
//!
//! The state is a sorted list of pieces: raw instants and committed blocks
//! `[first, last]` (whose inner gaps are already counted). The instants within `horizon`
//! of the *smallest* instant seen (the *head*) are never committed either, so that an
//! earlier partial can be stitched to this one exactly.
//!
//! - An instant strictly inside a committed block is *late*: its gaps cannot be placed
//!   any more. It is counted and the series reports itself unreliable (MDDR is then null
//!   with a reason) instead of silently giving a wrong number. Anywhere else an instant
//!   is placed exactly, as a raw piece.
//! - `horizon = None` never commits: exact for any input order, memory O(instants).
//! - [`GapSeries::merge`] interleaves the two piece lists. It is exact unless a raw
//!   instant or block of one side falls strictly inside a block of the other, which
//!   happens only when partials overlap in time by more than the horizon; that case is
//!   counted (`overlapping_merges`) and reported unreliable. Splitting a time-ordered
//!   input at any points (in any merge order) is exact whenever the instants of each
//!   timeline are out of order by less than the horizon.
//!
//! Memory: `2.25 x horizon x rate` raw instants (8 bytes each) per partial boundary, plus
//! the [`Quantiles`] of committed gaps.

use std::collections::VecDeque;

use coalescope_timeline::{Duration, Instant};
use serde::{Deserialize, Serialize};

use crate::quantile::Quantiles;

/// A raw instant or a committed block `[first, last]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Piece {
    Raw(i64),
    Block(i64, i64),
}

impl Piece {
    fn start(self) -> i64 {
        match self {
            Piece::Raw(t) | Piece::Block(t, _) => t,
        }
    }
    fn end(self) -> i64 {
        match self {
            Piece::Raw(t) | Piece::Block(_, t) => t,
        }
    }
}

/// Where `t` goes in the sorted `buf` (after equal values). Out-of-order instants are
/// usually only a few places from the back: scan those first (hot cache lines), and
/// binary-search only when the displacement is large.
#[inline]
pub(crate) fn sorted_position(buf: &VecDeque<i64>, t: i64) -> usize {
    let n = buf.len();
    for back in 1..=16.min(n) {
        if buf[n - back] <= t {
            return n - back + 1;
        }
    }
    buf.partition_point(|&x| x <= t)
}

/// Sorted gaps of one timeline (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GapSeries {
    horizon: Option<i64>,
    /// Pieces before `active`, sorted.
    frozen: Vec<Piece>,
    /// The block being extended by commits.
    active: Option<(i64, i64)>,
    /// Sorted raw instants after `active` (or after `frozen`).
    tail: VecDeque<i64>,
    gaps: Quantiles,
    /// The compression threshold `g` (ns) and the committed gaps `<= g`.
    compress_gap: i64,
    short: u64,
    max_seen: i64,
    min_seen: i64,
    count: u64,
    late: u64,
    non_monotonic: u64,
    last_input: i64,
    overlapping_merges: u64,
    /// Input time of the next batch commit.
    next_commit: i64,
}

impl GapSeries {
    /// An empty series: `horizon` is the reordering horizon (`None` = exact, unbounded
    /// buffer), `compress_gap` the threshold `g` of [`GapSeries::compressed`].
    pub fn new(horizon: Option<Duration>, exact_limit: usize, compress_gap: Duration) -> Self {
        GapSeries {
            horizon: horizon.map(Duration::as_nanos),
            frozen: Vec::new(),
            active: None,
            tail: VecDeque::new(),
            gaps: Quantiles::new(exact_limit),
            compress_gap: compress_gap.as_nanos(),
            short: 0,
            max_seen: i64::MIN,
            min_seen: i64::MAX,
            count: 0,
            late: 0,
            non_monotonic: 0,
            last_input: i64::MIN,
            overlapping_merges: 0,
            next_commit: i64::MIN,
        }
    }

    /// Add one instant.
    #[inline(always)]
    pub fn update(&mut self, t: Instant) {
        self.update_ns(t.as_nanos());
    }

    #[inline(always)]
    fn update_ns(&mut self, t: i64) {
        self.count += 1;
        self.non_monotonic += (t < self.last_input) as u64;
        self.last_input = t;
        if t < self.min_seen {
            self.min_seen = t;
        }
        // Fast path: in order after a non-empty tail (the tail floor is then below t).
        match self.tail.back() {
            Some(&b) if t >= b => self.tail.push_back(t),
            _ => self.insert(t),
        }
        if t > self.max_seen {
            self.max_seen = t;
            // Commit in batches (every horizon/8 of input time): the same work per
            // instant, but in a tight loop instead of one pop per event.
            if t >= self.next_commit {
                if let Some(h) = self.horizon {
                    self.commit_below(t.saturating_sub(h), h);
                    self.next_commit = t.saturating_add(h / 8);
                }
            }
        }
    }

    /// The smallest instant the tail may hold.
    #[inline]
    fn tail_floor(&self) -> i64 {
        match (self.active, self.frozen.last()) {
            (Some((_, last)), _) => last,
            (None, Some(p)) => p.end(),
            (None, None) => i64::MIN,
        }
    }

    #[inline]
    fn insert(&mut self, t: i64) {
        if t >= self.tail_floor() {
            match self.tail.back() {
                Some(&b) if t < b => {
                    let pos = sorted_position(&self.tail, t);
                    self.tail.insert(pos, t);
                }
                _ => self.tail.push_back(t),
            }
        } else {
            self.insert_frozen(t);
        }
    }

    #[cold]
    fn insert_frozen(&mut self, t: i64) {
        if let Some((first, last)) = self.active {
            if t > first && t < last {
                self.late += 1;
                return;
            }
        }
        let pos = self.frozen.partition_point(|p| p.start() <= t);
        if let Some(Piece::Block(first, last)) = pos.checked_sub(1).map(|i| self.frozen[i]) {
            if t > first && t < last {
                self.late += 1;
                return;
            }
        }
        self.frozen.insert(pos, Piece::Raw(t));
    }

    /// Commit every tail instant strictly below `watermark`, except the head.
    #[inline]
    fn commit_below(&mut self, watermark: i64, h: i64) {
        while let Some(&front) = self.tail.front() {
            if front >= watermark {
                break;
            }
            self.tail.pop_front();
            match self.active {
                Some((first, last)) => {
                    let gap = front - last;
                    self.short += (gap <= self.compress_gap) as u64;
                    self.gaps.update(gap);
                    self.active = Some((first, front));
                }
                None if front <= self.min_seen.saturating_add(h) => {
                    self.frozen.push(Piece::Raw(front))
                }
                None => self.active = Some((front, front)),
            }
        }
    }

    /// Every piece in order.
    fn pieces(&self) -> Vec<Piece> {
        let mut v = self.frozen.clone();
        if let Some((a, b)) = self.active {
            v.push(Piece::Block(a, b));
        }
        v.extend(self.tail.iter().map(|&t| Piece::Raw(t)));
        v
    }

    /// Smallest instant seen.
    pub fn first(&self) -> Option<Instant> {
        (self.count > 0).then_some(Instant(self.min_seen))
    }

    /// Largest instant seen.
    pub fn last(&self) -> Option<Instant> {
        (self.count > 0).then_some(Instant(self.max_seen))
    }

    /// Instants seen (late ones included).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Instants that arrived inside a committed block (their gaps are missing).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Instants smaller than the one before them in input order (summed over partials).
    pub fn non_monotonic(&self) -> u64 {
        self.non_monotonic
    }

    /// Merges where a piece of one partial fell inside a committed block of the other.
    pub fn overlapping_merges(&self) -> u64 {
        self.overlapping_merges
    }

    /// Bytes held on the heap (for an engine's memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.frozen.capacity() * std::mem::size_of::<Piece>()
            + self.tail.capacity() * 8
            + self.gaps.heap_bytes()
    }

    /// True when the gaps are those of the sorted input (no late instant, no overlap).
    pub fn is_reliable(&self) -> bool {
        self.late == 0 && self.overlapping_merges == 0
    }

    /// Merge another partial of the same timeline (module docs say when this is exact).
    pub fn merge(&mut self, other: &GapSeries) {
        if other.count == 0 {
            return;
        }
        let (a, b) = (self.pieces(), other.pieces());
        let mut merged: Vec<Piece> = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut k) = (0, 0);
        while i < a.len() || k < b.len() {
            // At equal starts a raw instant goes first: it is then not inside the block.
            let order = |p: Piece| (p.start(), matches!(p, Piece::Block(..)));
            let take_a = k == b.len() || (i < a.len() && order(a[i]) <= order(b[k]));
            let p = if take_a {
                i += 1;
                a[i - 1]
            } else {
                k += 1;
                b[k - 1]
            };
            match merged.last_mut() {
                Some(prev) if p.start() < prev.end() => {
                    // p starts strictly inside a committed block: not exact any more.
                    self.overlapping_merges += 1;
                    if let (Piece::Block(ps, pe), Piece::Block(_, e)) = (*prev, p) {
                        *prev = Piece::Block(ps, pe.max(e));
                    }
                }
                _ => merged.push(p),
            }
        }
        self.gaps.merge(&other.gaps);
        self.short += other.short;
        self.count += other.count;
        self.late += other.late;
        self.non_monotonic += other.non_monotonic;
        self.overlapping_merges += other.overlapping_merges;
        self.max_seen = self.max_seen.max(other.max_seen);
        self.min_seen = self.min_seen.min(other.min_seen);
        self.last_input = self.last_input.max(other.last_input);
        // Re-split: trailing raw instants become the tail, the last block the active one.
        let raw_tail = merged
            .iter()
            .rev()
            .take_while(|p| matches!(p, Piece::Raw(_)))
            .count();
        let tail_start = merged.len() - raw_tail;
        self.tail = merged[tail_start..].iter().map(|p| p.start()).collect();
        merged.truncate(tail_start);
        self.active = match merged.last() {
            Some(&Piece::Block(s, e)) => {
                merged.pop();
                Some((s, e))
            }
            _ => None,
        };
        self.frozen = merged;
    }

    /// Calls `f` with every gap not yet committed: those between pieces and inside the
    /// uncommitted tail.
    fn for_each_open_gap(&self, mut f: impl FnMut(i64)) {
        let mut prev: Option<i64> = None;
        let mut visit = |p: Piece| {
            if let Some(e) = prev {
                f(p.start() - e);
            }
            prev = Some(p.end());
        };
        self.frozen.iter().for_each(|&p| visit(p));
        if let Some((a, b)) = self.active {
            visit(Piece::Block(a, b));
        }
        self.tail.iter().for_each(|&t| visit(Piece::Raw(t)));
    }

    /// All gaps: committed ones plus those between and inside the uncommitted pieces.
    pub fn finish(&self) -> Quantiles {
        let mut q = self.gaps.clone();
        self.for_each_open_gap(|g| q.update(g));
        q
    }

    /// Check a series read from untrusted bytes: the configuration's horizon, threshold
    /// and exact limit, instants within `±limit`, pieces sorted (raw instants, blocks
    /// `first <= last`, the tail after the active block), and the counters the code
    /// subtracts or divides consistent. Returns what is broken.
    pub(crate) fn check(
        &self,
        horizon: Option<Duration>,
        exact_limit: usize,
        compress_gap: Duration,
        limit: i64,
    ) -> Result<(), String> {
        if self.horizon != horizon.map(Duration::as_nanos)
            || self.compress_gap != compress_gap.as_nanos()
        {
            return Err("horizon or compress gap differs from the configuration's".into());
        }
        self.gaps
            .check(exact_limit)
            .map_err(|e| format!("gaps: {e}"))?;
        let ok = |t: i64| (-limit..=limit).contains(&t);
        let pieces = self.pieces();
        let mut prev = i64::MIN;
        for p in &pieces {
            if !ok(p.start()) || !ok(p.end()) || p.start() > p.end() || p.start() < prev {
                return Err(format!("piece {p:?} out of range or out of order"));
            }
            prev = p.start();
        }
        if self.tail.iter().any(|&t| t < self.tail_floor()) {
            return Err("tail instant below the committed pieces".into());
        }
        if self.short > self.gaps.count() {
            return Err("more short gaps than committed gaps".into());
        }
        if self.count == 0 {
            if !pieces.is_empty() || self.gaps.count() > 0 {
                return Err("pieces in an empty series".into());
            }
        } else if !ok(self.min_seen) || !ok(self.max_seen) || self.min_seen > self.max_seen {
            return Err("first/last instant out of range".into());
        }
        Ok(())
    }

    /// Gaps `<= g` (the `compress_gap` given to [`GapSeries::new`]) among all the gaps
    /// [`GapSeries::finish`] returns; counted exactly in either quantile mode.
    pub fn compressed(&self) -> u64 {
        let mut n = self.short;
        self.for_each_open_gap(|gap| n += (gap <= self.compress_gap) as u64);
        n
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::quantile::Prob;

    fn gaps_of(mut v: Vec<i64>) -> Vec<i64> {
        v.sort_unstable();
        v.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn out_of_order_within_horizon_is_exact() {
        // instants 0, 30, 10, 60, 40 with horizon 50: sorted 0 10 30 40 60 -> gaps 10 20 10 20.
        let mut g = GapSeries::new(Some(Duration(50)), 1000, Duration(0));
        for t in [0, 30, 10, 60, 40] {
            g.update(Instant(t));
        }
        let q = g.finish();
        assert_eq!(q.count(), 4);
        assert_eq!(q.quantile(Prob::P50), Some(10));
        assert_eq!(q.quantile(Prob::P95), Some(20));
        assert!(g.is_reliable());
        assert_eq!(g.non_monotonic(), 2);
    }

    #[test]
    fn late_instant_is_counted_not_hidden() {
        // 0 stays raw (head), 100..200 become a committed block, 50 still fits
        // exactly between them, 150 falls inside the block: late.
        let mut g = GapSeries::new(Some(Duration(10)), 1000, Duration(0));
        for t in [0, 100, 200, 300, 50, 150] {
            g.update(Instant(t));
        }
        assert_eq!(g.late(), 1);
        assert!(!g.is_reliable());
        let q = g.finish();
        // gaps of 0, 50, 100, 200, 300 (150 lost): 50, 50, 100, 100.
        assert_eq!(q.count(), 4);
        assert_eq!(q.quantile(crate::quantile::Prob::P50), Some(50));
    }

    #[test]
    fn merges_of_time_splits_and_buffered_sides_are_exact() {
        let ts: Vec<i64> = (0..400).map(|i| i * 37 % 1009 + (i / 50) * 900).collect();
        let want = gaps_of(ts.clone());
        for horizon in [None, Some(0), Some(100), Some(5000)] {
            for split in [1usize, 57, 200, 399] {
                // also merge in both orders below
                let mut a = GapSeries::new(horizon.map(Duration), 64, Duration(20));
                let mut b = GapSeries::new(horizon.map(Duration), 64, Duration(20));
                let mut sorted = ts.clone();
                sorted.sort_unstable();
                sorted[..split].iter().for_each(|&t| a.update(Instant(t)));
                sorted[split..].iter().for_each(|&t| b.update(Instant(t)));
                b.merge(&a);
                let q = b.finish();
                assert!(b.is_reliable());
                assert_eq!(q.count(), want.len() as u64);
                let mut one = Quantiles::new(64);
                want.iter().for_each(|&g| one.update(g));
                assert_eq!(q.quantile(Prob::P95), one.quantile(Prob::P95));
                // Independent count of the gaps <= g = 20 ns, committed or not.
                let short = want.iter().filter(|&&g| g <= 20).count() as u64;
                assert!(short > 0 && short < want.len() as u64);
                assert_eq!(b.compressed(), short, "horizon {horizon:?} split {split}");
            }
        }
    }

    #[test]
    fn overlapping_committed_merge_is_flagged() {
        let mut a = GapSeries::new(Some(Duration(0)), 64, Duration(0));
        let mut b = GapSeries::new(Some(Duration(0)), 64, Duration(0));
        for t in [0, 10, 20, 30] {
            a.update(Instant(t));
        }
        for t in [5, 15, 25, 35] {
            b.update(Instant(t));
        }
        a.merge(&b);
        assert_eq!(a.overlapping_merges(), 1);
        assert!(!a.is_reliable());
    }
}
