//! ethtool netlink encoding/decoding against hand-written golden bytes, the plan/saved
//! logic, and live checks on loopback and on a veth pair inside a network namespace the
//! test creates and removes (root only; skipped with a printed reason otherwise).
#![cfg(target_endian = "little")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use coalescope_probe::nic::netlink::{self, decode_reply, encode_get, encode_set, parse_attrs};
use coalescope_probe::nic::{
    self, Backend, Coalesce, Knob, Knobs, NicError, NicState, Param, Request,
};
use proptest::prelude::*;

#[test]
fn golden_get_request_for_lo() {
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // genlmsghdr: cmd = ETHTOOL_MSG_COALESCE_GET (19), version 1, reserved u16 0
        19, 1, 0, 0,
        // nlattr: len 12 = 4 header + 8 nested payload; type 0x8001 =
        // ETHTOOL_A_COALESCE_HEADER (1) | NLA_F_NESTED (0x8000)
        12, 0, 0x01, 0x80,
        //   nested nlattr: len 7 = 4 + "lo\0"; type 2 = ETHTOOL_A_HEADER_DEV_NAME
        7, 0, 2, 0,
        b'l', b'o', 0,
        //   one byte of padding to the 4-byte boundary (not counted in len)
        0,
    ];
    assert_eq!(encode_get("lo"), expected);
}

#[test]
fn golden_set_request_with_u32_and_u8_attributes() {
    let values = Coalesce::new()
        .with(Param::UseAdaptiveRx, 0)
        .with(Param::RxUsecs, 8);
    let (bytes, offsets) = encode_set("eth0", &values);
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // genlmsghdr: cmd = ETHTOOL_MSG_COALESCE_SET (20), version 1
        20, 1, 0, 0,
        // header nest: len 16 = 4 + 12; type HEADER | NLA_F_NESTED
        16, 0, 0x01, 0x80,
        //   DEV_NAME: len 9 = 4 + "eth0\0", then 3 padding bytes
        9, 0, 2, 0,
        b'e', b't', b'h', b'0', 0, 0, 0, 0,
        // ETHTOOL_A_COALESCE_RX_USECS (2): len 8, u32 8 little-endian
        8, 0, 2, 0,
        8, 0, 0, 0,
        // ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX (11): len 5, u8 0, 3 padding bytes
        5, 0, 11, 0,
        0, 0, 0, 0,
    ];
    assert_eq!(bytes, expected);
    // Attributes are emitted in attribute-number order whatever the insertion order.
    assert_eq!(
        offsets,
        vec![(20, Param::RxUsecs), (28, Param::UseAdaptiveRx)]
    );
    // An extack offset counts from the nlmsghdr (16 bytes before our payload).
    assert_eq!(
        netlink::param_at_offset(&offsets, 16 + 28),
        Some(Param::UseAdaptiveRx)
    );
    assert_eq!(
        netlink::param_at_offset(&offsets, 16 + 20),
        Some(Param::RxUsecs)
    );
    assert_eq!(netlink::param_at_offset(&offsets, 16 + 4), None);
}

#[test]
fn golden_full_netlink_message_through_neli() {
    use neli::consts::nl::NlmF;
    use neli::nl::{NlPayload, NlmsghdrBuilder};
    use neli::types::Buffer;
    use neli::ToBytes;
    let payload = encode_get("lo");
    let msg = NlmsghdrBuilder::default()
        .nl_type(0x1c_u16)
        .nl_flags(NlmF::REQUEST)
        .nl_seq(7)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(Buffer::from(payload)))
        .build()
        .unwrap();
    let mut cursor = std::io::Cursor::new(Vec::new());
    msg.to_bytes(&mut cursor).unwrap();
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // nlmsghdr: nlmsg_len 32 = 16 + 16 payload
        32, 0, 0, 0,
        // nlmsg_type: the resolved "ethtool" family id (0x1c here), NLM_F_REQUEST (1)
        0x1c, 0, 1, 0,
        // nlmsg_seq 7, nlmsg_pid 0
        7, 0, 0, 0,
        0, 0, 0, 0,
        // the genetlink payload of golden_get_request_for_lo
        19, 1, 0, 0, 12, 0, 0x01, 0x80, 7, 0, 2, 0, b'l', b'o', 0, 0,
    ];
    assert_eq!(cursor.into_inner(), expected);
}

#[rustfmt::skip]
fn golden_reply() -> Vec<u8> {
    vec![
        // genlmsghdr: ETHTOOL_MSG_COALESCE_GET_REPLY (20), version 1
        20, 1, 0, 0,
        // header nest (offset 4): len 24; type HEADER | NESTED
        24, 0, 0x01, 0x80,
        //   DEV_INDEX (1): u32 2
        8, 0, 1, 0, 2, 0, 0, 0,
        //   DEV_NAME (2): "eth0\0" + 3 pad
        9, 0, 2, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0,
        // RX_USECS (2) = 50
        8, 0, 2, 0, 50, 0, 0, 0,
        // RX_MAX_FRAMES (3) = 64
        8, 0, 3, 0, 64, 0, 0, 0,
        // TX_USECS (6) = 0x01000000 (byte order check)
        8, 0, 6, 0, 0, 0, 0, 1,
        // USE_ADAPTIVE_RX (11) = 1, u8 + 3 pad
        5, 0, 11, 0, 1, 0, 0, 0,
        // USE_CQE_MODE_RX (25) = 0
        5, 0, 25, 0, 0, 0, 0, 0,
        // TX_AGGR_TIME_USECS (28) = 300 = 0x012c
        8, 0, 28, 0, 0x2c, 0x01, 0, 0,
        // RX_PROFILE (29) nest: len 4 + 2 entries of 20
        44, 0, 29, 0x80,
        //   PROFILE_IRQ_MODERATION (1) nest: len 20 = 4 + USEC(8) + PKTS(8)
        20, 0, 1, 0x80,
        8, 0, 1, 0, 1, 0, 0, 0,
        8, 0, 2, 0, 0, 1, 0, 0,
        //   second entry {8, 256}
        20, 0, 1, 0x80,
        8, 0, 1, 0, 8, 0, 0, 0,
        8, 0, 2, 0, 0, 1, 0, 0,
        // an attribute from a newer kernel (31, u32): kept visible, not fatal
        8, 0, 31, 0, 9, 0, 0, 0,
    ]
}

#[test]
fn golden_reply_decodes() {
    let r = decode_reply(&golden_reply()).unwrap();
    assert_eq!(r.dev_name.as_deref(), Some("eth0"));
    assert_eq!(r.dev_index, Some(2));
    let expected = Coalesce::new()
        .with(Param::RxUsecs, 50)
        .with(Param::RxMaxFrames, 64)
        .with(Param::TxUsecs, 0x0100_0000)
        .with(Param::UseAdaptiveRx, 1)
        .with(Param::UseCqeModeRx, 0)
        .with(Param::TxAggrTimeUsecs, 300);
    assert_eq!(r.coalesce, expected);
    assert_eq!(r.rx_profile.len(), 2);
    assert_eq!(
        (r.rx_profile[0].usec, r.rx_profile[0].pkts),
        (Some(1), Some(256))
    );
    assert_eq!(
        (r.rx_profile[1].usec, r.rx_profile[1].pkts),
        (Some(8), Some(256))
    );
    assert_eq!(r.unknown_attrs, vec![31]);
    // Absent attributes are unsupported by the driver, not zero.
    assert_eq!(r.coalesce.get(Param::RxUsecsIrq), None);
}

#[test]
fn malformed_replies_name_the_offset() {
    let mut short = golden_reply();
    short.truncate(20);
    let e = decode_reply(&short).unwrap_err();
    // The header nest at byte 4 claims 24 bytes; 16 are left after the genlmsghdr.
    assert_eq!(e.offset, 4);
    assert!(
        e.to_string().contains("claims 24 bytes but only 16 remain"),
        "{e}"
    );
    let mut cut = golden_reply();
    cut.truncate(30);
    let e = decode_reply(&cut).unwrap_err();
    // The nest fits; the 2 bytes after it (offset 28) cannot hold an attribute header.
    assert_eq!(e.offset, 28);
    assert!(e.to_string().contains("2 trailing bytes"), "{e}");
    let e = decode_reply(&[21, 1]).unwrap_err();
    assert!(e.to_string().contains("genlmsghdr"), "{e}");
    let e = decode_reply(&[5, 1, 0, 0]).unwrap_err();
    assert!(e.to_string().contains("command 5"), "{e}");
    // RX_USECS with a 2-byte payload.
    let e = decode_reply(&[20, 1, 0, 0, 6, 0, 2, 0, 1, 0, 0, 0]).unwrap_err();
    assert_eq!(e.offset, 4);
    assert!(e.to_string().contains("needs 4 bytes, has 2"), "{e}");
    // Length below the header size.
    let e = decode_reply(&[20, 1, 0, 0, 2, 0, 2, 0]).unwrap_err();
    assert!(e.to_string().contains("below the 4-byte header"), "{e}");
}

#[test]
fn set_payload_decodes_back_as_a_reply() {
    // SET and GET_REPLY share the attribute layout, so re-labelling a SET as a reply and
    // decoding it must give back exactly the values (an independent check of both sides).
    let mut values = Coalesce::new();
    for (i, p) in Param::ALL.iter().enumerate() {
        values.set(
            *p,
            if p.is_bool() {
                (i % 2) as u32
            } else {
                1000 + i as u32
            },
        );
    }
    let (mut bytes, offsets) = encode_set("enp1s0f0", &values);
    assert_eq!(offsets.len(), 27);
    bytes[0] = netlink::MSG_COALESCE_GET_REPLY;
    let r = decode_reply(&bytes).unwrap();
    assert_eq!(r.coalesce, values);
    assert_eq!(r.dev_name.as_deref(), Some("enp1s0f0"));
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_reply(&bytes);
        let _ = parse_attrs(&bytes, 0);
    }

    #[test]
    fn decoding_mutated_replies_never_panics(pos in 0usize..160, byte in any::<u8>()) {
        let mut r = golden_reply();
        let i = pos % r.len();
        r[i] = byte;
        let _ = decode_reply(&r);
    }
}

fn state_with(coalesce: Option<Coalesce>) -> NicState {
    NicState {
        iface: "eth9".into(),
        coalesce: coalesce
            .map(|c| nic::CoalesceState {
                backend: nic::UsedBackend::Netlink,
                reply: netlink::CoalesceReply {
                    coalesce: c,
                    ..Default::default()
                },
            })
            .ok_or_else(|| NicError::BadName("no coalescing in this fixture".into())),
        knobs: Knobs {
            gro_flush_timeout: Some(0),
            napi_defer_hard_irqs: Some(2),
            threaded: None,
            errors: vec![],
        },
    }
}

#[test]
fn plan_lists_old_and_new_and_rejects_unsupported() {
    let state = state_with(Some(
        Coalesce::new()
            .with(Param::RxUsecs, 50)
            .with(Param::UseAdaptiveRx, 1),
    ));
    let mut req = Request::default();
    req.coalesce.set(Param::RxUsecs, 0);
    req.coalesce.set(Param::UseAdaptiveRx, 1);
    req.knobs.insert(Knob::GroFlushTimeout, 20_000);
    let plan = nic::plan(&state, &req).unwrap();
    let got: Vec<(&str, Option<u64>, u64, bool)> = plan
        .iter()
        .map(|c| (c.name.as_str(), c.old, c.new, c.changed))
        .collect();
    assert_eq!(
        got,
        vec![
            ("rx-usecs", Some(50), 0, true),
            ("use-adaptive-rx", Some(1), 1, false),
            ("gro_flush_timeout", Some(0), 20_000, true),
        ]
    );
    req.coalesce.set(Param::RxUsecsIrq, 3);
    let e = nic::plan(&state, &req).unwrap_err();
    assert!(matches!(
        e,
        NicError::Unsupported {
            param: Param::RxUsecsIrq,
            ..
        }
    ));
    assert!(
        e.to_string()
            .contains("eth9 does not support coalescing parameter rx-usecs-irq"),
        "{e}"
    );
    let mut req = Request::default();
    req.knobs.insert(Knob::Threaded, 1);
    let e = nic::plan(&state, &req).unwrap_err();
    assert!(
        e.to_string().contains("/sys/class/net/eth9/threaded"),
        "{e}"
    );
}

#[test]
fn saved_file_round_trips_and_restores_everything() {
    let state = state_with(Some(
        Coalesce::new()
            .with(Param::RxUsecs, 50)
            .with(Param::UseAdaptiveRx, 1),
    ));
    let saved = nic::Saved::from_state(&state);
    let dir = std::env::temp_dir().join(format!("coalescope-host-nic-{}", std::process::id()));
    let path = dir.join("eth9.coalesce.json");
    nic::write_saved(&path, &saved).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"rx-usecs\": 50"), "{text}");
    let back = nic::read_saved(&path).unwrap();
    assert_eq!(back, saved);
    let req = back.restore_request();
    assert_eq!(req.coalesce.get(Param::RxUsecs), Some(50));
    assert_eq!(req.knobs.get(&Knob::NapiDeferHardIrqs), Some(&2));
    assert_eq!(req.knobs.get(&Knob::Threaded), None);
    std::fs::write(&path, "{not json").unwrap();
    let e = nic::read_saved(&path).unwrap_err();
    assert!(
        e.to_string()
            .contains("not a coalescope saved-settings file"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_interface_names_are_refused() {
    for bad in ["", "a-very-long-interface-name", "a/b", "a b"] {
        let e = nic::get_coalesce(bad, Backend::Auto).unwrap_err();
        assert!(matches!(e, NicError::BadName(_)), "{bad:?}: {e}");
    }
}

#[test]
fn loopback_has_no_coalescing_but_has_knobs() {
    let fs = coalescope_probe::hostfs::HostFs::live();
    let state = nic::read_state(&fs, "lo", Backend::Auto).unwrap();
    // The kernel refuses COALESCE_GET on lo: its driver has no get_coalesce op.
    let err = state
        .coalesce
        .as_ref()
        .expect_err("lo must not report coalescing")
        .to_string();
    println!("kernel on COALESCE_GET lo: {err}");
    assert_eq!(state.coalesce_errno(), Some(libc::EOPNOTSUPP), "{err}");
    assert!(err.contains("lo"), "{err}");
    assert!(state.knobs.gro_flush_timeout.is_some());
    assert!(state.knobs.napi_defer_hard_irqs.is_some());
    // The ioctl fallback says the same.
    let e = nic::get_coalesce("lo", Backend::Ioctl).unwrap_err();
    println!("kernel on ETHTOOL_GCOALESCE lo: {e}");
    assert!(e.to_string().contains("EOPNOTSUPP"), "{e}");
    // No such device: ENODEV, named.
    let e = nic::get_coalesce("nosuchdev0", Backend::Netlink).unwrap_err();
    assert!(e.to_string().contains("nosuchdev0"), "{e}");
}

/// A network namespace with a veth pair (v0 <-> v1) inside it, removed on drop.
struct NetnsGuard {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsGuard {
    fn create(tag: &str) -> Option<Self> {
        let euid = std::process::Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
            println!("SKIP: creating a network namespace needs root");
            return None;
        }
        let name = format!("cs-{tag}-{}", std::process::id());
        if let Err(e) = ip(&["netns", "add", &name]) {
            println!("SKIP: {e}");
            return None;
        }
        let guard = NetnsGuard { name };
        let n = guard.name.as_str();
        for args in [
            vec![
                "-n", n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
            ],
            vec!["-n", n, "link", "set", "v0", "up"],
            vec!["-n", n, "link", "set", "v1", "up"],
        ] {
            if let Err(e) = ip(&args) {
                println!("SKIP: {e}");
                return None; // the guard's Drop removes the namespace
            }
        }
        Some(guard)
    }

    /// Run `f` on a thread that joined this namespace (sockets it opens live there).
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = std::fs::File::open(&path).unwrap();
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup failed: {e}");
        }
    }
}

#[test]
fn veth_in_a_private_namespace() {
    let Some(ns) = NetnsGuard::create("nic") else {
        return;
    };
    let (get, set, missing) = ns.run(|| {
        let get = nic::get_coalesce("v0", Backend::Netlink);
        let set = nic::set_coalesce(
            "v0",
            Backend::Netlink,
            &Coalesce::new().with(Param::RxUsecs, 10),
        );
        // The root namespace's devices are invisible here.
        let missing = nic::get_coalesce("nosuchdev0", Backend::Netlink);
        (get, set, missing)
    });
    match &get {
        Ok(state) => println!(
            "kernel on COALESCE_GET v0 (veth): supported, {:?}",
            state.reply.coalesce
        ),
        Err(e) => println!("kernel on COALESCE_GET v0 (veth): {e}"),
    }
    match &set {
        Ok(_) => println!("kernel on COALESCE_SET v0 rx-usecs=10: accepted"),
        Err(e) => println!("kernel on COALESCE_SET v0 rx-usecs=10: {e}"),
    }
    // Whatever veth supports on this kernel, the answer must be a clean verdict naming
    // the device, never a transport or decode failure.
    if let Err(e) = &get {
        assert!(
            matches!(e, NicError::Kernel { errno, .. } if *errno == libc::EOPNOTSUPP),
            "{e}"
        );
        assert!(e.to_string().contains("v0"), "{e}");
    }
    if let Err(e) = &set {
        assert!(matches!(e, NicError::Kernel { .. }), "{e}");
        assert!(e.to_string().contains("on v0"), "{e}");
    }
    let e = missing.unwrap_err();
    assert!(
        matches!(e, NicError::Kernel { errno, .. } if errno == libc::ENODEV),
        "{e}"
    );
}

#[test]
fn unprivileged_set_is_refused_with_a_cap_net_admin_hint() {
    const CHILD: &str = "COALESCOPE_UNPRIVILEGED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // Running as nobody (see below): the genetlink layer checks CAP_NET_ADMIN before
        // the driver is asked, so even lo answers EPERM here.
        let e = nic::set_coalesce(
            "lo",
            Backend::Netlink,
            &Coalesce::new().with(Param::RxUsecs, 0),
        )
        .unwrap_err();
        println!("kernel on unprivileged COALESCE_SET lo: {e}");
        assert!(
            matches!(e, NicError::Kernel { errno, .. } if errno == libc::EPERM),
            "{e}"
        );
        assert!(e.to_string().contains("needs CAP_NET_ADMIN"), "{e}");
        return;
    }
    let euid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        println!("SKIP: dropping to an unprivileged user needs root");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "unprivileged_set_is_refused_with_a_cap_net_admin_hint",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output();
    let Ok(out) = out else {
        println!("SKIP: setpriv (util-linux) is not installed");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed");
    assert!(
        stdout.contains("1 passed"),
        "the child must have run the check"
    );
}
