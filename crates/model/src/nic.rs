//! NIC interrupt coalescing in EQE mode under Poisson arrivals (SPEC §2, §3).
//!
//! A batch opens at the first packet not yet signalled; it closes (the interrupt fires) at
//! `C = min(W, T_{B-1})`, where `T_{B-1}` is the arrival of the (B-1)-th further packet.
//! By the memoryless property the next batch opens at the next arrival after a close, so
//! batches form a renewal process and per-packet means are ratios of per-batch means.
//!
//! The number of further packets in a batch is `min(N(W), B-1)`; everything below follows
//! from `P[C > t] = P[N(t) < B-1]` for `t < W`:
//! * `D = E[C] = ∫_0^W P[N(t) < B-1] dt = (1/λ) Σ_{j=1}^{B-1} P[N(W) >= j]`;
//! * expected summed wait of the further packets `E ∫_0^C N(t) dt
//!   = (1/λ) Σ_{n=1}^{B-2} n P[N(W) >= n+1]`, and the first packet waits `C`;
//! * per packet: divide by the mean batch size `1 + λD`.
//!
//! Degenerate settings (documented choices where SPEC §2 leaves room):
//! * `frames = 1`, or `window = 0` with `frames = 0`: one interrupt per packet, no delay.
//!   `count_limited_probability` is 1 for `frames = 1` (the count closes every batch) and
//!   0 for `window = 0, frames = 0` (no condition is configured; the NIC signals at once).
//! * `window = 0`, `frames >= 2`: count only, `C = T_{B-1}`, `D = (B-1)/λ`. The i-th packet
//!   of a batch (i = 0..B-1) waits `T_{B-1} - T_i`, of mean `(B-1-i)/λ`; averaged over the
//!   B packets that is `(B-1)/(2λ)`. The worst case is unbounded (the last packet of a
//!   quiet spell can wait forever), `full_wait_fraction` is 0 because there is no window.
//! * `frames = 0`, `window > 0`: timer only, `D = W`.

use crate::error::{self, ModelError};
use crate::poisson;
use serde::Serialize;

/// Largest count threshold the model accepts; real NICs stop far below (a few thousand).
pub const MAX_FRAMES: u32 = 1 << 20;

/// Nanoseconds per second, the unit change between rates per second and times in ns.
const NS_PER_S: f64 = 1e9;

/// EQE coalescing settings of one receive queue plus the Poisson arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NicCoalescing {
    /// Poisson arrival rate λ in packets per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// Timer window W in ns (`rx-usecs * 1000`); 0 disables the timer condition.
    pub window_ns: i64,
    /// Count threshold B (`rx-frames`); 0 disables the count condition.
    pub frames: u32,
}

/// Steady-state predictions of [`NicCoalescing::predict`], per packet unless named per batch.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct NicPrediction {
    /// Mean time from a packet's arrival to the interrupt that signals it, in ns.
    pub mean_added_delay_ns: f64,
    /// Fraction of packets that wait the whole timer window W.
    pub full_wait_fraction: f64,
    /// Interrupts per second.
    pub interrupt_rate_per_s: f64,
    /// Mean packets per interrupt, `1 + λD`.
    pub mean_batch_size: f64,
    /// Probability that a batch is closed by the count threshold rather than the timer.
    pub count_limited_probability: f64,
    /// Mean time from batch open to interrupt, `D = E[C]`, in ns.
    pub mean_batch_close_ns: f64,
}

/// The regime a setting falls into; each has its own closed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// One interrupt per packet (`frames = 1`, or both conditions off).
    PerPacket,
    /// Timer condition only.
    TimerOnly,
    /// Count condition only: the worst-case delay is unbounded.
    CountOnly,
    /// Both conditions; whichever comes first closes the batch.
    TimerAndCount,
}

impl NicCoalescing {
    /// Check every field and return the regime the setting falls into.
    pub fn validate(&self) -> Result<Regime, ModelError> {
        error::rate("rate_per_s", self.rate_per_s)?;
        if self.window_ns < 0 {
            return Err(ModelError::OutOfRange {
                field: "window_ns",
                value: self.window_ns.to_string(),
                accepted: "an integer number of ns >= 0 (0 disables the timer)",
            });
        }
        if self.frames > MAX_FRAMES {
            return Err(ModelError::OutOfRange {
                field: "frames",
                value: self.frames.to_string(),
                accepted: "0 (no count condition) to 1048576",
            });
        }
        Ok(match (self.window_ns, self.frames) {
            (_, 1) | (0, 0) => Regime::PerPacket,
            (_, 0) => Regime::TimerOnly,
            (0, _) => Regime::CountOnly,
            _ => Regime::TimerAndCount,
        })
    }

    /// Closed-form steady-state prediction (SPEC §3); see the module docs for each regime.
    pub fn predict(&self) -> Result<NicPrediction, ModelError> {
        let regime = self.validate()?;
        let lambda = self.rate_per_s / NS_PER_S; // per ns
        let w = self.window_ns as f64;
        let b = f64::from(self.frames);
        Ok(match regime {
            Regime::PerPacket => NicPrediction {
                mean_added_delay_ns: 0.0,
                full_wait_fraction: 0.0,
                interrupt_rate_per_s: self.rate_per_s,
                mean_batch_size: 1.0,
                count_limited_probability: if self.frames == 1 { 1.0 } else { 0.0 },
                mean_batch_close_ns: 0.0,
            },
            Regime::TimerOnly => {
                let batch = 1.0 + lambda * w;
                NicPrediction {
                    mean_added_delay_ns: w * (1.0 + lambda * w / 2.0) / batch,
                    full_wait_fraction: 1.0 / batch,
                    interrupt_rate_per_s: self.rate_per_s / batch,
                    mean_batch_size: batch,
                    count_limited_probability: 0.0,
                    mean_batch_close_ns: w,
                }
            }
            Regime::CountOnly => NicPrediction {
                mean_added_delay_ns: (b - 1.0) / (2.0 * lambda),
                full_wait_fraction: 0.0,
                interrupt_rate_per_s: self.rate_per_s / b,
                mean_batch_size: b,
                count_limited_probability: 1.0,
                mean_batch_close_ns: (b - 1.0) / lambda,
            },
            Regime::TimerAndCount => self.timer_and_count(lambda, w),
        })
    }

    /// `B >= 2` and `W > 0`: the sums of SPEC §3 over Poisson tails.
    fn timer_and_count(&self, lambda: f64, w: f64) -> NicPrediction {
        let b = self.frames;
        let tails = poisson::upper_tails(lambda * w, b - 1);
        // tails[j] = P[N(W) >= j], j = 0..=B-1.
        let sum_tails: f64 = tails[1..].iter().sum();
        let d = sum_tails / lambda;
        let weighted: f64 = tails[2..]
            .iter()
            .enumerate()
            .map(|(j, q)| (j as f64 + 1.0) * q)
            .sum();
        let batch = 1.0 + lambda * d;
        let count_limited = tails[(b - 1) as usize];
        NicPrediction {
            mean_added_delay_ns: (d + weighted / lambda) / batch,
            full_wait_fraction: (1.0 - count_limited) / batch,
            interrupt_rate_per_s: self.rate_per_s / batch,
            mean_batch_size: batch,
            count_limited_probability: count_limited,
            mean_batch_close_ns: d,
        }
    }

    /// Second moment `E[K^2]` of the batch size K (packets per interrupt).
    ///
    /// `K - 1 = min(N(W), B-1)`, so `E[(K-1)^2] = Σ_{j>=1} (2j-1) P[K-1 >= j]`. A packet
    /// sees the size-biased batch, of mean `E[K^2] / E[K]`; the risk-engine model uses it.
    pub fn batch_size_second_moment(&self) -> Result<f64, ModelError> {
        let regime = self.validate()?;
        let lambda = self.rate_per_s / NS_PER_S;
        let w = self.window_ns as f64;
        let b = f64::from(self.frames);
        Ok(match regime {
            Regime::PerPacket => 1.0,
            Regime::CountOnly => b * b,
            Regime::TimerOnly => {
                // K - 1 ~ Poisson(m): E[K^2] = 1 + 2m + m + m^2.
                let m = lambda * w;
                1.0 + 3.0 * m + m * m
            }
            Regime::TimerAndCount => {
                let tails = poisson::upper_tails(lambda * w, self.frames - 1);
                let (first, second) =
                    tails[1..]
                        .iter()
                        .enumerate()
                        .fold((0.0, 0.0), |(first, second), (i, q)| {
                            let j = i as f64 + 1.0;
                            (first + q, second + (2.0 * j - 1.0) * q)
                        });
                1.0 + 2.0 * first + second
            }
        })
    }

    /// Worst-case wait of one packet in ns: `W` with a timer, `None` (unbounded) count-only.
    pub fn worst_case_delay_ns(&self) -> Result<Option<i64>, ModelError> {
        Ok(match self.validate()? {
            Regime::PerPacket => Some(0),
            Regime::TimerOnly | Regime::TimerAndCount => Some(self.window_ns),
            Regime::CountOnly => None,
        })
    }
}

/// An ethtool setting as `ethtool -C` takes it, with the Poisson rate it is modelled at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EthtoolSetting {
    /// Poisson arrival rate λ in packets per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// `rx-usecs`: timer in µs; 0 disables the timer condition.
    pub rx_usecs: u32,
    /// `rx-frames`: count threshold; 0 disables the count condition.
    pub rx_frames: u32,
}

/// Everything `coalescope model nic` reports for one setting.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct NicReport {
    /// Poisson arrival rate λ, per second.
    pub rate_per_s: f64,
    /// `rx-usecs` of the setting.
    pub rx_usecs: u32,
    /// `rx-frames` of the setting.
    pub rx_frames: u32,
    /// The regime the setting falls into.
    pub regime: Regime,
    /// Worst-case wait of one packet in ns; `None` (null) when unbounded (count only).
    pub worst_case_delay_ns: Option<i64>,
    /// The steady-state prediction.
    #[serde(flatten)]
    pub prediction: NicPrediction,
}

impl EthtoolSetting {
    /// The model input: `window_ns = rx_usecs * 1000`, `frames = rx_frames`.
    pub fn to_nic(&self) -> NicCoalescing {
        NicCoalescing {
            rate_per_s: self.rate_per_s,
            window_ns: i64::from(self.rx_usecs) * 1000,
            frames: self.rx_frames,
        }
    }

    /// Regime, worst case and prediction of this setting.
    pub fn report(&self) -> Result<NicReport, ModelError> {
        let nic = self.to_nic();
        Ok(NicReport {
            rate_per_s: self.rate_per_s,
            rx_usecs: self.rx_usecs,
            rx_frames: self.rx_frames,
            regime: nic.validate()?,
            worst_case_delay_ns: nic.worst_case_delay_ns()?,
            prediction: nic.predict()?,
        })
    }
}

/// Which ethtool parameter a sweep varies; the other one is held at its given value.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SweepParameter {
    /// Vary `rx-usecs`, hold `rx-frames`.
    RxUsecs,
    /// Vary `rx-frames`, hold `rx-usecs`.
    RxFrames,
}

/// A sweep of one ethtool parameter at a fixed rate, the other parameter held.
#[derive(Debug, Clone, PartialEq)]
pub struct NicSweep {
    /// The rate and the held parameter (the varied one's value here is ignored).
    pub base: EthtoolSetting,
    /// The parameter that varies.
    pub varies: SweepParameter,
    /// Its values, in the order to report them; non-empty.
    pub values: Vec<u32>,
}

/// What `coalescope model nic --sweep-*` reports: one [`NicReport`] per value.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct NicSweepReport {
    /// Poisson arrival rate λ, per second.
    pub rate_per_s: f64,
    /// The parameter that varies.
    pub varies: SweepParameter,
    /// The held `rx-usecs` (null when it is the one varied).
    pub rx_usecs: Option<u32>,
    /// The held `rx-frames` (null when it is the one varied).
    pub rx_frames: Option<u32>,
    /// One row per value, in the given order.
    pub sweep: Vec<NicReport>,
}

impl NicSweep {
    /// Report every value of the sweep.
    pub fn run(&self) -> Result<NicSweepReport, ModelError> {
        if self.values.is_empty() {
            return Err(ModelError::OutOfRange {
                field: "values",
                value: "[]".into(),
                accepted: "a non-empty list of values to sweep",
            });
        }
        let sweep = self
            .values
            .iter()
            .map(|&v| {
                let mut s = self.base;
                match self.varies {
                    SweepParameter::RxUsecs => s.rx_usecs = v,
                    SweepParameter::RxFrames => s.rx_frames = v,
                }
                s.report()
            })
            .collect::<Result<_, _>>()?;
        Ok(NicSweepReport {
            rate_per_s: self.base.rate_per_s,
            varies: self.varies,
            rx_usecs: (self.varies != SweepParameter::RxUsecs).then_some(self.base.rx_usecs),
            rx_frames: (self.varies != SweepParameter::RxFrames).then_some(self.base.rx_frames),
            sweep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predict(rate: f64, window_ns: i64, frames: u32) -> NicPrediction {
        NicCoalescing {
            rate_per_s: rate,
            window_ns,
            frames,
        }
        .predict()
        .unwrap()
    }

    #[test]
    fn timer_only_hand_computed() {
        // λ = 2e5/s = 2e-4 /ns, W = 50_000 ns: λW = 10, batch = 11.
        // delay = 50_000 (1 + 5) / 11 = 300_000/11 ns; full wait 1/11; rate 200_000/11.
        let p = predict(200_000.0, 50_000, 0);
        assert!((p.mean_added_delay_ns - 300_000.0 / 11.0).abs() < 1e-9);
        assert!((p.full_wait_fraction - 1.0 / 11.0).abs() < 1e-15);
        assert!((p.interrupt_rate_per_s - 200_000.0 / 11.0).abs() < 1e-9);
        assert!((p.mean_batch_size - 11.0).abs() < 1e-12);
        assert_eq!(p.count_limited_probability, 0.0);
        assert_eq!(p.mean_batch_close_ns, 50_000.0);
    }

    #[test]
    fn timer_and_count_b2_hand_computed() {
        // B = 2: C = min(W, T_1), D = (1 - e^{-m})/λ with m = λW;
        // mean delay = D / (1 + λD) (the sum over j = 0..B-3 is empty);
        // full wait = e^{-m} / (1 + λD). λ = 1e6/s = 1e-3 /ns, W = 1000 ns: m = 1.
        let p = predict(1e6, 1000, 2);
        let e = (-1.0f64).exp();
        let d = (1.0 - e) / 1e-3;
        let batch = 1.0 + 1e-3 * d; // 2 - 1/e
        assert!((p.mean_batch_close_ns - d).abs() < 1e-9);
        assert!((p.mean_added_delay_ns - d / batch).abs() < 1e-9);
        assert!((p.full_wait_fraction - e / batch).abs() < 1e-14);
        assert!((p.count_limited_probability - (1.0 - e)).abs() < 1e-14);
        assert!((p.interrupt_rate_per_s - 1e6 / batch).abs() < 1e-6);
    }

    #[test]
    fn degenerate_settings() {
        let p = predict(1e5, 10_000, 1);
        assert_eq!(
            (p.mean_added_delay_ns, p.count_limited_probability),
            (0.0, 1.0)
        );
        assert_eq!(p.interrupt_rate_per_s, 1e5);
        let p = predict(1e5, 0, 0);
        assert_eq!(
            (p.mean_added_delay_ns, p.count_limited_probability),
            (0.0, 0.0)
        );
        // Count only, B = 8, λ = 1e5/s: mean delay (B-1)/(2λ) = 7/2e-4 ns = 35_000 ns.
        let p = predict(1e5, 0, 8);
        assert!((p.mean_added_delay_ns - 35_000.0).abs() < 1e-9);
        assert!((p.interrupt_rate_per_s - 12_500.0).abs() < 1e-9);
        assert_eq!(p.full_wait_fraction, 0.0);
    }

    #[test]
    fn rejects_bad_inputs_naming_the_field() {
        for (rate, w, b, field) in [
            (-1.0, 0, 0, "rate_per_s"),
            (f64::NAN, 0, 0, "rate_per_s"),
            (f64::INFINITY, 0, 0, "rate_per_s"),
            (0.0, 0, 0, "rate_per_s"),
            (1e5, -1, 0, "window_ns"),
            (1e5, 0, MAX_FRAMES + 1, "frames"),
        ] {
            let err = NicCoalescing {
                rate_per_s: rate,
                window_ns: w,
                frames: b,
            }
            .predict()
            .unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn large_mean_and_large_count_are_finite() {
        // λW = 1e4, B = 256: the count always fires first, so C ~ T_255 and the batch is
        // 256 with probability ~1; the model must not overflow to NaN.
        let p = predict(1e9, 10_000, 256);
        for v in [
            p.mean_added_delay_ns,
            p.full_wait_fraction,
            p.interrupt_rate_per_s,
            p.mean_batch_size,
            p.count_limited_probability,
            p.mean_batch_close_ns,
        ] {
            assert!(v.is_finite(), "{p:?}");
        }
        assert!((p.mean_batch_size - 256.0).abs() < 1e-9);
        // Count-only limit: (B-1)/(2λ) = 255/2 ns.
        assert!((p.mean_added_delay_ns - 127.5).abs() < 1e-6);
    }

    #[test]
    fn sweep_holds_the_other_parameter() {
        let base = EthtoolSetting {
            rate_per_s: 1e6,
            rx_usecs: 1,
            rx_frames: 2,
        };
        // Varying rx-frames at rx-usecs 1: B = 0 is timer only (λW = 1: delay 1000 × 1.5 / 2),
        // B = 2 the hand-computed D / (2 - 1/e) with D = (1 - 1/e) µs.
        let r = NicSweep {
            base,
            varies: SweepParameter::RxFrames,
            values: vec![0, 2],
        }
        .run()
        .unwrap();
        assert_eq!((r.rx_usecs, r.rx_frames), (Some(1), None));
        assert_eq!(
            r.sweep
                .iter()
                .map(|x| (x.rx_usecs, x.rx_frames))
                .collect::<Vec<_>>(),
            vec![(1, 0), (1, 2)]
        );
        assert!((r.sweep[0].prediction.mean_added_delay_ns - 750.0).abs() < 1e-9);
        let e = (-1.0f64).exp();
        let d = 1000.0 * (1.0 - e);
        assert!((r.sweep[1].prediction.mean_added_delay_ns - d / (2.0 - e)).abs() < 1e-9);
        // Varying rx-usecs at rx-frames 2: 0 is count only, worst case unbounded.
        let r = NicSweep {
            base,
            varies: SweepParameter::RxUsecs,
            values: vec![0, 1],
        }
        .run()
        .unwrap();
        assert_eq!((r.rx_usecs, r.rx_frames), (None, Some(2)));
        assert_eq!(r.sweep[0].regime, Regime::CountOnly);
        assert_eq!(r.sweep[0].worst_case_delay_ns, None);
        assert_eq!(r.sweep[1].worst_case_delay_ns, Some(1000));
        assert!((r.sweep[0].prediction.mean_added_delay_ns - 500.0).abs() < 1e-9);
        let empty = NicSweep {
            base,
            varies: SweepParameter::RxUsecs,
            values: vec![],
        };
        assert!(empty.run().unwrap_err().to_string().contains("values"));
    }
}
