//! VaR / batch-risk engine: pick `(W, B)` so every update meets its deadline, the update
//! rate stays under its cap and the engine keeps up (SPEC §3).
//!
//! Market events arrive as Poisson λ and are batched like a NIC queue (EQE, timer W and
//! count B); each batch of K events triggers one risk update costing
//! `compute(K) = fixed + per_item * K`, run by one engine, one update at a time.
//! A candidate is feasible when it meets all three constraints ([`Constraint`]):
//! * **Deadline**: an event waits at most W and its batch holds at most B events, so its
//!   update completes by `W + compute(B)` *once the engine is free*; that must be
//!   `<= deadline`. The figure excludes the wait behind the previous update (queueing):
//!   with Poisson arrivals the count can close batches arbitrarily close together, so no
//!   finite worst case includes that wait. Stability below bounds it on average only.
//!   A count-only setting (W = 0, B >= 2) has an unbounded wait and never meets a
//!   deadline; B = 0 (timer only) has an unbounded batch and never does either, so the
//!   grid only holds B >= 1.
//! * **Update-rate cap**: the NIC model's interrupt rate `λ / (1 + λD)` must be `<= cap`.
//! * **Stability**: utilisation `ρ = update_rate × E[compute(K)]
//!   = update_rate × fixed + λ × per_item` (per-batch mean `E[K] = 1 + λD`, so
//!   `update_rate × E[K] = λ`) must be `< 1`; otherwise updates queue without bound and the
//!   candidate is "unstable".
//!
//! Latency of the mean event, also excluding queueing: coalescing delay plus the compute of
//! the batch it lands in. An event sees the size-biased batch, of mean `E[K²] / E[K]`, so
//! the mean latency is `mean_added_delay + fixed + per_item * E[K²] / E[K]`. The
//! latency-minimal point minimises it over the feasible set; ties go to the smaller worst
//! case, then the lower update rate. B = 1 updates on every event whatever W is, so it is
//! evaluated once, as W = 0.
//!
//! When nothing is feasible, [`VarPlan::binding`] names the constraints that rule the grid
//! out: every constraint that no candidate meets even alone; or, when each alone can be
//! met, the constraints of the smallest sets that no candidate meets together
//! ([`VarPlan::binding_jointly`] is then true).

use crate::error::{self, ModelError};
use crate::nic::{NicCoalescing, MAX_FRAMES};
use serde::Serialize;

/// The engine, the constraints and the grid of settings to search.
#[derive(Debug, Clone, PartialEq)]
pub struct VarInput {
    /// Market-event rate λ per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// Deadline from an event's arrival to the end of its update, in ns; > 0.
    pub deadline_ns: i64,
    /// Fixed cost of one update, in ns; >= 0.
    pub compute_fixed_ns: i64,
    /// Extra cost per event in the batch, in ns; >= 0.
    pub compute_per_item_ns: i64,
    /// Highest acceptable update rate, per second; > 0.
    pub max_update_rate_per_s: f64,
    /// Candidate windows W in ns (each >= 0).
    pub windows_ns: Vec<i64>,
    /// Candidate count thresholds B (each 1..=1048576).
    pub batches: Vec<u32>,
}

/// One of the three constraints a candidate must meet.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Constraint {
    /// Worst case `W + compute(B)` (excluding queueing) within the deadline.
    Deadline,
    /// Update rate within the cap.
    UpdateRateCap,
    /// The engine keeps up, `ρ < 1`; named "unstable" when it binds.
    #[serde(rename = "unstable")]
    Unstable,
}

impl Constraint {
    /// Every constraint, in reporting order.
    pub const ALL: [Constraint; 3] = [
        Constraint::Deadline,
        Constraint::UpdateRateCap,
        Constraint::Unstable,
    ];

    /// The name used in JSON and tables: `deadline`, `update-rate-cap`, `unstable`.
    pub fn name(self) -> &'static str {
        match self {
            Constraint::Deadline => "deadline",
            Constraint::UpdateRateCap => "update-rate-cap",
            Constraint::Unstable => "unstable",
        }
    }
}

/// What the worst case and the mean latency of a candidate exclude (SPEC §3): the wait
/// behind the previous update, which has no finite bound under Poisson arrivals.
pub const LATENCY_EXCLUDES: &str = "the wait behind the previous update (queueing)";

/// One evaluated `(W, B)`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct VarCandidate {
    /// Timer window W in ns.
    pub window_ns: i64,
    /// Count threshold B.
    pub batch: u32,
    /// `W + compute(B)` in ns, excluding the wait behind the previous update (queueing);
    /// `None` when unbounded (count only). Serialized under its earlier name
    /// `worst_case_latency_ns`; the plan's `latency_excludes` says what it leaves out.
    #[serde(rename = "worst_case_latency_ns")]
    pub worst_case_excl_queueing_ns: Option<i64>,
    /// Mean event-to-update-complete latency in ns, excluding queueing (serialized as
    /// `mean_latency_ns`).
    #[serde(rename = "mean_latency_ns")]
    pub mean_latency_excl_queueing_ns: f64,
    /// Updates per second.
    pub update_rate_per_s: f64,
    /// Mean compute of one update, `fixed + per_item * E[K]`, in ns.
    pub mean_compute_ns: f64,
    /// Engine utilisation `ρ = update_rate × E[compute(K)]`.
    pub rho: f64,
    /// Worst case (excluding queueing) within the deadline; never for count only.
    pub meets_deadline: bool,
    /// Update rate within the cap.
    pub meets_rate_cap: bool,
    /// `ρ < 1`: the engine keeps up.
    pub stable: bool,
}

impl VarCandidate {
    /// Whether this candidate meets one constraint.
    pub fn meets(&self, c: Constraint) -> bool {
        match c {
            Constraint::Deadline => self.meets_deadline,
            Constraint::UpdateRateCap => self.meets_rate_cap,
            Constraint::Unstable => self.stable,
        }
    }

    /// Meets every constraint.
    pub fn feasible(&self) -> bool {
        self.meets_deadline && self.meets_rate_cap && self.stable
    }
}

/// Whether any candidate is feasible; serialised as "feasible" or "infeasible".
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Feasibility {
    /// At least one candidate meets every constraint.
    Feasible,
    /// No candidate does; see [`VarPlan::binding`].
    Infeasible,
}

/// The feasible set and the chosen point, or why there is none.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct VarPlan {
    /// "feasible" or "infeasible".
    pub status: Feasibility,
    /// True when at least one candidate meets every constraint (the same fact as
    /// `status`, kept for readers of the earlier JSON).
    pub feasible: bool,
    /// Every evaluated candidate, in grid order (B ascending, then W ascending).
    pub candidates: Vec<VarCandidate>,
    /// The latency-minimal feasible candidate.
    pub best: Option<VarCandidate>,
    /// When infeasible, the constraints that rule out the grid (empty when feasible).
    pub binding: Vec<Constraint>,
    /// True when each binding constraint alone can be met, but not all together.
    pub binding_jointly: bool,
    /// Smallest bounded worst case over the grid (excluding queueing), in ns (serialized
    /// as `min_worst_case_latency_ns`).
    #[serde(rename = "min_worst_case_latency_ns")]
    pub min_worst_case_excl_queueing_ns: Option<i64>,
    /// What every latency of the plan leaves out: [`LATENCY_EXCLUDES`].
    pub latency_excludes: &'static str,
    /// Lowest update rate over the grid, per second.
    pub min_update_rate_per_s: f64,
    /// Lowest utilisation ρ over the grid.
    pub min_rho: f64,
}

impl VarPlan {
    /// True when at least one candidate meets every constraint.
    pub fn feasible(&self) -> bool {
        self.feasible
    }

    /// The feasible candidates, in grid order.
    pub fn feasible_set(&self) -> impl Iterator<Item = &VarCandidate> {
        self.candidates.iter().filter(|c| c.feasible())
    }
}

impl VarInput {
    fn validate(&self) -> Result<(), ModelError> {
        error::rate("rate_per_s", self.rate_per_s)?;
        error::positive("max_update_rate_per_s", self.max_update_rate_per_s)?;
        for (field, value, min) in [
            ("deadline_ns", self.deadline_ns, 1),
            ("compute_fixed_ns", self.compute_fixed_ns, 0),
            ("compute_per_item_ns", self.compute_per_item_ns, 0),
        ] {
            if value < min {
                return Err(ModelError::OutOfRange {
                    field,
                    value: value.to_string(),
                    accepted: if min == 1 {
                        "an integer number of ns > 0"
                    } else {
                        "an integer number of ns >= 0"
                    },
                });
            }
        }
        if self.windows_ns.is_empty() || self.windows_ns.iter().any(|w| *w < 0) {
            return Err(ModelError::OutOfRange {
                field: "windows_ns",
                value: format!("{:?}", self.windows_ns),
                accepted: "a non-empty list of windows, each >= 0 ns",
            });
        }
        if self.batches.is_empty() || self.batches.iter().any(|b| *b == 0 || *b > MAX_FRAMES) {
            return Err(ModelError::OutOfRange {
                field: "batches",
                value: format!("{:?}", self.batches),
                accepted: "a non-empty list of count thresholds, each 1..=1048576",
            });
        }
        Ok(())
    }

    /// Evaluate the grid and pick the latency-minimal feasible point, or name the binding
    /// constraints.
    pub fn plan(&self) -> Result<VarPlan, ModelError> {
        self.validate()?;
        let mut candidates = Vec::new();
        let mut batches = self.batches.clone();
        batches.sort_unstable();
        batches.dedup();
        let mut windows = self.windows_ns.clone();
        windows.sort_unstable();
        windows.dedup();
        for &b in &batches {
            let ws: &[i64] = if b == 1 { &[0] } else { &windows };
            for &w in ws {
                candidates.push(self.evaluate(w, b)?);
            }
        }
        let best = candidates
            .iter()
            .filter(|c| c.feasible())
            .min_by(|a, b| {
                a.mean_latency_excl_queueing_ns
                    .total_cmp(&b.mean_latency_excl_queueing_ns)
                    .then(
                        a.worst_case_excl_queueing_ns
                            .cmp(&b.worst_case_excl_queueing_ns),
                    )
                    .then(a.update_rate_per_s.total_cmp(&b.update_rate_per_s))
            })
            .copied();
        let (binding, binding_jointly) = if best.is_some() {
            (Vec::new(), false)
        } else {
            binding(&candidates)
        };
        Ok(VarPlan {
            status: if best.is_some() {
                Feasibility::Feasible
            } else {
                Feasibility::Infeasible
            },
            feasible: best.is_some(),
            latency_excludes: LATENCY_EXCLUDES,
            min_worst_case_excl_queueing_ns: candidates
                .iter()
                .filter_map(|c| c.worst_case_excl_queueing_ns)
                .min(),
            min_update_rate_per_s: candidates
                .iter()
                .map(|c| c.update_rate_per_s)
                .fold(f64::INFINITY, f64::min),
            min_rho: candidates
                .iter()
                .map(|c| c.rho)
                .fold(f64::INFINITY, f64::min),
            best,
            binding,
            binding_jointly,
            candidates,
        })
    }

    fn evaluate(&self, window_ns: i64, batch: u32) -> Result<VarCandidate, ModelError> {
        let nic = NicCoalescing {
            rate_per_s: self.rate_per_s,
            window_ns,
            frames: batch,
        };
        let p = nic.predict()?;
        let second = nic.batch_size_second_moment()?;
        let fixed = self.compute_fixed_ns as f64;
        let per_item = self.compute_per_item_ns as f64;
        let mean_latency = p.mean_added_delay_ns + fixed + per_item * second / p.mean_batch_size;
        let mean_compute = fixed + per_item * p.mean_batch_size;
        let rho = p.interrupt_rate_per_s * mean_compute / 1e9;
        let worst = nic.worst_case_delay_ns()?.map(|wait| {
            wait.saturating_add(self.compute_fixed_ns)
                .saturating_add(self.compute_per_item_ns.saturating_mul(i64::from(batch)))
        });
        Ok(VarCandidate {
            window_ns,
            batch,
            worst_case_excl_queueing_ns: worst,
            mean_latency_excl_queueing_ns: mean_latency,
            update_rate_per_s: p.interrupt_rate_per_s,
            mean_compute_ns: mean_compute,
            rho,
            meets_deadline: worst.is_some_and(|w| w <= self.deadline_ns),
            meets_rate_cap: p.interrupt_rate_per_s <= self.max_update_rate_per_s,
            stable: rho < 1.0,
        })
    }
}

/// The constraints that rule out a grid with no feasible candidate: those no candidate
/// meets alone, else (jointly) the union of the smallest sets no candidate meets together.
fn binding(candidates: &[VarCandidate]) -> (Vec<Constraint>, bool) {
    let unmet = |set: &[Constraint]| !candidates.iter().any(|c| set.iter().all(|&k| c.meets(k)));
    let alone: Vec<Constraint> = Constraint::ALL
        .into_iter()
        .filter(|&k| unmet(&[k]))
        .collect();
    if !alone.is_empty() {
        return (alone, false);
    }
    let mut joint = Vec::new();
    for (i, &a) in Constraint::ALL.iter().enumerate() {
        for &b in &Constraint::ALL[i + 1..] {
            if unmet(&[a, b]) {
                joint.extend([a, b]);
            }
        }
    }
    if joint.is_empty() {
        joint = Constraint::ALL.to_vec();
    }
    joint.sort_unstable();
    joint.dedup();
    (joint, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VarInput {
        // λ = 1e6/s, deadline 60 µs, update 5 µs + 100 ns per event, cap 100k updates/s.
        VarInput {
            rate_per_s: 1e6,
            deadline_ns: 60_000,
            compute_fixed_ns: 5_000,
            compute_per_item_ns: 100,
            max_update_rate_per_s: 1e5,
            windows_ns: vec![0, 10_000, 20_000, 50_000],
            batches: vec![1, 16, 64, 512],
        }
    }

    fn find(plan: &VarPlan, w: i64, b: u32) -> VarCandidate {
        *plan
            .candidates
            .iter()
            .find(|c| c.window_ns == w && c.batch == b)
            .unwrap()
    }

    #[test]
    fn worst_case_and_feasibility_by_hand() {
        let plan = input().plan().unwrap();
        // B = 1: worst 5000 + 100 = 5100 ns, rate 1e6 > cap.
        let c = find(&plan, 0, 1);
        assert_eq!(c.worst_case_excl_queueing_ns, Some(5_100));
        assert!(c.meets_deadline && !c.meets_rate_cap);
        // W = 50 µs, B = 512: 50_000 + 5_000 + 51_200 = 106_200 > 60_000.
        assert!(!find(&plan, 50_000, 512).meets_deadline);
        // W = 20 µs, B = 64: 20_000 + 5_000 + 6_400 = 31_400; λW = 20 so rate ~ 1e6/21.
        let c = find(&plan, 20_000, 64);
        assert_eq!(c.worst_case_excl_queueing_ns, Some(31_400));
        assert!(c.meets_deadline && c.meets_rate_cap);
        // Count only never meets a deadline.
        assert_eq!(find(&plan, 0, 16).worst_case_excl_queueing_ns, None);
        assert!(plan.feasible());
        let best = plan.best.unwrap();
        // W = 10 µs, B = 16 (λW = 10, the count binds often): rate 1e6/(1+λD) < 1e5 iff
        // λD > 9; with B = 16 and λW = 10, λD = Σ_{j=1}^{15} P[N >= j] ≈ 9.8.
        assert!(best.meets_deadline && best.meets_rate_cap);
        for c in plan.feasible_set() {
            assert!(best.mean_latency_excl_queueing_ns <= c.mean_latency_excl_queueing_ns);
        }
    }

    #[test]
    fn infeasible_names_the_binding_constraint() {
        let mut tight = input();
        tight.deadline_ns = 1_000; // below the fixed compute cost
        let plan = tight.plan().unwrap();
        assert_eq!(
            (
                plan.feasible(),
                plan.binding.as_slice(),
                plan.binding_jointly
            ),
            (false, &[Constraint::Deadline][..], false)
        );
        let mut capped = input();
        capped.max_update_rate_per_s = 10.0;
        assert_eq!(
            capped.plan().unwrap().binding,
            vec![Constraint::UpdateRateCap]
        );
        // Deadline 12 µs: only B = 1 (5.1 µs) fits; it updates 1e6 times a second, over
        // the 5e4 cap, at ρ = 5.1. The cap and stability are met together by W = 20 µs,
        // B = 64 (ρ ≈ 0.34, rate ≈ 47.6k), so every pair with the deadline binds.
        let mut both = input();
        both.deadline_ns = 12_000;
        both.max_update_rate_per_s = 5e4;
        let plan = both.plan().unwrap();
        assert_eq!(plan.binding, Constraint::ALL.to_vec());
        assert!(plan.binding_jointly);
    }

    #[test]
    fn utilisation_by_hand() {
        let plan = input().plan().unwrap();
        // B = 1: one update per event, ρ = 1e6/s × 5100 ns = 5.1.
        let c = find(&plan, 0, 1);
        assert_eq!(c.mean_compute_ns, 5_100.0);
        assert!((c.rho - 5.1).abs() < 1e-12 && !c.stable);
        // W = 20 µs, B = 64: P[N(W) >= 63] < 1e-15 at λW = 20, so E[K] = 21 to 1e-13:
        // rate 1e6/21, compute 5000 + 2100, ρ = 7100/21000.
        let c = find(&plan, 20_000, 64);
        assert!((c.mean_compute_ns - 7_100.0).abs() < 1e-8, "{c:?}");
        assert!((c.update_rate_per_s - 1e6 / 21.0).abs() < 1e-6, "{c:?}");
        assert!((c.rho - 7_100.0 / 21_000.0).abs() < 1e-12, "{c:?}");
        assert!(c.stable);
        // ρ = rate × fixed + λ × per_item whatever the setting.
        for c in &plan.candidates {
            let direct = c.update_rate_per_s * 5_000e-9 + 1e6 * 100e-9;
            assert!((c.rho - direct).abs() < 1e-12, "{c:?}");
        }
    }

    #[test]
    fn stability_is_strict() {
        // B = 1 at λ = 1e6/s: ρ = 1e6 × compute(1) / 1e9, exactly 1 at 1000 ns.
        let at = |fixed: i64| {
            VarInput {
                rate_per_s: 1e6,
                deadline_ns: 1_000_000,
                compute_fixed_ns: fixed,
                compute_per_item_ns: 0,
                max_update_rate_per_s: 1e9,
                windows_ns: vec![0],
                batches: vec![1],
            }
            .plan()
            .unwrap()
        };
        let plan = at(1_000);
        assert_eq!(plan.candidates[0].rho, 1.0);
        assert_eq!(plan.status, Feasibility::Infeasible);
        assert_eq!(plan.binding, vec![Constraint::Unstable]);
        assert_eq!(plan.min_rho, 1.0);
        let plan = at(999);
        assert!((plan.candidates[0].rho - 0.999).abs() < 1e-15);
        assert!(plan.feasible());
    }

    #[test]
    fn high_rate_cap_no_longer_admits_an_overloaded_engine() {
        // Issue 7: with the cap at 1e7 the old model chose B = 1 (worst case 5.1 µs) at
        // 510 % utilisation. Now B = 1 is unstable and the best point keeps ρ < 1.
        let mut loose = input();
        loose.max_update_rate_per_s = 1e7;
        let plan = loose.plan().unwrap();
        let one = find(&plan, 0, 1);
        assert!(one.meets_deadline && one.meets_rate_cap && !one.stable);
        let best = plan.best.unwrap();
        assert_ne!(best.batch, 1);
        assert!(best.rho < 1.0);
        // Only B = 1 on the grid: infeasible, and stability alone binds.
        loose.batches = vec![1];
        let plan = loose.plan().unwrap();
        assert_eq!(plan.status, Feasibility::Infeasible);
        assert_eq!(plan.binding, vec![Constraint::Unstable]);
        assert!(!plan.binding_jointly);
        assert!((plan.min_rho - 5.1).abs() < 1e-12);
    }

    #[test]
    fn timer_and_count_b2_by_hand() {
        // λ = 1e6/s, W = 1 µs, B = 2: λW = 1, K ∈ {1, 2} with P[K = 2] = 1 - 1/e.
        // E[K] = 2 - 1/e, E[K²] = 1/e + 4 (1 - 1/e) = 4 - 3/e, D = (1 - 1/e) µs.
        // compute 1000 + 100 K: worst 1000 + 1000 + 200 = 2200 ns;
        // rate 1e6 / (2 - 1/e); ρ = rate × 1000e-9 + 1e6 × 100e-9 = 1 / (2 - 1/e) + 0.1;
        // mean latency = D / E[K] + 1000 + 100 E[K²] / E[K].
        let plan = VarInput {
            rate_per_s: 1e6,
            deadline_ns: 2_200,
            compute_fixed_ns: 1_000,
            compute_per_item_ns: 100,
            max_update_rate_per_s: 1e6,
            windows_ns: vec![1_000],
            batches: vec![2],
        }
        .plan()
        .unwrap();
        let e = (-1.0f64).exp();
        let k = 2.0 - e;
        let c = plan.candidates[0];
        assert_eq!(c.worst_case_excl_queueing_ns, Some(2_200));
        assert!(c.meets_deadline, "the deadline is inclusive");
        assert!((c.update_rate_per_s - 1e6 / k).abs() < 1e-6);
        assert!((c.mean_compute_ns - (1_000.0 + 100.0 * k)).abs() < 1e-9);
        assert!((c.rho - (1.0 / k + 0.1)).abs() < 1e-12, "{c:?}"); // ≈ 0.7125
        let d = 1_000.0 * (1.0 - e);
        let mean = d / k + 1_000.0 + 100.0 * (4.0 - 3.0 * e) / k;
        assert!((c.mean_latency_excl_queueing_ns - mean).abs() < 1e-9);
        assert_eq!(plan.best, Some(c));
    }

    #[test]
    fn count_only_never_meets_a_deadline() {
        // A deadline of 1000 s and no cap: the count-only candidates are stable and fast
        // on average but their worst case is unbounded.
        let plan = VarInput {
            rate_per_s: 1e6,
            deadline_ns: 1_000_000_000_000,
            compute_fixed_ns: 100,
            compute_per_item_ns: 10,
            max_update_rate_per_s: 1e12,
            windows_ns: vec![0],
            batches: vec![2, 8, 64],
        }
        .plan()
        .unwrap();
        assert_eq!(plan.candidates.len(), 3);
        for c in &plan.candidates {
            assert_eq!(c.worst_case_excl_queueing_ns, None);
            assert!(c.stable && c.meets_rate_cap && !c.meets_deadline);
        }
        assert_eq!(plan.binding, vec![Constraint::Deadline]);
        assert_eq!(plan.min_worst_case_excl_queueing_ns, None);
    }
}
