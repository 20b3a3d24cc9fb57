//! Classic pcap: a 24-byte global header, then 16-byte record headers each followed by
//! the captured bytes. Microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magics, in
//! either byte order. The header's `thiszone` is ignored, as libpcap and Wireshark do
//! (writers always store 0 and timestamps are UTC).

use std::io::Read;

use pcap_parser::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};

use crate::error::CaptureError;
use crate::reader::{
    ByteOrder, CaptureFormat, CaptureReader, Format, InterfaceInfo, LinkType, PacketMeta,
    MAX_BLOCK_LEN,
};
use crate::timestamp::TsResolution;

const HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

impl<R: Read> CaptureReader<R> {
    pub(crate) fn read_pcap_header(&mut self) -> Result<(), CaptureError> {
        self.buf.clear();
        if self.fill(HEADER_LEN)? < HEADER_LEN {
            return Err(self.truncated(0, "pcap global header".into(), HEADER_LEN as u64));
        }
        let header = match parse_pcap_header(&self.buf) {
            Ok((_, header)) => header,
            Err(_) => {
                return Err(CaptureError::BadPcapHeader {
                    file: self.file.clone(),
                    reason: "pcap-parser does not recognise it".into(),
                })
            }
        };
        if header.version_major != 2 {
            return Err(CaptureError::BadPcapHeader {
                file: self.file.clone(),
                reason: format!(
                    "version {}.{} (only 2.x exists)",
                    header.version_major, header.version_minor
                ),
            });
        }
        let nanosecond = header.is_nanosecond_precision();
        let order = if header.is_bigendian() {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        self.format = Format::Pcap { order, nanosecond };
        self.stats.format = Some(CaptureFormat::Pcap {
            nanosecond,
            big_endian: order == ByteOrder::Big,
        });
        // The upper bits of `network` carry the FCS length (LINKTYPE_LINKTYPE_MASK).
        let link_type = LinkType(header.network.0 as u32 & 0x03ff_ffff);
        self.add_interface(InterfaceInfo {
            section: 0,
            local_id: 0,
            link_type,
            snaplen: header.snaplen,
            resolution: if nanosecond {
                TsResolution::NANOS
            } else {
                TsResolution::MICROS
            },
            offset_secs: 0,
            packets: 0,
            non_monotonic: 0,
        });
        Ok(())
    }

    pub(crate) fn next_pcap_record(&mut self) -> Result<Option<PacketMeta>, CaptureError> {
        loop {
            if let Some(step) = self.pcap_record_step()? {
                return Ok(step);
            }
        }
    }

    /// One record: `Some(packet or end)`, or `None` when the record was skipped.
    fn pcap_record_step(&mut self) -> Result<Option<Option<PacketMeta>>, CaptureError> {
        let Format::Pcap { order, nanosecond } = self.format else {
            return Ok(Some(None));
        };
        let start = self.offset;
        self.buf.clear();
        let got = self.fill(RECORD_HEADER_LEN)?;
        if got == 0 {
            return Ok(Some(None));
        }
        if got < RECORD_HEADER_LEN {
            return Err(self.truncated(
                start,
                "pcap record header".into(),
                RECORD_HEADER_LEN as u64,
            ));
        }
        let caplen = order.u32(&self.buf, 8);
        if caplen > MAX_BLOCK_LEN {
            return Err(CaptureError::RecordTooLarge {
                file: self.file.clone(),
                offset: start,
                caplen,
                limit: MAX_BLOCK_LEN,
            });
        }
        let needed = RECORD_HEADER_LEN + caplen as usize;
        if self.fill(caplen as usize)? < caplen as usize {
            return Err(self.truncated(start, "pcap record".into(), needed as u64));
        }
        let parsed = match order {
            ByteOrder::Little => parse_pcap_frame(&self.buf),
            ByteOrder::Big => parse_pcap_frame_be(&self.buf),
        };
        let Ok((_, record)) = parsed else {
            // Unreachable with a complete buffer, but a framing library's verdict is
            // counted rather than trusted blindly.
            self.stats.malformed_packet_blocks += 1;
            return Ok(None);
        };
        let per_sec: u64 = if nanosecond { 1_000_000_000 } else { 1_000_000 };
        // ts_sec < 2^32 and per_sec <= 10^9, so the units stay below 2^62.
        let units = u64::from(record.ts_sec) * per_sec + u64::from(record.ts_usec);
        let origlen = record.origlen;
        Ok(Some(Some(self.packet(
            0,
            Some(units),
            caplen,
            origlen,
            RECORD_HEADER_LEN,
            start,
        ))))
    }
}
