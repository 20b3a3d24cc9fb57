//! Host realism: costs as distributions (quantile tables reproduce themselves through
//! the simulator), timer slack on the deferral re-poll timer, ring presets per device,
//! `[host]` files merged over a scenario, and determinism with distributions.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_sim::{
    simulate, CostDist, Device, FireReason, QuantileTable, Scenario, ScenarioSpec, SimOutput,
};

fn run(text: &str) -> SimOutput {
    simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap()
}

const P: [f64; 6] = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
const NS: [i64; 6] = [1500, 2400, 3100, 7000, 15000, 30000];

/// Nearest-rank quantile of sorted `xs`.
fn quantile(xs: &[i64], p: f64) -> i64 {
    let k = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[k]
}

#[test]
fn quantile_stack_cost_reproduces_its_table_at_low_rate() {
    // One interrupt per packet, every other cost 0, one packet per ms (the largest cost is
    // 30 µs, so nothing queues): t_stack - t_ingress is exactly one draw of the table.
    let out = run(r#"
seed = 2
packets = 100000
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000000 }
[nic]
policy = "none"
[host]
per_packet_cost_ns = { dist = "quantiles", p = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0], ns = [1500, 2400, 3100, 7000, 15000, 30000] }
"#);
    let mut d: Vec<i64> = out
        .records
        .iter()
        .map(|r| r.t_stack().unwrap().0 - r.t_ingress().0)
        .collect();
    d.sort_unstable();
    assert!(d[0] >= 1500 && *d.last().unwrap() <= 30000);
    // Within 3 % at p50 and p90 (the binomial standard error of the empirical CDF at p
    // with n = 1e5 draws is sqrt(p (1 - p) / n) <= 0.16 %, a few ns on those segments).
    for (p, want) in [(0.5, 2400.0), (0.9, 3100.0)] {
        let got = quantile(&d, p) as f64;
        assert!((got / want - 1.0).abs() < 0.03, "p{p}: {got} vs {want}");
    }
    // Above p99 the table is steep (8000 ns over 0.009 of probability: one standard
    // error is ~280 ns), so compare there in probability: the share of delays <= each
    // knot's ns is the knot's p within 4.5 standard errors.
    let n = d.len() as f64;
    for (&p, &x) in P.iter().zip(&NS).skip(1).take(4) {
        let share = d.partition_point(|&v| v <= x) as f64 / n;
        let se = (p * (1.0 - p) / n).sqrt();
        assert!((share - p).abs() <= 4.5 * se, "at {x} ns: {share} vs p {p}");
    }
    // t_app = t_stack: the application costs nothing.
    assert!(out.records.iter().all(|r| r.t_app() == r.t_stack()));
}

const SLACK: &str = r#"
seed = 1
packets = 3
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 10000000, phase_ns = 1000 }
[nic]
policy = "deferral"
gro_flush_timeout_ns = 200000
napi_defer_hard_irqs = 3
[host]
timer_slack_ns = 10000
"#;

#[test]
fn timer_slack_delays_every_deferral_repoll() {
    // Ideal host, one packet every 10 ms. Each packet interrupts at once (rx_usecs 0);
    // the poll finds it, so NAPI re-polls from the gro_flush_timeout timer; the slack S
    // makes each re-poll G + S = 200 + 10 µs after the previous one; after 3 empty
    // re-polls the interrupt is re-armed.
    let out = run(SLACK);
    let got: Vec<(i64, FireReason)> = out
        .interrupts
        .iter()
        .map(|i| (i.time.0, i.reason))
        .collect();
    let mut want = Vec::new();
    for k in 0..3i64 {
        let t = 1_000 + k * 10_000_000;
        want.push((t, FireReason::Count));
        for j in 1..=3 {
            want.push((t + j * 210_000, FireReason::Poll));
        }
    }
    assert_eq!(got, want);
    // Without slack, the same run re-polls every 200 µs.
    let out = run(&SLACK.replace("timer_slack_ns = 10000", "timer_slack_ns = 0"));
    assert_eq!(out.interrupts[1].time.0 - out.interrupts[0].time.0, 200_000);
    assert_eq!(out.interrupts[3].time.0 - out.interrupts[2].time.0, 200_000);
}

#[test]
fn hardware_timers_get_no_slack() {
    // ethtool rx-usecs 50 on one packet: the interrupt fires at exactly arrival + 50 µs.
    let out = run(r#"
packets = 1
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000000, phase_ns = 7 }
[nic]
rx_usecs = 50
[host]
timer_slack_ns = 99999
"#);
    assert_eq!(out.interrupts[0].time.0, 50_007);
}

#[test]
fn quantile_slack_lies_within_its_table() {
    let text = SLACK
        .replace("packets = 3", "packets = 2000")
        .replace("period_ns = 10000000", "period_ns = 1000000")
        .replace(
            "timer_slack_ns = 10000",
            "timer_slack_ns = { dist = \"quantiles\", p = [0.0, 1.0], ns = [4000, 20000] }",
        );
    let out = run(&text);
    let mut gaps = Vec::new();
    for w in out.interrupts.windows(2) {
        if w[1].reason == FireReason::Poll {
            gaps.push(w[1].time.0 - w[0].time.0 - 200_000);
        }
    }
    assert_eq!(gaps.len(), 3 * 2000);
    assert!(gaps.iter().all(|&s| (4000..=20000).contains(&s)));
    // Uniform on [4, 20] µs: mean 12 µs, standard error 4.6 µs / sqrt(6000) = 60 ns.
    let mean = gaps.iter().sum::<i64>() as f64 / gaps.len() as f64;
    assert!((mean - 12_000.0).abs() < 300.0, "{mean}");
}

const BURST: &str = r#"
packets = 300
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1 }
[nic]
device = "veth"
rx_usecs = 1000
[host]
"#;

#[test]
fn veth_ring_drops_exactly_the_excess_of_a_burst() {
    // 300 packets within 300 ns into a queue whose interrupt waits 1 ms: the 256-entry
    // veth ring takes the first 256, the other 44 are dropped ring_full.
    let s = Scenario::from_toml_str(BURST, None).unwrap();
    assert_eq!(s.ring_size(), 256);
    let out = simulate(&s).unwrap();
    assert_eq!(out.summary.drops.ring_full, 44);
    assert_eq!(out.summary.delivered, 256);
    assert_eq!(out.interrupts.len(), 1);
    assert_eq!(out.interrupts[0].batch, 256);
    // An explicit ring_size wins over the device's default.
    let out = run(&BURST.replace("device = \"veth\"", "device = \"veth\"\nring_size = 290"));
    assert_eq!(out.summary.drops.ring_full, 10);
}

#[test]
fn device_presets_set_the_ring_size() {
    let table: [(&str, u32); 11] = [
        ("veth", 256),
        ("virtio-net", 256),
        ("mlx5", 1024),
        ("ice", 2048),
        ("i40e", 512),
        ("ixgbe", 512),
        ("bnxt", 511),
        ("ena", 1024),
        ("sfc", 1024),
        ("generic", 1024),
        ("Virtio", 256),
    ];
    for (name, ring) in table {
        let text = BURST.replace("\"veth\"", &format!("{name:?}"));
        assert_eq!(
            Scenario::from_toml_str(&text, None).unwrap().ring_size(),
            ring,
            "{name}"
        );
    }
    for d in Device::ALL {
        assert_eq!(d.name().parse::<Device>(), Ok(d));
    }
    // No device: 1024, as before.
    let text = BURST.replace("device = \"veth\"\n", "");
    assert_eq!(
        Scenario::from_toml_str(&text, None).unwrap().ring_size(),
        1024
    );
    let e = Scenario::from_toml_str(&BURST.replace("\"veth\"", "\"e1000\""), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nic.device") && e.contains("e1000") && e.contains("veth, virtio-net, mlx5"),
        "{e}"
    );
    // The device survives a policy switch, like ring_size.
    let mut spec = ScenarioSpec::from_toml_str(BURST).unwrap();
    spec.set_policy(coalescope_sim::PolicyKind::Adaptive);
    assert_eq!(spec.validate(None).unwrap().ring_size(), 256);
}

#[test]
fn invalid_cost_tables_name_key_and_index() {
    let bad = |cost: &str| {
        Scenario::from_toml_str(&format!("{SLACK}per_packet_cost_ns = {cost}\n"), None)
            .unwrap_err()
            .to_string()
    };
    let e = bad("{ dist = \"quantiles\", p = [0.0, 0.5, 0.4, 1.0], ns = [1, 2, 3, 4] }");
    assert!(
        e.contains("host.per_packet_cost_ns.p[2]") && e.contains("> p[1]"),
        "{e}"
    );
    let e = bad("{ dist = \"quantiles\", p = [0.0, 0.5, 1.0], ns = [1, 9, 3] }");
    assert!(
        e.contains("host.per_packet_cost_ns.ns[2]") && e.contains("non-decreasing"),
        "{e}"
    );
    let e = bad("{ dist = \"quantiles\", p = [0.0, 0.5], ns = [1, 9] }");
    assert!(
        e.contains("host.per_packet_cost_ns.p[1]") && e.contains("exactly 1.0"),
        "{e}"
    );
    let e = bad("{ dist = \"exponential\", mean_ns = -4 }");
    assert!(
        e.contains("host.per_packet_cost_ns.mean_ns") && e.contains("-4"),
        "{e}"
    );
    let e = bad("-3");
    assert!(
        e.contains("host.per_packet_cost_ns") && e.contains("0..=1000000000"),
        "{e}"
    );
    let e = bad("{ dist = \"gauss\", ns = 3 }");
    assert!(
        e.contains("per_packet_cost_ns") && e.contains("gauss"),
        "{e}"
    );
    let e = bad("{ dist = \"fixed\", ns = 3, extra = 1 }");
    assert!(
        e.contains("per_packet_cost_ns") && e.contains("extra"),
        "{e}"
    );
    let e = bad("\"fast\"");
    assert!(e.contains("per_packet_cost_ns"), "{e}");
    // `app_service` shapes an integer app_service_ns only.
    let e = Scenario::from_toml_str(
        &format!("{SLACK}app_service = \"exponential\"\napp_service_ns = {{ dist = \"fixed\", ns = 5 }}\n"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("host.app_service"), "{e}");
}

#[test]
fn configs_carry_the_distributions() {
    let s = Scenario::from_toml_str(
        &format!(
            "{SLACK}irq_cost_ns = {{ dist = \"exponential\", mean_ns = 900 }}\napp_service_ns = 2000\napp_service = \"exponential\"\n"
        ),
        None,
    )
    .unwrap();
    let h = s.host();
    assert_eq!(
        h.irq_cost,
        CostDist::Exponential(coalescope_timeline::Duration(900))
    );
    assert_eq!(
        h.app_service,
        CostDist::Exponential(coalescope_timeline::Duration(2000))
    );
    assert_eq!(h.timer_slack, CostDist::fixed(10_000));
    let json = serde_json::to_string(h).unwrap();
    assert!(
        json.contains("\"irq_cost_ns\":{\"dist\":\"exponential\",\"mean_ns\":900}"),
        "{json}"
    );
    assert!(json.contains("\"timer_slack_ns\":10000"), "{json}");
    let q = QuantileTable::new(P.to_vec(), NS.to_vec()).unwrap();
    let json = serde_json::to_string(&CostDist::Quantiles(q)).unwrap();
    assert_eq!(
        json,
        "{\"dist\":\"quantiles\",\"p\":[0.0,0.5,0.9,0.99,0.999,1.0],\"ns\":[1500,2400,3100,7000,15000,30000]}"
    );
}

const HOST_FILE: &str = r#"
[host]
per_packet_cost_ns = { dist = "quantiles", p = [0.0, 0.5, 1.0], ns = [800, 1000, 4000] }
timer_slack_ns = 12000
"#;

#[test]
fn host_file_keys_win_and_the_rest_stay() {
    // A scenario with [host] (ideal base) and irq_cost_ns 700: the file replaces the
    // per-packet cost and the slack, the IRQ cost stays.
    let mut spec = ScenarioSpec::from_toml_str(&format!(
        "{SLACK}irq_cost_ns = 700\nper_packet_cost_ns = 5\n"
    ))
    .unwrap();
    spec.merge_host_toml(HOST_FILE).unwrap();
    let s = spec.validate(None).unwrap();
    assert_eq!(s.host().irq_cost, CostDist::fixed(700));
    assert_eq!(s.host().timer_slack, CostDist::fixed(12_000));
    assert!(matches!(s.host().per_packet_cost, CostDist::Quantiles(_)));
    assert_eq!(s.host().app_wakeup, CostDist::fixed(0));
    // A scenario without [host] ran the realistic preset: the file changes only its keys.
    let mut spec = ScenarioSpec::default_spec();
    spec.merge_host_toml("[host]\napp_wakeup_ns = 9000\n")
        .unwrap();
    let h = spec.validate(None).unwrap().host().clone();
    assert_eq!(h.app_wakeup, CostDist::fixed(9_000));
    assert_eq!(h.irq_cost, CostDist::fixed(1_500));
    // A later use_ideal_host (the --ideal-host flag) replaces the merged host.
    spec.use_ideal_host();
    assert_eq!(
        spec.validate(None).unwrap().host().app_wakeup,
        CostDist::fixed(0)
    );
}

#[test]
fn host_file_errors_name_the_table_or_key() {
    let mut spec = ScenarioSpec::from_toml_str(SLACK).unwrap();
    let e = spec
        .merge_host_toml("[host]\nirq_cost_ns = 1\n[nic]\nrx_usecs = 3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nic") && e.contains("host file"), "{e}");
    let e = spec
        .merge_host_toml("[host]\nirq_costs = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("irq_costs"), "{e}");
    let e = spec.merge_host_toml("seed = 3\n").unwrap_err().to_string();
    assert!(e.contains("seed"), "{e}");
    let e = spec.merge_host_toml("").unwrap_err().to_string();
    assert_eq!(e, "host file has no [host] table");
    // Values are checked as the file's, naming the key; the scenario is left unchanged.
    let before = spec.clone();
    let e = spec
        .merge_host_toml(
            "[host]\nksoftirqd_delay_ns = { dist = \"quantiles\", p = [0.0, 1.0], ns = [5, 2] }\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("host file: ") && e.contains("host.ksoftirqd_delay_ns.ns[1]"),
        "{e}"
    );
    assert_eq!(spec, before);
}

const ALL_DISTS: &str = r#"
seed = 21
packets = 60000
[[stream]]
name = "md"
arrivals = { kind = "mmpp", rates_per_s = [100000, 1500000], switch_per_s = [2000, 10000] }
[[stream]]
name = "acks"
queue = 1
arrivals = { kind = "poisson", rate_per_s = 5000 }
[nic]
policy = "deferral"
rx_usecs = 8
gro_flush_timeout_ns = 50000
napi_defer_hard_irqs = 2
[host]
irq_cost_ns = { dist = "exponential", mean_ns = 1500 }
per_packet_cost_ns = { dist = "quantiles", p = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0], ns = [300, 500, 700, 2000, 6000, 20000] }
app_wakeup_ns = { dist = "quantiles", p = [0.0, 0.9, 1.0], ns = [2000, 4000, 900000] }
app_service_ns = { dist = "exponential", mean_ns = 800 }
ksoftirqd_delay_ns = { dist = "exponential", mean_ns = 40000 }
timer_slack_ns = { dist = "quantiles", p = [0.0, 1.0], ns = [1000, 10000] }
netdev_budget = 64
"#;

fn bytes(out: &SimOutput) -> String {
    let recs: Vec<_> = out
        .records
        .iter()
        .map(|r| {
            (
                r.t_ingress().0,
                r.t_stack().map(|t| t.0),
                r.t_app().map(|t| t.0),
            )
        })
        .collect();
    format!(
        "{recs:?}{}{}",
        serde_json::to_string(&out.interrupts).unwrap(),
        serde_json::to_string(&out.summary).unwrap()
    )
}

#[test]
fn distributions_are_deterministic_and_leave_arrivals_alone() {
    let a = run(ALL_DISTS);
    let b = run(ALL_DISTS);
    assert_eq!(bytes(&a), bytes(&b));
    assert!(
        a.summary.time_squeeze > 0,
        "the ksoftirqd path is exercised"
    );
    let c = run(&ALL_DISTS.replace("seed = 21", "seed = 22"));
    assert_ne!(bytes(&a), bytes(&c));
    // The same scenario with fixed costs: different host times, identical arrivals.
    let fixed = run(&format!(
        "{}[host]\nirq_cost_ns = 1500\nper_packet_cost_ns = 500\n",
        &ALL_DISTS[..ALL_DISTS.find("[host]").unwrap()]
    ));
    assert_ne!(bytes(&a), bytes(&fixed));
    let arrivals = |o: &SimOutput| {
        o.records
            .iter()
            .map(|r| r.t_ingress().0)
            .collect::<Vec<_>>()
    };
    assert_eq!(arrivals(&a), arrivals(&fixed));
    // Conservation holds.
    let s = &a.summary;
    assert_eq!(s.delivered + s.dropped, 60_000);
}

#[test]
fn ingress_delay_shifts_the_ring_arrival_and_keeps_the_ring_fifo() {
    // Fixed 5 µs ingress delay, ideal host, one interrupt per packet, one packet per ms:
    // every packet reaches the ring (and, costs 0, leaves the stack) exactly 5 µs after
    // t_ingress, and the interrupt log shows the ring arrival times.
    let out = run(r#"
seed = 3
packets = 1000
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 1000000 }
[nic]
policy = "none"
[host]
preset = "ideal"
ingress_delay_ns = 5000
"#);
    for r in &out.records {
        assert_eq!(r.t_stack().unwrap().0 - r.t_ingress().0, 5000);
    }
    assert_eq!(out.interrupts[0].time.0, 5000);
    assert_eq!(out.interrupts[1].time.0, 1_005_000);
    // A spread-out delay (0..100 µs) at 100 k packets/s (10 µs apart): a packet never
    // overtakes the one before it, so t_stack is non-decreasing in send order and every
    // packet is at least as late as its own draw's lower bound (0) allows.
    let out = run(r#"
seed = 4
packets = 20000
[[stream]]
name = "md"
arrivals = { kind = "periodic", period_ns = 10000 }
[nic]
policy = "none"
[host]
preset = "ideal"
ingress_delay_ns = { dist = "quantiles", p = [0.0, 1.0], ns = [0, 100000] }
"#);
    let stacks: Vec<i64> = out.records.iter().map(|r| r.t_stack().unwrap().0).collect();
    assert!(stacks.windows(2).all(|w| w[0] <= w[1]));
    let d: Vec<i64> = out
        .records
        .iter()
        .map(|r| r.t_stack().unwrap().0 - r.t_ingress().0)
        .collect();
    assert!(d.iter().all(|&x| (0..=100_000).contains(&x)));
    // FIFO can only add delay: the mean exceeds the uniform draw's 50 µs.
    let mean = d.iter().sum::<i64>() as f64 / d.len() as f64;
    assert!(mean > 50_000.0, "{mean}");
}
