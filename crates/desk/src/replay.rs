//! Counterfactual replay (SPEC §5.2): one market, one strategy, one seed, several
//! receive-path settings.
//!
//! Every setting replays the same market messages through the simulator under its own
//! `[nic]`/busy-poll configuration, and the desk trades on what each delivered. The
//! market, the parents, the strategy's parameters and every seed are shared, so the only
//! thing that differs between two rows is the receive path. Settings run in parallel
//! (rayon); each run is deterministic, so the report is byte-identical across runs and
//! thread counts.
//!
//! Differences to the first setting come with a 95 % bootstrap interval for the figures
//! that are statistics over parents (branch shares, cost, completion): parents are
//! resampled with replacement, the same resample for both settings (paired by
//! `parent_id`), with the seeded splitmix64 of [`coalescope_metrics::bootstrap`]. The
//! delivery figures (interrupt rate, CPU, delay quantiles, MDDR, BDC, DBC) are one number
//! per run, not a statistic over parents: their difference has `ci95` null.

use std::path::Path;

use coalescope_metrics::bootstrap::{paired_bootstrap, BootstrapConfig, Estimate};
use coalescope_metrics::branches::{Branch, ParentRow};
use coalescope_metrics::{Analyzer, CdfPoint, Config, Report};
use coalescope_sim::setting::Setting;
use coalescope_timeline::quantile::{nearest_rank, Prob};
use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::Serialize;

use crate::desk::{run_streaming, Delivery, DeskRun};
use crate::market::Market;
use crate::scenario::{receive_path, DeskScenario};
use crate::DeskError;

/// What to replay: the scenario (receive path as written, desk configuration, seed), the
/// opened market and the settings, the first being the baseline.
pub struct ReplayPlan<'a> {
    /// The desk scenario; each setting is applied to a copy of its `sim_spec`.
    pub scenario: &'a DeskScenario,
    /// Directory relative paths of the scenario resolve against.
    pub base_dir: Option<&'a Path>,
    /// The market, opened once and shared by every setting.
    pub market: &'a dyn Market,
    /// The settings; the first is the baseline of the differences.
    pub settings: &'a [Setting],
    /// Resamples and seed of the paired bootstrap.
    pub bootstrap: BootstrapConfig,
    /// Metrics configuration (branch thresholds, windows) of every run's analysis.
    pub analysis: Config,
}

/// One setting's row (SPEC §5.2, issue 10's names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRow {
    /// The setting, canonical text (`rx-usecs=50`, `busy-poll`, ...).
    pub setting: String,
    /// Hardware interrupts per second of simulated time.
    pub interrupt_rate_per_s: f64,
    /// CPU utilization of the receive path (share of one core).
    pub cpu: f64,
    /// Delivery delay `t_app - t_ingress` of the feed's md events, p50 (ns).
    pub delay_p50_ns: Option<i64>,
    /// p99 (ns).
    pub delay_p99_ns: Option<i64>,
    /// p99.9 (ns).
    pub delay_p999_ns: Option<i64>,
    /// MDDR of the feed (SPEC §4).
    pub mddr: Option<f64>,
    /// Gap profile: Q50 ratio.
    pub mddr_q50: Option<f64>,
    /// Gap profile: Q99 ratio.
    pub mddr_q99: Option<f64>,
    /// Gap profile: compression.
    pub gap_compression: Option<f64>,
    /// Median interval BDC on the app timeline.
    pub bdc_median: Option<f64>,
    /// DBC − DBC_ingress of the feed and the desk's strategy.
    pub dbc_excess: Option<f64>,
    /// Share of parents in TIMELY.
    pub p_timely: Option<f64>,
    /// Share of parents in BURST-SYNC.
    pub p_burst_sync: Option<f64>,
    /// Share of parents in LATE-RECOVERY.
    pub p_late_recovery: Option<f64>,
    /// Mean cost of TIMELY parents (bps).
    pub cost_timely_bps: Option<f64>,
    /// Mean cost of BURST-SYNC parents (bps).
    pub cost_burst_sync_bps: Option<f64>,
    /// Mean cost of LATE-RECOVERY parents (bps).
    pub cost_late_recovery_bps: Option<f64>,
    /// `E[C] = Σ_b p_b C_b` (bps).
    pub expected_cost_bps: Option<f64>,
    /// Cost q50 over parents with a branch and a defined cost (bps).
    pub cost_q50_bps: Option<f64>,
    /// Cost q95 (bps).
    pub cost_q95_bps: Option<f64>,
    /// Cost q99 (bps).
    pub cost_q99_bps: Option<f64>,
    /// `Σ min(F, qty) / Σ qty` over those parents.
    pub completion: Option<f64>,
    /// IOC orders with an unfilled rest.
    pub ioc_misses: u64,
    /// Parents with a branch and a defined cost (the n of the shares and quantiles).
    pub parents_classified: u64,
    /// Parents worked.
    pub parents: u64,
    /// Child orders sent.
    pub orders: u64,
    /// Cancel/replaces sent.
    pub cancel_replaces: u64,
    /// Post-only rejects.
    pub rejects: u64,
    /// md events the receive path dropped.
    pub md_dropped: u64,
}

/// The figures of a row that differences report, in output order; `true` for the ones
/// computed over parents (bootstrapped).
pub const FIGURES: [(&str, bool); 20] = [
    ("interrupt_rate_per_s", false),
    ("cpu", false),
    ("delay_p50_ns", false),
    ("delay_p99_ns", false),
    ("delay_p999_ns", false),
    ("mddr", false),
    ("mddr_q50", false),
    ("mddr_q99", false),
    ("gap_compression", false),
    ("bdc_median", false),
    ("dbc_excess", false),
    ("p_timely", true),
    ("p_burst_sync", true),
    ("p_late_recovery", true),
    ("expected_cost_bps", true),
    ("cost_q50_bps", true),
    ("cost_q95_bps", true),
    ("cost_q99_bps", true),
    ("completion", true),
    ("ioc_misses", false),
];

impl ReplayRow {
    /// A figure by its name in [`FIGURES`].
    pub fn figure(&self, name: &str) -> Option<f64> {
        let int = |v: Option<i64>| v.map(|x| x as f64);
        match name {
            "interrupt_rate_per_s" => Some(self.interrupt_rate_per_s),
            "cpu" => Some(self.cpu),
            "delay_p50_ns" => int(self.delay_p50_ns),
            "delay_p99_ns" => int(self.delay_p99_ns),
            "delay_p999_ns" => int(self.delay_p999_ns),
            "mddr" => self.mddr,
            "mddr_q50" => self.mddr_q50,
            "mddr_q99" => self.mddr_q99,
            "gap_compression" => self.gap_compression,
            "bdc_median" => self.bdc_median,
            "dbc_excess" => self.dbc_excess,
            "p_timely" => self.p_timely,
            "p_burst_sync" => self.p_burst_sync,
            "p_late_recovery" => self.p_late_recovery,
            "expected_cost_bps" => self.expected_cost_bps,
            "cost_q50_bps" => self.cost_q50_bps,
            "cost_q95_bps" => self.cost_q95_bps,
            "cost_q99_bps" => self.cost_q99_bps,
            "completion" => self.completion,
            "ioc_misses" => Some(self.ioc_misses as f64),
            _ => None,
        }
    }
}

/// One setting's difference to the baseline: `{"setting", "vs", "<figure>": {"estimate",
/// "ci95"}, ...}` for every figure of [`FIGURES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The setting.
    pub setting: String,
    /// The baseline it is compared with.
    pub vs: String,
    /// Parents paired (present in both runs); the bootstrap's unit count.
    pub paired_parents: u64,
    /// `(figure, setting − baseline)` in [`FIGURES`] order.
    pub figures: Vec<(&'static str, Estimate)>,
}

impl Difference {
    /// The estimate of one figure.
    pub fn figure(&self, name: &str) -> Option<&Estimate> {
        self.figures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
    }
}

impl Serialize for Difference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3 + self.figures.len()))?;
        m.serialize_entry("setting", &self.setting)?;
        m.serialize_entry("vs", &self.vs)?;
        m.serialize_entry("paired_parents", &self.paired_parents)?;
        for (name, e) in &self.figures {
            m.serialize_entry(name, e)?;
        }
        m.end()
    }
}

/// The `config` section of a replay report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayConfig {
    /// Market symbol.
    pub symbol: String,
    /// Market feed (stream) name.
    pub stream: String,
    /// The run seed shared by every setting.
    pub seed: u64,
    /// Bootstrap resamples.
    pub bootstrap_resamples: usize,
    /// Bootstrap seed.
    pub bootstrap_seed: u64,
    /// The interval used for the differences.
    pub interval: &'static str,
    /// Why the delivery figures have no interval.
    pub delivery_figures_ci95: &'static str,
}

/// The result of [`replay`]: `{"config", "settings": [rows], "differences": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// What was replayed.
    pub config: ReplayConfig,
    /// One row per setting, in the order given.
    pub settings: Vec<ReplayRow>,
    /// Each setting after the first against the first.
    pub differences: Vec<Difference>,
    /// `--controller shadow`: the controller's state timeline and the outcomes with its
    /// tactics (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<crate::control_arms::ShadowReport>,
    /// `--controller canary`: the gates of SPEC §7 and the verdict (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::control_arms::CanaryReport>,
    /// Per setting, in the order given, the delivery-delay CDF of the feed's md events
    /// (what `coalescope report` plots).
    pub delay_cdf: Vec<SettingDelayCdf>,
    /// Per setting, the branch report of its run (what the rows summarise), for callers
    /// that explain where the cost came from; not serialized.
    #[serde(skip)]
    pub parent_rows: Vec<Vec<ParentRow>>,
}

/// The delivery-delay CDF of one setting's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingDelayCdf {
    /// The setting, canonical text.
    pub setting: String,
    /// `t_app - t_ingress` of the feed's md events at p = 0.01, ..., 1 and 0.999.
    pub points: Vec<CdfPoint>,
}

/// One setting's finished run.
pub(crate) struct SettingRun {
    pub(crate) row: ReplayRow,
    pub(crate) parents: Vec<ParentRow>,
}

/// Replays the market under every setting (in parallel) and compares each with the first.
pub fn replay(plan: &ReplayPlan<'_>) -> Result<ReplayReport, DeskError> {
    if plan.settings.is_empty() {
        return Err(DeskError::Toml(
            "replay needs at least one receive-path setting".into(),
        ));
    }
    let (runs, delay_cdf): (Vec<SettingRun>, Vec<SettingDelayCdf>) = plan
        .settings
        .par_iter()
        .map(|setting| run_setting(plan, setting))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let base = &runs[0];
    let differences = runs[1..]
        .iter()
        .map(|other| difference(base, other, plan.bootstrap))
        .collect();
    Ok(ReplayReport {
        config: ReplayConfig {
            symbol: plan.market.symbol().to_string(),
            stream: plan.market.stream().to_string(),
            seed: plan.scenario.seed,
            bootstrap_resamples: plan.bootstrap.resamples,
            bootstrap_seed: plan.bootstrap.seed,
            interval:
                "95 % percentile bootstrap, parents resampled with replacement, paired by parent_id",
            delivery_figures_ci95: "null: one number per run, not a statistic over parents",
        },
        parent_rows: runs.iter().map(|r| r.parents.clone()).collect(),
        settings: runs.into_iter().map(|r| r.row).collect(),
        differences,
        shadow: None,
        canary: None,
        delay_cdf,
    })
}

fn run_setting(
    plan: &ReplayPlan<'_>,
    setting: &Setting,
) -> Result<(SettingRun, SettingDelayCdf), DeskError> {
    let mut spec = plan.scenario.sim_spec.clone();
    setting.apply(&mut spec);
    let scenario = receive_path(&spec, plan.base_dir)?;
    // Stream the md events into the analyzer as the desk emits them: memory follows the
    // parents and orders, not the day's length.
    let mut analyzer = Analyzer::new(plan.analysis.clone())?;
    let desk = run_streaming(
        plan.market,
        &Delivery::Simulate(&scenario),
        &plan.scenario.config,
        plan.scenario.seed,
        &mut |e| analyzer.update_event(e),
    )?;
    let t = &desk.timeline;
    for o in &t.orders {
        analyzer.update_order(o);
    }
    for f in &t.fills {
        analyzer.update_fill(f);
    }
    for p in &t.parents {
        analyzer.update_parent(p);
    }
    let report = analyzer.finish(&t.strings);
    let parents = report
        .branches
        .as_ref()
        .map(|b| b.rows.clone())
        .unwrap_or_default();
    let points = analyzer
        .distributions(&t.strings)
        .into_iter()
        .find(|g| g.stream.as_deref() == Some(plan.market.stream()))
        .map(|g| g.delay_cdf)
        .unwrap_or_default();
    Ok((
        SettingRun {
            row: row(setting.to_string(), plan.market.stream(), &desk, &report),
            parents,
        },
        SettingDelayCdf {
            setting: setting.to_string(),
            points,
        },
    ))
}

/// A row from one run: delivery figures from the simulator and the feed's md group,
/// branch figures from the analysis (SPEC §5.1), counts from the desk.
pub fn row(setting: String, stream: &str, desk: &DeskRun, report: &Report) -> ReplayRow {
    let group = report
        .groups
        .iter()
        .find(|g| g.stream.as_deref() == Some(stream));
    let coupling = report
        .coupling
        .iter()
        .find(|c| c.stream.as_deref() == Some(stream) && c.dbc_excess.is_some());
    let overall = report.branches.as_ref().map(|b| &b.overall);
    let branch = |b: Branch| overall.map(|o| o.branch(b));
    let c = &desk.counts;
    ReplayRow {
        setting,
        interrupt_rate_per_s: desk.sim.as_ref().map_or(0.0, |s| s.interrupt_rate_per_s),
        cpu: desk.sim.as_ref().map_or(0.0, |s| s.cpu_utilization),
        delay_p50_ns: group.and_then(|g| g.delay_p50_ns),
        delay_p99_ns: group.and_then(|g| g.delay_p99_ns),
        delay_p999_ns: group.and_then(|g| g.delay_p999_ns),
        mddr: group.and_then(|g| g.mddr),
        mddr_q50: group.and_then(|g| g.mddr_q50),
        mddr_q99: group.and_then(|g| g.mddr_q99),
        gap_compression: group.and_then(|g| g.gap_compression),
        bdc_median: group.and_then(|g| g.bdc_median),
        dbc_excess: coupling.and_then(|c| c.dbc_excess),
        p_timely: branch(Branch::Timely).and_then(|s| s.p),
        p_burst_sync: branch(Branch::BurstSync).and_then(|s| s.p),
        p_late_recovery: branch(Branch::LateRecovery).and_then(|s| s.p),
        cost_timely_bps: branch(Branch::Timely).and_then(|s| s.cost_mean_bps),
        cost_burst_sync_bps: branch(Branch::BurstSync).and_then(|s| s.cost_mean_bps),
        cost_late_recovery_bps: branch(Branch::LateRecovery).and_then(|s| s.cost_mean_bps),
        expected_cost_bps: overall.and_then(|o| o.expected_cost_bps),
        cost_q50_bps: overall.and_then(|o| o.all.cost_q50_bps),
        cost_q95_bps: overall.and_then(|o| o.all.cost_q95_bps),
        cost_q99_bps: overall.and_then(|o| o.all.cost_q99_bps),
        completion: overall.and_then(|o| o.all.completion),
        ioc_misses: c.ioc_misses,
        parents_classified: overall.map_or(0, |o| o.n),
        parents: c.parents,
        orders: c.orders,
        cancel_replaces: c.cancel_replaces,
        rejects: c.rejects,
        md_dropped: c.md_dropped,
    }
}

/// The parent-level figures of SPEC §5.1 over a multiset of parents (`rows[i]` for `i` in
/// `idx`), recomputed for a bootstrap resample: shares, E[C], cost quantiles (nearest
/// rank) and completion over the parents with a branch and a defined cost.
pub fn parent_figure(rows: &[&ParentRow], idx: &[usize], figure: &str) -> Option<f64> {
    let classified = idx
        .iter()
        .map(|&i| rows[i])
        .filter_map(|r| Some((r.branch?, r.cost_bps?, r)));
    match figure {
        "p_timely" | "p_burst_sync" | "p_late_recovery" => {
            let want = match figure {
                "p_timely" => Branch::Timely,
                "p_burst_sync" => Branch::BurstSync,
                _ => Branch::LateRecovery,
            };
            let (mut n, mut k) = (0u64, 0u64);
            for (b, _, _) in classified {
                n += 1;
                k += u64::from(b == want);
            }
            (n > 0).then(|| k as f64 / n as f64)
        }
        // E[C] = Σ_b (n_b / n) C_b is the mean cost over the classified parents.
        "expected_cost_bps" => {
            let (mut n, mut sum) = (0u64, 0.0);
            for (_, c, _) in classified {
                n += 1;
                sum += c;
            }
            (n > 0).then(|| sum / n as f64)
        }
        "cost_q50_bps" | "cost_q95_bps" | "cost_q99_bps" => {
            let p = match figure {
                "cost_q50_bps" => Prob::P50,
                "cost_q95_bps" => Prob::P95,
                _ => Prob::P99,
            };
            let mut costs: Vec<f64> = classified.map(|(_, c, _)| c).collect();
            costs.sort_unstable_by(f64::total_cmp);
            nearest_rank(&costs, p)
        }
        "completion" => {
            let (mut done, mut total) = (0.0, 0.0);
            for (_, _, r) in classified {
                done += r.filled.min(r.qty);
                total += r.qty;
            }
            (total > 0.0).then(|| done / total)
        }
        _ => None,
    }
}

pub(crate) fn difference(
    base: &SettingRun,
    other: &SettingRun,
    bootstrap: BootstrapConfig,
) -> Difference {
    // Pair parents by id (both runs work the same parents; a parent missing from one run
    // is left out of the pairing).
    let mut a: Vec<&ParentRow> = base.parents.iter().collect();
    a.sort_by_key(|r| r.parent_id);
    let mut b: Vec<&ParentRow> = other.parents.iter().collect();
    b.sort_by_key(|r| r.parent_id);
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].parent_id.cmp(&b[j].parent_id) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                pa.push(a[i]);
                pb.push(b[j]);
                i += 1;
                j += 1;
            }
        }
    }
    let figures = FIGURES
        .iter()
        .map(|&(name, over_parents)| {
            let estimate = if over_parents {
                paired_bootstrap(pa.len(), bootstrap, |idx| {
                    Some(parent_figure(&pb, idx, name)? - parent_figure(&pa, idx, name)?)
                })
                .estimate
            } else {
                Estimate {
                    estimate: other
                        .row
                        .figure(name)
                        .zip(base.row.figure(name))
                        .map(|(x, y)| x - y),
                    ci95: None,
                }
            };
            (name, estimate)
        })
        .collect();
    Difference {
        setting: other.row.setting.clone(),
        vs: base.row.setting.clone(),
        paired_parents: pa.len() as u64,
        figures,
    }
}

/// The cost figures a desk reads first: mean (E[C]) and the tail (q95, q99).
pub const COST_FIGURES: [&str; 3] = ["expected_cost_bps", "cost_q95_bps", "cost_q99_bps"];

impl Difference {
    /// The cost figures ([`COST_FIGURES`]) whose 95 % interval excludes zero: the
    /// differences the bootstrap can tell from resampling noise.
    pub fn detectable_costs(&self) -> Vec<&'static str> {
        COST_FIGURES
            .iter()
            .copied()
            .filter(|name| {
                self.figure(name)
                    .and_then(|e| e.ci95)
                    .is_some_and(|[lo, hi]| lo > 0.0 || hi < 0.0)
            })
            .collect()
    }
}

/// How much of `E[C](other) − E[C](base)` each branch carries: `p'_b C'_b − p_b C_b`
/// (a branch without parents contributes 0 on its side). The three contributions add up
/// to the difference of the rows' `expected_cost_bps` whenever both are defined.
pub fn branch_contributions(base: &ReplayRow, other: &ReplayRow) -> [(Branch, f64); 3] {
    let term = |p: Option<f64>, c: Option<f64>| p.zip(c).map_or(0.0, |(p, c)| p * c);
    [
        (
            Branch::Timely,
            term(other.p_timely, other.cost_timely_bps) - term(base.p_timely, base.cost_timely_bps),
        ),
        (
            Branch::BurstSync,
            term(other.p_burst_sync, other.cost_burst_sync_bps)
                - term(base.p_burst_sync, base.cost_burst_sync_bps),
        ),
        (
            Branch::LateRecovery,
            term(other.p_late_recovery, other.cost_late_recovery_bps)
                - term(base.p_late_recovery, base.cost_late_recovery_bps),
        ),
    ]
}
