//! Streaming capture reader for pcap and pcapng files.
//!
//! The reader owns the framing (so every error can name the byte offset and the block) and
//! holds at most one block or record in memory at a time, in one reused buffer capped at
//! [`MAX_BLOCK_LEN`] bytes, filled from one reused 1 MiB read-ahead buffer (one `read`
//! system call per MiB; no allocation per packet). The file is read, not memory-mapped:
//! mapping needs `unsafe`, which this crate forbids. `pcap-parser` decodes the block contents (section headers,
//! interface descriptions with their options, enhanced packet blocks, pcap headers and
//! records); timestamps are computed here from the raw fields, see the crate docs for the
//! `pcap-parser` behaviours this works around.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use coalescope_timeline::Instant;
use serde::Serialize;

use crate::error::CaptureError;
use crate::timestamp::{to_instant, TsResolution};

/// Largest block (pcapng) or record (pcap) accepted: a bound on this reader's memory and a
/// guard against a corrupt length field asking for gigabytes. Wireshark uses 16 MiB.
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// The reader's read-ahead: one read of this many bytes from the source at a time, so a
/// file costs few system calls and records are copied once, out of this buffer.
const READ_AHEAD: usize = 1 << 20;

/// `BufReader` capacity of [`CaptureReader::open`]: reads of [`READ_AHEAD`] bypass it.
const FILE_BUFFER: usize = 8 * 1024;

/// A link-layer header type (the `LINKTYPE_*` registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order
    /// (`LINKTYPE_NULL`).
    pub const NULL: LinkType = LinkType(0);
    /// OpenBSD loopback: a 4-byte address family in network byte order (`LINKTYPE_LOOP`).
    pub const LOOP: LinkType = LinkType(108);
    /// Ethernet II / 802.3 (`LINKTYPE_ETHERNET`).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IPv4 or IPv6, version from the first nibble (`LINKTYPE_RAW`).
    pub const RAW: LinkType = LinkType(101);
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 (`LINKTYPE_IPV4`).
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 (`LINKTYPE_IPV6`).
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`).
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// Which file format a capture turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap {
        /// Nanosecond magic (0xa1b23c4d) rather than microsecond (0xa1b2c3d4).
        nanosecond: bool,
        /// Written in big-endian byte order.
        big_endian: bool,
    },
    /// pcapng (sections may differ in byte order).
    PcapNg,
}

/// One packet as read from the capture, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapturedPacket<'a> {
    /// Interface index, unique over the whole file: pcapng interfaces are numbered in the
    /// order their IDBs appear across all sections (a section's local id 0 of the second
    /// section is the first id after the first section's interfaces). Always 0 for pcap.
    pub interface: u32,
    /// Capture timestamp; `None` for simple packet blocks (they carry none) and for
    /// timestamps beyond the `i64` nanosecond range (counted in the stats).
    pub timestamp: Option<Instant>,
    /// Bytes captured (the length of `data`).
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub origlen: u32,
    /// Link-layer header type of `data`.
    pub link_type: LinkType,
    /// The captured bytes, starting with the link-layer header.
    pub data: &'a [u8],
    /// Byte offset in the file of the block or record holding this packet.
    pub offset: u64,
    /// 1-based frame number in this file, as tshark's `frame.number` counts: packets,
    /// plus the pcapng records Wireshark also lists as frames (custom blocks, copyable
    /// or not, and systemd journal export blocks), so the numbers of packets have gaps
    /// where those sit. Packet blocks the reader skips ([`CaptureStats::unknown_interface`],
    /// [`CaptureStats::malformed_packet_blocks`]) get no number.
    pub number: u64,
}

/// Blocks seen in a pcapng file, by type (pcap files count nothing here). Counts of
/// several files add up with `+=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockCounts {
    /// Section header blocks (0x0a0d0d0a).
    pub shb: u64,
    /// Interface description blocks (1).
    pub idb: u64,
    /// Enhanced packet blocks (6).
    pub epb: u64,
    /// Simple packet blocks (3).
    pub spb: u64,
    /// Obsolete packet blocks (2).
    pub pb: u64,
    /// Name resolution blocks (4).
    pub nrb: u64,
    /// Interface statistics blocks (5).
    pub isb: u64,
    /// Custom blocks that may be copied (0x00000bad).
    pub cb: u64,
    /// Custom blocks that must not be copied (0x40000bad).
    pub dcb: u64,
    /// Decryption secrets blocks (0x0a).
    pub dsb: u64,
    /// systemd journal export blocks (9).
    pub sje: u64,
    /// Process information blocks (0x80000001).
    pub pib: u64,
    /// Blocks of any other type: skipped, and an anomaly.
    pub unknown: u64,
}

impl std::ops::AddAssign<&BlockCounts> for BlockCounts {
    fn add_assign(&mut self, other: &BlockCounts) {
        self.shb += other.shb;
        self.idb += other.idb;
        self.epb += other.epb;
        self.spb += other.spb;
        self.pb += other.pb;
        self.nrb += other.nrb;
        self.isb += other.isb;
        self.cb += other.cb;
        self.dcb += other.dcb;
        self.dsb += other.dsb;
        self.sje += other.sje;
        self.pib += other.pib;
        self.unknown += other.unknown;
    }
}

/// One capture interface (a pcapng IDB, or the single interface of a pcap file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceInfo {
    /// Index of its section (0 for pcap and for the first pcapng section).
    pub section: u32,
    /// Its id inside its section, as packet blocks refer to it.
    pub local_id: u32,
    /// Link-layer header type of its packets.
    pub link_type: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snaplen: u32,
    /// Timestamp unit (`if_tsresol`; microseconds by default).
    pub resolution: TsResolution,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub offset_secs: i64,
    /// Packets read on this interface.
    pub packets: u64,
    /// Packets whose timestamp is earlier than an earlier packet's on this interface.
    pub non_monotonic: u64,
}

/// What was read and every anomaly counted while reading one capture file (the
/// interface table is the file's own; [`crate::CaptureSummary`] adds up many files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// The file's format; `None` only before the header was read.
    pub format: Option<CaptureFormat>,
    /// pcapng blocks by type.
    pub blocks: BlockCounts,
    /// Every interface, indexed by [`CapturedPacket::interface`].
    pub interfaces: Vec<InterfaceInfo>,
    /// Packets handed out.
    pub packets: u64,
    /// Packets with caplen < origlen (snapshot-truncated).
    pub truncated: u64,
    /// Packets whose timestamp went backwards on their interface (sum over interfaces).
    pub non_monotonic: u64,
    /// Packet blocks naming an interface that has no IDB in their section (skipped).
    pub unknown_interface: u64,
    /// Packet blocks whose fields contradict their length (skipped).
    pub malformed_packet_blocks: u64,
    /// Packets whose timestamp does not fit `i64` nanoseconds (handed out without one).
    pub timestamp_out_of_range: u64,
}

impl CaptureStats {
    /// Unknown pcapng blocks skipped (an anomaly).
    pub fn unknown_blocks(&self) -> u64 {
        self.blocks.unknown
    }

    /// Sum of every anomaly counter.
    pub fn anomalies(&self) -> u64 {
        self.truncated
            + self.non_monotonic
            + self.unknown_interface
            + self.malformed_packet_blocks
            + self.timestamp_out_of_range
            + self.blocks.unknown
    }
}

/// Where the next packet lies in the buffer and what it is; built before borrowing.
pub(crate) struct PacketMeta {
    interface: u32,
    timestamp: Option<Instant>,
    caplen: u32,
    origlen: u32,
    data_start: usize,
    offset: u64,
    number: u64,
}

/// Byte order of the current pcapng section or of the pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub(crate) fn u16(self, bytes: &[u8], at: usize) -> u16 {
        let b = [bytes[at], bytes[at + 1]];
        match self {
            ByteOrder::Little => u16::from_le_bytes(b),
            ByteOrder::Big => u16::from_be_bytes(b),
        }
    }

    pub(crate) fn u32(self, bytes: &[u8], at: usize) -> u32 {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        match self {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        }
    }

    pub(crate) fn i64(self, bytes: &[u8]) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[..8]);
        match self {
            ByteOrder::Little => i64::from_le_bytes(b),
            ByteOrder::Big => i64::from_be_bytes(b),
        }
    }
}

/// State of the current pcapng section.
pub(crate) struct Section {
    pub(crate) order: ByteOrder,
    /// Global interface ids of this section's IDBs, by local id.
    pub(crate) interfaces: Vec<u32>,
    pub(crate) index: u32,
}

pub(crate) enum Format {
    Pcap {
        order: ByteOrder,
        nanosecond: bool,
    },
    /// `None` before the first SHB has been read.
    PcapNg(Option<Section>),
}

/// A streaming reader of one pcap or pcapng capture.
///
/// ```no_run
/// # fn main() -> Result<(), coalescope_capture::CaptureError> {
/// let mut reader = coalescope_capture::CaptureReader::open("feed.pcapng".as_ref())?;
/// while let Some(packet) = reader.next_packet()? {
///     println!("{:?} {} bytes", packet.timestamp, packet.caplen);
/// }
/// println!("{} anomalies", reader.stats().anomalies());
/// # Ok(()) }
/// ```
pub struct CaptureReader<R: Read> {
    src: R,
    /// Read-ahead: bytes `ahead[ahead_pos..ahead_end]` came from `src` but were not used
    /// yet (the magic number starts here). One allocation, reused for the whole file.
    ahead: Vec<u8>,
    ahead_pos: usize,
    ahead_end: usize,
    pub(crate) file: String,
    pub(crate) offset: u64,
    pub(crate) buf: Vec<u8>,
    pub(crate) format: Format,
    pub(crate) stats: CaptureStats,
    /// Latest timestamp per global interface, for the non-monotonic count.
    latest: Vec<Option<Instant>>,
}

impl CaptureReader<BufReader<File>> {
    /// Open a capture file and read its header.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Self::new(
            BufReader::with_capacity(FILE_BUFFER, file),
            path.display().to_string(),
        )
    }
}

impl<R: Read> CaptureReader<R> {
    /// Read the header of a capture from `src`; `file` names it in errors.
    pub fn new(mut src: R, file: impl Into<String>) -> Result<Self, CaptureError> {
        let file = file.into();
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut src, &mut magic).map_err(|source| CaptureError::Io {
            file: file.clone(),
            source,
        })?;
        if got == 0 {
            return Err(CaptureError::Empty { file });
        }
        if got < 4 {
            return Err(CaptureError::Truncated {
                file,
                offset: 0,
                what: "magic number".into(),
                needed: 4,
                available: got as u64,
            });
        }
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::PcapNg(None),
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1] => Format::Pcap {
                order: ByteOrder::Little,
                nanosecond: false,
            },
            [0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap {
                order: ByteOrder::Little,
                nanosecond: true,
            },
            _ => {
                return Err(CaptureError::UnknownFormat {
                    file,
                    magic: u32::from_be_bytes(magic),
                })
            }
        };
        let mut reader = CaptureReader {
            src,
            ahead: magic.to_vec(),
            ahead_pos: 0,
            ahead_end: 4,
            file,
            offset: 0,
            buf: Vec::new(),
            format,
            stats: CaptureStats::default(),
            latest: Vec::new(),
        };
        match reader.format {
            Format::Pcap { .. } => reader.read_pcap_header()?,
            Format::PcapNg(_) => reader.stats.format = Some(CaptureFormat::PcapNg),
        }
        Ok(reader)
    }

    /// The next packet, `None` at the end of the file. After an error the reader is done:
    /// framing is lost, so calling again gives an unspecified error or `None`; but every
    /// packet before the error was handed out and [`Self::stats`] still counts them (a
    /// capture cut short while being written loses only its last block).
    pub fn next_packet(&mut self) -> Result<Option<CapturedPacket<'_>>, CaptureError> {
        let meta = match self.format {
            Format::Pcap { .. } => self.next_pcap_record()?,
            Format::PcapNg(_) => self.next_pcapng_packet()?,
        };
        let Some(meta) = meta else { return Ok(None) };
        let link_type = self.stats.interfaces[meta.interface as usize].link_type;
        let end = meta.data_start + meta.caplen as usize;
        Ok(Some(CapturedPacket {
            interface: meta.interface,
            timestamp: meta.timestamp,
            caplen: meta.caplen,
            origlen: meta.origlen,
            link_type,
            data: &self.buf[meta.data_start..end],
            offset: meta.offset,
            number: meta.number,
        }))
    }

    /// Counts and anomalies so far.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// The counts and anomalies, consuming the reader.
    pub fn into_stats(self) -> CaptureStats {
        self.stats
    }

    /// The name used for this capture in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Append up to `n` bytes from the source to the buffer; returns how many came.
    /// The buffer grows only as bytes arrive, so a corrupt length near [`MAX_BLOCK_LEN`] on
    /// a short file never allocates the declared size.
    pub(crate) fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        let before = self.buf.len();
        let mut result = Ok(());
        while self.buf.len() - before < n {
            if self.ahead_pos == self.ahead_end {
                match self.read_ahead() {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let want = n - (self.buf.len() - before);
            let take = want.min(self.ahead_end - self.ahead_pos);
            self.buf
                .extend_from_slice(&self.ahead[self.ahead_pos..self.ahead_pos + take]);
            self.ahead_pos += take;
        }
        let got = self.buf.len() - before;
        self.offset += got as u64;
        result.map_err(|source| CaptureError::Io {
            file: self.file.clone(),
            source,
        })?;
        Ok(got)
    }

    /// Refill the read-ahead buffer with one read of up to [`READ_AHEAD`] bytes; returns
    /// how many came (0 at the end of the source).
    fn read_ahead(&mut self) -> io::Result<usize> {
        if self.ahead.len() < READ_AHEAD {
            self.ahead.resize(READ_AHEAD, 0);
        }
        loop {
            match self.src.read(&mut self.ahead) {
                Ok(k) => {
                    self.ahead_pos = 0;
                    self.ahead_end = k;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A `Truncated` error for a structure at `offset` of `needed` bytes of which the
    /// buffer holds what the file had.
    pub(crate) fn truncated(&self, offset: u64, what: String, needed: u64) -> CaptureError {
        CaptureError::Truncated {
            file: self.file.clone(),
            offset,
            what,
            needed,
            available: self.buf.len() as u64,
        }
    }

    pub(crate) fn add_interface(&mut self, info: InterfaceInfo) -> u32 {
        // Each interface comes from a block of at least 20 bytes, so a file would need
        // 80 GiB of IDBs to reach 2^32 of them.
        let id = u32::try_from(self.stats.interfaces.len()).unwrap_or(u32::MAX);
        self.stats.interfaces.push(info);
        self.latest.push(None);
        id
    }

    /// Account for one packet about to be handed out and build its metadata.
    pub(crate) fn packet(
        &mut self,
        interface: u32,
        units: Option<u64>,
        caplen: u32,
        origlen: u32,
        data_start: usize,
        offset: u64,
    ) -> PacketMeta {
        let idx = interface as usize;
        let info = &mut self.stats.interfaces[idx];
        let timestamp = units.and_then(|u| {
            let t = to_instant(u, info.resolution, info.offset_secs);
            if t.is_none() {
                self.stats.timestamp_out_of_range += 1;
            }
            t
        });
        info.packets += 1;
        if let Some(t) = timestamp {
            match self.latest[idx] {
                Some(latest) if t < latest => {
                    info.non_monotonic += 1;
                    self.stats.non_monotonic += 1;
                }
                _ => self.latest[idx] = Some(t),
            }
        }
        if caplen < origlen {
            self.stats.truncated += 1;
        }
        self.stats.packets += 1;
        PacketMeta {
            interface,
            timestamp,
            caplen,
            origlen,
            data_start,
            offset,
            number: self.stats.packets
                + self.stats.blocks.cb
                + self.stats.blocks.dcb
                + self.stats.blocks.sje,
        }
    }
}

/// Read until `buf` is full or the source ends; returns the bytes read.
fn read_up_to(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Read every packet of the capture at `path`, calling `on_packet` for each, in file order.
/// Memory is bounded by one block ([`MAX_BLOCK_LEN`]) plus the per-interface table.
pub fn read_capture(
    path: &Path,
    mut on_packet: impl FnMut(&CapturedPacket<'_>),
) -> Result<CaptureStats, CaptureError> {
    let mut reader = CaptureReader::open(path)?;
    while let Some(packet) = reader.next_packet()? {
        on_packet(&packet);
    }
    Ok(reader.into_stats())
}

/// [`read_capture`] on any byte source (a socket, an in-memory buffer); `file` names it
/// in errors.
pub fn read_capture_from<R: Read>(
    src: R,
    file: &str,
    mut on_packet: impl FnMut(&CapturedPacket<'_>),
) -> Result<CaptureStats, CaptureError> {
    let mut reader = CaptureReader::new(src, file)?;
    while let Some(packet) = reader.next_packet()? {
        on_packet(&packet);
    }
    Ok(reader.into_stats())
}
