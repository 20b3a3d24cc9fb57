//! # coalescope-sim
//!
//! Deterministic discrete-event simulator of NIC -> IRQ -> NAPI/softirq -> application
//! (SPEC §2). It owns the arrival processes ([`arrival`]), the coalescing policies
//! ([`policy`], one trait shared with the tuning advisor), the host path ([`host`]: IRQ
//! cost, NAPI weight, netdev_budget, ksoftirqd, busy-poll, the application thread, CPU and
//! drop accounting, ring presets per device), host costs as distributions ([`dist`]),
//! the GRO stage and kernel tick between the poll and the stack ([`gro`]), the scenario
//! format ([`scenario`]), the event loop (`engine`) and where records go ([`sink`]):
//! [`simulate`] keeps every record; [`simulate_summary`] and [`simulate_to_files`] stream,
//! keeping nothing per packet; [`sweep`] runs several scenarios on all cores.
//!
//! Same scenario and seed, same output, byte for byte: every stream draws from its own
//! xoshiro256++ generator derived from the seed and the stream's name.
//!
//! ```
//! use coalescope_sim::{simulate, Scenario};
//! let text = r#"
//! seed = 7
//! packets = 20000
//! [[stream]]
//! name = "md"
//! arrivals = { kind = "poisson", rate_per_s = 200000 }
//! [nic]
//! policy = "ethtool"
//! rx_usecs = 50
//! [host]
//! irq_cost_ns = 0
//! "#;
//! let out = simulate(&Scenario::from_toml_str(text, None).unwrap()).unwrap();
//! let s = &out.summary;
//! assert_eq!(s.delivered + s.dropped, 20000);
//! // Ideal host, λW = 10: SPEC §3 mean delay W (1 + λW/2) / (1 + λW) = 27.3 µs.
//! assert!((s.mean_coalescing_delay_ns.unwrap() - 27_273.0).abs() < 1_000.0);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arrival;
pub mod dist;
mod engine;
mod error;
pub mod gro;
pub mod host;
pub mod net_dim;
pub mod output;
pub mod policy;
mod replay;
pub mod scenario;
pub mod setting;
pub mod sink;

pub use dist::{CostDist, CostSpec, DistSpec, QuantileTable};
pub use error::SimError;
pub use gro::{GroCounts, GroMode, Protocol};
pub use host::{CpuTime, Device, DropReason};
pub use output::{Fate, InterruptRecord, PacketRecord, SimOutput, StreamSummary, Summary};
pub use policy::{AnyPolicy, CoalescingPolicy, Fire, FireReason, PolicyKind, TimerMode};
pub use scenario::{
    HostConfig, HostFileError, HostLimits, HostSpec, PolicyConfig, Scenario, ScenarioError,
    ScenarioInfo, ScenarioSpec, DEFAULT_SCENARIO_TOML,
};

pub use coalescope_timeline::quantile::QuantileMode;
pub use output::{SKETCH_EXACT_LIMIT, SKETCH_RELATIVE_ERROR};
pub use sink::{Collect, FileOutputs, FileSink, RecordSink, SummaryOnly, Tables};

use engine::{Engine, EngineStream};
use host::{App, HostCosts};

/// Runs a scenario keeping every record (memory O(packets)); quantiles are exact.
/// For long runs use [`simulate_summary`] or [`simulate_to_files`], which keep nothing
/// per packet.
pub fn simulate(scenario: &Scenario) -> Result<SimOutput, SimError> {
    let (streams, templates) = prepare(scenario)?;
    let mut sink = Collect::new();
    let run = run_streams(scenario, streams, QuantileMode::Exact, &mut sink)?;
    let (records, interrupts) = sink.into_parts();
    Ok(SimOutput {
        scenario: scenario.clone(),
        records,
        interrupts,
        summary: run.summary,
        templates,
    })
}

/// What a streamed run returns besides what went to its sink.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run's summary.
    pub summary: Summary,
    /// Iterations of the engine's loops (one per arrival and per host action): the
    /// work done, for tests that bound it.
    pub engine_steps: u64,
}

/// Runs a scenario, handing its records to `sink` as they are produced; the summary's
/// quantiles follow `quantiles` (`Sketch`: at most [`SKETCH_RELATIVE_ERROR`] off).
pub fn simulate_with<S: RecordSink>(
    scenario: &Scenario,
    quantiles: QuantileMode,
    sink: &mut S,
) -> Result<Run, SimError> {
    let (streams, _) = prepare(scenario)?;
    run_streams(scenario, streams, quantiles, sink)
}

/// Runs a scenario for its summary alone: memory independent of the packet count
/// (in `Sketch` mode).
pub fn simulate_summary(scenario: &Scenario, quantiles: QuantileMode) -> Result<Run, SimError> {
    simulate_with(scenario, quantiles, &mut SummaryOnly)
}

/// Runs a scenario writing the files of `outputs` as it goes (the `events` table in
/// each queue's arrival order, the interrupt log in time order).
pub fn simulate_to_files(
    scenario: &Scenario,
    quantiles: QuantileMode,
    outputs: &FileOutputs,
) -> Result<Run, SimError> {
    let (streams, templates) = prepare(scenario)?;
    let mut sink = FileSink::create(scenario, &templates, outputs)?;
    let run = run_streams(scenario, streams, quantiles, &mut sink)?;
    sink.finish()?;
    Ok(run)
}

/// Runs a scenario keeping its `events` table and interrupt log as Arrow record batches
/// (the columns [`simulate_to_files`] writes; memory: the tables' Arrow size).
pub fn simulate_to_tables(
    scenario: &Scenario,
    quantiles: QuantileMode,
) -> Result<(Run, Tables), SimError> {
    let (streams, templates) = prepare(scenario)?;
    let mut sink = sink::MemorySink::new(scenario, &templates);
    let run = run_streams(scenario, streams, quantiles, &mut sink)?;
    Ok((run, sink.finish()?))
}

/// Runs several scenarios (settings or seeds) on all cores; the results, in the order of
/// `scenarios`, are identical to running them one after the other.
pub fn sweep(scenarios: &[Scenario], quantiles: QuantileMode) -> Vec<Result<Run, SimError>> {
    use rayon::prelude::*;
    scenarios
        .par_iter()
        .map(|s| simulate_summary(s, quantiles))
        .collect()
}

/// A scenario's arrival processes and the extra columns of its replayed streams.
fn prepare(scenario: &Scenario) -> Result<(Vec<EngineStream>, output::Templates), SimError> {
    let mut templates = Vec::with_capacity(scenario.streams.len());
    let mut streams = Vec::with_capacity(scenario.streams.len());
    for s in &scenario.streams {
        let (arrivals, template) = arrival::for_stream(s, scenario.seed, scenario.start)?;
        templates.push(template);
        streams.push(EngineStream {
            arrivals,
            queue: usize::from(s.queue),
            packet_bytes: s.packet_bytes,
        });
    }
    Ok((streams, templates))
}

/// Runs the event loop over prepared `streams`.
fn run_streams<S: RecordSink>(
    scenario: &Scenario,
    mut streams: Vec<EngineStream>,
    quantiles: QuantileMode,
    sink: &mut S,
) -> Result<Run, SimError> {
    let flows: Vec<_> = scenario
        .streams
        .iter()
        .map(|s| (usize::from(s.queue), s.packet_bytes, s.protocol))
        .collect();
    let gro = gro::Gro::new(
        scenario.gro,
        gro::Tick {
            hz: scenario.host.hz,
            phase_ns: scenario.host.tick_phase.as_nanos(),
        },
        scenario.queue_count(),
        &flows,
    );
    let app = App::new(&scenario.host, scenario.seed);
    let costs = HostCosts::new(&scenario.host, scenario.seed);
    let policies = vec![scenario.policy.build(); scenario.queue_count()];
    let stats = output::Stats::new(scenario.streams.len(), quantiles);
    let result = Engine::new(
        scenario.host.clone(),
        costs,
        scenario.ring_size,
        policies,
        app,
        gro,
        stats,
        sink,
    )
    .run(&mut streams, scenario.packets)?;
    Ok(Run {
        summary: output::summarize(scenario, result.stats, &result.counters),
        engine_steps: result.counters.engine_steps,
    })
}
