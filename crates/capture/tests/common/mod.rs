//! Byte-level builders for hand-made captures: every header is written field by field
//! here, independently of the parsers under test.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

/// Ethernet II frame with the given 802.1Q tags (outermost first; the first tag uses TPID
/// 0x88a8 when there are two, as QinQ does).
pub fn ethernet(vlans: &[u16], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01]; // multicast dst MAC
    f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01]); // src MAC
    for (i, vid) in vlans.iter().enumerate() {
        let tpid: u16 = if vlans.len() > 1 && i == 0 {
            0x88a8
        } else {
            0x8100
        };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 header (no options) + payload; `fragment` = (offset in 8-byte units, more frags).
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    fragment: (u16, bool),
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len() as u16;
    let flags_offset = fragment.0 | if fragment.1 { 0x2000 } else { 0 };
    let mut h = vec![0x45, 0x00];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]); // identification
    h.extend_from_slice(&flags_offset.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]); // ttl, protocol, checksum placeholder
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let sum = checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv6 header + payload.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next_header, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// UDP header (checksum 0 = none) + payload.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src_port.to_be_bytes());
    u.extend_from_slice(&dst_port.to_be_bytes());
    u.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// A MoldUDP64 packet header: 10-byte session, 8-byte big-endian sequence, 2-byte message
/// count, then `extra` filler bytes.
pub fn moldudp64(seq: u64, extra: usize) -> Vec<u8> {
    let mut p = b"SESSION001".to_vec();
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    p.extend(std::iter::repeat_n(0xab, extra));
    p
}

/// One pcap record: seconds, fraction (us or ns per the file), bytes, original length.
pub struct Record {
    pub sec: u32,
    pub frac: u32,
    pub data: Vec<u8>,
    pub origlen: u32,
}

impl Record {
    pub fn new(sec: u32, frac: u32, data: Vec<u8>) -> Self {
        let origlen = data.len() as u32;
        Record {
            sec,
            frac,
            data,
            origlen,
        }
    }
}

/// A classic pcap file.
pub fn pcap(nanosecond: bool, big_endian: bool, link_type: u32, records: &[Record]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(magic));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&u32b(0)); // thiszone
    f.extend_from_slice(&u32b(0)); // sigfigs
    f.extend_from_slice(&u32b(65535)); // snaplen
    f.extend_from_slice(&u32b(link_type));
    for r in records {
        f.extend_from_slice(&u32b(r.sec));
        f.extend_from_slice(&u32b(r.frac));
        f.extend_from_slice(&u32b(r.data.len() as u32));
        f.extend_from_slice(&u32b(r.origlen));
        f.extend_from_slice(&r.data);
    }
    f
}

/// pcapng writer for hand-made blocks in one byte order.
pub struct Ng {
    pub big_endian: bool,
    pub bytes: Vec<u8>,
}

impl Ng {
    pub fn new(big_endian: bool) -> Self {
        let mut ng = Ng {
            big_endian,
            bytes: Vec::new(),
        };
        ng.shb();
        ng
    }

    pub fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Append a block of `block_type` with `body` (padded to 4 bytes).
    pub fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let mut body = body.to_vec();
        while body.len() & 3 != 0 {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let (t, l) = (self.u32b(block_type), self.u32b(len));
        self.bytes.extend_from_slice(&t);
        self.bytes.extend_from_slice(&l);
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&l);
        self
    }

    pub fn shb(&mut self) -> &mut Self {
        let mut body = self.u32b(0x1a2b_3c4d).to_vec();
        body.extend_from_slice(&self.u16b(1));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&[0xff; 8]); // section length unknown
        self.block(0x0a0d_0d0a, &body)
    }

    /// IDB with optional raw if_tsresol byte and if_tsoffset.
    pub fn idb(&mut self, link_type: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> &mut Self {
        let mut body = self.u16b(link_type).to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.u32b(0));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16b(9));
            body.extend_from_slice(&self.u16b(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend_from_slice(&self.u16b(14));
            body.extend_from_slice(&self.u16b(8));
            let b = if self.big_endian {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            body.extend_from_slice(&b);
        }
        if tsresol.is_some() || tsoffset.is_some() {
            body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        self.block(1, &body)
    }

    pub fn epb(&mut self, interface: u32, units: u64, data: &[u8]) -> &mut Self {
        let mut body = self.u32b(interface).to_vec();
        body.extend_from_slice(&self.u32b((units >> 32) as u32));
        body.extend_from_slice(&self.u32b(units as u32));
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body)
    }
}
