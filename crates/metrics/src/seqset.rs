//! Duplicate `(stream, seq)` detection in memory proportional to the number of *holes*
//! in each stream's sequence space, not to the number of events.
//!
//! Each stream keeps its seen sequence numbers as disjoint inclusive ranges; the range
//! being extended (the usual case: `seq = last + 1`) lives outside the map, so the hot
//! path is two compares. Duplicates = inserts - distinct values, which is exact for any
//! split of the input after [`SeqSet::merge`].

use std::collections::BTreeMap;

/// Seen sequence numbers of one stream.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "SeqWire", try_from = "SeqWire")]
pub struct SeqSet {
    ranges: BTreeMap<u64, u64>,
    hot: Option<(u64, u64)>,
    hot_next: u64,
    inserts: u64,
    distinct: u64,
}

/// A [`SeqSet`] as serialized: its ranges (sorted, disjoint, inclusive) and inserts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SeqWire {
    ranges: Vec<(u64, u64)>,
    inserts: u64,
}

impl From<SeqSet> for SeqWire {
    fn from(s: SeqSet) -> Self {
        SeqWire {
            ranges: s.all_ranges(),
            inserts: s.inserts,
        }
    }
}

impl TryFrom<SeqWire> for SeqSet {
    type Error = String;
    /// The set of the wire ranges; they must be sorted, disjoint and non-empty, and
    /// `inserts` at least the number of distinct values.
    fn try_from(w: SeqWire) -> Result<Self, String> {
        let mut distinct = 0u64;
        let mut prev: Option<u64> = None;
        for &(lo, hi) in &w.ranges {
            if lo > hi || prev.is_some_and(|p| lo <= p) {
                return Err(format!(
                    "seq ranges not sorted and disjoint at [{lo}, {hi}]"
                ));
            }
            prev = Some(hi);
            distinct = (hi - lo)
                .checked_add(1)
                .and_then(|n| distinct.checked_add(n))
                .ok_or("seq ranges hold more than 2^64 values")?;
        }
        if distinct > w.inserts {
            return Err(format!(
                "seq set has {distinct} distinct values but {} inserts",
                w.inserts
            ));
        }
        Ok(SeqSet {
            ranges: w.ranges.into_iter().collect(),
            hot: None,
            hot_next: u64::MAX,
            inserts: w.inserts,
            distinct,
        })
    }
}

impl SeqSet {
    /// True when nothing was inserted (not worth serializing).
    pub(crate) fn is_empty(&self) -> bool {
        self.inserts == 0
    }

    /// Record `seq`; returns false if it was already seen.
    #[inline]
    pub fn insert(&mut self, seq: u64) -> bool {
        self.inserts += 1;
        if let Some((lo, hi)) = self.hot {
            if seq >= lo && seq <= hi {
                return false;
            }
            if hi != u64::MAX && seq == hi + 1 && seq < self.hot_next {
                self.distinct += 1;
                if seq.checked_add(1) == Some(self.hot_next) {
                    // The next range starts right after: join it.
                    let next_hi = self.ranges.remove(&self.hot_next).unwrap_or(self.hot_next);
                    self.hot = Some((lo, next_hi));
                    self.hot_next = self.next_start_after(next_hi);
                } else {
                    self.hot = Some((lo, seq));
                }
                return true;
            }
        }
        self.slow_insert(seq)
    }

    fn next_start_after(&self, v: u64) -> u64 {
        match v.checked_add(1) {
            Some(n) => self.ranges.range(n..).next().map_or(u64::MAX, |(&s, _)| s),
            None => u64::MAX,
        }
    }

    #[cold]
    fn slow_insert(&mut self, seq: u64) -> bool {
        if let Some((lo, hi)) = self.hot.take() {
            self.ranges.insert(lo, hi);
        }
        if let Some((&lo, &hi)) = self.ranges.range(..=seq).next_back() {
            if seq <= hi {
                self.ranges.remove(&lo);
                self.hot = Some((lo, hi));
                self.hot_next = self.next_start_after(hi);
                return false;
            }
        }
        self.distinct += 1;
        let mut lo = seq;
        let mut hi = seq;
        if let Some((&plo, &phi)) = self.ranges.range(..seq).next_back() {
            if phi.checked_add(1) == Some(seq) {
                self.ranges.remove(&plo);
                lo = plo;
            }
        }
        if let Some(n) = seq.checked_add(1) {
            if let Some(nhi) = self.ranges.remove(&n) {
                hi = nhi;
            }
        }
        self.hot = Some((lo, hi));
        self.hot_next = self.next_start_after(hi);
        true
    }

    /// Values inserted, duplicates included.
    pub fn inserts(&self) -> u64 {
        self.inserts
    }

    /// Inserts that repeated an earlier value.
    pub fn duplicates(&self) -> u64 {
        self.inserts - self.distinct
    }

    /// All ranges, sorted.
    fn all_ranges(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.ranges.iter().map(|(&a, &b)| (a, b)).collect();
        if let Some(h) = self.hot {
            v.push(h);
            v.sort_unstable();
        }
        v
    }

    /// Merge another stream's partial: the union of ranges; duplicates stay exact.
    pub fn merge(&mut self, other: &SeqSet) {
        let mut all = self.all_ranges();
        all.extend(other.all_ranges());
        all.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match merged.last_mut() {
                Some(last) if last.1 == u64::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.inserts += other.inserts;
        self.distinct = merged
            .iter()
            .map(|(lo, hi)| (hi - lo).saturating_add(1))
            .sum();
        self.ranges = merged.into_iter().collect();
        self.hot = None;
        self.hot_next = u64::MAX;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_in_any_order() {
        let seqs = [
            1u64,
            2,
            3,
            3,
            10,
            4,
            5,
            9,
            2,
            11,
            8,
            6,
            7,
            7,
            0,
            u64::MAX,
            u64::MAX,
        ];
        let mut s = SeqSet::default();
        let fresh: Vec<bool> = seqs.iter().map(|&q| s.insert(q)).collect();
        assert_eq!(s.duplicates(), 4);
        assert_eq!(fresh.iter().filter(|f| !**f).count(), 4);
        assert_eq!(s.all_ranges(), vec![(0, 11), (u64::MAX, u64::MAX)]);
        let (mut a, mut b) = (SeqSet::default(), SeqSet::default());
        for (i, &q) in seqs.iter().enumerate() {
            if i % 3 == 0 {
                a.insert(q);
            } else {
                b.insert(q);
            }
        }
        a.merge(&b);
        assert_eq!(a.duplicates(), 4);
        assert_eq!(a.inserts(), seqs.len() as u64);
    }
}
