//! Per-window event counts of one timeline, grouped by interval (SPEC §4 windows and
//! intervals), the state behind BDC and DBC.
//!
//! Window `k = floor(t / w)`, interval `j = floor(t / I)`; because `I` is a multiple of `w`
//! every window lies in one interval, at offset `k - j * (I / w)`. The interval being
//! filled is a dense array (one increment per event, no hashing); when an event falls in
//! another interval the dense array is packed into a sparse `(offset, count)` list kept
//! in a map by interval. Memory: one sparse entry per non-empty window (8 bytes) plus one
//! dense array of `I / w` counters: bounded by the number of windows of the data, not by
//! the number of events.

use std::collections::HashMap;

use coalescope_timeline::{Duration, Instant};

/// Max and sum of one interval's window counts: BDC = max / sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalStat {
    /// Interval index `j` (the interval is `[j I, (j+1) I)`).
    pub index: i64,
    /// Largest window count.
    pub max: u32,
    /// Events in the interval.
    pub sum: u64,
}

impl IntervalStat {
    /// `max / sum` (sum is never 0: an interval exists only if it holds an event).
    pub fn bdc(&self) -> f64 {
        self.max as f64 / self.sum as f64
    }
}

/// Window counts of one timeline (module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WindowCounts {
    pub(crate) width: i64,
    pub(crate) per_interval: i64,
    pub(crate) interval_len: i64,
    pub(crate) cur_index: i64,
    pub(crate) cur_start: i64,
    pub(crate) cur_end: i64,
    pub(crate) cur: Vec<u32>,
    pub(crate) cur_live: bool,
    /// The window hit last (`[win_start, win_start + width)`, offset `win_off` in `cur`):
    /// consecutive events mostly share a window, and this skips the division. A cache:
    /// not serialized, empty (`(1, 0)`) after reading.
    #[serde(skip, default = "one")]
    win_start: i64,
    #[serde(skip)]
    win_end: i64,
    #[serde(skip)]
    win_off: usize,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) done: HashMap<i64, Vec<(u32, u32)>>,
    pub(crate) count: u64,
}

/// The empty window cache's start (`win_start > win_end` matches no instant).
fn one() -> i64 {
    1
}

impl WindowCounts {
    /// Heap bytes held (the current interval's window counts and the finished intervals'
    /// non-empty windows), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(i64, Vec<(u32, u32)>)>() + 8;
        self.cur.capacity() * 4
            + self
                .done
                .values()
                .map(|v| entry + v.capacity() * 8)
                .sum::<usize>()
    }

    /// Empty counts for windows of `width` and intervals of `width * per_interval`.
    pub fn new(width: Duration, per_interval: i64) -> Self {
        let width = width.as_nanos();
        WindowCounts {
            width,
            per_interval,
            interval_len: width * per_interval,
            cur_index: 0,
            cur_start: 0,
            cur_end: 0,
            cur: Vec::new(),
            cur_live: false,
            win_start: 1,
            win_end: 0,
            win_off: 0,
            done: HashMap::new(),
            count: 0,
        }
    }

    /// Count one event at instant `t`.
    #[inline(always)]
    pub fn update(&mut self, t: Instant) {
        self.update_ns(t.as_nanos());
    }

    #[inline(always)]
    fn update_ns(&mut self, t: i64) {
        self.count += 1;
        if t >= self.win_start && t < self.win_end {
            self.cur[self.win_off] += 1;
            return;
        }
        if !(self.cur_live && t >= self.cur_start && t < self.cur_end) {
            self.switch_to(t.div_euclid(self.interval_len));
        }
        let off = ((t - self.cur_start) / self.width) as usize;
        self.win_off = off;
        self.win_start = self.cur_start + off as i64 * self.width;
        self.win_end = self.win_start.saturating_add(self.width);
        self.cur[off] += 1;
    }

    #[cold]
    fn switch_to(&mut self, j: i64) {
        self.pack_current();
        if self.cur.len() != self.per_interval as usize {
            self.cur = vec![0; self.per_interval as usize];
        }
        if let Some(sparse) = self.done.remove(&j) {
            for (off, c) in sparse {
                self.cur[off as usize] = c;
            }
        }
        self.cur_index = j;
        self.cur_start = j * self.interval_len;
        self.cur_end = self.cur_start + self.interval_len;
        self.cur_live = true;
    }

    fn pack_current(&mut self) {
        // The window cache points into `cur`: invalidate it with the interval.
        (self.win_start, self.win_end) = (1, 0);
        if !self.cur_live {
            return;
        }
        let sparse = pack(&self.cur);
        self.cur.iter_mut().for_each(|c| *c = 0);
        self.cur_live = false;
        if !sparse.is_empty() {
            self.done.insert(self.cur_index, sparse);
        }
    }

    /// Events counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Every non-empty interval as `(j, sorted (offset, count))`, sorted by `j`.
    pub fn intervals_sparse(&self) -> Vec<(i64, Vec<(u32, u32)>)> {
        let mut out: Vec<(i64, Vec<(u32, u32)>)> =
            self.done.iter().map(|(&j, v)| (j, v.clone())).collect();
        if self.cur_live {
            let sparse = pack(&self.cur);
            if !sparse.is_empty() {
                out.push((self.cur_index, sparse));
            }
        }
        out.sort_unstable_by_key(|(j, _)| *j);
        out
    }

    /// Max and sum of every interval holding at least one event, sorted by index.
    pub fn interval_stats(&self) -> Vec<IntervalStat> {
        self.intervals_sparse()
            .into_iter()
            .map(|(index, v)| IntervalStat {
                index,
                max: v.iter().map(|&(_, c)| c).max().unwrap_or(0),
                sum: v.iter().map(|&(_, c)| c as u64).sum(),
            })
            .collect()
    }

    /// Every non-empty window as `(k, count)`, sorted by `k`.
    pub fn windows(&self) -> Vec<(i64, u32)> {
        self.intervals_sparse()
            .into_iter()
            .flat_map(|(j, v)| {
                let base = j * self.per_interval;
                v.into_iter().map(move |(off, c)| (base + off as i64, c))
            })
            .collect()
    }

    /// Add another partial's counts (exact).
    pub fn merge(&mut self, other: &WindowCounts) {
        self.count += other.count;
        for (j, sparse) in other.intervals_sparse() {
            if self.cur_live && j == self.cur_index {
                for (off, c) in sparse {
                    self.cur[off as usize] += c;
                }
            } else {
                let entry = self.done.entry(j).or_default();
                *entry = merge_sparse(entry, &sparse);
            }
        }
    }
}

fn pack(dense: &[u32]) -> Vec<(u32, u32)> {
    dense
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(off, &c)| (off as u32, c))
        .collect()
}

fn merge_sparse(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut k) = (0, 0);
    while i < a.len() || k < b.len() {
        match (a.get(i), b.get(k)) {
            (Some(&x), Some(&y)) if x.0 == y.0 => {
                out.push((x.0, x.1 + y.1));
                i += 1;
                k += 1;
            }
            (Some(&x), Some(&y)) if x.0 < y.0 => {
                out.push(x);
                i += 1;
            }
            (Some(_), Some(&y)) => {
                out.push(y);
                k += 1;
            }
            (Some(&x), None) => {
                out.push(x);
                i += 1;
            }
            (None, Some(&y)) => {
                out.push(y);
                k += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_intervals_floor_negative_instants() {
        // w = 10, I = 40 (4 windows per interval).
        // t = -1 -> k = -1, j = -1 (offset 3); t = -40 -> k = -4, j = -1 (offset 0);
        // t = -41 -> k = -5, j = -2 (offset 3); t = 0, 5 -> k = 0, j = 0; t = 39 -> k = 3.
        let mut wc = WindowCounts::new(Duration(10), 4);
        for t in [-1, -40, -41, 0, 5, 39, -2] {
            wc.update(Instant(t));
        }
        assert_eq!(
            wc.windows(),
            vec![(-5, 1), (-4, 1), (-1, 2), (0, 2), (3, 1)]
        );
        let stats = wc.interval_stats();
        assert_eq!(
            stats,
            vec![
                IntervalStat {
                    index: -2,
                    max: 1,
                    sum: 1
                },
                IntervalStat {
                    index: -1,
                    max: 2,
                    sum: 3
                },
                IntervalStat {
                    index: 0,
                    max: 2,
                    sum: 3
                },
            ]
        );
    }

    #[test]
    fn merge_adds_counts() {
        let ts = [3i64, 17, 45, 46, 90, 91, 92, -7, 130];
        let mut one = WindowCounts::new(Duration(10), 4);
        ts.iter().for_each(|&t| one.update(Instant(t)));
        let mut a = WindowCounts::new(Duration(10), 4);
        let mut b = WindowCounts::new(Duration(10), 4);
        for (i, &t) in ts.iter().enumerate() {
            if i % 2 == 0 {
                a.update(Instant(t))
            } else {
                b.update(Instant(t))
            }
        }
        a.merge(&b);
        assert_eq!(a.windows(), one.windows());
        assert_eq!(a.count(), 9);
    }
}
