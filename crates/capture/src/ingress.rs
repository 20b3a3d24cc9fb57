//! The ingress timeline of a capture: one record per UDP datagram of a known stream,
//! keyed by (stream, seq), timestamped by the capture.
//!
//! A stream is the UDP destination `addr:port` (`233.54.12.1:26400`, `[ff02::1]:5000`), or
//! the name it is mapped to. With an empty stream map every destination is a stream; with
//! a non-empty map only mapped destinations are, and other datagrams are counted as
//! unmapped and skipped (the map is then a filter, as a desk's feed list is).

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use coalescope_timeline::{Instant, Strings, Sym};

use crate::error::CaptureError;
use crate::fasthash::FastMap;
use crate::headers::{decode_udp, NotUdp};
use crate::reader::{CaptureReader, CaptureStats, CapturedPacket};
use crate::seq::SeqSource;
use serde::Serialize;

/// How to turn a capture into ingress records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Where each record's sequence number comes from.
    pub seq: SeqSource,
    /// Destination -> stream name. Empty: every destination is a stream named `addr:port`.
    pub stream_map: Vec<(SocketAddr, String)>,
}

impl CaptureConfig {
    /// Every UDP destination is a stream, with the given sequence source (a [`SeqSpec`](crate::SeqSpec)
    /// converts into [`SeqSource::Payload`]).
    pub fn new(seq: impl Into<SeqSource>) -> Self {
        CaptureConfig {
            seq: seq.into(),
            stream_map: Vec::new(),
        }
    }
}

/// Parse a `--stream-map` value `ADDR:PORT=NAME` (`233.54.12.1:26400=itch-a`,
/// `[ff15::1]:5000=feed-b`).
pub fn parse_stream_mapping(text: &str) -> Result<(SocketAddr, String), String> {
    let Some((addr, name)) = text.split_once('=') else {
        return Err(format!(
            "invalid stream mapping '{text}': use ADDR:PORT=NAME"
        ));
    };
    let addr: SocketAddr = addr.trim().parse().map_err(|_| {
        format!("invalid stream mapping '{text}': '{addr}' is not an ADDR:PORT socket address")
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!(
            "invalid stream mapping '{text}': the stream name is empty"
        ));
    }
    Ok((addr, name.to_string()))
}

/// One datagram of the ingress timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressRecord {
    /// The stream (mapped name or destination `addr:port`).
    pub stream: Sym,
    /// Sequence number read from the payload.
    pub seq: u64,
    /// Capture timestamp.
    pub t_ingress: Instant,
    /// Capture interface (file-wide index, see [`CapturedPacket::interface`]).
    pub interface: u32,
}

/// Reader counts plus what header parsing and sequence extraction skipped, for one file
/// ([`crate::CaptureSummary`] adds up many).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngressStats {
    /// Everything the capture reader counted.
    pub capture: CaptureStats,
    /// Ingress records produced.
    pub records: u64,
    /// Packets without a timestamp (simple packet blocks, out of range): skipped.
    pub no_timestamp: u64,
    /// Packets of a link type this crate does not decode: skipped.
    pub unsupported_link_type: u64,
    /// Non-IP packets (ARP, LLDP, ...): skipped.
    pub not_ip: u64,
    /// IP packets that are not UDP: skipped.
    pub not_udp: u64,
    /// Non-first IPv4 fragments and IPv6 fragments: skipped, an anomaly.
    pub fragments: u64,
    /// Packets with broken or truncated headers: skipped, an anomaly.
    pub malformed_headers: u64,
    /// UDP datagrams to a destination missing from a non-empty stream map: skipped.
    pub unmapped_destination: u64,
    /// UDP payloads too short to hold the sequence field: skipped, an anomaly.
    pub short_payload: u64,
}

impl IngressStats {
    /// Packets read but not turned into records (every reason summed).
    pub fn skipped(&self) -> u64 {
        self.no_timestamp
            + self.unsupported_link_type
            + self.not_ip
            + self.not_udp
            + self.fragments
            + self.malformed_headers
            + self.unmapped_destination
            + self.short_payload
    }

    /// Anomalies: the reader's, plus packets without a timestamp, fragments, malformed
    /// headers and short payloads. (Non-IP, non-UDP, unmapped and unsupported-link-type
    /// packets are ordinary traffic, counted but not anomalies.)
    pub fn anomalies(&self) -> u64 {
        // Out-of-range timestamps are in both counters; count them once.
        let timestampless = self
            .no_timestamp
            .saturating_sub(self.capture.timestamp_out_of_range);
        self.capture.anomalies()
            + timestampless
            + self.fragments
            + self.malformed_headers
            + self.short_payload
    }
}

/// Turns packets into records; owns the destination -> stream cache.
pub(crate) struct Extractor<'s> {
    config: &'s CaptureConfig,
    /// Memo of the stream of each destination seen (`None` = unmapped), so the hot loop
    /// formats and interns an address once per destination, not once per packet.
    streams: FastMap<SocketAddr, Option<Sym>>,
    pub(crate) stats: IngressStats,
}

impl<'s> Extractor<'s> {
    pub(crate) fn new(config: &'s CaptureConfig) -> Self {
        Extractor {
            config,
            streams: FastMap::default(),
            stats: IngressStats::default(),
        }
    }

    fn stream_of(&mut self, dst: SocketAddr, strings: &mut Strings) -> Option<Sym> {
        if let Some(&known) = self.streams.get(&dst) {
            return known;
        }
        let sym = if self.config.stream_map.is_empty() {
            Some(strings.intern(&dst.to_string()))
        } else {
            self.config
                .stream_map
                .iter()
                .find(|(addr, _)| *addr == dst)
                .map(|(_, name)| strings.intern(name))
        };
        self.streams.insert(dst, sym);
        sym
    }

    /// The record of `packet`, or `None` with the reason counted; new stream names are
    /// interned in `strings`.
    pub(crate) fn record(
        &mut self,
        packet: &CapturedPacket<'_>,
        strings: &mut Strings,
    ) -> Option<IngressRecord> {
        let Some(t_ingress) = packet.timestamp else {
            self.stats.no_timestamp += 1;
            return None;
        };
        let datagram = match decode_udp(packet.link_type, packet.data) {
            Ok(d) => d,
            Err(reason) => {
                let counter = match reason {
                    NotUdp::UnsupportedLinkType => &mut self.stats.unsupported_link_type,
                    NotUdp::NotIp => &mut self.stats.not_ip,
                    NotUdp::OtherTransport => &mut self.stats.not_udp,
                    NotUdp::Fragment => &mut self.stats.fragments,
                    NotUdp::Malformed => &mut self.stats.malformed_headers,
                };
                *counter += 1;
                return None;
            }
        };
        let Some(stream) = self.stream_of(datagram.dst, strings) else {
            self.stats.unmapped_destination += 1;
            return None;
        };
        let seq = match self.config.seq {
            SeqSource::Payload(spec) => spec.extract(datagram.payload),
            SeqSource::Frame => Some(packet.number),
        };
        let Some(seq) = seq else {
            self.stats.short_payload += 1;
            return None;
        };
        self.stats.records += 1;
        Some(IngressRecord {
            stream,
            seq,
            t_ingress,
            interface: packet.interface,
        })
    }
}

/// Stream the ingress records of an open capture to `on_record`, in file order.
/// Memory: one block plus one entry per distinct UDP destination.
pub fn ingress_from_reader<R: Read>(
    mut reader: CaptureReader<R>,
    config: &CaptureConfig,
    strings: &mut Strings,
    mut on_record: impl FnMut(IngressRecord),
) -> Result<IngressStats, CaptureError> {
    let mut extractor = Extractor::new(config);
    while let Some(packet) = reader.next_packet()? {
        if let Some(record) = extractor.record(&packet, strings) {
            on_record(record);
        }
    }
    let mut stats = extractor.stats;
    stats.capture = reader.into_stats();
    Ok(stats)
}

/// Stream the ingress records of the capture at `path` to `on_record`, in file order.
pub fn for_each_ingress(
    path: &Path,
    config: &CaptureConfig,
    strings: &mut Strings,
    on_record: impl FnMut(IngressRecord),
) -> Result<IngressStats, CaptureError> {
    ingress_from_reader(CaptureReader::open(path)?, config, strings, on_record)
}

/// All ingress records of the capture at `path`, in file order, with the counts.
pub fn capture_to_ingress(
    path: &Path,
    config: &CaptureConfig,
    strings: &mut Strings,
) -> Result<(Vec<IngressRecord>, IngressStats), CaptureError> {
    let mut records = Vec::new();
    let stats = for_each_ingress(path, config, strings, |r| records.push(r))?;
    Ok((records, stats))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_stream_mappings() {
        let (addr, name) = parse_stream_mapping("233.54.12.1:26400=itch-a").unwrap();
        assert_eq!(addr, "233.54.12.1:26400".parse().unwrap());
        assert_eq!(name, "itch-a");
        let (addr, _) = parse_stream_mapping("[ff15::1]:5000=b").unwrap();
        assert_eq!(addr.port(), 5000);
        assert!(parse_stream_mapping("233.54.12.1=x")
            .unwrap_err()
            .contains("'233.54.12.1'"));
        assert!(parse_stream_mapping("233.54.12.1:1")
            .unwrap_err()
            .contains("ADDR:PORT=NAME"));
        assert!(parse_stream_mapping("233.54.12.1:1= ")
            .unwrap_err()
            .contains("empty"));
    }
}
