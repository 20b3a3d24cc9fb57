//! Shadow and canary arms of SPEC §7 on the desk's counterfactual.
//!
//! Both run on the scenario's own receive path (its `[nic]`/host as written, whatever the
//! plan's settings), with the plan's market, strategy and seed, and a [`TacticSource`] made fresh for each run by
//! a [`SourceFactory`] (the controller, wired by the caller):
//!
//! - **Shadow** ([`shadow`]): two desk runs. In the first the source watches every parent
//!   and arms none (it acts on nothing, so the desk trades exactly as without it): its
//!   state timeline and the baseline's branch outcomes. In the second its tactics apply
//!   to every parent: the outcomes the desk projects under the controller, with each
//!   figure's difference to the baseline (paired bootstrap, as `replay`).
//! - **Canary** ([`canary`]): one desk run, the source arming the canary parents only
//!   ([`is_canary`]); the rest are the control arm. The four gates of SPEC §7 compare
//!   the arms with 95 % bootstrap intervals (each arm's parents resampled with
//!   replacement, independently, seeded) and give the verdict.
//!
//! The gates and the verdict are `coalescope_control::evaluate_gates` (one home): the
//! desk gives it each arm's parents (branch rows, orders, rejects + IOC misses) and each
//! arm's order-stream figures, DBC_excess of the arm's orders against the feed's md
//! windows (SPEC §4, [`MdSeries`]) and the nearest-rank median over intervals of the BDC
//! of the arm's order emits (SPEC §4's BDC counted on `t_emit`, intervals holding an
//! emit).

use coalescope_control::gates::ArmParent;
use coalescope_control::{evaluate_gates, ArmInput, ArmOrders, CanaryFraction};
use coalescope_metrics::bootstrap::BootstrapConfig;
use coalescope_metrics::branches::ParentRow;
use coalescope_metrics::windows::WindowCounts;
use coalescope_metrics::{Analyzer, Report};
use coalescope_timeline::quantile::{nearest_rank, Prob};
use coalescope_timeline::EventKind;
use serde::Serialize;

use crate::desk::{run_streaming_with, Delivery, DeskRun};
use crate::replay::{
    difference, parent_figure, row, Difference, ReplayPlan, ReplayRow, SettingRun,
};
use crate::tactics::{StateTimeline, TacticSource};
use crate::DeskError;

/// Which parents a run's source arms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arm {
    /// None: the source watches and acts on nothing (shadow's baseline).
    Watch,
    /// Every parent (shadow's projection).
    Every,
    /// The canary parents of this fraction (SPEC §7 selection).
    Canary(CanaryFraction),
}

impl Arm {
    /// Whether the arm holds `parent_id`.
    pub fn contains(&self, parent_id: u64) -> bool {
        match self {
            Arm::Watch => false,
            Arm::Every => true,
            Arm::Canary(f) => f.contains(parent_id),
        }
    }
}

/// Makes a fresh tactic source for one run; the source must arm exactly the parents
/// the [`Arm`] contains.
pub trait SourceFactory {
    /// A source for a run arming `arm`.
    fn source(&self, arm: &Arm) -> Result<Box<dyn TacticSource>, DeskError>;
}

/// Tactic counters of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TacticCounts {
    /// Parents the source armed.
    pub armed_parents: u64,
    /// Orders the pacer delayed.
    pub paced_orders: u64,
    /// Orders the aggression gate sent passive.
    pub gated_orders: u64,
    /// Cancel/replaces the churn limit skipped.
    pub churn_skipped: u64,
}

impl TacticCounts {
    fn of(run: &DeskRun) -> Self {
        TacticCounts {
            armed_parents: run.per_parent.iter().filter(|p| p.armed).count() as u64,
            paced_orders: run.counts.paced_orders,
            gated_orders: run.counts.gated_orders,
            churn_skipped: run.counts.churn_skipped,
        }
    }
}

/// `replay --controller shadow`: the controller's state timeline beside the baseline's
/// outcomes and the outcomes with its tactics on every parent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// The receive-path setting both runs used.
    pub setting: String,
    /// The controller watching the baseline run (acting on nothing).
    pub timeline: StateTimeline,
    /// The controller in the run where its tactics apply to every parent.
    pub acting_timeline: StateTimeline,
    /// The baseline's row (branch outcomes, cost, completion).
    pub baseline: ReplayRow,
    /// The row with the controller's tactics on every parent.
    pub controlled: ReplayRow,
    /// What the tactics did in that run.
    pub tactics: TacticCounts,
    /// `controlled − baseline` per figure (paired bootstrap over parents).
    pub difference: Difference,
}

/// Per-arm figures on the full sample.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ArmFigures {
    /// Parents in the arm.
    pub parents: u64,
    /// Child orders of the arm.
    pub orders: u64,
    /// DBC_excess of the arm's orders.
    pub dbc_excess: Option<f64>,
    /// Median interval BDC of the arm's order emits.
    pub emit_bdc_median: Option<f64>,
    /// Completion over the arm's classified parents.
    pub completion: Option<f64>,
    /// Cost q95 (bps).
    pub cost_q95_bps: Option<f64>,
    /// Cost q99 (bps).
    pub cost_q99_bps: Option<f64>,
    /// `(rejects + IOC misses) / orders`.
    pub rejects_ioc_misses_per_order: Option<f64>,
}

/// `replay --controller canary`: the gates of SPEC §7 and the verdict (computed by
/// `coalescope_control::evaluate_gates`) and what the run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryReport {
    /// `fraction`, `n_canary`, `n_control`, `gates`, `verdict`.
    #[serde(flatten)]
    pub result: coalescope_control::CanaryReport,
    /// The receive-path setting of the run.
    pub setting: String,
    /// Bootstrap resamples of the intervals.
    pub resamples: usize,
    /// Canary arm figures.
    pub canary_arm: ArmFigures,
    /// Control arm figures.
    pub control_arm: ArmFigures,
    /// What the tactics did.
    pub tactics: TacticCounts,
    /// The controller's state timeline over the run.
    pub timeline: StateTimeline,
}

/// One run with a source: the desk's result, its analysis and the feed's md windows.
struct ArmRun {
    desk: DeskRun,
    report: Report,
    timeline: StateTimeline,
    md: MdSeries,
    md_ingress: MdSeries,
    md_range: Option<(i64, i64)>,
}

fn run_arm(
    plan: &ReplayPlan<'_>,
    factory: &dyn SourceFactory,
    arm: &Arm,
) -> Result<ArmRun, DeskError> {
    let scenario = &plan.scenario.sim;
    let mut source = factory.source(arm)?;
    let mut analyzer = Analyzer::new(plan.analysis.clone())?;
    let width = plan.analysis.window;
    let per_interval = plan.analysis.interval.as_nanos() / width.as_nanos().max(1);
    let mut app = WindowCounts::new(width, per_interval);
    let mut ingress = WindowCounts::new(width, per_interval);
    let mut range: Option<(i64, i64)> = None;
    let mut widen = |t: i64| {
        range = Some(range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
    };
    let desk = run_streaming_with(
        plan.market,
        &Delivery::Simulate(scenario),
        &plan.scenario.config,
        plan.scenario.seed,
        &mut |e| {
            analyzer.update_event(e);
            if e.kind == EventKind::Md {
                ingress.update(e.t_ingress);
                widen(e.t_ingress.0);
                if let Some(t) = e.t_app {
                    app.update(t);
                    widen(t.0);
                }
            }
        },
        Some(&mut *source),
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
    Ok(ArmRun {
        timeline: source.timeline(),
        desk,
        report,
        md: MdSeries::new(app.windows()),
        md_ingress: MdSeries::new(ingress.windows()),
        md_range: range,
    })
}

/// The label of the receive path the arms run under: the scenario's own.
pub const ARMS_SETTING: &str = "scenario";

fn setting_run(plan: &ReplayPlan<'_>, run: &ArmRun) -> Result<SettingRun, DeskError> {
    Ok(SettingRun {
        row: row(
            ARMS_SETTING.to_string(),
            plan.market.stream(),
            &run.desk,
            &run.report,
        ),
        parents: parent_rows(&run.report),
    })
}

fn parent_rows(report: &Report) -> Vec<ParentRow> {
    report
        .branches
        .as_ref()
        .map(|b| b.rows.clone())
        .unwrap_or_default()
}

/// Shadow mode (module docs).
pub fn shadow(
    plan: &ReplayPlan<'_>,
    factory: &dyn SourceFactory,
) -> Result<ShadowReport, DeskError> {
    let watch = run_arm(plan, factory, &Arm::Watch)?;
    let acting = run_arm(plan, factory, &Arm::Every)?;
    let base = setting_run(plan, &watch)?;
    let controlled = setting_run(plan, &acting)?;
    let mut diff = difference(&base, &controlled, plan.bootstrap);
    diff.setting = format!("{} + controller", controlled.row.setting);
    Ok(ShadowReport {
        setting: base.row.setting.clone(),
        timeline: watch.timeline,
        acting_timeline: acting.timeline,
        tactics: TacticCounts::of(&acting.desk),
        baseline: base.row,
        controlled: controlled.row,
        difference: diff,
    })
}

/// Canary mode (module docs): gates over `bootstrap.resamples` resamples per arm.
pub fn canary(
    plan: &ReplayPlan<'_>,
    factory: &dyn SourceFactory,
    fraction: CanaryFraction,
    bootstrap: BootstrapConfig,
) -> Result<CanaryReport, DeskError> {
    let run = run_arm(plan, factory, &Arm::Canary(fraction))?;
    let units = ParentUnits::new(plan, &run);
    let (canary_idx, control_idx): (Vec<usize>, Vec<usize>) =
        (0..units.parents.len()).partition(|&i| run.desk.per_parent[i].armed);
    let canary_arm = units.figures(&canary_idx);
    let control_arm = units.figures(&control_idx);
    // Arm parents (those with a branch row) and, parallel, their unit indices.
    let arm_parents = |idx: &[usize]| -> (Vec<ArmParent<'_>>, Vec<usize>) {
        idx.iter()
            .filter_map(|&i| {
                let u = &units.parents[i];
                Some((
                    ArmParent {
                        row: u.row?,
                        orders: u.orders,
                        rejects_ioc_misses: u.bad,
                    },
                    i,
                ))
            })
            .unzip()
    };
    let ((cp, cu), (kp, ku)) = (arm_parents(&canary_idx), arm_parents(&control_idx));
    let orders = |f: &ArmFigures| ArmOrders {
        dbc_excess: f.dbc_excess,
        median_emit_bdc: f.emit_bdc_median,
    };
    // Gate 1's resamples: the arm's order stream rebuilt from the drawn parents.
    let resampler = |unit_of: &[usize]| {
        let units = &units;
        let unit_of = unit_of.to_vec();
        move |idx: &[usize]| -> ArmOrders {
            let drawn: Vec<usize> = idx.iter().map(|&i| unit_of[i]).collect();
            units.order_stats(&drawn)
        }
    };
    let (rc, rk) = (resampler(&cu), resampler(&ku));
    let result = evaluate_gates(
        fraction,
        &ArmInput {
            parents: &cp,
            orders: orders(&canary_arm),
            resample: Some(&rc),
        },
        &ArmInput {
            parents: &kp,
            orders: orders(&control_arm),
            resample: Some(&rk),
        },
        bootstrap,
    );
    Ok(CanaryReport {
        result,
        setting: ARMS_SETTING.to_string(),
        resamples: bootstrap.resamples,
        canary_arm,
        control_arm,
        tactics: TacticCounts::of(&run.desk),
        timeline: run.timeline,
    })
}

/// One window series of the feed's md events, with prefix sums so that any window range
/// gives `Σx` and `Σx²` in O(log n).
#[derive(Debug, Clone, Default)]
pub struct MdSeries {
    windows: Vec<(i64, u32)>,
    sum: Vec<i128>,
    sum_sq: Vec<i128>,
}

impl MdSeries {
    /// From non-empty windows `(k, count)` sorted by `k`.
    pub fn new(windows: Vec<(i64, u32)>) -> Self {
        let mut sum = Vec::with_capacity(windows.len() + 1);
        let mut sum_sq = Vec::with_capacity(windows.len() + 1);
        let (mut s, mut q) = (0i128, 0i128);
        sum.push(0);
        sum_sq.push(0);
        for &(_, c) in &windows {
            s += i128::from(c);
            q += i128::from(c) * i128::from(c);
            sum.push(s);
            sum_sq.push(q);
        }
        MdSeries {
            windows,
            sum,
            sum_sq,
        }
    }

    fn count_at(&self, k: i64) -> i128 {
        self.windows
            .binary_search_by_key(&k, |w| w.0)
            .map_or(0, |i| i128::from(self.windows[i].1))
    }

    /// Pearson correlation of this series with the sparse `y` (sorted by `k`, distinct
    /// keys) over windows `k_first..=k_last`, absent windows 0 (SPEC §4's DBC); `None`
    /// when either series is constant there.
    pub fn pearson(&self, y: &[(i64, u32)], k_first: i64, k_last: i64) -> Option<f64> {
        let n = i128::from(k_last - k_first + 1);
        let lo = self.windows.partition_point(|w| w.0 < k_first);
        let hi = self.windows.partition_point(|w| w.0 <= k_last);
        let sx = self.sum[hi] - self.sum[lo];
        let sxx = self.sum_sq[hi] - self.sum_sq[lo];
        let (mut sy, mut syy, mut sxy) = (0i128, 0i128, 0i128);
        for &(k, c) in y.iter().filter(|(k, _)| (k_first..=k_last).contains(k)) {
            let c = i128::from(c);
            sy += c;
            syy += c * c;
            sxy += c * self.count_at(k);
        }
        let var_x = n * sxx - sx * sx;
        let var_y = n * syy - sy * sy;
        if var_x == 0 || var_y == 0 {
            return None;
        }
        let cov = n * sxy - sx * sy;
        Some(cov as f64 / ((var_x as f64).sqrt() * (var_y as f64).sqrt()))
    }
}

/// The units of the canary's bootstrap: each parent's branch row, order counters and
/// order-emit windows, and the feed's md series.
struct ParentUnits<'a> {
    parents: Vec<Unit<'a>>,
    run: &'a ArmRun,
    width: i64,
    per_interval: i64,
}

struct Unit<'a> {
    row: Option<&'a ParentRow>,
    orders: u64,
    bad: u64,
    /// `(window, emits)` sorted by window.
    windows: Vec<(i64, u32)>,
    first_emit: i64,
    last_emit: i64,
}

impl<'a> ParentUnits<'a> {
    fn new(plan: &ReplayPlan<'_>, run: &'a ArmRun) -> Self {
        let width = plan.analysis.window.as_nanos().max(1);
        let per_interval = plan.analysis.interval.as_nanos() / width;
        let t = &run.desk.timeline;
        let rows = run
            .report
            .branches
            .as_ref()
            .map(|b| b.rows.as_slice())
            .unwrap_or_default();
        let by_id: std::collections::HashMap<u64, &'a ParentRow> =
            rows.iter().map(|r| (r.parent_id, r)).collect();
        let mut index = std::collections::HashMap::with_capacity(t.parents.len());
        for (i, p) in t.parents.iter().enumerate() {
            index.insert(p.parent_id, i);
        }
        let mut parents: Vec<Unit<'a>> = t
            .parents
            .iter()
            .zip(&run.desk.per_parent)
            .map(|(p, c)| Unit {
                row: by_id.get(&p.parent_id).copied(),
                orders: c.orders,
                bad: c.rejects + c.ioc_misses,
                windows: Vec::new(),
                first_emit: i64::MAX,
                last_emit: i64::MIN,
            })
            .collect();
        for o in &t.orders {
            if let Some(&i) = index.get(&o.parent_id) {
                let u = &mut parents[i];
                let e = o.t_emit.0;
                u.windows.push((e.div_euclid(width), 1));
                u.first_emit = u.first_emit.min(e);
                u.last_emit = u.last_emit.max(e);
            }
        }
        for u in &mut parents {
            u.windows = merge_windows(std::mem::take(&mut u.windows));
        }
        ParentUnits {
            parents,
            run,
            width,
            per_interval,
        }
    }

    /// The arm figures over the multiset `idx` of parents.
    fn figures(&self, idx: &[usize]) -> ArmFigures {
        let mut buf = Vec::new();
        self.figures_into(idx, &mut buf)
    }

    fn figures_into(&self, idx: &[usize], buf: &mut Vec<(i64, u32)>) -> ArmFigures {
        let (mut orders, mut bad) = (0u64, 0u64);
        for &i in idx {
            let u = &self.parents[i];
            orders += u.orders;
            bad += u.bad;
        }
        let stats = self.order_stats_into(idx, buf);
        let rows: Vec<&ParentRow> = idx.iter().filter_map(|&i| self.parents[i].row).collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        ArmFigures {
            parents: idx.len() as u64,
            orders,
            dbc_excess: stats.dbc_excess,
            emit_bdc_median: stats.median_emit_bdc,
            completion: parent_figure(&rows, &all, "completion"),
            cost_q95_bps: parent_figure(&rows, &all, "cost_q95_bps"),
            cost_q99_bps: parent_figure(&rows, &all, "cost_q99_bps"),
            rejects_ioc_misses_per_order: (orders > 0).then(|| bad as f64 / orders as f64),
        }
    }

    /// Gate 1's order-stream statistics over the multiset `idx` of parents.
    fn order_stats(&self, idx: &[usize]) -> ArmOrders {
        let mut buf = Vec::new();
        self.order_stats_into(idx, &mut buf)
    }

    fn order_stats_into(&self, idx: &[usize], buf: &mut Vec<(i64, u32)>) -> ArmOrders {
        buf.clear();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for &i in idx {
            let u = &self.parents[i];
            buf.extend_from_slice(&u.windows);
            first = first.min(u.first_emit);
            last = last.max(u.last_emit);
        }
        let emits = merge_windows(std::mem::take(buf));
        // SPEC §4: windows from the first to the last instant among the md t_ingress,
        // t_app and the orders' t_emit.
        let span = match (self.run.md_range, first <= last) {
            (Some((a, b)), true) => Some((a.min(first), b.max(last))),
            (Some(r), false) => Some(r),
            (None, true) => Some((first, last)),
            (None, false) => None,
        };
        let dbc_excess = span.and_then(|(a, b)| {
            let (k0, k1) = (a.div_euclid(self.width), b.div_euclid(self.width));
            let on_app = self.run.md.pearson(&emits, k0, k1)?;
            let on_ingress = self.run.md_ingress.pearson(&emits, k0, k1)?;
            Some(on_app - on_ingress)
        });
        let median_emit_bdc = emit_bdc_median(&emits, self.per_interval);
        *buf = emits;
        ArmOrders {
            dbc_excess,
            median_emit_bdc,
        }
    }
}

/// Sorts `(window, count)` pairs and adds up equal windows.
fn merge_windows(mut v: Vec<(i64, u32)>) -> Vec<(i64, u32)> {
    v.sort_unstable_by_key(|w| w.0);
    let mut out = 0usize;
    for i in 0..v.len() {
        if out > 0 && v[out - 1].0 == v[i].0 {
            v[out - 1].1 += v[i].1;
        } else {
            v[out] = v[i];
            out += 1;
        }
    }
    v.truncate(out);
    v
}

/// Nearest-rank median over intervals holding an emit of `max_w N_w / Σ_w N_w`.
fn emit_bdc_median(emits: &[(i64, u32)], per_interval: i64) -> Option<f64> {
    let mut bdcs = Vec::new();
    let mut i = 0;
    while i < emits.len() {
        let j = emits[i].0.div_euclid(per_interval.max(1));
        let (mut max, mut sum) = (0u32, 0u64);
        while i < emits.len() && emits[i].0.div_euclid(per_interval.max(1)) == j {
            max = max.max(emits[i].1);
            sum += u64::from(emits[i].1);
            i += 1;
        }
        bdcs.push(f64::from(max) / sum as f64);
    }
    bdcs.sort_unstable_by(f64::total_cmp);
    nearest_rank(&bdcs, Prob::P50)
}
