//! # coalescope-sim
//!
//! Deterministic discrete-event simulator of NIC -> IRQ -> NAPI/softirq -> application
//! (SPEC §2). It owns the arrival processes ([`arrival`]), the coalescing policies
//! ([`policy`], one trait shared with the tuning advisor), the host path ([`host`]: IRQ
//! cost, NAPI weight, netdev_budget, ksoftirqd, busy-poll, the application thread, CPU and
//! drop accounting, ring presets per device), host costs as distributions ([`dist`]),
//! the GRO stage and kernel tick between the poll and the stack ([`gro`]), the scenario
//! format ([`scenario`]) and the event loop (`engine`).
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

use engine::{Engine, EngineStream};
use host::{App, HostCosts};

/// Runs a scenario: [`simulate_records`] then [`RawRun::finish`].
pub fn simulate(scenario: &Scenario) -> Result<SimOutput, SimError> {
    Ok(simulate_records(scenario)?.finish())
}

/// A finished run whose summary is not computed yet (the summary sorts every delay; the
/// throughput benchmark times the two parts separately).
#[derive(Debug)]
pub struct RawRun {
    scenario: Scenario,
    result: engine::EngineResult,
    templates: output::Templates,
}

impl RawRun {
    /// Packets generated.
    pub fn packets(&self) -> usize {
        self.result.records.len()
    }

    /// Computes the summary.
    pub fn finish(self) -> SimOutput {
        let summary =
            output::summarize(&self.scenario, &self.result.records, &self.result.counters);
        SimOutput {
            scenario: self.scenario,
            records: self.result.records,
            interrupts: self.result.interrupts,
            summary,
            templates: self.templates,
        }
    }
}

/// Runs a scenario's event loop only.
pub fn simulate_records(scenario: &Scenario) -> Result<RawRun, SimError> {
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
    let result = Engine::new(
        scenario.host.clone(),
        costs,
        scenario.ring_size,
        policies,
        app,
        gro,
        scenario.packets,
    )
    .run(&mut streams, scenario.packets);
    Ok(RawRun {
        scenario: scenario.clone(),
        result,
        templates,
    })
}
