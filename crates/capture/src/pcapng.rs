//! pcapng framing and the blocks that matter for timestamps and packets.
//!
//! Every block is framed here (type, total length, body, trailing length) so that errors
//! can name the offset and the block type. Section headers, interface descriptions and
//! enhanced packet blocks are decoded with `pcap-parser`; the obsolete packet block and
//! the simple packet block are decoded here. Name resolution, statistics, custom,
//! decryption-secrets, journal and process blocks are counted and skipped; blocks of any
//! other type are counted as unknown (an anomaly) and skipped.

use std::io::Read;

use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, OptionCode,
};

use crate::error::CaptureError;
use crate::reader::{
    ByteOrder, CaptureReader, Format, InterfaceInfo, LinkType, PacketMeta, Section, MAX_BLOCK_LEN,
};
use crate::timestamp::TsResolution;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;
const SJE: u32 = 9;
const DSB: u32 = 0x0a;
const CB: u32 = 0x0000_0bad;
const DCB: u32 = 0x4000_0bad;
const PIB: u32 = 0x8000_0001;

/// Byte-order magic of a section header, as it reads in the section's own order.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// A readable name of a block type for error messages.
pub fn block_name(block_type: u32) -> String {
    let short = match block_type {
        SHB => "SHB",
        IDB => "IDB",
        PB => "PB",
        SPB => "SPB",
        NRB => "NRB",
        ISB => "ISB",
        EPB => "EPB",
        SJE => "SJE",
        DSB => "DSB",
        CB => "CB",
        DCB => "DCB",
        PIB => "PIB",
        _ => "unknown block",
    };
    format!("{short} (block type 0x{block_type:08x})")
}

/// Smallest legal total length of a block type (header, fixed fields, trailer).
fn min_len(block_type: u32) -> u32 {
    match block_type {
        SHB => 28,
        IDB => 20,
        EPB | PB => 32,
        SPB => 16,
        _ => 12,
    }
}

/// What one block turned out to be.
enum Step {
    End,
    Packet(PacketMeta),
    Skipped,
}

impl<R: Read> CaptureReader<R> {
    pub(crate) fn next_pcapng_packet(&mut self) -> Result<Option<PacketMeta>, CaptureError> {
        loop {
            match self.pcapng_block()? {
                Step::End => return Ok(None),
                Step::Packet(meta) => return Ok(Some(meta)),
                Step::Skipped => {}
            }
        }
    }

    fn pcapng_block(&mut self) -> Result<Step, CaptureError> {
        let start = self.offset;
        self.buf.clear();
        let got = self.fill(8)?;
        if got == 0 {
            return Ok(Step::End);
        }
        if got < 8 {
            return Err(self.truncated(start, "block header".into(), 8));
        }
        if self.buf[..4] == SHB.to_be_bytes() {
            self.read_section_header(start)?;
            return Ok(Step::Skipped);
        }
        let Format::PcapNg(Some(section)) = &self.format else {
            // The magic check guarantees the file starts with an SHB, and every SHB
            // either succeeds or ends reading; this is a defensive error, not a panic.
            return Err(CaptureError::BadSectionHeader {
                file: self.file.clone(),
                offset: start,
                reason: "a block precedes any section header".into(),
            });
        };
        let order = section.order;
        let block_type = order.u32(&self.buf, 0);
        let length = order.u32(&self.buf, 4);
        self.read_block_body(start, block_type, length, order)?;
        match block_type {
            IDB => {
                self.read_interface(start)?;
                Ok(Step::Skipped)
            }
            EPB => Ok(self.enhanced_packet(start)),
            SPB => Ok(self.simple_packet(start)),
            PB => Ok(self.obsolete_packet(start)),
            _ => {
                let blocks = &mut self.stats.blocks;
                let counter = match block_type {
                    NRB => &mut blocks.nrb,
                    ISB => &mut blocks.isb,
                    CB => &mut blocks.cb,
                    DCB => &mut blocks.dcb,
                    DSB => &mut blocks.dsb,
                    SJE => &mut blocks.sje,
                    PIB => &mut blocks.pib,
                    _ => &mut blocks.unknown,
                };
                *counter += 1;
                Ok(Step::Skipped)
            }
        }
    }

    /// Check the total length, read the rest of the block, check the trailing length.
    /// On return the buffer holds the whole block.
    fn read_block_body(
        &mut self,
        start: u64,
        block_type: u32,
        length: u32,
        order: ByteOrder,
    ) -> Result<(), CaptureError> {
        let bad = |reason| CaptureError::BadBlockLength {
            file: self.file.clone(),
            offset: start,
            block: block_name(block_type),
            length,
            reason,
        };
        if length < 12 {
            return Err(bad(
                "smaller than the 12 bytes of type, length and trailing length",
            ));
        }
        if length & 3 != 0 {
            return Err(bad("not a multiple of 4"));
        }
        if length < min_len(block_type) {
            return Err(bad("smaller than the fixed fields of this block type"));
        }
        if length > MAX_BLOCK_LEN {
            return Err(bad("larger than the 16 MiB this reader accepts"));
        }
        let rest = length as usize - self.buf.len();
        if self.fill(rest)? < rest {
            return Err(self.truncated(start, block_name(block_type), u64::from(length)));
        }
        let trailing = order.u32(&self.buf, length as usize - 4);
        if trailing != length {
            return Err(CaptureError::LengthMismatch {
                file: self.file.clone(),
                offset: start,
                block: block_name(block_type),
                leading: length,
                trailing,
            });
        }
        Ok(())
    }

    fn read_section_header(&mut self, start: u64) -> Result<(), CaptureError> {
        if self.fill(4)? < 4 {
            return Err(self.truncated(start, block_name(SHB), 12));
        }
        let order = match u32::from_le_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
        {
            BYTE_ORDER_MAGIC => ByteOrder::Little,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => ByteOrder::Big,
            m => {
                return Err(CaptureError::BadSectionHeader {
                    file: self.file.clone(),
                    offset: start,
                    reason: format!(
                        "byte-order magic 0x{:08x} is neither 0x1a2b3c4d nor its byte swap",
                        m.swap_bytes()
                    ),
                })
            }
        };
        let length = order.u32(&self.buf, 4);
        self.read_block_body(start, SHB, length, order)?;
        let parsed = parse_sectionheaderblock(&self.buf);
        let Ok((_, shb)) = parsed else {
            return Err(CaptureError::BadSectionHeader {
                file: self.file.clone(),
                offset: start,
                reason: "its options overrun the block (pcap-parser rejects it)".into(),
            });
        };
        if shb.major_version != 1 {
            return Err(CaptureError::BadSectionHeader {
                file: self.file.clone(),
                offset: start,
                reason: format!(
                    "version {}.{} (only 1.x exists)",
                    shb.major_version, shb.minor_version
                ),
            });
        }
        let index = u32::try_from(self.stats.blocks.shb).unwrap_or(u32::MAX);
        self.stats.blocks.shb += 1;
        self.format = Format::PcapNg(Some(Section {
            order,
            interfaces: Vec::new(),
            index,
        }));
        Ok(())
    }

    fn read_interface(&mut self, start: u64) -> Result<(), CaptureError> {
        let Format::PcapNg(Some(section)) = &self.format else {
            return Ok(());
        };
        let order = section.order;
        let section_index = section.index;
        let local_id = u32::try_from(section.interfaces.len()).unwrap_or(u32::MAX);
        let bad = |reason: String| CaptureError::BadInterface {
            file: self.file.clone(),
            offset: start,
            reason,
        };
        let parsed = match order {
            ByteOrder::Little => parse_interfacedescriptionblock_le(&self.buf),
            ByteOrder::Big => parse_interfacedescriptionblock_be(&self.buf),
        };
        let Ok((_, idb)) = parsed else {
            return Err(bad(
                "its options overrun the block (pcap-parser rejects it)".into(),
            ));
        };
        let mut resolution = None;
        let mut offset_secs = None;
        // pcap-parser decodes if_tsoffset as little-endian whatever the section's byte
        // order, and rejects every power-of-two if_tsresol, so both are decoded here from
        // the raw option values. The first occurrence of an option wins.
        for option in &idb.options {
            let value = option
                .as_bytes()
                .map_err(|_| bad("an option is longer than its value".into()))?;
            if option.code == OptionCode::IfTsresol && resolution.is_none() {
                let Some(&byte) = value.first() else {
                    return Err(bad("if_tsresol option is empty".into()));
                };
                let Some(res) = TsResolution::from_option_byte(byte) else {
                    return Err(bad(format!(
                        "if_tsresol 0x{byte:02x} means more than 2^64 units per second"
                    )));
                };
                resolution = Some(res);
            } else if option.code == OptionCode::IfTsoffset && offset_secs.is_none() {
                if value.len() != 8 {
                    return Err(bad(format!(
                        "if_tsoffset option has {} bytes instead of 8",
                        value.len()
                    )));
                }
                offset_secs = Some(order.i64(value));
            }
        }
        let info = InterfaceInfo {
            section: section_index,
            local_id,
            link_type: LinkType(u32::from(idb.linktype.0 as u16)),
            snaplen: idb.snaplen,
            resolution: resolution.unwrap_or(TsResolution::MICROS),
            offset_secs: offset_secs.unwrap_or(0),
            packets: 0,
            non_monotonic: 0,
        };
        let global = self.add_interface(info);
        if let Format::PcapNg(Some(section)) = &mut self.format {
            section.interfaces.push(global);
        }
        self.stats.blocks.idb += 1;
        Ok(())
    }

    /// The global id of the current section's interface `local`, counting an anomaly when
    /// there is none.
    fn interface(&mut self, local: u32) -> Option<u32> {
        let found = match &self.format {
            Format::PcapNg(Some(section)) => section.interfaces.get(local as usize).copied(),
            _ => None,
        };
        if found.is_none() {
            self.stats.unknown_interface += 1;
        }
        found
    }

    fn section_order(&self) -> ByteOrder {
        match &self.format {
            Format::PcapNg(Some(section)) => section.order,
            _ => ByteOrder::Little,
        }
    }

    fn enhanced_packet(&mut self, start: u64) -> Step {
        self.stats.blocks.epb += 1;
        let order = self.section_order();
        let parsed = match order {
            ByteOrder::Little => parse_enhancedpacketblock_le(&self.buf),
            ByteOrder::Big => parse_enhancedpacketblock_be(&self.buf),
        };
        let Ok((_, epb)) = parsed else {
            // pcap-parser rejects an EPB whose captured length overruns the block.
            self.stats.malformed_packet_blocks += 1;
            return Step::Skipped;
        };
        let (local, caplen, origlen) = (epb.if_id, epb.caplen, epb.origlen);
        let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        let Some(interface) = self.interface(local) else {
            return Step::Skipped;
        };
        Step::Packet(self.packet(interface, Some(units), caplen, origlen, 28, start))
    }

    fn simple_packet(&mut self, start: u64) -> Step {
        self.stats.blocks.spb += 1;
        let order = self.section_order();
        let origlen = order.u32(&self.buf, 8);
        let room = u32::try_from(self.buf.len() - 16).unwrap_or(u32::MAX);
        let Some(interface) = self.interface(0) else {
            return Step::Skipped;
        };
        // An SPB has no captured-length field: it is the original length cut to the
        // interface's snapshot length (0 = none), and never more than the block holds.
        let snaplen = self.stats.interfaces[interface as usize].snaplen;
        let mut caplen = origlen.min(room);
        if snaplen > 0 {
            caplen = caplen.min(snaplen);
        }
        Step::Packet(self.packet(interface, None, caplen, origlen, 12, start))
    }

    /// The obsolete packet block (type 2): pcap-parser has no decoder for it.
    fn obsolete_packet(&mut self, start: u64) -> Step {
        self.stats.blocks.pb += 1;
        let order = self.section_order();
        let local = u32::from(order.u16(&self.buf, 8));
        let ts_high = order.u32(&self.buf, 12);
        let ts_low = order.u32(&self.buf, 16);
        let caplen = order.u32(&self.buf, 20);
        let origlen = order.u32(&self.buf, 24);
        if caplen as usize > self.buf.len() - 32 {
            self.stats.malformed_packet_blocks += 1;
            return Step::Skipped;
        }
        let Some(interface) = self.interface(local) else {
            return Step::Skipped;
        };
        let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
        Step::Packet(self.packet(interface, Some(units), caplen, origlen, 28, start))
    }
}
