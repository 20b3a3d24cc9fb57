//! The Prometheus metrics of `watch` (names start with `coalescope_`) and their registry.
//!
//! Receive totals (the receiver's own counts, so a scrape after the run equals the
//! printed summary): `coalescope_received_total` (distinct datagrams recorded),
//! `coalescope_expected_total` (seqs expected: the highest seq + 1, or `--count`),
//! `coalescope_sequence_gaps` (a gauge: expected seqs not received; it falls when a
//! reordered datagram fills a gap, so it is not a counter), `coalescope_kernel_drops_total`
//! (SO_RXQ_OVFL socket drops), `coalescope_out_of_order_total`,
//! `coalescope_duplicates_total`, `coalescope_malformed_total`, and
//! `coalescope_late_records_total` (records the tick engine refused as late: raise
//! `--horizon`).
//!
//! Per scope (label `scope`, the tick table's scope name): `coalescope_ticks_total`,
//! `coalescope_controller_state` (the level 0–3), `coalescope_controller_in_state` (label
//! `state`: 1 for the current state, 0 for the other three), `coalescope_guard_weight`,
//! `coalescope_guard_fallback` (0/1), `coalescope_tick_time_seconds` (the last tick
//! instant, Unix seconds) and the tick metrics `coalescope_tick_bdc`,
//! `coalescope_tick_bdc_ingress`, `coalescope_tick_bdc_excess`, `coalescope_tick_mddr`,
//! `coalescope_tick_mddr_q99`, `coalescope_tick_dbc_excess`, `coalescope_tick_dccd`,
//! `coalescope_tick_cte` (bps). An undefined tick metric is exported as `NaN` (the series
//! stays present; Grafana draws a gap), never as 0.
//!
//! Delivery-delay histograms (seconds, the Prometheus base unit; buckets 1 µs · 2^k for
//! k = 0..20, i.e. 1 µs to 0.52 s, plus +Inf): `coalescope_send_to_kernel_seconds`
//! (`t_stack - t_ingress`), `coalescope_kernel_to_app_seconds` (`t_app - t_stack`) and
//! `coalescope_send_to_app_seconds` (`t_app - t_ingress`), observed per datagram; the
//! first two skip datagrams without a kernel timestamp.
//!
//! Host (label `cpu`, the receiving CPU(s)): `coalescope_cpu_interrupts_total` and
//! `coalescope_cpu_softirqs_total` (label `softirq`: `NET_RX` or `NET_TX`), the values of
//! /proc/interrupts and /proc/softirqs ([`crate::procfs`]).

use crate::error::LiveError;
use crate::procfs::CpuCounters;
use coalescope_control::{State, Step};
use coalescope_metrics::ticks::TickRow;
use coalescope_probe::receiver::ReceiveCounts;
use coalescope_timeline::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Every sample-family name of the exposition (counters with their `_total`;
/// histograms by base name, whose samples add `_bucket`, `_sum`, `_count`).
pub const METRIC_NAMES: [&str; 27] = [
    "coalescope_received_total",
    "coalescope_expected_total",
    "coalescope_sequence_gaps",
    "coalescope_kernel_drops_total",
    "coalescope_out_of_order_total",
    "coalescope_duplicates_total",
    "coalescope_malformed_total",
    "coalescope_late_records_total",
    "coalescope_ticks_total",
    "coalescope_controller_state",
    "coalescope_controller_in_state",
    "coalescope_guard_weight",
    "coalescope_guard_fallback",
    "coalescope_tick_time_seconds",
    "coalescope_tick_bdc",
    "coalescope_tick_bdc_ingress",
    "coalescope_tick_bdc_excess",
    "coalescope_tick_mddr",
    "coalescope_tick_mddr_q99",
    "coalescope_tick_dbc_excess",
    "coalescope_tick_dccd",
    "coalescope_tick_cte",
    "coalescope_send_to_kernel_seconds",
    "coalescope_kernel_to_app_seconds",
    "coalescope_send_to_app_seconds",
    "coalescope_cpu_interrupts_total",
    "coalescope_cpu_softirqs_total",
];

/// Upper bounds of the delay histograms (seconds): 1 µs · 2^k, k = 0..20.
pub fn delay_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1e-6, 2.0, 20)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    scope: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CpuLabels {
    cpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SoftirqLabels {
    cpu: String,
    softirq: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// Raise `counter` so that it follows an absolute total (the receiver's, /proc's) whose
/// previous value was `*last`; a total that goes down (a /proc counter wrapping, never
/// the receiver's) is taken as a restart from 0.
fn follow(last: &mut u64, counter: &Counter, total: u64) {
    let inc = if total >= *last { total - *last } else { total };
    if inc > 0 {
        counter.inc_by(inc);
    }
    *last = total;
}

/// The metric handles of a `watch` run and the registry they are registered in. The
/// receive thread updates them; the HTTP thread encodes the shared registry.
#[derive(Debug)]
pub struct Exporter {
    registry: Arc<Registry>,
    received: Counter,
    expected: Counter,
    gaps: Gauge,
    kernel_drops: Counter,
    out_of_order: Counter,
    duplicates: Counter,
    malformed: Counter,
    late: Counter,
    ticks: Family<ScopeLabels, Counter>,
    state: Family<ScopeLabels, Gauge>,
    in_state: Family<StateLabels, Gauge>,
    guard_weight: Family<ScopeLabels, F64Gauge>,
    fallback: Family<ScopeLabels, Gauge>,
    tick_time: Family<ScopeLabels, F64Gauge>,
    tick: [Family<ScopeLabels, F64Gauge>; 8],
    send_to_kernel: Histogram,
    kernel_to_app: Histogram,
    send_to_app: Histogram,
    cpu_interrupts: Family<CpuLabels, Counter>,
    cpu_softirqs: Family<SoftirqLabels, Counter>,
    /// Last totals of received, expected, kernel drops, out of order, duplicates,
    /// malformed, late.
    last: [u64; 7],
    /// Last /proc totals per (cpu, counter).
    last_cpu: HashMap<(u32, u8), u64>,
}

/// The tick-metric gauges: (name without `coalescope_`, help).
const TICK_GAUGES: [(&str, &str); 8] = [
    ("tick_bdc", "App-timeline BDC of the tick interval [t-T, t)"),
    (
        "tick_bdc_ingress",
        "Ingress-timeline BDC of the tick interval",
    ),
    ("tick_bdc_excess", "bdc - bdc_ingress of the tick interval"),
    (
        "tick_mddr",
        "Q95(app gaps) / Q95(ingress gaps) over [t-R, t)",
    ),
    (
        "tick_mddr_q99",
        "Q99(app gaps) / Q99(ingress gaps) over [t-R, t)",
    ),
    (
        "tick_dbc_excess",
        "DBC - DBC_ingress over the windows of [t-R, t)",
    ),
    ("tick_dccd", "Inverted / episodes over [t-R, t)"),
    (
        "tick_cte",
        "CTE at tau (bps) over the fills of [t-R_cte, t)",
    ),
];

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter {
    /// Register every metric of [`METRIC_NAMES`] in a fresh registry.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(format!("coalescope_{name}"), help, c.clone());
            c
        };
        let received = counter(&mut r, "received", "Distinct datagrams recorded");
        let expected = counter(
            &mut r,
            "expected",
            "Seqs expected: the highest seq + 1 (or --count)",
        );
        let gaps = Gauge::default();
        r.register(
            "coalescope_sequence_gaps",
            "Expected seqs not received (falls when a reordered datagram fills a gap)",
            gaps.clone(),
        );
        let kernel_drops = counter(&mut r, "kernel_drops", "Socket drops (SO_RXQ_OVFL)");
        let out_of_order = counter(
            &mut r,
            "out_of_order",
            "Datagrams that arrived after a higher seq",
        );
        let duplicates = counter(&mut r, "duplicates", "Repeated seqs (recorded once)");
        let malformed = counter(
            &mut r,
            "malformed",
            "Datagrams too short for the header or with an impossible send time",
        );
        let late = counter(
            &mut r,
            "late_records",
            "Records the tick engine refused as late (raise --horizon)",
        );
        let ticks = Family::<ScopeLabels, Counter>::default();
        r.register("coalescope_ticks", "Tick rows emitted", ticks.clone());
        let state = Family::<ScopeLabels, Gauge>::default();
        r.register(
            "coalescope_controller_state",
            "Controller state level: 0 FLOW_CLEAN, 1 DELIVERY_CLUSTERED, 2 PHASE_LOCKED, 3 SAFE_PACING",
            state.clone(),
        );
        let in_state = Family::<StateLabels, Gauge>::default();
        r.register(
            "coalescope_controller_in_state",
            "1 for the scope's current controller state, 0 for the others",
            in_state.clone(),
        );
        let guard_weight = Family::<ScopeLabels, F64Gauge>::default();
        r.register(
            "coalescope_guard_weight",
            "Causality guard weight for fragile features, in [0, 1]",
            guard_weight.clone(),
        );
        let fallback = Family::<ScopeLabels, Gauge>::default();
        r.register(
            "coalescope_guard_fallback",
            "Causality guard fallback flag (0/1)",
            fallback.clone(),
        );
        let tick_time = Family::<ScopeLabels, F64Gauge>::default();
        r.register(
            "coalescope_tick_time_seconds",
            "Instant of the scope's last tick (Unix seconds)",
            tick_time.clone(),
        );
        let tick = TICK_GAUGES.map(|(name, help)| {
            let f = Family::<ScopeLabels, F64Gauge>::default();
            r.register(
                format!("coalescope_{name}"),
                format!("{help}; NaN when undefined"),
                f.clone(),
            );
            f
        });
        let histogram = |r: &mut Registry, name: &str, help: &str| {
            let h = Histogram::new(delay_buckets());
            r.register(format!("coalescope_{name}_seconds"), help, h.clone());
            h
        };
        let send_to_kernel = histogram(
            &mut r,
            "send_to_kernel",
            "Delay t_stack - t_ingress (send to kernel receive timestamp)",
        );
        let kernel_to_app = histogram(
            &mut r,
            "kernel_to_app",
            "Delay t_app - t_stack (kernel timestamp to the application)",
        );
        let send_to_app = histogram(
            &mut r,
            "send_to_app",
            "Delay t_app - t_ingress (send to the application)",
        );
        let cpu_interrupts = Family::<CpuLabels, Counter>::default();
        r.register(
            "coalescope_cpu_interrupts",
            "Device interrupts on the receiving CPU (/proc/interrupts)",
            cpu_interrupts.clone(),
        );
        let cpu_softirqs = Family::<SoftirqLabels, Counter>::default();
        r.register(
            "coalescope_cpu_softirqs",
            "NET_RX / NET_TX softirqs on the receiving CPU (/proc/softirqs)",
            cpu_softirqs.clone(),
        );
        Exporter {
            registry: Arc::new(r),
            received,
            expected,
            gaps,
            kernel_drops,
            out_of_order,
            duplicates,
            malformed,
            late,
            ticks,
            state,
            in_state,
            guard_weight,
            fallback,
            tick_time,
            tick,
            send_to_kernel,
            kernel_to_app,
            send_to_app,
            cpu_interrupts,
            cpu_softirqs,
            last: [0; 7],
            last_cpu: HashMap::new(),
        }
    }

    /// The registry (shared with the HTTP server).
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// One recorded datagram: its three delays into the histograms.
    pub fn observe_event(&self, e: &Event) {
        let secs = |d: coalescope_timeline::Duration| d.as_nanos() as f64 / 1e9;
        if let Some(stack) = e.t_stack {
            self.send_to_kernel.observe(secs(stack - e.t_ingress));
            if let Some(app) = e.t_app {
                self.kernel_to_app.observe(secs(app - stack));
            }
        }
        if let Some(d) = e.delay() {
            self.send_to_app.observe(secs(d));
        }
    }

    /// The receiver's totals and the tick engine's late count.
    pub fn set_counts(&mut self, c: &ReceiveCounts, late: u64) {
        let totals = [
            c.received,
            c.received.saturating_add(c.dropped),
            c.kernel_drops,
            c.out_of_order,
            c.duplicates,
            c.malformed,
            late,
        ];
        let counters = [
            &self.received,
            &self.expected,
            &self.kernel_drops,
            &self.out_of_order,
            &self.duplicates,
            &self.malformed,
            &self.late,
        ];
        for ((last, counter), total) in self.last.iter_mut().zip(counters).zip(totals) {
            follow(last, counter, total);
        }
        self.gaps.set(i64::try_from(c.dropped).unwrap_or(i64::MAX));
    }

    /// One tick row and the controller's step for it.
    pub fn set_tick(&self, row: &TickRow, step: &Step) {
        let l = ScopeLabels {
            scope: row.scope.clone(),
        };
        self.ticks.get_or_create(&l).inc();
        self.state
            .get_or_create(&l)
            .set(i64::from(step.state.level()));
        for s in State::ALL {
            self.in_state
                .get_or_create(&StateLabels {
                    scope: row.scope.clone(),
                    state: s.as_str().to_string(),
                })
                .set(i64::from(s == step.state));
        }
        self.guard_weight.get_or_create(&l).set(step.guard_weight);
        self.fallback
            .get_or_create(&l)
            .set(i64::from(step.fallback));
        self.tick_time
            .get_or_create(&l)
            .set(row.t_tick_ns as f64 / 1e9);
        let values = [
            row.bdc,
            row.bdc_ingress,
            row.bdc_excess,
            row.mddr,
            row.mddr_q99,
            row.dbc_excess,
            row.dccd,
            row.cte,
        ];
        for (family, v) in self.tick.iter().zip(values) {
            family.get_or_create(&l).set(v.unwrap_or(f64::NAN));
        }
    }

    /// The /proc counters of the receiving CPU(s).
    pub fn set_cpu(&mut self, counters: &[CpuCounters]) {
        for c in counters {
            let cpu = c.cpu.to_string();
            let interrupts = self
                .cpu_interrupts
                .get_or_create_owned(&CpuLabels { cpu: cpu.clone() });
            follow(
                self.last_cpu.entry((c.cpu, 0)).or_insert(0),
                &interrupts,
                c.interrupts,
            );
            for (k, name, total) in [(1u8, "NET_RX", c.net_rx), (2, "NET_TX", c.net_tx)] {
                let counter = self.cpu_softirqs.get_or_create_owned(&SoftirqLabels {
                    cpu: cpu.clone(),
                    softirq: name.to_string(),
                });
                follow(
                    self.last_cpu.entry((c.cpu, k)).or_insert(0),
                    &counter,
                    total,
                );
            }
        }
    }
}

/// The exposition formats `GET /metrics` can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 text (ends with `# EOF`).
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    Text,
}

impl Format {
    /// The `Content-Type` of the format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Encode `registry` in `format`.
pub fn encode(registry: &Registry, format: Format) -> Result<String, LiveError> {
    let mut out = String::new();
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry),
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, registry),
    }
    .map_err(|e| LiveError::Encode(e.to_string()))?;
    Ok(out)
}
