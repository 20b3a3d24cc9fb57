//! The one error type of this crate: every variant names the file and, for format
//! problems, the byte offset and the block (or record) where reading stopped.

use std::io;

/// Why a capture could not be read to its end.
///
/// Problems that only affect one packet (a packet on an unknown interface, a malformed
/// packet block, a truncated snapshot) are not errors: they are counted in
/// [`crate::CaptureStats`] and reading goes on. Errors are the problems after which the
/// rest of the file cannot be trusted (framing lost, timestamps of an interface unknown).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The operating system refused to open or read the file.
    #[error("{file}: cannot read the capture: {source}")]
    Io {
        /// The capture file.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file has no bytes at all.
    #[error("{file}: the file is empty (zero bytes), not a pcap or pcapng capture")]
    Empty {
        /// The capture file.
        file: String,
    },
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error(
        "{file}: unknown capture format: magic number 0x{magic:08x} at offset 0 is neither \
         pcap (0xa1b2c3d4 / 0xa1b23c4d, either byte order) nor pcapng (0x0a0d0d0a)"
    )]
    UnknownFormat {
        /// The capture file.
        file: String,
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// The file ends in the middle of a header, block or record.
    #[error(
        "{file}: truncated {what} at offset {offset}: it needs {needed} bytes but the file \
         ends after {available}"
    )]
    Truncated {
        /// The capture file.
        file: String,
        /// Byte offset where the incomplete structure starts.
        offset: u64,
        /// What was being read (`pcap global header`, `EPB (block type 0x00000006)`, ...).
        what: String,
        /// Bytes the structure declares or requires.
        needed: u64,
        /// Bytes that were left in the file.
        available: u64,
    },
    /// A pcapng block's total length is impossible.
    #[error("{file}: bad block length {length} for {block} at offset {offset}: {reason}")]
    BadBlockLength {
        /// The capture file.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// The block's type, named.
        block: String,
        /// The declared total length.
        length: u32,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The leading and trailing total-length fields of a pcapng block differ.
    #[error(
        "{file}: {block} at offset {offset} declares total length {leading} at its start \
         but {trailing} at its end"
    )]
    LengthMismatch {
        /// The capture file.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// The block's type, named.
        block: String,
        /// Total length at the start of the block.
        leading: u32,
        /// Total length at the end of the block.
        trailing: u32,
    },
    /// A pcapng section header block is unusable (byte-order magic, version).
    #[error("{file}: bad section header block at offset {offset}: {reason}")]
    BadSectionHeader {
        /// The capture file.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An interface description block is unusable, so its packets' timestamps would be
    /// wrong (malformed block, bad `if_tsresol`, bad `if_tsoffset`).
    #[error("{file}: bad interface description block at offset {offset}: {reason}")]
    BadInterface {
        /// The capture file.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The pcap global header is unusable.
    #[error("{file}: bad pcap global header at offset 0: {reason}")]
    BadPcapHeader {
        /// The capture file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A pcap record declares more captured bytes than this reader accepts.
    #[error(
        "{file}: pcap record at offset {offset} declares a captured length of {caplen} \
         bytes, more than the {limit}-byte limit (corrupt record header?)"
    )]
    RecordTooLarge {
        /// The capture file.
        file: String,
        /// Byte offset of the record header.
        offset: u64,
        /// The declared captured length.
        caplen: u32,
        /// The largest accepted length.
        limit: u32,
    },
    /// Frame numbers restart at 1 in every file, so several files cannot share one
    /// join with sequence numbers taken from them.
    #[error(
        "sequence numbers from frame numbers need exactly one capture file, got {files}: \
         frame numbers restart at 1 in every file, so a stream in two files would repeat \
         them; merge the files first (mergecap -w merged.pcapng FILE...)"
    )]
    FrameNumbersAcrossFiles {
        /// Files given.
        files: usize,
    },
    /// Reading the application log or writing the joined events failed.
    #[error(transparent)]
    Timeline(#[from] coalescope_timeline::TimelineError),
}
