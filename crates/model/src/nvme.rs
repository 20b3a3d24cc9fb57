//! NVMe interrupt coalescing (Set Features, feature 08h) mapped onto the NIC model.
//!
//! The feature carries an aggregation time TIME in 100 µs units and a threshold THR that
//! is 0's based (THR = 0 means 1 entry); the controller interrupts when either condition
//! holds. So THR maps to a count `B = THR + 1` and TIME to a window `W = TIME * 100 µs`.
//! Unlike ethtool, TIME = 0 does not mean "no timer": the NVMe specification reads it as
//! "no delay", i.e. an interrupt for every completion, and that is what we model.

use crate::error::ModelError;
use crate::nic::{NicCoalescing, NicPrediction};
use serde::Serialize;

/// One aggregation-time unit, in ns.
pub const AGGREGATION_UNIT_NS: i64 = 100_000;

/// NVMe coalescing settings of one completion queue and the Poisson completion rate.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct NvmeCoalescing {
    /// Completion rate λ per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// TIME field, 100 µs units, 0..=255 (0 = interrupt per completion).
    pub aggregation_time: u32,
    /// THR field, 0's based, 0..=255 (0 = 1 entry).
    pub threshold: u32,
}

/// Prediction for an NVMe queue, with the equivalent NIC setting it was computed from.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct NvmePrediction {
    /// Equivalent timer window in ns (0 when the controller interrupts per completion).
    pub window_ns: i64,
    /// Count threshold the model uses, in entries: `THR + 1`, or 1 when TIME = 0 (the
    /// controller interrupts per completion and THR has no effect).
    pub entries: u32,
    /// True when the controller interrupts for every completion (TIME = 0 or THR = 0).
    pub per_completion: bool,
    /// Worst-case added delay of a completion in ns.
    pub worst_case_delay_ns: i64,
    /// The NIC-model prediction for the equivalent setting.
    pub prediction: NicPrediction,
}

impl NvmeCoalescing {
    /// The equivalent EQE setting; fails on fields outside the 8-bit NVMe ranges.
    pub fn to_nic(&self) -> Result<NicCoalescing, ModelError> {
        for (field, value) in [
            ("aggregation_time", self.aggregation_time),
            ("threshold", self.threshold),
        ] {
            if value > 255 {
                return Err(ModelError::OutOfRange {
                    field,
                    value: value.to_string(),
                    accepted: "0..=255 (an 8-bit field of NVMe feature 08h)",
                });
            }
        }
        let entries = self.threshold + 1;
        // TIME = 0 means "no delay": per-completion interrupts, whatever THR says.
        let frames = if self.aggregation_time == 0 {
            1
        } else {
            entries
        };
        Ok(NicCoalescing {
            rate_per_s: self.rate_per_s,
            window_ns: i64::from(self.aggregation_time) * AGGREGATION_UNIT_NS,
            frames,
        })
    }

    /// Predict delay, interrupt rate and regime for this queue.
    pub fn predict(&self) -> Result<NvmePrediction, ModelError> {
        let nic = self.to_nic()?;
        let prediction = nic.predict()?;
        let worst = if nic.frames == 1 { 0 } else { nic.window_ns };
        Ok(NvmePrediction {
            window_ns: nic.window_ns,
            entries: nic.frames,
            per_completion: nic.frames == 1,
            worst_case_delay_ns: worst,
            prediction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fields_onto_the_nic_model() {
        // TIME = 1 (100 µs), THR = 7 (8 entries) at 50k IOPS.
        let nvme = NvmeCoalescing {
            rate_per_s: 5e4,
            aggregation_time: 1,
            threshold: 7,
        };
        let nic = nvme.to_nic().unwrap();
        assert_eq!((nic.window_ns, nic.frames), (100_000, 8));
        assert_eq!(nvme.predict().unwrap().prediction, nic.predict().unwrap());
    }

    #[test]
    fn zero_threshold_and_zero_time_are_per_completion() {
        for (time, thr) in [(0, 0), (0, 31), (10, 0)] {
            let p = NvmeCoalescing {
                rate_per_s: 1e5,
                aggregation_time: time,
                threshold: thr,
            }
            .predict()
            .unwrap();
            assert_eq!(p.prediction.mean_added_delay_ns, 0.0);
            assert_eq!(p.prediction.interrupt_rate_per_s, 1e5);
            assert_eq!(p.worst_case_delay_ns, 0);
            // What is modelled is one entry per interrupt, whatever THR says.
            assert_eq!((p.entries, p.per_completion), (1, true), "{time} {thr}");
        }
        // TIME = 2, THR = 31: 200 µs and 32 entries.
        let p = NvmeCoalescing {
            rate_per_s: 1e5,
            aggregation_time: 2,
            threshold: 31,
        }
        .predict()
        .unwrap();
        assert_eq!(
            (
                p.window_ns,
                p.entries,
                p.per_completion,
                p.worst_case_delay_ns
            ),
            (200_000, 32, false, 200_000)
        );
    }

    #[test]
    fn rejects_fields_over_eight_bits() {
        let err = NvmeCoalescing {
            rate_per_s: 1e5,
            aggregation_time: 256,
            threshold: 0,
        }
        .predict()
        .unwrap_err();
        assert!(err.to_string().contains("aggregation_time"), "{err}");
    }
}
