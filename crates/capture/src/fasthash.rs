//! A small multiplicative hasher for the join's (stream, seq) keys.
//!
//! Keys are integers (interned stream symbols and sequence numbers), so SipHash's flooding
//! resistance buys little and costs most of the per-packet budget of the join. The same
//! FxHash-style mixing as `coalescope_metrics::fasthash` (the capture crate does not
//! depend on metrics), finished with an avalanche step because these keys come from
//! untrusted files (see [`FastHasher::finish`]). The hash is deterministic: a file crafted
//! against this exact function can still collide; the dense per-stream index
//! (`index.rs`) keeps ordinary feeds off the map entirely.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// FxHash-style hasher: rotate, xor, multiply per word.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    /// The state through MurmurHash3's 64-bit finalizer: every input bit reaches the low
    /// bits hashbrown picks buckets with. Without it a key `v` hashes to `v * K`, so keys
    /// that differ only above bit 32 (sequence numbers `i << 32` in a crafted capture or
    /// app log) would all share one bucket and make every insert a linear probe.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn structured_keys_spread_over_the_low_bits() {
        // 65,536 sequence numbers that differ only above bit 32: a multiplicative hash
        // gives them all the same low 16 bits (one bucket); the finalizer must spread them
        // about as a random function would (expected distinct values 65,536 (1 - 1/e) ≈
        // 41,427; demand 40,000).
        let b = BuildHasherDefault::<FastHasher>::default();
        let mut low: HashSet<u64> = HashSet::new();
        for i in 0u64..65_536 {
            low.insert(b.hash_one(i << 32) & 0xffff);
        }
        assert!(low.len() > 40_000, "{}", low.len());
        // And a map of them is built without pathological probing (it would take minutes).
        let mut m: FastMap<u64, u64> = FastMap::default();
        for i in 0u64..200_000 {
            m.insert(i << 40, i);
        }
        assert_eq!(m.len(), 200_000);
        assert_eq!(m.get(&(123u64 << 40)), Some(&123));
    }
}
