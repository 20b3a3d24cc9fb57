//! One summary over many capture files: what was read, why packets were skipped, which
//! anomalies were seen, and how the join with the application log went.
//!
//! [`CaptureSummary`] is what `coalescope analyze --pcap` prints as its `capture` object
//! and `coalescope join` as its report. It adds up with `+=`: one [`IngressStats`] per
//! file, or another summary (partials of a parallel run).
//!
//! Every packet the reader hands out ends either as an ingress record or skipped for
//! exactly one reason, so `packets == udp_records + skipped`, and `skipped` is the sum of
//! the per-cause skip counts ([`CaptureSummary::SKIP_CAUSES`]).

use std::fmt::Write as _;
use std::ops::AddAssign;

use serde::Serialize;

use crate::ingress::IngressStats;
use crate::join::JoinReport;

/// Counts of reading, decoding and joining one or more capture files. Field names are
/// the keys of the `capture` object of `analyze --json` and of `join --json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureSummary {
    /// Capture files read.
    pub files: u64,
    /// Packets handed out by the reader (records or skipped).
    pub packets: u64,
    /// Ingress records: UDP datagrams of a known stream with a sequence number.
    pub udp_records: u64,
    /// Packets not turned into records: the sum of the skip causes below.
    pub skipped: u64,
    /// Every anomaly summed (see [`IngressStats::anomalies`]); `analyze` reports it as
    /// `anomalies.capture_anomalies`.
    pub anomalies: u64,
    /// Anomaly: packets captured shorter than on the wire (snapshot length).
    pub truncated_packets: u64,
    /// Anomaly: packets whose timestamp went backwards on their interface.
    pub non_monotonic_timestamps: u64,
    /// Anomaly: packet blocks naming an interface without a description (dropped by
    /// the reader, not in `packets`).
    pub unknown_interface: u64,
    /// Anomaly: packet blocks whose fields contradict their length (dropped by the
    /// reader, not in `packets`).
    pub malformed_packet_blocks: u64,
    /// Anomaly: timestamps beyond the `i64` nanosecond range (also in `no_timestamp`).
    pub timestamp_out_of_range: u64,
    /// Anomaly: pcapng blocks of an unknown type (skipped by the reader).
    pub unknown_blocks: u64,
    /// Skip: packets without a usable timestamp (simple packet blocks carry none).
    pub no_timestamp: u64,
    /// Skip: packets of a link type that is not decoded.
    pub unsupported_link_type: u64,
    /// Skip: packets that are not UDP (including those that are not IP at all).
    pub not_udp: u64,
    /// Of `not_udp`, the packets that are not IP at all (ARP, LLDP, ...).
    pub not_ip: u64,
    /// Skip, anomaly: IP fragments after the first (no UDP header to read).
    pub ip_fragments: u64,
    /// Skip, anomaly: broken or truncated link, IP or UDP headers.
    pub malformed_headers: u64,
    /// Skip: UDP datagrams to a destination missing from a non-empty stream map.
    pub unmapped_destination: u64,
    /// Skip, anomaly: UDP payloads too short to hold the sequence field.
    pub short_payload: u64,
    /// The join with the application log (all zero on the app side without one).
    #[serde(flatten)]
    pub join: JoinReport,
}

impl CaptureSummary {
    /// The skip causes: (JSON name, human description). Their counts sum to `skipped`.
    pub const SKIP_CAUSES: [(&'static str, &'static str); 7] = [
        ("no_timestamp", "without a timestamp"),
        ("unsupported_link_type", "of an unsupported link type"),
        ("not_udp", "not UDP"),
        ("ip_fragments", "non-first IP fragments"),
        ("malformed_headers", "with malformed headers"),
        (
            "unmapped_destination",
            "to a destination missing from the stream map",
        ),
        (
            "short_payload",
            "with a UDP payload too short for the sequence field",
        ),
    ];

    /// Every per-cause count by its JSON name: the skips of [`Self::SKIP_CAUSES`], then
    /// `not_ip` and the reader's anomalies.
    pub fn causes(&self) -> [(&'static str, u64); 13] {
        [
            ("no_timestamp", self.no_timestamp),
            ("unsupported_link_type", self.unsupported_link_type),
            ("not_udp", self.not_udp),
            ("ip_fragments", self.ip_fragments),
            ("malformed_headers", self.malformed_headers),
            ("unmapped_destination", self.unmapped_destination),
            ("short_payload", self.short_payload),
            ("not_ip", self.not_ip),
            ("truncated_packets", self.truncated_packets),
            ("non_monotonic_timestamps", self.non_monotonic_timestamps),
            ("unknown_interface", self.unknown_interface),
            ("malformed_packet_blocks", self.malformed_packet_blocks),
            ("unknown_blocks", self.unknown_blocks),
        ]
    }

    /// One sentence with the counts, naming every non-zero skip cause, e.g. `1 capture
    /// file, 51 packets read, 0 usable UDP records; skipped: 51 not UDP (51 of them not
    /// IP)`. This is what explains a capture that gave no events.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} capture file{}, {} packet{} read, {} usable UDP record{}",
            self.files,
            plural(self.files),
            self.packets,
            plural(self.packets),
            self.udp_records,
            plural(self.udp_records),
        );
        let causes = self.causes();
        let skips: Vec<String> = Self::SKIP_CAUSES
            .iter()
            .zip(&causes)
            .filter(|(_, (_, n))| *n > 0)
            .map(|((name, text), (_, n))| {
                if *name == "not_udp" && self.not_ip > 0 {
                    format!("{n} {text} ({} of them not IP)", self.not_ip)
                } else {
                    format!("{n} {text}")
                }
            })
            .collect();
        if !skips.is_empty() {
            let _ = write!(out, "; skipped: {}", skips.join(", "));
        }
        let dropped = self.unknown_interface + self.malformed_packet_blocks;
        if dropped > 0 {
            let _ = write!(
                out,
                "; {dropped} packet block{} dropped by the reader ({} on an unknown \
                 interface, {} malformed)",
                plural(dropped),
                self.unknown_interface,
                self.malformed_packet_blocks
            );
        }
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl AddAssign<&IngressStats> for CaptureSummary {
    /// Add one more file.
    fn add_assign(&mut self, s: &IngressStats) {
        let c = &s.capture;
        self.files += 1;
        self.packets += c.packets;
        self.udp_records += s.records;
        self.skipped += s.skipped();
        self.anomalies += s.anomalies();
        self.truncated_packets += c.truncated;
        self.non_monotonic_timestamps += c.non_monotonic;
        self.unknown_interface += c.unknown_interface;
        self.malformed_packet_blocks += c.malformed_packet_blocks;
        self.timestamp_out_of_range += c.timestamp_out_of_range;
        self.unknown_blocks += c.unknown_blocks();
        self.no_timestamp += s.no_timestamp;
        self.unsupported_link_type += s.unsupported_link_type;
        self.not_udp += s.not_ip + s.not_udp;
        self.not_ip += s.not_ip;
        self.ip_fragments += s.fragments;
        self.malformed_headers += s.malformed_headers;
        self.unmapped_destination += s.unmapped_destination;
        self.short_payload += s.short_payload;
    }
}

impl AddAssign<&CaptureSummary> for CaptureSummary {
    /// Merge the summary of other files.
    fn add_assign(&mut self, o: &CaptureSummary) {
        self.files += o.files;
        self.packets += o.packets;
        self.udp_records += o.udp_records;
        self.skipped += o.skipped;
        self.anomalies += o.anomalies;
        self.truncated_packets += o.truncated_packets;
        self.non_monotonic_timestamps += o.non_monotonic_timestamps;
        self.unknown_interface += o.unknown_interface;
        self.malformed_packet_blocks += o.malformed_packet_blocks;
        self.timestamp_out_of_range += o.timestamp_out_of_range;
        self.unknown_blocks += o.unknown_blocks;
        self.no_timestamp += o.no_timestamp;
        self.unsupported_link_type += o.unsupported_link_type;
        self.not_udp += o.not_udp;
        self.not_ip += o.not_ip;
        self.ip_fragments += o.ip_fragments;
        self.malformed_headers += o.malformed_headers;
        self.unmapped_destination += o.unmapped_destination;
        self.short_payload += o.short_payload;
        self.join += &o.join;
    }
}

impl AddAssign for CaptureSummary {
    fn add_assign(&mut self, other: CaptureSummary) {
        *self += &other;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::reader::CaptureStats;

    fn file(k: u64) -> IngressStats {
        IngressStats {
            capture: CaptureStats {
                packets: 100 * k,
                truncated: k,
                non_monotonic: 2 * k,
                unknown_interface: 3 * k,
                malformed_packet_blocks: 4 * k,
                timestamp_out_of_range: k,
                ..CaptureStats::default()
            },
            records: 60 * k,
            no_timestamp: 2 * k,
            unsupported_link_type: 3 * k,
            not_ip: 5 * k,
            not_udp: 7 * k,
            fragments: 11 * k,
            malformed_headers: 13 * k,
            unmapped_destination: 1,
            short_payload: k,
        }
    }

    #[test]
    fn adds_files_and_merges_partials() {
        let mut a = CaptureSummary::default();
        a += &file(1);
        let mut b = CaptureSummary::default();
        b += &file(2);
        b.join.matched = 5;
        let mut all = a.clone();
        all += b;
        assert_eq!(all.files, 2);
        assert_eq!(all.packets, 300);
        assert_eq!(all.udp_records, 180);
        // Per file: 2k + 3k + 12k + 11k + 13k + 1 + k = 42k + 1.
        assert_eq!(all.skipped, 42 + 1 + 84 + 1);
        assert_eq!(all.not_udp, 36);
        assert_eq!(all.not_ip, 15);
        // Per file: reader 1+2+3+4+1 = 11k, timestampless 2k - k, fragments 11k,
        // malformed 13k, short k: 37k.
        assert_eq!(all.anomalies, 37 * 3);
        assert_eq!(all.join.matched, 5);
        let skips: u64 = CaptureSummary::SKIP_CAUSES
            .iter()
            .zip(all.causes())
            .map(|(_, (_, n))| n)
            .sum();
        assert_eq!(skips, all.skipped);
    }

    #[test]
    fn cause_names_are_the_serialized_keys() {
        let mut s = CaptureSummary::default();
        s += &file(3);
        let json = serde_json::to_value(&s).unwrap();
        for (name, n) in s.causes() {
            assert_eq!(json[name], n, "{name}");
        }
        for ((skip, _), (name, _)) in CaptureSummary::SKIP_CAUSES.iter().zip(s.causes()) {
            assert_eq!(*skip, name);
        }
        for key in [
            "files",
            "packets",
            "udp_records",
            "skipped",
            "matched",
            "app_records",
            "undelivered",
            "app_without_capture",
            "negative_delay",
        ] {
            assert!(json[key].is_u64(), "{key}");
        }
    }

    #[test]
    fn describes_a_capture_without_udp() {
        let mut s = CaptureSummary::default();
        s += &IngressStats {
            capture: CaptureStats {
                packets: 51,
                ..CaptureStats::default()
            },
            not_ip: 3,
            not_udp: 48,
            ..IngressStats::default()
        };
        assert_eq!(
            s.describe(),
            "1 capture file, 51 packets read, 0 usable UDP records; skipped: 51 not UDP \
             (3 of them not IP)"
        );
    }
}
