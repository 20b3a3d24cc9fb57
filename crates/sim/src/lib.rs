//! # coalescope-sim
//!
//! Deterministic discrete-event simulator of NIC -> IRQ -> NAPI/softirq -> application
//! (SPEC §2). It owns the arrival processes ([`arrival`]), the coalescing policies
//! ([`policy`], one trait shared with the tuning advisor), the host path ([`host`]: IRQ
//! cost, NAPI weight, netdev_budget, ksoftirqd, busy-poll, the application thread, CPU and
//! drop accounting), the scenario format ([`scenario`]) and the event loop ([`engine`]).
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
mod engine;
pub mod host;
pub mod net_dim;
pub mod output;
pub mod policy;
mod replay;
pub mod scenario;

pub use host::{CpuTime, DropReason, ServiceDist};
pub use output::{Fate, InterruptRecord, PacketRecord, SimOutput, StreamSummary, Summary};
pub use policy::{CoalescingPolicy, Fire, FireReason, TimerMode};
pub use scenario::{
    HostConfig, PolicyConfig, Scenario, ScenarioError, ScenarioSpec, DEFAULT_SCENARIO_TOML,
};

use arrival::{derived_rng, AnyArrival, Mmpp2, OnOff, Periodic, Poisson};
use engine::{Engine, EngineStream};
use host::App;
use policy::{Adaptive, Deferral, Ethtool, NoCoalescing, Nvme, Throttle, Virtio};
use scenario::ArrivalConfig;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A replay file could not be read.
    #[error("stream `{stream}`: cannot replay {path}: {message}")]
    Replay {
        /// Stream name.
        stream: String,
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Name of the RNG of the application's service times (no stream can have it: stream
/// names may not contain control characters).
const APP_RNG_NAME: &str = "\u{0}app-service";

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
        let rng = derived_rng(scenario.seed, &s.name);
        let start = scenario.start_ns;
        let (arrivals, template) = match s.arrivals {
            ArrivalConfig::Poisson { rate_per_s } => (
                AnyArrival::Poisson(Poisson::new(rate_per_s, start, rng)),
                None,
            ),
            ArrivalConfig::Mmpp {
                rates_per_s,
                switch_per_s,
            } => (
                AnyArrival::Mmpp2(Mmpp2::new(rates_per_s, switch_per_s, start, rng)),
                None,
            ),
            ArrivalConfig::OnOff {
                rate_per_s,
                on_mean_ns,
                off_mean_ns,
            } => (
                AnyArrival::OnOff(OnOff::new(rate_per_s, on_mean_ns, off_mean_ns, start, rng)),
                None,
            ),
            ArrivalConfig::Periodic {
                period_ns,
                jitter_ns,
                phase_ns,
            } => (
                AnyArrival::Periodic(Periodic::new(period_ns, jitter_ns, phase_ns, start, rng)),
                None,
            ),
            ArrivalConfig::Replay { .. } | ArrivalConfig::Lobster { .. } => {
                let (replay, template) = replay::load(s, start)?;
                (AnyArrival::Replay(replay), template)
            }
        };
        templates.push(template);
        streams.push(EngineStream {
            arrivals,
            queue: usize::from(s.queue),
            packet_bytes: s.packet_bytes,
        });
    }
    let h = scenario.host;
    let app = App::new(
        h.app_wakeup_ns,
        h.app_service_ns,
        h.app_service,
        h.backlog as usize,
        derived_rng(scenario.seed, APP_RNG_NAME),
    );
    let queues = scenario.queue_count();
    let result = match scenario.policy {
        PolicyConfig::Ethtool {
            usecs,
            frames,
            mode,
        } => run(
            scenario,
            &mut streams,
            app,
            vec![Ethtool::new(usecs, frames, mode); queues],
        ),
        PolicyConfig::Adaptive { mode } => run(
            scenario,
            &mut streams,
            app,
            vec![Adaptive::new(mode); queues],
        ),
        PolicyConfig::Throttle {
            max_interrupts_per_s,
        } => run(
            scenario,
            &mut streams,
            app,
            vec![Throttle::new(max_interrupts_per_s); queues],
        ),
        PolicyConfig::Nvme {
            aggregation_time,
            aggregation_threshold,
        } => run(
            scenario,
            &mut streams,
            app,
            vec![Nvme::new(aggregation_time, aggregation_threshold); queues],
        ),
        PolicyConfig::Virtio {
            max_usecs,
            max_packets,
        } => run(
            scenario,
            &mut streams,
            app,
            vec![Virtio::new(max_usecs, max_packets); queues],
        ),
        PolicyConfig::Deferral {
            usecs,
            frames,
            mode,
            gro_flush_timeout_ns,
            defer_hard_irqs,
        } => {
            let d = Deferral::new(
                Ethtool::new(usecs, frames, mode),
                gro_flush_timeout_ns,
                defer_hard_irqs,
            );
            run(scenario, &mut streams, app, vec![d; queues])
        }
        PolicyConfig::None => run(scenario, &mut streams, app, vec![NoCoalescing; queues]),
    };
    Ok(RawRun {
        scenario: scenario.clone(),
        result,
        templates,
    })
}

fn run<P: CoalescingPolicy>(
    scenario: &Scenario,
    streams: &mut [EngineStream],
    app: App,
    policies: Vec<P>,
) -> engine::EngineResult {
    Engine::new(
        scenario.host,
        scenario.ring_size,
        policies,
        app,
        scenario.packets,
    )
    .run(streams, scenario.packets)
}
