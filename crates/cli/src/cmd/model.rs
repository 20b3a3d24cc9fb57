//! `coalescope model`: the closed forms of SPEC §3 and the latency budgets, one topic per
//! subcommand. All arithmetic lives in `coalescope-model`; this module parses flags,
//! calls it, and prints a table or one JSON object.

use anyhow::anyhow;
use coalescope_model::budget::{BudgetInput, Path, Technique};
use coalescope_model::cutthrough::CutThrough;
use coalescope_model::dvfs::{DvfsInput, ServiceVariability, Stability};
use coalescope_model::nic::{
    EthtoolSetting, NicCoalescing, NicPrediction, NicSweep, Regime, SweepParameter,
};
use coalescope_model::nvme::NvmeCoalescing;
use coalescope_model::rtjitter::ReleaseJitterInput;
use coalescope_model::sensor::SensorReduction;
use coalescope_model::var::{Constraint, VarInput};
use coalescope_model::virtio::{VirtioCoalescing, VirtioQuery};
use coalescope_model::ModelError;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  coalescope model nic --rate 200000 --rx-usecs 50 --rx-frames 0
  coalescope model nic --rate 1e6 --rx-frames 64 --sweep-usecs 0,8,16,32,64,128 --json
  coalescope model nvme --rate 50000 --aggregation-time 1 --threshold 7
  coalescope model virtio --rate 1e5 --max-usecs 20 --max-packets 32 --interrupt-ns 2000
  coalescope model sensor --rate 100 --reduction 10
  coalescope model dvfs --rate 1e5 --service-ns 2500 --freq-scale 0.5 --coalescing-delay-ns 20000
  coalescope model var --rate 1e6 --deadline-us 60 --compute-fixed-ns 5000 \\
      --compute-per-item-ns 100 --max-update-rate 1e5
  coalescope model rt-jitter --period-us 1000 --window-us 50 --background-rate 1e5
  coalescope model budget tx --technique kernel-bypass,tx-push,ctpio
  coalescope model cut-through --frame-bytes 1500 --pcie-gbps 64 --link-gbps 10
  coalescope model net-dim --samples eth0-q3.csv --mode eqe

Invalid values are usage errors (exit 2) naming the flag and its accepted range.";

/// Flags of `coalescope model`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    topic: Topic,
}

/// The model topics.
#[derive(clap::Subcommand, Debug)]
enum Topic {
    /// NIC EQE coalescing (ethtool rx-usecs / rx-frames) under Poisson arrivals.
    Nic(NicArgs),
    /// NVMe interrupt coalescing (feature 08h: aggregation time, 0's-based threshold).
    Nvme(NvmeArgs),
    /// virtio-net notification coalescing and paravirtual batching cost.
    Virtio(VirtioArgs),
    /// Sensor batching: the window (and the count) that cut wake-ups by k.
    Sensor(SensorArgs),
    /// DVFS + coalescing response time (approximate: M/G/1 with frequency-scaled service).
    Dvfs(DvfsArgs),
    /// VaR / batch-risk engine: feasible (W, B) under a deadline, an update-rate cap and
    /// stability (utilisation rho < 1).
    Var(VarArgs),
    /// Release jitter of a periodic real-time task released by a coalesced interrupt.
    RtJitter(RtJitterArgs),
    /// Latency budget of the tx or rx path, stage by stage, with techniques applied.
    Budget(BudgetArgs),
    /// Time to first byte on the wire: cut-through versus store-and-forward.
    CutThrough(CutThroughArgs),
    /// Replay recorded queue counters through Linux net_dim (adaptive-rx) decisions.
    NetDim(super::net_dim::Args),
}

/// Run `coalescope model`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let json = args.json;
    match args.topic {
        Topic::Nic(a) => nic(a, json),
        Topic::Nvme(a) => nvme(a, json),
        Topic::Virtio(a) => virtio(a, json),
        Topic::Sensor(a) => sensor(a, json),
        Topic::Dvfs(a) => dvfs(a, json),
        Topic::Var(a) => var(a, json),
        Topic::RtJitter(a) => rt_jitter(a, json),
        Topic::Budget(a) => budget(a, json),
        Topic::CutThrough(a) => cut_through(a, json),
        Topic::NetDim(a) => super::net_dim::run(a, json),
    }
}

// ---------------------------------------------------------------- flag parsers

/// A Poisson rate per second.
fn rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v <= 1e12 {
        Ok(v)
    } else {
        Err("accepted: a rate per second in (0, 1e12]".into())
    }
}

/// A rate per second that may be zero.
fn rate_or_zero(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1e12).contains(&v) {
        Ok(v)
    } else {
        Err("accepted: a rate per second in [0, 1e12]".into())
    }
}

/// A finite number > 0.
fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("accepted: a finite number > 0".into())
    }
}

/// A finite number >= 0.
fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err("accepted: a finite number >= 0".into())
    }
}

/// A duration in µs (fractions allowed), converted to whole ns.
fn micros(s: &str) -> Result<i64, String> {
    let v = number(s)?;
    if (0.0..=1e9).contains(&v) {
        Ok((v * 1000.0).round() as i64)
    } else {
        Err("accepted: microseconds in [0, 1e9]".into())
    }
}

/// A CPU frequency scale.
fn freq_scale(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v <= 4.0 {
        Ok(v)
    } else {
        Err("accepted: a fraction of nominal frequency in (0, 4]".into())
    }
}

fn number(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a finite number")),
    }
}

/// `name=ns` for a budget stage override.
fn stage_override(s: &str) -> Result<(String, i64), String> {
    let (name, ns) = s
        .split_once('=')
        .ok_or_else(|| "accepted: NAME=NS, e.g. coalescing=25000".to_string())?;
    let ns: i64 = ns
        .trim()
        .parse()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| format!("accepted: NAME=NS with NS an integer >= 0, got '{ns}'"))?;
    Ok((name.trim().to_string(), ns))
}

fn technique(s: &str) -> Result<Technique, String> {
    s.trim()
        .parse::<Technique>()
        .map_err(|_| "accepted: kernel-bypass, zero-copy, tx-push, ctpio, busy-poll".into())
}

/// Turn a model error into a message that names the flag the field came from.
fn flag_error(err: ModelError, flags: &[(&str, &str)]) -> anyhow::Error {
    let mut msg = err.to_string();
    for (field, flag) in flags {
        let quoted = format!("`{field}`");
        if msg.contains(&quoted) {
            msg = msg.replacen(&quoted, &format!("{flag} (`{field}`)"), 1);
        }
    }
    anyhow!(msg)
}

// ---------------------------------------------------------------- output helpers

/// A library result printed as one JSON object with the topic's name first.
#[derive(serde::Serialize)]
struct Tagged<'a, T: serde::Serialize> {
    topic: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Two library values (typically the input and its result) printed as one object.
#[derive(serde::Serialize)]
struct Pair<'a, A: serde::Serialize, B: serde::Serialize> {
    #[serde(flatten)]
    input: &'a A,
    #[serde(flatten)]
    result: &'a B,
}

fn print_tagged<T: serde::Serialize>(topic: &'static str, body: &T) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&Tagged { topic, body })?);
    Ok(ExitCode::SUCCESS)
}

/// A readable duration from ns.
fn ns(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "unbounded".into()
    } else if a >= 1e9 {
        format!("{:.4} s", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.4} ms", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.3} µs", v / 1e3)
    } else {
        format!("{v:.1} ns")
    }
}

fn per_s(v: f64) -> String {
    format!("{v:.1} /s")
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header.iter().map(|h| Cell::new(*h)));
    t
}

/// A two-column table of (quantity, value).
fn key_values(title: &str, rows: &[(&str, String)]) {
    let mut t = table(&["quantity", "value"]);
    for (k, v) in rows {
        t.add_row(vec![
            Cell::new(*k),
            Cell::new(v).set_alignment(CellAlignment::Right),
        ]);
    }
    println!("{title}\n{t}");
}

fn nic_rows(p: &NicPrediction, worst: Option<i64>) -> Vec<(&'static str, String)> {
    vec![
        ("mean added delay", ns(p.mean_added_delay_ns)),
        (
            "worst-case delay",
            worst.map_or("unbounded".into(), |w| ns(w as f64)),
        ),
        (
            "fraction waiting the full window",
            format!("{:.6}", p.full_wait_fraction),
        ),
        ("interrupt rate", per_s(p.interrupt_rate_per_s)),
        ("mean batch size", format!("{:.4}", p.mean_batch_size)),
        (
            "count-limited probability",
            format!("{:.6}", p.count_limited_probability),
        ),
        ("mean batch close time D", ns(p.mean_batch_close_ns)),
    ]
}

// ---------------------------------------------------------------- nic

/// Flags of `model nic`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model nic --rate 200000 --rx-usecs 50 --rx-frames 0 --json\n         coalescope model nic --rate 1e6 --rx-frames 64 --sweep-usecs 0,8,16,32,64\n         coalescope model nic --rate 1e6 --rx-usecs 50 --sweep-frames 0,16,64,256\nA sweep varies one parameter and holds the other at its flag: --sweep-usecs (alias --sweep)\nvaries rx-usecs and cannot be combined with --rx-usecs; --sweep-frames varies rx-frames and\ncannot be combined with --rx-frames (both are usage errors naming the two flags)."
)]
struct NicArgs {
    /// Poisson packet rate per second.
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// Timer in µs (ethtool rx-usecs); 0 disables the timer condition. Held during
    /// --sweep-frames.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000_000),
          required_unless_present = "sweep_usecs", conflicts_with = "sweep_usecs")]
    rx_usecs: Option<u32>,
    /// Count threshold (ethtool rx-frames); 0 disables the count condition. Held during
    /// --sweep-usecs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_048_576),
          conflicts_with = "sweep_frames")]
    rx_frames: u32,
    /// Vary rx-usecs over these values (comma-separated), holding --rx-frames; one row each.
    #[arg(long, visible_alias = "sweep", value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(0..=1_000_000_000))]
    sweep_usecs: Vec<u32>,
    /// Vary rx-frames over these values (comma-separated), holding --rx-usecs; one row each.
    #[arg(long, value_delimiter = ',', conflicts_with = "sweep_usecs",
          value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    sweep_frames: Vec<u32>,
}

fn regime_name(regime: Regime) -> &'static str {
    match regime {
        Regime::PerPacket => "one interrupt per packet",
        Regime::TimerOnly => "timer only",
        Regime::CountOnly => "count only",
        Regime::TimerAndCount => "timer + count",
    }
}

fn nic(a: NicArgs, json: bool) -> anyhow::Result<ExitCode> {
    let flags = [
        ("rate_per_s", "--rate"),
        ("window_ns", "--rx-usecs"),
        ("frames", "--rx-frames"),
        ("values", "--sweep-usecs / --sweep-frames"),
    ];
    let base = EthtoolSetting {
        rate_per_s: a.rate,
        // clap requires --rx-usecs unless --sweep-usecs varies it.
        rx_usecs: a.rx_usecs.unwrap_or(0),
        rx_frames: a.rx_frames,
    };
    let sweep = match (a.sweep_usecs.is_empty(), a.sweep_frames.is_empty()) {
        (false, _) => Some((SweepParameter::RxUsecs, a.sweep_usecs)),
        (true, false) => Some((SweepParameter::RxFrames, a.sweep_frames)),
        (true, true) => None,
    };
    let Some((varies, values)) = sweep else {
        let r = base.report().map_err(|e| flag_error(e, &flags))?;
        if json {
            return print_tagged("nic", &r);
        }
        let title = format!(
            "NIC EQE coalescing, Poisson {} packets/s, rx-usecs {}, rx-frames {} ({})",
            a.rate,
            r.rx_usecs,
            r.rx_frames,
            regime_name(r.regime)
        );
        key_values(&title, &nic_rows(&r.prediction, r.worst_case_delay_ns));
        return Ok(ExitCode::SUCCESS);
    };
    let r = NicSweep {
        base,
        varies,
        values,
    }
    .run()
    .map_err(|e| flag_error(e, &flags))?;
    if json {
        return print_tagged("nic", &r);
    }
    let mut t = table(&[
        "rx-usecs",
        "rx-frames",
        "mean delay",
        "worst case",
        "full-wait frac",
        "interrupts/s",
        "mean batch",
        "P[count-limited]",
    ]);
    for row in &r.sweep {
        let p = &row.prediction;
        t.add_row(vec![
            row.rx_usecs.to_string(),
            row.rx_frames.to_string(),
            ns(p.mean_added_delay_ns),
            row.worst_case_delay_ns
                .map_or("unbounded".into(), |w| ns(w as f64)),
            format!("{:.4}", p.full_wait_fraction),
            format!("{:.1}", p.interrupt_rate_per_s),
            format!("{:.3}", p.mean_batch_size),
            format!("{:.4}", p.count_limited_probability),
        ]);
    }
    let held = match (r.rx_usecs, r.rx_frames) {
        (Some(u), _) => format!("sweeping rx-frames, rx-usecs held at {u}"),
        (None, Some(f)) => format!("sweeping rx-usecs, rx-frames held at {f}"),
        (None, None) => String::new(),
    };
    println!(
        "NIC EQE coalescing sweep, Poisson {} packets/s, {held}\n{t}",
        a.rate
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- nvme

/// Flags of `model nvme`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model nvme --rate 50000 --aggregation-time 1 --threshold 7\n(TIME = 0 means no delay: one interrupt per completion, whatever THR says; the equivalent\ncount is then reported as 1, what is modelled.)"
)]
struct NvmeArgs {
    /// Completion rate per second (Poisson).
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// Aggregation time TIME in 100 µs units; 0 = interrupt per completion.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=255))]
    aggregation_time: u32,
    /// Aggregation threshold THR, 0's based (0 means 1 entry).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=255))]
    threshold: u32,
}

fn nvme(a: NvmeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let input = NvmeCoalescing {
        rate_per_s: a.rate,
        aggregation_time: a.aggregation_time,
        threshold: a.threshold,
    };
    let p = input.predict().map_err(|e| {
        flag_error(
            e,
            &[
                ("rate_per_s", "--rate"),
                ("aggregation_time", "--aggregation-time"),
                ("threshold", "--threshold"),
            ],
        )
    })?;
    if json {
        return print_tagged(
            "nvme",
            &Pair {
                input: &input,
                result: &p,
            },
        );
    }
    let count_label = if p.per_completion {
        "equivalent count (per completion)"
    } else {
        "equivalent count (THR + 1)"
    };
    let mut rows = vec![
        ("equivalent window", ns(p.window_ns as f64)),
        (count_label, p.entries.to_string()),
    ];
    rows.extend(nic_rows(&p.prediction, Some(p.worst_case_delay_ns)));
    key_values(
        &format!(
            "NVMe coalescing, {} completions/s, TIME {} (x100 µs), THR {}",
            a.rate, a.aggregation_time, a.threshold
        ),
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- virtio

/// Flags of `model virtio`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model virtio --rate 1e5 --max-usecs 20 --max-packets 32 --interrupt-ns 2000 --hypercall-ns 1000 --batch 8"
)]
struct VirtioArgs {
    /// Packet rate per second (Poisson).
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// max_usecs; 0 notifies on every packet (unlike ethtool).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000_000))]
    max_usecs: u32,
    /// max_packets; 0 notifies on every packet (unlike ethtool).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    max_packets: u32,
    /// Cost of one hypercall (guest kick), ns.
    #[arg(long, value_parser = non_negative)]
    hypercall_ns: Option<f64>,
    /// Cost of one injected interrupt, ns.
    #[arg(long, value_parser = non_negative)]
    interrupt_ns: Option<f64>,
    /// Fixed batch size k for the paravirtual batching cost H/k and I/k.
    #[arg(long, value_parser = positive)]
    batch: Option<f64>,
}

fn virtio(a: VirtioArgs, json: bool) -> anyhow::Result<ExitCode> {
    let flags = [
        ("rate_per_s", "--rate"),
        ("frames", "--max-packets"),
        ("hypercall_ns", "--hypercall-ns"),
        ("interrupt_ns", "--interrupt-ns"),
        ("batch", "--batch"),
    ];
    let r = VirtioQuery {
        coalescing: VirtioCoalescing {
            rate_per_s: a.rate,
            max_usecs: a.max_usecs,
            max_packets: a.max_packets,
        },
        hypercall_ns: a.hypercall_ns,
        interrupt_ns: a.interrupt_ns,
        batch: a.batch,
    }
    .report()
    .map_err(|e| flag_error(e, &flags))?;
    if json {
        return print_tagged("virtio", &r);
    }
    let p = &r.prediction;
    let mut rows = vec![(
        "notify per packet (a field is 0)",
        p.notify_per_packet.to_string(),
    )];
    rows.extend(nic_rows(&p.prediction, p.worst_case_delay_ns));
    if let (Some(per_packet), Some(cpu)) = (
        r.coalesced_interrupt_cost_per_packet_ns,
        r.coalesced_interrupt_cpu_fraction,
    ) {
        rows.push(("interrupt cost per packet (coalesced)", ns(per_packet)));
        rows.push(("CPU share of interrupts", format!("{:.4} %", cpu * 100.0)));
    }
    if let Some(c) = r.batching {
        rows.push((
            "hypercall cost per packet H/k",
            ns(c.hypercall_per_packet_ns),
        ));
        rows.push((
            "interrupt cost per packet I/k",
            ns(c.interrupt_per_packet_ns),
        ));
        rows.push(("saved per packet vs k = 1", ns(c.saved_per_packet_ns)));
    }
    key_values(
        &format!(
            "virtio-net notification coalescing, {} packets/s, max_usecs {}, max_packets {}",
            a.rate, a.max_usecs, a.max_packets
        ),
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- sensor

/// Flags of `model sensor`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model sensor --rate 100 --reduction 10"
)]
struct SensorArgs {
    /// Sample rate per second (Poisson).
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// Wake-up reduction factor k (1 = wake on every sample).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    reduction: u32,
}

fn sensor(a: SensorArgs, json: bool) -> anyhow::Result<ExitCode> {
    let input = SensorReduction {
        rate_per_s: a.rate,
        reduction: a.reduction,
    };
    let plan = input
        .plan()
        .map_err(|e| flag_error(e, &[("rate_per_s", "--rate"), ("reduction", "--reduction")]))?;
    if json {
        return print_tagged(
            "sensor",
            &Pair {
                input: &input,
                result: &plan,
            },
        );
    }
    let mut t = table(&[
        "policy",
        "setting",
        "wake-ups/s",
        "mean delay",
        "worst case",
    ]);
    t.add_row(vec![
        "timer window w = (k-1)/λ".to_string(),
        ns(plan.window_ns),
        per_s(plan.wakeup_rate_per_s),
        ns(plan.window_mean_delay_ns),
        ns(plan.window_worst_case_ns),
    ]);
    t.add_row(vec![
        "count threshold B = k".to_string(),
        format!("{} samples", plan.count_threshold),
        per_s(plan.wakeup_rate_per_s),
        ns(plan.count_mean_delay_ns),
        plan.count_worst_case_ns.map_or("unbounded".into(), ns),
    ]);
    println!(
        "Sensor batching, {} samples/s, wake-ups cut by k = {}\n{t}",
        a.rate, a.reduction
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- dvfs

/// Flags of `model dvfs`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model dvfs --rate 1e5 --service-ns 2500 --freq-scale 0.5 --rx-usecs 20\nThe answer is approximate; at rho >= 1 it is \"unstable\" (exit 0 unless --fail-if-unstable)."
)]
struct DvfsArgs {
    /// Arrival rate of work items per second (Poisson).
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// Mean service time at nominal frequency, ns.
    #[arg(long, value_parser = positive)]
    service_ns: f64,
    /// CPU frequency as a fraction of nominal (service scales as 1/f).
    #[arg(long, value_parser = freq_scale)]
    freq_scale: f64,
    /// Coefficient of variation of the service time (default 1: exponential).
    #[arg(long, value_parser = non_negative, conflicts_with = "service_second_moment_ns2")]
    service_cv: Option<f64>,
    /// Second moment E[S²] of the service time at nominal frequency, ns².
    #[arg(long, value_parser = positive)]
    service_second_moment_ns2: Option<f64>,
    /// Mean coalescing delay added before the work is queued, ns.
    #[arg(long, value_parser = non_negative, default_value_t = 0.0, conflicts_with = "rx_usecs")]
    coalescing_delay_ns: f64,
    /// Instead of --coalescing-delay-ns: derive it from the NIC model with this rx-usecs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000_000))]
    rx_usecs: Option<u32>,
    /// Count threshold for the NIC model (with --rx-usecs).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_048_576), requires = "rx_usecs")]
    rx_frames: u32,
    /// Exit 1 when the queue is unstable.
    #[arg(long)]
    fail_if_unstable: bool,
}

fn dvfs(a: DvfsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let flags = [
        ("rate_per_s", "--rate"),
        ("service_ns", "--service-ns"),
        ("freq_scale", "--freq-scale"),
        ("service_cv", "--service-cv"),
        ("service_second_moment_ns2", "--service-second-moment-ns2"),
        ("coalescing_delay_ns", "--coalescing-delay-ns"),
    ];
    let coalescing_delay_ns = match a.rx_usecs {
        Some(usecs) => {
            NicCoalescing {
                rate_per_s: a.rate,
                window_ns: i64::from(usecs) * 1000,
                frames: a.rx_frames,
            }
            .predict()
            .map_err(|e| flag_error(e, &flags))?
            .mean_added_delay_ns
        }
        None => a.coalescing_delay_ns,
    };
    let variability = match (a.service_cv, a.service_second_moment_ns2) {
        (_, Some(m)) => ServiceVariability::SecondMomentNs2(m),
        (Some(c), None) => ServiceVariability::Cv(c),
        (None, None) => ServiceVariability::Cv(1.0),
    };
    let p = DvfsInput {
        rate_per_s: a.rate,
        service_ns: a.service_ns,
        freq_scale: a.freq_scale,
        variability,
        coalescing_delay_ns,
    }
    .predict()
    .map_err(|e| flag_error(e, &flags))?;
    let unstable = p.status == Stability::Unstable;
    let code = if unstable && a.fail_if_unstable {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        print_tagged("dvfs", &p)?;
        return Ok(code);
    }
    let answer = |x: Option<f64>| x.map_or("unstable".to_string(), ns);
    let rows = vec![
        ("utilisation rho", format!("{:.4}", p.rho)),
        ("service at this frequency", ns(p.scaled_service_ns)),
        ("coalescing delay", ns(p.coalescing_delay_ns)),
        ("M/G/1 queue wait (P-K)", answer(p.queue_wait_ns)),
        ("mean response time", answer(p.mean_response_ns)),
    ];
    key_values(
        "DVFS + coalescing response time (APPROXIMATE: batch arrivals break M/G/1; the \
         simulator is the reference)",
        &rows,
    );
    if let Some(reason) = &p.reason {
        println!("UNSTABLE: {reason}");
    }
    Ok(code)
}

// ---------------------------------------------------------------- var

/// Flags of `model var`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model var --rate 1e6 --deadline-us 60 --compute-fixed-ns 5000 --compute-per-item-ns 100 --max-update-rate 1e5\nA candidate (W, B) is feasible when W + compute(B) <= deadline, its update rate <= the cap,\nand the engine keeps up: rho = update rate x mean compute < 1 (else \"unstable\"). The worst\ncase and the mean latency exclude the wait behind the previous update (queueing). A count-only\ncandidate (W = 0, B >= 2) has an unbounded worst case and never meets a deadline."
)]
struct VarArgs {
    /// Market-event rate per second (Poisson).
    #[arg(long, value_parser = rate)]
    rate: f64,
    /// Candidate windows W in µs, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = micros,
          default_value = "0,1,2,5,10,20,50,100,200,500")]
    window_us: Vec<i64>,
    /// Candidate count thresholds B, comma-separated (each >= 1).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1_048_576),
          default_value = "1,2,4,8,16,32,64,128,256,512")]
    batch: Vec<u32>,
    /// Deadline from event arrival to update complete, µs.
    #[arg(long, value_parser = micros)]
    deadline_us: i64,
    /// Fixed cost of one risk update, ns.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000_000))]
    compute_fixed_ns: i64,
    /// Extra cost per event in the batch, ns.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000_000))]
    compute_per_item_ns: i64,
    /// Highest acceptable update (interrupt) rate per second.
    #[arg(long, value_parser = positive)]
    max_update_rate: f64,
    /// Show every candidate, not only the feasible ones.
    #[arg(long)]
    all: bool,
    /// Exit 1 when no candidate is feasible.
    #[arg(long)]
    fail_if_infeasible: bool,
}

fn var(a: VarArgs, json: bool) -> anyhow::Result<ExitCode> {
    let plan = VarInput {
        rate_per_s: a.rate,
        deadline_ns: a.deadline_us,
        compute_fixed_ns: a.compute_fixed_ns,
        compute_per_item_ns: a.compute_per_item_ns,
        max_update_rate_per_s: a.max_update_rate,
        windows_ns: a.window_us.clone(),
        batches: a.batch.clone(),
    }
    .plan()
    .map_err(|e| {
        flag_error(
            e,
            &[
                ("rate_per_s", "--rate"),
                ("deadline_ns", "--deadline-us"),
                ("compute_fixed_ns", "--compute-fixed-ns"),
                ("compute_per_item_ns", "--compute-per-item-ns"),
                ("max_update_rate_per_s", "--max-update-rate"),
                ("windows_ns", "--window-us"),
                ("batches", "--batch"),
            ],
        )
    })?;
    let code = if !plan.feasible() && a.fail_if_infeasible {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        print_tagged("var", &plan)?;
        return Ok(code);
    }
    let mut t = table(&[
        "W",
        "B",
        "worst case*",
        "mean latency*",
        "updates/s",
        "rho",
        "deadline",
        "rate cap",
        "stability",
    ]);
    let ok = |b: bool| if b { "ok" } else { "VIOLATED" };
    for c in plan.candidates.iter().filter(|c| a.all || c.feasible()) {
        t.add_row(vec![
            ns(c.window_ns as f64),
            c.batch.to_string(),
            c.worst_case_excl_queueing_ns
                .map_or("unbounded".into(), |w| ns(w as f64)),
            ns(c.mean_latency_excl_queueing_ns),
            format!("{:.1}", c.update_rate_per_s),
            format!("{:.4}", c.rho),
            ok(c.meets_deadline).into(),
            ok(c.meets_rate_cap).into(),
            (if c.stable { "ok" } else { "UNSTABLE" }).into(),
        ]);
    }
    println!(
        "VaR update batching: {} events/s, deadline {}, compute {} ns + {} ns/event, cap {} updates/s",
        a.rate,
        ns(a.deadline_us as f64),
        a.compute_fixed_ns,
        a.compute_per_item_ns,
        a.max_update_rate
    );
    println!(
        "{} of {} candidates feasible (worst case <= deadline, updates/s <= cap, rho < 1){}\n{t}",
        plan.feasible_set().count(),
        plan.candidates.len(),
        if a.all { "" } else { " (--all shows the rest)" }
    );
    println!(
        "* excluding the wait behind the previous update (queueing): W + compute(B) and the \
         mean once the engine is free; rho < 1 bounds that wait on average only."
    );
    match &plan.best {
        Some(b) => println!(
            "latency-minimal point: W = {}, B = {} (mean latency {}, worst case {} excl. \
             queueing, {:.1} updates/s, rho {:.4})",
            ns(b.window_ns as f64),
            b.batch,
            ns(b.mean_latency_excl_queueing_ns),
            b.worst_case_excl_queueing_ns
                .map_or("unbounded".into(), |w| ns(w as f64)),
            b.update_rate_per_s,
            b.rho
        ),
        None => {
            let why: Vec<String> = plan
                .binding
                .iter()
                .map(|c| match c {
                    Constraint::Deadline => format!(
                        "deadline (smallest worst case on the grid {})",
                        plan.min_worst_case_excl_queueing_ns
                            .map_or("unbounded".into(), |w| ns(w as f64))
                    ),
                    Constraint::UpdateRateCap => format!(
                        "update-rate-cap (lowest rate on the grid {:.1} /s)",
                        plan.min_update_rate_per_s
                    ),
                    Constraint::Unstable => format!(
                        "unstable (lowest utilisation on the grid rho = {:.4}, must be < 1)",
                        plan.min_rho
                    ),
                })
                .collect();
            if plan.binding_jointly {
                println!(
                    "INFEASIBLE: {} bind together: each alone is met by some candidate, never all",
                    why.join(" + ")
                );
            } else {
                println!("INFEASIBLE: binding: {}", why.join("; "));
            }
        }
    }
    Ok(code)
}

// ---------------------------------------------------------------- rt-jitter

/// Flags of `model rt-jitter`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model rt-jitter --period-us 1000 --window-us 50 --background-rate 1e5"
)]
struct RtJitterArgs {
    /// Task period P, µs.
    #[arg(long, value_parser = micros)]
    period_us: i64,
    /// EQE coalescing window W, µs (0 = interrupt per packet).
    #[arg(long, value_parser = micros)]
    window_us: i64,
    /// Poisson background traffic on the same queue, packets per second.
    #[arg(long, value_parser = rate_or_zero, default_value_t = 0.0)]
    background_rate: f64,
}

fn rt_jitter(a: RtJitterArgs, json: bool) -> anyhow::Result<ExitCode> {
    let input = ReleaseJitterInput {
        period_ns: a.period_us,
        window_ns: a.window_us,
        background_rate_per_s: a.background_rate,
    };
    let j = input.jitter().map_err(|e| {
        flag_error(
            e,
            &[
                ("period_ns", "--period-us"),
                ("window_ns", "--window-us"),
                ("background_rate_per_s", "--background-rate"),
            ],
        )
    })?;
    if json {
        return print_tagged(
            "rt-jitter",
            &Pair {
                input: &input,
                result: &j,
            },
        );
    }
    key_values(
        &format!(
            "Release jitter: period {}, window {}, background {} packets/s{}",
            ns(a.period_us as f64),
            ns(a.window_us as f64),
            a.background_rate,
            if j.approximate { " (approximate)" } else { "" }
        ),
        &[
            ("worst-case release jitter", ns(j.worst_case_jitter_ns)),
            (
                "release delay min .. max",
                format!(
                    "{} .. {}",
                    ns(j.min_release_delay_ns),
                    ns(j.max_release_delay_ns)
                ),
            ),
            ("mean release delay", ns(j.mean_release_delay_ns)),
            ("release delay std dev", ns(j.release_delay_sd_ns)),
            (
                "mean period jitter E|R(k+1) - R(k)|",
                ns(j.mean_period_jitter_ns),
            ),
            (
                "jobs released per interrupt",
                format!("{:.0}", j.jobs_per_interrupt),
            ),
        ],
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- budget

/// Which path to budget.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum PathArg {
    /// Application send to bits on the wire.
    Tx,
    /// Bits at the NIC to the application holding the data.
    Rx,
}

/// Flags of `model budget`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example: coalescope model budget tx --technique kernel-bypass,tx-push,ctpio\n         coalescope model budget rx --technique busy-poll --stage coalescing=25000\nDefault stage costs are illustrative teaching figures; override them with --stage."
)]
struct BudgetArgs {
    /// The path: tx or rx.
    path: PathArg,
    /// Techniques to apply, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = technique)]
    technique: Vec<Technique>,
    /// A measured stage cost NAME=NS replacing the illustrative default (repeatable), e.g.
    /// `--stage coalescing=25000`.
    #[arg(long, value_parser = stage_override)]
    stage: Vec<(String, i64)>,
}

fn budget(a: BudgetArgs, json: bool) -> anyhow::Result<ExitCode> {
    let b = BudgetInput {
        path: Some(match a.path {
            PathArg::Tx => Path::Tx,
            PathArg::Rx => Path::Rx,
        }),
        techniques: a.technique,
        overrides: a.stage,
    }
    .evaluate()
    .map_err(|e| flag_error(e, &[("stage", "--stage"), ("technique", "--technique")]))?;
    if json {
        return print_tagged("budget", &b);
    }
    let mut t = table(&["stage", "what", "baseline ns", "ns", "effect", "source"]);
    for s in &b.stages {
        let effect = match s.by {
            Some(by) => format!("{} by {by}", s.effect),
            None => s.effect.to_string(),
        };
        t.add_row(vec![
            Cell::new(s.name),
            Cell::new(s.description),
            Cell::new(s.baseline_ns).set_alignment(CellAlignment::Right),
            Cell::new(s.cost_ns).set_alignment(CellAlignment::Right),
            Cell::new(effect),
            Cell::new(s.source),
        ]);
    }
    t.add_row(vec![
        Cell::new("total"),
        Cell::new(format!("saved {} ns", b.saved_ns)),
        Cell::new(b.baseline_total_ns).set_alignment(CellAlignment::Right),
        Cell::new(b.total_ns).set_alignment(CellAlignment::Right),
        Cell::new(""),
        Cell::new(""),
    ]);
    let path = match b.path {
        Path::Tx => "tx",
        Path::Rx => "rx",
    };
    println!("Latency budget of the {path} path\n{t}");
    if b.illustrative {
        println!(
            "Costs marked illustrative are teaching figures: the shape matters, not the \
             absolute values. Replace them with measurements via --stage NAME=NS."
        );
    }
    if !b.not_applicable.is_empty() {
        let names: Vec<&str> = b.not_applicable.iter().map(|t| t.name()).collect();
        println!("not applicable to {path}: {}", names.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- cut-through

/// Flags of `model cut-through`.
#[derive(clap::Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example: coalescope model cut-through --frame-bytes 1500 --pcie-gbps 64 --link-gbps 10"
)]
struct CutThroughArgs {
    /// Frame length in bytes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    frame_bytes: u32,
    /// PCIe (host to NIC) throughput, Gb/s.
    #[arg(long, value_parser = positive)]
    pcie_gbps: f64,
    /// Link (wire) speed, Gb/s.
    #[arg(long, value_parser = positive)]
    link_gbps: f64,
    /// Bytes that must arrive before cut-through may start (first chunk / credit).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    chunk_bytes: u32,
    /// Fixed PCIe latency before the first byte arrives, ns.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    pcie_latency_ns: f64,
}

fn cut_through(a: CutThroughArgs, json: bool) -> anyhow::Result<ExitCode> {
    let input = CutThrough {
        frame_bytes: a.frame_bytes,
        pcie_gbps: a.pcie_gbps,
        link_gbps: a.link_gbps,
        chunk_bytes: a.chunk_bytes,
        pcie_latency_ns: a.pcie_latency_ns,
    };
    let t = input.timing().map_err(|e| {
        flag_error(
            e,
            &[
                ("frame_bytes", "--frame-bytes"),
                ("pcie_gbps", "--pcie-gbps"),
                ("link_gbps", "--link-gbps"),
                ("chunk_bytes", "--chunk-bytes"),
                ("pcie_latency_ns", "--pcie-latency-ns"),
            ],
        )
    })?;
    if json {
        return print_tagged(
            "cut-through",
            &Pair {
                input: &input,
                result: &t,
            },
        );
    }
    let mut table = table(&["mode", "first byte on wire", "last byte on wire"]);
    table.add_row(vec![
        "store-and-forward".to_string(),
        ns(t.store_forward_first_byte_ns),
        ns(t.store_forward_last_byte_ns),
    ]);
    table.add_row(vec![
        "cut-through".to_string(),
        ns(t.cut_through_first_byte_ns),
        ns(t.cut_through_last_byte_ns),
    ]);
    println!(
        "{} B frame, PCIe {} Gb/s (+{} ns latency), link {} Gb/s, first chunk {} B\n{table}",
        a.frame_bytes, a.pcie_gbps, a.pcie_latency_ns, a.link_gbps, a.chunk_bytes
    );
    println!(
        "cut-through reaches the wire {:.2}x sooner{}",
        t.first_byte_speedup,
        if t.underrun_limited {
            " (start delayed so the slower PCIe never underruns the wire)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
