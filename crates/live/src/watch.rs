//! The `watch` run: receiver → tick engine → controller → state table and exposition.
//!
//! Every datagram the receiver records is pushed to the [`TickEngine`] as it is observed
//! (an md event with its `t_app`) and into the delay histograms. At every wake-up of the
//! receive loop (after each receive call, at least every 100 ms) the engine is advanced
//! to CLOCK_REALTIME, the clock of the recorded instants: it emits each tick
//! `t <= now - horizon`. Each emitted row is stepped through the [`Controller`] (its
//! `bdc_excess`, `dbc_excess`, `cte`, `dccd`), written to the state table (the columns
//! `control run` writes, [`StateWriter`]) and exported; one [`TickStatus`] per tick goes to
//! the caller (the status line). The /proc counters are read once per tick.
//!
//! On a stop (signal, `--duration`, `--count` complete) the receiver records what the
//! kernel already queued, the engine is finished (every tick up to the first one after
//! the last instant), those rows are stepped and written too, and the state table is
//! flushed. A datagram whose `t_ingress` precedes an already emitted tick is late and
//! counted (`late_records`), so the horizon should exceed the largest delivery delay.

use crate::error::LiveError;
use crate::exposition::Exporter;
use crate::http::MetricsServer;
use crate::procfs::{read_cpu_counters, IrqSelection};
use coalescope_control::table::StateWriter;
use coalescope_control::{ControlConfig, Controller, State, StateRow, TickMetrics};
use coalescope_metrics::ticks::{TickConfig, TickEngine, TickRow};
use coalescope_probe::hostfs::HostFs;
use coalescope_probe::receiver::{Observer, ReceiveCounts, Receiver, ReceiverConfig};
use coalescope_probe::wire::realtime_ns;
use coalescope_timeline::{Duration, Event, Strings};
use serde::Serialize;
use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Everything `watch` needs.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The receiver (listen address, mode, CPU, ...); `keep_events` is turned off.
    pub receiver: ReceiverConfig,
    /// Tick metrics (tick, windows, scope, reordering horizon).
    pub ticks: TickConfig,
    /// The controller's thresholds.
    pub control: ControlConfig,
    /// Address of the exposition endpoint.
    pub metrics_addr: SocketAddr,
    /// The state table file (CSV), if any.
    pub states_out: Option<PathBuf>,
    /// Which CPUs and IRQ rows the /proc counters cover.
    pub irq: IrqSelection,
    /// Where /proc is (the live host, or a fixture root).
    pub host: HostFs,
}

/// One scope's part of a status line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeStatus {
    /// The scope.
    pub scope: String,
    /// The controller state after the tick.
    pub state: State,
    /// The tick row.
    pub bdc: Option<f64>,
    /// `bdc - bdc_ingress`.
    pub bdc_excess: Option<f64>,
    /// DBC excess.
    pub dbc_excess: Option<f64>,
    /// MDDR (Q95).
    pub mddr: Option<f64>,
    /// DCCD.
    pub dccd: Option<f64>,
    /// CTE (bps).
    pub cte: Option<f64>,
    /// Causality guard weight.
    pub guard_weight: f64,
}

/// The status of one tick: every scope's state and key metrics, and the receive totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickStatus {
    /// The tick instant (ns since the epoch, CLOCK_REALTIME).
    pub t_tick_ns: i64,
    /// The scopes' rows of this tick, by scope name.
    pub scopes: Vec<ScopeStatus>,
    /// Receive totals when the tick was emitted.
    pub counts: ReceiveCounts,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.3}"))
}

impl fmt::Display for TickStatus {
    /// `[t=<s>] <scope> <STATE> bdc=.. bdc_x=.. dbc_x=.. mddr=.. dccd=.. cte=.. w=.. |
    /// received N gaps N kernel-drops N` (`-` = undefined).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[t={}.{:03}]",
            self.t_tick_ns.div_euclid(1_000_000_000),
            self.t_tick_ns.rem_euclid(1_000_000_000) / 1_000_000
        )?;
        for s in &self.scopes {
            write!(
                f,
                " {} {} bdc={} bdc_x={} dbc_x={} mddr={} dccd={} cte={} w={:.2} |",
                s.scope,
                s.state,
                opt(s.bdc),
                opt(s.bdc_excess),
                opt(s.dbc_excess),
                opt(s.mddr),
                opt(s.dccd),
                opt(s.cte),
                s.guard_weight
            )?;
        }
        write!(
            f,
            " received {} gaps {} kernel-drops {}",
            self.counts.received, self.counts.dropped, self.counts.kernel_drops
        )
    }
}

/// A scope's final state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeFinal {
    /// The scope.
    pub scope: String,
    /// Its state after the last tick.
    pub state: State,
    /// Its tick rows.
    pub ticks: u64,
}

/// What a `watch` run did (printed at the end; the exposition's counters equal these).
#[derive(Debug, Clone, Serialize)]
pub struct WatchSummary {
    /// The UDP listen address.
    pub listen: String,
    /// The exposition address.
    pub metrics_addr: String,
    /// What ended the run.
    pub stop_reason: String,
    /// Run length (ns).
    pub elapsed_ns: i64,
    /// Distinct datagrams recorded (`coalescope_received_total`).
    pub received: u64,
    /// Seqs expected (`coalescope_expected_total`).
    pub expected: u64,
    /// Expected seqs never received (`coalescope_sequence_gaps`).
    pub dropped: u64,
    /// SO_RXQ_OVFL socket drops (`coalescope_kernel_drops_total`).
    pub kernel_drops: u64,
    /// Datagrams after a higher seq.
    pub out_of_order: u64,
    /// Repeated seqs.
    pub duplicates: u64,
    /// Unparsable datagrams.
    pub malformed: u64,
    /// Records the tick engine refused as late.
    pub late: u64,
    /// State rows written (= tick rows).
    pub state_rows: u64,
    /// Every scope's final state.
    pub scopes: Vec<ScopeFinal>,
    /// The state table written, if any.
    pub states_out: Option<String>,
    /// Which kernel timestamps were used (`software`, `hardware`, `mixed`, `none`).
    pub timestamps: String,
    /// The last /proc counter error while running, if any (the counters then keep their
    /// last values).
    pub proc_error: Option<String>,
}

/// A bound `watch`: the receiving socket and the running exposition server.
#[derive(Debug)]
pub struct Watch {
    config: WatchConfig,
    receiver: Receiver,
    engine: TickEngine,
    exporter: Exporter,
    server: MetricsServer,
    writer: Option<StateWriter<BufWriter<File>>>,
}

impl Watch {
    /// Validate the configuration, bind the UDP socket and the exposition endpoint,
    /// create the state table and read the /proc counters once (so a missing file or an
    /// absent CPU is an error before anything runs).
    pub fn start(mut config: WatchConfig) -> Result<Watch, LiveError> {
        config.ticks.validate()?;
        let engine = TickEngine::new(config.ticks)?;
        let mut exporter = Exporter::new();
        exporter.set_cpu(&read_cpu_counters(&config.host, &config.irq)?);
        config.receiver.keep_events = false;
        let receiver = Receiver::bind(config.receiver.clone())?;
        let server = MetricsServer::start(config.metrics_addr, exporter.registry())?;
        let writer = match &config.states_out {
            Some(path) => {
                let err = |message: String| LiveError::States {
                    path: path.display().to_string(),
                    message,
                };
                let f = File::create(path).map_err(|e| err(e.to_string()))?;
                Some(StateWriter::new(BufWriter::new(f)).map_err(|e| err(e.to_string()))?)
            }
            None => None,
        };
        Ok(Watch {
            config,
            receiver,
            engine,
            exporter,
            server,
            writer,
        })
    }

    /// The bound UDP address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.receiver.local_addr()
    }

    /// The bound exposition address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Receive until `stop` is set or the receiver's own limit; `on_status` gets one
    /// status per tick. Returns the summary and the still running exposition server (so
    /// the final values can still be scraped; drop or shut it down to stop serving).
    pub fn run(
        self,
        stop: &AtomicBool,
        on_status: impl FnMut(&TickStatus),
    ) -> Result<(WatchSummary, MetricsServer), LiveError> {
        let Watch {
            config,
            receiver,
            engine,
            exporter,
            server,
            writer,
        } = self;
        let listen = receiver.local_addr();
        let mut live = Live {
            engine,
            exporter,
            controller: Controller::new(config.control.clone()),
            writer,
            states_path: config.states_out.clone(),
            host: config.host.clone(),
            irq: config.irq.clone(),
            rows: Vec::new(),
            scopes: Vec::new(),
            counts: ReceiveCounts::default(),
            state_rows: 0,
            stop,
            error: None,
            proc_error: None,
            on_status,
        };
        let recording = receiver.run_observed(stop, &mut live);
        let s = &recording.summary;
        live.counts = ReceiveCounts {
            received: s.received,
            dropped: s.dropped,
            out_of_order: s.out_of_order,
            duplicates: s.duplicates,
            malformed: s.malformed,
            kernel_drops: s.kernel_drops,
        };
        let mut rows = std::mem::take(&mut live.rows);
        live.engine.finish(&mut rows);
        live.rows = rows;
        live.process_rows();
        live.exporter
            .set_counts(&live.counts, live.engine.counts().late);
        if let Some(w) = &mut live.writer {
            if let Err(e) = w.flush() {
                live.fail_states(e.to_string());
            }
        }
        if let Some(e) = live.error.take() {
            return Err(e);
        }
        let summary = WatchSummary {
            listen: listen.to_string(),
            metrics_addr: server.local_addr().to_string(),
            stop_reason: s.stop_reason.clone(),
            elapsed_ns: s.elapsed_ns,
            received: s.received,
            expected: s.expected,
            dropped: s.dropped,
            kernel_drops: s.kernel_drops,
            out_of_order: s.out_of_order,
            duplicates: s.duplicates,
            malformed: s.malformed,
            late: live.engine.counts().late,
            state_rows: live.state_rows,
            scopes: live
                .scopes
                .iter()
                .map(|(scope, ticks)| ScopeFinal {
                    scope: scope.clone(),
                    state: live.controller.state(scope),
                    ticks: *ticks,
                })
                .collect(),
            states_out: config.states_out.map(|p| p.display().to_string()),
            timestamps: s.timestamps.source.to_string(),
            proc_error: live.proc_error,
        };
        Ok((summary, server))
    }
}

/// The receiver's observer: the engine, the controller and the outputs.
struct Live<'a, F> {
    engine: TickEngine,
    exporter: Exporter,
    controller: Controller,
    writer: Option<StateWriter<BufWriter<File>>>,
    states_path: Option<PathBuf>,
    host: HostFs,
    irq: IrqSelection,
    rows: Vec<TickRow>,
    /// (scope, tick rows) in order of first appearance.
    scopes: Vec<(String, u64)>,
    counts: ReceiveCounts,
    state_rows: u64,
    stop: &'a AtomicBool,
    error: Option<LiveError>,
    proc_error: Option<String>,
    on_status: F,
}

impl<F: FnMut(&TickStatus)> Live<'_, F> {
    fn fail_states(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(LiveError::States {
                path: self
                    .states_path
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                message,
            });
        }
        // Stop the receive loop: a state table that cannot be written is a failed run.
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Step, write, export and report the pending tick rows (sorted by tick, then scope).
    fn process_rows(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        match read_cpu_counters(&self.host, &self.irq) {
            Ok(c) => self.exporter.set_cpu(&c),
            Err(e) => self.proc_error = Some(e.to_string()),
        }
        self.exporter
            .set_counts(&self.counts, self.engine.counts().late);
        let rows = std::mem::take(&mut self.rows);
        let mut status: Option<TickStatus> = None;
        for row in &rows {
            let m = TickMetrics::from(row);
            let step = self.controller.step(&row.scope, row.t_tick_ns, &m);
            let state_row = StateRow {
                scope: row.scope.clone(),
                t_tick_ns: row.t_tick_ns,
                state: step.state,
                reason: step.reason,
                guard_weight: step.guard_weight,
                fallback: step.fallback,
            };
            if let Some(w) = &mut self.writer {
                if let Err(e) = w.write(&state_row) {
                    self.fail_states(e.to_string());
                }
            }
            self.state_rows += 1;
            match self.scopes.iter_mut().find(|(s, _)| *s == row.scope) {
                Some((_, n)) => *n += 1,
                None => self.scopes.push((row.scope.clone(), 1)),
            }
            self.exporter.set_tick(row, &step);
            if status
                .as_ref()
                .is_some_and(|s| s.t_tick_ns != row.t_tick_ns)
            {
                if let Some(done) = status.take() {
                    (self.on_status)(&done);
                }
            }
            let s = status.get_or_insert_with(|| TickStatus {
                t_tick_ns: row.t_tick_ns,
                scopes: Vec::new(),
                counts: self.counts,
            });
            s.scopes.push(ScopeStatus {
                scope: row.scope.clone(),
                state: step.state,
                bdc: row.bdc,
                bdc_excess: row.bdc_excess,
                dbc_excess: row.dbc_excess,
                mddr: row.mddr,
                dccd: row.dccd,
                cte: row.cte,
                guard_weight: step.guard_weight,
            });
        }
        if let Some(done) = status {
            (self.on_status)(&done);
        }
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.flush() {
                self.fail_states(e.to_string());
            }
        }
        self.rows = rows;
        self.rows.clear();
    }
}

impl<F: FnMut(&TickStatus)> Observer for Live<'_, F> {
    fn on_event(&mut self, strings: &Strings, event: &Event) {
        self.exporter.observe_event(event);
        self.engine.push_event(event, strings);
    }

    fn on_wake(&mut self, counts: &ReceiveCounts) {
        self.counts = *counts;
        self.engine.advance_to(realtime_ns(), &mut self.rows);
        if self.rows.is_empty() {
            self.exporter
                .set_counts(&self.counts, self.engine.counts().late);
        } else {
            self.process_rows();
        }
    }
}

/// The default reordering horizon of `watch` (the largest delivery delay it expects).
pub const DEFAULT_HORIZON: Duration = Duration(50_000_000);
