//! The app log's (stream, seq) -> position index used by the join.
//!
//! Column-wise and per stream: a feed numbers its packets 1, 2, 3, ..., so most streams'
//! sequence numbers fill a range densely and are indexed by a plain array (`seq - first`
//! -> position, 8 bytes a slot, one load per lookup, no hashing). A stream whose numbers
//! are sparse (the slots would outnumber its records more than twice, plus a small
//! allowance) gets a hash map instead. Memory is O(app records) either way, never the
//! size of a sequence number.

use coalescope_timeline::{Event, Sym};

use crate::fasthash::FastMap;

/// Position marking an empty dense slot.
const NONE: usize = usize::MAX;

/// Slots a dense stream may have beyond twice its record count.
const DENSE_SLACK: u64 = 1024;

/// The index of one stream's app records.
enum StreamIndex {
    /// No app record names this stream.
    Absent,
    /// `positions[seq - first]`, or [`NONE`].
    Dense { first: u64, positions: Vec<usize> },
    /// seq -> position.
    Sparse(FastMap<u64, usize>),
}

/// (stream, seq) -> position of the first app record with that key.
pub(crate) struct AppIndex {
    /// By stream symbol index ([`Sym::index`]); bounded by the string table.
    streams: Vec<StreamIndex>,
}

/// Per-stream count and seq range, gathered before the tables are sized.
#[derive(Clone, Copy)]
struct Extent {
    count: u64,
    min: u64,
    max: u64,
}

impl AppIndex {
    /// Index `events`; also returns how many repeat an earlier key (ignored).
    pub(crate) fn build(events: &[Event]) -> (AppIndex, u64) {
        let mut extents: Vec<Option<Extent>> = Vec::new();
        for e in events {
            let s = e.stream.index();
            if s >= extents.len() {
                extents.resize(s + 1, None);
            }
            let x = extents[s].get_or_insert(Extent {
                count: 0,
                min: e.seq,
                max: e.seq,
            });
            x.count += 1;
            x.min = x.min.min(e.seq);
            x.max = x.max.max(e.seq);
        }
        let mut streams: Vec<StreamIndex> = extents
            .iter()
            .map(|x| match x {
                None => StreamIndex::Absent,
                Some(x) => {
                    let span = x.max - x.min; // slots - 1
                    let limit = x.count.saturating_mul(2).saturating_add(DENSE_SLACK);
                    match usize::try_from(span) {
                        Ok(span) if (span as u64) < limit => StreamIndex::Dense {
                            first: x.min,
                            positions: vec![NONE; span + 1],
                        },
                        _ => StreamIndex::Sparse(FastMap::with_capacity_and_hasher(
                            usize::try_from(x.count).unwrap_or(0),
                            Default::default(),
                        )),
                    }
                }
            })
            .collect();
        let mut duplicates = 0;
        for (i, e) in events.iter().enumerate() {
            let fresh = match &mut streams[e.stream.index()] {
                StreamIndex::Absent => false, // every stream of `events` was sized above
                StreamIndex::Dense { first, positions } => {
                    let slot = &mut positions[(e.seq - *first) as usize];
                    let fresh = *slot == NONE;
                    if fresh {
                        *slot = i;
                    }
                    fresh
                }
                StreamIndex::Sparse(map) => match map.entry(e.seq) {
                    std::collections::hash_map::Entry::Occupied(_) => false,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(i);
                        true
                    }
                },
            };
            if !fresh {
                duplicates += 1;
            }
        }
        (AppIndex { streams }, duplicates)
    }

    /// Position of the first app record of (stream, seq).
    #[inline]
    pub(crate) fn get(&self, stream: Sym, seq: u64) -> Option<usize> {
        match self.streams.get(stream.index())? {
            StreamIndex::Absent => None,
            StreamIndex::Dense { first, positions } => {
                let at = usize::try_from(seq.checked_sub(*first)?).ok()?;
                positions.get(at).copied().filter(|&p| p != NONE)
            }
            StreamIndex::Sparse(map) => map.get(&seq).copied(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coalescope_timeline::{Instant, Strings};

    #[test]
    fn dense_and_sparse_streams_find_first_records() {
        let mut strings = Strings::new();
        let _unused = strings.intern("unused");
        let a = strings.intern("a");
        let b = strings.intern("b");
        let c = strings.intern("never-in-app");
        let ev = |s, q| Event::md(s, q, Instant(0));
        // a: dense 10..=13 with a duplicate of 11; b: sparse (gaps of 10^12).
        let events = vec![
            ev(a, 10),
            ev(b, 1_000_000_000_000),
            ev(a, 11),
            ev(a, 11),
            ev(a, 13),
            ev(b, 2_000_000_000_000),
            ev(b, 1_000_000_000_000),
            ev(b, u64::MAX),
        ];
        let (index, dups) = AppIndex::build(&events);
        assert_eq!(dups, 2);
        assert!(
            matches!(index.streams[a.index()], StreamIndex::Dense { first: 10, ref positions } if positions.len() == 4)
        );
        assert!(matches!(index.streams[b.index()], StreamIndex::Sparse(_)));
        assert_eq!(index.get(a, 10), Some(0));
        assert_eq!(index.get(a, 11), Some(2));
        assert_eq!(index.get(a, 12), None);
        assert_eq!(index.get(a, 13), Some(4));
        assert_eq!(index.get(a, 9), None);
        assert_eq!(index.get(a, 14), None);
        assert_eq!(index.get(a, u64::MAX), None);
        assert_eq!(index.get(b, 1_000_000_000_000), Some(1));
        assert_eq!(index.get(b, 2_000_000_000_000), Some(5));
        assert_eq!(index.get(b, u64::MAX), Some(7));
        assert_eq!(index.get(b, 10), None);
        assert_eq!(index.get(c, 10), None);
    }
}
