//! Exact nearest-rank quantiles of a sliding FIFO window of integers.
//!
//! The tick metrics (SPEC §6) need q95 and q99 of the gaps in the trailing window
//! `[t - R, t)` at every tick; each gap stays in `R / T` windows, so copying the window
//! and selecting at every tick costs `O(R / T)` per gap. [`FifoQuantiles`] keeps instead:
//! - the window in arrival order (`(tag, value)`, evicted from the front by tag);
//! - a log-linear histogram of the values (32 sub-buckets per power of two, exact below
//!   32), each bucket holding its values in arrival order as runs of equal values
//!   (batched delivery repeats gaps), so evicting the window's oldest value decrements
//!   the front run of its bucket;
//! - per power of two, the count of its buckets.
//!
//! A quantile walks the octave counts and then the sub-buckets from the nearer end
//! (`O(64)`), and selects within the one bucket that holds the rank (`O(runs in the
//! bucket)`, a relative value width of at most 1/32). Push and evict are `O(1)`. The answer is exact:
//! the same value as sorting the window and taking the nearest rank. Octaves are
//! allocated when first used (1 KiB each), so memory follows the range of the values and
//! the window's length, never a parameter's value.

use std::collections::VecDeque;

use crate::quantile::Prob;

/// Sub-bucket bits: 32 buckets per power of two.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Octave groups: group 0 holds the exact values `0..32` (negatives clamp into bucket 0);
/// group `g >= 1` the values `[2^(g+4), 2^(g+5))`.
const GROUPS: usize = 64 - SUB_BITS as usize;

/// Group and sub-bucket of a value.
fn slot(v: i64) -> (usize, usize) {
    if v < SUB as i64 {
        return (0, v.max(0) as usize);
    }
    let u = v as u64;
    let e = 63 - u.leading_zeros(); // >= SUB_BITS
    let sub = (u >> (e - SUB_BITS)) as usize - SUB;
    ((e - SUB_BITS + 1) as usize, sub)
}

/// A sliding FIFO window of `i64` values with exact nearest-rank quantiles (module docs).
#[derive(Debug, Clone)]
pub struct FifoQuantiles {
    fifo: VecDeque<(i64, i64)>,
    groups: Vec<Option<Box<[Bucket; SUB]>>>,
    group_len: [u32; GROUPS],
    scratch: Vec<(i64, u32)>,
}

/// One histogram bucket: its values in arrival order as `(value, count)` runs.
#[derive(Debug, Clone, Default)]
struct Bucket {
    runs: VecDeque<(i64, u32)>,
    len: usize,
}

impl Default for FifoQuantiles {
    fn default() -> Self {
        Self::new()
    }
}

impl FifoQuantiles {
    /// An empty window.
    pub fn new() -> Self {
        Self {
            fifo: VecDeque::new(),
            groups: (0..GROUPS).map(|_| None).collect(),
            group_len: [0; GROUPS],
            scratch: Vec::new(),
        }
    }

    /// Values in the window.
    pub fn len(&self) -> usize {
        self.fifo.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.fifo.is_empty()
    }

    /// Append `value` with `tag` (tags must not decrease for [`Self::evict_before`] to
    /// evict a prefix; values any order).
    #[inline]
    pub fn push(&mut self, tag: i64, value: i64) {
        self.fifo.push_back((tag, value));
        let (g, s) = slot(value);
        self.group_len[g] += 1;
        let b = &mut self.groups[g]
            .get_or_insert_with(|| Box::new(std::array::from_fn(|_| Bucket::default())))[s];
        b.len += 1;
        match b.runs.back_mut() {
            Some((v, c)) if *v == value && *c < u32::MAX => *c += 1,
            _ => b.runs.push_back((value, 1)),
        }
    }

    /// Drop the values at the front whose tag is `< lo`.
    pub fn evict_before(&mut self, lo: i64) {
        while let Some(&(tag, value)) = self.fifo.front() {
            if tag >= lo {
                break;
            }
            self.fifo.pop_front();
            let (g, s) = slot(value);
            self.group_len[g] -= 1;
            if let Some(b) = self.groups[g].as_mut() {
                let b = &mut b[s];
                b.len -= 1;
                if let Some((_, c)) = b.runs.front_mut() {
                    *c -= 1;
                    if *c == 0 {
                        b.runs.pop_front();
                    }
                }
            }
        }
    }

    /// The nearest-rank quantile `p` of the window (`None` when empty).
    pub fn quantile(&mut self, p: Prob) -> Option<i64> {
        let n = self.fifo.len() as u64;
        let rank = p.rank(n);
        if n == 0 || rank == 0 {
            return None;
        }
        self.kth(rank as usize - 1)
    }

    /// The `k`-th smallest value (0-based) of the window.
    fn kth(&mut self, k: usize) -> Option<i64> {
        let n = self.fifo.len();
        if k >= n {
            return None;
        }
        // Walk from the nearer end: `skip` values lie beyond the target on that side.
        let from_top = k >= n / 2;
        let mut skip = if from_top { n - 1 - k } else { k };
        let mut g_found = None;
        for i in 0..GROUPS {
            let g = if from_top { GROUPS - 1 - i } else { i };
            let c = self.group_len[g] as usize;
            if skip < c {
                g_found = Some(g);
                break;
            }
            skip -= c;
        }
        let g = g_found?;
        let buckets = self.groups[g].as_ref()?;
        for i in 0..SUB {
            let s = if from_top { SUB - 1 - i } else { i };
            let b = &buckets[s];
            if skip < b.len {
                let idx = if from_top { b.len - 1 - skip } else { skip };
                if b.runs.len() == 1 {
                    return b.runs.front().map(|&(v, _)| v);
                }
                self.scratch.clear();
                self.scratch.extend(b.runs.iter().copied());
                self.scratch.sort_unstable_by_key(|&(v, _)| v);
                let mut below = 0usize;
                for &(v, c) in &self.scratch {
                    below += c as usize;
                    if idx < below {
                        return Some(v);
                    }
                }
                return None;
            }
            skip -= b.len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(v: &[i64], p: Prob) -> Option<i64> {
        let mut s = v.to_vec();
        s.sort_unstable();
        let r = p.rank(s.len() as u64);
        (r > 0 && !s.is_empty()).then(|| s[r as usize - 1])
    }

    #[test]
    fn slots_are_monotone_and_cover_i64() {
        let mut last = (0, 0);
        for v in (0..5000i64).chain([i64::MAX / 2, i64::MAX - 1, i64::MAX]) {
            let s = slot(v);
            assert!(s >= last, "{v}: {s:?} < {last:?}");
            last = s;
        }
        assert_eq!(slot(-5), (0, 0));
        assert_eq!(slot(31), (0, 31));
        assert_eq!(slot(32), (1, 0));
        assert_eq!(slot(63), (1, 31));
        assert_eq!(slot(64), (2, 0));
        assert_eq!(slot(66), (2, 1));
        assert_eq!(slot(i64::MAX), (GROUPS - 1, SUB - 1));
    }

    #[test]
    fn hand_computed_window() {
        let mut w = FifoQuantiles::new();
        // 20 values 1..=20, tags 0..20: q95 = rank 19 -> 19, q99 = rank 20 -> 20.
        for i in 0..20 {
            w.push(i, i + 1);
        }
        assert_eq!(w.quantile(Prob::P95), Some(19));
        assert_eq!(w.quantile(Prob::P99), Some(20));
        assert_eq!(w.quantile(Prob::P50), Some(10));
        // Evict tags < 10: values 11..=20; q50 = rank 5 -> 15; q95 = rank 10 -> 20.
        w.evict_before(10);
        assert_eq!(w.len(), 10);
        assert_eq!(w.quantile(Prob::P50), Some(15));
        assert_eq!(w.quantile(Prob::P95), Some(20));
        w.evict_before(100);
        assert_eq!(w.quantile(Prob::P95), None);
    }

    proptest! {
        #[test]
        fn equals_sorting_the_window(
            ops in prop::collection::vec((0i64..4, prop_oneof![
                0i64..100, 0i64..5_000_000, any::<i64>(), Just(i64::MAX)]), 1..400),
            window in 1i64..50,
        ) {
            let mut w = FifoQuantiles::new();
            let mut model: VecDeque<(i64, i64)> = VecDeque::new();
            let mut tag = 0i64;
            for (step, v) in ops {
                tag += step;
                w.push(tag, v);
                model.push_back((tag, v));
                let lo = tag - window;
                w.evict_before(lo);
                while model.front().is_some_and(|&(t, _)| t < lo) {
                    model.pop_front();
                }
                let vals: Vec<i64> = model.iter().map(|&(_, v)| v).collect();
                prop_assert_eq!(w.len(), vals.len());
                for p in [Prob::P50, Prob::P95, Prob::P99, Prob::P999] {
                    prop_assert_eq!(w.quantile(p), brute(&vals, p));
                }
            }
        }
    }
}
