//! GRO and the kernel tick: hand-computed traces of `napi_complete_done` with UDP GRO
//! holding datagrams (tick flush while deferral is active, release at the poll when it is
//! not, the timer armed with `napi_defer_hard_irqs = 0`), the count/size limits, the
//! full-weight rule, the end-of-run flush, conservation and determinism.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_sim::{simulate, Fate, FireReason, GroCounts, Scenario, SimOutput};

fn run(text: &str) -> SimOutput {
    simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap()
}

fn stacks(out: &SimOutput) -> Vec<i64> {
    out.records.iter().map(|r| r.t_stack().unwrap().0).collect()
}

fn log(out: &SimOutput) -> Vec<(i64, u32, FireReason)> {
    out.interrupts
        .iter()
        .map(|i| (i.time.0, i.batch, i.reason))
        .collect()
}

const MS: i64 = 1_000_000;
const US: i64 = 1_000;

/// Five UDP datagrams of one flow at 3.0, 3.3, 3.6, 3.9 and 4.2 ms; ideal host, HZ 250
/// (a jiffy is 4 ms; jiffy 1 starts at 4.0 ms + phase), per-packet hardware interrupts.
fn five_packets(gro: &str, defer: u32, timeout_ns: i64, phase_ns: i64) -> SimOutput {
    run(&format!(
        r#"
packets = 5
[[stream]]
name = "md"
arrivals = {{ kind = "periodic", period_ns = 300000, phase_ns = 3000000 }}
[nic]
policy = "deferral"
gro = "{gro}"
gro_flush_timeout_ns = {timeout_ns}
napi_defer_hard_irqs = {defer}
[host]
hz = 250
tick_phase_ns = {phase_ns}
"#
    ))
}

#[test]
fn udp_gro_holds_until_the_first_poll_after_the_jiffy_boundary_while_deferral_is_active() {
    // defer 2, gro_flush_timeout 200 µs. Trace (ms):
    // 3.0 IRQ, poll takes p0; GRO holds it in a chain aged jiffy 0. napi_complete_done:
    //     work 1 with GRO held -> timeout 200 µs, count = 2 -> 1, IRQ stays masked, timer
    //     3.2; flush_old keeps the jiffy-0 chain (jiffies = 0).
    // 3.2 timer poll, empty: count 1 -> 0, timer 3.4, chain kept.
    // 3.4 poll takes p1 (3.3): merged; work 1 reloads count 2 -> 1, timer 3.6, kept.
    // 3.6 p2 arrives at the timer instant and joins that poll: merged, timer 3.8, kept.
    // 3.8 empty poll: count 1 -> 0, timer 4.0, kept (still jiffy 0).
    // 4.0 poll takes p3 (3.9): merged (4 segments). jiffies is now 1: flush_old flushes
    //     the jiffy-0 chain -> p0..p3 leave GRO together at 4.0 (tick_old). Timer 4.2.
    // 4.2 p4 joins the poll: new chain aged jiffy 1, count 2 -> 1, timer 4.4, kept.
    // 4.4 empty: count 1 -> 0, timer 4.6, kept (jiffy 1).
    // 4.6 empty: count 0, work 0 -> timeout 0: IRQ re-enabled, everything flushed: p4 at
    //     4.6 (poll_complete).
    let out = five_packets("udp-forwarding", 2, 200 * US, 0);
    assert_eq!(
        stacks(&out),
        vec![4 * MS, 4 * MS, 4 * MS, 4 * MS, 4_600 * US]
    );
    assert_eq!(
        log(&out),
        vec![
            (3 * MS, 1, FireReason::Count),
            (3_200 * US, 0, FireReason::Poll),
            (3_400 * US, 1, FireReason::Poll),
            (3_600 * US, 1, FireReason::Poll),
            (3_800 * US, 0, FireReason::Poll),
            (4 * MS, 1, FireReason::Poll),
            (4_200 * US, 1, FireReason::Poll),
            (4_400 * US, 0, FireReason::Poll),
            (4_600 * US, 0, FireReason::Poll),
        ]
    );
    assert_eq!(
        out.summary.gro,
        GroCounts {
            poll_complete: 1,
            tick_old: 1,
            packets_held: 5,
            segments_merged: 3,
            ..GroCounts::default()
        }
    );
    // Ideal host: t_app = t_stack. Nearest-rank p50 of t_stack - t_ingress over
    // {1.0, 0.7, 0.4, 0.1, 0.4} ms is the 3rd smallest, 0.4 ms; p99 is the largest.
    assert_eq!(out.summary.stack_p50_ns, Some(400 * US));
    assert_eq!(out.summary.stack_p99_ns, Some(MS));
    assert_eq!(out.summary.p50_ns, Some(400 * US));
    assert_eq!(out.summary.streams[0].stack_p999_ns, Some(MS));
}

#[test]
fn the_tick_phase_moves_the_flush() {
    // Same trace with jiffy 1 starting at 4.1 ms: the 4.0 poll is still in jiffy 0 (the
    // chain stays), p4 at 4.2 merges into the old chain (5 segments), and that poll's
    // flush_old sends all five at 4.2 ms.
    let out = five_packets("udp-forwarding", 2, 200 * US, 100 * US);
    assert_eq!(stacks(&out), vec![4_200 * US; 5]);
    assert_eq!(out.summary.gro.tick_old, 1);
    assert_eq!(out.summary.gro.segments_merged, 4);
}

#[test]
fn without_deferral_gro_releases_at_the_poll() {
    // defer 0, timeout 0: every poll's napi_complete_done has timeout 0 and flushes all.
    let out = five_packets("udp-forwarding", 0, 0, 0);
    assert_eq!(
        stacks(&out),
        vec![3 * MS, 3_300 * US, 3_600 * US, 3_900 * US, 4_200 * US]
    );
    assert_eq!(out.summary.gro.poll_complete, 5);
    assert_eq!(out.summary.gro.segments_merged, 0);
    assert_eq!(out.summary.software_polls, 0);
}

#[test]
fn plain_gro_on_does_not_hold_udp() {
    // gro on without rx-udp-gro-forwarding: UDP passes through; each packet leaves at the
    // poll that takes it (3.0, 3.4, 3.6, 4.0, 4.2 ms as traced above).
    let out = five_packets("on", 2, 200 * US, 0);
    assert_eq!(
        stacks(&out),
        vec![3 * MS, 3_400 * US, 3_600 * US, 4 * MS, 4_200 * US]
    );
    assert_eq!(out.summary.gro, GroCounts::default());
    let off = five_packets("off", 2, 200 * US, 0);
    assert_eq!(stacks(&off), stacks(&out));
}

/// 100 packets 1 µs apart, one ethtool timer interrupt at 1 ms, 100 ns of stack work per
/// packet: packet k leaves the poll's per-packet work at 1 ms + (k + 1) × 100 ns.
fn one_burst(extra_nic: &str, extra_host: &str, stream_extra: &str) -> SimOutput {
    run(&format!(
        r#"
packets = 100
[[stream]]
name = "md"
arrivals = {{ kind = "periodic", period_ns = 1000 }}
{stream_extra}
[nic]
rx_usecs = 1000
gro = "udp-forwarding"
{extra_nic}
[host]
per_packet_cost_ns = 100
{extra_host}
"#
    ))
}

#[test]
fn udp_chain_completes_at_64_segments() {
    // napi_weight 128: one poll call takes all 100. p63 fills the chain to
    // UDP_GRO_CNT_MAX = 64 and completes it at its own instant 1 ms + 64 × 100 ns; p64..p99
    // start a new chain, flushed when the poll completes at 1 ms + 100 × 100 ns.
    let out = one_burst("", "napi_weight = 128", "");
    let s = stacks(&out);
    assert!(s[..64].iter().all(|&t| t == 1_006_400), "{s:?}");
    assert!(s[64..].iter().all(|&t| t == 1_010_000), "{s:?}");
    assert_eq!(
        out.summary.gro,
        GroCounts {
            poll_complete: 1,
            count_limit: 1,
            packets_held: 100,
            segments_merged: 98,
            ..GroCounts::default()
        }
    );
}

#[test]
fn a_segment_that_would_reach_64_kib_completes_the_chain_without_it() {
    // 1500-byte datagrams: 43 segments are 64 500 bytes; the 44th would reach 66 000 >=
    // 65 536, so it completes the chain of 43 at its own instant and starts the next:
    // p0..p42 at 1 ms + 44 × 100 ns, p43..p85 at 1 ms + 87 × 100 ns, p86..p99 at the
    // poll's completion 1 ms + 100 × 100 ns.
    let out = one_burst("", "napi_weight = 128", "packet_bytes = 1500");
    let s = stacks(&out);
    assert!(s[..43].iter().all(|&t| t == 1_004_400), "{s:?}");
    assert!(s[43..86].iter().all(|&t| t == 1_008_700), "{s:?}");
    assert!(s[86..].iter().all(|&t| t == 1_010_000), "{s:?}");
    assert_eq!(out.summary.gro.size_limit, 2);
    assert_eq!(out.summary.gro.poll_complete, 1);
    assert_eq!(out.summary.gro.count_limit, 0);
}

#[test]
fn tcp_coalesces_with_plain_gro_on_and_has_no_count_limit() {
    let out = run(r#"
packets = 100
[[stream]]
name = "md"
protocol = "tcp"
arrivals = { kind = "periodic", period_ns = 1000 }
[nic]
rx_usecs = 1000
[host]
per_packet_cost_ns = 100
napi_weight = 128
"#);
    assert!(stacks(&out).iter().all(|&t| t == 1_010_000));
    assert_eq!(out.summary.gro.segments_merged, 99);
    assert_eq!(out.summary.gro.poll_complete, 1);
}

#[test]
fn a_full_weight_poll_flushes_all_below_hz_1000_and_only_old_chains_at_1000() {
    // napi_weight 50. HZ 250: each full call flushes everything: p0..p49 at 1 ms +
    // 50 × 100 ns, p50..p99 at 1 ms + 100 × 100 ns.
    let out = one_burst("", "napi_weight = 50", "");
    let s = stacks(&out);
    assert!(s[..50].iter().all(|&t| t == 1_005_000), "{s:?}");
    assert!(s[50..].iter().all(|&t| t == 1_010_000), "{s:?}");
    assert_eq!(out.summary.gro.full_weight, 2);
    // HZ 1000: the chain (aged jiffy 1, at 1.0001 ms) is still young at 1.005 ms and
    // stays; it completes at 64 segments (p63, 1 ms + 64 × 100 ns); p64..p99 stay through
    // the second full call and leave when the third call (empty) completes NAPI.
    let out = one_burst("", "napi_weight = 50\nhz = 1000", "");
    let s = stacks(&out);
    assert!(s[..64].iter().all(|&t| t == 1_006_400), "{s:?}");
    assert!(s[64..].iter().all(|&t| t == 1_010_000), "{s:?}");
    assert_eq!(out.summary.gro.full_weight, 0);
    assert_eq!(out.summary.gro.count_limit, 1);
    assert_eq!(out.summary.gro.poll_complete, 1);
}

fn timer_case(period_ns: i64) -> SimOutput {
    run(&format!(
        r#"
packets = 2
[[stream]]
name = "md"
arrivals = {{ kind = "periodic", period_ns = {period_ns}, phase_ns = 1000000 }}
[nic]
policy = "deferral"
gro = "udp-forwarding"
gro_flush_timeout_ns = 200000
napi_defer_hard_irqs = 0
[host]
"#
    ))
}

#[test]
fn defer_zero_with_gro_holding_rearms_the_irq_and_arms_the_timer() {
    // napi_defer_hard_irqs 0, gro_flush_timeout 200 µs. p0 at 1 ms: held; completion with
    // work and GRO held -> timeout 200 µs, no deferral: IRQ re-enabled AND timer armed
    // (flush_old keeps the chain). The timer polls at 1.2 ms (NAPI was not scheduled):
    // empty, timeout 0 -> flush: p0 leaves at 1.2 ms. Same for p1 at 11 ms.
    let out = timer_case(10 * MS);
    assert_eq!(stacks(&out), vec![1_200 * US, 11_200 * US]);
    assert_eq!(
        log(&out),
        vec![
            (MS, 1, FireReason::Count),
            (1_200 * US, 0, FireReason::Poll),
            (11 * MS, 1, FireReason::Count),
            (11_200 * US, 0, FireReason::Poll),
        ]
    );
    // p1 at 1.1 ms finds the IRQ enabled (a hardware interrupt, not a timer poll); its
    // poll merges it and restarts the timer to 1.3 ms, where both leave.
    let out = timer_case(100 * US);
    assert_eq!(stacks(&out), vec![1_300 * US, 1_300 * US]);
    assert_eq!(
        log(&out),
        vec![
            (MS, 1, FireReason::Count),
            (1_100 * US, 1, FireReason::Count),
            (1_300 * US, 0, FireReason::Poll),
        ]
    );
    assert_eq!(out.summary.gro.poll_complete, 1);
    assert_eq!(out.summary.interrupts, 2);
    assert_eq!(out.summary.software_polls, 1);
}

#[test]
fn what_gro_still_holds_when_polling_stops_leaves_at_end_of_run() {
    // HZ 1: the chain of p0 (1 ms) would wait for the tick at 1 s while 1 000 000 deferral
    // polls run every 200 µs. After the last arrival at most 1024 software polls per
    // queue run (the run has fewer packets); the 1025th timer, at 1 ms + 1025 × 200 µs,
    // ends the run and the chain leaves then.
    let out = run(r#"
packets = 1
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000, phase_ns = 1000000 }
[nic]
policy = "deferral"
gro = "udp-forwarding"
gro_flush_timeout_ns = 200000
napi_defer_hard_irqs = 1000000
[host]
hz = 1
"#);
    assert_eq!(stacks(&out), vec![MS + 1025 * 200 * US]);
    assert_eq!(out.summary.software_polls, 1024);
    assert_eq!(out.summary.gro.end_of_run, 1);
    assert_eq!(out.summary.delivered, 1);
}

#[test]
fn deferral_knobs_under_ethtool_run_deferral_over_its_settings() {
    let text = r#"
packets = 1
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000 }
[nic]
policy = "ethtool"
napi_defer_hard_irqs = 2
gro_flush_timeout_ns = 20000
"#;
    let s = Scenario::from_toml_str(text, None).unwrap();
    assert_eq!(s.policy().name(), "deferral");
    // rx_usecs keeps the ethtool default, 50 µs.
    assert_eq!(s.policy().timer().as_nanos(), 50_000);
    let zero = text.replace("= 2\n", "= 0\n").replace("= 20000", "= 0");
    assert_eq!(
        Scenario::from_toml_str(&zero, None)
            .unwrap()
            .policy()
            .name(),
        "ethtool"
    );
    let e = Scenario::from_toml_str(&text.replace("\"ethtool\"", "\"adaptive\""), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nic.gro_flush_timeout_ns") && e.contains("ethtool, deferral"),
        "{e}"
    );
}

#[test]
fn new_keys_are_validated_by_name() {
    let base = r#"
packets = 10
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 1000 }
[nic]
"#;
    let cases = [
        ("gro = \"maybe\"", "nic.gro"),
        ("[host]\nhz = 0", "host.hz"),
        ("[host]\nhz = 10001", "host.hz"),
    ];
    for (extra, field) in cases {
        let e = Scenario::from_toml_str(&format!("{base}{extra}\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
    let bad = base.replace("name = \"md\"", "name = \"md\"\nprotocol = \"sctp\"");
    let e = Scenario::from_toml_str(&bad, None).unwrap_err().to_string();
    assert!(e.contains("stream[0].protocol"), "{e}");
    let s = Scenario::from_toml_str(&format!("{base}gro = \"UDP-Forwarding\"\n"), None).unwrap();
    assert_eq!(s.gro().name(), "udp-forwarding");
    assert_eq!(s.host().hz, 250);
}

fn mixed(seed: u64, rate: u32, gro: &str, defer: u32, timeout_ns: i64, hz: u32) -> String {
    format!(
        r#"
seed = {seed}
packets = 6000
[[stream]]
name = "md"
arrivals = {{ kind = "mmpp", rates_per_s = [{rate}, {burst}], switch_per_s = [500, 2000] }}
[[stream]]
name = "bulk"
protocol = "tcp"
packet_bytes = 1400
arrivals = {{ kind = "poisson", rate_per_s = {rate} }}
[[stream]]
name = "acks"
kind = "ctl"
queue = 1
arrivals = {{ kind = "poisson", rate_per_s = 5000 }}
[nic]
policy = "deferral"
rx_usecs = 8
ring_size = 256
gro = "{gro}"
gro_flush_timeout_ns = {timeout_ns}
napi_defer_hard_irqs = {defer}
[host]
preset = "realistic"
hz = {hz}
tick_phase_ns = {phase}
backlog = 64
"#,
        burst = rate * 20,
        phase = seed as i64 * 777_777 - 2_000_000,
    )
}

#[test]
fn conservation_holds_with_gro_across_rates_and_settings() {
    let mut held = 0;
    for seed in 1..=3u64 {
        for rate in [2_000, 50_000] {
            for gro in ["off", "on", "udp-forwarding"] {
                for (defer, timeout) in [(0, 0), (0, 100_000), (2, 50_000), (1000, 200_000)] {
                    for hz in [250, 1000] {
                        let out = run(&mixed(seed, rate, gro, defer, timeout, hz));
                        let s = &out.summary;
                        let ctx =
                            format!("seed {seed} rate {rate} gro {gro} {defer}/{timeout} hz {hz}");
                        assert_eq!(s.delivered + s.dropped, s.packets, "{ctx}");
                        for (i, st) in s.streams.iter().enumerate() {
                            let generated =
                                out.records.iter().filter(|r| r.stream_index() == i).count();
                            assert_eq!(st.packets, generated as u64, "{ctx}");
                            assert_eq!(st.delivered + st.dropped, st.packets, "{ctx}");
                        }
                        for r in &out.records {
                            match r.fate() {
                                Fate::Delivered => {
                                    let stack = r.t_stack().unwrap();
                                    assert!(r.t_ingress() <= stack, "{ctx}: {r:?}");
                                    assert!(stack <= r.t_app().unwrap(), "{ctx}: {r:?}");
                                }
                                Fate::Dropped(_) => assert!(r.t_app().is_none(), "{ctx}"),
                                Fate::InFlight => panic!("{ctx}: lost in flight: {r:?}"),
                            }
                        }
                        let g = s.gro;
                        let chains = g.poll_complete
                            + g.tick_old
                            + g.full_weight
                            + g.count_limit
                            + g.size_limit
                            + g.end_of_run;
                        assert_eq!(g.packets_held, chains + g.segments_merged, "{ctx}");
                        if gro == "off" {
                            assert_eq!(g, GroCounts::default(), "{ctx}");
                        }
                        held += g.packets_held;
                    }
                }
            }
        }
    }
    assert!(held > 0);
}

#[test]
fn same_seed_same_records_and_summary_bytes() {
    let text = mixed(9, 20_000, "udp-forwarding", 2, 50_000, 250);
    let a = run(&text);
    let b = run(&text);
    assert_eq!(a.records, b.records);
    assert_eq!(a.interrupts, b.interrupts);
    assert_eq!(
        serde_json::to_string(&a.summary).unwrap(),
        serde_json::to_string(&b.summary).unwrap()
    );
    assert!(a.summary.gro.tick_old > 0, "{:?}", a.summary.gro);
}
