//! Conservation (every event delivered or dropped with a reason) and determinism (same
//! seed, same bytes).
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_sim::{simulate, DropReason, Fate, Scenario, SimOutput};

fn run(text: &str) -> SimOutput {
    simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap()
}

fn assert_conserved(out: &SimOutput) {
    let s = &out.summary;
    assert_eq!(s.packets, out.records.len() as u64);
    assert_eq!(
        s.delivered + s.dropped,
        s.packets,
        "delivered + dropped = generated"
    );
    let mut by_reason = [0u64; 3];
    let mut delivered = 0;
    for r in &out.records {
        match r.fate() {
            Fate::Delivered => {
                delivered += 1;
                let app = r.t_app().expect("delivered has t_app");
                let stack = r.t_stack().expect("delivered has t_stack");
                assert!(r.t_ingress() <= stack && stack <= app, "{r:?}");
            }
            Fate::Dropped(reason) => {
                assert!(r.t_app().is_none());
                by_reason[DropReason::ALL.iter().position(|x| *x == reason).unwrap()] += 1;
            }
            Fate::InFlight => panic!("a packet was lost in flight: {r:?}"),
        }
    }
    assert_eq!(delivered, s.delivered);
    assert_eq!(
        by_reason,
        [s.drops.ring_full, s.drops.backlog_full, s.drops.stranded]
    );
    let per_stream: u64 = s.streams.iter().map(|x| x.delivered + x.dropped).sum();
    assert_eq!(per_stream, s.packets);
}

#[test]
fn tiny_ring_forces_drops_and_conserves() {
    let out = run(r#"
seed = 3
packets = 200000
[[stream]]
name = "md"
arrivals = { kind = "mmpp", rates_per_s = [200000, 3000000], switch_per_s = [2000, 8000] }
[nic]
rx_usecs = 100
ring_size = 8
"#);
    assert!(
        out.summary.drops.ring_full > 1_000,
        "{:?}",
        out.summary.drops
    );
    assert_conserved(&out);
}

#[test]
fn small_backlog_forces_backlog_drops() {
    let out = run(r#"
seed = 4
packets = 100000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 2000000 }
[nic]
rx_usecs = 20
[host]
preset = "realistic"
per_packet_cost_ns = 100
app_service_ns = 2000
backlog = 16
"#);
    assert!(
        out.summary.drops.backlog_full > 10_000,
        "{:?}",
        out.summary.drops
    );
    assert_conserved(&out);
}

#[test]
fn count_only_strands_the_tail_and_counts_it() {
    // 10 packets, rx-frames 4, no timer: two interrupts of 4, the last 2 never signalled.
    let out = run(r#"
packets = 10
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000 }
[nic]
rx_usecs = 0
rx_frames = 4
[host]
"#);
    assert_eq!(out.summary.interrupts, 2);
    assert_eq!(out.summary.drops.stranded, 2);
    assert_eq!(out.summary.delivered, 8);
    assert_conserved(&out);
}

#[test]
fn every_policy_conserves_on_a_busy_realistic_host() {
    let policies = [
        "policy = \"ethtool\"\nrx_usecs = 30\nrx_frames = 32",
        "policy = \"ethtool\"\nmode = \"cqe\"\nrx_usecs = 8",
        "policy = \"adaptive\"",
        "policy = \"throttle\"\nmax_interrupts_per_s = 20000",
        "policy = \"nvme\"\naggregation_time = 1\naggregation_threshold = 15",
        "policy = \"virtio\"\nmax_usecs = 40\nmax_packets = 64",
        "policy = \"deferral\"\ngro_flush_timeout_ns = 20000\nnapi_defer_hard_irqs = 2",
        "policy = \"none\"",
    ];
    for p in policies {
        let text = format!(
            r#"
seed = 5
packets = 100000
[[stream]]
name = "md"
arrivals = {{ kind = "on-off", rate_per_s = 2000000, on_mean_ns = 50000, off_mean_ns = 200000 }}
[[stream]]
name = "acks"
kind = "ctl"
queue = 1
arrivals = {{ kind = "poisson", rate_per_s = 50000 }}
[nic]
ring_size = 256
{p}
"#
        );
        let out = run(&text);
        assert_conserved(&out);
        assert!(out.summary.delivered > 0, "{p}");
        assert!(out.summary.interrupts > 0, "{p}");
        assert!(out.summary.cpu.time.softirq_ns > 0, "{p}");
    }
}

#[test]
fn busy_poll_has_no_interrupts_and_a_full_core() {
    let out = run(r#"
packets = 100000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 300000 }
[host]
preset = "realistic"
busy_poll = true
"#);
    assert_conserved(&out);
    assert_eq!(out.summary.interrupts, 0);
    assert!(out.interrupts.is_empty());
    assert!(
        (out.summary.cpu.app_core_utilization - 1.0).abs() < 1e-3,
        "{}",
        out.summary.cpu.app_core_utilization
    );
    // ρ = 300k/s * 1.5 µs = 0.45 on the polling core; no interrupt path.
    assert_eq!(out.summary.mean_coalescing_delay_ns, Some(0.0));
    assert!(out.summary.p50_ns.unwrap() >= 500);
}

#[test]
fn ksoftirqd_takes_leftovers_and_counts_time_squeeze() {
    // 2M pkt/s at 0.5 µs per packet in the stack: rounds run into netdev_budget.
    let out = run(r#"
packets = 200000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 1900000 }
[nic]
rx_usecs = 200
ring_size = 4096
"#);
    assert_conserved(&out);
    assert!(out.summary.time_squeeze > 0);
    assert!(out.summary.cpu.time.ksoftirqd_ns > 0);
}

fn events_csv(out: &SimOutput) -> String {
    let tl = out.timeline();
    let mut s = String::from("seq,stream,kind,t_ingress_ns,t_stack_ns,t_app_ns\n");
    let opt =
        |v: Option<coalescope_timeline::Instant>| v.map(|i| i.0.to_string()).unwrap_or_default();
    for e in &tl.events {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            e.seq,
            tl.strings.resolve(e.stream),
            e.kind.as_str(),
            e.t_ingress.0,
            opt(e.t_stack),
            opt(e.t_app)
        ));
    }
    s
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let text =
        coalescope_sim::DEFAULT_SCENARIO_TOML.replace("packets = 1000000", "packets = 50000");
    let a = run(&text);
    let b = run(&text);
    let json = |o: &SimOutput| serde_json::to_string(&o.summary).unwrap();
    assert_eq!(events_csv(&a), events_csv(&b));
    assert_eq!(json(&a), json(&b));
    // The interrupt log, every field of every record (what its table is written from).
    assert!(!a.interrupts.is_empty());
    assert_eq!(a.interrupts, b.interrupts);
    let c = run(&text.replace("seed = 7", "seed = 8"));
    assert_ne!(events_csv(&a), events_csv(&c));
}

#[test]
fn adding_a_stream_leaves_other_streams_arrivals_unchanged() {
    let one = r#"
packets = 3000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 100000 }
"#;
    let two = format!("{one}\n[[stream]]\nname = \"other\"\narrivals = {{ kind = \"poisson\", rate_per_s = 100000 }}\n");
    let a = run(one);
    let b = run(&two);
    let md = |o: &SimOutput| -> Vec<i64> {
        o.records
            .iter()
            .filter(|r| r.stream_index() == 0)
            .map(|r| r.t_ingress().0)
            .collect()
    };
    let (ma, mb) = (md(&a), md(&b));
    assert!(mb.len() > 1_000);
    assert_eq!(&ma[..mb.len()], &mb[..]);
}

#[test]
fn every_shipped_scenario_is_valid_and_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut spec = coalescope_sim::ScenarioSpec::from_toml_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        spec.packets = Some(20_000);
        let out = simulate(&spec.validate(Some(&dir)).unwrap()).unwrap();
        assert_conserved(&out);
        n += 1;
    }
    assert!(n >= 5, "found {n} scenarios");
}
