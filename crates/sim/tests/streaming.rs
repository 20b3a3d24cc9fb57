//! The streaming simulator against the record-based one: the summary computed on the fly
//! (no records kept) equals one computed independently from every record (exact counts
//! and means; quantiles within 1/256 in sketch mode, identical in exact mode); the files
//! written as the run goes hold the same rows; parallel sweeps equal serial runs; and
//! settings whose values used to drive the cost (tiny rates, fast switching, huge
//! deferral counts) run under a bound on engine steps proportional to the packets.
#![allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)

use coalescope_sim::{
    simulate, simulate_summary, simulate_to_files, simulate_with, sweep, Collect, Fate,
    FileOutputs, QuantileMode, Scenario, ScenarioSpec, SimOutput, Summary, SKETCH_RELATIVE_ERROR,
};
use coalescope_timeline::io::{load_events, write_events, write_rows, Compression};
use coalescope_timeline::quantile::{nearest_rank, Prob};
use coalescope_timeline::Strings;

mod scenarios;
use scenarios::{BUSY_POLL, DEFERRAL};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml_str(text, None).unwrap()
}

fn default_with(packets: i64) -> Scenario {
    let mut spec = ScenarioSpec::default_spec();
    spec.packets = Some(packets);
    spec.validate(None).unwrap()
}

/// Three streams on two queues with TCP GRO and a 16-entry ring: ring-full drops
/// (17,839 of 60,000), GRO chains and queues interleaving.
const MIXED: &str = r#"
seed = 3
packets = 60000
[[stream]]
name = "a"
queue = 0
protocol = "tcp"
packet_bytes = 1500
arrivals = { kind = "mmpp", rates_per_s = [100000, 900000], switch_per_s = [2000, 8000] }
[[stream]]
name = "b"
queue = 1
arrivals = { kind = "poisson", rate_per_s = 50000 }
[[stream]]
name = "c"
queue = 1
kind = "ctl"
arrivals = { kind = "on_off", rate_per_s = 400000, on_mean_ns = 20000, off_mean_ns = 200000 }
[nic]
policy = "ethtool"
rx_usecs = 60
ring_size = 16
gro = "on"
[host]
preset = "realistic"
"#;

/// Per stream and overall: (generated, delivered, sorted delays, sorted stack delays,
/// sum of coalescing delays), computed from the records alone.
struct Independent {
    per_stream: Vec<StreamFacts>,
}

/// (generated, delivered, sorted delays, sorted stack delays, sum of coalescing delays).
type StreamFacts = (u64, u64, Vec<i64>, Vec<i64>, i128);

fn independent(out: &SimOutput) -> Independent {
    let n = out.scenario.streams().len();
    let mut per_stream = vec![(0u64, 0u64, Vec::new(), Vec::new(), 0i128); n];
    for r in &out.records {
        let s = &mut per_stream[r.stream_index()];
        s.0 += 1;
        if r.fate() == Fate::Delivered {
            s.1 += 1;
            s.2.push(r.t_app().unwrap().0 - r.t_ingress().0);
            s.3.push(r.t_stack().unwrap().0 - r.t_ingress().0);
            s.4 += i128::from(r.coalescing_delay_ns().unwrap());
        }
    }
    for s in &mut per_stream {
        s.2.sort_unstable();
        s.3.sort_unstable();
    }
    Independent { per_stream }
}

fn close(got: Option<i64>, want: Option<i64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => {
            let err = (g - w).abs() as f64;
            assert!(
                err <= w.abs() as f64 * SKETCH_RELATIVE_ERROR + 0.5,
                "{what}: sketch {g} vs exact {w}"
            );
        }
        (g, w) => assert_eq!(g, w, "{what}"),
    }
}

/// Checks `s` (from the streaming path in `mode`) against the records of `out`.
fn check_against_records(out: &SimOutput, s: &Summary, exact: bool) {
    let ind = independent(out);
    let mut all_d: Vec<i64> = Vec::new();
    let mut all_k: Vec<i64> = Vec::new();
    let mut cd: i128 = 0;
    for (i, (gen, del, d, k, c)) in ind.per_stream.iter().enumerate() {
        let st = &s.streams[i];
        assert_eq!(
            (st.packets, st.delivered, st.dropped),
            (*gen, *del, gen - del)
        );
        let mean = |sum: i128, n: usize| (n > 0).then(|| sum as f64 / n as f64);
        let dsum: i128 = d.iter().map(|&x| i128::from(x)).sum();
        assert_eq!(st.mean_added_delay_ns, mean(dsum, d.len()));
        assert_eq!(st.mean_coalescing_delay_ns, mean(*c, d.len()));
        assert_eq!(st.max_ns, d.last().copied());
        let q = |v: &[i64], p| nearest_rank(v, p);
        let pairs = [
            (st.p50_ns, q(d, Prob::P50), "p50"),
            (st.p99_ns, q(d, Prob::P99), "p99"),
            (st.stack_p50_ns, q(k, Prob::P50), "stack p50"),
            (st.stack_p99_ns, q(k, Prob::P99), "stack p99"),
            (st.stack_p999_ns, q(k, Prob::P999), "stack p999"),
        ];
        for (got, want, what) in pairs {
            if exact {
                assert_eq!(got, want, "stream {i} {what}");
            } else {
                close(got, want, &format!("stream {i} {what}"));
            }
        }
        all_d.extend_from_slice(d);
        all_k.extend_from_slice(k);
        cd += c;
    }
    all_d.sort_unstable();
    all_k.sort_unstable();
    assert_eq!(s.packets, out.records.len() as u64);
    assert_eq!(s.delivered, all_d.len() as u64);
    assert_eq!(s.dropped, s.packets - s.delivered);
    assert_eq!(
        s.mean_coalescing_delay_ns,
        (!all_d.is_empty()).then(|| cd as f64 / all_d.len() as f64)
    );
    assert_eq!(s.max_ns, all_d.last().copied());
    let pairs = [
        (s.p50_ns, nearest_rank(&all_d, Prob::P50), "p50"),
        (s.p90_ns, nearest_rank(&all_d, Prob::P90), "p90"),
        (s.p99_ns, nearest_rank(&all_d, Prob::P99), "p99"),
        (s.p999_ns, nearest_rank(&all_d, Prob::P999), "p999"),
        (s.stack_p50_ns, nearest_rank(&all_k, Prob::P50), "stack p50"),
        (s.stack_p99_ns, nearest_rank(&all_k, Prob::P99), "stack p99"),
        (
            s.stack_p999_ns,
            nearest_rank(&all_k, Prob::P999),
            "stack p999",
        ),
    ];
    for (got, want, what) in pairs {
        if exact {
            assert_eq!(got, want, "{what}");
        } else {
            close(got, want, what);
        }
    }
    // Everything the engine counts is the same whatever keeps the records.
    assert_eq!(
        (
            s.interrupts,
            s.software_polls,
            s.time_squeeze,
            s.span_ns,
            s.gro,
            s.drops
        ),
        (
            out.summary.interrupts,
            out.summary.software_polls,
            out.summary.time_squeeze,
            out.summary.span_ns,
            out.summary.gro,
            out.summary.drops
        )
    );
}

#[test]
fn streaming_summary_equals_the_records() {
    for sc in [
        default_with(100_000),
        scenario(DEFERRAL),
        scenario(BUSY_POLL),
        scenario(MIXED),
    ] {
        let out = simulate(&sc).unwrap();
        // The record-keeping path reports exact quantiles, checked independently.
        assert_eq!(out.summary.quantiles, "exact");
        assert_eq!(out.summary.quantile_relative_error, 0.0);
        check_against_records(&out, &out.summary, true);
        // Exact mode without records: the identical summary.
        let exact = simulate_summary(&sc, QuantileMode::Exact).unwrap().summary;
        assert_eq!(exact, out.summary);
        // Sketch mode: counts and means exact, quantiles within 1/256.
        let sketch = simulate_summary(&sc, QuantileMode::Sketch).unwrap().summary;
        check_against_records(&out, &sketch, false);
        // Every scenario above has a stream with more than 4096 delivered packets.
        assert_eq!(sketch.quantiles, "sketch");
        assert_eq!(sketch.quantile_relative_error, 1.0 / 256.0);
    }
}

#[test]
fn sketch_differs_from_exact_by_at_most_the_bound_on_the_default_scenario() {
    // Pinned exact values (pinned_outputs.rs): p50 55_000, p99 283_998. In the histogram
    // 55_000 lies in [54_784, 55_040) (width 2^8), reported as its middle 54_911; 283_998
    // lies in [282_624, 284_672) (width 2^11), middle 283_647.
    let s = simulate_summary(&default_with(100_000), QuantileMode::Sketch)
        .unwrap()
        .summary;
    assert_eq!((s.p50_ns, s.p99_ns), (Some(54_911), Some(283_647)));
    assert_eq!(s.mean_added_delay_ns, Some(71_998.001_52));
}

#[test]
fn small_series_stay_exact_in_sketch_mode() {
    let sc = default_with(3_000);
    let exact = simulate(&sc).unwrap().summary;
    let sketch = simulate_summary(&sc, QuantileMode::Sketch).unwrap().summary;
    assert_eq!(sketch, exact);
    assert_eq!(sketch.quantiles, "exact");
}

#[test]
fn collecting_sink_sees_the_records_of_simulate() {
    let sc = scenario(MIXED);
    let out = simulate(&sc).unwrap();
    assert_eq!(out.summary.drops.ring_full, 17_839);
    let mut sink = Collect::new();
    let run = simulate_with(&sc, QuantileMode::Exact, &mut sink).unwrap();
    let (records, interrupts) = sink.into_parts();
    assert_eq!(records, out.records);
    assert_eq!(interrupts, out.interrupts);
    assert_eq!(run.summary, out.summary);
    // Arrival indices are 0..n in order.
    assert!(records
        .iter()
        .enumerate()
        .all(|(i, r)| r.arrival_index() == i as u64));
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("coalescope-sim-stream-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn streamed_files_hold_the_records_and_are_deterministic() {
    for (name, sc) in [("mixed", scenario(MIXED)), ("deferral", scenario(DEFERRAL))] {
        let out = simulate(&sc).unwrap();
        for ext in ["csv", "parquet"] {
            let files = |tag: &str| FileOutputs {
                events: Some(tmp(&format!("{name}-events-{tag}.{ext}"))),
                interrupts: Some(tmp(&format!("{name}-irq-{tag}.{ext}"))),
                compression: Compression::default(),
            };
            let (a, b) = (files("a"), files("b"));
            let ra = simulate_to_files(&sc, QuantileMode::Sketch, &a).unwrap();
            let rb = simulate_to_files(&sc, QuantileMode::Sketch, &b).unwrap();
            assert_eq!(ra.summary, rb.summary);
            let bytes =
                |p: &Option<std::path::PathBuf>| std::fs::read(p.as_ref().unwrap()).unwrap();
            assert_eq!(bytes(&a.events), bytes(&b.events), "{name}.{ext}");
            assert_eq!(bytes(&a.interrupts), bytes(&b.interrupts), "{name}.{ext}");
            // The interrupt log is byte for byte what writing every record at once gives.
            let whole = tmp(&format!("{name}-irq-whole.{ext}"));
            write_rows(&whole, &out.interrupts, Compression::default()).unwrap();
            assert_eq!(bytes(&a.interrupts), std::fs::read(&whole).unwrap());
            // The events: the same rows as the record-based timeline (sorted by stream and
            // seq: queues interleave in the streamed file).
            let tl = out.timeline();
            let mut strings = Strings::new();
            let mut got = load_events(a.events.as_ref().unwrap(), &mut strings).unwrap();
            let mut s2 = Strings::new();
            let whole_ev = tmp(&format!("{name}-events-whole.{ext}"));
            write_events(&whole_ev, &tl.strings, &tl.events).unwrap();
            let mut want = load_events(&whole_ev, &mut s2).unwrap();
            assert_eq!(got.len(), out.records.len());
            let key = |st: &Strings, e: &coalescope_timeline::Event| {
                (st.get(e.stream).unwrap().to_string(), e.seq)
            };
            got.sort_by_key(|e| key(&strings, e));
            want.sort_by_key(|e| key(&s2, e));
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(key(&strings, g), key(&s2, w));
                assert_eq!(
                    (g.t_ingress, g.t_stack, g.t_app, g.kind),
                    (w.t_ingress, w.t_stack, w.t_app, w.kind)
                );
            }
            // One queue: the streamed file is the record-based file, byte for byte.
            if name == "deferral" && ext == "csv" {
                assert_eq!(bytes(&a.events), std::fs::read(&whole_ev).unwrap());
            }
        }
    }
}

#[test]
fn parallel_sweep_equals_serial_runs() {
    let mut scenarios = Vec::new();
    for seed in 1..=4i64 {
        for text in [DEFERRAL, MIXED] {
            let mut spec = ScenarioSpec::from_toml_str(text).unwrap();
            spec.seed = Some(seed);
            spec.packets = Some(20_000);
            scenarios.push(spec.validate(None).unwrap());
        }
    }
    for mode in [QuantileMode::Sketch, QuantileMode::Exact] {
        let par = sweep(&scenarios, mode);
        assert_eq!(par.len(), scenarios.len());
        for (sc, r) in scenarios.iter().zip(par) {
            let serial = simulate_summary(sc, mode).unwrap();
            let r = r.unwrap();
            assert_eq!(r.summary, serial.summary);
            assert_eq!(r.engine_steps, serial.engine_steps);
        }
    }
}

/// Engine steps per packet allowed: an arrival, a handful of host actions per packet
/// (fire, poll steps, completion) and at most `max(packets, 1024)` trailing polls.
const STEPS_PER_PACKET: u64 = 40;

fn bounded(text: &str) -> Summary {
    let sc = scenario(text);
    let run = simulate_summary(&sc, QuantileMode::Sketch).unwrap();
    let packets = sc.packets().max(1024);
    assert!(
        run.engine_steps <= STEPS_PER_PACKET * packets,
        "{} engine steps for {} packets",
        run.engine_steps,
        sc.packets()
    );
    run.summary
}

#[test]
fn tiny_poisson_rate_ends_its_stream_with_a_warning() {
    // Alone: the first arrival is past the time range; no packet, a warning.
    let s = bounded(
        r#"
packets = 20000
[[stream]]
name = "dead"
arrivals = { kind = "poisson", rate_per_s = 1e-300 }
"#,
    );
    assert_eq!((s.packets, s.delivered), (0, 0));
    assert!(s.streams[0].out_of_time_range);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0].contains("stream `dead` stopped after 0 packets"),
        "{:?}",
        s.warnings
    );
    // Beside a live stream: that stream gets every packet.
    let s = bounded(
        r#"
packets = 20000
[[stream]]
name = "live"
arrivals = { kind = "poisson", rate_per_s = 300000 }
[[stream]]
name = "dead"
queue = 1
arrivals = { kind = "poisson", rate_per_s = 1e-300 }
"#,
    );
    assert_eq!((s.packets, s.delivered), (20_000, 20_000));
    assert_eq!((s.streams[0].packets, s.streams[1].packets), (20_000, 0));
}

#[test]
fn periodic_stream_stops_at_the_time_horizon() {
    // Ticks k * 1e15 ns: the last one at or before 2^62 = 4.61e18 ns is k = 4611, so
    // 4612 packets of the 20000 asked for.
    let s = bounded(
        r#"
packets = 20000
[[stream]]
name = "slow"
arrivals = { kind = "periodic", period_ns = 1000000000000000 }
"#,
    );
    assert_eq!(s.packets, 4_612);
    assert!(s.streams[0].out_of_time_range);
    assert_eq!(s.delivered, 4_612);
}

#[test]
fn slow_stream_beside_a_fast_one_costs_what_the_packets_cost() {
    for queue in [0, 1] {
        let s = bounded(&format!(
            r#"
packets = 20000
[[stream]]
name = "fast"
arrivals = {{ kind = "poisson", rate_per_s = 300000 }}
[[stream]]
name = "slow"
queue = {queue}
arrivals = {{ kind = "poisson", rate_per_s = 0.5 }}
"#
        ));
        assert_eq!(s.packets, 20_000);
    }
}

#[test]
fn huge_deferral_count_is_bounded_by_the_packets() {
    let s = bounded(
        r#"
packets = 20000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 20000 }
[nic]
policy = "deferral"
rx_usecs = 10
gro_flush_timeout_ns = 50000
napi_defer_hard_irqs = 100000000
"#,
    );
    assert_eq!(s.delivered + s.dropped, 20_000);
    // After the last arrival at most max(packets, 1024) = 20000 trailing polls; before
    // it at most one software poll per 50 µs timer of the ~1 s span.
    assert!(
        s.software_polls <= 20_000 + 1_100_000 / 50,
        "{}",
        s.software_polls
    );
}

fn rejected(text: &str) -> String {
    let e = Scenario::from_toml_str(text, None).unwrap_err().to_string();
    assert!(
        e.contains("state switches per arrival") || e.contains("on periods per arrival"),
        "{e}"
    );
    e
}

#[test]
fn switching_faster_than_arrivals_is_rejected_naming_the_field() {
    let e = rejected(
        r#"
[[stream]]
name = "m"
arrivals = { kind = "mmpp", rates_per_s = [1, 1], switch_per_s = [1000000, 1000000] }
"#,
    );
    // 2 s0 s1 / (s0 + s1) = 1e6 switches per second over 1 arrival per second.
    assert!(
        e.contains("stream[0].arrivals.switch_per_s") && e.contains("1.000e6"),
        "{e}"
    );
    let e = rejected(
        r#"
[[stream]]
name = "m"
arrivals = { kind = "mmpp", rates_per_s = [1e-300, 1e-300], switch_per_s = [1, 1] }
"#,
    );
    assert!(e.contains("stream[0].arrivals.switch_per_s"), "{e}");
    let e = rejected(
        r#"
[[stream]]
name = "o"
arrivals = { kind = "on_off", rate_per_s = 1e-300, on_mean_ns = 1000, off_mean_ns = 1000 }
"#,
    );
    assert!(e.contains("stream[0].arrivals.on_mean_ns"), "{e}");
    // At the bound: 100 switches per arrival is accepted (rates 1e4, switching 1e6).
    let ok = r#"
packets = 2000
[[stream]]
name = "m"
arrivals = { kind = "mmpp", rates_per_s = [10000, 10000], switch_per_s = [1000000, 1000000] }
"#;
    let s = bounded(ok);
    assert_eq!(s.packets, 2_000);
}

#[test]
fn in_memory_tables_hold_what_the_files_hold() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, UInt64Type};
    use coalescope_sim::simulate_to_tables;
    use coalescope_timeline::io::read_events_arrow;

    let sc = scenario(MIXED);
    let out = simulate(&sc).unwrap();
    let files = FileOutputs {
        events: Some(tmp("tables-events.parquet")),
        interrupts: None,
        compression: Compression::default(),
    };
    let on_disk = simulate_to_files(&sc, QuantileMode::Sketch, &files).unwrap();
    let (run, tables) = simulate_to_tables(&sc, QuantileMode::Sketch).unwrap();
    assert_eq!(run.summary, on_disk.summary);

    // Events: the same rows in the same order as the Parquet file the run writes.
    let mut s_file = Strings::new();
    let want = load_events(files.events.as_ref().unwrap(), &mut s_file).unwrap();
    let (schema, batches) = tables.events;
    let mut reader = arrow_array::RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let mut s_mem = Strings::new();
    let mut got = Vec::new();
    read_events_arrow(
        std::path::Path::new("events"),
        &mut reader,
        &mut s_mem,
        |b, _| got.extend_from_slice(b),
    )
    .unwrap();
    assert_eq!(got.len(), 60_000);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(s_mem.get(g.stream), s_file.get(w.stream));
        assert_eq!(
            (g.seq, g.t_ingress, g.t_stack, g.t_app, g.kind),
            (w.seq, w.t_ingress, w.t_stack, w.t_app, w.kind)
        );
    }

    // Interrupts: every record of the record-based run, column by column.
    let (ischema, ibatches) = tables.interrupts;
    let names: Vec<&str> = ischema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["time_ns", "queue", "batch", "reason", "timer_ns"]);
    let mut k = 0;
    for b in &ibatches {
        let time = b.column(0).as_primitive::<Int64Type>();
        let queue = b.column(1).as_primitive::<UInt64Type>();
        let batch = b.column(2).as_primitive::<UInt64Type>();
        let reason = b.column(3).as_string::<i32>();
        let timer = b.column(4).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let r = &out.interrupts[k];
            assert_eq!(time.value(i), r.time.as_nanos());
            assert_eq!(queue.value(i), u64::from(r.queue));
            assert_eq!(batch.value(i), u64::from(r.batch));
            assert_eq!(
                reason.value(i),
                serde_json::to_value(r.reason).unwrap().as_str().unwrap()
            );
            assert_eq!(timer.value(i), r.timer_ns);
            k += 1;
        }
    }
    assert_eq!(k, out.interrupts.len());
    assert!(k > 1000, "{k} interrupts");
}
