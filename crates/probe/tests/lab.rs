//! blast → probe across the namespace lab (`lab/netns.sh`), with NAPI deferral off and
//! on, checking that the send→kernel delay moves the way deferral predicts.
//!
//! Needs root, `ip netns` and `ethtool`; otherwise it prints why it skipped and passes.
//! The namespaces are always removed afterwards (a Drop guard), even on failure.
//! Traffic stays inside the two namespaces the lab creates (10.77.0.1 → 10.77.0.2).
//!
//! What deferral predicts: with `napi_defer_hard_irqs = 2` and `gro_flush_timeout = W`
//! on the receiving veth, a NAPI poll that did work leaves the queue's "interrupt"
//! masked and arms a W timer; datagrams arriving meanwhile sit in the ring until the
//! timer's poll, which is where the kernel software RX timestamp is taken. With
//! Poisson arrivals at 5 000/s (mean gap 200 µs = W) nearly every datagram lands in a
//! masked period (it stays masked for up to 2 W after the last work), so its wait is
//! roughly uniform on [0, W): the median send→kernel delay rises by about W/2 = 100 µs.
//! Without deferral the poll runs in the sender's own softirq right after `send`, a
//! few µs. The assertion asks for a rise of at least W/4 = 50 µs in the median: half
//! the predicted rise, so timer slack or a slow VM (which can only make the deferred
//! case later) cannot make it flaky, while "deferral has no effect" (rise ≈ 0) fails.
//! There is deliberately no upper bound: on a busy 2-core VM the timer's NET_RX softirq
//! is often handed to ksoftirqd and waits for a scheduler tick, so the deferred median
//! can be several W (a 0.75 ms median was measured on the loaded development VM).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use coalescope_probe::receiver::{Mode, Receiver, ReceiverConfig, Recording};
use coalescope_probe::traffic::{blast, BlastConfig, BlastReport, Schedule};
use coalescope_timeline::Duration;
use nix::sched::{setns, CloneFlags};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;

const COUNT: u64 = 1_500;
const RATE_PPS: f64 = 5_000.0;
const FLUSH_TIMEOUT_NS: i64 = 200_000;
const DEFER_HARD_IRQS: u32 = 2;
const RX_ADDR: &str = "10.77.0.2:0";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../lab/netns.sh")
}

fn lab(args: &[&str]) -> Result<(), String> {
    let out = Command::new("sh")
        .arg(script())
        .args(args)
        .output()
        .map_err(|e| format!("running lab/netns.sh {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "lab/netns.sh {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The effective uid from /proc/self/status (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Why the lab cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works("ip", &["netns", "list"]) {
        return Some("`ip netns` is unavailable (install iproute2)".into());
    }
    if !works("ethtool", &["--version"]) {
        return Some("`ethtool` is unavailable (install ethtool)".into());
    }
    None
}

/// Removes the namespaces when dropped, whatever happened.
struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = lab(&["down"]) {
            eprintln!("lab cleanup: {e}");
        }
    }
}

fn enter(namespace: &str) {
    let file = std::fs::File::open(format!("/var/run/netns/{namespace}"))
        .unwrap_or_else(|e| panic!("opening namespace {namespace}: {e}"));
    setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns({namespace}): {e}"));
}

/// One blast → probe run; each side in its own thread inside its namespace.
fn run_once(seed: u64) -> (BlastReport, Recording) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop = &stop;
        let rx = scope.spawn(move || {
            enter("cs-rx");
            let mut config = ReceiverConfig::new(RX_ADDR.parse().unwrap());
            config.mode = Mode::Blocking;
            config.count = Some(COUNT);
            config.duration = Some(Duration::from_secs(15));
            config.idle_timeout = Some(Duration::from_secs(2));
            config.stream = Some("lab".into());
            config.rcvbuf_bytes = Some(4 << 20);
            let receiver = Receiver::bind(config).unwrap();
            ready_tx.send(receiver.local_addr()).unwrap();
            receiver.run(stop, |_| {})
        });
        let to = ready_rx.recv().expect("receiver bound");
        let tx = scope.spawn(move || {
            enter("cs-tx");
            let config = BlastConfig {
                to,
                bind: None,
                count: COUNT,
                schedule: Schedule::Poisson {
                    rate_pps: RATE_PPS,
                    seed,
                },
                payload_bytes: 64,
                tx_timestamps: false,
                keep_tx_records: false,
                cpu: None,
            };
            blast(&config, &AtomicBool::new(false)).unwrap()
        });
        (tx.join().unwrap(), rx.join().unwrap())
    })
}

fn p50_send_to_kernel(label: &str, report: &BlastReport, recording: &Recording) -> i64 {
    let s = &recording.summary;
    assert_eq!(report.sent, COUNT, "{label}: every send succeeded");
    assert_eq!(
        s.received + s.dropped,
        COUNT,
        "{label}: every seq accounted for"
    );
    assert!(
        s.received >= COUNT * 9 / 10,
        "{label}: veth lost too much: {s:?}"
    );
    let k = s.send_to_kernel.expect("kernel timestamps on veth");
    println!(
        "lab {label}: received {} dropped {} | send->kernel p50 {} ns p99 {} ns p99.9 {} ns max {} ns | send->app p50 {} ns | achieved {:.0} pps",
        s.received,
        s.dropped,
        k.p50_ns,
        k.p99_ns,
        k.p999_ns,
        k.max_ns,
        s.send_to_app.map_or(-1, |a| a.p50_ns),
        report.achieved_pps.unwrap_or(0.0),
    );
    k.p50_ns
}

#[test]
fn napi_deferral_raises_send_to_kernel_delay_on_veth() {
    if let Some(reason) = skip_reason() {
        println!("lab test skipped: {reason}");
        return;
    }
    let _guard = LabGuard;
    lab(&["up"]).unwrap();
    lab(&["deferral", "0", "0"]).unwrap();
    let (report, off) = run_once(11);
    let off_p50 = p50_send_to_kernel("deferral off", &report, &off);
    lab(&[
        "deferral",
        &DEFER_HARD_IRQS.to_string(),
        &FLUSH_TIMEOUT_NS.to_string(),
    ])
    .unwrap();
    let (report, on) = run_once(11);
    let on_p50 = p50_send_to_kernel("deferral on (2, 200us)", &report, &on);
    let rise = on_p50 - off_p50;
    println!(
        "lab: median send->kernel rise {rise} ns (predicted ~{} ns)",
        FLUSH_TIMEOUT_NS / 2
    );
    assert!(
        rise >= FLUSH_TIMEOUT_NS / 4,
        "deferral should raise the median send->kernel delay by ~W/2 = {} ns; measured off {off_p50} ns, on {on_p50} ns",
        FLUSH_TIMEOUT_NS / 2
    );
}
