//! `coalescope sim` end to end: the README EQE example, the ideal host, invalid
//! scenarios (exit 2 naming the field and range), and output files.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use std::path::PathBuf;
use std::process::{Command, Output};

const EQE_EXAMPLE: &str = r#"seed = 7
packets = 1000000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 200000 }
[nic]
policy = "ethtool"
rx_usecs = 50
rx_frames = 0
"#;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("coalescope-sim-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalescope"))
        .arg("sim")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn readme_eqe_example_json_summary() {
    let d = dir("eqe");
    let path = d.join("eqe.toml");
    std::fs::write(&path, EQE_EXAMPLE).unwrap();
    let v = json_of(&sim(&[
        "--scenario",
        path.to_str().unwrap(),
        "--packets",
        "200000",
        "--json",
    ]));
    let s = &v["summary"];
    for key in [
        "packets",
        "delivered",
        "dropped",
        "interrupts",
        "interrupt_rate_per_s",
        "mean_coalescing_delay_ns",
        "mean_added_delay_ns",
        "p50_ns",
        "p90_ns",
        "p99_ns",
        "p999_ns",
        "max_ns",
        "full_wait_fraction",
        "timer_fired_fraction",
        "count_fired_fraction",
        "cpu_utilization",
        "time_squeeze",
        "drops",
        "streams",
        "cpu",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }
    assert_eq!(s["packets"], 200_000);
    assert_eq!(
        s["delivered"].as_u64().unwrap() + s["dropped"].as_u64().unwrap(),
        200_000
    );
    // λW = 10 with realistic costs. The ideal-host closed form is 27.3 µs of coalescing
    // delay and λ / (1 + λW) = 18182 interrupts/s; on a real host the packets that land
    // while NAPI is still polling ride along with no coalescing delay, so both are lower,
    // and the host costs add to the delay the application sees.
    let cd = s["mean_coalescing_delay_ns"].as_f64().unwrap();
    assert!(cd > 15_000.0 && cd < 27_273.0, "{cd}");
    assert!(s["mean_added_delay_ns"].as_f64().unwrap() > cd + 2_000.0);
    let rate = s["interrupt_rate_per_s"].as_f64().unwrap();
    assert!(rate > 12_000.0 && rate < 18_182.0, "{rate}");
    let p50 = s["p50_ns"].as_i64().unwrap();
    let p99 = s["p99_ns"].as_i64().unwrap();
    assert!(p50 <= p99 && p99 <= s["max_ns"].as_i64().unwrap());
    assert_eq!(v["scenario"]["seed"], 7);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn ideal_host_flags_without_a_file() {
    let v = json_of(&sim(&[
        "--rate",
        "200000",
        "--rx-usecs",
        "50",
        "--rx-frames",
        "0",
        "--ideal-host",
        "--packets",
        "200000",
        "--json",
    ]));
    let s = &v["summary"];
    assert_eq!(s["mean_coalescing_delay_ns"], s["mean_added_delay_ns"]);
    let fw = s["full_wait_fraction"].as_f64().unwrap();
    assert!((fw - 1.0 / 11.0).abs() < 0.005, "{fw}");
}

#[test]
fn default_scenario_runs_and_prints_a_table() {
    let out = sim(&["--packets", "20000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("mean coalescing delay") && text.contains("md") && text.contains("acks"),
        "{text}"
    );
}

#[test]
fn writes_events_and_interrupt_log() {
    let d = dir("files");
    let events = d.join("events.csv");
    let irqs = d.join("irqs.csv");
    let out = sim(&[
        "--packets",
        "5000",
        "-o",
        events.to_str().unwrap(),
        "--interrupts",
        irqs.to_str().unwrap(),
        "--json",
    ]);
    let v = json_of(&out);
    let csv = std::fs::read_to_string(&events).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "seq",
        "stream",
        "kind",
        "t_ingress_ns",
        "t_stack_ns",
        "t_app_ns",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert_eq!(csv.lines().count(), 5001);
    let log = std::fs::read_to_string(&irqs).unwrap();
    assert!(log.starts_with("time_ns,queue,batch,reason,timer_ns\n"));
    let logged = log
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(3) != Some("poll"))
        .count() as u64;
    assert_eq!(logged, v["summary"]["interrupts"].as_u64().unwrap());
    // Same seed, same bytes.
    let events2 = d.join("events2.csv");
    assert!(sim(&["--packets", "5000", "-o", events2.to_str().unwrap()])
        .status
        .success());
    assert_eq!(
        std::fs::read(&events).unwrap(),
        std::fs::read(&events2).unwrap()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn invalid(name: &str, text: &str, must_name: &[&str]) {
    let d = dir(name);
    let path = d.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = sim(&["--scenario", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{name}");
    let err = String::from_utf8_lossy(&out.stderr);
    for m in must_name {
        assert!(err.contains(m), "{name}: stderr lacks {m:?}: {err}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn invalid_scenarios_exit_2_naming_field_and_range() {
    invalid(
        "negative-rate",
        &EQE_EXAMPLE.replace("rate_per_s = 200000", "rate_per_s = -200000"),
        &["stream[0].arrivals.rate_per_s", "> 0"],
    );
    invalid(
        "unknown-policy",
        &EQE_EXAMPLE.replace("\"ethtool\"", "\"magic\""),
        &[
            "nic.policy",
            "magic",
            "ethtool, adaptive, throttle, nvme, virtio, deferral, none",
        ],
    );
    invalid(
        "frames-over-ring",
        &EQE_EXAMPLE.replace("rx_frames = 0", "rx_frames = 4096\nring_size = 512"),
        &["nic.rx_frames", "4096", "0..=512"],
    );
    invalid(
        "unknown-key",
        &EQE_EXAMPLE.replace("rx_usecs", "rx_usec"),
        &["rx_usec"],
    );
}

#[test]
fn invalid_flags_exit_2() {
    let out = sim(&["--rate", "-5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_per_s"));
    let out = sim(&["--rx-frames", "99999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nic.rx_frames"));
}

#[test]
fn policy_flag_switches_policy_of_the_default_scenario() {
    let v = json_of(&sim(&[
        "--policy",
        "throttle",
        "--max-interrupts-per-s",
        "20000",
        "--packets",
        "20000",
        "--json",
    ]));
    assert_eq!(v["scenario"]["policy"], "throttle");
    let rate = v["summary"]["interrupt_rate_per_s"].as_f64().unwrap();
    assert!(
        rate <= 2.0 * 20_000.0 * 1.01,
        "two queues, each at most 20000/s: {rate}"
    );
    let v = json_of(&sim(&[
        "--policy",
        "adaptive",
        "--packets",
        "20000",
        "--json",
    ]));
    assert_eq!(v["summary"]["policy"], "adaptive");
    let out = sim(&["--policy", "throttle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nic.max_interrupts_per_s"));
}

#[test]
fn policy_aliases_come_from_the_simulator_and_unknown_names_list_the_accepted_ones() {
    // `adaptive-rx` is an alias of adaptive (case-insensitive); net_dim starts at 8 µs.
    let v = json_of(&sim(&[
        "--policy",
        "Adaptive-RX",
        "--packets",
        "2000",
        "--json",
    ]));
    assert_eq!(v["scenario"]["policy"], "adaptive");
    assert_eq!(v["scenario"]["timer_ns"], 8_000);
    // nvme takes no timer mode: switching to it drops the default scenario's `mode = "eqe"`
    // instead of failing with "nic.mode does not apply".
    let v = json_of(&sim(&["--policy", "nvme", "--packets", "2000", "--json"]));
    assert_eq!(v["scenario"]["policy"], "nvme");
    assert_eq!(v["scenario"]["timer_ns"], 0);
    // The host serializes with the scenario's `_ns` keys.
    let v = json_of(&sim(&["--ideal-host", "--packets", "2000", "--json"]));
    assert_eq!(v["scenario"]["host"]["irq_cost_ns"], 0);
    assert_eq!(v["scenario"]["host"]["ksoftirqd_delay_ns"], 0);
    assert_eq!(v["scenario"]["timer_ns"], 50_000);
    let out = sim(&["--policy", "magic"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown policy \"magic\": expected one of ethtool, adaptive, throttle, nvme, virtio, deferral, none"),
        "{err}"
    );
}

#[test]
fn host_file_merges_over_the_scenario_and_flags_apply_after() {
    let d = dir("host-file");
    let scenario = d.join("eqe.toml");
    std::fs::write(
        &scenario,
        format!("{EQE_EXAMPLE}[host]\nirq_cost_ns = 700\nper_packet_cost_ns = 5\n"),
    )
    .unwrap();
    let host = d.join("host.toml");
    std::fs::write(
        &host,
        "[host]\nper_packet_cost_ns = { dist = \"quantiles\", p = [0.0, 0.5, 1.0], ns = [800, 1000, 4000] }\ntimer_slack_ns = 12000\n",
    )
    .unwrap();
    let (s, h) = (scenario.to_str().unwrap(), host.to_str().unwrap());
    let v = json_of(&sim(&[
        "--scenario",
        s,
        "--host",
        h,
        "--packets",
        "2000",
        "--json",
    ]));
    let got = &v["scenario"]["host"];
    // The file's keys win, the scenario's other keys stay, the rest is the ideal base.
    assert_eq!(
        got["per_packet_cost_ns"],
        serde_json::json!({"dist": "quantiles", "p": [0.0, 0.5, 1.0], "ns": [800, 1000, 4000]})
    );
    assert_eq!(got["timer_slack_ns"], 12_000);
    assert_eq!(got["irq_cost_ns"], 700);
    assert_eq!(got["app_wakeup_ns"], 0);
    // --ideal-host applies after the file: every cost 0.
    let v = json_of(&sim(&[
        "--scenario",
        s,
        "--host",
        h,
        "--ideal-host",
        "--packets",
        "2000",
        "--json",
    ]));
    assert_eq!(v["scenario"]["host"]["per_packet_cost_ns"], 0);
    assert_eq!(v["scenario"]["host"]["timer_slack_ns"], 0);
    // Without --scenario the default ran the realistic preset: only the file's keys change.
    let v = json_of(&sim(&["--host", h, "--packets", "2000", "--json"]));
    assert_eq!(v["scenario"]["host"]["irq_cost_ns"], 1_500);
    assert_eq!(v["scenario"]["host"]["timer_slack_ns"], 12_000);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn host_file_errors_name_the_file_and_key() {
    let d = dir("host-file-errors");
    let check = |name: &str, text: &str, must: &[&str]| {
        let path = d.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = sim(&["--host", path.to_str().unwrap(), "--packets", "100"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path.to_str().unwrap()), "{name}: {err}");
        for m in must {
            assert!(err.contains(m), "{name}: stderr lacks {m:?}: {err}");
        }
    };
    check(
        "other-table",
        "[host]\nirq_cost_ns = 1\n[nic]\nrx_usecs = 3\n",
        &["nic"],
    );
    check("typo", "[host]\nirq_costs_ns = 1\n", &["irq_costs_ns"]);
    check(
        "bad-table",
        "[host]\nper_packet_cost_ns = { dist = \"quantiles\", p = [0.0, 0.7, 0.6, 1.0], ns = [1, 2, 3, 4] }\n",
        &["host.per_packet_cost_ns.p[2]", "0.6"],
    );
    check("no-host", "seed = 3\n", &["seed"]);
    let missing = d.join("absent.toml");
    let out = sim(&["--host", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read host file"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn device_flag_sets_the_ring_and_ring_size_wins() {
    let v = json_of(&sim(&["--device", "veth", "--packets", "2000", "--json"]));
    assert_eq!(v["scenario"]["ring_size"], 256);
    let v = json_of(&sim(&[
        "--device",
        "ice",
        "--ring-size",
        "300",
        "--packets",
        "2000",
        "--json",
    ]));
    assert_eq!(v["scenario"]["ring_size"], 300);
    let v = json_of(&sim(&["--device", "bnxt", "--packets", "2000", "--json"]));
    assert_eq!(v["scenario"]["ring_size"], 511);
    let out = sim(&["--device", "e1000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("e1000") && err.contains("veth, virtio-net, mlx5"),
        "{err}"
    );
}

#[test]
fn gro_and_deferral_flags_reach_the_model() {
    // The lab contract: UDP GRO with forwarding, deferral that never ends (1000 empty
    // polls of 200 µs outlast every 0.5 ms gap) on an ideal host: datagrams wait for the
    // first timer poll after the next 4 ms jiffy boundary, so t_stack - t_ingress is
    // about uniform on (0, 4 ms] plus up to 200 µs: median near 2 ms, p99 near 4 ms.
    let args = |timeout: &'static str, gro: &'static str| {
        vec![
            "--rate",
            "2000",
            "--policy",
            "deferral",
            "--napi-defer-hard-irqs",
            "1000",
            "--gro-flush-timeout",
            timeout,
            "--gro",
            gro,
            "--hz",
            "250",
            "--ring-size",
            "256",
            "--packets",
            "20000",
            "--ideal-host",
            "--json",
        ]
    };
    let v = json_of(&sim(&args("200us", "udp-forwarding")));
    let s = &v["summary"];
    let p50 = s["stack_p50_ns"].as_i64().unwrap();
    let p99 = s["stack_p99_ns"].as_i64().unwrap();
    assert!((1_800_000..=2_300_000).contains(&p50), "{s}");
    assert!((3_800_000..=4_300_000).contains(&p99), "{s}");
    assert!(s["stack_p999_ns"].as_i64().unwrap() >= p99);
    assert!(s["gro"]["tick_old"].as_u64().unwrap() > 1000, "{s}");
    assert_eq!(s["streams"][0]["stack_p50_ns"], s["stack_p50_ns"]);
    assert_eq!(v["scenario"]["gro"], "udp-forwarding");
    assert_eq!(v["scenario"]["host"]["hz"], 250);
    assert_eq!(v["scenario"]["timer_ns"], 0);
    // Plain ns and "200us" are the same timeout.
    assert_eq!(
        json_of(&sim(&args("200000", "udp-forwarding")))["summary"],
        *s
    );
    // Without UDP forwarding nothing is held: each packet waits for the next 200 µs poll.
    let on = json_of(&sim(&args("200us", "on")));
    assert!(
        on["summary"]["stack_p99_ns"].as_i64().unwrap() <= 200_000,
        "{on}"
    );
    assert_eq!(on["summary"]["gro"]["packets_held"], 0);
}

#[test]
fn gro_flags_reject_bad_values_by_name() {
    let out = sim(&["--gro", "maybe", "--packets", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("maybe"));
    let out = sim(&["--hz", "0", "--packets", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host.hz"));
    let out = sim(&[
        "--gro-flush-timeout",
        "-5us",
        "--policy",
        "deferral",
        "--packets",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nic.gro_flush_timeout_ns"));
    // The deferral knobs under another policy name the policies that take them.
    let out = sim(&[
        "--policy",
        "adaptive",
        "--napi-defer-hard-irqs",
        "2",
        "--packets",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ethtool, deferral"));
}

/// Runs `coalescope sim ARGS` under `ulimit -v`: `kib` KiB of address space on top of the
/// binary's own size (its mapped code and data are at most the file; a debug build with
/// DataFusion maps ~120 MB of code before the simulator allocates anything).
fn sim_limited(kib: u64, args: &str) -> Output {
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_coalescope"))
        .unwrap()
        .len();
    let kib = kib + binary / 1024;
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" sim {args}",))
        .arg(env!("CARGO_BIN_EXE_coalescope"))
        .output()
        .unwrap()
}

#[test]
fn a_hundred_million_packets_fit_in_64_mib_of_address_space() {
    // Issue 9's memory target (sim, 10^8 packets, --json: <= 64 MB peak) checked by a
    // limit, not by timing: `ulimit -v` caps the whole address space (stacks, heap, on top
    // of the binary's size), which bounds the resident peak from above. Keeping a 40-byte
    // record per packet would need 4 GB; the streaming run needs a few MB whatever the count.
    let d = dir("memory");
    let path = d.join("eqe.toml");
    std::fs::write(&path, EQE_EXAMPLE).unwrap();
    let out = sim_limited(
        64 * 1024,
        &format!("--scenario {} --packets 100000000 --json", path.display()),
    );
    let v = json_of(&out);
    let s = &v["summary"];
    assert_eq!(s["packets"], 100_000_000);
    assert_eq!(s["delivered"], 100_000_000);
    assert_eq!(s["quantiles"], "sketch");
    assert_eq!(s["quantile_relative_error"], 1.0 / 256.0);
    // The same steady state as a short run (no limit): mean delays within 2 %.
    let short = json_of(&sim(&[
        "--scenario",
        path.to_str().unwrap(),
        "--packets",
        "200000",
        "--json",
    ]));
    for key in ["mean_coalescing_delay_ns", "mean_added_delay_ns"] {
        let (long, short) = (
            s[key].as_f64().unwrap(),
            short["summary"][key].as_f64().unwrap(),
        );
        assert!(
            (long - short).abs() <= 0.02 * short,
            "{key}: {long} vs {short}"
        );
    }
}

#[test]
fn huge_deferral_and_tiny_rates_stay_small_without_outputs() {
    let d = dir("cost");
    let defer = d.join("defer.toml");
    std::fs::write(
        &defer,
        r#"packets = 20000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 20000 }
[nic]
policy = "deferral"
rx_usecs = 10
gro_flush_timeout_ns = 50000
napi_defer_hard_irqs = 100000000
"#,
    )
    .unwrap();
    let v = json_of(&sim_limited(
        128 * 1024,
        &format!("--scenario {} --json", defer.display()),
    ));
    assert_eq!(v["summary"]["packets"], 20_000);
    let tiny = d.join("tiny.toml");
    std::fs::write(
        &tiny,
        r#"packets = 20000
[[stream]]
name = "live"
arrivals = { kind = "poisson", rate_per_s = 300000 }
[[stream]]
name = "dead"
arrivals = { kind = "poisson", rate_per_s = 1e-300 }
"#,
    )
    .unwrap();
    let out = sim_limited(128 * 1024, &format!("--scenario {} --json", tiny.display()));
    let v = json_of(&out);
    assert_eq!(v["summary"]["streams"][1]["packets"], 0);
    assert_eq!(v["summary"]["streams"][1]["out_of_time_range"], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: stream `dead` stopped after 0 packets"),
        "{stderr}"
    );
    assert_eq!(
        v["summary"]["warnings"][0].as_str().unwrap(),
        stderr.trim().strip_prefix("warning: ").unwrap()
    );
    // MMPP switching a million times per arrival is refused, naming the field.
    let mmpp = d.join("mmpp.toml");
    std::fs::write(
        &mmpp,
        r#"[[stream]]
name = "m"
arrivals = { kind = "mmpp", rates_per_s = [1, 1], switch_per_s = [1000000, 1000000] }
"#,
    )
    .unwrap();
    let out = sim(&["--scenario", mmpp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stream[0].arrivals.switch_per_s"));
}

#[test]
fn quantiles_exact_flag_matches_the_records() {
    let args = |mode: &str| json_of(&sim(&["--packets", "30000", "--quantiles", mode, "--json"]));
    let exact = args("exact");
    let sketch = args("sketch");
    let (e, s) = (&exact["summary"], &sketch["summary"]);
    assert_eq!(e["quantiles"], "exact");
    assert_eq!(e["quantile_relative_error"], 0.0);
    assert_eq!(s["quantiles"], "sketch");
    for key in [
        "packets",
        "delivered",
        "interrupts",
        "mean_added_delay_ns",
        "max_ns",
    ] {
        assert_eq!(e[key], s[key], "{key}");
    }
    for key in ["p50_ns", "p99_ns", "p999_ns", "stack_p99_ns"] {
        let (x, y) = (e[key].as_f64().unwrap(), s[key].as_f64().unwrap());
        assert!(
            (x - y).abs() <= x / 256.0 + 0.5,
            "{key}: exact {x} sketch {y}"
        );
    }
    let bad = sim(&["--quantiles", "fuzzy", "--packets", "10"]);
    assert_eq!(bad.status.code(), Some(2));
}
