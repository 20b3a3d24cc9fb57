//! ethtool generic netlink: byte-level encoding of COALESCE_GET / COALESCE_SET requests,
//! bounds-checked decoding of replies, and the transport (a `neli` router for the
//! socket, sequence numbers, ACKs and the "ethtool" family id).
//!
//! No crate implements COALESCE_SET, so the genetlink payload (the 4-byte genlmsghdr and
//! the attributes) is encoded here and handed to neli as an opaque buffer; neli adds the
//! 16-byte nlmsghdr. Attribute layout (linux/netlink.h): `u16 nla_len` (header + payload,
//! unpadded), `u16 nla_type` (bit 15 = NLA_F_NESTED), payload, zero padding to 4 bytes.

use super::params::{Coalesce, Param, ETHTOOL_A_COALESCE_HEADER};
use super::params::{ETHTOOL_A_COALESCE_RX_PROFILE, ETHTOOL_A_COALESCE_TX_PROFILE};
use serde::Serialize;

/// `ETHTOOL_GENL_NAME`.
pub const FAMILY_NAME: &str = "ethtool";
/// `ETHTOOL_GENL_VERSION`.
pub const FAMILY_VERSION: u8 = 1;
/// `ETHTOOL_MSG_COALESCE_GET` (user to kernel).
pub const MSG_COALESCE_GET: u8 = 19;
/// `ETHTOOL_MSG_COALESCE_SET` (user to kernel).
pub const MSG_COALESCE_SET: u8 = 20;
/// `ETHTOOL_MSG_COALESCE_GET_REPLY` (kernel to user; the kernel numbering differs).
pub const MSG_COALESCE_GET_REPLY: u8 = 20;
/// `ETHTOOL_MSG_COALESCE_NTF` (kernel to user).
pub const MSG_COALESCE_NTF: u8 = 21;
/// `ETHTOOL_A_HEADER_DEV_INDEX` (u32).
pub const HEADER_DEV_INDEX: u16 = 1;
/// `ETHTOOL_A_HEADER_DEV_NAME` (NUL-terminated string).
pub const HEADER_DEV_NAME: u16 = 2;
/// `ETHTOOL_A_HEADER_FLAGS` (u32).
pub const HEADER_FLAGS: u16 = 3;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// Size of `struct nlmsghdr`, which neli prepends: extack offsets count from its start.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// `IFNAMSIZ - 1`: the longest interface name.
pub const MAX_IFNAME: usize = 15;

/// A reply that does not parse, with the byte offset (from the genlmsghdr) of the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ethtool netlink reply at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Byte offset from the start of the genetlink payload.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

fn derr(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        offset,
        reason: reason.into(),
    }
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Append one attribute (header, payload, padding).
pub fn put_attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    // Payloads here are at most a 16-byte name or a nest of them; u16 cannot overflow.
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

/// Append the nested `ETHTOOL_A_COALESCE_HEADER` naming the device.
pub fn put_header(buf: &mut Vec<u8>, dev: &str) {
    let mut name = dev.as_bytes().to_vec();
    name.push(0);
    let mut inner = Vec::new();
    put_attr(&mut inner, HEADER_DEV_NAME, &name);
    put_attr(buf, ETHTOOL_A_COALESCE_HEADER | NLA_F_NESTED, &inner);
}

fn genl_header(cmd: u8) -> Vec<u8> {
    vec![cmd, FAMILY_VERSION, 0, 0]
}

/// Check an interface name before it goes into a request.
pub fn check_ifname(dev: &str) -> Result<(), String> {
    if dev.is_empty()
        || dev.len() > MAX_IFNAME
        || dev.contains(['/', '\0'])
        || dev.contains(char::is_whitespace)
    {
        return Err(format!(
            "{dev:?} is not a valid interface name (1-15 bytes, no '/', blanks or NUL)"
        ));
    }
    Ok(())
}

/// The genetlink payload of COALESCE_GET for `dev`.
pub fn encode_get(dev: &str) -> Vec<u8> {
    let mut buf = genl_header(MSG_COALESCE_GET);
    put_header(&mut buf, dev);
    buf
}

/// The genetlink payload of COALESCE_SET for `dev` with the parameters in `values`, and
/// for each parameter the byte offset of its attribute in that payload (to name the
/// attribute an extack offset points at).
pub fn encode_set(dev: &str, values: &Coalesce) -> (Vec<u8>, Vec<(usize, Param)>) {
    let mut buf = genl_header(MSG_COALESCE_SET);
    put_header(&mut buf, dev);
    let mut offsets = Vec::new();
    for (p, v) in values.iter() {
        offsets.push((buf.len(), p));
        if p.is_bool() {
            put_attr(&mut buf, p.attr(), &[u8::from(v != 0)]);
        } else {
            put_attr(&mut buf, p.attr(), &v.to_ne_bytes());
        }
    }
    (buf, offsets)
}

/// One attribute seen in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    /// Type without the NESTED / NET_BYTEORDER flags.
    pub ty: u16,
    /// Whether NLA_F_NESTED was set.
    pub nested: bool,
    /// The payload (without padding).
    pub payload: &'a [u8],
    /// Offset of the attribute header within the parsed buffer plus `base`.
    pub offset: usize,
}

/// Split `buf` into attributes; `base` is added to offsets in errors and results.
pub fn parse_attrs(buf: &[u8], base: usize) -> Result<Vec<RawAttr<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let at = base + pos;
        let head = buf.get(pos..pos + 4).ok_or_else(|| {
            derr(
                at,
                format!(
                    "{} trailing bytes are too short for an attribute header",
                    buf.len() - pos
                ),
            )
        })?;
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let ty = u16::from_ne_bytes([head[2], head[3]]);
        if len < 4 {
            return Err(derr(
                at,
                format!("attribute length {len} is below the 4-byte header"),
            ));
        }
        let payload = buf.get(pos + 4..pos + len).ok_or_else(|| {
            derr(
                at,
                format!(
                    "attribute type {} claims {len} bytes but only {} remain",
                    ty & 0x3fff,
                    buf.len() - pos
                ),
            )
        })?;
        out.push(RawAttr {
            ty: ty & !(NLA_F_NESTED | NLA_F_NET_BYTEORDER),
            nested: ty & NLA_F_NESTED != 0,
            payload,
            offset: at,
        });
        // The last attribute may omit its padding.
        pos = align4(pos + len).min(buf.len());
    }
    Ok(out)
}

fn u32_of(a: &RawAttr<'_>) -> Result<u32, DecodeError> {
    let bytes: [u8; 4] = a
        .payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            derr(
                a.offset,
                format!("attribute {} needs 4 bytes, has {}", a.ty, a.payload.len()),
            )
        })?;
    Ok(u32::from_ne_bytes(bytes))
}

/// One net_dim profile entry (`ETHTOOL_A_PROFILE_IRQ_MODERATION`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IrqModeration {
    /// `ETHTOOL_A_IRQ_MODERATION_USEC`.
    pub usec: Option<u32>,
    /// `ETHTOOL_A_IRQ_MODERATION_PKTS`.
    pub pkts: Option<u32>,
    /// `ETHTOOL_A_IRQ_MODERATION_COMPS`.
    pub comps: Option<u32>,
}

/// A decoded COALESCE_GET reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoalesceReply {
    /// `ETHTOOL_A_HEADER_DEV_NAME` of the reply header.
    pub dev_name: Option<String>,
    /// `ETHTOOL_A_HEADER_DEV_INDEX` of the reply header.
    pub dev_index: Option<u32>,
    /// The parameters the driver supports, with their values.
    pub coalesce: Coalesce,
    /// net_dim RX profile (adaptive-rx table), when the driver exposes it.
    pub rx_profile: Vec<IrqModeration>,
    /// net_dim TX profile.
    pub tx_profile: Vec<IrqModeration>,
    /// Attribute numbers this decoder does not know (newer kernels), kept visible.
    pub unknown_attrs: Vec<u16>,
}

fn decode_profile(a: &RawAttr<'_>) -> Result<Vec<IrqModeration>, DecodeError> {
    let mut out = Vec::new();
    for entry in parse_attrs(a.payload, a.offset + 4)? {
        let mut m = IrqModeration::default();
        for f in parse_attrs(entry.payload, entry.offset + 4)? {
            match f.ty {
                1 => m.usec = Some(u32_of(&f)?),
                2 => m.pkts = Some(u32_of(&f)?),
                3 => m.comps = Some(u32_of(&f)?),
                _ => {}
            }
        }
        out.push(m);
    }
    Ok(out)
}

/// Decode a COALESCE_GET_REPLY (or COALESCE_NTF) genetlink payload.
pub fn decode_reply(payload: &[u8]) -> Result<CoalesceReply, DecodeError> {
    let head = payload.get(..GENL_HDRLEN).ok_or_else(|| {
        derr(
            0,
            format!("{} bytes cannot hold the 4-byte genlmsghdr", payload.len()),
        )
    })?;
    if head[0] != MSG_COALESCE_GET_REPLY && head[0] != MSG_COALESCE_NTF {
        return Err(derr(
            0,
            format!(
                "command {} is not COALESCE_GET_REPLY (20) or COALESCE_NTF (21)",
                head[0]
            ),
        ));
    }
    let mut reply = CoalesceReply::default();
    for a in parse_attrs(&payload[GENL_HDRLEN..], GENL_HDRLEN)? {
        match a.ty {
            ETHTOOL_A_COALESCE_HEADER => {
                for h in parse_attrs(a.payload, a.offset + 4)? {
                    match h.ty {
                        HEADER_DEV_INDEX => reply.dev_index = Some(u32_of(&h)?),
                        HEADER_DEV_NAME => {
                            let raw = h.payload.split(|&b| b == 0).next().unwrap_or(&[]);
                            reply.dev_name = Some(String::from_utf8_lossy(raw).into_owned());
                        }
                        _ => {}
                    }
                }
            }
            ETHTOOL_A_COALESCE_RX_PROFILE => reply.rx_profile = decode_profile(&a)?,
            ETHTOOL_A_COALESCE_TX_PROFILE => reply.tx_profile = decode_profile(&a)?,
            ty => match Param::from_attr(ty) {
                Some(p) if p.is_bool() => {
                    let b = *a
                        .payload
                        .first()
                        .ok_or_else(|| derr(a.offset, format!("{p} needs 1 byte, has 0")))?;
                    reply.coalesce.set(p, u32::from(b));
                }
                Some(p) => reply.coalesce.set(p, u32_of(&a)?),
                None => reply.unknown_attrs.push(ty),
            },
        }
    }
    Ok(reply)
}

/// What the kernel answered with an error: errno, extack text and the offending
/// attribute's offset from the start of our nlmsghdr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`.
    pub offset: Option<u32>,
}

/// Failures of the netlink transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The kernel has no "ethtool" genetlink family (old kernel or CONFIG_ETHTOOL_NETLINK=n).
    #[error("the kernel has no \"ethtool\" generic netlink family ({0})")]
    NoFamily(String),
    /// The kernel answered with an error.
    #[error("the kernel answered errno {}", .0.errno)]
    Kernel(KernelError),
    /// Socket or protocol trouble.
    #[error("netlink: {0}")]
    Socket(String),
}

/// An open generic netlink connection with the ethtool family resolved.
pub struct EthtoolSocket {
    router: neli::router::synchronous::NlRouter,
    family: u16,
}

impl std::fmt::Debug for EthtoolSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthtoolSocket")
            .field("family", &self.family)
            .finish()
    }
}

fn router_error<T, P>(e: neli::err::RouterError<T, P>) -> TransportError
where
    T: std::fmt::Debug,
    P: std::fmt::Debug,
{
    use neli::consts::nl::NlmsgerrAttr;
    use neli::err::RouterError;
    match e {
        RouterError::Nlmsgerr(err) => {
            let mut ke = KernelError {
                errno: -*err.error(),
                message: None,
                offset: None,
            };
            for attr in err.ext_ack().iter() {
                let payload = attr.nla_payload().as_ref();
                match attr.nla_type().nla_type() {
                    NlmsgerrAttr::Msg => {
                        let raw = payload.split(|&b| b == 0).next().unwrap_or(&[]);
                        ke.message = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                    NlmsgerrAttr::Offset => {
                        ke.offset = payload
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .map(u32::from_ne_bytes);
                    }
                    _ => {}
                }
            }
            TransportError::Kernel(ke)
        }
        other => TransportError::Socket(format!("{other:?}")),
    }
}

impl EthtoolSocket {
    /// Open a generic netlink socket (in the caller thread's network namespace), enable
    /// extended ACKs and resolve the "ethtool" family.
    pub fn open() -> Result<Self, TransportError> {
        use neli::consts::socket::NlFamily;
        use neli::router::synchronous::NlRouter;
        use neli::utils::Groups;
        let (router, _multicast) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| {
                TransportError::Socket(format!("connecting a generic netlink socket: {e:?}"))
            })?;
        // Older kernels lack extack; messages are then simply absent.
        let _ = router.enable_ext_ack(true);
        let family =
            router
                .resolve_genl_family(FAMILY_NAME)
                .map_err(|e| match router_error(e) {
                    TransportError::Kernel(k) => {
                        TransportError::NoFamily(format!("errno {}", k.errno))
                    }
                    TransportError::NoFamily(s) | TransportError::Socket(s) => {
                        TransportError::NoFamily(s)
                    }
                })?;
        Ok(Self { router, family })
    }

    /// The numeric id the kernel assigned to the "ethtool" family.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Send a genetlink payload; return the genetlink payloads of the replies. With
    /// `ack`, waits for the kernel's ACK (SET requests).
    pub fn request(&self, payload: Vec<u8>, ack: bool) -> Result<Vec<Vec<u8>>, TransportError> {
        use neli::consts::nl::NlmF;
        use neli::nl::NlPayload;
        use neli::types::Buffer;
        let flags = if ack { NlmF::ACK } else { NlmF::empty() };
        let recv = self
            .router
            .send::<u16, Buffer, u16, Buffer>(
                self.family,
                flags,
                NlPayload::Payload(Buffer::from(payload)),
            )
            .map_err(router_error)?;
        let mut out = Vec::new();
        for msg in recv {
            let msg = msg.map_err(router_error)?;
            if let NlPayload::Payload(p) = msg.nl_payload() {
                out.push(p.as_ref().to_vec());
            }
        }
        Ok(out)
    }

    /// COALESCE_GET for `dev`.
    pub fn get(&self, dev: &str) -> Result<CoalesceReply, NetlinkOpError> {
        let replies = self
            .request(encode_get(dev), false)
            .map_err(NetlinkOpError::Transport)?;
        let first = replies.first().ok_or_else(|| {
            NetlinkOpError::Transport(TransportError::Socket("no reply to COALESCE_GET".into()))
        })?;
        decode_reply(first).map_err(NetlinkOpError::Decode)
    }

    /// COALESCE_SET for `dev`; on error, names the attribute the extack offset points at.
    pub fn set(&self, dev: &str, values: &Coalesce) -> Result<(), (TransportError, Option<Param>)> {
        let (payload, offsets) = encode_set(dev, values);
        self.request(payload, true).map(|_| ()).map_err(|e| {
            let param = match &e {
                TransportError::Kernel(KernelError {
                    offset: Some(off), ..
                }) => param_at_offset(&offsets, *off as usize),
                _ => None,
            };
            (e, param)
        })
    }
}

/// The parameter whose attribute starts at `nl_offset`, an extack offset counted from
/// the start of the nlmsghdr (so it includes the 16-byte nlmsghdr).
pub fn param_at_offset(offsets: &[(usize, Param)], nl_offset: usize) -> Option<Param> {
    let off = nl_offset.checked_sub(NLMSG_HDRLEN)?;
    offsets.iter().find(|(o, _)| *o == off).map(|(_, p)| *p)
}

/// A COALESCE_GET that failed in transport or in decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetlinkOpError {
    /// Transport or kernel error.
    #[error(transparent)]
    Transport(TransportError),
    /// The reply did not decode.
    #[error(transparent)]
    Decode(DecodeError),
}
