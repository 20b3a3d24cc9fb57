//! `coalescope nic` and `coalescope audit` end to end: fake host roots, loopback, and a
//! veth pair in a network namespace created and removed by the test (root only).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_coalescope")
}

fn roots(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/proc/roots")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn audit_json_on_a_fake_root_and_gating() {
    let root = roots("default");
    let o = run(&["audit", "--root", &root, "--app-cpus", "2-3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // As in the library test, except coalescing is not queried under --root (info).
    assert_eq!(v["summary"]["fail"], 1);
    assert_eq!(v["summary"]["warn"], 11);
    assert_eq!(v["summary"]["info"], 6);
    assert_eq!(v["summary"]["pass"], 2);
    assert_eq!(v["items"][1]["name"], "cpu.idle_states");
    assert_eq!(v["items"][1]["status"], "fail");

    let o = run(&[
        "audit",
        "--root",
        &root,
        "--app-cpus",
        "2-3",
        "--fail-on",
        "fail",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = run(&[
        "audit",
        "--root",
        &roots("tuned"),
        "--app-cpus",
        "2-3",
        "--fail-on",
        "warn",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("14 pass, 2 info, 0 warn, 0 fail"),
        "{}",
        text(&o)
    );
    let o = run(&["audit", "--app-cpus", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn audit_live_host_table() {
    let o = run(&["audit"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("irq.irqbalance"));
}

#[test]
fn nic_show_lo_explains_and_still_shows_knobs() {
    let o = run(&["nic", "show", "lo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    println!("{out}");
    assert!(out.contains("coalescing: not available"), "{out}");
    assert!(out.contains("EOPNOTSUPP"), "{out}");
    assert!(out.contains("gro_flush_timeout"), "{out}");
    assert!(out.contains("napi_defer_hard_irqs"), "{out}");
    let o = run(&["nic", "show", "lo", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["iface"], "lo");
    assert!(v["coalesce"].is_null());
    assert_eq!(v["coalesce_errno"], 95);
    assert!(v["knobs"]["gro_flush_timeout"].is_u64());
}

#[test]
fn nic_show_unknown_interface_is_an_input_error() {
    let o = run(&["nic", "show", "nosuchdev0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no interface \"nosuchdev0\""),
        "{}",
        text(&o)
    );
}

#[test]
fn nic_set_lo_coalescing_is_refused_clearly() {
    let o = run(&["nic", "set", "lo", "--rx-usecs", "0", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot change rx-usecs on lo"),
        "{}",
        text(&o)
    );
    let o = run(&["nic", "set", "lo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nothing to set"));
    let o = run(&["nic", "set", "lo", "--param", "rx-bogus=1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("unknown coalescing parameter"),
        "{}",
        text(&o)
    );
}

#[test]
fn nic_sample_writes_the_time_series() {
    let dir = std::env::temp_dir().join(format!("coalescope-host-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("host.csv");
    let o = run(&[
        "nic",
        "sample",
        "--interval",
        "50ms",
        "--duration",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("t_ns,source,entity,cpu,counter,value,rate_per_s,detail")
    );
    let mut times = std::collections::BTreeSet::new();
    let mut sources = std::collections::BTreeSet::new();
    for line in lines {
        let mut f = line.splitn(3, ',');
        times.insert(f.next().unwrap().parse::<i64>().unwrap());
        sources.insert(f.next().unwrap().to_string());
    }
    assert_eq!(times.len(), 3, "samples at 0, 50 and 100 ms");
    // ksoftirqd threads are invisible inside a container's PID namespace.
    let ksoftirqd_visible = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.starts_with("ksoftirqd/"))
    });
    let want: std::collections::BTreeSet<String> = ["interrupts", "softnet", "netdev", "ksoftirqd"]
        .iter()
        .filter(|s| ksoftirqd_visible || **s != "ksoftirqd")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(sources, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

struct Netns(String);

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl Netns {
    fn create() -> Option<Netns> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            println!("SKIP: network namespaces need root");
            return None;
        }
        let name = format!("cs-cli-{}", std::process::id());
        if let Err(e) = ip(&["netns", "add", &name]) {
            println!("SKIP: {e}");
            return None;
        }
        let ns = Netns(name);
        for args in [
            vec![
                "-n",
                ns.0.as_str(),
                "link",
                "add",
                "v0",
                "type",
                "veth",
                "peer",
                "name",
                "v1",
            ],
            vec!["-n", ns.0.as_str(), "link", "set", "v0", "up"],
            vec!["-n", ns.0.as_str(), "link", "set", "v1", "up"],
        ] {
            if let Err(e) = ip(&args) {
                println!("SKIP: {e}");
                return None;
            }
        }
        Some(ns)
    }

    /// `ip netns exec` gives the command the namespace AND a sysfs showing its devices.
    fn coalescope(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0, bin()])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.0]) {
            eprintln!("cleanup failed: {e}");
        }
    }
}

fn knobs(ns: &Netns) -> (u64, u64) {
    let o = ns.coalescope(&["nic", "show", "v0", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["knobs"]["gro_flush_timeout"].as_u64().unwrap(),
        v["knobs"]["napi_defer_hard_irqs"].as_u64().unwrap(),
    )
}

#[test]
fn veth_knobs_set_show_restore_in_a_private_namespace() {
    let Some(ns) = Netns::create() else { return };
    let dir = std::env::temp_dir().join(format!("coalescope-veth-{}", std::process::id()));
    let save = dir.join("v0.json");
    let save_s = save.to_str().unwrap();
    let show = ns.coalescope(&["nic", "show", "v0"]);
    println!("nic show v0 (veth):\n{}", text(&show));
    assert_eq!(knobs(&ns), (0, 0));

    let dry = ns.coalescope(&[
        "nic",
        "set",
        "v0",
        "--gro-flush-timeout",
        "20000",
        "--napi-defer-hard-irqs",
        "2",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let v: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(v["changes"][0]["name"], "gro_flush_timeout");
    assert_eq!(
        (
            v["changes"][0]["old"].as_u64(),
            v["changes"][0]["new"].as_u64()
        ),
        (Some(0), Some(20000))
    );
    assert_eq!(knobs(&ns), (0, 0), "dry run changed nothing");

    let set = ns.coalescope(&[
        "nic",
        "set",
        "v0",
        "--gro-flush-timeout",
        "20000",
        "--napi-defer-hard-irqs",
        "2",
        "--save",
        save_s,
    ]);
    assert_eq!(set.status.code(), Some(0), "{}", text(&set));
    assert_eq!(knobs(&ns), (20000, 2));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&save).unwrap()).unwrap();
    assert_eq!(saved["knobs"]["gro_flush_timeout"], 0);

    let restore = ns.coalescope(&["nic", "restore", "v0", "--from", save_s]);
    assert_eq!(restore.status.code(), Some(0), "{}", text(&restore));
    assert_eq!(knobs(&ns), (0, 0));

    // veth without GRO/XDP has no NAPI instance: kernel 6.18 refuses `threaded` with
    // EOPNOTSUPP. Either way the answer must be clean: applied, or exit 2 naming the file.
    let save2 = dir.join("v0-threaded.json");
    let thr = ns.coalescope(&[
        "nic",
        "set",
        "v0",
        "--threaded",
        "on",
        "--save",
        save2.to_str().unwrap(),
    ]);
    println!("nic set v0 --threaded on: {}", text(&thr));
    match thr.status.code() {
        Some(0) => {
            let r = ns.coalescope(&["nic", "restore", "v0", "--from", save2.to_str().unwrap()]);
            assert_eq!(r.status.code(), Some(0), "{}", text(&r));
        }
        code => {
            assert_eq!(code, Some(2), "{}", text(&thr));
            assert!(
                text(&thr).contains("writing /sys/class/net/v0/threaded"),
                "{}",
                text(&thr)
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unprivileged_knob_write_names_the_file_and_the_fix() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        println!("SKIP: dropping to an unprivileged user needs root");
        return;
    }
    let save = std::env::temp_dir().join(format!("coalescope-unpriv-{}.json", std::process::id()));
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .args([
            "nic",
            "set",
            "lo",
            "--gro-flush-timeout",
            "1",
            "--save",
            save.to_str().unwrap(),
        ])
        .output();
    let Ok(o) = o else {
        println!("SKIP: setpriv (util-linux) is not installed");
        return;
    };
    let _ = std::fs::remove_file(&save);
    println!("{}", text(&o));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The temp dir is writable for nobody, so the save succeeds and the sysfs write fails.
    assert!(
        text(&o).contains("writing /sys/class/net/lo/gro_flush_timeout: Permission denied"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("needs root"), "{}", text(&o));
}
