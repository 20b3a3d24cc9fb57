//! Time to the first byte on the wire: store-and-forward versus cut-through transmit.
//!
//! Model: the frame of N bytes crosses PCIe after a fixed latency L at `G_p` Gb/s (bits per
//! ns), in chunks of c bytes (the DMA read completion / PIO write granularity); the wire
//! serialises at `G_l` Gb/s.
//! * Store-and-forward waits for the whole frame: first byte at `L + 8N / G_p`, last byte
//!   leaves at that plus `8N / G_l`.
//! * Cut-through starts serialising once the first chunk is in, but must never run out of
//!   data mid-frame (an underrun would corrupt the frame on the wire). Chunk i (1-based,
//!   `n = ceil(N / c)` chunks) is complete at `a_i = L + 8 min(i c, N) / G_p` and starts on
//!   the wire at `s + 8 (i - 1) c / G_l`, so the earliest safe start is
//!   `s = max_i (a_i - 8 (i - 1) c / G_l)`. When PCIe is faster than the link the maximum
//!   is at i = 1 (`s = L + 8c / G_p`); when it is slower the last chunk binds and
//!   cut-through gains less.

use crate::error::{self, ModelError};
use serde::Serialize;

/// Frame size, bus and link speeds.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct CutThrough {
    /// Frame length N in bytes, 1..=65535.
    pub frame_bytes: u32,
    /// PCIe (or host-to-NIC) throughput in Gb/s; > 0.
    pub pcie_gbps: f64,
    /// Wire speed in Gb/s; > 0.
    pub link_gbps: f64,
    /// Bytes that must arrive before the NIC may start (the first chunk), 1..=N (larger
    /// values are clamped to N).
    pub chunk_bytes: u32,
    /// Fixed PCIe latency before the first byte arrives, in ns; >= 0.
    pub pcie_latency_ns: f64,
}

/// First- and last-byte times of both modes, in ns from the start of the transfer.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct CutThroughTiming {
    /// Store-and-forward: first byte on the wire.
    pub store_forward_first_byte_ns: f64,
    /// Store-and-forward: last byte on the wire.
    pub store_forward_last_byte_ns: f64,
    /// Cut-through: first byte on the wire.
    pub cut_through_first_byte_ns: f64,
    /// Cut-through: last byte on the wire.
    pub cut_through_last_byte_ns: f64,
    /// Store-and-forward first byte / cut-through first byte.
    pub first_byte_speedup: f64,
    /// True when the start was pushed back to avoid an underrun (PCIe slower than link).
    pub underrun_limited: bool,
}

impl CutThrough {
    /// Both timings; see the module docs for the formulas.
    pub fn timing(&self) -> Result<CutThroughTiming, ModelError> {
        if self.frame_bytes == 0 || self.frame_bytes > 65_535 {
            return Err(ModelError::OutOfRange {
                field: "frame_bytes",
                value: self.frame_bytes.to_string(),
                accepted: "1..=65535 bytes",
            });
        }
        if self.chunk_bytes == 0 {
            return Err(ModelError::OutOfRange {
                field: "chunk_bytes",
                value: "0".into(),
                accepted: "1 or more bytes",
            });
        }
        let pcie = error::positive("pcie_gbps", self.pcie_gbps)?;
        let link = error::positive("link_gbps", self.link_gbps)?;
        let latency = error::non_negative("pcie_latency_ns", self.pcie_latency_ns)?;
        let n = f64::from(self.frame_bytes);
        let c = self.chunk_bytes.min(self.frame_bytes);
        let chunks = self.frame_bytes.div_ceil(c);
        let serialise = 8.0 * n / link;
        let saf_first = latency + 8.0 * n / pcie;
        let first_chunk_start = latency + 8.0 * f64::from(c) / pcie;
        let mut start = first_chunk_start;
        for i in 2..=chunks {
            let arrived = latency + 8.0 * f64::from((i * c).min(self.frame_bytes)) / pcie;
            start = start.max(arrived - 8.0 * f64::from((i - 1) * c) / link);
        }
        Ok(CutThroughTiming {
            store_forward_first_byte_ns: saf_first,
            store_forward_last_byte_ns: saf_first + serialise,
            cut_through_first_byte_ns: start,
            cut_through_last_byte_ns: start + serialise,
            first_byte_speedup: saf_first / start,
            underrun_limited: start > first_chunk_start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_pcie_hand_computed() {
        // 1500 B, PCIe 64 Gb/s, 10G link, 64 B chunk, L = 100 ns:
        // SAF first byte 100 + 12000/64 = 287.5; CT 100 + 512/64 = 108; wire time 1200.
        let t = CutThrough {
            frame_bytes: 1500,
            pcie_gbps: 64.0,
            link_gbps: 10.0,
            chunk_bytes: 64,
            pcie_latency_ns: 100.0,
        }
        .timing()
        .unwrap();
        assert_eq!(t.store_forward_first_byte_ns, 287.5);
        assert_eq!(t.store_forward_last_byte_ns, 1487.5);
        assert_eq!(t.cut_through_first_byte_ns, 108.0);
        assert_eq!(t.cut_through_last_byte_ns, 1308.0);
        assert!(!t.underrun_limited);
    }

    #[test]
    fn slow_pcie_is_underrun_limited() {
        // 1000 B, PCIe 8 Gb/s, link 10 Gb/s, 100 B chunks, L = 0. Chunk i arrives at
        // 100 i ns and starts on the wire at s + 80 (i-1); the last chunk (i = 10) binds:
        // s = 1000 - 720 = 280 ns. SAF first byte 1000 ns.
        let t = CutThrough {
            frame_bytes: 1000,
            pcie_gbps: 8.0,
            link_gbps: 10.0,
            chunk_bytes: 100,
            pcie_latency_ns: 0.0,
        }
        .timing()
        .unwrap();
        assert!((t.cut_through_first_byte_ns - 280.0).abs() < 1e-9);
        assert_eq!(t.store_forward_first_byte_ns, 1000.0);
        assert!(t.underrun_limited);
        // The last byte leaves exactly when it arrives plus its own wire time: 1000 + 80.
        assert!((t.cut_through_last_byte_ns - 1080.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_zero_frame() {
        let err = CutThrough {
            frame_bytes: 0,
            pcie_gbps: 8.0,
            link_gbps: 10.0,
            chunk_bytes: 64,
            pcie_latency_ns: 0.0,
        }
        .timing()
        .unwrap_err();
        assert!(err.to_string().contains("frame_bytes"));
    }
}
