//! VaR / batch-risk engine: pick `(W, B)` so every update meets its deadline and the update
//! rate stays under its cap (SPEC §3).
//!
//! Market events arrive as Poisson λ and are batched like a NIC queue (EQE, timer W and
//! count B); each batch of K events triggers one risk update costing
//! `compute(K) = fixed + per_item * K`.
//! * Worst case: an event waits at most W and its batch holds at most B events, so the
//!   update completes by `W + compute(B)`; it must be `<= deadline`. A count-only setting
//!   (W = 0, B >= 2) has an unbounded wait and never meets a deadline; B = 0 (timer only)
//!   has an unbounded batch and never does either, so the grid only holds B >= 1.
//! * Update rate: the NIC model's interrupt rate `λ / (1 + λD)`; it must be `<= cap`.
//! * Latency of the mean event: coalescing delay plus the compute of the batch it lands in.
//!   An event sees the size-biased batch, of mean `E[K²] / E[K]`, so the mean latency is
//!   `mean_added_delay + fixed + per_item * E[K²] / E[K]`. The latency-minimal point
//!   minimises that; ties go to the smaller worst case, then the lower update rate.
//! * B = 1 updates on every event whatever W is, so it is evaluated once, as W = 0.

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

/// One evaluated `(W, B)`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct VarCandidate {
    /// Timer window W in ns.
    pub window_ns: i64,
    /// Count threshold B.
    pub batch: u32,
    /// `W + compute(B)` in ns; `None` when unbounded (count only).
    pub worst_case_latency_ns: Option<i64>,
    /// Mean event-to-update-complete latency, in ns.
    pub mean_latency_ns: f64,
    /// Updates per second.
    pub update_rate_per_s: f64,
    /// Worst case within the deadline.
    pub meets_deadline: bool,
    /// Update rate within the cap.
    pub meets_rate_cap: bool,
}

/// Which constraint rules out every candidate.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// No candidate completes in time.
    Deadline,
    /// No candidate keeps the update rate under the cap.
    UpdateRateCap,
    /// Each constraint alone can be met, but no candidate meets both.
    Both,
}

/// The feasible set and the chosen point, or why there is none.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct VarPlan {
    /// True when at least one candidate meets both constraints.
    pub feasible: bool,
    /// Every evaluated candidate, in grid order.
    pub candidates: Vec<VarCandidate>,
    /// The latency-minimal feasible candidate.
    pub best: Option<VarCandidate>,
    /// When infeasible, the constraint that binds.
    pub binding: Option<Binding>,
    /// Smallest bounded worst-case latency over the grid, in ns.
    pub min_worst_case_latency_ns: Option<i64>,
    /// Lowest update rate over the grid, per second.
    pub min_update_rate_per_s: f64,
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

    /// Evaluate the grid and pick the latency-minimal feasible point.
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
            .filter(|c| c.meets_deadline && c.meets_rate_cap)
            .min_by(|a, b| {
                a.mean_latency_ns
                    .total_cmp(&b.mean_latency_ns)
                    .then(a.worst_case_latency_ns.cmp(&b.worst_case_latency_ns))
                    .then(a.update_rate_per_s.total_cmp(&b.update_rate_per_s))
            })
            .copied();
        let any_deadline = candidates.iter().any(|c| c.meets_deadline);
        let any_rate = candidates.iter().any(|c| c.meets_rate_cap);
        let binding = match (best.is_some(), any_deadline, any_rate) {
            (true, _, _) => None,
            (false, false, _) => Some(Binding::Deadline),
            (false, true, false) => Some(Binding::UpdateRateCap),
            (false, true, true) => Some(Binding::Both),
        };
        Ok(VarPlan {
            feasible: best.is_some(),
            min_worst_case_latency_ns: candidates
                .iter()
                .filter_map(|c| c.worst_case_latency_ns)
                .min(),
            min_update_rate_per_s: candidates
                .iter()
                .map(|c| c.update_rate_per_s)
                .fold(f64::INFINITY, f64::min),
            best,
            binding,
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
        let per_item = self.compute_per_item_ns as f64;
        let mean_latency = p.mean_added_delay_ns
            + self.compute_fixed_ns as f64
            + per_item * second / p.mean_batch_size;
        let worst = nic.worst_case_delay_ns()?.map(|wait| {
            wait.saturating_add(self.compute_fixed_ns)
                .saturating_add(self.compute_per_item_ns.saturating_mul(i64::from(batch)))
        });
        Ok(VarCandidate {
            window_ns,
            batch,
            worst_case_latency_ns: worst,
            mean_latency_ns: mean_latency,
            update_rate_per_s: p.interrupt_rate_per_s,
            meets_deadline: worst.is_some_and(|w| w <= self.deadline_ns),
            meets_rate_cap: p.interrupt_rate_per_s <= self.max_update_rate_per_s,
        })
    }
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

    #[test]
    fn worst_case_and_feasibility_by_hand() {
        let plan = input().plan().unwrap();
        let find = |w, b| {
            *plan
                .candidates
                .iter()
                .find(|c| c.window_ns == w && c.batch == b)
                .unwrap()
        };
        // B = 1: worst 5000 + 100 = 5100 ns, rate 1e6 > cap.
        let c = find(0, 1);
        assert_eq!(c.worst_case_latency_ns, Some(5_100));
        assert!(c.meets_deadline && !c.meets_rate_cap);
        // W = 50 µs, B = 512: 50_000 + 5_000 + 51_200 = 106_200 > 60_000.
        assert!(!find(50_000, 512).meets_deadline);
        // W = 20 µs, B = 64: 20_000 + 5_000 + 6_400 = 31_400; λW = 20 so rate ~ 1e6/21.
        let c = find(20_000, 64);
        assert_eq!(c.worst_case_latency_ns, Some(31_400));
        assert!(c.meets_deadline && c.meets_rate_cap);
        // Count only never meets a deadline.
        assert_eq!(find(0, 16).worst_case_latency_ns, None);
        assert!(plan.feasible);
        let best = plan.best.unwrap();
        // W = 10 µs, B = 16 (λW = 10, the count binds often): rate 1e6/(1+λD) < 1e5 iff
        // λD > 9; with B = 16 and λW = 10, λD = Σ_{j=1}^{15} P[N >= j] ≈ 9.8.
        assert!(best.meets_deadline && best.meets_rate_cap);
        for c in plan
            .candidates
            .iter()
            .filter(|c| c.meets_deadline && c.meets_rate_cap)
        {
            assert!(best.mean_latency_ns <= c.mean_latency_ns);
        }
    }

    #[test]
    fn infeasible_names_the_binding_constraint() {
        let mut tight = input();
        tight.deadline_ns = 1_000; // below the fixed compute cost
        let plan = tight.plan().unwrap();
        assert_eq!(
            (plan.feasible, plan.binding),
            (false, Some(Binding::Deadline))
        );
        let mut capped = input();
        capped.max_update_rate_per_s = 10.0;
        assert_eq!(capped.plan().unwrap().binding, Some(Binding::UpdateRateCap));
        let mut both = input();
        both.deadline_ns = 12_000; // only B = 1 and tiny settings fit; those update too often
        both.max_update_rate_per_s = 5e4;
        assert_eq!(both.plan().unwrap().binding, Some(Binding::Both));
    }
}
