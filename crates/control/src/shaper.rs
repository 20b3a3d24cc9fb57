//! The anti-burst shaper (SPEC §6, playbook control D): child orders enter at their
//! decision time and leave at a release time that adds seeded micro-jitter and paces
//! them through a debt- and headroom-aware token bucket, breaking the phase-lock between
//! delivery bursts and child-order bursts.
//!
//! ## Schedule
//! Order `i` submitted at `s_i` draws a jitter `j_i` uniform in `[0, J]` (integer ns,
//! splitmix64 seeded) and becomes eligible at `e_i = s_i + j_i`. Releases are one FIFO
//! (so per parent FIFO) paced by a GCRA token bucket of `burst` tokens: with `tat` the
//! theoretical arrival time after the previous release and `tol = (burst - 1) * I_max`,
//!
//! `r_i = max(e_i, r_{i-1}, tat - tol)`, then `tat = max(tat, r_i) + I_i`,
//!
//! where `I_i = ceil(1e9 / rate_i)` ns and
//! `rate_i = min(max_rate, rate * (1 + debt_gain * debt) * (1 + headroom_gain * max(0, 1 - headroom / headroom_ref)))`
//! with `debt` in [0, 1] the parent's schedule debt (share of its quantity behind
//! schedule) and `headroom` the time left to its deadline, both passed by the caller in
//! [`Pressure`]. The rate never falls below `rate`, so `I_i <= I_max = ceil(1e9 / rate)`.
//! Each release time is fixed at submit: output depends only on the inputs and the seed,
//! never on how often [`Shaper::release_due`] is called.
//!
//! ## Delay bound
//! With `k` orders still held when order `i` arrives (`k < C`, the capacity), its added
//! delay is `r_i - s_i <= J + (k + 1) * I_max <= D_max = J + C * I_max`
//! ([`Shaper::bound_ns`]). Proof: `r_{m} <= max(e_m, r_{m-1} + I_max)` for every `m`
//! (the release rule gives `tat <= r + tol` before the update, so `tat - tol <= r + I_max`
//! after it); unrolling back to the last order released at or before `s_i` and using
//! `e_m <= s_m + J <= s_i + J` gives the bound. So no order starves. An order that finds
//! the shaper full (`C` orders held) is released at once and counted
//! ([`Shaper::overflows`]); it passes earlier held orders of its parent (the only case
//! where per parent FIFO does not hold).
//!
//! Memory is one ring of `C` entries allocated in [`Shaper::new`]; nothing allocates per
//! order. The caller drains [`Shaper::release_due`] at `t` before submitting at `t`.

use coalescope_metrics::bootstrap::SplitMix64;
use serde::Serialize;
use std::collections::VecDeque;
use thiserror::Error;

/// Shaper parameters (TOML keys under `[tactics.<state>.pacing]`: `jitter` and
/// `headroom_ref` as durations, the rest as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShaperParams {
    /// `J`: the jitter's upper end (ns), 0..=1 s.
    pub jitter_ns: i64,
    /// Base release rate (orders/s), > 0: the floor of the paced rate.
    pub rate_per_s: f64,
    /// Ceiling of the paced rate (orders/s), >= `rate_per_s`.
    pub max_rate_per_s: f64,
    /// Token bucket depth (orders released back to back), >= 1.
    pub burst: u32,
    /// Rate multiplier per unit of schedule debt, >= 0.
    pub debt_gain: f64,
    /// Rate multiplier at zero deadline headroom, >= 0.
    pub headroom_gain: f64,
    /// Headroom (ns) below which the rate starts rising, > 0.
    pub headroom_ref_ns: i64,
}

impl Default for ShaperParams {
    fn default() -> Self {
        ShaperParams {
            jitter_ns: 500_000,
            rate_per_s: 100.0,
            max_rate_per_s: 1000.0,
            burst: 2,
            debt_gain: 4.0,
            headroom_gain: 4.0,
            headroom_ref_ns: 1_000_000_000,
        }
    }
}

impl ShaperParams {
    /// Check ranges; the error is `(key, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(0..=1_000_000_000).contains(&self.jitter_ns) {
            return Err(("jitter", format!("{}ns is not in [0, 1s]", self.jitter_ns)));
        }
        if !(self.rate_per_s.is_finite() && self.rate_per_s >= 1e-3) {
            return Err((
                "rate_per_s",
                format!("{} is not a number >= 0.001", self.rate_per_s),
            ));
        }
        if !(self.max_rate_per_s.is_finite()
            && self.max_rate_per_s >= self.rate_per_s
            && self.max_rate_per_s <= 1e9)
        {
            return Err((
                "max_rate_per_s",
                format!(
                    "{} is not in [rate_per_s = {}, 1e9]",
                    self.max_rate_per_s, self.rate_per_s
                ),
            ));
        }
        if self.burst == 0 {
            return Err(("burst", "must be >= 1".into()));
        }
        for (k, v) in [
            ("debt_gain", self.debt_gain),
            ("headroom_gain", self.headroom_gain),
        ] {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return Err((k, format!("{v} is not in [0, 1e6]")));
            }
        }
        if self.headroom_ref_ns <= 0 {
            return Err((
                "headroom_ref",
                format!("{}ns is not > 0", self.headroom_ref_ns),
            ));
        }
        Ok(())
    }

    /// `I_max = ceil(1e9 / rate_per_s)`: the longest gap between paced releases (ns).
    pub fn max_interval_ns(&self) -> i64 {
        (1e9 / self.rate_per_s).ceil() as i64
    }

    /// The paced interval (ns) for an order under `p`: `ceil(1e9 / rate)`, in `1..=I_max`.
    pub fn interval_ns(&self, p: Pressure) -> i64 {
        let debt = if p.debt.is_nan() {
            0.0
        } else {
            p.debt.clamp(0.0, 1.0)
        };
        let squeeze = match p.headroom_ns {
            Some(h) => (1.0 - h as f64 / self.headroom_ref_ns as f64).clamp(0.0, 1.0),
            None => 0.0,
        };
        let rate = (self.rate_per_s
            * (1.0 + self.debt_gain * debt)
            * (1.0 + self.headroom_gain * squeeze))
            .min(self.max_rate_per_s);
        ((1e9 / rate).ceil() as i64).clamp(1, self.max_interval_ns())
    }
}

/// Urgency of the parent an order belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pressure {
    /// Schedule debt: share of the parent's quantity behind schedule, clamped to [0, 1].
    pub debt: f64,
    /// Time left to the parent's deadline (ns); `None` = no deadline pressure.
    pub headroom_ns: Option<i64>,
}

/// A released order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Release instant (ns): when the order leaves for the venue.
    pub t_release_ns: i64,
    /// Submit instant (ns): the decision time.
    pub t_submit_ns: i64,
    /// Parent.
    pub parent_id: u64,
    /// The caller's handle for the order.
    pub order_ref: u64,
    /// Jitter drawn (ns), in [0, J]; 0 for an overflow.
    pub jitter_ns: i64,
    /// Released at once because the shaper was full.
    pub overflow: bool,
}

/// What [`Shaper::submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Held; it will come out of [`Shaper::release_due`] at `t_release_ns`.
    Queued {
        /// Its release instant.
        t_release_ns: i64,
    },
    /// The shaper was full: the order is released now (send it at once).
    Overflow(Release),
}

/// Shaper misuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ShaperError {
    /// A submit earlier than the previous one.
    #[error("shaper submit at {t_ns}ns is before the previous submit at {last_ns}ns")]
    TimeWentBack {
        /// This submit.
        t_ns: i64,
        /// The previous submit.
        last_ns: i64,
    },
}

/// The anti-burst shaper (see the module docs for the schedule and the delay bound).
#[derive(Debug, Clone)]
pub struct Shaper {
    params: ShaperParams,
    rng: SplitMix64,
    capacity: usize,
    queue: VecDeque<Release>,
    tat_ns: Option<i64>,
    last_release_ns: i64,
    last_submit_ns: i64,
    tolerance_ns: i64,
    overflows: u64,
}

impl Shaper {
    /// A shaper holding at most `capacity` (>= 1) orders, jitter seeded `seed`.
    /// `params` should have passed [`ShaperParams::validate`].
    pub fn new(params: ShaperParams, seed: u64, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Shaper {
            params,
            rng: SplitMix64::new(seed),
            capacity,
            queue: VecDeque::with_capacity(capacity),
            tat_ns: None,
            last_release_ns: i64::MIN,
            last_submit_ns: i64::MIN,
            tolerance_ns: i64::from(params.burst - 1).saturating_mul(params.max_interval_ns()),
            overflows: 0,
        }
    }

    /// `D_max = J + C * I_max`: no order's added delay exceeds this (ns).
    pub fn bound_ns(&self) -> i64 {
        self.params
            .jitter_ns
            .saturating_add((self.capacity as i64).saturating_mul(self.params.max_interval_ns()))
    }

    /// The parameters.
    pub const fn params(&self) -> &ShaperParams {
        &self.params
    }

    /// Orders held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// No order held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Orders released at once because the shaper was full.
    pub const fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Release instant of the next held order, for the caller's event loop.
    pub fn next_release_ns(&self) -> Option<i64> {
        self.queue.front().map(|r| r.t_release_ns)
    }

    /// Take an order decided at `t_ns`. Call [`Shaper::release_due`]`(t_ns, ..)` first.
    pub fn submit(
        &mut self,
        t_ns: i64,
        parent_id: u64,
        order_ref: u64,
        pressure: Pressure,
    ) -> Result<Submitted, ShaperError> {
        if t_ns < self.last_submit_ns {
            return Err(ShaperError::TimeWentBack {
                t_ns,
                last_ns: self.last_submit_ns,
            });
        }
        self.last_submit_ns = t_ns;
        if self.queue.len() >= self.capacity {
            self.overflows += 1;
            return Ok(Submitted::Overflow(Release {
                t_release_ns: t_ns,
                t_submit_ns: t_ns,
                parent_id,
                order_ref,
                jitter_ns: 0,
                overflow: true,
            }));
        }
        let jitter = self.rng.below(self.params.jitter_ns as u64 + 1) as i64;
        let eligible = t_ns.saturating_add(jitter);
        let mut release = eligible.max(self.last_release_ns);
        if let Some(tat) = self.tat_ns {
            release = release.max(tat.saturating_sub(self.tolerance_ns));
        }
        let interval = self.params.interval_ns(pressure);
        self.tat_ns = Some(
            self.tat_ns
                .unwrap_or(release)
                .max(release)
                .saturating_add(interval),
        );
        self.last_release_ns = release;
        self.queue.push_back(Release {
            t_release_ns: release,
            t_submit_ns: t_ns,
            parent_id,
            order_ref,
            jitter_ns: jitter,
            overflow: false,
        });
        Ok(Submitted::Queued {
            t_release_ns: release,
        })
    }

    /// Hand every held order whose release instant is `<= t_ns` to `sink`, in release
    /// order.
    pub fn release_due(&mut self, t_ns: i64, sink: &mut impl FnMut(Release)) {
        while let Some(front) = self.queue.front() {
            if front.t_release_ns > t_ns {
                break;
            }
            if let Some(r) = self.queue.pop_front() {
                sink(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(j: i64, rate: f64, burst: u32) -> ShaperParams {
        ShaperParams {
            jitter_ns: j,
            rate_per_s: rate,
            max_rate_per_s: rate * 10.0,
            burst,
            debt_gain: 4.0,
            headroom_gain: 4.0,
            headroom_ref_ns: 1_000_000_000,
        }
    }

    #[test]
    fn a_burst_is_spread_at_the_base_rate() {
        // No jitter, 1000/s (I = 1 ms), burst 2: ten orders at t = 0 go out at
        // 0, 0 (the second token), then every 1 ms: 1, 2, ..., 8 ms.
        let mut s = Shaper::new(params(0, 1000.0, 2), 1, 16);
        for i in 0..10 {
            s.submit(0, i % 3, i, Pressure::default()).unwrap();
        }
        let mut out = Vec::new();
        s.release_due(i64::MAX, &mut |r| out.push(r.t_release_ns));
        let ms = 1_000_000;
        assert_eq!(
            out,
            vec![
                0,
                0,
                ms,
                2 * ms,
                3 * ms,
                4 * ms,
                5 * ms,
                6 * ms,
                7 * ms,
                8 * ms
            ]
        );
        assert_eq!(s.bound_ns(), 16 * ms);
    }

    #[test]
    fn debt_and_headroom_raise_the_rate() {
        let p = params(0, 100.0, 1);
        assert_eq!(p.interval_ns(Pressure::default()), 10_000_000);
        // debt 0.5: rate 100 * (1 + 4 * 0.5) = 300/s -> ceil(1e9/300) = 3_333_334 ns.
        assert_eq!(
            p.interval_ns(Pressure {
                debt: 0.5,
                headroom_ns: None
            }),
            3_333_334
        );
        // headroom 0.5 s of 1 s: rate 100 * (1 + 4 * 0.5) = 300/s.
        assert_eq!(
            p.interval_ns(Pressure {
                debt: 0.0,
                headroom_ns: Some(500_000_000)
            }),
            3_333_334
        );
        // Both at maximum: 100 * 5 * 5 = 2500, capped at max_rate 1000/s -> 1 ms.
        assert_eq!(
            p.interval_ns(Pressure {
                debt: 1.0,
                headroom_ns: Some(0)
            }),
            1_000_000
        );
        // Headroom beyond the reference and NaN debt change nothing.
        assert_eq!(
            p.interval_ns(Pressure {
                debt: f64::NAN,
                headroom_ns: Some(5_000_000_000)
            }),
            10_000_000
        );
    }

    #[test]
    fn a_full_shaper_releases_at_once_and_counts() {
        let mut s = Shaper::new(params(0, 1.0, 1), 1, 2);
        assert!(matches!(
            s.submit(0, 1, 1, Pressure::default()),
            Ok(Submitted::Queued { t_release_ns: 0 })
        ));
        assert!(matches!(
            s.submit(0, 1, 2, Pressure::default()),
            Ok(Submitted::Queued {
                t_release_ns: 1_000_000_000
            })
        ));
        match s.submit(5, 1, 3, Pressure::default()) {
            Ok(Submitted::Overflow(r)) => {
                assert_eq!((r.t_release_ns, r.order_ref, r.overflow), (5, 3, true))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.overflows(), 1);
        assert_eq!(
            s.submit(4, 1, 4, Pressure::default()),
            Err(ShaperError::TimeWentBack {
                t_ns: 4,
                last_ns: 5
            })
        );
    }
}
