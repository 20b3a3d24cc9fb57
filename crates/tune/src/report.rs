//! The sweep, the frontier, the recommendation and the report types `tune --json` prints.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use coalescope_desk::market::Market;
use coalescope_desk::replay::{replay, ReplayPlan, ReplayRow};
use coalescope_desk::DeskScenario;
use coalescope_metrics::bootstrap::BootstrapConfig;
use coalescope_model::nic::NicCoalescing;
use coalescope_sim::setting::{Hardware, Setting};
use coalescope_sim::{QuantileMode, Run, Scenario};
use serde::Serialize;

use crate::class::TrafficClass;
use crate::error::TuneError;
use crate::pareto;

/// The interface name written into commands when none is given.
pub const DEFAULT_IFACE: &str = "IFACE";
/// Largest share of a class's packets a recommended setting may drop (0.1 %) unless
/// `--max-drop` says otherwise: a setting that loses packets is not a latency win.
pub const DEFAULT_MAX_DROP_FRACTION: f64 = 0.001;

/// What the recommendation minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// 99th percentile of the delivery delay `t_app - t_ingress` (the default).
    #[default]
    P99,
    /// 99.9th percentile of the delivery delay.
    P999,
    /// Mean delivery delay (what the closed forms of `model nic` predict on an ideal host).
    Mean,
    /// The desk's cost q95 over parents (needs a desk).
    CostQ95,
}

impl Objective {
    /// The accepted names.
    pub const NAMES: &'static str = "p99, p999, mean, cost-q95";

    /// Its name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Objective::P99 => "p99",
            Objective::P999 => "p999",
            Objective::Mean => "mean",
            Objective::CostQ95 => "cost-q95",
        }
    }

    /// The candidate's value of this objective (`+inf` when undefined).
    fn value(self, c: &Candidate) -> f64 {
        let int = |v: Option<i64>| v.map_or(f64::INFINITY, |x| x as f64);
        match self {
            Objective::P99 => int(c.p99_ns),
            Objective::P999 => int(c.p999_ns),
            Objective::Mean => c.mean_delay_ns.unwrap_or(f64::INFINITY),
            Objective::CostQ95 => c.cost_q95_bps.unwrap_or(f64::INFINITY),
        }
    }

    /// The delay figure of the frontier: the objective's, p99 for cost.
    fn delay(self) -> Objective {
        match self {
            Objective::CostQ95 => Objective::P99,
            o => o,
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Objective::CostQ95 => format!("{v:.2} bps"),
            _ => format_ns(v),
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Objective {
    type Err = TuneError;
    fn from_str(s: &str) -> Result<Self, TuneError> {
        match s.trim() {
            "p99" => Ok(Objective::P99),
            "p999" | "p99.9" => Ok(Objective::P999),
            "mean" => Ok(Objective::Mean),
            "cost-q95" => Ok(Objective::CostQ95),
            other => Err(TuneError::Flag {
                flag: "--objective",
                message: format!("`{other}` is not an objective; accepted: {}", Self::NAMES),
            }),
        }
    }
}

/// The budgets a recommendation must meet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Constraints {
    /// Most CPU (share of one core, e.g. 0.25) the receive path may use.
    pub max_cpu: Option<f64>,
    /// Most hardware interrupts per second.
    pub max_irq_rate: Option<f64>,
    /// Largest share of packets dropped.
    pub max_drop_fraction: f64,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            max_cpu: None,
            max_irq_rate: None,
            max_drop_fraction: DEFAULT_MAX_DROP_FRACTION,
        }
    }
}

impl Constraints {
    /// Checks every budget (errors name the flag).
    pub fn validate(&self) -> Result<(), TuneError> {
        let bad = |flag, v: f64, range: &str| TuneError::Flag {
            flag,
            message: format!("{v} is out of range: give {range}"),
        };
        if let Some(c) = self.max_cpu {
            if !(c.is_finite() && c > 0.0) {
                return Err(bad(
                    "--max-cpu",
                    c,
                    "a share of one core > 0 (0.25 = a quarter)",
                ));
            }
        }
        if let Some(r) = self.max_irq_rate {
            if !(r.is_finite() && r >= 0.0) {
                return Err(bad("--max-irq-rate", r, "interrupts per second >= 0"));
            }
        }
        let d = self.max_drop_fraction;
        if !(d.is_finite() && (0.0..=1.0).contains(&d)) {
            return Err(bad("--max-drop", d, "a fraction in [0, 1]"));
        }
        Ok(())
    }

    fn met_by(&self, c: &Candidate) -> bool {
        c.delivered > 0
            && self.max_cpu.is_none_or(|m| c.cpu <= m)
            && self
                .max_irq_rate
                .is_none_or(|m| c.interrupt_rate_per_s <= m)
            && c.drop_fraction <= self.max_drop_fraction
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.max_irq_rate {
            parts.push(format!("the {} interrupt budget", format_rate(r)));
        }
        if let Some(c) = self.max_cpu {
            parts.push(format!("the {} budget", format_cpu(c)));
        }
        parts.push(format!(
            "at most {} drops",
            format_percent(self.max_drop_fraction)
        ));
        match parts.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => parts.join(""),
        }
    }
}

/// A desk to price each candidate with (`--desk`): the desk scenario and its opened market.
pub struct DeskInput<'a> {
    /// The desk scenario; each candidate is applied to its receive path.
    pub scenario: &'a DeskScenario,
    /// Directory its relative paths resolve against.
    pub base_dir: Option<&'a Path>,
    /// The market, opened by the caller.
    pub market: &'a dyn Market,
}

/// Everything one tuning run needs.
pub struct TunePlan<'a> {
    /// The traffic classes.
    pub classes: &'a [TrafficClass],
    /// The candidate settings (see [`crate::Grid::settings`]).
    pub settings: &'a [Setting],
    /// The budgets.
    pub constraints: Constraints,
    /// What the recommendation minimizes.
    pub objective: Objective,
    /// Interface name written into the commands.
    pub iface: &'a str,
    /// Price each candidate through the desk.
    pub desk: Option<DeskInput<'a>>,
}

/// Closed-form figures of `model nic` for a fixed-coalescing candidate of a Poisson class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelFigures {
    /// Predicted interrupts per second.
    pub interrupt_rate_per_s: f64,
    /// Predicted mean coalescing delay (arrival to interrupt), ns.
    pub mean_coalescing_delay_ns: f64,
}

/// One evaluated candidate of a class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The setting, written as `replay --settings` writes it.
    pub setting: String,
    /// On the Pareto frontier of (delay, CPU, interrupt rate[, cost q95]).
    pub frontier: bool,
    /// On the 2-D frontier of delay vs CPU.
    pub frontier_cpu: bool,
    /// On the 2-D frontier of delay vs interrupt rate.
    pub frontier_irq: bool,
    /// Meets every constraint.
    pub meets_constraints: bool,
    /// Median delivery delay `t_app - t_ingress`, ns.
    pub p50_ns: Option<i64>,
    /// 99th percentile, ns.
    pub p99_ns: Option<i64>,
    /// 99.9th percentile, ns.
    pub p999_ns: Option<i64>,
    /// Mean delivery delay, ns.
    pub mean_delay_ns: Option<f64>,
    /// Mean coalescing delay (arrival to interrupt or poll), ns.
    pub mean_coalescing_delay_ns: Option<f64>,
    /// CPU of the receive path, share of one core.
    pub cpu: f64,
    /// Hardware interrupts per second.
    pub interrupt_rate_per_s: f64,
    /// Deferral software polls per second.
    pub software_polls_per_s: f64,
    /// Packets delivered.
    pub delivered: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// `dropped / packets`.
    pub drop_fraction: f64,
    /// Desk cost q95 over parents, bps (with a desk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_q95_bps: Option<f64>,
    /// Desk `E[C]`, bps (with a desk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_cost_bps: Option<f64>,
    /// Closed form of `model nic` (Poisson classes, fixed coalescing without deferral).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelFigures>,
}

/// The recommended setting of a class and how to apply it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The setting.
    pub setting: String,
    /// `ethtool -C IFACE ...`; null for busy-poll (no coalescing words: the application
    /// polls, see `busy_poll`).
    pub ethtool: Option<String>,
    /// The NAPI sysfs writes that go with it (`echo N > /sys/class/net/IFACE/...`).
    pub sysfs: Vec<String>,
    /// `coalescope nic set IFACE --dry-run ...` (drop `--dry-run` to apply); null for
    /// busy-poll.
    pub nic_set: Option<String>,
    /// For busy-poll: what to enable instead of coalescing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_poll: Option<String>,
    /// One sentence of numbers.
    pub why: String,
    /// The objective's value of the setting.
    pub objective_value: f64,
    /// Its p99 delivery delay, ns.
    pub p99_ns: Option<i64>,
    /// Its CPU, share of one core.
    pub cpu: f64,
    /// Its interrupt rate per second.
    pub interrupt_rate_per_s: f64,
}

/// One class's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Class name.
    pub class: String,
    /// Where the traffic came from.
    pub source: String,
    /// Packets per run.
    pub packets: u64,
    /// The frontier points (`frontier` true), by increasing delay then CPU, then
    /// interrupt rate, then candidate order.
    pub frontier: Vec<Candidate>,
    /// The recommendation; null when no candidate meets the constraints.
    pub recommended: Option<Recommendation>,
    /// Why (also when nothing is recommended).
    pub why: String,
    /// Every candidate, in grid order.
    pub candidates: Vec<Candidate>,
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneConfig {
    /// The objective.
    pub objective: Objective,
    /// The budgets.
    pub constraints: Constraints,
    /// Candidates per class.
    pub candidates: usize,
    /// The frontier's coordinates, all minimized.
    pub frontier_axes: Vec<&'static str>,
    /// The desk's market feed when candidates were priced through the desk (the same
    /// market for every class: the desk trades its own market, not the class's traffic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desk_stream: Option<String>,
    /// The interface written into the commands.
    pub iface: String,
}

/// The report of a tuning run (`coalescope tune --json`, `tune.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneReport {
    /// What was asked.
    pub config: TuneConfig,
    /// One entry per class, in input order.
    pub classes: Vec<ClassReport>,
}

impl TuneReport {
    /// True when every class has a recommendation (the cli exits 1 otherwise).
    pub fn all_recommended(&self) -> bool {
        self.classes.iter().all(|c| c.recommended.is_some())
    }
}

/// Runs the sweep (every class × setting in parallel, results in order), prices the
/// settings through the desk when given, and builds the report.
pub fn tune(plan: &TunePlan<'_>) -> Result<TuneReport, TuneError> {
    plan.constraints.validate()?;
    if plan.objective == Objective::CostQ95 && plan.desk.is_none() {
        return Err(TuneError::Flag {
            flag: "--objective",
            message: "cost-q95 needs --desk (the cost comes from the desk replay)".into(),
        });
    }
    if plan.classes.is_empty() || plan.settings.is_empty() {
        return Err(TuneError::Flag {
            flag: "--settings",
            message: "nothing to tune: no class or no candidate setting".into(),
        });
    }
    let mut scenarios: Vec<Scenario> = Vec::with_capacity(plan.classes.len() * plan.settings.len());
    for class in plan.classes {
        for s in plan.settings {
            scenarios.push(class.with_setting(s)?);
        }
    }
    let runs = coalescope_sim::sweep(&scenarios, QuantileMode::Sketch);
    drop(scenarios);
    let desk_rows: Option<Vec<ReplayRow>> = match &plan.desk {
        None => None,
        Some(d) => {
            let report = replay(&ReplayPlan {
                scenario: d.scenario,
                base_dir: d.base_dir,
                market: d.market,
                settings: plan.settings,
                bootstrap: BootstrapConfig {
                    resamples: 0,
                    seed: d.scenario.seed,
                },
                analysis: coalescope_metrics::Config {
                    markouts: true,
                    ..coalescope_metrics::Config::default()
                },
            })?;
            Some(report.settings)
        }
    };
    let mut runs = runs.into_iter();
    let mut classes = Vec::with_capacity(plan.classes.len());
    for class in plan.classes {
        let mut candidates = Vec::with_capacity(plan.settings.len());
        for (i, s) in plan.settings.iter().enumerate() {
            let run = runs
                .next()
                .ok_or_else(|| TuneError::Flag {
                    flag: "--settings",
                    message: "the sweep returned fewer runs than candidates".into(),
                })?
                .map_err(|source| TuneError::Sim {
                    class: class.name.clone(),
                    setting: s.to_string(),
                    source,
                })?;
            let desk = desk_rows.as_ref().and_then(|rows| rows.get(i));
            candidates.push(candidate(class, s, &run, desk));
        }
        classes.push(class_report(class, plan, candidates));
    }
    let mut frontier_axes = vec![plan.objective.delay().axis(), "cpu", "interrupt_rate_per_s"];
    if plan.desk.is_some() {
        frontier_axes.push("cost_q95_bps");
    }
    Ok(TuneReport {
        config: TuneConfig {
            objective: plan.objective,
            constraints: plan.constraints,
            candidates: plan.settings.len(),
            frontier_axes,
            desk_stream: plan.desk.as_ref().map(|d| d.market.stream().to_string()),
            iface: plan.iface.to_string(),
        },
        classes,
    })
}

impl Objective {
    fn axis(self) -> &'static str {
        match self {
            Objective::P99 => "p99_ns",
            Objective::P999 => "p999_ns",
            Objective::Mean => "mean_delay_ns",
            Objective::CostQ95 => "cost_q95_bps",
        }
    }
}

fn candidate(class: &TrafficClass, s: &Setting, run: &Run, desk: Option<&ReplayRow>) -> Candidate {
    let sum = &run.summary;
    let seconds = sum.span_ns as f64 / 1e9;
    let model = class.poisson_rate().and_then(|rate| {
        let (window_ns, frames) = match (s.hardware(), s.deferral()) {
            (Hardware::PerPacket, None) => (0, 1),
            (
                Hardware::Fixed {
                    rx_usecs,
                    rx_frames,
                },
                None,
            ) => (i64::from(rx_usecs) * 1000, rx_frames),
            _ => return None,
        };
        let p = NicCoalescing {
            rate_per_s: rate,
            window_ns,
            frames,
        }
        .predict()
        .ok()?;
        Some(ModelFigures {
            interrupt_rate_per_s: p.interrupt_rate_per_s,
            mean_coalescing_delay_ns: p.mean_added_delay_ns,
        })
    });
    Candidate {
        setting: s.to_string(),
        frontier: false,
        frontier_cpu: false,
        frontier_irq: false,
        meets_constraints: false,
        p50_ns: sum.p50_ns,
        p99_ns: sum.p99_ns,
        p999_ns: sum.p999_ns,
        mean_delay_ns: sum.mean_added_delay_ns,
        mean_coalescing_delay_ns: sum.mean_coalescing_delay_ns,
        cpu: sum.cpu_utilization,
        interrupt_rate_per_s: sum.interrupt_rate_per_s,
        software_polls_per_s: if seconds > 0.0 {
            sum.software_polls as f64 / seconds
        } else {
            0.0
        },
        delivered: sum.delivered,
        dropped: sum.dropped,
        drop_fraction: if sum.packets > 0 {
            sum.dropped as f64 / sum.packets as f64
        } else {
            0.0
        },
        cost_q95_bps: desk.and_then(|r| r.cost_q95_bps),
        expected_cost_bps: desk.and_then(|r| r.expected_cost_bps),
        model,
    }
}

fn class_report(class: &TrafficClass, plan: &TunePlan<'_>, mut c: Vec<Candidate>) -> ClassReport {
    let delay = plan.objective.delay();
    let with_cost = plan.desk.is_some();
    let point = |x: &Candidate, cpu: bool, irq: bool, cost: bool| {
        let mut p = vec![delay.value(x)];
        if cpu {
            p.push(x.cpu);
        }
        if irq {
            p.push(x.interrupt_rate_per_s);
        }
        if cost {
            p.push(x.cost_q95_bps.unwrap_or(f64::INFINITY));
        }
        p
    };
    let joint = pareto::frontier(
        &c.iter()
            .map(|x| point(x, true, true, with_cost))
            .collect::<Vec<_>>(),
    );
    let on_cpu = pareto::frontier(
        &c.iter()
            .map(|x| point(x, true, false, false))
            .collect::<Vec<_>>(),
    );
    let on_irq = pareto::frontier(
        &c.iter()
            .map(|x| point(x, false, true, false))
            .collect::<Vec<_>>(),
    );
    for (i, x) in c.iter_mut().enumerate() {
        // A run that delivered nothing has no delay: it is no point of any frontier.
        let defined = x.delivered > 0;
        x.frontier = joint[i] && defined;
        x.frontier_cpu = on_cpu[i] && defined;
        x.frontier_irq = on_irq[i] && defined;
        x.meets_constraints = plan.constraints.met_by(x);
    }
    let mut frontier: Vec<(usize, &Candidate)> =
        c.iter().enumerate().filter(|(_, x)| x.frontier).collect();
    frontier.sort_by(|(i, a), (j, b)| {
        delay
            .value(a)
            .total_cmp(&delay.value(b))
            .then(a.cpu.total_cmp(&b.cpu))
            .then(a.interrupt_rate_per_s.total_cmp(&b.interrupt_rate_per_s))
            .then(i.cmp(j))
    });
    let frontier: Vec<Candidate> = frontier.into_iter().map(|(_, x)| x.clone()).collect();
    let best = pick(&c, plan.objective, |x| x.meets_constraints);
    let why = explain(&c, best, plan);
    let recommended = best.map(|i| recommendation(&c[i], plan, &why));
    ClassReport {
        class: class.name.clone(),
        source: class.source.clone(),
        packets: class.packets(),
        frontier,
        recommended,
        why,
        candidates: c,
    }
}

/// The index minimizing the objective among the candidates `ok` admits (with a defined
/// value); ties by interrupt rate, then CPU, then grid order.
fn pick(c: &[Candidate], objective: Objective, ok: impl Fn(&Candidate) -> bool) -> Option<usize> {
    c.iter()
        .enumerate()
        .filter(|(_, x)| ok(x) && objective.value(x).is_finite())
        .min_by(|(i, a), (j, b)| {
            objective
                .value(a)
                .total_cmp(&objective.value(b))
                .then(a.interrupt_rate_per_s.total_cmp(&b.interrupt_rate_per_s))
                .then(a.cpu.total_cmp(&b.cpu))
                .then(i.cmp(j))
        })
        .map(|(i, _)| i)
}

fn explain(c: &[Candidate], best: Option<usize>, plan: &TunePlan<'_>) -> String {
    let o = plan.objective;
    let budget = plan.constraints.describe();
    let Some(b) = best else {
        let fewest = c
            .iter()
            .filter(|x| x.delivered > 0)
            .min_by(|a, b| a.interrupt_rate_per_s.total_cmp(&b.interrupt_rate_per_s));
        let leanest = c
            .iter()
            .filter(|x| x.delivered > 0)
            .min_by(|a, b| a.cpu.total_cmp(&b.cpu));
        let driest = c
            .iter()
            .min_by(|a, b| a.drop_fraction.total_cmp(&b.drop_fraction));
        let mut text = format!("no setting of {} meets {budget}", c.len());
        if let (Some(f), Some(l), Some(d)) = (fewest, leanest, driest) {
            text.push_str(&format!(
                ": the fewest interrupts, {}, come from {}; the least CPU, {}, from {}; the fewest drops, {}, from {}",
                format_rate(f.interrupt_rate_per_s),
                f.setting,
                format_cpu(l.cpu),
                l.setting,
                format_percent(d.drop_fraction),
                d.setting
            ));
        }
        if o == Objective::CostQ95 && c.iter().all(|x| x.cost_q95_bps.is_none()) {
            text.push_str("; the desk classified no parent, so no setting has a cost q95");
        }
        text.push('.');
        return text;
    };
    let x = &c[b];
    let feasible = c.iter().filter(|x| x.meets_constraints).count();
    let mut text = format!(
        "{} has the lowest {} ({}) of the {feasible} of {} settings that meet {budget}: {}, {}",
        x.setting,
        o,
        o.format(o.value(x)),
        c.len(),
        format_rate(x.interrupt_rate_per_s),
        format_cpu(x.cpu),
    );
    match pick(c, o, |_| true) {
        Some(u) if u != b && o.value(&c[u]) < o.value(x) => {
            let y = &c[u];
            text.push_str(&format!(
                "; the lowest {} of all, {} with {}, would need {} and {}",
                o,
                y.setting,
                o.format(o.value(y)),
                format_rate(y.interrupt_rate_per_s),
                format_cpu(y.cpu),
            ));
            if y.drop_fraction > plan.constraints.max_drop_fraction {
                text.push_str(&format!(" and drop {}", format_percent(y.drop_fraction)));
            }
        }
        _ => text.push_str(&format!(
            "; it is the lowest {o} of all {} settings",
            c.len()
        )),
    }
    if let Some(pp) = c.iter().find(|y| y.setting == "per-packet") {
        if pp.setting != x.setting && pp.delivered > 0 {
            text.push_str(&format!(
                "; per-packet interrupts would need {} for {} {}",
                format_rate(pp.interrupt_rate_per_s),
                o,
                o.format(o.value(pp))
            ));
        }
    }
    text.push('.');
    text
}

fn recommendation(x: &Candidate, plan: &TunePlan<'_>, why: &str) -> Recommendation {
    // The candidate's text is a setting's canonical text: it parses back.
    let setting = plan
        .settings
        .iter()
        .find(|s| s.to_string() == x.setting)
        .copied();
    let iface = plan.iface;
    let (ethtool, sysfs, nic_set, busy_poll) = match setting {
        Some(s) if s.hardware() != Hardware::BusyPoll => (
            Some(format!("ethtool -C {iface} {}", s.ethtool_args().join(" "))),
            s.sysfs_knobs()
                .iter()
                .map(|(k, v)| format!("echo {v} > /sys/class/net/{iface}/{k}"))
                .collect(),
            Some(format!(
                "coalescope nic set {iface} --dry-run {}",
                s.nic_set_args().join(" ")
            )),
            None,
        ),
        _ => (
            None,
            Vec::new(),
            None,
            Some(
                "no coalescing to set: the application busy-polls the queue (SO_BUSY_POLL on \
                 its socket, or sysctl net.core.busy_poll / net.core.busy_read)"
                    .to_string(),
            ),
        ),
    };
    Recommendation {
        setting: x.setting.clone(),
        ethtool,
        sysfs,
        nic_set,
        busy_poll,
        why: why.to_string(),
        objective_value: plan.objective.value(x),
        p99_ns: x.p99_ns,
        cpu: x.cpu,
        interrupt_rate_per_s: x.interrupt_rate_per_s,
    }
}

/// `850 ns`, `31.2 µs`, `1.25 ms`.
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "n/a".into()
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// `41.2 k/s` interrupts.
pub fn format_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M irq/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k irq/s", r / 1e3)
    } else {
        format!("{r:.0} irq/s")
    }
}

/// `12.3 % CPU` (share of one core).
pub fn format_cpu(c: f64) -> String {
    format!("{:.1} % CPU", c * 100.0)
}

fn format_percent(f: f64) -> String {
    format!("{} %", f * 100.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cand(setting: &str, p99: i64, cpu: f64, irq: f64) -> Candidate {
        Candidate {
            setting: setting.into(),
            frontier: false,
            frontier_cpu: false,
            frontier_irq: false,
            meets_constraints: false,
            p50_ns: Some(p99 / 2),
            p99_ns: Some(p99),
            p999_ns: Some(p99 * 2),
            mean_delay_ns: Some(p99 as f64 / 3.0),
            mean_coalescing_delay_ns: None,
            cpu,
            interrupt_rate_per_s: irq,
            software_polls_per_s: 0.0,
            delivered: 10,
            dropped: 0,
            drop_fraction: 0.0,
            cost_q95_bps: None,
            expected_cost_bps: None,
            model: None,
        }
    }

    #[test]
    fn pick_minimizes_then_breaks_ties_by_interrupts_cpu_and_order() {
        let c = vec![
            cand("a", 30, 0.2, 10.0),
            cand("b", 20, 0.3, 50.0),
            cand("c", 20, 0.1, 40.0),
            cand("d", 20, 0.1, 40.0),
        ];
        assert_eq!(pick(&c, Objective::P99, |_| true), Some(2));
        assert_eq!(
            pick(&c, Objective::P99, |x| x.interrupt_rate_per_s < 30.0),
            Some(0)
        );
        assert_eq!(pick(&c, Objective::P99, |_| false), None);
    }

    #[test]
    fn constraints_reject_nonsense_naming_the_flag() {
        for (c, flag) in [
            (
                Constraints {
                    max_cpu: Some(-1.0),
                    ..Constraints::default()
                },
                "--max-cpu",
            ),
            (
                Constraints {
                    max_cpu: Some(f64::NAN),
                    ..Constraints::default()
                },
                "--max-cpu",
            ),
            (
                Constraints {
                    max_irq_rate: Some(-5.0),
                    ..Constraints::default()
                },
                "--max-irq-rate",
            ),
            (
                Constraints {
                    max_drop_fraction: 2.0,
                    ..Constraints::default()
                },
                "--max-drop",
            ),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(flag), "{e}");
        }
        assert!(Constraints::default().validate().is_ok());
        let e = "p42".parse::<Objective>().unwrap_err().to_string();
        assert!(e.contains("--objective") && e.contains("p99, p999"), "{e}");
        assert_eq!("cost-q95".parse::<Objective>().unwrap(), Objective::CostQ95);
    }

    #[test]
    fn formats() {
        assert_eq!(format_ns(850.0), "850 ns");
        assert_eq!(format_ns(31_240.0), "31.2 µs");
        assert_eq!(format_ns(1_250_000.0), "1.25 ms");
        assert_eq!(format_rate(41_234.0), "41.2 k irq/s");
        assert_eq!(format_rate(1_500_000.0), "1.50 M irq/s");
        assert_eq!(format_cpu(0.123), "12.3 % CPU");
    }
}
