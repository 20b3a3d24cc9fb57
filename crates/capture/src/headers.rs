//! From link-layer bytes to a UDP datagram: Ethernet II with up to three 802.1Q / QinQ
//! tags, Linux cooked captures (SLL and SLL2), BSD / OpenBSD loopback (NULL, LOOP), raw
//! IP; IPv4 and IPv6; UDP.
//!
//! Parsing is lax on purpose (`etherparse::LaxSlicedPacket`): a snapshot-truncated packet
//! still yields its addresses and whatever payload was captured, so the caller can count a
//! short payload instead of losing the packet as "malformed". Lengths in the IP and UDP
//! headers are honoured when they fit, so Ethernet padding never reaches the payload.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, UdpSlice};

use crate::reader::LinkType;

/// A UDP datagram found in a captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port: the stream key.
    pub dst: SocketAddr,
    /// The UDP payload as captured (shorter than sent if the snapshot was truncated).
    pub payload: &'a [u8],
}

/// Why a captured packet holds no usable UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotUdp {
    /// A link type this crate does not decode.
    UnsupportedLinkType,
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP carrying something other than UDP.
    OtherTransport,
    /// A non-first IPv4 fragment or any IPv6 fragment: no UDP header to read.
    Fragment,
    /// Headers shorter than they must be or inconsistent.
    Malformed,
}

/// Decode the UDP datagram in `data`, a packet of link type `link`.
pub fn decode_udp(link: LinkType, data: &[u8]) -> Result<UdpDatagram<'_>, NotUdp> {
    let packet = match link {
        LinkType::ETHERNET => {
            LaxSlicedPacket::from_ethernet(data).map_err(|_| NotUdp::Malformed)?
        }
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => {
            LaxSlicedPacket::from_ip(data).map_err(|_| NotUdp::Malformed)?
        }
        // SLL: packet type, ARPHRD type, address length, 8 address bytes, protocol.
        LinkType::LINUX_SLL => cooked(data, 16, 14)?,
        // SLL2: protocol, reserved, ifindex, ARPHRD type, packet type, address length,
        // 8 address bytes.
        LinkType::LINUX_SLL2 => cooked(data, 20, 0)?,
        // NULL: the address family in the capturing host's byte order; LOOP: in network
        // byte order.
        LinkType::NULL => loopback(data, false)?,
        LinkType::LOOP => loopback(data, true)?,
        _ => return Err(NotUdp::UnsupportedLinkType),
    };
    udp_of(&packet)
}

fn cooked(
    data: &[u8],
    header_len: usize,
    protocol_at: usize,
) -> Result<LaxSlicedPacket<'_>, NotUdp> {
    if data.len() < header_len {
        return Err(NotUdp::Malformed);
    }
    let protocol = u16::from_be_bytes([data[protocol_at], data[protocol_at + 1]]);
    Ok(LaxSlicedPacket::from_ether_type(
        EtherType(protocol),
        &data[header_len..],
    ))
}

/// Address families of IPv4 and IPv6 on the systems that write loopback captures:
/// `AF_INET` is 2 everywhere; `AF_INET6` is 10 (Linux), 24 (NetBSD, OpenBSD, BSD/OS),
/// 28 (FreeBSD, DragonFly) or 30 (macOS) — the values libpcap's `BSD_AFNUM_*` lists.
fn loopback_family_is_ip(family: u32) -> bool {
    matches!(family, 2 | 10 | 24 | 28 | 30)
}

/// A BSD loopback packet: 4-byte address family, then the IP packet. `network_order`:
/// true for LOOP; false for NULL, whose family is in the byte order of the capturing
/// host, unknown here, so both orders are tried (the families are small numbers, so a
/// value read in the wrong order is at least 2^24 and names nothing).
fn loopback(data: &[u8], network_order: bool) -> Result<LaxSlicedPacket<'_>, NotUdp> {
    let Some(family) = data.get(..4) else {
        return Err(NotUdp::Malformed);
    };
    let family = [family[0], family[1], family[2], family[3]];
    let be = u32::from_be_bytes(family);
    let le = u32::from_le_bytes(family);
    let is_ip = loopback_family_is_ip(be) || (!network_order && loopback_family_is_ip(le));
    if !is_ip {
        return Err(NotUdp::NotIp);
    }
    LaxSlicedPacket::from_ip(&data[4..]).map_err(|_| NotUdp::Malformed)
}

fn udp_of<'a>(packet: &LaxSlicedPacket<'a>) -> Result<UdpDatagram<'a>, NotUdp> {
    let Some(net) = &packet.net else {
        return Err(if packet.stop_err.is_some() {
            NotUdp::Malformed
        } else {
            NotUdp::NotIp
        });
    };
    let (src_ip, dst_ip, payload, first_fragment) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let header = v4.header();
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                v4.payload(),
                header.fragments_offset().value() == 0,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let header = v6.header();
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                v6.payload(),
                // The fragment offset sits in an extension header that the lax slicer
                // stops at; IPv6 fragments of market data are not a thing in practice.
                false,
            )
        }
        LaxNetSlice::Arp(_) => return Err(NotUdp::NotIp),
    };
    // A first IPv4 fragment still starts with the UDP header, and the sequence number is
    // at the start of the payload, so it is used; later fragments have no UDP header.
    if payload.fragmented && !first_fragment {
        return Err(NotUdp::Fragment);
    }
    if payload.ip_number != IpNumber::UDP {
        return Err(NotUdp::OtherTransport);
    }
    let udp = UdpSlice::from_slice_lax(payload.payload).map_err(|_| NotUdp::Malformed)?;
    Ok(UdpDatagram {
        src: SocketAddr::new(src_ip, udp.source_port()),
        dst: SocketAddr::new(dst_ip, udp.destination_port()),
        payload: udp.payload(),
    })
}
