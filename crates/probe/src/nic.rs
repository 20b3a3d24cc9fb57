//! NIC coalescing and NAPI software knobs: ethtool netlink COALESCE_GET/SET with ioctl
//! fallback, the sysfs knobs, and the saved-settings file that makes `set` reversible.
//!
//! - [`params`]: the table of coalescing attributes ([`Param`], [`Coalesce`]).
//! - [`netlink`]: byte encoding/decoding and the neli transport.
//! - [`knobs`]: gro_flush_timeout, napi_defer_hard_irqs, threaded.
//!
//! Backends: [`Backend::Auto`] uses netlink and falls back to the SIOCETHTOOL ioctl only
//! when the kernel has no "ethtool" genetlink family. The ioctl cannot tell "unsupported"
//! from "zero" and knows only the 22 original parameters; netlink replies carry exactly
//! the parameters the driver supports.

pub mod knobs;
pub mod netlink;
pub mod params;

pub use knobs::{read_knobs, write_knob, Knob, Knobs};
pub use netlink::{CoalesceReply, EthtoolSocket, KernelError, TransportError};
pub use params::{Coalesce, Param};

use crate::hostfs::{FsError, HostFs};
use crate::sys::ethtool::{self as ioctl, EthtoolCoalesce, IoctlError};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which kernel interface to use for coalescing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Netlink, or the ioctl when the kernel has no ethtool netlink family.
    #[default]
    Auto,
    /// ethtool generic netlink only.
    Netlink,
    /// SIOCETHTOOL ioctl only.
    Ioctl,
}

/// The interface that actually answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsedBackend {
    /// ethtool generic netlink.
    Netlink,
    /// SIOCETHTOOL ioctl.
    Ioctl,
}

/// Errors of the NIC module; each names the device and, where known, the attribute.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    /// The interface name is not valid.
    #[error("{0}")]
    BadName(String),
    /// The kernel refused a netlink request.
    #[error("{op} on {iface}{}: the kernel said {}{}{}",
        attr.map(|p| format!(" (attribute {p})")).unwrap_or_default(),
        errno_text(*errno),
        message.as_ref().map(|m| format!(", extack: \"{m}\"")).unwrap_or_default(),
        hint(*errno, iface))]
    Kernel {
        /// Interface.
        iface: String,
        /// "ethtool netlink COALESCE_GET" or "..._SET".
        op: &'static str,
        /// Positive errno.
        errno: i32,
        /// The extack message.
        message: Option<String>,
        /// The attribute the extack offset points at.
        attr: Option<Param>,
    },
    /// The ioctl failed.
    #[error("{op} on {iface}: {}{}", ioctl_text(error), ioctl_hint(error, iface))]
    Ioctl {
        /// Interface.
        iface: String,
        /// "SIOCETHTOOL ETHTOOL_GCOALESCE" or "...SCOALESCE".
        op: &'static str,
        /// What failed (part of the message, not a `source()`).
        error: IoctlError,
    },
    /// Netlink transport or decoding trouble (not a kernel verdict).
    #[error("ethtool netlink on {iface}: {detail}")]
    Netlink {
        /// Interface.
        iface: String,
        /// What went wrong.
        detail: String,
    },
    /// A parameter is absent from the device's COALESCE_GET reply, i.e. the driver
    /// does not support it.
    #[error("{iface} does not support coalescing parameter {param} (the driver does not report it in COALESCE_GET)")]
    Unsupported {
        /// Interface.
        iface: String,
        /// Parameter.
        param: Param,
    },
    /// The ioctl has no field for this parameter.
    #[error(
        "{param} on {iface} can only be set through ethtool netlink, not the SIOCETHTOOL ioctl"
    )]
    NotViaIoctl {
        /// Interface.
        iface: String,
        /// Parameter.
        param: Param,
    },
    /// Coalescing could not be read, so it cannot be changed.
    #[error("cannot change {param} on {iface}: reading its coalescing failed: {reason}")]
    CoalesceUnavailable {
        /// Interface.
        iface: String,
        /// Parameter.
        param: Param,
        /// Why the read failed.
        reason: String,
    },
    /// A software knob file is missing.
    #[error("{iface} has no {knob} knob ({path} does not exist on this kernel or device)")]
    KnobMissing {
        /// Interface.
        iface: String,
        /// Knob.
        knob: Knob,
        /// Path.
        path: String,
    },
    /// A sysfs read or write failed.
    #[error("{fs}{}", fs_hint(fs))]
    Fs {
        /// The failed read or write (part of the message, not a `source()`).
        fs: FsError,
    },
    /// The saved-settings file could not be used.
    #[error("saved settings {path}: {reason}")]
    Saved {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl NicError {
    /// The kernel's errno, for a refused netlink request or a failed ioctl.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NicError::Kernel { errno, .. } => Some(*errno),
            NicError::Ioctl {
                error: IoctlError::Ioctl(errno),
                ..
            } => Some(*errno as i32),
            _ => None,
        }
    }
}

impl From<FsError> for NicError {
    fn from(fs: FsError) -> Self {
        NicError::Fs { fs }
    }
}

fn errno_text(errno: i32) -> String {
    // "EOPNOTSUPP: Operation not supported on transport endpoint"
    Errno::from_raw(errno).to_string()
}

fn hint(errno: i32, iface: &str) -> String {
    match Errno::from_raw(errno) {
        Errno::EOPNOTSUPP => format!(" - the driver of {iface} does not implement this coalescing operation (loopback, veth and most virtual devices have no interrupt moderation)"),
        Errno::EPERM | Errno::EACCES => " - changing NIC settings needs CAP_NET_ADMIN (run as root)".to_string(),
        Errno::ENODEV => format!(" - there is no interface {iface} in this network namespace"),
        Errno::EINVAL => " - the driver rejected a value (out of its range?)".to_string(),
        _ => String::new(),
    }
}

fn ioctl_text(e: &IoctlError) -> String {
    match e {
        IoctlError::Ioctl(errno) => format!("the kernel said {}", errno_text(*errno as i32)),
        other => other.to_string(),
    }
}

fn ioctl_hint(e: &IoctlError, iface: &str) -> String {
    match e {
        IoctlError::Ioctl(errno) => hint(*errno as i32, iface),
        _ => String::new(),
    }
}

fn fs_hint(e: &FsError) -> &'static str {
    match e.error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EPERM | Errno::EACCES) => " - writing NAPI knobs needs root",
        Some(Errno::EOPNOTSUPP) => " - the device does not support this knob",
        _ => "",
    }
}

fn check_name(iface: &str) -> Result<(), NicError> {
    netlink::check_ifname(iface).map_err(NicError::BadName)
}

/// Coalescing as read from the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoalesceState {
    /// The interface that answered.
    pub backend: UsedBackend,
    /// What it answered (for the ioctl: all 22 fields, header absent).
    pub reply: CoalesceReply,
}

fn from_ioctl(raw: &EthtoolCoalesce) -> Coalesce {
    let mut c = Coalesce::new();
    for p in Param::ALL {
        if let Some(i) = p.ioctl_index() {
            c.set(p, raw.fields[i]);
        }
    }
    c
}

fn kernel_error(iface: &str, op: &'static str, e: TransportError, attr: Option<Param>) -> NicError {
    match e {
        TransportError::Kernel(k) => NicError::Kernel {
            iface: iface.to_string(),
            op,
            errno: k.errno,
            message: k.message,
            attr,
        },
        other => NicError::Netlink {
            iface: iface.to_string(),
            detail: other.to_string(),
        },
    }
}

fn open_netlink(backend: Backend) -> Result<Option<EthtoolSocket>, TransportError> {
    match backend {
        Backend::Ioctl => Ok(None),
        Backend::Netlink => EthtoolSocket::open().map(Some),
        Backend::Auto => match EthtoolSocket::open() {
            Ok(s) => Ok(Some(s)),
            Err(TransportError::NoFamily(_)) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Read coalescing of `iface`.
pub fn get_coalesce(iface: &str, backend: Backend) -> Result<CoalesceState, NicError> {
    check_name(iface)?;
    let sock = open_netlink(backend).map_err(|e| NicError::Netlink {
        iface: iface.to_string(),
        detail: e.to_string(),
    })?;
    match sock {
        Some(sock) => {
            let reply = sock.get(iface).map_err(|e| match e {
                netlink::NetlinkOpError::Transport(t) => {
                    kernel_error(iface, "ethtool netlink COALESCE_GET", t, None)
                }
                netlink::NetlinkOpError::Decode(d) => NicError::Netlink {
                    iface: iface.to_string(),
                    detail: d.to_string(),
                },
            })?;
            Ok(CoalesceState {
                backend: UsedBackend::Netlink,
                reply,
            })
        }
        None => {
            let raw = ioctl::get_coalesce(iface).map_err(|error| NicError::Ioctl {
                iface: iface.to_string(),
                op: "SIOCETHTOOL ETHTOOL_GCOALESCE",
                error,
            })?;
            let reply = CoalesceReply {
                coalesce: from_ioctl(&raw),
                ..Default::default()
            };
            Ok(CoalesceState {
                backend: UsedBackend::Ioctl,
                reply,
            })
        }
    }
}

/// Write the parameters in `values` (only those) to `iface`.
pub fn set_coalesce(
    iface: &str,
    backend: Backend,
    values: &Coalesce,
) -> Result<UsedBackend, NicError> {
    check_name(iface)?;
    let sock = open_netlink(backend).map_err(|e| NicError::Netlink {
        iface: iface.to_string(),
        detail: e.to_string(),
    })?;
    match sock {
        Some(sock) => {
            sock.set(iface, values).map_err(|(e, attr)| {
                kernel_error(iface, "ethtool netlink COALESCE_SET", e, attr)
            })?;
            Ok(UsedBackend::Netlink)
        }
        None => {
            let op_err = |op, error| NicError::Ioctl {
                iface: iface.to_string(),
                op,
                error,
            };
            let mut raw = ioctl::get_coalesce(iface)
                .map_err(|e| op_err("SIOCETHTOOL ETHTOOL_GCOALESCE", e))?;
            for (p, v) in values.iter() {
                let i = p.ioctl_index().ok_or(NicError::NotViaIoctl {
                    iface: iface.to_string(),
                    param: p,
                })?;
                raw.fields[i] = v;
            }
            ioctl::set_coalesce(iface, &raw)
                .map_err(|e| op_err("SIOCETHTOOL ETHTOOL_SCOALESCE", e))?;
            Ok(UsedBackend::Ioctl)
        }
    }
}

/// Everything `show` reports about a device.
///
/// Serialized with the keys `iface`, `coalesce` (null when unreadable), `coalesce_error`
/// (the reason, or null), `coalesce_errno` (the kernel's errno, when it gave one) and
/// `knobs`.
#[derive(Debug)]
pub struct NicState {
    /// Interface.
    pub iface: String,
    /// Coalescing, or why it could not be read (the kernel's words included).
    pub coalesce: Result<CoalesceState, NicError>,
    /// The software knobs.
    pub knobs: Knobs,
}

impl NicState {
    /// errno of the failed coalescing read, when the kernel gave one (95 = EOPNOTSUPP).
    pub fn coalesce_errno(&self) -> Option<i32> {
        self.coalesce.as_ref().err().and_then(NicError::errno)
    }
}

impl Serialize for NicState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("NicState", 5)?;
        st.serialize_field("iface", &self.iface)?;
        st.serialize_field("coalesce", &self.coalesce.as_ref().ok())?;
        st.serialize_field(
            "coalesce_error",
            &self.coalesce.as_ref().err().map(ToString::to_string),
        )?;
        st.serialize_field("coalesce_errno", &self.coalesce_errno())?;
        st.serialize_field("knobs", &self.knobs)?;
        st.end()
    }
}

/// Read coalescing (errors kept, not fatal) and the knobs of `iface`.
pub fn read_state(fs: &HostFs, iface: &str, backend: Backend) -> Result<NicState, NicError> {
    check_name(iface)?;
    let knobs = read_knobs(fs, iface);
    Ok(NicState {
        iface: iface.to_string(),
        coalesce: get_coalesce(iface, backend),
        knobs,
    })
}

/// What `set` or `restore` is asked to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Coalescing parameters.
    pub coalesce: Coalesce,
    /// Software knobs.
    pub knobs: BTreeMap<Knob, u64>,
}

impl Request {
    /// Whether nothing is requested.
    pub fn is_empty(&self) -> bool {
        self.coalesce.is_empty() && self.knobs.is_empty()
    }
}

/// What `nic set` / `nic restore` did or would do: the changes plus where the previous
/// settings were saved (`set`) or read from (`restore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeReport<'a> {
    /// Every setting touched, old to new.
    pub changes: &'a [Change],
    /// True when nothing was written.
    pub dry_run: bool,
    /// The file holding the settings from before the change (`set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<&'a std::path::Path>,
    /// The saved-settings file the change came from (`restore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a std::path::Path>,
}

/// One planned change, old to new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Parameter or knob name.
    pub name: String,
    /// Current value.
    pub old: Option<u64>,
    /// Requested value.
    pub new: u64,
    /// Whether the value differs (only those are written).
    pub changed: bool,
}

/// Compare `req` with the current `state`: one [`Change`] per requested item, or an error
/// naming the first parameter the device cannot take.
pub fn plan(state: &NicState, req: &Request) -> Result<Vec<Change>, NicError> {
    let iface = &state.iface;
    let mut changes = Vec::new();
    for (p, new) in req.coalesce.iter() {
        let current = match &state.coalesce {
            Err(e) => {
                return Err(NicError::CoalesceUnavailable {
                    iface: iface.clone(),
                    param: p,
                    reason: e.to_string(),
                })
            }
            Ok(c) => c,
        };
        let old = current.reply.coalesce.get(p);
        if old.is_none() {
            return Err(match current.backend {
                UsedBackend::Netlink => NicError::Unsupported {
                    iface: iface.clone(),
                    param: p,
                },
                UsedBackend::Ioctl => NicError::NotViaIoctl {
                    iface: iface.clone(),
                    param: p,
                },
            });
        }
        changes.push(Change {
            name: p.name().to_string(),
            old: old.map(u64::from),
            new: u64::from(new),
            changed: old != Some(new),
        });
    }
    for (&k, &new) in &req.knobs {
        let old = state.knobs.get(k);
        if old.is_none() {
            return Err(NicError::KnobMissing {
                iface: iface.clone(),
                knob: k,
                path: k.path(iface),
            });
        }
        changes.push(Change {
            name: k.file().to_string(),
            old,
            new,
            changed: old != Some(new),
        });
    }
    Ok(changes)
}

/// Apply the changed items of `req` (coalescing in one request, then knobs), after
/// [`plan`] accepted it. Returns the plan.
pub fn apply(
    fs: &HostFs,
    state: &NicState,
    req: &Request,
    backend: Backend,
) -> Result<Vec<Change>, NicError> {
    let changes = plan(state, req)?;
    let mut coalesce = Coalesce::new();
    for (p, v) in req.coalesce.iter() {
        if state
            .coalesce
            .as_ref()
            .ok()
            .and_then(|c| c.reply.coalesce.get(p))
            != Some(v)
        {
            coalesce.set(p, v);
        }
    }
    if !coalesce.is_empty() {
        let backend = match (backend, state.coalesce.as_ref().map(|c| c.backend)) {
            (Backend::Auto, Ok(UsedBackend::Ioctl)) => Backend::Ioctl,
            (b, _) => b,
        };
        set_coalesce(&state.iface, backend, &coalesce)?;
    }
    for (&k, &v) in &req.knobs {
        if state.knobs.get(k) != Some(v) {
            write_knob(fs, &state.iface, k, v)?;
        }
    }
    Ok(changes)
}

/// The file `set` writes before changing anything and `restore` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Interface.
    pub iface: String,
    /// Which interface read the coalescing.
    pub backend: Option<UsedBackend>,
    /// Coalescing as it was (None when it could not be read).
    pub coalesce: Option<Coalesce>,
    /// Knobs as they were.
    pub knobs: Knobs,
}

impl Saved {
    /// The saved form of a state.
    pub fn from_state(state: &NicState) -> Self {
        let mut knobs = state.knobs.clone();
        knobs.errors.clear();
        Saved {
            iface: state.iface.clone(),
            backend: state.coalesce.as_ref().ok().map(|c| c.backend),
            coalesce: state
                .coalesce
                .as_ref()
                .ok()
                .map(|c| c.reply.coalesce.clone()),
            knobs,
        }
    }

    /// The request that puts these settings back.
    pub fn restore_request(&self) -> Request {
        let mut req = Request {
            coalesce: self.coalesce.clone().unwrap_or_default(),
            ..Default::default()
        };
        for k in Knob::ALL {
            if let Some(v) = self.knobs.get(k) {
                req.knobs.insert(k, v);
            }
        }
        req
    }
}

/// Default location of the saved settings: `/var/lib/coalescope/IFACE.coalesce.json`.
pub fn default_save_path(iface: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/coalescope/{iface}.coalesce.json"))
}

/// Write `saved` as pretty JSON to `path`, creating the directory.
pub fn write_saved(path: &Path, saved: &Saved) -> Result<(), NicError> {
    let fail = |reason: String| NicError::Saved {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
    }
    let mut text = serde_json::to_string_pretty(saved).map_err(|e| fail(e.to_string()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| fail(format!("writing: {e}")))
}

/// Read saved settings from `path`.
pub fn read_saved(path: &Path) -> Result<Saved, NicError> {
    let fail = |reason: String| NicError::Saved {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("reading: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| fail(format!("not a coalescope saved-settings file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(errno: i32, message: Option<&str>, attr: Option<Param>) -> String {
        let e = TransportError::Kernel(KernelError {
            errno,
            message: message.map(str::to_string),
            offset: None,
        });
        kernel_error("eth0", "ethtool netlink COALESCE_SET", e, attr).to_string()
    }

    #[test]
    fn kernel_errors_read_like_sentences() {
        assert_eq!(
            kernel(libc::EPERM, None, None),
            "ethtool netlink COALESCE_SET on eth0: the kernel said EPERM: Operation not permitted \
             - changing NIC settings needs CAP_NET_ADMIN (run as root)"
        );
        assert_eq!(
            kernel(libc::EOPNOTSUPP, Some("unsupported parameter"), Some(Param::RxUsecsIrq)),
            "ethtool netlink COALESCE_SET on eth0 (attribute rx-usecs-irq): the kernel said \
             EOPNOTSUPP: Operation not supported on transport endpoint, extack: \"unsupported parameter\" \
             - the driver of eth0 does not implement this coalescing operation (loopback, veth and \
             most virtual devices have no interrupt moderation)"
        );
        assert!(kernel(libc::ENODEV, None, None)
            .ends_with("there is no interface eth0 in this network namespace"));
    }

    fn knobs() -> Knobs {
        Knobs {
            gro_flush_timeout: Some(20_000),
            napi_defer_hard_irqs: None,
            threaded: None,
            errors: vec![],
        }
    }

    #[test]
    fn state_serializes_the_result_as_value_or_reason_and_errno() {
        let refused = NicState {
            iface: "lo".into(),
            coalesce: Err(NicError::Kernel {
                iface: "lo".into(),
                op: "ethtool netlink COALESCE_GET",
                errno: libc::EOPNOTSUPP,
                message: None,
                attr: None,
            }),
            knobs: knobs(),
        };
        assert_eq!(refused.coalesce_errno(), Some(95));
        let v: serde_json::Value = serde_json::to_value(&refused).unwrap();
        assert_eq!(v["iface"], "lo");
        assert!(v["coalesce"].is_null());
        assert_eq!(v["coalesce_errno"], 95);
        let reason = v["coalesce_error"].as_str().unwrap();
        assert!(
            reason.starts_with("ethtool netlink COALESCE_GET on lo: the kernel said EOPNOTSUPP"),
            "{reason}"
        );
        assert_eq!(v["knobs"]["gro_flush_timeout"], 20_000);

        // A failure without an errno (transport trouble) keeps the reason, errno null.
        let transport = NicState {
            coalesce: Err(NicError::Netlink {
                iface: "eth0".into(),
                detail: "socket closed".into(),
            }),
            iface: "eth0".into(),
            knobs: knobs(),
        };
        let v = serde_json::to_value(&transport).unwrap();
        assert!(v["coalesce_errno"].is_null());
        assert_eq!(
            v["coalesce_error"],
            "ethtool netlink on eth0: socket closed"
        );

        let mut c = Coalesce::new();
        c.set(Param::RxUsecs, 50);
        let read = NicState {
            iface: "eth0".into(),
            coalesce: Ok(CoalesceState {
                backend: UsedBackend::Ioctl,
                reply: CoalesceReply {
                    coalesce: c,
                    ..Default::default()
                },
            }),
            knobs: knobs(),
        };
        assert_eq!(read.coalesce_errno(), None);
        let v = serde_json::to_value(&read).unwrap();
        assert!(v["coalesce_error"].is_null() && v["coalesce_errno"].is_null());
        assert_eq!(v["coalesce"]["backend"], "ioctl");
        assert_eq!(
            v["coalesce"],
            serde_json::to_value(read.coalesce.as_ref().unwrap()).unwrap()
        );
        // Planning a coalescing change on an unreadable device names the read failure.
        let mut req = Request::default();
        req.coalesce.set(Param::RxUsecs, 0);
        let e = plan(&refused, &req).unwrap_err().to_string();
        assert!(e.starts_with("cannot change rx-usecs on lo: reading its coalescing failed: ethtool netlink COALESCE_GET on lo"), "{e}");
    }
}
