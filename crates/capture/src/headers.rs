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
    if link == LinkType::ETHERNET {
        if let Some(datagram) = plain_ethernet_ipv4_udp(data) {
            return Ok(datagram);
        }
    }
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

/// The common case decoded directly: untagged Ethernet II, IPv4 without options, not a
/// fragment, UDP, with the IP total length and the UDP length both consistent with each
/// other and within the captured bytes. Anything else (`None`) goes the general
/// `etherparse` way, which gives the same datagram for every packet accepted here
/// (`fast_path_agrees_with_etherparse` checks it on mutated packets).
#[inline]
fn plain_ethernet_ipv4_udp(data: &[u8]) -> Option<UdpDatagram<'_>> {
    const ETH: usize = 14;
    const IP: usize = 20;
    const UDP: usize = 8;
    let header = data.get(..ETH + IP + UDP)?;
    if header[12..14] != [0x08, 0x00] || header[ETH] != 0x45 || header[ETH + 9] != 17 {
        return None;
    }
    // More-fragments flag or a fragment offset: leave to the general path.
    if header[ETH + 6] & 0x3f != 0 || header[ETH + 7] != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([header[ETH + 2], header[ETH + 3]]));
    let udp_len = usize::from(u16::from_be_bytes([header[ETH + 24], header[ETH + 25]]));
    if total < IP + UDP || ETH + total > data.len() || udp_len != total - IP {
        return None;
    }
    let ip = |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
    let port = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let udp_at = ETH + IP;
    Some(UdpDatagram {
        src: SocketAddr::new(IpAddr::from(ip(ETH + 12)), port(udp_at)),
        dst: SocketAddr::new(IpAddr::from(ip(ETH + 16)), port(udp_at + 2)),
        payload: &data[udp_at + UDP..ETH + total],
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A clean Ethernet/IPv4/UDP frame with a `payload`-byte payload and `pad` bytes of
    /// Ethernet padding after the IP packet.
    fn frame(payload: usize, pad: usize) -> Vec<u8> {
        let total = (20 + 8 + payload) as u16;
        let mut f = vec![1, 0, 0x5e, 0, 0, 1, 0, 0x1b, 0x21, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 233, 54, 12, 1]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&26400u16.to_be_bytes());
        f.extend_from_slice(&(total - 20).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend((0..payload).map(|i| i as u8));
        f.extend(std::iter::repeat_n(0xee, pad));
        f
    }

    /// The general path alone.
    fn general(data: &[u8]) -> Result<UdpDatagram<'_>, NotUdp> {
        udp_of(&LaxSlicedPacket::from_ethernet(data).map_err(|_| NotUdp::Malformed)?)
    }

    #[test]
    fn fast_path_decodes_a_clean_frame_by_hand() {
        let f = frame(10, 6);
        let d = plain_ethernet_ipv4_udp(&f).unwrap();
        assert_eq!(d.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(d.dst, "233.54.12.1:26400".parse().unwrap());
        assert_eq!(d.payload, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // padding excluded
        assert_eq!(general(&f), Ok(d));
        // A fragment, a VLAN tag, options, other transports: not taken by the fast path.
        for (at, value) in [(20usize, 0x20u8), (21, 1), (12, 0x81), (14, 0x46), (23, 6)] {
            let mut g = f.clone();
            g[at] = value;
            assert_eq!(plain_ethernet_ipv4_udp(&g), None, "byte {at} = {value:#x}");
        }
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_etherparse(
            payload in 0usize..40,
            pad in 0usize..8,
            edits in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            cut in 0usize..90,
        ) {
            let mut f = frame(payload, pad);
            for (at, value) in edits {
                if at < f.len() {
                    f[at] = value;
                }
            }
            f.truncate(f.len().saturating_sub(cut % 8 * (cut / 8 % 2)));
            if let Some(fast) = plain_ethernet_ipv4_udp(&f) {
                prop_assert_eq!(Ok(fast), general(&f));
            }
            prop_assert_eq!(decode_udp(LinkType::ETHERNET, &f), general(&f));
        }
    }
}
